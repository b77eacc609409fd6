//! The degradation experiment (He et al. 2016, Fig. 6 and 7): plain and
//! residual nets of several depths trained with one recipe on one data set.
//! Deeper plain nets end with a higher *training* loss; residual nets do not.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::plot::{self, Series};
use crate::analysis::probe::{ProbeValues, Probes};
use crate::data::Dataset;
use crate::data::loader::eval_batches;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::plan::PlanOptions;
use crate::model::{Mode, ModelSpec, Plan};
use crate::train::{Event, TrainConfig, Trainer};

/// One net's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetResult {
    pub model: String,
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
    pub nets: Vec<NetResult>,
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

/// Trains the plain and residual twin of `recipe.model` at every depth.
pub fn run(
    gpu: &Gpu,
    recipe: &TrainConfig,
    depths: &[usize],
    data: Arc<Dataset>,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    if depths.is_empty() {
        return Err(Error::invalid("give at least one depth"));
    }
    let mut nets = Vec::new();
    let total = 2 * depths.len();
    for &depth in depths {
        for residual in [false, true] {
            let model = ModelSpec {
                depth,
                residual,
                ..recipe.model.clone()
            };
            model.validate()?;
            let cfg = TrainConfig {
                model: model.clone(),
                probe_every: recipe.probe_every.max(1),
                ..recipe.clone()
            };
            nets.push(train_one(gpu, cfg, data.clone(), nets.len(), total, on)?);
        }
    }
    Ok(Summary {
        recipe: recipe.clone(),
        depths: depths.to_vec(),
        nets,
    })
}

/// Trains one net, collecting its curve and probes; ends with probes on test
/// images in eval mode.
pub fn train_one(
    gpu: &Gpu,
    cfg: TrainConfig,
    data: Arc<Dataset>,
    index: usize,
    of: usize,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<NetResult> {
    let name = cfg.model.name();
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
    let last = t.run(None, &mut |e| {
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
    let b = eval_batches(&t.data.test, &t.norm, n)
        .next()
        .ok_or_else(|| Error::invalid("no test images"))?;
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

/// summary.json, training_loss.png, training_error.png, responses.png and
/// responses_sorted.png in `dir`.
pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    crate::analysis::write_summary(dir, s)?;
    let style = |i: usize, n: &NetResult| {
        (
            plot::palette(s.depths.iter().position(|&d| d == n.depth).unwrap_or(i)),
            !n.residual,
        )
    };
    let series = |f: &dyn Fn(&(usize, f32, f32)) -> f32| -> Vec<Series> {
        s.nets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (color, dashed) = style(i, n);
                Series {
                    name: n.model.clone(),
                    points: n.curve.iter().map(|p| (p.0 as f64, f(p) as f64)).collect(),
                    color,
                    dashed,
                }
            })
            .collect()
    };
    let data = &s.recipe.data.name;
    plot::lines(
        &dir.join("training_loss.png"),
        &format!("Training loss on {data} (dashed: plain, solid: residual)"),
        "step",
        "training loss",
        &series(&|p| p.1),
        false,
    )?;
    plot::lines(
        &dir.join("training_error.png"),
        &format!("Training error on {data} (dashed: plain, solid: residual)"),
        "step",
        "training error",
        &series(&|p| p.2),
        false,
    )?;
    let resp = |sorted: bool| -> Vec<Series> {
        s.nets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (color, dashed) = style(i, n);
                let mut v = n.final_probe.response_std.clone();
                if sorted {
                    v.sort_by(|a, b| b.total_cmp(a));
                }
                Series {
                    name: n.model.clone(),
                    points: v
                        .iter()
                        .enumerate()
                        .map(|(k, &y)| ((k + 1) as f64, y as f64))
                        .collect(),
                    color,
                    dashed,
                }
            })
            .collect()
    };
    plot::lines(
        &dir.join("responses.png"),
        "Std of 3x3 layer responses (after BN, before ReLU/addition), layer order",
        "layer index",
        "std",
        &resp(false),
        false,
    )?;
    plot::lines(
        &dir.join("responses_sorted.png"),
        "Std of 3x3 layer responses, sorted by magnitude",
        "rank",
        "std",
        &resp(true),
        false,
    )
}
