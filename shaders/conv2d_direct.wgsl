// Direct convolutions of any window, stride and padding as register-tiled
// matrix products: the 1x1 bottleneck and projection convolutions that carry
// most of ResNet-50's work, and the 7x7/2 stem. conv2d_forward.wgsl and
// conv2d_backward_weight.wgsl are the references they are tested against.
//
// The output positions q = (n, oy, ox) of all images are numbered together
// (Q = N·Ho·Wo); tap (ky, kx) of position q reads x at
// (n, oy·sh + ky − ph, ox·sw + kx − pw), zero outside the image.
//
// conv2d_direct: y[n, co, q] (+)= Σ_{ci, ky, kx} w[co, ci, ky, kx]·x[…] (+ bias[co])
//   1 y    [N, Co, Ho, Wo]   written (added to when flags & 2)
//   2 x    [N, Ci, H, W]
//   3 wt   [Ci, Kh, Kw, Co8] the weights with the output channel innermost
//                            (conv2d_weight_tiles), as vec4
//   4 bias [Co]              read when flags & 1
//   One invocation computes 8 output channels × 4 positions: per input channel
//   and tap, 4 loads of x and 2 vec4 loads of weights feed 32 multiply-adds;
//   the bounds of a tap are worked out once for all input channels. Grid x (and
//   z beyond the per-dimension limit) numbers groups of 64 position tiles, y the
//   channel tiles, so a workgroup's weight loads are uniform. The backward-data
//   pass of a convolution is this pass over dy, read with stride − 1 zeros
//   between its rows and columns (p.dily, p.dilx) and padded by k − 1 − pad,
//   with the weights transposed and flipped (conv2d_weight_tiles' backward
//   layout).
//
// conv2d_direct_weight: partials[s, co, ci, ky, kx] = Σ_{q in chunk s} dy[n, co, q]·x[…]
//   1 partials [S, Co, Ci, Kh, Kw]  written
//   2 dy       [N, Co, Ho, Wo]
//   3 x        [N, Ci, H, W]
//   One invocation computes 4 output × 4 input channels of one tap over the
//   p.rows positions of chunk s (p.chunks chunks): 8 loads feed 16
//   multiply-adds. The invocations of a chunk number its (tap, output-channel
//   tile, input-channel tile) jobs, the tap fastest (x, folded into y beyond
//   the per-dimension limit); z numbers the chunks, which
//   conv2d_backward_weight_reduce sums. (With the input-channel tiles alone
//   along x, a stem's 3 input channels left 63 of each workgroup's 64
//   invocations idle.)

#import conv_params

@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const WG: u32 = 64u;

// Position q: where its image starts in x, its window's corner (which may lie
// in the padding), and where it writes y (channel 0).
struct Pos {
    xb: u32, iy: i32, ix: i32, yo: u32,
}

fn pos(q: u32) -> Pos {
    let pixels = p.ho * p.wo;
    let n = q / pixels;
    let r = q % pixels;
    var o: Pos;
    o.xb = n * p.ci * p.h * p.w;
    o.iy = i32((r / p.wo) * p.sh) - i32(p.ph);
    o.ix = i32((r % p.wo) * p.sw) - i32(p.pw);
    o.yo = n * p.co * pixels + r;
    return o;
}

// The offset in x (channel 0) of tap (ky, kx) of position o, and whether it
// lies inside the image (offset 0 when not: the load is then discarded). The
// image is read as if dily − 1 zero rows and dilx − 1 zero columns stood
// between its rows and columns (1 and 1 but for a backward-data pass; the
// divisions only run there: on a CPU adapter each is a loop over the lanes,
// and a 7x7 stem has 49 taps a position).
fn tap(o: Pos, ky: u32, kx: u32) -> vec2<u32> {
    let vy = o.iy + i32(ky);
    let vx = o.ix + i32(kx);
    var iy = u32(max(vy, 0));
    var ix = u32(max(vx, 0));
    var on = vy >= 0 && vx >= 0;
    if p.dily != 1u || p.dilx != 1u {
        on = on && iy % p.dily == 0u && ix % p.dilx == 0u;
        iy /= p.dily;
        ix /= p.dilx;
    }
    let inside = on && iy < p.h && ix < p.w;
    return select(vec2<u32>(0u, 0u), vec2<u32>(o.xb + iy * p.w + ix, 1u), inside);
}

@compute @workgroup_size(WG)
fn conv2d_direct(@builtin(local_invocation_index) t: u32,
                 @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let total = p.n * p.ho * p.wo;
    let q0 = ((wid.x + wid.z * nwg.x) * WG + t) * 4u;
    if q0 >= total {
        return;
    }
    let valid = min(total - q0, 4u);
    // Positions past the end compute position q0 again and are not written.
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
    for (var ky = 0u; ky < p.kh; ky++) {
        for (var kx = 0u; kx < p.kw; kx++) {
            let t0 = tap(o0, ky, kx);
            let t1 = tap(o1, ky, kx);
            let t2 = tap(o2, ky, kx);
            let t3 = tap(o3, ky, kx);
            let inside = vec4<u32>(t0.y, t1.y, t2.y, t3.y) == vec4<u32>(1u);
            for (var ci = 0u; ci < p.ci; ci++) {
                let off = ci * plane;
                let loaded = vec4<f32>(x[t0.x + off], x[t1.x + off], x[t2.x + off], x[t3.x + off]);
                let v = select(vec4<f32>(0.0), loaded, inside);
                let w = (((ci * p.kh + ky) * p.kw + kx) * co8 + c0) / 4u;
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
        }
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
fn conv2d_direct_weight(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let taps = p.kh * p.kw;
    let co_tiles = (p.co + 3u) / 4u;
    let job = gid.x + gid.y * nwg.x * WG;
    if job >= taps * co_tiles * ((p.ci + 3u) / 4u) {
        return;
    }
    let k = job % taps;
    let co0 = (job / taps) % co_tiles * 4u;
    let ci0 = job / (taps * co_tiles) * 4u;
    let s = gid.z;
    let ky = k / p.kw;
    let kx = k % p.kw;
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
    // Position q's image n, row oy and column ox, stepped along with q rather
    // than divided out of it: an integer division is a loop over the lanes
    // on a CPU adapter, and the weight gradient never reads x dilated.
    var n = q0 / pixels;
    var oy = q0 % pixels / p.wo;
    var ox = q0 % p.wo;
    for (var q = q0; q < q1; q++) {
        let iy = i32(oy * p.sh + ky) - i32(p.ph);
        let ix = i32(ox * p.sw + kx) - i32(p.pw);
        if iy >= 0 && ix >= 0 && u32(iy) < p.h && u32(ix) < p.w {
            let xo = n * p.ci * plane + u32(iy) * p.w + u32(ix);
            let yo = n * p.co * pixels + oy * p.wo + ox;
            let v = vec4<f32>(wx[xo + xi.x], wx[xo + xi.y], wx[xo + xi.z], wx[xo + xi.w]);
            a0 = fma(vec4<f32>(wdy[yo + di.x]), v, a0);
            a1 = fma(vec4<f32>(wdy[yo + di.y]), v, a1);
            a2 = fma(vec4<f32>(wdy[yo + di.z]), v, a2);
            a3 = fma(vec4<f32>(wdy[yo + di.w]), v, a3);
        }
        ox += 1u;
        if ox == p.wo {
            ox = 0u;
            oy += 1u;
            if oy == p.ho {
                oy = 0u;
                n += 1u;
            }
        }
    }
    var acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
    let base = s * p.co * p.ci * taps;
    for (var j = 0u; j < 4u; j++) {
        let co = co0 + j;
        if co >= p.co {
            break;
        }
        for (var e = 0u; e < 4u; e++) {
            let ci = ci0 + e;
            if ci < p.ci {
                partials[base + (co * p.ci + ci) * taps + k] = acc[j][e];
            }
        }
    }
}
