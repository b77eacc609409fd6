// Fully connected layer y = x·Wᵀ + b, row-major: x [N, I], W [O, I], b [O], y [N, O].
//   linear_forward          1 y  [N, O]  2 x  [N, I]  3 W  4 b (read when flags & 1)
//   linear_backward_data    1 dx [N, I]  2 dy [N, O]  3 W
//   linear_backward_weight  1 dW [O, I]  2 dy [N, O]  3 x
//   linear_backward_bias    1 db [O]     2 dy [N, O]
// Each pass: one invocation per output element, 64 per workgroup, folded over (x, y),
// its terms fused multiply-adds in order of k, o or n.
// Where I is a multiple of 4, the passes of the same names ending in 4 read
// rows of x, W and dx as vec4s (a storage load on a CPU adapter is a loop
// over the lanes, whatever its width) and each invocation computes a block of
// 16 outputs (rows and vec4s past the end read the last again and are not
// written), each output the same sum in the same order: the same bits.
//   linear_forward4          4 samples × 4 outputs: 8 vec4 loads, 64 multiply-adds
//   linear_backward_data4    1 sample × 4 vec4s of inputs: 4 vec4s of W and
//                            a value of dy a step of O (a batch of 2 fills
//                            the blocks as well as one of 128)
//   linear_backward_weight4  4 outputs × a vec4 of inputs: a vec4 of x and 4
//                            values of dy a step of N

struct LinearParams {
    n: u32, i: u32, o: u32, flags: u32,
}

@group(0) @binding(0) var<uniform> p: LinearParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const WG: u32 = 64u;

#import grid

@compute @workgroup_size(WG)
fn linear_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = folded_index(gid, nwg);
    if e >= p.n * p.o {
        return;
    }
    let o = e % p.o;
    let n = e / p.o;
    var acc = 0.0;
    for (var k = 0u; k < p.i; k++) {
        acc = fma(a[n * p.i + k], b[o * p.i + k], acc);
    }
    if (p.flags & 1u) != 0u {
        acc += bias[o];
    }
    out[e] = acc;
}

@compute @workgroup_size(WG)
fn linear_backward_data(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = folded_index(gid, nwg);
    if e >= p.n * p.i {
        return;
    }
    let k = e % p.i;
    let n = e / p.i;
    var acc = 0.0;
    for (var o = 0u; o < p.o; o++) {
        acc = fma(a[n * p.o + o], b[o * p.i + k], acc);
    }
    out[e] = acc;
}

@compute @workgroup_size(WG)
fn linear_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = folded_index(gid, nwg);
    if e >= p.o * p.i {
        return;
    }
    let k = e % p.i;
    let o = e / p.i;
    var acc = 0.0;
    for (var n = 0u; n < p.n; n++) {
        acc = fma(a[n * p.o + o], b[n * p.i + k], acc);
    }
    out[e] = acc;
}

@compute @workgroup_size(WG)
fn linear_backward_bias(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = folded_index(gid, nwg);
    if o >= p.o {
        return;
    }
    var acc = 0.0;
    for (var n = 0u; n < p.n; n++) {
        acc += a[n * p.o + o];
    }
    out[o] = acc;
}

// ---- the vec4 passes (I a multiple of 4) ----
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b4: array<vec4<f32>>;

// Rows r0 .. r0 + 3 of `count`, clamped to the last.
fn rows4(r0: u32, count: u32) -> vec4<u32> {
    return min(vec4<u32>(r0, r0 + 1u, r0 + 2u, r0 + 3u), vec4<u32>(count - 1u));
}

@compute @workgroup_size(WG)
fn linear_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
    let oqs = (p.o + 3u) / 4u;
    let e = folded_index(gid, nwg);
    if e >= (p.n + 3u) / 4u * oqs {
        return;
    }
    let i4 = p.i / 4u;
    let n0 = e / oqs * 4u;
    let o0 = e % oqs * 4u;
    let xs = rows4(n0, p.n) * i4;
    let ws = rows4(o0, p.o) * i4;
    var acc = array<vec4<f32>, 4>();
    for (var k = 0u; k < i4; k++) {
        let w0 = b4[ws.x + k];
        let w1 = b4[ws.y + k];
        let w2 = b4[ws.z + k];
        let w3 = b4[ws.w + k];
        let x0 = a4[xs.x + k];
        let x1 = a4[xs.y + k];
        let x2 = a4[xs.z + k];
        let x3 = a4[xs.w + k];
        // Term by term in k's order, as linear_forward sums them.
        let wx = vec4<f32>(w0.x, w1.x, w2.x, w3.x);
        let wy = vec4<f32>(w0.y, w1.y, w2.y, w3.y);
        let wz = vec4<f32>(w0.z, w1.z, w2.z, w3.z);
        let ww = vec4<f32>(w0.w, w1.w, w2.w, w3.w);
        acc[0] = fma(vec4<f32>(x0.w), ww, fma(vec4<f32>(x0.z), wz, fma(vec4<f32>(x0.y), wy, fma(vec4<f32>(x0.x), wx, acc[0]))));
        acc[1] = fma(vec4<f32>(x1.w), ww, fma(vec4<f32>(x1.z), wz, fma(vec4<f32>(x1.y), wy, fma(vec4<f32>(x1.x), wx, acc[1]))));
        acc[2] = fma(vec4<f32>(x2.w), ww, fma(vec4<f32>(x2.z), wz, fma(vec4<f32>(x2.y), wy, fma(vec4<f32>(x2.x), wx, acc[2]))));
        acc[3] = fma(vec4<f32>(x3.w), ww, fma(vec4<f32>(x3.z), wz, fma(vec4<f32>(x3.y), wy, fma(vec4<f32>(x3.x), wx, acc[3]))));
    }
    for (var r = 0u; r < min(4u, p.n - n0); r++) {
        for (var c = 0u; c < min(4u, p.o - o0); c++) {
            var v = acc[r][c];
            if (p.flags & 1u) != 0u {
                v += bias[o0 + c];
            }
            out[(n0 + r) * p.o + o0 + c] = v;
        }
    }
}

@compute @workgroup_size(WG)
fn linear_backward_data4(@builtin(global_invocation_id) gid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
    let i4 = p.i / 4u;
    let blocks = (i4 + 3u) / 4u;
    let e = folded_index(gid, nwg);
    if e >= p.n * blocks {
        return;
    }
    let n = e / blocks;
    let k0 = e % blocks * 4u;
    let ks = rows4(k0, i4);
    var acc = array<vec4<f32>, 4>();
    for (var o = 0u; o < p.o; o++) {
        let dy = vec4<f32>(a[n * p.o + o]);
        let w = o * i4;
        acc[0] = fma(dy, b4[w + ks.x], acc[0]);
        acc[1] = fma(dy, b4[w + ks.y], acc[1]);
        acc[2] = fma(dy, b4[w + ks.z], acc[2]);
        acc[3] = fma(dy, b4[w + ks.w], acc[3]);
    }
    for (var r = 0u; r < min(4u, i4 - k0); r++) {
        out4[n * i4 + k0 + r] = acc[r];
    }
}

@compute @workgroup_size(WG)
fn linear_backward_weight4(@builtin(global_invocation_id) gid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>) {
    let i4 = p.i / 4u;
    let e = folded_index(gid, nwg);
    if e >= (p.o + 3u) / 4u * i4 {
        return;
    }
    let o0 = e / i4 * 4u;
    let k = e % i4;
    let os = rows4(o0, p.o);
    var acc = array<vec4<f32>, 4>();
    for (var n = 0u; n < p.n; n++) {
        let x = b4[n * i4 + k];
        let dy = n * p.o;
        acc[0] = fma(vec4<f32>(a[dy + os.x]), x, acc[0]);
        acc[1] = fma(vec4<f32>(a[dy + os.y]), x, acc[1]);
        acc[2] = fma(vec4<f32>(a[dy + os.z]), x, acc[2]);
        acc[3] = fma(vec4<f32>(a[dy + os.w]), x, acc[3]);
    }
    for (var c = 0u; c < min(4u, p.o - o0); c++) {
        out4[(o0 + c) * i4 + k] = acc[c];
    }
}
