//! Image files (PNG, JPEG) as model inputs: decoded, resized, converted to the
//! model's channel count and normalised.

use std::path::Path;

use crate::data::Normalize;
use crate::error::{Error, Result};

/// The image at `path` as a normalised [C, H, W] `f32` array: resized to
/// `h` × `w` (bilinear), grey (C = 1, luma) or RGB (C = 3).
pub fn load(path: &Path, c: usize, h: usize, w: usize, norm: &Normalize) -> Result<Vec<f32>> {
    if c != 1 && c != 3 {
        return Err(Error::invalid(format!(
            "images can feed models of 1 or 3 channels, not {c}"
        )));
    }
    let img = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::file(path, format!("not a readable image: {e}")))?;
    let img = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    let planes: Vec<Vec<u8>> = if c == 1 {
        vec![img.to_luma8().into_raw()]
    } else {
        let rgb = img.to_rgb8().into_raw();
        (0..3)
            .map(|k| rgb.iter().skip(k).step_by(3).copied().collect())
            .collect()
    };
    let mut out = Vec::with_capacity(c * h * w);
    for (k, p) in planes.iter().enumerate() {
        let (m, s) = (norm.mean[k], norm.std[k]);
        out.extend(p.iter().map(|&v| (v as f32 / 255.0 - m) / s));
    }
    Ok(out)
}
