// What the tiled forward passes with uniform weights share
// (conv2d_forward_uniform.wgsl, conv2d_forward_subgroup.wgsl): reading the
// weights of a run of input channels from the uniform window (a later run
// starts from the sums an earlier one stored: shared/conv_tile.wgsl's
// `start`). The importing module declares p, y and `wu` (the window:
// [Ci, 3, 3, Co8] as vec4 from channel ci0) and imports conv_tile.

// The window's vec4 index of tap (ci, ky) for channels co0 .. co0 + 7, ci
// counted from the window's first channel.
fn window_index(ci: u32, ky: u32, co0: u32) -> u32 {
    return ((ci * 3u + ky) * 3u * p.co8 + co0) / 4u;
}

fn taps(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = window_index(ci - p.ci0, ky, co0);
    return Taps(wu[wb], wu[wb + 1u], wu[wb + q], wu[wb + q + 1u], wu[wb + 2u * q], wu[wb + 2u * q + 1u]);
}
