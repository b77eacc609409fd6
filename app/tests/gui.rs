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

fn net(name: &str, inserted_from: Option<usize>, slot: usize) -> NetView {
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
    NetView::new(info, slot)
}

/// Two nets after 200 steps, grown at step 100: the residual net's inserted
/// blocks start at r = 0 and stay small; the plain net's do not.
fn state() -> View {
    let mut v = View::new(RunSettings::default());
    v.nets = vec![net("plain32", Some(3), 0), net("resnet32", Some(3), 1)];
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
                    // Residual responses smaller than plain ones, as in Fig. 7.
                    response_std: (0..31)
                        .map(|l| {
                            let base = if n.info.residual { 0.4 } else { 0.9 };
                            base + 0.3 * ((l * 5 % 7) as f32 / 7.0)
                        })
                        .collect(),
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
        (Tab::Responses, "responses"),
        (Tab::Activations, "activations"),
        (Tab::Lesions, "lesions"),
        (Tab::Landscape, "landscape"),
        (Tab::Model, "model"),
    ] {
        let mut h = harness(tab);
        h.run();
        snapshot(&mut h, name, true, &mut results);
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

/// Snapshots of `h` on each tab (names + `suffix`), all compared before a
/// failure is reported; `numbers_comparable` as in [`snapshot`].
fn snapshot_tabs(
    h: &mut Harness<'static, ReslabApp>,
    shots: &[(Tab, &str)],
    suffix: &str,
    numbers_comparable: bool,
) {
    let mut results = egui_kittest::SnapshotResults::new();
    for &(tab, name) in shots {
        h.state_mut().view.tab = tab;
        h.run();
        snapshot(
            h,
            &format!("{name}{suffix}"),
            numbers_comparable,
            &mut results,
        );
    }
}

/// Compares `h`'s picture with the snapshot `name` where that comparison
/// means something. The snapshots are drawn by llvmpipe, Mesa's CPU
/// rasterizer: what CI renders with, and what kittest picks wherever a CPU
/// adapter is installed. A machine with GPUs alone rasterizes edges a little
/// differently (an NVIDIA H200 put 1 to 41 pixels of a panel beyond the
/// comparison's threshold), and a panel of numbers that the engine computed
/// on a GPU (`numbers_comparable` false) holds that GPU's roundings. There
/// the panel is still drawn, and the caller's checks of its state still hold,
/// but its pixels are not compared; the test says so on stderr.
fn snapshot(
    h: &mut Harness<'static, ReslabApp>,
    name: &str,
    numbers_comparable: bool,
    results: &mut egui_kittest::SnapshotResults,
) {
    if numbers_comparable && cpu_rasterizer() {
        h.snapshot(name);
        results.extend(h.take_snapshot_results());
    } else {
        let img = h.render().expect("the panel renders");
        assert!(
            img.width() > 0 && img.height() > 0,
            "{name}: an empty picture"
        );
        eprintln!("{name}: drawn, not compared (the snapshots are llvmpipe's; see `snapshot`)");
    }
}

/// Whether kittest renders on a CPU adapter here (it prefers one; llvmpipe
/// in CI). Read with the same environment (`WGPU_BACKEND`) as kittest's setup.
fn cpu_rasterizer() -> bool {
    static CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CPU.get_or_init(|| {
        let desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        pollster::block_on(instance.enumerate_adapters(backends))
            .iter()
            .any(|a| a.get_info().device_type == wgpu::DeviceType::Cpu)
    })
}

/// A path from the app's folder (the docs/ folder, the test fixtures):
/// relative, as cargo runs tests there, so that the snapshots that show it
/// do not depend on where the repository is.
fn repo(path: &str) -> std::path::PathBuf {
    assert!(
        std::path::Path::new("tests/gui.rs").exists(),
        "tests run in the app's folder"
    );
    std::path::PathBuf::from(path)
}

/// A fresh directory under the system temp dir, removed (with everything in
/// it) when the returned guard drops, also when the test fails.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("reslab-gui-{name}-"))
        .tempdir()
        .unwrap()
}

/// A harness on an empty window (no nets), `tab` shown.
fn empty_harness(tab: Tab) -> Harness<'static, ReslabApp> {
    let mut v = View::new(RunSettings::default());
    v.tab = tab;
    // Nothing is saved from these; a fixed name keeps the panel the same.
    v.export_dir = "exports".into();
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

fn open_run(h: &mut Harness<'static, ReslabApp>, path: &std::path::Path) {
    h.state_mut().view.run_path = path.display().to_string();
    h.run();
    h.get_by_label("Open run").click();
    h.run();
}

#[test]
fn adding_and_removing_nets_edits_the_list() {
    let mut h = empty_harness(Tab::Curves);
    h.run();
    assert_eq!(h.state().view.settings.nets.len(), 2);
    h.get_by_label("Add net").click();
    h.run();
    let nets = h.state().view.settings.nets.clone();
    assert_eq!(nets.len(), 3);
    assert_eq!(nets[2], nets[1], "a new net starts as the last one");
    // Remove the first (plain20): the residual nets remain.
    h.get_all_by_label("×").next().unwrap().click();
    h.run();
    let nets = &h.state().view.settings.nets;
    assert_eq!(nets.len(), 2);
    assert!(nets.iter().all(|n| n.residual), "{nets:?}");
    // No more than MAX_NETS.
    for _ in 0..20 {
        h.get_by_label("Add net").click();
        h.run();
    }
    assert_eq!(
        h.state().view.settings.nets.len(),
        reslab_app::gui::settings::MAX_NETS
    );
}

#[test]
fn an_opened_train_run_draws_its_curves_and_probes() {
    let mut h = empty_harness(Tab::Curves);
    h.run();
    open_run(&mut h, &repo("tests/fixtures/train-resnet14"));
    let v = &h.state().view;
    assert!(v.error.is_none(), "{:?}", v.error);
    assert_eq!(v.runs.len(), 1);
    let n = &v.runs[0].nets[0];
    assert_eq!(n.label, "train-resnet14: resnet14");
    assert_eq!(n.steps.len(), 40, "one line every 2 of 80 steps");
    assert_eq!(n.tests.len(), 4, "four epoch ends");
    assert_eq!(n.probes.len(), 20, "a probe every 4 steps");
    assert_eq!(n.probes[0].blocks.len(), 6);
    snapshot_tabs(
        &mut h,
        &[
            (Tab::Curves, "opened-train-curves"),
            (Tab::Residuals, "opened-train-fx"),
        ],
        "",
        true,
    );
}

#[test]
fn an_opened_degradation_folder_draws_every_net() {
    let mut h = empty_harness(Tab::Curves);
    h.run();
    open_run(&mut h, &repo("../docs/degradation-synthetic"));
    let v = &h.state().view;
    assert!(v.error.is_none(), "{:?}", v.error);
    let r = &v.runs[0];
    assert_eq!(r.nets.len(), 12, "plain and residual nets of six depths");
    assert!(
        r.nets
            .iter()
            .all(|n| !n.steps.is_empty() && n.responses().is_some())
    );
    snapshot_tabs(
        &mut h,
        &[
            (Tab::Curves, "opened-degradation-curves"),
            (Tab::Responses, "opened-degradation-responses"),
        ],
        "",
        true,
    );
}

#[test]
fn every_analysis_folder_in_docs_opens() {
    use reslab_app::gui::runs::{OpenedRun, RunKind};
    let expect = [
        ("../docs/degradation-synthetic", RunKind::Degradation),
        (
            "../docs/degradation-synthetic-original",
            RunKind::Degradation,
        ),
        ("../docs/degradation-fmnist", RunKind::Degradation),
        ("../docs/redundancy", RunKind::Redundancy),
        ("../docs/lesion", RunKind::Lesion),
        ("../docs/landscape", RunKind::Landscape),
        ("tests/fixtures/train-resnet14", RunKind::Train),
    ];
    for (dir, kind) in expect {
        let runs = OpenedRun::open_all(&repo(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(!runs.is_empty(), "{dir}");
        for r in &runs {
            assert_eq!(r.kind, kind, "{dir}");
            let content =
                r.nets.len() + usize::from(r.lesion.is_some()) + usize::from(r.landscape.is_some());
            assert!(content > 0, "{dir}: nothing read");
            assert!(r.problems.is_empty(), "{dir}: {:?}", r.problems);
        }
    }
    // docs/lesion holds three studies, docs/landscape two landscapes.
    assert_eq!(
        OpenedRun::open_all(&repo("../docs/lesion")).unwrap().len(),
        3
    );
    assert_eq!(
        OpenedRun::open_all(&repo("../docs/landscape"))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn opened_lesion_and_landscape_runs_are_drawn() {
    let mut h = empty_harness(Tab::Lesions);
    h.run();
    open_run(&mut h, &repo("../docs/lesion"));
    open_run(&mut h, &repo("../docs/landscape"));
    assert!(h.state().view.error.is_none(), "{:?}", h.state().view.error);
    assert_eq!(h.state().view.runs.len(), 5);
    snapshot_tabs(
        &mut h,
        &[
            (Tab::Lesions, "opened-lesions"),
            (Tab::Landscape, "opened-landscapes"),
        ],
        "",
        true,
    );
    // Closing one removes it: the first run's button comes after the two
    // nets' remove buttons.
    let first = h.state().view.runs[0].name.clone();
    h.get_all_by_label("×").nth(2).unwrap().click();
    h.run();
    let left: Vec<String> = h.state().view.runs.iter().map(|r| r.name.clone()).collect();
    assert_eq!(left.len(), 4);
    assert!(!left.contains(&first), "{first} still open: {left:?}");
}

#[test]
fn a_run_being_written_is_followed() {
    let guard = temp_dir("follow");
    let dir = guard.path();
    let src = repo("tests/fixtures/train-resnet14");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let metrics = std::fs::read_to_string(src.join("metrics.jsonl")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    // The first ten lines and half of the eleventh, as a writer leaves them.
    let mut first = lines[..10].join("\n") + "\n";
    let cut = lines[10].len() / 2;
    first.push_str(&lines[10][..cut]);
    std::fs::write(dir.join("metrics.jsonl"), &first).unwrap();
    let mut h = empty_harness(Tab::Curves);
    h.run();
    open_run(&mut h, dir);
    let count = |h: &Harness<'static, ReslabApp>| {
        let n = &h.state().view.runs[0].nets[0];
        n.steps.len() + n.tests.len() + n.probes.len()
    };
    assert_eq!(count(&h), 10, "the cut line waits for its end");
    assert!(h.state().view.runs[0].problems.is_empty());
    let rest = lines[10][cut..].to_string() + "\n" + &lines[11..].join("\n") + "\n";
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("metrics.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut f, rest.as_bytes()).unwrap();
    drop(f);
    h.state_mut().follow_runs();
    assert_eq!(count(&h), lines.len());
    assert!(
        h.state().view.runs[0].problems.is_empty(),
        "{:?}",
        h.state().view.runs[0].problems
    );
    // A resumed run cuts its file back: it is read again from the start.
    std::fs::write(dir.join("metrics.jsonl"), lines[..5].join("\n") + "\n").unwrap();
    h.state_mut().follow_runs();
    assert_eq!(count(&h), 5);
    guard.close().unwrap();
}

#[test]
fn broken_or_foreign_folders_get_a_message() {
    let guard = temp_dir("broken");
    let dir = guard.path();
    type Make = Box<dyn Fn(&std::path::Path)>;
    let cases: Vec<(&str, Make, &str)> = vec![
        ("missing", Box::new(|_| {}), "no such file or folder"),
        (
            "empty",
            Box::new(|d| std::fs::create_dir_all(d).unwrap()),
            "neither a train run",
        ),
        (
            "foreign-summary",
            Box::new(|d| {
                std::fs::create_dir_all(d).unwrap();
                std::fs::write(d.join("summary.json"), r#"{"accuracy": 0.9}"#).unwrap();
            }),
            "not a summary",
        ),
        (
            "binary-summary",
            Box::new(|d| {
                std::fs::create_dir_all(d).unwrap();
                std::fs::write(d.join("summary.json"), [0u8, 159, 146, 150, 7, 255]).unwrap();
            }),
            "summary.json",
        ),
        (
            "truncated-degradation",
            Box::new(|d| {
                std::fs::create_dir_all(d).unwrap();
                let s = std::fs::read(repo("../docs/degradation-synthetic/summary.json")).unwrap();
                std::fs::write(d.join("summary.json"), &s[..s.len() / 2]).unwrap();
            }),
            "EOF",
        ),
        (
            "bad-grid-landscape",
            Box::new(|d| {
                std::fs::create_dir_all(d).unwrap();
                std::fs::write(
                    d.join("summary.json"),
                    r#"{"model":"resnet20","mode":"2d","images":1,"xs":[0,1,2],"ys":[0,1,2],"loss":[[1,2,3],[1,2]],"accuracy":[],"seconds":0,"seed":0}"#,
                )
                .unwrap();
            }),
            "loss grid",
        ),
        (
            "foreign-config",
            Box::new(|d| {
                std::fs::create_dir_all(d).unwrap();
                std::fs::write(d.join("config.json"), r#"{"lr": "fast"}"#).unwrap();
            }),
            "not a reslab run configuration",
        ),
    ];
    for (name, make, says) in cases {
        let d = dir.join(name);
        make(&d);
        let mut h = empty_harness(Tab::Curves);
        h.run();
        open_run(&mut h, &d);
        let e = h.state().view.error.clone().unwrap_or_default();
        assert!(
            e.contains("cannot open the run") && e.contains(says),
            "{name}: {e}"
        );
        assert!(h.state().view.runs.is_empty(), "{name}");
    }
    // Lines a run never writes are listed, the rest is read.
    let d = dir.join("garbled-metrics");
    std::fs::create_dir_all(&d).unwrap();
    let src = repo("tests/fixtures/train-resnet14");
    std::fs::copy(src.join("config.json"), d.join("config.json")).unwrap();
    let metrics = std::fs::read_to_string(src.join("metrics.jsonl")).unwrap();
    let garbled = format!(
        "{{\"step\": \"x\"}}\nnot json\n{metrics}{{\"probe\":{{\"r\":[1],\"response_std\":[]}},\"step\":90}}\n"
    );
    std::fs::write(d.join("metrics.jsonl"), garbled).unwrap();
    let mut h = empty_harness(Tab::Curves);
    h.run();
    open_run(&mut h, &d);
    let r = &h.state().view.runs[0];
    assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
    assert!(
        r.problems[2].contains("a probe of 1 blocks; the net has 6"),
        "{:?}",
        r.problems
    );
    assert_eq!(r.nets[0].steps.len(), 40);
    guard.close().unwrap();
}

#[test]
fn plots_are_saved_as_png_and_csv() {
    let mut h = harness(Tab::Curves);
    let guard = temp_dir("save");
    let out = guard.path();
    h.state_mut().view.export_dir = out.display().to_string();
    h.run();
    h.get_all_by_label("CSV").next().unwrap().click();
    h.run();
    let csv = std::fs::read_to_string(out.join("training_loss.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("net,step,loss,training_accuracy"));
    assert_eq!(csv.lines().count(), 1 + 2 * 200);
    assert!(csv.contains("\nresnet32,200,"), "{}", &csv[..200]);
    // Saved again: a new file, the first kept.
    h.get_all_by_label("CSV").next().unwrap().click();
    h.run();
    assert!(out.join("training_loss-2.csv").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("training_loss.csv")).unwrap(),
        csv
    );
    h.get_all_by_label("PNG").next().unwrap().click();
    h.run();
    h.run();
    let png = out.join("training_loss.png");
    let img = image::open(&png)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; status {:?} {:?}",
                png.display(),
                h.state().view.status,
                h.state().view.error
            )
        })
        .to_rgba8();
    // The loss plot's size (at 1 pixel per point), not the window's.
    assert!(
        img.width() > 400 && img.width() < 1280,
        "{:?}",
        img.dimensions()
    );
    assert!(
        img.height() > 100 && img.height() < 800,
        "{:?}",
        img.dimensions()
    );
    guard.close().unwrap();
}

/// The Degradation preset trained for real: four nets built by the worker,
/// stepped together on one data stream, then drawn.
#[test]
fn the_degradation_preset_trains_four_nets_side_by_side() {
    let gpu =
        reslab::Gpu::new().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    let backend = gpu.adapter_info().backend;
    // The curves and F(x) hold the engine's numbers: the snapshots are those
    // of Mesa's CPU adapters, where the training runs here too in CI.
    let numbers_comparable = gpu.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let settings = RunSettings {
        batch: 32,
        probe_every: 2,
        eval_every: 4,
        ..RunSettings::default()
    };
    let mut v = View::new(settings);
    v.tab = Tab::Curves;
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_ui_state(
            |ui, app: &mut ReslabApp| {
                let actions = app.draw(ui);
                app.act(actions);
            },
            ReslabApp::with_worker(v, gpu),
        );
    let wait = |h: &mut Harness<'static, ReslabApp>, done: &dyn Fn(&View) -> bool, what: &str| {
        let start = std::time::Instant::now();
        loop {
            h.state_mut().drain();
            h.run();
            if done(&h.state().view) {
                return;
            }
            if let Some(e) = &h.state().view.error {
                panic!("{what}: {e}");
            }
            assert!(start.elapsed().as_secs() < 600, "{what}: timed out");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait(&mut h, &|v| v.nets.len() == 2, "the default nets");
    h.get_by_label("Degradation preset").click();
    h.run();
    wait(&mut h, &|v| v.nets.len() == 4, "the preset's nets");
    let names: Vec<String> = h
        .state()
        .view
        .nets
        .iter()
        .map(|n| n.label.clone())
        .collect();
    assert_eq!(
        names,
        ["plain20", "plain56", "resnet20-preact", "resnet56-preact"]
    );
    const STEPS: usize = 12;
    for s in 1..=STEPS {
        h.get_by_label("Step").click();
        h.run();
        wait(
            &mut h,
            &|v| v.nets.iter().all(|n| n.steps.len() == s),
            "a step",
        );
    }
    wait(
        &mut h,
        &|v| v.nets.iter().all(|n| n.tests.len() == 3),
        "the evaluations",
    );
    let v = &h.state().view;
    for n in &v.nets {
        assert_eq!(n.probes.len(), STEPS / 2, "{}", n.label);
        assert_eq!(n.probes[0].r.len(), n.info.graph.blocks.len());
        assert!(n.steps.iter().all(|s| s[1].is_finite()), "{}", n.label);
    }
    h.state_mut().view.status = "ready: 4 nets".into();
    // The numbers are the engine's on this backend: each backend has its own
    // snapshots (GL rounds differently from Vulkan, and twelve steps at
    // learning rate 0.1 carry the difference into the curves).
    let suffix = match backend {
        wgpu::Backend::Vulkan => String::new(),
        b => format!("-{}", format!("{b:?}").to_lowercase()),
    };
    snapshot_tabs(
        &mut h,
        &[
            (Tab::Curves, "degradation-preset-curves"),
            (Tab::Residuals, "degradation-preset-fx"),
            (Tab::Lesions, "degradation-preset-lesions"),
        ],
        &suffix,
        numbers_comparable,
    );
    // Grow to 32: the 20-layer nets grow, the 56-layer ones train on as they
    // are; every net keeps its curves.
    h.get_by_label("Grow to depth 32").click();
    h.run();
    wait(
        &mut h,
        &|v| v.nets.first().is_some_and(|n| n.label == "plain32"),
        "growing",
    );
    let names: Vec<String> = h
        .state()
        .view
        .nets
        .iter()
        .map(|n| n.label.clone())
        .collect();
    assert_eq!(
        names,
        ["plain32", "plain56", "resnet32-preact", "resnet56-preact"]
    );
    let inserted: Vec<usize> = h
        .state()
        .view
        .nets
        .iter()
        .map(|n| n.info.inserted.iter().filter(|&&i| i).count())
        .collect();
    assert_eq!(
        inserted,
        [6, 0, 6, 0],
        "two blocks inserted into each stage of the 20s"
    );
    h.get_by_label("Step").click();
    h.run();
    wait(
        &mut h,
        &|v| v.nets.iter().all(|n| n.steps.len() == STEPS + 1),
        "a step after growing",
    );
    assert!(
        h.state()
            .view
            .status
            .contains("plain56, resnet56-preact already that deep"),
        "{}",
        h.state().view.status
    );
}

/// A degradation run being written: a folder of train runs, each net's
/// folder appearing when the net starts.
#[test]
fn a_folder_of_runs_picks_up_nets_as_they_start() {
    use reslab_app::gui::runs::RunKind;
    let guard = temp_dir("runs");
    let dir = guard.path();
    let src = repo("tests/fixtures/train-resnet14");
    let add = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(src.join("config.json"), d.join("config.json")).unwrap();
        std::fs::copy(src.join("metrics.jsonl"), d.join("metrics.jsonl")).unwrap();
    };
    add("resnet14-seed0");
    // Created up front, not started yet: no config.json.
    std::fs::create_dir_all(dir.join("resnet14-seed1")).unwrap();
    let mut h = empty_harness(Tab::Curves);
    h.run();
    open_run(&mut h, dir);
    let r = &h.state().view.runs[0];
    assert_eq!(r.kind, RunKind::Runs);
    assert_eq!(r.nets.len(), 1);
    add("resnet14-seed1");
    h.state_mut().follow_runs();
    let r = &h.state().view.runs[0];
    assert_eq!(r.nets.len(), 2);
    assert!(
        r.nets[1].label.ends_with("/resnet14-seed1"),
        "{}",
        r.nets[1].label
    );
    assert_eq!(r.nets[1].steps.len(), 40);
    assert_ne!(r.nets[0].slot, r.nets[1].slot, "each net its own colour");
    guard.close().unwrap();
}
