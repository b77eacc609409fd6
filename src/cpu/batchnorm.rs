//! CPU twins of `shaders/batchnorm_*.wgsl`.

use super::Real;
use crate::ops::{BnGeom, BnOptions};

fn at(g: &BnGeom, n: usize, c: usize, j: usize) -> usize {
    (n * g.c + c) * g.hw + j
}

/// Per-channel (mean, biased variance) of x.
fn stats<T: Real>(x: &[T], g: &BnGeom) -> Vec<(f64, f64)> {
    (0..g.c)
        .map(|c| {
            let mut s = 0f64;
            for n in 0..g.n {
                for j in 0..g.hw {
                    s += x[at(g, n, c, j)].f64();
                }
            }
            let mean = s / g.m() as f64;
            let mut v = 0f64;
            for n in 0..g.n {
                for j in 0..g.hw {
                    let d = x[at(g, n, c, j)].f64() - mean;
                    v += d * d;
                }
            }
            (mean, v / g.m() as f64)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn apply<T: Real>(
    y: &mut [T],
    x: &[T],
    scale: &[f64],
    shift: &[f64],
    residual: Option<&[T]>,
    g: &BnGeom,
    relu: bool,
) {
    for n in 0..g.n {
        for c in 0..g.c {
            for j in 0..g.hw {
                let i = at(g, n, c, j);
                let mut v = x[i].f64() * scale[c] + shift[c];
                if let Some(r) = residual {
                    v += r[i].f64();
                }
                if relu {
                    v = super::relu(v);
                }
                y[i] = T::of(v);
            }
        }
    }
}

/// Training forward; `saved` = [mean..., invstd...]; running stats updated with
/// the unbiased variance.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train<T: Real>(
    y: &mut [T],
    saved: &mut [T],
    running_mean: &mut [T],
    running_var: &mut [T],
    x: &[T],
    gamma: &[T],
    beta: &[T],
    residual: Option<&[T]>,
    g: &BnGeom,
    o: &BnOptions,
) {
    let st = stats(x, g);
    let m = g.m() as f64;
    let mom = o.momentum as f64;
    let mut scale = vec![0f64; g.c];
    let mut shift = vec![0f64; g.c];
    for (c, &(mean, var)) in st.iter().enumerate() {
        let invstd = 1.0 / (var + o.eps as f64).sqrt();
        saved[c] = T::of(mean);
        saved[g.c + c] = T::of(invstd);
        scale[c] = gamma[c].f64() * invstd;
        shift[c] = beta[c].f64() - mean * scale[c];
        running_mean[c] = T::of((1.0 - mom) * running_mean[c].f64() + mom * mean);
        running_var[c] =
            T::of((1.0 - mom) * running_var[c].f64() + mom * var * m / (m - 1.0).max(1.0));
    }
    apply(y, x, &scale, &shift, residual, g, o.relu);
}

/// Eval forward with the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval<T: Real>(
    y: &mut [T],
    x: &[T],
    running_mean: &[T],
    running_var: &[T],
    gamma: &[T],
    beta: &[T],
    residual: Option<&[T]>,
    g: &BnGeom,
    o: &BnOptions,
) {
    let scale: Vec<f64> = (0..g.c)
        .map(|c| gamma[c].f64() / (running_var[c].f64() + o.eps as f64).sqrt())
        .collect();
    let shift: Vec<f64> = (0..g.c)
        .map(|c| beta[c].f64() - running_mean[c].f64() * scale[c])
        .collect();
    apply(y, x, &scale, &shift, residual, g, o.relu);
}

/// Training backward. `out` is the forward output when a ReLU was fused (its
/// mask gates dout); `dres` (with its accumulate flag) receives the residual
/// branch's gradient.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward<T: Real>(
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
    dres: Option<(&mut [T], bool)>,
    dout: &[T],
    out: Option<&[T]>,
    x: &[T],
    saved: &[T],
    gamma: &[T],
    g: &BnGeom,
) {
    let grad = |i: usize| -> f64 {
        match out {
            Some(o) if o[i].f64() <= 0.0 => 0.0,
            _ => dout[i].f64(),
        }
    };
    let m = g.m() as f64;
    for c in 0..g.c {
        let mean = saved[c].f64();
        let invstd = saved[g.c + c].f64();
        let (mut sg, mut sgx) = (0f64, 0f64);
        for n in 0..g.n {
            for j in 0..g.hw {
                let i = at(g, n, c, j);
                sg += grad(i);
                sgx += grad(i) * (x[i].f64() - mean) * invstd;
            }
        }
        dgamma[c] = T::of(sgx);
        dbeta[c] = T::of(sg);
        let a = gamma[c].f64() * invstd;
        for n in 0..g.n {
            for j in 0..g.hw {
                let i = at(g, n, c, j);
                let xhat = (x[i].f64() - mean) * invstd;
                dx[i] = T::of(a * (grad(i) - sg / m - xhat * sgx / m));
            }
        }
    }
    if let Some((dres, accumulate)) = dres {
        for (i, r) in dres.iter_mut().enumerate() {
            *r = T::of(grad(i) + if accumulate { r.f64() } else { 0.0 });
        }
    }
}
