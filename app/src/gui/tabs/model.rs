//! The Model tab: blocks, shapes and parameter counts of each net.

use egui::{RichText, Ui};

use crate::gui::runs::RunKind;
use crate::gui::view::{NetView, View};

/// The stages and blocks of each net (live, and of opened train runs) with
/// output shapes and parameter counts.
pub fn show(ui: &mut Ui, v: &View) {
    let nets: Vec<&NetView> = v
        .nets
        .iter()
        .rev()
        .chain(
            v.runs
                .iter()
                .filter(|r| matches!(r.kind, RunKind::Train | RunKind::Runs))
                .flat_map(|r| r.nets.iter()),
        )
        .collect();
    ui.columns(nets.len().max(1), |cols| {
        for (col, n) in cols.iter_mut().zip(nets) {
            let g = &n.info.graph;
            col.label(
                RichText::new(format!("{} — {} parameters", n.label, n.info.params)).strong(),
            );
            egui::ScrollArea::vertical()
                .id_salt(("model", &n.label))
                .show(col, |ui| {
                    egui::Grid::new(("blocks", &n.label))
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
