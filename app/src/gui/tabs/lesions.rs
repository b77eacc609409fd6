//! The Lesions tab: test accuracy of each net with the blocks removed so far.

use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, HLine, Legend, LineStyle, Plot};

use crate::gui::export::{self, num};
use crate::gui::panels::{Action, net_color};
use crate::gui::runs;
use crate::gui::view::{View, slot_color};

/// The single-block lesions of opened `reslab lesion` folders, overlaid:
/// test accuracy with each block removed, the intact net's as a line.
fn opened_studies(ui: &mut Ui, v: &View, height: f32) -> Vec<Action> {
    let studies = runs::lesions(&v.runs);
    ui.label(
        RichText::new(
            "Opened lesion studies: test accuracy with one block removed (line: nothing removed)",
        )
        .strong(),
    );
    let k = studies.len().max(1) as f64;
    let shown = Plot::new("opened lesions")
        .legend(Legend::default())
        .height(height)
        .x_axis_label("removable block (in order)")
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |p| {
            for (j, (name, l)) in studies.iter().enumerate() {
                let color = slot_color(super::super::settings::MAX_NETS + 4 + j);
                let label = format!("{name} ({})", l.model);
                let bars = l
                    .single
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        Bar::new(i as f64 + (j as f64 + 0.5) / k - 0.5, b.accuracy as f64)
                            .width(0.9 / k)
                            .name(format!("{} (r = {:.3})", b.block, b.r))
                    })
                    .collect();
                p.bar_chart(BarChart::new(label.clone(), bars).color(color));
                p.hline(
                    HLine::new(label, l.base_accuracy as f64)
                        .color(color)
                        .style(LineStyle::dashed_loose()),
                );
            }
        });
    export::buttons(ui, "lesion studies", shown.response.rect, "csv", || {
        export::csv(
            &[
                "run",
                "model",
                "block",
                "r",
                "downsample",
                "accuracy",
                "drop",
            ],
            studies.iter().flat_map(|(name, l)| {
                l.single.iter().map(|b| {
                    vec![
                        name.to_string(),
                        l.model.clone(),
                        b.block.clone(),
                        num(b.r as f64),
                        b.downsample.to_string(),
                        num(b.accuracy as f64),
                        num(b.drop as f64),
                    ]
                })
            }),
        )
    })
}

/// Lesions: bypass blocks (y = the shortcut alone) and see test accuracy.
pub fn show(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.label(
        "Remove blocks at test time (y = x, or the projection shortcut for blocks that change shape). \
         A residual net barely notices most single removals; a plain net does (only its same-shape blocks can be removed). \
         Accuracy on the first 1000 test images.",
    );
    if !runs::lesions(&v.runs).is_empty() {
        let h = if v.nets.is_empty() {
            ui.available_height() - 40.0
        } else {
            (ui.available_height() * 0.4).max(160.0)
        };
        out.extend(opened_studies(ui, v, h));
        ui.separator();
    }
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
