//! CPU twin of `shaders/softmax_xent.wgsl`.

use super::Real;

/// Returns (mean loss, number correct); fills `per_sample` [N, 2] and, when
/// given, `dlogits` = (softmax − onehot) / N.
pub fn softmax_xent<T: Real>(
    dlogits: Option<&mut [T]>,
    per_sample: &mut [T],
    logits: &[T],
    labels: &[u32],
    n: usize,
    k: usize,
) -> (f64, f64) {
    let mut grads = vec![0f64; n * k];
    let (mut loss_sum, mut correct) = (0f64, 0f64);
    for s in 0..n {
        let row: Vec<f64> = logits[s * k..(s + 1) * k].iter().map(|v| v.f64()).collect();
        let y = labels[s] as usize;
        let (mut m, mut arg) = (row[0], 0);
        for (j, &v) in row.iter().enumerate().skip(1) {
            if v > m {
                m = v;
                arg = j;
            }
        }
        let se: f64 = row.iter().map(|v| (v - m).exp()).sum();
        let loss = m + se.ln() - row[y];
        let ok = if arg == y { 1.0 } else { 0.0 };
        per_sample[2 * s] = T::of(loss);
        per_sample[2 * s + 1] = T::of(ok);
        loss_sum += loss;
        correct += ok;
        for j in 0..k {
            let sm = (row[j] - m).exp() / se;
            grads[s * k + j] = (sm - if j == y { 1.0 } else { 0.0 }) / n as f64;
        }
    }
    if let Some(d) = dlogits {
        for (o, g) in d.iter_mut().zip(grads) {
            *o = T::of(g);
        }
    }
    (loss_sum / n as f64, correct)
}
