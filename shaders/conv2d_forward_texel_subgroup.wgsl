// conv2d_forward_subgroup.wgsl's kernels (conv2d_forward_tiled_s1_r4sg{2,4,8},
// conv2d_forward_tiled_s2sg{2,4,8}) with the padded input xp read as texels
// (shared/texels.wgsl) instead of from a storage buffer: the launcher copies
// it into a texture before each pass. Lanes still share a tile's input
// through subgroup shuffles. The same sums in the same order: the same bits.
//
// Bindings as conv2d_forward_subgroup.wgsl, but 2: xp as texels.
// Dispatch as there.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import conv_tile
#import conv_uniform
#import conv_windows
#import lanes
#import conv_lanes
#import texels

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var xp_t: Texels;
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn input_vec(i: u32) -> vec4<f32> {
    return textureLoad(xp_t, texel(i));
}
