//! The Activations tab: an image and a layer, and x, F(x) and F(x) + x as pictures drawn on the GPU.

use egui::{Color32, Rect, RichText, Sense, Ui, vec2};

use crate::gui::export;
use crate::gui::panels::Action;
use crate::gui::view::View;
use crate::gui::worker::Layer;

/// The activation view: an image, a net, a layer; x, F(x) and F(x) + x as
/// grids of channel maps drawn on the GPU; the prediction.
pub fn show(ui: &mut Ui, v: &mut View) -> Vec<Action> {
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
    if a.input_texture.is_none()
        && let Some(img) = &a.input
    {
        let image = egui::ColorImage::from_rgba_unmultiplied(img.size, &img.rgba);
        a.input_texture = Some(ui.ctx().load_texture(
            "activation input",
            image,
            egui::TextureOptions::NEAREST,
        ));
    }
    let avail = ui.available_width();
    let count = a.panes.len() + usize::from(a.input_texture.is_some());
    let per = (avail / count as f32 - 12.0).max(80.0);
    let top_left = ui.cursor().min;
    ui.horizontal_top(|ui| {
        if let Some(t) = &a.input_texture {
            ui.vertical(|ui| {
                ui.label(RichText::new("input image").strong());
                // The image at most as large as a channel map grid, square pixels.
                let side = (per * 0.5).max(64.0);
                let [w, h] = t.size();
                let size = vec2(side, side * h as f32 / w.max(1) as f32);
                ui.add(egui::Image::new(egui::load::SizedTexture::new(
                    t.id(),
                    size,
                )));
            });
        }
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
    let shown =
        egui::Rect::from_min_max(top_left, egui::pos2(top_left.x + avail, ui.cursor().min.y));
    let probs = a.probs.clone();
    let names = v.class_names.clone();
    out.extend(export::buttons(
        ui,
        "activations",
        shown,
        "csv",
        move || {
            export::csv(
                &["class", "probability"],
                probs.iter().enumerate().map(|(k, p)| {
                    vec![
                        names.get(k).cloned().unwrap_or(format!("class {k}")),
                        export::num(*p as f64),
                    ]
                }),
            )
        },
    ));
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
