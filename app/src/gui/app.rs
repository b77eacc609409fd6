//! The eframe app: drains the worker's events, draws the panels, turns the
//! user's actions into commands. It never waits for the worker or the GPU.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

use egui::{Key, Ui};

use super::Launch;
use super::export;
use super::panels::{self, Action};
use super::runs::OpenedRun;
use super::settings::RunSettings;
use super::tabs;
use super::view::{Tab, View};
use super::worker::{Command, Image, Layer, Worker};

const SETTINGS_KEY: &str = "reslab run settings";

/// The shortest interval between frames drawn for training progress alone,
/// on a GPU and on a CPU adapter.
const PROGRESS_FRAME: std::time::Duration = std::time::Duration::from_millis(100);
const PROGRESS_FRAME_CPU: std::time::Duration = std::time::Duration::from_millis(1000);

/// A picture saved by a screenshot callback, or why not.
type Saved = Result<PathBuf, String>;

/// How often opened runs are read again for what was added.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct ReslabApp {
    pub view: View,
    worker: Option<Worker>,
    render: Option<egui_wgpu::RenderState>,
    /// Textures of the activation view, freed when replaced.
    textures: Vec<egui::TextureId>,
    title: String,
    /// When the last frame began, while training.
    last_frame: Option<std::time::Instant>,
    /// When the opened runs were last read.
    followed: std::time::Instant,
    /// Saved pictures (or why not), from the screenshot callbacks.
    saved: (Sender<Saved>, Receiver<Saved>),
    /// The window renders on a CPU adapter (lavapipe, llvmpipe).
    cpu_adapter: bool,
}

impl ReslabApp {
    /// The app on the device of eframe's wgpu renderer.
    pub fn new(cc: &eframe::CreationContext<'_>, launch: Launch) -> anyhow::Result<ReslabApp> {
        let mut settings: RunSettings = cc
            .storage
            .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
            .unwrap_or_default();
        if let Some(d) = launch.data {
            settings.data = d;
        }
        if let Some(d) = launch.data_dir {
            settings.data_dir = d;
        }
        if let Some(n) = launch.image_size {
            settings.image_size = n;
        }
        if launch.degradation {
            settings.degradation_preset();
        }
        let render = cc
            .wgpu_render_state
            .clone()
            .ok_or_else(|| anyhow::anyhow!("eframe did not start its wgpu renderer"))?;
        let gpu = reslab::Gpu::from_device(
            render.device.clone(),
            render.queue.clone(),
            render.adapter.get_info(),
        );
        let ctx = cc.egui_ctx.clone();
        // Training progress alone repaints at most every `progress` (input
        // and finished commands repaint at once): on a CPU adapter (lavapipe,
        // llvmpipe) every frame drawn is time taken from training.
        let cpu_adapter = render.adapter.get_info().device_type == wgpu::DeviceType::Cpu;
        let progress = if cpu_adapter {
            PROGRESS_FRAME_CPU
        } else {
            PROGRESS_FRAME
        };
        let worker = Worker::spawn(gpu, settings.clone(), move |urgent| {
            if urgent {
                ctx.request_repaint();
            } else {
                ctx.request_repaint_after(progress);
            }
        });
        let mut view = View::new(settings);
        if let Some(o) = launch.open {
            view.open = o;
        }
        let open = !view.open.path.is_empty();
        let mut app = ReslabApp {
            view,
            worker: Some(worker),
            render: Some(render),
            textures: Vec::new(),
            title: String::new(),
            last_frame: None,
            followed: std::time::Instant::now(),
            saved: channel(),
            cpu_adapter,
        };
        if open {
            app.act(vec![Action::Open]);
        }
        let runs = launch
            .runs
            .iter()
            .map(|p| Action::OpenRun(p.to_string_lossy().into_owned()))
            .collect();
        app.act(runs);
        Ok(app)
    }

    /// An app with no worker: the panels on a fixed view (tests).
    pub fn headless(view: View) -> ReslabApp {
        ReslabApp {
            view,
            worker: None,
            render: None,
            textures: Vec::new(),
            title: String::new(),
            last_frame: None,
            followed: std::time::Instant::now(),
            saved: channel(),
            cpu_adapter: true,
        }
    }

    /// An app whose worker trains on `gpu` (tests: the window's renderer is
    /// the harness's, so activation textures are not drawn).
    pub fn with_worker(view: View, gpu: reslab::Gpu) -> ReslabApp {
        let worker = Worker::spawn(gpu, view.settings.clone(), |_| {});
        ReslabApp {
            worker: Some(worker),
            ..ReslabApp::headless(view)
        }
    }

    /// Reads what the opened runs' files gained since the last look.
    pub fn follow_runs(&mut self) {
        self.followed = std::time::Instant::now();
        let mut problems = Vec::new();
        for r in &mut self.view.runs {
            if let Err(e) = r.refresh() {
                problems.push(e);
            }
        }
        if let Some(e) = problems.pop() {
            self.view.error = Some(e);
        }
        self.view.renumber_runs();
    }

    fn send(&self, c: Command) {
        if let Some(w) = &self.worker {
            w.send(c);
        }
    }

    /// Applies what the worker has sent since the last call.
    pub fn drain(&mut self) {
        let Some(w) = &self.worker else { return };
        let events: Vec<_> = w.rx.try_iter().take(500).collect();
        for e in events {
            if let super::worker::Event::Nets { nets, .. } = &e
                && let Some(n) = nets.first()
            {
                self.view.class_names = n.classes.clone();
            }
            let render = self.render.clone();
            let device = render.as_ref().map(|r| r.device.clone());
            let mut fresh = Vec::new();
            let mut register = |view: &wgpu::TextureView| {
                let (r, d) = (render.as_ref()?, device.as_ref()?);
                let id =
                    r.renderer
                        .write()
                        .register_native_texture(d, view, wgpu::FilterMode::Nearest);
                fresh.push(id);
                Some(id)
            };
            let is_activation = matches!(e, super::worker::Event::Activation { .. });
            self.view.apply(e, &mut register);
            if is_activation {
                if let Some(r) = &self.render {
                    let mut rr = r.renderer.write();
                    for old in self.textures.drain(..) {
                        rr.free_texture(&old);
                    }
                }
                self.textures = fresh;
            }
        }
    }

    /// Carries out the user's actions.
    pub fn act(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Start => {
                    self.view.running = true;
                    self.send(Command::Start);
                }
                Action::Pause => {
                    self.view.running = false;
                    self.send(Command::Pause);
                }
                Action::Step => self.send(Command::Step),
                Action::Reset => {
                    self.view.running = false;
                    self.send(Command::Reset(self.view.settings.clone()));
                }
                Action::Grow => self.send(Command::Grow {
                    depth: self.view.settings.grow_depth,
                    init: self.view.settings.grow_init,
                }),
                Action::ToggleLesion { net, block } => {
                    if let Some(n) = self.view.nets.get_mut(net) {
                        let mut blocks = n.lesions.clone();
                        if !blocks.remove(&block) {
                            blocks.insert(block);
                        }
                        n.lesions = blocks.clone();
                        n.lesion_accuracy = None;
                        self.send(Command::SetLesions { net, blocks });
                    }
                }
                Action::ClearLesions { net } => {
                    if let Some(n) = self.view.nets.get_mut(net) {
                        n.lesions.clear();
                        n.lesion_accuracy = None;
                    }
                    self.send(Command::SetLesions {
                        net,
                        blocks: BTreeSet::new(),
                    });
                }
                Action::ShowActivation => {
                    let a = &self.view.activation;
                    let image = if a.use_file {
                        Image::File(a.file.clone().into())
                    } else {
                        Image::Test(a.image)
                    };
                    self.send(Command::ShowActivation {
                        net: a.net,
                        image,
                        layer: a.layer.unwrap_or(Layer::Block(0)),
                    });
                }
                Action::ComputeLandscape => {
                    self.view.landscape_progress = Some((0, 1));
                    self.send(Command::Landscape {
                        net: self.view.landscape_net,
                        grid: self.view.landscape_grid,
                        range: 1.0,
                        samples: 200,
                    });
                }
                Action::Preset => {
                    self.view.settings.degradation_preset();
                    self.view.running = false;
                    self.send(Command::Reset(self.view.settings.clone()));
                }
                Action::OpenRun(p) => {
                    let p = p.trim();
                    if p.is_empty() {
                        self.view.error = Some("give the folder of a run".into());
                        continue;
                    }
                    match OpenedRun::open_all(std::path::Path::new(p)) {
                        Ok(runs) => {
                            let what: Vec<String> = runs.iter().map(|r| r.summary_line()).collect();
                            self.view.status = format!("opened {p}: {}", what.join("; "));
                            self.view.error = None;
                            self.view.runs.extend(runs);
                            self.view.renumber_runs();
                        }
                        Err(e) => self.view.error = Some(format!("cannot open the run: {e}")),
                    }
                }
                Action::CloseRun(k) => {
                    if k < self.view.runs.len() {
                        self.view.runs.remove(k);
                        self.view.renumber_runs();
                    }
                }
                Action::SaveText { name, ext, text } => {
                    let dir = PathBuf::from(&self.view.export_dir);
                    self.report_saved(export::write_text(&dir, &name, ext, &text));
                }
                Action::SavePng { .. } => {
                    // Needs the frame's pixels: see `draw`, which asks for them.
                }
                Action::Save => self.send(Command::Save(self.view.save_dir.clone().into())),
                Action::Load => self.send(Command::Load(self.view.save_dir.clone().into())),
                Action::Open => match self.view.open.describe() {
                    Ok(describe) => {
                        self.view.running = false;
                        self.send(Command::Open {
                            path: self.view.open.path.clone().into(),
                            describe,
                        });
                    }
                    Err(e) => self.view.error = Some(e),
                },
            }
        }
    }

    fn shortcuts(&self, ui: &Ui) -> Vec<Action> {
        if ui.ctx().egui_wants_keyboard_input() {
            return Vec::new();
        }
        let mut out = Vec::new();
        ui.input(|i| {
            if i.key_pressed(Key::Space) {
                out.push(if self.view.running {
                    Action::Pause
                } else {
                    Action::Start
                });
            }
            if i.key_pressed(Key::S) {
                out.push(Action::Step);
            }
            if i.key_pressed(Key::R) {
                out.push(Action::Reset);
            }
            if i.key_pressed(Key::G) {
                out.push(Action::Grow);
            }
        });
        out
    }

    /// Says where a picture or table went, or why it did not.
    fn report_saved(&mut self, r: Saved) {
        match r {
            Ok(p) => {
                self.view.status = format!("saved {}", p.display());
                self.view.error = None;
            }
            Err(e) => self.view.error = Some(format!("saving failed: {e}")),
        }
    }

    /// Asks for a screenshot of the next frame; its callback cuts `rect` out
    /// and saves it.
    fn save_png(&self, ctx: &egui::Context, name: String, rect: egui::Rect) {
        let dir = PathBuf::from(&self.view.export_dir);
        let ppp = ctx.pixels_per_point();
        let tx = self.saved.0.clone();
        let wake = ctx.clone();
        ctx.request_screenshot(move |shot| {
            let _ = tx.send(export::write_png(&dir, &name, &shot, rect, ppp));
            wake.request_repaint();
        });
    }

    /// Draws everything and returns the actions (tests call this directly).
    pub fn draw(&mut self, ui: &mut Ui) -> Vec<Action> {
        for r in self.saved.1.try_iter().collect::<Vec<_>>() {
            self.report_saved(r);
        }
        let mut actions = self.shortcuts(ui);
        egui::Panel::top("top").show(ui, |ui| {
            actions.extend(panels::menu_bar(ui, &mut self.view));
            actions.extend(panels::top_bar(ui, &self.view));
        });
        egui::Panel::left("run").default_size(250.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                actions.extend(panels::run_panel(ui, &mut self.view));
            });
        });
        egui::CentralPanel::default().show(ui, |ui| {
            panels::tabs(ui, &mut self.view);
            ui.separator();
            match self.view.tab {
                Tab::Curves => actions.extend(tabs::curves::show(ui, &self.view)),
                Tab::Responses => actions.extend(tabs::responses::show(ui, &self.view)),
                Tab::Residuals => actions.extend(tabs::residuals::show(ui, &self.view)),
                Tab::Activations => actions.extend(tabs::activations::show(ui, &mut self.view)),
                Tab::Lesions => actions.extend(tabs::lesions::show(ui, &self.view)),
                Tab::Landscape => actions.extend(tabs::landscape::show(ui, &mut self.view)),
                Tab::Model => tabs::model::show(ui, &self.view),
            }
        });
        for a in &actions {
            if let Action::SavePng { name, rect } = a {
                self.save_png(ui.ctx(), name.clone(), *rect);
            }
        }
        actions
    }
}

impl eframe::App for ReslabApp {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        // While training: the last frame's CPU time (building and painting
        // the UI) and the interval since the previous frame began.
        let now = std::time::Instant::now();
        if self.view.running {
            let gap = self
                .last_frame
                .map(|t| now.duration_since(t).as_secs_f32() * 1e3);
            let cpu = frame.info().cpu_usage.map(|c| c * 1e3);
            self.view.record_frame(cpu, gap);
            self.last_frame = Some(now);
        } else {
            self.last_frame = None;
        }
        // Input from the user holds training back for a moment (UiGate).
        let input = ui.input(|i| {
            i.events.iter().any(|e| {
                matches!(
                    e,
                    egui::Event::PointerButton { .. }
                        | egui::Event::Key { .. }
                        | egui::Event::MouseWheel { .. }
                        | egui::Event::Text(_)
                )
            })
        });
        if input && let Some(w) = &self.worker {
            w.gate.touch();
        }
        self.drain();
        // On a GPU the window repaints at the display rate while training;
        // on a CPU adapter each frame is time taken from training, so the
        // worker's progress asks for one a second at most.
        if self.view.running && !self.cpu_adapter {
            ui.ctx().request_repaint();
        }
        if !self.view.runs.is_empty() {
            if self.followed.elapsed() >= FOLLOW_EVERY {
                self.follow_runs();
            }
            ui.ctx().request_repaint_after(FOLLOW_EVERY);
        }
        let actions = self.draw(ui);
        self.act(actions);
        // No step count in the title: a new title is a repaint of its own.
        let title = format!("reslab — {}", self.view.settings.title());
        if title != self.title {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.view.settings);
    }
}
