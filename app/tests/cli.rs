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

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reslab-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
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
    let (a, b) = (tmp("seed-a"), tmp("seed-b"));
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
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn bad_inputs_get_one_clear_message() {
    let out = tmp("bad");
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
    let junk = tmp("junk");
    std::fs::create_dir_all(&junk).unwrap();
    let f = junk.join("junk.safetensors");
    std::fs::write(&f, b"this is not a safetensors file").unwrap();
    let err = fails(&["eval", "--checkpoint", f.to_str().unwrap()]);
    assert!(err.contains("not a valid safetensors file"), "{err}");
    let _ = std::fs::remove_dir_all(junk);
}
