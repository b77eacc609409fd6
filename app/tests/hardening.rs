//! Bad input of every kind the command line takes: each is refused with exit
//! status 1 and a message naming the problem, without a panic, within
//! seconds and a bounded amount of memory; runs killed in the middle of an
//! epoch or of a checkpoint write resume exactly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reslab::checkpoint;

const BIN: &str = env!("CARGO_BIN_EXE_reslab");

/// What a finished `reslab` process did.
struct Ran {
    code: i32,
    stderr: String,
    seconds: f64,
    /// Peak resident memory of the process.
    peak_bytes: u64,
}

/// Runs `reslab args` with `env`, measuring its time and peak memory.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let start = Instant::now();
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reslab");
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut status = 0;
    // The child is reaped here by wait4 (for its peak memory), not by
    // `Child::wait`.
    // SAFETY: an all-zero rusage is a valid value, and wait4 writes into
    // locals that outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4 failed");
    let seconds = start.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Ran {
        code,
        stderr: reader.join().unwrap(),
        seconds,
        // Linux reports kilobytes.
        peak_bytes: usage.ru_maxrss as u64 * 1024,
    }
}

/// Runs a command that must be refused: exit status 1, a message holding
/// every one of `words`, no panic, under 10 s and 1 GiB.
#[track_caller]
fn refused(args: &[&str], words: &[&str]) -> String {
    let r = run_env(args, &[]);
    let line = format!(
        "reslab {args:?}: exit {} after {:.2} s, peak {} MiB\n{}",
        r.code,
        r.seconds,
        r.peak_bytes >> 20,
        r.stderr
    );
    assert_eq!(r.code, 1, "{line}");
    assert!(!r.stderr.contains("panicked"), "{line}");
    for w in words {
        assert!(r.stderr.contains(w), "no {w:?} in the message: {line}");
    }
    assert!(r.seconds < 10.0, "too slow to refuse: {line}");
    assert!(r.peak_bytes < 1 << 30, "too much memory to refuse: {line}");
    r.stderr
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let r = run_env(args, &[]);
    assert_eq!(r.code, 0, "reslab {args:?} failed:\n{}", r.stderr);
    r.stderr
}

/// A path that does not exist yet, `name` inside a fresh directory under the
/// system temp dir. The guard removes that directory, with whatever the test
/// made at the path, when it drops, also when the test fails: keep it alive.
fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let guard = tempfile::Builder::new()
        .prefix(&format!("reslab-hard-{name}-"))
        .tempdir()
        .unwrap();
    let path = guard.path().join(name);
    (guard, path)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The tiny synthetic set every run here uses.
const DATA: &[&str] = &[
    "--image-size",
    "8",
    "--train-images",
    "256",
    "--test-images",
    "64",
];

/// A tiny trained checkpoint: 8 steps of resnet8 at width 4.
fn trained(dir: &Path) -> PathBuf {
    let mut args = vec![
        "train",
        "--out",
        s(dir),
        "--model",
        "resnet8",
        "--width",
        "4",
    ];
    args.extend_from_slice(DATA);
    args.extend_from_slice(&["--batch", "32", "--epochs", "1"]);
    ok(&args);
    dir.join("checkpoint.safetensors")
}

/// A copy of checkpoint `src` at `dst` with its reslab metadata changed by
/// `meta` and its tensors by `tensors`.
fn doctored(
    src: &Path,
    dst: &Path,
    meta: impl FnOnce(&mut serde_json::Value),
    tensors: impl FnOnce(&mut checkpoint::Tensors),
) -> PathBuf {
    let mut t = checkpoint::read(src).unwrap();
    let mut card: serde_json::Value =
        serde_json::from_str(&t.metadata[checkpoint::CONFIG_KEY]).unwrap();
    meta(&mut card);
    tensors(&mut t);
    let mut m = t.metadata.clone();
    m.insert(checkpoint::CONFIG_KEY.into(), card.to_string());
    let values: Vec<_> = t
        .f32s
        .iter()
        .map(|(k, (shape, v))| (k.clone(), shape.clone(), v.clone()))
        .collect();
    let counters: Vec<_> = t.i64s.iter().map(|(k, (_, v))| (k.clone(), v[0])).collect();
    checkpoint::write(dst, &values, &counters, m).unwrap();
    dst.to_path_buf()
}

/// `args` followed by the tiny data set's flags.
fn with_data<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(DATA);
    v
}

fn png(path: &Path) {
    image::RgbImage::from_pixel(40, 30, image::Rgb([200, 30, 30]))
        .save(path)
        .unwrap();
}

#[test]
fn every_bad_checkpoint_card_and_flag_is_refused_quickly() {
    let (_guard, root) = tmp("cards");
    let ck = trained(&root.join("run"));
    let d = |name: &str| root.join(name);
    let empty_mean = doctored(
        &ck,
        &d("empty_mean.st"),
        |m| m["card"]["mean"] = serde_json::json!([]),
        |_| {},
    );
    let huge_input = doctored(
        &ck,
        &d("huge_input.st"),
        |m| m["card"]["input"] = serde_json::json!([3, 100000, 100000]),
        |_| {},
    );
    let deep = doctored(
        &ck,
        &d("deep.st"),
        |m| m["card"]["model"]["depth"] = serde_json::json!(6_000_000_002u64),
        |_| {},
    );
    let std0 = doctored(
        &ck,
        &d("std0.st"),
        |m| m["card"]["std"] = serde_json::json!([0, 0, 0]),
        |_| {},
    );
    let nan = doctored(
        &ck,
        &d("nan.st"),
        |_| {},
        |t| {
            t.f32s.get_mut("layer1.0.conv2.weight").unwrap().1[3] = f32::NAN;
        },
    );
    let image = d("red.png");
    png(&image);
    let out = d("out");
    for cmd in ["eval", "lesion", "landscape"] {
        let mut a = with_data(&[cmd, "--checkpoint", s(&empty_mean)]);
        if cmd != "eval" {
            a.extend_from_slice(&["--out", s(&out)]);
        }
        refused(&a, &["0 mean value(s)", "empty_mean.st"]);
    }
    refused(
        &["eval", "--checkpoint", s(&huge_input)],
        &["100000x100000"],
    );
    refused(
        &[
            "infer",
            "--model",
            "resnet8",
            "--checkpoint",
            s(&huge_input),
            "--input",
            s(&image),
        ],
        &["100000x100000"],
    );
    refused(&["eval", "--checkpoint", s(&deep)], &["6000000002"]);
    for (file, words) in [
        (&std0, &["std", "positive"][..]),
        (&nan, &["layer1.0.conv2.weight", "NaN"]),
    ] {
        refused(&["eval", "--checkpoint", s(file)], words);
        refused(
            &[
                "infer",
                "--model",
                "resnet8",
                "--checkpoint",
                s(file),
                "--input",
                s(&image),
                "--top",
                "1",
            ],
            words,
        );
    }
    // Input sizes: refused before the image is decoded and resized.
    for size in ["100000", "20000"] {
        refused(
            &[
                "infer",
                "--model",
                "resnet8",
                "--checkpoint",
                s(&ck),
                "--input",
                s(&image),
                "--size",
                size,
            ],
            &["16384"],
        );
    }
    refused(
        &[
            "infer",
            "--model",
            "resnet8",
            "--checkpoint",
            s(&ck),
            "--input",
            s(&image),
            "--size",
            "12000",
        ],
        &["12000x12000", "does not fit"],
    );
    // A .npy header whose shape's size wraps around.
    let npy = d("wrap.npy");
    let mut header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 16, 3), }"
            .to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&npy, bytes).unwrap();
    refused(
        &[
            "infer",
            "--model",
            "resnet8",
            "--checkpoint",
            s(&ck),
            "--input",
            s(&npy),
        ],
        &["wrap.npy", "overflows"],
    );
    // Model sizes, run lengths and data sizes from flags.
    let o = s(&out);
    refused(
        &["train", "--model", "resnet6000000002", "--out", o],
        &["is not a depth"],
    );
    for width in ["100000", "4611686018427387904"] {
        refused(
            &["train", "--width", width, "--out", o],
            &["above reslab's limit"],
        );
    }
    refused(
        &["train", "--train-images", "1000000000000", "--out", o],
        &["1000000000000", "memory available"],
    );
    refused(
        &[
            "train",
            "--model",
            "resnet8",
            "--width",
            "4",
            "--epochs",
            "2305843009213693952",
            "--out",
            o,
        ],
        &[
            "--epochs 2305843009213693952",
            "more steps than can be counted",
        ],
    );
    assert!(!out.exists(), "a refused run left its folder");
    // Landscape grids.
    for range in ["nan", "inf", "1e308", "0"] {
        let mut a = with_data(&["landscape", "--checkpoint", s(&ck), "--range", range]);
        a.extend_from_slice(&["--out", o]);
        refused(&a, &["range"]);
    }
    let mut a = with_data(&["landscape", "--checkpoint", s(&ck), "--grid", "1000000"]);
    a.extend_from_slice(&["--out", o]);
    refused(&a, &["--grid 1000000"]);
    // Redundancy checks its depths and lengths before training anything.
    for (flag, value, word) in [
        ("--deep", "14", "cannot grow"),
        ("--deep", "27", "6n+2"),
        ("--grow-steps", "0", "--grow-steps"),
    ] {
        let mut a = with_data(&["redundancy", flag, value]);
        a.extend_from_slice(&["--out", o]);
        refused(&a, &[word]);
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// IDX bytes: the header of `dims`, then `data`.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

#[test]
fn a_compressed_data_file_is_not_inflated_past_its_header() {
    use std::io::Write;
    let (_guard, dir) = tmp("bomb");
    std::fs::create_dir_all(&dir).unwrap();
    let gz = |name: &str, bytes: &[u8], zeros: usize| {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        let block = vec![0u8; 1 << 20];
        for _ in 0..zeros >> 20 {
            e.write_all(&block).unwrap();
        }
        e.finish().unwrap();
    };
    // 12 images of 4x4 announced, 2 GiB of data behind them.
    gz(
        "train-images-idx3-ubyte.gz",
        &idx(&[12, 4, 4], &[0; 192]),
        2 << 30,
    );
    gz("train-labels-idx1-ubyte.gz", &idx(&[12], &[1; 12]), 0);
    gz("t10k-images-idx3-ubyte.gz", &idx(&[12, 4, 4], &[0; 192]), 0);
    gz("t10k-labels-idx1-ubyte.gz", &idx(&[12], &[1; 12]), 0);
    let out = dir.join("out");
    refused(
        &[
            "train",
            "--data",
            "mnist",
            "--data-dir",
            s(&dir),
            "--out",
            s(&out),
        ],
        &["train-images-idx3-ubyte.gz", "longer than its header says"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// (step, loss, accuracy) of every step line, and (step, test loss) of every
/// epoch line, as the run logged them.
type Logged = (Vec<(u64, f64, f64)>, Vec<(u64, f64)>);

fn logged(dir: &Path) -> Logged {
    let ls = lines(dir);
    let steps = ls
        .iter()
        .filter(|v| v.get("loss").is_some())
        .map(|v| {
            (
                v["step"].as_u64().unwrap(),
                v["loss"].as_f64().unwrap(),
                v["accuracy"].as_f64().unwrap(),
            )
        })
        .collect();
    let epochs = ls
        .iter()
        .filter(|v| v.get("test_loss").is_some())
        .map(|v| {
            (
                v["step"].as_u64().unwrap(),
                v["test_loss"].as_f64().unwrap(),
            )
        })
        .collect();
    (steps, epochs)
}

/// 3 epochs of 8 steps, a line per step.
fn run_args(dir: &Path) -> Vec<&str> {
    let mut a = vec![
        "train",
        "--out",
        s(dir),
        "--model",
        "resnet8",
        "--width",
        "4",
    ];
    a.extend_from_slice(DATA);
    a.extend_from_slice(&["--batch", "32", "--epochs", "3", "--log-every", "1"]);
    a
}

/// Starts a run with `env` and SIGKILLs it as soon as `when` holds of its folder.
fn kill_when(dir: &Path, env: &[(&str, &str)], when: impl Fn(&Path) -> bool) {
    let mut child = Command::new(BIN)
        .args(run_args(dir))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !when(dir) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "never got there");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The run killed, then resumed: its checkpoint was still good, and the
/// resumed run logged every step and epoch once, with the losses of an
/// uninterrupted run.
fn resumes_exactly(dir: &Path, whole: &Path, killed_at: &str) {
    let ck = dir.join("checkpoint.safetensors");
    let mut eval = vec!["eval", "--checkpoint", s(&ck)];
    eval.extend_from_slice(DATA);
    ok(&eval);
    let step = reslab::train::RunDir {
        path: dir.to_path_buf(),
    }
    .checkpoint_step();
    assert_eq!(
        step,
        Some(8),
        "{killed_at}: the checkpoint of the first epoch"
    );
    let mut resume = run_args(dir);
    resume.push("--resume");
    ok(&resume);
    let (steps, epochs) = logged(dir);
    let (want_steps, want_epochs) = logged(whole);
    let numbers: Vec<u64> = steps.iter().map(|s| s.0).collect();
    assert_eq!(
        numbers,
        (1..=24).collect::<Vec<_>>(),
        "{killed_at}: step lines"
    );
    assert_eq!(
        steps, want_steps,
        "{killed_at}: losses of the uninterrupted run"
    );
    assert_eq!(epochs, want_epochs, "{killed_at}: epoch lines");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.') || n.contains("prev"))
        .collect();
    assert!(left.is_empty(), "{killed_at}: left behind {left:?}");
}

#[test]
fn a_run_killed_in_an_epoch_or_a_checkpoint_write_resumes_exactly() {
    let (_guard, root) = tmp("kill");
    let whole = root.join("whole");
    ok(&run_args(&whole));
    // Killed in the middle of the second epoch.
    let mid = root.join("mid");
    kill_when(&mid, &[], |d| {
        std::fs::read_to_string(d.join("metrics.jsonl")).is_ok_and(|m| m.contains("\"step\":12,"))
    });
    resumes_exactly(&mid, &whole, "killed in an epoch");
    // Killed while the second epoch's optimizer state, then its checkpoint,
    // is being written (each atomic write pauses before its file is synced
    // and renamed; the first epoch's checkpoint is in place by then).
    for file in ["optimizer", "checkpoint"] {
        let dir = root.join(file);
        let temporary = format!(".{file}.safetensors.tmp-");
        kill_when(&dir, &[("RESLAB_WRITE_STALL_MS", "400")], |d| {
            d.join("checkpoint.safetensors").exists()
                && std::fs::read_dir(d).unwrap().any(|e| {
                    e.unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(&temporary)
                })
        });
        resumes_exactly(&dir, &whole, &format!("killed writing the {file}"));
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn resume_refuses_flags_that_disagree_and_applies_a_longer_run() {
    let (_guard, dir) = tmp("flags");
    let mut first = vec![
        "train",
        "--out",
        s(&dir),
        "--model",
        "resnet8",
        "--width",
        "4",
    ];
    first.extend_from_slice(DATA);
    first.extend_from_slice(&["--batch", "32", "--epochs", "1", "--lr", "0.05"]);
    ok(&first);
    let o = s(&dir);
    for (flag, value) in [
        ("--lr", "0.1"),
        ("--batch", "16"),
        ("--model", "resnet14"),
        ("--data", "mnist"),
        ("--train-limit", "100"),
        ("--width", "8"),
    ] {
        let e = refused(
            &["train", "--out", o, "--resume", flag, value],
            &[flag, "disagrees", "config.json"],
        );
        assert!(!e.contains("training"), "{e}");
    }
    // A flag that says what config.json says is fine, and more epochs are applied.
    ok(&[
        "train", "--out", o, "--resume", "--lr", "0.05", "--epochs", "2",
    ]);
    let (steps, epochs) = logged(&dir);
    assert_eq!(steps.last().map(|s| s.0), Some(16));
    assert_eq!(epochs.len(), 2);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["epochs"], 2);
    refused(
        &["train", "--out", o, "--resume", "--steps", "10"],
        &["already taken 16 steps"],
    );
    // A start that fails leaves no folder behind.
    let (_never_guard, never) = tmp("never");
    let mut big = vec!["train", "--out", s(&never), "--batch", "100000"];
    big.extend_from_slice(DATA);
    refused(&big, &["batch 100000"]);
    assert!(!never.exists(), "a failed start left {}", never.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_that_diverges_exits_with_an_error_and_saves_nothing_unusable() {
    let (_guard, dir) = tmp("diverge");
    let mut a = vec![
        "train",
        "--out",
        s(&dir),
        "--model",
        "resnet8",
        "--width",
        "4",
    ];
    a.extend_from_slice(DATA);
    a.extend_from_slice(&["--batch", "32", "--steps", "1", "--lr", "1e30"]);
    let e = refused(&a, &["NaN", "training stopped", "holds no checkpoint"]);
    assert!(!dir.join("checkpoint.safetensors").exists(), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `reslab gui RUN_DIR` says what is wrong with a run folder before it opens
/// a window.
#[test]
fn the_app_refuses_run_folders_it_cannot_read_before_opening() {
    let (_guard, d) = tmp("gui-runs");
    refused(
        &["gui", s(&d.join("missing"))],
        &["cannot open the run", "no such file or folder"],
    );
    let foreign = d.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("summary.json"), b"{\"x\": [1, 2]}").unwrap();
    refused(
        &["gui", s(&foreign)],
        &["cannot open the run", "not a summary"],
    );
    refused(&["gui", "--preset", "plain"], &["--preset", "degradation"]);
}
