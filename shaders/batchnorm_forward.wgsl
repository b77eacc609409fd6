// Batch norm forward over NCHW, per channel c (M = N·H·W values each):
//   train: mean, biased var over the batch; running stats updated with the
//          unbiased var (PyTorch: momentum, eps); y = relu?(xhat·gamma + beta + res?)
//   eval:  the same apply with running_mean / running_var.
//
// Passes (entry points) and their bindings (at most 4 storage buffers each, the
// downlevel guarantee, but bn_stats_coef):
//   bn_stats_partial  1 partials [C·S·2 + C]  2 x [N, C, H, W]
//       grid (C, S); workgroup (c, s) sums (v - K) and (v - K)² over the samples of
//       chunk s (chunk_len samples each) in channel c, in LANES lanes, where the shift
//       K = x[0, c, 0, 0] keeps the one-pass variance exact enough (no
//       cancellation when the mean is far from zero); K goes to partials[C·S·2 + c].
//   bn_stats_finalize 1 stats [2, C] (mean, invstd)  2 running_mean [C]
//                     3 running_var [C]  4 partials
//       one invocation per channel; running stats updated when flags & 4.
//   bn_eval_stats     1 stats [2, C]  2 running_mean  3 running_var
//       the same statistics from the running ones (eval mode).
//   bn_coef           1 coef [2, C] (scale, shift)  2 stats  3 gamma  4 beta
//       one invocation per channel.
//   bn_stats_coef     1 stats  2 running_mean  3 running_var  4 coef  5 partials
//                     6 gamma  7 beta
//       bn_stats_finalize then bn_coef in one pass, where a stage has 7 storage
//       buffers (the same arithmetic, the same bits).
//   bn_apply          1 y [N, C, H, W]  2 x  3 coef [2, C]  4 residual [N, C, H, W]
//       y = x·scale + shift (+ residual when flags & 2), then ReLU when flags & 1.
//       One invocation per 4 values of a plane, 64 per workgroup; grid x over a
//       plane's values, y (and z) over the N·C planes.
//   bn_stats_apply_pad4  1 saved + coef  2 running_mean + running_var
//                        3 gamma + beta  4 y  5 x  6 residual  7 yp  8 partials
//       bn_stats_coef and bn_apply_pad4 in one pass (see the pass).
//   bn_stats_apply_pad4_one  bindings 1-7 of bn_stats_apply_pad4
//       bn_stats_partial4_w8 and bn_stats_apply_pad4 in one pass, a workgroup
//       of 8 per channel (grid (C, 1, 1)): for CPU adapters (BnSums::OnePass).
//       With flags & 8 (NO_COPY) no yp: each plane one row of y (w = hw,
//       hp = 1, pitch = hw, no offset), binding 7 unwritten.
//   bn_eval_apply_pad4   1 coef  2 running_mean + running_var  3 gamma + beta
//                        4 y  5 x  6 residual  7 yp
//       bn_eval_stats, bn_coef and bn_apply_pad4 in one pass.
//   bn_apply_pad4     1 y  2 x  3 coef  4 residual  5 yp [N, C, hp, pitch]
//       bn_apply (planes of a multiple of 4 values) also writing yp, y
//       zero-padded for the convolution that reads it (conv2d_pad's layout,
//       offset (pad_oy, pad_ox ≤ 1), no dilation): a pass fewer. One
//       invocation per row of yp, grid folded over (x, y).

#import bn
#import sum2
#import nan
#import bn_forward4

const WG: u32 = 128u;
const LANES: u32 = 256u;

@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read> px: array<f32>;

@compute @workgroup_size(WG)
fn bn_stats_partial(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(local_invocation_index) t: u32) {
    stats_partial(wid.x, wid.y, t, WG);
}

// bn_stats_partial in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_stats_partial_w8(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) t: u32) {
    stats_partial(wid.x, wid.y, t, NARROW);
}

// Lane `lane` of chunk s of channel c: its share of Σ (v − K) and Σ (v − K)².
fn stats_lane(c: u32, s: u32, lane: u32, shift: f32) -> vec2<f32> {
    var la = 0.0;
    var lb = 0.0;
    var it = chunk_start(s, lane, p.hw);
    for (var j = it.j; j < it.end; j += RUN) {
        let v = px[(it.n * p.c + c) * p.hw + it.k] - shift;
        la += v;
        lb += v * v;
        it = advance(it);
    }
    return vec2<f32>(la, lb);
}

// bn_stats_partial's workgroup (c, s) of wg invocations.
fn stats_partial(c: u32, s: u32, t: u32, wg: u32) {
    let shift = px[c * p.hw];
    var v: Leaves;
    for (var i = 0u; i < LANES / wg; i++) {
        v[i] = stats_lane(c, s, t + wg * i, shift);
    }
    let total = leaves_sum2(t, wg, &v);
    if t == 0u {
        partials[(c * p.chunks + s) * 2u] = total.x;
        partials[(c * p.chunks + s) * 2u + 1u] = total.y;
        if s == 0u {
            partials[p.c * p.chunks * 2u + c] = shift;
        }
    }
}

// ---- bn_stats_finalize ----
@group(0) @binding(1) var<storage, read_write> f_stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> f_running_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_running_var: array<f32>;
@group(0) @binding(4) var<storage, read> f_partials: array<f32>;

@compute @workgroup_size(64)
fn bn_stats_finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    var a = 0.0;
    var b = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        a += f_partials[(c * p.chunks + s) * 2u];
        b += f_partials[(c * p.chunks + s) * 2u + 1u];
    }
    let mv = moments(a, b, f_partials[p.c * p.chunks * 2u + c]);
    f_stats[c] = mv.x;
    f_stats[p.c + c] = inverseSqrt(mv.y + p.eps);
    if (p.flags & UPDATE_RUNNING) != 0u {
        f_running_mean[c] = running(f_running_mean[c], mv.x);
        f_running_var[c] = running(f_running_var[c], unbiased(mv.y));
    }
}

// ---- bn_stats_coef: bn_stats_finalize and bn_coef in one pass (7 buffers) ----
@group(0) @binding(1) var<storage, read_write> fc_stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> fc_running_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> fc_running_var: array<f32>;
@group(0) @binding(4) var<storage, read_write> fc_coef: array<f32>;
@group(0) @binding(5) var<storage, read> fc_partials: array<f32>;
@group(0) @binding(6) var<storage, read> fc_gamma: array<f32>;
@group(0) @binding(7) var<storage, read> fc_beta: array<f32>;

@compute @workgroup_size(64)
fn bn_stats_coef(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    var a = 0.0;
    var b = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        a += fc_partials[(c * p.chunks + s) * 2u];
        b += fc_partials[(c * p.chunks + s) * 2u + 1u];
    }
    let f = finalize(a, b, fc_partials[p.c * p.chunks * 2u + c], fc_gamma[c], fc_beta[c]);
    fc_stats[c] = f.mean;
    fc_stats[p.c + c] = f.invstd;
    if (p.flags & UPDATE_RUNNING) != 0u {
        fc_running_mean[c] = running(fc_running_mean[c], f.mean);
        fc_running_var[c] = running(fc_running_var[c], unbiased(f.var_b));
    }
    fc_coef[c] = f.scale;
    fc_coef[p.c + c] = f.shift;
}

// ---- bn_eval_stats ----
@group(0) @binding(1) var<storage, read_write> e_stats: array<f32>;
@group(0) @binding(2) var<storage, read> e_running_mean: array<f32>;
@group(0) @binding(3) var<storage, read> e_running_var: array<f32>;

@compute @workgroup_size(64)
fn bn_eval_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    e_stats[c] = e_running_mean[c];
    e_stats[p.c + c] = inverseSqrt(e_running_var[c] + p.eps);
}

// ---- bn_coef ----
@group(0) @binding(1) var<storage, read_write> k_coef: array<f32>;
@group(0) @binding(2) var<storage, read> k_stats: array<f32>;
@group(0) @binding(3) var<storage, read> k_gamma: array<f32>;
@group(0) @binding(4) var<storage, read> k_beta: array<f32>;

@compute @workgroup_size(64)
fn bn_coef(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    let scale = k_gamma[c] * k_stats[p.c + c];
    k_coef[c] = scale;
    k_coef[p.c + c] = k_beta[c] - k_stats[c] * scale;
}

// ---- bn_apply ----
@group(0) @binding(1) var<storage, read_write> a_y: array<f32>;
@group(0) @binding(2) var<storage, read> a_x: array<f32>;
@group(0) @binding(3) var<storage, read> a_coef: array<f32>;
@group(0) @binding(4) var<storage, read> a_residual: array<f32>;

@compute @workgroup_size(64)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = quad(gid, wid, nwg);
    let scale = a_coef[q.c];
    let shift = a_coef[p.c + q.c];
    let residual = (p.flags & RESIDUAL) != 0u;
    let apply_relu = (p.flags & RELU) != 0u;
    for (var e = 0u; e < q.count; e++) {
        let i = q.base + e;
        var v = a_x[i] * scale + shift;
        if residual {
            v += a_residual[i];
        }
        if apply_relu {
            v = relu(v);
        }
        a_y[i] = v;
    }
}

// ---- vec4 variants, for planes of a multiple of 4 values (hw % 4 == 0) ----
// The same passes reading and writing four values at a time; hw is counted in
// values, q indexes vec4s. Dispatch as the scalar passes, with grid x over the
// quads of a plane in groups of 64.

@group(0) @binding(1) var<storage, read_write> partials4: array<f32>;
@group(0) @binding(2) var<storage, read> px4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn bn_stats_partial4(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(local_invocation_index) t: u32) {
    stats_partial4(wid.x, wid.y, t, WG);
}

// bn_stats_partial4 in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_stats_partial4_w8(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_index) t: u32) {
    stats_partial4(wid.x, wid.y, t, NARROW);
}

fn stats_x(i: u32) -> vec4<f32> {
    return px4[i];
}

@group(0) @binding(1) var<storage, read_write> a_y4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> a_x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> a_coef4: array<f32>;
@group(0) @binding(4) var<storage, read> a_residual4: array<vec4<f32>>;

// The output's vec4 i, of channel c.
fn applied4(i: u32, c: u32) -> vec4<f32> {
    var res = vec4<f32>(0.0);
    if (p.flags & RESIDUAL) != 0u {
        res = a_residual4[i];
    }
    return affine4(a_x4[i], a_coef4[c], a_coef4[p.c + c], res);
}

@compute @workgroup_size(64)
fn bn_apply4(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let q4 = quad4(gid, wid, nwg);
    if !q4.valid {
        return;
    }
    a_y4[q4.i] = applied4(q4.i, q4.c);
}

// bn_apply4 writing, besides y, its zero-padded copy for the convolution that
// reads it (see pad_row): one invocation per padded row.
@group(0) @binding(5) var<storage, read_write> a_yp4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn bn_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = pad_row(gid, nwg);
    if !row.ok {
        return;
    }
    let wq = p.w / 4u;
    var prev = vec4<f32>(0.0);
    for (var q = 0u; q < p.pitch / 4u; q++) {
        var cur = vec4<f32>(0.0);
        if row.src >= 0 && q < wq {
            let i = u32(row.src) + q;
            cur = applied4(i, row.c);
            a_y4[i] = cur;
        }
        a_yp4[row.out + q] = padded4(prev, cur);
        prev = cur;
    }
}

// The padded rows of the fused apply passes: y and its padded copy from x
// (and the residual) with the channel's scale and shift, as bn_apply_pad4.
// One per pass below, each over its own bindings.

// bn_stats_coef and bn_apply_pad4 in one pass (its body is
// shared/bn_forward4.wgsl's, which batchnorm_forward_texel.wgsl's twin
// reading texels shares): every invocation derives its channel's scale and
// shift from the chunks' sums as bn_stats_coef does (the same arithmetic),
// and the first row of each channel's first plane writes the saved and
// running statistics and the coefficients. Pairs of small tensors
// come through one binding each (coef at coef_at in s_stats, the running
// variance at rv_at in s_running, beta at beta_at in s_gamma_beta), so the
// pass needs 8 storage buffers, WebGPU's default.
@group(0) @binding(1) var<storage, read_write> s_stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_running: array<f32>;
@group(0) @binding(3) var<storage, read> s_gamma_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> s_y4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> s_x4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> s_residual4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> s_yp4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> s_partials: array<f32>;

@compute @workgroup_size(64)
fn bn_stats_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    stats_apply_pad4(gid, nwg);
}

// bn_stats_partial4_w8 and bn_stats_apply_pad4 in one pass where a channel
// is summed in one chunk: a workgroup of NARROW per channel sums it, then
// writes its rows (shared/bn_forward4.wgsl, stats_apply_one4). Workgroups
// as few as the channels: for CPU adapters, whose threads take a workgroup
// at a time (BnSums::OnePass).
@compute @workgroup_size(NARROW)
fn bn_stats_apply_pad4_one(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(local_invocation_index) t: u32) {
    stats_apply_one4(wid.x, t);
}

fn apply_x(i: u32) -> vec4<f32> {
    return s_x4[i];
}

fn apply_res(i: u32) -> vec4<f32> {
    return s_residual4[i];
}

fn apply_partial(i: u32) -> f32 {
    return s_partials[i];
}

// bn_eval_stats, bn_coef and bn_apply_pad4 in one pass (its body is
// shared/bn_forward4.wgsl's, as bn_stats_apply_pad4's): every invocation
// derives its channel's scale and shift from the running statistics as those
// passes do, and the first row of each channel's first plane writes coef.
// 7 storage buffers (the running variance at rv_at in v_running, beta at
// beta_at in v_gamma_beta).
@group(0) @binding(1) var<storage, read_write> v_coef: array<f32>;
@group(0) @binding(2) var<storage, read> v_running: array<f32>;
@group(0) @binding(3) var<storage, read> v_gamma_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_y4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> v_x4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> v_residual4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> v_yp4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn bn_eval_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
    eval_apply_pad4(gid, nwg);
}

fn eval_x(i: u32) -> vec4<f32> {
    return v_x4[i];
}

fn eval_res(i: u32) -> vec4<f32> {
    return v_residual4[i];
}
