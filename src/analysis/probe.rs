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
//! through a staging buffer mapped later: probing never stalls the GPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::Program;
use crate::kernels::reduce::{ChannelAffine, sum_sumsq_channels, sum_sumsq_rows};
use crate::model::Plan;
use crate::model::graph::{Branch, Op};
use crate::tensor::Tensor;

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
    staging: wgpu::Buffer,
    /// (tensor, byte offset in staging)
    copies: Vec<(Tensor, u64)>,
    ready: Arc<AtomicBool>,
    pending: bool,
    batch: usize,
}

impl Probes {
    /// Prepares the probes of `plan` (which must not skip blocks).
    pub fn new(gpu: &Gpu, plan: &Plan) -> Result<Probes> {
        let g = &plan.graph;
        let n = plan.batch;
        let mut program = Program::new();
        let mut slots = Vec::new();
        let mut copies = Vec::new();
        let mut at = 0u64;
        let keep = |t: &Tensor, at: &mut u64, copies: &mut Vec<(Tensor, u64)>| {
            copies.push((t.clone(), *at));
            *at += t.bytes();
        };
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
            keep(&f, &mut at, &mut copies);
            keep(&x, &mut at, &mut copies);
            slots.push(Slot::Block { f, x });
        }
        for &op in &g.responses {
            let (src, coef) = match &g.ops[op] {
                Op::BatchNorm { .. } => affine_of(op)?,
                o => (plan.acts[o.output()].clone(), None),
            };
            let c = src.shape()[1];
            let sums = gpu.tensor(&[c, 2])?;
            sum_sumsq_channels(
                gpu,
                &mut program,
                &sums,
                &src,
                coef.as_ref().map(|c| ChannelAffine { coef: c }),
            )?;
            keep(&sums, &mut at, &mut copies);
            slots.push(Slot::Response {
                sums,
                count: src.len(),
            });
        }
        let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("probe readback"),
            size: at.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Probes {
            gpu: gpu.clone(),
            program,
            slots,
            staging,
            copies,
            ready: Arc::new(AtomicBool::new(false)),
            pending: false,
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

    /// Records the reductions and the copies to the staging buffer, after the
    /// step whose activations they read. Waits for an earlier probe still
    /// being read.
    pub fn record(&mut self, enc: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.pending {
            return Err(Error::invalid("the previous probe has not been collected"));
        }
        self.program.record(enc, "probes");
        for (t, at) in &self.copies {
            enc.copy_buffer_to_buffer(t.buffer(), t.offset(), &self.staging, *at, t.bytes());
        }
        Ok(())
    }

    /// Starts mapping the results (call after the submission).
    pub fn submitted(&mut self) {
        self.pending = true;
        self.ready.store(false, Ordering::SeqCst);
        let ready = self.ready.clone();
        self.staging.map_async(wgpu::MapMode::Read, .., move |r| {
            if r.is_ok() {
                ready.store(true, Ordering::SeqCst);
            }
        });
    }

    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// The values, if they have arrived (with `wait`, once they have).
    pub fn collect(&mut self, wait: bool) -> Result<Option<ProbeValues>> {
        if !self.pending {
            return Ok(None);
        }
        loop {
            self.gpu
                .device()
                .poll(if wait {
                    wgpu::PollType::wait_indefinitely()
                } else {
                    wgpu::PollType::Poll
                })
                .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            if self.ready.load(Ordering::SeqCst) {
                break;
            }
            if !wait {
                return Ok(None);
            }
        }
        let raw: Vec<f32> = {
            let view = self
                .staging
                .get_mapped_range(..)
                .map_err(|e| Error::Wgpu(format!("probe readback: {e}")))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        self.staging.unmap();
        self.pending = false;
        Ok(Some(self.decode(&raw)))
    }

    /// Records, submits and waits: the probes of the plan's last run.
    pub fn read_now(&mut self) -> Result<ProbeValues> {
        let mut enc = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("probes"),
            });
        self.record(&mut enc)?;
        self.gpu.submit([enc.finish()]);
        self.submitted();
        self.collect(true)?
            .ok_or_else(|| Error::Wgpu("probe results lost".into()))
    }

    fn decode(&self, raw: &[f32]) -> ProbeValues {
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
