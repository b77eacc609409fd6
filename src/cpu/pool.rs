//! CPU twins of `shaders/pool.wgsl`.

use super::Real;
use crate::ops::Pool2dGeom;

/// Max pool; `argmax` gets the index iy·W + ix of each window's first maximum.
pub fn maxpool_forward<T: Real>(y: &mut [T], argmax: &mut [u32], x: &[T], g: &Pool2dGeom) {
    let (ho, wo) = (g.ho(), g.wo());
    for plane in 0..g.n * g.c {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut best: Option<(f64, usize)> = None;
                for ky in 0..g.k {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    for kx in 0..g.k {
                        let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                        if ix < 0 || ix >= g.w as isize {
                            continue;
                        }
                        let at = iy as usize * g.w + ix as usize;
                        let v = x[plane * g.h * g.w + at].f64();
                        // The first maximum wins; a NaN wins over any
                        // number, and the first NaN over later ones.
                        let nan_held = best.is_some_and(|(b, _)| b.is_nan());
                        if !nan_held && best.is_none_or(|(b, _)| v > b || v.is_nan()) {
                            best = Some((v, at));
                        }
                    }
                }
                let (v, at) = best.unwrap_or((0.0, u32::MAX as usize));
                let o = (plane * ho + oy) * wo + ox;
                y[o] = T::of(v);
                argmax[o] = at as u32;
            }
        }
    }
}

pub fn maxpool_backward<T: Real>(dx: &mut [T], dy: &[T], argmax: &[u32], g: &Pool2dGeom) {
    let (ho, wo) = (g.ho(), g.wo());
    let mut acc = vec![0f64; dx.len()];
    for plane in 0..g.n * g.c {
        for o in 0..ho * wo {
            let at = argmax[plane * ho * wo + o] as usize;
            acc[plane * g.h * g.w + at] += dy[plane * ho * wo + o].f64();
        }
    }
    for (d, a) in dx.iter_mut().zip(acc) {
        *d = T::of(a);
    }
}

/// Global average pool: y [N, C] from x [N, C, H, W] (`hw` = H·W).
pub fn avgpool_forward<T: Real>(y: &mut [T], x: &[T], hw: usize) {
    for (i, o) in y.iter_mut().enumerate() {
        *o = T::of(x[i * hw..(i + 1) * hw].iter().map(|v| v.f64()).sum::<f64>() / hw as f64);
    }
}

pub fn avgpool_backward<T: Real>(dx: &mut [T], dy: &[T], hw: usize) {
    for (i, d) in dx.iter_mut().enumerate() {
        *d = T::of(dy[i / hw].f64() / hw as f64);
    }
}
