//! CPU twins of `shaders/linear.wgsl`: y [N, O] = x [N, I] · Wᵀ + b.

use super::Real;

pub fn linear_forward<T: Real>(
    y: &mut [T],
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    n: usize,
    i: usize,
    o: usize,
) {
    for s in 0..n {
        for k in 0..o {
            let mut acc: f64 = (0..i)
                .map(|j| x[s * i + j].f64() * w[k * i + j].f64())
                .sum();
            if let Some(b) = b {
                acc += b[k].f64();
            }
            y[s * o + k] = T::of(acc);
        }
    }
}

pub fn linear_backward_data<T: Real>(
    dx: &mut [T],
    dy: &[T],
    w: &[T],
    n: usize,
    i: usize,
    o: usize,
) {
    for s in 0..n {
        for j in 0..i {
            dx[s * i + j] = T::of(
                (0..o)
                    .map(|k| dy[s * o + k].f64() * w[k * i + j].f64())
                    .sum(),
            );
        }
    }
}

pub fn linear_backward_weight<T: Real>(
    dw: &mut [T],
    dy: &[T],
    x: &[T],
    n: usize,
    i: usize,
    o: usize,
) {
    for k in 0..o {
        for j in 0..i {
            dw[k * i + j] = T::of(
                (0..n)
                    .map(|s| dy[s * o + k].f64() * x[s * i + j].f64())
                    .sum(),
            );
        }
    }
}

pub fn linear_backward_bias<T: Real>(db: &mut [T], dy: &[T], n: usize, o: usize) {
    for k in 0..o {
        db[k] = T::of((0..n).map(|s| dy[s * o + k].f64()).sum());
    }
}
