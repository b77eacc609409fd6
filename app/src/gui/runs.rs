//! Run folders opened from disk: a `reslab train` run (config.json and
//! metrics.jsonl), or the output folder of `degradation`, `redundancy`,
//! `lesion` or `landscape` (summary.json), or a folder of train runs (a
//! degradation run still being written). Their nets are drawn beside the
//! live ones; a folder still being written is followed as it grows
//! ([`OpenedRun::refresh`]). Nothing here touches the GPU.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use reslab::analysis::{degradation, landscape, lesion, redundancy};
use reslab::data::DataSpec;
use reslab::model::{Family, Graph, ModelSpec};
use reslab::train::{CONFIG_FILE, EpochLog, METRICS_FILE, ProbeLog, RunDir, StepLog};

use super::view::{NetView, Probe};
use super::worker::NetInfo;

const SUMMARY_FILE: &str = "summary.json";

/// The largest summary.json or metrics.jsonl read (a foreign file of
/// gigabytes is refused, not read).
const MAX_FILE: u64 = 256 << 20;

/// What wrote a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Train,
    /// A folder of train runs without a summary (yet).
    Runs,
    Degradation,
    Redundancy,
    Lesion,
    Landscape,
}

impl RunKind {
    pub fn describe(self) -> &'static str {
        match self {
            RunKind::Train => "train run",
            RunKind::Runs => "folder of train runs",
            RunKind::Degradation => "degradation experiment",
            RunKind::Redundancy => "redundancy experiment",
            RunKind::Lesion => "lesion study",
            RunKind::Landscape => "loss landscape",
        }
    }
}

/// A metrics.jsonl being read: how far, and the cut-off last line.
#[derive(Debug, Clone)]
struct Tail {
    path: PathBuf,
    /// Index into the run's nets.
    net: usize,
    offset: u64,
    partial: Vec<u8>,
    lines: usize,
}

#[derive(Debug, Clone)]
pub struct OpenedRun {
    pub path: PathBuf,
    /// The folder's name, as legends show it.
    pub name: String,
    pub kind: RunKind,
    pub nets: Vec<NetView>,
    pub lesion: Option<lesion::Summary>,
    pub landscape: Option<landscape::Summary>,
    /// Lines of metrics.jsonl that could not be read (the first few).
    pub problems: Vec<String>,
    tails: Vec<Tail>,
    /// summary.json and when it was last read.
    summary: Option<(PathBuf, Option<SystemTime>)>,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn read_bounded(p: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .len();
    if len > MAX_FILE {
        return Err(format!(
            "{}: {} bytes is larger than any file reslab writes there",
            p.display(),
            len
        ));
    }
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// The input side a run's images had: from its checkpoint's metadata, or
/// from what its data set is.
fn input_side(dir: &Path, data: &DataSpec) -> (usize, usize) {
    let from_checkpoint = || -> Option<(usize, usize)> {
        let meta =
            reslab::checkpoint::read_metadata(&dir.join(reslab::train::CHECKPOINT_FILE)).ok()?;
        let v: serde_json::Value =
            serde_json::from_str(meta.get(reslab::checkpoint::CONFIG_KEY)?).ok()?;
        let input = v.get("card")?.get("input")?.as_array()?;
        Some((
            input.get(1)?.as_u64()? as usize,
            input.get(2)?.as_u64()? as usize,
        ))
    };
    from_checkpoint().unwrap_or(match data.name.as_str() {
        "synthetic" => (data.synthetic.side, data.synthetic.side),
        "folder" => (data.folder.side, data.folder.side),
        "mnist" | "fashion-mnist" => (28, 28),
        _ => (32, 32),
    })
}

fn info(name: String, spec: &ModelSpec, h: usize, w: usize) -> Result<NetInfo, String> {
    let graph = Graph::build(spec, h, w).map_err(|e| format!("{name}: {e}"))?;
    let blocks = graph.blocks.len();
    Ok(NetInfo {
        name,
        residual: spec.residual,
        params: graph.param_count(),
        graph,
        inserted: vec![false; blocks],
        step_offset: 0,
        classes: Vec::new(),
    })
}

impl OpenedRun {
    fn empty(path: PathBuf, name: String) -> OpenedRun {
        OpenedRun {
            path,
            name,
            kind: RunKind::Train,
            nets: Vec::new(),
            lesion: None,
            landscape: None,
            problems: Vec::new(),
            tails: Vec::new(),
            summary: None,
        }
    }

    /// Reads what `path` holds: a run folder (train; the output folder of
    /// degradation, redundancy, lesion or landscape; a folder of train
    /// runs), a summary .json file itself, or a folder of such files (one
    /// run each). Its nets' colour slots count from 0 within the run (see
    /// `View::renumber_runs`).
    pub fn open_all(path: &Path) -> Result<Vec<OpenedRun>, String> {
        let name_of = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        if path.is_file() {
            let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if matches!(file, METRICS_FILE | CONFIG_FILE) {
                let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                return Self::open_all(&dir);
            }
            if !file.ends_with(".json") {
                return Err(format!(
                    "{}: not a run folder or a summary .json that reslab writes",
                    path.display()
                ));
            }
            let stem = file.trim_end_matches(".json").trim_end_matches("summary");
            let stem = stem.trim_end_matches(['_', '-']);
            let dir = path.parent().unwrap_or(Path::new("."));
            let name = if stem.is_empty() {
                name_of(dir)
            } else {
                stem.to_string()
            };
            let mut run = Self::empty(dir.to_path_buf(), name);
            run.summary = Some((path.to_path_buf(), None));
            run.read_summary()?;
            return Ok(vec![run]);
        }
        if !path.is_dir() {
            return Err(format!("{}: no such file or folder", path.display()));
        }
        let dir = path.to_path_buf();
        let mut run = Self::empty(dir.clone(), name_of(&dir));
        if dir.join(CONFIG_FILE).is_file() {
            run.add_train(&dir)?;
            run.refresh()?;
            return Ok(vec![run]);
        }
        if dir.join(SUMMARY_FILE).is_file() {
            return Self::open_all(&dir.join(SUMMARY_FILE)).map(|mut v| {
                v[0].name = name_of(&dir);
                v
            });
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let summaries: Vec<&PathBuf> = entries
            .iter()
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with("summary.json"))
            })
            .collect();
        if !summaries.is_empty() {
            let mut out = Vec::new();
            for s in summaries {
                out.append(&mut Self::open_all(s)?);
            }
            return Ok(out);
        }
        let subs: Vec<&PathBuf> = entries
            .iter()
            .filter(|p| p.join(CONFIG_FILE).is_file())
            .collect();
        if subs.is_empty() {
            return Err(format!(
                "{}: neither a train run (config.json, metrics.jsonl) nor the output of degradation, redundancy, lesion or landscape (summary.json)",
                dir.display()
            ));
        }
        run.kind = RunKind::Runs;
        for s in subs {
            run.add_train(s)?;
        }
        run.refresh()?;
        Ok(vec![run])
    }

    /// A folder of train runs: the subfolders with a config.json not read
    /// yet (a degradation run starts its nets one after another).
    fn new_subfolders(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return Vec::new();
        };
        let mut subs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(CONFIG_FILE).is_file())
            .filter(|p| !self.tails.iter().any(|t| t.path == p.join(METRICS_FILE)))
            .collect();
        subs.sort();
        subs
    }

    /// Adds the train run in `dir` as a net, its metrics to be read.
    fn add_train(&mut self, dir: &Path) -> Result<(), String> {
        let cfg = RunDir {
            path: dir.to_path_buf(),
        }
        .read_config()
        .map_err(|e| e.to_string())?;
        let (h, w) = input_side(dir, &cfg.data);
        let model = cfg.model.name();
        let label = if self.kind == RunKind::Train {
            format!("{}: {model}", self.name)
        } else {
            format!(
                "{}/{}",
                self.name,
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(model.clone())
            )
        };
        let mut n = NetView::new(info(model, &cfg.model, h, w)?, 0);
        n.label = label;
        let net = self.nets.len();
        n.slot = net;
        self.nets.push(n);
        self.tails.push(Tail {
            path: dir.join(METRICS_FILE),
            net,
            offset: 0,
            partial: Vec::new(),
            lines: 0,
        });
        Ok(())
    }

    /// Reads summary.json again (it is written whole, at once).
    fn read_summary(&mut self) -> Result<(), String> {
        let Some((path, _)) = self.summary.clone() else {
            return Ok(());
        };
        let when = modified(&path);
        let bytes = read_bounded(&path)?;
        let bad = |e: serde_json::Error| format!("{}: {e}", path.display());
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(bad)?;
        let has = |k: &str| v.get(k).is_some();
        let mut nets = Vec::new();
        if has("recipe") && has("depths") && has("nets") {
            self.kind = RunKind::Degradation;
            let s: degradation::Summary = serde_json::from_value(v).map_err(bad)?;
            let (h, w) = input_side(&self.path, &s.recipe.data);
            for r in &s.nets {
                let spec = ModelSpec {
                    depth: r.depth,
                    residual: r.residual,
                    ..s.recipe.model.clone()
                };
                let label = if s.seeds.len() > 1 {
                    format!("{}: {} seed {}", self.name, r.model, r.seed)
                } else {
                    format!("{}: {}", self.name, r.model)
                };
                let mut n = NetView::new(info(r.model.clone(), &spec, h, w)?, 0);
                n.label = label;
                let blocks = Arc::new(n.block_names());
                n.steps = steps_of(&r.curve);
                if let Some(last) = r.curve.last() {
                    n.tests = vec![[last.0 as f64, r.test_accuracy as f64, r.test_loss as f64]];
                }
                n.probes = probes_of(&r.r_over_training, &blocks);
                n.final_responses = Some(r.final_probe.response_std.clone());
                nets.push(n);
            }
        } else if has("shallow") && has("deep") && has("residual") {
            self.kind = RunKind::Redundancy;
            let s: redundancy::Summary = serde_json::from_value(v).map_err(bad)?;
            for r in s.residual.iter().chain(&s.plain) {
                let spec = ModelSpec::parse(&r.model, Some(Family::Cifar))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                // Block names and the inserted flags come from the summary;
                // the side only decides shapes, which this view does not show.
                let mut n = NetView::new(info(r.model.clone(), &spec, 32, 32)?, 0);
                n.label = format!("{}: {}", self.name, r.name);
                let blocks = Arc::new(r.blocks.clone());
                n.info.inserted = r.inserted.clone();
                n.steps = steps_of(&r.curve);
                if let Some(last) = r.curve.last() {
                    n.tests = vec![[last.0 as f64, r.test_accuracy as f64, f64::NAN]];
                }
                n.probes = probes_of(&r.r, &blocks);
                nets.push(n);
            }
        } else if has("single") && has("cumulative") {
            self.kind = RunKind::Lesion;
            self.lesion = Some(serde_json::from_value(v).map_err(bad)?);
        } else if has("mode") && has("xs") && has("loss") {
            self.kind = RunKind::Landscape;
            let s: landscape::Summary = serde_json::from_value(v).map_err(bad)?;
            let n = s.xs.len();
            let square = s.loss.len() == if s.mode == "2d" { n } else { 1 }
                && s.loss.iter().all(|r| r.len() == n)
                && n >= 2;
            if !square {
                return Err(format!(
                    "{}: the loss grid is not {n} wide and as tall as its mode says",
                    path.display()
                ));
            }
            self.landscape = Some(s);
        } else {
            return Err(format!(
                "{}: not a summary that reslab degradation, redundancy, lesion or landscape writes",
                path.display()
            ));
        }
        for (k, n) in nets.iter_mut().enumerate() {
            n.slot = k;
        }
        if !matches!(self.kind, RunKind::Lesion | RunKind::Landscape) {
            self.nets = nets;
        }
        self.summary = Some((path, when));
        Ok(())
    }

    /// Reads what was added since the last call: new lines of every
    /// metrics.jsonl, a rewritten summary.json. Returns whether anything
    /// changed.
    pub fn refresh(&mut self) -> Result<bool, String> {
        let mut changed = false;
        if self.kind == RunKind::Runs {
            for s in self.new_subfolders() {
                self.add_train(&s)?;
                changed = true;
            }
        }
        if let Some((p, when)) = &self.summary
            && modified(p) != *when
        {
            self.read_summary()?;
            changed = true;
        }
        for t in 0..self.tails.len() {
            changed |= self.read_tail(t);
        }
        Ok(changed)
    }

    fn read_tail(&mut self, t: usize) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let tail = &mut self.tails[t];
        let Ok(meta) = std::fs::metadata(&tail.path) else {
            return false;
        };
        let len = meta.len();
        if len < tail.offset {
            // Rewritten shorter (a resumed run drops lines after its
            // checkpoint): read it again from the start.
            let n = &mut self.nets[tail.net];
            n.steps.clear();
            n.tests.clear();
            n.probes.clear();
            tail.offset = 0;
            tail.partial.clear();
            tail.lines = 0;
        }
        if len == tail.offset {
            return false;
        }
        if len - tail.offset > MAX_FILE {
            self.problems.push(format!(
                "{}: {} new bytes, more than any run writes; not read",
                tail.path.display(),
                len - tail.offset
            ));
            tail.offset = len;
            return false;
        }
        let mut buf = Vec::new();
        let read = std::fs::File::open(&tail.path).and_then(|mut f| {
            f.seek(SeekFrom::Start(tail.offset))?;
            f.take(len - tail.offset).read_to_end(&mut buf)
        });
        if let Err(e) = read {
            self.problems.push(format!("{}: {e}", tail.path.display()));
            return false;
        }
        tail.offset += buf.len() as u64;
        tail.partial.extend_from_slice(&buf);
        let Some(end) = tail.partial.iter().rposition(|&b| b == b'\n') else {
            return false;
        };
        let complete: Vec<u8> = tail.partial.drain(..=end).collect();
        let (net, path) = (tail.net, tail.path.clone());
        let mut first_line = tail.lines;
        tail.lines += complete.split(|&b| b == b'\n').count() - 1;
        let n = &mut self.nets[net];
        let blocks = Arc::new(n.block_names());
        for line in complete.split(|&b| b == b'\n') {
            first_line += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = apply_line(n, &blocks, line)
                && self.problems.len() < 5
            {
                self.problems
                    .push(format!("{} line {first_line}: {e}", path.display()));
            }
        }
        true
    }

    /// The test accuracy (last evaluation) of each net, for the run list.
    pub fn summary_line(&self) -> String {
        let what = self.kind.describe();
        match self.kind {
            RunKind::Lesion => match &self.lesion {
                Some(l) => format!(
                    "{what} of {}: base accuracy {:.1}%, median drop {:.1} points",
                    l.model,
                    100.0 * l.base_accuracy,
                    100.0 * l.median_drop
                ),
                None => what.into(),
            },
            RunKind::Landscape => match &self.landscape {
                Some(l) => format!("{what} ({}) of {}", l.mode, l.model),
                None => what.into(),
            },
            _ => {
                let steps = self
                    .nets
                    .iter()
                    .filter_map(|n| n.steps.last().map(|s| s[0] as usize))
                    .max()
                    .unwrap_or(0);
                let n = self.nets.len();
                let nets = if n == 1 { "net" } else { "nets" };
                format!("{what}: {n} {nets}, {steps} steps")
            }
        }
    }
}

/// A summary's (step, loss, error) per logged interval as a net's steps
/// (step, loss, accuracy).
fn steps_of(curve: &[(usize, f32, f32)]) -> Vec<[f64; 3]> {
    curve
        .iter()
        .map(|&(s, l, e)| [s as f64, l as f64, 1.0 - e as f64])
        .collect()
}

/// A summary's r per block over training as probes of `blocks` (entries of
/// another length are left out).
fn probes_of(r: &[(usize, Vec<f32>)], blocks: &Arc<Vec<String>>) -> Vec<Probe> {
    r.iter()
        .filter(|(_, rs)| rs.len() == blocks.len())
        .map(|(step, rs)| Probe {
            step: *step,
            blocks: blocks.clone(),
            r: rs.clone(),
            response_std: Vec::new(),
        })
        .collect()
}

/// One line of metrics.jsonl into the net's history.
fn apply_line(n: &mut NetView, blocks: &Arc<Vec<String>>, line: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if v.get("probe").is_some() {
        let p: ProbeLog = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if p.probe.r.len() != blocks.len() {
            return Err(format!(
                "a probe of {} blocks; the net has {}",
                p.probe.r.len(),
                blocks.len()
            ));
        }
        n.probes.push(Probe {
            step: p.step,
            blocks: blocks.clone(),
            r: p.probe.r,
            response_std: p.probe.response_std,
        });
    } else if v.get("test_accuracy").is_some() {
        let e: EpochLog = serde_json::from_value(v).map_err(|e| e.to_string())?;
        n.tests
            .push([e.step as f64, e.test_accuracy as f64, e.test_loss as f64]);
    } else if v.get("images_per_s").is_some() {
        let s: StepLog = serde_json::from_value(v).map_err(|e| e.to_string())?;
        n.steps
            .push([s.step as f64, s.loss as f64, s.accuracy as f64]);
    } else {
        return Err("not a line reslab train writes".into());
    }
    Ok(())
}

/// The opened runs' lesion studies, for the Lesions tab.
pub fn lesions(runs: &[OpenedRun]) -> Vec<(&str, &lesion::Summary)> {
    runs.iter()
        .filter_map(|r| r.lesion.as_ref().map(|l| (r.name.as_str(), l)))
        .collect()
}
