use reslab::cpu;
use reslab::kernels::{Program, elementwise::*, shortcut::*};
use reslab::ops::ShortcutGeom;

use crate::common::*;

fn lengths(seed: u64, count: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut v = vec![1, 255, 256, 257, 70_001];
    while v.len() < count {
        v.push(1 + rng.below(5000));
    }
    v
}

#[test]
fn relu_and_add_match_cpu() {
    let gpu = gpu();
    for (i, n) in lengths(20, 22).into_iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let (a, b, dy) = (
            rng.vec_uniform(n, -1.0, 1.0),
            rng.vec_uniform(n, -1.0, 1.0),
            rng.vec_uniform(n, -1.0, 1.0),
        );
        let (ta, tb, tdy) = (up(&[n], &a), up(&[n], &b), up(&[n], &dy));
        let (ty, tdx, ts, tsr, tz) = (
            empty(&[n]),
            empty(&[n]),
            empty(&[n]),
            empty(&[n]),
            empty(&[n]),
        );
        let (tc, tca) = (empty(&[n]), up(&[n], &b));
        run(|p| {
            relu_forward(gpu, p, &ty, &ta)?;
            relu_backward(gpu, p, &tdx, &tdy, &ty)?;
            add_forward(gpu, p, &ts, &ta, &tb, false)?;
            add_forward(gpu, p, &tsr, &ta, &tb, true)?;
            axpby(gpu, p, &tz, &ta, &tb, 0.5, -2.0)?;
            copy(gpu, p, &tc, &ta, false)?;
            copy(gpu, p, &tca, &ta, true)
        });
        let mut w = vec![0f32; n];
        cpu::relu_forward(&mut w, &a);
        assert_close("relu_forward", &read(&ty), &w, 1e-6);
        let y = w.clone();
        cpu::relu_backward(&mut w, &dy, &y);
        assert_close("relu_backward", &read(&tdx), &w, 1e-6);
        cpu::add_forward(&mut w, &a, &b, false);
        assert_close("add", &read(&ts), &w, 1e-6);
        cpu::add_forward(&mut w, &a, &b, true);
        assert_close("add_relu", &read(&tsr), &w, 1e-6);
        cpu::axpby(&mut w, &a, &b, 0.5, -2.0);
        assert_close("axpby", &read(&tz), &w, 1e-6);
        cpu::copy(&mut w, &a, false);
        assert_close("copy", &read(&tc), &w, 1e-6);
        let mut w = b.clone();
        cpu::copy(&mut w, &a, true);
        assert_close("copy accumulate", &read(&tca), &w, 1e-6);
    }
    no_errors();
}

#[test]
fn relu_backward_matches_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(21);
    for n in lengths(22, 20) {
        let (x, r) = (rng.vec_uniform(n, -1.0, 1.0), rng.vec_uniform(n, -1.0, 1.0));
        let (tx, tr) = (up(&[n], &x), up(&[n], &r));
        let (ty, tdx) = (empty(&[n]), empty(&[n]));
        run(|p| {
            relu_forward(gpu, p, &ty, &tx)?;
            relu_backward(gpu, p, &tdx, &tr, &ty)
        });
        let (x64, r64) = (to_f64(&x), to_f64(&r));
        let idx = sample_indices(&mut rng, n, 64);
        let fd = finite_diff(
            |v| {
                let mut y = vec![0f64; n];
                cpu::relu_forward(&mut y, v);
                dot(&r64, &y)
            },
            &x64,
            &idx,
            1e-6,
        );
        assert_close("relu dx", &pick(&read(&tdx), &idx), &to_f32(&fd), 1e-3);
    }
    no_errors();
}

fn shortcut_geoms(seed: u64, count: usize) -> Vec<ShortcutGeom> {
    let mut rng = Rng::new(seed);
    let mut v = vec![
        ShortcutGeom {
            n: 2,
            cin: 16,
            h: 32,
            w: 32,
            cout: 32,
            stride: 2,
        },
        ShortcutGeom {
            n: 1,
            cin: 3,
            h: 7,
            w: 5,
            cout: 8,
            stride: 2,
        },
        ShortcutGeom {
            n: 1,
            cin: 4,
            h: 4,
            w: 4,
            cout: 4,
            stride: 1,
        },
        // Rows of whole vec4s at stride 3, in and out.
        ShortcutGeom {
            n: 2,
            cin: 5,
            h: 12,
            w: 12,
            cout: 9,
            stride: 3,
        },
    ];
    while v.len() < count {
        let cin = 1 + rng.below(12);
        v.push(ShortcutGeom {
            n: 1 + rng.below(4),
            cin,
            h: 1 + rng.below(13),
            w: 1 + rng.below(13),
            cout: cin + rng.below(13),
            stride: 1 + rng.below(3),
        });
    }
    v
}

#[test]
fn shortcut_a_matches_cpu() {
    let gpu = gpu();
    for (i, g) in shortcut_geoms(23, 22).iter().enumerate() {
        let mut rng = Rng::new(i as u64);
        let nx = g.n * g.cin * g.h * g.w;
        let ny = g.n * g.cout * g.ho() * g.wo();
        let (x, dy, dx0) = (
            rng.vec_uniform(nx, -1.0, 1.0),
            rng.vec_uniform(ny, -1.0, 1.0),
            rng.vec_uniform(nx, -1.0, 1.0),
        );
        let accumulate = i % 2 == 0;
        let (tx, tdy, tdx) = (
            up(&g.x_shape(), &x),
            up(&g.y_shape(), &dy),
            up(&g.x_shape(), &dx0),
        );
        let ty = empty(&g.y_shape());
        run(|p| {
            shortcut_a_forward(gpu, p, &ty, &tx, g)?;
            shortcut_a_backward(gpu, p, &tdx, &tdy, g, accumulate)
        });
        let mut y = vec![0f32; ny];
        cpu::shortcut_a_forward(&mut y, &x, g);
        assert_close(&format!("forward {g:?}"), &read(&ty), &y, 1e-6);
        let mut dx = dx0.clone();
        cpu::shortcut_a_backward(&mut dx, &dy, g, accumulate);
        assert_close(&format!("backward {g:?}"), &read(&tdx), &dx, 1e-6);
    }
    no_errors();
}

/// Tensors of a multiple of 4 elements (for the shortcut: rows of y, of dx)
/// run the passes' vec4 twins, others the passes over floats: both are what
/// the CPU-twin tests above check (their lengths and shapes take both).
#[test]
fn vec4_twins_run_where_lengths_allow() {
    let gpu = gpu();
    let vec4s = |prog: &Program| {
        prog.dispatches
            .iter()
            .filter(|d| d.label().ends_with('4'))
            .count()
    };
    for n in [256usize, 257, 12, 6] {
        let (a, b, y) = (empty(&[n]), empty(&[n]), empty(&[n]));
        let mut prog = Program::new();
        relu_forward(gpu, &mut prog, &y, &a).unwrap();
        relu_backward(gpu, &mut prog, &y, &a, &b).unwrap();
        add_forward(gpu, &mut prog, &y, &a, &b, true).unwrap();
        axpby(gpu, &mut prog, &y, &a, &b, 0.5, 2.0).unwrap();
        copy(gpu, &mut prog, &y, &a, true).unwrap();
        assert_eq!(vec4s(&prog), if n % 4 == 0 { 5 } else { 0 }, "length {n}");
        // Run, too: every pipeline is made and waited for (a process that
        // exits while the driver still compiles one crashed NVIDIA's driver).
        prog.run(gpu).expect("run");
    }
    for (h, w, stride, want) in [(8, 8, 2, 2), (8, 12, 2, 1), (6, 6, 2, 0), (5, 4, 1, 2)] {
        let g = ShortcutGeom {
            n: 1,
            cin: 2,
            h,
            w,
            cout: 4,
            stride,
        };
        let (x, y) = (empty(&g.x_shape()), empty(&g.y_shape()));
        let mut prog = Program::new();
        shortcut_a_forward(gpu, &mut prog, &y, &x, &g).unwrap();
        shortcut_a_backward(gpu, &mut prog, &x, &y, &g, true).unwrap();
        assert_eq!(vec4s(&prog), want, "{g:?}");
        prog.run(gpu).expect("run");
    }
}

/// The padding split matches F.pad(x[:, :, ::2, ::2], (0,0,0,0, p//2, p - p//2)).
#[test]
fn shortcut_a_pads_channels_as_pytorch() {
    let g = ShortcutGeom {
        n: 1,
        cin: 3,
        h: 2,
        w: 2,
        cout: 8,
        stride: 2,
    };
    let x = vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0];
    let mut y = vec![9f32; 8];
    cpu::shortcut_a_forward(&mut y, &x, &g);
    // p = 5: 2 zero channels before, 3 after.
    assert_eq!(y, vec![0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
}

#[test]
fn shortcut_a_backward_matches_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(24);
    for g in shortcut_geoms(25, 20) {
        let nx = g.n * g.cin * g.h * g.w;
        let ny = g.n * g.cout * g.ho() * g.wo();
        let (x, r) = (
            rng.vec_uniform(nx, -1.0, 1.0),
            rng.vec_uniform(ny, -1.0, 1.0),
        );
        let (tr, tdx) = (up(&g.y_shape(), &r), empty(&g.x_shape()));
        run(|p| shortcut_a_backward(gpu, p, &tdx, &tr, &g, false));
        let r64 = to_f64(&r);
        let idx = sample_indices(&mut rng, nx, 64);
        let fd = finite_diff(
            |v| {
                let mut y = vec![0f64; ny];
                cpu::shortcut_a_forward(&mut y, v, &g);
                dot(&r64, &y)
            },
            &to_f64(&x),
            &idx,
            1e-6,
        );
        assert_close(
            &format!("{g:?}"),
            &pick(&read(&tdx), &idx),
            &to_f32(&fd),
            1e-3,
        );
    }
    no_errors();
}

/// NaN exactly where `want` has NaN; elsewhere equal, or within `tol`
/// relative to the largest finite value.
#[track_caller]
fn assert_same_with_nan(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    let scale = want
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let close = g == w || (g - w).abs() <= tol * scale;
        assert!(
            g.is_nan() == w.is_nan() && (w.is_nan() || close),
            "{what}: at {i} got {g}, want {w}"
        );
    }
}

#[test]
fn nan_propagates_through_relu_add_and_batch_norm() {
    let gpu = gpu();
    let mut rng = Rng::new(77);
    // Plenty of NaN (quiet and signalling patterns, either sign) among
    // numbers of both signs and infinities.
    let specials = [
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
    ];
    let n = 4 * 3 * 8; // 4 samples, 3 channels, 8 pixels (a multiple of 4: the vec4 BN path)
    let mut x = rng.vec_uniform(n, -1.0, 1.0);
    for (k, i) in (0..n).step_by(5).enumerate() {
        x[i] = specials[k % specials.len()];
    }
    let b = rng.vec_uniform(n, -1.0, 1.0);
    let (tx, tb, ty) = (up(&[n], &x), up(&[n], &b), empty(&[n]));
    run(|p| relu_forward(gpu, p, &ty, &tx));
    let mut want = vec![0f32; n];
    cpu::relu_forward(&mut want, &x);
    assert!(want.iter().filter(|v| v.is_nan()).count() >= 10);
    assert_same_with_nan("relu", &read(&ty), &want, 0.0);
    run(|p| add_forward(gpu, p, &ty, &tx, &tb, true));
    cpu::add_forward(&mut want, &x, &b, true);
    assert_same_with_nan("add + relu", &read(&ty), &want, 0.0);

    use reslab::kernels::batchnorm::batchnorm_forward_eval;
    use reslab::ops::{BnGeom, BnOptions};
    for hw in [8, 7] {
        let g = BnGeom {
            n: n / (3 * hw).max(1),
            c: 3,
            hw,
        };
        let len = g.n * g.c * g.hw;
        let o = BnOptions {
            relu: true,
            ..Default::default()
        };
        let (mean, var, gamma, beta) = (
            [0.1f32, -0.2, 0.3],
            [1.0f32, 2.0, 0.5],
            [1.5f32, -1.0, 0.7],
            [0.0f32, 0.1, -0.1],
        );
        let (tx, ty, coef) = (up(&g.shape(), &x[..len]), empty(&g.shape()), empty(&[2, 3]));
        let t = |v: &[f32]| up(&[3], v);
        let (tm, tv, tg, tbeta) = (t(&mean), t(&var), t(&gamma), t(&beta));
        run(|p| {
            batchnorm_forward_eval(gpu, p, &ty, &coef, &tx, &tm, &tv, &tg, &tbeta, None, &g, &o)
        });
        let mut want = vec![0f32; len];
        cpu::batchnorm_forward_eval(
            &mut want,
            &x[..len],
            &mean,
            &var,
            &gamma,
            &beta,
            None,
            &g,
            &o,
        );
        assert_same_with_nan(
            &format!("batch norm + relu, hw {hw}"),
            &read(&ty),
            &want,
            1e-6,
        );
    }
    no_errors();
}
