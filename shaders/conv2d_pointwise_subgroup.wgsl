// conv2d_pointwise_sg: conv2d_pointwise.wgsl's 1x1 pass (the same sums in
// the same order) with the weights shared through the subgroup. Every
// invocation of a workgroup needs the same weights; on a CPU adapter each
// storage load is a loop over the lanes, so there the weight loads cost as
// much as the inputs'. Here lane k of each 8 loads vec4 k of a channel's 8
// (32 output channels) and the others take them with subgroupBroadcast: per
// input channel each lane makes one vec4 load of x (stride 2: two) and one of
// weights for 128 multiply-adds. Needs subgroups of at least 8 invocations
// (the launcher runs conv2d_pointwise elsewhere); invocations past the last
// quad compute the last again (their sums dropped) so that every lane takes
// part in every broadcast.
//
// One invocation computes 32 output channels × 1 quad. Grid x (and z beyond
// the per-dimension limit) numbers groups of 64 quads, y the 32-channel tiles.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import pointwise

@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn conv2d_pointwise_sg(@builtin(local_invocation_index) t: u32,
                       @builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(subgroup_invocation_id) lane: u32) {
    let quads = p.n * p.ho * p.wo / 4u;
    let v = (wid.x + wid.z * nwg.x) * WG + t;
    let q = quad(min(v, quads - 1u));
    let xs = p.h * p.w / 4u;
    let co8 = (p.co + 7u) / 8u;
    // This lane's vec4 of each input channel's 32 weights (past the last
    // channel the last one's, which nobody stores).
    let mine = min(wid.y * 8u + lane % 8u, co8 * 2u - 1u);
    var a0: Acc8;
    var a1: Acc8;
    var a2: Acc8;
    var a3: Acc8;
    for (var ci = 0u; ci < p.ci; ci++) {
        let k = wt[ci * co8 * 2u + mine];
        let u = inputs(q.x + ci * xs);
        a0 = mac8(a0, u, subgroupBroadcast(k, 0u), subgroupBroadcast(k, 1u));
        a1 = mac8(a1, u, subgroupBroadcast(k, 2u), subgroupBroadcast(k, 3u));
        a2 = mac8(a2, u, subgroupBroadcast(k, 4u), subgroupBroadcast(k, 5u));
        a3 = mac8(a3, u, subgroupBroadcast(k, 6u), subgroupBroadcast(k, 7u));
    }
    if v < quads {
        let c0 = wid.y * 32u;
        store8(q.y, c0, a0);
        store8(q.y, c0 + 8u, a1);
        store8(q.y, c0 + 16u, a2);
        store8(q.y, c0 + 24u, a3);
    }
}
