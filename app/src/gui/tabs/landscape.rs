//! The Landscape tab: the loss around the trained weights, computed here or loaded from `reslab landscape`.

use egui::{Color32, Rect, Sense, Stroke, Ui, Vec2, pos2};

use crate::gui::panels::{Action, viridis};
use crate::gui::view::View;

/// A loss landscape: computed here on request, or loaded from `reslab landscape`.
pub fn show(ui: &mut Ui, v: &mut View, path: &mut String) -> Vec<Action> {
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
            100.0 * s.accuracy[r][c]
        ));
    }
    out
}
