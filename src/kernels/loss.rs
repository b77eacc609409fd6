//! Launcher for softmax cross-entropy (mean over the batch), its gradient and accuracy.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, expect_shape, launch, u32_of};

params! {
    /// Mirrors `XentParams` of softmax_xent.wgsl.
    pub struct XentParams {
        n: u32,
        k: u32,
        flags: u32,
        grad_scale: f32,
    }
}

/// Writes `per_sample` [N, 2] (loss, 1 if correct), `metrics` [2] (mean loss,
/// number correct) and, when given, `dlogits` [N, K] = (softmax − onehot) / N.
/// `labels` holds N u32 class indices, each below K.
pub fn softmax_xent(
    gpu: &Gpu,
    prog: &mut Program,
    dlogits: Option<&Tensor>,
    per_sample: &Tensor,
    metrics: &Tensor,
    logits: &Tensor,
    labels: &Tensor,
) -> Result<()> {
    let [n, k] = *logits.shape() else {
        return Err(Error::invalid(format!(
            "softmax_xent: logits must be [N, K], got {:?}",
            logits.shape()
        )));
    };
    if let Some(d) = dlogits {
        expect_shape("softmax_xent dlogits", d, &[n, k])?;
    }
    expect_shape("softmax_xent per-sample", per_sample, &[n, 2])?;
    expect_shape("softmax_xent metrics", metrics, &[2])?;
    expect_shape("softmax_xent labels", labels, &[n])?;
    u32_of("logits elements", n * k)?;
    let p = XentParams {
        n: n as u32,
        k: k as u32,
        flags: dlogits.is_some() as u32,
        grad_scale: 1.0 / n as f32,
    };
    launch(
        gpu,
        prog,
        &table::SOFTMAX_XENT,
        &p,
        &[dlogits, Some(per_sample), Some(logits), Some(labels)],
        [1, 1, 1],
    )?;
    launch(
        gpu,
        prog,
        &table::XENT_MEAN,
        &p,
        &[Some(metrics), Some(per_sample)],
        [1, 1, 1],
    )?;
    Ok(())
}
