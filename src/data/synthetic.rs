//! The embedded default data set: ten classes of shapes and textures drawn at
//! random positions, sizes, colours and angles over a noisy, shaded background.
//! Generated from a seed (the same seed gives the same images everywhere), in
//! any size and channel count. Every class is its own mirror image, so
//! horizontal flips are a valid augmentation.

use serde::{Deserialize, Serialize};

use crate::data::Split;
use crate::error::{Error, Result};
use crate::rng::Rng;

pub const CLASSES: [&str; 10] = [
    "disk",
    "ring",
    "square",
    "triangle",
    "plus",
    "cross",
    "h-stripes",
    "v-stripes",
    "checker",
    "two-dots",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticSpec {
    pub side: usize,
    pub channels: usize,
    pub train: usize,
    pub test: usize,
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            side: 16,
            channels: 3,
            train: 10_000,
            test: 2_000,
            seed: 0,
        }
    }
}

/// Generates the training and test splits (test images use their own stream).
pub fn generate(spec: &SyntheticSpec) -> Result<(Split, Split)> {
    if spec.side < 8 || spec.side > 512 {
        return Err(Error::invalid(format!(
            "synthetic images must be 8 to 512 pixels wide, not {}",
            spec.side
        )));
    }
    if spec.channels == 0 || spec.channels > 4 {
        return Err(Error::invalid(format!(
            "synthetic images have 1 to 4 channels, not {}",
            spec.channels
        )));
    }
    if spec.train == 0 || spec.test == 0 {
        return Err(Error::invalid(
            "synthetic splits need at least one image each",
        ));
    }
    let bytes = spec
        .train
        .checked_add(spec.test)
        .and_then(|n| n.checked_mul(spec.channels * spec.side * spec.side))
        .map(|b| b as u64);
    let budget = crate::files::memory_budget().unwrap_or(u64::MAX);
    match bytes {
        Some(b) if b <= budget => {}
        _ => {
            return Err(Error::invalid(format!(
                "{} + {} synthetic images of {}x{}x{} need {}, more than the {} of memory available: use fewer --train-images/--test-images",
                spec.train,
                spec.test,
                spec.channels,
                spec.side,
                spec.side,
                bytes.map_or("more than 16 EiB".into(), crate::files::human_bytes),
                crate::files::human_bytes(budget)
            )));
        }
    }
    let root = Rng::new(spec.seed ^ 0x5EED_DA7A);
    Ok((
        split(spec, spec.train, &root.fork(1)),
        split(spec, spec.test, &root.fork(2)),
    ))
}

fn split(spec: &SyntheticSpec, n: usize, rng: &Rng) -> Split {
    let len = spec.channels * spec.side * spec.side;
    let mut images = vec![0u8; n * len];
    let mut labels = vec![0u32; n];
    for i in 0..n {
        let label = i % CLASSES.len();
        let mut r = rng.fork(i as u64);
        draw(
            &mut images[i * len..(i + 1) * len],
            label,
            spec.side,
            spec.channels,
            &mut r,
        );
        labels[i] = label as u32;
    }
    Split::in_memory(images, labels, spec.channels, spec.side, spec.side)
}

/// Coverage of the class's shape at (u, v), in the shape's own frame where the
/// shape spans about [-1, 1]²; `f` is a per-sample frequency for textures.
fn inside(label: usize, u: f64, v: f64, f: f64) -> bool {
    let r = (u * u + v * v).sqrt();
    match label {
        0 => r <= 1.0,
        1 => (0.6..=1.0).contains(&r),
        2 => u.abs() <= 0.85 && v.abs() <= 0.85,
        3 => (-0.9..=0.8).contains(&v) && u.abs() <= (0.8 - v) * 0.55,
        4 => (u.abs() <= 0.28 && v.abs() <= 1.0) || (v.abs() <= 0.28 && u.abs() <= 1.0),
        5 => ((u - v).abs() <= 0.38 || (u + v).abs() <= 0.38) && r <= 1.2,
        6 => u.abs() <= 1.0 && v.abs() <= 1.0 && ((v + 1.0) * f).floor() as i64 % 2 == 0,
        7 => u.abs() <= 1.0 && v.abs() <= 1.0 && ((u.abs()) * f + 0.5).floor() as i64 % 2 == 0,
        8 => {
            u.abs() <= 1.0
                && v.abs() <= 1.0
                && (((u + 1.0) * f * 0.5).floor() as i64 + ((v + 1.0) * f * 0.5).floor() as i64) % 2
                    == 0
        }
        _ => {
            ((u - 0.55).powi(2) + v * v).sqrt() <= 0.4 || ((u + 0.55).powi(2) + v * v).sqrt() <= 0.4
        }
    }
}

fn colour(rng: &mut Rng, channels: usize) -> [f64; 4] {
    let mut c = [0.0; 4];
    for v in c.iter_mut().take(channels) {
        *v = rng.uniform();
    }
    c
}

fn draw(out: &mut [u8], label: usize, side: usize, channels: usize, rng: &mut Rng) {
    let s = side as f64;
    // Shape frame: centre, scale, rotation. A plus turned 45° is a cross, and
    // stripes are told apart by orientation, so these four turn at most ±15°.
    let scale = rng.range(0.22, 0.42) * s;
    let cx = rng.range(scale, s - scale);
    let cy = rng.range(scale, s - scale);
    let max_angle = if (4..=7).contains(&label) {
        0.26
    } else {
        std::f64::consts::PI
    };
    let angle = rng.range(-max_angle, max_angle);
    let (sin, cos) = angle.sin_cos();
    let freq = rng.range(2.5, 4.5);
    // Colours: background and shape differ by at least 0.3 in luminance.
    let bg = colour(rng, channels);
    let mut fg = colour(rng, channels);
    let lum = |c: &[f64; 4]| c[..channels].iter().sum::<f64>() / channels as f64;
    if (lum(&fg) - lum(&bg)).abs() < 0.3 {
        let shift = if lum(&bg) < 0.5 { 0.45 } else { -0.45 };
        for v in fg.iter_mut().take(channels) {
            *v = (*v + shift).clamp(0.0, 1.0);
        }
    }
    // A linear shading across the background, and pixel noise.
    let (gx, gy) = (rng.range(-0.25, 0.25), rng.range(-0.25, 0.25));
    let noise = rng.range(0.03, 0.12);
    // A distractor: a small blob of a third colour somewhere.
    let blob = (
        rng.range(0.0, s),
        rng.range(0.0, s),
        rng.range(0.06, 0.12) * s,
    );
    let blob_colour = colour(rng, channels);
    for y in 0..side {
        for x in 0..side {
            // 2x2 supersampling of the shape's coverage.
            let mut cover = 0.0;
            for (oy, ox) in [(0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)] {
                let (px, py) = (x as f64 + ox - cx, y as f64 + oy - cy);
                let u = (cos * px + sin * py) / scale;
                let v = (-sin * px + cos * py) / scale;
                if inside(label, u, v, freq) {
                    cover += 0.25;
                }
            }
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            let shade = gx * (px / s - 0.5) + gy * (py / s - 0.5);
            let in_blob = ((px - blob.0).powi(2) + (py - blob.1).powi(2)).sqrt() <= blob.2;
            for c in 0..channels {
                let back = if in_blob {
                    blob_colour[c]
                } else {
                    bg[c] + shade
                };
                let v = back * (1.0 - cover) + fg[c] * cover + noise * rng.normal();
                out[(c * side + y) * side + x] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
}
