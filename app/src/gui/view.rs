//! What the panels draw: plain data, filled from the worker's events. Tests
//! build one by hand and render the panels from it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use reslab::analysis::landscape;

use super::settings::RunSettings;
use super::worker::{Event, Layer, NetInfo};

/// One probe of a net: r per block and response std per 3x3 layer, with the
/// block names of the net it was taken from (growing changes the blocks).
#[derive(Debug, Clone)]
pub struct Probe {
    pub step: usize,
    pub blocks: Arc<Vec<String>>,
    pub r: Vec<f32>,
    pub response_std: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct NetView {
    pub info: NetInfo,
    /// The name its legends give it (a net of an opened run: its folder too).
    pub label: String,
    /// Its colour and line style (see [`NetView::color`]).
    pub slot: usize,
    /// The layer responses (std per 3x3 layer) the Responses tab draws, when
    /// they come from elsewhere than the last probe (a finished run's final
    /// evaluation-mode probe).
    pub final_responses: Option<Vec<f32>>,
    /// (step, loss, accuracy) per training step.
    pub steps: Vec<[f64; 3]>,
    /// (step, accuracy, loss) of the test evaluations.
    pub tests: Vec<[f64; 3]>,
    pub probes: Vec<Probe>,
    pub lesions: BTreeSet<usize>,
    /// Test accuracy with `lesions` bypassed, once evaluated.
    pub lesion_accuracy: Option<f32>,
}

impl NetView {
    pub fn new(info: NetInfo, slot: usize) -> Self {
        NetView {
            label: info.name.clone(),
            slot,
            final_responses: None,
            info,
            steps: Vec::new(),
            tests: Vec::new(),
            probes: Vec::new(),
            lesions: BTreeSet::new(),
            lesion_accuracy: None,
        }
    }

    pub fn block_names(&self) -> Vec<String> {
        self.info
            .graph
            .blocks
            .iter()
            .map(|b| b.name.clone())
            .collect()
    }

    /// r of block `name` in each probe (None where the block did not exist).
    pub fn r_history(&self, name: &str) -> Vec<(usize, Option<f32>)> {
        self.probes
            .iter()
            .map(|p| {
                (
                    p.step,
                    p.blocks.iter().position(|b| b == name).map(|i| p.r[i]),
                )
            })
            .collect()
    }

    /// The block's first r since its net (re)started and its latest, if known.
    pub fn r_first_last(&self, name: &str) -> Option<(f32, f32)> {
        let since = self.info.step_offset;
        let v: Vec<f32> = self
            .r_history(name)
            .into_iter()
            .filter(|(s, _)| *s > since)
            .filter_map(|(_, r)| r)
            .collect();
        Some((*v.first()?, *v.last()?))
    }

    /// A block whose F(x) is shrinking toward zero: r has at least halved since
    /// the net (re)started, or sits below 0.05.
    pub fn shrinking(&self, name: &str) -> bool {
        self.r_first_last(name)
            .is_some_and(|(a, b)| b < 0.05 || (a > 0.0 && b < 0.5 * a))
    }

    pub fn last_test(&self) -> Option<f64> {
        self.tests.last().map(|t| t[1])
    }

    /// Its colour: one of twelve, by its place in the lists.
    pub fn color(&self) -> egui::Color32 {
        slot_color(self.slot)
    }

    /// Its line style: residual nets solid, plain nets dashed.
    pub fn line_style(&self) -> egui_plot::LineStyle {
        if self.info.residual {
            egui_plot::LineStyle::Solid
        } else {
            egui_plot::LineStyle::dashed_dense()
        }
    }

    /// The response std per 3x3 layer (Fig. 7): of its final probe, or of
    /// its latest probe.
    pub fn responses(&self) -> Option<&[f32]> {
        self.final_responses
            .as_deref()
            .or_else(|| self.probes.last().map(|p| p.response_std.as_slice()))
            .filter(|r| !r.is_empty())
    }
}

/// The colour of list place `slot`: the live nets take slots 0–7, nets of
/// opened runs the slots after them.
pub fn slot_color(slot: usize) -> egui::Color32 {
    const PALETTE: [(u8, u8, u8); 12] = [
        (230, 120, 20),
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (23, 190, 207),
        (188, 189, 34),
        (127, 127, 127),
        (255, 187, 120),
        (174, 199, 232),
    ];
    let (r, g, b) = PALETTE[slot % PALETTE.len()];
    egui::Color32::from_rgb(r, g, b)
}

/// The central tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum Tab {
    #[default]
    Curves,
    Residuals,
    Responses,
    Activations,
    Lesions,
    Landscape,
    Model,
}

impl Tab {
    pub const ALL: [(Tab, &'static str); 7] = [
        (Tab::Curves, "Curves"),
        (Tab::Residuals, "F(x)"),
        (Tab::Responses, "Responses"),
        (Tab::Activations, "Activations"),
        (Tab::Lesions, "Lesions"),
        (Tab::Landscape, "Landscape"),
        (Tab::Model, "Model"),
    ];
}

/// A drawn pane of the activation view.
#[derive(Debug, Clone)]
pub struct PaneView {
    pub label: String,
    pub texture: egui::TextureId,
    pub size: [u32; 2],
}

#[derive(Clone, Default)]
pub struct ActivationView {
    pub net: usize,
    pub image: usize,
    pub file: String,
    pub use_file: bool,
    pub layer: Option<Layer>,
    /// The image itself, as the data set holds it.
    pub input: Option<super::worker::InputImage>,
    /// Its texture, once uploaded (the app does that).
    pub input_texture: Option<egui::TextureHandle>,
    pub panes: Vec<PaneView>,
    pub probs: Vec<f32>,
    pub label: Option<usize>,
}

#[derive(Default)]
pub struct View {
    pub settings: RunSettings,
    pub nets: Vec<NetView>,
    pub running: bool,
    pub status: String,
    pub error: Option<String>,
    pub tab: Tab,
    /// Rounds (one step of every net) per second.
    pub throughput: f32,
    pub activation: ActivationView,
    pub landscape: Option<(usize, landscape::Summary)>,
    pub landscape_net: usize,
    pub landscape_grid: usize,
    pub landscape_progress: Option<(usize, usize)>,
    pub class_names: Vec<String>,
    /// CPU milliseconds of the last frames while training (building and
    /// painting the UI).
    pub frame_ms: VecDeque<f32>,
    /// Milliseconds between the starts of the last frames while training.
    pub frame_gap_ms: VecDeque<f32>,
    pub save_dir: String,
    pub open: OpenForm,
    /// Run folders opened from disk, drawn beside the live nets.
    pub runs: Vec<super::runs::OpenedRun>,
    /// The "open a run" field.
    pub run_path: String,
    /// Where saved PNG and CSV files go.
    pub export_dir: String,
}

/// The run panel's "open a checkpoint" fields.
#[derive(Debug, Clone, Default)]
pub struct OpenForm {
    pub path: String,
    /// For a PyTorch state_dict: resnet20, resnet18, … (empty for reslab's).
    pub model: String,
    /// Comma-separated per-channel values; empty for the default.
    pub mean: String,
    pub std: String,
}

impl OpenForm {
    /// What the fields say of the checkpoint, or what is wrong with them.
    pub fn describe(&self) -> Result<reslab::analysis::Describe, String> {
        if self.path.trim().is_empty() {
            return Err("give the checkpoint's file".into());
        }
        let list = |name: &str, text: &str| -> Result<Option<Vec<f32>>, String> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            text.split(',')
                .map(|v| v.trim().parse::<f32>())
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
                .map_err(|_| format!("{name}: give numbers separated by commas, not {text:?}"))
        };
        let model = self.model.trim();
        Ok(reslab::analysis::Describe {
            model: (!model.is_empty()).then(|| model.to_string()),
            mean: list("mean", &self.mean)?,
            std: list("std", &self.std)?,
            ..Default::default()
        })
    }
}

impl View {
    pub fn new(settings: RunSettings) -> View {
        View {
            settings,
            landscape_grid: 11,
            save_dir: "runs/gui".into(),
            export_dir: "runs/gui/exports".into(),
            ..Default::default()
        }
    }

    /// Every net drawn in the Curves, F(x) and Responses tabs: the live
    /// nets, then those of the opened runs.
    pub fn all_nets(&self) -> impl Iterator<Item = &NetView> {
        self.nets
            .iter()
            .chain(self.runs.iter().flat_map(|r| r.nets.iter()))
    }

    /// Gives the opened runs' nets consecutive colour slots after the live
    /// nets' (runs are opened, closed, and gain nets as they are written).
    pub fn renumber_runs(&mut self) {
        let nets = self.runs.iter_mut().flat_map(|r| r.nets.iter_mut());
        for (slot, n) in (super::settings::MAX_NETS..).zip(nets) {
            n.slot = slot;
        }
    }

    pub fn step(&self) -> usize {
        self.nets
            .iter()
            .filter_map(|n| n.steps.last())
            .map(|s| s[0] as usize)
            .max()
            .unwrap_or(0)
    }

    /// Applies a worker event; a new activation's textures come registered
    /// (`register` turns a texture view into an egui texture).
    pub fn apply(
        &mut self,
        e: Event,
        register: &mut dyn FnMut(&wgpu::TextureView) -> Option<egui::TextureId>,
    ) {
        match e {
            Event::Nets { nets, fresh } => {
                if !fresh && nets.len() == self.nets.len() {
                    for (v, info) in self.nets.iter_mut().zip(nets) {
                        v.label = info.name.clone();
                        v.info = info;
                        v.lesions.clear();
                        v.lesion_accuracy = None;
                    }
                } else {
                    self.nets = nets
                        .into_iter()
                        .enumerate()
                        .map(|(i, info)| NetView::new(info, i))
                        .collect();
                    self.activation.panes.clear();
                    self.activation.input = None;
                    self.activation.input_texture = None;
                    self.landscape = None;
                }
            }
            Event::Running(r) => self.running = r,
            Event::Step {
                net,
                step,
                loss,
                accuracy,
            } => {
                if let Some(n) = self.nets.get_mut(net) {
                    n.steps.push([step as f64, loss as f64, accuracy as f64]);
                }
            }
            Event::Probe {
                net,
                step,
                r,
                response_std,
            } => {
                if let Some(n) = self.nets.get_mut(net) {
                    let blocks = match n.probes.last() {
                        Some(p) if p.blocks.len() == r.len() && *p.blocks == n.block_names() => {
                            p.blocks.clone()
                        }
                        _ => Arc::new(n.block_names()),
                    };
                    n.probes.push(Probe {
                        step,
                        blocks,
                        r,
                        response_std,
                    });
                }
            }
            Event::Test {
                net,
                step,
                accuracy,
                loss,
            } => {
                if let Some(n) = self.nets.get_mut(net) {
                    n.tests.push([step as f64, accuracy as f64, loss as f64]);
                    if !n.lesions.is_empty() {
                        n.lesion_accuracy = Some(accuracy);
                    }
                }
            }
            Event::Throughput(t) => self.throughput = t,
            Event::Lesion {
                net,
                blocks,
                accuracy,
            } => {
                if let Some(n) = self.nets.get_mut(net) {
                    n.lesions = blocks;
                    n.lesion_accuracy = Some(accuracy);
                }
            }
            Event::Activation {
                net,
                layer,
                input,
                panes,
                probs,
                label,
            } => {
                self.activation.input = Some(input);
                self.activation.input_texture = None;
                self.activation.net = net;
                self.activation.layer = Some(layer);
                self.activation.panes = panes
                    .into_iter()
                    .filter_map(|p| {
                        register(&p.view).map(|texture| PaneView {
                            label: p.label,
                            texture,
                            size: p.size,
                        })
                    })
                    .collect();
                self.activation.probs = probs;
                self.activation.label = label;
            }
            Event::LandscapeProgress(done, total) => self.landscape_progress = Some((done, total)),
            Event::Landscape { net, summary } => {
                self.landscape_progress = None;
                self.landscape = Some((net, summary));
            }
            Event::Message(m) => {
                self.status = m;
                self.error = None;
            }
            Event::Error(e) => self.error = Some(e),
        }
    }

    /// Median and 95th percentile of the recent frames' CPU times (ms).
    pub fn frame_stats(&self) -> Option<(f32, f32)> {
        median_p95(&self.frame_ms)
    }

    /// Median and 95th percentile of the recent intervals between frames (ms).
    pub fn frame_gap_stats(&self) -> Option<(f32, f32)> {
        median_p95(&self.frame_gap_ms)
    }

    /// Records one frame while training: its CPU time and the time since the
    /// previous frame (`None` for the first), keeping the last 300.
    pub fn record_frame(&mut self, cpu_ms: Option<f32>, gap_ms: Option<f32>) {
        for (q, v) in [
            (&mut self.frame_ms, cpu_ms),
            (&mut self.frame_gap_ms, gap_ms),
        ] {
            if let Some(v) = v {
                q.push_back(v);
                if q.len() > 300 {
                    q.pop_front();
                }
            }
        }
    }
}

fn median_p95(q: &VecDeque<f32>) -> Option<(f32, f32)> {
    if q.is_empty() {
        return None;
    }
    let mut v: Vec<f32> = q.iter().copied().collect();
    v.sort_by(f32::total_cmp);
    Some((v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)]))
}
