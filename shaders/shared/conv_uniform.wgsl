// What the tiled forward passes with uniform weights share
// (conv2d_forward_uniform.wgsl, conv2d_forward_subgroup.wgsl): reading the
// weights of a run of input channels from the uniform window, and a later
// run's start from the sums an earlier one stored. The importing module
// declares p, y and `wu` (the window: [Ci, 3, 3, Co8] as vec4 from channel
// ci0) and imports conv_tile.

fn taps(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = (((ci - p.ci0) * 3u + ky) * 3u * p.co8 + co0) / 4u;
    return Taps(wu[wb], wu[wb + 1u], wu[wb + q], wu[wb + q + 1u], wu[wb + 2u * q], wu[wb + 2u * q + 1u]);
}

// 4 consecutive pixels of one output row from element o (pixel ox); 0 past
// the row's end (never stored). As put4: one vec4 load where rows are whole
// vec4s.
fn get4(o: u32, ox: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if VEC4_ROWS {
        if ox < p.wo { v = y[o >> 2u]; }
    } else {
        if ox < p.wo { v.x = y_at(o); }
        if ox + 1u < p.wo { v.y = y_at(o + 1u); }
        if ox + 2u < p.wo { v.z = y_at(o + 2u); }
        if ox + 3u < p.wo { v.w = y_at(o + 3u); }
    }
    return v;
}

// The sums an earlier run stored for tile t (what `store` wrote, where it wrote).
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
