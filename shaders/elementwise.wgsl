// Elementwise passes over flat f32 tensors of `len` elements.
//   relu_forward   1 y  2 x          y = max(x, 0), NaN kept
//   relu_backward  1 dx 2 dy 3 y     dx = dy·[y > 0]  (y is the forward output)
//   add_forward    1 y  2 a  3 b     y = a + b, then ReLU when flags & 1
//   axpby          1 y  2 a  3 b     y = alpha·a + beta·b  (moves along directions in
//                                    weight space, e.g. the loss landscape)
//   copy           1 y  2 a          y = a, or y += a when flags & 1 (sums the gradients
//                                    of a tensor that feeds several layers)
// Every pass: one invocation per element, 128 per workgroup, folded over (x, y).
// Each has a twin over vec4s (relu_forward4, …, copy4: len counts vec4s, the
// bindings are read as vec4s), which the launchers run where the length is a
// multiple of 4: on lavapipe every storage access is a loop over the SIMD
// lanes, so a vec4 access costs about what a float does.

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

// ---- the vec4 twins ----
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> in04: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> in14: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn relu_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        out4[i] = relu4(in04[i]);
    }
}

@compute @workgroup_size(WG)
fn relu_backward4(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        out4[i] = select(vec4<f32>(0.0), in04[i], in14[i] > vec4<f32>(0.0));
    }
}

@compute @workgroup_size(WG)
fn add_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        var v = in04[i] + in14[i];
        if (p.flags & 1u) != 0u {
            v = relu4(v);
        }
        out4[i] = v;
    }
}

@compute @workgroup_size(WG)
fn axpby4(@builtin(global_invocation_id) gid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        out4[i] = p.alpha * in04[i] + p.beta * in14[i];
    }
}

@compute @workgroup_size(WG)
fn copy4(@builtin(global_invocation_id) gid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i < p.len {
        var v = in04[i];
        if (p.flags & 1u) != 0u {
            v += out4[i];
        }
        out4[i] = v;
    }
}
