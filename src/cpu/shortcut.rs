//! CPU twin of `shaders/shortcut.wgsl` (option A).

use super::Real;
use crate::ops::ShortcutGeom;

pub fn shortcut_a_forward<T: Real>(y: &mut [T], x: &[T], g: &ShortcutGeom) {
    let (ho, wo, p0) = (g.ho(), g.wo(), g.pad_before());
    for n in 0..g.n {
        for co in 0..g.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let v = if co >= p0 && co < p0 + g.cin {
                        x[((n * g.cin + co - p0) * g.h + oy * g.stride) * g.w + ox * g.stride]
                    } else {
                        T::of(0.0)
                    };
                    y[((n * g.cout + co) * ho + oy) * wo + ox] = v;
                }
            }
        }
    }
}

pub fn shortcut_a_backward<T: Real>(dx: &mut [T], dy: &[T], g: &ShortcutGeom, accumulate: bool) {
    let (ho, wo, p0) = (g.ho(), g.wo(), g.pad_before());
    for n in 0..g.n {
        for ci in 0..g.cin {
            for iy in 0..g.h {
                for ix in 0..g.w {
                    let i = ((n * g.cin + ci) * g.h + iy) * g.w + ix;
                    let mut v = 0f64;
                    if iy % g.stride == 0 && ix % g.stride == 0 {
                        v = dy[((n * g.cout + ci + p0) * ho + iy / g.stride) * wo + ix / g.stride]
                            .f64();
                    }
                    if accumulate {
                        v += dx[i].f64();
                    }
                    dx[i] = T::of(v);
                }
            }
        }
    }
}
