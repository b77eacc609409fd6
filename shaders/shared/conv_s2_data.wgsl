// The stride-2 backward-data pass of conv2d_backward_data_s2.wgsl, shared with
// conv2d_backward_data_uniform.wgsl: the parameter block, the tile and its
// stores, and the sum over a run of output channels. The importing module
// binds dy (2) and declares `weight(i) -> vec4<f32>`, element i of the weight
// tiles as vec4, and `input_vec(i)`, vec4 i of the padded dy.

struct S2Params {
    n: u32, co: u32, ho: u32, wo: u32,
    ci: u32, ci8: u32, h: u32, w: u32,
    pitch: u32, rows: u32, tiles_x: u32, flags: u32,
    // (sc_pad, sc_co: the paired kernels' shortcut, shared/conv_s2_pairs.wgsl;
    // unused here.)
    co0: u32, cn: u32, sc_pad: u32, sc_co: u32,
}

@group(0) @binding(0) var<uniform> p: S2Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;

const WG: u32 = 64u;

// Eight channels × eight pixels, as (lo, hi) pixel quads per channel.
struct Acc {
    c0l: vec4<f32>, c0h: vec4<f32>, c1l: vec4<f32>, c1h: vec4<f32>,
    c2l: vec4<f32>, c2h: vec4<f32>, c3l: vec4<f32>, c3h: vec4<f32>,
    c4l: vec4<f32>, c4h: vec4<f32>, c5l: vec4<f32>, c5h: vec4<f32>,
    c6l: vec4<f32>, c6h: vec4<f32>, c7l: vec4<f32>, c7h: vec4<f32>,
}

// acc += w (channels 0–3 in wl, 4–7 in wh) ⊗ (sl, sh): one tap.
fn tap(a: ptr<function, Acc>, wl: vec4<f32>, wh: vec4<f32>, sl: vec4<f32>, sh: vec4<f32>) {
    (*a).c0l = fma(vec4<f32>(wl.x), sl, (*a).c0l); (*a).c0h = fma(vec4<f32>(wl.x), sh, (*a).c0h);
    (*a).c1l = fma(vec4<f32>(wl.y), sl, (*a).c1l); (*a).c1h = fma(vec4<f32>(wl.y), sh, (*a).c1h);
    (*a).c2l = fma(vec4<f32>(wl.z), sl, (*a).c2l); (*a).c2h = fma(vec4<f32>(wl.z), sh, (*a).c2h);
    (*a).c3l = fma(vec4<f32>(wl.w), sl, (*a).c3l); (*a).c3h = fma(vec4<f32>(wl.w), sh, (*a).c3h);
    (*a).c4l = fma(vec4<f32>(wh.x), sl, (*a).c4l); (*a).c4h = fma(vec4<f32>(wh.x), sh, (*a).c4h);
    (*a).c5l = fma(vec4<f32>(wh.y), sl, (*a).c5l); (*a).c5h = fma(vec4<f32>(wh.y), sh, (*a).c5h);
    (*a).c6l = fma(vec4<f32>(wh.z), sl, (*a).c6l); (*a).c6h = fma(vec4<f32>(wh.z), sh, (*a).c6h);
    (*a).c7l = fma(vec4<f32>(wh.w), sl, (*a).c7l); (*a).c7h = fma(vec4<f32>(wh.w), sh, (*a).c7h);
}

fn put1(o: u32, v: f32) {
    if (p.flags & 2u) != 0u {
        dx[o] += v;
    } else {
        dx[o] = v;
    }
}

// Writes channel ci0 + i at dx columns 2l + px for the 8 l of the tile.
fn put_channel(n: u32, ci: u32, iy: u32, l0: u32, px: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if ci >= p.ci {
        return;
    }
    let row = ((n * p.ci + ci) * p.h + iy) * p.w;
    let v = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
    let x0 = 2u * l0 + px;
    if x0 + 14u < p.w {
        put1(row + x0, lo.x);
        put1(row + x0 + 2u, lo.y);
        put1(row + x0 + 4u, lo.z);
        put1(row + x0 + 6u, lo.w);
        put1(row + x0 + 8u, hi.x);
        put1(row + x0 + 10u, hi.y);
        put1(row + x0 + 12u, hi.z);
        put1(row + x0 + 14u, hi.w);
    } else {
        if x0 < p.w { put1(row + x0, lo.x); }
        if x0 + 2u < p.w { put1(row + x0 + 2u, lo.y); }
        if x0 + 4u < p.w { put1(row + x0 + 4u, lo.z); }
        if x0 + 6u < p.w { put1(row + x0 + 6u, lo.w); }
        if x0 + 8u < p.w { put1(row + x0 + 8u, hi.x); }
        if x0 + 10u < p.w { put1(row + x0 + 10u, hi.y); }
        if x0 + 12u < p.w { put1(row + x0 + 12u, hi.z); }
    }
}


const RESUME: u32 = 4u;

// Channel ci of the tile at dx columns 2l + px, as put_channel wrote it
// (0 where it wrote nothing).
fn get_channel(n: u32, ci: u32, iy: u32, l0: u32, px: u32) -> array<vec4<f32>, 2> {
    var v = array<vec4<f32>, 2>();
    if ci >= p.ci {
        return v;
    }
    let row = ((n * p.ci + ci) * p.h + iy) * p.w;
    let x0 = 2u * l0 + px;
    if x0 < p.w { v[0].x = dx[row + x0]; }
    if x0 + 2u < p.w { v[0].y = dx[row + x0 + 2u]; }
    if x0 + 4u < p.w { v[0].z = dx[row + x0 + 4u]; }
    if x0 + 6u < p.w { v[0].w = dx[row + x0 + 6u]; }
    if x0 + 8u < p.w { v[1].x = dx[row + x0 + 8u]; }
    if x0 + 10u < p.w { v[1].y = dx[row + x0 + 10u]; }
    if x0 + 12u < p.w { v[1].z = dx[row + x0 + 12u]; }
    if x0 + 14u < p.w { v[1].w = dx[row + x0 + 14u]; }
    return v;
}

// The sums an earlier run of output channels stored for the tile.
fn resume(n: u32, ci0: u32, iy: u32, l0: u32, px: u32) -> Acc {
    var a: Acc;
    var v = get_channel(n, ci0, iy, l0, px); a.c0l = v[0]; a.c0h = v[1];
    v = get_channel(n, ci0 + 1u, iy, l0, px); a.c1l = v[0]; a.c1h = v[1];
    v = get_channel(n, ci0 + 2u, iy, l0, px); a.c2l = v[0]; a.c2h = v[1];
    v = get_channel(n, ci0 + 3u, iy, l0, px); a.c3l = v[0]; a.c3h = v[1];
    v = get_channel(n, ci0 + 4u, iy, l0, px); a.c4l = v[0]; a.c4h = v[1];
    v = get_channel(n, ci0 + 5u, iy, l0, px); a.c5l = v[0]; a.c5h = v[1];
    v = get_channel(n, ci0 + 6u, iy, l0, px); a.c6l = v[0]; a.c6h = v[1];
    v = get_channel(n, ci0 + 7u, iy, l0, px); a.c7l = v[0]; a.c7h = v[1];
    return a;
}

// The tile of one invocation: output rows of parity py (input row iy = 2m +
// py) and columns of parity px, 8 of them from 2·l0 + px, channels ci0 ..
// ci0 + 7 of image n. `ok`: the tile exists (t within the grid, iy within
// the input).
struct S2Tile {
    n: u32, m: u32, l0: u32, iy: u32, py: u32, px: u32, ci0: u32, ok: bool,
}

// Tile t (of N × rows × tiles_x) of parity wz (py = wz / 2, px = wz % 2) over
// channels ci0 ..; t past the last is clamped to it (and not ok).
fn s2_tile(t: u32, wz: u32, ci0: u32) -> S2Tile {
    let tiles = p.n * p.rows * p.tiles_x;
    let tc = min(t, tiles - 1u);
    var s: S2Tile;
    s.py = wz / 2u;
    s.px = wz % 2u;
    s.l0 = (tc % p.tiles_x) * 8u;
    s.m = (tc / p.tiles_x) % p.rows;
    s.n = tc / (p.tiles_x * p.rows);
    s.iy = 2u * s.m + s.py;
    s.ci0 = ci0;
    s.ok = t < tiles && s.iy < p.h;
    return s;
}

// Kernel rows of parity py and the dy rows they read: even iy takes row 1
// from oy = m; odd iy takes row 2 from oy = m and row 0 from oy = m + 1.
fn taps_y(s: S2Tile) -> u32 {
    return select(1u, 2u, s.py == 1u);
}

fn kernel_row(s: S2Tile, ty: u32) -> u32 {
    return select(1u, select(2u, 0u, ty == 1u), s.py == 1u);
}

// a += output channel co's taps of kernel row ky for the tile's column
// parity, over its dy row from vec4 index r as v0, v1, v2.
fn data_row(a: ptr<function, Acc>, s: S2Tile, co: u32, ky: u32,
            v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>) {
    let q = p.ci8 / 4u;
    // Weights of (co, ky, kx) for ci0 .. ci0 + 7.
    let wb = ((co * 3u + ky) * 3u) * q + s.ci0 / 4u;
    if s.px == 0u {
        tap(a, weight(wb + q), weight(wb + q + 1u), v0, v1);
    } else {
        // kx = 2 reads ox = l (window at 0), kx = 0 reads ox = l + 1.
        tap(a, weight(wb + 2u * q), weight(wb + 2u * q + 1u), v0, v1);
        tap(a, weight(wb), weight(wb + 1u), vec4<f32>(v0.yzw, v1.x), vec4<f32>(v1.yzw, v2.x));
    }
}

// The first vec4 of the tile's dy row oy of output channel co.
fn dy_row(s: S2Tile, co: u32, oy: u32) -> u32 {
    let plane = (s.n * p.co + co) * (p.ho + 1u);
    return ((plane + oy) * p.pitch + s.l0) / 4u;
}

fn store_tile(s: S2Tile, a: Acc) {
    put_channel(s.n, s.ci0, s.iy, s.l0, s.px, a.c0l, a.c0h);
    put_channel(s.n, s.ci0 + 1u, s.iy, s.l0, s.px, a.c1l, a.c1h);
    put_channel(s.n, s.ci0 + 2u, s.iy, s.l0, s.px, a.c2l, a.c2h);
    put_channel(s.n, s.ci0 + 3u, s.iy, s.l0, s.px, a.c3l, a.c3h);
    put_channel(s.n, s.ci0 + 4u, s.iy, s.l0, s.px, a.c4l, a.c4h);
    put_channel(s.n, s.ci0 + 5u, s.iy, s.l0, s.px, a.c5l, a.c5h);
    put_channel(s.n, s.ci0 + 6u, s.iy, s.l0, s.px, a.c6l, a.c6h);
    put_channel(s.n, s.ci0 + 7u, s.iy, s.l0, s.px, a.c7l, a.c7h);
}

// The pass for invocation gid of workgroup wid over output channels co0 ..
// co0 + cn - 1 (all of them but in the uniform kernel's runs), in order.
fn backward_data_s2(gid: vec3<u32>, wid: vec3<u32>) {
    let s = s2_tile(gid.x, wid.z, wid.y * 8u);
    if !s.ok {
        return;
    }
    var a: Acc;
    if (p.flags & RESUME) != 0u {
        a = resume(s.n, s.ci0, s.iy, s.l0, s.px);
    }
    for (var co = p.co0; co < p.co0 + p.cn; co++) {
        for (var ty = 0u; ty < taps_y(s); ty++) {
            let r = dy_row(s, co, s.m + ty);
            data_row(&a, s, co, kernel_row(s, ty), input_vec(r), input_vec(r + 1u), input_vec(r + 2u));
        }
    }
    store_tile(s, a);
}
