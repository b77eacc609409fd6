// conv2d_backward_data_subgroup.wgsl's kernels
// (conv2d_backward_data_tiled_s2sg{2,4,8}) with the padded dy read as texels
// (shared/texels.wgsl) instead of from a storage buffer: the launcher copies
// it into a texture before each pass. The same sums in the same order: the
// same bits.
//
// Bindings as conv2d_backward_data_subgroup.wgsl, but 2: dy as texels.
// Dispatch as there.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import conv_s2_data
#import lanes
#import conv_s2_lanes
#import texels
#import s2_weights_uniform

@group(0) @binding(2) var dyp_t: Texels;

fn input_vec(i: u32) -> vec4<f32> {
    return textureLoad(dyp_t, texel(i));
}
