//! Image files (PNG, JPEG) as model inputs: decoded, resized, converted to the
//! model's channel count and normalised.

use std::path::Path;

use crate::data::Normalize;
use crate::error::{Error, Result};

/// The largest image decoded: a side in pixels, and the bytes a decoder may
/// allocate. Checked from the file's header, before decoding.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
pub const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Decodes an image whose header promises at most [`MAX_IMAGE_SIDE`]
/// pixels a side and [`MAX_DECODE_BYTES`] of memory.
pub fn decode<R: std::io::BufRead + std::io::Seek>(
    path: &Path,
    mut reader: image::ImageReader<R>,
) -> Result<image::DynamicImage> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| Error::file(path, format!("not a readable image: {e}")))
}

/// An image held in memory (PNG, JPEG), decoded within the same limits.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<image::DynamicImage> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    decode(path, reader)
}

/// The image at `path` as a normalised [C, H, W] `f32` array: resized to
/// `h` × `w` (bilinear), grey (C = 1, luma) or RGB (C = 3).
pub fn load(path: &Path, c: usize, h: usize, w: usize, norm: &Normalize) -> Result<Vec<f32>> {
    if c != 1 && c != 3 {
        return Err(Error::invalid(format!(
            "images can feed models of 1 or 3 channels, not {c}"
        )));
    }
    if norm.mean.len() != c || norm.std.len() != c {
        return Err(Error::invalid(format!(
            "{c} channel(s) need as many means and stds, not {} and {}",
            norm.mean.len(),
            norm.std.len()
        )));
    }
    if h == 0 || w == 0 || h > MAX_IMAGE_SIDE as usize || w > MAX_IMAGE_SIDE as usize {
        return Err(Error::invalid(format!(
            "images are resized to 1 to {MAX_IMAGE_SIDE} pixels a side, not {h}x{w}"
        )));
    }
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let img = decode(path, reader)?;
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
