// conv2d_backward_data_pairs_subgroup.wgsl's kernels
// (conv2d_backward_data_tiled_s2p{2,4,8}) with the padded dy read as texels
// (shared/texels.wgsl): the launcher copies it into a texture before each
// pass. The same sums in the same order: the same bits.
//
// Bindings as conv2d_backward_data_pairs_subgroup.wgsl, but 2: dy as texels,
// 4: the shortcut's gradient as texels (shared/s2_shortcut_texels.wgsl,
// swapped in for s2_shortcut), and 5: dx's values before the pass as texels
// where it adds to them or resumes from them (shared/s2_earlier_texels.wgsl,
// swapped in for s2_earlier).

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import lanes
#import conv_s2_pairs
#import texels
#import s2_weights_uniform

@group(0) @binding(2) var dyp_t: Texels;

fn input_vec(i: u32) -> vec4<f32> {
    return textureLoad(dyp_t, texel(i));
}
