//! CPU twins of `shaders/reduce.wgsl`.

use super::Real;

/// out [N, 2] = (Σ v, Σ v²) per sample of x [N, C, HW]; v mapped through the
/// per-channel affine `coef` [2, C] when given.
pub fn sum_sumsq_rows<T: Real>(
    out: &mut [T],
    x: &[T],
    coef: Option<&[T]>,
    n: usize,
    c: usize,
    hw: usize,
) {
    for s in 0..n {
        let (mut a, mut b) = (0f64, 0f64);
        for ch in 0..c {
            for j in 0..hw {
                let v = value(x[(s * c + ch) * hw + j], coef, ch, c);
                a += v;
                b += v * v;
            }
        }
        out[2 * s] = T::of(a);
        out[2 * s + 1] = T::of(b);
    }
}

/// out [C, 2] = (Σ v, Σ v²) per channel of x [N, C, HW].
pub fn sum_sumsq_channels<T: Real>(
    out: &mut [T],
    x: &[T],
    coef: Option<&[T]>,
    n: usize,
    c: usize,
    hw: usize,
) {
    for ch in 0..c {
        let (mut a, mut b) = (0f64, 0f64);
        for s in 0..n {
            for j in 0..hw {
                let v = value(x[(s * c + ch) * hw + j], coef, ch, c);
                a += v;
                b += v * v;
            }
        }
        out[2 * ch] = T::of(a);
        out[2 * ch + 1] = T::of(b);
    }
}

fn value<T: Real>(v: T, coef: Option<&[T]>, ch: usize, c: usize) -> f64 {
    match coef {
        Some(k) => v.f64() * k[ch].f64() + k[c + ch].f64(),
        None => v.f64(),
    }
}
