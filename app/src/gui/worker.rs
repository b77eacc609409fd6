//! The background thread that trains, probes, evaluates and draws activations,
//! on the device the window renders with. The UI sends [`Command`]s and drains
//! [`Event`]s each frame; it never waits for this thread.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reslab::analysis::landscape::{self, Directions};
use reslab::analysis::redundancy::{self, Insert};
use reslab::analysis::{Describe, Trained, activations};
use reslab::data::loader::image_batch;
use reslab::data::{DataSpec, Dataset, Split};
use reslab::kernels::Program;
use reslab::model::plan::PlanOptions;
use reslab::model::{Graph, Mode, Parts, Plan};
use reslab::train::{Evaluator, Event as TrainEvent, Start, TrainConfig, Trainer};
use reslab::{Gpu, Tensor};

use super::settings::RunSettings;

pub use reslab::analysis::activations::Layer;

/// Which image the activation view shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// Test image by index.
    Test(usize),
    /// An image file, resized and normalised as the data set is.
    File(PathBuf),
}

pub enum Command {
    /// (Re)build the nets from the settings: fresh weights, step 0.
    Reset(RunSettings),
    Start,
    Pause,
    /// One step of every net, then pause.
    Step,
    /// Insert blocks into every net (the grow depth and init of the settings).
    Grow {
        depth: usize,
        init: Insert,
    },
    /// Blocks bypassed in net `net`'s evaluation.
    SetLesions {
        net: usize,
        blocks: BTreeSet<usize>,
    },
    ShowActivation {
        net: usize,
        image: Image,
        layer: Layer,
    },
    /// A loss landscape of net `net` computed here.
    Landscape {
        net: usize,
        grid: usize,
        range: f64,
        samples: usize,
    },
    /// Checkpoints of every net into this folder.
    Save(PathBuf),
    /// Weights of every net from this folder (as Save writes it).
    Load(PathBuf),
    /// One net from a checkpoint (reslab's, or a PyTorch state_dict that
    /// `describe` says what it is), in place of the nets, on the data of
    /// the run settings.
    Open {
        path: PathBuf,
        describe: Describe,
    },
}

/// A net as the UI lists it.
#[derive(Debug, Clone)]
pub struct NetInfo {
    pub name: String,
    pub residual: bool,
    pub graph: Graph,
    /// Per block: inserted by growing (true) or not.
    pub inserted: Vec<bool>,
    pub params: usize,
    /// The step this net (re)started at in the shared step count.
    pub step_offset: usize,
    /// The names of the classes it predicts.
    pub classes: Vec<String>,
}

/// A drawn activation: a texture and what it shows.
pub struct Pane {
    pub label: String,
    pub view: wgpu::TextureView,
    pub size: [u32; 2],
}

/// The image a net was shown, as a person sees it (RGBA, the
/// normalisation undone).
#[derive(Debug, Clone)]
pub struct InputImage {
    pub size: [usize; 2],
    pub rgba: Vec<u8>,
}

pub enum Event {
    /// The nets: `fresh` after a reset or an opened checkpoint (their
    /// histories start anew), not after growing or loading weights (the
    /// curves go on).
    Nets {
        nets: Vec<NetInfo>,
        fresh: bool,
    },
    Running(bool),
    Step {
        net: usize,
        step: usize,
        loss: f32,
        accuracy: f32,
    },
    Probe {
        net: usize,
        step: usize,
        r: Vec<f32>,
        response_std: Vec<f32>,
    },
    Test {
        net: usize,
        step: usize,
        accuracy: f32,
        loss: f32,
    },
    /// Steps of all nets per second, over the last round.
    Throughput(f32),
    Lesion {
        net: usize,
        blocks: BTreeSet<usize>,
        accuracy: f32,
    },
    Activation {
        net: usize,
        layer: Layer,
        input: InputImage,
        panes: Vec<Pane>,
        probs: Vec<f32>,
        label: Option<usize>,
    },
    LandscapeProgress(usize, usize),
    Landscape {
        net: usize,
        summary: landscape::Summary,
    },
    Message(String),
    Error(String),
}

/// How long GPU work stays held back after the user's last input.
const HOLD_AFTER_INPUT: Duration = Duration::from_millis(250);

/// When the window last had input from its user (a click, a key, a scroll).
/// Training holds its next part of a step back until [`HOLD_AFTER_INPUT`]
/// has passed since, so the frames that answer the input do not queue behind
/// GPU work (on a CPU adapter they share the cores as well as the queue).
#[derive(Debug, Default)]
pub struct UiGate {
    input_at: Mutex<Option<Instant>>,
}

impl UiGate {
    /// The user did something.
    pub fn touch(&self) {
        *self.input_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Returns once no input came for [`HOLD_AFTER_INPUT`].
    pub fn hold(&self) {
        loop {
            let at = *self.input_at.lock().unwrap_or_else(|e| e.into_inner());
            let left = at.map_or(Duration::ZERO, |t| {
                HOLD_AFTER_INPUT.saturating_sub(t.elapsed())
            });
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left);
        }
    }
}

/// The UI's end of the worker.
pub struct Worker {
    pub tx: Sender<Command>,
    pub rx: Receiver<Event>,
    /// Touched by the window on input (see [`UiGate`]).
    pub gate: Arc<UiGate>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread; `wake` is called after events are sent (a repaint
    /// request), with `true` for events a person waits for (a finished
    /// command, an error) and `false` for the stream of training progress,
    /// which the window may gather into fewer frames.
    pub fn spawn(gpu: Gpu, settings: RunSettings, wake: impl Fn(bool) + Send + 'static) -> Worker {
        let (tx, crx) = channel();
        let (etx, rx) = channel();
        let gate = Arc::new(UiGate::default());
        let held = gate.clone();
        let state_gate = gate.clone();
        let parts = Parts {
            dispatches: STEP_PART,
            between: Some(Arc::new(move || held.hold())),
        };
        let handle = std::thread::Builder::new()
            .name("reslab-trainer".into())
            .spawn(move || {
                let mut w = State {
                    gpu,
                    settings,
                    data: None,
                    data_dir_loaded: None,
                    nets: Vec::new(),
                    running: false,
                    tx: etx,
                    wake: Box::new(wake),
                    views: HashMap::new(),
                    last_image: None,
                    parts,
                    gate: state_gate,
                };
                w.reset();
                w.main(crx);
            })
            .ok();
        Worker {
            tx,
            rx,
            gate,
            handle,
        }
    }

    pub fn send(&self, c: Command) {
        let _ = self.tx.send(c);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (tx, _) = channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Net {
    trainer: Trainer,
    info: NetInfo,
    lesions: BTreeSet<usize>,
    /// Evaluates on the first test images with the current lesions.
    evaluator: Evaluator,
}

/// Batch-1 plans for the activation view, per net and lesion set.
struct ViewPlan {
    plan: Plan,
    range: Vec<Tensor>,
}

struct State {
    gpu: Gpu,
    settings: RunSettings,
    data: Option<Arc<Dataset>>,
    /// The folder `data` was read from (a folder of images).
    data_dir_loaded: Option<PathBuf>,
    nets: Vec<Net>,
    running: bool,
    tx: Sender<Event>,
    wake: Box<dyn Fn(bool) + Send>,
    views: HashMap<(usize, BTreeSet<usize>), ViewPlan>,
    last_image: Option<(usize, Image, Layer)>,
    /// How training steps and evaluations are submitted.
    parts: Parts,
    gate: Arc<UiGate>,
}

/// Test images used for the live evaluations (all of them is too slow to repeat).
const EVAL_IMAGES: usize = 1000;

impl State {
    fn send(&self, e: Event) {
        let progress = matches!(
            e,
            Event::Step { .. }
                | Event::Probe { .. }
                | Event::Test { .. }
                | Event::Throughput(_)
                | Event::LandscapeProgress(..)
        );
        let _ = self.tx.send(e);
        (self.wake)(!progress);
    }

    fn error(&self, e: impl std::fmt::Display) {
        self.send(Event::Error(e.to_string()));
    }

    fn main(&mut self, rx: Receiver<Command>) {
        loop {
            let cmd = if self.running {
                match rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            };
            if let Some(c) = cmd {
                self.handle(c);
                continue;
            }
            if let Err(e) = self.round() {
                self.running = false;
                self.send(Event::Running(false));
                self.error(format!("training stopped: {e}"));
            }
        }
    }

    fn handle(&mut self, c: Command) {
        match c {
            Command::Reset(s) => {
                self.settings = s;
                self.reset();
            }
            Command::Start => {
                self.running = !self.nets.is_empty();
                self.send(Event::Running(self.running));
            }
            Command::Pause => {
                self.running = false;
                self.send(Event::Running(false));
            }
            Command::Step => {
                self.running = false;
                self.send(Event::Running(false));
                if let Err(e) = self.round() {
                    self.error(e);
                }
            }
            Command::Grow { depth, init } => {
                if let Err(e) = self.grow(depth, init) {
                    self.error(format!("growing failed: {e}"));
                }
            }
            Command::SetLesions { net, blocks } => {
                if let Err(e) = self.lesion(net, blocks) {
                    self.error(format!("lesion failed: {e}"));
                }
            }
            Command::ShowActivation { net, image, layer } => {
                if let Err(e) = self.activation(net, &image, layer) {
                    self.error(format!("activation view: {e}"));
                }
            }
            Command::Landscape {
                net,
                grid,
                range,
                samples,
            } => {
                if let Err(e) = self.landscape(net, grid, range, samples) {
                    self.error(format!("landscape failed: {e}"));
                }
            }
            Command::Save(dir) => match self.save(&dir) {
                Ok(()) => self.send(Event::Message(format!(
                    "saved checkpoints into {}",
                    dir.display()
                ))),
                Err(e) => self.error(format!("saving failed: {e}")),
            },
            Command::Load(dir) => match self.load(&dir) {
                Ok(n) => self.send(Event::Message(format!(
                    "loaded {n} nets from {}",
                    dir.display()
                ))),
                Err(e) => self.error(format!("loading failed: {e}")),
            },
            Command::Open { path, describe } => match self.open(&path, &describe) {
                Ok(name) => self.send(Event::Message(format!("opened {}: {name}", path.display()))),
                Err(e) => self.error(format!("opening failed: {e}")),
            },
        }
    }

    fn load_data(&mut self) -> reslab::Result<Arc<Dataset>> {
        let s = &self.settings;
        let spec = DataSpec {
            name: s.data.clone(),
            dir: (!s.data_dir.is_empty()).then(|| PathBuf::from(&s.data_dir)),
            synthetic: reslab::data::synthetic::SyntheticSpec {
                side: s.image_size,
                ..Default::default()
            },
            train_limit: None,
            // A folder of images, cropped to the image size (CIFAR-family nets).
            folder: reslab::data::folder::FolderSpec {
                side: s.image_size,
                ..Default::default()
            },
        };
        if let Some(d) = &self.data
            && d.name == spec.name
            && (!matches!(spec.name.as_str(), "synthetic" | "folder") || d.train.h == s.image_size)
            && (spec.name != "folder" || self.data_dir_loaded == spec.dir)
        {
            return Ok(d.clone());
        }
        let d = Arc::new(reslab::data::load(&spec)?);
        self.data = Some(d.clone());
        self.data_dir_loaded = spec.dir.clone();
        Ok(d)
    }

    fn config(&self, model: reslab::model::ModelSpec) -> TrainConfig {
        let s = &self.settings;
        TrainConfig {
            model,
            data: DataSpec::default(),
            epochs: 1,
            // Open-ended: the user pauses.
            steps: Some(10_000_000),
            batch: s.batch,
            lr: s.lr,
            warmup: s.warmup,
            schedule: reslab::train::Schedule::Constant,
            seed: s.seed,
            log_every: 5,
            probe_every: s.probe_every.max(1),
            ..Default::default()
        }
    }

    fn send_nets(&self, fresh: bool) {
        self.send(Event::Nets {
            nets: self.nets.iter().map(|n| n.info.clone()).collect(),
            fresh,
        });
    }

    /// Refuses a list of nets whose training plans (with their evaluators)
    /// would not fit in the memory this machine has; says how much they take.
    fn memory_check(
        &self,
        specs: &[(String, reslab::model::ModelSpec)],
        data: &Dataset,
    ) -> reslab::Result<String> {
        use reslab::model::memory::{Allowance, MemoryNeed};
        let mut total = 0u64;
        for (_, spec) in specs {
            let g = Graph::build(spec, data.train.h, data.train.w)?;
            let train = MemoryNeed::of(&g, self.settings.batch, Mode::Train, true)?;
            let eval = MemoryNeed::of(&g, EVAL_BATCH, Mode::Eval, false)?;
            total = total
                .saturating_add(train.device + train.host)
                .saturating_add(eval.device + eval.host);
        }
        let human = reslab::files::human_bytes;
        match Allowance::of(&self.gpu).budget {
            Some(b) if total > b => Err(reslab::Error::DoesNotFit(format!(
                "the {} nets need about {} of memory and {} is available: remove a net, or lower the batch or width",
                specs.len(),
                human(total),
                human(b)
            ))),
            Some(b) => Ok(format!(
                "about {} of memory ({} available)",
                human(total),
                human(b)
            )),
            None => Ok(format!("about {} of memory", human(total))),
        }
    }

    fn reset(&mut self) {
        self.running = false;
        self.nets.clear();
        self.views.clear();
        self.send(Event::Running(false));
        let built = (|| -> reslab::Result<(Vec<Net>, String)> {
            let data = self.load_data()?;
            let specs = self.settings.specs(data.train.c, data.class_names.len())?;
            let need = self.memory_check(&specs, &data)?;
            let nets = specs
                .into_iter()
                .map(|(name, spec)| {
                    let t = Trainer::new(&self.gpu, self.config(spec), data.clone(), None)?;
                    Ok(net_of(t, name, None, 0, &self.parts))
                })
                .collect::<reslab::Result<Vec<Net>>>()?;
            Ok((nets, need))
        })();
        match built {
            Ok((nets, need)) => {
                self.nets = nets;
                self.send_nets(true);
                self.send(Event::Message(format!(
                    "ready: {} nets, {need}",
                    self.nets.len()
                )));
            }
            Err(e) => self.error(format!("cannot build the nets: {e}")),
        }
    }

    /// One step of every net, and the evaluations that fall due.
    fn round(&mut self) -> reslab::Result<()> {
        let start = Instant::now();
        let eval_every = self.settings.eval_every.max(1);
        for i in 0..self.nets.len() {
            // Each net's results go out as soon as it has stepped.
            self.gate.hold();
            let mut events = Vec::new();
            let n = &mut self.nets[i];
            let off = n.info.step_offset;
            n.trainer.run_steps(1, None, &mut |e| {
                match e {
                    TrainEvent::Step {
                        step,
                        loss,
                        accuracy,
                        ..
                    } => events.push(Event::Step {
                        net: i,
                        step: off + step + 1,
                        loss: *loss,
                        accuracy: *accuracy,
                    }),
                    TrainEvent::Probe(p) => events.push(Event::Probe {
                        net: i,
                        step: off + p.step,
                        r: p.probe.r.clone(),
                        response_std: p.probe.response_std.clone(),
                    }),
                    _ => {}
                }
                true
            })?;
            let step = off + n.trainer.step;
            if step.is_multiple_of(eval_every)
                && let Some(d) = &self.data
            {
                let test = subset(&d.test, EVAL_IMAGES);
                let (loss, accuracy) =
                    n.evaluator
                        .evaluate(&n.trainer.params, &test, &n.trainer.norm)?;
                events.push(Event::Test {
                    net: i,
                    step,
                    accuracy,
                    loss,
                });
            }
            for e in events {
                self.send(e);
            }
        }
        self.send(Event::Throughput(
            1.0 / start.elapsed().as_secs_f32().max(1e-6),
        ));
        // Keep the activation view current while training.
        if let Some((net, image, layer)) = self.last_image.clone()
            && self
                .nets
                .first()
                .is_some_and(|n| (n.info.step_offset + n.trainer.step).is_multiple_of(eval_every))
        {
            self.activation(net, &image, layer)?;
        }
        Ok(())
    }

    /// Grows every net shallower than `depth` to `depth` (each keeps its
    /// blocks and gets new ones initialised by `init`); deeper nets train on
    /// as they are.
    fn grow(&mut self, depth: usize, init: Insert) -> reslab::Result<()> {
        let data = self.load_data()?;
        let mut grown = Vec::new();
        let mut kept = Vec::new();
        for n in &self.nets {
            let shallow = &n.trainer.graph;
            if shallow.spec.depth >= depth {
                kept.push(n.info.name.clone());
                grown.push(None);
                continue;
            }
            let mut spec = shallow.spec.clone();
            spec.depth = depth;
            let deep = Graph::build(&spec, data.train.h, data.train.w)?;
            let host = n.trainer.params.download(&self.gpu)?;
            let (params, inserted) =
                redundancy::grow(shallow, &host, &deep, init, self.settings.seed ^ 0x6120)?;
            let t = Trainer::new(
                &self.gpu,
                self.config(spec),
                data.clone(),
                Some(Start {
                    params,
                    momentum: None,
                    step: 0,
                }),
            )?;
            let name = grown_name(&n.info.name, shallow.spec.depth, depth);
            grown.push(Some(net_of(
                t,
                name,
                Some(inserted),
                n.info.step_offset + n.trainer.step,
                &self.parts,
            )));
        }
        if grown.iter().all(Option::is_none) {
            return Err(reslab::Error::invalid(format!(
                "every net is already {depth} layers deep or deeper: raise the grow depth"
            )));
        }
        for (n, g) in self.nets.iter_mut().zip(grown) {
            if let Some(g) = g {
                *n = g;
            }
        }
        self.views.clear();
        self.send_nets(false);
        let mut msg = format!("grew the nets to depth {depth} ({init} inserted blocks)");
        if !kept.is_empty() {
            msg.push_str(&format!("; {} already that deep", kept.join(", ")));
        }
        self.send(Event::Message(msg));
        Ok(())
    }

    fn lesion(&mut self, net: usize, blocks: BTreeSet<usize>) -> reslab::Result<()> {
        let data = self.load_data()?;
        let n = self
            .nets
            .get_mut(net)
            .ok_or_else(|| reslab::Error::invalid("no such net"))?;
        let test = subset(&data.test, EVAL_IMAGES);
        n.evaluator =
            Evaluator::with_lesions(&self.gpu, &n.trainer.graph, EVAL_BATCH, blocks.clone());
        n.evaluator.parts = Some(self.parts.clone());
        let (_, accuracy) = n
            .evaluator
            .evaluate(&n.trainer.params, &test, &n.trainer.norm)?;
        n.lesions = blocks.clone();
        self.send(Event::Lesion {
            net,
            blocks,
            accuracy,
        });
        if let Some((n, image, layer)) = self.last_image.clone()
            && n == net
        {
            self.activation(net, &image, layer)?;
        }
        Ok(())
    }

    /// Runs the chosen image through net `net` (BN eval, its lesions) and draws
    /// the layer's channel maps into textures; only the logits come back.
    fn activation(&mut self, net: usize, image: &Image, layer: Layer) -> reslab::Result<()> {
        let data = self.load_data()?;
        let n = self
            .nets
            .get(net)
            .ok_or_else(|| reslab::Error::invalid("no such net"))?;
        let (pixels, label) = match image {
            Image::Test(i) => {
                let i = (*i).min(data.test.len().saturating_sub(1));
                let b = image_batch(&data.test, &n.trainer.norm, i)?;
                (b.images, Some(b.labels[0] as usize))
            }
            Image::File(p) => {
                let (c, h, w) = (data.train.c, data.train.h, data.train.w);
                (
                    reslab::data::image::load(p, c, h, w, &n.trainer.norm)?,
                    None,
                )
            }
        };
        let input = input_image(
            &pixels,
            [data.train.c, data.train.h, data.train.w],
            &n.trainer.norm,
        );
        let key = (net, n.lesions.clone());
        if !self.views.contains_key(&key) {
            let opts = PlanOptions {
                lesions: n.lesions.clone(),
                ..Default::default()
            };
            let plan = Plan::new(
                &self.gpu,
                &n.trainer.graph,
                &n.trainer.params,
                1,
                Mode::Eval,
                opts,
            )?;
            self.views.insert(
                key.clone(),
                ViewPlan {
                    plan,
                    range: Vec::new(),
                },
            );
        }
        let vp = self.views.get_mut(&key).expect("inserted above");
        vp.plan.run(&pixels, &[0], None, false)?;
        let g = &n.trainer.graph;
        let sources = activations::panes(&vp.plan, layer)?;
        let mut panes = Vec::new();
        let mut views = Vec::new();
        for p in &sources {
            let [c, h, w] = p.dims()?;
            let (_, tw, th) = reslab::ops::colormap::grid(c, h, w);
            let tex = self.gpu.device().create_texture(&wgpu::TextureDescriptor {
                label: Some("activation"),
                size: wgpu::Extent3d {
                    width: tw as u32,
                    height: th as u32,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            });
            let view = tex.create_view(&wgpu::TextureViewDescriptor::default());
            views.push(view.clone());
            panes.push(Pane {
                label: p.label.clone(),
                view,
                size: [tw as u32, th as u32],
            });
        }
        let mut prog = Program::new();
        // A block's panes share x's range: F(x) beside x shows how much the
        // branch changes.
        let joint = matches!(layer, Layer::Block(_));
        vp.range = activations::draw(&self.gpu, &mut prog, &sources, &views, 0, joint)?;
        prog.run(&self.gpu)?;
        let logits = self.gpu.read(&vp.plan.acts[g.logits])?;
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = logits.iter().map(|v| (v - m).exp()).sum();
        let probs = logits.iter().map(|v| (v - m).exp() / z).collect();
        self.last_image = Some((net, image.clone(), layer));
        self.send(Event::Activation {
            net,
            layer,
            input,
            panes,
            probs,
            label,
        });
        Ok(())
    }

    fn landscape(
        &mut self,
        net: usize,
        grid: usize,
        range: f64,
        samples: usize,
    ) -> reslab::Result<()> {
        let data = self.load_data()?;
        let n = self
            .nets
            .get(net)
            .ok_or_else(|| reslab::Error::invalid("no such net"))?;
        let host = n.trainer.params.download(&self.gpu)?;
        let tx = self.tx.clone();
        let summary = landscape::run(
            &self.gpu,
            &n.trainer.graph,
            &host,
            &data.test,
            &n.trainer.norm,
            samples,
            grid,
            (-range, range),
            &Directions::Plane {
                seed: self.settings.seed,
            },
            &mut |done, total| {
                let _ = tx.send(Event::LandscapeProgress(done, total));
                (self.wake)(false);
            },
        )?;
        self.send(Event::Landscape { net, summary });
        Ok(())
    }

    /// Replaces each net's weights by `dir/<net name>/checkpoint.safetensors`
    /// (the momentum starts afresh); the nets must match the checkpoints.
    fn load(&mut self, dir: &std::path::Path) -> reslab::Result<usize> {
        let data = self.load_data()?;
        let mut loaded = 0;
        for i in 0..self.nets.len() {
            let path = dir
                .join(&self.nets[i].info.name)
                .join(reslab::train::CHECKPOINT_FILE);
            if !path.exists() {
                continue;
            }
            let t = reslab::analysis::load_trained(&path)?;
            let n = &self.nets[i];
            if t.card.model != n.trainer.cfg.model
                || t.card.input != [data.train.c, data.train.h, data.train.w]
            {
                return Err(reslab::Error::file(
                    &path,
                    format!(
                        "holds a {} for {:?} inputs, not this {}",
                        t.card.model.name(),
                        t.card.input,
                        n.info.name
                    ),
                ));
            }
            let start = Start {
                params: t.params,
                momentum: None,
                step: 0,
            };
            let trainer =
                Trainer::new(&self.gpu, n.trainer.cfg.clone(), data.clone(), Some(start))?;
            let (inserted, offset) = (n.info.inserted.clone(), n.info.step_offset + n.trainer.step);
            let name = n.info.name.clone();
            self.nets[i] = net_of(trainer, name, Some(inserted), offset.max(1), &self.parts);
            loaded += 1;
        }
        if loaded == 0 {
            return Err(reslab::Error::file(
                dir,
                "holds no checkpoint of these nets",
            ));
        }
        self.views.clear();
        self.send_nets(false);
        Ok(loaded)
    }

    /// Replaces the nets by the one `path` holds; returns its name.
    fn open(&mut self, path: &std::path::Path, describe: &Describe) -> reslab::Result<String> {
        let opened = reslab::analysis::open(path)?;
        let data = self.load_data()?;
        let Trained { card, params, .. } = opened.trained(describe, &data)?;
        let start = Start {
            params,
            momentum: None,
            step: 0,
        };
        let mut trainer = Trainer::new(
            &self.gpu,
            self.config(card.model.clone()),
            data.clone(),
            Some(start),
        )?;
        // Its inputs normalised as it was trained, whatever the data's statistics.
        trainer.norm = reslab::data::Normalize {
            mean: card.mean.clone(),
            std: card.std.clone(),
        };
        let name = card.model.name();
        let mut net = net_of(trainer, name, None, 0, &self.parts);
        net.info.classes = card.classes.clone();
        // What the net is as opened: its test accuracy and its probes (BN in
        // eval mode), the first points of the curves and the F(x) view.
        let test = subset(&data.test, EVAL_IMAGES);
        let (loss, accuracy) =
            net.evaluator
                .evaluate(&net.trainer.params, &test, &net.trainer.norm)?;
        let probe = reslab::analysis::degradation::eval_probe(&self.gpu, &net.trainer)?;
        let name = format!(
            "{}, test accuracy {:.1}% on {} images",
            net.info.name,
            100.0 * accuracy,
            test.len()
        );
        self.running = false;
        self.send(Event::Running(false));
        self.nets = vec![net];
        self.views.clear();
        self.last_image = None;
        self.send_nets(true);
        self.send(Event::Test {
            net: 0,
            step: 0,
            accuracy,
            loss,
        });
        self.send(Event::Probe {
            net: 0,
            step: 0,
            r: probe.r,
            response_std: probe.response_std,
        });
        Ok(name)
    }

    fn save(&self, dir: &std::path::Path) -> reslab::Result<()> {
        for n in &self.nets {
            let d = reslab::train::RunDir::create(&dir.join(&n.info.name), true)?;
            reslab::train::write_config(&d, &n.trainer.cfg)?;
            n.trainer.save(&d)?;
        }
        Ok(())
    }
}

/// Dispatches per submission of a training step: the window's frames share
/// the queue, and wait for one part of a step instead of whole steps.
const STEP_PART: usize = 12;

/// Batch of the live test evaluations.
const EVAL_BATCH: usize = 100;

/// A grown net's name: its depth replaced (resnet20#2 grown to 32: resnet32#2).
fn grown_name(name: &str, from: usize, to: usize) -> String {
    name.replacen(&from.to_string(), &to.to_string(), 1)
}

fn net_of(
    mut t: Trainer,
    name: String,
    inserted: Option<Vec<bool>>,
    step_offset: usize,
    parts: &Parts,
) -> Net {
    t.parts = Some(parts.clone());
    // The app evaluates every `RunSettings::eval_every` steps itself.
    t.evaluate_epochs = false;
    let blocks = t.graph.blocks.len();
    let mut evaluator = Evaluator::new(&t.gpu, &t.graph, EVAL_BATCH);
    evaluator.parts = Some(parts.clone());
    Net {
        evaluator,
        info: NetInfo {
            name,
            residual: t.cfg.model.residual,
            graph: t.graph.clone(),
            inserted: inserted.unwrap_or(vec![false; blocks]),
            params: t.params.count(),
            step_offset,
            classes: t.data.class_names.clone(),
        },
        trainer: t,
        lesions: BTreeSet::new(),
    }
}

/// A normalised c×h×w image as a person sees it: the normalisation undone,
/// clamped to [0, 1]; one channel as grey, three as RGB (others: the first).
pub fn input_image(
    pixels: &[f32],
    [c, h, w]: [usize; 3],
    norm: &reslab::data::Normalize,
) -> InputImage {
    let plane = h * w;
    let value = |ch: usize, i: usize| -> u8 {
        let ch = ch.min(c.saturating_sub(1));
        let x = pixels.get(ch * plane + i).copied().unwrap_or(0.0);
        let m = norm.mean.get(ch).copied().unwrap_or(0.0);
        let s = norm.std.get(ch).copied().unwrap_or(1.0);
        let v = x * s + m;
        if v.is_finite() {
            (v.clamp(0.0, 1.0) * 255.0).round() as u8
        } else {
            0
        }
    };
    let mut rgba = Vec::with_capacity(plane * 4);
    for i in 0..plane {
        let (r, g, b) = if c >= 3 {
            (value(0, i), value(1, i), value(2, i))
        } else {
            let v = value(0, i);
            (v, v, v)
        };
        rgba.extend_from_slice(&[r, g, b, 255]);
    }
    InputImage { size: [w, h], rgba }
}

fn subset(s: &Split, n: usize) -> Split {
    let mut s = s.clone();
    s.truncate(n);
    s
}
