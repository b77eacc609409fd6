// shared/conv_earlier.wgsl for the texel-reading grouped forward passes
// (conv2d_forward_texel_subgroup.wgsl): where the launcher sets
// EARLIER_TEXELS, y's values before the pass come from binding 7, a copy of
// y made just before it (shared/texels.wgsl), else from y. On lavapipe a
// storage load is a loop over the lanes: a backward-data pass adding its
// 16-channel sums to a 32x32 gradient took half as long again as one
// writing them, and a texel gather is several times cheaper.

@group(0) @binding(7) var y_t: Texels;

const EARLIER_TEXELS: u32 = 16u;

fn earlier(i: u32) -> vec4<f32> {
    if (p.flags & EARLIER_TEXELS) != 0u {
        return textureLoad(y_t, texel(i));
    }
    return y[i];
}
