// conv2d_backward_weight_reference: dweight = d(loss)/d(weight) of y = conv2d(x, weight),
// for any kernel size and stride, and conv2d_backward_bias: dbias[co] = sum of dy
// over n, oy, ox.
//
// Bindings of conv2d_backward_weight_reference:
//   1 dweight [Co, Ci, Kh, Kw], or [S, Co, Ci, Kh, Kw] partial sums  written
//   2 dy      [N, Co, Ho, Wo]
//   3 x       [N, Ci, H, W]
// Bindings of conv2d_backward_bias:
//   1 dbias   [Co]              written
//   2 dy      [N, Co, Ho, Wo]
// Dispatch: one invocation per element of dweight and chunk s of the N·Ho
// output rows (p.rows rows each, p.chunks chunks), 64 per workgroup, folded over
// (x, y); an invocation sums over at most p.rows·Wo terms, so its loop stays
// bounded whatever the batch and image size. With one chunk it writes dweight
// itself; with more, conv2d_backward_weight_reduce sums the chunks.
// conv2d_backward_bias: one invocation per element of dbias.

#import conv_params
#import grid

@group(0) @binding(1) var<storage, read_write> dout: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn conv2d_backward_weight_reference(@builtin(global_invocation_id) gid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
    let len = p.co * p.ci * p.kh * p.kw;
    let i = folded_index(gid, nwg);
    if i >= len * p.chunks {
        return;
    }
    let wi = i % len;
    let s = i / len;
    let kx = wi % p.kw;
    let ky = (wi / p.kw) % p.kh;
    let ci = (wi / (p.kw * p.kh)) % p.ci;
    let co = wi / (p.kw * p.kh * p.ci);
    let r0 = s * p.rows;
    let r1 = min(r0 + p.rows, p.n * p.ho);
    var acc = 0.0;
    for (var r = r0; r < r1; r++) {
        let n = r / p.ho;
        let oy = r % p.ho;
        let iy = i32(oy * p.sh + ky) - i32(p.ph);
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        let dyrow = ((n * p.co + co) * p.ho + oy) * p.wo;
        let xrow = ((n * p.ci + ci) * p.h + u32(iy)) * p.w;
        for (var ox = 0u; ox < p.wo; ox++) {
            let ix = i32(ox * p.sw + kx) - i32(p.pw);
            if ix < 0 || ix >= i32(p.w) {
                continue;
            }
            acc += dy[dyrow + ox] * x[xrow + u32(ix)];
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
