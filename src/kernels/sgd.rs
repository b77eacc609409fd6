//! Launcher for SGD with momentum, weight decay and Nesterov (torch.optim.SGD).

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, launch, u32_of};
use crate::ops::SgdConfig;

params! {
    /// Mirrors `SgdParams` of sgd.wgsl.
    pub struct SgdParams {
        len: u32,
        flags: u32,
        lr: f32,
        momentum: f32,
        dampening: f32,
        weight_decay: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

impl SgdParams {
    /// The parameter block for a step over `len` elements; `first` marks the
    /// step that initialises the momentum buffer.
    pub fn new(len: usize, c: &SgdConfig, first: bool) -> Self {
        let mut flags = 0;
        if c.nesterov {
            flags |= 1;
        }
        if first {
            flags |= 2;
        }
        if c.momentum != 0.0 {
            flags |= 4;
        }
        SgdParams {
            len: len as u32,
            flags,
            lr: c.lr,
            momentum: c.momentum,
            dampening: c.dampening,
            weight_decay: c.weight_decay,
            _pad0: 0,
            _pad1: 0,
        }
    }
}

/// Updates `param` and `momentum_buf` in place from `grad`. Returns the
/// dispatch's index in `prog`, whose [`SgdParams`] change every step
/// (learning rate, first step) through `Dispatch::set_params`.
pub fn sgd_step(
    gpu: &Gpu,
    prog: &mut Program,
    param: &Tensor,
    momentum_buf: &Tensor,
    grad: &Tensor,
    c: &SgdConfig,
    first: bool,
) -> Result<usize> {
    if param.len() != grad.len() || param.len() != momentum_buf.len() {
        return Err(Error::invalid(format!(
            "sgd: param {:?}, momentum {:?} and grad {:?} differ in length",
            param.shape(),
            momentum_buf.shape(),
            grad.shape()
        )));
    }
    if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
        return Err(Error::invalid(
            "Nesterov momentum requires a momentum and zero dampening",
        ));
    }
    let len = param.len();
    u32_of("sgd elements", len)?;
    launch(
        gpu,
        prog,
        &table::SGD_STEP,
        &SgdParams::new(len, c, first),
        &[Some(param), Some(momentum_buf), Some(grad)],
        table::SGD_STEP.grid_1d(gpu, len)?,
    )
}
