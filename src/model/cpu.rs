//! The CPU twin of [`crate::model::Plan`]: the same graph run with the CPU
//! twins of the kernels (f64 accumulation), for tests of whole training steps.

use std::collections::{BTreeSet, HashMap};

use crate::cpu::{self, Real};
use crate::error::{Error, Result};
use crate::model::graph::{Graph, Op, Tid};
use crate::model::plan::Mode;
use crate::ops::BnOptions;
use crate::ops::SgdConfig;

/// Parameters and running statistics as `T`, in graph order.
#[derive(Debug, Clone)]
pub struct CpuParams<T> {
    pub params: Vec<Vec<T>>,
    pub buffers: Vec<Vec<T>>,
}

impl<T: Real> CpuParams<T> {
    pub fn from_host(h: &crate::model::HostParams) -> Self {
        let conv = |v: &Vec<Vec<f32>>| {
            v.iter()
                .map(|p| p.iter().map(|&x| T::of(x as f64)).collect())
                .collect()
        };
        CpuParams {
            params: conv(&h.params),
            buffers: conv(&h.buffers),
        }
    }
}

/// What a forward pass leaves for the backward pass.
pub struct CpuRun<T> {
    pub batch: usize,
    pub acts: Vec<Vec<T>>,
    saved: HashMap<usize, Vec<T>>,
    argmax: HashMap<usize, Vec<u32>>,
    pub loss: f64,
    pub correct: f64,
    pub dlogits: Vec<T>,
}

fn index(graph: &Graph, name: &str) -> Result<usize> {
    graph
        .params
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| Error::invalid(format!("no parameter {name}")))
}

fn buffer_index(graph: &Graph, name: &str) -> Result<usize> {
    graph
        .buffers
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| Error::invalid(format!("no buffer {name}")))
}

/// Runs the graph forward and the loss; in training mode updates the running
/// statistics in `p.buffers`, as the GPU does.
pub fn forward<T: Real>(
    graph: &Graph,
    p: &mut CpuParams<T>,
    images: &[T],
    labels: &[u32],
    mode: Mode,
) -> Result<CpuRun<T>> {
    forward_lesioned(graph, p, images, labels, mode, &BTreeSet::new())
}

/// [`forward`] with the blocks `lesions` removed: each one's output is its
/// shortcut alone (through its ReLU when it has one), as a lesioned plan does.
pub fn forward_lesioned<T: Real>(
    graph: &Graph,
    p: &mut CpuParams<T>,
    images: &[T],
    labels: &[u32],
    mode: Mode,
    lesions: &BTreeSet<usize>,
) -> Result<CpuRun<T>> {
    graph.check_lesions(lesions)?;
    let skipped = graph.lesioned_ops(lesions);
    let batch = labels.len();
    let mut acts: Vec<Vec<T>> = graph
        .tensors
        .iter()
        .map(|d| vec![T::default(); batch * d.len()])
        .collect();
    acts[graph.input].copy_from_slice(images);
    let mut saved = HashMap::new();
    let mut argmax = HashMap::new();
    for (i, op) in graph.ops.iter().enumerate() {
        if skipped.contains(&i) {
            lesion_outputs(graph, lesions, i, &mut acts);
            continue;
        }
        let y = op.output();
        let mut out = std::mem::take(&mut acts[y]);
        match op {
            Op::Conv {
                name,
                x,
                k,
                stride,
                pad,
                ..
            } => {
                let g = graph.conv_geom(batch, *x, y, *k, *stride, *pad);
                let w = &p.params[index(graph, &format!("{name}.weight"))?];
                cpu::conv2d_forward(&mut out, &acts[*x], w, None, &g);
            }
            Op::BatchNorm {
                name,
                x,
                relu,
                residual,
                ..
            } => {
                let g = graph.bn_geom(batch, *x);
                let o = BnOptions {
                    relu: *relu,
                    ..Default::default()
                };
                let gamma = p.params[index(graph, &format!("{name}.weight"))?].clone();
                let beta = p.params[index(graph, &format!("{name}.bias"))?].clone();
                let (im, iv) = (
                    buffer_index(graph, &format!("{name}.running_mean"))?,
                    buffer_index(graph, &format!("{name}.running_var"))?,
                );
                let res = residual.map(|r| acts[r].clone());
                match mode {
                    Mode::Train => {
                        let mut s = vec![T::default(); 2 * g.c];
                        let mut rm = std::mem::take(&mut p.buffers[im]);
                        let mut rv = std::mem::take(&mut p.buffers[iv]);
                        cpu::batchnorm_forward_train(
                            &mut out,
                            &mut s,
                            &mut rm,
                            &mut rv,
                            &acts[*x],
                            &gamma,
                            &beta,
                            res.as_deref(),
                            &g,
                            &o,
                        );
                        p.buffers[im] = rm;
                        p.buffers[iv] = rv;
                        saved.insert(i, s);
                    }
                    Mode::Eval => cpu::batchnorm_forward_eval(
                        &mut out,
                        &acts[*x],
                        &p.buffers[im],
                        &p.buffers[iv],
                        &gamma,
                        &beta,
                        res.as_deref(),
                        &g,
                        &o,
                    ),
                }
            }
            Op::Add { a, b, relu, .. } => cpu::add_forward(&mut out, &acts[*a], &acts[*b], *relu),
            Op::ShortcutA { x, stride, .. } => {
                let g = graph.shortcut_geom(batch, *x, y, *stride);
                cpu::shortcut_a_forward(&mut out, &acts[*x], &g);
            }
            Op::MaxPool {
                x, k, stride, pad, ..
            } => {
                let g = graph.pool_geom(batch, *x, *k, *stride, *pad);
                let mut am = vec![0u32; out.len()];
                cpu::maxpool_forward(&mut out, &mut am, &acts[*x], &g);
                argmax.insert(i, am);
            }
            Op::AvgPool { x, .. } => {
                let d = graph.tensors[*x];
                cpu::avgpool_forward(&mut out, &acts[*x], d.h * d.w);
            }
            Op::Linear { name, x, .. } => {
                let w = &p.params[index(graph, &format!("{name}.weight"))?];
                let b = &p.params[index(graph, &format!("{name}.bias"))?];
                let (ci, co) = (graph.tensors[*x].len(), graph.tensors[y].c);
                cpu::linear_forward(&mut out, &acts[*x], w, Some(b), batch, ci, co);
            }
        }
        acts[y] = out;
        lesion_outputs(graph, lesions, i, &mut acts);
    }
    let k = graph.tensors[graph.logits].c;
    let mut per_sample = vec![T::default(); 2 * batch];
    let mut dlogits = vec![T::default(); batch * k];
    let (loss, correct) = cpu::softmax_xent(
        Some(&mut dlogits),
        &mut per_sample,
        &acts[graph.logits],
        labels,
        batch,
        k,
    );
    Ok(CpuRun {
        batch,
        acts,
        saved,
        argmax,
        loss,
        correct,
        dlogits,
    })
}

/// The outputs of the lesioned blocks whose last branch op is `i`.
fn lesion_outputs<T: Real>(
    graph: &Graph,
    lesions: &BTreeSet<usize>,
    i: usize,
    acts: &mut [Vec<T>],
) {
    for b in graph.lesions_ending_at(lesions, i) {
        let mut y = std::mem::take(&mut acts[b.output]);
        if b.relu_out {
            cpu::relu_forward(&mut y, &acts[b.shortcut]);
        } else {
            cpu::copy(&mut y, &acts[b.shortcut], false);
        }
        acts[b.output] = y;
    }
}

fn add_into<T: Real>(grads: &mut [Option<Vec<T>>], t: Tid, g: Vec<T>) {
    match &mut grads[t] {
        Some(existing) => {
            for (e, v) in existing.iter_mut().zip(g) {
                *e = T::of(e.f64() + v.f64());
            }
        }
        slot => *slot = Some(g),
    }
}

/// Gradients of the mean loss with respect to every parameter, in graph order.
pub fn backward<T: Real>(graph: &Graph, p: &CpuParams<T>, run: &CpuRun<T>) -> Result<Vec<Vec<T>>> {
    let batch = run.batch;
    let mut pgrads: Vec<Vec<T>> = graph
        .params
        .iter()
        .map(|s| vec![T::default(); s.shape.iter().product()])
        .collect();
    let mut grads: Vec<Option<Vec<T>>> = vec![None; graph.tensors.len()];
    grads[graph.logits] = Some(run.dlogits.clone());
    for (i, op) in graph.ops.iter().enumerate().rev() {
        let y = op.output();
        let Some(gy) = grads[y].take() else { continue };
        let zeros = |t: Tid| vec![T::default(); run.acts[t].len()];
        match op {
            Op::Conv {
                name,
                x,
                k,
                stride,
                pad,
                ..
            } => {
                let g = graph.conv_geom(batch, *x, y, *k, *stride, *pad);
                let wi = index(graph, &format!("{name}.weight"))?;
                cpu::conv2d_backward_weight(&mut pgrads[wi], &gy, &run.acts[*x], &g);
                let mut gx = zeros(*x);
                cpu::conv2d_backward_data(&mut gx, &gy, &p.params[wi], &g, false);
                add_into(&mut grads, *x, gx);
            }
            Op::BatchNorm {
                name,
                x,
                relu,
                residual,
                ..
            } => {
                let g = graph.bn_geom(batch, *x);
                let (gi, bi) = (
                    index(graph, &format!("{name}.weight"))?,
                    index(graph, &format!("{name}.bias"))?,
                );
                let mut gx = zeros(*x);
                let (mut dg, mut db) = (vec![T::default(); g.c], vec![T::default(); g.c]);
                let mut dres = residual.map(&zeros);
                let saved = run
                    .saved
                    .get(&i)
                    .ok_or_else(|| Error::invalid("BN backward needs a training forward"))?;
                cpu::batchnorm_backward(
                    &mut gx,
                    &mut dg,
                    &mut db,
                    dres.as_mut().map(|r| (&mut r[..], false)),
                    &gy,
                    relu.then_some(&run.acts[y][..]),
                    &run.acts[*x],
                    saved,
                    &p.params[gi],
                    &g,
                );
                pgrads[gi] = dg;
                pgrads[bi] = db;
                add_into(&mut grads, *x, gx);
                if let (Some(r), Some(dr)) = (residual, dres) {
                    add_into(&mut grads, *r, dr);
                }
            }
            Op::Add { a, b, relu, .. } => {
                let g_in = if *relu {
                    let mut t = vec![T::default(); gy.len()];
                    cpu::relu_backward(&mut t, &gy, &run.acts[y]);
                    t
                } else {
                    gy.clone()
                };
                add_into(&mut grads, *a, g_in.clone());
                add_into(&mut grads, *b, g_in);
            }
            Op::ShortcutA { x, stride, .. } => {
                let g = graph.shortcut_geom(batch, *x, y, *stride);
                let mut gx = zeros(*x);
                cpu::shortcut_a_backward(&mut gx, &gy, &g, false);
                add_into(&mut grads, *x, gx);
            }
            Op::MaxPool {
                x, k, stride, pad, ..
            } => {
                let g = graph.pool_geom(batch, *x, *k, *stride, *pad);
                let mut gx = zeros(*x);
                cpu::maxpool_backward(&mut gx, &gy, &run.argmax[&i], &g);
                add_into(&mut grads, *x, gx);
            }
            Op::AvgPool { x, .. } => {
                let d = graph.tensors[*x];
                let mut gx = zeros(*x);
                cpu::avgpool_backward(&mut gx, &gy, d.h * d.w);
                add_into(&mut grads, *x, gx);
            }
            Op::Linear { name, x, .. } => {
                let (wi, bi) = (
                    index(graph, &format!("{name}.weight"))?,
                    index(graph, &format!("{name}.bias"))?,
                );
                let (ci, co) = (graph.tensors[*x].len(), graph.tensors[y].c);
                cpu::linear_backward_weight(&mut pgrads[wi], &gy, &run.acts[*x], batch, ci, co);
                cpu::linear_backward_bias(&mut pgrads[bi], &gy, batch, co);
                let mut gx = zeros(*x);
                cpu::linear_backward_data(&mut gx, &gy, &p.params[wi], batch, ci, co);
                add_into(&mut grads, *x, gx);
            }
        }
    }
    Ok(pgrads)
}

/// One SGD step over every parameter, as the GPU's single flat update does.
pub fn sgd_step<T: Real>(
    p: &mut CpuParams<T>,
    momentum: &mut [Vec<T>],
    grads: &[Vec<T>],
    cfg: &SgdConfig,
    first: bool,
) {
    for ((w, m), g) in p.params.iter_mut().zip(momentum.iter_mut()).zip(grads) {
        cpu::sgd_step(w, m, g, cfg, first);
    }
}
