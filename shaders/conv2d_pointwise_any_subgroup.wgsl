// conv2d_pointwise_any_sg and conv2d_pointwise_weight_any_sg: the 1x1
// passes of conv2d_pointwise_subgroup.wgsl for the convolutions whose quads
// of positions are not whole vec4s of x or y — planes of 7x7 or 14x14 at
// stride 2, strides past 2 — and for the backward-data passes of strided
// ones, which conv2d_direct.wgsl runs over dy dilated by the stride (three
// zeros in four at stride 2). Each lane loads its positions' inputs as
// scalars, which on a CPU adapter cost more than a vec4 each (measured
// 1.2–1.7x the time of the vec4 kernels where both fit), so these run only
// where those do not. Needs subgroups of at least 8 invocations.
//
// conv2d_pointwise_any_sg: y[n, co, out(g)] (+)= Σ_ci w[co, ci]·x[n, ci, in(g)]
// (+ bias[co]), in ci order (the sums of conv2d_pointwise_sg), for every
// point g of a grid:
//   - a convolution (p.dily = p.dilx = 1): the output positions (Ho x Wo),
//     in(g) = (sh·gy, sw·gx), out(g) = g;
//   - the backward-data pass of a strided one (x is dy, y is dx, the
//     strides in p.dily, p.dilx): dy's positions (H x W), in(g) = g,
//     out(g) = (dily·gy, dilx·gx); each point owns the dily x dilx block of
//     dx from there and writes its other places 0 (or, adding, leaves them).
//   1 ys   [N, Co, Ho, Wo]   written (added to when flags & 2)
//   2 xs   [N, Ci, H, W]
//   3 wt   [Ci, 1, 1, Co8]   as in conv2d_pointwise_sg
//   4 bias [Co]              read when flags & 1
// A quad is 4 consecutive points of the N·gh·gw (points past the end repeat
// the last and store nothing). One invocation computes 32 output channels ×
// 1 quad, lane k of each 8 loading vec4 k of the channel's weights and
// broadcasting it (shared/pointwise_lanes.wgsl). Grid x (and z beyond the
// per-dimension limit) numbers groups of 64 invocations over the
// 32-channel tiles and their quads (shared/pointwise_lanes.wgsl's `slot`).
// conv2d_pointwise_any_sg64: the same, 64 output channels an invocation
// (two runs of 32, the quad's inputs loaded once for both).
//
// conv2d_pointwise_weight_any_sg: partials[s, co, ci] = Σ_{positions q in
// chunk s} dy[n, co, q]·x[n, ci, in(q)], for any stride:
//   1 partials [S, Co, Ci]  written; conv2d_backward_weight_reduce sums the chunks
//   2 wdy      [N, Co, Ho, Wo]
//   3 wx       [N, Ci, H, W]
// A workgroup is 8 lanes on one position at a time, each summing CO_TILE
// (32, or 16 where Co is at most 16) output × 8 input channels: per
// position 8 loads of x and 4 of dy (the other 28 channels' broadcast) feed
// 256 multiply-adds (16 channels: 2 of dy, 128). Grid: x the 64-channel
// tiles of ci, y the CO_TILE-channel tiles of co, z the chunks (p.rows
// positions each).

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import pointwise
#import pointwise_lanes

@group(0) @binding(1) var<storage, read_write> ys: array<f32>;
@group(0) @binding(2) var<storage, read> xs: array<f32>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> wdy: array<f32>;
@group(0) @binding(3) var<storage, read> wx: array<f32>;

// Whether the pass is the backward-data pass of a strided convolution.
fn scatters() -> bool {
    return p.dily != 1u || p.dilx != 1u;
}

// The grid's rows and columns.
fn grid() -> vec2<u32> {
    if scatters() {
        return vec2<u32>(p.h, p.w);
    }
    return vec2<u32>(p.ho, p.wo);
}

// Point g of the grid: its place in x and in y (channel 0), and the rows
// and columns of its block inside y (1 x 1 but in a backward-data pass).
struct Point {
    x: u32, y: u32, rows: u32, cols: u32,
}

fn point(g: u32) -> Point {
    let size = grid();
    let per = size.x * size.y;
    let n = g / per;
    let r = g % per;
    let gy = r / size.y;
    let gx = r % size.y;
    let xb = n * p.ci * p.h * p.w;
    let yb = n * p.co * p.ho * p.wo;
    if scatters() {
        let oy = gy * p.dily;
        let ox = gx * p.dilx;
        return Point(xb + r, yb + oy * p.wo + ox, min(p.dily, p.ho - oy), min(p.dilx, p.wo - ox));
    }
    return Point(xb + gy * p.sh * p.w + gx * p.sw, yb + r, 1u, 1u);
}

// Quad v's points (4v .. 4v + 3), and how many of them are real.
struct Points4 {
    a: Point, b: Point, c: Point, d: Point, valid: u32,
}

fn points4(v: u32) -> Points4 {
    let size = grid();
    let count = p.n * size.x * size.y;
    let g = min(4u * v, count);
    let last = count - 1u;
    return Points4(point(min(g, last)), point(min(g + 1u, last)), point(min(g + 2u, last)),
                   point(min(g + 3u, last)), min(count - g, 4u));
}

// The quad's 4 inputs of the channel whose plane starts `at` past channel 0.
fn inputs4(q: Points4, at: u32) -> vec4<f32> {
    return vec4<f32>(xs[q.a.x + at], xs[q.b.x + at], xs[q.c.x + at], xs[q.d.x + at]);
}

// Point o's sum s of channel co (its plane `at` past channel 0) leaves for
// y; writing (not adding), the rest of the point's block is zeroed.
fn put1(o: Point, at: u32, co: u32, s: f32) {
    let i = o.y + at;
    var v = s;
    if (p.flags & 1u) != 0u {
        v += bias[co];
    }
    if (p.flags & 2u) != 0u {
        ys[i] = v + ys[i];
        return;
    }
    ys[i] = v;
    for (var r = 0u; r < o.rows; r++) {
        for (var c = select(0u, 1u, r == 0u); c < o.cols; c++) {
            ys[i + r * p.wo + c] = 0.0;
        }
    }
}

// Channel co's 4 sums of quad q leave for y (none past Co or past the
// quad's real points).
fn put4(q: Points4, co: u32, v: vec4<f32>) {
    if co >= p.co {
        return;
    }
    let at = co * p.ho * p.wo;
    if q.valid > 0u {
        put1(q.a, at, co, v.x);
    }
    if q.valid > 1u {
        put1(q.b, at, co, v.y);
    }
    if q.valid > 2u {
        put1(q.c, at, co, v.z);
    }
    if q.valid > 3u {
        put1(q.d, at, co, v.w);
    }
}

// The 32 channels from c0 of quad q, one at a time in a loop: each
// channel's stores (a loop over the point's block) written out 32 or 64
// times made the 64-channel pipeline take lavapipe over 40 s to compile.
fn store32_any(q: Points4, c0: u32, a: Acc32) {
    var v = array<vec4<f32>, 32>(
        a.a0.c0, a.a0.c1, a.a0.c2, a.a0.c3, a.a0.c4, a.a0.c5, a.a0.c6, a.a0.c7,
        a.a1.c0, a.a1.c1, a.a1.c2, a.a1.c3, a.a1.c4, a.a1.c5, a.a1.c6, a.a1.c7,
        a.a2.c0, a.a2.c1, a.a2.c2, a.a2.c3, a.a2.c4, a.a2.c5, a.a2.c6, a.a2.c7,
        a.a3.c0, a.a3.c1, a.a3.c2, a.a3.c3, a.a3.c4, a.a3.c5, a.a3.c6, a.a3.c7);
    for (var j = 0u; j < 32u; j++) {
        put4(q, c0 + j, v[j]);
    }
}

// The quads of the pass's grid of points.
fn point_quads() -> u32 {
    let size = grid();
    return (p.n * size.x * size.y + 3u) / 4u;
}

// Quad `at.v`'s points, none of them real where the invocation stores
// nothing.
fn points_at(at: Slot) -> Points4 {
    var q = points4(at.v);
    if !at.stored {
        q.valid = 0u;
    }
    return q;
}

@compute @workgroup_size(WG)
fn conv2d_pointwise_any_sg(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(subgroup_id) sid: u32,
                           @builtin(subgroup_invocation_id) lane: u32,
                           @builtin(subgroup_size) size: u32) {
    let at = slot(wid, nwg, sid, lane, size, point_quads(), 32u);
    let q = points_at(at);
    let plane = p.h * p.w;
    var a: Acc32;
    for (var ci = 0u; ci < p.ci; ci++) {
        a = mac32(a, inputs4(q, ci * plane), lane_weights(ci, at.tile, lane));
    }
    store32_any(q, at.tile * 32u, a);
}

@compute @workgroup_size(WG)
fn conv2d_pointwise_any_sg64(@builtin(workgroup_id) wid: vec3<u32>,
                             @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(subgroup_id) sid: u32,
                             @builtin(subgroup_invocation_id) lane: u32,
                             @builtin(subgroup_size) size: u32) {
    let at = slot(wid, nwg, sid, lane, size, point_quads(), 64u);
    let q = points_at(at);
    let plane = p.h * p.w;
    var lo: Acc32;
    var hi: Acc32;
    for (var ci = 0u; ci < p.ci; ci++) {
        let u = inputs4(q, ci * plane);
        lo = mac32(lo, u, lane_weights(ci, 2u * at.tile, lane));
        hi = mac32(hi, u, lane_weights(ci, 2u * at.tile + 1u, lane));
    }
    store32_any(q, at.tile * 64u, lo);
    store32_any(q, at.tile * 64u + 32u, hi);
}

// a + dy d times the 8 channels' inputs xl, xh.
fn mac_row(a: Row8, d: f32, xl: vec4<f32>, xh: vec4<f32>) -> Row8 {
    return Row8(fma(vec4<f32>(d), xl, a.lo), fma(vec4<f32>(d), xh, a.hi));
}

// a + 16 output channels' dy (lane k of each 8 holding channel k's in dl,
// channel 8 + k's in dh) times the 8 channels' inputs xl, xh.
fn mac_rows16(a: Rows16, dl: f32, dh: f32, xl: vec4<f32>, xh: vec4<f32>) -> Rows16 {
    return Rows16(mac_row(a.r0, subgroupBroadcast(dl, 0u), xl, xh),
                  mac_row(a.r1, subgroupBroadcast(dl, 1u), xl, xh),
                  mac_row(a.r2, subgroupBroadcast(dl, 2u), xl, xh),
                  mac_row(a.r3, subgroupBroadcast(dl, 3u), xl, xh),
                  mac_row(a.r4, subgroupBroadcast(dl, 4u), xl, xh),
                  mac_row(a.r5, subgroupBroadcast(dl, 5u), xl, xh),
                  mac_row(a.r6, subgroupBroadcast(dl, 6u), xl, xh),
                  mac_row(a.r7, subgroupBroadcast(dl, 7u), xl, xh),
                  mac_row(a.r8, subgroupBroadcast(dh, 0u), xl, xh),
                  mac_row(a.r9, subgroupBroadcast(dh, 1u), xl, xh),
                  mac_row(a.r10, subgroupBroadcast(dh, 2u), xl, xh),
                  mac_row(a.r11, subgroupBroadcast(dh, 3u), xl, xh),
                  mac_row(a.r12, subgroupBroadcast(dh, 4u), xl, xh),
                  mac_row(a.r13, subgroupBroadcast(dh, 5u), xl, xh),
                  mac_row(a.r14, subgroupBroadcast(dh, 6u), xl, xh),
                  mac_row(a.r15, subgroupBroadcast(dh, 7u), xl, xh));
}

@compute @workgroup_size(8)
fn conv2d_pointwise_weight_any_sg(@builtin(workgroup_id) wid: vec3<u32>,
                                  @builtin(subgroup_invocation_id) lane: u32) {
    let per = p.ho * p.wo;
    let s = wid.z;
    let q0 = s * p.rows;
    let q1 = min(q0 + p.rows, p.n * per);
    let ci0 = (wid.x * 8u + lane) * 8u;
    let co0 = wid.y * CO_TILE;
    // Where this lane's 8 input channels' planes and the 4 (2) output
    // channels' whose dy it loads start (channels past the last: the last
    // again, loaded, summed and not stored).
    let plane = p.h * p.w;
    let last = p.ci - 1u;
    let c = array<u32, 8>(min(ci0, last) * plane, min(ci0 + 1u, last) * plane,
                          min(ci0 + 2u, last) * plane, min(ci0 + 3u, last) * plane,
                          min(ci0 + 4u, last) * plane, min(ci0 + 5u, last) * plane,
                          min(ci0 + 6u, last) * plane, min(ci0 + 7u, last) * plane);
    let d = dy_planes(co0, lane, per);
    var a: Rows16;
    var b: Rows16;
    // Position q's image n, place r in its plane, row oy and column ox,
    // stepped along rather than divided out (an integer division is a loop
    // over the lanes on a CPU adapter).
    var n = q0 / per;
    var r = q0 % per;
    var oy = r / p.wo;
    var ox = r % p.wo;
    for (var q = q0; q < q1; q++) {
        let yq = n * p.co * per + r;
        let xq = n * p.ci * plane + oy * p.sh * p.w + ox * p.sw;
        let xl = vec4<f32>(wx[xq + c[0]], wx[xq + c[1]], wx[xq + c[2]], wx[xq + c[3]]);
        let xh = vec4<f32>(wx[xq + c[4]], wx[xq + c[5]], wx[xq + c[6]], wx[xq + c[7]]);
        a = mac_rows16(a, wdy[yq + d[0]], wdy[yq + d[1]], xl, xh);
        if CO_TILE == 32u {
            b = mac_rows16(b, wdy[yq + d[2]], wdy[yq + d[3]], xl, xh);
        }
        r += 1u;
        ox += 1u;
        if ox == p.wo {
            ox = 0u;
            oy += 1u;
        }
        if r == per {
            r = 0u;
            oy = 0u;
            n += 1u;
        }
    }
    if ci0 >= p.ci {
        return;
    }
    put_rows16(s, co0, ci0, a);
    if CO_TILE == 32u {
        put_rows16(s, co0 + 16u, ci0, b);
    }
}
