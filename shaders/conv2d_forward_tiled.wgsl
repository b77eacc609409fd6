// conv2d_forward_tiled_s1 / _s2: fast 3x3 convolutions, stride 1 and 2, as an implicit
// GEMM with an 8x8 register tile. conv2d_forward.wgsl is the reference they are
// tested against. conv2d_forward_tiled_s1_r4 is the stride-1 pass with 4 rows
// of the 8x8 tile per invocation: a quarter of the invocations, each loading
// its weights once for 4 rows and each of the 6 input rows under them once
// (not once per kernel row: on lavapipe every load is a per-lane gather, and
// halving them ran the pass 1.45x faster), which is what CPU adapters run fastest; GPUs
// keep the 8x8 tile (register pressure). (Larger tiles, 16 channels × 4 rows,
// ran no faster on lavapipe and took the driver 2.7 times as long to compile.)
// Every variant sums each output in the same order, so all give the same bits;
// which one runs is chosen per adapter and shape (src/kernels/conv2d.rs, Tiling).
//
// Inputs come prepared by conv2d_tiled_prepare.wgsl: xp is the input zero-padded
// (rows of `pitch` floats, a multiple of 4, so every load is an aligned vec4 and
// no load needs a bounds test) and wt holds the weights as [Ci, 3, 3, Co8] with
// the output channel innermost (Co8 = Co rounded up to 8).
//
// Bindings of every entry point:
//   1 y    [N, Co, Ho, Wo]       written (added to by the _add entry points)
//   2 xp   [N, Ci, Hp, pitch]    as vec4 (Hp covers whole bands of 4 rows for _r4)
//   3 wt   [Ci, 3, 3, Co8]       as vec4
//   4 bias [Co]                  read when flags & 1 (the only flag)
// Dispatch: one invocation computes 8 output channels × 8 consecutive pixels of
// one output row (_r4: of 4 rows). x of the grid
// (and z, when x would exceed the device limit) numbers pixel tiles; y numbers
// channel tiles, so every invocation of a workgroup loads the same weights, a
// uniform load the compiler can broadcast. Per input channel and kernel row: 3
// (stride 1) or 5 (stride 2) vec4 input loads and 6 vec4 weight loads feed 192
// multiply-adds. 64 invocations per group (32 for _r4). The 8x8 entry points
// have an _add twin that adds its result to y (a gradient's second term); _r4
// has none (its adding stores took the driver longer to compile than the rest
// of it), so an adding pass runs the 8x8 tile.

struct TiledParams {
    n: u32, ci: u32, hp: u32, pitch: u32,
    co: u32, co8: u32, ho: u32, wo: u32,
    tiles_x: u32, flags: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const WG: u32 = 64u;

// The 8 output channels of a tile, each as two vec4s of 4 pixels (lo, hi).
struct Acc {
    c0l: vec4<f32>, c0h: vec4<f32>,
    c1l: vec4<f32>, c1h: vec4<f32>,
    c2l: vec4<f32>, c2h: vec4<f32>,
    c3l: vec4<f32>, c3h: vec4<f32>,
    c4l: vec4<f32>, c4h: vec4<f32>,
    c5l: vec4<f32>, c5h: vec4<f32>,
    c6l: vec4<f32>, c6h: vec4<f32>,
    c7l: vec4<f32>, c7h: vec4<f32>,
}

// acc + (w0·s0 + w1·s1 + w2·s2): the row's three taps with fused
// multiply-adds (which CPU drivers do not contract a*b + c into by
// themselves), then one addition to the accumulator, as before fusing.
fn fma3(acc: vec4<f32>, w0: f32, s0: vec4<f32>, w1: f32, s1: vec4<f32>, w2: f32, s2: vec4<f32>) -> vec4<f32> {
    return acc + fma(vec4<f32>(w2), s2, fma(vec4<f32>(w1), s1, vec4<f32>(w0) * s0));
}

// acc += Σ_kx w[kx] ⊗ window[kx] for one kernel row: w*l/w*h hold channels
// 0–3 / 4–7 of tap kx, s*l/s*h the input under pixels 0–3 / 4–7 of tap kx.
fn row(a: ptr<function, Acc>,
       w0l: vec4<f32>, w0h: vec4<f32>, w1l: vec4<f32>, w1h: vec4<f32>, w2l: vec4<f32>, w2h: vec4<f32>,
       s0l: vec4<f32>, s0h: vec4<f32>, s1l: vec4<f32>, s1h: vec4<f32>, s2l: vec4<f32>, s2h: vec4<f32>) {
    (*a).c0l = fma3((*a).c0l, w0l.x, s0l, w1l.x, s1l, w2l.x, s2l);
    (*a).c0h = fma3((*a).c0h, w0l.x, s0h, w1l.x, s1h, w2l.x, s2h);
    (*a).c1l = fma3((*a).c1l, w0l.y, s0l, w1l.y, s1l, w2l.y, s2l);
    (*a).c1h = fma3((*a).c1h, w0l.y, s0h, w1l.y, s1h, w2l.y, s2h);
    (*a).c2l = fma3((*a).c2l, w0l.z, s0l, w1l.z, s1l, w2l.z, s2l);
    (*a).c2h = fma3((*a).c2h, w0l.z, s0h, w1l.z, s1h, w2l.z, s2h);
    (*a).c3l = fma3((*a).c3l, w0l.w, s0l, w1l.w, s1l, w2l.w, s2l);
    (*a).c3h = fma3((*a).c3h, w0l.w, s0h, w1l.w, s1h, w2l.w, s2h);
    (*a).c4l = fma3((*a).c4l, w0h.x, s0l, w1h.x, s1l, w2h.x, s2l);
    (*a).c4h = fma3((*a).c4h, w0h.x, s0h, w1h.x, s1h, w2h.x, s2h);
    (*a).c5l = fma3((*a).c5l, w0h.y, s0l, w1h.y, s1l, w2h.y, s2l);
    (*a).c5h = fma3((*a).c5h, w0h.y, s0h, w1h.y, s1h, w2h.y, s2h);
    (*a).c6l = fma3((*a).c6l, w0h.z, s0l, w1h.z, s1l, w2h.z, s2l);
    (*a).c6h = fma3((*a).c6h, w0h.z, s0h, w1h.z, s1h, w2h.z, s2h);
    (*a).c7l = fma3((*a).c7l, w0h.w, s0l, w1h.w, s1l, w2h.w, s2l);
    (*a).c7h = fma3((*a).c7h, w0h.w, s0h, w1h.w, s1h, w2h.w, s2h);
}

// `add`: the pass adds to y (the _add entry points) rather than writing it; a
// constant in every entry point, so the compiler drops the other store.
struct Tile {
    n: u32, oy: u32, ox0: u32, co0: u32, ok: bool, add: bool,
}

// The tile of invocation gid in workgroups of `wg`: `rows` output rows from oy,
// 8 pixels from ox0, 8 output channels from co0.
fn tile_of(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, wg: u32, rows: u32, add: bool) -> Tile {
    let t = gid.x + gid.z * nwg.x * wg;
    let bands = (p.ho + rows - 1u) / rows;
    var r: Tile;
    r.ok = t < p.n * bands * p.tiles_x;
    r.ox0 = (t % p.tiles_x) * 8u;
    r.oy = ((t / p.tiles_x) % bands) * rows;
    r.n = t / (p.tiles_x * bands);
    r.co0 = wid.y * 8u;
    r.add = add;
    return r;
}

fn tile(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, add: bool) -> Tile {
    return tile_of(gid, wid, nwg, WG, 1u, add);
}

// The same tile `dy` rows down.
fn down(t: Tile, dy: u32) -> Tile {
    var r = t;
    r.oy = t.oy + dy;
    return r;
}

// Weights of taps (ky, 0..2) for input channel ci, channels co0..co0+7.
fn weights_base(ci: u32, ky: u32, co0: u32) -> u32 {
    return ((ci * 3u + ky) * 3u * p.co8 + co0) / 4u;
}

// The weights of one kernel row for 8 output channels: tap kx, channels 0–3 (l)
// and 4–7 (h).
struct Taps {
    w0l: vec4<f32>, w0h: vec4<f32>,
    w1l: vec4<f32>, w1h: vec4<f32>,
    w2l: vec4<f32>, w2h: vec4<f32>,
}

fn taps(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = weights_base(ci, ky, co0);
    return Taps(wt[wb], wt[wb + 1u], wt[wb + q], wt[wb + q + 1u], wt[wb + 2u * q], wt[wb + 2u * q + 1u]);
}

// acc += one kernel row of weights w over the input row whose 8 pixels (and the
// 2 after them) start at vec4 index r, stride 1.
fn row_s1(a: ptr<function, Acc>, w: Taps, r: u32) {
    let v0 = xp[r];
    let v1 = xp[r + 1u];
    let v2 = xp[r + 2u];
    row(a, w.w0l, w.w0h, w.w1l, w.w1h, w.w2l, w.w2h,
        v0, v1,
        vec4<f32>(v0.yzw, v1.x), vec4<f32>(v1.yzw, v2.x),
        vec4<f32>(v0.zw, v1.xy), vec4<f32>(v1.zw, v2.xy));
}

// Writes (add: adds) 4 consecutive pixels of one output row starting at
// element o (pixel ox), dropping those past the row's end. One guarded store
// per value: any more branching here multiplies the driver's compile time by
// the tile's 64–512 values. Component access only: indexing a vector or
// array with a computed index here costs more than the whole tile.
fn put4(o: u32, ox: u32, v: vec4<f32>, add: bool) {
    if add {
        if ox < p.wo { y[o] += v.x; }
        if ox + 1u < p.wo { y[o + 1u] += v.y; }
        if ox + 2u < p.wo { y[o + 2u] += v.z; }
        if ox + 3u < p.wo { y[o + 3u] += v.w; }
    } else {
        if ox < p.wo { y[o] = v.x; }
        if ox + 1u < p.wo { y[o + 1u] = v.y; }
        if ox + 2u < p.wo { y[o + 2u] = v.z; }
        if ox + 3u < p.wo { y[o + 3u] = v.w; }
    }
}

// Writes channel co0 + i of the tile (pixels lo = 0..3, hi = 4..7) if it exists.
fn put_channel(t: Tile, i: u32, lo: vec4<f32>, hi: vec4<f32>) {
    let co = t.co0 + i;
    if co >= p.co {
        return;
    }
    var b = 0.0;
    if (p.flags & 1u) != 0u {
        b = bias[co];
    }
    let o = ((t.n * p.co + co) * p.ho + t.oy) * p.wo + t.ox0;
    put4(o, t.ox0, lo + b, t.add);
    put4(o + 4u, t.ox0 + 4u, hi + b, t.add);
}

fn store(a: Acc, t: Tile) {
    if t.oy >= p.ho {
        return; // a row of the last band of 4 below the output
    }
    put_channel(t, 0u, a.c0l, a.c0h);
    put_channel(t, 1u, a.c1l, a.c1h);
    put_channel(t, 2u, a.c2l, a.c2h);
    put_channel(t, 3u, a.c3l, a.c3h);
    put_channel(t, 4u, a.c4l, a.c4h);
    put_channel(t, 5u, a.c5l, a.c5h);
    put_channel(t, 6u, a.c6l, a.c6h);
    put_channel(t, 7u, a.c7l, a.c7h);
}

fn forward_s1(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, add: bool) {
    let t = tile(gid, wid, nwg, add);
    if !t.ok {
        return;
    }
    var a: Acc;
    for (var ci = 0u; ci < p.ci; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        for (var ky = 0u; ky < 3u; ky++) {
            // Input row oy + ky, pixels ox0 .. ox0 + 9 (padding included).
            row_s1(&a, taps(ci, ky, t.co0), ((plane + t.oy + ky) * p.pitch + t.ox0) / 4u);
        }
    }
    store(a, t);
}

const WG_R4: u32 = 32u;

// The 10-pixel input window of one row at vec4 index r, as the three taps'
// shifted views: s{kx}{l,h} lie under pixels 0–3 / 4–7 of tap kx.
struct Window {
    s0l: vec4<f32>, s0h: vec4<f32>,
    s1l: vec4<f32>, s1h: vec4<f32>,
    s2l: vec4<f32>, s2h: vec4<f32>,
}

fn window_s1(r: u32) -> Window {
    let v0 = xp[r];
    let v1 = xp[r + 1u];
    let v2 = xp[r + 2u];
    return Window(v0, v1,
        vec4<f32>(v0.yzw, v1.x), vec4<f32>(v1.yzw, v2.x),
        vec4<f32>(v0.zw, v1.xy), vec4<f32>(v1.zw, v2.xy));
}

fn apply(a: ptr<function, Acc>, w: Taps, s: Window) {
    row(a, w.w0l, w.w0h, w.w1l, w.w1h, w.w2l, w.w2h, s.s0l, s.s0h, s.s1l, s.s1h, s.s2l, s.s2h);
}

fn forward_s1_r4(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) {
    let t = tile_of(gid, wid, nwg, WG_R4, 4u, false);
    if !t.ok {
        return;
    }
    var a0: Acc;
    var a1: Acc;
    var a2: Acc;
    var a3: Acc;
    let next = p.pitch / 4u; // one input row down, in vec4s
    for (var ci = 0u; ci < p.ci; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        let k0 = taps(ci, 0u, t.co0);
        let k1 = taps(ci, 1u, t.co0);
        let k2 = taps(ci, 2u, t.co0);
        let r = ((plane + t.oy) * p.pitch + t.ox0) / 4u;
        // Input rows oy .. oy + 5, each loaded once: row j meets output row
        // j - ky through kernel row ky, ky ascending for every output row.
        var s = window_s1(r);
        apply(&a0, k0, s);
        s = window_s1(r + next);
        apply(&a0, k1, s);
        apply(&a1, k0, s);
        s = window_s1(r + 2u * next);
        apply(&a0, k2, s);
        apply(&a1, k1, s);
        apply(&a2, k0, s);
        s = window_s1(r + 3u * next);
        apply(&a1, k2, s);
        apply(&a2, k1, s);
        apply(&a3, k0, s);
        s = window_s1(r + 4u * next);
        apply(&a2, k2, s);
        apply(&a3, k1, s);
        s = window_s1(r + 5u * next);
        apply(&a3, k2, s);
    }
    store(a0, t);
    store(a1, down(t, 1u));
    store(a2, down(t, 2u));
    store(a3, down(t, 3u));
}

fn forward_s2(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, add: bool) {
    let t = tile(gid, wid, nwg, add);
    if !t.ok {
        return;
    }
    var a: Acc;
    let q = p.co8 / 4u;
    for (var ci = 0u; ci < p.ci; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        for (var ky = 0u; ky < 3u; ky++) {
            // Input row 2·oy + ky, pixels 2·ox0 .. 2·ox0 + 16.
            let r = ((plane + 2u * t.oy + ky) * p.pitch + 2u * t.ox0) / 4u;
            let v0 = xp[r];
            let v1 = xp[r + 1u];
            let v2 = xp[r + 2u];
            let v3 = xp[r + 3u];
            let v4 = xp[r + 4u];
            let wb = weights_base(ci, ky, t.co0);
            row(&a,
                wt[wb], wt[wb + 1u], wt[wb + q], wt[wb + q + 1u], wt[wb + 2u * q], wt[wb + 2u * q + 1u],
                vec4<f32>(v0.xz, v1.xz), vec4<f32>(v2.xz, v3.xz),
                vec4<f32>(v0.yw, v1.yw), vec4<f32>(v2.yw, v3.yw),
                vec4<f32>(v0.z, v1.xz, v2.x), vec4<f32>(v2.z, v3.xz, v4.x));
        }
    }
    store(a, t);
}

// The entry points: each pass writing y, and adding to it.

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s1(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s1(gid, wid, nwg, false);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s1_add(@builtin(global_invocation_id) gid: vec3<u32>,
          @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s1(gid, wid, nwg, true);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s1_r4(gid, wid, nwg);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s2(gid, wid, nwg, false);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2_add(@builtin(global_invocation_id) gid: vec3<u32>,
          @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s2(gid, wid, nwg, true);
}
