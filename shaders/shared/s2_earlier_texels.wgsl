// shared/s2_earlier.wgsl for the paired stride-2 backward-data passes
// reading dy as texels (conv2d_backward_data_pairs_texel_subgroup.wgsl):
// where the launcher sets EARLIER_TEXELS, dx's values before the pass come
// from binding 5, a copy of dx made just before it (shared/texels.wgsl),
// else from dx. On lavapipe a storage load is a loop over the lanes and a
// texel load a gather (see shared/conv_earlier_texels.wgsl).

@group(0) @binding(5) var dx_t: Texels;

const EARLIER_TEXELS: u32 = 16u;

fn earlier(i: u32) -> vec4<f32> {
    if (p.flags & EARLIER_TEXELS) != 0u {
        return textureLoad(dx_t, texel(i));
    }
    return dx4[i];
}
