//! Nets trained elsewhere and images of one's own: PyTorch checkpoints
//! (tests/fixtures/foreign, made by tests/fixtures/make_foreign.py) analysed by
//! every command and compared with what PyTorch computed on the same images;
//! and an ImageFolder tree, written here, trained on and analysed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn reslab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reslab"))
        .args(args)
        .output()
        .expect("run reslab")
}

fn ok(args: &[&str]) -> String {
    let o = reslab(args);
    assert!(
        o.status.success(),
        "reslab {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs a command that must fail; returns its stderr.
fn fails(args: &[&str]) -> String {
    let o = reslab(args);
    assert!(!o.status.success(), "reslab {args:?} succeeded");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !err.contains("panicked"),
        "reslab {args:?} panicked:\n{err}"
    );
    err
}

/// A path that does not exist yet, `name` inside a fresh directory under the
/// system temp dir. The guard removes that directory, with whatever the test
/// made at the path, when it drops, also when the test fails: keep it alive.
fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let guard = tempfile::Builder::new()
        .prefix(&format!("reslab-foreign-{name}-"))
        .tempdir()
        .unwrap();
    let path = guard.path().join(name);
    (guard, path)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/foreign")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).to_string_lossy().into_owned()
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
        .unwrap()
}

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The checkpoints and the files they come in.
const NETS: &[(&str, &[&str])] = &[
    ("resnet20", &["resnet20.pth", "resnet20.safetensors"]),
    ("resnet18", &["resnet18.pth", "resnet18.safetensors"]),
    ("resnet50", &["resnet50.pth"]),
];

/// What the fixture nets were trained and evaluated on in PyTorch: the
/// folder's images at their own 32 pixels (no resize), normalised by 0.5/0.25.
fn described(model: &str, file: &str) -> Vec<String> {
    let images = fixture("images");
    [
        "--checkpoint",
        &fixture(file),
        "--model",
        model,
        "--data",
        "folder",
        "--data-dir",
        &images,
        "--image-size",
        "32",
        "--resize",
        "32",
        "--mean",
        "0.5,0.5,0.5",
        "--std",
        "0.25,0.25,0.25",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(cmd: &str, model: &str, file: &str, extra: &[&str]) -> String {
    let mut args = vec![cmd.to_string()];
    args.extend(described(model, file));
    args.extend(extra.iter().map(|s| s.to_string()));
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-6)
}

#[test]
fn eval_agrees_with_pytorch_to_the_image() {
    let exp = expected();
    for (model, files) in NETS {
        let want = &exp["models"][model];
        for file in *files {
            let out: Value =
                serde_json::from_str(&run("eval", model, file, &["--predictions"])).unwrap();
            assert_eq!(out["images"], 40, "{file}");
            assert_eq!(
                out["predictions"], want["predictions"],
                "{file}: predictions differ from PyTorch's"
            );
            let acc = out["test_accuracy"].as_f64().unwrap();
            let pt_acc = want["accuracy"].as_f64().unwrap();
            assert_eq!(acc as f32, pt_acc as f32, "{file}: accuracy");
            let loss = out["test_loss"].as_f64().unwrap();
            let pt_loss = want["loss"].as_f64().unwrap();
            assert!(
                close(loss, pt_loss, 1e-5),
                "{file}: loss {loss} vs PyTorch {pt_loss}"
            );
        }
    }
}

#[test]
fn probe_agrees_with_pytorch_for_basic_and_bottleneck_blocks() {
    let exp = expected();
    for (model, files) in NETS {
        let want = &exp["models"][model]["probes"];
        for file in *files {
            let (_guard, out) = tmp(&format!("probe-{file}"));
            run("probe", model, file, &["--out", out.to_str().unwrap()]);
            let s = json_file(&out.join("summary.json"));
            assert_eq!(s["images"], 40);
            let blocks = s["blocks"].as_array().unwrap();
            assert_eq!(blocks.len(), want["r"].as_object().unwrap().len(), "{file}");
            for b in blocks {
                let name = b["block"].as_str().unwrap();
                let (got, pt) = (b["r"]["mean"].as_f64().unwrap(), want["r"][name].as_f64());
                let pt = pt.unwrap_or_else(|| panic!("{file}: PyTorch has no block {name}"));
                assert!(
                    close(got, pt, 1e-5),
                    "{file} {name}: r {got} vs PyTorch {pt}"
                );
                assert!(b["r"]["min"].as_f64() <= b["r"]["max"].as_f64());
            }
            let layers = s["layers"].as_array().unwrap();
            let pt_layers = want["response_std"].as_object().unwrap();
            assert_eq!(layers.len(), pt_layers.len(), "{file}");
            for l in layers {
                let name = l["layer"].as_str().unwrap();
                let got = l["response_std"]["mean"].as_f64().unwrap();
                let pt = pt_layers[name].as_f64().unwrap();
                assert!(
                    close(got, pt, 1e-5),
                    "{file} {name}: std {got} vs PyTorch {pt}"
                );
            }
            for png in ["probe_r.png", "probe_responses.png"] {
                let len = std::fs::metadata(out.join(png))
                    .map(|m| m.len())
                    .unwrap_or(0);
                assert!(len > 1000, "{file}: {png} missing or empty");
            }
        }
    }
}

#[test]
fn lesion_and_landscape_of_pytorch_checkpoints() {
    let exp = expected();
    for (model, files) in NETS {
        let want = &exp["models"][model];
        let blocks = want["probes"]["r"].as_object().unwrap().len();
        for file in *files {
            let (_lesion_guard, out) = tmp(&format!("lesion-{file}"));
            run("lesion", model, file, &["--out", out.to_str().unwrap()]);
            let s = json_file(&out.join("summary.json"));
            let base = s["base_accuracy"].as_f64().unwrap();
            assert_eq!(
                base as f32,
                want["accuracy"].as_f64().unwrap() as f32,
                "{file}"
            );
            assert_eq!(s["single"].as_array().unwrap().len(), blocks, "{file}");
            for b in s["single"].as_array().unwrap() {
                let name = b["block"].as_str().unwrap();
                let r = b["r"].as_f64().unwrap();
                let pt = want["probes"]["r"][name].as_f64().unwrap();
                // The lesion's r is measured on at most 500 images: here all 40.
                assert!(close(r, pt, 1e-5), "{file} {name}: r {r} vs PyTorch {pt}");
            }
            assert!(out.join("lesion.png").exists());

            let (_landscape_guard, out) = tmp(&format!("landscape-{file}"));
            run(
                "landscape",
                model,
                file,
                &[
                    "--grid",
                    "3",
                    "--range",
                    "0.5",
                    "--out",
                    out.to_str().unwrap(),
                ],
            );
            let s = json_file(&out.join("summary.json"));
            // The centre of the grid is the net itself.
            let centre = s["loss"][1][1].as_f64().unwrap();
            let pt = want["loss"].as_f64().unwrap();
            assert!(
                close(centre, pt, 1e-5),
                "{file}: centre loss {centre} vs PyTorch {pt}"
            );
            assert_eq!(
                s["accuracy"][1][1].as_f64().unwrap() as f32,
                want["accuracy"].as_f64().unwrap() as f32
            );
            assert!(out.join("landscape_loss.png").exists());
        }
    }
}

#[test]
fn convert_writes_the_state_dict_as_safetensors() {
    let (_guard, out) = tmp("convert");
    std::fs::create_dir_all(&out).unwrap();
    let st = out.join("resnet18.safetensors");
    let st_s = st.to_str().unwrap();
    let said = ok(&["convert", &fixture("resnet18.pth"), st_s]);
    assert!(said.contains("wrote"), "{said}");
    let got = reslab::checkpoint::read(&st).unwrap();
    let want = reslab::checkpoint::read(&fixtures().join("resnet18.safetensors")).unwrap();
    assert_eq!(
        got.f32s, want.f32s,
        "the tensors of the DDP-wrapped .pth, unprefixed"
    );
    assert_eq!(
        got.i64s.keys().collect::<Vec<_>>(),
        want.i64s.keys().collect::<Vec<_>>()
    );
    // The converted file is analysed as the original.
    let a: Value = serde_json::from_str(&run("eval", "resnet18", "resnet18.pth", &[])).unwrap();
    let mut args = vec!["eval".to_string()];
    args.extend(described("resnet18", "resnet18.pth"));
    args[2] = st_s.to_string();
    let b: Value =
        serde_json::from_str(&ok(&args.iter().map(String::as_str).collect::<Vec<_>>())).unwrap();
    assert_eq!(a["test_loss"], b["test_loss"]);
    // An existing file is kept unless --force.
    let before = std::fs::read(&st).unwrap();
    let e = fails(&["convert", &fixture("resnet20.pth"), st_s]);
    assert!(e.contains("exists") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(&st).unwrap(), before);
    ok(&["convert", &fixture("resnet20.pth"), st_s, "--force"]);
    let got = reslab::checkpoint::read(&st).unwrap();
    let want = reslab::checkpoint::read(&fixtures().join("resnet20.safetensors")).unwrap();
    assert_eq!(got.f32s, want.f32s);
    // A resumable training state: the model's tensors, the optimizer's left out.
    ok(&["convert", &fixture("resnet50.pth"), st_s, "--force"]);
    let got = reslab::checkpoint::read(&st).unwrap();
    assert!(got.f32s.contains_key("layer4.2.conv3.weight"));
    assert!(
        got.f32s.keys().all(|k| !k.starts_with("optimizer")),
        "{:?}",
        got.f32s.keys()
    );
}

#[test]
fn hostile_and_broken_checkpoints_are_refused() {
    let hostile = fixture("hostile.pth");
    for cmd in ["eval", "probe", "lesion", "landscape"] {
        let o = reslab(&[cmd, "--checkpoint", &hostile, "--model", "resnet20"]);
        assert!(!o.status.success(), "{cmd} accepted hostile.pth");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains("posix.system") || err.contains("os.system"),
            "{cmd}: {err}"
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.contains("would have run"),
            "{cmd} ran the pickle's code"
        );
    }
    let (_guard, out) = tmp("convert-hostile");
    let e = fails(&["convert", &hostile, out.to_str().unwrap()]);
    assert!(e.contains("system"), "{e}");
    assert!(!out.exists(), "nothing is written for a refused file");

    // Truncated: every cut of the zip refused with a message.
    let bytes = std::fs::read(fixtures().join("resnet20.pth")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    for cut in [10, bytes.len() / 3, bytes.len() - 30] {
        let p = out.join(format!("cut{cut}.pth"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = fails(&[
            "eval",
            "--checkpoint",
            p.to_str().unwrap(),
            "--model",
            "resnet20",
        ]);
        assert!(
            e.contains(p.to_str().unwrap()),
            "the message names the file: {e}"
        );
    }
    // A foreign file under a checkpoint's name.
    let p = out.join("notes.pth");
    std::fs::write(&p, "not a checkpoint at all\n").unwrap();
    let e = fails(&[
        "probe",
        "--checkpoint",
        p.to_str().unwrap(),
        "--model",
        "resnet20",
    ]);
    assert!(e.contains("notes.pth"), "{e}");
}

#[test]
fn a_foreign_checkpoint_must_be_described_and_a_described_one_must_agree() {
    // Without --model: told what to give.
    let e = fails(&["eval", "--checkpoint", &fixture("resnet20.pth")]);
    assert!(e.contains("--model"), "{e}");
    // The wrong model for the tensors: the mismatch is named.
    let mut args = vec!["eval".to_string()];
    args.extend(described("resnet32", "resnet20.pth"));
    let e = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("layer1.3") || e.contains("resnet32"), "{e}");

    // A reslab checkpoint carries its description: a contradicting flag is
    // an error naming both.
    let (_guard, run_dir) = tmp("own");
    ok(&[
        "train",
        "--model",
        "resnet8",
        "--width",
        "4",
        "--image-size",
        "8",
        "--train-images",
        "64",
        "--test-images",
        "32",
        "--batch",
        "32",
        "--steps",
        "2",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    let ckpt = run_dir.join("checkpoint.safetensors");
    let ckpt = ckpt.to_str().unwrap();
    let e = fails(&["eval", "--checkpoint", ckpt, "--model", "resnet20"]);
    assert!(e.contains("resnet20") && e.contains("resnet8"), "{e}");
    let e = fails(&["eval", "--checkpoint", ckpt, "--mean", "0.1,0.1,0.1"]);
    assert!(e.contains("mean"), "{e}");
    // Flags that agree are accepted.
    ok(&["eval", "--checkpoint", ckpt, "--model", "resnet8"]);
}

/// Writes an ImageFolder tree of three classes of generated pictures:
/// `layout` "split" gives train/ and val/, "flat" one level of class folders.
fn write_tree(dir: &Path, layout: &str) {
    let classes = ["circle", "cross", "noise"];
    let mut state = 12345u64;
    let mut rand = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    for (k, class) in classes.iter().enumerate() {
        for i in 0..16 {
            let sub = match (layout, i) {
                ("split", 0..12) => format!("train/{class}"),
                ("split", _) => format!("val/{class}"),
                _ => class.to_string(),
            };
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            // Not square, so the resize and the centre crop both act.
            let (w, h) = (24 + (i % 3) * 4, 20);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let (dx, dy) = (x as i32 - w as i32 / 2, y as i32 - h as i32 / 2);
                let on = match k {
                    0 => dx * dx + dy * dy < 40,
                    1 => dx.abs() < 2 || dy.abs() < 2,
                    _ => rand() % 2 == 0,
                };
                let v = if on {
                    200 + (rand() % 50) as u8
                } else {
                    (rand() % 60) as u8
                };
                image::Rgb([v, v / 2, 255 - v])
            });
            img.save(d.join(format!("{i:02}.png"))).unwrap();
        }
    }
}

#[test]
fn an_image_folder_trains_and_is_analysed() {
    let (_guard, root) = tmp("folder");
    let tree = root.join("images");
    write_tree(&tree, "split");
    let tree_s = tree.to_str().unwrap();
    let data = [
        "--data",
        "folder",
        "--data-dir",
        tree_s,
        "--image-size",
        "16",
    ];
    let train = |out: &Path, extra: &[&str]| {
        let mut a = vec![
            "train",
            "--model",
            "resnet8",
            "--width",
            "4",
            "--batch",
            "12",
            "--steps",
            "9",
            "--log-every",
            "1",
            "--out",
        ];
        let out_s = out.to_str().unwrap().to_string();
        a.push(&out_s);
        a.extend_from_slice(&data);
        a.extend_from_slice(extra);
        ok(&a);
        std::fs::read_to_string(out.join("metrics.jsonl")).unwrap()
    };
    let in_memory = train(&root.join("run"), &[]);
    // Decoding each image when a batch needs it gives the same run.
    let streamed = train(&root.join("streamed"), &["--stream"]);
    let losses = |m: &str| -> Vec<f64> {
        m.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["loss"].as_f64())
            .collect()
    };
    assert_eq!(losses(&in_memory).len(), 9);
    assert_eq!(losses(&in_memory), losses(&streamed));
    let config = json_file(&root.join("run/config.json"));
    assert_eq!(config["data"]["name"], "folder", "{config}");

    let ckpt = root.join("run/checkpoint.safetensors");
    let ckpt_s = ckpt.to_str().unwrap();
    let mut eval = vec!["eval", "--checkpoint", ckpt_s];
    eval.extend_from_slice(&data);
    let out: Value = serde_json::from_str(&ok(&eval)).unwrap();
    assert_eq!(out["images"], 12, "{out}");
    assert_eq!(out["data"], "folder");
    for (cmd, png) in [
        ("probe", "probe_r.png"),
        ("lesion", "lesion.png"),
        ("landscape", "landscape_loss.png"),
    ] {
        let dir = root.join(cmd);
        let mut a = vec![cmd, "--checkpoint", ckpt_s, "--out", dir.to_str().unwrap()];
        a.extend_from_slice(&data);
        if cmd == "landscape" {
            a.extend_from_slice(&["--grid", "3"]);
        }
        ok(&a);
        assert!(dir.join(png).exists(), "{cmd} wrote no {png}");
        let s = json_file(&dir.join("summary.json"));
        assert_eq!(s["images"], 12, "{cmd}: {s}");
    }

    // One level of class folders, split by a fraction: 16 per class, a
    // quarter of each for testing.
    let flat = root.join("flat");
    write_tree(&flat, "flat");
    let out: Value = serde_json::from_str(&ok(&[
        "eval",
        "--checkpoint",
        ckpt_s,
        "--data",
        "folder",
        "--data-dir",
        flat.to_str().unwrap(),
        "--image-size",
        "16",
        "--val-fraction",
        "0.25",
    ]))
    .unwrap();
    assert_eq!(out["images"], 12, "{out}");
}

#[test]
fn an_image_that_breaks_during_a_run_stops_it_with_its_name() {
    let (_guard, root) = tmp("broken");
    let tree = root.join("images");
    write_tree(&tree, "split");
    // Readable headers (checked on loading), but the pixel data cut off.
    let victim = tree.join("val/cross/13.png");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = reslab(&[
        "eval",
        "--checkpoint",
        &fixture("resnet20.safetensors"),
        "--model",
        "resnet20",
        "--data",
        "folder",
        "--data-dir",
        tree.to_str().unwrap(),
        "--stream",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("13.png"), "the message names the file: {err}");
    // Decoded on loading (no --stream), it is refused before any work.
    let e = fails(&[
        "eval",
        "--checkpoint",
        &fixture("resnet20.safetensors"),
        "--model",
        "resnet20",
        "--data",
        "folder",
        "--data-dir",
        tree.to_str().unwrap(),
    ]);
    assert!(e.contains("13.png"), "{e}");
}

/// The app's worker opens a PyTorch checkpoint in place of its nets, on the
/// data of its run settings, and evaluates, lesions and draws it as PyTorch
/// computes it.
#[test]
fn the_app_opens_a_pytorch_checkpoint() {
    use reslab_app::gui::settings::{NetChoice, RunSettings};
    use reslab_app::gui::worker::{Command, Event, Image, Layer, Worker};
    use std::time::{Duration, Instant};

    let gpu = reslab::Gpu::new().expect("a wgpu adapter");
    let settings = RunSettings {
        data: "folder".into(),
        data_dir: fixture("images"),
        image_size: 32,
        nets: vec![NetChoice::plain(8), NetChoice::resnet(8)],
        width: 4,
        ..RunSettings::default()
    };
    let w = Worker::spawn(gpu, settings, |_| {});
    let wait = |what: &str, found: &mut dyn FnMut(&Event) -> bool| {
        let end = Instant::now() + Duration::from_secs(120);
        while Instant::now() < end {
            match w.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Event::Error(e)) => panic!("the worker failed: {e}"),
                Ok(e) if found(&e) => return,
                _ => {}
            }
        }
        panic!("no {what} from the worker");
    };
    // The fresh nets of the settings first.
    wait("nets", &mut |e| matches!(e, Event::Nets { .. }));

    let exp = expected();
    let want = &exp["models"]["resnet20"];
    w.send(Command::Open {
        path: fixtures().join("resnet20.pth"),
        describe: reslab::analysis::Describe {
            model: Some("resnet20".into()),
            mean: Some(vec![0.5; 3]),
            std: Some(vec![0.25; 3]),
            ..Default::default()
        },
    });
    wait("opened net", &mut |e| match e {
        Event::Nets { nets, fresh } => {
            assert!(fresh, "an opened net starts its history anew");
            assert_eq!(nets.len(), 1);
            assert_eq!(nets[0].name, "resnet20");
            assert_eq!(nets[0].classes, ["bars", "checker", "disk", "stripes"]);
            true
        }
        _ => false,
    });
    w.send(Command::SetLesions {
        net: 0,
        blocks: Default::default(),
    });
    let pt_acc = want["accuracy"].as_f64().unwrap() as f32;
    wait("evaluation", &mut |e| match e {
        Event::Lesion { accuracy, .. } => {
            assert_eq!(*accuracy, pt_acc, "the app's accuracy vs PyTorch's");
            true
        }
        _ => false,
    });
    for i in [0usize, 13, 39] {
        w.send(Command::ShowActivation {
            net: 0,
            image: Image::Test(i),
            layer: Layer::Block(0),
        });
        // PyTorch's class probabilities of image i.
        let logits: Vec<f64> = want["logits"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = logits.iter().map(|l| (l - top).exp()).sum();
        let pt: Vec<f64> = logits.iter().map(|l| (l - top).exp() / z).collect();
        wait("activation", &mut |e| match e {
            Event::Activation { probs, .. } => {
                // Compared as log-probabilities: most are saturated.
                let worst = probs
                    .iter()
                    .zip(&pt)
                    .filter(|(_, b)| **b > 1e-30)
                    .map(|(&a, b)| (f64::from(a).ln() - b.ln()).abs())
                    .fold(0.0, f64::max);
                eprintln!("image {i}: largest log-probability difference {worst:e}");
                assert!(worst < 1e-4, "image {i}: {probs:?} vs PyTorch's {pt:?}");
                true
            }
            _ => false,
        });
    }
    // A hostile file is refused with its reason; the net stays.
    w.send(Command::Open {
        path: fixtures().join("hostile.pth"),
        describe: reslab::analysis::Describe {
            model: Some("resnet20".into()),
            ..Default::default()
        },
    });
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < end, "no answer to the hostile file");
        if let Ok(Event::Error(e)) = w.rx.recv_timeout(Duration::from_millis(200)) {
            assert!(e.contains("system"), "{e}");
            break;
        }
    }
}
