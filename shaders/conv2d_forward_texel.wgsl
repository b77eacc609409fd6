// conv2d_forward_uniform.wgsl's kernels (conv2d_forward_tiled_s1_r4u,
// conv2d_forward_tiled_s2u) with the padded input xp read as texels
// (shared/texels.wgsl) instead of from a storage buffer: the launcher copies
// it into a texture before each pass. For the tiles whose lanes cannot share
// their input through subgroups (no subgroups, or one run of 8 output
// channels). The same sums in the same order: the same bits.
//
// Bindings as conv2d_forward_uniform.wgsl, but 2: xp as texels.
// Dispatch as there.

#import conv_tile
#import conv_uniform
#import conv_runs
#import texels

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var xp_t: Texels;
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn input_vec(i: u32) -> vec4<f32> {
    return textureLoad(xp_t, texel(i));
}
