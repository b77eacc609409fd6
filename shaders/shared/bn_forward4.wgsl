// The batch-norm forward's fused passes over vec4s (planes of a multiple of
// 4 values) with their reads of x and the residual left to the importer, so
// that batchnorm_forward.wgsl (storage buffers) and
// batchnorm_forward_texel.wgsl (texels) run the same arithmetic: the same
// bits. An importer defines
//   stats_x(i)                 vec4 i of bn_stats_partial4's x (binding 2);
//   apply_x(i), apply_res(i)   vec4 i of bn_stats_apply_pad4's (and
//                              bn_stats_apply_pad4_one's) x and residual
//                              (bindings 5, 6);
//   eval_x(i), eval_res(i)     the same of bn_eval_apply_pad4 (bindings 5, 6);
//   apply_partial(i)           float i of bn_stats_apply_pad4's partials
//                              (binding 8);
// and declares the storage bindings the bodies write and read besides:
// partials4 (bn_stats_partial4's), s_stats, s_running,
// s_gamma_beta, s_y4, s_yp4 (bn_stats_apply_pad4's) and v_coef, v_running,
// v_gamma_beta, v_y4, v_yp4 (bn_eval_apply_pad4's), as
// batchnorm_forward.wgsl lists them.

#import bn
#import sum2
#import nan

const RELU: u32 = 1u;
const RESIDUAL: u32 = 2u;
const UPDATE_RUNNING: u32 = 4u;
// The one-pass kernel without a padded copy: rows of y only (yp unwritten).
const NO_COPY: u32 = 8u;

// (mean, biased variance) of channel c from its chunks' partial sums
// (Σ v − K, Σ (v − K)²) and the shift K.
fn moments(a: f32, b: f32, shift: f32) -> vec2<f32> {
    let m = f32(p.n * p.hw);
    let d = a / m;
    return vec2<f32>(shift + d, max(b / m - d * d, 0.0));
}

// PyTorch's running statistic: old·(1 − momentum) + now·momentum.
fn running(old: f32, now: f32) -> f32 {
    return (1.0 - p.momentum) * old + p.momentum * now;
}

// The unbiased variance the running variance follows.
fn unbiased(var_b: f32) -> f32 {
    let m = f32(p.n * p.hw);
    return var_b * m / max(m - 1.0, 1.0);
}

// A channel's batch statistics and (scale, shift), from its chunks' sums
// (a, b), the shift K, gamma and beta.
struct Finalized {
    mean: f32, var_b: f32, invstd: f32, scale: f32, shift: f32,
}

fn finalize(a: f32, b: f32, k: f32, gamma: f32, beta: f32) -> Finalized {
    let mv = moments(a, b, k);
    let invstd = inverseSqrt(mv.y + p.eps);
    let scale = gamma * invstd;
    return Finalized(mv.x, mv.y, invstd, scale, beta - mv.x * scale);
}

// x·scale + shift (+ res), then ReLU, as the flags say.
fn affine4(x: vec4<f32>, scale: f32, shift: f32, res: vec4<f32>) -> vec4<f32> {
    var v = x * scale + vec4<f32>(shift);
    if (p.flags & RESIDUAL) != 0u {
        v += res;
    }
    if (p.flags & RELU) != 0u {
        v = relu4(v);
    }
    return v;
}

// (Σ a, Σ b) with x's values v − K added: a += Σ (v − K), b += Σ (v − K)².
fn stats_add4(sums: vec2<f32>, x: vec4<f32>, shift: f32) -> vec2<f32> {
    let v = x - vec4<f32>(shift);
    return vec2<f32>(sums.x + (v.x + v.y + v.z + v.w), sums.y + dot(v, v));
}

// Lane `lane` of chunk s of channel c (planes of q vec4s): its share of
// Σ (v − K) and Σ (v − K)².
fn stats_lane4(c: u32, s: u32, lane: u32, q: u32, shift: f32) -> vec2<f32> {
    var sums = vec2<f32>(0.0);
    var it = chunk_start(s, lane, q);
    for (var j = it.j; j < it.end; j += RUN) {
        sums = stats_add4(sums, stats_x((it.n * p.c + c) * q + it.k), shift);
        it = advance(it);
    }
    return sums;
}

// stats_lane4 reading x as apply_x (bn_stats_apply_pad4_one's binding).
fn one_lane4(c: u32, lane: u32, q: u32, shift: f32) -> vec2<f32> {
    var sums = vec2<f32>(0.0);
    var it = chunk_start(0u, lane, q);
    for (var j = it.j; j < it.end; j += RUN) {
        sums = stats_add4(sums, apply_x((it.n * p.c + c) * q + it.k), shift);
        it = advance(it);
    }
    return sums;
}

// bn_stats_partial4's workgroup (c, s) of wg invocations: Σ (v − K) and
// Σ (v − K)² over the samples of chunk s of channel c, in LANES lanes, as
// bn_stats_partial.
fn stats_partial4(c: u32, s: u32, t: u32, wg: u32) {
    let q = p.hw / 4u;
    let shift = stats_x(c * q).x;
    var v: Leaves;
    for (var i = 0u; i < LANES / wg; i++) {
        v[i] = stats_lane4(c, s, t + wg * i, q, shift);
    }
    let total = leaves_sum2(t, wg, &v);
    if t == 0u {
        partials4[(c * p.chunks + s) * 2u] = total.x;
        partials4[(c * p.chunks + s) * 2u + 1u] = total.y;
        if s == 0u {
            partials4[p.c * p.chunks * 2u + c] = shift;
        }
    }
}

// Channel c's statistics f: the saved and running statistics and the
// coefficients, as bn_stats_coef writes them.
fn publish(c: u32, f: Finalized) {
    s_stats[c] = f.mean;
    s_stats[p.c + c] = f.invstd;
    if (p.flags & UPDATE_RUNNING) != 0u {
        s_running[c] = running(s_running[c], f.mean);
        s_running[p.rv_at + c] = running(s_running[p.rv_at + c], unbiased(f.var_b));
    }
    s_stats[p.coef_at + c] = f.scale;
    s_stats[p.coef_at + p.c + c] = f.shift;
}

// Padded row `row` of y (and y itself where the row holds one) from x and
// the residual with scale and shift (none where it is kept: halo_kept).
fn apply_row4(row: PadRow, scale: f32, shift: f32) {
    if halo_kept(row) {
        return;
    }
    let wq = p.w / 4u;
    var prev = vec4<f32>(0.0);
    for (var q = 0u; q < p.pitch / 4u; q++) {
        var cur = vec4<f32>(0.0);
        if row.src >= 0 && q < wq {
            let i = u32(row.src) + q;
            var res = vec4<f32>(0.0);
            if (p.flags & RESIDUAL) != 0u {
                res = apply_res(i);
            }
            cur = affine4(apply_x(i), scale, shift, res);
            s_y4[i] = cur;
        }
        if (p.flags & NO_COPY) == 0u {
            s_yp4[row.out + q] = padded4(prev, cur);
        }
        prev = cur;
    }
}

// bn_stats_apply_pad4's invocation: one padded row of y. It derives its
// channel's scale and shift from the chunks' sums as bn_stats_coef does (the
// same arithmetic), and the first row of each channel's first plane writes
// the saved and running statistics and the coefficients.
fn stats_apply_pad4(gid: vec3<u32>, nwg: vec3<u32>) {
    let row = pad_row(gid, nwg);
    if !row.ok {
        return;
    }
    let c = row.c;
    var a = 0.0;
    var b = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        a += apply_partial((c * p.chunks + s) * 2u);
        b += apply_partial((c * p.chunks + s) * 2u + 1u);
    }
    let f = finalize(a, b, apply_partial(p.c * p.chunks * 2u + c), s_gamma_beta[c], s_gamma_beta[p.beta_at + c]);
    if row.first {
        publish(c, f);
    }
    apply_row4(row, f.scale, f.shift);
}

// The scale and shift bn_stats_apply_pad4_one's workgroup applies.
var<workgroup> one_coef: vec2<f32>;

// bn_stats_apply_pad4_one's workgroup of NARROW invocations: all of channel c
// (one chunk of every sample: p.chunks 1, p.chunk_len N). Its sums as
// bn_stats_partial4_w8's for that chunk, invocation 0 finalizing them as
// bn_stats_apply_pad4 does (the same bits as those two passes where they
// sum a channel in one chunk), then the channel's padded rows in turn.
fn stats_apply_one4(c: u32, t: u32) {
    let q = p.hw / 4u;
    let shift = apply_x(c * q).x;
    var v: Leaves;
    for (var i = 0u; i < LANES / NARROW; i++) {
        v[i] = one_lane4(c, t + NARROW * i, q, shift);
    }
    let total = leaves_sum2(t, NARROW, &v);
    if t == 0u {
        // Added to 0 as bn_stats_apply_pad4 adds its chunks: the same bits.
        var a = 0.0;
        var b = 0.0;
        a += total.x;
        b += total.y;
        let f = finalize(a, b, shift, s_gamma_beta[c], s_gamma_beta[p.beta_at + c]);
        publish(c, f);
        one_coef = vec2<f32>(f.scale, f.shift);
    }
    let k = workgroupUniformLoad(&one_coef);
    let rows = walk_rows();
    var w = row_walk(t, rows);
    for (var r = t; r < p.n * rows; r += NARROW) {
        apply_row4(walk_row(c, w), k.x, k.y);
        w = row_step(w);
    }
}

// bn_eval_apply_pad4's invocation: one padded row of y, with the channel's
// scale and shift from the running statistics as bn_eval_stats and bn_coef
// make them; the first row of each channel's first plane writes coef.
fn eval_apply_pad4(gid: vec3<u32>, nwg: vec3<u32>) {
    let row = pad_row(gid, nwg);
    if !row.ok {
        return;
    }
    let c = row.c;
    let mean = v_running[c];
    let invstd = inverseSqrt(v_running[p.rv_at + c] + p.eps);
    let scale = v_gamma_beta[c] * invstd;
    let shift = v_gamma_beta[p.beta_at + c] - mean * scale;
    if row.first {
        v_coef[c] = scale;
        v_coef[p.c + c] = shift;
    }
    if halo_kept(row) {
        return;
    }
    let wq = p.w / 4u;
    var prev = vec4<f32>(0.0);
    for (var q = 0u; q < p.pitch / 4u; q++) {
        var cur = vec4<f32>(0.0);
        if row.src >= 0 && q < wq {
            let i = u32(row.src) + q;
            var res = vec4<f32>(0.0);
            if (p.flags & RESIDUAL) != 0u {
                res = eval_res(i);
            }
            cur = affine4(eval_x(i), scale, shift, res);
            v_y4[i] = cur;
        }
        v_yp4[row.out + q] = padded4(prev, cur);
        prev = cur;
    }
}
