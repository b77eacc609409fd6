// The bodies of conv2d_forward_subgroup.wgsl's kernels (see there), over the
// importing module's `input_vec` (shared/conv_tile.wgsl): the input from a
// storage buffer there, as texels in conv2d_forward_texel_subgroup.wgsl.
// Only for modules validated with subgroups (*_subgroup.wgsl); needs
// shared/conv_tile.wgsl, conv_uniform.wgsl, conv_windows.wgsl and lanes.wgsl
// imported first.

// An invocation's place: its tile (`ok` false past the last one, whose place
// it then takes), its position k in its group and the subgroup lane of the
// group's first.
struct Lane {
    t: Tile, k: u32, first: u32,
}

// Tiles of `rows` output rows, workgroups of `wg` invocations.
fn lane_of(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32,
           rows: u32, wg: u32) -> Lane {
    let grp = group_of(sid, sl, size, l, wg);
    let g = (wid.x + wid.z * nwg.x) * (wg / l) + grp.index;
    let bands = (p.ho + rows - 1u) / rows;
    let tiles = p.n * bands * p.tiles_x;
    let ti = min(g, tiles - 1u);
    var r: Lane;
    r.k = grp.k;
    r.first = grp.first;
    r.t.ok = g < tiles;
    r.t.ox0 = (ti % p.tiles_x) * 8u;
    r.t.oy = ((ti / p.tiles_x) % bands) * rows;
    r.t.n = ti / (p.tiles_x * bands);
    r.t.co0 = (wid.y * l + r.k) * 8u;
    return r;
}

// The window of input row j of the group's 4-row tile.
fn group_window(m: ptr<function, array<vec4<f32>, 9>>, j: u32, first: u32, l: u32) -> Window {
    return window_of(group_vector(m, 3u * j, first, l), group_vector(m, 3u * j + 1u, first, l),
                     group_vector(m, 3u * j + 2u, first, l));
}

// a0..a3 += input channel ci's terms for lane's tile, its kernel rows k0..k2.
fn r4sg_channel(a0: ptr<function, Acc>, a1: ptr<function, Acc>, a2: ptr<function, Acc>,
                a3: ptr<function, Acc>, lane: Lane, l: u32, ci: u32,
                k0: Taps, k1: Taps, k2: Taps) {
    let t = lane.t;
    let plane = (t.n * p.ci + ci) * p.hp;
    var m = own_vectors(((plane + t.oy) * p.pitch + t.ox0) / 4u, p.pitch / 4u, lane.k, l, 3u, 18u);
    let f = lane.first;
    r4_channel(a0, a1, a2, a3, k0, k1, k2,
        group_window(&m, 0u, f, l), group_window(&m, 1u, f, l), group_window(&m, 2u, f, l),
        group_window(&m, 3u, f, l), group_window(&m, 4u, f, l), group_window(&m, 5u, f, l));
}

// The grouped stride-1 tile its pipeline constants choose. (An if-else on
// them: a specialised pipeline keeps only the side it runs, and none of the
// others' functions.)
fn r4sg(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    if FOLDED {
        r4sg_folded(wid, nwg, sid, sl, size, l);
    } else if ROWS8 {
        r8sg(wid, nwg, sid, sl, size, l);
    } else {
        r4sg_rows4(wid, nwg, sid, sl, size, l);
    }
}

fn r4sg_rows4(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let lane = lane_of(wid, nwg, sid, sl, size, l, 4u, WG_R4);
    let t = lane.t;
    var a0 = start(t);
    var a1 = start(down(t, 1u));
    var a2 = start(down(t, 2u));
    var a3 = start(down(t, 3u));
    // The channels of each window in turn (shared/conv_windows.wgsl).
    let e = window_ends();
    for (var ci = p.ci0; ci < e.x; ci++) {
        r4sg_channel(&a0, &a1, &a2, &a3, lane, l, ci,
            taps(ci, 0u, t.co0), taps(ci, 1u, t.co0), taps(ci, 2u, t.co0));
    }
    if WINDOWS > 1u {
        for (var ci = e.x; ci < e.y; ci++) {
            r4sg_channel(&a0, &a1, &a2, &a3, lane, l, ci,
                taps1(ci, 0u, t.co0), taps1(ci, 1u, t.co0), taps1(ci, 2u, t.co0));
        }
        for (var ci = e.y; ci < p.ci0 + p.cn; ci++) {
            r4sg_channel(&a0, &a1, &a2, &a3, lane, l, ci,
                taps2(ci, 0u, t.co0), taps2(ci, 1u, t.co0), taps2(ci, 2u, t.co0));
        }
    }
    if t.ok {
        store4(a0, a1, a2, a3, t);
    }
}

// a0..a7 += input channel ci's terms for lane's 8-row tile, its kernel rows
// k0..k2: r4sg_channel's sums for output rows oy .. oy + 3 and for
// oy + 4 .. oy + 7, over input rows oy .. oy + 9 loaded once (rows 4 and 5
// meet both halves), in two parts so that a lane's share fits `own_vectors`
// for every group size.
fn r8sg_channel(a0: ptr<function, Acc>, a1: ptr<function, Acc>, a2: ptr<function, Acc>,
                a3: ptr<function, Acc>, a4: ptr<function, Acc>, a5: ptr<function, Acc>,
                a6: ptr<function, Acc>, a7: ptr<function, Acc>, lane: Lane, l: u32,
                ci: u32, k0: Taps, k1: Taps, k2: Taps) {
    let t = lane.t;
    let plane = (t.n * p.ci + ci) * p.hp;
    let next = p.pitch / 4u;
    let r = ((plane + t.oy) * p.pitch + t.ox0) / 4u;
    let f = lane.first;
    var m = own_vectors(r, next, lane.k, l, 3u, 18u);
    let s4 = group_window(&m, 4u, f, l);
    let s5 = group_window(&m, 5u, f, l);
    r4_channel(a0, a1, a2, a3, k0, k1, k2,
        group_window(&m, 0u, f, l), group_window(&m, 1u, f, l), group_window(&m, 2u, f, l),
        group_window(&m, 3u, f, l), s4, s5);
    var n = own_vectors(r + 6u * next, next, lane.k, l, 3u, 12u);
    r4_channel(a4, a5, a6, a7, k0, k1, k2, s4, s5,
        group_window(&n, 0u, f, l), group_window(&n, 1u, f, l), group_window(&n, 2u, f, l),
        group_window(&n, 3u, f, l));
}

// r4sg over tiles of 8 output rows (ROWS8): per input channel, ten input
// rows serve eight output rows where six serve four, and each output's terms
// are r4sg's in r4sg's order: the same bits. Rows past the output (a last
// band of fewer than 8) are computed from whatever the rows below hold and
// not stored, as r4sg's are.
fn r8sg(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let lane = lane_of(wid, nwg, sid, sl, size, l, 8u, WG_R4);
    let t = lane.t;
    var a0 = start(t);
    var a1 = start(down(t, 1u));
    var a2 = start(down(t, 2u));
    var a3 = start(down(t, 3u));
    var a4 = start(down(t, 4u));
    var a5 = start(down(t, 5u));
    var a6 = start(down(t, 6u));
    var a7 = start(down(t, 7u));
    let e = window_ends();
    for (var ci = p.ci0; ci < e.x; ci++) {
        r8sg_channel(&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, lane, l, ci,
            taps(ci, 0u, t.co0), taps(ci, 1u, t.co0), taps(ci, 2u, t.co0));
    }
    if WINDOWS > 1u {
        for (var ci = e.x; ci < e.y; ci++) {
            r8sg_channel(&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, lane, l, ci,
                taps1(ci, 0u, t.co0), taps1(ci, 1u, t.co0), taps1(ci, 2u, t.co0));
        }
        for (var ci = e.y; ci < p.ci0 + p.cn; ci++) {
            r8sg_channel(&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7, lane, l, ci,
                taps2(ci, 0u, t.co0), taps2(ci, 1u, t.co0), taps2(ci, 2u, t.co0));
        }
    }
    if t.ok {
        store4(a0, a1, a2, a3, t);
        store4(a4, a5, a6, a7, down(t, 4u));
    }
}

// The window of the group's folded tile (see r4sg_folded) for output rows
// j - ky and j + 1 - ky through kernel row ky: the 4-pixel windows of input
// rows j (under the lo pixels) and j + 1 (under the hi ones), each from the
// row's first two vec4s as window_of takes pixels 0–3.
fn folded_window(m: ptr<function, array<vec4<f32>, 9>>, j: u32, first: u32, l: u32) -> Window {
    let a0 = group_vector(m, 2u * j, first, l);
    let a1 = group_vector(m, 2u * j + 1u, first, l);
    let b0 = group_vector(m, 2u * j + 2u, first, l);
    let b1 = group_vector(m, 2u * j + 3u, first, l);
    return Window(a0, b0, vec4<f32>(a0.yzw, a1.x), vec4<f32>(b0.yzw, b1.x),
                  vec4<f32>(a0.zw, a1.xy), vec4<f32>(b0.zw, b1.xy));
}

// f0, f1 (the folded tile's rows oy, oy + 1 and oy + 2, oy + 3) += input
// channel ci's terms: each output row's kernel rows in r4_channel's order.
fn r4sg_folded_channel(f0: ptr<function, Acc>, f1: ptr<function, Acc>, lane: Lane, l: u32,
                       ci: u32, k0: Taps, k1: Taps, k2: Taps) {
    let t = lane.t;
    let plane = (t.n * p.ci + ci) * p.hp;
    var m = own_vectors(((plane + t.oy) * p.pitch + t.ox0) / 4u, p.pitch / 4u, lane.k, l, 2u, 12u);
    let f = lane.first;
    let w2 = folded_window(&m, 2u, f, l);
    apply3(f0, k0, k1, k2, folded_window(&m, 0u, f, l), folded_window(&m, 1u, f, l), w2);
    apply3(f1, k0, k1, k2, w2, folded_window(&m, 3u, f, l), folded_window(&m, 4u, f, l));
}

// Two rows' lo pixels as one accumulator's lo and hi.
fn fold(a: Acc, b: Acc) -> Acc {
    return Acc(a.c0l, b.c0l, a.c1l, b.c1l, a.c2l, b.c2l, a.c3l, b.c3l,
               a.c4l, b.c4l, a.c5l, b.c5l, a.c6l, b.c6l, a.c7l, b.c7l);
}

// The first (hi = false) or second row of a folded accumulator, its pixels
// 4–7 (past a row of at most 4) zero.
fn unfold(f: Acc, hi: bool) -> Acc {
    var a: Acc;
    a.c0l = select(f.c0l, f.c0h, hi);
    a.c1l = select(f.c1l, f.c1h, hi);
    a.c2l = select(f.c2l, f.c2h, hi);
    a.c3l = select(f.c3l, f.c3h, hi);
    a.c4l = select(f.c4l, f.c4h, hi);
    a.c5l = select(f.c5l, f.c5h, hi);
    a.c6l = select(f.c6l, f.c6h, hi);
    a.c7l = select(f.c7l, f.c7h, hi);
    return a;
}

// r4sg for output rows of at most 4 pixels (FOLDED), where the 8-pixel tile
// would leave half its sums unused: two rows share an accumulator, the upper
// one as its pixels 0–3, the lower as 4–7, so a 4-row tile takes half the
// multiply-adds and two thirds of the loads. Each output's terms are
// r4sg's in r4sg's order: the same bits.
fn r4sg_folded(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let lane = lane_of(wid, nwg, sid, sl, size, l, 4u, WG_R4);
    let t = lane.t;
    var f0 = fold(start(t), start(down(t, 1u)));
    var f1 = fold(start(down(t, 2u)), start(down(t, 3u)));
    let e = window_ends();
    for (var ci = p.ci0; ci < e.x; ci++) {
        r4sg_folded_channel(&f0, &f1, lane, l, ci,
            taps(ci, 0u, t.co0), taps(ci, 1u, t.co0), taps(ci, 2u, t.co0));
    }
    if WINDOWS > 1u {
        for (var ci = e.x; ci < e.y; ci++) {
            r4sg_folded_channel(&f0, &f1, lane, l, ci,
                taps1(ci, 0u, t.co0), taps1(ci, 1u, t.co0), taps1(ci, 2u, t.co0));
        }
        for (var ci = e.y; ci < p.ci0 + p.cn; ci++) {
            r4sg_folded_channel(&f0, &f1, lane, l, ci,
                taps2(ci, 0u, t.co0), taps2(ci, 1u, t.co0), taps2(ci, 2u, t.co0));
        }
    }
    if t.ok {
        store4(unfold(f0, false), unfold(f0, true), unfold(f1, false), unfold(f1, true), t);
    }
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4sg2(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    r4sg(wid, nwg, sid, sl, size, 2u);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4sg4(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    r4sg(wid, nwg, sid, sl, size, 4u);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4sg8(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    r4sg(wid, nwg, sid, sl, size, 8u);
}

// Output rows of the grouped stride-2 tile (the launcher's
// `S2_GROUP_ROWS`).
const S2_ROWS: u32 = 2u;

// The stride-2 window of row j (vectors 5j .. 5j + 4) of the group's input
// `m`.
fn s2sg_window(m: ptr<function, array<vec4<f32>, 9>>, j: u32, first: u32, l: u32) -> Window {
    return s2_window(group_vector(m, 5u * j, first, l), group_vector(m, 5u * j + 1u, first, l),
                     group_vector(m, 5u * j + 2u, first, l), group_vector(m, 5u * j + 3u, first, l),
                     group_vector(m, 5u * j + 4u, first, l));
}

// a0, a1 (output rows oy, oy + 1 of lane's stride-2 tile) += input channel
// ci's terms, its kernel rows k0..k2: input rows 2·oy .. 2·oy + 4, the
// middle one meeting both output rows. The group loads them in two parts
// (rows 0–2, then 3–4) so that a lane's share fits `own_vectors` for every
// group size.
fn s2sg_channel(a0: ptr<function, Acc>, a1: ptr<function, Acc>, lane: Lane, l: u32, ci: u32,
                k0: Taps, k1: Taps, k2: Taps) {
    let t = lane.t;
    let f = lane.first;
    let plane = (t.n * p.ci + ci) * p.hp;
    let next = p.pitch / 4u;
    let r = ((plane + 2u * t.oy) * p.pitch + 2u * t.ox0) / 4u;
    var m = own_vectors(r, next, lane.k, l, 5u, 15u);
    let w2 = s2sg_window(&m, 2u, f, l);
    apply3(a0, k0, k1, k2, s2sg_window(&m, 0u, f, l), s2sg_window(&m, 1u, f, l), w2);
    var n = own_vectors(r + 3u * next, next, lane.k, l, 5u, 10u);
    apply3(a1, k0, k1, k2, w2, s2sg_window(&n, 0u, f, l), s2sg_window(&n, 1u, f, l));
}

// The stride-2 tile (two output rows of 8 pixels; input rows 2·oy ..
// 2·oy + 4, 5 vec4s each) for a group of l lanes, each output's terms in
// conv2d_forward_tiled_s2u's order, the weights from each window in turn
// (shared/conv_windows.wgsl).
fn s2sg(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let lane = lane_of(wid, nwg, sid, sl, size, l, S2_ROWS, WG);
    let t = lane.t;
    var a0 = start(t);
    var a1 = start(down(t, 1u));
    let e = window_ends();
    for (var ci = p.ci0; ci < e.x; ci++) {
        s2sg_channel(&a0, &a1, lane, l, ci, taps(ci, 0u, t.co0), taps(ci, 1u, t.co0), taps(ci, 2u, t.co0));
    }
    if WINDOWS > 1u {
        for (var ci = e.x; ci < e.y; ci++) {
            s2sg_channel(&a0, &a1, lane, l, ci, taps1(ci, 0u, t.co0), taps1(ci, 1u, t.co0), taps1(ci, 2u, t.co0));
        }
        for (var ci = e.y; ci < p.ci0 + p.cn; ci++) {
            s2sg_channel(&a0, &a1, lane, l, ci, taps2(ci, 0u, t.co0), taps2(ci, 1u, t.co0), taps2(ci, 2u, t.co0));
        }
    }
    if t.ok {
        store(a0, t);
        store(a1, down(t, 1u));
    }
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2sg2(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    s2sg(wid, nwg, sid, sl, size, 2u);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2sg4(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    s2sg(wid, nwg, sid, sl, size, 4u);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2sg8(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    s2sg(wid, nwg, sid, sl, size, 8u);
}
