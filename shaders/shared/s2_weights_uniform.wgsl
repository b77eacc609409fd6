// The weights of the grouped stride-2 backward-data passes
// (conv2d_backward_data_{,texel_,pairs_,pairs_texel_}subgroup.wgsl): a 64 KiB
// uniform window from output channel co0's weights (the launcher runs one
// dispatch per run of output channels whose weights fit). Their
// `*_storage_subgroup` twins swap in s2_weights_storage.wgsl.
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;

fn weight(i: u32) -> vec4<f32> {
    return wu[i - p.co0 * 9u * (p.ci8 / 4u)];
}
