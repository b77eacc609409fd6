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

/// The kernels of a pass: the same sums in the same order, the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linear {
    /// One invocation per output element, reading scalars.
    Scalar,
    /// The `…4` kernels: blocks of 16 outputs an invocation, rows of x, W
    /// and dx read as vec4s. Needs I, the input size, a multiple of 4.
    Blocks,
}

impl Linear {
    /// `Blocks` where I is a multiple of 4 (a ResNet's 64 to 2048
    /// features), else `Scalar`.
    pub fn for_inputs(i: usize) -> Linear {
        if i.is_multiple_of(4) {
            Linear::Blocks
        } else {
            Linear::Scalar
        }
    }

    /// The kernel among (scalar, blocks), and the invocations it needs for
    /// `scalar` outputs or `blocks` blocks; an error where the blocks do not
    /// fit I.
    fn pick<'a, P>(
        self,
        i: usize,
        kernels: (&'a table::Kernel<P>, &'a table::Kernel<P>),
        (scalar, blocks): (usize, usize),
    ) -> Result<(&'a table::Kernel<P>, usize)> {
        match self {
            Linear::Scalar => Ok((kernels.0, scalar)),
            Linear::Blocks if i.is_multiple_of(4) => Ok((kernels.1, blocks)),
            Linear::Blocks => Err(Error::invalid(format!(
                "linear: vec4 blocks need inputs of a multiple of 4, not {i}"
            ))),
        }
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
    let kernel = Linear::for_inputs(x.shape().last().copied().unwrap_or(0));
    linear_forward_with(gpu, prog, y, x, w, b, kernel)
}

/// [`linear_forward`] with the given kernel.
pub fn linear_forward_with(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    kernel: Linear,
) -> Result<()> {
    let (n, i, o) = sizes(x, w)?;
    expect_shape("linear output", y, &[n, o])?;
    if let Some(b) = b {
        expect_shape("linear bias", b, &[o])?;
    }
    let (k, invocations) = kernel.pick(
        i,
        (&table::LINEAR_FORWARD, &table::LINEAR_FORWARD4),
        (n * o, n.div_ceil(4) * o.div_ceil(4)),
    )?;
    launch(
        gpu,
        prog,
        k,
        &p(n, i, o, b.is_some() as u32),
        &[Some(y), Some(x), Some(w), b],
        k.grid_1d(gpu, invocations)?,
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
    let kernel = Linear::for_inputs(dx.shape().last().copied().unwrap_or(0));
    linear_backward_data_with(gpu, prog, dx, dy, w, kernel)
}

/// [`linear_backward_data`] with the given kernel.
pub fn linear_backward_data_with(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    kernel: Linear,
) -> Result<()> {
    let (n, i, o) = sizes(dx, w)?;
    expect_shape("linear dy", dy, &[n, o])?;
    let (k, invocations) = kernel.pick(
        i,
        (&table::LINEAR_BACKWARD_DATA, &table::LINEAR_BACKWARD_DATA4),
        (n * i, n * (i / 4).div_ceil(4)),
    )?;
    launch(
        gpu,
        prog,
        k,
        &p(n, i, o, 0),
        &[Some(dx), Some(dy), Some(w)],
        k.grid_1d(gpu, invocations)?,
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
    let kernel = Linear::for_inputs(x.shape().last().copied().unwrap_or(0));
    linear_backward_weight_with(gpu, prog, dw, dy, x, kernel)
}

/// [`linear_backward_weight`] with the given kernel.
pub fn linear_backward_weight_with(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    kernel: Linear,
) -> Result<()> {
    let (n, i, o) = sizes(x, dw)?;
    expect_shape("linear dy", dy, &[n, o])?;
    let (k, invocations) = kernel.pick(
        i,
        (
            &table::LINEAR_BACKWARD_WEIGHT,
            &table::LINEAR_BACKWARD_WEIGHT4,
        ),
        (o * i, o.div_ceil(4) * i / 4),
    )?;
    launch(
        gpu,
        prog,
        k,
        &p(n, i, o, 0),
        &[Some(dw), Some(dy), Some(x)],
        k.grid_1d(gpu, invocations)?,
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
