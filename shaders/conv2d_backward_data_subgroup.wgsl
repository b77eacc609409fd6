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

@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;

fn weight(i: u32) -> vec4<f32> {
    return wu[i - p.co0 * 9u * (p.ci8 / 4u)];
}

fn input_vec(i: u32) -> vec4<f32> {
    return dyp[i];
}

fn s2_data_group(wid: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let grp = group_of(sid, sl, size, l, WG);
    let s = s2_tile(wid.x * (WG / l) + grp.index, wid.z, (wid.y * l + grp.k) * 8u);
    var a: Acc;
    if (p.flags & RESUME) != 0u && s.ok {
        a = resume(s.n, s.ci0, s.iy, s.l0, s.px);
    }
    let next = p.pitch / 4u;
    let f = grp.first;
    for (var co = p.co0; co < p.co0 + p.cn; co++) {
        // dy rows m and (odd rows) m + 1: vectors 0..2 and 3..5.
        var m = own_vectors(dy_row(s, co, s.m), next, grp.k, l, 3u, 3u * taps_y(s));
        data_row(&a, s, co, kernel_row(s, 0u), group_vector(&m, 0u, f, l),
                 group_vector(&m, 1u, f, l), group_vector(&m, 2u, f, l));
        if s.py == 1u {
            data_row(&a, s, co, kernel_row(s, 1u), group_vector(&m, 3u, f, l),
                     group_vector(&m, 4u, f, l), group_vector(&m, 5u, f, l));
        }
    }
    if s.ok {
        store_tile(s, a);
    }
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2sg2(@builtin(workgroup_id) wid: vec3<u32>,
                                    @builtin(subgroup_id) sid: u32,
                                    @builtin(subgroup_invocation_id) sl: u32,
                                    @builtin(subgroup_size) size: u32) {
    s2_data_group(wid, sid, sl, size, 2u);
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2sg4(@builtin(workgroup_id) wid: vec3<u32>,
                                    @builtin(subgroup_id) sid: u32,
                                    @builtin(subgroup_invocation_id) sl: u32,
                                    @builtin(subgroup_size) size: u32) {
    s2_data_group(wid, sid, sl, size, 4u);
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2sg8(@builtin(workgroup_id) wid: vec3<u32>,
                                    @builtin(subgroup_id) sid: u32,
                                    @builtin(subgroup_invocation_id) sl: u32,
                                    @builtin(subgroup_size) size: u32) {
    s2_data_group(wid, sid, sl, size, 8u);
}
