//! Redundant blocks: the thought experiment behind residual learning. Train a
//! shallow net, build a deeper one from it by copying its weights and inserting
//! extra blocks, and train on. A residual net's inserted blocks only have to
//! push F(x) to zero to leave the function unchanged; a plain net's inserted
//! layers have to learn the identity themselves.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::model::{Graph, HostParams, ModelSpec};
use crate::train::{Event, Start, TrainConfig, Trainer};

/// How inserted residual blocks start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Insert {
    /// He init, BN gamma 1.
    Random,
    /// He init, last BN gamma 0: the block starts as an exact identity.
    ZeroGamma,
}

impl std::str::FromStr for Insert {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "random" => Ok(Insert::Random),
            "zero-gamma" => Ok(Insert::ZeroGamma),
            _ => Err(Error::invalid(format!(
                "unknown init {s:?}; use random or zero-gamma"
            ))),
        }
    }
}

impl std::fmt::Display for Insert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Insert::Random => "random",
            Insert::ZeroGamma => "zero-gamma",
        })
    }
}

/// `layer{s}.{i}.rest` → (s, i, rest).
fn block_key(name: &str) -> Option<(usize, usize, &str)> {
    let rest = name.strip_prefix("layer")?;
    let (s, rest) = rest.split_once('.')?;
    let (i, rest) = rest.split_once('.')?;
    Some((s.parse().ok()?, i.parse().ok()?, rest))
}

/// The deep net's parameters: the shallow net's stem, classifier and blocks
/// (block i of each stage to block i), the other blocks freshly initialised
/// (`seed`; zero-gamma when asked and the net is residual). Returns them with
/// a flag per deep block: inserted or copied.
pub fn grow(
    shallow: &Graph,
    sp: &HostParams,
    deep: &Graph,
    insert: Insert,
    seed: u64,
) -> Result<(HostParams, Vec<bool>)> {
    let (sc, _) = shallow.spec.stages();
    let (dc, _) = deep.spec.stages();
    if sc.len() != dc.len() || sc.iter().zip(&dc).any(|(s, d)| s > d) {
        return Err(Error::invalid(format!(
            "{} cannot grow into {}: stages {sc:?} and {dc:?}",
            shallow.spec.name(),
            deep.spec.name()
        )));
    }
    let mut init_spec = deep.spec.clone();
    init_spec.zero_gamma = insert == Insert::ZeroGamma;
    let init_graph = Graph::build(
        &init_spec,
        deep.tensors[deep.input].h,
        deep.tensors[deep.input].w,
    )?;
    let mut out = HostParams::init(&init_graph, seed);
    let specs = deep
        .params
        .iter()
        .chain(&deep.buffers)
        .map(|p| p.name.clone())
        .collect::<Vec<_>>();
    for name in specs {
        let copied = match block_key(&name) {
            Some((s, i, _)) => i < sc[s - 1],
            None => true,
        };
        if copied {
            let v = sp
                .get(shallow, &name)
                .ok_or_else(|| {
                    Error::invalid(format!("{name} missing from {}", shallow.spec.name()))
                })?
                .to_vec();
            let slot = out
                .get_mut(deep, &name)
                .ok_or_else(|| Error::invalid(format!("{name} missing")))?;
            if slot.len() != v.len() {
                return Err(Error::invalid(format!(
                    "{name}: shapes differ between the nets"
                )));
            }
            *slot = v;
        }
    }
    let inserted = deep.blocks.iter().map(|b| b.index >= sc[b.stage]).collect();
    Ok((out, inserted))
}

/// One training run of the experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub name: String,
    pub model: String,
    /// (step, loss, error) per logged interval.
    pub curve: Vec<(usize, f32, f32)>,
    pub final_train_loss: f32,
    pub test_accuracy: f32,
    /// (step, r per block) during this run.
    pub r: Vec<(usize, Vec<f32>)>,
    pub blocks: Vec<String>,
    /// Per block: inserted (true) or copied from the shallow net.
    pub inserted: Vec<bool>,
}

impl Run {
    fn median(&self, at: usize, inserted: bool) -> Option<f32> {
        let r = &self.r.get(at)?.1;
        let mut v: Vec<f32> = r
            .iter()
            .zip(&self.inserted)
            .filter(|(_, i)| **i == inserted)
            .map(|(r, _)| *r)
            .collect();
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied()
    }

    /// Median r_b of the inserted (or copied) blocks at the first and last probe.
    pub fn medians(&self, inserted: bool) -> (Option<f32>, Option<f32>) {
        (
            self.median(0, inserted),
            self.median(self.r.len().saturating_sub(1), inserted),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub shallow: String,
    pub deep: String,
    pub shallow_steps: usize,
    pub grow_steps: usize,
    /// The shallow residual net trained on for `grow_steps`, and the grown ones.
    pub residual: Vec<Run>,
    /// The shallow plain net trained on, and the grown plain net.
    pub plain: Vec<Run>,
    /// Per grown residual run: (median r inserted start, end; original start, end).
    pub medians: Vec<(String, [Option<f32>; 4])>,
}

pub enum Progress<'a> {
    Start { name: &'a str, steps: usize },
    Step { step: usize, loss: f32 },
}

fn train(
    gpu: &Gpu,
    name: &str,
    cfg: TrainConfig,
    data: Arc<Dataset>,
    start: Option<HostParams>,
    inserted: Option<Vec<bool>>,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<(Run, HostParams)> {
    let start = start.map(|p| Start {
        params: p,
        momentum: None,
        step: 0,
    });
    let mut t = Trainer::new(gpu, cfg, data, start)?;
    on(Progress::Start {
        name,
        steps: t.total_steps(),
    });
    let (mut curve, mut r, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    let last = t.run(None, &mut |e| {
        match e {
            Event::Step { step, loss, .. } => {
                losses.push(*loss);
                on(Progress::Step {
                    step: *step,
                    loss: *loss,
                });
            }
            Event::Logged(l) => curve.push((l.step, l.loss, 1.0 - l.accuracy)),
            Event::Probe(p) => r.push((p.step, p.probe.r.clone())),
            Event::Epoch(_) => {}
        }
        true
    })?;
    let test_accuracy = match last {
        Some(l) => l.test_accuracy,
        None => t.evaluate()?.1,
    };
    let tail = (losses.len() / 10).max(1);
    let final_train_loss = losses[losses.len() - tail..].iter().sum::<f32>() / tail as f32;
    let blocks = t
        .graph
        .blocks
        .iter()
        .map(|b| b.name.clone())
        .collect::<Vec<_>>();
    let n = blocks.len();
    Ok((
        Run {
            name: name.into(),
            model: t.cfg.model.name(),
            curve,
            final_train_loss,
            test_accuracy,
            r,
            blocks,
            inserted: inserted.unwrap_or(vec![false; n]),
        },
        t.params.download(gpu)?,
    ))
}

/// Runs the experiment: `recipe` (with its `steps`) trains the shallow nets;
/// `grow_steps` more steps train the shallow nets on and the grown ones.
#[allow(clippy::too_many_arguments)]
pub fn run(
    gpu: &Gpu,
    recipe: &TrainConfig,
    shallow_depth: usize,
    deep_depth: usize,
    grow_steps: usize,
    inserts: &[Insert],
    data: Arc<Dataset>,
    on: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary> {
    let shallow_steps = recipe.steps.ok_or_else(|| {
        Error::invalid("the redundancy experiment needs --steps for the shallow net")
    })?;
    let (h, w) = (data.train.h, data.train.w);
    // Every argument is checked before the first net trains.
    recipe.validate()?;
    if grow_steps == 0 {
        return Err(Error::invalid("--grow-steps must be at least 1"));
    }
    if inserts.is_empty() {
        return Err(Error::invalid("no kind of inserted block to try"));
    }
    for residual in [true, false] {
        let at = |depth| ModelSpec {
            depth,
            residual,
            ..recipe.model.clone()
        };
        let (sg, dg) = (
            Graph::build(&at(shallow_depth), h, w)?,
            Graph::build(&at(deep_depth), h, w)?,
        );
        let (sc, _) = sg.spec.stages();
        let (dc, _) = dg.spec.stages();
        if deep_depth <= shallow_depth
            || sc.len() != dc.len()
            || sc.iter().zip(&dc).any(|(s, d)| s > d)
        {
            return Err(Error::invalid(format!(
                "--deep {deep_depth} cannot grow from --shallow {shallow_depth}: the deep net needs more blocks in every stage ({sc:?} -> {dc:?})"
            )));
        }
        crate::model::memory::check_fits_gpu(
            gpu,
            &dg,
            recipe.batch,
            crate::model::Mode::Train,
            true,
        )?;
    }
    let on_cfg = |model: ModelSpec, steps: usize| TrainConfig {
        model,
        steps: Some(steps),
        probe_every: recipe.probe_every.max(1),
        ..recipe.clone()
    };
    let mut residual = Vec::new();
    let mut plain = Vec::new();
    let mut medians = Vec::new();
    for res in [true, false] {
        let shallow = ModelSpec {
            depth: shallow_depth,
            residual: res,
            zero_gamma: false,
            ..recipe.model.clone()
        };
        let deep = ModelSpec {
            depth: deep_depth,
            ..shallow.clone()
        };
        let sg = Graph::build(&shallow, h, w)?;
        let dg = Graph::build(&deep, h, w)?;
        let (_, trained) = train(
            gpu,
            &format!("{} (first {shallow_steps} steps)", shallow.name()),
            on_cfg(shallow.clone(), shallow_steps),
            data.clone(),
            None,
            None,
            on,
        )?;
        let (cont, _) = train(
            gpu,
            &format!("{} trained on", shallow.name()),
            on_cfg(shallow.clone(), grow_steps),
            data.clone(),
            Some(trained.clone()),
            None,
            on,
        )?;
        let variants: Vec<Insert> = if res {
            inserts.to_vec()
        } else {
            vec![Insert::Random]
        };
        let mut runs = vec![cont];
        for ins in variants {
            let (grown, inserted) = grow(&sg, &trained, &dg, ins, recipe.seed ^ 0x6120)?;
            let label = match ins {
                Insert::Random => "random",
                Insert::ZeroGamma => "zero-gamma",
            };
            let name = format!(
                "{} grown from {} ({label} inserted blocks)",
                deep.name(),
                shallow.name()
            );
            let (r, _) = train(
                gpu,
                &name,
                on_cfg(deep.clone(), grow_steps),
                data.clone(),
                Some(grown),
                Some(inserted),
                on,
            )?;
            if res {
                let (a, b) = r.medians(true);
                let (c, d) = r.medians(false);
                medians.push((label.to_string(), [a, b, c, d]));
            }
            runs.push(r);
        }
        if res {
            residual = runs;
        } else {
            plain = runs;
        }
    }
    Ok(Summary {
        shallow: format!("resnet{shallow_depth}"),
        deep: format!("resnet{deep_depth}"),
        shallow_steps,
        grow_steps,
        residual,
        plain,
        medians,
    })
}

/// summary.json in `dir` (the plots are `reslab_plot::redundancy`).
pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    crate::analysis::write_summary(dir, s)
}
