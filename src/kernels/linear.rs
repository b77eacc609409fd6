//! Launchers for the fully connected layer y = x·Wᵀ + b.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, expect_shape, launch, u32_of};

params! {
    /// Mirrors `LinearParams` of linear.wgsl.
    pub struct LinearParams {
        n: u32,
        i: u32,
        o: u32,
        flags: u32,
    }
}

/// (n, in, out) from x [N, I] and W [O, I].
fn sizes(x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize)> {
    match (x.shape(), w.shape()) {
        (&[n, i], &[o, i2]) if i == i2 => {
            u32_of("linear elements", (n * i).max(o * i).max(n * o))?;
            Ok((n, i, o))
        }
        _ => Err(Error::invalid(format!(
            "linear: input {:?} and weight {:?} do not fit ([N, I] and [O, I])",
            x.shape(),
            w.shape()
        ))),
    }
}

fn p(n: usize, i: usize, o: usize, flags: u32) -> LinearParams {
    LinearParams {
        n: n as u32,
        i: i as u32,
        o: o as u32,
        flags,
    }
}

/// y [N, O] = x [N, I] · Wᵀ + b
pub fn linear_forward(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
) -> Result<()> {
    let (n, i, o) = sizes(x, w)?;
    expect_shape("linear output", y, &[n, o])?;
    if let Some(b) = b {
        expect_shape("linear bias", b, &[o])?;
    }
    launch(
        gpu,
        prog,
        &table::LINEAR_FORWARD,
        &p(n, i, o, b.is_some() as u32),
        &[Some(y), Some(x), Some(w), b],
        table::LINEAR_FORWARD.grid_1d(gpu, n * o)?,
    )?;
    Ok(())
}

/// dx [N, I] = dy [N, O] · W
pub fn linear_backward_data(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
) -> Result<()> {
    let (n, i, o) = sizes(dx, w)?;
    expect_shape("linear dy", dy, &[n, o])?;
    launch(
        gpu,
        prog,
        &table::LINEAR_BACKWARD_DATA,
        &p(n, i, o, 0),
        &[Some(dx), Some(dy), Some(w)],
        table::LINEAR_BACKWARD_DATA.grid_1d(gpu, n * i)?,
    )?;
    Ok(())
}

/// dW [O, I] = dyᵀ · x
pub fn linear_backward_weight(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
) -> Result<()> {
    let (n, i, o) = sizes(x, dw)?;
    expect_shape("linear dy", dy, &[n, o])?;
    launch(
        gpu,
        prog,
        &table::LINEAR_BACKWARD_WEIGHT,
        &p(n, i, o, 0),
        &[Some(dw), Some(dy), Some(x)],
        table::LINEAR_BACKWARD_WEIGHT.grid_1d(gpu, o * i)?,
    )?;
    Ok(())
}

/// db [O] = sum of dy over the batch.
pub fn linear_backward_bias(gpu: &Gpu, prog: &mut Program, db: &Tensor, dy: &Tensor) -> Result<()> {
    let [n, o] = *dy.shape() else {
        return Err(Error::invalid(format!(
            "linear dy: expected [N, O], got {:?}",
            dy.shape()
        )));
    };
    expect_shape("linear dbias", db, &[o])?;
    launch(
        gpu,
        prog,
        &table::LINEAR_BACKWARD_BIAS,
        &p(n, 0, o, 0),
        &[Some(db), Some(dy)],
        table::LINEAR_BACKWARD_BIAS.grid_1d(gpu, o)?,
    )?;
    Ok(())
}
