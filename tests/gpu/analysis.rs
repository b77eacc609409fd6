//! The analyses on tiny models: probes against the CPU twin, r_b of identity
//! blocks, lesions of zero branches, the landscape at its origin.

use reslab::analysis::probe::Probes;
use reslab::cpu;
use reslab::kernels::batchnorm::{BnGeom, BnOptions};
use reslab::model::cpu::{self as twin, CpuParams};
use reslab::model::plan::PlanOptions;
use reslab::model::{Branch, Graph, HostParams, Mode, ModelSpec, Op, Params, Plan};

use crate::common::*;

fn spec(name: &str, f: impl FnOnce(&mut ModelSpec)) -> ModelSpec {
    let mut s = ModelSpec::parse(name, None).unwrap();
    s.width = 4;
    s.classes = 5;
    f(&mut s);
    s
}

/// Per-sample L2 norms of a [N, ...] tensor.
fn norms(v: &[f64], n: usize) -> Vec<f64> {
    let d = v.len() / n;
    (0..n)
        .map(|i| {
            v[i * d..(i + 1) * d]
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

#[test]
fn probes_match_the_cpu_twin() {
    let gpu = gpu();
    for s in [
        spec("resnet14", |_| {}),
        spec("plain8", |_| {}),
        spec("resnet8", |s| s.preact = true),
    ] {
        let graph = Graph::build(&s, 8, 8).unwrap();
        let host = HostParams::init(&graph, 5);
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let n = 4;
        let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, PlanOptions::default()).unwrap();
        let mut rng = Rng::new(6);
        let x = rng.vec_uniform(n * 3 * 64, -1.0, 1.0);
        let y: Vec<u32> = (0..n as u32).collect();
        plan.run(&x, &y, None, false).unwrap();
        let mut probes = Probes::new(gpu, &plan).unwrap();
        let got = probes.read_now().unwrap();
        let mut cp = CpuParams::<f64>::from_host(&host);
        let run = twin::forward(&graph, &mut cp, &to_f64(&x), &y, Mode::Train).unwrap();
        // The batch-norm output before ReLU and addition, from its input.
        let bn_out = |op: usize| -> Vec<f64> {
            let Op::BatchNorm { name, x, .. } = &graph.ops[op] else {
                unreachable!()
            };
            let d = graph.tensors[*x];
            let g = BnGeom {
                n,
                c: d.c,
                hw: d.h * d.w,
            };
            let p = |k: &str| {
                cp.params[graph
                    .params
                    .iter()
                    .position(|q| q.name == format!("{name}.{k}"))
                    .unwrap()]
                .clone()
            };
            let (mut out, mut saved, mut rm, mut rv) = (
                vec![0f64; g.len()],
                vec![0f64; 2 * g.c],
                vec![0f64; g.c],
                vec![1f64; g.c],
            );
            cpu::batchnorm_forward_train(
                &mut out,
                &mut saved,
                &mut rm,
                &mut rv,
                &run.acts[*x],
                &p("weight"),
                &p("bias"),
                None,
                &g,
                &BnOptions::default(),
            );
            out
        };
        let want_r: Vec<f32> = graph
            .blocks
            .iter()
            .map(|b| {
                let f = match b.branch {
                    Branch::Bn { op } => bn_out(op),
                    Branch::Tensor(t) => run.acts[t].clone(),
                };
                let (nf, nx) = (norms(&f, n), norms(&run.acts[b.shortcut], n));
                (nf.iter().zip(&nx).map(|(a, b)| a / b).sum::<f64>() / n as f64) as f32
            })
            .collect();
        assert_close(&format!("{} r_b", s.name()), &got.r, &want_r, 1e-4);
        let want_std: Vec<f32> = graph
            .responses
            .iter()
            .map(|&op| {
                let v = match &graph.ops[op] {
                    Op::BatchNorm { .. } => bn_out(op),
                    o => run.acts[o.output()].clone(),
                };
                let m = v.len() as f64;
                let mean = v.iter().sum::<f64>() / m;
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt() as f32
            })
            .collect();
        assert_close(
            &format!("{} response std", s.name()),
            &got.response_std,
            &want_std,
            1e-4,
        );
    }
    no_errors();
}

#[test]
fn a_zero_gamma_block_has_r_exactly_zero_at_init() {
    let gpu = gpu();
    for preact in [false, true] {
        let s = spec("resnet14", |s| {
            s.zero_gamma = true;
            s.preact = preact;
        });
        let graph = Graph::build(&s, 8, 8).unwrap();
        let params = Params::upload(gpu, &graph, &HostParams::init(&graph, 1)).unwrap();
        for mode in [Mode::Train, Mode::Eval] {
            let plan = Plan::new(gpu, &graph, &params, 3, mode, PlanOptions::default()).unwrap();
            let x = Rng::new(2).vec_uniform(3 * 3 * 64, -1.0, 1.0);
            plan.run(&x, &[0, 1, 2], None, false).unwrap();
            let r = Probes::new(gpu, &plan).unwrap().read_now().unwrap().r;
            assert_eq!(r, vec![0.0; graph.blocks.len()], "preact={preact} {mode:?}");
        }
    }
    no_errors();
}
