//! Launchers that draw a sample's channel maps into a texture (viridis), for
//! the desktop app's activation view: no activation leaves the GPU.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, expect_shape, launch, nchw, prepare};

params! {
    /// Mirrors `ColormapParams` of colormap.wgsl.
    pub struct ColormapParams {
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        cols: u32,
        tex_w: u32,
        tex_h: u32,
        flags: u32,
        first: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// What to draw: channel maps of sample `sample` of `src` [N, C, H, W], each
/// value mapped through the per-channel affine `coef` [2, C] and added to
/// `add` (same shape as `src`) when given.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub src: &'a Tensor,
    pub sample: usize,
    pub coef: Option<&'a Tensor>,
    pub add: Option<&'a Tensor>,
}

fn params(s: &Source<'_>, flags: u32) -> Result<(ColormapParams, [usize; 4])> {
    let [n, c, h, w] = nchw("colormap source", s.src)?;
    if s.sample >= n {
        return Err(Error::invalid(format!(
            "sample {} of a batch of {n}",
            s.sample
        )));
    }
    if let Some(k) = s.coef {
        expect_shape("colormap coefficients", k, &[2, c])?;
    }
    if let Some(a) = s.add {
        expect_shape("colormap addend", a, s.src.shape())?;
    }
    let (cols, tw, th) = crate::ops::colormap::grid(c, h, w);
    let mut flags = flags;
    if s.coef.is_some() {
        flags |= 1;
    }
    if s.add.is_some() {
        flags |= 2;
    }
    Ok((
        ColormapParams {
            n: s.sample as u32,
            c: c as u32,
            h: h as u32,
            w: w as u32,
            cols: cols as u32,
            tex_w: tw as u32,
            tex_h: th as u32,
            flags,
            first: 0,
            ..Default::default()
        },
        [n, c, h, w],
    ))
}

/// Records the per-channel (min, max) of the source into `range` [C + 1, 2],
/// and their joint range into its last row.
pub fn channel_range(gpu: &Gpu, prog: &mut Program, range: &Tensor, s: &Source<'_>) -> Result<()> {
    let (p, [_, c, _, _]) = params(s, 0)?;
    expect_shape("colormap range", range, &[c + 1, 2])?;
    // Every channel, then (reading what the first dispatch wrote) the joint range.
    for (first, count) in [(0, c as u32), (c as u32, 1)] {
        launch(
            gpu,
            prog,
            &table::CHANNEL_RANGE,
            &ColormapParams { first, ..p },
            &[Some(range), Some(s.src), s.coef, s.add],
            [count, 1, 1],
        )?;
    }
    Ok(())
}

/// Records the colormap of the source into `image` (an rgba8unorm storage
/// texture of at least [`grid`]'s size), scaled by the per-channel ranges in
/// `range`, or by its joint range (its last row) when `joint`.
pub fn colormap(
    gpu: &Gpu,
    prog: &mut Program,
    image: &wgpu::TextureView,
    range: &Tensor,
    s: &Source<'_>,
    joint: bool,
) -> Result<()> {
    let (p, [_, c, _, _]) = params(s, if joint { 4 } else { 0 })?;
    expect_shape("colormap range", range, &[c + 1, 2])?;
    let k = &table::COLORMAP;
    let [wx, wy, _] = k.workgroup;
    let d = prepare(
        gpu,
        k,
        &p,
        Some(image),
        &[Some(s.src), s.coef, s.add, Some(range)],
        [p.tex_w.div_ceil(wx), p.tex_h.div_ceil(wy), 1],
    )?;
    prog.push(d);
    Ok(())
}
