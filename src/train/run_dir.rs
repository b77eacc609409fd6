//! The run folder: config.json, metrics.jsonl, the checkpoint and the
//! optimizer state, and reading them back for --resume.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::model::Graph;
use crate::model::probe::ProbeValues;
use crate::train::Start;
use crate::train::config::{CheckpointMeta, TrainConfig};

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
/// The optimizer state of the checkpoint in place, kept while a newer
/// checkpoint is being written.
pub const OPTIMIZER_PREV_FILE: &str = "optimizer.prev.safetensors";
/// The metadata key of the optimizer state's step.
pub const STEP_KEY: &str = "step";

const RUN_FILES: [&str; 5] = [
    CONFIG_FILE,
    METRICS_FILE,
    CHECKPOINT_FILE,
    OPTIMIZER_FILE,
    OPTIMIZER_PREV_FILE,
];

impl RunDir {
    /// Checks that a new run may be written to `path`: it does not exist, is
    /// empty, or `force` allows replacing the run there. Creates nothing.
    pub fn check_new(path: &Path, force: bool) -> Result<()> {
        if path.exists() {
            let mut entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
            if entries.next().is_some() && !force {
                return Err(Error::file(
                    path,
                    "exists and is not empty; use --resume to continue that run or --force to replace it",
                ));
            }
        }
        Ok(())
    }

    /// A new run folder. An existing folder with files in it is refused unless
    /// `force`, which replaces the run's own files (and nothing else).
    pub fn create(path: &Path, force: bool) -> Result<RunDir> {
        Self::check_new(path, force)?;
        if path.exists() {
            for f in RUN_FILES {
                let p = path.join(f);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
                crate::files::remove_stale_temporaries(&p)?;
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

    pub(super) fn append_metrics(&self, line: &impl Serialize) -> Result<()> {
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
        let cfg: TrainConfig = serde_json::from_str(&s)
            .map_err(|e| Error::file(&p, format!("not a reslab run configuration: {e}")))?;
        cfg.validate().map_err(|e| Error::file(&p, e.to_string()))?;
        Ok(cfg)
    }

    /// The step of the checkpoint in the folder, read from its header alone;
    /// `None` when there is none (or it cannot be read).
    pub fn checkpoint_step(&self) -> Option<usize> {
        let meta = checkpoint::read_metadata(&self.file(CHECKPOINT_FILE)).ok()?;
        let v: serde_json::Value = serde_json::from_str(meta.get(checkpoint::CONFIG_KEY)?).ok()?;
        v.get("step")?.as_u64().map(|s| s as usize)
    }

    /// Brings the folder to the state of its checkpoint at `step` (0: none)
    /// before a resumed run goes on: metrics.jsonl keeps only the lines of
    /// steps up to `step` (lines logged after the checkpoint, or cut short by
    /// a kill, would otherwise be logged twice), optimizer.safetensors is the
    /// state of that step, and temporary files of interrupted writes are gone.
    pub fn settle(&self, step: usize) -> Result<()> {
        for f in RUN_FILES {
            crate::files::remove_stale_temporaries(&self.file(f))?;
        }
        let (opt, prev) = (self.file(OPTIMIZER_FILE), self.file(OPTIMIZER_PREV_FILE));
        if prev.exists() {
            if optimizer_step(&prev).ok() == Some(step) {
                crate::files::rename(&prev, &opt)?;
            } else {
                std::fs::remove_file(&prev).map_err(|e| Error::io(&prev, e))?;
            }
        }
        let p = self.file(METRICS_FILE);
        if !p.exists() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let kept: String = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v.get("step")?.as_u64())
                    .is_some_and(|s| s as usize <= step)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if kept != text {
            crate::files::write_atomic(&p, kept.as_bytes())?;
        }
        Ok(())
    }
}

/// The step an optimizer state file was saved at.
fn optimizer_step(path: &Path) -> Result<usize> {
    checkpoint::read_metadata(path)?
        .get(STEP_KEY)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::file(path, "no step in the optimizer state's metadata"))
}

/// Reads a run folder for --resume: its config (checked), and where it goes
/// on from — its checkpoint with the optimizer state of the same step, or
/// `None` when no epoch had ended (the run then starts again from step 0).
pub fn resume(dir: &RunDir) -> Result<(TrainConfig, Option<Start>)> {
    let cfg = dir.read_config()?;
    let ck = dir.file(CHECKPOINT_FILE);
    if !ck.exists() {
        return Ok((cfg, None));
    }
    let t = checkpoint::read(&ck)?;
    let meta = CheckpointMeta::of(&t)?
        .ok_or_else(|| Error::file(&ck, "no reslab metadata in this checkpoint"))?;
    if meta.card.model != cfg.model {
        return Err(Error::file(
            &ck,
            format!(
                "holds a {} but {} describes a {}",
                meta.card.model.name(),
                dir.file(CONFIG_FILE).display(),
                cfg.model.name()
            ),
        ));
    }
    let graph = Graph::build(&cfg.model, meta.card.input[1], meta.card.input[2])?;
    let params = checkpoint::params_from(&graph, &t)?;
    // The optimizer state of the checkpoint's step: optimizer.safetensors,
    // or the one kept beside it when a save was interrupted.
    let mut found = Vec::new();
    let mut chosen = None;
    for name in [OPTIMIZER_FILE, OPTIMIZER_PREV_FILE] {
        let p = dir.file(name);
        if !p.exists() {
            continue;
        }
        let step = optimizer_step(&p)?;
        found.push(format!("{name} is from step {step}"));
        if step == meta.step {
            chosen = Some(p);
            break;
        }
    }
    let Some(opt) = chosen else {
        return Err(Error::file(
            &dir.path,
            format!(
                "no optimizer state of the checkpoint's step {} ({})",
                meta.step,
                if found.is_empty() {
                    format!("{OPTIMIZER_FILE} is missing")
                } else {
                    found.join(", ")
                }
            ),
        ));
    };
    let o = checkpoint::read(&opt)?;
    let momentum = graph
        .params
        .iter()
        .map(|p| {
            o.f32s
                .get(&p.name)
                .filter(|(s, v)| *s == p.shape && v.iter().all(|x| x.is_finite()))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    Error::file(
                        &o.path,
                        format!("no finite momentum of shape {:?} for {}", p.shape, p.name),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        cfg,
        Some(Start {
            params,
            momentum: Some(momentum),
            step: meta.step,
        }),
    ))
}

/// Writes config.json for a new run.
pub fn write_config(dir: &RunDir, cfg: &TrainConfig) -> Result<()> {
    let s = serde_json::to_string_pretty(cfg).map_err(|e| Error::invalid(e.to_string()))?;
    crate::files::write_atomic(&dir.file(CONFIG_FILE), s.as_bytes())
}
