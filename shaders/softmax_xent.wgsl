// Softmax cross-entropy with the mean over the batch, its gradient and accuracy,
// in one workgroup (the batch is small next to everything else in a step).
//
//   softmax_xent  1 dlogits [N, K]  2 per_sample [N, 2] (loss, correct)
//                 3 metrics [2] (mean loss, number correct)  4 logits [N, K]  5 labels [N] u32
// Per sample: loss = logsumexp(l) − l[y]; dlogits = (softmax(l) − onehot(y))·grad_scale
// (grad_scale = 1/N for the mean; dlogits is written when flags & 1); correct when
// the first maximum of l is at y. One workgroup of 256; invocation t takes samples
// t, t + 256, …, then the workgroup sums loss and correct.

struct XentParams {
    n: u32, k: u32, flags: u32, grad_scale: f32,
}

@group(0) @binding(0) var<uniform> p: XentParams;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(2) var<storage, read_write> per_sample: array<f32>;
@group(0) @binding(3) var<storage, read_write> metrics: array<f32>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;

const WG: u32 = 256u;

#import sum2

@compute @workgroup_size(WG)
fn softmax_xent(@builtin(local_invocation_index) t: u32) {
    var my_loss = 0.0;
    var my_correct = 0.0;
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
        my_loss += loss;
        my_correct += correct;
        if (p.flags & 1u) != 0u {
            for (var j = 0u; j < p.k; j++) {
                let sm = exp(logits[row + j] - m) / se;
                dlogits[row + j] = (sm - select(0.0, 1.0, j == y)) * p.grad_scale;
            }
        }
    }
    let total = workgroup_sum2(t, my_loss, my_correct);
    if t == 0u {
        metrics[0] = total.x / f32(p.n);
        metrics[1] = total.y;
    }
}
