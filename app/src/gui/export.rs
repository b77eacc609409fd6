//! Keeping what the window shows: a plot or map as PNG (cut from a
//! screenshot of the window, at its scale), its numbers as CSV or JSON.
//! Files get fresh names; nothing already there is overwritten.

use std::path::{Path, PathBuf};

use egui::{Rect, Ui};

use super::panels::Action;

/// A file name made of `stem` (anything but letters, digits, '-', '_' and
/// '.' becomes '_') in `dir`, with ".ext", numbered "-2", "-3", … past the
/// files already there.
pub fn fresh_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "export".into()
    } else {
        clean
    };
    let mut p = dir.join(format!("{clean}.{ext}"));
    let mut k = 2;
    while p.exists() {
        p = dir.join(format!("{clean}-{k}.{ext}"));
        k += 1;
    }
    p
}

/// Writes `text` to a fresh file in `dir` (created if needed); creates it
/// exclusively, so a file that appeared meanwhile is not replaced.
pub fn write_text(dir: &Path, stem: &str, ext: &str, text: &str) -> Result<PathBuf, String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = fresh_path(dir, stem, ext);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

/// Cuts `rect` (in points) out of a screenshot taken at `pixels_per_point`
/// and writes it as a PNG to a fresh file in `dir`.
pub fn write_png(
    dir: &Path,
    stem: &str,
    shot: &egui::ColorImage,
    rect: Rect,
    pixels_per_point: f32,
) -> Result<PathBuf, String> {
    let full = Rect::from_min_size(
        egui::Pos2::ZERO,
        egui::vec2(shot.size[0] as f32, shot.size[1] as f32) / pixels_per_point,
    );
    let rect = rect.intersect(full);
    if !rect.is_positive() {
        return Err(format!("{stem}: the plot is not on the screen"));
    }
    let part = shot.region(&rect, Some(pixels_per_point));
    let [w, h] = part.size;
    let bytes: Vec<u8> = part.pixels.iter().flat_map(|c| c.to_array()).collect();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = fresh_path(dir, stem, "png");
    image::save_buffer(
        &p,
        &bytes,
        w as u32,
        h as u32,
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

/// Comma-separated values: a header and rows, fields with commas or quotes
/// quoted.
pub fn csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.iter().map(|s| field(s)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// A float for a CSV field: empty where it is not a number.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// "PNG" and "CSV" (or "JSON", by `ext`) buttons for the plot or map at
/// `rect`; its numbers are made only when asked for.
pub fn buttons(
    ui: &mut Ui,
    name: &str,
    rect: Rect,
    ext: &'static str,
    data: impl FnOnce() -> String,
) -> Vec<Action> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        if ui
            .small_button("PNG")
            .on_hover_text(format!("save {name} as a picture"))
            .clicked()
        {
            out.push(Action::SavePng {
                name: name.to_string(),
                rect,
            });
        }
        if ui
            .small_button(ext.to_uppercase())
            .on_hover_text(format!("save the numbers of {name}"))
            .clicked()
        {
            out.push(Action::SaveText {
                name: name.to_string(),
                ext,
                text: data(),
            });
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_never_replace_a_file() {
        let dir = std::env::temp_dir().join(format!("reslab-export-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = write_text(&dir, "loss curves", "csv", "a\n").unwrap();
        let b = write_text(&dir, "loss curves", "csv", "b\n").unwrap();
        assert_eq!(a.file_name().unwrap(), "loss_curves.csv");
        assert_eq!(b.file_name().unwrap(), "loss_curves-2.csv");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let s = csv(
            &["net", "x"],
            [
                vec!["a,b".into(), "1".into()],
                vec!["q\"".into(), num(f64::NAN)],
            ],
        );
        assert_eq!(s, "net,x\n\"a,b\",1\n\"q\"\"\",\n");
    }

    #[test]
    fn a_png_is_cut_at_the_window_scale() {
        let dir = std::env::temp_dir().join(format!("reslab-png-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // 40x20 pixels at 2 pixels per point; the right half red.
        let mut shot = egui::ColorImage::filled([40, 20], egui::Color32::BLACK);
        for y in 0..20 {
            for x in 20..40 {
                shot.pixels[y * 40 + x] = egui::Color32::RED;
            }
        }
        let rect = Rect::from_min_max(egui::pos2(10.0, 0.0), egui::pos2(20.0, 5.0));
        let p = write_png(&dir, "plot", &shot, rect, 2.0).unwrap();
        let img = image::open(&p).unwrap().to_rgba8();
        assert_eq!(img.dimensions(), (20, 10));
        assert!(img.pixels().all(|px| px.0 == [255, 0, 0, 255]));
        let off = Rect::from_min_max(egui::pos2(30.0, 30.0), egui::pos2(40.0, 40.0));
        assert!(write_png(&dir, "plot", &shot, off, 2.0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
