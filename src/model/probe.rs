//! Probes of a running net, computed on the GPU by the reduction kernels: for
//! every block r_b = ‖F(x)‖₂ / ‖x‖₂ (per sample, then the mean over samples),
//! where F(x) is the residual branch before the addition and x the shortcut's
//! output (for a plain block, its last BN output and its input); and for every
//! 3x3 layer the standard deviation of its response (the output of the BN that
//! reads it, before ReLU/addition, He et al. 2016 Fig. 7; the conv output where
//! it goes straight into an addition, in pre-activation residual blocks).
//!
//! A response that is the output of a batch norm normalizing with its batch's
//! statistics (a training plan's) needs no pass over it: each channel's values
//! have mean scale·mean + shift and variance scale²·var, from the statistics
//! and coefficients the batch norm saved, so those are read back instead and
//! the sums made from them on the host.
//!
//! The reductions read the activations a step has just made, so they are
//! recorded after that step in the same encoder, and their results come back
//! through the device's [`Readback`], mapped later: probing never stalls the GPU.

use serde::{Deserialize, Serialize};

use crate::device::readback::Readback;
use crate::device::{Gpu, Tensor};
use crate::error::{Error, Result};
use crate::kernels::Program;
use crate::kernels::reduce::{ChannelAffine, sum_sumsq_channels, sum_sumsq_rows};
use crate::model::Plan;
use crate::model::graph::{Branch, Op};
use crate::ops::BnOptions;

/// Why [`Probes::read_samples`] refuses probes made by [`Probes::new`].
const NOT_PER_SAMPLE: &str =
    "these probes sum responses per channel; make them with Probes::per_sample";

/// Probe values of one step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeValues {
    /// r_b per block, in block order.
    pub r: Vec<f32>,
    /// Response standard deviation per 3x3 layer, in layer order.
    pub response_std: Vec<f32>,
}

/// The values of every sample of one probed batch: r_b per block and the
/// response std per 3x3 layer, each image on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleValues {
    /// r[block][sample].
    pub r: Vec<Vec<f32>>,
    /// response_std[layer][sample].
    pub response_std: Vec<Vec<f32>>,
}

enum Slot {
    /// Per-sample (Σ, Σ²) of F(x) and of x.
    Block { f: Tensor, x: Tensor },
    /// (Σ, Σ²) of a response per channel, or per sample (`per_sample`), over
    /// `count` values in all.
    Response {
        sums: Tensor,
        count: usize,
        per_sample: bool,
    },
    /// A response that is a batch norm's output over its batch's statistics:
    /// the (mean, invstd) and (scale, shift) it saved, [2, C] each, over
    /// `per_channel` values a channel, and its ε.
    BnResponse {
        saved: Tensor,
        coef: Tensor,
        per_channel: usize,
        eps: f64,
    },
}

/// The probe dispatches of a plan and where their sums land.
pub struct Probes {
    gpu: Gpu,
    program: Program,
    slots: Vec<Slot>,
    /// The sums, in the order they are copied back.
    sums: Vec<Tensor>,
    readback: Readback,
    batch: usize,
}

impl Probes {
    /// Prepares the probes of `plan` (which must not skip blocks).
    pub fn new(gpu: &Gpu, plan: &Plan) -> Result<Probes> {
        Self::build(gpu, plan, false)
    }

    /// Probes whose responses are summed per sample, so that
    /// [`Probes::read_samples`] gives every image's values.
    pub fn per_sample(gpu: &Gpu, plan: &Plan) -> Result<Probes> {
        Self::build(gpu, plan, true)
    }

    fn build(gpu: &Gpu, plan: &Plan, per_sample: bool) -> Result<Probes> {
        let g = &plan.graph;
        let n = plan.batch;
        let mut program = Program::new();
        let mut slots = Vec::new();
        let mut sums = Vec::new();
        let affine_of = |op: usize| -> Result<(Tensor, Option<Tensor>)> {
            let Op::BatchNorm { x, .. } = &g.ops[op] else {
                return Err(Error::invalid("probe of a branch that is not a batch norm"));
            };
            let coef = plan
                .bn_coef(op)
                .cloned()
                .ok_or_else(|| Error::invalid("probe of a batch norm this plan does not run"))?;
            Ok((plan.acts[*x].clone(), Some(coef)))
        };
        for (bi, b) in g.blocks.iter().enumerate() {
            if plan.lesions().contains(&bi) {
                return Err(Error::invalid(
                    "probes need the whole net; this plan has lesions",
                ));
            }
            let (src, coef) = match b.branch {
                Branch::Bn { op } => affine_of(op)?,
                Branch::Tensor(t) => (plan.acts[t].clone(), None),
            };
            let f = gpu.tensor(&[n, 2])?;
            let x = gpu.tensor(&[n, 2])?;
            sum_sumsq_rows(
                gpu,
                &mut program,
                &f,
                &src,
                coef.as_ref().map(|c| ChannelAffine { coef: c }),
            )?;
            sum_sumsq_rows(gpu, &mut program, &x, &plan.acts[b.shortcut], None)?;
            sums.push(f.clone());
            sums.push(x.clone());
            slots.push(Slot::Block { f, x });
        }
        for &op in &g.responses {
            if let (false, Op::BatchNorm { x, .. }, Some(saved), Some(coef)) =
                (per_sample, &g.ops[op], plan.bn_saved(op), plan.bn_coef(op))
            {
                sums.push(saved.clone());
                sums.push(coef.clone());
                let d = g.tensors[*x];
                slots.push(Slot::BnResponse {
                    saved: saved.clone(),
                    coef: coef.clone(),
                    per_channel: n * d.h * d.w,
                    eps: BnOptions::default().eps as f64,
                });
                continue;
            }
            let (src, coef) = match &g.ops[op] {
                Op::BatchNorm { .. } => affine_of(op)?,
                o => (plan.acts[o.output()].clone(), None),
            };
            let affine = coef.as_ref().map(|c| ChannelAffine { coef: c });
            let s = if per_sample {
                let s = gpu.tensor(&[n, 2])?;
                sum_sumsq_rows(gpu, &mut program, &s, &src, affine)?;
                s
            } else {
                let s = gpu.tensor(&[src.shape()[1], 2])?;
                sum_sumsq_channels(gpu, &mut program, &s, &src, affine)?;
                s
            };
            sums.push(s.clone());
            slots.push(Slot::Response {
                sums: s,
                count: src.len(),
                per_sample,
            });
        }
        let bytes = sums.iter().map(|t| t.bytes()).sum();
        Ok(Probes {
            gpu: gpu.clone(),
            program,
            slots,
            sums,
            readback: Readback::new(gpu, "probe readback", 1, bytes),
            batch: n,
        })
    }

    /// Number of dispatches a probe adds to a step.
    pub fn dispatches(&self) -> usize {
        self.program.len()
    }

    /// The reductions a probe records (for timing them alone).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Records the reductions and the copy of their sums, after the step
    /// `step` whose activations they read. An earlier probe not yet collected
    /// is waited for and returned.
    pub fn record(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        step: usize,
    ) -> Result<Option<(usize, ProbeValues)>> {
        self.program.record(enc, "probes");
        let sources: Vec<&Tensor> = self.sums.iter().collect();
        let earlier = self.readback.record(&self.gpu, enc, &sources, step)?;
        Ok(earlier.map(|(s, b)| (s, self.decode(&b))))
    }

    /// Starts mapping the results of `step` (call after the submission).
    pub fn submitted(&mut self, step: usize) {
        self.readback.submitted(step);
    }

    /// The values that have arrived, with their steps (with `wait`, all).
    pub fn collect(&mut self, wait: bool) -> Result<Vec<(usize, ProbeValues)>> {
        Ok(self
            .readback
            .collect(&self.gpu, wait)?
            .into_iter()
            .map(|(s, b)| (s, self.decode(&b)))
            .collect())
    }

    /// Records, submits and waits: the probes of the plan's last run.
    pub fn read_now(&mut self) -> Result<ProbeValues> {
        let mut enc = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("probes"),
            });
        // A probe of this plan's last run has no step of its own.
        const NOW: usize = usize::MAX;
        self.record(&mut enc, NOW)?;
        self.gpu.submit([enc.finish()]);
        self.submitted(NOW);
        let bytes = self.readback.wait_for(&self.gpu, NOW)?;
        Ok(self.decode(&bytes))
    }

    /// Records, submits and waits: every sample's values of the plan's last
    /// run (probes made with [`Probes::per_sample`]).
    pub fn read_samples(&mut self) -> Result<SampleValues> {
        if self.slots.iter().any(|s| {
            matches!(
                s,
                Slot::Response {
                    per_sample: false,
                    ..
                } | Slot::BnResponse { .. }
            )
        }) {
            return Err(Error::invalid(NOT_PER_SAMPLE));
        }
        let mut enc = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("probes"),
            });
        const NOW: usize = usize::MAX;
        self.record(&mut enc, NOW)?;
        self.gpu.submit([enc.finish()]);
        self.submitted(NOW);
        let raw: Vec<f32> = bytemuck::pod_collect_to_vec(&self.readback.wait_for(&self.gpu, NOW)?);
        let n = self.batch;
        let mut at = 0usize;
        let mut out = SampleValues {
            r: Vec::new(),
            response_std: Vec::new(),
        };
        for slot in &self.slots {
            match slot {
                Slot::Block { f, x } => {
                    let (fs, xs) = (
                        &raw[at..at + f.len()],
                        &raw[at + f.len()..at + f.len() + x.len()],
                    );
                    at += f.len() + x.len();
                    out.r.push(
                        (0..n)
                            .map(|i| ratio(fs[2 * i + 1], xs[2 * i + 1]))
                            .collect(),
                    );
                }
                Slot::BnResponse { .. } => {
                    return Err(Error::invalid(NOT_PER_SAMPLE));
                }
                Slot::Response { sums, count, .. } => {
                    let s = &raw[at..at + sums.len()];
                    at += sums.len();
                    let m = (*count / n) as f64;
                    out.response_std.push(
                        (0..n)
                            .map(|i| std_of(s[2 * i] as f64, s[2 * i + 1] as f64, m))
                            .collect(),
                    );
                }
            }
        }
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> ProbeValues {
        let raw: Vec<f32> = bytemuck::pod_collect_to_vec(bytes);
        let mut at = 0usize;
        let mut take = |len: usize| {
            let s = &raw[at..at + len];
            at += len;
            s.to_vec()
        };
        let mut r = Vec::new();
        let mut response_std = Vec::new();
        for slot in &self.slots {
            match slot {
                Slot::Block { f, x } => {
                    let (fs, xs) = (take(f.len()), take(x.len()));
                    let acc: f64 = (0..self.batch)
                        .map(|i| ratio(fs[2 * i + 1], xs[2 * i + 1]) as f64)
                        .sum();
                    r.push((acc / self.batch as f64) as f32);
                }
                Slot::Response { sums, count, .. } => {
                    let s = take(sums.len());
                    let (s1, s2) = s
                        .chunks(2)
                        .fold((0f64, 0f64), |(a, b), c| (a + c[0] as f64, b + c[1] as f64));
                    response_std.push(std_of(s1, s2, *count as f64));
                }
                Slot::BnResponse {
                    saved,
                    coef,
                    per_channel,
                    eps,
                } => {
                    let (saved, coef) = (take(saved.len()), take(coef.len()));
                    let (s1, s2) = bn_response_sums(&saved, &coef, *per_channel as f64, *eps);
                    let count = (*per_channel * saved.len() / 2) as f64;
                    response_std.push(std_of(s1, s2, count));
                }
            }
        }
        ProbeValues { r, response_std }
    }
}

/// Σ y and Σ y² over the `m` values a channel of a batch norm's output
/// y = x·scale + shift, summed over its channels, from its batch statistics
/// `saved` (mean, invstd) and coefficients `coef` (scale, shift), [2, C]
/// each: channel c's values have mean scale·mean + shift and variance
/// scale²·var, var = 1/invstd² − ε (the batch's own, which it normalized
/// with).
fn bn_response_sums(saved: &[f32], coef: &[f32], m: f64, eps: f64) -> (f64, f64) {
    let c = saved.len() / 2;
    (0..c).fold((0.0, 0.0), |(s1, s2), i| {
        let (mean, invstd) = (saved[i] as f64, saved[c + i] as f64);
        let (scale, shift) = (coef[i] as f64, coef[c + i] as f64);
        let var = (1.0 / (invstd * invstd) - eps).max(0.0);
        let mu = scale * mean + shift;
        (s1 + m * mu, s2 + m * (scale * scale * var + mu * mu))
    })
}

/// ‖F(x)‖ / ‖x‖ from the two sums of squares (0 where x is 0).
fn ratio(f_sq: f32, x_sq: f32) -> f32 {
    let (nf, nx) = ((f_sq as f64).sqrt(), (x_sq as f64).sqrt());
    (if nx > 0.0 { nf / nx } else { 0.0 }) as f32
}

/// The standard deviation of `m` values from their sum and sum of squares.
fn std_of(s1: f64, s2: f64, m: f64) -> f32 {
    let var = (s2 / m - (s1 / m) * (s1 / m)).max(0.0);
    var.sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sums from a batch norm's saved statistics equal those over its
    /// output, made as the batch norm makes it (f32 statistics, ε 1e-5),
    /// also for channels whose variance is as small as ε, where leaving ε
    /// out of var would be off by a factor of about two.
    #[test]
    fn bn_response_sums_equal_the_sums_over_the_output() {
        let eps = 1e-5f32;
        let m = 257usize;
        let mut rng = crate::rng::Rng::new(3);
        let (spreads, gammas, betas) = (
            [1.5f32, 3e-3, 2e-4],
            [0.7f32, -1.3, 2.0],
            [0.1f32, -0.4, 0.0],
        );
        let c = spreads.len();
        let (mut saved, mut coef) = (vec![0f32; 2 * c], vec![0f32; 2 * c]);
        let (mut want1, mut want2) = (0f64, 0f64);
        for i in 0..c {
            let x: Vec<f32> = (0..m)
                .map(|_| 0.3 + spreads[i] * (2.0 * rng.uniform() as f32 - 1.0))
                .collect();
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / m as f64;
            let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / m as f64;
            let invstd = (1.0 / (var + eps as f64).sqrt()) as f32;
            let scale = gammas[i] * invstd;
            let shift = betas[i] - mean as f32 * scale;
            (saved[i], saved[c + i]) = (mean as f32, invstd);
            (coef[i], coef[c + i]) = (scale, shift);
            for &v in &x {
                let y = (v * scale + shift) as f64;
                want1 += y;
                want2 += y * y;
            }
        }
        let (s1, s2) = bn_response_sums(&saved, &coef, m as f64, eps as f64);
        let n = (m * c) as f64;
        let (want, got) = (std_of(want1, want2, n), std_of(s1, s2, n));
        assert!((s1 - want1).abs() <= 1e-5 * n, "Σ y {s1} against {want1}");
        assert!(
            (s2 - want2).abs() <= 1e-5 * want2,
            "Σ y² {s2} against {want2}"
        );
        assert!(
            (got - want).abs() <= 1e-5 * want,
            "std {got} against {want}"
        );
    }
}
