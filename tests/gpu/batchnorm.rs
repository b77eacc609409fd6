use reslab::Tensor;
use reslab::cpu;
use reslab::kernels::batchnorm::*;
use reslab::kernels::conv2d::Variant;
use reslab::ops::{BnGeom, BnOptions, PadGeom};

use crate::common::*;

/// Seeded geometries with at least `min_m` values per channel. Backward tests
/// use 3: with two values per channel xhat = ±1 whatever x is, so dx is zero up
/// to eps and any f32 result is rounding noise against it.
fn geoms(seed: u64, count: usize, min_m: usize) -> Vec<BnGeom> {
    let mut rng = Rng::new(seed);
    let mut out = vec![
        BnGeom {
            n: 1,
            c: 1,
            hw: min_m,
        },
        BnGeom {
            n: min_m,
            c: 1,
            hw: 1,
        },
        BnGeom {
            n: 8,
            c: 16,
            hw: 64,
        },
        BnGeom { n: 3, c: 5, hw: 49 },
        // Several chunks per channel (on any adapter: see the tests that
        // run these).
        BnGeom {
            n: 32,
            c: 3,
            hw: 300,
        },
        BnGeom {
            n: 64,
            c: 1,
            hw: 64,
        },
    ];
    while out.len() < count {
        let g = BnGeom {
            n: 1 + rng.below(6),
            c: 1 + rng.below(20),
            hw: 1 + rng.below(90),
        };
        if g.m() >= min_m {
            out.push(g);
        }
    }
    out
}

/// Asserts that some of `cases` sum a channel in several chunks on this
/// adapter (whose reductions aim at [`reduction_groups`] workgroups).
fn some_in_several_chunks(cases: &[BnGeom]) {
    let groups = reduction_groups(gpu());
    assert!(
        cases.iter().any(|g| chunks(g, groups).0 > 1),
        "no case sums a channel in several chunks aiming at {groups} workgroups"
    );
}

struct BnData {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rm: Vec<f32>,
    rv: Vec<f32>,
    res: Vec<f32>,
    dout: Vec<f32>,
    dres0: Vec<f32>,
}

fn data(g: &BnGeom, seed: u64) -> BnData {
    let mut rng = Rng::new(seed);
    // An offset mean per channel checks that the one-pass variance does not cancel.
    let offsets: Vec<f64> = (0..g.c).map(|_| rng.range(-20.0, 20.0)).collect();
    let mut x = rng.vec_uniform(g.len(), -2.0, 2.0);
    for (i, v) in x.iter_mut().enumerate() {
        *v += offsets[(i / g.hw) % g.c] as f32;
    }
    BnData {
        x,
        gamma: rng.vec_uniform(g.c, 0.5, 1.5),
        beta: rng.vec_uniform(g.c, -0.5, 0.5),
        rm: rng.vec_uniform(g.c, -1.0, 1.0),
        rv: rng.vec_uniform(g.c, 0.5, 2.0),
        res: rng.vec_uniform(g.len(), -1.0, 1.0),
        dout: rng.vec_uniform(g.len(), -1.0, 1.0),
        dres0: rng.vec_uniform(g.len(), -1.0, 1.0),
    }
}

#[test]
fn batchnorm_forward_train_matches_cpu() {
    let gpu = gpu();
    let cases = geoms(10, 24, 2);
    some_in_several_chunks(&cases);
    for (i, g) in cases.iter().enumerate() {
        let d = data(g, i as u64);
        let relu = i % 2 == 0;
        let residual = i % 3 == 0;
        let o = BnOptions {
            relu,
            ..Default::default()
        };
        let shape = [g.n, g.c, g.hw, 1];
        let (tx, tg, tb) = (up(&shape, &d.x), up(&[g.c], &d.gamma), up(&[g.c], &d.beta));
        let (trm, trv, tres) = (up(&[g.c], &d.rm), up(&[g.c], &d.rv), up(&shape, &d.res));
        let (ty, tsaved, tcoef) = (empty(&shape), empty(&[2, g.c]), empty(&[2, g.c]));
        run(|p| {
            batchnorm_forward_train(
                gpu,
                p,
                &ty,
                &tsaved,
                &tcoef,
                &trm,
                &trv,
                &tx,
                &tg,
                &tb,
                residual.then_some(&tres),
                g,
                &o,
            )
        });
        let (mut y, mut saved, mut rm, mut rv) = (
            vec![0f32; g.len()],
            vec![0f32; 2 * g.c],
            d.rm.clone(),
            d.rv.clone(),
        );
        cpu::batchnorm_forward_train(
            &mut y,
            &mut saved,
            &mut rm,
            &mut rv,
            &d.x,
            &d.gamma,
            &d.beta,
            residual.then_some(&d.res[..]),
            g,
            &o,
        );
        let what = format!("{g:?} relu={relu} residual={residual}");
        assert_close(&format!("y {what}"), &read(&ty), &y, 1e-4);
        assert_close(&format!("saved {what}"), &read(&tsaved), &saved, 1e-4);
        assert_close(&format!("running_mean {what}"), &read(&trm), &rm, 1e-4);
        assert_close(&format!("running_var {what}"), &read(&trv), &rv, 1e-4);
    }
    no_errors();
}

#[test]
fn batchnorm_forward_eval_matches_cpu() {
    let gpu = gpu();
    for (i, g) in geoms(11, 20, 2).iter().enumerate() {
        let d = data(g, 50 + i as u64);
        let relu = i % 2 == 1;
        let residual = i % 3 == 1;
        let o = BnOptions {
            relu,
            ..Default::default()
        };
        let shape = [g.n, g.c, g.hw, 1];
        let (tx, tg, tb) = (up(&shape, &d.x), up(&[g.c], &d.gamma), up(&[g.c], &d.beta));
        let (trm, trv, tres) = (up(&[g.c], &d.rm), up(&[g.c], &d.rv), up(&shape, &d.res));
        let (ty, tcoef) = (empty(&shape), empty(&[2, g.c]));
        run(|p| {
            batchnorm_forward_eval(
                gpu,
                p,
                &ty,
                &tcoef,
                &tx,
                &trm,
                &trv,
                &tg,
                &tb,
                residual.then_some(&tres),
                g,
                &o,
            )
        });
        let mut y = vec![0f32; g.len()];
        cpu::batchnorm_forward_eval(
            &mut y,
            &d.x,
            &d.rm,
            &d.rv,
            &d.gamma,
            &d.beta,
            residual.then_some(&d.res[..]),
            g,
            &o,
        );
        assert_close(
            &format!("{g:?} relu={relu} residual={residual}"),
            &read(&ty),
            &y,
            1e-4,
        );
    }
    no_errors();
}

/// Two tensors of C values in one buffer with a gap of 7.5s between (as the
/// flat parameters lay them out), and that buffer's tensor.
fn pair(g: &BnGeom, a: &[f32], b: &[f32]) -> (Tensor, Tensor, Tensor) {
    let align = (gpu().limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
    let gap = vec![7.5f32; (g.c + 1).next_multiple_of(align) - g.c];
    let t = up(&[2 * g.c + gap.len()], &[a, &gap, b].concat());
    let second = t.view(g.c + gap.len(), &[g.c]).unwrap();
    (t.view(0, &[g.c]).unwrap(), second, t)
}

/// The saved statistics then the coefficients [2, C] each in one buffer, as
/// a plan lays them out, and that buffer's tensor.
fn stats_coef(g: &BnGeom) -> (Tensor, Tensor, Tensor) {
    let align = (gpu().limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
    let coef_at = (2 * g.c).next_multiple_of(align);
    let t = empty(&[coef_at + 2 * g.c]);
    let saved = t.view(0, &[2, g.c]).unwrap();
    (saved, t.view(coef_at, &[2, g.c]).unwrap(), t)
}

/// Runs the GPU training forward then backward; returns (dx, dgamma, dbeta, dres).
fn gpu_backward(g: &BnGeom, d: &BnData, relu: bool, dres: Option<bool>) -> [Vec<f32>; 4] {
    let ([dx, dg, db, dr, _, _], _) = gpu_chain(g, d, relu, dres);
    [dx, dg, db, dr]
}

/// Runs the GPU training forward then backward; returns (dx, dgamma, dbeta,
/// dres, y, saved) and the labels of the passes that ran.
fn gpu_chain(
    g: &BnGeom,
    d: &BnData,
    relu: bool,
    dres: Option<bool>,
) -> ([Vec<f32>; 6], Vec<String>) {
    let gpu = gpu();
    let o = BnOptions {
        relu,
        ..Default::default()
    };
    let shape = [g.n, g.c, g.hw, 1];
    // Laid out as a plan lays them out (pairs of small tensors in one
    // buffer each), so that every fused pass can run.
    let (tx, (tg, tb, _gb)) = (up(&shape, &d.x), pair(g, &d.gamma, &d.beta));
    let ((trm, trv, _run), tres) = (pair(g, &d.rm, &d.rv), up(&shape, &d.res));
    let (ty, (tsaved, tcoef, _stats)) = (empty(&shape), stats_coef(g));
    let tdout = up(&shape, &d.dout);
    let zeros = vec![0f32; g.c];
    let (tdx, (tdg, tdb, _dgb)) = (empty(&shape), pair(g, &zeros, &zeros));
    let tdres = up(&shape, &d.dres0);
    let mut labels = Vec::new();
    run(|p| {
        batchnorm_forward_train(
            gpu,
            p,
            &ty,
            &tsaved,
            &tcoef,
            &trm,
            &trv,
            &tx,
            &tg,
            &tb,
            dres.is_some().then_some(&tres),
            g,
            &o,
        )?;
        let r = dres.map(|accumulate| ResidualGrad {
            dres: &tdres,
            accumulate,
        });
        batchnorm_backward_padded(
            gpu,
            p,
            &tdx,
            None,
            &tdg,
            &tdb,
            r,
            &tdout,
            relu.then_some(&ty),
            &tx,
            &tsaved,
            Some(TrainForward {
                coef: &tcoef,
                residual: dres.is_some(),
            }),
            &tg,
            g,
        )?;
        labels = p.dispatches.iter().map(|d| d.label().to_string()).collect();
        Ok(())
    });
    let outs = [&tdx, &tdg, &tdb, &tdres, &ty, &tsaved].map(read);
    (outs, labels)
}

#[test]
fn batchnorm_backward_matches_cpu() {
    let cases = geoms(12, 24, 3);
    some_in_several_chunks(&cases);
    for (i, g) in cases.iter().enumerate() {
        let d = data(g, 100 + i as u64);
        let relu = i % 2 == 0;
        let dres = [None, Some(false), Some(true)][i % 3];
        let [dx, dg, db, dr] = gpu_backward(g, &d, relu, dres);
        // CPU: forward for `out` and `saved`, then backward.
        let o = BnOptions {
            relu,
            ..Default::default()
        };
        let (mut y, mut saved, mut rm, mut rv) = (
            vec![0f32; g.len()],
            vec![0f32; 2 * g.c],
            d.rm.clone(),
            d.rv.clone(),
        );
        let res = dres.is_some().then_some(&d.res[..]);
        cpu::batchnorm_forward_train(
            &mut y, &mut saved, &mut rm, &mut rv, &d.x, &d.gamma, &d.beta, res, g, &o,
        );
        let (mut wdx, mut wdg, mut wdb, mut wdr) = (
            vec![0f32; g.len()],
            vec![0f32; g.c],
            vec![0f32; g.c],
            d.dres0.clone(),
        );
        cpu::batchnorm_backward(
            &mut wdx,
            &mut wdg,
            &mut wdb,
            dres.map(|a| (&mut wdr[..], a)),
            &d.dout,
            relu.then_some(&y[..]),
            &d.x,
            &saved,
            &d.gamma,
            g,
        );
        let what = format!("{g:?} relu={relu} dres={dres:?}");
        assert_close(&format!("dx {what}"), &dx, &wdx, 1e-4);
        assert_close(&format!("dgamma {what}"), &dg, &wdg, 1e-4);
        assert_close(&format!("dbeta {what}"), &db, &wdb, 1e-4);
        assert_close(&format!("dres {what}"), &dr, &wdr, 1e-4);
    }
    no_errors();
}

/// The reductions in workgroups of 128 and in their 8-wide twins (BnSums):
/// the same tree over the same lanes, so the same bits in every output of
/// the forward and backward passes, planes of a multiple of 4 values or not,
/// one chunk per channel or several; and each width's kernels are the ones
/// that ran.
#[test]
fn batchnorm_sums_give_the_same_bits_at_either_width() {
    let gpu = gpu();
    let cases = geoms(15, 16, 3);
    some_in_several_chunks(&cases);
    for (i, g) in cases.iter().enumerate() {
        let d = data(g, 400 + i as u64);
        let relu = i % 2 == 0;
        let dres = [None, Some(false), Some(true)][i % 3];
        let mut first: Option<[Vec<f32>; 6]> = None;
        for &sums in BnSums::ALL {
            gpu.set_tuned(&sums_key(g), Some(sums.name())).unwrap();
            assert_eq!(tuned_sums(gpu, g).unwrap(), sums);
            let what = format!("{g:?} relu={relu} dres={dres:?} {sums:?}");
            let (got, labels) = gpu_chain(g, &d, relu, dres);
            let count = |end: &str| labels.iter().filter(|l| l.ends_with(end)).count();
            // The statistics' sums and the backward's: narrow, or, in one
            // pass each with the apply, over planes of whole vec4s where the
            // device has the one-pass kernels' buffers.
            use reslab::kernels::table::{BN_BACKWARD_APPLY_PAD4_ONE, BN_STATS_APPLY_PAD4_ONE};
            let one = sums == BnSums::OnePass && g.hw % 4 == 0;
            let ones = [
                BN_STATS_APPLY_PAD4_ONE.fits(gpu),
                BN_BACKWARD_APPLY_PAD4_ONE.fits(gpu),
            ]
            .map(|fits| usize::from(one && fits));
            let narrow = if sums == BnSums::Wide { 0 } else { 2 };
            let want = [narrow - ones[0] - ones[1], ones[0] + ones[1]];
            assert_eq!([count("_w8"), count("_one")], want, "passes {what}");
            // The one pass sums a channel in one chunk: the bits of the
            // others where they do too.
            if want[1] > 0 && chunks(g, reduction_groups(gpu)).0 > 1 {
                continue;
            }
            match &first {
                None => first = Some(got),
                Some(bits) => {
                    for (k, (a, b)) in got.iter().zip(bits).enumerate() {
                        assert!(
                            a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{what}: output {k} not the bits of {:?}",
                            BnSums::ALL[0]
                        );
                    }
                }
            }
        }
        gpu.set_tuned(&sums_key(g), None).unwrap();
    }
    no_errors();
}

/// The one-pass backward after a forward with ReLU and no residual finds
/// the mask from x and the forward's coefficients, without reading the
/// output: the same bits as reading it, in every output (dx, dgamma, dbeta
/// and dx's padded copy), reading storage or texels, with the copy or
/// without; and the one-pass kernel of those reads is the one that ran
/// (where the device has its buffers).
#[test]
fn batchnorm_backward_mask_from_x_gives_the_bits_of_the_output() {
    use reslab::kernels::table::BN_BACKWARD_APPLY_PAD4_ONE;
    let gpu = gpu();
    // Channel counts of this test alone: no test running beside it sets the
    // same tuning keys.
    for (i, (n, c, h, w)) in [(4, 17, 8, 8), (3, 19, 4, 4), (2, 23, 6, 8), (5, 29, 10, 12)]
        .into_iter()
        .enumerate()
    {
        let g = BnGeom { n, c, hw: h * w };
        // The tiled conv's input layout (offset 1, 1), which the one-pass
        // kernel writes itself.
        let pg = PadGeom {
            n,
            c,
            h,
            w,
            hp: h + 2,
            pitch: (w + 2).next_multiple_of(4),
            oy: 1,
            ox: 1,
            dil: 1,
        };
        let d = data(&g, 500 + i as u64);
        let o = BnOptions {
            relu: true,
            ..Default::default()
        };
        let shape = [n, c, h * w, 1];
        let (tg, tb, _gb) = pair(&g, &d.gamma, &d.beta);
        let (trm, trv, _run) = pair(&g, &d.rm, &d.rv);
        let (tx, ty, tdout) = (up(&shape, &d.x), empty(&shape), up(&shape, &d.dout));
        let (tsaved, tcoef, _stats) = stats_coef(&g);
        gpu.set_tuned(&sums_key(&g), Some(BnSums::OnePass.name()))
            .unwrap();
        for &reads in BnReads::ALL {
            gpu.set_tuned(&reads_key(&g), Some(reads.name())).unwrap();
            for copy in [false, true] {
                let what = format!("{g:?} {reads:?} copy={copy}");
                // [dx, dgamma, dbeta, dxp] with the mask from x, then from out.
                let mut outs: Vec<Vec<Vec<f32>>> = Vec::new();
                for read_out in [false, true] {
                    let zeros = vec![0f32; c];
                    let (tdg, tdb, _dgb) = pair(&g, &zeros, &zeros);
                    let tdx = empty(&shape);
                    let tdxp = up(&pg.shape(), &vec![0f32; pg.shape().iter().product()]);
                    let mut labels = Vec::new();
                    run(|p| {
                        batchnorm_forward_train(
                            gpu, p, &ty, &tsaved, &tcoef, &trm, &trv, &tx, &tg, &tb, None, &g, &o,
                        )?;
                        let before = p.len();
                        batchnorm_backward_padded(
                            gpu,
                            p,
                            &tdx,
                            copy.then_some(Padded {
                                xp: &tdxp,
                                pg: &pg,
                                halo_zero: false,
                            }),
                            &tdg,
                            &tdb,
                            None,
                            &tdout,
                            Some(&ty),
                            &tx,
                            &tsaved,
                            Some(TrainForward {
                                coef: &tcoef,
                                residual: read_out,
                            }),
                            &tg,
                            &g,
                        )?;
                        labels = p.dispatches[before..]
                            .iter()
                            .map(|d| d.label().to_string())
                            .collect();
                        Ok(())
                    });
                    if BN_BACKWARD_APPLY_PAD4_ONE.fits(gpu) {
                        let module = match reads {
                            BnReads::Storage => "batchnorm_backward.wgsl",
                            BnReads::Texels => "batchnorm_backward_texel.wgsl",
                        };
                        assert_eq!(
                            labels,
                            [format!("{module}:bn_backward_apply_pad4_one")],
                            "backward passes {what} read_out={read_out}"
                        );
                    }
                    outs.push([&tdx, &tdg, &tdb, &tdxp].map(read).to_vec());
                }
                for (k, (a, b)) in outs[0].iter().zip(&outs[1]).enumerate() {
                    assert!(
                        a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{what}: output {k} with the mask from x is not the bits of the mask from out"
                    );
                }
            }
        }
        // The mask both keeps and drops.
        let y = read(&ty);
        assert!(y.iter().any(|&v| v > 0.0) && y.contains(&0.0), "{g:?}");
        gpu.set_tuned(&reads_key(&g), None).unwrap();
        gpu.set_tuned(&sums_key(&g), None).unwrap();
    }
    no_errors();
}

/// GPU gradients of L = Σ dout ⊙ relu?(bn(x) + res) against central differences
/// of the CPU training forward in f64.
#[test]
fn batchnorm_backward_matches_finite_differences() {
    let mut rng = Rng::new(13);
    for (i, g) in geoms(14, 20, 3).iter().enumerate() {
        let d = data(g, 200 + i as u64);
        let relu = i % 2 == 1;
        let [dx, dg, db, dr] = gpu_backward(g, &d, relu, Some(false));
        let o = BnOptions {
            relu,
            ..Default::default()
        };
        let (x, gamma, beta, res, r) = (
            to_f64(&d.x),
            to_f64(&d.gamma),
            to_f64(&d.beta),
            to_f64(&d.res),
            to_f64(&d.dout),
        );
        let loss = |x: &[f64], gamma: &[f64], beta: &[f64], res: &[f64]| {
            let (mut y, mut saved) = (vec![0f64; g.len()], vec![0f64; 2 * g.c]);
            let (mut rm, mut rv) = (vec![0f64; g.c], vec![1f64; g.c]);
            cpu::batchnorm_forward_train(
                &mut y,
                &mut saved,
                &mut rm,
                &mut rv,
                x,
                gamma,
                beta,
                Some(res),
                g,
                &o,
            );
            dot(&r, &y)
        };
        let what = format!("{g:?} relu={relu}");
        let ix = sample_indices(&mut rng, x.len(), 40);
        let fd = finite_diff(|v| loss(v, &gamma, &beta, &res), &x, &ix, 1e-6);
        assert_close(&format!("dx {what}"), &pick(&dx, &ix), &to_f32(&fd), 1e-3);
        let ic: Vec<usize> = (0..g.c).collect();
        let fd = finite_diff(|v| loss(&x, v, &beta, &res), &gamma, &ic, 1e-6);
        assert_close(&format!("dgamma {what}"), &dg, &to_f32(&fd), 1e-3);
        let fd = finite_diff(|v| loss(&x, &gamma, v, &res), &beta, &ic, 1e-6);
        assert_close(&format!("dbeta {what}"), &db, &to_f32(&fd), 1e-3);
        let ir = sample_indices(&mut rng, res.len(), 40);
        let fd = finite_diff(|v| loss(&x, &gamma, &beta, v), &res, &ir, 1e-6);
        assert_close(&format!("dres {what}"), &pick(&dr, &ir), &to_f32(&fd), 1e-3);
    }
    no_errors();
}

#[test]
fn batchnorm_train_rejects_one_value_per_channel() {
    let gpu = gpu();
    let g = BnGeom { n: 1, c: 4, hw: 1 };
    let t = empty(&[1, 4, 1, 1]);
    let v = empty(&[4]);
    let s = empty(&[2, 4]);
    let k = empty(&[2, 4]);
    let mut p = reslab::kernels::Program::new();
    let e = batchnorm_forward_train(
        gpu,
        &mut p,
        &t,
        &s,
        &k,
        &v,
        &v,
        &t,
        &v,
        &v,
        None,
        &g,
        &BnOptions::default(),
    )
    .expect_err("training-mode batch norm over one value must fail");
    assert!(
        e.to_string().contains("more than one value per channel"),
        "{e}"
    );
}

/// Planes of h x w and layouts of their padded copy: the tiled conv's forward
/// input (offset 1, 1), the stride-2 backward-data dy (offset 0, rows and
/// columns to spare), and layouts the fused passes do not take (a width not a
/// multiple of 4, an offset of 2 columns, dilation), which run the pad pass.
fn pad_cases() -> Vec<(BnGeom, PadGeom, bool)> {
    let mut out = Vec::new();
    for (n, c, h, w, oy, ox, extra_rows, dil) in [
        (2, 3, 8, 8, 1, 1, 2, 1),
        (3, 5, 4, 16, 1, 1, 4, 1),
        (1, 2, 6, 4, 0, 0, 1, 1),
        (4, 3, 5, 12, 0, 0, 1, 1),
        (2, 2, 3, 5, 1, 1, 2, 1),
        (2, 3, 4, 8, 2, 2, 4, 1),
        (2, 2, 4, 4, 1, 1, 5, 2),
        // A channel in several chunks of the two-pass sums on any adapter.
        (64, 3, 8, 8, 1, 1, 2, 1),
    ] {
        let pg = PadGeom {
            n,
            c,
            h,
            w,
            hp: oy + (h - 1) * dil + 1 + extra_rows,
            pitch: (ox + (w - 1) * dil + 2).next_multiple_of(4),
            oy,
            ox,
            dil,
        };
        let fused = w % 4 == 0 && ox <= 1 && dil == 1;
        out.push((BnGeom { n, c, hw: h * w }, pg, fused));
    }
    out
}

fn padded(pg: &PadGeom, plane: &[f32]) -> Vec<f32> {
    let mut want = vec![0f32; pg.shape().iter().product()];
    cpu::conv2d_pad(&mut want, plane, pg);
    want
}

/// The apply passes that also write their output zero-padded (forward train
/// and eval, backward) against the CPU twins of batch norm then conv2d_pad;
/// the copy is written whole (the tensor starts as NaN), and where the layout
/// allows in the apply pass itself: no pass more than without the copy.
#[test]
fn batchnorm_padded_outputs_match_cpu_twins() {
    let gpu = gpu();
    for (i, (g, pg, fused)) in pad_cases().into_iter().enumerate() {
        // Every way of reading the activations (BnReads) with every way of
        // summing them (BnSums): each against the CPU twins, and the same
        // bits where they sum a channel in the same chunks (the one-pass
        // kernels in one, the others in `chunks`).
        let several = chunks(&g, reduction_groups(gpu)).0 > 1;
        let mut firsts: [Option<Vec<Vec<f32>>>; 2] = [None, None];
        let ways = BnReads::ALL
            .iter()
            .flat_map(|&r| BnSums::ALL.iter().map(move |&s| (r, s)));
        for (reads, sums) in ways {
            gpu.set_tuned(&reads_key(&g), Some(reads.name())).unwrap();
            gpu.set_tuned(&sums_key(&g), Some(sums.name())).unwrap();
            let d = data(&g, 300 + i as u64);
            let relu = i % 2 == 0;
            let residual = i % 3 != 1;
            let o = BnOptions {
                relu,
                ..Default::default()
            };
            let what = format!("{pg:?} relu={relu} residual={residual} {reads:?} {sums:?}");
            let shape = [g.n, g.c, g.hw, 1];
            let nan = vec![f32::NAN; pg.shape().iter().product()];
            // Gamma and beta, the running mean and variance: each pair in one
            // tensor with a gap between (as the flat parameters lay them out),
            // which the fused passes read through one binding; the gap is left as it is.
            let (tg, tb, gamma_beta) = pair(&g, &d.gamma, &d.beta);
            let (trm, trv, running) = pair(&g, &d.rm, &d.rv);
            let (tx, tres) = (up(&shape, &d.x), up(&shape, &d.res));
            // The saved statistics then the coefficients in one tensor, as a plan
            // lays them out (the fused pass writes both through one binding).
            let (tsaved, tcoef, _stats) = stats_coef(&g);
            let ty = empty(&shape);
            let (typ, tdxp) = (up(&pg.shape(), &nan), up(&pg.shape(), &nan));
            let tdout = up(&shape, &d.dout);
            // dgamma and dbeta as the flat gradients lay them out, like gamma and beta.
            let zeros = vec![0f32; g.c];
            let (tdg, tdb, dgamma_dbeta) = pair(&g, &zeros, &zeros);
            let (tdx, tdres) = (empty(&shape), up(&shape, &d.dres0));
            let res = residual.then_some(&tres);
            let dres = residual.then_some(ResidualGrad {
                dres: &tdres,
                accumulate: true,
            });
            // The vec4 passes read texels when so chosen: the sums always, the
            // fused passes where they run (the kernels below).
            use reslab::kernels::table::{self, Kernel};
            let texels = reads == BnReads::Texels && g.hw % 4 == 0;
            let (stats_apply, eval_apply, bwd_sums, bwd_apply) = if texels {
                (
                    &table::BN_STATS_APPLY_PAD4_TEX,
                    &table::BN_EVAL_APPLY_PAD4_TEX,
                    &table::BN_BACKWARD_PARTIAL4_TAIL_TEX,
                    &table::BN_BACKWARD_FINALIZE_APPLY_PAD4_TEX,
                )
            } else {
                (
                    &table::BN_STATS_APPLY_PAD4,
                    &table::BN_EVAL_APPLY_PAD4,
                    &table::BN_BACKWARD_PARTIAL4_TAIL,
                    &table::BN_BACKWARD_FINALIZE_APPLY_PAD4,
                )
            };
            let bwd_fused = fused && bwd_apply.fits(gpu) && bwd_sums.fits(gpu);
            // The one-pass kernels, where chosen and the device has their buffers.
            let (fwd_one, bwd_one) = if texels {
                (
                    &table::BN_STATS_APPLY_PAD4_ONE_TEX,
                    &table::BN_BACKWARD_APPLY_PAD4_ONE_TEX,
                )
            } else {
                (
                    &table::BN_STATS_APPLY_PAD4_ONE,
                    &table::BN_BACKWARD_APPLY_PAD4_ONE,
                )
            };
            let one = sums == BnSums::OnePass && g.hw % 4 == 0;
            // Without a copy, and with it where the layout allows.
            let plain_one = one && fwd_one.fits(gpu);
            let (fwd_one, bwd_one) = (plain_one && fused, one && fused && bwd_one.fits(gpu));
            // The two passes' count without a copy (their sums' width aside).
            let plain_fwd = {
                gpu.set_tuned(&sums_key(&g), Some(BnSums::Wide.name()))
                    .unwrap();
                let mut p = reslab::kernels::Program::new();
                batchnorm_forward_train_padded(
                    gpu, &mut p, &ty, None, &tsaved, &tcoef, &trm, &trv, &tx, &tg, &tb, res, &g, &o,
                )
                .unwrap();
                gpu.set_tuned(&sums_key(&g), Some(sums.name())).unwrap();
                p.len() as isize
            };
            let texel_passes = |p: &reslab::kernels::Program, from: usize, module: &str| {
                p.dispatches[from..]
                    .iter()
                    .filter(|d| d.label().starts_with(module))
                    .count()
            };
            let mut lens = [0usize; 2];
            for (k, pad) in [
                None,
                Some(Padded {
                    xp: &typ,
                    pg: &pg,
                    halo_zero: false,
                }),
            ]
            .into_iter()
            .enumerate()
            {
                let mut p = reslab::kernels::Program::new();
                batchnorm_forward_train_padded(
                    gpu, &mut p, &ty, pad, &tsaved, &tcoef, &trm, &trv, &tx, &tg, &tb, res, &g, &o,
                )
                .unwrap();
                lens[k] = p.len();
                let want = if !texels {
                    0
                } else if pad.is_some() && fwd_one {
                    1
                } else if pad.is_some() && fused && stats_apply.fits(gpu) {
                    2
                } else {
                    1
                };
                assert_eq!(
                    texel_passes(&p, 0, "batchnorm_forward_texel.wgsl:"),
                    want,
                    "forward texel passes {what} padded={}",
                    pad.is_some()
                );
            }
            // Passes with the copy against without: one fewer where the stage has
            // the buffers to finalize the statistics in the same pass, as many
            // where it has those of the fused apply, one more (the pad pass) else.
            let extra = |merged: &Kernel<BnParams>, apply: &Kernel<BnParams>| -> isize {
                if fused && merged.fits(gpu) {
                    -1
                } else if fused && apply.fits(gpu) {
                    0
                } else {
                    1
                }
            };
            // The one-pass kernels: one pass.
            let extra_bwd = isize::from(!(fused && table::BN_BACKWARD_APPLY_PAD4.fits(gpu)));
            let extra_bwd = if bwd_fused { -1 } else { extra_bwd };
            let want = [
                if plain_one { 1 } else { plain_fwd },
                if fwd_one {
                    1
                } else {
                    plain_fwd + extra(stats_apply, &table::BN_APPLY_PAD4)
                },
            ];
            assert_eq!(lens.map(|l| l as isize), want, "forward passes {what}");
            run(|p| {
                batchnorm_forward_train_padded(
                    gpu,
                    p,
                    &ty,
                    Some(Padded {
                        xp: &typ,
                        pg: &pg,
                        halo_zero: false,
                    }),
                    &tsaved,
                    &tcoef,
                    &trm,
                    &trv,
                    &tx,
                    &tg,
                    &tb,
                    res,
                    &g,
                    &o,
                )?;
                let dxp = Some(Padded {
                    xp: &tdxp,
                    pg: &pg,
                    halo_zero: false,
                });
                let mut plain = reslab::kernels::Program::new();
                batchnorm_backward(
                    gpu,
                    &mut plain,
                    &tdx,
                    &tdg,
                    &tdb,
                    dres,
                    &tdout,
                    relu.then_some(&ty),
                    &tx,
                    &tsaved,
                    &tg,
                    &g,
                )?;
                let before = p.len();
                batchnorm_backward_padded(
                    gpu,
                    p,
                    &tdx,
                    dxp,
                    &tdg,
                    &tdb,
                    dres,
                    &tdout,
                    relu.then_some(&ty),
                    &tx,
                    &tsaved,
                    Some(TrainForward {
                        coef: &tcoef,
                        residual,
                    }),
                    &tg,
                    &g,
                )?;
                let want = if bwd_one {
                    1
                } else {
                    plain.len() as isize + extra_bwd
                };
                assert_eq!((p.len() - before) as isize, want, "backward passes {what}");
                let want = match (texels, bwd_one, bwd_fused) {
                    (false, ..) => 0,
                    (true, true, _) => 1,
                    (true, false, true) => 2,
                    (true, false, false) => 0,
                };
                assert_eq!(
                    texel_passes(p, before, "batchnorm_backward_texel.wgsl:"),
                    want,
                    "backward texel passes {what}"
                );
                Ok(())
            });
            // The CPU twins: batch norm, then the pad of what it wrote.
            let (mut y, mut saved, mut rm, mut rv) = (
                vec![0f32; g.len()],
                vec![0f32; 2 * g.c],
                d.rm.clone(),
                d.rv.clone(),
            );
            let cres = residual.then_some(&d.res[..]);
            cpu::batchnorm_forward_train(
                &mut y, &mut saved, &mut rm, &mut rv, &d.x, &d.gamma, &d.beta, cres, &g, &o,
            );
            let (mut dx, mut dg, mut db, mut dr) = (
                vec![0f32; g.len()],
                vec![0f32; g.c],
                vec![0f32; g.c],
                d.dres0.clone(),
            );
            cpu::batchnorm_backward(
                &mut dx,
                &mut dg,
                &mut db,
                residual.then_some((&mut dr[..], true)),
                &d.dout,
                relu.then_some(&y[..]),
                &d.x,
                &saved,
                &d.gamma,
                &g,
            );
            assert_close(&format!("y {what}"), &read(&ty), &y, 1e-4);
            assert_close(
                &format!("padded y {what}"),
                &read(&typ),
                &padded(&pg, &y),
                1e-4,
            );
            assert_close(&format!("dx {what}"), &read(&tdx), &dx, 1e-4);
            assert_close(
                &format!("padded dx {what}"),
                &read(&tdxp),
                &padded(&pg, &dx),
                1e-4,
            );
            assert_close(&format!("dgamma {what}"), &read(&tdg), &dg, 1e-4);
            assert_close(&format!("dbeta {what}"), &read(&tdb), &db, 1e-4);
            assert_close(&format!("dres {what}"), &read(&tdres), &dr, 1e-4);
            assert_close(&format!("saved {what}"), &read(&tsaved), &saved, 1e-4);
            assert_close(&format!("running_mean {what}"), &read(&trm), &rm, 1e-4);
            assert_close(&format!("running_var {what}"), &read(&trv), &rv, 1e-4);
            // The (scale, shift) the output was made with.
            let scale: Vec<f32> = (0..g.c).map(|c| d.gamma[c] * saved[g.c + c]).collect();
            let shift: Vec<f32> = (0..g.c).map(|c| d.beta[c] - saved[c] * scale[c]).collect();
            assert_close(
                &format!("coef {what}"),
                &read(&tcoef),
                &[scale, shift].concat(),
                1e-4,
            );

            let mut got: Vec<Vec<f32>> = [
                &ty, &typ, &tdx, &tdxp, &tdg, &tdb, &tdres, &tsaved, &trm, &trv, &tcoef,
            ]
            .iter()
            .map(|t| read(t))
            .collect();

            // Eval: the same apply over the running statistics.
            let typ = up(&pg.shape(), &nan);
            let mut lens = [0usize; 2];
            for (k, pad) in [
                None,
                Some(Padded {
                    xp: &typ,
                    pg: &pg,
                    halo_zero: false,
                }),
            ]
            .into_iter()
            .enumerate()
            {
                let mut p = reslab::kernels::Program::new();
                batchnorm_forward_eval_padded(
                    gpu, &mut p, &ty, pad, &tcoef, &tx, &trm, &trv, &tg, &tb, res, &g, &o,
                )
                .unwrap();
                lens[k] = p.len();
                let want = texels && pad.is_some() && fused && eval_apply.fits(gpu);
                assert_eq!(
                    texel_passes(&p, 0, "batchnorm_forward_texel.wgsl:"),
                    usize::from(want),
                    "eval texel passes {what} padded={}",
                    pad.is_some()
                );
            }
            // Two passes fewer where the stage has the buffers of the one pass.
            let extra_eval = match extra(eval_apply, &table::BN_APPLY_PAD4) {
                -1 => -2,
                e => e,
            };
            assert_eq!(
                lens[1] as isize,
                lens[0] as isize + extra_eval,
                "eval passes {what}"
            );
            run(|p| {
                batchnorm_forward_eval_padded(
                    gpu,
                    p,
                    &ty,
                    Some(Padded {
                        xp: &typ,
                        pg: &pg,
                        halo_zero: false,
                    }),
                    &tcoef,
                    &tx,
                    &trm,
                    &trv,
                    &tg,
                    &tb,
                    res,
                    &g,
                    &o,
                )
            });
            // The running statistics the training pass above left.
            let mut y = vec![0f32; g.len()];
            cpu::batchnorm_forward_eval(&mut y, &d.x, &rm, &rv, &d.gamma, &d.beta, cres, &g, &o);
            assert_close(&format!("eval y {what}"), &read(&ty), &y, 1e-4);
            assert_close(
                &format!("eval padded y {what}"),
                &read(&typ),
                &padded(&pg, &y),
                1e-4,
            );
            let scale: Vec<f32> = (0..g.c)
                .map(|c| d.gamma[c] / (rv[c] + o.eps).sqrt())
                .collect();
            let shift: Vec<f32> = (0..g.c).map(|c| d.beta[c] - rm[c] * scale[c]).collect();
            assert_close(
                &format!("eval coef {what}"),
                &read(&tcoef),
                &[scale, shift].concat(),
                1e-4,
            );
            for t in [&gamma_beta, &running, &dgamma_dbeta] {
                let t = read(t);
                assert!(
                    t[g.c..t.len() - g.c].iter().all(|&v| v == 7.5),
                    "the gap of a pair {what}"
                );
            }
            got.extend([&ty, &typ, &tcoef].iter().map(|t| read(t)));
            let first = &mut firsts[usize::from(several && sums == BnSums::OnePass)];
            match first {
                None => *first = Some(got),
                Some(bits) => assert!(
                    got.iter()
                        .flatten()
                        .zip(bits.iter().flatten())
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{what}: not the bits of the first way summing in the same chunks"
                ),
            }
        }
        gpu.set_tuned(&reads_key(&g), None).unwrap();
        gpu.set_tuned(&sums_key(&g), None).unwrap();
    }
    no_errors();
}

/// Whether row `yy` of a plane of copy `pg` has a source row.
fn has_source(pg: &PadGeom, yy: usize) -> bool {
    yy >= pg.oy && (yy - pg.oy).is_multiple_of(pg.dil) && (yy - pg.oy) / pg.dil < pg.h
}

/// Copy `pg` holding `data` in its rows with a source and `halo` in the others.
fn with_halo(pg: &PadGeom, data: &[f32], halo: f32) -> Vec<f32> {
    let mut out = data.to_vec();
    for (r, row) in out.chunks_mut(pg.pitch).enumerate() {
        if !has_source(pg, r % pg.hp) {
            row.fill(halo);
        }
    }
    out
}

/// With `halo_zero` the padded passes (forward train and eval, backward; every
/// way of reading and summing) write every row of the copy that has a source
/// (they start as NaN) and leave the others as they are (a sentinel there
/// stays); where the layout needs the pad pass after an unfused apply, that
/// pass writes the whole copy as before (zeros over the sentinel).
#[test]
fn batchnorm_padded_outputs_leave_zero_halos() {
    let gpu = gpu();
    const KEPT: f32 = 3.0;
    // The cases of batchnorm_padded_outputs_match_cpu_twins with a channel
    // more: the two tests run side by side, each setting the tuning table's
    // entries of its geometries (keyed by channels and plane size).
    let cases = pad_cases().into_iter().map(|(g, pg, _)| {
        let c = g.c + 1;
        (BnGeom { c, ..g }, PadGeom { c, ..pg })
    });
    for (i, (g, pg)) in cases.enumerate() {
        let ways = BnReads::ALL
            .iter()
            .flat_map(|&r| BnSums::ALL.iter().map(move |&s| (r, s)));
        for (reads, sums) in ways {
            gpu.set_tuned(&reads_key(&g), Some(reads.name())).unwrap();
            gpu.set_tuned(&sums_key(&g), Some(sums.name())).unwrap();
            let d = data(&g, 700 + i as u64);
            let (relu, residual) = (i % 2 == 1, i % 3 != 2);
            let o = BnOptions {
                relu,
                ..Default::default()
            };
            let what = format!("{pg:?} relu={relu} residual={residual} {reads:?} {sums:?}");
            let shape = [g.n, g.c, g.hw, 1];
            let start = with_halo(&pg, &vec![f32::NAN; pg.shape().iter().product()], KEPT);
            let (tg, tb, _) = pair(&g, &d.gamma, &d.beta);
            let (trm, trv, _) = pair(&g, &d.rm, &d.rv);
            let (tx, tres) = (up(&shape, &d.x), up(&shape, &d.res));
            let (tsaved, tcoef, _) = stats_coef(&g);
            let (ty, typ, tdxp, tyep) = (
                empty(&shape),
                up(&pg.shape(), &start),
                up(&pg.shape(), &start),
                up(&pg.shape(), &start),
            );
            let tdout = up(&shape, &d.dout);
            let zeros = vec![0f32; g.c];
            let (tdg, tdb, _) = pair(&g, &zeros, &zeros);
            let (tdx, tdres) = (empty(&shape), up(&shape, &d.dres0));
            let res = residual.then_some(&tres);
            let copy = |xp| {
                Some(Padded {
                    xp,
                    pg: &pg,
                    halo_zero: true,
                })
            };
            // Each pass in a program of its own, to see whether it ran the pad pass.
            let mut progs = Vec::new();
            let mut p = reslab::kernels::Program::new();
            batchnorm_forward_train_padded(
                gpu,
                &mut p,
                &ty,
                copy(&typ),
                &tsaved,
                &tcoef,
                &trm,
                &trv,
                &tx,
                &tg,
                &tb,
                res,
                &g,
                &o,
            )
            .unwrap();
            progs.push(p);
            let mut p = reslab::kernels::Program::new();
            batchnorm_backward_padded(
                gpu,
                &mut p,
                &tdx,
                copy(&tdxp),
                &tdg,
                &tdb,
                residual.then_some(ResidualGrad {
                    dres: &tdres,
                    accumulate: true,
                }),
                &tdout,
                relu.then_some(&ty),
                &tx,
                &tsaved,
                Some(TrainForward {
                    coef: &tcoef,
                    residual,
                }),
                &tg,
                &g,
            )
            .unwrap();
            progs.push(p);
            let mut p = reslab::kernels::Program::new();
            batchnorm_forward_eval_padded(
                gpu,
                &mut p,
                &ty,
                copy(&tyep),
                &tcoef,
                &tx,
                &trm,
                &trv,
                &tg,
                &tb,
                res,
                &g,
                &o,
            )
            .unwrap();
            progs.push(p);
            let halos = progs.iter().map(|p| {
                let pad_pass = p
                    .dispatches
                    .iter()
                    .any(|d| d.label().contains("conv2d_pad"));
                if pad_pass { 0.0 } else { KEPT }
            });
            let halos: Vec<f32> = halos.collect();
            for p in progs {
                p.run(gpu).unwrap();
            }
            // The CPU twins: batch norm train, backward and eval.
            let (mut y, mut saved, mut rm, mut rv) = (
                vec![0f32; g.len()],
                vec![0f32; 2 * g.c],
                d.rm.clone(),
                d.rv.clone(),
            );
            let cres = residual.then_some(&d.res[..]);
            cpu::batchnorm_forward_train(
                &mut y, &mut saved, &mut rm, &mut rv, &d.x, &d.gamma, &d.beta, cres, &g, &o,
            );
            let (mut dx, mut dg, mut db, mut dr) = (
                vec![0f32; g.len()],
                vec![0f32; g.c],
                vec![0f32; g.c],
                d.dres0.clone(),
            );
            cpu::batchnorm_backward(
                &mut dx,
                &mut dg,
                &mut db,
                residual.then_some((&mut dr[..], true)),
                &d.dout,
                relu.then_some(&y[..]),
                &d.x,
                &saved,
                &d.gamma,
                &g,
            );
            let mut ye = vec![0f32; g.len()];
            cpu::batchnorm_forward_eval(&mut ye, &d.x, &rm, &rv, &d.gamma, &d.beta, cres, &g, &o);
            for ((name, t, plane), halo) in [
                ("padded y", &typ, &y),
                ("padded dx", &tdxp, &dx),
                ("eval padded y", &tyep, &ye),
            ]
            .into_iter()
            .zip(halos)
            {
                let got = read(t);
                let want = with_halo(&pg, &padded(&pg, plane), halo);
                assert_close(&format!("{name} {what}"), &got, &want, 1e-4);
                let kept = got
                    .chunks(pg.pitch)
                    .enumerate()
                    .filter(|(r, _)| !has_source(&pg, r % pg.hp))
                    .all(|(_, row)| row.iter().all(|v| v.to_bits() == halo.to_bits()));
                assert!(
                    kept,
                    "{name} {what}: rows without a source hold other than {halo}"
                );
            }
            assert_close(&format!("dx {what}"), &read(&tdx), &dx, 1e-4);
            assert_close(&format!("dres {what}"), &read(&tdres), &dr, 1e-4);
            assert_close(&format!("dgamma {what}"), &read(&tdg), &dg, 1e-4);
        }
        gpu.set_tuned(&reads_key(&g), None).unwrap();
        gpu.set_tuned(&sums_key(&g), None).unwrap();
    }
    no_errors();
}

/// `Program::repeated_texel_copies` counts a texel copy that copies what its
/// texture last held: three training-mode forward passes reading x, x again
/// and then another tensor as texels repeat every copy of the second and
/// none of the first and third.
#[test]
fn repeated_texel_copies_are_counted() {
    let gpu = gpu();
    let g = BnGeom { n: 3, c: 5, hw: 36 };
    gpu.set_tuned(&reads_key(&g), Some(BnReads::Texels.name()))
        .unwrap();
    let shape = [g.n, g.c, g.hw, 1];
    let mut rng = Rng::new(31);
    let (tx, tx2) = (
        up(&shape, &rng.vec_normal(g.len(), 1.0)),
        up(&shape, &rng.vec_normal(g.len(), 1.0)),
    );
    let (tg, tb) = (up(&[g.c], &vec![1.0; g.c]), up(&[g.c], &vec![0.0; g.c]));
    let (trm, trv) = (up(&[g.c], &vec![0.0; g.c]), up(&[g.c], &vec![1.0; g.c]));
    let (ty, tsaved, tcoef) = (empty(&shape), empty(&[2, g.c]), empty(&[2, g.c]));
    let mut p = reslab::kernels::Program::new();
    let mut calls = Vec::new();
    for x in [&tx, &tx, &tx2] {
        let from = p.len();
        batchnorm_forward_train(
            gpu,
            &mut p,
            &ty,
            &tsaved,
            &tcoef,
            &trm,
            &trv,
            x,
            &tg,
            &tb,
            None,
            &g,
            &BnOptions::default(),
        )
        .unwrap();
        calls.push(from..p.len());
    }
    let repeats = p.repeated_texel_copies();
    assert_eq!(repeats.len(), p.len());
    let sum = |r: &std::ops::Range<usize>| -> (u64, u64) {
        r.clone().fold((0, 0), |(c, rep), i| {
            (c + p.dispatches[i].texel_copy_bytes(), rep + repeats[i])
        })
    };
    let (copied, _) = sum(&calls[0]);
    let texel_passes = p
        .dispatches
        .iter()
        .filter(|d| d.label().starts_with("batchnorm_forward_texel.wgsl:"))
        .count();
    if texel_passes == 0 {
        // (x does not fit this device's textures: the storage kernels ran.)
        assert!(
            copied == 0 && repeats.iter().all(|&r| r == 0),
            "{repeats:?}"
        );
        return;
    }
    // x, by each pass that reads it as texels.
    assert_eq!(
        copied,
        (g.len() * 4 * texel_passes / 3) as u64,
        "{texel_passes} texel passes"
    );
    assert_eq!(
        sum(&calls[0]),
        (copied, 0),
        "the first passes fill the textures"
    );
    assert_eq!(
        sum(&calls[1]),
        (copied, copied),
        "x again: every copy repeats"
    );
    assert_eq!(sum(&calls[2]), (copied, 0), "another tensor: none does");
    no_errors();
}
