// Layout passes that let the tiled convolutions read only aligned vec4s and
// never test a bound.
//
//   conv2d_pad              1 xp [N, C, Hp, P] as vec4  2 x [N, C, H, W]
//       xp[n, c, oy + d·iy, ox + d·ix] = x[n, c, iy, ix], zero elsewhere: zero
//       padding (offset oy, ox) and, for d > 1, zeros between the pixels (the
//       dilation that turns a strided convolution's backward-data pass into a
//       stride-1 one). P is a multiple of 4. One invocation writes one row of xp
//       (P / 4 vec4s), 64 per workgroup, folded over (x, y).
//   conv2d_pad_shift1       the same for ox = 1, dil = 1 and W a multiple of 4,
//       reading x as vec4s.
//   conv2d_weight_tiles     1 wt [I, Kh, Kw, Opad]  2 weight [Co, Ci, Kh, Kw]
//       the weights with the output channel innermost, zero-padded to Opad (a
//       multiple of 8), so a tile of 8 output channels is two vec4 loads.
//       Forward: I = Ci, O = Co. With flags & 1 (backward data): I = Co, O = Ci
//       and the window flipped, wt[co, ky, kx, ci] = weight[co, ci, Kh-1-ky, Kw-1-kx];
//       with flags & 3 the same without the flip (the stride-2 backward-data kernel
//       picks its taps itself).
//       One invocation per element of wt.

struct PadParams {
    n: u32, c: u32, h: u32, w: u32,
    hp: u32, pitch: u32, oy: u32, ox: u32,
    dil: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

struct WeightParams {
    co: u32, ci: u32, kh: u32, kw: u32,
    opad: u32, flags: u32, _pad0: u32, _pad1: u32,
}

const WG: u32 = 128u;

#import grid

@group(0) @binding(0) var<uniform> pp: PadParams;
@group(0) @binding(1) var<storage, read_write> xp: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

// Source column of padded column xx, or -1 (zero) for padding and dilation gaps.
fn source_col(xx: u32) -> i32 {
    if xx < pp.ox {
        return -1;
    }
    let d = xx - pp.ox;
    var ix = d;
    if pp.dil != 1u {
        if d % pp.dil != 0u {
            return -1;
        }
        ix = d / pp.dil;
    }
    return select(-1, i32(ix), ix < pp.w);
}

fn value(row: u32, xx: u32) -> f32 {
    let ix = source_col(xx);
    if ix < 0 {
        return 0.0;
    }
    return x[row + u32(ix)];
}

// The padded row of this invocation: its row yy within plane `plane`, and
// the vec4 index where it starts in xp.
struct PadRow {
    ok: bool, yy: u32, plane: u32, out: u32,
}

fn pad_row(gid: vec3<u32>, nwg: vec3<u32>) -> PadRow {
    let r = gid.x + gid.y * nwg.x * 64u;
    var row: PadRow;
    row.ok = r < pp.n * pp.c * pp.hp;
    row.yy = r % pp.hp;
    row.plane = r / pp.hp;
    row.out = r * (pp.pitch / 4u);
    return row;
}

@compute @workgroup_size(64)
fn conv2d_pad(@builtin(global_invocation_id) gid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
    let pr = pad_row(gid, nwg);
    if !pr.ok {
        return;
    }
    let out = pr.out;
    // The source row, if this padded row holds one.
    var src = -1;
    if pr.yy >= pp.oy {
        let d = pr.yy - pp.oy;
        if d % pp.dil == 0u && d / pp.dil < pp.h {
            src = i32((pr.plane * pp.h + d / pp.dil) * pp.w);
        }
    }
    for (var q = 0u; q < pp.pitch / 4u; q++) {
        var v = vec4<f32>(0.0);
        if src >= 0 {
            let row = u32(src);
            v = vec4<f32>(value(row, 4u * q), value(row, 4u * q + 1u), value(row, 4u * q + 2u), value(row, 4u * q + 3u));
        }
        xp[out + q] = v;
    }
}

// conv2d_pad with offset ox = 1 (the 3x3, pad 1 case), no dilation and rows
// of a multiple of 4 values: every output vec4 is the last value of one
// aligned input vec4 and the first three of the next, so loads are whole vec4s.
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn conv2d_pad_shift1(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
    let pr = pad_row(gid, nwg);
    if !pr.ok {
        return;
    }
    let out = pr.out;
    let wq = pp.w / 4u;
    if pr.yy < pp.oy || pr.yy - pp.oy >= pp.h {
        for (var q = 0u; q < pp.pitch / 4u; q++) {
            xp[out + q] = vec4<f32>(0.0);
        }
        return;
    }
    let src = (pr.plane * pp.h + pr.yy - pp.oy) * wq;
    var prev = vec4<f32>(0.0);
    for (var q = 0u; q < pp.pitch / 4u; q++) {
        var cur = vec4<f32>(0.0);
        if q < wq {
            cur = x4[src + q];
        }
        xp[out + q] = vec4<f32>(prev.w, cur.xyz);
        prev = cur;
    }
}

@group(0) @binding(0) var<uniform> wp: WeightParams;
@group(0) @binding(1) var<storage, read_write> wt: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;

@compute @workgroup_size(WG)
fn conv2d_weight_tiles(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let backward = (wp.flags & 1u) != 0u;
    let ins = select(wp.ci, wp.co, backward);
    let outs = select(wp.co, wp.ci, backward);
    let i = folded_index(gid, nwg);
    if i >= ins * wp.kh * wp.kw * wp.opad {
        return;
    }
    let o = i % wp.opad;
    let kx = (i / wp.opad) % wp.kw;
    let ky = (i / (wp.opad * wp.kw)) % wp.kh;
    let a = i / (wp.opad * wp.kw * wp.kh);
    var v = 0.0;
    if o < outs {
        if backward {
            let flip = (wp.flags & 2u) == 0u;
            let sy = select(ky, wp.kh - 1u - ky, flip);
            let sx = select(kx, wp.kw - 1u - kx, flip);
            v = weight[((a * wp.ci + o) * wp.kh + sy) * wp.kw + sx];
        } else {
            v = weight[((o * wp.ci + a) * wp.kh + ky) * wp.kw + kx];
        }
    }
    wt[i] = v;
}
