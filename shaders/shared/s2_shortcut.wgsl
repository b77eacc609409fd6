// The option-A shortcut's gradient as the paired stride-2 backward-data
// passes read it (shared/conv_s2_pairs.wgsl, flags & 8): binding 4 from
// storage, one float at a time. conv2d_backward_data_pairs_texel_subgroup.wgsl
// imports shared/s2_shortcut_texels.wgsl in its place.

@group(0) @binding(4) var<storage, read> sdy: array<f32>;

// The shortcut's gradient at column l of its row `row` (0 past Wo).
fn shortcut_at(row: u32, l: u32) -> f32 {
    if l >= p.wo {
        return 0.0;
    }
    return sdy[row + l];
}

// Columns l .. l + 3 of row `row` (0 past Wo).
fn shortcut4(row: u32, l: u32) -> vec4<f32> {
    return vec4<f32>(shortcut_at(row, l), shortcut_at(row, l + 1u),
                     shortcut_at(row, l + 2u), shortcut_at(row, l + 3u));
}
