use reslab::cpu;
use reslab::kernels::Program;
use reslab::kernels::conv2d::*;
use reslab::ops::PadGeom;
use reslab::ops::{Conv2dGeom, UnfoldOrder};

use crate::common::*;

/// Seeded random conv geometries: odd sizes, batch 1, strides 1–3, kernels 1–7.
pub fn geoms(seed: u64, count: usize) -> Vec<(Conv2dGeom, bool)> {
    let mut rng = Rng::new(seed);
    let mut out = vec![
        (Conv2dGeom::square(1, 1, 1, 1, 1, 1, 1, 0), false),
        (Conv2dGeom::square(2, 16, 8, 8, 16, 3, 1, 1), false),
        (Conv2dGeom::square(3, 8, 9, 7, 16, 3, 2, 1), true),
        (Conv2dGeom::square(1, 3, 17, 17, 8, 7, 2, 3), false),
        (Conv2dGeom::square(2, 8, 9, 9, 12, 1, 2, 0), false),
    ];
    while out.len() < count {
        let k = [1, 3, 3, 5, 7][rng.below(5)];
        let kw = if rng.below(4) == 0 {
            [1, 3, 5][rng.below(3)]
        } else {
            k
        };
        let mut g = Conv2dGeom {
            n: 1 + rng.below(4),
            cin: 1 + rng.below(19),
            h: 1 + rng.below(15),
            w: 1 + rng.below(15),
            cout: 1 + rng.below(21),
            kh: k,
            kw,
            sh: 1 + rng.below(3),
            sw: 1 + rng.below(3),
            ph: rng.below(k / 2 + 2),
            pw: rng.below(kw / 2 + 2),
        };
        g.h = g.h.max(g.kh.saturating_sub(2 * g.ph));
        g.w = g.w.max(g.kw.saturating_sub(2 * g.pw));
        out.push((g, rng.below(2) == 0));
    }
    out
}

pub struct ConvData {
    pub x: Vec<f32>,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub dy: Vec<f32>,
    pub dx0: Vec<f32>,
}

/// The stride-2 backward-data pass's inputs on the GPU, made as a plan makes
/// them: dy padded (zero row below, zero columns right) and the weights as
/// backward tiles; and how many uniform windows those tiles take (0: they do
/// not fit one).
pub fn s2_data_inputs(
    g: &Conv2dGeom,
    dy: &[f32],
    w: &[f32],
) -> (reslab::Tensor, reslab::Tensor, usize) {
    let gpu = gpu();
    let (tdy, tw) = (up(&g.y_shape(), dy), up(&g.w_shape(), w));
    let pg = backward_data_s2_pad(g).unwrap();
    let dyp = empty(&pg.shape());
    let flip = backward_data_tiles(g).unwrap();
    let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(g, true)).unwrap();
    run(|p| {
        conv2d_pad(gpu, p, &dyp, &tdy, &pg)?;
        conv2d_weight_tiles_with(gpu, p, &wt, &tw, g, true, flip)
    });
    let runs = uniform_runs(gpu, &wt).map_or(0, |r| r.len());
    (dyp, wt, runs)
}

pub fn data(g: &Conv2dGeom, seed: u64) -> ConvData {
    let mut rng = Rng::new(seed);
    ConvData {
        x: rng.vec_uniform(g.n * g.cin * g.h * g.w, -1.0, 1.0),
        w: rng.vec_uniform(g.cout * g.cin * g.kh * g.kw, -1.0, 1.0),
        b: rng.vec_uniform(g.cout, -1.0, 1.0),
        dy: rng.vec_uniform(g.n * g.cout * g.ho() * g.wo(), -1.0, 1.0),
        dx0: rng.vec_uniform(g.n * g.cin * g.h * g.w, -1.0, 1.0),
    }
}

/// The three conv passes of one implementation, checked against the CPU twins.
pub type ForwardFn = fn(
    &reslab::Gpu,
    &mut reslab::kernels::Program,
    &reslab::Tensor,
    &reslab::Tensor,
    &reslab::Tensor,
    Option<&reslab::Tensor>,
    &Conv2dGeom,
) -> reslab::Result<()>;
pub type BackwardDataFn = fn(
    &reslab::Gpu,
    &mut reslab::kernels::Program,
    &reslab::Tensor,
    &reslab::Tensor,
    &reslab::Tensor,
    &Conv2dGeom,
    bool,
) -> reslab::Result<()>;
pub type BackwardWeightFn = fn(
    &reslab::Gpu,
    &mut reslab::kernels::Program,
    &reslab::Tensor,
    &reslab::Tensor,
    &reslab::Tensor,
    &Conv2dGeom,
) -> reslab::Result<()>;

pub fn check_forward(name: &str, f: ForwardFn, cases: &[(Conv2dGeom, bool)]) {
    let gpu = gpu();
    for (i, (g, bias)) in cases.iter().enumerate() {
        let d = data(g, i as u64);
        let (tx, tw, tb) = (
            up(&g.x_shape(), &d.x),
            up(&g.w_shape(), &d.w),
            up(&[g.cout], &d.b),
        );
        let ty = empty(&g.y_shape());
        run(|p| f(gpu, p, &ty, &tx, &tw, bias.then_some(&tb), g));
        let mut want = vec![0f32; ty.len()];
        cpu::conv2d_forward(&mut want, &d.x, &d.w, bias.then_some(&d.b[..]), g);
        assert_close(&format!("{name} {g:?}"), &read(&ty), &want, 1e-4);
    }
    no_errors();
}

pub fn check_backward_data(name: &str, f: BackwardDataFn, cases: &[(Conv2dGeom, bool)]) {
    let gpu = gpu();
    for (i, (g, accumulate)) in cases.iter().enumerate() {
        let d = data(g, 100 + i as u64);
        let (tdy, tw) = (up(&g.y_shape(), &d.dy), up(&g.w_shape(), &d.w));
        let tdx = up(&g.x_shape(), &d.dx0);
        run(|p| f(gpu, p, &tdx, &tdy, &tw, g, *accumulate));
        let mut want = d.dx0.clone();
        cpu::conv2d_backward_data(&mut want, &d.dy, &d.w, g, *accumulate);
        assert_close(
            &format!("{name} {g:?} accumulate={accumulate}"),
            &read(&tdx),
            &want,
            1e-4,
        );
    }
    no_errors();
}

pub fn check_backward_weight(name: &str, f: BackwardWeightFn, cases: &[(Conv2dGeom, bool)]) {
    let gpu = gpu();
    for (i, (g, _)) in cases.iter().enumerate() {
        let d = data(g, 200 + i as u64);
        let (tdy, tx) = (up(&g.y_shape(), &d.dy), up(&g.x_shape(), &d.x));
        let tdw = empty(&g.w_shape());
        run(|p| f(gpu, p, &tdw, &tdy, &tx, g));
        let mut want = vec![0f32; tdw.len()];
        cpu::conv2d_backward_weight(&mut want, &d.dy, &d.x, g);
        assert_close(&format!("{name} {g:?}"), &read(&tdw), &want, 1e-4);
    }
    no_errors();
}

/// The backward-data policy with fresh scratch tensors.
fn backward_data(
    gpu: &reslab::Gpu,
    p: &mut reslab::kernels::Program,
    dx: &reslab::Tensor,
    dy: &reslab::Tensor,
    w: &reslab::Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
) -> reslab::Result<()> {
    conv2d_backward_data(gpu, p, dx, dy, w, g, accumulate, &mut Fresh)
}

#[test]
fn conv2d_forward_reference_matches_cpu() {
    check_forward("reference", conv2d_forward_reference, &geoms(1, 24));
}

#[test]
fn conv2d_backward_data_reference_matches_cpu() {
    check_backward_data("reference", conv2d_backward_data_reference, &geoms(2, 24));
}

#[test]
fn conv2d_backward_weight_reference_matches_cpu() {
    check_backward_weight("reference", conv2d_backward_weight_reference, &geoms(3, 24));
}

#[test]
fn conv2d_backward_bias_matches_cpu() {
    let gpu = gpu();
    for (i, (g, _)) in geoms(4, 20).iter().enumerate() {
        let d = data(g, 300 + i as u64);
        let tdy = up(&g.y_shape(), &d.dy);
        let tdb = empty(&[g.cout]);
        run(|p| conv2d_backward_bias(gpu, p, &tdb, &tdy, g));
        let mut want = vec![0f32; g.cout];
        cpu::conv2d_backward_bias(&mut want, &d.dy, g);
        assert_close(&format!("{g:?}"), &read(&tdb), &want, 1e-4);
    }
    no_errors();
}

/// GPU gradients of L = Σ dy ⊙ conv(x, w) + b against central differences of the
/// CPU forward in f64.
#[test]
fn conv2d_backward_matches_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(5);
    for (i, (g, _)) in geoms(6, 20).iter().enumerate() {
        let d = data(g, 400 + i as u64);
        let (tx, tw, tdy) = (
            up(&g.x_shape(), &d.x),
            up(&g.w_shape(), &d.w),
            up(&g.y_shape(), &d.dy),
        );
        let (tdx, tdw, tdb) = (empty(&g.x_shape()), empty(&g.w_shape()), empty(&[g.cout]));
        run(|p| {
            conv2d_backward_data_reference(gpu, p, &tdx, &tdy, &tw, g, false)?;
            conv2d_backward_weight_reference(gpu, p, &tdw, &tdy, &tx, g)?;
            conv2d_backward_bias(gpu, p, &tdb, &tdy, g)
        });
        let (x, w, b, r) = (to_f64(&d.x), to_f64(&d.w), to_f64(&d.b), to_f64(&d.dy));
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            let mut y = vec![0f64; r.len()];
            cpu::conv2d_forward(&mut y, x, w, Some(b), g);
            dot(&r, &y)
        };
        let ix = sample_indices(&mut rng, x.len(), 48);
        let fd = finite_diff(|v| loss(v, &w, &b), &x, &ix, 1e-6);
        assert_close(
            &format!("dx {g:?}"),
            &pick(&read(&tdx), &ix),
            &to_f32(&fd),
            1e-3,
        );
        let iw = sample_indices(&mut rng, w.len(), 48);
        let fd = finite_diff(|v| loss(&x, v, &b), &w, &iw, 1e-6);
        assert_close(
            &format!("dw {g:?}"),
            &pick(&read(&tdw), &iw),
            &to_f32(&fd),
            1e-3,
        );
        let ib: Vec<usize> = (0..g.cout).collect();
        let fd = finite_diff(|v| loss(&x, &w, v), &b, &ib, 1e-6);
        assert_close(&format!("db {g:?}"), &read(&tdb), &to_f32(&fd), 1e-3);
    }
    no_errors();
}

/// The padded input the tiled passes read: rows with room for a tile's
/// reads (12 floats from its first at stride 1, 20 at stride 2), except at
/// stride 1 over rows of at most 4 pixels, where 8 floats hold everything
/// the pixels kept read (a 4x4 plane: [6, 8], not [6, 12]); bands of 4
/// output rows at stride 1.
#[test]
fn forward_pad_rows_fit_the_tiles() {
    let pad = |h: usize, w: usize, s: usize, p: usize| {
        let pg = Conv2dGeom::square(2, 8, h, w, 16, 3, s, p).forward_pad();
        (pg.hp, pg.pitch)
    };
    assert_eq!(pad(4, 4, 1, 1), (6, 8));
    assert_eq!(pad(3, 3, 1, 1), (6, 8));
    assert_eq!(pad(2, 2, 1, 1), (6, 8));
    assert_eq!(pad(1, 1, 1, 1), (6, 8));
    assert_eq!(pad(6, 6, 1, 0), (6, 8));
    assert_eq!(pad(5, 5, 1, 1), (10, 12));
    assert_eq!(pad(8, 8, 1, 1), (10, 12));
    assert_eq!(pad(16, 16, 1, 1), (18, 20));
    assert_eq!(pad(8, 8, 2, 1), (10, 20));
}

/// The layout pass of the tiled kernels, its general entry and the vec4 one
/// (offset 1, no dilation, rows of a multiple of 4).
#[test]
fn conv2d_pad_matches_cpu() {
    let mut rng = Rng::new(12);
    let mut cases = vec![
        Conv2dGeom::square(3, 5, 32, 32, 1, 3, 1, 1).forward_pad(),
        Conv2dGeom::square(2, 3, 8, 8, 1, 3, 2, 1).forward_pad(),
        Conv2dGeom::square(1, 1, 1, 1, 1, 3, 1, 1).forward_pad(),
    ];
    while cases.len() < 24 {
        let (h, w) = (1 + rng.below(13), 1 + rng.below(13));
        let (oy, ox, dil) = (rng.below(3), rng.below(3), 1 + rng.below(2));
        // Every fourth case takes the vec4 entry.
        let (ox, dil, w) = if cases.len() % 4 == 0 {
            (1, 1, 4 * (1 + rng.below(5)))
        } else {
            (ox, dil, w)
        };
        let hp = oy + dil * (h - 1) + 1 + rng.below(3);
        let pitch = (ox + dil * (w - 1) + 1 + rng.below(6)).next_multiple_of(4);
        cases.push(PadGeom {
            n: 1 + rng.below(3),
            c: 1 + rng.below(4),
            h,
            w,
            hp,
            pitch,
            oy,
            ox,
            dil,
        });
    }
    assert!(
        cases
            .iter()
            .filter(|p| p.ox == 1 && p.dil == 1 && p.w % 4 == 0)
            .count()
            >= 6
    );
    for pg in &cases {
        let x = rng.vec_uniform(pg.n * pg.c * pg.h * pg.w, -1.0, 1.0);
        let mut want = vec![0f32; pg.n * pg.c * pg.hp * pg.pitch];
        cpu::conv2d_pad(&mut want, &x, pg);
        let tx = up(&[pg.n, pg.c, pg.h, pg.w], &x);
        // Poisoned output: the pass must write every value, zeros included.
        let txp = up(&pg.shape(), &vec![f32::NAN; want.len()]);
        run(|p| conv2d_pad(gpu(), p, &txp, &tx, pg));
        assert_eq!(read(&txp), want, "{pg:?}");
    }
    no_errors();
}

/// Geometries the tiled kernels take (3x3, stride 1 or 2), odd sizes included.
fn tiled_geoms(seed: u64, count: usize) -> Vec<(Conv2dGeom, bool)> {
    let mut rng = Rng::new(seed);
    let mut out = vec![
        (Conv2dGeom::square(1, 1, 1, 1, 1, 3, 1, 1), false),
        (Conv2dGeom::square(2, 16, 32, 32, 16, 3, 1, 1), false),
        (Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1), true),
        (Conv2dGeom::square(1, 3, 7, 7, 9, 3, 2, 1), false),
        (Conv2dGeom::square(1, 5, 9, 13, 17, 3, 1, 0), true),
        // Weight gradients of several chunks of images, the last short, in
        // a GPU's chunks and a CPU adapter's.
        (Conv2dGeom::square(10, 3, 24, 24, 5, 3, 1, 1), false),
        (Conv2dGeom::square(11, 3, 40, 40, 5, 3, 2, 1), true),
    ];
    for (g, _) in &out[out.len() - 2..] {
        for c in [WGRAD_CHUNKS_GPU, WGRAD_CHUNKS_CPU] {
            assert!(wgrad_split(g, c).1 > 1, "{g:?} in {c:?}");
        }
        let (imgs, _) = wgrad_split(g, WGRAD_CHUNKS_CPU);
        assert!(!g.n.is_multiple_of(imgs), "{g:?}: a short last chunk");
    }
    while out.len() < count {
        let s = 1 + rng.below(2);
        let pad = rng.below(3);
        let g = Conv2dGeom::square(
            1 + rng.below(3),
            1 + rng.below(20),
            (3 - 2 * pad.min(1)) + rng.below(19),
            1,
            1 + rng.below(20),
            3,
            s,
            pad,
        );
        let g = Conv2dGeom {
            w: (3usize.saturating_sub(2 * pad)).max(1) + rng.below(19),
            ..g
        };
        out.push((g, rng.below(2) == 0));
    }
    out
}

#[test]
fn conv2d_forward_tiled_matches_cpu() {
    let cases = tiled_geoms(7, 30);
    assert!(cases.iter().all(|(g, _)| has_tiled_forward(g)));
    check_forward(
        "tiled",
        |gpu, p, y, x, w, b, g| conv2d_forward(gpu, p, y, x, w, b, g, &mut Fresh).map(|_| ()),
        &cases,
    );
}

#[test]
fn conv2d_backward_data_tiled_matches_cpu() {
    let cases: Vec<_> = tiled_geoms(8, 30)
        .into_iter()
        .filter(|(g, _)| backward_data_plan(g).is_some())
        .collect();
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    check_backward_data("tiled", backward_data, &cases);
}

#[test]
fn conv2d_backward_weight_tiled_matches_cpu() {
    check_backward_weight(
        "tiled",
        |gpu, p, dw, dy, x, g| conv2d_backward_weight(gpu, p, dw, dy, x, None, g, &mut Fresh),
        &tiled_geoms(9, 30),
    );
}

/// Every tiling of the stride-1 pass, each run explicitly: each matches the
/// CPU twin (bias, accumulation, heights that end inside a band of 4 rows,
/// channel counts that leave a tile part-empty), and all give the same bits,
/// since they sum every output in the same order — so which one an adapter's
/// tuning picks never changes a result. The uniform-weight tiling runs in as
/// many dispatches as its runs of input channels (several where the weights
/// exceed 64 KiB: the later ones resume from y), or falls back to `Rows4`
/// where the device's uniform bindings are smaller; the subgroup tiling runs
/// its kernel for the lanes sharing a tile (8, 4 or 2 by the output
/// channels; tiles that leave a workgroup part-empty), a dispatch per up to
/// three runs (windows), where the device has subgroups and the runs of 8
/// channels are even, else the uniform one; over rows of at most 4 pixels
/// it folds two rows into one accumulator, with the same bits; the 8-row
/// tiling runs those kernels over bands of 8 rows where they fit (heights of
/// 8 and 16, 7 and 15 whose last band ends past the output, several windows,
/// adding to y), else as the 4-row one (where 8-row tiles would leave a
/// workgroup emptier: 7x7 at batch 1; passes over several weight windows).
/// The grouped texel passes that resume from y read its values as texels
/// (copied in before the pass) where rows are whole vec4s.
#[test]
fn conv2d_forward_tilings_agree_bit_for_bit() {
    let gpu = gpu();
    let mut cases: Vec<(Conv2dGeom, bool)> = vec![
        (Conv2dGeom::square(2, 16, 32, 32, 16, 3, 1, 1), true),
        (Conv2dGeom::square(3, 8, 7, 7, 32, 3, 1, 1), false),
        (Conv2dGeom::square(1, 5, 9, 13, 48, 3, 1, 0), true),
        (Conv2dGeom::square(2, 3, 6, 6, 16, 3, 1, 2), false),
        // Weights over 64 KiB: three runs of input channels, then two.
        (Conv2dGeom::square(1, 60, 6, 5, 70, 3, 1, 1), false),
        (Conv2dGeom::square(2, 20, 5, 6, 130, 3, 1, 1), true),
        (Conv2dGeom::square(1, 61, 9, 9, 66, 3, 1, 1), true),
        // Groups of 8, 4 and 2 lanes (64, 32 and 48 channels; 40: none),
        // with several runs of input channels and few tiles.
        // (Every third case adds to y: the same kernels, starting from y.)
        (Conv2dGeom::square(2, 5, 6, 9, 40, 3, 1, 1), false),
        (Conv2dGeom::square(2, 60, 8, 8, 64, 3, 1, 1), true),
        (Conv2dGeom::square(1, 7, 5, 11, 64, 3, 1, 1), false),
        (Conv2dGeom::square(1, 9, 10, 3, 48, 3, 1, 0), true),
        (Conv2dGeom::square(3, 32, 16, 16, 32, 3, 1, 1), false),
        (Conv2dGeom::square(1, 12, 7, 9, 32, 3, 1, 1), true),
        // Groups of 8 over 4 runs: two passes of up to three windows, the
        // second resuming from the first's sums.
        (Conv2dGeom::square(1, 100, 6, 8, 64, 3, 1, 1), true),
        (Conv2dGeom::square(1, 90, 5, 7, 64, 3, 1, 1), false),
        // Rows of at most 4 pixels: the grouped kernels fold two rows into
        // one accumulator (4x4 as the desktop app's last stage, over several
        // windows, rows of 3, 2 and 1, a last band of 2 rows, no padding).
        (Conv2dGeom::square(2, 16, 4, 4, 32, 3, 1, 1), false),
        (Conv2dGeom::square(1, 100, 5, 4, 64, 3, 1, 1), true),
        (Conv2dGeom::square(1, 9, 3, 3, 64, 3, 1, 1), false),
        (Conv2dGeom::square(3, 12, 6, 2, 16, 3, 1, 1), true),
        (Conv2dGeom::square(1, 10, 6, 6, 32, 3, 1, 0), false),
        (Conv2dGeom::square(2, 20, 9, 1, 48, 3, 1, 1), true),
        // Bands of 8 rows, the last one part past the output.
        (Conv2dGeom::square(2, 16, 15, 15, 32, 3, 1, 1), true),
        (Conv2dGeom::square(1, 24, 7, 12, 16, 3, 1, 1), false),
        (Conv2dGeom::square(1, 16, 7, 7, 64, 3, 1, 1), true),
        (Conv2dGeom::square(4, 20, 8, 16, 64, 3, 1, 1), false),
        (Conv2dGeom::square(2, 100, 16, 8, 64, 3, 1, 1), true),
        (Conv2dGeom::square(4, 24, 15, 15, 32, 3, 1, 1), false),
        (Conv2dGeom::square(8, 12, 7, 9, 32, 3, 1, 1), true),
    ];
    cases.extend(tiled_geoms(10, 40).into_iter().filter(|(g, _)| g.sh == 1));
    let mut seen = [0usize; Tiling::ALL.len()];
    let mut grouped = [0usize; 3];
    let mut folded = 0;
    let mut eight_rows = 0;
    let mut texel_cases = 0;
    let mut several_runs = 0;
    let mut multi_window = 0;
    let mut earlier_texels = 0;
    for (i, (g, bias)) in cases.iter().enumerate() {
        let d = data(g, 300 + i as u64);
        let accumulate = i % 3 == 1;
        let (tx, tw, tb) = (
            up(&g.x_shape(), &d.x),
            up(&g.w_shape(), &d.w),
            up(&[g.cout], &d.b),
        );
        let pg = g.forward_pad();
        let xp = empty(&pg.shape());
        let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(g, false)).unwrap();
        run(|p| {
            conv2d_pad(gpu, p, &xp, &tx, &pg)?;
            conv2d_weight_tiles(gpu, p, &wt, &tw, g, false)
        });
        let runs = uniform_runs(gpu, &wt).map_or(0, |r| r.len());
        several_runs += (runs > 1) as usize;
        let y0 = d.dy.clone(); // what an accumulating pass adds to
        let mut want = if accumulate {
            y0.clone()
        } else {
            vec![0f32; y0.len()]
        };
        let mut fresh = vec![0f32; y0.len()];
        cpu::conv2d_forward(&mut fresh, &d.x, &d.w, bias.then_some(&d.b[..]), g);
        for (w, f) in want.iter_mut().zip(&fresh) {
            *w += f;
        }
        let mut first: Option<Vec<f32>> = None;
        for (k, &t) in Tiling::ALL.iter().enumerate() {
            seen[k] += 1;
            let ty = up(&g.y_shape(), &y0);
            let mut prog = Program::new();
            conv2d_forward_tiled_as(
                gpu,
                &mut prog,
                &ty,
                &xp,
                &wt,
                bias.then_some(&tb),
                g,
                accumulate,
                Some(t),
            )
            .unwrap();
            let uniform = prog
                .dispatches
                .iter()
                .filter(|d| d.label().ends_with("_r4u"))
                .count();
            let want_uniform = if t == Tiling::Rows4Uniform { runs } else { 0 };
            let lanes = group_lanes(g.cout.next_multiple_of(8)).filter(|_| has_subgroups(gpu));
            let sg = |l: usize| {
                prog.dispatches
                    .iter()
                    .filter(|d| d.label().ends_with(&format!("_r4sg{l}")))
                    .count()
            };
            let grouped_tiling = matches!(
                t,
                Tiling::Rows4Subgroup | Tiling::Rows4SubgroupTexels | Tiling::Rows8SubgroupTexels
            );
            // The grouped kernels read up to three windows a pass.
            let passes = runs.div_ceil(WINDOWS);
            let (want_uniform, want_sg) = match (grouped_tiling, lanes) {
                (true, Some(l)) => (0, Some((l, passes))),
                (true, None) => (runs, None),
                _ => (want_uniform, None),
            };
            multi_window += (grouped_tiling && lanes.is_some() && runs > WINDOWS) as usize;
            folded += (grouped_tiling && lanes.is_some() && g.wo() <= 4) as usize;
            assert_eq!(uniform, want_uniform, "{t:?} {g:?} accumulate={accumulate}");
            // The texel kernels read the input as texels; the others storage.
            let texel = texel_dispatches(&prog, "conv2d_forward_texel");
            let want_texel = match (t, lanes) {
                (Tiling::Rows4SubgroupTexels | Tiling::Rows8SubgroupTexels, Some(_)) => passes,
                (Tiling::Rows4SubgroupTexels | Tiling::Rows8SubgroupTexels, None) => runs,
                _ => 0,
            };
            // The grouped passes' workgroups: a tile of 8 or 4 rows for each
            // band of the output, l lanes a tile, 32 lanes a workgroup.
            if let (true, Some(l)) = (grouped_tiling, lanes) {
                // (8 rows only over one weight window: a pass over several
                // keeps 4, unless its weights come from storage.)
                let one_window = runs <= 1 || runs > GROUPED_RUNS;
                let rows =
                    if t == Tiling::Rows8SubgroupTexels && eight_rows_fit(g, l, 32) && one_window {
                        eight_rows += 1;
                        8
                    } else {
                        4
                    };
                let tiles = g.n * g.ho().div_ceil(rows) * g.wo().div_ceil(8);
                for d in prog
                    .dispatches
                    .iter()
                    .filter(|d| d.label().contains("_r4sg"))
                {
                    let [x, _, z] = d.workgroups();
                    assert_eq!(
                        (x * z) as usize,
                        (tiles * l).div_ceil(32),
                        "{t:?} {g:?}: bands of {rows} rows"
                    );
                }
            }
            assert_eq!(texel, want_texel, "{t:?} {g:?} accumulate={accumulate}");
            texel_cases += (texel > 0) as usize;
            // A grouped texel pass resuming from y (adding to it, or after
            // the first pass over the windows) reads y's values as texels
            // too, where rows are whole vec4s.
            earlier_texels += earlier_texel_passes(
                &prog,
                "conv2d_forward_texel_subgroup.wgsl:",
                (&xp, &ty),
                |j| (accumulate || j > 0) && g.wo() % 4 == 0,
                &format!("{t:?} {g:?} accumulate={accumulate}"),
            );
            for (i, l) in [8, 4, 2].into_iter().enumerate() {
                let want = want_sg.filter(|w| w.0 == l).map_or(0, |w| w.1);
                assert_eq!(
                    sg(l),
                    want,
                    "lanes {l}: {t:?} {g:?} accumulate={accumulate}"
                );
                grouped[i] += (want > 0) as usize;
            }
            prog.run(gpu).unwrap();
            let got = read(&ty);
            assert_close(
                &format!("{t:?} {g:?} accumulate={accumulate}"),
                &got,
                &want,
                1e-4,
            );
            same_bits_as_first(&mut first, got, &format!("{t:?} on {g:?}"));
        }
    }
    assert!(
        seen.iter().all(|&n| n >= 20),
        "tilings run per kind: {seen:?}"
    );
    if gpu.limits().max_uniform_buffer_binding_size >= 65536 {
        assert!(several_runs >= 3, "cases in several runs: {several_runs}");
        if has_subgroups(gpu) {
            assert!(
                grouped.iter().all(|&n| n >= 2),
                "subgroup runs by lanes 8, 4, 2: {grouped:?}"
            );
            assert!(texel_cases >= 3, "cases read as texels: {texel_cases}");
            if gpu.limits().max_storage_textures_per_shader_stage >= 2 {
                assert!(
                    earlier_texels >= 10,
                    "resuming passes reading y as texels: {earlier_texels}"
                );
            }
            assert!(
                multi_window >= 2,
                "grouped passes over more windows than one pass reads: {multi_window}"
            );
            assert!(folded >= 12, "grouped passes over folded rows: {folded}");
            assert!(
                eight_rows >= 6,
                "grouped passes over 8-row bands: {eight_rows}"
            );
        }
    }
    no_errors();
}

/// The tiled kernels bind y as whole vec4s (one vec4 store per 4 pixels where
/// rows are whole vec4s, guarded stores of single values else). An output
/// whose buffer ends inside its last vec4 (a tensor over a buffer of its exact
/// size: nothing past it to bind) is written through a scratch copy (copied
/// in first when accumulating, copied back after): the
/// same bits as a pooled output, the CPU twin's sums, added to what was
/// there when accumulating; at stride 1 and 2, rows of 5 pixels (guarded
/// stores) and of 4 (vec4 stores, in a buffer ending on a whole vec4).
#[test]
fn tiled_output_ending_its_buffer_inside_a_vec4_is_written_whole() {
    let gpu = gpu();
    let cases = [
        (Conv2dGeom::square(1, 3, 5, 5, 3, 3, 1, 1), false),
        (Conv2dGeom::square(1, 3, 5, 5, 3, 3, 1, 1), true),
        (Conv2dGeom::square(1, 2, 9, 9, 3, 3, 2, 1), true),
        (Conv2dGeom::square(1, 2, 4, 4, 3, 3, 1, 1), true),
    ];
    for (i, (g, accumulate)) in cases.into_iter().enumerate() {
        let len = g.n * g.cout * g.ho() * g.wo();
        let d = data(&g, 900 + i as u64);
        let (tx, tw) = (up(&g.x_shape(), &d.x), up(&g.w_shape(), &d.w));
        let pg = g.forward_pad();
        let xp = empty(&pg.shape());
        let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(&g, false)).unwrap();
        run(|p| {
            conv2d_pad(gpu, p, &xp, &tx, &pg)?;
            conv2d_weight_tiles(gpu, p, &wt, &tw, &g, false)
        });
        let y0 = &d.dy;
        let pooled = up(&g.y_shape(), y0);
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("exact"),
            size: 4 * len as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let exact = reslab::Tensor::from_buffer(buffer, &g.y_shape()).unwrap();
        gpu.write(&exact, y0).unwrap();
        assert_eq!(
            exact.window(0, len.next_multiple_of(4)).is_none(),
            len % 4 != 0,
            "{g:?}"
        );
        for (y, scratch) in [(&pooled, false), (&exact, len % 4 != 0)] {
            let mut prog = Program::new();
            conv2d_forward_tiled(gpu, &mut prog, y, &xp, &wt, None, &g, accumulate).unwrap();
            // (The drivers here let a store reach past a binding's end
            // inside its last 16 bytes, so only the copies show the scratch.)
            let copies = prog
                .dispatches
                .iter()
                .filter(|d| d.label().ends_with(":copy"))
                .count();
            let want = if scratch { 1 + accumulate as usize } else { 0 };
            assert_eq!(
                copies, want,
                "{g:?} accumulate={accumulate} scratch={scratch}"
            );
            prog.run(gpu).unwrap();
        }
        let mut want = vec![0f32; len];
        cpu::conv2d_forward(&mut want, &d.x, &d.w, None, &g);
        if accumulate {
            for (w, a) in want.iter_mut().zip(y0) {
                *w += a;
            }
        }
        let got = read(&exact);
        same_bits_as_first(&mut Some(read(&pooled)), got.clone(), &format!("{g:?}"));
        assert_close(&format!("exact buffer {g:?}"), &got, &want, 1e-4);
    }
    no_errors();
}

/// Every way the stride-2 pass reads its weights and input (storage, a
/// uniform window in runs of input channels, that with the input shared by
/// groups of 8, 4 or 2 lanes) matches the CPU twin and gives the same bits;
/// the uniform one runs in as many dispatches as it has runs, the grouped
/// one in a dispatch per up to three runs (windows), or not at all where the
/// device's uniform bindings are smaller (the grouped one runs the uniform
/// kernel where it has no subgroups or Co8 / 8 is odd).
#[test]
fn conv2d_forward_stride2_weight_reads_agree_bit_for_bit() {
    let gpu = gpu();
    let mut cases: Vec<(Conv2dGeom, bool)> = vec![
        (Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1), false),
        (Conv2dGeom::square(1, 60, 9, 7, 70, 3, 2, 1), true),
        (Conv2dGeom::square(2, 40, 6, 6, 130, 3, 2, 1), false),
        // (Every fourth case adds to y, starting from it in every way.)
        (Conv2dGeom::square(3, 8, 8, 8, 48, 3, 2, 1), false),
        (Conv2dGeom::square(2, 60, 9, 9, 64, 3, 2, 1), true),
        (Conv2dGeom::square(1, 5, 11, 6, 16, 3, 2, 1), false),
        // Groups over 4 runs: two passes of up to three windows.
        (Conv2dGeom::square(1, 90, 9, 9, 64, 3, 2, 1), false),
        (Conv2dGeom::square(2, 100, 7, 10, 64, 3, 2, 1), true),
        // More tiles than a workgroup has invocations, whichever rows a
        // tile covers (the grouped tiles 2, the storage fallback 1).
        (Conv2dGeom::square(5, 8, 32, 32, 16, 3, 2, 1), false),
    ];
    cases.extend(tiled_geoms(12, 40).into_iter().filter(|(g, _)| g.sh == 2));
    let mut several_runs = 0;
    let mut groups = 0;
    let mut multi_window = 0;
    for (i, (g, bias)) in cases.iter().enumerate() {
        let d = data(g, 500 + i as u64);
        let accumulate = i % 4 == 3;
        let (tx, tw, tb) = (
            up(&g.x_shape(), &d.x),
            up(&g.w_shape(), &d.w),
            up(&[g.cout], &d.b),
        );
        let pg = g.forward_pad();
        let xp = empty(&pg.shape());
        let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(g, false)).unwrap();
        run(|p| {
            conv2d_pad(gpu, p, &xp, &tx, &pg)?;
            conv2d_weight_tiles(gpu, p, &wt, &tw, g, false)
        });
        let runs = uniform_runs(gpu, &wt).map_or(0, |r| r.len());
        several_runs += (runs > 1) as usize;
        let y0 = d.dy.clone();
        let mut want = if accumulate {
            y0.clone()
        } else {
            vec![0f32; y0.len()]
        };
        let mut fresh = vec![0f32; y0.len()];
        cpu::conv2d_forward(&mut fresh, &d.x, &d.w, bias.then_some(&d.b[..]), g);
        for (w, f) in want.iter_mut().zip(&fresh) {
            *w += f;
        }
        let mut first: Option<Vec<f32>> = None;
        for &t in S2Tiling::ALL {
            let ty = up(&g.y_shape(), &y0);
            let mut prog = Program::new();
            conv2d_forward_s2_as(
                gpu,
                &mut prog,
                &ty,
                &xp,
                &wt,
                bias.then_some(&tb),
                g,
                accumulate,
                t,
            )
            .unwrap();
            let uniform = prog
                .dispatches
                .iter()
                .filter(|d| d.label().ends_with("_s2u"))
                .count();
            let lanes = group_lanes(g.cout.next_multiple_of(8)).filter(|_| has_subgroups(gpu));
            let grouped = prog
                .dispatches
                .iter()
                .filter(|d| d.label().contains("_s2sg"))
                .count();
            let (want_uniform, want_grouped) = match (t, lanes) {
                (S2Tiling::Uniform, _) => (runs, 0),
                (S2Tiling::Subgroup | S2Tiling::SubgroupTexels, None) => (runs, 0),
                (S2Tiling::Subgroup | S2Tiling::SubgroupTexels, Some(l)) => {
                    let k = prog
                        .dispatches
                        .iter()
                        .filter(|d| d.label().contains("_s2sg"));
                    assert!(k.clone().all(|d| d.label().ends_with(&format!("_s2sg{l}"))));
                    groups += (runs > 0) as usize;
                    multi_window += (runs > WINDOWS) as usize;
                    // Up to three windows a pass.
                    (0, runs.div_ceil(WINDOWS))
                }
                (S2Tiling::Storage, _) => (0, 0),
            };
            assert_eq!(uniform, want_uniform, "{t:?} {g:?} accumulate={accumulate}");
            assert_eq!(grouped, want_grouped, "{t:?} {g:?} accumulate={accumulate}");
            let texel = texel_dispatches(&prog, "conv2d_forward_texel");
            let want_texel = match (t, lanes) {
                (S2Tiling::SubgroupTexels, Some(_)) => want_grouped,
                (S2Tiling::SubgroupTexels, None) => runs,
                _ => 0,
            };
            assert_eq!(texel, want_texel, "{t:?} {g:?} accumulate={accumulate}");
            prog.run(gpu).unwrap();
            let got = read(&ty);
            assert_close(&format!("{t:?} {g:?}"), &got, &want, 1e-4);
            same_bits_as_first(&mut first, got, &format!("{t:?} on {g:?}"));
        }
    }
    if gpu.limits().max_uniform_buffer_binding_size >= 65536 {
        assert!(several_runs >= 2, "cases in several runs: {several_runs}");
        if has_subgroups(gpu) {
            assert!(groups >= 3, "cases in groups of lanes: {groups}");
            assert!(
                multi_window >= 2,
                "grouped passes over more windows than one pass reads: {multi_window}"
            );
        }
    }
    no_errors();
}

/// Every kernel of the stride-2 weight gradient (4 channels; 8 or 16 with dy
/// shared through subgroups, where the device has them, reading storage or
/// texels) matches the CPU twin and gives the same bits.
#[test]
fn conv2d_backward_weight_stride2_kernels_agree_bit_for_bit() {
    let gpu = gpu();
    let mut cases: Vec<Conv2dGeom> = vec![
        Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1),
        Conv2dGeom::square(3, 8, 7, 9, 12, 3, 2, 1),
        Conv2dGeom::square(1, 5, 9, 13, 5, 3, 2, 1),
        // 16 channels per invocation: two runs, part of one.
        Conv2dGeom::square(2, 9, 10, 10, 40, 3, 2, 1),
    ];
    cases.extend(
        tiled_geoms(13, 40)
            .into_iter()
            .map(|(g, _)| g)
            .filter(|g| g.sh == 2),
    );
    for (i, g) in cases.iter().enumerate() {
        let d = data(g, 600 + i as u64);
        let (tx, tdy) = (up(&g.x_shape(), &d.x), up(&g.y_shape(), &d.dy));
        let pg = g.forward_pad();
        let xp = empty(&pg.shape());
        run(|p| conv2d_pad(gpu, p, &xp, &tx, &pg));
        let dyv = match backward_weight_dy_pad(g) {
            Some(dpg) => {
                let t = empty(&dpg.shape());
                run(|p| conv2d_pad(gpu, p, &t, &tdy, &dpg));
                t
            }
            None => tdy.clone(),
        };
        let mut want = vec![0f32; g.cout * g.cin * 9];
        cpu::conv2d_backward_weight(&mut want, &d.dy, &d.x, g);
        let mut first: Option<Vec<f32>> = None;
        for &kind in S2Wgrad::ALL {
            let tdw = empty(&g.w_shape());
            let mut prog = Program::new();
            conv2d_backward_weight_s2_as(gpu, &mut prog, &tdw, &dyv, &xp, g, kind).unwrap();
            // The subgroup kernels run where the device has subgroups, else _s2.
            let label = prog.dispatches[0].label();
            let kernel = match kind {
                _ if !has_subgroups(gpu) => "tiled.wgsl:conv2d_backward_weight_tiled_s2",
                S2Wgrad::Channels4 => "tiled.wgsl:conv2d_backward_weight_tiled_s2",
                S2Wgrad::Channels8Subgroup => {
                    "weight_subgroup.wgsl:conv2d_backward_weight_tiled_s2_c8sg"
                }
                S2Wgrad::Channels8SubgroupTexels => {
                    "weight_texel_subgroup.wgsl:conv2d_backward_weight_tiled_s2_c8sg"
                }
                // 16 channels an invocation where the conv has more than 8.
                S2Wgrad::Channels16Subgroup if g.cout > 8 => {
                    "weight_subgroup.wgsl:conv2d_backward_weight_tiled_s2_c16sg"
                }
                S2Wgrad::Channels16Subgroup => {
                    "weight_subgroup.wgsl:conv2d_backward_weight_tiled_s2_c8sg"
                }
                S2Wgrad::Channels16SubgroupTexels if g.cout > 8 => {
                    "weight_texel_subgroup.wgsl:conv2d_backward_weight_tiled_s2_c16sg"
                }
                S2Wgrad::Channels16SubgroupTexels => {
                    "weight_texel_subgroup.wgsl:conv2d_backward_weight_tiled_s2_c8sg"
                }
            };
            assert_wgrad_kernel(label, kernel, g, &format!("{kind:?}"));
            prog.run(gpu).unwrap();
            let got = read(&tdw);
            assert_close(&format!("{kind:?} {g:?}"), &got, &want, 1e-4);
            same_bits_as_first(&mut first, got, &format!("{kind:?} on {g:?}"));
        }
    }
    no_errors();
}

/// Every tiling of the stride-1 weight gradient, each run explicitly, matches
/// the CPU twin and gives the same bits (output channels not a multiple of 8
/// included: the last tile is part-empty; input channels not a multiple of
/// the subgroup: lanes past them run on, their sums dropped).
#[test]
fn conv2d_backward_weight_tilings_agree_bit_for_bit() {
    let gpu = gpu();
    let mut cases: Vec<Conv2dGeom> = vec![
        Conv2dGeom::square(2, 16, 32, 32, 16, 3, 1, 1),
        Conv2dGeom::square(3, 8, 7, 7, 12, 3, 1, 1),
        Conv2dGeom::square(1, 5, 9, 13, 5, 3, 1, 0),
        // 16 channels per invocation: two runs, part of one.
        Conv2dGeom::square(2, 9, 8, 8, 40, 3, 1, 1),
    ];
    cases.extend(
        tiled_geoms(11, 30)
            .into_iter()
            .map(|(g, _)| g)
            .filter(|g| g.sh == 1),
    );
    for (i, g) in cases.iter().enumerate() {
        let d = data(g, 400 + i as u64);
        let (tx, tdy) = (up(&g.x_shape(), &d.x), up(&g.y_shape(), &d.dy));
        let pg = g.forward_pad();
        let xp = empty(&pg.shape());
        run(|p| conv2d_pad(gpu, p, &xp, &tx, &pg));
        let dyv = match backward_weight_dy_pad(g) {
            Some(dpg) => {
                let t = empty(&dpg.shape());
                run(|p| conv2d_pad(gpu, p, &t, &tdy, &dpg));
                t
            }
            None => tdy.clone(),
        };
        let mut want = vec![0f32; g.cout * g.cin * 9];
        cpu::conv2d_backward_weight(&mut want, &d.dy, &d.x, g);
        let mut first: Option<Vec<f32>> = None;
        for &t in WgradTiling::ALL {
            let tdw = empty(&g.w_shape());
            let mut prog = Program::new();
            conv2d_backward_weight_tiled_as(gpu, &mut prog, &tdw, &dyv, &xp, g, Some(t)).unwrap();
            // The subgroup kernels run where the device has subgroups, else
            // _c8; the 16-channel ones over at most 8 channels as the
            // 8-channel; over at most 8 input channels their _w8 twins.
            let label = prog.dispatches[0].label();
            let (storage, texels) = (
                "weight_subgroup.wgsl:conv2d_backward_weight_tiled_s1_c",
                "weight_texel_subgroup.wgsl:conv2d_backward_weight_tiled_s1_c",
            );
            let c16 = if g.cout <= 8 { "8sg" } else { "16sg" };
            let kernel = match t {
                WgradTiling::Channels4 => "tiled.wgsl:conv2d_backward_weight_tiled_s1".into(),
                _ if !has_subgroups(gpu) => "tiled.wgsl:conv2d_backward_weight_tiled_s1_c8".into(),
                WgradTiling::Channels8 => "tiled.wgsl:conv2d_backward_weight_tiled_s1_c8".into(),
                WgradTiling::Channels8Subgroup => format!("{storage}8sg"),
                WgradTiling::Channels16Subgroup => format!("{storage}{c16}"),
                WgradTiling::Channels8SubgroupTexels => format!("{texels}8sg"),
                WgradTiling::Channels16SubgroupTexels => format!("{texels}{c16}"),
            };
            assert_wgrad_kernel(label, &kernel, g, &format!("{t:?}"));
            prog.run(gpu).unwrap();
            let got = read(&tdw);
            assert_close(&format!("{t:?} {g:?}"), &got, &want, 1e-4);
            same_bits_as_first(&mut first, got, &format!("{t:?} on {g:?}"));
        }
    }
    no_errors();
}

/// Checks the texel copies of `prog`'s passes labelled from `prefix`, which
/// read `input` as texels and, pass j where `reads(j)` and a second texture
/// may bind, also `output`'s values before it: each copies exactly those.
/// Returns how many passes read `output` so.
fn earlier_texel_passes(
    prog: &Program,
    prefix: &str,
    (input, output): (&reslab::Tensor, &reslab::Tensor),
    reads: impl Fn(usize) -> bool,
    what: &str,
) -> usize {
    let two_textures = gpu().limits().max_storage_textures_per_shader_stage >= 2;
    let mut n = 0;
    for (j, d) in prog
        .dispatches
        .iter()
        .filter(|d| d.label().starts_with(prefix))
        .enumerate()
    {
        let earlier = reads(j) && two_textures;
        let want = input.bytes() + if earlier { output.bytes() } else { 0 };
        assert_eq!(
            d.texel_copy_bytes(),
            want,
            "{what}: pass {j}'s texel copies"
        );
        n += earlier as usize;
    }
    n
}

/// Asserts that the weight-gradient pass labelled `label` ran `kernel`, or,
/// over at most 8 input channels, its subgroup kernels' _w8 twin (`what`:
/// the variant, for the message).
fn assert_wgrad_kernel(label: &str, kernel: &str, g: &Conv2dGeom, what: &str) {
    let narrow = if g.cin <= 8 && label.contains("subgroup.wgsl") {
        "_w8"
    } else {
        ""
    };
    assert!(
        label.ends_with(&format!("{kernel}{narrow}")),
        "{what}: {label}"
    );
}

/// Dispatches of `prog` from the modules whose names start with `modules`.
fn texel_dispatches(prog: &Program, modules: &str) -> usize {
    prog.dispatches
        .iter()
        .filter(|d| d.label().starts_with(modules))
        .count()
}

/// Grouped tiled forward passes over more than [`GROUPED_RUNS`] runs of
/// uniform weight windows (a 512-channel conv's weights fill 171) read their
/// weights from storage in one dispatch, as the grouped kernels' storage
/// twins: stride 1 and 2, groups of 8, 4 and 2 lanes, storage input and
/// texels, rows folded, adding to y or not. The same bits as the storage
/// kernels without groups, and the CPU twin's values.
#[test]
fn grouped_forward_passes_past_the_runs_read_storage_weights() {
    let gpu = gpu();
    let cases: Vec<(Conv2dGeom, bool)> = vec![
        (Conv2dGeom::square(1, 100, 6, 6, 256, 3, 1, 1), false),
        (Conv2dGeom::square(2, 700, 5, 6, 32, 3, 1, 1), true),
        (Conv2dGeom::square(1, 480, 4, 4, 48, 3, 1, 1), false),
        (Conv2dGeom::square(1, 100, 9, 9, 256, 3, 2, 1), true),
        (Conv2dGeom::square(2, 480, 8, 7, 48, 3, 2, 1), false),
    ];
    let windows = gpu.limits().max_uniform_buffer_binding_size >= 65536;
    let mut twins = 0;
    for (i, (g, bias)) in cases.iter().enumerate() {
        let d = data(g, 560 + i as u64);
        let accumulate = i % 2 == 1;
        let (tx, tw, tb) = (
            up(&g.x_shape(), &d.x),
            up(&g.w_shape(), &d.w),
            up(&[g.cout], &d.b),
        );
        let pg = g.forward_pad();
        let xp = empty(&pg.shape());
        let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(g, false)).unwrap();
        run(|p| {
            conv2d_pad(gpu, p, &xp, &tx, &pg)?;
            conv2d_weight_tiles(gpu, p, &wt, &tw, g, false)
        });
        let runs = uniform_runs(gpu, &wt).map_or(0, |r| r.len());
        assert!(!windows || runs > GROUPED_RUNS, "{runs} runs for {g:?}");
        let mut want = if accumulate {
            d.dy.clone()
        } else {
            vec![0f32; d.dy.len()]
        };
        let mut fresh = vec![0f32; want.len()];
        cpu::conv2d_forward(&mut fresh, &d.x, &d.w, bias.then_some(&d.b[..]), g);
        want.iter_mut().zip(&fresh).for_each(|(w, f)| *w += f);
        // The storage kernel without groups first, then the grouped ones.
        let variants: Vec<(&str, Option<Tiling>, S2Tiling)> = if g.sh == 1 {
            vec![
                ("storage", Some(Tiling::Rows4), S2Tiling::Storage),
                ("grouped", Some(Tiling::Rows4Subgroup), S2Tiling::Storage),
                (
                    "grouped texels",
                    Some(Tiling::Rows4SubgroupTexels),
                    S2Tiling::Storage,
                ),
            ]
        } else {
            vec![
                ("storage", None, S2Tiling::Storage),
                ("grouped", None, S2Tiling::Subgroup),
                ("grouped texels", None, S2Tiling::SubgroupTexels),
            ]
        };
        let lanes = group_lanes(g.cout.next_multiple_of(8)).filter(|_| has_subgroups(gpu));
        let mut first = None;
        for (name, tiling, s2) in variants {
            let ty = up(&g.y_shape(), &d.dy);
            let mut prog = Program::new();
            let b = bias.then_some(&tb);
            match tiling {
                Some(t) => conv2d_forward_tiled_as(
                    gpu,
                    &mut prog,
                    &ty,
                    &xp,
                    &wt,
                    b,
                    g,
                    accumulate,
                    Some(t),
                ),
                None => conv2d_forward_s2_as(gpu, &mut prog, &ty, &xp, &wt, b, g, accumulate, s2),
            }
            .unwrap();
            let what = format!("{name} {g:?} accumulate={accumulate}");
            let convs: Vec<&str> = prog
                .dispatches
                .iter()
                .map(|d| d.label())
                .filter(|l| l.contains(":conv2d_forward_tiled"))
                .collect();
            if let (true, true, Some(l)) = (name != "storage", windows, lanes) {
                let entry = if g.sh == 1 {
                    format!("_r4sg{l}")
                } else {
                    format!("_s2sg{l}")
                };
                let module = if name == "grouped" {
                    "conv2d_forward_storage_subgroup.wgsl:"
                } else {
                    "conv2d_forward_texel_storage_subgroup.wgsl:"
                };
                assert_eq!(convs.len(), 1, "{what}: {convs:?}");
                assert!(
                    convs[0].starts_with(module) && convs[0].ends_with(&entry),
                    "{what}: {convs:?}"
                );
                twins += 1;
            } else {
                assert!(
                    convs.iter().all(|l| !l.contains("_storage_subgroup.wgsl")),
                    "{what}: {convs:?}"
                );
            }
            prog.run(gpu).unwrap();
            let got = read(&ty);
            assert_close(&what, &got, &want, 1e-4);
            same_bits_as_first(&mut first, got, &what);
        }
    }
    if windows && has_subgroups(gpu) {
        assert_eq!(twins, 2 * cases.len(), "passes on the storage twins");
    }
    no_errors();
}

/// Keeps the first of several variants' outputs and asserts every later one
/// has the same bits (`what`: the variant and case, for the message).
fn same_bits_as_first(first: &mut Option<Vec<f32>>, got: Vec<f32>, what: &str) {
    match first {
        None => *first = Some(got),
        Some(bits) => assert!(
            got.iter()
                .zip(bits.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{what}: not the bits of the first variant"
        ),
    }
}

/// Weight tiles of many convolutions in batched passes equal, bit for bit,
/// those the one-conv pass writes (every layout: forward, backward-data
/// flipped and not; windows 1 to 7; channel counts off the multiple of 8),
/// on the adapter's limits (one pass) and on bindings of 32 KiB (a pass per
/// group of jobs, each job's weights anywhere in the flat tensor).
#[test]
fn weight_tiles_in_batches_equal_one_conv_at_a_time() {
    let small = reslab::Gpu::with_options(reslab::GpuOptions {
        adjust_limits: Some(|l| l.max_storage_buffer_binding_size = 32 << 10),
        ..Default::default()
    })
    .unwrap();
    let mut rng = Rng::new(12);
    let mut geoms = vec![
        Conv2dGeom::square(1, 3, 8, 8, 16, 7, 2, 3),
        Conv2dGeom::square(1, 16, 8, 8, 16, 3, 1, 1),
        Conv2dGeom::square(1, 16, 8, 8, 32, 1, 2, 0),
        // Channels of a multiple of 16 in 1x1 and 3x3 windows: blocks of
        // vec4s in every layout where their weights start at a vec4 (each
        // also placed one value past one, where they run as elements).
        Conv2dGeom::square(1, 16, 5, 5, 32, 3, 1, 1),
        Conv2dGeom::square(1, 16, 5, 5, 48, 3, 2, 1),
        Conv2dGeom::square(1, 48, 5, 5, 16, 3, 1, 1),
        Conv2dGeom::square(1, 32, 4, 4, 16, 1, 1, 0),
        Conv2dGeom::square(1, 16, 4, 4, 64, 1, 2, 0),
        Conv2dGeom::square(1, 64, 4, 4, 16, 1, 1, 0),
    ];
    while geoms.len() < 20 {
        let k = [1, 3, 5][rng.below(3)];
        geoms.push(Conv2dGeom::square(
            1,
            1 + rng.below(12),
            9,
            9,
            1 + rng.below(12),
            k,
            1,
            k / 2,
        ));
    }
    let total: usize = geoms
        .iter()
        .map(|g| g.cout * g.cin * g.kh * g.kw)
        .sum::<usize>()
        + 37
        + 6 * 4;
    let flat = rng.vec_uniform(total, -1.0, 1.0);
    for (gpu, past_vec4) in [(gpu(), false), (gpu(), true), (&small, false)] {
        let weights = gpu.upload(&[total], &flat).unwrap();
        let mut jobs = Vec::new();
        let mut starts = Vec::new();
        let mut at = 37usize; // the first conv's weights not at the start
        let mut blocks = [0usize; 4];
        for (i, g) in geoms.iter().enumerate() {
            if (3..9).contains(&i) {
                // At a vec4, or one value past one.
                at = at.next_multiple_of(4) + past_vec4 as usize;
            }
            let w = weights.view(at, &g.w_shape()).unwrap();
            starts.push(at);
            let w_len = w.len();
            at += w_len;
            let (backward_data, flip) = match i % 3 {
                0 => (false, false),
                1 => (true, true),
                _ => (true, false),
            };
            let job = TileJob {
                w,
                g: *g,
                backward_data,
                flip,
            };
            // (The batch's source starts at a multiple of 64 elements.)
            if tile_blocks(&job, at - w_len).0 {
                blocks[2 * (g.kh == 3) as usize + backward_data as usize] += 1;
            }
            jobs.push(job);
        }
        if !past_vec4 {
            assert!(
                blocks.iter().all(|&n| n >= 1),
                "jobs in blocks (1x1, 3x3 × forward, backward): {blocks:?}"
            );
        } else {
            assert_eq!(blocks, [0; 4], "jobs one value past a vec4");
        }
        let mut prog = reslab::kernels::Program::new();
        let views = conv2d_weight_tiles_batch(gpu, &mut prog, &weights, &jobs).unwrap();
        let passes = prog.len();
        prog.run(gpu).unwrap();
        for ((j, v), &at) in jobs.iter().zip(&views).zip(&starts) {
            // The one-conv pass needs its weights at an aligned offset: a copy.
            let w = gpu
                .upload(&j.g.w_shape(), &flat[at..at + j.w.len()])
                .unwrap();
            let one = gpu
                .tensor(&weight_tiles_shape(&j.g, j.backward_data))
                .unwrap();
            let mut p = reslab::kernels::Program::new();
            conv2d_weight_tiles_with(gpu, &mut p, &one, &w, &j.g, j.backward_data, j.flip).unwrap();
            p.run(gpu).unwrap();
            let (a, b) = (gpu.read(v).unwrap(), gpu.read(&one).unwrap());
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{:?} backward_data={} flip={} ({passes} passes)",
                j.g,
                j.backward_data,
                j.flip
            );
        }
        if std::ptr::eq(gpu, &small) {
            assert!(passes > 1, "32 KiB bindings: {passes} pass");
        } else {
            assert_eq!(passes, 1);
        }
        gpu.check().unwrap();
    }
}

/// The tuning table decides the tilings; a choice this build does not know
/// (or one of another pass) falls back to the adapter's default.
#[test]
fn tiling_follows_the_tuning_table() {
    let gpu = gpu();
    let g = Conv2dGeom::square(4, 16, 13, 13, 24, 3, 1, 1);
    let key = variant_key::<Tiling>(&g);
    let default = default_variant::<Tiling>(gpu);
    for (set, want) in [
        (Some("conv2d_forward_tiled_s1_r4"), Tiling::Rows4),
        (Some("conv2d_forward_tiled_s1_r4u"), Tiling::Rows4Uniform),
        (Some("conv2d_forward_tiled_s1"), Tiling::Row),
        (Some("a kernel of another build"), default),
        (None, default),
    ] {
        gpu.set_tuned(&key, set).unwrap();
        assert_eq!(tuned::<Tiling>(gpu, &g).unwrap(), want, "{set:?}");
    }
    let key = variant_key::<WgradTiling>(&g);
    let default = default_variant::<WgradTiling>(gpu);
    for (set, want) in [
        (
            Some("conv2d_backward_weight_tiled_s1_c8"),
            WgradTiling::Channels8,
        ),
        (
            Some("conv2d_backward_weight_tiled_s1"),
            WgradTiling::Channels4,
        ),
        (Some("conv2d_forward_tiled_s1_r4"), default),
        (None, default),
    ] {
        gpu.set_tuned(&key, set).unwrap();
        assert_eq!(tuned::<WgradTiling>(gpu, &g).unwrap(), want, "{set:?}");
    }
    // The stride-2 weight gradient, which a plan of a stride-2 conv runs as
    // the table says (its dispatch's kernel shows it).
    let g = Conv2dGeom::square(2, 8, 12, 12, 16, 3, 2, 1);
    let key = variant_key::<S2Wgrad>(&g);
    let default = default_variant::<S2Wgrad>(gpu);
    let (xp, dw) = (empty(&g.forward_pad().shape()), empty(&g.w_shape()));
    let dy = match backward_weight_dy_pad(&g) {
        Some(dpg) => empty(&dpg.shape()),
        None => empty(&g.y_shape()),
    };
    for (set, want) in [
        (Some("conv2d_backward_weight_tiled_s2"), S2Wgrad::Channels4),
        (
            Some("conv2d_backward_weight_tiled_s2_c8sg"),
            S2Wgrad::Channels8Subgroup,
        ),
        (
            Some("conv2d_backward_weight_tiled_s2_c8sg_tex"),
            S2Wgrad::Channels8SubgroupTexels,
        ),
        (Some("conv2d_backward_weight_tiled_s1_c8"), default),
        (None, default),
    ] {
        gpu.set_tuned(&key, set).unwrap();
        assert_eq!(tuned::<S2Wgrad>(gpu, &g).unwrap(), want, "{set:?}");
        let mut tuned_prog = Program::new();
        conv2d_backward_weight_tiled(gpu, &mut tuned_prog, &dw, &dy, &xp, &g).unwrap();
        let mut as_prog = Program::new();
        conv2d_backward_weight_s2_as(gpu, &mut as_prog, &dw, &dy, &xp, &g, want).unwrap();
        assert_eq!(
            tuned_prog.dispatches[0].label(),
            as_prog.dispatches[0].label(),
            "{set:?}"
        );
        tuned_prog.run(gpu).unwrap();
    }
    gpu.set_tuned(&key, None).unwrap();
}

/// The direct stride-2 kernel: every parity, odd and even sizes, accumulation.
#[test]
fn conv2d_backward_data_stride2_matches_cpu() {
    let mut rng = Rng::new(10);
    let mut cases = vec![
        (Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1), false),
        (Conv2dGeom::square(1, 3, 7, 7, 5, 3, 2, 1), true),
        (Conv2dGeom::square(1, 1, 1, 1, 1, 3, 2, 1), false),
        (Conv2dGeom::square(1, 9, 2, 3, 10, 3, 2, 1), false),
        // The stride-2 layers of a width-4 ResNet-50 at 64x64.
        (Conv2dGeom::square(4, 8, 16, 16, 8, 3, 2, 1), false),
        (Conv2dGeom::square(4, 16, 8, 8, 16, 3, 2, 1), false),
        (Conv2dGeom::square(4, 32, 4, 4, 32, 3, 2, 1), false),
    ];
    while cases.len() < 27 {
        let g = Conv2dGeom {
            w: 1 + rng.below(37),
            ..Conv2dGeom::square(
                1 + rng.below(3),
                1 + rng.below(20),
                1 + rng.below(37),
                1,
                1 + rng.below(20),
                3,
                2,
                1,
            )
        };
        cases.push((g, rng.below(2) == 0));
    }
    assert!(cases.iter().all(|(g, _)| backward_data_s2_pad(g).is_some()));
    check_backward_data("stride 2", backward_data, &cases);
}

/// Every way the stride-2 backward-data pass reads its weights and dy
/// (storage; a uniform window in runs of output channels, the later runs
/// resuming from dx; that with dy shared by groups of 8, 4 or 2 lanes) matches
/// the CPU twin and gives the same bits, writing dx and adding to it (an
/// adding pass of several runs reads storage instead; past `S2_DATA_RUNS`
/// runs the grouped kernels' storage twins run one pass, the uniform
/// kernel's the storage kernel). The paired texel passes that add to dx or
/// resume from it read its values as texels.
#[test]
fn conv2d_backward_data_stride2_weight_reads_agree_bit_for_bit() {
    let gpu = gpu();
    let mut rng = Rng::new(14);
    let mut cases = vec![
        (Conv2dGeom::square(2, 16, 32, 32, 32, 3, 2, 1), false),
        // Weights over 64 KiB: two runs of output channels, then three.
        (Conv2dGeom::square(1, 20, 9, 11, 150, 3, 2, 1), false),
        (Conv2dGeom::square(1, 70, 6, 6, 60, 3, 2, 1), false),
        (Conv2dGeom::square(1, 70, 6, 6, 60, 3, 2, 1), true),
        (Conv2dGeom::square(1, 9, 7, 5, 10, 3, 2, 1), true),
        // Groups of 8 lanes over two runs; of 4 adding in one.
        (Conv2dGeom::square(1, 64, 7, 9, 40, 3, 2, 1), false),
        (Conv2dGeom::square(2, 32, 10, 10, 24, 3, 2, 1), true),
        // Rows of whole vec4s (the paired kernels): groups of 8 over two runs,
        // of 2 adding, a last tile past the row's end, odd heights.
        (Conv2dGeom::square(1, 64, 7, 12, 40, 3, 2, 1), false),
        (Conv2dGeom::square(2, 24, 7, 20, 16, 3, 2, 1), true),
        (Conv2dGeom::square(1, 8, 5, 4, 3, 3, 2, 1), false),
        // 20 runs: the grouped kernels give way to their storage twins (one
        // pass, adding to dx or not), the uniform one to the storage kernel.
        (Conv2dGeom::square(1, 512, 5, 7, 60, 3, 2, 1), false),
        (Conv2dGeom::square(1, 512, 5, 8, 60, 3, 2, 1), false),
        (Conv2dGeom::square(1, 512, 5, 7, 60, 3, 2, 1), true),
        (Conv2dGeom::square(1, 512, 5, 8, 60, 3, 2, 1), true),
    ];
    while cases.len() < 29 {
        let g = Conv2dGeom {
            w: 1 + rng.below(37),
            ..Conv2dGeom::square(
                1 + rng.below(3),
                1 + rng.below(20),
                1 + rng.below(37),
                1,
                1 + rng.below(20),
                3,
                2,
                1,
            )
        };
        cases.push((g, rng.below(2) == 0));
    }
    let mut several_runs = 0;
    let mut groups = 0;
    let mut paired_cases = 0;
    let mut storage_instead = 0;
    let mut twins = 0;
    let mut earlier_texels = 0;
    for (i, (g, accumulate)) in cases.iter().enumerate() {
        let d = data(g, 700 + i as u64);
        let (dyp, wt, runs) = s2_data_inputs(g, &d.dy, &d.w);
        several_runs += (runs > 1) as usize;
        let mut want = d.dx0.clone();
        cpu::conv2d_backward_data(&mut want, &d.dy, &d.w, g, *accumulate);
        let mut first: Option<Vec<f32>> = None;
        for &t in S2Tiling::ALL {
            let tdx = up(&g.x_shape(), &d.dx0);
            let mut prog = Program::new();
            conv2d_backward_data_tiled_s2_as(gpu, &mut prog, &tdx, &dyp, &wt, g, *accumulate, t)
                .unwrap();
            let uniform = prog
                .dispatches
                .iter()
                .filter(|d| d.label().ends_with("_s2u"))
                .count();
            // Rows of whole vec4s take the paired kernels (both column
            // parities per lane) in groups over runs of 4 channels.
            let ci8 = g.cin.next_multiple_of(8);
            let paired = g.w % 4 == 0 && has_subgroups(gpu);
            let (lanes, tag, texel_module) = if paired {
                (
                    group_lanes(2 * ci8),
                    "_s2p",
                    "conv2d_backward_data_pairs_texel",
                )
            } else {
                (
                    group_lanes(ci8).filter(|_| has_subgroups(gpu)),
                    "_s2sg",
                    "conv2d_backward_data_texel",
                )
            };
            paired_cases += (paired && t == S2Tiling::SubgroupTexels && runs > 0) as usize;
            let grouped: Vec<&str> = prog
                .dispatches
                .iter()
                .map(|d| d.label())
                .filter(|l| l.contains(tag))
                .collect();
            // Past S2_DATA_RUNS runs the grouped kernels' storage twins take
            // them all in one pass, and the storage kernel the uniform one's.
            let grouping = matches!(t, S2Tiling::Subgroup | S2Tiling::SubgroupTexels);
            let twin = grouping && lanes.is_some() && runs > S2_DATA_RUNS;
            let many = runs > S2_DATA_RUNS && !twin;
            storage_instead += (many && t == S2Tiling::Uniform) as usize;
            twins += twin as usize;
            let window = if twin {
                1
            } else if (!*accumulate || runs == 1) && !many {
                runs
            } else {
                0
            };
            assert!(
                grouped
                    .iter()
                    .all(|l| l.contains("_storage_subgroup.wgsl:") == twin),
                "{t:?} {g:?} accumulate={accumulate}: {grouped:?}"
            );
            // Both subgroup tilings run the grouped backward-data kernels,
            // SubgroupTexels reading dy as texels.
            let (want_uniform, want_grouped) = match (t, lanes) {
                (S2Tiling::Uniform, _) => (window, 0),
                (S2Tiling::Subgroup | S2Tiling::SubgroupTexels, None) => (window, 0),
                (S2Tiling::Subgroup | S2Tiling::SubgroupTexels, Some(l)) => {
                    let suffix = format!("{tag}{l}");
                    assert!(grouped.iter().all(|d| d.ends_with(&suffix)), "{grouped:?}");
                    groups += (window > 0) as usize;
                    (0, window)
                }
                (S2Tiling::Storage, _) => (0, 0),
            };
            assert_eq!(uniform, want_uniform, "{t:?} {g:?} accumulate={accumulate}");
            assert_eq!(
                grouped.len(),
                want_grouped,
                "{t:?} {g:?} accumulate={accumulate}"
            );
            let texel = texel_dispatches(&prog, texel_module);
            let want_texel = match t {
                S2Tiling::SubgroupTexels => want_grouped,
                _ => 0,
            };
            assert_eq!(texel, want_texel, "{t:?} {g:?} accumulate={accumulate}");
            // A paired texel pass adding to dx or resuming from it (a later
            // run) reads dx's values as texels too.
            earlier_texels += earlier_texel_passes(
                &prog,
                "conv2d_backward_data_pairs_texel_subgroup.wgsl:",
                (&dyp, &tdx),
                |j| *accumulate || j > 0,
                &format!("{t:?} {g:?} accumulate={accumulate}"),
            );
            prog.run(gpu).unwrap();
            let got = read(&tdx);
            assert_close(
                &format!("{t:?} {g:?} accumulate={accumulate}"),
                &got,
                &want,
                1e-4,
            );
            same_bits_as_first(&mut first, got, &format!("{t:?} on {g:?}"));
        }
    }
    if gpu.limits().max_uniform_buffer_binding_size >= 65536 {
        assert!(several_runs >= 3, "cases in several runs: {several_runs}");
        assert!(storage_instead >= 1, "cases past {S2_DATA_RUNS} runs");
        if has_subgroups(gpu) {
            assert!(groups >= 3, "cases in groups of lanes: {groups}");
            assert!(
                paired_cases >= 4,
                "cases of the paired kernels: {paired_cases}"
            );
            // Paired and not, storage input and texels, adding or not.
            assert_eq!(twins, 8, "passes on the storage twins");
            if gpu.limits().max_storage_textures_per_shader_stage >= 2 {
                assert!(
                    earlier_texels >= 2,
                    "paired passes reading dx as texels: {earlier_texels}"
                );
            }
        }
    }
    no_errors();
}

/// 1x1 convolutions without padding, strides 1 to 3, position counts and
/// channel counts that are and are not multiples of the 8x4 and 4x4 tiles.
fn geoms_1x1(seed: u64, count: usize) -> Vec<(Conv2dGeom, bool)> {
    let mut rng = Rng::new(seed);
    let mut out = vec![
        (Conv2dGeom::square(1, 1, 1, 1, 1, 1, 1, 0), false),
        (Conv2dGeom::square(2, 16, 8, 8, 24, 1, 1, 0), true),
        (Conv2dGeom::square(3, 9, 7, 7, 13, 1, 2, 0), false),
        (Conv2dGeom::square(2, 64, 35, 33, 16, 1, 1, 0), true),
    ];
    while out.len() < count {
        let s = 1 + rng.below(3);
        let g = Conv2dGeom::square(
            1 + rng.below(3),
            1 + rng.below(40),
            1 + rng.below(12),
            1 + rng.below(12),
            1 + rng.below(40),
            1,
            s,
            0,
        );
        out.push((g, rng.below(2) == 0));
    }
    assert!(out.iter().all(|(g, _)| g.kh == 1 && g.kw == 1 && g.ph == 0));
    out
}

/// The direct kernels (every convolution the tiled 3x3 kernels do not take):
/// windows of 1 to 7, strides 1 to 3 and paddings of the random geometries,
/// a 7x7/2 stem whose weight gradient sums three chunks of positions, and the
/// 1x1 set; forward, weight gradient and backward-data (dy read dilated by the
/// stride).
#[test]
fn conv2d_direct_matches_cpu() {
    let mut cases: Vec<_> = geoms(40, 40)
        .into_iter()
        .chain(geoms_1x1(41, 12))
        .filter(|(g, _)| !has_tiled_forward(g))
        .collect();
    cases.push((Conv2dGeom::square(2, 3, 140, 140, 8, 7, 2, 3), false));
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    check_forward(
        "direct",
        |gpu, p, y, x, w, b, g| conv2d_forward(gpu, p, y, x, w, b, g, &mut Fresh).map(|_| ()),
        &cases,
    );
    check_backward_weight(
        "direct",
        |gpu, p, dw, dy, x, g| conv2d_backward_weight(gpu, p, dw, dy, x, None, g, &mut Fresh),
        &cases,
    );
    let direct: Vec<_> = cases
        .iter()
        .map(|&(g, _)| (g, g.n % 2 == 0))
        .filter(|(g, _)| g.ph < g.kh && g.pw < g.kw)
        .collect();
    assert!(direct.len() >= 25, "only {} cases", direct.len());
    check_backward_data("direct", backward_data, &direct);
}

/// The direct kernels themselves, on the cases of [`conv2d_direct_matches_cpu`]
/// (where the device's policy runs the weight gradient over the unfolded
/// input instead): the forward pass over the weight tiles and the weight
/// gradient.
#[test]
fn conv2d_direct_kernels_match_cpu() {
    let mut cases: Vec<_> = geoms(40, 40)
        .into_iter()
        .filter(|(g, _)| !has_tiled_forward(g))
        .collect();
    cases.push((Conv2dGeom::square(2, 3, 140, 140, 8, 7, 2, 3), false));
    check_forward(
        "direct kernel",
        |gpu, p, y, x, w, b, g| {
            let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(g, false))?;
            conv2d_weight_tiles(gpu, p, &wt, w, g, false)?;
            conv2d_direct(gpu, p, y, x, &wt, b, g, false)
        },
        &cases,
    );
    check_backward_weight("direct kernel", conv2d_direct_weight, &cases);
}

/// Geometries the unfolded passes take, with the images a chunk holds: a
/// 7x7/2 stem in one chunk and in chunks of 2 (the last of 1), windows of 2
/// to 7, strides 1 to 3, paddings, planes of whole quads and not, more
/// unfolded channels than a workgroup of the 1x1 weight gradient takes (64).
fn unfold_cases() -> Vec<(Conv2dGeom, usize)> {
    let mut out = vec![
        (Conv2dGeom::square(2, 3, 40, 40, 16, 7, 2, 3), 2),
        (Conv2dGeom::square(5, 3, 16, 16, 16, 7, 2, 3), 2),
        (Conv2dGeom::square(3, 4, 11, 11, 64, 5, 1, 2), 1),
        (Conv2dGeom::square(2, 9, 9, 9, 7, 3, 3, 1), 2),
        (Conv2dGeom::square(1, 2, 6, 6, 33, 2, 1, 0), 1),
        (
            Conv2dGeom {
                n: 3,
                cin: 5,
                h: 13,
                w: 10,
                cout: 11,
                kh: 5,
                kw: 3,
                sh: 2,
                sw: 1,
                ph: 1,
                pw: 2,
            },
            3,
        ),
    ];
    // And random windows, strides and paddings (any window the direct
    // kernel takes: padding below the window), in one chunk or several.
    let mut rng = Rng::new(77);
    while out.len() < 12 {
        let (kh, kw) = (1 + rng.below(7), 1 + rng.below(7));
        let g = Conv2dGeom {
            n: 1 + rng.below(4),
            cin: 1 + rng.below(9),
            h: kh + rng.below(12),
            w: kw + rng.below(12),
            cout: 1 + rng.below(40),
            kh,
            kw,
            sh: 1 + rng.below(3),
            sw: 1 + rng.below(3),
            ph: rng.below(kh),
            pw: rng.below(kw),
        };
        out.push((g, 1 + rng.below(g.n)));
    }
    out
}

/// The unfolded input (im2col) equals its CPU twin bit for bit, in both
/// channel orders, for every chunk of images; the tap-major weight tiles
/// equal the weights rearranged; the forward pass over the unfolded input
/// gives the direct kernel's bits (and matches the CPU twin) in one chunk and
/// in several, with bias and without; the weight gradient matches the CPU
/// twin; a chunk split that bindings cannot take is an error, not a wgpu
/// one; and the device's policy unfolds the stem (forward and weight
/// gradient) where the 1x1 kernels share weights, and nowhere else.
#[test]
fn conv2d_unfolded_passes_match_cpu() {
    let gpu = gpu();
    for (i, &(g, images)) in unfold_cases().iter().enumerate() {
        let d = data(&g, 700 + i as u64);
        let (tx, tw) = (up(&g.x_shape(), &d.x), up(&g.w_shape(), &d.w));
        let taps = g.cin * g.kh * g.kw;
        let fits = unfold_fits(gpu, &g, images).is_ok();
        for order in [UnfoldOrder::ChannelMajor, UnfoldOrder::TapMajor] {
            for n0 in (0..g.n).step_by(images) {
                let m = images.min(g.n - n0);
                let shape = [m, taps, g.ho(), g.wo()];
                let col = empty(&shape);
                run(|p| conv2d_unfold(gpu, p, &col, &tx, &g, n0, order));
                let mut want = vec![f32::NAN; col.len()];
                cpu::conv2d_unfold(&mut want, &d.x, &g, n0, order);
                assert_eq!(
                    read(&col),
                    want,
                    "{order:?} unfold of images {n0}.. of {g:?}"
                );
            }
        }

        // The tap-major tiles: wt[ky, kx, ci, co] = w[co, ci, ky, kx], zero
        // past Co.
        let shape = tap_major_tiles_shape(&g);
        let wt = up(&shape, &vec![f32::NAN; shape.iter().product()]);
        run(|p| conv2d_weight_tiles_tap_major(gpu, p, &wt, &tw, &g));
        let mut want = vec![0f32; wt.len()];
        for co in 0..g.cout {
            for ci in 0..g.cin {
                for t in 0..g.kh * g.kw {
                    want[(t * g.cin + ci) * shape[3] + co] =
                        d.w[(co * g.cin + ci) * g.kh * g.kw + t];
                }
            }
        }
        assert_eq!(read(&wt), want, "tap-major tiles of {g:?}");

        // Forward: the 1x1 kernel the device runs (the plain one needs
        // planes of whole quads), the direct kernel's bits.
        let shares = Pointwise::on(gpu) == Pointwise::SharedWeights;
        if fits && (shares || (g.ho() * g.wo()).is_multiple_of(4)) {
            let tb = up(&[g.cout], &d.b);
            for bias in [None, Some(&tb)] {
                let mut want = vec![0f32; g.n * g.cout * g.ho() * g.wo()];
                let b = bias.map(|_| d.b.as_slice());
                cpu::conv2d_forward(&mut want, &d.x, &d.w, b, &g);
                let direct = empty(&g.y_shape());
                run(|p| {
                    let wt = weight_tiles_tensor(gpu, &mut Fresh, &weight_tiles_shape(&g, false))?;
                    conv2d_weight_tiles(gpu, p, &wt, &tw, &g, false)?;
                    conv2d_direct(gpu, p, &direct, &tx, &wt, bias, &g, false)
                });
                let direct = read(&direct);
                assert_close(&format!("direct forward {g:?}"), &direct, &want, 1e-4);
                for chunk in [g.n, images] {
                    let ty = empty(&g.y_shape());
                    run(|p| {
                        conv2d_unfolded_forward(gpu, p, &ty, &tx, &tw, bias, &g, chunk, &mut Fresh)
                    });
                    let got = read(&ty);
                    let differ = (0..got.len()).find(|&j| got[j].to_bits() != direct[j].to_bits());
                    assert_eq!(
                        differ.map(|j| (j, got[j], direct[j])),
                        None,
                        "unfolded forward {g:?} by {chunk}, bias {}: (index, value, direct's)",
                        bias.is_some()
                    );
                }
            }
        }
        // Weight gradient: the 1x1 one shares dy through the subgroup.
        if fits && has_subgroups(gpu) {
            let tdy = up(&g.y_shape(), &d.dy);
            let mut want = vec![0f32; g.cout * taps];
            cpu::conv2d_backward_weight(&mut want, &d.dy, &d.x, &g);
            for chunk in [g.n, images] {
                let tdw = up(&g.w_shape(), &vec![f32::NAN; g.cout * taps]);
                run(|p| conv2d_unfolded_weight(gpu, p, &tdw, &tdy, &tx, &g, chunk, &mut Fresh));
                assert_close(
                    &format!("unfolded weight gradient {g:?} by {chunk}"),
                    &read(&tdw),
                    &want,
                    1e-4,
                );
            }
        }
    }

    // Chunks that would bind y at an offset no binding may start at, and
    // none at all: errors naming the problem.
    let g = Conv2dGeom::square(3, 3, 9, 9, 5, 3, 3, 1);
    let (tx, tw, ty) = (
        empty(&g.x_shape()),
        empty(&g.w_shape()),
        empty(&g.y_shape()),
    );
    for (images, says) in [(1, "not a multiple"), (0, "0 images")] {
        let mut prog = Program::new();
        let err =
            conv2d_unfolded_forward(gpu, &mut prog, &ty, &tx, &tw, None, &g, images, &mut Fresh)
                .unwrap_err()
                .to_string();
        assert!(err.contains(says), "{images} images: {err}");
    }

    // The policy: the stem's forward pass and weight gradient unfolded in
    // one chunk where the 1x1 kernels share weights, the direct kernels
    // elsewhere.
    let stem = Conv2dGeom::square(2, 3, 224, 224, 64, 7, 2, 3);
    let shares = Pointwise::on(gpu) == Pointwise::SharedWeights;
    assert_eq!(unfold_chunk(gpu, &stem), shares.then_some(2));
    let (tx, tw, ty) = (
        empty(&stem.x_shape()),
        empty(&stem.w_shape()),
        empty(&stem.y_shape()),
    );
    let unfolded = |prog: &Program| {
        prog.dispatches
            .iter()
            .any(|d| d.label().ends_with(":conv2d_unfold4"))
    };
    let mut prog = Program::new();
    conv2d_backward_weight(gpu, &mut prog, &tw, &ty, &tx, None, &stem, &mut Fresh).unwrap();
    assert_eq!(unfolded(&prog), shares, "stem weight gradient");
    let mut prog = Program::new();
    conv2d_forward(gpu, &mut prog, &ty, &tx, &tw, None, &stem, &mut Fresh).unwrap();
    assert_eq!(unfolded(&prog), shares, "stem forward");
    no_errors();
}

/// 1x1 convolutions without padding, as the pointwise kernels take them:
/// strides 1 to 3; planes whose position counts are and are not multiples of
/// 4 (7x7, one position), images that end inside a quad, odd and even input
/// sizes at stride 2 (dx's last row and column outside or inside a dy
/// position's block); channel counts that do and do not fill tiles of 8, 16,
/// 32 and 64; chunks of the weight gradient that end inside a plane.
fn pointwise_geoms(seed: u64, count: usize) -> Vec<(Conv2dGeom, bool)> {
    let mut rng = Rng::new(seed);
    let mut out = vec![
        (Conv2dGeom::square(2, 64, 16, 16, 256, 1, 1, 0), true),
        (Conv2dGeom::square(3, 9, 14, 14, 13, 1, 1, 0), false),
        (Conv2dGeom::square(1, 5, 2, 2, 33, 1, 1, 0), true),
        (Conv2dGeom::square(3, 70, 7, 7, 40, 1, 1, 0), false),
        (Conv2dGeom::square(1, 1, 1, 1, 1, 1, 1, 0), false),
        (Conv2dGeom::square(2, 7, 16, 16, 40, 1, 2, 0), true),
        (Conv2dGeom::square(1, 3, 9, 8, 70, 1, 2, 0), false),
        (Conv2dGeom::square(2, 33, 14, 14, 66, 1, 2, 0), false),
        (Conv2dGeom::square(3, 20, 7, 9, 17, 1, 2, 0), true),
        (Conv2dGeom::square(2, 6, 10, 11, 5, 1, 3, 0), false),
        (Conv2dGeom::square(4, 3, 48, 48, 18, 1, 1, 0), false),
        (Conv2dGeom::square(30, 3, 23, 24, 5, 1, 2, 0), true),
    ];
    while out.len() < count {
        let g = Conv2dGeom::square(
            1 + rng.below(4),
            1 + rng.below(70),
            1 + rng.below(15),
            1 + rng.below(15),
            1 + rng.below(70),
            1,
            1 + rng.below(3),
            0,
        );
        out.push((g, rng.below(2) == 0));
    }
    for (g, _) in &out {
        assert!(pointwise_fits(&ConvParams::new(g, 0).unwrap()), "{g:?}");
    }
    out
}

/// The 1x1 kernels match the CPU twins, adding to their output or not, with
/// bias or not: forward, each kernel that takes the shape (the vec4 ones
/// where quads fit, the shared-weights one everywhere on devices with
/// subgroups), all with the same bits (the same sums in the same order);
/// the weight gradient with dy shared through the subgroup; and the
/// device's own choices — the direct forward and weight-gradient passes run
/// the 1x1 kernel the device takes, and its backward-data pass, which writes
/// the zeros between dy's positions, a 1x1 kernel where it shares weights.
/// Both the vec4 and the scalar kernels see at least 8 shapes.
#[test]
fn conv2d_pointwise_matches_cpu() {
    let gpu = gpu();
    let cases = pointwise_geoms(51, 30);
    let shares = Pointwise::on(gpu) == Pointwise::SharedWeights;
    let (mut vec4s, mut scalars) = (0, 0);
    let (mut wides, mut narrows) = (0, 0);
    for (i, &(g, accumulate)) in cases.iter().enumerate() {
        let fit = quads_fit(&ConvParams::new(&g, 0).unwrap());
        if fit {
            vec4s += 1
        } else {
            scalars += 1
        }
        let d = data(&g, 900 + i as u64);
        let (tx, tw, tb) = (
            up(&g.x_shape(), &d.x),
            up(&g.w_shape(), &d.w),
            up(&[g.cout], &d.b),
        );
        let bias = (i % 3 == 0).then_some(&tb);
        let y0 = &d.dy;
        let mut want = vec![0f32; y0.len()];
        cpu::conv2d_forward(&mut want, &d.x, &d.w, bias.map(|_| &d.b[..]), &g);
        if accumulate {
            want.iter_mut().zip(y0).for_each(|(w, y)| *w += y);
        }
        // Each kernel that takes the shape, and its entry point (the
        // shared-weights ones 64 channels an invocation past 32).
        let wide = g.cout > 32;
        if wide {
            wides += 1
        } else {
            narrows += 1
        }
        let shared = match (fit, wide) {
            (true, false) => ":conv2d_pointwise_sg",
            (true, true) => ":conv2d_pointwise_sg64",
            (false, false) => ":conv2d_pointwise_any_sg",
            (false, true) => ":conv2d_pointwise_any_sg64",
        };
        let mut kernels = Vec::new();
        if fit {
            kernels.push((Pointwise::Plain, ":conv2d_pointwise"));
        }
        if has_subgroups(gpu) {
            kernels.push((Pointwise::SharedWeights, shared));
        }
        let mut first = None;
        for &(kernel, entry) in &kernels {
            let ty = up(&g.y_shape(), y0);
            let wt = empty(&weight_tiles_shape(&g, false));
            let mut prog = Program::new();
            conv2d_weight_tiles(gpu, &mut prog, &wt, &tw, &g, false).unwrap();
            conv2d_pointwise(gpu, &mut prog, &ty, &tx, &wt, bias, &g, accumulate, kernel).unwrap();
            let label = prog.dispatches.last().unwrap().label();
            assert!(label.ends_with(entry), "{kernel:?} {g:?}: {label}");
            prog.run(gpu).unwrap();
            let got = read(&ty);
            let what = format!("{kernel:?} {g:?} accumulate={accumulate}");
            assert_close(&what, &got, &want, 1e-4);
            same_bits_as_first(&mut first, got, &what);
        }

        // The direct pass of this shape runs the device's 1x1 kernel where
        // that takes it.
        let ty = empty(&g.y_shape());
        let wt = empty(&weight_tiles_shape(&g, false));
        let mut prog = Program::new();
        conv2d_weight_tiles(gpu, &mut prog, &wt, &tw, &g, false).unwrap();
        conv2d_direct(gpu, &mut prog, &ty, &tx, &wt, None, &g, false).unwrap();
        let label = prog.dispatches.last().unwrap().label();
        let runs = match (shares, fit) {
            (true, _) => shared,
            (false, true) => ":conv2d_pointwise",
            (false, false) => ":conv2d_direct",
        };
        assert!(label.ends_with(runs), "direct pass of {g:?}: {label}");

        // The weight gradient: with dy shared through the subgroup, and the
        // policy's (that kernel where the 1x1 passes share their weights).
        let tdy = up(&g.y_shape(), &d.dy);
        let mut want = vec![0f32; g.cout * g.cin];
        cpu::conv2d_backward_weight(&mut want, &d.dy, &d.x, &g);
        let wgrad = if fit {
            ":conv2d_pointwise_weight_sg"
        } else {
            ":conv2d_pointwise_weight_any_sg"
        };
        let mut paths: Vec<(&str, BackwardWeightFn)> = vec![("policy", |gpu, p, dw, dy, x, g| {
            conv2d_backward_weight(gpu, p, dw, dy, x, None, g, &mut Fresh)
        })];
        if has_subgroups(gpu) {
            paths.push(("shared dy", |gpu, p, dw, dy, x, g| {
                conv2d_pointwise_weight(gpu, p, dw, dy, x, g)
            }));
        }
        for (path, f) in paths {
            let tdw = empty(&g.w_shape());
            let mut prog = Program::new();
            f(gpu, &mut prog, &tdw, &tdy, &tx, &g).unwrap();
            let ran = prog.dispatches.iter().any(|d| d.label().ends_with(wgrad));
            assert_eq!(
                ran,
                path == "shared dy" || shares,
                "{path} weight gradient of {g:?}"
            );
            prog.run(gpu).unwrap();
            assert_close(
                &format!("{path} weight gradient {g:?}"),
                &read(&tdw),
                &want,
                1e-4,
            );
        }

        // Backward-data: a 1x1 kernel over dy (scattered by the stride, the
        // zeros between written) where the device shares weights.
        let tdx = up(&g.x_shape(), &d.dx0);
        let mut prog = Program::new();
        backward_data(gpu, &mut prog, &tdx, &tdy, &tw, &g, accumulate).unwrap();
        let pointwise = prog
            .dispatches
            .iter()
            .any(|d| d.label().contains(":conv2d_pointwise"));
        assert!(
            pointwise || !shares,
            "backward-data of {g:?} without a 1x1 kernel"
        );
        prog.run(gpu).unwrap();
        let mut want = d.dx0.clone();
        cpu::conv2d_backward_data(&mut want, &d.dy, &d.w, &g, accumulate);
        let what = format!("backward-data {g:?} accumulate={accumulate}");
        assert_close(&what, &read(&tdx), &want, 1e-4);
    }
    assert!(
        vec4s >= 8 && scalars >= 8,
        "{vec4s} vec4 and {scalars} other shapes"
    );
    assert!(
        wides >= 8 && narrows >= 8,
        "{wides} shapes of more than 32 output channels, {narrows} of at most 32"
    );
    no_errors();
}

/// Weight gradients left as partial sums and reduced together in one pass
/// (side by side in one tensor at aligned offsets, into ranges of one flat
/// gradient tensor with gaps between them) equal, bit for bit, those each
/// conv reduces itself, and the CPU twin.
#[test]
fn weight_gradients_reduced_in_one_batch_equal_one_conv_at_a_time() {
    let gpu = gpu();
    let mut cases: Vec<Conv2dGeom> = vec![
        Conv2dGeom::square(4, 16, 32, 32, 16, 3, 1, 1),
        Conv2dGeom::square(9, 16, 16, 16, 32, 3, 2, 1),
        Conv2dGeom::square(3, 8, 7, 7, 12, 3, 1, 1),
        Conv2dGeom::square(2, 5, 9, 13, 5, 3, 1, 0),
    ];
    cases.extend(tiled_geoms(21, 12).into_iter().map(|(g, _)| g));
    let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
    let (mut at_dw, mut at_part) = (0usize, 0usize);
    let mut places = Vec::new();
    for g in &cases {
        let shape = wgrad_partials_shape(g, wgrad_chunks(gpu)).expect("a tiled weight gradient");
        // A gap of 7 values before each dw: nothing between them is written.
        let dw_at = (at_dw + 7).next_multiple_of(align);
        let part_at = at_part.next_multiple_of(align);
        places.push((dw_at, part_at, shape));
        at_dw = dw_at + g.cout * g.cin * 9;
        at_part = part_at + shape.iter().product::<usize>();
    }
    let sentinel = -123.5f32;
    let grads = up(&[at_dw], &vec![sentinel; at_dw]);
    let arena = empty(&[at_part]);
    let mut jobs = Vec::new();
    let mut want_bits = Vec::new();
    for (i, (g, &(dw_at, part_at, shape))) in cases.iter().zip(&places).enumerate() {
        let d = data(g, 700 + i as u64);
        let (tx, tdy) = (up(&g.x_shape(), &d.x), up(&g.y_shape(), &d.dy));
        // One conv at a time: the reduction of its own.
        let own = empty(&g.w_shape());
        run(|p| conv2d_backward_weight(gpu, p, &own, &tdy, &tx, None, g, &mut Fresh));
        let mut want = vec![0f32; g.cout * g.cin * 9];
        cpu::conv2d_backward_weight(&mut want, &d.dy, &d.x, g);
        let own = read(&own);
        assert_close(&format!("own reduction {g:?}"), &own, &want, 1e-4);
        want_bits.push(own);
        let partials = arena.view(part_at, &shape).unwrap();
        run(|p| conv2d_backward_weight_partials(gpu, p, &partials, &tdy, &tx, None, g, &mut Fresh));
        jobs.push(WgradJob {
            dw: grads.view(dw_at, &g.w_shape()).unwrap(),
            partials,
        });
    }
    // Every job (some of a length that is no multiple of 4: the pass over
    // floats), then those whose lengths are (over vec4s).
    let all: Vec<usize> = (0..cases.len()).collect();
    let whole: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| (cases[i].cout * cases[i].cin * 9).is_multiple_of(4))
        .collect();
    assert!(
        whole.len() >= 3 && whole.len() < cases.len(),
        "{} of {}",
        whole.len(),
        cases.len()
    );
    for (chosen, entry) in [
        (all, ":conv2d_backward_weight_reduce_batch"),
        (whole, ":conv2d_backward_weight_reduce_batch4"),
    ] {
        gpu.write(&grads, &vec![sentinel; at_dw]).unwrap();
        let some: Vec<WgradJob> = chosen.iter().map(|&i| jobs[i].clone()).collect();
        let mut prog = reslab::kernels::Program::new();
        conv2d_backward_weight_reduce_batch(gpu, &mut prog, &grads, &arena, &some).unwrap();
        assert_eq!(prog.len(), 1, "one pass for every conv");
        assert!(
            prog.dispatches[0].label().ends_with(entry),
            "{}",
            prog.dispatches[0].label()
        );
        prog.run(gpu).unwrap();
        let got = read(&grads);
        let mut written = vec![false; got.len()];
        for &i in &chosen {
            let (g, (dw_at, _, _)) = (&cases[i], places[i]);
            let n = g.cout * g.cin * 9;
            let mine = &got[dw_at..dw_at + n];
            assert!(
                mine.iter()
                    .zip(&want_bits[i])
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "job {i} {g:?} differs from its own reduction ({entry})"
            );
            written[dw_at..dw_at + n].iter_mut().for_each(|w| *w = true);
        }
        assert!(
            got.iter().zip(&written).all(|(v, w)| *w || *v == sentinel),
            "a value between the jobs' gradients was written ({entry})"
        );
    }
    let mut prog = reslab::kernels::Program::new();
    // Tensors that are not ranges of the batch's are refused.
    let stray = WgradJob {
        dw: empty(&cases[0].w_shape()),
        partials: jobs[0].partials.clone(),
    };
    let e = conv2d_backward_weight_reduce_batch(gpu, &mut prog, &grads, &arena, &[stray])
        .expect_err("a dw outside the gradients");
    assert!(e.to_string().contains("not ranges"), "{e}");
    no_errors();
}
