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
//       picks its taps itself). With flags & 4 (forward only) the taps
//       outermost, wt [Kh, Kw, Ci, Opad]: the weights of a 1x1 pass over a
//       tap-major unfolded input (conv2d_unfold.wgsl).
//       One invocation per element of wt.
//   conv2d_weight_tiles_batch  1 tiles  2 weights  3 jobs (u32, 12 per job, as
//                              vec4s)  4 weights as vec4
//       conv2d_weight_tiles for many convolutions in one pass (a plan's every
//       layer, forward and backward): job j writes tiles[dst .. dst + len) from
//       weights[src ..], as conv2d_weight_tiles with co, ci, kh, kw, opad and
//       flags; jobs are sorted by dst and start at multiples of 64 elements
//       (elements between jobs, alignment padding, stay as they are), and an
//       invocation finds its job by binary search over their first
//       invocations. A job of 1x1 or 3x3 windows with channel counts of a
//       multiple of 16 and weights starting at a vec4 runs in blocks of 16
//       output × 16 input channels (forward) or 1 × 16 (backward-data; 1x1:
//       64 weights copied as they are),
//       reading whole vec4s of weights and storing whole lines of tiles (see
//       forward_block);
//       any other one invocation per 16 elements of tiles, each vec4 stored
//       from 4 values loaded one by one (on a CPU adapter a storage access is
//       a loop over the lanes, whatever its width): opad is a multiple of 8,
//       so a job holds whole vec4s and the 4 values of one differ only in o.

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
    var kx = (i / wp.opad) % wp.kw;
    var ky = (i / (wp.opad * wp.kw)) % wp.kh;
    var a = i / (wp.opad * wp.kw * wp.kh);
    if (wp.flags & 4u) != 0u {
        a = (i / wp.opad) % ins;
        kx = (i / (wp.opad * ins)) % wp.kw;
        ky = i / (wp.opad * ins * wp.kw);
    }
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
@group(0) @binding(3) var<storage, read> jobs: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> weights4: array<vec4<f32>>;

// A job: 3 vec4s of the table, (dst, len, src, co), (ci, kh, kw,
// opad | flags << 16), (its first invocation, blocks, 0, 0) — blocks 1: in
// blocks of vec4s (below), 0: in runs of elements.
struct Job {
    dst: u32, len: u32, src: u32, co: u32,
    ci: u32, kh: u32, kw: u32, opad: u32,
    flags: u32, first: u32, blocks: bool,
}

fn job_at(j: u32) -> Job {
    let a = jobs[3u * j];
    let b = jobs[3u * j + 1u];
    let c = jobs[3u * j + 2u];
    return Job(a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w & 0xffffu, b.w >> 16u, c.x, c.y == 1u);
}

// Elements one invocation of a job in runs writes: a run never crosses into
// the next job (jobs start at multiples of 64 elements).
const RUN: u32 = 16u;

// Input channels a block of a job in blocks covers.
const BLOCK_CI: u32 = 16u;

@compute @workgroup_size(WG)
fn conv2d_weight_tiles_batch(@builtin(global_invocation_id) gid: vec3<u32>,
                             @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = folded_index(gid, nwg);
    if inv >= bp.total {
        return;
    }
    // The last job whose invocations start at or before this one.
    var lo = 0u;
    var hi = bp.jobs;
    while hi - lo > 1u {
        let mid = (lo + hi) / 2u;
        if jobs[3u * mid + 2u].x <= inv {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let j = job_at(lo);
    let b = inv - j.first;
    if !j.blocks {
        run_of_elements(j, b * RUN);
    } else if (j.flags & 1u) != 0u {
        backward_block(j, b);
    } else {
        forward_block(j, b);
    }
}

// Elements i0 .. i0 + RUN of job j, each of the 4 values of a vec4 loaded
// on its own.
fn run_of_elements(j: Job, i0: u32) {
    let backward = (j.flags & 1u) != 0u;
    let flip = (j.flags & 2u) == 0u;
    let outs = select(j.co, j.ci, backward);
    let e0 = j.dst + i0;
    // Element i of the job is wt[a, ky, kx, o]; walked a vec4 (o .. o + 3)
    // at a time, with carries.
    var o = i0 % j.opad;
    var kx = (i0 / j.opad) % j.kw;
    var ky = (i0 / (j.opad * j.kw)) % j.kh;
    var a = i0 / (j.opad * j.kw * j.kh);
    for (var i = i0; i < min(i0 + RUN, j.len); i += 4u) {
        var v = vec4<f32>(0.0);
        for (var k = 0u; k < 4u; k++) {
            let ok = o + k;
            if ok < outs {
                if backward {
                    let sy = select(ky, j.kh - 1u - ky, flip);
                    let sx = select(kx, j.kw - 1u - kx, flip);
                    v[k] = weights[j.src + ((a * j.ci + ok) * j.kh + sy) * j.kw + sx];
                } else {
                    v[k] = weights[j.src + ((ok * j.ci + a) * j.kh + ky) * j.kw + kx];
                }
            }
        }
        tiles[(e0 + (i - i0)) / 4u] = v;
        o += 4u;
        if o == j.opad {
            o = 0u;
            kx += 1u;
            if kx == j.kw {
                kx = 0u;
                ky += 1u;
                if ky == j.kh {
                    ky = 0u;
                    a += 1u;
                }
            }
        }
    }
}

// The jobs in blocks (the launcher's choice: 1x1 or 3x3 windows, channel
// counts of a multiple of 16, so the tiles have no padding, and weights
// starting at a vec4) read their weights as vec4s (on a CPU adapter every
// storage access is a loop over the lanes, whatever its width) and store
// whole 64-byte lines of tiles. A block covers BLOCK_CI input channels, 4 at
// a time.
//
// Forward layout, wt[ci, t, co] (t = ky·Kw + kx, T taps): block b holds 16
// output channels co0 .. co0 + 15, and 4 of its input channels ci0 .. ci0 +
// 3 have 16 rows (one per co) of 4·T consecutive weights. Vec4 q of the rows
// holds values 4q .. 4q + 3 of each, value f being (ci0 + f / T, tap f % T):
// its 16 values side by side are the 16 output channels of 4 consecutive
// vec4s of wt. T iterations of 16 loads and 16 stores.
fn forward_block(j: Job, b: u32) {
    let taps = j.kh * j.kw;
    let groups = j.ci / BLOCK_CI;
    let co0 = b / groups * 16u;
    let row = j.ci * taps / 4u;
    let step = j.opad / 4u;
    for (var ci0 = b % groups * BLOCK_CI; ci0 < (b % groups + 1u) * BLOCK_CI; ci0 += 4u) {
        let r0 = (j.src + (co0 * j.ci + ci0) * taps) / 4u;
        // Value f's vec4s of wt: out + (i·T + t)·opad / 4, i.e. out + f·step.
        let out = (j.dst + ci0 * taps * j.opad + co0) / 4u;
        for (var q = 0u; q < taps; q++) {
            var v: array<vec4<f32>, 16>;
            for (var c = 0u; c < 16u; c++) {
                v[c] = weights4[r0 + c * row + q];
            }
            let at = out + 4u * q * step;
            for (var k = 0u; k < 4u; k++) {
                let c = 4u * k;
                tiles[at + k] = vec4<f32>(v[c].x, v[c + 1u].x, v[c + 2u].x, v[c + 3u].x);
                tiles[at + step + k] = vec4<f32>(v[c].y, v[c + 1u].y, v[c + 2u].y, v[c + 3u].y);
                tiles[at + 2u * step + k] = vec4<f32>(v[c].z, v[c + 1u].z, v[c + 2u].z, v[c + 3u].z);
                tiles[at + 3u * step + k] = vec4<f32>(v[c].w, v[c + 1u].w, v[c + 2u].w, v[c + 3u].w);
            }
        }
    }
}

// Backward-data layout, wt[co, t', ci] with t' = T − 1 − t (the window
// flipped) unless flags & 2: block b holds output channel co, and 4 of its
// input channels ci0 .. ci0 + 3 one row of 4·T consecutive weights (ci0 +
// f / T, tap f % T); the vec4 of wt for tap t is values t, T + t, 2T + t,
// 3T + t. 9 loads and 9 stores (the row in registers). For 1x1 windows wt is
// the weights as they are: a block copies 64 of them.
fn backward_block(j: Job, b: u32) {
    let taps = j.kh * j.kw;
    if taps == 1u {
        // wt[co, ci] is the weights as they are: block b copies 16 vec4s.
        let src = j.src / 4u + 16u * b;
        let to = j.dst / 4u + 16u * b;
        for (var k = 0u; k < 16u; k++) {
            tiles[to + k] = weights4[src + k];
        }
        return;
    }
    let flip = (j.flags & 2u) == 0u;
    let groups = j.ci / BLOCK_CI;
    let co = b / groups;
    let step = j.opad / 4u;
    for (var ci0 = b % groups * BLOCK_CI; ci0 < (b % groups + 1u) * BLOCK_CI; ci0 += 4u) {
        let r0 = (j.src + (co * j.ci + ci0) * taps) / 4u;
        let out = (j.dst + co * taps * j.opad + ci0) / 4u;
        var r: array<vec4<f32>, 9>;
        for (var q = 0u; q < 9u; q++) {
            r[q] = weights4[r0 + q];
        }
        for (var t = 0u; t < 9u; t++) {
            let v = vec4<f32>(r[t / 4u][t % 4u], r[(9u + t) / 4u][(9u + t) % 4u],
                              r[(18u + t) / 4u][(18u + t) % 4u], r[(27u + t) / 4u][(27u + t) % 4u]);
            tiles[out + select(t, 8u - t, flip) * step] = v;
        }
    }
}
