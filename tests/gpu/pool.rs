use reslab::cpu;
use reslab::kernels::pool::*;
use reslab::ops::Pool2dGeom;

use crate::common::*;

fn geoms(seed: u64, count: usize) -> Vec<Pool2dGeom> {
    let mut rng = Rng::new(seed);
    let mut v = vec![
        Pool2dGeom {
            n: 2,
            c: 4,
            h: 16,
            w: 16,
            k: 3,
            stride: 2,
            pad: 1,
        },
        Pool2dGeom {
            n: 1,
            c: 1,
            h: 1,
            w: 1,
            k: 1,
            stride: 1,
            pad: 0,
        },
        Pool2dGeom {
            n: 1,
            c: 3,
            h: 7,
            w: 9,
            k: 3,
            stride: 2,
            pad: 1,
        },
    ];
    while v.len() < count {
        let k = 1 + rng.below(4);
        let g = Pool2dGeom {
            n: 1 + rng.below(3),
            c: 1 + rng.below(6),
            h: k + rng.below(12),
            w: k + rng.below(12),
            k,
            stride: 1 + rng.below(3),
            pad: rng.below(k / 2 + 1),
        };
        v.push(g);
    }
    v
}

/// Forward and backward against the CPU twins; both where they have a vec4
/// kernel (the stem's pool forward, rows of whole vec4s backward) both ways,
/// a vec4 an invocation (which the launcher picks) and a value, with the
/// same bits.
#[test]
fn maxpool_matches_cpu() {
    let gpu = gpu();
    let mut cases = geoms(30, 22);
    // The ResNet stem's 3x3/2 pad 1, others over rows of whole vec4s.
    let pool = |n, c, h, w, k, stride, pad| Pool2dGeom {
        n,
        c,
        h,
        w,
        k,
        stride,
        pad,
    };
    cases.extend([
        pool(2, 3, 16, 16, 3, 2, 1),
        pool(1, 2, 9, 12, 3, 2, 1),
        pool(2, 2, 8, 8, 2, 2, 0),
        pool(1, 3, 7, 20, 3, 1, 1),
        pool(1, 1, 5, 4, 3, 3, 1),
        // The stem's pool over rows of a multiple of 8: odd and even
        // heights, one row, several vec4s of output a row.
        pool(1, 2, 7, 8, 3, 2, 1),
        pool(2, 1, 8, 24, 3, 2, 1),
        pool(1, 1, 1, 8, 3, 2, 1),
        pool(1, 3, 11, 40, 3, 2, 1),
    ]);
    let mut vec4s = 0;
    let mut stems = 0;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (i, g) in cases.iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let nx = g.n * g.c * g.h * g.w;
        let ny = g.n * g.c * g.ho() * g.wo();
        let (x, dy) = (
            rng.vec_uniform(nx, -1.0, 1.0),
            rng.vec_uniform(ny, -1.0, 1.0),
        );
        let (tx, tdy) = (up(&g.x_shape(), &x), up(&g.y_shape(), &dy));
        let (ty, targ, tdx) = (
            empty(&g.y_shape()),
            empty(&g.y_shape()),
            empty(&g.x_shape()),
        );
        run(|p| {
            maxpool_forward(gpu, p, &ty, &targ, &tx, g)?;
            maxpool_backward(gpu, p, &tdx, &tdy, &targ, g)
        });
        let (mut y, mut arg, mut dx) = (vec![0f32; ny], vec![0u32; ny], vec![0f32; nx]);
        cpu::maxpool_forward(&mut y, &mut arg, &x, g);
        cpu::maxpool_backward(&mut dx, &dy, &arg, g);
        assert_close(&format!("forward {g:?}"), &read(&ty), &y, 1e-6);
        assert_eq!(gpu.read_u32(&targ).unwrap(), arg, "argmax {g:?}");
        let got = read(&tdx);
        assert_close(&format!("backward {g:?}"), &got, &dx, 1e-6);
        if stem_fits(g) {
            stems += 1;
            let (one, one_arg) = (empty(&g.y_shape()), empty(&g.y_shape()));
            run(|p| maxpool_forward_with(gpu, p, &one, &one_arg, &tx, g, false));
            assert_eq!(bits(&read(&one)), bits(&read(&ty)), "forward {g:?}: vec4s");
            assert_eq!(gpu.read_u32(&one_arg).unwrap(), arg, "argmax {g:?}: vec4s");
        }
        if g.w % 4 == 0 {
            vec4s += 1;
            let one = empty(&g.x_shape());
            run(|p| maxpool_backward_with(gpu, p, &one, &tdy, &targ, g, false));
            let one = read(&one);
            assert!(
                got.iter()
                    .zip(&one)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "backward {g:?}: a vec4 an invocation, not the bits of one value"
            );
        }
    }
    assert!(vec4s >= 6, "{vec4s} cases over rows of whole vec4s");
    assert!(stems >= 5, "{stems} cases of the stem's pool");
    no_errors();
}

#[test]
fn maxpool_takes_the_first_of_tied_maxima() {
    let gpu = gpu();
    let g = Pool2dGeom {
        n: 1,
        c: 1,
        h: 2,
        w: 2,
        k: 2,
        stride: 2,
        pad: 0,
    };
    let tx = up(&[1, 1, 2, 2], &[0.5, 0.5, 0.5, 0.5]);
    let (ty, targ) = (empty(&[1, 1, 1, 1]), empty(&[1, 1, 1, 1]));
    run(|p| maxpool_forward(gpu, p, &ty, &targ, &tx, &g));
    assert_eq!(gpu.read_u32(&targ).unwrap(), vec![0]);
}

#[test]
fn pool_backward_matches_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    for g in geoms(32, 20) {
        let nx = g.n * g.c * g.h * g.w;
        let ny = g.n * g.c * g.ho() * g.wo();
        // Distinct values, so no window has a tie within the step.
        let mut x: Vec<f32> = (0..nx).map(|i| i as f32 * 0.01).collect();
        rng.shuffle(&mut x);
        let r = rng.vec_uniform(ny, -1.0, 1.0);
        let ra = rng.vec_uniform(g.n * g.c, -1.0, 1.0);
        let (tx, tr, tra) = (
            up(&g.x_shape(), &x),
            up(&g.y_shape(), &r),
            up(&[g.n, g.c], &ra),
        );
        let (ty, targ, tdx, tdxa) = (
            empty(&g.y_shape()),
            empty(&g.y_shape()),
            empty(&g.x_shape()),
            empty(&g.x_shape()),
        );
        run(|p| {
            maxpool_forward(gpu, p, &ty, &targ, &tx, &g)?;
            maxpool_backward(gpu, p, &tdx, &tr, &targ, &g)?;
            avgpool_backward(gpu, p, &tdxa, &tra)
        });
        let (x64, r64, ra64) = (to_f64(&x), to_f64(&r), to_f64(&ra));
        let idx = sample_indices(&mut rng, nx, 64);
        let fd = finite_diff(
            |v| {
                let (mut y, mut a) = (vec![0f64; ny], vec![0u32; ny]);
                cpu::maxpool_forward(&mut y, &mut a, v, &g);
                dot(&r64, &y)
            },
            &x64,
            &idx,
            1e-6,
        );
        assert_close(
            &format!("max {g:?}"),
            &pick(&read(&tdx), &idx),
            &to_f32(&fd),
            1e-3,
        );
        let fd = finite_diff(
            |v| {
                let mut y = vec![0f64; g.n * g.c];
                cpu::avgpool_forward(&mut y, v, g.h * g.w);
                dot(&ra64, &y)
            },
            &x64,
            &idx,
            1e-6,
        );
        assert_close(
            &format!("avg {g:?}"),
            &pick(&read(&tdxa), &idx),
            &to_f32(&fd),
            1e-3,
        );
    }
    no_errors();
}

#[test]
fn avgpool_matches_cpu() {
    let gpu = gpu();
    for (i, g) in geoms(33, 20).iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let nx = g.n * g.c * g.h * g.w;
        let (x, dy) = (
            rng.vec_uniform(nx, -1.0, 1.0),
            rng.vec_uniform(g.n * g.c, -1.0, 1.0),
        );
        let (tx, tdy) = (up(&g.x_shape(), &x), up(&[g.n, g.c], &dy));
        let (ty, tdx) = (empty(&[g.n, g.c]), empty(&g.x_shape()));
        run(|p| {
            avgpool_forward(gpu, p, &ty, &tx)?;
            avgpool_backward(gpu, p, &tdx, &tdy)
        });
        let (mut y, mut dx) = (vec![0f32; g.n * g.c], vec![0f32; nx]);
        cpu::avgpool_forward(&mut y, &x, g.h * g.w);
        cpu::avgpool_backward(&mut dx, &dy, g.h * g.w);
        assert_close(&format!("forward {g:?}"), &read(&ty), &y, 1e-5);
        assert_close(&format!("backward {g:?}"), &read(&tdx), &dx, 1e-6);
    }
    no_errors();
}

#[test]
fn a_nan_wins_its_max_pool_window_as_in_pytorch() {
    let gpu = gpu();
    let g = Pool2dGeom {
        n: 1,
        c: 2,
        h: 4,
        w: 4,
        k: 2,
        stride: 2,
        pad: 0,
    };
    // Channel 0: a NaN after the maximum in each window's order, and one
    // window with two NaNs (the first wins). Channel 1: no NaN.
    let nan = f32::NAN;
    #[rustfmt::skip]
    let x = [
        5.0, nan, 1.0, 2.0,
        0.0, 1.0, 3.0, nan,
        9.0, 1.0, nan, 0.0,
        2.0, nan, nan, 1.0,
        //
        1.0, 2.0, 3.0, 4.0,
        5.0, 6.0, 7.0, 8.0,
        8.0, 7.0, 6.0, 5.0,
        4.0, 3.0, 2.0, 1.0,
    ];
    let tx = up(&g.x_shape(), &x);
    let (ty, targ) = (empty(&g.y_shape()), empty(&g.y_shape()));
    run(|p| maxpool_forward(gpu, p, &ty, &targ, &tx, &g));
    let (mut y, mut arg) = (vec![0f32; 8], vec![0u32; 8]);
    cpu::maxpool_forward(&mut y, &mut arg, &x, &g);
    assert_eq!(arg, [1, 7, 13, 10, 5, 7, 8, 10], "the CPU twin");
    assert_eq!(gpu.read_u32(&targ).unwrap(), arg);
    let got = read(&ty);
    for (i, (g, w)) in got.iter().zip(&y).enumerate() {
        assert!(
            g.is_nan() == w.is_nan() && (w.is_nan() || g == w),
            "{i}: {g} vs {w}"
        );
    }
    assert_eq!(got.iter().filter(|v| v.is_nan()).count(), 4);

    // The stem's pool (a vec4 of y an invocation) over values a third of
    // them NaN, so that windows hold none, one before or after their
    // maximum, or several (the first wins): as the CPU twin, and as the
    // kernel of one value.
    let g = Pool2dGeom {
        n: 4,
        c: 4,
        h: 9,
        w: 16,
        k: 3,
        stride: 2,
        pad: 1,
    };
    assert!(stem_fits(&g));
    let mut rng = Rng::new(5);
    let x: Vec<f32> = rng
        .vec_uniform(g.n * g.c * g.h * g.w, -1.0, 1.0)
        .into_iter()
        .map(|v| if rng.below(3) == 0 { nan } else { v })
        .collect();
    let tx = up(&g.x_shape(), &x);
    let ny = g.n * g.c * g.ho() * g.wo();
    let (mut y, mut arg) = (vec![0f32; ny], vec![0u32; ny]);
    cpu::maxpool_forward(&mut y, &mut arg, &x, &g);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for vec4 in [true, false] {
        let (ty, targ) = (empty(&g.y_shape()), empty(&g.y_shape()));
        run(|p| maxpool_forward_with(gpu, p, &ty, &targ, &tx, &g, vec4));
        assert_eq!(gpu.read_u32(&targ).unwrap(), arg, "argmax, vec4 {vec4}");
        assert_eq!(bits(&read(&ty)), bits(&y), "values, vec4 {vec4}");
    }
    let nans = y.iter().filter(|v| v.is_nan()).count();
    assert!(nans > 0 && nans < ny, "{nans} NaN maxima of {ny}");
    no_errors();
}
