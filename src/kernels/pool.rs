//! Launchers for max pooling and global average pooling.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, expect_shape, launch, nchw, u32_of};
use crate::ops::Pool2dGeom;

params! {
    /// Mirrors `PoolParams` of pool.wgsl.
    pub struct PoolParams {
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        ho: u32,
        wo: u32,
        k: u32,
        stride: u32,
        pad: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

fn max_params(g: &Pool2dGeom) -> Result<PoolParams> {
    g.validate()?;
    u32_of("max pool input elements", g.n * g.c * g.h * g.w)?;
    Ok(PoolParams {
        n: g.n as u32,
        c: g.c as u32,
        h: g.h as u32,
        w: g.w as u32,
        ho: g.ho() as u32,
        wo: g.wo() as u32,
        k: g.k as u32,
        stride: g.stride as u32,
        pad: g.pad as u32,
        ..Default::default()
    })
}

/// y = max over each window; `argmax` (u32, same shape as y) records where
/// (a vec4 of y an invocation where [`stem_fits`]).
pub fn maxpool_forward(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    argmax: &Tensor,
    x: &Tensor,
    g: &Pool2dGeom,
) -> Result<()> {
    maxpool_forward_with(gpu, prog, y, argmax, x, g, stem_fits(g))
}

/// Whether `g` is the ResNet stem's 3x3/2 pool with padding 1 over rows of
/// a multiple of 8 values, which [`maxpool_forward`] runs a vec4 of y an
/// invocation.
pub fn stem_fits(g: &Pool2dGeom) -> bool {
    (g.k, g.stride, g.pad) == (3, 2, 1) && g.w.is_multiple_of(8)
}

/// [`maxpool_forward`] a vec4 of y an invocation (`vec4`, where
/// [`stem_fits`]) or one value: the same values and indices.
pub fn maxpool_forward_with(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    argmax: &Tensor,
    x: &Tensor,
    g: &Pool2dGeom,
    vec4: bool,
) -> Result<()> {
    expect_shape("max pool output", y, &g.y_shape())?;
    expect_shape("max pool argmax", argmax, &g.y_shape())?;
    expect_shape("max pool input", x, &g.x_shape())?;
    if vec4 && !stem_fits(g) {
        return Err(Error::invalid(format!(
            "maxpool_forward: {g:?} is not a 3x3/2 pool with padding 1 over rows of a multiple of 8"
        )));
    }
    let p = max_params(g)?;
    let (k, invocations) = if vec4 {
        (&table::MAXPOOL3S2_FORWARD4, y.len() / 4)
    } else {
        (&table::MAXPOOL_FORWARD, y.len())
    };
    launch(
        gpu,
        prog,
        k,
        &p,
        &[Some(y), Some(argmax), Some(x)],
        k.grid_1d(gpu, invocations)?,
    )?;
    Ok(())
}

/// dx = dy routed back to each window's maximum (a vec4 of dx an invocation
/// where rows are whole vec4s).
pub fn maxpool_backward(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    argmax: &Tensor,
    g: &Pool2dGeom,
) -> Result<()> {
    maxpool_backward_with(gpu, prog, dx, dy, argmax, g, g.w.is_multiple_of(4))
}

/// [`maxpool_backward`] a vec4 of dx an invocation (`vec4`: rows of a
/// multiple of 4 values) or one value: the same bits.
pub fn maxpool_backward_with(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    argmax: &Tensor,
    g: &Pool2dGeom,
    vec4: bool,
) -> Result<()> {
    expect_shape("max pool dx", dx, &g.x_shape())?;
    expect_shape("max pool dy", dy, &g.y_shape())?;
    expect_shape("max pool argmax", argmax, &g.y_shape())?;
    if vec4 && !g.w.is_multiple_of(4) {
        return Err(Error::invalid(format!(
            "maxpool_backward: rows of {} values are not whole vec4s",
            g.w
        )));
    }
    let p = max_params(g)?;
    let (k, invocations) = if vec4 {
        (&table::MAXPOOL_BACKWARD4, dx.len() / 4)
    } else {
        (&table::MAXPOOL_BACKWARD, dx.len())
    };
    launch(
        gpu,
        prog,
        k,
        &p,
        &[Some(dx), Some(dy), Some(argmax)],
        k.grid_1d(gpu, invocations)?,
    )?;
    Ok(())
}

fn avg_params(x: &Tensor) -> Result<PoolParams> {
    let [n, c, h, w] = nchw("global average pool", x)?;
    u32_of("average pool input elements", x.len())?;
    Ok(PoolParams {
        n: n as u32,
        c: c as u32,
        h: h as u32,
        w: w as u32,
        ..Default::default()
    })
}

/// y[n, c] = mean of x[n, c, :, :].
pub fn avgpool_forward(gpu: &Gpu, prog: &mut Program, y: &Tensor, x: &Tensor) -> Result<()> {
    let p = avg_params(x)?;
    expect_shape("average pool output", y, &[p.n as usize, p.c as usize])?;
    launch(
        gpu,
        prog,
        &table::AVGPOOL_FORWARD,
        &p,
        &[Some(y), Some(x)],
        table::AVGPOOL_FORWARD.grid_1d(gpu, y.len())?,
    )?;
    Ok(())
}

/// dx[n, c, :, :] = dy[n, c] / (H·W).
pub fn avgpool_backward(gpu: &Gpu, prog: &mut Program, dx: &Tensor, dy: &Tensor) -> Result<()> {
    let p = avg_params(dx)?;
    expect_shape("average pool dy", dy, &[p.n as usize, p.c as usize])?;
    launch(
        gpu,
        prog,
        &table::AVGPOOL_BACKWARD,
        &p,
        &[Some(dx), Some(dy)],
        table::AVGPOOL_BACKWARD.grid_1d(gpu, dx.len())?,
    )?;
    Ok(())
}
