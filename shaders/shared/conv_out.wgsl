// How a tiled forward pass (shared/conv_tile.wgsl) lets a finished channel of
// its tile go: stored as it is. The _bn
// modules import shared/conv_out_bn.wgsl in its place.

// Writes channel co of tile t, pixels 0–3 (lo) and 4–7 (hi), from element o.
fn emit(t: Tile, co: u32, o: u32, lo: vec4<f32>, hi: vec4<f32>) {
    put4(o, t.ox0, lo);
    put4(o + 4u, t.ox0 + 4u, hi);
}
