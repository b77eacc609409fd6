//! Whole graphs on the GPU against the CPU twin of the executor.

use reslab::model::cpu::{self as twin, CpuParams};
use reslab::model::plan::PlanOptions;
use reslab::model::{Graph, HostParams, Mode, ModelSpec, Params, Plan, Shortcut};
use reslab::ops::SgdConfig;

use crate::common::*;

fn small(name: &str, f: impl FnOnce(&mut ModelSpec)) -> ModelSpec {
    let mut s = ModelSpec::parse(name, None).unwrap();
    s.width = 4;
    s.classes = 5;
    s.in_channels = 2;
    f(&mut s);
    s
}

fn batch(rng: &mut Rng, n: usize, c: usize, h: usize, w: usize, k: usize) -> (Vec<f32>, Vec<u32>) {
    (
        rng.vec_uniform(n * c * h * w, -1.0, 1.0),
        (0..n).map(|_| rng.below(k) as u32).collect(),
    )
}

/// Forward + backward on the GPU and on the CPU twin (f64): loss and every
/// parameter gradient agree.
fn check_gradients(spec: &ModelSpec, side: usize, n: usize, seed: u64) {
    check_gradients_with(spec, side, n, seed, |_, _| {});
}

fn check_gradients_with(
    spec: &ModelSpec,
    side: usize,
    n: usize,
    seed: u64,
    adjust: impl Fn(&Graph, &mut HostParams),
) {
    let gpu = gpu();
    let graph = Graph::build(spec, side, side).unwrap();
    let mut host = HostParams::init(&graph, seed);
    adjust(&graph, &mut host);
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let opts = PlanOptions {
        backward: true,
        ..Default::default()
    };
    let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, opts).unwrap();
    let mut rng = Rng::new(seed + 1);
    let (x, y) = batch(&mut rng, n, spec.in_channels, side, side, spec.classes);
    let (loss, correct) = plan.run(&x, &y, None, false).unwrap();
    let grads = params.download_grads(gpu).unwrap();
    let mut cp = CpuParams::<f64>::from_host(&host);
    let run = twin::forward(&graph, &mut cp, &to_f64(&x), &y, Mode::Train).unwrap();
    let want = twin::backward(&graph, &cp, &run).unwrap();
    let what = spec.name();
    assert!(
        (loss as f64 - run.loss).abs() <= 1e-4 * run.loss.abs().max(1.0),
        "{what}: loss {loss} vs {}",
        run.loss
    );
    // The number correct agrees, but for images whose two largest logits are
    // closer than the tolerance the logits are compared to (either count).
    let logits = &run.acts[graph.logits];
    let k = spec.classes;
    let scale = logits.iter().fold(0f64, |m, v| m.max(v.abs()));
    let (mut sure, mut tied) = (0.0, 0.0);
    for (row, &label) in logits.chunks(k).zip(&y) {
        let label = label as usize;
        let others = (0..k).filter(|&j| j != label).map(|j| row[j]);
        let margin = row[label] - others.fold(f64::MIN, f64::max);
        if margin.abs() <= 1e-4 * scale {
            tied += 1.0;
        } else if margin > 0.0 {
            sure += 1.0;
        }
    }
    let correct = correct as f64;
    assert!(
        correct >= sure && correct <= sure + tied,
        "{what}: {correct} correct; the twin's logits give {sure} sure and {tied} near ties ({})",
        run.correct
    );
    assert_close(
        &format!("{what} logits"),
        &read(&plan.acts[graph.logits]),
        &to_f32(&run.acts[graph.logits]),
        1e-4,
    );
    let want: Vec<Vec<f32>> = want.iter().map(|w| to_f32(w)).collect();
    assert_close_grads(
        &what,
        graph.params.iter().map(|p| p.name.as_str()),
        &grads,
        &want,
        1e-4,
    );
    // Running statistics moved the same way.
    let back = params.download(gpu).unwrap();
    for ((spec_b, got), w) in graph.buffers.iter().zip(&back.buffers).zip(&cp.buffers) {
        assert_close(&format!("{what} {}", spec_b.name), got, &to_f32(w), 1e-4);
    }
    no_errors();
}

/// The seed of the training step: conv-BN-ReLU-conv-BN blocks with option-A
/// shortcuts, global pooling, FC and loss, forward and backward on the GPU.
#[test]
fn resnet_chain_gradients_match_cpu() {
    check_gradients(&small("resnet8", |_| {}), 9, 3, 1);
    check_gradients(&small("resnet14", |_| {}), 8, 2, 2);
}

/// The weight gradients' partial sums reduced in one pass for the whole
/// net, in several (the batch of sums full), or each conv by itself (those of
/// one chunk written to the gradient directly every way): the same gradients
/// to the bit, in fewer passes the more are batched.
#[test]
fn batched_weight_gradient_reductions_give_the_same_bits() {
    let gpu = gpu();
    let spec = small("resnet14", |_| {});
    let graph = Graph::build(&spec, 32, 32).unwrap();
    let host = HostParams::init(&graph, 9);
    let mut rng = Rng::new(10);
    let n = 6;
    let (x, y) = batch(&mut rng, n, spec.in_channels, 32, 32, spec.classes);
    // The convs' weight-gradient partial sums, and those that sum several
    // chunks (one chunk's sums go to the gradient directly, no reduction).
    let partials: Vec<[usize; 4]> = graph
        .ops
        .iter()
        .filter_map(|op| match op {
            reslab::model::graph::Op::Conv {
                x,
                y,
                k,
                stride,
                pad,
                ..
            } => reslab::kernels::conv2d::wgrad_partials_shape(
                &graph.conv_geom(n, *x, *y, *k, *stride, *pad),
                reslab::kernels::conv2d::wgrad_chunks(gpu),
            ),
            _ => None,
        })
        .collect();
    let reduced: Vec<_> = partials.iter().filter(|s| s[0] > 1).collect();
    let convs = reduced.len();
    assert!(
        convs >= 3 && partials.len() - convs >= 3,
        "{convs} of {} convs reduced",
        partials.len()
    );
    // Room for the partial sums of about half of those convs.
    let part_bytes: usize = reduced
        .iter()
        .map(|s| 4 * s.iter().product::<usize>().next_multiple_of(64))
        .sum();
    let mut runs = Vec::new();
    for bytes in [None, Some(part_bytes as u64 / 2), Some(0)] {
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let opts = PlanOptions {
            backward: true,
            wgrad_batch_bytes: bytes,
            ..Default::default()
        };
        let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, opts).unwrap();
        plan.run(&x, &y, None, false).unwrap();
        let reductions = |name: &str| {
            plan.program
                .dispatches
                .iter()
                .filter(|d| d.label().ends_with(name))
                .count()
        };
        runs.push((
            bytes,
            // (over floats or vec4s)
            reductions(":conv2d_backward_weight_reduce_batch")
                + reductions(":conv2d_backward_weight_reduce_batch4"),
            reductions(":conv2d_backward_weight_reduce"),
            params.download_grads(gpu).unwrap(),
        ));
    }
    // All batched: one pass; some: several; none: one per conv.
    assert_eq!((runs[0].1, runs[0].2), (1, 0), "{:?}", runs[0].0);
    assert!(runs[1].1 > 1 && runs[1].1 < convs, "{} passes", runs[1].1);
    assert_eq!((runs[2].1, runs[2].2), (0, convs));
    for (bytes, _, _, grads) in &runs[1..] {
        for ((p, a), b) in graph.params.iter().zip(grads).zip(&runs[0].3) {
            assert!(
                a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits()),
                "{} differs with {bytes:?} bytes of partial sums",
                p.name
            );
        }
    }
    no_errors();
}

#[test]
fn model_variants_gradients_match_cpu() {
    check_gradients(&small("plain8", |_| {}), 7, 2, 3);
    check_gradients(&small("resnet8", |s| s.shortcut = Shortcut::B), 8, 2, 4);
    check_gradients(&small("resnet8", |s| s.shortcut = Shortcut::C), 8, 2, 5);
    check_gradients(&small("resnet8", |s| s.preact = true), 8, 2, 6);
    check_gradients(
        &small("resnet8", |s| {
            s.preact = true;
            s.shortcut = Shortcut::B
        }),
        8,
        3,
        7,
    );
    check_gradients(&small("plain8", |s| s.preact = true), 8, 2, 8);
}

#[test]
fn imagenet_family_gradients_match_cpu() {
    // 64x64 inputs leave 2x2 maps in the last stage: with a batch of 4, every
    // BN normalises over at least 16 values (over 2 values, BN output is ±1
    // whatever the input, and f32 rounding is amplified by 1/sqrt(eps)).
    check_gradients(&small("resnet18", |_| {}), 64, 4, 9);
    // A post-activation ResNet-50 at init amplifies small perturbations about a
    // thousandfold (its f32 CPU twin already differs from the f64 one by 6e-5), so
    // its gradients would measure conditioning, not kernels. Damping the last BN
    // of every branch (gamma 0.25, a softer zero-gamma) keeps every path open and
    // the net well conditioned.
    check_gradients_with(&small("resnet50", |_| {}), 64, 4, 10, |g, h| {
        for p in g.params.iter().filter(|p| p.name.ends_with("bn3.weight")) {
            h.get_mut(g, &p.name)
                .unwrap()
                .iter_mut()
                .for_each(|v| *v = 0.25);
        }
    });
}

/// One full SGD step (forward, loss, backward, update in one submission)
/// leaves every parameter as the CPU twin's step does.
#[test]
fn sgd_step_matches_cpu() {
    let gpu = gpu();
    let spec = small("resnet8", |_| {});
    let side = 8;
    let n = 4;
    let graph = Graph::build(&spec, side, side).unwrap();
    let host = HostParams::init(&graph, 11);
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let cfg = SgdConfig {
        lr: 0.05,
        weight_decay: 5e-4,
        ..Default::default()
    };
    let opts = PlanOptions {
        backward: true,
        sgd: Some(cfg),
        ..Default::default()
    };
    let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, opts).unwrap();
    let mut rng = Rng::new(12);
    let mut cp = CpuParams::<f64>::from_host(&host);
    let mut mom: Vec<Vec<f64>> = cp.params.iter().map(|p| vec![0.0; p.len()]).collect();
    for step in 0..2 {
        let (x, y) = batch(&mut rng, n, spec.in_channels, side, side, spec.classes);
        plan.run(&x, &y, Some(cfg.lr), step == 0).unwrap();
        let run = twin::forward(&graph, &mut cp, &to_f64(&x), &y, Mode::Train).unwrap();
        let g = twin::backward(&graph, &cp, &run).unwrap();
        twin::sgd_step(&mut cp, &mut mom, &g, &cfg, step == 0);
    }
    let back = params.download(gpu).unwrap();
    for ((s, got), want) in graph.params.iter().zip(&back.params).zip(&cp.params) {
        assert_close(
            &format!("{} after 2 steps", s.name),
            got,
            &to_f32(want),
            1e-4,
        );
    }
    no_errors();
}

/// Non-trivial running statistics: means (initially 0) in [-0.5, 0.5),
/// variances (initially 1) in [0.5, 2).
fn random_running_stats(host: &mut HostParams, rng: &mut Rng) {
    for b in host.buffers.iter_mut() {
        for v in b.iter_mut() {
            *v = if *v == 0.0 {
                rng.range(-0.5, 0.5) as f32
            } else {
                rng.range(0.5, 2.0) as f32
            };
        }
    }
}

#[test]
fn eval_mode_and_lesions_match_cpu() {
    let gpu = gpu();
    let spec = small("resnet14", |_| {});
    let graph = Graph::build(&spec, 8, 8).unwrap();
    let mut host = HostParams::init(&graph, 13);
    let mut rng = Rng::new(14);
    random_running_stats(&mut host, &mut rng);
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let (x, y) = batch(&mut rng, 3, spec.in_channels, 8, 8, spec.classes);
    let plan = Plan::new(gpu, &graph, &params, 3, Mode::Eval, PlanOptions::default()).unwrap();
    plan.run(&x, &y, None, false).unwrap();
    let mut cp = CpuParams::<f64>::from_host(&host);
    let run = twin::forward(&graph, &mut cp, &to_f64(&x), &y, Mode::Eval).unwrap();
    assert_close(
        "eval logits",
        &read(&plan.acts[graph.logits]),
        &to_f32(&run.acts[graph.logits]),
        1e-4,
    );
    // Lesions of blocks whose branches are far from zero (one that changes
    // the shape, one that does not): the GPU's output changes exactly as the
    // CPU twin's does.
    for lesions in [[1usize].into(), [2usize, 3].into()] {
        let lesions: std::collections::BTreeSet<usize> = lesions;
        let opts = PlanOptions {
            lesions: lesions.clone(),
            ..Default::default()
        };
        let lesioned = Plan::new(gpu, &graph, &params, 3, Mode::Eval, opts).unwrap();
        lesioned.run(&x, &y, None, false).unwrap();
        let mut cp = CpuParams::<f64>::from_host(&host);
        let want =
            twin::forward_lesioned(&graph, &mut cp, &to_f64(&x), &y, Mode::Eval, &lesions).unwrap();
        let got = read(&lesioned.acts[graph.logits]);
        let whole = to_f32(&run.acts[graph.logits]);
        assert!(
            rel_err(&got, &whole) > 1e-2,
            "lesions {lesions:?} barely change the logits ({:.2e}): the test would not see them ignored",
            rel_err(&got, &whole)
        );
        assert_close(
            &format!("logits with blocks {lesions:?} removed"),
            &got,
            &to_f32(&want.acts[graph.logits]),
            1e-4,
        );
    }
    // A lesioned block whose branch is zero (gamma = 0) changes nothing.
    let last = graph.blocks.len() - 1;
    let bn = match graph.blocks[last].branch {
        reslab::model::Branch::Bn { op } => op,
        _ => unreachable!(),
    };
    let reslab::model::Op::BatchNorm { name, .. } = &graph.ops[bn] else {
        unreachable!()
    };
    for field in ["weight", "bias"] {
        host.get_mut(&graph, &format!("{name}.{field}"))
            .unwrap()
            .iter_mut()
            .for_each(|v| *v = 0.0);
    }
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let whole = Plan::new(gpu, &graph, &params, 3, Mode::Eval, PlanOptions::default()).unwrap();
    whole.run(&x, &y, None, false).unwrap();
    let opts = PlanOptions {
        lesions: [last].into(),
        ..Default::default()
    };
    let lesioned = Plan::new(gpu, &graph, &params, 3, Mode::Eval, opts).unwrap();
    lesioned.run(&x, &y, None, false).unwrap();
    assert_close(
        "lesion of a zero branch",
        &read(&lesioned.acts[graph.logits]),
        &read(&whole.acts[graph.logits]),
        1e-6,
    );
    no_errors();
}

#[test]
fn training_steps_allocate_nothing_and_the_loss_falls() {
    // A device of its own: the pool's counters are per device, and the other
    // tests allocate on the shared one while this one runs.
    let own = reslab::Gpu::new().unwrap();
    let gpu = &own;
    let spec = small("resnet8", |s| s.width = 8);
    let graph = Graph::build(&spec, 8, 8).unwrap();
    let host = HostParams::init(&graph, 21);
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let cfg = SgdConfig {
        lr: 0.05,
        ..Default::default()
    };
    let opts = PlanOptions {
        backward: true,
        sgd: Some(cfg),
        ..Default::default()
    };
    let plan = Plan::new(gpu, &graph, &params, 16, Mode::Train, opts).unwrap();
    // One fixed batch, learned by heart: the loss must fall.
    let mut rng = Rng::new(22);
    let (x, y) = batch(&mut rng, 16, spec.in_channels, 8, 8, spec.classes);
    let (first, _) = plan.run(&x, &y, Some(cfg.lr), true).unwrap();
    let before = gpu.pool_stats();
    let mut last = first;
    for _ in 0..30 {
        last = plan.run(&x, &y, Some(cfg.lr), false).unwrap().0;
    }
    let after = gpu.pool_stats();
    assert_eq!(
        before.buffers_created, after.buffers_created,
        "a training step allocated"
    );
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    gpu.check().unwrap();
}

/// Eval plans with each batch norm in the pass of the tiled conv before it
/// (`fuse_bn`) give the bits of the plain plans — logits and per-sample loss
/// — on residual and plain nets, shortcuts A, B and C, pre-activation, with
/// lesions and the ImageNet family; every batch norm that follows a 3x3 conv
/// (its only reader) runs in that conv's pass, with none of its own (where
/// the device's limits take the fused kernels).
#[test]
fn eval_with_batch_norm_in_the_conv_pass_gives_the_same_bits() {
    let gpu = gpu();
    let twins_fit = reslab::kernels::conv2d::bn_twins()
        .iter()
        .all(|(_, t)| t.fits(gpu));
    let cases: Vec<(ModelSpec, usize, Vec<usize>)> = vec![
        (small("resnet14", |_| {}), 8, vec![]),
        (small("resnet14", |_| {}), 9, vec![2]),
        (small("plain8", |_| {}), 8, vec![]),
        (small("resnet8", |s| s.shortcut = Shortcut::B), 8, vec![]),
        (small("resnet8", |s| s.shortcut = Shortcut::C), 7, vec![]),
        (small("resnet8", |s| s.preact = true), 8, vec![]),
        (small("resnet18", |_| {}), 64, vec![1]),
    ];
    for (i, (spec, side, lesions)) in cases.into_iter().enumerate() {
        let graph = Graph::build(&spec, side, side).unwrap();
        let mut host = HostParams::init(&graph, 20 + i as u64);
        let mut rng = Rng::new(30 + i as u64);
        random_running_stats(&mut host, &mut rng);
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let (x, y) = batch(&mut rng, 3, spec.in_channels, side, side, spec.classes);
        let plan = |fuse_bn| {
            let opts = PlanOptions {
                lesions: lesions.iter().copied().collect(),
                fuse_bn,
                ..Default::default()
            };
            let p = Plan::new(gpu, &graph, &params, 3, Mode::Eval, opts).unwrap();
            p.run(&x, &y, None, false).unwrap();
            p
        };
        let (two, one) = (plan(false), plan(true));
        let what = format!("{} at {side}px, lesions {lesions:?}", spec.name());
        let (a, b) = (read(&two.acts[graph.logits]), read(&one.acts[graph.logits]));
        assert!(a.iter().all(|v| v.is_finite()), "{what}: logits {a:?}");
        let same = a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "{what}: logits {a:?} vs {b:?}");
        assert_eq!(read(&two.per_sample), read(&one.per_sample), "{what}");
        // Batch norms right after a 3x3 conv, that conv's only reader,
        // neither lesioned.
        let skipped = graph.lesioned_ops(&lesions.iter().copied().collect());
        let consumers = graph.consumers();
        let fusable = graph
            .ops
            .windows(2)
            .enumerate()
            .filter(|(j, w)| {
                matches!(
                    (&w[0], &w[1]),
                    (reslab::model::Op::Conv { y, k: 3, .. }, reslab::model::Op::BatchNorm { x, .. })
                        if x == y && consumers[*y].len() == 1
                ) && !skipped.contains(j)
            })
            .count();
        assert!(fusable >= 3, "{what}: {fusable}");
        // One conv pass with the epilogue each, the batch norms' own passes
        // (and the pads of their outputs where they could not write the
        // padded copy themselves) gone, nothing else changed.
        let count = |p: &Plan, s: &str| {
            p.program
                .dispatches
                .iter()
                .filter(|d| d.label().contains(s))
                .count()
        };
        let twins = count(&one, "conv2d_forward_bn_");
        assert_eq!(twins, if twins_fit { fusable } else { 0 }, "{what}");
        let bn = |p: &Plan| count(p, "batchnorm_") + count(p, "conv2d_pad");
        let (bn_two, bn_one) = (bn(&two), bn(&one));
        assert!(bn_two >= bn_one + twins, "{what}: {bn_two} {bn_one}");
        assert_eq!(
            two.program.len() - one.program.len(),
            bn_two - bn_one,
            "{what}: dispatches {} and {}",
            two.program.len(),
            one.program.len()
        );
    }
    no_errors();
}
