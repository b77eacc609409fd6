// conv_uniform.wgsl's place in the grouped tiled forward passes of the
// `*_storage_subgroup.wgsl` modules (conv2d_forward_subgroup.wgsl and its texel twin with
// this and conv_windows_storage.wgsl swapped in): the weights of every input
// channel from one storage binding, so a pass over many channels is one
// dispatch instead of one per three 64 KiB windows (a 512-channel 3x3 conv's
// weights fill 171). The importing module declares p and imports conv_tile.
//
// Binding 3 (in place of the uniform window `wu`, which no entry point of
// these modules then reads): the weight tiles [Ci, 3, 3, Co8] as vec4.
@group(0) @binding(3) var<storage, read> ws: array<vec4<f32>>;

// The vec4 index of tap (ci, ky) for channels co0 .. co0 + 7.
fn window_index(ci: u32, ky: u32, co0: u32) -> u32 {
    return ((ci * 3u + ky) * 3u * p.co8 + co0) / 4u;
}

fn taps(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = window_index(ci, ky, co0);
    return Taps(ws[wb], ws[wb + 1u], ws[wb + q], ws[wb + q + 1u], ws[wb + 2u * q], ws[wb + 2u * q + 1u]);
}
