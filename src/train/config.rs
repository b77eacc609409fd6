//! What defines a training run (config.json) and what a checkpoint carries
//! besides its weights (the model card).

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::{Augment, DataSpec};
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::ops::SgdConfig;

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

impl ModelCard {
    /// Checks what a card read from a file claims: a valid model within
    /// reslab's limits, an input it takes, one finite mean and one positive
    /// finite std per input channel, and a name per class.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let [c, h, w] = self.input;
        if c != self.model.in_channels {
            return Err(Error::invalid(format!(
                "input of {c} channels for a model that takes {}",
                self.model.in_channels
            )));
        }
        let (lo, hi) = (
            self.model.min_input(),
            crate::model::spec::limits::MAX_INPUT_SIDE,
        );
        if !(lo..=hi).contains(&h) || !(lo..=hi).contains(&w) {
            return Err(Error::invalid(format!(
                "input of {h}x{w} pixels; {} takes {lo} to {hi} on a side",
                self.model.name()
            )));
        }
        for (what, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != c {
                return Err(Error::invalid(format!(
                    "{} {what} value(s) {v:?} for {c} input channel(s)",
                    v.len()
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::invalid(format!("{what} {v:?} is not finite")));
            }
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            return Err(Error::invalid(format!(
                "std {:?}: every channel's std must be positive",
                self.std
            )));
        }
        if self.classes.len() != self.model.classes {
            return Err(Error::invalid(format!(
                "{} class names for a model of {} classes",
                self.classes.len(),
                self.model.classes
            )));
        }
        Ok(())
    }
}

/// What checkpoint metadata holds under [`checkpoint::CONFIG_KEY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub card: ModelCard,
    pub config: Option<TrainConfig>,
    pub step: usize,
    pub epoch: usize,
}

impl CheckpointMeta {
    /// The reslab metadata of a checkpoint, its card checked; `None` for a
    /// state_dict without it (one saved by PyTorch, say).
    pub fn of(t: &checkpoint::Tensors) -> Result<Option<CheckpointMeta>> {
        let Some(v) = checkpoint::config_of(t)? else {
            return Ok(None);
        };
        let meta: CheckpointMeta = serde_json::from_value(v)
            .map_err(|e| Error::file(&t.path, format!("unreadable reslab metadata: {e}")))?;
        meta.card
            .validate()
            .map_err(|e| Error::file(&t.path, format!("reslab metadata: {e}")))?;
        Ok(Some(meta))
    }
}
