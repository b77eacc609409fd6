// conv2d_backward_weight_subgroup.wgsl's kernels with dy and xp read as
// texels (shared/texels.wgsl) instead of from storage buffers: the launcher
// copies both tensors into textures before the pass. On lavapipe, where
// every storage load is a loop over the lanes, their loads took about 60%
// of the pass; a texel load is a gather. The same sums in the same order as
// the storage kernels: the same bits.
//
//   1 partials [S, Co, Ci, 9]  2 dy as texels  3 xp as texels
//   grid and invocations as the storage kernels of the same name.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import wgrad_tile
#import wgrad_lanes
#import texels

@group(0) @binding(2) var dy_t: Texels;
@group(0) @binding(3) var xp_t: Texels;

fn dy_vec(i: u32) -> vec4<f32> {
    return textureLoad(dy_t, texel(i));
}

fn x_vec(i: u32) -> vec4<f32> {
    return textureLoad(xp_t, texel(i));
}
