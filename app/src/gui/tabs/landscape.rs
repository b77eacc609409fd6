//! The Landscape tab: the loss around the trained weights, computed here or loaded from `reslab landscape`.

use egui::{Color32, Rect, Sense, Stroke, Ui, Vec2, pos2};

use reslab::analysis::landscape::Summary;

use crate::gui::export;
use crate::gui::panels::{Action, viridis};
use crate::gui::view::View;

/// Loss landscapes: the one computed here on request and those of opened
/// `reslab landscape` folders, side by side.
pub fn show(ui: &mut Ui, v: &mut View) -> Vec<Action> {
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
        ui.label("or File > Open run with the folder of reslab landscape");
    });
    if let Some((done, total)) = v.landscape_progress {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("{done}/{total} points")),
        );
    }
    let mut shown: Vec<(String, &Summary)> = Vec::new();
    if let Some((_, s)) = &v.landscape {
        shown.push((format!("{} (computed here)", s.model), s));
    }
    for r in &v.runs {
        if let Some(s) = &r.landscape {
            shown.push((format!("{}: {}", r.name, s.model), s));
        }
    }
    if shown.is_empty() {
        ui.label("No landscape yet.");
        return out;
    }
    ui.columns(shown.len(), |cols| {
        for (col, (title, s)) in cols.iter_mut().zip(&shown) {
            out.extend(one(col, title, s));
        }
    });
    out
}

/// One landscape: a 2-D map with contours, or a 1-D line.
fn one(ui: &mut Ui, title: &str, s: &Summary) -> Vec<Action> {
    let json = || serde_json::to_string_pretty(s).unwrap_or_default();
    if s.mode != "2d" {
        ui.label(format!(
            "{title}: test loss along the {} direction, {} images",
            s.mode, s.images
        ));
        let pts: Vec<[f64; 2]> =
            s.xs.iter()
                .zip(s.loss.first().into_iter().flatten())
                .map(|(&x, &l)| [x, l])
                .collect();
        let plot = egui_plot::Plot::new(("landscape line", title))
            .height((ui.available_height() - 40.0).max(120.0))
            .x_axis_label(if s.mode == "interpolation" { "t" } else { "a" })
            .y_axis_label("loss")
            .show(ui, |p| {
                p.line(egui_plot::Line::new(
                    s.model.clone(),
                    egui_plot::PlotPoints::from(pts),
                ));
            });
        return export::buttons(
            ui,
            &format!("landscape {title}"),
            plot.response.rect,
            "json",
            json,
        );
    }
    ui.label(format!(
        "{title}: test loss over θ* + a·d₁ + b·d₂ (filter-normalised directions), {} images, log colour scale",
        s.images
    ));
    let side = ui
        .available_width()
        .min(ui.available_height() - 40.0)
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
        for seg in reslab_plot::contour(&s.xs, &s.xs, &log, level) {
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
            100.0
                * s.accuracy
                    .get(r)
                    .and_then(|a| a.get(c))
                    .copied()
                    .unwrap_or(f64::NAN)
        ));
    }
    export::buttons(ui, &format!("landscape {title}"), rect, "json", json)
}
