// conv2d_pointwise: 1x1 convolutions without padding, stride 1 or 2 — the
// bottleneck and projection convolutions that carry most of ResNet-50's work —
// as register-tiled matrix products over quads of positions
// (shared/pointwise.wgsl: bindings, layouts and where the launcher runs it).
// conv2d_direct.wgsl computes the same sums (any window) with one scalar load
// of x per position and channel; here a load brings a quad, and a store
// writes one. The backward-data pass of a stride-1 1x1 convolution is this
// pass over dy with the weights transposed ([Co, 1, 1, Ci8]).
//
// One invocation computes 8 output channels × 4 quads: per input channel 4
// vec4 loads of x (stride 2: 8) and 2 of weights feed 128 multiply-adds.
// Grid x (and z beyond the per-dimension limit) numbers groups of 64 runs of
// 4 quads, y the 8-channel tiles.

#import pointwise

@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn conv2d_pointwise(@builtin(local_invocation_index) t: u32,
                    @builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
    let quads = p.n * p.ho * p.wo / 4u;
    let v0 = ((wid.x + wid.z * nwg.x) * WG + t) * 4u;
    if v0 >= quads {
        return;
    }
    // Quads past the last compute the last again and are not stored.
    let last = quads - 1u;
    let q0 = quad(v0);
    let q1 = quad(min(v0 + 1u, last));
    let q2 = quad(min(v0 + 2u, last));
    let q3 = quad(min(v0 + 3u, last));
    let xs = p.h * p.w / 4u;
    let co8 = (p.co + 7u) / 8u;
    var a0: Acc8;
    var a1: Acc8;
    var a2: Acc8;
    var a3: Acc8;
    for (var ci = 0u; ci < p.ci; ci++) {
        let w = (ci * co8 + wid.y) * 2u;
        let wl = wt[w];
        let wh = wt[w + 1u];
        let off = ci * xs;
        a0 = mac8(a0, inputs(q0.x + off), wl, wh);
        a1 = mac8(a1, inputs(q1.x + off), wl, wh);
        a2 = mac8(a2, inputs(q2.x + off), wl, wh);
        a3 = mac8(a3, inputs(q3.x + off), wl, wh);
    }
    let c0 = wid.y * 8u;
    store8(q0.y, c0, a0);
    if v0 + 1u < quads {
        store8(q1.y, c0, a1);
    }
    if v0 + 2u < quads {
        store8(q2.y, c0, a2);
    }
    if v0 + 3u < quads {
        store8(q3.y, c0, a3);
    }
}
