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
    // Four elements an invocation where the length allows (the parameter
    // block keeps counting elements, so a step's new block fits either).
    let (k, threads) = if len.is_multiple_of(4) {
        (&table::SGD_STEP4, len / 4)
    } else {
        (&table::SGD_STEP, len)
    };
    launch(
        gpu,
        prog,
        k,
        &SgdParams::new(len, c, first),
        &[Some(param), Some(momentum_buf), Some(grad)],
        k.grid_1d(gpu, threads)?,
    )
}

/// [`sgd_step`] over parameter buffers of any length: one dispatch per chunk
/// that fits the device's storage-binding limit (chunks start at multiples of
/// the binding offset alignment), so a net whose parameters exceed one
/// binding (ResNet-152's 241 MB against WebGPU's 128 MiB) still trains.
/// Returns each dispatch's index in `prog` and the elements it covers.
pub fn sgd_steps(
    gpu: &Gpu,
    prog: &mut Program,
    param: &Tensor,
    momentum_buf: &Tensor,
    grad: &Tensor,
    c: &SgdConfig,
    first: bool,
) -> Result<Vec<(usize, usize)>> {
    let l = gpu.limits();
    let align = (l.min_storage_buffer_offset_alignment as usize / 4).max(1);
    let most = (l.max_storage_buffer_binding_size as usize / 4) / align * align;
    let len = param.len();
    if most == 0 || len <= most {
        return Ok(vec![(
            sgd_step(gpu, prog, param, momentum_buf, grad, c, first)?,
            len,
        )]);
    }
    let mut out = Vec::new();
    for start in (0..len).step_by(most) {
        let n = most.min(len - start);
        let part = |t: &Tensor| t.view(start, &[n]);
        let at = sgd_step(
            gpu,
            prog,
            &part(param)?,
            &part(momentum_buf)?,
            &part(grad)?,
            c,
            first,
        )?;
        out.push((at, n));
    }
    Ok(out)
}
