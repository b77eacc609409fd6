//! Probes of a running net, computed on the GPU by the reduction kernels: for
//! every block r_b = ‖F(x)‖₂ / ‖x‖₂ (per sample, then the mean over samples),
//! where F(x) is the residual branch before the addition and x the shortcut's
//! output (for a plain block, its last BN output and its input); and for every
//! 3x3 layer the standard deviation of its response (the output of the BN that
//! reads it, before ReLU/addition, He et al. 2016 Fig. 7; the conv output where
//! it goes straight into an addition, in pre-activation residual blocks).
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

/// Probe values of one step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeValues {
    /// r_b per block, in block order.
    pub r: Vec<f32>,
    /// Response standard deviation per 3x3 layer, in layer order.
    pub response_std: Vec<f32>,
}

enum Slot {
    /// Per-sample (Σ, Σ²) of F(x) and of x.
    Block { f: Tensor, x: Tensor },
    /// Per-channel (Σ, Σ²) of a response.
    Response { sums: Tensor, count: usize },
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
            let (src, coef) = match &g.ops[op] {
                Op::BatchNorm { .. } => affine_of(op)?,
                o => (plan.acts[o.output()].clone(), None),
            };
            let c = src.shape()[1];
            let s = gpu.tensor(&[c, 2])?;
            sum_sumsq_channels(
                gpu,
                &mut program,
                &s,
                &src,
                coef.as_ref().map(|c| ChannelAffine { coef: c }),
            )?;
            sums.push(s.clone());
            slots.push(Slot::Response {
                sums: s,
                count: src.len(),
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
                    let mut acc = 0f64;
                    for i in 0..self.batch {
                        let (nf, nx) =
                            ((fs[2 * i + 1] as f64).sqrt(), (xs[2 * i + 1] as f64).sqrt());
                        acc += if nx > 0.0 { nf / nx } else { 0.0 };
                    }
                    r.push((acc / self.batch as f64) as f32);
                }
                Slot::Response { sums, count } => {
                    let s = take(sums.len());
                    let (s1, s2) = s
                        .chunks(2)
                        .fold((0f64, 0f64), |(a, b), c| (a + c[0] as f64, b + c[1] as f64));
                    let m = *count as f64;
                    let var = (s2 / m - (s1 / m) * (s1 / m)).max(0.0);
                    response_std.push(var.sqrt() as f32);
                }
            }
        }
        ProbeValues { r, response_std }
    }
}
