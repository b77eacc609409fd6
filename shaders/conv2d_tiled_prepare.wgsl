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
//   conv2d_weight_tiles_batch  1 tiles  2 weights  3 jobs (u32, 8 per job)
//       conv2d_weight_tiles for many convolutions in one pass (a plan's every
//       layer, forward and backward): job j writes tiles[dst .. dst + len) from
//       weights[src ..], as conv2d_weight_tiles with co, ci, kh, kw, opad and
//       flags; jobs are sorted by dst and start at multiples of 64 elements,
//       and an invocation finds its job by binary search (elements between
//       jobs, alignment padding, stay as they are). One invocation per 16
//       elements of tiles, stored as vec4s (on a CPU adapter a storage access
//       is a loop over the lanes, and a vec4 costs one trip of it): opad is a
//       multiple of 8, so a job holds whole vec4s and the 4 values of one
//       differ only in o.

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

// ---- conv2d_weight_tiles_batch ----
struct BatchParams {
    jobs: u32, total: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> bp: BatchParams;
@group(0) @binding(1) var<storage, read_write> tiles: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> jobs: array<u32>;

// Job j's field k: 0 dst, 1 len, 2 src, 3 co, 4 ci, 5 kh, 6 kw, 7 opad | flags << 16.
fn job(j: u32, k: u32) -> u32 {
    return jobs[8u * j + k];
}

// Elements one invocation writes: a run that never crosses into the next job
// (jobs start at multiples of 64 elements).
const RUN: u32 = 16u;

@compute @workgroup_size(WG)
fn conv2d_weight_tiles_batch(@builtin(global_invocation_id) gid: vec3<u32>,
                             @builtin(num_workgroups) nwg: vec3<u32>) {
    let e0 = folded_index(gid, nwg) * RUN;
    if e0 >= bp.total {
        return;
    }
    // The last job starting at or before e0.
    var lo = 0u;
    var hi = bp.jobs;
    while hi - lo > 1u {
        let mid = (lo + hi) / 2u;
        if job(mid, 0u) <= e0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let len = job(lo, 1u);
    let co = job(lo, 3u);
    let ci = job(lo, 4u);
    let kh = job(lo, 5u);
    let kw = job(lo, 6u);
    let opad = job(lo, 7u) & 0xffffu;
    let flags = job(lo, 7u) >> 16u;
    let src = job(lo, 2u);
    let backward = (flags & 1u) != 0u;
    let flip = (flags & 2u) == 0u;
    let outs = select(co, ci, backward);
    let i0 = e0 - job(lo, 0u);
    // Element i of the job is wt[a, ky, kx, o]; walked a vec4 (o .. o + 3)
    // at a time, with carries.
    var o = i0 % opad;
    var kx = (i0 / opad) % kw;
    var ky = (i0 / (opad * kw)) % kh;
    var a = i0 / (opad * kw * kh);
    for (var i = i0; i < min(i0 + RUN, len); i += 4u) {
        var v = vec4<f32>(0.0);
        for (var k = 0u; k < 4u; k++) {
            let ok = o + k;
            if ok < outs {
                if backward {
                    let sy = select(ky, kh - 1u - ky, flip);
                    let sx = select(kx, kw - 1u - kx, flip);
                    v[k] = weights[src + ((a * ci + ok) * kh + sy) * kw + sx];
                } else {
                    v[k] = weights[src + ((ok * ci + a) * kh + ky) * kw + kx];
                }
            }
        }
        tiles[(e0 + (i - i0)) / 4u] = v;
        o += 4u;
        if o == opad {
            o = 0u;
            kx += 1u;
            if kx == kw {
                kx = 0u;
                ky += 1u;
                if ky == kh {
                    ky = 0u;
                    a += 1u;
                }
            }
        }
    }
}
