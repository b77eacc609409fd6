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

/// The sums leave the workgroup in the tree's order (shared/sum2.wgsl: x[t]
/// += x[t + k] for k = 32, 16, ..., 1 over the 64 invocations' strided sums),
/// bit for bit, whichever way the kernel arranges its barriers.
#[test]
fn sums_follow_the_workgroup_tree_bit_for_bit() {
    const WG: usize = 64;
    let gpu = gpu();
    let mut rng = Rng::new(71);
    let (n, d) = (24, 3 * WG + 17);
    let x = rng.vec_uniform(n * d, -1.0, 3.0);
    let (tx, tr) = (up(&[n, 1, 1, d], &x), empty(&[n, 2]));
    run(|p| sum_sumsq_rows(gpu, p, &tr, &tx, None));
    let got = read(&tr);
    let mut serial_differs = 0;
    for r in 0..n {
        let row = &x[r * d..(r + 1) * d];
        let mut lanes = [0f32; WG];
        for (j, v) in row.iter().enumerate() {
            lanes[j % WG] += v;
        }
        let mut k = WG / 2;
        while k > 0 {
            for t in 0..k {
                lanes[t] += lanes[t + k];
            }
            k /= 2;
        }
        assert_eq!(
            got[2 * r].to_bits(),
            lanes[0].to_bits(),
            "row {r}: {} against the tree's {}",
            got[2 * r],
            lanes[0]
        );
        let serial: f32 = row.iter().sum();
        serial_differs += (serial.to_bits() != lanes[0].to_bits()) as usize;
    }
    // The check tells orders apart: summed in another order, some rows round
    // differently.
    assert!(
        serial_differs > 0,
        "no row tells the tree from a serial sum"
    );
    no_errors();
}
