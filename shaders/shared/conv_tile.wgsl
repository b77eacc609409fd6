// The 3x3 tiled convolution's register tile, shared by the modules that run it
// (conv2d_forward_tiled.wgsl with the weights in a storage buffer,
// conv2d_forward_uniform.wgsl and conv2d_forward_subgroup.wgsl with them in a
// uniform one): the parameter block,
// the 8x8 accumulator tile and its multiply-adds, the tile an invocation covers,
// its stores, and the 4-row tile's sum over a range of input channels. The
// importing module declares the bindings p, y (as vec4s, the launcher's
// binding rounded up to whole vec4s), xp and bias and the functions
// `taps(ci, ky, co0) -> Taps` reading its weights and `input_vec(i)`, the
// i-th vec4 of xp. How a finished tile leaves the pass, `emit`, comes from
// shared/conv_out.wgsl (stored as it is) or, in the _bn modules, from
// shared/conv_out_bn.wgsl (through batch norm's eval epilogue).

#import conv_out
#import conv_earlier

struct TiledParams {
    n: u32, ci: u32, hp: u32, pitch: u32,
    co: u32, co8: u32, ho: u32, wo: u32,
    tiles_x: u32, flags: u32, ci0: u32, cn: u32,
    // The batch-norm epilogue's (shared/conv_out_bn.wgsl; 0 elsewhere): its
    // flags, eps, where beta and the running variance start in their
    // bindings, and the padded copy's rows per plane, row pitch and offset.
    bn_flags: u32, eps: f32, beta_at: u32, rv_at: u32,
    yp_hp: u32, yp_pitch: u32, yp_oy: u32, yp_ox: u32,
    // Channels per uniform window of the passes that read up to three
    // (shared/conv_windows.wgsl; 0 elsewhere).
    run: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

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

struct Tile {
    n: u32, oy: u32, ox0: u32, co0: u32, ok: bool,
}

// The tile of invocation gid in workgroups of `wg`: `rows` output rows from oy,
// 8 pixels from ox0, 8 output channels from co0.
fn tile_of(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, wg: u32, rows: u32) -> Tile {
    let t = gid.x + gid.z * nwg.x * wg;
    let bands = (p.ho + rows - 1u) / rows;
    var r: Tile;
    r.ok = t < p.n * bands * p.tiles_x;
    r.ox0 = (t % p.tiles_x) * 8u;
    r.oy = ((t / p.tiles_x) % bands) * rows;
    r.n = t / (p.tiles_x * bands);
    r.co0 = wid.y * 8u;
    return r;
}

fn tile(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> Tile {
    return tile_of(gid, wid, nwg, WG, 1u);
}

// The same tile `dy` rows down.
fn down(t: Tile, dy: u32) -> Tile {
    var r = t;
    r.oy = t.oy + dy;
    return r;
}

// The weights of one kernel row for 8 output channels: tap kx, channels 0–3 (l)
// and 4–7 (h).
struct Taps {
    w0l: vec4<f32>, w0h: vec4<f32>,
    w1l: vec4<f32>, w1h: vec4<f32>,
    w2l: vec4<f32>, w2h: vec4<f32>,
}

// The 10-pixel input window of one row at vec4 index r, as the three taps'
// shifted views: s{kx}{l,h} lie under pixels 0–3 / 4–7 of tap kx.
struct Window {
    s0l: vec4<f32>, s0h: vec4<f32>,
    s1l: vec4<f32>, s1h: vec4<f32>,
    s2l: vec4<f32>, s2h: vec4<f32>,
}

fn window_s1(r: u32) -> Window {
    return window_of(input_vec(r), input_vec(r + 1u), input_vec(r + 2u));
}

// The window of the 12 pixels v0, v1, v2 (the row's vec4s r .. r + 2).
fn window_of(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>) -> Window {
    return Window(v0, v1,
        vec4<f32>(v0.yzw, v1.x), vec4<f32>(v1.yzw, v2.x),
        vec4<f32>(v0.zw, v1.xy), vec4<f32>(v1.zw, v2.xy));
}

fn apply(a: ptr<function, Acc>, w: Taps, s: Window) {
    row(a, w.w0l, w.w0h, w.w1l, w.w1h, w.w2l, w.w2h, s.s0l, s.s0h, s.s1l, s.s1h, s.s2l, s.s2h);
}

struct W8 {
    c0: vec3<f32>, c1: vec3<f32>, c2: vec3<f32>, c3: vec3<f32>,
    c4: vec3<f32>, c5: vec3<f32>, c6: vec3<f32>, c7: vec3<f32>,
}

// A kernel row's weights by output channel: (kx = 0, 1, 2) of channel i as ci.
fn by_channel(k: Taps) -> W8 {
    return W8(vec3<f32>(k.w0l.x, k.w1l.x, k.w2l.x),
              vec3<f32>(k.w0l.y, k.w1l.y, k.w2l.y),
              vec3<f32>(k.w0l.z, k.w1l.z, k.w2l.z),
              vec3<f32>(k.w0l.w, k.w1l.w, k.w2l.w),
              vec3<f32>(k.w0h.x, k.w1h.x, k.w2h.x),
              vec3<f32>(k.w0h.y, k.w1h.y, k.w2h.y),
              vec3<f32>(k.w0h.z, k.w1h.z, k.w2h.z),
              vec3<f32>(k.w0h.w, k.w1h.w, k.w2h.w));
}

// The three taps' input under 4 pixels of a window: its lo (pixels 0–3) or
// hi (4–7) half.
struct Px3 {
    s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>,
}

fn lo(s: Window) -> Px3 {
    return Px3(s.s0l, s.s1l, s.s2l);
}

fn hi(s: Window) -> Px3 {
    return Px3(s.s0h, s.s1h, s.s2h);
}

// acc + kernel row 0's terms (weights w0 over input a), then row 1's (w1, b),
// then row 2's (w2, c), each as `fma3` adds it.
fn rows3(acc: vec4<f32>, w0: vec3<f32>, w1: vec3<f32>, w2: vec3<f32>, a: Px3, b: Px3, c: Px3) -> vec4<f32> {
    let r0 = fma3(acc, w0.x, a.s0, w0.y, a.s1, w0.z, a.s2);
    let r1 = fma3(r0, w1.x, b.s0, w1.y, b.s1, w1.z, b.s2);
    return fma3(r1, w2.x, c.s0, w2.y, c.s1, w2.z, c.s2);
}

// apply(a, k0, sa), apply(a, k1, sb), apply(a, k2, sc) in one: each output's
// sum is the same, in the same order, but each accumulator takes its three
// kernel rows at once. A CPU driver keeps a tile this size in memory, and
// inside the loop over input channels every update of it is a load, a blend
// with the lanes' mask and a store (lavapipe's machine code): one update per
// nine products instead of per three.
fn apply3(a: ptr<function, Acc>, k0: Taps, k1: Taps, k2: Taps, sa: Window, sb: Window, sc: Window) {
    let u = by_channel(k0);
    let v = by_channel(k1);
    let w = by_channel(k2);
    let al = lo(sa); let bl = lo(sb); let cl = lo(sc);
    let ah = hi(sa); let bh = hi(sb); let ch = hi(sc);
    (*a).c0l = rows3((*a).c0l, u.c0, v.c0, w.c0, al, bl, cl);
    (*a).c0h = rows3((*a).c0h, u.c0, v.c0, w.c0, ah, bh, ch);
    (*a).c1l = rows3((*a).c1l, u.c1, v.c1, w.c1, al, bl, cl);
    (*a).c1h = rows3((*a).c1h, u.c1, v.c1, w.c1, ah, bh, ch);
    (*a).c2l = rows3((*a).c2l, u.c2, v.c2, w.c2, al, bl, cl);
    (*a).c2h = rows3((*a).c2h, u.c2, v.c2, w.c2, ah, bh, ch);
    (*a).c3l = rows3((*a).c3l, u.c3, v.c3, w.c3, al, bl, cl);
    (*a).c3h = rows3((*a).c3h, u.c3, v.c3, w.c3, ah, bh, ch);
    (*a).c4l = rows3((*a).c4l, u.c4, v.c4, w.c4, al, bl, cl);
    (*a).c4h = rows3((*a).c4h, u.c4, v.c4, w.c4, ah, bh, ch);
    (*a).c5l = rows3((*a).c5l, u.c5, v.c5, w.c5, al, bl, cl);
    (*a).c5h = rows3((*a).c5h, u.c5, v.c5, w.c5, ah, bh, ch);
    (*a).c6l = rows3((*a).c6l, u.c6, v.c6, w.c6, al, bl, cl);
    (*a).c6h = rows3((*a).c6h, u.c6, v.c6, w.c6, ah, bh, ch);
    (*a).c7l = rows3((*a).c7l, u.c7, v.c7, w.c7, al, bl, cl);
    (*a).c7h = rows3((*a).c7h, u.c7, v.c7, w.c7, ah, bh, ch);
}

const WG_R4: u32 = 32u;

// a0..a3 (output rows oy .. oy + 3 of tile t) += the sums over input channels
// c0 .. c1 - 1, in order. Reads the weights through `taps`, which each module
// importing this one defines over its own weight binding.
fn r4_sum(a0: ptr<function, Acc>, a1: ptr<function, Acc>, a2: ptr<function, Acc>,
          a3: ptr<function, Acc>, t: Tile, c0: u32, c1: u32) {
    let next = p.pitch / 4u; // one input row down, in vec4s
    for (var ci = c0; ci < c1; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        let k0 = taps(ci, 0u, t.co0);
        let k1 = taps(ci, 1u, t.co0);
        let k2 = taps(ci, 2u, t.co0);
        let r = ((plane + t.oy) * p.pitch + t.ox0) / 4u;
        // Input rows oy .. oy + 5, each loaded once: row j meets output row
        // j - ky through kernel row ky, ky ascending for every output row.
        // (r4_channel's sums, with each row loaded just before its use:
        // 3-5% faster on lavapipe than loading all six first, when the
        // input came from a storage buffer.)
        var s = window_s1(r);
        apply(a0, k0, s);
        s = window_s1(r + next);
        apply(a0, k1, s);
        apply(a1, k0, s);
        s = window_s1(r + 2u * next);
        apply(a0, k2, s);
        apply(a1, k1, s);
        apply(a2, k0, s);
        s = window_s1(r + 3u * next);
        apply(a1, k2, s);
        apply(a2, k1, s);
        apply(a3, k0, s);
        s = window_s1(r + 4u * next);
        apply(a2, k2, s);
        apply(a3, k1, s);
        s = window_s1(r + 5u * next);
        apply(a3, k2, s);
    }
}

// a0..a3 += one input channel's terms (the sums r4_sum adds, each output row
// taking its three kernel rows at once): its kernel rows k0..k2 over the
// windows s0..s5 of input rows oy .. oy + 5.
fn r4_channel(a0: ptr<function, Acc>, a1: ptr<function, Acc>, a2: ptr<function, Acc>,
              a3: ptr<function, Acc>, k0: Taps, k1: Taps, k2: Taps,
              s0: Window, s1: Window, s2: Window, s3: Window, s4: Window, s5: Window) {
    apply3(a0, k0, k1, k2, s0, s1, s2);
    apply3(a1, k0, k1, k2, s1, s2, s3);
    apply3(a2, k0, k1, k2, s2, s3, s4);
    apply3(a3, k0, k1, k2, s3, s4, s5);
}

// a (one output row of tile t, stride 2) += the sums over input channels
// c0 .. c1 - 1, in order; weights through `taps`, as r4_sum.
fn s2_sum(a: ptr<function, Acc>, t: Tile, c0: u32, c1: u32) {
    for (var ci = c0; ci < c1; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        for (var ky = 0u; ky < 3u; ky++) {
            // Input row 2·oy + ky, pixels 2·ox0 .. 2·ox0 + 16.
            let r = ((plane + 2u * t.oy + ky) * p.pitch + 2u * t.ox0) / 4u;
            let v0 = input_vec(r);
            let v1 = input_vec(r + 1u);
            let v2 = input_vec(r + 2u);
            let v3 = input_vec(r + 3u);
            let v4 = input_vec(r + 4u);
            s2_row(a, taps(ci, ky, t.co0), v0, v1, v2, v3, v4);
        }
    }
}

// a += one kernel row w of stride 2 over the 20 input pixels v0..v4 (output
// pixel i reads input pixels 2i + kx).
fn s2_row(a: ptr<function, Acc>, w: Taps, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>,
          v3: vec4<f32>, v4: vec4<f32>) {
    apply(a, w, s2_window(v0, v1, v2, v3, v4));
}

// The three taps' views of the 20 input pixels v0..v4 of a stride-2 row.
fn s2_window(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>, v4: vec4<f32>) -> Window {
    return Window(vec4<f32>(v0.xz, v1.xz), vec4<f32>(v2.xz, v3.xz),
                  vec4<f32>(v0.yw, v1.yw), vec4<f32>(v2.yw, v3.yw),
                  vec4<f32>(v0.z, v1.xz, v2.x), vec4<f32>(v2.z, v3.xz, v4.x));
}

// Whether output rows are whole vec4s (Wo a multiple of 4), set per pipeline
// by the launcher: then a tile's 4 pixels from o (itself a multiple of 4) lie
// all in the row or all past it, and take one vec4 store. As a constant of
// the pipeline it leaves the driver one of the two store paths to compile
// (lavapipe, shader cache off: a first resnet20 training step took 30-38 s
// with both paths in every pipeline, 14-16 s with the vec4 one alone, 21-23 s
// with 4 scalar stores before).
override VEC4_ROWS: bool = false;

// Whether output rows have at most 4 pixels, set per pipeline by the
// launcher: then the 4-row subgroup tiles fold two rows into one
// accumulator (shared/conv_lanes.wgsl, r4sg_folded).
override FOLDED: bool = false;

// Whether the 4-row subgroup tiles run 8 rows a lane instead, set per
// pipeline by the launcher (never with FOLDED): two 4-row tiles' sums over
// ten input rows loaded and shared once (shared/conv_lanes.wgsl, r8sg).
override ROWS8: bool = false;

// Writes 4 consecutive pixels of one output row starting at element o
// (pixel ox), dropping those past the row's end: one vec4 store
// where rows are whole vec4s (on lavapipe every storage access is a loop over
// the lanes: this ran the 4-row tiles 1.12-1.23x faster than 4 stores), else
// one guarded store per value (y's binding then covers its last vec4 whole:
// the launcher rounds it up). Any more branching here multiplies the
// driver's compile time by the tile's 64–512 values. Component access only:
// indexing a vector or array in registers with a computed index here costs
// more than the whole tile.
fn put4(o: u32, ox: u32, v: vec4<f32>) {
    if VEC4_ROWS {
        if ox < p.wo { y[o >> 2u] = v; }
    } else {
        if ox < p.wo { put1(o, v.x); }
        if ox + 1u < p.wo { put1(o + 1u, v.y); }
        if ox + 2u < p.wo { put1(o + 2u, v.z); }
        if ox + 3u < p.wo { put1(o + 3u, v.w); }
    }
}

// Element e of y (bound as vec4s).
fn y_at(e: u32) -> f32 {
    return y[e >> 2u][e & 3u];
}

fn put1(e: u32, v: f32) {
    y[e >> 2u][e & 3u] = v;
}

// 4 consecutive pixels of one output row from element o (pixel ox); 0 past
// the row's end (never stored). As put4: one vec4 load where rows are whole
// vec4s.
fn get4(o: u32, ox: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if VEC4_ROWS {
        if ox < p.wo { v = earlier(o >> 2u); }
    } else {
        if ox < p.wo { v.x = y_at(o); }
        if ox + 1u < p.wo { v.y = y_at(o + 1u); }
        if ox + 2u < p.wo { v.z = y_at(o + 2u); }
        if ox + 3u < p.wo { v.w = y_at(o + 3u); }
    }
    return v;
}

// What y holds for tile t (where `store` writes it): the sums an earlier run
// of input channels stored, or what an adding pass adds to.
fn resume(t: Tile) -> Acc {
    var a: Acc;
    if t.oy >= p.ho {
        return a;
    }
    let o = ((t.n * p.co + t.co0) * p.ho + t.oy) * p.wo + t.ox0;
    let c = p.ho * p.wo; // one channel further
    let x0 = t.ox0;
    let x4 = t.ox0 + 4u;
    if t.co0 < p.co { a.c0l = get4(o, x0); a.c0h = get4(o + 4u, x4); }
    if t.co0 + 1u < p.co { a.c1l = get4(o + c, x0); a.c1h = get4(o + c + 4u, x4); }
    if t.co0 + 2u < p.co { a.c2l = get4(o + 2u * c, x0); a.c2h = get4(o + 2u * c + 4u, x4); }
    if t.co0 + 3u < p.co { a.c3l = get4(o + 3u * c, x0); a.c3h = get4(o + 3u * c + 4u, x4); }
    if t.co0 + 4u < p.co { a.c4l = get4(o + 4u * c, x0); a.c4h = get4(o + 4u * c + 4u, x4); }
    if t.co0 + 5u < p.co { a.c5l = get4(o + 5u * c, x0); a.c5h = get4(o + 5u * c + 4u, x4); }
    if t.co0 + 6u < p.co { a.c6l = get4(o + 6u * c, x0); a.c6h = get4(o + 6u * c + 4u, x4); }
    if t.co0 + 7u < p.co { a.c7l = get4(o + 7u * c, x0); a.c7h = get4(o + 7u * c + 4u, x4); }
    return a;
}

// The accumulators a pass over tile t starts from: y's values where the pass
// resumes (flags & 2: a later run of input channels, or a pass adding to y,
// whose sums then start from what y holds), else zeros.
fn start(t: Tile) -> Acc {
    var a: Acc;
    if (p.flags & 2u) != 0u {
        a = resume(t);
    }
    return a;
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
    emit(t, co, o, lo + b, hi + b);
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

// Writes the four rows of a 4-row tile.
fn store4(a0: Acc, a1: Acc, a2: Acc, a3: Acc, t: Tile) {
    store(a0, t);
    store(a1, down(t, 1u));
    store(a2, down(t, 2u));
    store(a3, down(t, 3u));
}

