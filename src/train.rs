//! Training: the loop that feeds batches to a [`Plan`], schedules the learning
//! rate, reads the loss back without stalling the GPU, evaluates at epoch ends
//! and writes the run folder (config.json, metrics.jsonl, checkpoints).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::probe::{ProbeValues, Probes};
use crate::checkpoint;
use crate::data::loader::eval_batches;
use crate::data::{Augment, DataSpec, Dataset, Loader, Normalize, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::sgd::SgdConfig;
use crate::model::plan::PlanOptions;
use crate::model::{Graph, HostParams, Mode, ModelSpec, Params, Plan};

/// Learning-rate schedule over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Divide by 10 at 50% and 75% of the steps (He et al. 2016).
    Step,
    /// Half a cosine from the base rate to zero.
    Cosine,
    Constant,
}

impl std::str::FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "step" => Ok(Schedule::Step),
            "cosine" => Ok(Schedule::Cosine),
            "constant" => Ok(Schedule::Constant),
            _ => Err(Error::invalid(format!(
                "unknown schedule {s:?}; use step, cosine or constant"
            ))),
        }
    }
}

/// Everything that defines a training run (written to config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelSpec,
    pub data: DataSpec,
    /// Length of the run: `steps` if given, else `epochs` passes over the training set.
    pub epochs: usize,
    pub steps: Option<usize>,
    pub batch: usize,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
    pub schedule: Schedule,
    /// Steps of linear warm-up to the base rate.
    pub warmup: usize,
    pub seed: u64,
    /// Steps between lines of metrics.jsonl.
    pub log_every: usize,
    /// Augmentation; the data set's default when `None`.
    pub augment: Option<Augment>,
    /// Steps between probes of r_b and the layer responses (0: none).
    #[serde(default)]
    pub probe_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelSpec::parse("resnet20", None).expect("known model"),
            data: DataSpec::default(),
            epochs: 1,
            steps: None,
            batch: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            nesterov: false,
            schedule: Schedule::Step,
            warmup: 0,
            seed: 0,
            log_every: 10,
            augment: None,
            probe_every: 0,
        }
    }
}

impl TrainConfig {
    pub fn sgd(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            momentum: self.momentum,
            dampening: 0.0,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }

    /// The learning rate of step `t` of `total`.
    pub fn lr_at(&self, t: usize, total: usize) -> f32 {
        if t < self.warmup {
            return self.lr * (t + 1) as f32 / self.warmup as f32;
        }
        let frac = t as f64 / total.max(1) as f64;
        let lr = self.lr as f64;
        (match self.schedule {
            Schedule::Constant => lr,
            Schedule::Step if frac >= 0.75 => lr * 0.01,
            Schedule::Step if frac >= 0.5 => lr * 0.1,
            Schedule::Step => lr,
            Schedule::Cosine => 0.5 * lr * (1.0 + (std::f64::consts::PI * frac).cos()),
        }) as f32
    }

    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if self.batch == 0 {
            return Err(Error::invalid("--batch must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(format!(
                "--lr must be a positive number, got {}",
                self.lr
            )));
        }
        if !(0.0..1.0).contains(&self.momentum)
            || self.weight_decay < 0.0
            || !self.weight_decay.is_finite()
        {
            return Err(Error::invalid(
                "--momentum must be in [0, 1) and --wd non-negative",
            ));
        }
        if self.steps == Some(0) || (self.steps.is_none() && self.epochs == 0) {
            return Err(Error::invalid(
                "the run has no steps: give --epochs or --steps above 0",
            ));
        }
        Ok(())
    }
}

/// What a trained model needs besides its weights to be used on new images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub model: ModelSpec,
    /// Input [C, H, W].
    pub input: [usize; 3],
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub classes: Vec<String>,
    pub data: String,
}

/// What checkpoint metadata holds under [`checkpoint::CONFIG_KEY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub card: ModelCard,
    pub config: Option<TrainConfig>,
    pub step: usize,
    pub epoch: usize,
}

/// One line of metrics.jsonl for training steps (means over the logged interval).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepLog {
    pub step: usize,
    pub epoch: usize,
    pub lr: f32,
    pub loss: f32,
    pub accuracy: f32,
    pub images_per_s: f32,
}

/// One line of metrics.jsonl per probe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeLog {
    /// The step whose activations were probed (1-based, as in StepLog).
    pub step: usize,
    pub probe: ProbeValues,
}

/// One line of metrics.jsonl at an epoch end.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub step: usize,
    pub test_loss: f32,
    pub test_accuracy: f32,
    pub seconds: f32,
}

/// What the loop reports to its caller (progress bars, the desktop app).
#[derive(Debug, Clone)]
pub enum Event {
    /// Every step, once its loss is known.
    Step {
        step: usize,
        epoch: usize,
        lr: f32,
        loss: f32,
        accuracy: f32,
    },
    Logged(StepLog),
    Epoch(EpochLog),
    Probe(ProbeLog),
}

/// Reads the (loss, correct) of recent steps through a ring of staging buffers,
/// so the GPU is never waited for unless the ring is full.
struct Readback {
    slots: Vec<(wgpu::Buffer, Option<usize>, Arc<AtomicBool>)>,
}

impl Readback {
    fn new(gpu: &Gpu, n: usize) -> Readback {
        let slots = (0..n)
            .map(|_| {
                let b = gpu.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("metrics readback"),
                    size: 8,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (b, None, Arc::new(AtomicBool::new(false)))
            })
            .collect();
        Readback { slots }
    }

    fn read_slot(
        slot: &mut (wgpu::Buffer, Option<usize>, Arc<AtomicBool>),
    ) -> Result<Option<(usize, f32, f32)>> {
        let Some(step) = slot.1 else { return Ok(None) };
        let v: Vec<f32> = {
            let view = slot
                .0
                .get_mapped_range(..)
                .map_err(|e| Error::Wgpu(format!("metrics readback: {e}")))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        slot.0.unmap();
        slot.1 = None;
        slot.2.store(false, Ordering::SeqCst);
        Ok(Some((step, v[0], v[1])))
    }

    /// Frees the slot for `step` (waiting for its previous step if needed) and
    /// records the copy of `metrics` into it.
    fn record(
        &mut self,
        gpu: &Gpu,
        enc: &mut wgpu::CommandEncoder,
        metrics: &crate::Tensor,
        step: usize,
        out: &mut Vec<(usize, f32, f32)>,
    ) -> Result<()> {
        let n = self.slots.len();
        let slot = &mut self.slots[step % n];
        if slot.1.is_some() {
            while !slot.2.load(Ordering::SeqCst) {
                gpu.device()
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            }
            out.extend(Self::read_slot(slot)?);
        }
        enc.copy_buffer_to_buffer(metrics.buffer(), metrics.offset(), &slot.0, 0, 8);
        Ok(())
    }

    /// Starts mapping the slot of `step` (after its submission).
    fn submitted(&mut self, step: usize) {
        let n = self.slots.len();
        let slot = &mut self.slots[step % n];
        slot.1 = Some(step);
        let ready = slot.2.clone();
        // Set on failure too: reading the slot then reports the error
        // instead of waiting for it forever.
        slot.0.map_async(wgpu::MapMode::Read, .., move |_| {
            ready.store(true, Ordering::SeqCst);
        });
    }

    /// Results that have arrived, in step order; with `wait`, all of them.
    fn collect(&mut self, gpu: &Gpu, wait: bool) -> Result<Vec<(usize, f32, f32)>> {
        let waiting = |slots: &[(wgpu::Buffer, Option<usize>, Arc<AtomicBool>)]| {
            slots
                .iter()
                .any(|s| s.1.is_some() && !s.2.load(Ordering::SeqCst))
        };
        // A map callback may fire on a later poll than the one that saw its
        // submission complete, so waiting means polling until every slot in
        // flight has been mapped.
        loop {
            let poll = if wait {
                wgpu::PollType::wait_indefinitely()
            } else {
                wgpu::PollType::Poll
            };
            gpu.device()
                .poll(poll)
                .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            if !wait || !waiting(&self.slots) {
                break;
            }
        }
        // A map callback can fire for a later step before an earlier one's;
        // release results only up to the oldest step still on its way, so
        // they always leave in step order.
        let oldest_waiting = self
            .slots
            .iter()
            .filter(|s| !s.2.load(Ordering::SeqCst))
            .filter_map(|s| s.1)
            .min()
            .unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if slot.1.is_some_and(|s| s < oldest_waiting) && slot.2.load(Ordering::SeqCst) {
                out.extend(Self::read_slot(slot)?);
            }
        }
        out.sort_by_key(|r| r.0);
        Ok(out)
    }
}

/// Evaluation plans by batch size (the last batch of a split may be short).
pub struct Evaluator {
    gpu: Gpu,
    graph: Graph,
    batch: usize,
    lesions: std::collections::BTreeSet<usize>,
    plans: HashMap<usize, Plan>,
    /// The parameters the cached plans read; other ones rebuild the plans.
    bound: Option<wgpu::Buffer>,
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
        }
    }

    /// (mean loss, accuracy) over `split` with batch norm in eval mode.
    pub fn evaluate(
        &mut self,
        params: &Params,
        split: &Split,
        norm: &Normalize,
    ) -> Result<(f32, f32)> {
        if self.bound.as_ref() != Some(params.params.buffer()) {
            self.plans.clear();
            self.bound = Some(params.params.buffer().clone());
        }
        let (mut loss, mut correct) = (0f64, 0f64);
        for b in eval_batches(split, norm, self.batch) {
            let n = b.labels.len();
            if !self.plans.contains_key(&n) {
                let opts = PlanOptions {
                    lesions: self.lesions.clone(),
                    ..Default::default()
                };
                let p = Plan::new(&self.gpu, &self.graph, params, n, Mode::Eval, opts)
                    .map_err(|e| too_large(e, n))?;
                self.plans.insert(n, p);
            }
            let (l, c) = self.plans[&n].run(&b.images, &b.labels, None, false)?;
            loss += l as f64 * n as f64;
            correct += c as f64;
        }
        let n = split.len().max(1) as f64;
        Ok(((loss / n) as f32, (correct / n) as f32))
    }
}

/// Says which batch failed when a plan does not fit the device.
fn too_large(e: Error, batch: usize) -> Error {
    match e {
        Error::BindingTooLarge { .. }
        | Error::BufferTooLarge { .. }
        | Error::DispatchTooLarge { .. } => Error::invalid(format!(
            "batch {batch} is too large for this device: {e}; use a smaller --batch"
        )),
        e => e,
    }
}

/// A run folder: config.json, metrics.jsonl, checkpoint.safetensors and
/// optimizer.safetensors (momentum and position, for --resume).
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

impl RunDir {
    /// A new run folder. An existing folder with files in it is refused unless
    /// `force`, which replaces the run's own files (and nothing else).
    pub fn create(path: &Path, force: bool) -> Result<RunDir> {
        if path.exists() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .count();
            if entries > 0 && !force {
                return Err(Error::file(
                    path,
                    "exists and is not empty; use --resume to continue that run or --force to replace it",
                ));
            }
            for f in [CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, OPTIMIZER_FILE] {
                let p = path.join(f);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn append_metrics(&self, line: &impl Serialize) -> Result<()> {
        let p = self.file(METRICS_FILE);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        let s = serde_json::to_string(line).map_err(|e| Error::invalid(e.to_string()))?;
        writeln!(f, "{s}").map_err(|e| Error::io(&p, e))
    }

    /// The configuration of an existing run.
    pub fn read_config(&self) -> Result<TrainConfig> {
        let p = self.file(CONFIG_FILE);
        let s = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&s)
            .map_err(|e| Error::file(&p, format!("not a reslab run configuration: {e}")))
    }
}

/// Where a run starts: fresh, or from a run folder's last checkpoint.
pub struct Start {
    pub params: HostParams,
    pub momentum: Option<Vec<Vec<f32>>>,
    pub step: usize,
}

/// A model, its data and its plans, ready to train.
pub struct Trainer {
    pub gpu: Gpu,
    pub cfg: TrainConfig,
    pub data: Arc<Dataset>,
    pub graph: Graph,
    pub params: Params,
    pub plan: Plan,
    pub evaluator: Evaluator,
    pub norm: Normalize,
    pub step: usize,
    momentum_started: bool,
    probes: Option<Probes>,
    /// The batch loader and the step its next batch is for.
    loader: Option<(Loader, usize)>,
    readback: Option<Readback>,
    /// Steps of the current logging interval carried between `run_steps` calls.
    interval: (f64, f64, usize, Option<Instant>),
    /// Submit a step in parts of this many dispatches, each waited for before
    /// the next: other work on the same queue (a UI's frames) then waits for
    /// one part, not for whole steps. `None`: one submission per step, up to
    /// three steps in flight.
    pub submit_parts_of: Option<usize>,
    /// At each epoch end: evaluate on the test set, log it and (with a run
    /// folder) save a checkpoint. A caller that evaluates on its own schedule
    /// and saves on request (the desktop app) turns this off.
    pub evaluate_epochs: bool,
}

impl Trainer {
    pub fn new(
        gpu: &Gpu,
        cfg: TrainConfig,
        data: Arc<Dataset>,
        start: Option<Start>,
    ) -> Result<Trainer> {
        cfg.validate()?;
        let tr = &data.train;
        if tr.c != cfg.model.in_channels {
            return Err(Error::invalid(format!(
                "{} has {} channel(s) but the model takes {}",
                data.name, tr.c, cfg.model.in_channels
            )));
        }
        if cfg.batch > tr.len() {
            return Err(Error::invalid(format!(
                "batch {} is larger than the {} training images",
                cfg.batch,
                tr.len()
            )));
        }
        if data.class_names.len() != cfg.model.classes {
            return Err(Error::invalid(format!(
                "{} has {} classes but the model predicts {}",
                data.name,
                data.class_names.len(),
                cfg.model.classes
            )));
        }
        let graph = Graph::build(&cfg.model, tr.h, tr.w)?;
        let (host, momentum, step) = match start {
            Some(s) => (s.params, s.momentum, s.step),
            None => (HostParams::init(&graph, cfg.seed), None, 0),
        };
        let mut params = Params::upload(gpu, &graph, &host)?;
        let momentum_started = momentum.is_some();
        if let Some(m) = &momentum {
            set_momentum(gpu, &graph, &mut params, m)?;
        }
        let opts = PlanOptions {
            backward: true,
            sgd: Some(cfg.sgd()),
            ..Default::default()
        };
        let plan = Plan::new(gpu, &graph, &params, cfg.batch, Mode::Train, opts)
            .map_err(|e| too_large(e, cfg.batch))?;
        let evaluator = Evaluator::new(gpu, &graph, cfg.batch.max(256));
        let probes = if cfg.probe_every > 0 {
            Some(Probes::new(gpu, &plan)?)
        } else {
            None
        };
        let norm = Normalize {
            mean: data.mean.clone(),
            std: data.std.clone(),
        };
        Ok(Trainer {
            gpu: gpu.clone(),
            cfg,
            data,
            graph,
            params,
            plan,
            evaluator,
            norm,
            step,
            momentum_started,
            probes,
            loader: None,
            readback: None,
            interval: (0.0, 0.0, 0, None),
            submit_parts_of: None,
            evaluate_epochs: true,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        (self.data.train.len() / self.cfg.batch).max(1)
    }

    pub fn total_steps(&self) -> usize {
        self.cfg
            .steps
            .unwrap_or(self.cfg.epochs * self.steps_per_epoch())
    }

    pub fn card(&self) -> ModelCard {
        ModelCard {
            model: self.cfg.model.clone(),
            input: [self.data.train.c, self.data.train.h, self.data.train.w],
            mean: self.data.mean.clone(),
            std: self.data.std.clone(),
            classes: self.data.class_names.clone(),
            data: self.data.name.clone(),
        }
    }

    /// Test loss and accuracy now (BN in eval mode).
    pub fn evaluate(&mut self) -> Result<(f32, f32)> {
        self.evaluator
            .evaluate(&self.params, &self.data.test, &self.norm)
    }

    /// Writes checkpoint.safetensors and optimizer.safetensors into `dir`.
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        let host = self.params.download(&self.gpu)?;
        let meta = CheckpointMeta {
            card: self.card(),
            config: Some(self.cfg.clone()),
            step: self.step,
            epoch: self.step / self.steps_per_epoch(),
        };
        let json = serde_json::to_value(&meta).map_err(|e| Error::invalid(e.to_string()))?;
        checkpoint::save(&dir.file(CHECKPOINT_FILE), &self.graph, &host, &json)?;
        let momentum = self.params.download_momentum(&self.gpu)?;
        let values: Vec<_> = self
            .graph
            .params
            .iter()
            .zip(momentum)
            .map(|(s, v)| (s.name.clone(), s.shape.clone(), v))
            .collect();
        let mut m = HashMap::new();
        m.insert("step".to_string(), self.step.to_string());
        checkpoint::write(&dir.file(OPTIMIZER_FILE), &values, &[], m)
    }

    /// Trains to the end of the run. `on` sees every event and may stop the run
    /// early by returning `false`. With `dir`, logs and checkpoints go there.
    pub fn run(
        &mut self,
        dir: Option<&RunDir>,
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<Option<EpochLog>> {
        self.run_steps(usize::MAX, dir, on)
    }

    /// Like [`Trainer::run`] for at most `n` steps; returns the last epoch-end
    /// log of those steps. Every event of the steps run has been delivered when
    /// it returns. The loader and the readback ring carry over between calls,
    /// so running a long run in small pieces costs little.
    pub fn run_steps(
        &mut self,
        n: usize,
        dir: Option<&RunDir>,
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<Option<EpochLog>> {
        let total = self.total_steps();
        let per_epoch = self.steps_per_epoch();
        if self.step >= total {
            return Ok(None);
        }
        let end = total.min(self.step.saturating_add(n));
        if self
            .loader
            .as_ref()
            .is_none_or(|(_, next)| *next != self.step)
        {
            let aug = self.cfg.augment.unwrap_or(self.data.augment);
            let loader = Loader::train(
                Arc::new(self.data.train.clone()),
                self.norm.clone(),
                self.cfg.batch,
                aug,
                self.cfg.seed,
                self.step / per_epoch,
                self.step % per_epoch,
                total - self.step,
            );
            self.loader = Some((loader, self.step));
        }
        let mut readback = self
            .readback
            .take()
            .unwrap_or_else(|| Readback::new(&self.gpu, 3));
        let mut pending: Vec<(usize, f32, f32)> = Vec::new();
        let (l0, a0, c0, t0) = self.interval;
        let mut interval = (l0, a0, c0);
        let mut t_log = t0.unwrap_or_else(Instant::now);
        let mut t_epoch = Instant::now();
        let mut last_epoch = None;
        let mut stop = false;
        let mut probe_results: Vec<ProbeValues> = Vec::new();
        let mut probe_steps: Vec<usize> = Vec::new();
        while self.step < end && !stop {
            let (loader, next) = self.loader.as_mut().expect("made above");
            let b = loader
                .next()
                .ok_or_else(|| Error::invalid("the data loader stopped early"))?;
            *next += 1;
            let lr = self.cfg.lr_at(self.step, total);
            self.plan.set_batch(&b.images, &b.labels)?;
            let mut enc =
                self.gpu
                    .device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("train step"),
                    });
            let first = !self.momentum_started;
            let n = self.plan.program.len();
            let part = self.submit_parts_of.unwrap_or(n).max(1);
            let mut start = 0;
            while n - start > part {
                self.plan
                    .record_range(&mut enc, start..start + part, Some(lr), first)?;
                let done = self.gpu.submit([enc.finish()]);
                self.gpu
                    .device()
                    .poll(wgpu::PollType::Wait {
                        submission_index: Some(done),
                        timeout: None,
                    })
                    .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
                start += part;
                enc = self
                    .gpu
                    .device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("train step"),
                    });
            }
            self.plan
                .record_range(&mut enc, start..n, Some(lr), first)?;
            readback.record(
                &self.gpu,
                &mut enc,
                &self.plan.metrics,
                self.step,
                &mut pending,
            )?;
            let probe_now =
                self.cfg.probe_every > 0 && self.step.is_multiple_of(self.cfg.probe_every);
            if probe_now && let Some(p) = &mut self.probes {
                if let Some(v) = p.collect(true)? {
                    probe_results.push(v);
                }
                p.record(&mut enc)?;
                probe_steps.push(self.step + 1);
            }
            self.gpu.submit([enc.finish()]);
            readback.submitted(self.step);
            if probe_now && let Some(p) = &mut self.probes {
                p.submitted();
            }
            self.momentum_started = true;
            self.params.steps += 1;
            self.step += 1;
            let epoch_done = self.step.is_multiple_of(per_epoch) || self.step == total;
            let last = epoch_done || self.step == end;
            pending.extend(readback.collect(&self.gpu, last)?);
            if let Some(p) = &mut self.probes
                && let Some(v) = p.collect(last)?
            {
                probe_results.push(v);
            }
            for probe in probe_results.drain(..) {
                let log = ProbeLog {
                    step: probe_steps.remove(0),
                    probe,
                };
                if let Some(d) = dir {
                    d.append_metrics(&log)?;
                }
                stop |= !on(&Event::Probe(log));
            }
            self.gpu.check()?;
            for (s, loss, correct) in pending.drain(..) {
                if !loss.is_finite() {
                    return Err(Error::invalid(format!(
                        "the loss became {loss} at step {s} (lr {}); training stopped, the last checkpoint (from the last epoch end) is kept",
                        self.cfg.lr_at(s, total)
                    )));
                }
                let acc = correct / self.cfg.batch as f32;
                let epoch = s / per_epoch;
                stop |= !on(&Event::Step {
                    step: s,
                    epoch,
                    lr: self.cfg.lr_at(s, total),
                    loss,
                    accuracy: acc,
                });
                interval.0 += loss as f64;
                interval.1 += acc as f64;
                interval.2 += 1;
                if (s + 1) % self.cfg.log_every.max(1) == 0 || s + 1 == total {
                    let secs = t_log.elapsed().as_secs_f64().max(1e-9);
                    let log = StepLog {
                        step: s + 1,
                        epoch,
                        lr: self.cfg.lr_at(s, total),
                        loss: (interval.0 / interval.2 as f64) as f32,
                        accuracy: (interval.1 / interval.2 as f64) as f32,
                        images_per_s: (interval.2 * self.cfg.batch) as f32 / secs as f32,
                    };
                    if let Some(d) = dir {
                        d.append_metrics(&log)?;
                    }
                    stop |= !on(&Event::Logged(log));
                    interval = (0.0, 0.0, 0);
                    t_log = Instant::now();
                }
            }
            if epoch_done && self.evaluate_epochs {
                let (test_loss, test_accuracy) = self.evaluate()?;
                let log = EpochLog {
                    epoch: (self.step - 1) / per_epoch,
                    step: self.step,
                    test_loss,
                    test_accuracy,
                    seconds: t_epoch.elapsed().as_secs_f32(),
                };
                if let Some(d) = dir {
                    d.append_metrics(&log)?;
                    self.save(d)?;
                }
                stop |= !on(&Event::Epoch(log.clone()));
                last_epoch = Some(log);
                t_epoch = Instant::now();
                t_log = Instant::now();
            }
        }
        self.readback = Some(readback);
        self.interval = (interval.0, interval.1, interval.2, Some(t_log));
        Ok(last_epoch)
    }
}

fn set_momentum(gpu: &Gpu, graph: &Graph, params: &mut Params, m: &[Vec<f32>]) -> Result<()> {
    if m.len() != graph.params.len() {
        return Err(Error::invalid("optimizer state of another model"));
    }
    params.upload_momentum(gpu, m)
}

/// Reads a run folder for --resume: its config, last checkpoint and optimizer state.
pub fn resume(dir: &RunDir) -> Result<(TrainConfig, Start)> {
    let cfg = dir.read_config()?;
    let data_side = |t: &checkpoint::Tensors| -> Result<CheckpointMeta> {
        let v = checkpoint::config_of(t)?
            .ok_or_else(|| Error::file(&t.path, "no reslab metadata in this checkpoint"))?;
        serde_json::from_value(v)
            .map_err(|e| Error::file(&t.path, format!("unreadable reslab metadata: {e}")))
    };
    let t = checkpoint::read(&dir.file(CHECKPOINT_FILE))?;
    let meta = data_side(&t)?;
    let graph = Graph::build(&cfg.model, meta.card.input[1], meta.card.input[2])?;
    let params = checkpoint::params_from(&graph, &t)?;
    let o = checkpoint::read(&dir.file(OPTIMIZER_FILE))?;
    let momentum = graph
        .params
        .iter()
        .map(|p| {
            o.f32s
                .get(&p.name)
                .filter(|(s, _)| *s == p.shape)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    Error::file(
                        &o.path,
                        format!("no momentum of shape {:?} for {}", p.shape, p.name),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        cfg,
        Start {
            params,
            momentum: Some(momentum),
            step: meta.step,
        },
    ))
}

/// Writes config.json for a new run.
pub fn write_config(dir: &RunDir, cfg: &TrainConfig) -> Result<()> {
    let s = serde_json::to_string_pretty(cfg).map_err(|e| Error::invalid(e.to_string()))?;
    checkpoint::write_atomic(&dir.file(CONFIG_FILE), s.as_bytes())
}
