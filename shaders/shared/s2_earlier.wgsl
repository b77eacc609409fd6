// What dx held before a paired stride-2 backward-data pass, as the pass
// adds to it or resumes from it (shared/conv_s2_pairs.wgsl): vec4 i of dx
// itself. conv2d_backward_data_pairs_texel_subgroup.wgsl imports
// shared/s2_earlier_texels.wgsl in its place.

fn earlier(i: u32) -> vec4<f32> {
    return dx4[i];
}
