// Fully connected layer y = x·Wᵀ + b, row-major: x [N, I], W [O, I], b [O], y [N, O].
//   linear_forward          1 y  [N, O]  2 x  [N, I]  3 W  4 b (read when flags & 1)
//   linear_backward_data    1 dx [N, I]  2 dy [N, O]  3 W
//   linear_backward_weight  1 dW [O, I]  2 dy [N, O]  3 x
//   linear_backward_bias    1 db [O]     2 dy [N, O]
// Each pass: one invocation per output element, 64 per workgroup, folded over (x, y).

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
        acc += a[n * p.i + k] * b[o * p.i + k];
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
        acc += a[n * p.o + o] * b[o * p.i + k];
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
        acc += a[n * p.o + o] * b[n * p.i + k];
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
