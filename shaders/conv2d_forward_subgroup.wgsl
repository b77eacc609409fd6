// conv2d_forward_tiled_s1_r4sg{2,4,8}: conv2d_forward_tiled_s1_r4u (4-row
// tiles, weights through the uniform window, runs over input channels) with
// the input shared through the subgroup; conv2d_forward_tiled_s2sg{2,4,8} the
// same for conv2d_forward_tiled_s2u. There every invocation loads its tile's
// input rows itself (stride 1: 6 rows of 3 vec4s per input channel; stride 2:
// 3 rows of 5), and on lavapipe each storage load is a loop over the lanes:
// those loads take about 40% of the stride-1 pass. Here the lanes of a
// subgroup work in groups of L (2, 4 or 8, the entry point's suffix): a group
// computes one tile for L consecutive runs of 8 output channels, so all its
// lanes need the same vectors; lane k of the group loads vectors k, k + L, ...
// and the group takes each from the lane that loaded it with
// subgroupShuffle. The stride-2 tile covers two output rows (input rows
// 2·oy .. 2·oy + 4, the middle one serving both), so a shared input row
// feeds more multiply-adds. Each lane's sums are those of the kernel it
// replaces for its outputs and channels, in the same order: the same bits.
//
// Lanes past the last tile keep running on the last one (their sums are not
// stored) so that every lane of a group takes part in its shuffles. Needs
// subgroups of 8 or more invocations (the launcher runs _r4u / _s2u
// elsewhere, see conv2d::has_subgroups). Which lanes form a group follows the
// subgroup built-ins, not the order of the invocations.
//
// Bindings as conv2d_forward_tiled_s1_r4u. Dispatch: workgroups (32 for _r4sg,
// 64 for _s2sg) over (tiles × L) invocations in x (and z; _s2sg's tiles of 2
// rows), Co8 / (8·L) in y;
// once per run of input channels as conv2d_forward_tiled_s1_r4u.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import conv_tile
#import conv_uniform
#import conv_windows
#import lanes
#import conv_lanes

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn input_vec(i: u32) -> vec4<f32> {
    return xp[i];
}
