use reslab::cpu;
use reslab::geom::Conv2dGeom;
use reslab::kernels::conv2d::*;

use crate::common::*;

/// Seeded random conv geometries: odd sizes, batch 1, strides 1–3, kernels 1–7.
fn geoms(seed: u64, count: usize) -> Vec<(Conv2dGeom, bool)> {
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
        let kw = if rng.below(4) == 0 { [1, 3, 5][rng.below(3)] } else { k };
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

fn data(g: &Conv2dGeom, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let x = rng.vec_uniform(g.n * g.cin * g.h * g.w, -1.0, 1.0);
    let w = rng.vec_uniform(g.cout * g.cin * g.kh * g.kw, -1.0, 1.0);
    let b = rng.vec_uniform(g.cout, -1.0, 1.0);
    let dy = rng.vec_uniform(g.n * g.cout * g.ho() * g.wo(), -1.0, 1.0);
    (x, w, b, dy)
}

#[test]
fn conv2d_forward_reference_matches_cpu() {
    let gpu = gpu();
    for (i, (g, bias)) in geoms(1, 24).into_iter().enumerate() {
        let (x, w, b, _) = data(&g, i as u64);
        let tx = gpu.upload(&g.x_shape(), &x).unwrap();
        let tw = gpu.upload(&g.w_shape(), &w).unwrap();
        let tb = gpu.upload(&[g.cout], &b).unwrap();
        let ty = gpu.tensor(&g.y_shape()).unwrap();
        let d = conv2d_forward_reference(gpu, &ty, &tx, &tw, bias.then_some(&tb), &g).unwrap();
        reslab::kernels::Program { dispatches: vec![d] }.run(gpu).unwrap();
        let mut want = vec![0f32; ty.len()];
        cpu::conv2d_forward(&mut want, &x, &w, bias.then_some(&b[..]), &g);
        assert_close(&format!("{g:?}"), &gpu.read(&ty).unwrap(), &want, 1e-4);
    }
    no_errors();
}
