//! Test loss and accuracy with batch norm in eval mode.

use std::collections::HashMap;

use crate::data::loader::eval_batches;
use crate::data::{Normalize, Split};
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::model::plan::PlanOptions;
use crate::model::{Graph, Mode, Params, Parts, Plan};

/// Evaluation plans by batch size (the last batch of a split may be short).
pub struct Evaluator {
    gpu: Gpu,
    graph: Graph,
    batch: usize,
    lesions: std::collections::BTreeSet<usize>,
    plans: HashMap<usize, Plan>,
    /// The parameters the cached plans read; other ones rebuild the plans.
    bound: Option<wgpu::Buffer>,
    /// Submit each batch in parts (see [`Parts`]); `None`: whole.
    pub parts: Option<Parts>,
}

impl Evaluator {
    pub fn new(gpu: &Gpu, graph: &Graph, batch: usize) -> Evaluator {
        Self::with_lesions(gpu, graph, batch, Default::default())
    }

    /// An evaluator of the net with `lesions` bypassed (see [`PlanOptions::lesions`]).
    pub fn with_lesions(
        gpu: &Gpu,
        graph: &Graph,
        batch: usize,
        lesions: std::collections::BTreeSet<usize>,
    ) -> Evaluator {
        Evaluator {
            gpu: gpu.clone(),
            graph: graph.clone(),
            batch,
            lesions,
            plans: HashMap::new(),
            bound: None,
            parts: None,
        }
    }

    /// (mean loss, accuracy) over `split` with batch norm in eval mode.
    pub fn evaluate(
        &mut self,
        params: &Params,
        split: &Split,
        norm: &Normalize,
    ) -> Result<(f32, f32)> {
        self.pass(params, split, norm, None)
    }

    /// As [`Evaluator::evaluate`], with each image's predicted class (the
    /// first of equal largest logits, as `argmax` in PyTorch).
    pub fn evaluate_each(
        &mut self,
        params: &Params,
        split: &Split,
        norm: &Normalize,
    ) -> Result<(f32, f32, Vec<u32>)> {
        let mut predicted = Vec::with_capacity(split.len());
        let (loss, acc) = self.pass(params, split, norm, Some(&mut predicted))?;
        Ok((loss, acc, predicted))
    }

    fn pass(
        &mut self,
        params: &Params,
        split: &Split,
        norm: &Normalize,
        mut predicted: Option<&mut Vec<u32>>,
    ) -> Result<(f32, f32)> {
        if self.bound.as_ref() != Some(params.params.buffer()) {
            self.plans.clear();
            self.bound = Some(params.params.buffer().clone());
        }
        let (mut loss, mut correct) = (0f64, 0f64);
        for b in eval_batches(split, norm, self.batch) {
            let n = b.labels.len();
            if !self.plans.contains_key(&n) {
                // Only the logits are read: batch norm may run in its conv's pass.
                let opts = PlanOptions {
                    lesions: self.lesions.clone(),
                    fuse_bn: crate::model::plan::fuse_bn_pays(&self.gpu),
                    ..Default::default()
                };
                let p = Plan::new(&self.gpu, &self.graph, params, n, Mode::Eval, opts)
                    .map_err(|e| too_large(e, n))?;
                self.plans.insert(n, p);
            }
            let plan = &self.plans[&n];
            let (l, c) =
                plan.run_in_parts(&b.images, &b.labels, None, false, self.parts.as_ref())?;
            loss += l as f64 * n as f64;
            correct += c as f64;
            if let Some(out) = predicted.as_deref_mut() {
                let logits = self.gpu.read(&plan.acts[self.graph.logits])?;
                out.extend(logits.chunks(logits.len() / n).map(argmax));
            }
        }
        split.decoded()?;
        let n = split.len().max(1) as f64;
        Ok(((loss / n) as f32, (correct / n) as f32))
    }
}

/// The index of the first largest value.
fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// Says which batch failed when a plan does not fit the device.
pub(super) fn too_large(e: Error, batch: usize) -> Error {
    match e {
        Error::BindingTooLarge { .. }
        | Error::BufferTooLarge { .. }
        | Error::DispatchTooLarge { .. } => Error::invalid(format!(
            "batch {batch} is too large for this device: {e}; use a smaller --batch"
        )),
        e => e,
    }
}
