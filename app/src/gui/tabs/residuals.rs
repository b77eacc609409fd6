//! The F(x) tab: r_b = |F(x)|/|x| per block over training as a heat map per net, and now as bars; a click on a block lesions it.

use egui::{Align2, Color32, FontId, Rect, RichText, Sense, Stroke, Ui, pos2, vec2};

use crate::gui::export::{self, num};
use crate::gui::panels::{Action, net_color, viridis};
use crate::gui::view::{NetView, View};

/// r mapped to [0, 1] on a log scale from 0.001 to `top`.
fn r_scale(r: f32, top: f32) -> f32 {
    let lo = (1e-3f32).log10();
    let hi = top.max(1e-2).log10();
    ((r.max(1e-3).log10() - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// The F(x) view: per net, a heat map of r_b (blocks down, probes across) and
/// bars of the current r_b. Clicking a block toggles its lesion.
pub fn show(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.label(
        "r = |F(x)| / |x| per block over training (log colour scale, dark = near zero). \
         For the plain net, F is the block's last BN output and x its input. \
         A green triangle marks blocks on their way to an identity: r below 0.05, or halved since the net started. \
         + marks inserted blocks. \
         Click a block of a live net to lesion it.",
    );
    let nets: Vec<(Option<usize>, &NetView)> = v
        .nets
        .iter()
        .enumerate()
        .rev() // residual nets (last in the default list) first
        .map(|(i, n)| (Some(i), n))
        .chain(v.runs.iter().flat_map(|r| r.nets.iter().map(|n| (None, n))))
        .collect();
    let top = nets
        .iter()
        .flat_map(|(_, n)| n.probes.iter().flat_map(|p| p.r.iter().copied()))
        .filter(|r| r.is_finite())
        .fold(0.1f32, f32::max);
    colour_legend(ui, top);
    // Up to two side by side; more in rows of two.
    let columns = nets.len().clamp(1, 2);
    let rows = nets.len().div_ceil(columns).max(1);
    let height = (ui.available_height() - 30.0) / rows as f32;
    let top_left = ui.cursor().min;
    let width = ui.available_width();
    for chunk in nets.chunks(columns) {
        ui.columns(columns, |cols| {
            for (col, (live, n)) in cols.iter_mut().zip(chunk) {
                col.label(RichText::new(&n.label).strong().color(net_color(n)));
                out.extend(net_heatmap(col, n, *live, top, height - 20.0));
            }
        });
    }
    let maps = egui::Rect::from_min_size(top_left, vec2(width, ui.cursor().min.y - top_left.y));
    out.extend(export::buttons(ui, "r per block", maps, "csv", || {
        export::csv(
            &["net", "step", "block", "r"],
            nets.iter().flat_map(|(_, n)| {
                n.probes.iter().flat_map(|p| {
                    p.blocks.iter().zip(&p.r).map(|(b, r)| {
                        vec![
                            n.label.clone(),
                            p.step.to_string(),
                            b.clone(),
                            num(*r as f64),
                        ]
                    })
                })
            }),
        )
    }));
    out
}

/// The heat maps' colour scale: r from 0.001 to `top`, logarithmic.
fn colour_legend(ui: &mut Ui, top: f32) {
    let (rect, _) = ui.allocate_exact_size(vec2(360.0, 28.0), Sense::hover());
    let p = ui.painter_at(rect);
    let bar = Rect::from_min_size(rect.min + vec2(40.0, 2.0), vec2(300.0, 10.0));
    let steps = 60;
    for k in 0..steps {
        let x = bar.min.x + bar.width() * k as f32 / steps as f32;
        let cell = Rect::from_min_size(
            pos2(x, bar.min.y),
            vec2(bar.width() / steps as f32 + 0.5, bar.height()),
        );
        p.rect_filled(cell, 0.0, viridis(k as f32 / (steps - 1) as f32));
    }
    let c = ui.visuals().weak_text_color();
    p.text(
        pos2(rect.min.x, bar.center().y),
        Align2::LEFT_CENTER,
        "r:",
        FontId::proportional(12.0),
        c,
    );
    for r in [0.001f32, 0.01, 0.1, 1.0] {
        if r <= top * 1.01 {
            let x = bar.min.x + bar.width() * r_scale(r, top);
            p.text(
                pos2(x, bar.max.y + 2.0),
                Align2::CENTER_TOP,
                format!("{r}"),
                FontId::proportional(10.0),
                c,
            );
        }
    }
}

/// One net's map in `height` points; `live`: its place among the live nets
/// (a click lesions a block of those only).
fn net_heatmap(
    ui: &mut Ui,
    n: &NetView,
    live: Option<usize>,
    top: f32,
    height: f32,
) -> Vec<Action> {
    let mut out = Vec::new();
    let names = n.block_names();
    let rows = names.len().max(1);
    let label_w = 92.0;
    let bar_w = 110.0;
    let avail = ui.available_width();
    let map_w = (avail - label_w - bar_w - 16.0).max(60.0);
    let row_h = ((height - 24.0) / rows as f32).clamp(4.0, 22.0);
    let (rect, resp) =
        ui.allocate_exact_size(vec2(avail, row_h * rows as f32 + 18.0), Sense::click());
    let painter = ui.painter_at(rect);
    let map = Rect::from_min_size(
        rect.min + vec2(label_w, 0.0),
        vec2(map_w, row_h * rows as f32),
    );
    let bars = Rect::from_min_size(pos2(map.max.x + 12.0, map.min.y), vec2(bar_w, map.height()));
    painter.rect_filled(map, 0.0, Color32::from_gray(40));
    let cols = n.probes.len().max(1);
    let cw = map_w / cols as f32;
    for (r, name) in names.iter().enumerate() {
        let y = map.min.y + r as f32 * row_h;
        let inserted = n.info.inserted.get(r).copied().unwrap_or(false);
        let shrinking = n.shrinking(name);
        let lesioned = n.lesions.contains(&r);
        let mut label = name.replace("layer", "");
        if inserted {
            label.push_str(" +");
        }
        let color = if lesioned {
            Color32::from_gray(120)
        } else if shrinking {
            Color32::from_rgb(40, 170, 90)
        } else {
            ui.visuals().text_color()
        };
        let text = painter.text(
            pos2(rect.min.x + 2.0, y + row_h / 2.0),
            Align2::LEFT_CENTER,
            label,
            FontId::proportional(row_h.clamp(9.0, 13.0)),
            color,
        );
        if shrinking {
            // A small downward triangle after the name.
            let (cx, cy, s) = (
                text.max.x + 7.0,
                y + row_h / 2.0,
                (row_h * 0.3).clamp(3.0, 5.0),
            );
            painter.add(egui::Shape::convex_polygon(
                vec![
                    pos2(cx - s, cy - s * 0.7),
                    pos2(cx + s, cy - s * 0.7),
                    pos2(cx, cy + s * 0.8),
                ],
                color,
                Stroke::NONE,
            ));
        }
        for (c, (_, val)) in n.r_history(name).into_iter().enumerate() {
            if let Some(val) = val {
                let cell = Rect::from_min_size(
                    pos2(map.min.x + c as f32 * cw, y),
                    vec2(cw.max(1.0), row_h),
                );
                painter.rect_filled(cell, 0.0, viridis(r_scale(val, top)));
            }
        }
        if lesioned {
            painter.line_segment(
                [
                    pos2(map.min.x, y + row_h / 2.0),
                    pos2(map.max.x, y + row_h / 2.0),
                ],
                Stroke::new(1.5, Color32::from_rgb(220, 60, 60)),
            );
        }
        // The current r as a bar (linear, up to the largest r shown).
        if let Some(p) = n.probes.last()
            && let Some(k) = p.blocks.iter().position(|b| b == name)
        {
            let w = (p.r[k] / top).clamp(0.0, 1.0) * bars.width();
            let bar = Rect::from_min_size(pos2(bars.min.x, y + 1.0), vec2(w.max(1.0), row_h - 2.0));
            painter.rect_filled(
                bar,
                0.0,
                if inserted {
                    Color32::from_rgb(214, 39, 40)
                } else {
                    net_color(n)
                },
            );
        }
    }
    let steps = (
        n.probes.first().map(|p| p.step),
        n.probes.last().map(|p| p.step),
    );
    if let (Some(a), Some(b)) = steps {
        let y = map.max.y + 9.0;
        let f = FontId::proportional(11.0);
        let c = ui.visuals().weak_text_color();
        painter.text(
            pos2(map.min.x, y),
            Align2::LEFT_CENTER,
            format!("step {a}"),
            f.clone(),
            c,
        );
        painter.text(
            pos2(map.max.x, y),
            Align2::RIGHT_CENTER,
            format!("step {b}"),
            f.clone(),
            c,
        );
        painter.text(
            pos2(bars.min.x, y),
            Align2::LEFT_CENTER,
            format!("r now (max {top:.2})"),
            f,
            c,
        );
    }
    // Hover: the block, step and r under the pointer.
    if let Some(pos) = resp.hover_pos() {
        let r = ((pos.y - map.min.y) / row_h).floor();
        if r >= 0.0 && (r as usize) < names.len() {
            let name = &names[r as usize];
            let hist = n.r_history(name);
            let text = if map.contains(pos) {
                let c =
                    (((pos.x - map.min.x) / cw).floor() as usize).min(hist.len().saturating_sub(1));
                match hist.get(c) {
                    Some((step, Some(val))) => format!("{name} at step {step}: r = {val:.4}"),
                    _ => format!("{name}: not in the net at that step"),
                }
            } else {
                match n.r_first_last(name) {
                    Some((a, b)) => format!("{name}: r = {b:.4} now, {a:.4} at the start"),
                    None => name.clone(),
                }
            };
            resp.clone().on_hover_text(text);
        }
    }
    if resp.clicked()
        && let Some(net) = live
        && let Some(pos) = resp.interact_pointer_pos()
    {
        let r = ((pos.y - map.min.y) / row_h).floor();
        if r >= 0.0 && (r as usize) < names.len() {
            out.push(Action::ToggleLesion {
                net,
                block: r as usize,
            });
        }
    }
    out
}
