// The unfolded input of a convolution (im2col): the convolution becomes a
// 1x1 one over Ci·Kh·Kw input channels at the output positions, which the
// 1x1 kernels run (conv2d_pointwise*.wgsl) — for the 7x7/2 stem, whose 3
// input channels and 49 taps leave conv2d_direct little to tile.
//
//   conv2d_unfold   1 col [M, K, Ho, Wo]  2 x [N, Ci, H, W]
//       col[m, (ci·Kh + ky)·Kw + kx, oy, ox]
//           = x[n0 + m, ci, oy·sh + ky − ph, ox·sw + kx − pw],
//       zero outside the image, for the M images from n0 (K = Ci·Kh·Kw).
//       One invocation writes 4 consecutive positions of one plane (m, k),
//       fewer at the plane's end; grid x numbers the quads of a plane, y the
//       K planes of an image, z the images.
//   conv2d_unfold4  the same, 4 quads an invocation, each stored as one vec4:
//       planes of a multiple of 4 positions.

struct UnfoldParams {
    n0: u32, ci: u32, h: u32, w: u32,
    ho: u32, wo: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, ph: u32, pw: u32,
}

@group(0) @binding(0) var<uniform> p: UnfoldParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;

const WG: u32 = 64u;

// The values of positions q0 .. q0 + 3 of plane (m, k) (0 past the plane's end).
fn quad(q0: u32, k: u32, m: u32) -> vec4<f32> {
    let kx = k % p.kw;
    let ky = (k / p.kw) % p.kh;
    let ci = k / (p.kw * p.kh);
    let xb = ((p.n0 + m) * p.ci + ci) * p.h * p.w;
    let pixels = p.ho * p.wo;
    // Stepped along with the position: an integer division is a loop over
    // the lanes on a CPU adapter.
    var oy = q0 / p.wo;
    var ox = q0 % p.wo;
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if q0 + e >= pixels {
            break;
        }
        let iy = i32(oy * p.sh + ky) - i32(p.ph);
        let ix = i32(ox * p.sw + kx) - i32(p.pw);
        if iy >= 0 && ix >= 0 && u32(iy) < p.h && u32(ix) < p.w {
            v[e] = x[xb + u32(iy) * p.w + u32(ix)];
        }
        ox += 1u;
        if ox == p.wo {
            ox = 0u;
            oy += 1u;
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
    let v = quad(q0, gid.y, gid.z);
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
    let k = gid.y;
    let kx = k % p.kw;
    let ky = (k / p.kw) % p.kh;
    let ci = k / (p.kw * p.kh);
    let xb = ((p.n0 + gid.z) * p.ci + ci) * p.h * p.w;
    let out = (gid.z * nwg.y + k) * quads;
    var oy = first * 4u / p.wo;
    var ox = first * 4u % p.wo;
    for (var q = first; q < min(first + QUADS, quads); q++) {
        var v = vec4<f32>(0.0);
        for (var e = 0u; e < 4u; e++) {
            let iy = i32(oy * p.sh + ky) - i32(p.ph);
            let ix = i32(ox * p.sw + kx) - i32(p.pw);
            if iy >= 0 && ix >= 0 && u32(iy) < p.h && u32(ix) < p.w {
                v[e] = x[xb + u32(iy) * p.w + u32(ix)];
            }
            ox += 1u;
            if ox == p.wo {
                ox = 0u;
                oy += 1u;
            }
        }
        col4[out + q] = v;
    }
}
