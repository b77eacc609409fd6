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

/// A path that does not exist yet, `name` inside a fresh directory under the
/// system temp dir. The guard removes that directory, with whatever the test
/// made at the path, when it drops, also when the test fails: keep it alive.
fn tmp_dir(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let guard = tempfile::Builder::new()
        .prefix(&format!("reslab-train-{name}-"))
        .tempdir()
        .unwrap();
    let path = guard.path().join(name);
    (guard, path)
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
        data.clone(),
        None,
    )
    .unwrap();
    assert_ne!(losses(&mut c, None), la, "another seed, other losses");
    // A step submitted in parts (as the desktop app does) is the same step.
    let mut d = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    d.parts = Some(reslab::model::Parts::of(7));
    assert!(d.plan.program.len() > 7 * 3);
    assert_eq!(losses(&mut d, None), la, "a step submitted in parts");
    no_errors();
}

#[test]
fn a_resumed_run_continues_exactly() {
    let gpu = gpu();
    let data = tiny_data();
    let mut whole = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    let all = losses(&mut whole, None);
    let (_guard, path) = tmp_dir("resume");
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
    let start = start.expect("a checkpoint to resume from");
    assert_eq!(start.step, 10);
    dir.settle(start.step).unwrap();
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
    no_errors();
}

#[test]
fn a_diverging_run_stops_and_keeps_its_checkpoint() {
    let gpu = gpu();
    let (_guard, path) = tmp_dir("nan");
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
}

#[test]
fn weights_that_blow_up_at_an_epoch_end_leave_the_previous_checkpoint() {
    let gpu = gpu();
    let data = tiny_data();
    let (_guard, path) = tmp_dir("blowup");
    let dir = RunDir::create(&path, false).unwrap();
    train::write_config(&dir, &tiny_config()).unwrap();
    let mut t = Trainer::new(gpu, tiny_config(), data.clone(), None).unwrap();
    t.run(Some(&dir), &mut |e| !matches!(e, Event::Epoch(_)))
        .unwrap();
    let ck = dir.file(train::CHECKPOINT_FILE);
    let first = std::fs::read(&ck).unwrap();
    assert_eq!(dir.checkpoint_step(), Some(10));
    // Nine ordinary steps, then the epoch's last step at an absurd rate: its
    // own loss is finite (taken before the update), the weights after it are not.
    t.run_steps(9, Some(&dir), &mut |_| true).unwrap();
    t.cfg.lr = 1e30;
    let e = t
        .run_steps(1, Some(&dir), &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the test loss became NaN at the end of epoch 1 (step 20)")
            && e.contains(&format!("{} (step 10), is kept", ck.display())),
        "{e}"
    );
    assert_eq!(std::fs::read(&ck).unwrap(), first, "the checkpoint changed");
    // Saving weights that are not finite is refused the same way.
    let mut host = t.params.download(gpu).unwrap();
    host.params[0].fill(0.0);
    host.params[1][0] = f32::INFINITY;
    t.params.load(gpu, &host).unwrap();
    let e = t.save(&dir).unwrap_err().to_string();
    let name = &t.graph.params[1].name;
    assert!(
        e.contains(&format!("{name} holds inf")) && e.contains("is kept"),
        "{e}"
    );
    assert_eq!(std::fs::read(&ck).unwrap(), first, "the checkpoint changed");
}

#[test]
fn a_batch_too_large_for_the_device_is_a_clear_error() {
    let small = reslab::Gpu::with_options(reslab::GpuOptions {
        // The parameters (75 KiB) fit; a batch of 32 activations does not.
        adjust_limits: Some(|l| l.max_storage_buffer_binding_size = 1 << 17),
        ..Default::default()
    })
    .unwrap();
    let e = Trainer::new(&small, tiny_config(), tiny_data(), None)
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        e.contains("at batch 32")
            && e.contains("per buffer (128 KiB)")
            && e.contains("try --batch"),
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

/// The degradation experiment on tiny nets: every (seed, depth, kind) trained
/// once into its own run folder, checkpoints the analyses can load, the
/// spreads and gaps taken from those runs, and a second run into the same
/// folder refused unless forced.
#[test]
fn degradation_trains_every_net_and_seed_into_run_folders() {
    use reslab::analysis::degradation::{self, Output};
    let gpu = gpu();
    let data = tiny_data();
    let cfg = TrainConfig {
        steps: Some(4),
        probe_every: 2,
        ..tiny_config()
    };
    let (_guard, out) = tmp_dir("degradation");
    let run = |force: bool| {
        degradation::run(
            gpu,
            &cfg,
            &[8, 14],
            &[3, 4],
            data.clone(),
            Some(Output { out: &out, force }),
            &mut |_| {},
        )
    };
    let s = run(false).unwrap();
    assert_eq!(s.nets.len(), 8);
    let names: Vec<String> = s
        .nets
        .iter()
        .map(|n| format!("{}-{}", n.model, n.seed))
        .collect();
    assert_eq!(
        names,
        [
            "plain8-3",
            "resnet8-3",
            "plain14-3",
            "resnet14-3",
            "plain8-4",
            "resnet8-4",
            "plain14-4",
            "resnet14-4"
        ]
    );
    for n in &s.nets {
        let dir = degradation::net_dir(&out, &n.model, n.seed);
        let t = reslab::analysis::load_trained(&dir.join(train::CHECKPOINT_FILE)).unwrap();
        assert_eq!(t.card.model.name(), n.model);
        assert!(n.final_train_loss.is_finite() && !n.r_over_training.is_empty());
    }
    // Different seeds start from different weights.
    assert_ne!(s.nets[0].curve, s.nets[4].curve);
    let spreads = s.spreads();
    assert_eq!(spreads.len(), 4);
    let p8 = &spreads[0];
    assert_eq!(
        p8.losses,
        vec![s.nets[0].final_train_loss, s.nets[4].final_train_loss]
    );
    assert!(p8.min <= p8.mean && p8.mean <= p8.max);
    let (plain, res) = s.gaps().unwrap();
    assert_eq!(
        plain[1],
        s.nets[6].final_train_loss - s.nets[4].final_train_loss
    );
    assert_eq!(
        res[0],
        s.nets[3].final_train_loss - s.nets[1].final_train_loss
    );
    degradation::write(&out, &s).unwrap();
    let back: degradation::Summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(back.nets.len(), s.nets.len());
    let e = run(false).unwrap_err().to_string();
    assert!(e.contains("plain8-seed3") && e.contains("--force"), "{e}");
    assert_eq!(run(true).unwrap().nets.len(), 8);
    no_errors();
}

/// A logging interval that spans an epoch's end is credited with the time of
/// all its steps, the evaluation in between left out: each line's
/// images / images_per_s is the wall time since the line before less the
/// evaluations between them. (Restarting the interval's clock after the
/// evaluation credited steps 9-12 below with the time of 11 and 12 only.)
#[test]
fn logged_throughput_leaves_out_the_evaluation_but_not_the_steps_before_it() {
    let gpu = gpu();
    // 10 steps an epoch, a line every 4 steps: the third spans the first
    // epoch's end.
    let cfg = TrainConfig {
        log_every: 4,
        ..tiny_config()
    };
    let batch = cfg.batch as f64;
    let mut t = Trainer::new(gpu, cfg, tiny_data(), None).unwrap();
    let mut previous_event = std::time::Instant::now();
    let mut previous_line: Option<std::time::Instant> = None;
    let mut evaluating = 0.0;
    let mut lines = Vec::new();
    t.run(None, &mut |e| {
        let now = std::time::Instant::now();
        match e {
            Event::Epoch(_) => evaluating += (now - previous_event).as_secs_f64(),
            Event::Logged(l) => {
                if let Some(p) = previous_line {
                    let wall = (now - p).as_secs_f64() - evaluating;
                    lines.push((l.step, batch * 4.0 / l.images_per_s as f64, wall));
                }
                previous_line = Some(now);
                evaluating = 0.0;
            }
            _ => {}
        }
        previous_event = now;
        true
    })
    .unwrap();
    assert_eq!(
        lines.iter().map(|l| l.0).collect::<Vec<_>>(),
        [8, 12, 16, 20]
    );
    for (step, credited, wall) in lines {
        assert!(
            credited >= 0.8 * wall && credited <= 1.05 * wall + 1e-3,
            "line at step {step}: credited {credited:.4} s of {wall:.4} s of steps"
        );
    }
}

/// The logged throughput accounts for the whole run: the intervals it is
/// measured over (images / images_per_s) add up to the time from the run's
/// start to its last log line, the first step included.
#[test]
fn logged_throughput_covers_the_whole_run() {
    let gpu = gpu();
    let cfg = TrainConfig {
        epochs: 1,
        log_every: 1,
        ..tiny_config()
    };
    let batch = cfg.batch as f64;
    let mut t = Trainer::new(gpu, cfg, tiny_data(), None).unwrap();
    let start = std::time::Instant::now();
    let mut covered = 0.0;
    let mut last = 0.0;
    t.run(None, &mut |e| {
        if let Event::Logged(l) = e {
            covered += batch / l.images_per_s as f64;
            last = start.elapsed().as_secs_f64();
        }
        true
    })
    .unwrap();
    assert!(
        covered >= 0.95 * last && covered <= last * 1.001 + 1e-3,
        "the logged intervals cover {covered:.4} s of the {last:.4} s to the last log line"
    );
}
