use reslab::cpu;
use reslab::kernels::Program;
use reslab::kernels::sgd::*;
use reslab::ops::SgdConfig;

use crate::common::*;

#[test]
fn sgd_matches_cpu_over_several_steps() {
    let gpu = gpu();
    let configs = [
        SgdConfig::default(),
        SgdConfig {
            nesterov: true,
            ..Default::default()
        },
        SgdConfig {
            momentum: 0.0,
            weight_decay: 5e-4,
            ..Default::default()
        },
        SgdConfig {
            dampening: 0.5,
            lr: 0.01,
            ..Default::default()
        },
        SgdConfig {
            weight_decay: 0.0,
            lr: 1.0,
            ..Default::default()
        },
    ];
    let mut rng = Rng::new(60);
    for (c, cfg) in configs.iter().cycle().take(20).enumerate() {
        // Every other case a multiple of 4 (the vec4 kernel), the others odd.
        let n = [1, 255, 257, 1000, 70_001][c % 5] + rng.below(3);
        let n = if c % 2 == 0 {
            n.next_multiple_of(4)
        } else {
            n | 1
        };
        let mut p = rng.vec_uniform(n, -1.0, 1.0);
        let mut buf = vec![0f32; n];
        let (tp, tb, tg) = (up(&[n], &p), up(&[n], &buf), empty(&[n]));
        let mut prog = Program::new();
        let at = sgd_step(gpu, &mut prog, &tp, &tb, &tg, cfg, true).unwrap();
        let entry = if n % 4 == 0 {
            ":sgd_step4"
        } else {
            ":sgd_step"
        };
        assert!(prog.dispatches[at].label().ends_with(entry), "n={n}");
        for step in 0..3 {
            let g = rng.vec_uniform(n, -1.0, 1.0);
            gpu.write(&tg, &g).unwrap();
            let first = step == 0;
            prog.dispatches[at].set_params(gpu, &SgdParams::new(n, cfg, first));
            prog.run(gpu).unwrap();
            cpu::sgd_step(&mut p, &mut buf, &g, cfg, first);
        }
        assert_close(&format!("param {cfg:?} n={n}"), &read(&tp), &p, 1e-5);
        if cfg.momentum != 0.0 {
            assert_close(&format!("momentum {cfg:?} n={n}"), &read(&tb), &buf, 1e-5);
        }
    }
    no_errors();
}

#[test]
fn sgd_rejects_nesterov_without_momentum() {
    let gpu = gpu();
    let t = empty(&[4]);
    let cfg = SgdConfig {
        nesterov: true,
        momentum: 0.0,
        ..Default::default()
    };
    assert!(sgd_step(gpu, &mut Program::new(), &t, &t, &t, &cfg, true).is_err());
}

/// On a device whose bindings hold 1024 floats, a step over 5000 parameters
/// is split into chunks and gives exactly what one dispatch gives.
#[test]
fn sgd_over_more_than_one_binding_is_chunked_and_exact() {
    let small = reslab::Gpu::with_options(reslab::GpuOptions {
        adjust_limits: Some(|l| l.max_storage_buffer_binding_size = 4096),
        ..Default::default()
    })
    .unwrap();
    let mut rng = Rng::new(9);
    let n = 5000;
    let (p, m, g) = (
        rng.vec_uniform(n, -1.0, 1.0),
        rng.vec_uniform(n, -1.0, 1.0),
        rng.vec_uniform(n, -1.0, 1.0),
    );
    let c = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 1e-3,
        ..Default::default()
    };
    let step = |gpu: &reslab::Gpu| {
        let t = |v: &[f32]| gpu.upload(&[n], v).unwrap();
        let (tp, tm, tg) = (t(&p), t(&m), t(&g));
        let mut prog = Program::new();
        let parts = sgd_steps(gpu, &mut prog, &tp, &tm, &tg, &c, false).unwrap();
        prog.run(gpu).unwrap();
        gpu.check().unwrap();
        (parts.len(), gpu.read(&tp).unwrap(), gpu.read(&tm).unwrap())
    };
    let (one, p1, m1) = step(gpu());
    let (many, p2, m2) = step(&small);
    assert_eq!((one, many), (1, 5));
    assert_eq!(p1, p2);
    assert_eq!(m1, m2);
    // And as the CPU twin computes it.
    let (mut pc, mut mc) = (p.clone(), m.clone());
    cpu::sgd_step(&mut pc, &mut mc, &g, &c, false);
    assert_close("params", &p2, &pc, 1e-6);
}
