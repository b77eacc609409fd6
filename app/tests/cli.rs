//! The `reslab` binary end to end: what it prints, writes and refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        .prefix(&format!("reslab-cli-{name}-"))
        .tempdir()
        .unwrap();
    let path = guard.path().join(name);
    (guard, path)
}

#[test]
fn info_json_names_backend_and_adapter() {
    let out = ok(&["info", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert!(v["backend"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v["adapter"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(
        v["limits"]["maxStorageBufferBindingSize"]
            .as_u64()
            .is_some(),
        "{v}"
    );
}

const TINY: &[&str] = &[
    "--model",
    "resnet8",
    "--width",
    "4",
    "--image-size",
    "8",
    "--train-images",
    "256",
    "--test-images",
    "64",
    "--batch",
    "32",
    "--steps",
    "12",
    "--log-every",
    "1",
];

fn losses(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["loss"].as_f64())
        .collect()
}

#[test]
fn train_twice_with_one_seed_gives_the_same_losses() {
    let ((_guard_a, a), (_guard_b, b)) = (tmp("seed-a"), tmp("seed-b"));
    for d in [&a, &b] {
        let mut args = vec!["train", "--out", d.to_str().unwrap()];
        args.extend_from_slice(TINY);
        let out = ok(&args);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("a JSON summary");
        assert!(v["test_accuracy"].as_f64().is_some(), "{v}");
    }
    let (la, lb) = (losses(&a), losses(&b));
    assert_eq!(la.len(), 12);
    assert_eq!(la, lb);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["depth"], 8);
    // The checkpoint evaluates.
    let ck = a.join("checkpoint.safetensors");
    let mut eval = vec!["eval", "--checkpoint", ck.to_str().unwrap()];
    eval.extend_from_slice(&[
        "--image-size",
        "8",
        "--test-images",
        "64",
        "--train-images",
        "256",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok(&eval)).unwrap();
    assert_eq!(v["images"], 64);
    assert!(
        v["test_accuracy"]
            .as_f64()
            .is_some_and(|x| (0.0..=1.0).contains(&x))
    );
    // An existing run is refused, then replaced with --force.
    let mut again = vec!["train", "--out", a.to_str().unwrap()];
    again.extend_from_slice(TINY);
    let err = fails(&again);
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    again.push("--force");
    ok(&again);
}

#[test]
fn bad_inputs_get_one_clear_message() {
    let (_guard, out) = tmp("bad");
    let o = out.to_str().unwrap();
    let err = fails(&[
        "train",
        "--data",
        "mnist",
        "--data-dir",
        "/nonexistent/mnist",
        "--out",
        o,
    ]);
    assert!(
        err.contains("/nonexistent/mnist") && err.contains("missing"),
        "{err}"
    );
    let err = fails(&["train", "--model", "resnet21", "--out", o]);
    assert!(err.contains("6n+2"), "{err}");
    let err = fails(&["train", "--data", "imagenet", "--out", o]);
    assert!(err.contains("unknown data set"), "{err}");
    let err = fails(&["eval", "--checkpoint", "/nonexistent.safetensors"]);
    assert!(err.contains("/nonexistent.safetensors"), "{err}");
    let (_junk_guard, junk) = tmp("junk");
    std::fs::create_dir_all(&junk).unwrap();
    let f = junk.join("junk.safetensors");
    std::fs::write(&f, b"this is not a safetensors file").unwrap();
    let err = fails(&["eval", "--checkpoint", f.to_str().unwrap()]);
    assert!(err.contains("not a valid safetensors file"), "{err}");
}

#[test]
fn infer_writes_logits_and_refuses_bad_inputs() {
    let (_guard, d) = tmp("infer");
    let run = d.join("run");
    let mut args = vec!["train", "--out", run.to_str().unwrap()];
    args.extend_from_slice(TINY);
    ok(&args);
    let ck = run.join("checkpoint.safetensors");
    let ck = ck.to_str().unwrap();
    let input = d.join("input.npy");
    let x = reslab::npy::Array {
        shape: vec![2, 3, 8, 8],
        data: (0..384).map(|i| (i as f32 * 0.37).sin()).collect(),
    };
    reslab::npy::write(&input, &x).unwrap();
    let out = d.join("logits.npy");
    let top = ok(&[
        "infer",
        "--model",
        "resnet8",
        "--checkpoint",
        ck,
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--top",
        "3",
    ]);
    let logits = reslab::npy::read(&out).unwrap();
    assert_eq!(logits.shape, vec![2, 10]);
    assert_eq!(top.lines().count(), 2, "{top}");
    assert!(top.contains('%'), "{top}");
    // Batch statistics instead of running ones give other logits.
    let train_out = d.join("logits_train.npy");
    ok(&[
        "infer",
        "--model",
        "resnet8",
        "--checkpoint",
        ck,
        "--input",
        input.to_str().unwrap(),
        "--output",
        train_out.to_str().unwrap(),
        "--bn",
        "train",
    ]);
    assert_ne!(reslab::npy::read(&train_out).unwrap().data, logits.data);
    // An image file is resized and normalised as the checkpoint says.
    let png = d.join("x.png");
    image::RgbImage::from_fn(20, 13, |x, y| {
        image::Rgb([(x * 12) as u8, (y * 19) as u8, 90])
    })
    .save(&png)
    .unwrap();
    let top = ok(&[
        "infer",
        "--model",
        "resnet8",
        "--checkpoint",
        ck,
        "--input",
        png.to_str().unwrap(),
        "--top",
        "1",
    ]);
    assert_eq!(top.lines().count(), 1, "{top}");

    let infer = |model: &str, ck: &str, input: &Path| {
        fails(&[
            "infer",
            "--model",
            model,
            "--checkpoint",
            ck,
            "--input",
            input.to_str().unwrap(),
        ])
    };
    // A truncated checkpoint.
    let bytes = std::fs::read(ck).unwrap();
    let cut = d.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = infer("resnet8", cut.to_str().unwrap(), &input);
    assert!(
        e.contains("cut.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );
    // A file of another format.
    let e = infer("resnet8", png.to_str().unwrap(), &input);
    assert!(
        e.contains("x.png") && e.contains("not a valid safetensors"),
        "{e}"
    );
    // A checkpoint of another model: reslab's own name what they hold…
    let e = infer("resnet14", ck, &input);
    assert!(
        e.contains("holds a resnet8") && e.contains("not a resnet14"),
        "{e}"
    );
    // …a bare state_dict (as PyTorch writes) names the first missing key.
    let t = reslab::checkpoint::read(Path::new(ck)).unwrap();
    let values: Vec<_> = t
        .f32s
        .iter()
        .map(|(k, (s, v))| (k.clone(), s.clone(), v.clone()))
        .collect();
    let bare = d.join("bare.safetensors");
    reslab::checkpoint::write(&bare, &values, &[], Default::default()).unwrap();
    let e = infer("resnet14", bare.to_str().unwrap(), &input);
    assert!(e.contains("missing key layer1.1"), "{e}");
    let e = infer("resnet18", ck, &input);
    assert!(e.contains("conv1 is 3x3"), "{e}");
    // An array of the wrong shape, and a truncated one.
    let wrong = d.join("wrong.npy");
    reslab::npy::write(
        &wrong,
        &reslab::npy::Array {
            shape: vec![2, 1, 8, 8],
            data: vec![0.0; 128],
        },
    )
    .unwrap();
    let e = infer("resnet8", ck, &wrong);
    assert!(
        e.contains("wrong.npy") && e.contains("[2, 1, 8, 8]") && e.contains("takes 3"),
        "{e}"
    );
    let enc = std::fs::read(&input).unwrap();
    std::fs::write(&wrong, &enc[..enc.len() - 10]).unwrap();
    let e = infer("resnet8", ck, &wrong);
    assert!(e.contains("wrong.npy") && e.contains("truncated"), "{e}");
}

/// A PNG that decodes, with its size.
fn png_size(p: &Path) -> (u32, u32) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (img.width(), img.height())
}

#[test]
fn every_analysis_writes_its_summary_and_plots() {
    let (_guard, root) = tmp("analyses");
    let run = root.join("run");
    let mut train = vec!["train", "--out", run.to_str().unwrap()];
    train.extend_from_slice(TINY);
    ok(&train);
    let ck = run.join("checkpoint.safetensors");
    let data = [
        "--image-size",
        "8",
        "--train-images",
        "256",
        "--test-images",
        "64",
    ];
    let cases: [(&str, Vec<&str>, &[&str]); 4] = [
        (
            "lesion",
            vec!["--checkpoint", ck.to_str().unwrap(), "--max-k", "2"],
            &["lesion.png", "lesion_cumulative.png"],
        ),
        (
            "landscape",
            vec![
                "--checkpoint",
                ck.to_str().unwrap(),
                "--grid",
                "3",
                "--samples",
                "16",
            ],
            &["landscape_loss.png", "landscape_accuracy.png"],
        ),
        (
            "degradation",
            vec![
                "--depths",
                "8",
                "--seeds",
                "1",
                "--steps",
                "4",
                "--batch",
                "16",
                "--width",
                "4",
                "--probe-every",
                "2",
            ],
            &[
                "training_loss.png",
                "training_error.png",
                "responses.png",
                "responses_sorted.png",
            ],
        ),
        (
            "redundancy",
            vec![
                "--shallow",
                "8",
                "--deep",
                "14",
                "--steps",
                "4",
                "--grow-steps",
                "4",
                "--batch",
                "16",
                "--width",
                "4",
                "--init",
                "zero-gamma",
            ],
            &["redundancy_loss.png", "redundancy_r_zero_gamma.png"],
        ),
    ];
    for (cmd, args, pngs) in cases {
        let out = root.join(cmd);
        let mut a = vec![cmd, "--out", out.to_str().unwrap()];
        a.extend(args);
        a.extend_from_slice(&data);
        ok(&a);
        let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&summary).expect("summary.json is JSON");
        for png in pngs {
            let (w, h) = png_size(&out.join(png));
            assert!(w >= 600 && h >= 400, "{cmd}: {png} is {w}x{h}");
        }
    }
}

fn reslab_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reslab"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run reslab")
}

/// `bench --tune` measures every tiling at the stage shapes and files the
/// fastest under this adapter, keeping other adapters' tables; a tuning file
/// that is not one stops `--tune` and training with a message naming it, and
/// is left as it was.
#[test]
fn bench_tune_files_a_table_per_adapter() {
    let (_guard, d) = tmp("tune");
    let path = d.join("cache").join("tuning.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let other = r#"{"version": 1, "adapters": {"another gpu | vulkan | x | 1": {"k": "v"}}}"#;
    std::fs::write(&path, other).unwrap();
    let o = reslab_env(
        &["bench", "--tune", "--quick", "--repeats", "2", "--json"],
        &[("RESLAB_TUNING", &path)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = results.as_array().unwrap();
    // Three stage shapes, each forward, backward-data, weight gradient,
    // batch norm's reads and the width of its sums, and the two stride-2
    // convs' forward and weight gradient between them.
    assert_eq!(results.len(), 19, "{results:?}");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let adapters = file["adapters"].as_object().unwrap();
    assert_eq!(adapters["another gpu | vulkan | x | 1"]["k"], "v");
    let ours = adapters
        .iter()
        .find(|(k, _)| !k.starts_with("another gpu"))
        .map(|(_, t)| t.as_object().unwrap().clone())
        .expect("this adapter's table");
    for r in results {
        let key = r["key"].as_str().unwrap();
        assert_eq!(ours[key], r["chosen"], "{key}");
        let tried: Vec<&str> = r["times_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[0].as_str().unwrap())
            .collect();
        // Six tilings of the stride-1 forward (backward-data runs the
        // forward's), six of the weight gradient, four of the stride-2
        // forward, five of the stride-2 weight gradient, batch norm's two
        // ways of reading and three ways of summing (two widths, one pass).
        let tilings = if key.starts_with("conv2d_forward_tiled_s2 ") {
            4
        } else if key.starts_with("conv2d_backward_weight_tiled_s2 ") {
            5
        } else if key.starts_with("conv2d_backward_weight_tiled_s1 ") {
            6
        } else if key.starts_with("batchnorm_reads ") {
            2
        } else if key.starts_with("batchnorm_sums ") {
            3
        } else {
            6
        };
        assert!(
            tried.len() == tilings && tried.contains(&r["chosen"].as_str().unwrap()),
            "{key}: {tried:?}"
        );
    }
    let broken = b"{\"version\": 1, \"adapters\": ";
    std::fs::write(&path, broken).unwrap();
    for args in [
        &["bench", "--tune", "--quick"][..],
        &[
            "train",
            "--steps",
            "1",
            "--train-images",
            "64",
            "--test-images",
            "16",
            "--batch",
            "16",
        ][..],
    ] {
        let out = d.join("run");
        let mut a = args.to_vec();
        let out_s = out.to_str().unwrap();
        if args[0] == "train" {
            a.extend(["--out", out_s]);
        }
        let o = reslab_env(&a, &[("RESLAB_TUNING", &path)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("tuning file") && err.contains("tuning.json") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), broken);
    }
}

/// `bench --first-step` splits the time to a fresh device's first training
/// step into its parts and lists the plan's pipelines, each once, slowest
/// first, with the constants a specialised one sets.
#[test]
fn bench_first_step_lists_the_plans_pipelines() {
    let out = ok(&["bench", "--first-step", "--repeats", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = v.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{v}");
    let r = &runs[0];
    for part in ["open_s", "plan_s", "first_step_s", "next_step_s"] {
        let s = r[part].as_f64().unwrap();
        assert!(s > 0.0 && s.is_finite(), "{part}: {r}");
    }
    let pipelines: Vec<(String, f64)> = r["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_f64().unwrap()))
        .collect();
    assert!(
        pipelines.windows(2).all(|w| w[0].1 >= w[1].1),
        "{pipelines:?}"
    );
    assert!(
        pipelines.iter().all(|p| p.1 > 0.0 && p.1.is_finite()),
        "{pipelines:?}"
    );
    let labels: std::collections::BTreeSet<&str> = pipelines.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(labels.len(), pipelines.len(), "{pipelines:?}");
    // (over floats, or vec4s where the parameters' count allows)
    assert!(
        labels.iter().any(|l| l.starts_with("sgd.wgsl:sgd_step")),
        "{labels:?}"
    );
    // resnet20's 32x32 planes: the tiled forward convs store whole vec4 rows.
    assert!(
        labels
            .iter()
            .any(|l| l.contains(":conv2d_forward_tiled_s1") && l.contains(" VEC4_ROWS=1")),
        "{labels:?}"
    );
}

/// `bench --profile` accounts for every dispatch of a step by kernel: a
/// training step has the backward kernels and one SGD dispatch, an inference
/// step neither; an adapter without timestamps inside passes is told so.
#[test]
fn bench_profile_counts_every_kernel_of_a_step() {
    let step = [
        "bench",
        "--profile",
        "resnet8",
        "--batch",
        "4",
        "--repeats",
        "2",
        "--json",
    ];
    let run = |extra: &[&str]| -> Option<Vec<(String, u64, f64)>> {
        let mut args = step.to_vec();
        args.extend(extra);
        let o = reslab(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            assert!(
                err.contains("cannot time inside compute passes") && !err.contains("panicked"),
                "{err}"
            );
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        Some(
            v.as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    (
                        k["kernel"].as_str().unwrap().to_string(),
                        k["dispatches"].as_u64().unwrap(),
                        k["ms"].as_f64().unwrap(),
                    )
                })
                .collect(),
        )
    };
    let Some(train) = run(&[]) else { return };
    let infer = run(&["--inference"]).expect("timestamps for one step but not the other");
    let count = |p: &[(String, u64, f64)], part: &str| -> u64 {
        p.iter().filter(|k| k.0.contains(part)).map(|k| k.1).sum()
    };
    let total = |p: &[(String, u64, f64)]| -> u64 { p.iter().map(|k| k.1).sum() };
    assert_eq!(count(&train, ":sgd_step"), 1, "{train:?}");
    assert_eq!(count(&infer, ":sgd_step"), 0, "{infer:?}");
    assert!(count(&train, ":bn_backward") > 0, "{train:?}");
    assert_eq!(count(&infer, ":bn_backward"), 0, "{infer:?}");
    assert_eq!(count(&train, ":softmax_xent"), 1);
    assert!(total(&train) > total(&infer), "{train:?} {infer:?}");
    for k in train.iter().chain(&infer) {
        assert!(k.1 > 0 && k.2 >= 0.0 && k.2.is_finite(), "{k:?}");
    }
    // Largest share first.
    assert!(train.windows(2).all(|w| w[0].2 >= w[1].2), "{train:?}");
    let o = reslab(&["bench", "--profile", "resnet7"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("got 7") && !err.contains("panicked"),
        "{err}"
    );
    // --dispatches: the same step dispatch by dispatch, in program order.
    let o = reslab(&[&step[..], &["--dispatches"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let each = v.as_array().unwrap();
    assert_eq!(each.len() as u64, total(&train), "{each:?}");
    for (kernel, n, _) in &train {
        let here = each
            .iter()
            .filter(|d| d["kernel"] == kernel.as_str())
            .count();
        assert_eq!(here as u64, *n, "{kernel}");
    }
    // The step ends with its one SGD dispatch; softmax_xent runs before any
    // backward batch norm, and the first conv writes [4, 16, 32, 32].
    let kernel = |d: &serde_json::Value| d["kernel"].as_str().unwrap().to_string();
    assert!(
        kernel(each.last().unwrap()).contains(":sgd_step"),
        "{each:?}"
    );
    let at = |part: &str| each.iter().position(|d| kernel(d).contains(part)).unwrap();
    assert!(at(":softmax_xent") < at(":bn_backward"), "{each:?}");
    let conv = &each[at("conv2d_forward")];
    assert_eq!(
        conv["shapes"][0],
        serde_json::json!([4, 16, 32, 32]),
        "{conv}"
    );
    for d in each {
        let ms = d["ms"].as_f64().unwrap();
        let groups: Vec<u64> = d["workgroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_u64().unwrap())
            .collect();
        assert!(
            ms >= 0.0 && ms.is_finite() && groups.iter().all(|&g| g >= 1),
            "{d}"
        );
        assert!(!d["shapes"].as_array().unwrap().is_empty(), "{d}");
        // Bytes copied into texel textures before it, and of those the bytes
        // that repeat the texture's previous copy.
        let (copied, repeated) = (
            d["texel_bytes"].as_u64().unwrap(),
            d["repeated_texel_bytes"].as_u64().unwrap(),
        );
        assert!(repeated <= copied && copied.is_multiple_of(16), "{d}");
    }
    // The table says how much the step copies into texel textures.
    let o = reslab(&step[..step.len() - 1]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("texel copies before its passes: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(" MB, of which "), "{line}");
}
