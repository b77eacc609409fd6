// conv2d_forward_reference: y = conv2d(x, weight) + bias, groups = 1. The readable
// reference; conv2d_forward_tiled.wgsl is the fast path and is tested against it.
//
// Bindings (NCHW activations, OIHW weights, row-major f32):
//   1 y      [N, Co, Ho, Wo]   written
//   2 x      [N, Ci, H, W]
//   3 weight [Co, Ci, Kh, Kw]
//   4 bias   [Co]              read when flags & 1
// Dispatch: one invocation per element of y, 64 per workgroup, the linear index
// folded over (x, y) workgroups when it exceeds the per-dimension limit.

#import conv_params
#import grid

@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn conv2d_forward_reference(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.co * p.ho * p.wo {
        return;
    }
    let ox = i % p.wo;
    let oy = (i / p.wo) % p.ho;
    let co = (i / (p.wo * p.ho)) % p.co;
    let n = i / (p.wo * p.ho * p.co);
    var acc = 0.0;
    for (var ci = 0u; ci < p.ci; ci++) {
        let xbase = (n * p.ci + ci) * p.h;
        let wbase = (co * p.ci + ci) * p.kh;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = i32(oy * p.sh + ky) - i32(p.ph);
            if iy < 0 || iy >= i32(p.h) {
                continue;
            }
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = i32(ox * p.sw + kx) - i32(p.pw);
                if ix < 0 || ix >= i32(p.w) {
                    continue;
                }
                acc += x[(xbase + u32(iy)) * p.w + u32(ix)] * weight[(wbase + ky) * p.kw + kx];
            }
        }
    }
    if (p.flags & 1u) != 0u {
        acc += bias[co];
    }
    y[i] = acc;
}
