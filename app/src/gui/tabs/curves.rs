//! The Curves tab: training loss and error of every net, test accuracy.

use egui::{Color32, RichText, Ui};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints, PlotUi, VLine};

use crate::gui::panels::net_color;
use crate::gui::view::View;

/// Training loss and error, test accuracy, every net on shared axes.
pub fn show(ui: &mut Ui, v: &View) {
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
