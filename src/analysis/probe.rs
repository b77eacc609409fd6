//! Probes of a finished net (`reslab probe`): over test images, BN in eval
//! mode, each image on its own, r_b = ‖F(x)‖/‖x‖ of every block and the
//! standard deviation of every 3x3 layer's response (He et al. 2016 Fig. 7),
//! reported as their mean and spread over the images.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::loader::eval_batches;
use crate::data::{Normalize, Split};
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::model::plan::PlanOptions;
use crate::model::probe::Probes;
use crate::model::{Graph, HostParams, Mode, Params, Plan};

/// Mean, standard deviation and range of one quantity over the images.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Spread {
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Spread {
            mean,
            std: var.sqrt(),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockProbe {
    /// `layer2.0`
    pub block: String,
    pub stage: usize,
    /// The block changes the shape (its shortcut subsamples or projects).
    pub downsample: bool,
    pub r: Spread,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerProbe {
    /// The BN reading the 3x3 conv (or the conv, where none does).
    pub layer: String,
    pub response_std: Spread,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub images: usize,
    pub blocks: Vec<BlockProbe>,
    pub layers: Vec<LayerProbe>,
}

/// Probes `graph` with `host` on the first `samples` images of `split`, in
/// batches of `batch`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    gpu: &Gpu,
    graph: &Graph,
    host: &HostParams,
    split: &Split,
    norm: &Normalize,
    samples: usize,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Summary> {
    let n = samples.min(split.len());
    if n == 0 || batch == 0 {
        return Err(Error::invalid(
            "probes need at least one image and a batch of one",
        ));
    }
    let params = Params::upload(gpu, graph, host)?;
    let mut r: Vec<Vec<f64>> = vec![Vec::new(); graph.blocks.len()];
    let mut resp: Vec<Vec<f64>> = vec![Vec::new(); graph.responses.len()];
    let mut plans: Vec<(usize, Plan, Probes)> = Vec::new();
    let mut done = 0;
    let mut images = split.clone();
    images.truncate(n);
    for b in eval_batches(&images, norm, batch) {
        let m = b.labels.len();
        progress(done, n);
        if !plans.iter().any(|p| p.0 == m) {
            let plan = Plan::new(gpu, graph, &params, m, Mode::Eval, PlanOptions::default())?;
            let probes = Probes::per_sample(gpu, &plan)?;
            plans.push((m, plan, probes));
        }
        let (_, plan, probes) = plans
            .iter_mut()
            .find(|p| p.0 == m)
            .ok_or_else(|| Error::invalid("no plan for the batch"))?;
        plan.run(&b.images, &b.labels, None, false)?;
        let v = probes.read_samples()?;
        for (acc, got) in r.iter_mut().zip(&v.r) {
            acc.extend(got.iter().map(|&x| x as f64));
        }
        for (acc, got) in resp.iter_mut().zip(&v.response_std) {
            acc.extend(got.iter().map(|&x| x as f64));
        }
        done += m;
    }
    images.decoded()?;
    progress(n, n);
    let names = graph.response_names();
    Ok(Summary {
        model: graph.spec.name(),
        images: n,
        blocks: graph
            .blocks
            .iter()
            .zip(&r)
            .map(|(b, v)| BlockProbe {
                block: b.name.clone(),
                stage: b.stage,
                downsample: b.downsample,
                r: Spread::of(v),
            })
            .collect(),
        layers: names
            .into_iter()
            .zip(&resp)
            .map(|(layer, v)| LayerProbe {
                layer,
                response_std: Spread::of(v),
            })
            .collect(),
    })
}

/// summary.json in `dir` (the plots are `reslab_plot::probe`).
pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    crate::analysis::write_summary(dir, s)
}
