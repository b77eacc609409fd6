//! Golden tests against PyTorch: fixtures written by tests/fixtures/make_fixtures.py
//! (run by hand). Forward logits (eval and train BN), every gradient, and the
//! parameters after three SGD steps with momentum and weight decay.

use std::path::{Path, PathBuf};

use reslab::checkpoint::{self, Tensors};
use reslab::model::plan::PlanOptions;
use reslab::model::{Family, Graph, Mode, ModelSpec, Params, Plan};
use reslab::ops::SgdConfig;

use crate::common::*;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    v.sort();
    assert!(v.len() >= 8, "fixtures missing in {}", dir.display());
    v
}

struct Fixture {
    name: String,
    t: Tensors,
    spec: ModelSpec,
    side: usize,
}

fn load(path: &Path) -> Fixture {
    let t = checkpoint::read(path).unwrap();
    let spec: ModelSpec = serde_json::from_str(&t.metadata["spec"]).unwrap();
    let side = t.metadata["side"].parse().unwrap();
    Fixture {
        name: path.file_stem().unwrap().to_string_lossy().into(),
        t,
        spec,
        side,
    }
}

fn f32s<'a>(t: &'a Tensors, k: &str) -> &'a [f32] {
    &t.f32s
        .get(k)
        .unwrap_or_else(|| panic!("fixture lacks {k}"))
        .1
}

fn labels(t: &Tensors, k: &str) -> Vec<u32> {
    t.i64s[k].1.iter().map(|&v| v as u32).collect()
}

/// The spec read back from the state_dict alone (with family, depth and
/// residual from the name) is the one the fixture was made with.
#[test]
fn specs_are_inferred_from_state_dicts() {
    for path in fixtures() {
        let f = load(&path);
        let kind = if f.spec.residual { "resnet" } else { "plain" };
        let base =
            ModelSpec::parse(&format!("{kind}{}", f.spec.depth), Some(f.spec.family)).unwrap();
        let got = checkpoint::infer_spec(&base, &f.t.with_prefix("model.")).unwrap();
        assert_eq!(got, f.spec, "{}", f.name);
    }
}

#[test]
fn logits_match_pytorch_in_eval_and_train_mode() {
    let gpu = gpu();
    for path in fixtures() {
        let f = load(&path);
        let graph = Graph::build(&f.spec, f.side, f.side).unwrap();
        let host = checkpoint::params_from(&graph, &f.t.with_prefix("model.")).unwrap();
        let (x, y) = (f32s(&f.t, "x0"), labels(&f.t, "y0"));
        for (mode, key) in [(Mode::Eval, "logits_eval"), (Mode::Train, "logits_train")] {
            let params = Params::upload(gpu, &graph, &host).unwrap();
            let plan =
                Plan::new(gpu, &graph, &params, y.len(), mode, PlanOptions::default()).unwrap();
            plan.run(x, &y, None, false).unwrap();
            let got = read(&plan.acts[graph.logits]);
            eprintln!(
                "{} {key}: max rel err {:.2e}",
                f.name,
                rel_err(&got, f32s(&f.t, key))
            );
            assert_close(&format!("{} {key}", f.name), &got, f32s(&f.t, key), 1e-4);
        }
    }
    no_errors();
}

#[test]
fn gradients_match_pytorch() {
    let gpu = gpu();
    for path in fixtures() {
        let f = load(&path);
        let graph = Graph::build(&f.spec, f.side, f.side).unwrap();
        let host = checkpoint::params_from(&graph, &f.t.with_prefix("model.")).unwrap();
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let opts = PlanOptions {
            backward: true,
            ..Default::default()
        };
        let (x, y) = (f32s(&f.t, "x0"), labels(&f.t, "y0"));
        let plan = Plan::new(gpu, &graph, &params, y.len(), Mode::Train, opts).unwrap();
        plan.run(x, &y, None, false).unwrap();
        let grads = params.download_grads(gpu).unwrap();
        let want: Vec<Vec<f32>> = graph
            .params
            .iter()
            .map(|p| f32s(&f.t, &format!("grad.{}", p.name)).to_vec())
            .collect();
        let worst = grads
            .iter()
            .zip(&want)
            .map(|(g, w)| rel_err(g, w))
            .filter(|e| e.is_finite())
            .fold(0f64, f64::max);
        eprintln!(
            "{} gradients: worst tensor rel err {worst:.2e} (zero-by-symmetry tensors included)",
            f.name
        );
        assert_close_grads(
            &f.name,
            graph.params.iter().map(|p| p.name.as_str()),
            &grads,
            &want,
            1e-3,
        );
    }
    no_errors();
}

#[test]
fn three_sgd_steps_match_pytorch() {
    let gpu = gpu();
    for path in fixtures() {
        let f = load(&path);
        let graph = Graph::build(&f.spec, f.side, f.side).unwrap();
        let host = checkpoint::params_from(&graph, &f.t.with_prefix("model.")).unwrap();
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let meta = |k: &str| f.t.metadata[k].parse::<f32>().unwrap();
        let cfg = SgdConfig {
            lr: meta("lr"),
            momentum: meta("momentum"),
            weight_decay: meta("weight_decay"),
            ..Default::default()
        };
        let opts = PlanOptions {
            backward: true,
            sgd: Some(cfg),
            ..Default::default()
        };
        let n = labels(&f.t, "y0").len();
        let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, opts).unwrap();
        for i in 0..3 {
            plan.run(
                f32s(&f.t, &format!("x{i}")),
                &labels(&f.t, &format!("y{i}")),
                Some(cfg.lr),
                i == 0,
            )
            .unwrap();
        }
        let after = params.download(gpu).unwrap();
        let want = checkpoint::params_from(&graph, &f.t.with_prefix("sgd3.")).unwrap();
        let worst = after
            .params
            .iter()
            .chain(&after.buffers)
            .zip(want.params.iter().chain(&want.buffers))
            .map(|(g, w)| rel_err(g, w))
            .fold(0f64, f64::max);
        eprintln!(
            "{} after 3 SGD steps: worst tensor rel err {worst:.2e}",
            f.name
        );
        for ((s, got), w) in graph.params.iter().zip(&after.params).zip(&want.params) {
            assert_close(
                &format!("{} after 3 steps {}", f.name, s.name),
                got,
                w,
                1e-4,
            );
        }
        for ((s, got), w) in graph.buffers.iter().zip(&after.buffers).zip(&want.buffers) {
            assert_close(
                &format!("{} after 3 steps {}", f.name, s.name),
                got,
                w,
                1e-4,
            );
        }
        assert_eq!(want.steps, 3, "num_batches_tracked after 3 steps");
    }
    no_errors();
}

#[test]
fn mismatched_checkpoints_name_the_key_and_shapes() {
    let f = load(&fixtures()[0]);
    let t = f.t.with_prefix("model.");
    // Another depth: missing keys.
    let mut deeper = f.spec.clone();
    deeper.depth = 14;
    let g = Graph::build(&deeper, 16, 16).unwrap();
    let e = checkpoint::params_from(&g, &t).unwrap_err().to_string();
    assert!(e.contains("missing key layer1.1."), "{e}");
    // Another width: wrong shape, both shapes named.
    let mut wider = f.spec.clone();
    wider.width = 8;
    let g = Graph::build(&wider, 16, 16).unwrap();
    let e = checkpoint::params_from(&g, &t).unwrap_err().to_string();
    assert!(
        e.contains("conv1.weight") && e.contains("[4, 3, 3, 3]") && e.contains("[8, 3, 3, 3]"),
        "{e}"
    );
    // A shallower net: unexpected keys.
    let mut resnet8 = f.spec.clone();
    resnet8.depth = 8;
    let mut t2 = t.clone();
    t2.f32s
        .insert("layer9.0.conv1.weight".into(), (vec![1], vec![0.0]));
    let g = Graph::build(&resnet8, 16, 16).unwrap();
    let e = checkpoint::params_from(&g, &t2).unwrap_err().to_string();
    assert!(e.contains("unexpected key layer9.0.conv1.weight"), "{e}");
    // The ImageNet family's stem is 7x7.
    let base = ModelSpec::parse("resnet18", Some(Family::Imagenet)).unwrap();
    let e = checkpoint::infer_spec(&base, &t).unwrap_err().to_string();
    assert!(e.contains("conv1 is 3x3"), "{e}");
}
