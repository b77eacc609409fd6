use reslab::cpu;
use reslab::kernels::reduce::*;

use crate::common::*;

#[test]
fn sums_match_cpu() {
    let gpu = gpu();
    let mut rng = Rng::new(70);
    let mut shapes = vec![[1, 1, 1, 1], [128, 16, 32, 32], [3, 5, 7, 9]];
    while shapes.len() < 22 {
        shapes.push([
            1 + rng.below(9),
            1 + rng.below(20),
            1 + rng.below(12),
            1 + rng.below(12),
        ]);
    }
    for (i, s) in shapes.iter().enumerate() {
        let [n, c, h, w] = *s;
        let x = rng.vec_uniform(n * c * h * w, -1.0, 3.0);
        let coef = rng.vec_uniform(2 * c, -1.0, 1.0);
        let affine = i % 2 == 1;
        let (tx, tc) = (up(s, &x), up(&[2, c], &coef));
        let (tr, tch) = (empty(&[n, 2]), empty(&[c, 2]));
        let a = affine.then_some(ChannelAffine { coef: &tc });
        run(|p| {
            sum_sumsq_rows(gpu, p, &tr, &tx, a)?;
            sum_sumsq_channels(gpu, p, &tch, &tx, a)
        });
        let k = affine.then_some(&coef[..]);
        let (mut r, mut ch) = (vec![0f32; 2 * n], vec![0f32; 2 * c]);
        cpu::sum_sumsq_rows(&mut r, &x, k, n, c, h * w);
        cpu::sum_sumsq_channels(&mut ch, &x, k, n, c, h * w);
        assert_close(&format!("rows {s:?} affine={affine}"), &read(&tr), &r, 1e-4);
        assert_close(
            &format!("channels {s:?} affine={affine}"),
            &read(&tch),
            &ch,
            1e-4,
        );
    }
    no_errors();
}
