// The bodies of conv2d_forward_uniform.wgsl's kernels (see there), over the
// importing module's `input_vec` (shared/conv_tile.wgsl): the input from a
// storage buffer there, as texels in conv2d_forward_texel.wgsl. Needs
// shared/conv_tile.wgsl and conv_uniform.wgsl imported first.

// The stride-2 pass (one row of 8x8 tiles) with the same uniform weights and
// runs of input channels: the same bits as conv2d_forward_tiled_s2.
@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2u(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = tile(gid, wid, nwg);
    if !t.ok {
        return;
    }
    var a = start(t);
    s2_sum(&a, t, p.ci0, p.ci0 + p.cn);
    store(a, t);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4u(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = tile_of(gid, wid, nwg, WG_R4, 4u);
    if !t.ok {
        return;
    }
    var a0 = start(t);
    var a1 = start(down(t, 1u));
    var a2 = start(down(t, 2u));
    var a3 = start(down(t, 3u));
    r4_sum(&a0, &a1, &a2, &a3, t, p.ci0, p.ci0 + p.cn);
    store4(a0, a1, a2, a3, t);
}
