//! The training loop on the GPU: real steps on the synthetic set, determinism,
//! resuming, and the errors a run can meet.

use std::sync::Arc;

use reslab::data::synthetic::SyntheticSpec;
use reslab::data::{DataSpec, Dataset};
use reslab::model::ModelSpec;
use reslab::train::{self, Event, RunDir, TrainConfig, Trainer};

use crate::common::*;

fn tiny_data() -> Arc<Dataset> {
    let spec = DataSpec {
        synthetic: SyntheticSpec {
            side: 8,
            channels: 3,
            train: 320,
            test: 100,
            seed: 0,
        },
        ..Default::default()
    };
    Arc::new(reslab::data::load(&spec).unwrap())
}

fn tiny_config() -> TrainConfig {
    let mut model = ModelSpec::parse("resnet8", None).unwrap();
    model.width = 8;
    TrainConfig {
        model,
        epochs: 2,
        batch: 32,
        lr: 0.05,
        log_every: 2,
        ..Default::default()
    }
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("reslab-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn losses(t: &mut Trainer, dir: Option<&RunDir>) -> Vec<f32> {
    let mut v = Vec::new();
    t.run(dir, &mut |e| {
        if let Event::Step { loss, .. } = e {
            v.push(*loss);
        }
        true
    })
    .unwrap();
    v
}

#[test]
fn same_seed_same_losses_and_the_loss_falls() {
    let gpu = gpu();
    let data = tiny_data();
    let mut a = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    let la = losses(&mut a, None);
    let mut b = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    let lb = losses(&mut b, None);
    assert_eq!(la.len(), 20);
    assert_eq!(la, lb, "same seed, same device: same losses");
    let first: f32 = la[..4].iter().sum::<f32>() / 4.0;
    let last: f32 = la[16..].iter().sum::<f32>() / 4.0;
    assert!(last < first, "loss did not fall: {first} -> {last}");
    let mut c = Trainer::new(
        gpu,
        TrainConfig {
            seed: 1,
            ..tiny_config()
        },
        data,
        None,
    )
    .unwrap();
    assert_ne!(losses(&mut c, None), la, "another seed, other losses");
    no_errors();
}

#[test]
fn a_resumed_run_continues_exactly() {
    let gpu = gpu();
    let data = tiny_data();
    let mut whole = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    let all = losses(&mut whole, None);
    let path = tmp_dir("resume");
    let dir = RunDir::create(&path, false).unwrap();
    train::write_config(&dir, &tiny_config()).unwrap();
    // The same run, stopped by its observer at the first epoch end.
    let mut first = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    let mut got = Vec::new();
    first
        .run(Some(&dir), &mut |e| match e {
            Event::Step { loss, .. } => {
                got.push(*loss);
                true
            }
            Event::Epoch(_) => false,
            _ => true,
        })
        .unwrap();
    assert_eq!(got.len(), 10);
    for f in [
        train::CONFIG_FILE,
        train::METRICS_FILE,
        train::CHECKPOINT_FILE,
        train::OPTIMIZER_FILE,
    ] {
        assert!(dir.file(f).exists(), "{f} missing");
    }
    let (cfg, start) = train::resume(&dir).unwrap();
    assert_eq!(start.step, 10);
    let mut second = Trainer::new(gpu, cfg, data, Some(start)).unwrap();
    got.extend(losses(&mut second, Some(&dir)));
    assert_eq!(
        got, all,
        "stopping at an epoch end and resuming changes nothing"
    );
    let lines = std::fs::read_to_string(dir.file(train::METRICS_FILE)).unwrap();
    assert!(lines.lines().count() >= 12, "{lines}");
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    // An existing run is never replaced by accident.
    let e = RunDir::create(&path, false).unwrap_err().to_string();
    assert!(e.contains("--resume") && e.contains("--force"), "{e}");
    let _ = std::fs::remove_dir_all(&path);
    no_errors();
}

#[test]
fn a_diverging_run_stops_and_keeps_its_checkpoint() {
    let gpu = gpu();
    let path = tmp_dir("nan");
    let dir = RunDir::create(&path, false).unwrap();
    let mut cfg = tiny_config();
    cfg.lr = 1e9;
    cfg.schedule = reslab::train::Schedule::Constant;
    let mut t = Trainer::new(gpu, cfg, tiny_data(), None).unwrap();
    let e = t.run(Some(&dir), &mut |_| true).unwrap_err().to_string();
    assert!(
        e.contains("the loss became") && e.contains("at step"),
        "{e}"
    );
    assert!(
        !dir.file(train::CHECKPOINT_FILE).exists(),
        "a diverged model was checkpointed"
    );
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn a_batch_too_large_for_the_device_is_a_clear_error() {
    let small = reslab::Gpu::with_options(reslab::GpuOptions {
        adjust_limits: Some(|l| l.max_storage_buffer_binding_size = 1 << 16),
        ..Default::default()
    })
    .unwrap();
    let e = Trainer::new(&small, tiny_config(), tiny_data(), None)
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        e.contains("batch 32 is too large for this device") && e.contains("--batch"),
        "{e}"
    );
}

#[test]
fn probes_are_logged_every_n_steps() {
    let gpu = gpu();
    let cfg = TrainConfig {
        probe_every: 3,
        epochs: 1,
        ..tiny_config()
    };
    let mut t = Trainer::new(gpu, cfg, tiny_data(), None).unwrap();
    let mut steps = Vec::new();
    t.run(None, &mut |e| {
        if let Event::Probe(p) = e {
            assert_eq!(p.probe.r.len(), 3, "one r per block");
            assert_eq!(p.probe.response_std.len(), 7, "one std per 3x3 layer");
            assert!(p.probe.r.iter().all(|r| r.is_finite() && *r > 0.0));
            steps.push(p.step);
        }
        true
    })
    .unwrap();
    assert_eq!(steps, vec![1, 4, 7, 10]);
}

#[test]
fn running_in_pieces_equals_one_run() {
    let gpu = gpu();
    let data = tiny_data();
    let mut whole = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    let all = losses(&mut whole, None);
    let mut t = Trainer::new(gpu, tiny_config(), data, None).unwrap();
    let mut got = Vec::new();
    while t.step < t.total_steps() {
        t.run_steps(3, None, &mut |e| {
            if let Event::Step { loss, .. } = e {
                got.push(*loss);
            }
            true
        })
        .unwrap();
    }
    assert_eq!(got, all);
}
