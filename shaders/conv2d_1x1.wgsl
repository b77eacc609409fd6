// 1x1 convolutions (pad 0, any stride) as register-tiled matrix products: the
// bottleneck and projection convolutions that carry most of ResNet-50's work.
// conv2d_forward.wgsl and conv2d_backward_weight.wgsl are the references they
// are tested against.
//
// The output positions q = (n, oy, ox) of all images are numbered together
// (Q = N·Ho·Wo); position q reads x at (n, oy·sh, ox·sw).
//
// conv2d_1x1: y[n, co, q] (+)= Σ_ci w[co, ci]·x[n, ci, q] (+ bias[co])
//   1 y    [N, Co, Ho, Wo]  written (added to when flags & 2)
//   2 x    [N, Ci, H, W]
//   3 wt   [Ci, Co8]        the weights with the output channel innermost
//                           (conv2d_weight_tiles), as vec4
//   4 bias [Co]             read when flags & 1
//   One invocation computes 8 output channels × 4 positions: per input channel
//   4 loads of x and 2 vec4 loads of weights feed 32 multiply-adds. Grid x (and
//   z beyond the per-dimension limit) numbers groups of 64 position tiles, y the
//   channel tiles, so a workgroup's weight loads are uniform. The backward-data
//   pass of a stride-1 1x1 convolution is this pass over dy with the weights
//   transposed (conv2d_weight_tiles' backward layout).
//
// conv2d_1x1_weight: partials[s, co, ci] = Σ_{q in chunk s} dy[n, co, q]·x[n, ci, q]
//   1 partials [S, Co, Ci]  written
//   2 dy       [N, Co, Ho, Wo]
//   3 x        [N, Ci, H, W]
//   One invocation computes 4 output × 4 input channels over the p.rows
//   positions of chunk s (p.chunks chunks): 8 loads feed 16 multiply-adds.
//   Grid x numbers input-channel tiles, y output-channel tiles, z chunks;
//   conv2d_backward_weight_reduce sums the chunks.

#import conv_params

@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const WG: u32 = 64u;

// Where position q reads x (channel 0) and writes y (channel 0).
struct Pos {
    xo: u32, yo: u32,
}

fn pos(q: u32) -> Pos {
    let pixels = p.ho * p.wo;
    let n = q / pixels;
    let r = q % pixels;
    var o: Pos;
    o.xo = n * p.ci * p.h * p.w + (r / p.wo) * p.sh * p.w + (r % p.wo) * p.sw;
    o.yo = n * p.co * pixels + r;
    return o;
}

@compute @workgroup_size(WG)
fn conv2d_1x1(@builtin(local_invocation_index) t: u32,
              @builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
    let total = p.n * p.ho * p.wo;
    let q0 = ((wid.x + wid.z * nwg.x) * WG + t) * 4u;
    if q0 >= total {
        return;
    }
    let valid = min(total - q0, 4u);
    // Positions past the end read position q0 again and are not written.
    let o0 = pos(q0);
    let o1 = pos(select(q0, q0 + 1u, valid > 1u));
    let o2 = pos(select(q0, q0 + 2u, valid > 2u));
    let o3 = pos(select(q0, q0 + 3u, valid > 3u));
    let plane = p.h * p.w;
    let co8 = (p.co + 7u) / 8u * 8u;
    let c0 = wid.y * 8u;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    for (var ci = 0u; ci < p.ci; ci++) {
        let off = ci * plane;
        let v = vec4<f32>(x[o0.xo + off], x[o1.xo + off], x[o2.xo + off], x[o3.xo + off]);
        let w = (ci * co8 + c0) / 4u;
        let wl = wt[w];
        let wh = wt[w + 1u];
        a0 = fma(vec4<f32>(wl.x), v, a0);
        a1 = fma(vec4<f32>(wl.y), v, a1);
        a2 = fma(vec4<f32>(wl.z), v, a2);
        a3 = fma(vec4<f32>(wl.w), v, a3);
        a4 = fma(vec4<f32>(wh.x), v, a4);
        a5 = fma(vec4<f32>(wh.y), v, a5);
        a6 = fma(vec4<f32>(wh.z), v, a6);
        a7 = fma(vec4<f32>(wh.w), v, a7);
    }
    var acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    var ys = array<u32, 4>(o0.yo, o1.yo, o2.yo, o3.yo);
    let pixels = p.ho * p.wo;
    for (var j = 0u; j < 8u; j++) {
        let co = c0 + j;
        if co >= p.co {
            break;
        }
        var b = 0.0;
        if (p.flags & 1u) != 0u {
            b = bias[co];
        }
        for (var e = 0u; e < valid; e++) {
            let i = ys[e] + co * pixels;
            var v = acc[j][e] + b;
            if (p.flags & 2u) != 0u {
                v += y[i];
            }
            y[i] = v;
        }
    }
}

@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read> wdy: array<f32>;
@group(0) @binding(3) var<storage, read> wx: array<f32>;

@compute @workgroup_size(WG)
fn conv2d_1x1_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ci0 = gid.x * 4u;
    let co0 = gid.y * 4u;
    let s = gid.z;
    if ci0 >= p.ci || co0 >= p.co {
        return;
    }
    let total = p.n * p.ho * p.wo;
    let q0 = s * p.rows;
    let q1 = min(q0 + p.rows, total);
    let pixels = p.ho * p.wo;
    let plane = p.h * p.w;
    // Channels past the last read channel 0 again and are not written.
    let cis = vec4<u32>(ci0, ci0 + 1u, ci0 + 2u, ci0 + 3u);
    let cos = vec4<u32>(co0, co0 + 1u, co0 + 2u, co0 + 3u);
    let xi = select(vec4<u32>(0u), cis, cis < vec4<u32>(p.ci)) * plane;
    let di = select(vec4<u32>(0u), cos, cos < vec4<u32>(p.co)) * pixels;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var q = q0; q < q1; q++) {
        let o = pos(q);
        let v = vec4<f32>(wx[o.xo + xi.x], wx[o.xo + xi.y], wx[o.xo + xi.z], wx[o.xo + xi.w]);
        a0 = fma(vec4<f32>(wdy[o.yo + di.x]), v, a0);
        a1 = fma(vec4<f32>(wdy[o.yo + di.y]), v, a1);
        a2 = fma(vec4<f32>(wdy[o.yo + di.z]), v, a2);
        a3 = fma(vec4<f32>(wdy[o.yo + di.w]), v, a3);
    }
    var acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
    let base = s * p.co * p.ci;
    for (var j = 0u; j < 4u; j++) {
        let co = co0 + j;
        if co >= p.co {
            break;
        }
        for (var e = 0u; e < 4u; e++) {
            let ci = ci0 + e;
            if ci < p.ci {
                partials[base + co * p.ci + ci] = acc[j][e];
            }
        }
    }
}
