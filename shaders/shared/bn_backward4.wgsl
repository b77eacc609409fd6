// The batch-norm backward passes over vec4s (planes of a multiple of 4
// values) with their reads of dout, out and x left to the importer, so that
// batchnorm_backward.wgsl (storage buffers) and batchnorm_backward_texel.wgsl
// (texels) run the same arithmetic: the same bits. An importer defines
//   sums_dout(i), sums_out(i), sums_x(i)     vec4 i of the sums passes' dout,
//                                            out, x (bindings 2, 3, 4);
//   apply_dout(i), apply_out(i), apply_x(i)  the same of
//                                            bn_backward_finalize_apply_pad4
//                                            and bn_backward_apply_pad4_one
//                                            (bindings 4, 5, 6);
//   apply_partial(i)                         float i of its partials
//                                            (binding 8);
//   apply_stats(i)                           float i of
//                                            bn_backward_apply_pad4_one's
//                                            saved statistics then
//                                            coefficients (binding 8);
// and declares the storage bindings the bodies write and read besides:
// r_partials4, r_saved, r_gamma (the sums passes') and y_dgb, y_dx4,
// y_dres4, y_dxp4 (the apply's), as batchnorm_backward.wgsl lists them.

#import bn
#import sum2

const RELU: u32 = 1u;
const WRITE_DRES: u32 = 2u;
const ACCUMULATE_DRES: u32 = 4u;
// The one-pass kernel without a padded copy: rows of dx only (dxp unwritten).
const NO_COPY: u32 = 8u;
// The one-pass kernel's flag (with RELU): the forward added no residual, so
// ReLU's mask is its input x·scale + shift > 0 (the scale and shift at coef_at
// in the saved statistics), computed again from x instead of read from out.
const MASK_FROM_X: u32 = 32u;

// The per-channel backward coefficients (a, k, b, mean, dgamma, dbeta) from
// the channel's Σ g and Σ g·(x − mean) and its saved (mean, invstd).
// `shift` is the forward's (the one-pass kernel's, for MASK_FROM_X; 0 else).
struct BackCoef {
    a: f32, k: f32, b: f32, mean: f32, dgamma: f32, dbeta: f32, shift: f32,
}

fn back_coef(sg: f32, sgx: f32, mean: f32, invstd: f32, gamma: f32) -> BackCoef {
    return back_coef_scaled(sg, sgx, mean, invstd, gamma * invstd);
}

// back_coef from a = gamma·invstd: the forward's scale, which it computed
// as that same product from the same two floats.
fn back_coef_scaled(sg: f32, sgx: f32, mean: f32, invstd: f32, a: f32) -> BackCoef {
    let dgamma = sgx * invstd;
    let m = f32(p.n * p.hw);
    return BackCoef(a, -a * invstd * dgamma / m, -a * sg / m, mean, dgamma, sg, 0.0);
}

// dx from the masked gradient g and x, with a channel's a, k, b and mean.
fn dx4(g: vec4<f32>, x: vec4<f32>, a: f32, k: f32, b: f32, mean: f32) -> vec4<f32> {
    return a * g + k * (x - vec4<f32>(mean)) + vec4<f32>(b);
}

// (Σ g, Σ g·(x − mean)) with g (dout masked) and x's values added.
fn back_add4(sums: vec2<f32>, g: vec4<f32>, x: vec4<f32>, mean: f32) -> vec2<f32> {
    return vec2<f32>(sums.x + (g.x + g.y + g.z + g.w), sums.y + dot(g, x - vec4<f32>(mean)));
}

// dout masked by out > 0 where the flags ask for ReLU's mask.
fn masked4(dout: vec4<f32>, out: vec4<f32>) -> vec4<f32> {
    return select(vec4<f32>(0.0), dout, out > vec4<f32>(0.0));
}

// The apply's dout at vec4 i, masked as the flags say: by out > 0 (RELU), or
// by x·scale + shift > 0 (and MASK_FROM_X) with x, the input's values there,
// and the forward's scale and shift. That is shared/bn_forward4.wgsl's
// affine4 without a residual: the same expression, the same bits, the same
// mask as out's (a NaN is masked either way), without out's loads.
fn apply_masked4(i: u32, x: vec4<f32>, scale: f32, shift: f32) -> vec4<f32> {
    let g = apply_dout(i);
    if (p.flags & RELU) == 0u {
        return g;
    }
    if (p.flags & MASK_FROM_X) != 0u {
        return masked4(g, x * scale + vec4<f32>(shift));
    }
    return masked4(g, apply_out(i));
}

// Lane `lane` of chunk s of channel c (planes of q vec4s): its share of
// Σ g and Σ g·(x − mean).
fn back_lane4(c: u32, s: u32, lane: u32, q: u32, mean: f32) -> vec2<f32> {
    let relu = (p.flags & RELU) != 0u;
    var sums = vec2<f32>(0.0);
    var it = chunk_start(s, lane, q);
    for (var j = it.j; j < it.end; j += RUN) {
        let i = (it.n * p.c + c) * q + it.k;
        it = advance(it);
        var g = sums_dout(i);
        if relu {
            g = masked4(g, sums_out(i));
        }
        sums = back_add4(sums, g, sums_x(i), mean);
    }
    return sums;
}

// back_lane4 reading dout, out and x as the apply does
// (bn_backward_apply_pad4_one's bindings; scale and shift the forward's).
fn one_back_lane4(c: u32, lane: u32, q: u32, mean: f32, scale: f32, shift: f32) -> vec2<f32> {
    var sums = vec2<f32>(0.0);
    var it = chunk_start(0u, lane, q);
    for (var j = it.j; j < it.end; j += RUN) {
        let i = (it.n * p.c + c) * q + it.k;
        it = advance(it);
        let x = apply_x(i);
        sums = back_add4(sums, apply_masked4(i, x, scale, shift), x, mean);
    }
    return sums;
}

// Σ g and Σ g·(x − mean) over chunk s of channel c, into the partials, by a
// workgroup of wg invocations.
fn partial_sums4(c: u32, s: u32, t: u32, wg: u32, mean: f32) {
    let q = p.hw / 4u;
    var v: Leaves;
    for (var i = 0u; i < LANES / wg; i++) {
        v[i] = back_lane4(c, s, t + wg * i, q, mean);
    }
    let total = leaves_sum2(t, wg, &v);
    if t == 0u {
        r_partials4[(c * p.chunks + s) * 2u] = total.x;
        r_partials4[(c * p.chunks + s) * 2u + 1u] = total.y;
    }
}

// bn_backward_partial4_tail's workgroup (c, s) of wg invocations: the sums,
// and each channel's mean, invstd and gamma copied to the partials' tail
// [C·S·2 .. C·S·2 + 3C), where bn_backward_finalize_apply_pad4 reads them.
fn partial4_tail(c: u32, s: u32, t: u32, wg: u32) {
    partial_sums4(c, s, t, wg, r_saved[c]);
    if s == 0u && t == 0u {
        let tail = p.c * p.chunks * 2u;
        r_partials4[tail + c] = r_saved[c];
        r_partials4[tail + p.c + c] = r_saved[p.c + c];
        r_partials4[tail + 2u * p.c + c] = r_gamma[c];
    }
}

// Padded row `row` of dx (and dx itself, and dres as the flags say, where
// the row holds one) with a channel's coefficients k (none where the row is
// kept: halo_kept).
fn back_row4(row: PadRow, k: BackCoef) {
    if halo_kept(row) {
        return;
    }
    let wq = p.w / 4u;
    var prev = vec4<f32>(0.0);
    for (var q = 0u; q < p.pitch / 4u; q++) {
        var cur = vec4<f32>(0.0);
        if row.src >= 0 && q < wq {
            let i = u32(row.src) + q;
            let x = apply_x(i);
            let g = apply_masked4(i, x, k.a, k.shift);
            if (p.flags & WRITE_DRES) != 0u {
                var r = g;
                if (p.flags & ACCUMULATE_DRES) != 0u {
                    r += y_dres4[i];
                }
                y_dres4[i] = r;
            }
            cur = dx4(g, x, k.a, k.k, k.b, k.mean);
            y_dx4[i] = cur;
        }
        if (p.flags & NO_COPY) == 0u {
            y_dxp4[row.out + q] = padded4(prev, cur);
        }
        prev = cur;
    }
}

// bn_backward_finalize_apply_pad4's invocation: one padded row of dx. It
// derives its channel's coefficients from the chunks' sums and the tail's
// mean, invstd and gamma as bn_backward_finalize_grads does (the same
// arithmetic); the first row of each channel's first plane writes dgamma and
// dbeta (dbeta at beta_at in y_dgb).
fn finalize_apply_pad4(gid: vec3<u32>, nwg: vec3<u32>) {
    let row = pad_row(gid, nwg);
    if !row.ok {
        return;
    }
    let c = row.c;
    var sg = 0.0;
    var sgx = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        sg += apply_partial((c * p.chunks + s) * 2u);
        sgx += apply_partial((c * p.chunks + s) * 2u + 1u);
    }
    let tail = p.c * p.chunks * 2u;
    let k = back_coef(sg, sgx, apply_partial(tail + c), apply_partial(tail + p.c + c), apply_partial(tail + 2u * p.c + c));
    if row.first {
        y_dgb[c] = k.dgamma;
        y_dgb[p.beta_at + c] = k.dbeta;
    }
    back_row4(row, k);
}

// The coefficients bn_backward_apply_pad4_one's workgroup applies.
var<workgroup> one_back: BackCoef;

// bn_backward_apply_pad4_one's workgroup of NARROW invocations: all of
// channel c (one chunk: p.chunks 1, p.chunk_len N), its sums as
// bn_backward_partial4_tail_w8's, invocation 0 deriving the coefficients
// from them, the channel's saved mean and invstd and the forward's scale
// (gamma·invstd, at coef_at) as bn_backward_finalize_apply_pad4 does from
// gamma (the same bits as those two passes where they sum a channel in one
// chunk), then the channel's padded rows in turn.
fn backward_one4(c: u32, t: u32) {
    let q = p.hw / 4u;
    let mean = apply_stats(c);
    let scale = apply_stats(p.coef_at + c);
    let shift = apply_stats(p.coef_at + p.c + c);
    var v: Leaves;
    for (var i = 0u; i < LANES / NARROW; i++) {
        v[i] = one_back_lane4(c, t + NARROW * i, q, mean, scale, shift);
    }
    let total = leaves_sum2(t, NARROW, &v);
    if t == 0u {
        // Added to 0 as bn_backward_finalize_apply_pad4 adds its chunks.
        var sg = 0.0;
        var sgx = 0.0;
        sg += total.x;
        sgx += total.y;
        var k = back_coef_scaled(sg, sgx, mean, apply_stats(p.c + c), scale);
        k.shift = shift;
        y_dgb[c] = k.dgamma;
        y_dgb[p.beta_at + c] = k.dbeta;
        one_back = k;
    }
    let k = workgroupUniformLoad(&one_back);
    let rows = walk_rows();
    var w = row_walk(t, rows);
    for (var r = t; r < p.n * rows; r += NARROW) {
        back_row4(walk_row(c, w), k);
        w = row_step(w);
    }
}
