// What y held before a tiled forward pass, as the pass resumes from it
// (shared/conv_tile.wgsl's `resume`, rows of whole vec4s): vec4 i of y
// itself. conv2d_forward_texel_subgroup.wgsl imports
// shared/conv_earlier_texels.wgsl in its place.

fn earlier(i: u32) -> vec4<f32> {
    return y[i];
}
