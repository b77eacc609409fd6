// The tiled forward passes' batch-norm epilogue (the _bn modules import it in
// place of shared/conv_out.wgsl): the convolution's output goes through batch
// norm with the running statistics, then the residual and ReLU as bn_flags
// say, and is stored as y and, with flag 4, into y's zero-padded copy yp for
// the next convolution. That is the whole of batchnorm_forward.wgsl's
// bn_eval_apply_pad4 after this pass, with its arithmetic (the same bits), so
// an inference step runs one pass per conv and batch norm instead of two.
// yp's padding is never written: it stays as the pass found it (zeros).
//
// Bindings, after the importing module's 1–4:
//   5 gamma then beta (at beta_at)          [C], [C]
//   6 running mean then variance (at rv_at) [C], [C]
//   7 residual [N, Co, Ho, Wo] as vec4, read when bn_flags & 2
//   8 yp [N, Co, yp_hp, yp_pitch] as vec4 (yp_pitch a multiple of 4),
//     written when bn_flags & 4

#import nan

@group(0) @binding(5) var<storage, read> bn_gb: array<f32>;
@group(0) @binding(6) var<storage, read> bn_run: array<f32>;
@group(0) @binding(7) var<storage, read> bn_res: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> bn_yp: array<vec4<f32>>;

const BN_RELU: u32 = 1u;
const BN_RESIDUAL: u32 = 2u;
const BN_PADDED: u32 = 4u;

// The residual's 4 values from element o (pixel ox), those past the row's end 0.
fn residual4(o: u32, ox: u32) -> vec4<f32> {
    var r = vec4<f32>(0.0);
    if VEC4_ROWS {
        if ox < p.wo {
            r = bn_res[o >> 2u];
        }
    } else {
        if ox < p.wo { r.x = bn_res[o >> 2u][o & 3u]; }
        if ox + 1u < p.wo { r.y = bn_res[(o + 1u) >> 2u][(o + 1u) & 3u]; }
        if ox + 2u < p.wo { r.z = bn_res[(o + 2u) >> 2u][(o + 2u) & 3u]; }
        if ox + 3u < p.wo { r.w = bn_res[(o + 3u) >> 2u][(o + 3u) & 3u]; }
    }
    return r;
}

// x·scale + shift (+ the residual at o), then ReLU, as bn_flags say.
fn bn_out4(x: vec4<f32>, scale: f32, shift: f32, o: u32, ox: u32) -> vec4<f32> {
    var v = x * scale + vec4<f32>(shift);
    if (p.bn_flags & BN_RESIDUAL) != 0u {
        v += residual4(o, ox);
    }
    if (p.bn_flags & BN_RELU) != 0u {
        v = relu4(v);
    }
    return v;
}

fn put_yp(e: u32, v: f32) {
    bn_yp[e >> 2u][e & 3u] = v;
}

// Writes the tile's 8 values l, h of row oy of plane (n, co) from pixel ox0
// into yp, those past the row's end left out. At the offset of a 3x3 conv's
// padding (yp_ox = 1; rows of whole vec4s, ox0 a multiple of 8) pixels
// ox0 + 3 .. ox0 + 6 are one whole vec4 of yp: one store for them (on
// lavapipe each store is a loop over the lanes), single values around it.
fn put_padded8(t: Tile, co: u32, l: vec4<f32>, h: vec4<f32>) {
    let ox = t.ox0;
    let e = ((t.n * p.co + co) * p.yp_hp + t.oy + p.yp_oy) * p.yp_pitch + ox + p.yp_ox;
    if p.yp_ox == 1u && ox + 6u < p.wo {
        put_yp(e, l.x);
        put_yp(e + 1u, l.y);
        put_yp(e + 2u, l.z);
        bn_yp[(e + 3u) >> 2u] = vec4<f32>(l.w, h.x, h.y, h.z);
        if ox + 7u < p.wo { put_yp(e + 7u, h.w); }
        return;
    }
    if ox < p.wo { put_yp(e, l.x); }
    if ox + 1u < p.wo { put_yp(e + 1u, l.y); }
    if ox + 2u < p.wo { put_yp(e + 2u, l.z); }
    if ox + 3u < p.wo { put_yp(e + 3u, l.w); }
    if ox + 4u < p.wo { put_yp(e + 4u, h.x); }
    if ox + 5u < p.wo { put_yp(e + 5u, h.y); }
    if ox + 6u < p.wo { put_yp(e + 6u, h.z); }
    if ox + 7u < p.wo { put_yp(e + 7u, h.w); }
}

fn emit(t: Tile, co: u32, o: u32, lo: vec4<f32>, hi: vec4<f32>) {
    // bn_eval_apply_pad4's coefficients.
    let mean = bn_run[co];
    let invstd = inverseSqrt(bn_run[p.rv_at + co] + p.eps);
    let scale = bn_gb[co] * invstd;
    let shift = bn_gb[p.beta_at + co] - mean * scale;
    let l = bn_out4(lo, scale, shift, o, t.ox0);
    let h = bn_out4(hi, scale, shift, o + 4u, t.ox0 + 4u);
    put4(o, t.ox0, l);
    put4(o + 4u, t.ox0 + 4u, h);
    if (p.bn_flags & BN_PADDED) != 0u {
        put_padded8(t, co, l, h);
    }
}
