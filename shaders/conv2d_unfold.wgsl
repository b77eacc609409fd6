// The unfolded input of a convolution (im2col): the convolution becomes a
// 1x1 one over Ci·Kh·Kw input channels at the output positions, which the
// 1x1 kernels run (conv2d_pointwise*.wgsl) — for the 7x7/2 stem, whose 3
// input channels and 49 taps leave conv2d_direct little to tile.
//
//   conv2d_unfold   1 col [M, K, Ho, Wo]  2 x [N, Ci, H, W]
//       col[m, k, oy, ox] = x[n0 + m, ci, oy·sh + ky − ph, ox·sw + kx − pw],
//       zero outside the image, for the M images from n0 (K = Ci·Kh·Kw),
//       channel k being tap (ky, kx) of ci: k = (ci·Kh + ky)·Kw + kx, or
//       with tap_major = 1, k = (ky·Kw + kx)·Ci + ci (ops::UnfoldOrder).
//       One invocation writes 4 consecutive positions of one plane (m, k),
//       fewer at the plane's end; grid x numbers the quads of a plane, y the
//       K planes of an image, z the images.
//   conv2d_unfold4  the same, 4 quads an invocation, each stored as one vec4:
//       planes of a multiple of 4 positions.

struct UnfoldParams {
    n0: u32, ci: u32, h: u32, w: u32,
    ho: u32, wo: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, ph: u32, pw: u32,
    tap_major: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: UnfoldParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const WG: u32 = 64u;

// A walk along plane (m, k) of col: the tap's source (channel plane of x,
// ky, kx) and the output position reached, stepped along rather than divided
// out (an integer division is a loop over the lanes on a CPU adapter).
struct Walk {
    xb: u32, ky: u32, kx: u32, oy: u32, ox: u32,
}

fn walk_from(q0: u32, k: u32, m: u32) -> Walk {
    var ci = k / (p.kw * p.kh);
    var tap = k % (p.kw * p.kh);
    if p.tap_major != 0u {
        ci = k % p.ci;
        tap = k / p.ci;
    }
    let xb = ((p.n0 + m) * p.ci + ci) * p.h * p.w;
    return Walk(xb, tap / p.kw, tap % p.kw, q0 / p.wo, q0 % p.wo);
}

// The next `count` (at most 4) values of the walk, 0 after them.
fn next_values(w: ptr<function, Walk>, count: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < count; e++) {
        let iy = i32((*w).oy * p.sh + (*w).ky) - i32(p.ph);
        let ix = i32((*w).ox * p.sw + (*w).kx) - i32(p.pw);
        if iy >= 0 && ix >= 0 && u32(iy) < p.h && u32(ix) < p.w {
            v[e] = x[(*w).xb + u32(iy) * p.w + u32(ix)];
        }
        (*w).ox += 1u;
        if (*w).ox == p.wo {
            (*w).ox = 0u;
            (*w).oy += 1u;
        }
    }
    return v;
}

@group(0) @binding(1) var<storage, read_write> col: array<f32>;

@compute @workgroup_size(WG)
fn conv2d_unfold(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let pixels = p.ho * p.wo;
    let q0 = gid.x * 4u;
    if q0 >= pixels {
        return;
    }
    var w = walk_from(q0, gid.y, gid.z);
    let v = next_values(&w, min(4u, pixels - q0));
    let out = (gid.z * nwg.y + gid.y) * pixels + q0;
    for (var e = 0u; e < min(4u, pixels - q0); e++) {
        col[out + e] = v[e];
    }
}

@group(0) @binding(1) var<storage, read_write> col4: array<vec4<f32>>;

// Quads conv2d_unfold4 writes an invocation: the divisions that place its
// first position and tap (each a loop over the lanes on a CPU adapter) serve
// 16 values.
const QUADS: u32 = 4u;

@compute @workgroup_size(WG)
fn conv2d_unfold4(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
    let quads = p.ho * p.wo / 4u;
    let first = gid.x * QUADS;
    if first >= quads {
        return;
    }
    let out = (gid.z * nwg.y + gid.y) * quads;
    var w = walk_from(first * 4u, gid.y, gid.z);
    for (var q = first; q < min(first + QUADS, quads); q++) {
        col4[out + q] = next_values(&w, 4u);
    }
}
