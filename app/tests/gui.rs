//! The desktop app's panels, rendered with wgpu (lavapipe in CI) from fixed
//! state and compared with checked-in snapshots (tests/snapshots/*.png;
//! `UPDATE_SNAPSHOTS=1 cargo test` rewrites them), and the app's answers to
//! clicks.

use std::sync::Arc;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use reslab::analysis::landscape::Summary;
use reslab::model::{Graph, ModelSpec};
use reslab_app::gui::app::ReslabApp;
use reslab_app::gui::settings::RunSettings;
use reslab_app::gui::view::{NetView, Probe, Tab, View};
use reslab_app::gui::worker::NetInfo;

fn net(name: &str, inserted_from: Option<usize>) -> NetView {
    let spec = ModelSpec::parse(name, None).unwrap();
    let graph = Graph::build(&spec, 16, 16).unwrap();
    let blocks = graph.blocks.len();
    let inserted = (0..blocks)
        .map(|b| inserted_from.is_some_and(|n| graph.blocks[b].index >= n))
        .collect();
    let info = NetInfo {
        name: spec.name(),
        residual: spec.residual,
        params: graph.param_count(),
        graph,
        inserted,
        step_offset: if inserted_from.is_some() { 100 } else { 0 },
        classes: reslab::data::synthetic::CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    NetView::new(info)
}

/// Two nets after 200 steps, grown at step 100: the residual net's inserted
/// blocks start at r = 0 and stay small; the plain net's do not.
fn state() -> View {
    let mut v = View::new(RunSettings::default());
    v.nets = vec![net("plain32", Some(3)), net("resnet32", Some(3))];
    v.class_names = reslab::data::synthetic::CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (i, n) in v.nets.iter_mut().enumerate() {
        let names = Arc::new(n.block_names());
        for s in 1..=200 {
            let t = s as f64 / 200.0;
            let loss = if n.info.residual {
                2.3 - 1.6 * t
            } else {
                2.3 - 0.9 * t
            };
            let wobble = 0.05 * ((s * 7 % 11) as f64 / 11.0 - 0.5);
            n.steps.push([
                s as f64,
                loss + wobble,
                0.1 + 0.8 * t * if i == 1 { 1.0 } else { 0.6 },
            ]);
            if s % 20 == 0 {
                n.tests
                    .push([s as f64, 0.1 + t * if i == 1 { 0.8 } else { 0.5 }, loss]);
            }
            if s % 10 == 0 {
                let r = names
                    .iter()
                    .enumerate()
                    .map(|(b, _)| {
                        let inserted = n.info.inserted[b];
                        if inserted && s <= 100 {
                            f32::NAN
                        } else if inserted && n.info.residual {
                            0.002 + 0.0002 * (s - 100) as f32
                        } else {
                            0.4 + 0.1 * (b % 5) as f32 - 0.1 * t as f32
                        }
                    })
                    .collect::<Vec<f32>>();
                // Blocks that did not exist yet are absent from early probes.
                let keep: Vec<usize> = (0..names.len()).filter(|&b| !r[b].is_nan()).collect();
                n.probes.push(Probe {
                    step: s,
                    blocks: Arc::new(keep.iter().map(|&b| names[b].clone()).collect()),
                    r: keep.iter().map(|&b| r[b]).collect(),
                    response_std: vec![1.0; 31],
                });
            }
        }
    }
    v.nets[1].lesions = [4].into();
    v.nets[1].lesion_accuracy = Some(0.86);
    v.running = true;
    v.throughput = 2.5;
    v.status = "grew the nets to depth 32 (zero-gamma inserted blocks)".into();
    let xs: Vec<f64> = (0..9).map(|k| -1.0 + k as f64 * 0.25).collect();
    let loss = xs
        .iter()
        .map(|&b| {
            xs.iter()
                .map(|&a| 0.3 + 2.0 * (a * a + 0.5 * b * b) + 0.3 * a * b)
                .collect()
        })
        .collect::<Vec<Vec<f64>>>();
    let accuracy = loss
        .iter()
        .map(|r| r.iter().map(|l| (1.0 / (1.0 + l)).min(1.0)).collect())
        .collect();
    v.landscape = Some((
        1,
        Summary {
            model: "resnet32".into(),
            mode: "2d".into(),
            images: 200,
            xs: xs.clone(),
            ys: xs,
            loss,
            accuracy,
            seconds: 1.0,
            seed: 0,
        },
    ));
    v
}

fn harness(tab: Tab) -> Harness<'static, ReslabApp> {
    let mut v = state();
    v.tab = tab;
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_ui_state(
            |ui, app: &mut ReslabApp| {
                let actions = app.draw(ui);
                app.act(actions);
            },
            ReslabApp::headless(v),
        )
}

#[test]
fn panels_match_their_snapshots() {
    let mut results = egui_kittest::SnapshotResults::new();
    for (tab, name) in [
        (Tab::Curves, "curves"),
        (Tab::Residuals, "residuals"),
        (Tab::Activations, "activations"),
        (Tab::Lesions, "lesions"),
        (Tab::Landscape, "landscape"),
        (Tab::Model, "model"),
    ] {
        let mut h = harness(tab);
        h.run();
        h.snapshot(name);
        results.extend(h.take_snapshot_results());
    }
}

#[test]
fn start_and_pause_change_the_training_state() {
    let mut h = harness(Tab::Curves);
    h.state_mut().view.running = false;
    h.run();
    h.get_by_label("Start").click();
    h.run();
    assert!(h.state().view.running, "Start did not start");
    h.get_by_label("Pause").click();
    h.run();
    assert!(!h.state().view.running, "Pause did not pause");
}

#[test]
fn clicking_a_block_lesions_it() {
    let mut h = harness(Tab::Lesions);
    h.run();
    assert!(!h.state().view.nets[1].lesions.contains(&2));
    // The residual net's column comes first.
    h.get_all_by_label_contains("layer1.2  r = ")
        .next()
        .unwrap()
        .click();
    h.run();
    let n = &h.state().view.nets[1];
    assert!(
        n.lesions.contains(&2),
        "block 2 of resnet32 not lesioned: {:?}",
        n.lesions
    );
    assert!(
        n.lesion_accuracy.is_none(),
        "the old accuracy must wait for the new evaluation"
    );
    // A plain net's downsampling blocks cannot be removed: its checkbox (the
    // second column, after the residual net's) does nothing.
    let boxes: Vec<_> = h
        .get_all_by_label_contains("layer2.0 (downsampling)")
        .collect();
    assert_eq!(boxes.len(), 2);
    boxes[1].click();
    h.run();
    assert!(
        h.state().view.nets[0].lesions.is_empty(),
        "a plain downsampling block was lesioned"
    );
}

#[test]
fn shrinking_blocks_are_flagged() {
    let v = state();
    let res = &v.nets[1];
    assert!(
        res.shrinking("layer1.3"),
        "an inserted zero-gamma block stays near zero"
    );
    assert!(!res.shrinking("layer1.0"));
    assert!(
        !v.nets[0].shrinking("layer1.3"),
        "the plain net's inserted block is not near zero"
    );
}

#[test]
fn the_open_form_says_what_is_wrong() {
    let mut h = harness(Tab::Curves);
    h.run();
    h.get_by_label("Open (replaces the nets)").click();
    h.run();
    let e = h.state().view.error.clone().unwrap_or_default();
    assert!(e.contains("checkpoint's file"), "{e}");
    let o = &mut h.state_mut().view.open;
    o.path = "net.pth".into();
    o.model = " resnet18 ".into();
    o.mean = "0.485, 0.456,x".into();
    h.run();
    h.get_by_label("Open (replaces the nets)").click();
    h.run();
    let e = h.state().view.error.clone().unwrap_or_default();
    assert!(e.contains("mean") && e.contains("0.456,x"), "{e}");
    let o = &mut h.state_mut().view.open;
    o.mean = "0.485, 0.456,0.406".into();
    let d = o.describe().unwrap();
    assert_eq!(d.model.as_deref(), Some("resnet18"));
    assert_eq!(d.mean, Some(vec![0.485, 0.456, 0.406]));
    assert_eq!(d.std, None);
}
