// Elementwise passes over flat f32 tensors of `len` elements.
//   relu_forward   1 y  2 x          y = max(x, 0), NaN kept
//   relu_backward  1 dx 2 dy 3 y     dx = dy·[y > 0]  (y is the forward output)
//   add_forward    1 y  2 a  3 b     y = a + b, then ReLU when flags & 1
//   axpby          1 y  2 a  3 b     y = alpha·a + beta·b  (moves along directions in
//                                    weight space, e.g. the loss landscape)
//   copy           1 y  2 a          y = a, or y += a when flags & 1 (sums the gradients
//                                    of a tensor that feeds several layers)
// Every pass: one invocation per element, 128 per workgroup, folded over (x, y).

struct EwParams {
    len: u32, flags: u32, alpha: f32, beta: f32,
}

@group(0) @binding(0) var<uniform> p: EwParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> in0: array<f32>;
@group(0) @binding(3) var<storage, read> in1: array<f32>;

const WG: u32 = 128u;

#import grid
#import nan

@compute @workgroup_size(WG)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        out[i] = relu(in0[i]);
    }
}

@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        out[i] = select(0.0, in0[i], in1[i] > 0.0);
    }
}

@compute @workgroup_size(WG)
fn add_forward(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        var v = in0[i] + in1[i];
        if (p.flags & 1u) != 0u {
            v = relu(v);
        }
        out[i] = v;
    }
}

@compute @workgroup_size(WG)
fn axpby(@builtin(global_invocation_id) gid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        out[i] = p.alpha * in0[i] + p.beta * in1[i];
    }
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        var v = in0[i];
        if (p.flags & 1u) != 0u {
            v += out[i];
        }
        out[i] = v;
    }
}
