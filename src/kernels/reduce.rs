//! Launchers for the analysis reductions: per-row (per-sample) and per-channel
//! sums and sums of squares.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, check_grid, expect_shape, launch, nchw, u32_of};

params! {
    /// Mirrors `ReduceParams` of reduce.wgsl.
    pub struct ReduceParams {
        rows: u32,
        d: u32,
        c: u32,
        hw: u32,
        n: u32,
        flags: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// An affine map per channel applied before summing: v·coef[c] + coef[C + c],
/// with `coef` [2, C] (batch norm's scale and shift).
#[derive(Clone, Copy)]
pub struct ChannelAffine<'a> {
    pub coef: &'a Tensor,
}

fn base(x: &Tensor, affine: Option<ChannelAffine<'_>>) -> Result<ReduceParams> {
    let [n, c, h, w] = nchw("reduction input", x)?;
    u32_of("reduction elements", x.len())?;
    if let Some(a) = affine {
        expect_shape("reduction coefficients", a.coef, &[2, c])?;
    }
    Ok(ReduceParams {
        n: n as u32,
        c: c as u32,
        hw: (h * w) as u32,
        flags: affine.is_some() as u32,
        ..Default::default()
    })
}

/// out [N, 2] = (Σ v, Σ v²) over each sample of x [N, C, H, W].
pub fn sum_sumsq_rows(
    gpu: &Gpu,
    prog: &mut Program,
    out: &Tensor,
    x: &Tensor,
    affine: Option<ChannelAffine<'_>>,
) -> Result<()> {
    let mut p = base(x, affine)?;
    let rows = p.n as usize;
    expect_shape("per-sample sums", out, &[rows, 2])?;
    p.rows = p.n;
    p.d = (x.len() / rows.max(1)) as u32;
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let gx = rows.min(max);
    let gy = rows.div_ceil(gx);
    let grid = check_grid(gpu, "sum_sumsq_rows", [gx as u64, gy as u64, 1])?;
    launch(
        gpu,
        prog,
        &table::SUM_SUMSQ_ROWS,
        &p,
        &[Some(out), Some(x), affine.map(|a| a.coef)],
        grid,
    )?;
    Ok(())
}

/// out [C, 2] = (Σ v, Σ v²) over each channel of x [N, C, H, W].
pub fn sum_sumsq_channels(
    gpu: &Gpu,
    prog: &mut Program,
    out: &Tensor,
    x: &Tensor,
    affine: Option<ChannelAffine<'_>>,
) -> Result<()> {
    let p = base(x, affine)?;
    expect_shape("per-channel sums", out, &[p.c as usize, 2])?;
    if p.c == 0 {
        return Err(Error::invalid(
            "per-channel sums of a tensor with no channels",
        ));
    }
    let grid = check_grid(gpu, "sum_sumsq_channels", [p.c as u64, 1, 1])?;
    launch(
        gpu,
        prog,
        &table::SUM_SUMSQ_CHANNELS,
        &p,
        &[Some(out), Some(x), affine.map(|a| a.coef)],
        grid,
    )?;
    Ok(())
}
