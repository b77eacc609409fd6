//! The top bar, the run panel and the tab strip. Each draws from the [`View`]
//! and returns what the user asked for as [`Action`]s; the app turns those into
//! worker commands. The tabs themselves are in [`super::tabs`].

use egui::{Color32, Ui};

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
    LoadLandscape(String),
    Save,
    Load,
    /// One net from the checkpoint the open fields name.
    Open,
}

/// Net colours: the plain twin in orange, residual nets in blue.
pub fn net_color(n: &NetView) -> Color32 {
    if n.info.residual {
        Color32::from_rgb(31, 119, 180)
    } else {
        Color32::from_rgb(230, 120, 20)
    }
}

/// Viridis, for heat maps (t in [0, 1]).
pub fn viridis(t: f32) -> Color32 {
    let c = reslab_plot::viridis(t as f64);
    Color32::from_rgb(c.0, c.1, c.2)
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
    ui.heading("Run");
    egui::Grid::new("run settings")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            row(ui, "depth (6n+2)", |ui| {
                ui.add(egui::DragValue::new(&mut s.depth).range(8..=110).speed(6))
            });
            row(ui, "width", |ui| {
                ui.add(egui::DragValue::new(&mut s.width).range(2..=64))
            });
            row(ui, "shortcut", |ui| {
                combo(
                    ui,
                    "shortcut",
                    &mut s.shortcut,
                    &[(Shortcut::A, "A"), (Shortcut::B, "B"), (Shortcut::C, "C")],
                )
            });
            check_row(ui, "blocks", &mut s.preact, "pre-activation");
            check_row(ui, "", &mut s.zero_gamma, "zero-gamma");
            check_row(ui, "", &mut s.plain, "plain twin beside it");
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
    out
}

pub fn tabs(ui: &mut Ui, v: &mut View) {
    ui.horizontal(|ui| {
        for (t, name) in Tab::ALL {
            ui.selectable_value(&mut v.tab, t, name);
        }
    });
}
