//! The tiled convolutions with batch norm (running statistics), the residual
//! and ReLU as their epilogue, against the unfused chain: the CPU twins
//! (conv, batch norm eval, pad) and the GPU's own two passes.

use reslab::cpu;
use reslab::device::numel;
use reslab::kernels::Program;
use reslab::kernels::batchnorm::{self, Padded};
use reslab::kernels::conv2d::*;
use reslab::ops::{BnGeom, BnOptions, Conv2dGeom, PadGeom};
use reslab::rng::Rng;

use crate::common::*;
use crate::conv2d::{data, s2_data_inputs};

/// The padded layout the next 3x3 conv of `g`'s output reads.
fn next_pad(g: &Conv2dGeom) -> PadGeom {
    Conv2dGeom::square(g.n, g.cout, g.ho(), g.wo(), 8, 3, 1, 1).forward_pad()
}

/// Every tiling of the stride-1 and stride-2 passes, each with its batch-norm
/// twin: y and the padded copy as the CPU twins make them (conv, batch norm
/// eval with residual and ReLU, pad), the same bits as the GPU's conv pass
/// then batch-norm pass, every value of y and of the copy's interior
/// written (both start as NaN), the copy's padding left as found (zeros),
/// in as many dispatches as the conv alone and none of batch norm. Shapes:
/// rows of whole vec4s and not, part-empty tiles, weights over 64 KiB (the
/// uniform tilings' runs: the epilogue on the last), groups of 8, 4, 2 lanes.
#[test]
fn conv_batchnorm_epilogue_matches_the_unfused_chain() {
    let gpu = gpu();
    let cases = [
        Conv2dGeom::square(2, 16, 32, 32, 16, 3, 1, 1),
        Conv2dGeom::square(3, 8, 7, 7, 32, 3, 1, 1),
        Conv2dGeom::square(1, 5, 9, 13, 17, 3, 1, 0),
        Conv2dGeom::square(1, 60, 6, 5, 70, 3, 1, 1),
        Conv2dGeom::square(2, 60, 8, 8, 64, 3, 1, 1),
        Conv2dGeom::square(1, 9, 10, 3, 48, 3, 1, 1),
        Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1),
        Conv2dGeom::square(1, 3, 7, 7, 9, 3, 2, 1),
        Conv2dGeom::square(2, 32, 16, 16, 64, 3, 2, 1),
    ];
    let (mut fused_runs, mut several_runs) = (0, 0);
    for (i, g) in cases.iter().enumerate() {
        let d = data(g, 900 + i as u64);
        let mut rng = Rng::new(40 + i as u64);
        let c = g.cout;
        let (residual, relu, padded) = (i % 2 == 0, i % 3 != 1, i % 4 != 3);
        let gamma = rng.vec_uniform(c, -1.5, 1.5);
        let beta = rng.vec_uniform(c, -0.5, 0.5);
        let mean = rng.vec_uniform(c, -0.5, 0.5);
        let var = rng.vec_uniform(c, 0.25, 2.0);
        let res = rng.vec_uniform(g.n * c * g.ho() * g.wo(), -1.0, 1.0);
        let bg = BnGeom {
            n: g.n,
            c,
            hw: g.ho() * g.wo(),
        };
        let o = BnOptions {
            relu,
            ..Default::default()
        };
        // The CPU twins' chain.
        let mut conv = vec![0f32; res.len()];
        cpu::conv2d_forward(&mut conv, &d.x, &d.w, None, g);
        let mut want = vec![0f32; res.len()];
        let r = residual.then_some(&res[..]);
        cpu::batchnorm_forward_eval(&mut want, &conv, &mean, &var, &gamma, &beta, r, &bg, &o);
        let pg = next_pad(g);
        let mut want_p = vec![0f32; pg.shape().iter().product()];
        cpu::conv2d_pad(&mut want_p, &want, &pg);
        // Zero padding around NaN: what the pass must leave and fill.
        let mut start_p = vec![0f32; want_p.len()];
        cpu::conv2d_pad(&mut start_p, &vec![f32::NAN; want.len()], &pg);

        // gamma then beta, the running mean then variance, each pair in one
        // tensor, the second at an offset any binding may start at.
        let at = c.next_multiple_of(64);
        let pair = |a: &[f32], b: &[f32]| {
            let mut v = a.to_vec();
            v.resize(at, 0.0);
            up(&[at + c], &[v, b.to_vec()].concat())
        };
        let (gb, stats) = (pair(&gamma, &beta), pair(&mean, &var));
        let tres = up(&g.y_shape(), &res);
        let (tx, tw) = (up(&g.x_shape(), &d.x), up(&g.w_shape(), &d.w));
        let xp = empty(&g.forward_pad().shape());
        let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(g, false)).unwrap();
        run(|p| {
            conv2d_pad(gpu, p, &xp, &tx, &g.forward_pad())?;
            conv2d_weight_tiles(gpu, p, &wt, &tw, g, false)
        });
        let tilings: Vec<(Option<Tiling>, S2Tiling)> = if g.sh == 1 {
            Tiling::ALL
                .iter()
                .map(|&t| (Some(t), S2Tiling::Storage))
                .collect()
        } else {
            S2Tiling::ALL.iter().map(|&s| (None, s)).collect()
        };
        for (t, s2) in tilings {
            let what =
                format!("{t:?} {s2:?} {g:?} residual={residual} relu={relu} padded={padded}");
            // The GPU's two passes.
            let conv_y = empty(&g.y_shape());
            let (y2, yp2, coef) = (empty(&g.y_shape()), empty(&pg.shape()), empty(&[2, c]));
            let mut two = Program::new();
            match t {
                Some(t) => conv2d_forward_tiled_as(
                    gpu,
                    &mut two,
                    &conv_y,
                    &xp,
                    &wt,
                    None,
                    g,
                    false,
                    Some(t),
                ),
                None => conv2d_forward_s2_as(gpu, &mut two, &conv_y, &xp, &wt, None, g, false, s2),
            }
            .unwrap();
            let conv_dispatches = two.len();
            batchnorm::batchnorm_forward_eval_padded(
                gpu,
                &mut two,
                &y2,
                padded.then_some(Padded {
                    xp: &yp2,
                    pg: &pg,
                    halo_zero: false,
                }),
                &coef,
                &conv_y,
                &stats.view(0, &[c]).unwrap(),
                &stats.view(at, &[c]).unwrap(),
                &gb.view(0, &[c]).unwrap(),
                &gb.view(at, &[c]).unwrap(),
                residual.then_some(&tres),
                &bg,
                &o,
            )
            .unwrap();
            two.run(gpu).unwrap();
            // The fused pass.
            let y = up(&g.y_shape(), &vec![f32::NAN; want.len()]);
            let yp = up(&pg.shape(), &start_p);
            let e = BnEpilogue {
                gamma_beta: &gb,
                beta_at: at,
                running: &stats,
                rv_at: at,
                eps: o.eps,
                relu,
                residual: residual.then_some(&tres),
                padded: padded.then_some((&yp, pg)),
            };
            let mut one = Program::new();
            let fused =
                conv2d_forward_tiled_bn_as(gpu, &mut one, &y, &xp, &wt, g, t, s2, &e).unwrap();
            let twin_fits = bn_twins().iter().all(|(_, twin)| twin.fits(gpu));
            if !fused {
                assert!(one.is_empty(), "{what}: recorded though not fused");
                assert!(!twin_fits, "{what}: not fused though every twin fits");
                continue;
            }
            fused_runs += 1;
            assert_eq!(one.len(), conv_dispatches, "{what}: dispatches");
            // The epilogue in the last dispatch (of several runs) only.
            let labels: Vec<&str> = one.dispatches.iter().map(|d| d.label()).collect();
            let twins: Vec<bool> = labels
                .iter()
                .map(|l| l.contains("conv2d_forward_bn_"))
                .collect();
            let mut want_twins = vec![false; labels.len()];
            want_twins[labels.len() - 1] = true;
            assert_eq!(twins, want_twins, "{what}: {labels:?}");
            several_runs += (labels.len() > 1) as usize;
            one.run(gpu).unwrap();
            let got = read(&y);
            assert_close(&format!("{what}: y"), &got, &want, 1e-4);
            let same = got
                .iter()
                .zip(read(&y2))
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{what}: y differs from the two passes' bits");
            let got_p = read(&yp);
            if padded {
                let mut from_y = vec![0f32; want_p.len()];
                cpu::conv2d_pad(&mut from_y, &got, &pg);
                let same = got_p
                    .iter()
                    .zip(&from_y)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{what}: the padded copy is not y's, zero-padded");
                assert_close(&format!("{what}: padded copy"), &got_p, &want_p, 1e-4);
            } else {
                let same = got_p
                    .iter()
                    .zip(&start_p)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{what}: the padded copy written though not asked for");
            }
        }
    }
    let fits = bn_twins().iter().all(|(_, twin)| twin.fits(gpu));
    assert!(!fits || fused_runs >= 30, "fused runs: {fused_runs}");
    if fits && gpu.limits().max_uniform_buffer_binding_size >= 65536 {
        assert!(
            several_runs >= 3,
            "fused passes in several runs: {several_runs}"
        );
    }
    no_errors();
}

/// The stride-2 backward-data pass with the option-A shortcut's gradient
/// added in it (the paired kernels' last run), against the unfused chain:
/// the CPU twins (conv backward-data, then the shortcut's backward adding to
/// it) and the GPU's own two passes, whose values it matches exactly (one
/// float addition either way; only a zero's sign may differ). Every weight
/// read; where the pass cannot take the shortcut (other kernels, rows not
/// of whole vec4s) it says so and dx holds the conv's gradient alone.
/// Shapes: rows of whole vec4s and not, odd heights, weights over 64 KiB
/// (runs: the shortcut on the last), shortcuts doubling the channels or not,
/// groups of 8, 4, 2 lanes. The paired texel kernels read the shortcut's
/// gradient as texels (Wo a multiple of 4 and not).
#[test]
fn stride2_backward_data_with_the_shortcut_matches_the_separate_passes() {
    use reslab::kernels::shortcut::shortcut_a_backward;
    use reslab::ops::ShortcutGeom;
    let gpu = gpu();
    // (conv, the shortcut's output channels)
    let cases = [
        (Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1), 32),
        (Conv2dGeom::square(3, 32, 16, 16, 64, 3, 2, 1), 64),
        (Conv2dGeom::square(1, 64, 8, 8, 128, 3, 2, 1), 128),
        (Conv2dGeom::square(2, 4, 9, 12, 8, 3, 2, 1), 8),
        (Conv2dGeom::square(2, 8, 10, 10, 16, 3, 2, 1), 16),
        (Conv2dGeom::square(1, 12, 7, 8, 20, 3, 2, 1), 30),
        (Conv2dGeom::square(2, 6, 8, 20, 6, 3, 2, 1), 6),
        // 19 runs: the paired kernels' storage twin, one pass.
        (Conv2dGeom::square(1, 128, 8, 8, 256, 3, 2, 1), 256),
    ];
    let (mut fused_cases, mut several_runs, mut texel_shortcuts) = (0, 0, 0);
    for (i, (g, sc_co)) in cases.iter().enumerate() {
        let sg = ShortcutGeom {
            n: g.n,
            cin: g.cin,
            h: g.h,
            w: g.w,
            cout: *sc_co,
            stride: 2,
        };
        let d = data(g, 900 + i as u64);
        let sdy = Rng::new(950 + i as u64).vec_uniform(numel(&sg.y_shape()), -1.0, 1.0);
        let tsdy = up(&sg.y_shape(), &sdy);
        let (dyp, wt, runs) = s2_data_inputs(g, &d.dy, &d.w);
        several_runs += (runs > 1) as usize;
        let mut want = vec![0f32; numel(&g.x_shape())];
        cpu::conv2d_backward_data(&mut want, &d.dy, &d.w, g, false);
        cpu::shortcut_a_backward(&mut want, &sdy, &sg, true);
        for &t in S2Tiling::ALL {
            let what = format!("{t:?} {g:?} shortcut to {sc_co}");
            // The two passes.
            let apart = empty(&g.x_shape());
            run(|p| {
                conv2d_backward_data_tiled_s2_as(gpu, p, &apart, &dyp, &wt, g, false, t)?;
                shortcut_a_backward(gpu, p, &apart, &tsdy, &sg, true)
            });
            let apart = read(&apart);
            // One, where it can.
            let dx = empty(&g.x_shape());
            let mut prog = Program::new();
            let shortcut = S2Shortcut {
                dy: &tsdy,
                geom: &sg,
            };
            let fused = conv2d_backward_data_tiled_s2_with_shortcut(
                gpu, &mut prog, &dx, &dyp, &wt, g, t, shortcut,
            )
            .unwrap();
            let grouped = matches!(t, S2Tiling::Subgroup | S2Tiling::SubgroupTexels);
            let can = grouped && has_subgroups(gpu) && g.w % 4 == 0 && runs > 0;
            assert_eq!(fused, can, "{what}: fused");
            fused_cases += fused as usize;
            // The paired texel kernels' last run copies the shortcut's
            // gradient into a texture too (and a later run dx's values).
            let passes: Vec<_> = prog
                .dispatches
                .iter()
                .filter(|d| {
                    d.label()
                        .starts_with("conv2d_backward_data_pairs_texel_subgroup.wgsl:")
                })
                .collect();
            if let Some(last) = passes.last() {
                let textures = gpu.limits().max_storage_textures_per_shader_stage;
                let earlier = passes.len() > 1 && textures >= 3;
                let want = dyp.bytes()
                    + if fused { tsdy.bytes() } else { 0 }
                    + if earlier { dx.bytes() } else { 0 };
                assert_eq!(
                    last.texel_copy_bytes(),
                    want,
                    "{what}: the last run's texel copies"
                );
                texel_shortcuts += fused as usize;
            }
            if !fused {
                shortcut_a_backward(gpu, &mut prog, &dx, &tsdy, &sg, true).unwrap();
            }
            prog.run(gpu).unwrap();
            let got = read(&dx);
            assert_close(&what, &got, &want, 1e-4);
            if let Some(j) = (0..got.len()).find(|&j| got[j] != apart[j]) {
                panic!(
                    "{what}: value {j} {} against {} in two passes",
                    got[j], apart[j]
                );
            }
        }
    }
    if gpu.limits().max_uniform_buffer_binding_size >= 65536 {
        assert!(several_runs >= 1, "cases in several runs: {several_runs}");
        if has_subgroups(gpu) {
            assert!(
                fused_cases >= 8,
                "cases with the shortcut in the pass: {fused_cases}"
            );
            if gpu.limits().max_storage_textures_per_shader_stage >= 2 {
                assert!(
                    texel_shortcuts >= 4,
                    "shortcuts read as texels: {texel_shortcuts}"
                );
            }
        }
    }
    no_errors();
}

/// A training step of a CIFAR ResNet runs no separate pass for the option-A
/// shortcuts' gradients where their stride-2 convs' backward-data passes take
/// them (devices with subgroups), and still matches the CPU twin
/// (model::resnet_chain_gradients_match_cpu checks the gradients).
#[test]
fn training_step_takes_the_shortcut_gradients_into_the_conv_passes() {
    use reslab::model::plan::PlanOptions;
    use reslab::model::{Graph, HostParams, Mode, ModelSpec, Params, Plan};
    let gpu = gpu();
    let mut spec = ModelSpec::parse("resnet14", None).unwrap();
    spec.width = 8;
    let graph = Graph::build(&spec, 16, 16).unwrap();
    let host = HostParams::init(&graph, 3);
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let opts = PlanOptions {
        backward: true,
        ..Default::default()
    };
    let plan = Plan::new(gpu, &graph, &params, 4, Mode::Train, opts).unwrap();
    let count = |name: &str| {
        plan.program
            .dispatches
            .iter()
            .filter(|d| d.label().contains(name))
            .count()
    };
    let paired = count("conv2d_backward_data_tiled_s2p");
    let separate = count("shortcut_a_backward");
    // Two downsampling blocks: each shortcut's gradient in one place.
    assert_eq!(count("shortcut_a_forward"), 2);
    if has_subgroups(gpu) && paired > 0 {
        assert_eq!(separate, 0, "{paired} paired passes");
    } else {
        assert_eq!(separate, 2);
    }
    no_errors();
}
