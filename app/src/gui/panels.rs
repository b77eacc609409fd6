//! The top bar, the run panel and the tab strip. Each draws from the [`View`]
//! and returns what the user asked for as [`Action`]s; the app turns those into
//! worker commands. The tabs themselves are in [`super::tabs`].

use egui::{Color32, Ui};

use super::settings::{MAX_NETS, NetChoice};
use super::view::{NetView, Tab, View};
use reslab::analysis::redundancy::Insert;
use reslab::model::Shortcut;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Start,
    Pause,
    Step,
    /// Rebuild the nets from the settings.
    Reset,
    Grow,
    ToggleLesion {
        net: usize,
        block: usize,
    },
    ClearLesions {
        net: usize,
    },
    /// Draw the activation view's current choice.
    ShowActivation,
    ComputeLandscape,
    Save,
    Load,
    /// One net from the checkpoint the open fields name.
    Open,
    /// The Degradation preset, built at once.
    Preset,
    /// Read a run folder and draw it beside the nets.
    OpenRun(String),
    CloseRun(usize),
    /// Save the part of the window at `rect` (points) as PNG.
    SavePng {
        name: String,
        rect: egui::Rect,
    },
    /// Save numbers shown as `name`.
    SaveText {
        name: String,
        ext: &'static str,
        text: String,
    },
}

/// A net's colour (see [`NetView::color`]).
pub fn net_color(n: &NetView) -> Color32 {
    n.color()
}

/// Viridis, for heat maps (t in [0, 1]).
pub fn viridis(t: f32) -> Color32 {
    let c = reslab_plot::viridis(t as f64);
    Color32::from_rgb(c.0, c.1, c.2)
}

/// The menu bar: File → Open run, Save checkpoints.
pub fn menu_bar(ui: &mut Ui, v: &mut View) -> Vec<Action> {
    let mut out = Vec::new();
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            let l = ui.label("run folder (train, degradation, redundancy, lesion, landscape)");
            let edit = ui.text_edit_singleline(&mut v.run_path).labelled_by(l.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Open run").clicked() || enter {
                out.push(Action::OpenRun(v.run_path.clone()));
                ui.close();
            }
            ui.separator();
            if ui.button("Save checkpoints").clicked() {
                out.push(Action::Save);
                ui.close();
            }
            if ui.button("Load checkpoints").clicked() {
                out.push(Action::Load);
                ui.close();
            }
        });
    });
    out
}

pub fn top_bar(ui: &mut Ui, v: &View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        let start = if v.running { "Pause" } else { "Start" };
        if ui.button(start).on_hover_text("Space").clicked() {
            out.push(if v.running {
                Action::Pause
            } else {
                Action::Start
            });
        }
        if ui
            .button("Step")
            .on_hover_text("S: one step of every net")
            .clicked()
        {
            out.push(Action::Step);
        }
        if ui
            .button("Reset")
            .on_hover_text("R: rebuild the nets from the run panel")
            .clicked()
        {
            out.push(Action::Reset);
        }
        let grow = format!("Grow to depth {}", v.settings.grow_depth);
        if ui
            .button(grow)
            .on_hover_text("G: insert blocks into every net and train on")
            .clicked()
        {
            out.push(Action::Grow);
        }
        if ui
            .button("Save")
            .on_hover_text("checkpoints of every net into the save folder")
            .clicked()
        {
            out.push(Action::Save);
        }
        ui.separator();
        ui.label(format!("step {}", v.step()));
        if v.running {
            ui.label(format!("{:.1} steps/s", v.throughput));
        }
        if let Some((med, p95)) = v.frame_stats() {
            ui.label(format!("frame CPU {med:.0} ms (95%: {p95:.0})"));
        }
        if let Some((med, p95)) = v.frame_gap_stats() {
            ui.label(format!("frames {med:.0} ms apart (95%: {p95:.0})"));
        }
        ui.separator();
        match &v.error {
            Some(e) => ui.colored_label(Color32::from_rgb(220, 50, 50), e),
            None => ui.label(&v.status),
        };
    });
    out
}

/// A labelled row of a grid; the widget is announced by its label (screen
/// readers, tests).
fn row(ui: &mut Ui, label: &str, widget: impl FnOnce(&mut Ui) -> egui::Response) {
    let l = ui.label(label);
    widget(ui).labelled_by(l.id);
    ui.end_row();
}

/// A grid row whose widget names itself (a checkbox).
fn check_row(ui: &mut Ui, label: &str, value: &mut bool, text: &str) {
    ui.label(label);
    ui.checkbox(value, text);
    ui.end_row();
}

fn combo<T: PartialEq + Copy>(
    ui: &mut Ui,
    id: &str,
    value: &mut T,
    options: &[(T, &str)],
) -> egui::Response {
    let current = options
        .iter()
        .find(|o| o.0 == *value)
        .map(|o| o.1)
        .unwrap_or("?");
    egui::ComboBox::from_id_salt(id)
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (o, name) in options {
                ui.selectable_value(value, *o, *name);
            }
        })
        .response
}

/// The run panel: what the next Reset builds.
pub fn run_panel(ui: &mut Ui, v: &mut View) -> Vec<Action> {
    let mut out = Vec::new();
    let s = &mut v.settings;
    ui.heading("Nets");
    out.extend(net_list(ui, &mut s.nets));
    ui.separator();
    ui.heading("Run");
    egui::Grid::new("run settings")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            row(ui, "width", |ui| {
                ui.add(egui::DragValue::new(&mut s.width).range(2..=64))
            });
            check_row(ui, "blocks", &mut s.zero_gamma, "zero-gamma");
            let datasets: Vec<(usize, &str)> =
                reslab::data::DATASETS.iter().copied().enumerate().collect();
            let mut d = reslab::data::DATASETS
                .iter()
                .position(|x| *x == s.data)
                .unwrap_or(0);
            row(ui, "data", |ui| combo(ui, "data", &mut d, &datasets));
            s.data = reslab::data::DATASETS[d].to_string();
            if s.data != "synthetic" {
                row(ui, "data folder", |ui| {
                    ui.text_edit_singleline(&mut s.data_dir)
                });
            }
            if matches!(s.data.as_str(), "synthetic" | "folder") {
                row(ui, "image size", |ui| {
                    ui.add(egui::DragValue::new(&mut s.image_size).range(8..=256))
                });
            }
            row(ui, "batch", |ui| {
                ui.add(egui::DragValue::new(&mut s.batch).range(2..=512))
            });
            row(ui, "learning rate", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.lr)
                        .range(0.0001..=1.0)
                        .speed(0.005),
                )
            });
            row(ui, "warm-up", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.warmup)
                        .range(0..=10_000)
                        .suffix(" steps"),
                )
            });
            row(ui, "seed", |ui| ui.add(egui::DragValue::new(&mut s.seed)));
            row(ui, "probe every", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.probe_every)
                        .range(1..=1000)
                        .suffix(" steps"),
                )
            });
            row(ui, "grow to depth", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.grow_depth)
                        .range(14..=110)
                        .speed(6),
                )
            });
            row(ui, "inserted blocks", |ui| {
                combo(
                    ui,
                    "grow init",
                    &mut s.grow_init,
                    &[
                        (Insert::Random, "random"),
                        (Insert::ZeroGamma, "zero-gamma"),
                    ],
                )
            });
            row(ui, "save folder", |ui| {
                ui.text_edit_singleline(&mut v.save_dir)
            });
        });
    if ui.button("Apply (resets the nets)").clicked() {
        out.push(Action::Reset);
    }
    ui.separator();
    ui.heading("Open a checkpoint");
    egui::Grid::new("open checkpoint")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            let o = &mut v.open;
            row(ui, "file", |ui| ui.text_edit_singleline(&mut o.path));
            row(ui, "model", |ui| {
                ui.text_edit_singleline(&mut o.model)
                    .on_hover_text("for a PyTorch state_dict: resnet20, resnet18, …")
            });
            row(ui, "mean", |ui| {
                ui.text_edit_singleline(&mut o.mean)
                    .on_hover_text("per channel, e.g. 0.485,0.456,0.406 (empty: the default)")
            });
            row(ui, "std", |ui| ui.text_edit_singleline(&mut o.std));
        });
    if ui
        .button("Open (replaces the nets)")
        .on_hover_text("the net it holds, on the data set above")
        .clicked()
    {
        out.push(Action::Open);
    }
    ui.separator();
    out.extend(runs_panel(ui, v));
    out
}

/// The list of nets the next Reset builds: kind, depth, shortcut option,
/// pre-activation; add, remove, and the Degradation preset.
fn net_list(ui: &mut Ui, nets: &mut Vec<NetChoice>) -> Vec<Action> {
    let mut out = Vec::new();
    let mut remove = None;
    egui::Grid::new("net list")
        .num_columns(6)
        .spacing([4.0, 4.0])
        .show(ui, |ui| {
            for (i, n) in nets.iter_mut().enumerate() {
                let (swatch, _) =
                    ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(swatch, 2.0, super::view::slot_color(i));
                // Combo boxes named for screen readers (and tests).
                let named = |r: egui::Response, what: &str| {
                    let name = format!("net {} {what}", i + 1);
                    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ComboBox, true, &name));
                };
                let r = combo(
                    ui,
                    &format!("kind {i}"),
                    &mut n.residual,
                    &[(false, "plain"), (true, "resnet")],
                );
                named(r, "kind");
                ui.add(egui::DragValue::new(&mut n.depth).range(8..=110).speed(6))
                    .on_hover_text("depth 6n+2: 20, 32, 44, 56, 110");
                ui.add_enabled_ui(n.residual, |ui| {
                    let r = combo(
                        ui,
                        &format!("shortcut {i}"),
                        &mut n.shortcut,
                        &[(Shortcut::A, "A"), (Shortcut::B, "B"), (Shortcut::C, "C")],
                    )
                    .on_hover_text("shortcut option (He et al. §3.3)");
                    named(r, "shortcut");
                });
                ui.checkbox(&mut n.preact, "pre")
                    .on_hover_text("pre-activation blocks (He et al. 2016b)");
                if ui
                    .small_button("×")
                    .on_hover_text("remove this net")
                    .clicked()
                {
                    remove = Some(i);
                }
                ui.end_row();
            }
        });
    if let Some(i) = remove {
        nets.remove(i);
    }
    ui.horizontal(|ui| {
        let full = nets.len() >= MAX_NETS;
        if ui
            .add_enabled(!full, egui::Button::new("Add net"))
            .on_hover_text(format!("at most {MAX_NETS} nets"))
            .clicked()
        {
            nets.push(nets.last().copied().unwrap_or_default());
        }
        if ui
            .button("Degradation preset")
            .on_hover_text(
                "plain-20, plain-56, resnet-20, resnet-56 (the paper's Fig. 6), built at once",
            )
            .clicked()
        {
            out.push(Action::Preset);
        }
    });
    out
}

/// Runs opened from disk: their names, what they are, a close button each.
fn runs_panel(ui: &mut Ui, v: &mut View) -> Vec<Action> {
    let mut out = Vec::new();
    ui.heading("Runs from disk");
    let l = ui.label("run folder");
    let edit = ui.text_edit_singleline(&mut v.run_path).labelled_by(l.id);
    let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    if ui
        .button("Open run")
        .on_hover_text("a folder of reslab train, degradation, redundancy, lesion or landscape; followed while it grows")
        .clicked()
        || enter
    {
        out.push(Action::OpenRun(v.run_path.clone()));
    }
    for (k, r) in v.runs.iter().enumerate() {
        ui.horizontal(|ui| {
            if ui
                .small_button("×")
                .on_hover_text("close this run")
                .clicked()
            {
                out.push(Action::CloseRun(k));
            }
            ui.label(egui::RichText::new(&r.name).strong())
                .on_hover_text(r.path.display().to_string());
        });
        ui.label(egui::RichText::new(r.summary_line()).small());
        for p in &r.problems {
            ui.colored_label(
                Color32::from_rgb(220, 50, 50),
                egui::RichText::new(p).small(),
            );
        }
    }
    let l = ui.label("save plots into");
    ui.text_edit_singleline(&mut v.export_dir).labelled_by(l.id);
    out
}

pub fn tabs(ui: &mut Ui, v: &mut View) {
    ui.horizontal(|ui| {
        for (t, name) in Tab::ALL {
            ui.selectable_value(&mut v.tab, t, name);
        }
    });
}
