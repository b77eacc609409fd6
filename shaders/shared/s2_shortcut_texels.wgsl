// shared/s2_shortcut.wgsl for the paired stride-2 backward-data passes
// reading dy as texels (conv2d_backward_data_pairs_texel_subgroup.wgsl): the
// shortcut's gradient as texels (binding 4, copied in before the pass that
// adds it). Where Wo is a multiple of 4 every 4 columns from a multiple of 4
// are one texel; elsewhere each value is picked from its texel. The same
// floats as from storage, where each load is a loop over the lanes on
// lavapipe.

@group(0) @binding(4) var sdy_t: Texels;

fn shortcut_at(row: u32, l: u32) -> f32 {
    if l >= p.wo {
        return 0.0;
    }
    let e = row + l;
    let v = textureLoad(sdy_t, texel(e >> 2u));
    let c = e & 3u;
    return select(select(v.x, v.y, c == 1u), select(v.z, v.w, c == 3u), c >= 2u);
}

fn shortcut4(row: u32, l: u32) -> vec4<f32> {
    if p.wo % 4u == 0u && l < p.wo {
        return textureLoad(sdy_t, texel((row + l) >> 2u));
    }
    return vec4<f32>(shortcut_at(row, l), shortcut_at(row, l + 1u),
                     shortcut_at(row, l + 2u), shortcut_at(row, l + 3u));
}
