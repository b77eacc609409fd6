// The stride-2 backward-data pass with both column parities and both row
// parities in one lane, for conv2d_backward_data_pairs_subgroup.wgsl (dy from
// storage) and conv2d_backward_data_pairs_texel_subgroup.wgsl (dy as texels).
// The kernels of shared/conv_s2_data.wgsl give each lane one parity (py, px)
// of 8 channels and store its 8 outputs two floats apart, one float at a
// time; on lavapipe every storage access is a loop over the lanes, and those
// stores and the dy loads made the pass the weakest of all. Here a lane
// computes input rows 2m and 2m + 1 at the 16 consecutive columns
// 2·l0 .. 2·l0 + 15 (px 0 and 1 for 8 l) of 4 channels: the same dy vectors
// feed both column parities, dy row m feeds both rows (row 2m + 1 also takes
// row m + 1), and the 128 outputs leave as 32 vec4 stores. Each output's sum
// is the one the single-parity kernels compute, in the same order: the same
// bits.
//
// Needs dx's rows to be whole vec4s (W % 4 == 0; the launcher runs the
// single-parity kernels elsewhere) and subgroups, as conv2d_backward_data_
// subgroup.wgsl: a group of L lanes (the entry point's suffix) computes one
// tile for L consecutive runs of 4 input channels, its lanes loading the
// tile's 6 dy vectors per output channel between them.
//
// With flags & 8 (SHORTCUT; the launcher sets it on the last run only) the
// pass also adds the option-A shortcut's gradient (shortcut.wgsl's
// shortcut_a_backward, stride 2): dx(2m, 2l) of channel ci takes sdy's
// (m, l) of channel ci + sc_pad, after the conv's complete sum, as the
// separate pass would add it to dx (one float addition each way: the same
// value).
//
// Bindings (the importer declares 2: dy, 3: the weights' uniform window, and
// `input_vec(i)`, `weight(i)` as shared/conv_s2_data.wgsl's importers do):
//   1 dx   [N, Ci, H, W] as vec4     written (added to when flags & 2; read
//                                    first when flags & 4, a later run; its
//                                    earlier values through `earlier`,
//                                    shared/s2_earlier.wgsl)
//   4 sdy  [N, sc_co, Ho, Wo]        read with flags & 8 (any buffer else;
//                                    declared by shared/s2_shortcut.wgsl)
// Dispatch: workgroups of 64 over (tiles × L) invocations in x (tiles of
// (n, m, 8 l)), Ci8 / (4·L) in y; once per run of output channels.

struct S2Params {
    n: u32, co: u32, ho: u32, wo: u32,
    ci: u32, ci8: u32, h: u32, w: u32,
    pitch: u32, rows: u32, tiles_x: u32, flags: u32,
    co0: u32, cn: u32, sc_pad: u32, sc_co: u32,
}

@group(0) @binding(0) var<uniform> p: S2Params;
@group(0) @binding(1) var<storage, read_write> dx4: array<vec4<f32>>;

#import s2_earlier
#import s2_shortcut

const WG: u32 = 64u;
const ACCUMULATE: u32 = 2u;
const RESUME: u32 = 4u;
const SHORTCUT: u32 = 8u;

// Four channels: e (px = 0) and o (px = 1) at the 8 l of the tile, as
// (pixels 0–3, 4–7).
struct Pair {
    el: vec4<f32>, eh: vec4<f32>, ol: vec4<f32>, oh: vec4<f32>,
}

struct PairAcc {
    c0: Pair, c1: Pair, c2: Pair, c3: Pair,
}

// The tile of one invocation: input rows 2m and 2m + 1, columns from 2·l0,
// channels ci0 .. ci0 + 3 of image n; `ok`: it exists; `odd`: so does row
// 2m + 1 (not past an odd H).
struct PairTile {
    n: u32, m: u32, l0: u32, ci0: u32, ok: bool, odd: bool,
}

// Tile t (of N × rows × tiles_x) over channels ci0 ..; t past the last is
// clamped to it (and not ok).
fn pair_tile(t: u32, ci0: u32) -> PairTile {
    let tiles = p.n * p.rows * p.tiles_x;
    let tc = min(t, tiles - 1u);
    var s: PairTile;
    s.l0 = (tc % p.tiles_x) * 8u;
    s.m = (tc / p.tiles_x) % p.rows;
    s.n = tc / (p.tiles_x * p.rows);
    s.ci0 = ci0;
    s.ok = t < tiles;
    s.odd = s.ok && 2u * s.m + 1u < p.h;
    return s;
}

// One output channel's taps of kernel row ky for channel j of the four (w1:
// kx = 1, the even columns; w2, w0: kx = 2 and 0, the odd ones, kx = 0
// reading one dy column further), over dy (v0, v1) and that shifted by one.
fn pair_taps(c: Pair, w1: f32, w2: f32, w0: f32,
             v0: vec4<f32>, v1: vec4<f32>, u0: vec4<f32>, u1: vec4<f32>) -> Pair {
    var r: Pair;
    r.el = fma(vec4<f32>(w1), v0, c.el);
    r.eh = fma(vec4<f32>(w1), v1, c.eh);
    r.ol = fma(vec4<f32>(w0), u0, fma(vec4<f32>(w2), v0, c.ol));
    r.oh = fma(vec4<f32>(w0), u1, fma(vec4<f32>(w2), v1, c.oh));
    return r;
}

// a += output channel co's taps of kernel row ky over its dy row's vectors
// v0, v1, v2 (dy columns l0 .. l0 + 11).
fn pair_row(a: ptr<function, PairAcc>, s: PairTile, co: u32, ky: u32,
            v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>) {
    let q = p.ci8 / 4u;
    let wb = ((co * 3u + ky) * 3u) * q + s.ci0 / 4u;
    let w0 = weight(wb);
    let w1 = weight(wb + q);
    let w2 = weight(wb + 2u * q);
    let u0 = vec4<f32>(v0.yzw, v1.x);
    let u1 = vec4<f32>(v1.yzw, v2.x);
    (*a).c0 = pair_taps((*a).c0, w1.x, w2.x, w0.x, v0, v1, u0, u1);
    (*a).c1 = pair_taps((*a).c1, w1.y, w2.y, w0.y, v0, v1, u0, u1);
    (*a).c2 = pair_taps((*a).c2, w1.z, w2.z, w0.z, v0, v1, u0, u1);
    (*a).c3 = pair_taps((*a).c3, w1.w, w2.w, w0.w, v0, v1, u0, u1);
}

// The first vec4 of the tile's dy row oy of output channel co.
fn pair_dy_row(s: PairTile, co: u32, oy: u32) -> u32 {
    let plane = (s.n * p.co + co) * (p.ho + 1u);
    return ((plane + oy) * p.pitch + s.l0) / 4u;
}

// The vec4 of dx row `row` (a float index, a multiple of 4) at column x0 + 4k.
fn put4(row: u32, x: u32, v: vec4<f32>) {
    if x >= p.w {
        return;
    }
    let i = (row + x) / 4u;
    if (p.flags & ACCUMULATE) != 0u {
        dx4[i] = earlier(i) + v;
    } else {
        dx4[i] = v;
    }
}

fn get4(row: u32, x: u32) -> vec4<f32> {
    if x >= p.w {
        return vec4<f32>(0.0);
    }
    return earlier((row + x) / 4u);
}

// Channel ci's 16 outputs in row iy, even and odd columns interleaved.
fn put_pair(s: PairTile, iy: u32, ci: u32, c: Pair) {
    if ci >= p.ci {
        return;
    }
    let row = ((s.n * p.ci + ci) * p.h + iy) * p.w;
    let x0 = 2u * s.l0;
    put4(row, x0, vec4<f32>(c.el.x, c.ol.x, c.el.y, c.ol.y));
    put4(row, x0 + 4u, vec4<f32>(c.el.z, c.ol.z, c.el.w, c.ol.w));
    put4(row, x0 + 8u, vec4<f32>(c.eh.x, c.oh.x, c.eh.y, c.oh.y));
    put4(row, x0 + 12u, vec4<f32>(c.eh.z, c.oh.z, c.eh.w, c.oh.w));
}

// The sums an earlier run stored for channel ci in row iy (0 where it
// stored none).
fn get_pair(s: PairTile, iy: u32, ci: u32) -> Pair {
    var c: Pair;
    if ci >= p.ci {
        return c;
    }
    let row = ((s.n * p.ci + ci) * p.h + iy) * p.w;
    let x0 = 2u * s.l0;
    let a = get4(row, x0);
    let b = get4(row, x0 + 4u);
    let d = get4(row, x0 + 8u);
    let e = get4(row, x0 + 12u);
    c.el = vec4<f32>(a.x, a.z, b.x, b.z);
    c.ol = vec4<f32>(a.y, a.w, b.y, b.w);
    c.eh = vec4<f32>(d.x, d.z, e.x, e.z);
    c.oh = vec4<f32>(d.y, d.w, e.y, e.w);
    return c;
}

// Channel ci's even columns of row 2m plus the shortcut's gradient there.
fn with_shortcut(s: PairTile, ci: u32, c: Pair) -> Pair {
    if ci >= p.ci {
        return c;
    }
    let row = ((s.n * p.sc_co + ci + p.sc_pad) * p.ho + s.m) * p.wo;
    let l = s.l0;
    var r = c;
    r.el += shortcut4(row, l);
    r.eh += shortcut4(row, l + 4u);
    return r;
}

fn add_shortcut(s: PairTile, a: PairAcc) -> PairAcc {
    return PairAcc(with_shortcut(s, s.ci0, a.c0), with_shortcut(s, s.ci0 + 1u, a.c1),
                   with_shortcut(s, s.ci0 + 2u, a.c2), with_shortcut(s, s.ci0 + 3u, a.c3));
}

fn store_pairs(s: PairTile, iy: u32, a: PairAcc) {
    put_pair(s, iy, s.ci0, a.c0);
    put_pair(s, iy, s.ci0 + 1u, a.c1);
    put_pair(s, iy, s.ci0 + 2u, a.c2);
    put_pair(s, iy, s.ci0 + 3u, a.c3);
}

fn resume_pairs(s: PairTile, iy: u32) -> PairAcc {
    var a: PairAcc;
    a.c0 = get_pair(s, iy, s.ci0);
    a.c1 = get_pair(s, iy, s.ci0 + 1u);
    a.c2 = get_pair(s, iy, s.ci0 + 2u);
    a.c3 = get_pair(s, iy, s.ci0 + 3u);
    return a;
}

// The pass for a group of l lanes over output channels co0 .. co0 + cn - 1.
// Row 2m takes kernel row 1 from dy row m; row 2m + 1 takes kernel row 2
// from dy row m, then kernel row 0 from dy row m + 1 (the padding's zero row
// past the last).
fn s2_pairs_group(wid: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let grp = group_of(sid, sl, size, l, WG);
    let s = pair_tile(wid.x * (WG / l) + grp.index, (wid.y * l + grp.k) * 4u);
    let iy = 2u * s.m;
    var e: PairAcc;
    var o: PairAcc;
    if (p.flags & RESUME) != 0u {
        if s.ok {
            e = resume_pairs(s, iy);
        }
        if s.odd {
            o = resume_pairs(s, iy + 1u);
        }
    }
    let next = p.pitch / 4u;
    let f = grp.first;
    for (var co = p.co0; co < p.co0 + p.cn; co++) {
        // dy rows m and m + 1: vectors 0..2 and 3..5.
        var m = own_vectors(pair_dy_row(s, co, s.m), next, grp.k, l, 3u, 6u);
        let v0 = group_vector(&m, 0u, f, l);
        let v1 = group_vector(&m, 1u, f, l);
        let v2 = group_vector(&m, 2u, f, l);
        pair_row(&e, s, co, 1u, v0, v1, v2);
        pair_row(&o, s, co, 2u, v0, v1, v2);
        pair_row(&o, s, co, 0u, group_vector(&m, 3u, f, l),
                 group_vector(&m, 4u, f, l), group_vector(&m, 5u, f, l));
    }
    if (p.flags & SHORTCUT) != 0u {
        e = add_shortcut(s, e);
    }
    if s.ok {
        store_pairs(s, iy, e);
    }
    if s.odd {
        store_pairs(s, iy + 1u, o);
    }
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2p2(@builtin(workgroup_id) wid: vec3<u32>,
                                   @builtin(subgroup_id) sid: u32,
                                   @builtin(subgroup_invocation_id) sl: u32,
                                   @builtin(subgroup_size) size: u32) {
    s2_pairs_group(wid, sid, sl, size, 2u);
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2p4(@builtin(workgroup_id) wid: vec3<u32>,
                                   @builtin(subgroup_id) sid: u32,
                                   @builtin(subgroup_invocation_id) sl: u32,
                                   @builtin(subgroup_size) size: u32) {
    s2_pairs_group(wid, sid, sl, size, 4u);
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2p8(@builtin(workgroup_id) wid: vec3<u32>,
                                   @builtin(subgroup_id) sid: u32,
                                   @builtin(subgroup_invocation_id) sl: u32,
                                   @builtin(subgroup_size) size: u32) {
    s2_pairs_group(wid, sid, sl, size, 8u);
}
