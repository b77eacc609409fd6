// The bodies of conv2d_backward_data_subgroup.wgsl's kernels (see there),
// over the importing module's `input_vec` (shared/conv_s2_data.wgsl): dy from
// a storage buffer there, as texels in
// conv2d_backward_data_texel_subgroup.wgsl. Only for modules validated with
// subgroups (*_subgroup.wgsl); needs shared/conv_s2_data.wgsl and lanes.wgsl
// imported first.

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
