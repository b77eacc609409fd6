// conv2d_backward_data_tiled_s2sg{2,4,8}: conv2d_backward_data_tiled_s2u
// (the stride-2 backward-data pass, weights through the uniform window in
// runs of output channels) with each tile's dy shared through the subgroup,
// as conv2d_forward_subgroup.wgsl does for the forward passes (see there): a
// group of L lanes (the suffix) computes one tile for L consecutive runs of 8
// input channels, and per output channel the group's lanes load the tile's
// 3 or 6 dy vectors (1 or 2 kernel rows by the row parity) between them.
// Here each lane loaded them all, 3 to 9 multiply-adds per value loaded:
// the weakest pass on lavapipe. The same sums in the same order as
// conv2d_backward_data_tiled_s2u: the same bits.
//
// Lanes whose tile does not exist (past the last, or below the input) keep
// running on a clamped one, their sums not stored. Needs subgroups of 8 or
// more invocations (the launcher runs _s2u elsewhere).
//
// Bindings as conv2d_backward_data_tiled_s2u. Dispatch: workgroups of 64 over
// (tiles × L) invocations in x, Ci8 / (8·L) in y, the 4 parities in z; once
// per run of output channels as conv2d_backward_data_tiled_s2u.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import conv_s2_data
#import lanes
#import conv_s2_lanes
#import s2_weights_uniform

@group(0) @binding(2) var<storage, read> dyp: array<vec4<f32>>;

fn input_vec(i: u32) -> vec4<f32> {
    return dyp[i];
}
