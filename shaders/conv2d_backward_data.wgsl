// conv2d_backward_data_reference: dx = d(loss)/dx of y = conv2d(x, weight), i.e. the
// transposed convolution of dy with the weights. With flags & 2 the result is
// added to what dx holds (a tensor that feeds two layers sums both gradients).
//
// Bindings:
//   1 dx     [N, Ci, H, W]     written (or accumulated)
//   2 dy     [N, Co, Ho, Wo]
//   3 weight [Co, Ci, Kh, Kw]
// Dispatch: one invocation per element of dx, 64 per workgroup, folded over (x, y).

#import conv_params
#import grid

@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn conv2d_backward_data_reference(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.ci * p.h * p.w {
        return;
    }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.ci;
    let n = i / (p.w * p.h * p.ci);
    var acc = 0.0;
    for (var co = 0u; co < p.co; co++) {
        let dybase = (n * p.co + co) * p.ho;
        let wbase = (co * p.ci + ci) * p.kh;
        for (var ky = 0u; ky < p.kh; ky++) {
            // y row oy reads x row oy*sh + ky - ph; invert for this iy.
            let t = i32(iy + p.ph) - i32(ky);
            if t < 0 || t % i32(p.sh) != 0 {
                continue;
            }
            let oy = u32(t) / p.sh;
            if oy >= p.ho {
                continue;
            }
            for (var kx = 0u; kx < p.kw; kx++) {
                let s = i32(ix + p.pw) - i32(kx);
                if s < 0 || s % i32(p.sw) != 0 {
                    continue;
                }
                let ox = u32(s) / p.sw;
                if ox >= p.wo {
                    continue;
                }
                acc += dy[(dybase + oy) * p.wo + ox] * weight[(wbase + ky) * p.kw + kx];
            }
        }
    }
    if (p.flags & 2u) != 0u {
        acc += dx[i];
    }
    dx[i] = acc;
}
