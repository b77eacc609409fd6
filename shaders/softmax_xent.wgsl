// Softmax cross-entropy with the mean over the batch, its gradient and accuracy,
// in one workgroup (the batch is small next to everything else in a step).
//
//   softmax_xent  1 dlogits [N, K]  2 per_sample [N, 2] (loss, correct)
//                 3 logits [N, K]  4 labels [N] u32
//   xent_mean     1 metrics [2] (mean loss, number correct)  2 per_sample
// Per sample: loss = logsumexp(l) − l[y]; dlogits = (softmax(l) − onehot(y))·grad_scale
// (grad_scale = 1/N for the mean; dlogits is written when flags & 1); correct when
// the first maximum of l is at y. One workgroup of 128 each; invocation t takes
// samples t, t + 128, …; xent_mean then sums loss and correct over the workgroup.

struct XentParams {
    n: u32, k: u32, flags: u32, grad_scale: f32,
}

@group(0) @binding(0) var<uniform> p: XentParams;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(2) var<storage, read_write> per_sample: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;

const WG: u32 = 128u;

#import sum2

@compute @workgroup_size(WG)
fn softmax_xent(@builtin(local_invocation_index) t: u32) {
    for (var n = t; n < p.n; n += WG) {
        let row = n * p.k;
        let y = labels[n];
        var m = logits[row];
        var arg = 0u;
        for (var j = 1u; j < p.k; j++) {
            let v = logits[row + j];
            if v > m {
                m = v;
                arg = j;
            }
        }
        var se = 0.0;
        for (var j = 0u; j < p.k; j++) {
            se += exp(logits[row + j] - m);
        }
        let loss = m + log(se) - logits[row + y];
        let correct = select(0.0, 1.0, arg == y);
        per_sample[2u * n] = loss;
        per_sample[2u * n + 1u] = correct;
        if (p.flags & 1u) != 0u {
            for (var j = 0u; j < p.k; j++) {
                let sm = exp(logits[row + j] - m) / se;
                dlogits[row + j] = (sm - select(0.0, 1.0, j == y)) * p.grad_scale;
            }
        }
    }
}

@group(0) @binding(1) var<storage, read_write> m_metrics: array<f32>;
@group(0) @binding(2) var<storage, read> m_per_sample: array<f32>;

@compute @workgroup_size(WG)
fn xent_mean(@builtin(local_invocation_index) t: u32) {
    var my_loss = 0.0;
    var my_correct = 0.0;
    for (var n = t; n < p.n; n += WG) {
        my_loss += m_per_sample[2u * n];
        my_correct += m_per_sample[2u * n + 1u];
    }
    let total = workgroup_sum2(t, my_loss, my_correct);
    if t == 0u {
        m_metrics[0] = total.x / f32(p.n);
        m_metrics[1] = total.y;
    }
}
