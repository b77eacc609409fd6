//! Launchers for 2-D convolution: forward, backward-data, backward-weight, backward-bias.

use crate::error::Result;
use crate::geom::Conv2dGeom;
use crate::gpu::Gpu;
use crate::kernels::{Program, expect_shape, grid_1d, push, u32_of};
use crate::tensor::Tensor;

/// Mirrors `ConvParams` of the conv shaders.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    pub n: u32,
    pub ci: u32,
    pub h: u32,
    pub w: u32,
    pub co: u32,
    pub ho: u32,
    pub wo: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub flags: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

pub const FLAG_BIAS: u32 = 1;
pub const FLAG_ACCUMULATE: u32 = 2;

impl ConvParams {
    pub fn new(g: &Conv2dGeom, flags: u32) -> Result<Self> {
        g.validate()?;
        // Every index the shaders form must fit in u32.
        u32_of("conv2d input elements", g.n * g.cin * g.h * g.w)?;
        u32_of("conv2d output elements", g.n * g.cout * g.ho() * g.wo())?;
        u32_of("conv2d weight elements", g.cout * g.cin * g.kh * g.kw)?;
        Ok(ConvParams {
            n: g.n as u32,
            ci: g.cin as u32,
            h: g.h as u32,
            w: g.w as u32,
            co: g.cout as u32,
            ho: g.ho() as u32,
            wo: g.wo() as u32,
            kh: g.kh as u32,
            kw: g.kw as u32,
            sh: g.sh as u32,
            sw: g.sw as u32,
            ph: g.ph as u32,
            pw: g.pw as u32,
            flags,
            _pad0: 0,
            _pad1: 0,
        })
    }
}

fn check(g: &Conv2dGeom, y: &Tensor, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<()> {
    expect_shape("conv2d output", y, &g.y_shape())?;
    expect_shape("conv2d input", x, &g.x_shape())?;
    expect_shape("conv2d weight", w, &g.w_shape())?;
    if let Some(b) = b {
        expect_shape("conv2d bias", b, &[g.cout])?;
    }
    Ok(())
}

/// Reference forward: one invocation per output element.
pub fn conv2d_forward_reference(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
) -> Result<()> {
    check(g, y, x, w, b)?;
    let params = ConvParams::new(g, if b.is_some() { FLAG_BIAS } else { 0 })?;
    push(
        gpu,
        prog,
        "conv2d_forward.wgsl",
        "conv2d_forward",
        &params,
        &[Some(y), Some(x), Some(w), b],
        grid_1d(gpu, "conv2d_forward", y.len(), 64)?,
    )?;
    Ok(())
}

/// Reference backward-data: one invocation per element of dx. With `accumulate`
/// the result is added to dx.
pub fn conv2d_backward_data_reference(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Result<()> {
    check(g, dy, dx, w, None)?;
    let params = ConvParams::new(g, if accumulate { FLAG_ACCUMULATE } else { 0 })?;
    push(
        gpu,
        prog,
        "conv2d_backward_data.wgsl",
        "conv2d_backward_data",
        &params,
        &[Some(dx), Some(dy), Some(w)],
        grid_1d(gpu, "conv2d_backward_data", dx.len(), 64)?,
    )?;
    Ok(())
}

/// Reference backward-weight: one invocation per element of dweight.
pub fn conv2d_backward_weight_reference(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    check(g, dy, x, dw, None)?;
    let params = ConvParams::new(g, 0)?;
    push(
        gpu,
        prog,
        "conv2d_backward_weight.wgsl",
        "conv2d_backward_weight",
        &params,
        &[Some(dw), Some(dy), Some(x)],
        grid_1d(gpu, "conv2d_backward_weight", dw.len(), 64)?,
    )?;
    Ok(())
}

/// Bias gradient: dbias[co] = sum of dy over batch and pixels.
pub fn conv2d_backward_bias(
    gpu: &Gpu,
    prog: &mut Program,
    db: &Tensor,
    dy: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    expect_shape("conv2d dy", dy, &g.y_shape())?;
    expect_shape("conv2d dbias", db, &[g.cout])?;
    let params = ConvParams::new(g, 0)?;
    push(
        gpu,
        prog,
        "conv2d_backward_weight.wgsl",
        "conv2d_backward_bias",
        &params,
        &[Some(db), Some(dy)],
        grid_1d(gpu, "conv2d_backward_bias", g.cout, 64)?,
    )?;
    Ok(())
}
