//! The Lesions tab: test accuracy of each net with the blocks removed so far.

use egui::{RichText, Ui};

use crate::gui::panels::{Action, net_color};
use crate::gui::view::View;

/// Lesions: bypass blocks (y = the shortcut alone) and see test accuracy.
pub fn show(ui: &mut Ui, v: &View) -> Vec<Action> {
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
