// Batch norm backward (training mode), per channel c over M = N·H·W values.
// The incoming gradient dout is taken with respect to the forward output
// out = relu?(xhat·gamma + beta + res?); with flags & 1 it is masked by out > 0
// first: g = dout·[out > 0]. Then
//   dbeta = Σ g,  dgamma = Σ g·xhat,
//   dx = gamma·invstd·(g − dbeta/M − xhat·dgamma/M) = a·g + k·(x − mean) + b
//        with per-channel a, k, b (bcoef holds a, k, b, mean, dgamma, dbeta),
//   dres = g (the residual branch's gradient; added to dres when flags & 4).
//
// Passes and bindings:
//   bn_backward_mean     1 partials [C·S·2 + C]  2 saved [2, C]
//       copies each channel's mean to partials[C·S·2 + c], where the next pass
//       reads it (saved itself would be its fifth storage buffer).
//   bn_backward_partial  1 partials  2 dout  3 out  4 x
//       grid (C, S): Σ g and Σ g·(x − mean) over the samples of chunk s in
//       channel c, in LANES lanes.
//   bn_backward_finalize 1 bcoef [6, C]  2 partials  3 saved  4 gamma
//       one invocation per channel.
//   bn_backward_grads    1 dgamma [C]  2 dbeta [C]  3 bcoef
// Where a stage has the buffers, fewer passes with the same arithmetic:
//   bn_backward_partial_saved  1 partials  2 dout  3 out  4 x  5 saved
//       bn_backward_partial reading the mean from saved (no bn_backward_mean);
//   bn_backward_finalize_grads 1 bcoef  2 dgamma  3 dbeta  4 partials  5 saved
//                              6 gamma
//       finalize and grads in one pass (bcoef's dgamma and dbeta rows unwritten).
//   bn_backward_apply    1 dx [N, C, H, W]  2 dres  3 dout  4 out  5 x  6 bcoef
//       dres written when flags & 2. One invocation per 4 values of a plane, as
//       bn_apply.
//   bn_backward_partial4_tail  1 partials [C·S·2 + 3C]  2 dout  3 out  4 x
//                              5 saved  6 gamma
//       bn_backward_partial_saved also copying mean, invstd and gamma to the
//       partials' tail, for
//   bn_backward_finalize_apply_pad4  1 dgamma + dbeta  2 dx  3 dres  4 dout
//                                    5 out  6 x  7 dxp  8 partials
//       bn_backward_finalize_grads and bn_backward_apply_pad4 in one pass.
//   bn_backward_apply_pad4_one  bindings 1-7 of the pass above, 8 saved +
//                               coef (the forward's, whose scale is gamma·invstd)
//       bn_backward_partial4_tail_w8 over one chunk and the pass above in
//       one, a workgroup of 8 per channel (grid (C, 1, 1)): for CPU adapters
//       (BnSums::OnePass). With flags & 8 (NO_COPY) no dxp, as
//       bn_stats_apply_pad4_one. With flags & 32 (MASK_FROM_X, and 1) the
//       forward added no residual: the mask is x·scale + shift > 0, from x
//       and coef, and out (5) is not read.
//   bn_backward_apply_pad4  1 dx  2 dres  3 dout  4 out  5 x  6 bcoef
//                           7 dxp [N, C, hp, pitch]
//       bn_backward_apply (planes of a multiple of 4 values) also writing dx
//       zero-padded for the backward-data pass that reads it, as bn_apply_pad4.
// Where a stage allows fewer than 6 storage buffers, the apply is two passes:
//   bn_backward_gate     1 g [N, C, H, W] (dx's buffer)  2 dres  3 dout  4 out
//       g, and dres as bn_backward_apply writes it;
//   bn_backward_apply_gated  1 dx (holding g)  2 x  3 bcoef
//       dx = a·g + k·(x − mean) + b in place.

#import bn
#import sum2
#import bn_backward4

const WG: u32 = 128u;
const LANES: u32 = 256u;

// ---- bn_backward_mean ----
@group(0) @binding(1) var<storage, read_write> c_partials: array<f32>;
@group(0) @binding(2) var<storage, read> c_saved: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_mean(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    c_partials[p.c * p.chunks * 2u + c] = c_saved[c];
}

// ---- bn_backward_partial ----
@group(0) @binding(1) var<storage, read_write> r_partials: array<f32>;
@group(0) @binding(2) var<storage, read> r_dout: array<f32>;
@group(0) @binding(3) var<storage, read> r_out: array<f32>;
@group(0) @binding(4) var<storage, read> r_x: array<f32>;

@compute @workgroup_size(WG)
fn bn_backward_partial(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_index) t: u32) {
    partial_sums(wid.x, wid.y, t, WG, r_partials[p.c * p.chunks * 2u + wid.x]);
}

// bn_backward_partial in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_backward_partial_w8(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(local_invocation_index) t: u32) {
    partial_sums(wid.x, wid.y, t, NARROW, r_partials[p.c * p.chunks * 2u + wid.x]);
}

// bn_backward_partial reading the mean from saved (binding 5) where a stage
// has 5 storage buffers, so bn_backward_mean need not run.
@group(0) @binding(5) var<storage, read> r_saved: array<f32>;

@compute @workgroup_size(WG)
fn bn_backward_partial_saved(@builtin(workgroup_id) wid: vec3<u32>,
                             @builtin(local_invocation_index) t: u32) {
    partial_sums(wid.x, wid.y, t, WG, r_saved[wid.x]);
}

// bn_backward_partial_saved in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_backward_partial_saved_w8(@builtin(workgroup_id) wid: vec3<u32>,
                               @builtin(local_invocation_index) t: u32) {
    partial_sums(wid.x, wid.y, t, NARROW, r_saved[wid.x]);
}

// Lane `lane` of chunk s of channel c: its share of Σ g and Σ g·(x − mean).
fn back_lane(c: u32, s: u32, lane: u32, mean: f32) -> vec2<f32> {
    let relu = (p.flags & RELU) != 0u;
    var la = 0.0;
    var lb = 0.0;
    var it = chunk_start(s, lane, p.hw);
    for (var j = it.j; j < it.end; j += RUN) {
        let i = (it.n * p.c + c) * p.hw + it.k;
        it = advance(it);
        var g = r_dout[i];
        if relu && r_out[i] <= 0.0 {
            g = 0.0;
        }
        la += g;
        lb += g * (r_x[i] - mean);
    }
    return vec2<f32>(la, lb);
}

// Σ g and Σ g·(x − mean) over chunk s of channel c, into the partials, by a
// workgroup of wg invocations.
fn partial_sums(c: u32, s: u32, t: u32, wg: u32, mean: f32) {
    var v: Leaves;
    for (var i = 0u; i < LANES / wg; i++) {
        v[i] = back_lane(c, s, t + wg * i, mean);
    }
    let total = leaves_sum2(t, wg, &v);
    if t == 0u {
        r_partials[(c * p.chunks + s) * 2u] = total.x;
        r_partials[(c * p.chunks + s) * 2u + 1u] = total.y;
    }
}

// ---- bn_backward_finalize ----
@group(0) @binding(1) var<storage, read_write> f_bcoef: array<f32>;
@group(0) @binding(2) var<storage, read> f_partials: array<f32>;
@group(0) @binding(3) var<storage, read> f_saved: array<f32>;
@group(0) @binding(4) var<storage, read> f_gamma: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    var sg = 0.0;
    var sgx = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        sg += f_partials[(c * p.chunks + s) * 2u];
        sgx += f_partials[(c * p.chunks + s) * 2u + 1u];
    }
    let k = back_coef(sg, sgx, f_saved[c], f_saved[p.c + c], f_gamma[c]);
    f_bcoef[c] = k.a;
    f_bcoef[p.c + c] = k.k;
    f_bcoef[2u * p.c + c] = k.b;
    f_bcoef[3u * p.c + c] = k.mean;
    f_bcoef[4u * p.c + c] = k.dgamma;
    f_bcoef[5u * p.c + c] = k.dbeta;
}

// ---- bn_backward_finalize_grads: finalize and grads in one pass (6 buffers) ----
@group(0) @binding(1) var<storage, read_write> fg_bcoef: array<f32>;
@group(0) @binding(2) var<storage, read_write> fg_dgamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> fg_dbeta: array<f32>;
@group(0) @binding(4) var<storage, read> fg_partials: array<f32>;
@group(0) @binding(5) var<storage, read> fg_saved: array<f32>;
@group(0) @binding(6) var<storage, read> fg_gamma: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_finalize_grads(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    var sg = 0.0;
    var sgx = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        sg += fg_partials[(c * p.chunks + s) * 2u];
        sgx += fg_partials[(c * p.chunks + s) * 2u + 1u];
    }
    let k = back_coef(sg, sgx, fg_saved[c], fg_saved[p.c + c], fg_gamma[c]);
    fg_bcoef[c] = k.a;
    fg_bcoef[p.c + c] = k.k;
    fg_bcoef[2u * p.c + c] = k.b;
    fg_bcoef[3u * p.c + c] = k.mean;
    fg_dgamma[c] = k.dgamma;
    fg_dbeta[c] = k.dbeta;
}

// ---- bn_backward_grads ----
@group(0) @binding(1) var<storage, read_write> w_dgamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> w_dbeta: array<f32>;
@group(0) @binding(3) var<storage, read> w_bcoef: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_grads(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    w_dgamma[c] = w_bcoef[4u * p.c + c];
    w_dbeta[c] = w_bcoef[5u * p.c + c];
}

// ---- bn_backward_apply ----
@group(0) @binding(1) var<storage, read_write> d_dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_dres: array<f32>;
@group(0) @binding(3) var<storage, read> d_dout: array<f32>;
@group(0) @binding(4) var<storage, read> d_out: array<f32>;
@group(0) @binding(5) var<storage, read> d_x: array<f32>;
@group(0) @binding(6) var<storage, read> d_bcoef: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_apply(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = quad(gid, wid, nwg);
    let a = d_bcoef[q.c];
    let k = d_bcoef[p.c + q.c];
    let b = d_bcoef[2u * p.c + q.c];
    let mean = d_bcoef[3u * p.c + q.c];
    let relu = (p.flags & RELU) != 0u;
    let write_dres = (p.flags & WRITE_DRES) != 0u;
    let accumulate = (p.flags & ACCUMULATE_DRES) != 0u;
    for (var e = 0u; e < q.count; e++) {
        let i = q.base + e;
        var g = d_dout[i];
        if relu && d_out[i] <= 0.0 {
            g = 0.0;
        }
        d_dx[i] = a * g + k * (d_x[i] - mean) + b;
        if write_dres {
            var r = g;
            if accumulate {
                r += d_dres[i];
            }
            d_dres[i] = r;
        }
    }
}

// ---- vec4 variants, for planes of a multiple of 4 values (hw % 4 == 0) ----

@group(0) @binding(1) var<storage, read_write> r_partials4: array<f32>;
@group(0) @binding(2) var<storage, read> r_dout4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> r_out4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> r_x4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn bn_backward_partial4(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(local_invocation_index) t: u32) {
    partial_sums4(wid.x, wid.y, t, WG, r_partials4[p.c * p.chunks * 2u + wid.x]);
}

// bn_backward_partial4 in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_backward_partial4_w8(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(local_invocation_index) t: u32) {
    partial_sums4(wid.x, wid.y, t, NARROW, r_partials4[p.c * p.chunks * 2u + wid.x]);
}

@compute @workgroup_size(WG)
fn bn_backward_partial4_saved(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(local_invocation_index) t: u32) {
    partial_sums4(wid.x, wid.y, t, WG, r_saved[wid.x]);
}

// bn_backward_partial4_saved in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_backward_partial4_saved_w8(@builtin(workgroup_id) wid: vec3<u32>,
                                @builtin(local_invocation_index) t: u32) {
    partial_sums4(wid.x, wid.y, t, NARROW, r_saved[wid.x]);
}

// bn_backward_partial4_saved that also copies each channel's mean, invstd and
// gamma to the partials' tail [C·S·2 .. C·S·2 + 3C), where
// bn_backward_finalize_apply_pad4 reads them (6 storage buffers).
@group(0) @binding(6) var<storage, read> r_gamma: array<f32>;

@compute @workgroup_size(WG)
fn bn_backward_partial4_tail(@builtin(workgroup_id) wid: vec3<u32>,
                             @builtin(local_invocation_index) t: u32) {
    partial4_tail(wid.x, wid.y, t, WG);
}

// bn_backward_partial4_tail in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_backward_partial4_tail_w8(@builtin(workgroup_id) wid: vec3<u32>,
                               @builtin(local_invocation_index) t: u32) {
    partial4_tail(wid.x, wid.y, t, NARROW);
}

fn sums_dout(i: u32) -> vec4<f32> {
    return r_dout4[i];
}

fn sums_out(i: u32) -> vec4<f32> {
    return r_out4[i];
}

fn sums_x(i: u32) -> vec4<f32> {
    return r_x4[i];
}

@group(0) @binding(1) var<storage, read_write> d_dx4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> d_dres4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> d_dout4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> d_out4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> d_x4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> d_bcoef4: array<f32>;

// dx at vec4 i of channel c; writes dres there when asked.
fn backward4(i: u32, c: u32) -> vec4<f32> {
    var g = d_dout4[i];
    if (p.flags & RELU) != 0u {
        g = select(vec4<f32>(0.0), g, d_out4[i] > vec4<f32>(0.0));
    }
    if (p.flags & WRITE_DRES) != 0u {
        var r = g;
        if (p.flags & ACCUMULATE_DRES) != 0u {
            r += d_dres4[i];
        }
        d_dres4[i] = r;
    }
    return dx4(g, d_x4[i], d_bcoef4[c], d_bcoef4[p.c + c], d_bcoef4[2u * p.c + c], d_bcoef4[3u * p.c + c]);
}

@compute @workgroup_size(64)
fn bn_backward_apply4(@builtin(global_invocation_id) gid: vec3<u32>,
                      @builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
    let q4 = quad4(gid, wid, nwg);
    if !q4.valid {
        return;
    }
    d_dx4[q4.i] = backward4(q4.i, q4.c);
}

// bn_backward_apply4 writing, besides dx, its zero-padded copy for the
// backward-data pass of the convolution before (see pad_row).
@group(0) @binding(7) var<storage, read_write> d_dxp4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn bn_backward_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
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
            cur = backward4(i, row.c);
            d_dx4[i] = cur;
        }
        d_dxp4[row.out + q] = padded4(prev, cur);
        prev = cur;
    }
}

// ---- the apply in two passes, for stages of fewer than 6 storage buffers ----

@group(0) @binding(1) var<storage, read_write> q_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> q_dres: array<f32>;
@group(0) @binding(3) var<storage, read> q_dout: array<f32>;
@group(0) @binding(4) var<storage, read> q_out: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_gate(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = quad(gid, wid, nwg);
    let relu = (p.flags & RELU) != 0u;
    let write_dres = (p.flags & WRITE_DRES) != 0u;
    let accumulate = (p.flags & ACCUMULATE_DRES) != 0u;
    for (var e = 0u; e < q.count; e++) {
        let i = q.base + e;
        var g = q_dout[i];
        if relu && q_out[i] <= 0.0 {
            g = 0.0;
        }
        q_g[i] = g;
        if write_dres {
            var r = g;
            if accumulate {
                r += q_dres[i];
            }
            q_dres[i] = r;
        }
    }
}

@group(0) @binding(1) var<storage, read_write> h_dx: array<f32>;
@group(0) @binding(2) var<storage, read> h_x: array<f32>;
@group(0) @binding(3) var<storage, read> h_bcoef: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_apply_gated(@builtin(global_invocation_id) gid: vec3<u32>,
                           @builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = quad(gid, wid, nwg);
    let a = h_bcoef[q.c];
    let k = h_bcoef[p.c + q.c];
    let b = h_bcoef[2u * p.c + q.c];
    let mean = h_bcoef[3u * p.c + q.c];
    for (var e = 0u; e < q.count; e++) {
        let i = q.base + e;
        h_dx[i] = a * h_dx[i] + k * (h_x[i] - mean) + b;
    }
}

@group(0) @binding(1) var<storage, read_write> q_g4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> q_dres4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> q_dout4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> q_out4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn bn_backward_gate4(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
    let q4 = quad4(gid, wid, nwg);
    if !q4.valid {
        return;
    }
    let i = q4.i;
    var g = q_dout4[i];
    if (p.flags & RELU) != 0u {
        g = select(vec4<f32>(0.0), g, q_out4[i] > vec4<f32>(0.0));
    }
    q_g4[i] = g;
    if (p.flags & WRITE_DRES) != 0u {
        var r = g;
        if (p.flags & ACCUMULATE_DRES) != 0u {
            r += q_dres4[i];
        }
        q_dres4[i] = r;
    }
}

@group(0) @binding(1) var<storage, read_write> h_dx4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> h_x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> h_bcoef4: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_apply_gated4(@builtin(global_invocation_id) gid: vec3<u32>,
                            @builtin(workgroup_id) wid: vec3<u32>,
                            @builtin(num_workgroups) nwg: vec3<u32>) {
    let q4 = quad4(gid, wid, nwg);
    if !q4.valid {
        return;
    }
    let c = q4.c;
    let i = q4.i;
    let a = h_bcoef4[c];
    let k = h_bcoef4[p.c + c];
    let b = h_bcoef4[2u * p.c + c];
    let mean = h_bcoef4[3u * p.c + c];
    h_dx4[i] = a * h_dx4[i] + k * (h_x4[i] - vec4<f32>(mean)) + vec4<f32>(b);
}

// bn_backward_finalize_grads and bn_backward_apply_pad4 in one pass, after
// bn_backward_partial4_tail (shared/bn_backward4.wgsl). 8 storage buffers,
// WebGPU's default.
@group(0) @binding(1) var<storage, read_write> y_dgb: array<f32>;
@group(0) @binding(2) var<storage, read_write> y_dx4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y_dres4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> y_dout4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> y_out4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> y_x4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> y_dxp4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> y_partials: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_finalize_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                                   @builtin(num_workgroups) nwg: vec3<u32>) {
    finalize_apply_pad4(gid, nwg);
}

fn apply_dout(i: u32) -> vec4<f32> {
    return y_dout4[i];
}

fn apply_out(i: u32) -> vec4<f32> {
    return y_out4[i];
}

fn apply_x(i: u32) -> vec4<f32> {
    return y_x4[i];
}

fn apply_partial(i: u32) -> f32 {
    return y_partials[i];
}

// bn_backward_partial4_tail_w8 and bn_backward_finalize_apply_pad4 in one
// pass where a channel is summed in one chunk: a workgroup of NARROW per
// channel sums it, then writes its rows (shared/bn_backward4.wgsl,
// backward_one4). Bindings 1-7 of bn_backward_finalize_apply_pad4, then the
// saved statistics and the forward's coefficients (coef at coef_at), whose
// scale is gamma·invstd: 8 storage buffers. As few workgroups as channels:
// for CPU adapters (BnSums::OnePass).
@group(0) @binding(8) var<storage, read> y_stats: array<f32>;

@compute @workgroup_size(NARROW)
fn bn_backward_apply_pad4_one(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(local_invocation_index) t: u32) {
    backward_one4(wid.x, t);
}

fn apply_stats(i: u32) -> f32 {
    return y_stats[i];
}
