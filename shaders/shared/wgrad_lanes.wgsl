// The 8-channel weight gradients with dy shared through the subgroup (see
// conv2d_backward_weight_subgroup.wgsl), over the importing module's dy_vec
// and x_vec (shared/wgrad_tile.wgsl): storage buffers there, textures in
// conv2d_backward_weight_texel_subgroup.wgsl. Only for modules validated with
// subgroups (*_subgroup.wgsl).

// The _w8 twins' workgroup: one subgroup of lavapipe's, 8 input channels.
const NARROW: u32 = 8u;

// The dy vectors of channels co0 .. co0 + 7: lane k's v for channel k.
fn lanes8(v: vec4<f32>) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(
        subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u),
        subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
        subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u),
        subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s1_c8sg(@builtin(workgroup_id) wid: vec3<u32>,
                                        @builtin(local_invocation_index) lid: u32,
                                        @builtin(subgroup_invocation_id) lane: u32) {
    s1_c8sg(job_in(wid, lid, 8u, WG), lane);
}

// The _w8 twins: one workgroup of NARROW invocations per 8 input channels,
// for convolutions with no more (WG's would run half their lanes on a copy of
// the last channel). The same invocations: the same bits.
@compute @workgroup_size(NARROW)
fn conv2d_backward_weight_tiled_s1_c8sg_w8(@builtin(workgroup_id) wid: vec3<u32>,
                                           @builtin(local_invocation_index) lid: u32,
                                           @builtin(subgroup_invocation_id) lane: u32) {
    s1_c8sg(job_in(wid, lid, 8u, NARROW), lane);
}

// A subgroup's share of a workgroup of s1_c8sg: lanes of the subgroup take
// part in every broadcast, those past the input channels included.
fn s1_c8sg(job: Job, lane: u32) {
    var j = job;
    let ok = j.ok;
    j.ci = min(j.ci, p.ci - 1u);
    // Per kernel row ky: taps 0..2 of channels 0..3, then of channels 4..7.
    var k0 = array<vec4<f32>, 6>();
    var k1 = array<vec4<f32>, 6>();
    var k2 = array<vec4<f32>, 6>();
    let n0 = j.chunk * p.imgs;
    let n1 = min(n0 + p.imgs, p.n);
    let quads = p.dy_pitch / 4u;
    let next = p.pitch / 4u; // one input row down, in vec4s
    let mine = lane % 8u; // the channel whose dy this lane loads
    for (var n = n0; n < n1; n++) {
        let plane = (n * p.ci + j.ci) * p.hp * next;
        for (var q = 0u; q < quads; q++) {
            var w0 = row_at(plane + q);
            var w1 = row_at(plane + next + q);
            for (var oy = 0u; oy < p.ho; oy++) {
                let w2 = row_at(plane + (oy + 2u) * next + q);
                let d = lanes8(dy_vec(dy_row(n, j.co0, mine, oy) + q));
                row8(&k0, d, w0);
                row8(&k1, d, w1);
                row8(&k2, d, w2);
                w0 = w1;
                w1 = w2;
            }
        }
    }
    if !ok {
        return;
    }
    write8(j, k0, k1, k2);
}

// conv2d_backward_weight_tiled_s1_c8sg over 16 output channels per
// invocation (two runs of 8, dy of each shared as there): twice the sums per
// input row loaded. Each weight's sum is the same as c8sg's, in the same
// order: the same bits.
@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s1_c16sg(@builtin(workgroup_id) wid: vec3<u32>,
                                         @builtin(local_invocation_index) lid: u32,
                                         @builtin(subgroup_invocation_id) lane: u32) {
    s1_c16sg(job_in(wid, lid, 16u, WG), lane);
}

@compute @workgroup_size(NARROW)
fn conv2d_backward_weight_tiled_s1_c16sg_w8(@builtin(workgroup_id) wid: vec3<u32>,
                                            @builtin(local_invocation_index) lid: u32,
                                            @builtin(subgroup_invocation_id) lane: u32) {
    s1_c16sg(job_in(wid, lid, 16u, NARROW), lane);
}

fn s1_c16sg(job: Job, lane: u32) {
    var j = job;
    let ok = j.ok;
    j.ci = min(j.ci, p.ci - 1u);
    // Channels co0 .. co0 + 7 (k*) and co0 + 8 .. co0 + 15 (h*), as c8sg's k*.
    var k0 = array<vec4<f32>, 6>();
    var k1 = array<vec4<f32>, 6>();
    var k2 = array<vec4<f32>, 6>();
    var h0 = array<vec4<f32>, 6>();
    var h1 = array<vec4<f32>, 6>();
    var h2 = array<vec4<f32>, 6>();
    let n0 = j.chunk * p.imgs;
    let n1 = min(n0 + p.imgs, p.n);
    let quads = p.dy_pitch / 4u;
    let next = p.pitch / 4u;
    let mine = lane % 8u;
    for (var n = n0; n < n1; n++) {
        let plane = (n * p.ci + j.ci) * p.hp * next;
        for (var q = 0u; q < quads; q++) {
            var w0 = row_at(plane + q);
            var w1 = row_at(plane + next + q);
            for (var oy = 0u; oy < p.ho; oy++) {
                let w2 = row_at(plane + (oy + 2u) * next + q);
                let d = lanes8(dy_vec(dy_row(n, j.co0, mine, oy) + q));
                let e = lanes8(dy_vec(dy_row(n, j.co0 + 8u, mine, oy) + q));
                row8(&k0, d, w0);
                row8(&k1, d, w1);
                row8(&k2, d, w2);
                row8(&h0, e, w0);
                row8(&h1, e, w1);
                row8(&h2, e, w2);
                w0 = w1;
                w1 = w2;
            }
        }
    }
    if !ok {
        return;
    }
    write8(j, k0, k1, k2);
    var hi = j;
    hi.co0 = j.co0 + 8u;
    write8(hi, h0, h1, h2);
}

// The stride-2 weight gradient, 8 output channels per invocation with dy
// shared through the subgroup as above: the same sums in the same order as
// conv2d_backward_weight_tiled_s2 (4 channels per invocation), the same bits.
@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s2_c8sg(@builtin(workgroup_id) wid: vec3<u32>,
                                        @builtin(local_invocation_index) lid: u32,
                                        @builtin(subgroup_invocation_id) lane: u32) {
    s2_sg(job_in(wid, lid, 8u, WG), lane, false);
}

@compute @workgroup_size(NARROW)
fn conv2d_backward_weight_tiled_s2_c8sg_w8(@builtin(workgroup_id) wid: vec3<u32>,
                                           @builtin(local_invocation_index) lid: u32,
                                           @builtin(subgroup_invocation_id) lane: u32) {
    s2_sg(job_in(wid, lid, 8u, NARROW), lane, false);
}

// conv2d_backward_weight_tiled_s2_c8sg over 16 output channels per
// invocation (two runs of 8, dy of each shared as there): twice the sums per
// input row loaded, as s1_c16sg is to s1_c8sg. Each weight's sum is the
// same as c8sg's, in the same order: the same bits.
@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s2_c16sg(@builtin(workgroup_id) wid: vec3<u32>,
                                         @builtin(local_invocation_index) lid: u32,
                                         @builtin(subgroup_invocation_id) lane: u32) {
    s2_sg(job_in(wid, lid, 16u, WG), lane, true);
}

@compute @workgroup_size(NARROW)
fn conv2d_backward_weight_tiled_s2_c16sg_w8(@builtin(workgroup_id) wid: vec3<u32>,
                                            @builtin(local_invocation_index) lid: u32,
                                            @builtin(subgroup_invocation_id) lane: u32) {
    s2_sg(job_in(wid, lid, 16u, NARROW), lane, true);
}

// The stride-2 passes' body: channels co0 .. co0 + 7 (k*), and with `wide`
// (a constant of each entry point) co0 + 8 .. co0 + 15 as well (h*), from
// the same input rows.
fn s2_sg(job: Job, lane: u32, wide: bool) {
    var j = job;
    let ok = j.ok;
    j.ci = min(j.ci, p.ci - 1u);
    var k0 = array<vec4<f32>, 6>();
    var k1 = array<vec4<f32>, 6>();
    var k2 = array<vec4<f32>, 6>();
    var h0 = array<vec4<f32>, 6>();
    var h1 = array<vec4<f32>, 6>();
    var h2 = array<vec4<f32>, 6>();
    let n0 = j.chunk * p.imgs;
    let n1 = min(n0 + p.imgs, p.n);
    let quads = p.dy_pitch / 4u;
    let next = p.pitch / 4u; // one input row down, in vec4s
    let mine = lane % 8u; // the channel whose dy this lane loads
    for (var n = n0; n < n1; n++) {
        let plane = (n * p.ci + j.ci) * p.hp * next;
        for (var q = 0u; q < quads; q++) {
            var w0 = row3_at(plane + 2u * q);
            for (var oy = 0u; oy < p.ho; oy++) {
                let w1 = row3_at(plane + (2u * oy + 1u) * next + 2u * q);
                let w2 = row3_at(plane + (2u * oy + 2u) * next + 2u * q);
                let d = lanes8(dy_vec(dy_row(n, j.co0, mine, oy) + q));
                row8_s2(&k0, d, w0);
                row8_s2(&k1, d, w1);
                row8_s2(&k2, d, w2);
                if wide {
                    let e = lanes8(dy_vec(dy_row(n, j.co0 + 8u, mine, oy) + q));
                    row8_s2(&h0, e, w0);
                    row8_s2(&h1, e, w1);
                    row8_s2(&h2, e, w2);
                }
                w0 = w2;
            }
        }
    }
    if !ok {
        return;
    }
    write8(j, k0, k1, k2);
    if wide {
        var hi = j;
        hi.co0 = j.co0 + 8u;
        write8(hi, h0, h1, h2);
    }
}
