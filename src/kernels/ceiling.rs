//! The multiply-add kernel that measures an adapter's ceiling (`reslab bench`
//! reports every other pass as a fraction of it).

use crate::device::{Gpu, Tensor};
use crate::error::Result;
use crate::kernels::table::{self, params};
use crate::kernels::{Program, launch};

params! {
    /// Mirrors `FmaParams` of bench_fma.wgsl.
    pub struct FmaParams {
        iters: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// Floating-point operations of one invocation per iteration of its loop:
/// eight rounds of 32 independent chains (eight vec4s) of a fused multiply-add.
pub const FLOPS_PER_ITER: u64 = 512;

/// Records `invocations` invocations of `iters` iterations each, writing one
/// value per invocation to `out` (so nothing is optimised away).
pub fn bench_fma(gpu: &Gpu, prog: &mut Program, out: &Tensor, iters: u32) -> Result<usize> {
    let k = &table::BENCH_FMA;
    launch(
        gpu,
        prog,
        k,
        &FmaParams {
            iters,
            ..Default::default()
        },
        &[Some(out)],
        k.grid_1d(gpu, out.len())?,
    )
}
