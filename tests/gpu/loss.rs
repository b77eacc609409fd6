use reslab::cpu;
use reslab::kernels::loss::softmax_xent;

use crate::common::*;

fn sizes(seed: u64, count: usize) -> Vec<(usize, usize)> {
    let mut rng = Rng::new(seed);
    let mut v = vec![(1, 1), (1, 10), (128, 10), (300, 7), (32, 1000)];
    while v.len() < count {
        v.push((1 + rng.below(600), 1 + rng.below(40)));
    }
    v
}

fn labels(rng: &mut Rng, n: usize, k: usize) -> Vec<u32> {
    (0..n).map(|_| rng.below(k) as u32).collect()
}

#[test]
fn softmax_xent_matches_cpu() {
    let gpu = gpu();
    for (s, &(n, k)) in sizes(50, 22).iter().enumerate() {
        let mut rng = Rng::new(s as u64);
        let logits = rng.vec_uniform(n * k, -8.0, 8.0);
        let y = labels(&mut rng, n, k);
        let tl = up(&[n, k], &logits);
        let ty = empty(&[n]);
        gpu.write_u32(&ty, &y).unwrap();
        let (td, tps, tm) = (empty(&[n, k]), empty(&[n, 2]), empty(&[2]));
        run(|p| softmax_xent(gpu, p, Some(&td), &tps, &tm, &tl, &ty));
        let (mut d, mut ps) = (vec![0f32; n * k], vec![0f32; 2 * n]);
        let (loss, correct) = cpu::softmax_xent(Some(&mut d), &mut ps, &logits, &y, n, k);
        let what = format!("n={n} k={k}");
        assert_close(&format!("dlogits {what}"), &read(&td), &d, 1e-4);
        assert_close(&format!("per-sample {what}"), &read(&tps), &ps, 1e-4);
        assert_close(
            &format!("metrics {what}"),
            &read(&tm),
            &[loss as f32, correct as f32],
            1e-4,
        );
    }
    no_errors();
}

#[test]
fn softmax_xent_gradient_matches_finite_differences() {
    let gpu = gpu();
    let mut rng = Rng::new(51);
    for &(n, k) in &sizes(52, 20) {
        let logits = rng.vec_uniform(n * k, -4.0, 4.0);
        let y = labels(&mut rng, n, k);
        let tl = up(&[n, k], &logits);
        let ty = empty(&[n]);
        gpu.write_u32(&ty, &y).unwrap();
        let (td, tps, tm) = (empty(&[n, k]), empty(&[n, 2]), empty(&[2]));
        run(|p| softmax_xent(gpu, p, Some(&td), &tps, &tm, &tl, &ty));
        let idx = sample_indices(&mut rng, n * k, 48);
        let fd = finite_diff(
            |v| {
                let mut ps = vec![0f64; 2 * n];
                cpu::softmax_xent::<f64>(None, &mut ps, v, &y, n, k).0
            },
            &to_f64(&logits),
            &idx,
            1e-6,
        );
        assert_close(
            &format!("n={n} k={k}"),
            &pick(&read(&td), &idx),
            &to_f32(&fd),
            1e-3,
        );
    }
    no_errors();
}
