// conv2d_backward_data_s2: the input gradient of a 3x3 convolution of
// stride 2 and padding 1, without the zeros a dilated stride-1 pass multiplies.
// conv2d_backward_data.wgsl is the reference.
//
// Input pixel iy = 2·oy + ky − 1 receives from kernel row ky = 1 alone when iy is
// even (oy = iy/2), and from rows 2 (oy = m) and 0 (oy = m + 1) when iy = 2m + 1 is
// odd; columns likewise. Each workgroup z is one of the four parities
// (py, px) = (z / 2, z % 2) and computes dx[n, ci, 2m + py, 2l + px] for 8
// channels × 8 consecutive l of one row m:
//   dx = Σ_co Σ_(ky,oy) Σ_(kx,ox) dy[n, co, oy, ox] · w[co, ci, ky, kx].
//
// Bindings:
//   1 dx   [N, Ci, H, W]             written (added to when flags & 2)
//   2 dyp  [N, Co, Ho + 1, pitch]    dy with a zero row below and zero columns
//                                    to the right, read as vec4 (conv2d_pad)
//   3 wt   [Co, 3, 3, Ci8]           unflipped backward weight tiles, as vec4
// Dispatch: x (and y when folded) over tiles of (n, m, 8 l), y… z = 4 parities;
// channel tiles of 8 ci over the grid's y. 64 invocations per workgroup.

struct S2Params {
    n: u32, co: u32, ho: u32, wo: u32,
    ci: u32, ci8: u32, h: u32, w: u32,
    pitch: u32, rows: u32, tiles_x: u32, flags: u32,
}

@group(0) @binding(0) var<uniform> p: S2Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> dyp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;

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

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2(@builtin(global_invocation_id) gid: vec3<u32>,
                              @builtin(workgroup_id) wid: vec3<u32>) {
    let t = gid.x;
    let py = wid.z / 2u;
    let px = wid.z % 2u;
    if t >= p.n * p.rows * p.tiles_x {
        return;
    }
    let l0 = (t % p.tiles_x) * 8u;
    let m = (t / p.tiles_x) % p.rows;
    let n = t / (p.tiles_x * p.rows);
    let iy = 2u * m + py;
    if iy >= p.h {
        return;
    }
    let ci0 = wid.y * 8u;
    let q = p.ci8 / 4u;
    var a: Acc;
    // Kernel rows of this parity and the dy rows they read: even iy takes row 1
    // from oy = m; odd iy takes row 2 from oy = m and row 0 from oy = m + 1.
    let taps_y = select(1u, 2u, py == 1u);
    for (var co = 0u; co < p.co; co++) {
        let plane = (n * p.co + co) * (p.ho + 1u);
        for (var ty = 0u; ty < taps_y; ty++) {
            var ky = 1u;
            var oy = m;
            if py == 1u {
                ky = select(2u, 0u, ty == 1u);
                oy = m + ty;
            }
            let r = ((plane + oy) * p.pitch + l0) / 4u;
            let v0 = dyp[r];
            let v1 = dyp[r + 1u];
            let v2 = dyp[r + 2u];
            // Weights of (co, ky, kx) for ci0 .. ci0 + 7.
            let wb = ((co * 3u + ky) * 3u) * q + ci0 / 4u;
            if px == 0u {
                tap(&a, wt[wb + q], wt[wb + q + 1u], v0, v1);
            } else {
                // kx = 2 reads ox = l (window at 0), kx = 0 reads ox = l + 1.
                tap(&a, wt[wb + 2u * q], wt[wb + 2u * q + 1u], v0, v1);
                tap(&a, wt[wb], wt[wb + 1u], vec4<f32>(v0.yzw, v1.x), vec4<f32>(v1.yzw, v2.x));
            }
        }
    }
    put_channel(n, ci0, iy, l0, px, a.c0l, a.c0h);
    put_channel(n, ci0 + 1u, iy, l0, px, a.c1l, a.c1h);
    put_channel(n, ci0 + 2u, iy, l0, px, a.c2l, a.c2h);
    put_channel(n, ci0 + 3u, iy, l0, px, a.c3l, a.c3h);
    put_channel(n, ci0 + 4u, iy, l0, px, a.c4l, a.c4h);
    put_channel(n, ci0 + 5u, iy, l0, px, a.c5l, a.c5h);
    put_channel(n, ci0 + 6u, iy, l0, px, a.c6l, a.c6h);
    put_channel(n, ci0 + 7u, iy, l0, px, a.c7l, a.c7h);
}
