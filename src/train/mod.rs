//! Training: the loop that feeds batches to a [`Plan`], schedules the learning
//! rate, reads the loss back without stalling the GPU, evaluates at epoch ends
//! and writes the run folder (config.json, metrics.jsonl, checkpoints).

mod config;
mod evaluator;
mod run_dir;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub use config::{CheckpointMeta, ModelCard, Schedule, TrainConfig};
pub use evaluator::Evaluator;
pub use run_dir::{
    CHECKPOINT_FILE, CONFIG_FILE, EpochLog, METRICS_FILE, OPTIMIZER_FILE, OPTIMIZER_PREV_FILE,
    ProbeLog, RunDir, STEP_KEY, StepLog, resume, write_config,
};

use crate::checkpoint;
use crate::data::{Dataset, Loader, Normalize};
use crate::device::Gpu;
use crate::device::readback::Readback;
use crate::error::{Error, Result};
use crate::model::plan::PlanOptions;
use crate::model::probe::{ProbeValues, Probes};
use crate::model::{Graph, HostParams, Mode, Params, Parts, Plan};
use evaluator::too_large;

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
    /// The (loss, correct) of recent steps on their way back.
    readback: Readback,
    /// Steps of the current logging interval carried between `run_steps` calls.
    interval: (f64, f64, usize, Option<Instant>),
    /// Submit a step in parts (see [`Parts`]): other work on the same queue
    /// (a UI's frames) then waits for one part, not for whole steps. `None`:
    /// one submission per step, up to three steps in flight.
    pub parts: Option<Parts>,
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
        let per_epoch = (tr.len() / cfg.batch).max(1);
        if cfg.steps.is_none() && cfg.epochs.checked_mul(per_epoch).is_none() {
            return Err(Error::invalid(format!(
                "--epochs {} of {per_epoch} steps each is more steps than can be counted",
                cfg.epochs
            )));
        }
        let graph = Graph::build(&cfg.model, tr.h, tr.w)?;
        crate::model::memory::check_fits_gpu(gpu, &graph, cfg.batch, Mode::Train, true)?;
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
            readback: Readback::new(gpu, "metrics readback", 3, 8),
            interval: (0.0, 0.0, 0, None),
            parts: None,
            evaluate_epochs: true,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        (self.data.train.len() / self.cfg.batch).max(1)
    }

    /// Steps of the whole run (checked for overflow when the trainer was made).
    pub fn total_steps(&self) -> usize {
        self.cfg
            .steps
            .unwrap_or(self.cfg.epochs.saturating_mul(self.steps_per_epoch()))
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

    /// Parameters, running statistics and momentum, read back from the GPU;
    /// an error names the first tensor holding a NaN or an infinity.
    fn snapshot(&self) -> Result<(HostParams, Vec<Vec<f32>>)> {
        let host = self.params.download(&self.gpu)?;
        let momentum = self.params.download_momentum(&self.gpu)?;
        let names = self.graph.params.iter().chain(&self.graph.buffers);
        let values = host.params.iter().chain(&host.buffers);
        let moms = self.graph.params.iter().zip(&momentum);
        for (spec, v) in names.zip(values).chain(moms) {
            if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                return Err(Error::invalid(format!(
                    "{} holds {x} after step {}",
                    spec.name, self.step
                )));
            }
        }
        Ok((host, momentum))
    }

    /// Writes checkpoint.safetensors and optimizer.safetensors into `dir`;
    /// refuses weights that are not finite (the files already there stay).
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        let (host, momentum) = self
            .snapshot()
            .map_err(|e| self.stopped(Some(dir), e.to_string()))?;
        self.write_snapshot(dir, &host, momentum)
    }

    /// Replaces the run folder's checkpoint with `host` and its optimizer
    /// state with `momentum`. The checkpoint is the commit point: until it
    /// is in place, the optimizer state of the checkpoint before stays beside
    /// the new one (see [`RunDir::settle`]), and the metrics logged up to
    /// this step are synced to the disk before it.
    fn write_snapshot(
        &self,
        dir: &RunDir,
        host: &HostParams,
        momentum: Vec<Vec<f32>>,
    ) -> Result<()> {
        let metrics = dir.file(METRICS_FILE);
        if metrics.exists() {
            crate::files::sync_file(&metrics)?;
        }
        let (opt, prev) = (dir.file(OPTIMIZER_FILE), dir.file(OPTIMIZER_PREV_FILE));
        if opt.exists() {
            crate::files::rename(&opt, &prev)?;
        }
        let values: Vec<_> = self
            .graph
            .params
            .iter()
            .zip(momentum)
            .map(|(s, v)| (s.name.clone(), s.shape.clone(), v))
            .collect();
        let mut m = HashMap::new();
        m.insert(STEP_KEY.to_string(), self.step.to_string());
        checkpoint::write(&opt, &values, &[], m)?;
        let meta = CheckpointMeta {
            card: self.card(),
            config: Some(self.cfg.clone()),
            step: self.step,
            epoch: self.step / self.steps_per_epoch(),
        };
        let json = serde_json::to_value(&meta).map_err(|e| Error::invalid(e.to_string()))?;
        checkpoint::save(&dir.file(CHECKPOINT_FILE), &self.graph, host, &json)?;
        if prev.exists() {
            std::fs::remove_file(&prev).map_err(|e| Error::io(&prev, e))?;
            crate::files::sync_folder(&dir.path)?;
        }
        Ok(())
    }

    /// The error that ends a run gone wrong: `what` happened, and what the
    /// run folder still holds.
    fn stopped(&self, dir: Option<&RunDir>, what: String) -> Error {
        let kept = match dir.map(|d| (d, d.checkpoint_step())) {
            None => "nothing was saved (no run folder)".to_string(),
            Some((d, Some(step))) => format!(
                "the last checkpoint, {} (step {step}), is kept",
                d.file(CHECKPOINT_FILE).display()
            ),
            Some((d, None)) => format!(
                "{} holds no checkpoint (none had been written)",
                d.path.display()
            ),
        };
        Error::invalid(format!("{what}; training stopped, {kept}"))
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
        // The first logging interval starts with the first step submitted,
        // not when its result arrives.
        self.interval.3.get_or_insert_with(Instant::now);
        let mut t_epoch = Instant::now();
        let mut last_epoch = None;
        let mut stop = false;
        while self.step < end && !stop {
            let mut results = Vec::new();
            let mut probed = Vec::new();
            self.submit_step(total, &mut results, &mut probed)?;
            let epoch_done = self.step.is_multiple_of(per_epoch) || self.step == total;
            let last = epoch_done || self.step == end;
            results.extend(
                self.readback
                    .collect(&self.gpu, last)?
                    .into_iter()
                    .map(metrics_of),
            );
            if let Some(p) = &mut self.probes {
                probed.extend(p.collect(last)?);
            }
            for (step, probe) in probed {
                let log = ProbeLog { step, probe };
                if let Some(d) = dir {
                    d.append_metrics(&log)?;
                }
                stop |= !on(&Event::Probe(log));
            }
            self.gpu.check()?;
            stop |= !self.deliver(results, total, dir, on)?;
            if epoch_done && self.evaluate_epochs {
                let t_eval = Instant::now();
                let log = self.end_epoch(dir, t_epoch.elapsed().as_secs_f32())?;
                stop |= !on(&Event::Epoch(log.clone()));
                last_epoch = Some(log);
                t_epoch = Instant::now();
                // The evaluation is not training time: the logging interval's
                // start moves past it, keeping the time of the steps already
                // counted in the interval (restarting the clock would credit
                // them with none and overstate the next line's images/s).
                if let Some(t) = &mut self.interval.3 {
                    *t += t_eval.elapsed();
                }
            }
        }
        Ok(last_epoch)
    }

    /// The loader of training batches from the current step on.
    fn loader(&mut self, total: usize) -> &mut (Loader, usize) {
        match self.loader.take() {
            Some(l) if l.1 == self.step => self.loader.insert(l),
            _ => {
                let per_epoch = self.steps_per_epoch();
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
                self.loader.insert((loader, self.step))
            }
        }
    }

    /// Records and submits one step: in one submission, or in parts (see
    /// [`Trainer::parts`]), with the copy of its metrics into the
    /// readback ring and, on a probing step, the probes. Results that had to
    /// be taken out of the ring to make room go to `results` and `probed`.
    fn submit_step(
        &mut self,
        total: usize,
        results: &mut Vec<(usize, f32, f32)>,
        probed: &mut Vec<(usize, ProbeValues)>,
    ) -> Result<()> {
        let (loader, next) = self.loader(total);
        let b = loader
            .next()
            .ok_or_else(|| Error::invalid("the data loader stopped early"))?;
        *next += 1;
        let lr = self.cfg.lr_at(self.step, total);
        self.plan.set_batch(&b.images, &b.labels)?;
        let first = !self.momentum_started;
        let n = self.plan.program.len();
        let start = match &self.parts {
            Some(p) => self.plan.submit_leading_parts(p, Some(lr), first)?,
            None => 0,
        };
        let mut enc = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("train step"),
            });
        self.plan
            .record_range(&mut enc, start..n, Some(lr), first)?;
        let earlier =
            self.readback
                .record(&self.gpu, &mut enc, &[&self.plan.metrics], self.step)?;
        results.extend(earlier.map(metrics_of));
        // Probes are tagged with the step as metrics.jsonl counts it (1-based).
        let probe_now = self.cfg.probe_every > 0 && self.step.is_multiple_of(self.cfg.probe_every);
        if probe_now && let Some(p) = &mut self.probes {
            probed.extend(p.record(&mut enc, self.step + 1)?);
        }
        self.gpu.submit([enc.finish()]);
        self.readback.submitted(self.step);
        if probe_now && let Some(p) = &mut self.probes {
            p.submitted(self.step + 1);
        }
        self.momentum_started = true;
        self.params.steps += 1;
        self.step += 1;
        Ok(())
    }

    /// Reports the steps whose (loss, correct) arrived and logs every
    /// `log_every`-th; false when `on` asks to stop. A loss that is not
    /// finite ends the run.
    fn deliver(
        &mut self,
        results: Vec<(usize, f32, f32)>,
        total: usize,
        dir: Option<&RunDir>,
        on: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<bool> {
        let per_epoch = self.steps_per_epoch();
        let mut go = true;
        for (s, loss, correct) in results {
            let lr = self.cfg.lr_at(s, total);
            if !loss.is_finite() {
                return Err(self.stopped(
                    dir,
                    format!("the loss became {loss} at step {} (lr {lr})", s + 1),
                ));
            }
            let acc = correct / self.cfg.batch as f32;
            let epoch = s / per_epoch;
            go &= on(&Event::Step {
                step: s,
                epoch,
                lr,
                loss,
                accuracy: acc,
            });
            let t_log = *self.interval.3.get_or_insert_with(Instant::now);
            let iv = &mut self.interval;
            iv.0 += loss as f64;
            iv.1 += acc as f64;
            iv.2 += 1;
            if (s + 1) % self.cfg.log_every.max(1) == 0 || s + 1 == total {
                let secs = t_log.elapsed().as_secs_f64().max(1e-9);
                let log = StepLog {
                    step: s + 1,
                    epoch,
                    lr,
                    loss: (iv.0 / iv.2 as f64) as f32,
                    accuracy: (iv.1 / iv.2 as f64) as f32,
                    images_per_s: (iv.2 * self.cfg.batch) as f32 / secs as f32,
                };
                *iv = (0.0, 0.0, 0, Some(Instant::now()));
                if let Some(d) = dir {
                    d.append_metrics(&log)?;
                }
                go &= on(&Event::Logged(log));
            }
        }
        Ok(go)
    }

    /// The end of an epoch: the test set in eval mode, and with `dir` the
    /// epoch's line in metrics.jsonl and a new checkpoint — unless the test
    /// loss or a weight is not finite, which ends the run with the previous
    /// checkpoint kept.
    fn end_epoch(&mut self, dir: Option<&RunDir>, seconds: f32) -> Result<EpochLog> {
        let (test_loss, test_accuracy) = match self.evaluate() {
            Ok(v) => v,
            Err(e @ Error::Invalid(_)) => return Err(self.stopped(dir, e.to_string())),
            Err(e) => return Err(e),
        };
        let log = EpochLog {
            epoch: (self.step - 1) / self.steps_per_epoch(),
            step: self.step,
            test_loss,
            test_accuracy,
            seconds,
        };
        if let Err(e) = self.data.train.decoded() {
            return Err(self.stopped(dir, format!("in epoch {}, {e}", log.epoch)));
        }
        if !test_loss.is_finite() {
            return Err(self.stopped(
                dir,
                format!(
                    "the test loss became {test_loss} at the end of epoch {} (step {})",
                    log.epoch, log.step
                ),
            ));
        }
        if let Some(d) = dir {
            let (host, momentum) = self.snapshot().map_err(|e| {
                self.stopped(dir, format!("at the end of epoch {}, {e}", log.epoch))
            })?;
            d.append_metrics(&log)?;
            self.write_snapshot(d, &host, momentum)?;
        }
        Ok(log)
    }
}

/// A step's (step, mean loss, number correct) from its read-back bytes.
fn metrics_of((step, bytes): (usize, Vec<u8>)) -> (usize, f32, f32) {
    let v: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
    (step, v[0], v[1])
}

fn set_momentum(gpu: &Gpu, graph: &Graph, params: &mut Params, m: &[Vec<f32>]) -> Result<()> {
    if m.len() != graph.params.len() {
        return Err(Error::invalid("optimizer state of another model"));
    }
    params.upload_momentum(gpu, m)
}
