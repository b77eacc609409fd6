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
        let n = [1, 255, 257, 1000, 70_001][c % 5] + rng.below(3);
        let mut p = rng.vec_uniform(n, -1.0, 1.0);
        let mut buf = vec![0f32; n];
        let (tp, tb, tg) = (up(&[n], &p), up(&[n], &buf), empty(&[n]));
        let mut prog = Program::new();
        let at = sgd_step(gpu, &mut prog, &tp, &tb, &tg, cfg, true).unwrap();
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
