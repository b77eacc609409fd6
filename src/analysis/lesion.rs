//! Lesions (Veit et al. 2016): test accuracy with single blocks removed at
//! test time (y = the shortcut alone: y = x, or the projection for blocks that
//! change shape), then with the k blocks of smallest r_b removed together. For a
//! plain net only blocks that keep their shape can be removed (y = x).

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::loader::first_batch;
use crate::data::{Normalize, Split};
use crate::device::Gpu;
use crate::error::Result;
use crate::model::plan::PlanOptions;
use crate::model::probe::Probes;
use crate::model::{Graph, HostParams, Mode, Params, Plan};
use crate::train::Evaluator;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockLesion {
    pub block: String,
    pub r: f32,
    pub downsample: bool,
    pub accuracy: f32,
    /// Base accuracy minus this one.
    pub drop: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cumulative {
    pub k: usize,
    pub removed: Vec<String>,
    pub accuracy: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub images: usize,
    pub base_accuracy: f32,
    pub base_loss: f32,
    /// Every block that can be removed, in block order.
    pub single: Vec<BlockLesion>,
    /// The k blocks of smallest r_b removed together, k = 1, 2, …
    pub cumulative: Vec<Cumulative>,
    pub median_drop: f32,
    pub max_drop: f32,
}

/// Blocks that can be removed: all blocks of a residual net, the same-shape
/// blocks of a plain one.
pub fn removable(graph: &Graph) -> Vec<usize> {
    graph
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| graph.spec.residual || !b.downsample)
        .map(|(i, _)| i)
        .collect()
}

/// r_b per block on up to 500 images of `split`, BN in eval mode.
pub fn block_r(
    gpu: &Gpu,
    graph: &Graph,
    params: &Params,
    split: &Split,
    norm: &Normalize,
) -> Result<Vec<f32>> {
    let n = split.len().min(500);
    let b = first_batch(split, norm, n)?;
    let plan = Plan::new(gpu, graph, params, n, Mode::Eval, PlanOptions::default())?;
    plan.run(&b.images, &b.labels, None, false)?;
    Ok(Probes::new(gpu, &plan)?.read_now()?.r)
}

/// Runs the lesion study on `split`; `max_k` caps the cumulative removals.
#[allow(clippy::too_many_arguments)]
pub fn run(
    gpu: &Gpu,
    graph: &Graph,
    host: &HostParams,
    split: &Split,
    norm: &Normalize,
    batch: usize,
    max_k: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Summary> {
    let params = Params::upload(gpu, graph, host)?;
    let eval = |lesions: BTreeSet<usize>| -> Result<(f32, f32)> {
        Evaluator::with_lesions(gpu, graph, batch, lesions).evaluate(&params, split, norm)
    };
    let (base_loss, base_accuracy) = eval(BTreeSet::new())?;
    let r = block_r(gpu, graph, &params, split, norm)?;
    let candidates = removable(graph);
    let k_max = max_k.min(candidates.len());
    let total = candidates.len() + k_max;
    let mut single = Vec::new();
    for (done, &b) in candidates.iter().enumerate() {
        progress(done, total);
        let (_, acc) = eval([b].into())?;
        single.push(BlockLesion {
            block: graph.blocks[b].name.clone(),
            r: r[b],
            downsample: graph.blocks[b].downsample,
            accuracy: acc,
            drop: base_accuracy - acc,
        });
    }
    let mut order = candidates.clone();
    order.sort_by(|&a, &b| r[a].total_cmp(&r[b]));
    let mut cumulative = Vec::new();
    for k in 1..=k_max {
        progress(candidates.len() + k - 1, total);
        let set: BTreeSet<usize> = order[..k].iter().copied().collect();
        let (_, acc) = eval(set)?;
        cumulative.push(Cumulative {
            k,
            removed: order[..k]
                .iter()
                .map(|&b| graph.blocks[b].name.clone())
                .collect(),
            accuracy: acc,
        });
    }
    progress(total, total);
    let mut drops: Vec<f32> = single.iter().map(|s| s.drop).collect();
    drops.sort_by(f32::total_cmp);
    Ok(Summary {
        model: graph.spec.name(),
        images: split.len(),
        base_accuracy,
        base_loss,
        median_drop: drops.get(drops.len() / 2).copied().unwrap_or(0.0),
        max_drop: drops.last().copied().unwrap_or(0.0),
        single,
        cumulative,
    })
}

/// summary.json in `dir` (the plots are `reslab_plot::lesion`).
pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    crate::analysis::write_summary(dir, s)
}
