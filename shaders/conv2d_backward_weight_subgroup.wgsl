// conv2d_backward_weight_tiled_s1_c8sg / _s2_c8sg: the 8-channel weight gradients
// (and _s1_c16sg, 16 channels as two runs of 8)
// of conv2d_backward_weight_tiled.wgsl (shared/wgrad_tile.wgsl) with dy shared
// through the subgroup. Every invocation of a workgroup needs the same 8 dy
// vectors per 4 pixels; there each loads all 8 (on lavapipe, 8 gathers of one
// address per vector). Here lane k of a subgroup loads channel k's and the
// others take it with subgroupBroadcast: one load per lane instead of 8. The
// same sums in the same order as conv2d_backward_weight_tiled_s1_c8: the same
// bits. Needs subgroups of at least 8 invocations (the launcher runs _c8
// elsewhere); lanes past the input channels keep running (on channel Ci - 1,
// their sums dropped) so that every lane of a subgroup takes part.
//
//   1 partials [S, Co, Ci, 9]  2 dy [N, Co, Ho, dy_pitch] as vec4  3 xp [N, Ci, Hp, pitch] as vec4
//   grid and invocations as conv2d_backward_weight_tiled_s1_c8; the _w8 twins
//   (shared/wgrad_lanes.wgsl) in workgroups of 8 input channels, ceil(Ci / 8)
//   of them across.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import wgrad_tile
#import wgrad_lanes

@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> xp: array<vec4<f32>>;

fn dy_vec(i: u32) -> vec4<f32> {
    return dy[i];
}

fn x_vec(i: u32) -> vec4<f32> {
    return xp[i];
}
