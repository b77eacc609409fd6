// conv2d_backward_weight_reference: dweight = d(loss)/d(weight) of y = conv2d(x, weight),
// and conv2d_backward_bias: dbias[co] = sum of dy over n, oy, ox.
//
// Bindings of conv2d_backward_weight_reference:
//   1 dweight [Co, Ci, Kh, Kw]  written
//   2 dy      [N, Co, Ho, Wo]
//   3 x       [N, Ci, H, W]
// Bindings of conv2d_backward_bias:
//   1 dbias   [Co]              written
//   2 dy      [N, Co, Ho, Wo]
// Dispatch: one invocation per element of dweight (or dbias), 64 per workgroup,
// folded over (x, y). Each invocation sums over N·Ho·Wo terms: the reference, not
// the fast path.

#import conv_params
#import grid

@group(0) @binding(1) var<storage, read_write> dout: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn conv2d_backward_weight_reference(@builtin(global_invocation_id) gid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.co * p.ci * p.kh * p.kw {
        return;
    }
    let kx = i % p.kw;
    let ky = (i / p.kw) % p.kh;
    let ci = (i / (p.kw * p.kh)) % p.ci;
    let co = i / (p.kw * p.kh * p.ci);
    var acc = 0.0;
    for (var n = 0u; n < p.n; n++) {
        let dybase = (n * p.co + co) * p.ho;
        let xbase = (n * p.ci + ci) * p.h;
        for (var oy = 0u; oy < p.ho; oy++) {
            let iy = i32(oy * p.sh + ky) - i32(p.ph);
            if iy < 0 || iy >= i32(p.h) {
                continue;
            }
            for (var ox = 0u; ox < p.wo; ox++) {
                let ix = i32(ox * p.sw + kx) - i32(p.pw);
                if ix < 0 || ix >= i32(p.w) {
                    continue;
                }
                acc += dy[(dybase + oy) * p.wo + ox] * x[(xbase + u32(iy)) * p.w + u32(ix)];
            }
        }
    }
    dout[i] = acc;
}

@compute @workgroup_size(WG)
fn conv2d_backward_bias(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let co = folded_index(gid, nwg);
    if co >= p.co {
        return;
    }
    var acc = 0.0;
    let plane = p.ho * p.wo;
    for (var n = 0u; n < p.n; n++) {
        let base = (n * p.co + co) * plane;
        for (var j = 0u; j < plane; j++) {
            acc += dy[base + j];
        }
    }
    dout[co] = acc;
}
