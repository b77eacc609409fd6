//! Launchers for the elementwise passes: ReLU, add (+ReLU), axpby.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, Kernel, params};
use crate::kernels::{Program, launch, u32_of};

params! {
    /// Mirrors `EwParams` of elementwise.wgsl.
    pub struct EwParams {
        len: u32,
        flags: u32,
        alpha: f32,
        beta: f32,
    }
}

fn same_len(what: &str, ts: &[&Tensor]) -> Result<u32> {
    let n = ts[0].len();
    for t in ts {
        if t.len() != n {
            return Err(Error::Shape {
                what: what.into(),
                expected: ts[0].shape().to_vec(),
                got: t.shape().to_vec(),
            });
        }
    }
    u32_of(what, n)
}

/// Launches `k`, or `k4` (its twin over vec4s) where `p.len` is a multiple
/// of 4; returns the dispatch's index in `prog`.
fn ew(
    gpu: &Gpu,
    prog: &mut Program,
    (k, k4): (&Kernel<EwParams>, &Kernel<EwParams>),
    p: EwParams,
    tensors: &[Option<&Tensor>],
) -> Result<usize> {
    let (k, p) = if p.len.is_multiple_of(4) {
        (
            k4,
            EwParams {
                len: p.len / 4,
                ..p
            },
        )
    } else {
        (k, p)
    };
    launch(gpu, prog, k, &p, tensors, k.grid_1d(gpu, p.len as usize)?)
}

/// y = max(x, 0)
pub fn relu_forward(gpu: &Gpu, prog: &mut Program, y: &Tensor, x: &Tensor) -> Result<()> {
    let len = same_len("relu_forward", &[y, x])?;
    ew(
        gpu,
        prog,
        (&table::RELU_FORWARD, &table::RELU_FORWARD4),
        EwParams {
            len,
            flags: 0,
            alpha: 0.0,
            beta: 0.0,
        },
        &[Some(y), Some(x)],
    )?;
    Ok(())
}

/// dx = dy · [y > 0], with y the forward output.
pub fn relu_backward(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    y: &Tensor,
) -> Result<()> {
    let len = same_len("relu_backward", &[dx, dy, y])?;
    ew(
        gpu,
        prog,
        (&table::RELU_BACKWARD, &table::RELU_BACKWARD4),
        EwParams {
            len,
            flags: 0,
            alpha: 0.0,
            beta: 0.0,
        },
        &[Some(dx), Some(dy), Some(y)],
    )?;
    Ok(())
}

/// y = a + b, then ReLU when `relu`.
pub fn add_forward(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    a: &Tensor,
    b: &Tensor,
    relu: bool,
) -> Result<()> {
    let len = same_len("add_forward", &[y, a, b])?;
    ew(
        gpu,
        prog,
        (&table::ADD_FORWARD, &table::ADD_FORWARD4),
        EwParams {
            len,
            flags: relu as u32,
            alpha: 0.0,
            beta: 0.0,
        },
        &[Some(y), Some(a), Some(b)],
    )?;
    Ok(())
}

/// y = alpha·a + beta·b. Returns the dispatch's index in `prog`, whose
/// coefficients [`set_axpby`] can change between submissions.
#[allow(clippy::too_many_arguments)]
pub fn axpby(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    a: &Tensor,
    b: &Tensor,
    alpha: f32,
    beta: f32,
) -> Result<usize> {
    let len = same_len("axpby", &[y, a, b])?;
    ew(
        gpu,
        prog,
        (&table::AXPBY, &table::AXPBY4),
        EwParams {
            len,
            flags: 0,
            alpha,
            beta,
        },
        &[Some(y), Some(a), Some(b)],
    )
}

/// New coefficients for an [`axpby`] dispatch, effective at the next submission.
pub fn set_axpby(gpu: &Gpu, prog: &Program, index: usize, len: usize, alpha: f32, beta: f32) {
    prog.dispatches[index].set_params(
        gpu,
        &EwParams {
            // As `ew` launched it: over vec4s where len is a multiple of 4.
            len: if len.is_multiple_of(4) { len / 4 } else { len } as u32,
            flags: 0,
            alpha,
            beta,
        },
    );
}

/// y = a, or y += a with `accumulate`.
pub fn copy(gpu: &Gpu, prog: &mut Program, y: &Tensor, a: &Tensor, accumulate: bool) -> Result<()> {
    let len = same_len("copy", &[y, a])?;
    ew(
        gpu,
        prog,
        (&table::COPY, &table::COPY4),
        EwParams {
            len,
            flags: accumulate as u32,
            alpha: 0.0,
            beta: 0.0,
        },
        &[Some(y), Some(a)],
    )?;
    Ok(())
}
