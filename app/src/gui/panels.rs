//! The panels. Each draws from the [`View`] and returns what the user asked
//! for as [`Action`]s; the app turns those into worker commands.

use egui::{Align2, Color32, FontId, Rect, RichText, Sense, Stroke, Ui, Vec2, pos2, vec2};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints, PlotUi, VLine};

use super::view::{NetView, Tab, View};
use super::worker::Layer;
use reslab::analysis::redundancy::Insert;
use reslab::model::Shortcut;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Start,
    Pause,
    Step,
    /// Rebuild the nets from the settings.
    Reset,
    Grow,
    ToggleLesion {
        net: usize,
        block: usize,
    },
    ClearLesions {
        net: usize,
    },
    /// Draw the activation view's current choice.
    ShowActivation,
    ComputeLandscape,
    LoadLandscape(String),
    Save,
    Load,
}

/// Net colours: the plain twin in orange, residual nets in blue.
pub fn net_color(n: &NetView) -> Color32 {
    if n.info.residual {
        Color32::from_rgb(31, 119, 180)
    } else {
        Color32::from_rgb(230, 120, 20)
    }
}

/// Viridis, for heat maps (t in [0, 1]).
pub fn viridis(t: f32) -> Color32 {
    let c = reslab::analysis::plot::viridis(t as f64);
    Color32::from_rgb(c.0, c.1, c.2)
}

pub fn top_bar(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        let start = if v.running { "Pause" } else { "Start" };
        if ui.button(start).on_hover_text("Space").clicked() {
            out.push(if v.running {
                Action::Pause
            } else {
                Action::Start
            });
        }
        if ui
            .button("Step")
            .on_hover_text("S: one step of every net")
            .clicked()
        {
            out.push(Action::Step);
        }
        if ui
            .button("Reset")
            .on_hover_text("R: rebuild the nets from the run panel")
            .clicked()
        {
            out.push(Action::Reset);
        }
        let grow = format!("Grow to depth {}", v.settings.grow_depth);
        if ui
            .button(grow)
            .on_hover_text("G: insert blocks into every net and train on")
            .clicked()
        {
            out.push(Action::Grow);
        }
        if ui
            .button("Save")
            .on_hover_text("checkpoints of every net into the save folder")
            .clicked()
        {
            out.push(Action::Save);
        }
        ui.separator();
        ui.label(format!("step {}", v.step()));
        if v.running {
            ui.label(format!("{:.1} steps/s", v.throughput));
        }
        if let Some((med, p95)) = v.frame_stats() {
            ui.label(format!("frame CPU {med:.0} ms (95%: {p95:.0})"));
        }
        if let Some((med, p95)) = v.frame_gap_stats() {
            ui.label(format!("frames {med:.0} ms apart (95%: {p95:.0})"));
        }
        ui.separator();
        match &v.error {
            Some(e) => ui.colored_label(Color32::from_rgb(220, 50, 50), e),
            None => ui.label(&v.status),
        };
    });
    out
}

/// A labelled row of a grid; the widget is announced by its label (screen
/// readers, tests).
fn row(ui: &mut Ui, label: &str, widget: impl FnOnce(&mut Ui) -> egui::Response) {
    let l = ui.label(label);
    widget(ui).labelled_by(l.id);
    ui.end_row();
}

/// A grid row whose widget names itself (a checkbox).
fn check_row(ui: &mut Ui, label: &str, value: &mut bool, text: &str) {
    ui.label(label);
    ui.checkbox(value, text);
    ui.end_row();
}

fn combo<T: PartialEq + Copy>(
    ui: &mut Ui,
    id: &str,
    value: &mut T,
    options: &[(T, &str)],
) -> egui::Response {
    let current = options
        .iter()
        .find(|o| o.0 == *value)
        .map(|o| o.1)
        .unwrap_or("?");
    egui::ComboBox::from_id_salt(id)
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (o, name) in options {
                ui.selectable_value(value, *o, *name);
            }
        })
        .response
}

/// The run panel: what the next Reset builds.
pub fn run_panel(ui: &mut Ui, v: &mut View) -> Vec<Action> {
    let mut out = Vec::new();
    let s = &mut v.settings;
    ui.heading("Run");
    egui::Grid::new("run settings")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            row(ui, "depth (6n+2)", |ui| {
                ui.add(egui::DragValue::new(&mut s.depth).range(8..=110).speed(6))
            });
            row(ui, "width", |ui| {
                ui.add(egui::DragValue::new(&mut s.width).range(2..=64))
            });
            row(ui, "shortcut", |ui| {
                combo(
                    ui,
                    "shortcut",
                    &mut s.shortcut,
                    &[(Shortcut::A, "A"), (Shortcut::B, "B"), (Shortcut::C, "C")],
                )
            });
            check_row(ui, "blocks", &mut s.preact, "pre-activation");
            check_row(ui, "", &mut s.zero_gamma, "zero-gamma");
            check_row(ui, "", &mut s.plain, "plain twin beside it");
            let datasets: Vec<(usize, &str)> =
                reslab::data::DATASETS.iter().copied().enumerate().collect();
            let mut d = reslab::data::DATASETS
                .iter()
                .position(|x| *x == s.data)
                .unwrap_or(0);
            row(ui, "data", |ui| combo(ui, "data", &mut d, &datasets));
            s.data = reslab::data::DATASETS[d].to_string();
            if s.data == "synthetic" {
                row(ui, "image size", |ui| {
                    ui.add(egui::DragValue::new(&mut s.image_size).range(8..=64))
                });
            } else {
                row(ui, "data folder", |ui| {
                    ui.text_edit_singleline(&mut s.data_dir)
                });
            }
            row(ui, "batch", |ui| {
                ui.add(egui::DragValue::new(&mut s.batch).range(2..=512))
            });
            row(ui, "learning rate", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.lr)
                        .range(0.0001..=1.0)
                        .speed(0.005),
                )
            });
            row(ui, "seed", |ui| ui.add(egui::DragValue::new(&mut s.seed)));
            row(ui, "probe every", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.probe_every)
                        .range(1..=1000)
                        .suffix(" steps"),
                )
            });
            row(ui, "grow to depth", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.grow_depth)
                        .range(14..=110)
                        .speed(6),
                )
            });
            row(ui, "inserted blocks", |ui| {
                combo(
                    ui,
                    "grow init",
                    &mut s.grow_init,
                    &[
                        (Insert::Random, "random"),
                        (Insert::ZeroGamma, "zero-gamma"),
                    ],
                )
            });
            row(ui, "save folder", |ui| {
                ui.text_edit_singleline(&mut v.save_dir)
            });
        });
    if ui.button("Apply (resets the nets)").clicked() {
        out.push(Action::Reset);
    }
    out
}

pub fn tabs(ui: &mut Ui, v: &mut View) {
    ui.horizontal(|ui| {
        for (t, name) in Tab::ALL {
            ui.selectable_value(&mut v.tab, t, name);
        }
    });
}

/// Training loss and error, test accuracy, every net on shared axes.
pub fn curves(ui: &mut Ui, v: &View) {
    if v.nets.iter().all(|n| n.steps.is_empty()) {
        ui.label("No steps yet: Start (Space) trains the nets of the run panel side by side.");
    }
    let h = (ui.available_height() / 2.0 - 24.0).max(120.0);
    ui.label(RichText::new("Training loss (per step)").strong());
    Plot::new("loss")
        .legend(Legend::default())
        .height(h)
        .x_axis_label("step")
        .link_axis(egui::Id::unique("curves"), [true, false])
        .show(ui, |p| {
            for n in &v.nets {
                let pts: PlotPoints = n.steps.iter().map(|s| [s[0], s[1]]).collect();
                p.line(Line::new(n.info.name.clone(), pts).color(net_color(n)));
            }
            grow_marker(p, v);
        });
    ui.label(RichText::new("Training error (dashed) and test accuracy (solid)").strong());
    Plot::new("accuracy")
        .legend(Legend::default())
        .height(h)
        .x_axis_label("step")
        .include_y(0.0)
        .include_y(1.0)
        .link_axis(egui::Id::unique("curves"), [true, false])
        .show(ui, |p| {
            for n in &v.nets {
                // A running mean over 20 steps keeps the per-batch error readable.
                let mut acc = 0.0;
                let pts: PlotPoints = n
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        acc += 1.0 - s[2];
                        if i >= 20 {
                            acc -= 1.0 - n.steps[i - 20][2];
                        }
                        [s[0], acc / (i + 1).min(20) as f64]
                    })
                    .collect();
                p.line(
                    Line::new(format!("{} training error", n.info.name), pts)
                        .color(net_color(n))
                        .style(LineStyle::dashed_loose()),
                );
                let t: PlotPoints = n.tests.iter().map(|t| [t[0], t[1]]).collect();
                p.line(
                    Line::new(format!("{} test accuracy", n.info.name), t)
                        .color(net_color(n))
                        .width(2.0),
                );
            }
            grow_marker(p, v);
        });
}

/// A vertical line at the step where the nets were grown, if they were.
fn grow_marker(p: &mut PlotUi, v: &View) {
    if let Some(n) = v
        .nets
        .iter()
        .find(|n| n.info.step_offset > 0 && n.info.inserted.iter().any(|&i| i))
    {
        let depth = n.info.name.trim_start_matches(char::is_alphabetic);
        p.vline(
            VLine::new(format!("grown to depth {depth}"), n.info.step_offset as f64)
                .color(Color32::GRAY)
                .style(LineStyle::dotted_loose()),
        );
    }
}

/// r mapped to [0, 1] on a log scale from 0.001 to `top`.
fn r_scale(r: f32, top: f32) -> f32 {
    let lo = (1e-3f32).log10();
    let hi = top.max(1e-2).log10();
    ((r.max(1e-3).log10() - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// The F(x) view: per net, a heat map of r_b (blocks down, probes across) and
/// bars of the current r_b. Clicking a block toggles its lesion.
pub fn residuals(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.label(
        "r = |F(x)| / |x| per block over training (log colour scale, dark = near zero). \
         For the plain net, F is the block's last BN output and x its input. \
         A green triangle marks blocks on their way to an identity: r below 0.05, or halved since the net started. \
         + marks inserted blocks. \
         Click a block to lesion it.",
    );
    let top = v
        .nets
        .iter()
        .flat_map(|n| n.probes.iter().flat_map(|p| p.r.iter().copied()))
        .fold(0.1f32, f32::max);
    colour_legend(ui, top);
    let order: Vec<usize> = (0..v.nets.len()).rev().collect(); // residual first
    ui.columns(v.nets.len().max(1), |cols| {
        for (col, &i) in cols.iter_mut().zip(&order) {
            let n = &v.nets[i];
            col.label(RichText::new(&n.info.name).strong().color(net_color(n)));
            out.extend(net_heatmap(col, n, i, top));
        }
    });
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

fn net_heatmap(ui: &mut Ui, n: &NetView, net: usize, top: f32) -> Vec<Action> {
    let mut out = Vec::new();
    let names = n.block_names();
    let rows = names.len().max(1);
    let label_w = 92.0;
    let bar_w = 110.0;
    let avail = ui.available_width();
    let map_w = (avail - label_w - bar_w - 16.0).max(60.0);
    let row_h = ((ui.available_height() - 60.0) / rows as f32).clamp(6.0, 22.0);
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

/// The activation view: an image, a net, a layer; x, F(x) and F(x) + x as
/// grids of channel maps drawn on the GPU; the prediction.
pub fn activations(ui: &mut Ui, v: &mut View) -> Vec<Action> {
    let mut out = Vec::new();
    let a = &mut v.activation;
    let before = (a.net, a.image, a.layer, a.use_file);
    ui.horizontal(|ui| {
        ui.label("net");
        for (i, n) in v.nets.iter().enumerate() {
            ui.selectable_value(&mut a.net, i, &n.info.name);
        }
        ui.separator();
        ui.checkbox(&mut a.use_file, "image file");
        if a.use_file {
            let l = ui.label("path");
            ui.text_edit_singleline(&mut a.file).labelled_by(l.id);
        } else {
            let l = ui.label("test image");
            ui.add(egui::DragValue::new(&mut a.image).range(0..=9999))
                .labelled_by(l.id);
        }
        if ui.button("Show").clicked() {
            a.layer.get_or_insert(Layer::Block(0));
            out.push(Action::ShowActivation);
        }
    });
    if let Some(n) = v.nets.get(a.net.min(v.nets.len().saturating_sub(1))) {
        ui.horizontal_wrapped(|ui| {
            ui.label("layer");
            ui.selectable_value(&mut a.layer, Some(Layer::Stem), "stem");
            for (b, blk) in n.info.graph.blocks.iter().enumerate() {
                ui.selectable_value(
                    &mut a.layer,
                    Some(Layer::Block(b)),
                    blk.name.replace("layer", "block "),
                );
            }
        });
    }
    // A new choice redraws at once (a typed file name waits for Show).
    if (a.net, a.image, a.layer, a.use_file) != before && a.layer.is_some() && out.is_empty() {
        out.push(Action::ShowActivation);
    }
    ui.separator();
    if a.panes.is_empty() {
        ui.label("Pick a layer to draw its channel maps (each map scaled like x, the block's input, so F(x) shows how much the block changes it).");
        return out;
    }
    let avail = ui.available_width();
    let per = (avail / a.panes.len() as f32 - 12.0).max(80.0);
    ui.horizontal_top(|ui| {
        for p in &a.panes {
            ui.vertical(|ui| {
                ui.label(RichText::new(&p.label).strong());
                let aspect = p.size[1] as f32 / p.size[0].max(1) as f32;
                let size = vec2(per, per * aspect);
                ui.add(egui::Image::new(egui::load::SizedTexture::new(
                    p.texture, size,
                )));
            });
        }
    });
    ui.separator();
    ui.label(RichText::new("Prediction").strong());
    let names = &v.class_names;
    let mut order: Vec<usize> = (0..a.probs.len()).collect();
    order.sort_by(|&x, &y| a.probs[y].total_cmp(&a.probs[x]));
    for &k in order.iter().take(5) {
        ui.horizontal(|ui| {
            let name = names.get(k).cloned().unwrap_or(format!("class {k}"));
            let truth = a.label == Some(k);
            let (rect, _) = ui.allocate_exact_size(vec2(160.0, 14.0), Sense::hover());
            ui.painter().rect_filled(rect, 2.0, Color32::from_gray(50));
            let w = rect.width() * a.probs[k];
            ui.painter().rect_filled(
                Rect::from_min_size(rect.min, vec2(w, rect.height())),
                2.0,
                Color32::from_rgb(31, 119, 180),
            );
            ui.label(format!(
                "{name} {:.1}%{}",
                100.0 * a.probs[k],
                if truth { "  (true class)" } else { "" }
            ));
        });
    }
    if let Some(k) = a.label
        && !order.iter().take(5).any(|&o| o == k)
    {
        let name = names.get(k).cloned().unwrap_or(format!("class {k}"));
        let p = a.probs.get(k).copied().unwrap_or(0.0);
        ui.label(format!("true class: {name} {:.1}%", 100.0 * p));
    }
    out
}

/// Lesions: bypass blocks (y = the shortcut alone) and see test accuracy.
pub fn lesions(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.label(
        "Remove blocks at test time (y = x, or the projection shortcut for blocks that change shape). \
         A residual net barely notices most single removals; a plain net does (only its same-shape blocks can be removed). \
         Accuracy on the first 1000 test images.",
    );
    ui.columns(v.nets.len().max(1), |cols| {
        for (col, (i, n)) in cols.iter_mut().zip(v.nets.iter().enumerate().rev()) {
            col.label(RichText::new(&n.info.name).strong().color(net_color(n)));
            let base = n
                .last_test()
                .map(|a| format!("{:.1}%", 100.0 * a))
                .unwrap_or("–".into());
            let now = match (n.lesions.is_empty(), n.lesion_accuracy) {
                (true, _) => "no blocks removed".to_string(),
                (false, Some(a)) => format!("with {} removed: {:.1}%", n.lesions.len(), 100.0 * a),
                (false, None) => "evaluating…".into(),
            };
            col.label(format!("last test accuracy {base}; {now}"));
            if !n.lesions.is_empty() && col.button("Clear lesions").clicked() {
                out.push(Action::ClearLesions { net: i });
            }
            egui::ScrollArea::vertical()
                .id_salt(("lesions", i))
                .show(col, |ui| {
                    for (b, blk) in n.info.graph.blocks.iter().enumerate() {
                        let removable = n.info.residual || !blk.downsample;
                        let mut on = n.lesions.contains(&b);
                        let r = n.probes.last().and_then(|p| {
                            p.blocks.iter().position(|x| *x == blk.name).map(|k| p.r[k])
                        });
                        let text = format!(
                            "{}{}  r = {}",
                            blk.name,
                            if blk.downsample {
                                " (downsampling)"
                            } else {
                                ""
                            },
                            r.map(|r| format!("{r:.3}")).unwrap_or("–".into())
                        );
                        let resp = ui.add_enabled(removable, egui::Checkbox::new(&mut on, text));
                        if resp.clicked() {
                            out.push(Action::ToggleLesion { net: i, block: b });
                        }
                    }
                });
        }
    });
    out
}

/// A loss landscape: computed here on request, or loaded from `reslab landscape`.
pub fn landscape(ui: &mut Ui, v: &mut View, path: &mut String) -> Vec<Action> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.label("net");
        for (i, n) in v.nets.iter().enumerate() {
            ui.selectable_value(&mut v.landscape_net, i, &n.info.name);
        }
        let l = ui.label("grid");
        ui.add(egui::DragValue::new(&mut v.landscape_grid).range(3..=51))
            .labelled_by(l.id);
        if ui.button("Compute").clicked() {
            out.push(Action::ComputeLandscape);
        }
        ui.separator();
        let l = ui.label("or load summary.json of reslab landscape:");
        ui.text_edit_singleline(path).labelled_by(l.id);
        if ui.button("Load").clicked() {
            out.push(Action::LoadLandscape(path.clone()));
        }
    });
    if let Some((done, total)) = v.landscape_progress {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("{done}/{total} points")),
        );
    }
    let Some((_, s)) = &v.landscape else {
        ui.label("No landscape yet.");
        return out;
    };
    if s.mode != "2d" {
        ui.label(format!(
            "{} landscape of {} (one line): see its plot file.",
            s.mode, s.model
        ));
        return out;
    }
    ui.label(format!(
        "{}: test loss over θ* + a·d₁ + b·d₂ (filter-normalised directions), {} images, log colour scale",
        s.model, s.images
    ));
    let side = ui
        .available_width()
        .min(ui.available_height() - 20.0)
        .max(100.0);
    let (rect, resp) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
    let painter = ui.painter_at(rect);
    let log: Vec<Vec<f64>> = s
        .loss
        .iter()
        .map(|r| r.iter().map(|l| l.max(1e-9).log10()).collect())
        .collect();
    let (lo, hi) = log
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let n = s.xs.len();
    let cell = side / n as f32;
    for (r, row) in log.iter().enumerate() {
        for (c, &val) in row.iter().enumerate() {
            let t = if hi > lo {
                ((val - lo) / (hi - lo)) as f32
            } else {
                0.5
            };
            // Row 0 is the lowest b: draw it at the bottom.
            let min = pos2(
                rect.min.x + c as f32 * cell,
                rect.max.y - (r + 1) as f32 * cell,
            );
            painter.rect_filled(
                Rect::from_min_size(min, Vec2::splat(cell + 0.5)),
                0.0,
                viridis(t),
            );
        }
    }
    let to_screen = |x: f64, y: f64| {
        let fx = ((x - s.xs[0]) / (s.xs[n - 1] - s.xs[0])) as f32;
        let fy = ((y - s.xs[0]) / (s.xs[n - 1] - s.xs[0])) as f32;
        pos2(
            rect.min.x + cell / 2.0 + fx * (side - cell),
            rect.max.y - cell / 2.0 - fy * (side - cell),
        )
    };
    for k in 1..10 {
        let level = lo + (hi - lo) * k as f64 / 10.0;
        for seg in reslab::analysis::plot::contour(&s.xs, &s.xs, &log, level) {
            let pts: Vec<_> = seg.iter().map(|&(x, y)| to_screen(x, y)).collect();
            painter.line_segment(
                [pts[0], pts[1]],
                Stroke::new(1.2, Color32::from_white_alpha(200)),
            );
        }
    }
    if let Some(pos) = resp.hover_pos() {
        let c = (((pos.x - rect.min.x) / cell) as usize).min(n - 1);
        let r = (((rect.max.y - pos.y) / cell) as usize).min(n - 1);
        resp.on_hover_text(format!(
            "a = {:.2}, b = {:.2}: loss {:.4}, accuracy {:.1}%",
            s.xs[c],
            s.xs[r],
            s.loss[r][c],
            100.0 * s.accuracy[r][c]
        ));
    }
    out
}

/// The stages and blocks of each net with output shapes and parameter counts.
pub fn model(ui: &mut Ui, v: &View) {
    ui.columns(v.nets.len().max(1), |cols| {
        for (col, n) in cols.iter_mut().zip(v.nets.iter().rev()) {
            let g = &n.info.graph;
            col.label(
                RichText::new(format!("{} — {} parameters", n.info.name, n.info.params)).strong(),
            );
            egui::ScrollArea::vertical()
                .id_salt(("model", &n.info.name))
                .show(col, |ui| {
                    egui::Grid::new(("blocks", &n.info.name))
                        .striped(true)
                        .num_columns(3)
                        .show(ui, |ui| {
                            ui.label(RichText::new("block").strong());
                            ui.label(RichText::new("output C×H×W").strong());
                            ui.label(RichText::new("parameters").strong());
                            ui.end_row();
                            let inp = g.tensors[g.input];
                            ui.label("input");
                            ui.label(format!("{}×{}×{}", inp.c, inp.h, inp.w));
                            ui.label("");
                            ui.end_row();
                            let count = |prefix: &str| -> usize {
                                g.params
                                    .iter()
                                    .filter(|p| p.name.starts_with(prefix))
                                    .map(|p| p.shape.iter().product::<usize>())
                                    .sum()
                            };
                            let stem = count("conv1.") + count("bn1.");
                            if let Some(b0) = g.blocks.first() {
                                let d = g.tensors[b0.input];
                                ui.label("stem");
                                ui.label(format!("{}×{}×{}", d.c, d.h, d.w));
                                ui.label(stem.to_string());
                                ui.end_row();
                            }
                            for (i, b) in g.blocks.iter().enumerate() {
                                let d = g.tensors[b.output];
                                let mut name = b.name.clone();
                                if n.info.inserted.get(i).copied().unwrap_or(false) {
                                    name.push_str(" (inserted)");
                                }
                                if b.downsample {
                                    name.push_str(" (stride 2)");
                                }
                                ui.label(name);
                                ui.label(format!("{}×{}×{}", d.c, d.h, d.w));
                                ui.label(count(&format!("{}.", b.name)).to_string());
                                ui.end_row();
                            }
                            ui.label("pool + fc");
                            ui.label(format!("{} classes", g.spec.classes));
                            ui.label((count("fc.") + count("bn_final.")).to_string());
                            ui.end_row();
                        });
                });
        }
    });
}
