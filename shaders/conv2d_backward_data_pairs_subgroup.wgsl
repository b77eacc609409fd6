// conv2d_backward_data_tiled_s2p{2,4,8}: the stride-2 backward-data pass with
// both column parities in one lane and its outputs stored as vec4s
// (shared/conv_s2_pairs.wgsl, see there), dy from a storage buffer, the
// weights through the uniform window in runs of output channels, each tile's
// dy shared by a group of lanes through subgroup shuffles. The same sums in
// the same order as conv2d_backward_data_tiled_s2sg*: the same bits.
//
// Bindings: 1 dx (as vec4), 2 dyp [N, Co, Ho + 1, pitch] as vec4, 3 the
// weight tiles' uniform window. Dispatch: see shared/conv_s2_pairs.wgsl.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import lanes
#import conv_s2_pairs
#import s2_weights_uniform

@group(0) @binding(2) var<storage, read> dyp: array<vec4<f32>>;

fn input_vec(i: u32) -> vec4<f32> {
    return dyp[i];
}
