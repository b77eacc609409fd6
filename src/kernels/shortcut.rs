//! Launchers for the option-A shortcut (subsample + zero-pad channels).

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::Result;
use crate::kernels::table::{self, params};
use crate::kernels::{Program, expect_shape, launch, u32_of};
use crate::ops::ShortcutGeom;

params! {
    /// Mirrors `ShortcutParams` of shortcut.wgsl.
    pub struct ShortcutParams {
        n: u32,
        ci: u32,
        h: u32,
        w: u32,
        co: u32,
        ho: u32,
        wo: u32,
        stride: u32,
        pad_before: u32,
        flags: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

fn params(g: &ShortcutGeom, flags: u32) -> Result<ShortcutParams> {
    g.validate()?;
    u32_of("shortcut input elements", g.n * g.cin * g.h * g.w)?;
    u32_of("shortcut output elements", g.n * g.cout * g.ho() * g.wo())?;
    Ok(ShortcutParams {
        n: g.n as u32,
        ci: g.cin as u32,
        h: g.h as u32,
        w: g.w as u32,
        co: g.cout as u32,
        ho: g.ho() as u32,
        wo: g.wo() as u32,
        stride: g.stride as u32,
        pad_before: g.pad_before() as u32,
        flags,
        _pad0: 0,
        _pad1: 0,
    })
}

/// y = zero-pad-channels(x[:, :, ::s, ::s])
pub fn shortcut_a_forward(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    g: &ShortcutGeom,
) -> Result<()> {
    expect_shape("shortcut output", y, &g.y_shape())?;
    expect_shape("shortcut input", x, &g.x_shape())?;
    let p = params(g, 0)?;
    // Over vec4s of y where its rows are whole vec4s.
    let (k, n) = if g.wo().is_multiple_of(4) {
        (&table::SHORTCUT_A_FORWARD4, y.len() / 4)
    } else {
        (&table::SHORTCUT_A_FORWARD, y.len())
    };
    launch(gpu, prog, k, &p, &[Some(y), Some(x)], k.grid_1d(gpu, n)?)?;
    Ok(())
}

/// dx = the copied channels of dy scattered back to pixels 0, s, 2s, … (zero
/// elsewhere); added to dx when `accumulate`.
pub fn shortcut_a_backward(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    g: &ShortcutGeom,
    accumulate: bool,
) -> Result<()> {
    expect_shape("shortcut dy", dy, &g.y_shape())?;
    expect_shape("shortcut dx", dx, &g.x_shape())?;
    let p = params(g, accumulate as u32)?;
    // Over vec4s of dx where its rows are whole vec4s.
    let (k, n) = if g.w.is_multiple_of(4) {
        (&table::SHORTCUT_A_BACKWARD4, dx.len() / 4)
    } else {
        (&table::SHORTCUT_A_BACKWARD, dx.len())
    };
    launch(gpu, prog, k, &p, &[Some(dx), Some(dy)], k.grid_1d(gpu, n)?)?;
    Ok(())
}
