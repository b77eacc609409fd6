use reslab::cpu;
use reslab::kernels::linear::*;

use crate::common::*;

fn sizes(seed: u64, count: usize) -> Vec<(usize, usize, usize)> {
    let mut rng = Rng::new(seed);
    let mut v = vec![
        (1, 1, 1),
        (128, 64, 10),
        (3, 512, 1000),
        (5, 8, 7),
        (4, 4, 4),
        (7, 12, 3),
        (1, 16, 1),
    ];
    while v.len() < count {
        v.push((1 + rng.below(40), 1 + rng.below(100), 1 + rng.below(30)));
    }
    v
}

/// Every pass against its CPU twin, with each kernel that takes the shape
/// (the vec4 blocks where I is a multiple of 4, which the launchers then
/// pick): outputs and samples that end inside a block of 4, one sample, one
/// output.
#[test]
fn linear_matches_cpu() {
    let gpu = gpu();
    let mut cases = sizes(40, 26);
    cases.push((2, 2048, 1000));
    let blocks = cases.iter().filter(|c| c.1 % 4 == 0).count();
    assert!(blocks >= 10, "{blocks} shapes for the vec4 blocks");
    for (s, &(n, i, o)) in cases.iter().enumerate() {
        let mut rng = Rng::new(s as u64);
        let (x, w, b, dy) = (
            rng.vec_uniform(n * i, -1.0, 1.0),
            rng.vec_uniform(o * i, -1.0, 1.0),
            rng.vec_uniform(o, -1.0, 1.0),
            rng.vec_uniform(n * o, -1.0, 1.0),
        );
        let bias = s % 2 == 0;
        let (tx, tw, tb, tdy) = (
            up(&[n, i], &x),
            up(&[o, i], &w),
            up(&[o], &b),
            up(&[n, o], &dy),
        );
        let mut y = vec![0f32; n * o];
        cpu::linear_forward(&mut y, &x, &w, bias.then_some(&b[..]), n, i, o);
        let mut dx = vec![0f32; n * i];
        cpu::linear_backward_data(&mut dx, &dy, &w, n, i, o);
        let mut dw = vec![0f32; o * i];
        cpu::linear_backward_weight(&mut dw, &dy, &x, n, i, o);
        let mut kernels = vec![Linear::Scalar];
        if i % 4 == 0 {
            kernels.push(Linear::Blocks);
        }
        let mut first: Option<[Vec<f32>; 3]> = None;
        for kernel in kernels {
            let nan = |len| up(&[len], &vec![f32::NAN; len]);
            let (ty, tdx, tdw) = (
                nan(n * o).reshape(&[n, o]).unwrap(),
                nan(n * i).reshape(&[n, i]).unwrap(),
                nan(o * i).reshape(&[o, i]).unwrap(),
            );
            run(|p| {
                linear_forward_with(gpu, p, &ty, &tx, &tw, bias.then_some(&tb), kernel)?;
                linear_backward_data_with(gpu, p, &tdx, &tdy, &tw, kernel)?;
                linear_backward_weight_with(gpu, p, &tdw, &tdy, &tx, kernel)
            });
            let what = format!("{kernel:?} n={n} i={i} o={o}");
            let got = [read(&ty), read(&tdx), read(&tdw)];
            assert_close(&format!("forward {what}"), &got[0], &y, 1e-4);
            assert_close(&format!("backward data {what}"), &got[1], &dx, 1e-4);
            assert_close(&format!("backward weight {what}"), &got[2], &dw, 1e-4);
            // The same sums in the same order: the same bits.
            match &first {
                None => first = Some(got),
                Some(bits) => {
                    for (pass, (a, b)) in ["forward", "backward data", "backward weight"]
                        .iter()
                        .zip(bits.iter().zip(&got))
                    {
                        let same = a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{pass} {what}: not the scalar kernel's bits");
                    }
                }
            }
        }
        // The launchers' own pick.
        let (ty, tdx, tdw, tdb) = (empty(&[n, o]), empty(&[n, i]), empty(&[o, i]), empty(&[o]));
        let mut prog = reslab::kernels::Program::new();
        linear_forward(gpu, &mut prog, &ty, &tx, &tw, bias.then_some(&tb)).unwrap();
        linear_backward_data(gpu, &mut prog, &tdx, &tdy, &tw).unwrap();
        linear_backward_weight(gpu, &mut prog, &tdw, &tdy, &tx).unwrap();
        let suffix = if i % 4 == 0 { "4" } else { "" };
        for (d, pass) in prog
            .dispatches
            .iter()
            .zip(["forward", "backward_data", "backward_weight"])
        {
            let label = d.label();
            assert!(
                label.ends_with(&format!(":linear_{pass}{suffix}")),
                "n={n} i={i} o={o}: {label}"
            );
        }
        run(|p| linear_backward_bias(gpu, p, &tdb, &tdy));
        let what = format!("n={n} i={i} o={o}");
        let mut db = vec![0f32; o];
        cpu::linear_backward_bias(&mut db, &dy, n, o);
        assert_close(&format!("backward bias {what}"), &read(&tdb), &db, 1e-4);
    }
    no_errors();
}

#[test]
fn linear_backward_matches_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    for &(n, i, o) in &sizes(42, 20) {
        let (x, w, b, r) = (
            rng.vec_uniform(n * i, -1.0, 1.0),
            rng.vec_uniform(o * i, -1.0, 1.0),
            rng.vec_uniform(o, -1.0, 1.0),
            rng.vec_uniform(n * o, -1.0, 1.0),
        );
        let (tx, tw, tr) = (up(&[n, i], &x), up(&[o, i], &w), up(&[n, o], &r));
        let (tdx, tdw, tdb) = (empty(&[n, i]), empty(&[o, i]), empty(&[o]));
        run(|p| {
            linear_backward_data(gpu, p, &tdx, &tr, &tw)?;
            linear_backward_weight(gpu, p, &tdw, &tr, &tx)?;
            linear_backward_bias(gpu, p, &tdb, &tr)
        });
        let (x, w, b, r) = (to_f64(&x), to_f64(&w), to_f64(&b), to_f64(&r));
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            let mut y = vec![0f64; n * o];
            cpu::linear_forward(&mut y, x, w, Some(b), n, i, o);
            dot(&r, &y)
        };
        let what = format!("n={n} i={i} o={o}");
        let ix = sample_indices(&mut rng, x.len(), 48);
        let fd = finite_diff(|v| loss(v, &w, &b), &x, &ix, 1e-6);
        assert_close(
            &format!("dx {what}"),
            &pick(&read(&tdx), &ix),
            &to_f32(&fd),
            1e-3,
        );
        let iw = sample_indices(&mut rng, w.len(), 48);
        let fd = finite_diff(|v| loss(&x, v, &b), &w, &iw, 1e-6);
        assert_close(
            &format!("dw {what}"),
            &pick(&read(&tdw), &iw),
            &to_f32(&fd),
            1e-3,
        );
        let ib: Vec<usize> = (0..o).collect();
        let fd = finite_diff(|v| loss(&x, &w, v), &b, &ib, 1e-6);
        assert_close(&format!("db {what}"), &read(&tdb), &to_f32(&fd), 1e-3);
    }
    no_errors();
}
