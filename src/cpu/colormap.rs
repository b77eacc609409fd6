//! CPU twin of `shaders/colormap.wgsl`.

use super::Real;

fn value<T: Real>(
    src: &[T],
    coef: Option<&[T]>,
    add: Option<&[T]>,
    i: usize,
    ch: usize,
    c: usize,
) -> f64 {
    let mut v = src[i].f64();
    if let Some(k) = coef {
        v = v * k[ch].f64() + k[c + ch].f64();
    }
    if let Some(a) = add {
        v += a[i].f64();
    }
    v
}

/// range [C + 1, 2]: (min, max) of each channel of sample `n`, then the joint range.
#[allow(clippy::too_many_arguments)]
pub fn channel_range<T: Real>(
    range: &mut [T],
    src: &[T],
    coef: Option<&[T]>,
    add: Option<&[T]>,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
) {
    let (mut jlo, mut jhi) = (f64::MAX, f64::MIN);
    for ch in 0..c {
        let base = (n * c + ch) * h * w;
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for i in base..base + h * w {
            let v = value(src, coef, add, i, ch, c);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        range[2 * ch] = T::of(lo);
        range[2 * ch + 1] = T::of(hi);
        jlo = jlo.min(lo);
        jhi = jhi.max(hi);
    }
    range[2 * c] = T::of(jlo);
    range[2 * c + 1] = T::of(jhi);
}

/// The viridis colour (0–1 per component) of t in [0, 1], as the shader computes it.
pub fn viridis(t: f64) -> [f64; 3] {
    const S: [[f64; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let s = t.clamp(0.0, 1.0) * 4.0;
    let i = (s as usize).min(3);
    let f = s - i as f64;
    [0, 1, 2].map(|k| (S[i][k] + (S[i + 1][k] - S[i][k]) * f) / 255.0)
}

/// image [tex_h, tex_w, 4] (RGBA, 0–1): the grid of channel maps of sample `n`.
#[allow(clippy::too_many_arguments)]
pub fn colormap<T: Real>(
    image: &mut [f64],
    range: &[T],
    src: &[T],
    coef: Option<&[T]>,
    add: Option<&[T]>,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    joint: bool,
) {
    let (cols, tw, th) = crate::ops::colormap::grid(c, h, w);
    for y in 0..th {
        for x in 0..tw {
            let (col, row, cx, cy) = (x / (w + 1), y / (h + 1), x % (w + 1), y % (h + 1));
            let ch = row * cols + col;
            let mut rgb = [0.16; 3];
            if cx < w && cy < h && ch < c {
                let i = ((n * c + ch) * h + cy) * w + cx;
                let v = value(src, coef, add, i, ch, c);
                let r = if joint { c } else { ch };
                let (lo, hi) = (range[2 * r].f64(), range[2 * r + 1].f64());
                rgb = viridis(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 });
            }
            let o = 4 * (y * tw + x);
            image[o..o + 3].copy_from_slice(&rgb);
            image[o + 3] = 1.0;
        }
    }
}
