//! The Curves tab: training loss, training error and test error of every net
//! (live and from opened runs), as the paper's Fig. 6 draws them.

use egui::{Color32, RichText, Ui};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints, PlotUi, Points, VLine};

use crate::gui::export::{self, num};
use crate::gui::panels::Action;
use crate::gui::view::{NetView, View};

/// Steps in the running mean of the per-step training error.
const ERROR_WINDOW: usize = 20;

/// Training error per step as a running mean over [`ERROR_WINDOW`] steps.
fn training_error(n: &NetView) -> Vec<[f64; 2]> {
    let mut acc = 0.0;
    n.steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            acc += 1.0 - s[2];
            if i >= ERROR_WINDOW {
                acc -= 1.0 - n.steps[i - ERROR_WINDOW][2];
            }
            [s[0], acc / (i + 1).min(ERROR_WINDOW) as f64]
        })
        .collect()
}

/// Training loss; training error (thin) and test error (thick): every net in
/// its colour, plain nets dashed, on shared step axes.
pub fn show(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    if v.all_nets().all(|n| n.steps.is_empty()) {
        ui.label("No steps yet: Start (Space) trains the nets of the run panel side by side.");
    }
    let h = (ui.available_height() / 2.0 - 40.0).max(120.0);
    ui.label(RichText::new("Training loss (per step)").strong());
    let link = egui::Id::unique("curves axes");
    let loss = Plot::new("loss")
        .legend(Legend::default())
        .height(h)
        .x_axis_label("step")
        .link_axis(link, [true, false])
        .show(ui, |p| {
            for n in v.all_nets() {
                let pts: PlotPoints = n.steps.iter().map(|s| [s[0], s[1]]).collect();
                p.line(
                    Line::new(n.label.clone(), pts)
                        .color(n.color())
                        .style(n.line_style()),
                );
            }
            grow_marker(p, v);
        });
    out.extend(export::buttons(
        ui,
        "training loss",
        loss.response.rect,
        "csv",
        || {
            export::csv(
                &["net", "step", "loss", "training_accuracy"],
                v.all_nets().flat_map(|n| {
                    n.steps
                        .iter()
                        .map(|s| vec![n.label.clone(), num(s[0]), num(s[1]), num(s[2])])
                }),
            )
        },
    ));
    ui.label(
        RichText::new(format!(
            "Training error (thin, mean of {ERROR_WINDOW} steps) and test error (thick, dots)"
        ))
        .strong(),
    );
    let error = Plot::new("error")
        .legend(Legend::default())
        .height(h)
        .x_axis_label("step")
        .include_y(0.0)
        .include_y(1.0)
        .link_axis(link, [true, false])
        .show(ui, |p| {
            for n in v.all_nets() {
                p.line(
                    Line::new(n.label.clone(), PlotPoints::from(training_error(n)))
                        .color(n.color())
                        .style(n.line_style())
                        .width(1.0),
                );
                let t: Vec<[f64; 2]> = n.tests.iter().map(|t| [t[0], 1.0 - t[1]]).collect();
                p.line(
                    Line::new(n.label.clone(), PlotPoints::from(t.clone()))
                        .color(n.color())
                        .style(n.line_style())
                        .width(2.5),
                );
                p.points(
                    Points::new(n.label.clone(), PlotPoints::from(t))
                        .color(n.color())
                        .radius(3.0),
                );
            }
            grow_marker(p, v);
        });
    out.extend(export::buttons(
        ui,
        "training and test error",
        error.response.rect,
        "csv",
        || {
            let rows = v.all_nets().flat_map(|n| {
                let train = training_error(n)
                    .into_iter()
                    .map(|[s, e]| vec![n.label.clone(), "training".into(), num(s), num(e)]);
                let test = n
                    .tests
                    .iter()
                    .map(|t| vec![n.label.clone(), "test".into(), num(t[0]), num(1.0 - t[1])]);
                train.chain(test).collect::<Vec<_>>()
            });
            export::csv(&["net", "split", "step", "error"], rows)
        },
    ));
    out
}

/// A vertical line at the step where the live nets were grown, if they were.
fn grow_marker(p: &mut PlotUi, v: &View) {
    if let Some(n) = v
        .nets
        .iter()
        .find(|n| n.info.step_offset > 0 && n.info.inserted.iter().any(|&i| i))
    {
        p.vline(
            VLine::new(
                format!("grown to depth {}", n.info.graph.spec.depth),
                n.info.step_offset as f64,
            )
            .color(Color32::GRAY)
            .style(LineStyle::dotted_loose()),
        );
    }
}
