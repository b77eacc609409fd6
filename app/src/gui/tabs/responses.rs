//! The Responses tab: the standard deviation of every 3x3 layer's response,
//! by layer and sorted by magnitude (the paper's Fig. 7), for every net.

use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::gui::export::{self, num};
use crate::gui::panels::Action;
use crate::gui::view::{NetView, View};

/// (layer number from 1, std) by layer, or sorted from the largest.
fn series(n: &NetView, sorted: bool) -> Vec<[f64; 2]> {
    let mut r: Vec<f32> = n.responses().unwrap_or_default().to_vec();
    if sorted {
        r.sort_by(|a, b| b.total_cmp(a));
    }
    r.iter()
        .enumerate()
        .map(|(i, &s)| [(i + 1) as f64, s as f64])
        .collect()
}

fn plot(ui: &mut Ui, nets: &[&NetView], sorted: bool, height: f32) -> Vec<Action> {
    let (id, title, x) = if sorted {
        ("responses sorted", "sorted by magnitude", "rank")
    } else {
        ("responses by layer", "by layer", "3x3 layer")
    };
    ui.label(RichText::new(format!("Layer responses, {title}")).strong());
    let shown = Plot::new(id)
        .legend(Legend::default())
        .height(height)
        .x_axis_label(x)
        .y_axis_label("std")
        .include_y(0.0)
        .show(ui, |p| {
            for n in nets {
                let pts = series(n, sorted);
                p.line(
                    Line::new(n.label.clone(), PlotPoints::from(pts.clone()))
                        .color(n.color())
                        .style(n.line_style()),
                );
                p.points(
                    Points::new(n.label.clone(), PlotPoints::from(pts))
                        .color(n.color())
                        .radius(2.0),
                );
            }
        });
    export::buttons(
        ui,
        &format!("layer responses {title}"),
        shown.response.rect,
        "csv",
        || {
            export::csv(
                &["net", x, "std"],
                nets.iter().flat_map(|n| {
                    series(n, sorted)
                        .into_iter()
                        .map(|[i, s]| vec![n.label.clone(), num(i), num(s)])
                }),
            )
        },
    )
}

pub fn show(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.label(
        "Standard deviation of each 3x3 layer's response (its BN output, before the ReLU and the addition), \
         as in the paper's Fig. 7: residual functions are generally closer to zero than plain ones. \
         From each net's latest probe; for a finished degradation run, its final probe on test images (BN in eval mode).",
    );
    let nets: Vec<&NetView> = v.all_nets().filter(|n| n.responses().is_some()).collect();
    if nets.is_empty() {
        ui.label("No probes yet: the nets are probed every few steps while they train (see 'probe every').");
        return out;
    }
    let h = (ui.available_height() - 60.0).max(160.0);
    ui.columns(2, |cols| {
        out.extend(plot(&mut cols[0], &nets, false, h));
        out.extend(plot(&mut cols[1], &nets, true, h));
    });
    out
}
