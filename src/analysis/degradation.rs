//! The degradation experiment (He et al. 2016, Fig. 6 and 7): plain and
//! residual nets of several depths trained with one recipe on one data set.
//! Deeper plain nets end with a higher *training* loss; residual nets do not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::data::loader::first_batch;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::model::plan::PlanOptions;
use crate::model::probe::{ProbeValues, Probes};
use crate::model::{Mode, ModelSpec, Plan};
use crate::train::{Event, RunDir, TrainConfig, Trainer, write_config};

/// One net's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetResult {
    pub model: String,
    pub seed: u64,
    pub depth: usize,
    pub residual: bool,
    /// Mean training loss and error over the last tenth of the steps.
    pub final_train_loss: f32,
    pub final_train_error: f32,
    pub test_loss: f32,
    pub test_accuracy: f32,
    pub seconds: f32,
    pub images_per_s: f32,
    /// (step, loss, error) per logged interval.
    pub curve: Vec<(usize, f32, f32)>,
    /// At the end, on test images, BN in eval mode.
    pub final_probe: ProbeValues,
    /// r_b per block over training: (step, r).
    pub r_over_training: Vec<(usize, Vec<f32>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub recipe: TrainConfig,
    pub depths: Vec<usize>,
    pub seeds: Vec<u64>,
    pub nets: Vec<NetResult>,
}

/// One model's final training loss over the seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spread {
    pub model: String,
    pub depth: usize,
    pub residual: bool,
    pub mean: f32,
    pub min: f32,
    pub max: f32,
    /// Per seed, in the order of `Summary::seeds`.
    pub losses: Vec<f32>,
}

impl Summary {
    /// Final training loss of every model over the seeds, in training order.
    pub fn spreads(&self) -> Vec<Spread> {
        let mut out: Vec<Spread> = Vec::new();
        for n in &self.nets {
            match out.iter_mut().find(|s| s.model == n.model) {
                Some(s) => s.losses.push(n.final_train_loss),
                None => out.push(Spread {
                    model: n.model.clone(),
                    depth: n.depth,
                    residual: n.residual,
                    mean: 0.0,
                    min: 0.0,
                    max: 0.0,
                    losses: vec![n.final_train_loss],
                }),
            }
        }
        for s in &mut out {
            s.mean = s.losses.iter().sum::<f32>() / s.losses.len() as f32;
            s.min = s.losses.iter().copied().fold(f32::INFINITY, f32::min);
            s.max = s.losses.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        }
        out
    }

    /// The paper's comparison between the shallowest and the deepest depth:
    /// (plain deep − plain shallow per seed, residual deep − residual shallow
    /// per seed); `None` with fewer than two depths.
    pub fn gaps(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        let lo = *self.depths.iter().min()?;
        let hi = *self.depths.iter().max()?;
        if lo == hi {
            return None;
        }
        let loss = |seed: u64, depth: usize, residual: bool| {
            self.nets
                .iter()
                .find(|n| n.seed == seed && n.depth == depth && n.residual == residual)
                .map(|n| n.final_train_loss)
        };
        let gap = |residual: bool| -> Option<Vec<f32>> {
            self.seeds
                .iter()
                .map(|&s| Some(loss(s, hi, residual)? - loss(s, lo, residual)?))
                .collect()
        };
        Some((gap(false)?, gap(true)?))
    }
}

/// The run folder of one net of the experiment under `out`.
pub fn net_dir(out: &Path, model: &str, seed: u64) -> PathBuf {
    out.join(format!("{model}-seed{seed}"))
}

/// What is happening, for progress bars.
pub enum Progress<'a> {
    Start {
        net: &'a str,
        index: usize,
        of: usize,
        steps: usize,
    },
    Step {
        step: usize,
        loss: f32,
    },
}

/// Where the experiment keeps each net's run (config, metrics, checkpoint):
/// `net_dir(out, model, seed)`. Existing run folders are refused before
/// anything trains unless `force`, which replaces only the runs' own files.
pub struct Output<'a> {
    pub out: &'a Path,
    pub force: bool,
}

/// Trains the plain and residual twin of `recipe.model` at every depth, once
/// per seed (the seed draws the initial weights and the batch order).
pub fn run(
    gpu: &Gpu,
    recipe: &TrainConfig,
    depths: &[usize],
    seeds: &[u64],
    data: Arc<Dataset>,
    output: Option<Output<'_>>,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    if depths.is_empty() || seeds.is_empty() {
        return Err(Error::invalid("give at least one depth and one seed"));
    }
    let mut cfgs = Vec::new();
    for &seed in seeds {
        for &depth in depths {
            for residual in [false, true] {
                let model = ModelSpec {
                    depth,
                    residual,
                    ..recipe.model.clone()
                };
                model.validate()?;
                cfgs.push(TrainConfig {
                    model,
                    seed,
                    probe_every: recipe.probe_every.max(1),
                    ..recipe.clone()
                });
            }
        }
    }
    // Every net checked and every run folder made first, so a refusal comes
    // before hours of training.
    for c in &cfgs {
        c.validate()?;
        let g = crate::model::Graph::build(&c.model, data.train.h, data.train.w)?;
        crate::model::memory::check_fits_gpu(gpu, &g, c.batch, crate::model::Mode::Train, true)?;
    }
    let dirs = match &output {
        Some(o) => cfgs
            .iter()
            .map(|c| {
                let path = net_dir(o.out, &c.model.name(), c.seed);
                let used = std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some());
                if used && !o.force {
                    return Err(Error::file(
                        &path,
                        "holds a run of an earlier experiment; use --force to replace it, or another --out",
                    ));
                }
                RunDir::create(&path, o.force).map(Some)
            })
            .collect::<Result<Vec<_>>>()?,
        None => cfgs.iter().map(|_| None).collect(),
    };
    let mut nets = Vec::new();
    let total = cfgs.len();
    for (cfg, dir) in cfgs.into_iter().zip(dirs) {
        nets.push(train_one(
            gpu,
            cfg,
            data.clone(),
            dir.as_ref(),
            nets.len(),
            total,
            on,
        )?);
    }
    Ok(Summary {
        recipe: recipe.clone(),
        depths: depths.to_vec(),
        seeds: seeds.to_vec(),
        nets,
    })
}

/// Trains one net, collecting its curve and probes; ends with probes on test
/// images in eval mode. With `dir`, the run's config, metrics and final
/// checkpoint go there, as `reslab train` writes them.
pub fn train_one(
    gpu: &Gpu,
    cfg: TrainConfig,
    data: Arc<Dataset>,
    dir: Option<&RunDir>,
    index: usize,
    of: usize,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<NetResult> {
    let name = cfg.model.name();
    let seed = cfg.seed;
    if let Some(d) = dir {
        write_config(d, &cfg)?;
    }
    let mut t = Trainer::new(gpu, cfg, data, None)?;
    let steps = t.total_steps();
    on(Progress::Start {
        net: &name,
        index,
        of,
        steps,
    });
    let start = Instant::now();
    let mut curve = Vec::new();
    let mut losses = Vec::new();
    let mut r_over = Vec::new();
    let last = t.run(dir, &mut |e| {
        match e {
            Event::Step {
                step,
                loss,
                accuracy,
                ..
            } => {
                losses.push((*loss, 1.0 - *accuracy));
                on(Progress::Step {
                    step: *step,
                    loss: *loss,
                });
            }
            Event::Logged(l) => curve.push((l.step, l.loss, 1.0 - l.accuracy)),
            Event::Probe(p) => r_over.push((p.step, p.probe.r.clone())),
            Event::Epoch(_) => {}
        }
        true
    })?;
    let seconds = start.elapsed().as_secs_f32();
    let (test_loss, test_accuracy) = match last {
        Some(l) => (l.test_loss, l.test_accuracy),
        None => t.evaluate()?,
    };
    let tail = (losses.len() / 10).max(1);
    let end = &losses[losses.len().saturating_sub(tail)..];
    let final_probe = eval_probe(gpu, &t)?;
    Ok(NetResult {
        model: name,
        seed,
        depth: t.cfg.model.depth,
        residual: t.cfg.model.residual,
        final_train_loss: end.iter().map(|x| x.0).sum::<f32>() / end.len() as f32,
        final_train_error: end.iter().map(|x| x.1).sum::<f32>() / end.len() as f32,
        test_loss,
        test_accuracy,
        seconds,
        images_per_s: (steps * t.cfg.batch) as f32 / seconds,
        curve,
        final_probe,
        r_over_training: r_over,
    })
}

/// Probes of a trained net on up to 500 test images, BN in eval mode.
pub fn eval_probe(gpu: &Gpu, t: &Trainer) -> Result<ProbeValues> {
    let n = t.data.test.len().min(500);
    let b = first_batch(&t.data.test, &t.norm, n)?;
    let plan = Plan::new(
        gpu,
        &t.graph,
        &t.params,
        n,
        Mode::Eval,
        PlanOptions::default(),
    )?;
    plan.run(&b.images, &b.labels, None, false)?;
    Probes::new(gpu, &plan)?.read_now()
}

/// The nets of one model (all its seeds), in the order of the spreads.
pub fn by_model(s: &Summary) -> Vec<Vec<&NetResult>> {
    s.spreads()
        .iter()
        .map(|m| s.nets.iter().filter(|n| n.model == m.model).collect())
        .collect()
}

/// Pointwise mean of equally long series (cut to the shortest).
pub fn mean_of(v: &[Vec<f64>]) -> Vec<f64> {
    let len = v.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|i| v.iter().map(|x| x[i]).sum::<f64>() / v.len() as f64)
        .collect()
}

/// summary.json in `dir` (the plots are `reslab_plot::degradation`).
pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    crate::analysis::write_summary(dir, s)
}
