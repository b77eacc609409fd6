//! CPU twins of `shaders/conv2d_*.wgsl`: plain loops, f64 accumulation.

use super::Real;
use crate::ops::{Conv2dGeom, UnfoldOrder};

/// y[n, co, oy, ox] = bias[co] + sum over ci, ky, kx of x[n, ci, iy, ix] * w[co, ci, ky, kx]
/// with iy = oy*sh + ky - ph, ix = ox*sw + kx - pw (zero outside the input).
pub fn conv2d_forward<T: Real>(y: &mut [T], x: &[T], w: &[T], b: Option<&[T]>, g: &Conv2dGeom) {
    let (ho, wo) = (g.ho(), g.wo());
    for n in 0..g.n {
        for co in 0..g.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0f64;
                    for ci in 0..g.cin {
                        for ky in 0..g.kh {
                            let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for kx in 0..g.kw {
                                let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                                if ix < 0 || ix >= g.w as isize {
                                    continue;
                                }
                                let xv =
                                    x[((n * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize];
                                let wv = w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx];
                                acc += xv.f64() * wv.f64();
                            }
                        }
                    }
                    if let Some(b) = b {
                        acc += b[co].f64();
                    }
                    y[((n * g.cout + co) * ho + oy) * wo + ox] = T::of(acc);
                }
            }
        }
    }
}

/// dx = transposed convolution of dy with w; added to dx when `accumulate`.
pub fn conv2d_backward_data<T: Real>(
    dx: &mut [T],
    dy: &[T],
    w: &[T],
    g: &Conv2dGeom,
    accumulate: bool,
) {
    let (ho, wo) = (g.ho(), g.wo());
    let mut acc = vec![0f64; g.n * g.cin * g.h * g.w];
    for n in 0..g.n {
        for co in 0..g.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let d = dy[((n * g.cout + co) * ho + oy) * wo + ox].f64();
                    for ci in 0..g.cin {
                        for ky in 0..g.kh {
                            let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for kx in 0..g.kw {
                                let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                                if ix < 0 || ix >= g.w as isize {
                                    continue;
                                }
                                let wv = w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx].f64();
                                acc[((n * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize] +=
                                    d * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    for (o, a) in dx.iter_mut().zip(acc) {
        *o = T::of(if accumulate { o.f64() + a } else { a });
    }
}

/// dw[co, ci, ky, kx] = sum over n, oy, ox of dy[n, co, oy, ox] * x[n, ci, iy, ix].
pub fn conv2d_backward_weight<T: Real>(dw: &mut [T], dy: &[T], x: &[T], g: &Conv2dGeom) {
    let (ho, wo) = (g.ho(), g.wo());
    let mut acc = vec![0f64; g.cout * g.cin * g.kh * g.kw];
    for n in 0..g.n {
        for co in 0..g.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let d = dy[((n * g.cout + co) * ho + oy) * wo + ox].f64();
                    for ci in 0..g.cin {
                        for ky in 0..g.kh {
                            let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for kx in 0..g.kw {
                                let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                                if ix < 0 || ix >= g.w as isize {
                                    continue;
                                }
                                let xv = x
                                    [((n * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize]
                                    .f64();
                                acc[((co * g.cin + ci) * g.kh + ky) * g.kw + kx] += d * xv;
                            }
                        }
                    }
                }
            }
        }
    }
    for (o, a) in dw.iter_mut().zip(acc) {
        *o = T::of(a);
    }
}

/// db[co] = sum over n, oy, ox of dy[n, co, oy, ox].
pub fn conv2d_backward_bias<T: Real>(db: &mut [T], dy: &[T], g: &Conv2dGeom) {
    let plane = g.ho() * g.wo();
    for (co, o) in db.iter_mut().enumerate().take(g.cout) {
        let mut acc = 0f64;
        for n in 0..g.n {
            let base = (n * g.cout + co) * plane;
            acc += dy[base..base + plane].iter().map(|v| v.f64()).sum::<f64>();
        }
        *o = T::of(acc);
    }
}

/// xp[n, c, oy + d·iy, ox + d·ix] = x[n, c, iy, ix], zero elsewhere (the
/// layout pass of the tiled kernels; see [`crate::ops::PadGeom`]).
pub fn conv2d_pad<T: Real>(xp: &mut [T], x: &[T], pg: &crate::ops::PadGeom) {
    xp.iter_mut().for_each(|v| *v = T::of(0.0));
    for plane in 0..pg.n * pg.c {
        for iy in 0..pg.h {
            let yy = pg.oy + pg.dil * iy;
            if yy >= pg.hp {
                continue;
            }
            for ix in 0..pg.w {
                let xx = pg.ox + pg.dil * ix;
                if xx < pg.pitch {
                    xp[(plane * pg.hp + yy) * pg.pitch + xx] = x[(plane * pg.h + iy) * pg.w + ix];
                }
            }
        }
    }
}

/// col[m, k, oy, ox] = x[n0 + m, ci, oy·sh + ky − ph, ox·sw + kx − pw], k
/// being tap (ky, kx) of channel ci in `order` ([`Conv2dGeom::unfolded_channel`]),
/// zero outside the input, for the `col.len() / (Ci·Kh·Kw·Ho·Wo)` images from
/// `n0` (the unfolded input, im2col, of `conv2d_unfold.wgsl`).
pub fn conv2d_unfold<T: Real>(
    col: &mut [T],
    x: &[T],
    g: &Conv2dGeom,
    n0: usize,
    order: UnfoldOrder,
) {
    let (ho, wo) = (g.ho(), g.wo());
    let taps = g.cin * g.kh * g.kw;
    let images = col.len() / (taps * ho * wo).max(1);
    for m in 0..images {
        for ci in 0..g.cin {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let k = g.unfolded_channel(order, ci, ky, kx);
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                            let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w;
                            col[((m * taps + k) * ho + oy) * wo + ox] = if inside {
                                x[(((n0 + m) * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize]
                            } else {
                                T::of(0.0)
                            };
                        }
                    }
                }
            }
        }
    }
}
