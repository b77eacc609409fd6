// conv2d_pointwise_sg: conv2d_pointwise.wgsl's 1x1 pass (the same sums in
// the same order) with the weights shared through the subgroup. Every
// invocation of a workgroup needs the same weights; on a CPU adapter each
// storage load is a loop over the lanes, so there the weight loads cost as
// much as the inputs'. Here lane k of each 8 loads vec4 k of a channel's 8
// (32 output channels) and the others take them with subgroupBroadcast
// (shared/pointwise_lanes.wgsl): per input channel each lane makes one vec4
// load of x (stride 2: two) and one of weights for 128 multiply-adds.
// conv2d_pointwise_sg64 computes 64 output channels × 2 quads the same way,
// two such runs of 32 over each quad: per input channel its 2 loads of x
// and 2 of weights feed 512 multiply-adds (on lavapipe, against the
// 32-channel kernel, 64 channels of one quad took about 0.75 of the time,
// two quads about 0.8 of that, where Co fills them). Needs
// subgroups of at least 8 invocations (the launcher runs conv2d_pointwise
// elsewhere); invocations past the last quad compute the last again (their
// sums dropped) so that every lane takes part in every broadcast.
//
// One invocation computes 32 output channels × 1 quad (64 × 2). Grid x
// (and z beyond the per-dimension limit) numbers groups of 64 invocations
// over the 32 (64)-channel tiles and their quads (pairs of quads;
// shared/pointwise_lanes.wgsl's `slot`).

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import pointwise
#import pointwise_lanes

@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;

// The 32 channels from c0 of the quad at y's vec4 `at`.
fn store32(at: u32, c0: u32, a: Acc32) {
    store8(at, c0, a.a0);
    store8(at, c0 + 8u, a.a1);
    store8(at, c0 + 16u, a.a2);
    store8(at, c0 + 24u, a.a3);
}

@compute @workgroup_size(WG)
fn conv2d_pointwise_sg(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(subgroup_id) sid: u32,
                       @builtin(subgroup_invocation_id) lane: u32,
                       @builtin(subgroup_size) size: u32) {
    let at = slot(wid, nwg, sid, lane, size, p.n * p.ho * p.wo / 4u, 32u);
    let q = quad(at.v);
    let xs = p.h * p.w / 4u;
    var a: Acc32;
    for (var ci = 0u; ci < p.ci; ci++) {
        a = mac32(a, inputs(q.x + ci * xs), lane_weights(ci, at.tile, lane));
    }
    if at.stored {
        store32(q.y, at.tile * 32u, a);
    }
}

@compute @workgroup_size(WG)
fn conv2d_pointwise_sg64(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(subgroup_id) sid: u32,
                         @builtin(subgroup_invocation_id) lane: u32,
                         @builtin(subgroup_size) size: u32) {
    let quads = p.n * p.ho * p.wo / 4u;
    // Its pair of quads 2v and 2v + 1 (past the last quad, the last again).
    let at = slot(wid, nwg, sid, lane, size, (quads + 1u) / 2u, 64u);
    let q0 = quad(min(2u * at.v, quads - 1u));
    let q1 = quad(min(2u * at.v + 1u, quads - 1u));
    let xs = p.h * p.w / 4u;
    var lo0: Acc32;
    var hi0: Acc32;
    var lo1: Acc32;
    var hi1: Acc32;
    for (var ci = 0u; ci < p.ci; ci++) {
        let wlo = lane_weights(ci, 2u * at.tile, lane);
        let whi = lane_weights(ci, 2u * at.tile + 1u, lane);
        let u0 = inputs(q0.x + ci * xs);
        let u1 = inputs(q1.x + ci * xs);
        lo0 = mac32(lo0, u0, wlo);
        hi0 = mac32(hi0, u0, whi);
        lo1 = mac32(lo1, u1, wlo);
        hi1 = mac32(hi1, u1, whi);
    }
    let c0 = at.tile * 64u;
    if at.stored {
        store32(q0.y, c0, lo0);
        store32(q0.y, c0 + 32u, hi0);
        if 2u * at.v + 1u < quads {
            store32(q1.y, c0, lo1);
            store32(q1.y, c0 + 32u, hi1);
        }
    }
}

// conv2d_pointwise_weight_sg: the weight gradient of the same 1x1
// convolutions (where the launcher runs the forward pass above), summed over
// chunks of quads like conv2d_direct_weight (conv2d_direct.wgsl):
//
// partials[s, co, ci] = Σ_{quads in chunk s} dot(dy[n, co, quad], x[n, ci, pos(quad)])
//   1 partials [S, Co, Ci]  written; conv2d_backward_weight_reduce sums the chunks
//   2 dy       [N, Co, Ho, Wo] as vec4
//   3 x        [N, Ci, H, W] as vec4
//
// A workgroup is 8 lanes (one subgroup), all on the same quad at a time:
// lane k sums CO_TILE output channels (32, or 16 where Co is at most 16) ×
// the 8 input channels of octet k (64 input channels a workgroup). Per quad
// it loads its 8 channels' x (stride 2: 16 vec4s) and 4 of the 32
// channels' dy, and takes the other 28 from the subgroup: 12 loads feed
// 1024 multiply-adds (16 channels: 10 loads, 512; on lavapipe the 32 run
// about 1.3 times as fast), where conv2d_direct_weight's 8 scalar loads
// feed 16. Grid: x the 64-channel tiles of ci, y the CO_TILE-channel tiles
// of co, z the chunks (p.rows quads each).

@group(0) @binding(2) var<storage, read> wdy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wx: array<vec4<f32>>;

// 8 input channels' inputs of one quad.
struct X8 {
    v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
    v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>,
}

// a + the quad's products of dy d with each of the 8 channels' inputs.
fn dots(a: Row8, d: vec4<f32>, u: X8) -> Row8 {
    return Row8(a.lo + vec4<f32>(dot(d, u.v0), dot(d, u.v1), dot(d, u.v2), dot(d, u.v3)),
                a.hi + vec4<f32>(dot(d, u.v4), dot(d, u.v5), dot(d, u.v6), dot(d, u.v7)));
}

// a + the quad's products of 16 output channels' dy (lane k of each 8
// holding channel k's in dl, channel 8 + k's in dh) with the 8 channels'
// inputs u.
fn dots16(a: Rows16, dl: vec4<f32>, dh: vec4<f32>, u: X8) -> Rows16 {
    return Rows16(dots(a.r0, subgroupBroadcast(dl, 0u), u), dots(a.r1, subgroupBroadcast(dl, 1u), u),
                  dots(a.r2, subgroupBroadcast(dl, 2u), u), dots(a.r3, subgroupBroadcast(dl, 3u), u),
                  dots(a.r4, subgroupBroadcast(dl, 4u), u), dots(a.r5, subgroupBroadcast(dl, 5u), u),
                  dots(a.r6, subgroupBroadcast(dl, 6u), u), dots(a.r7, subgroupBroadcast(dl, 7u), u),
                  dots(a.r8, subgroupBroadcast(dh, 0u), u), dots(a.r9, subgroupBroadcast(dh, 1u), u),
                  dots(a.r10, subgroupBroadcast(dh, 2u), u), dots(a.r11, subgroupBroadcast(dh, 3u), u),
                  dots(a.r12, subgroupBroadcast(dh, 4u), u), dots(a.r13, subgroupBroadcast(dh, 5u), u),
                  dots(a.r14, subgroupBroadcast(dh, 6u), u), dots(a.r15, subgroupBroadcast(dh, 7u), u));
}

// The quad's 4 inputs of the channel whose plane starts at vec4 `at` of wx.
fn wgrad_inputs(at: u32) -> vec4<f32> {
    if p.sh == 1u {
        return wx[at];
    }
    let a = wx[at];
    let b = wx[at + 1u];
    return vec4<f32>(a.x, a.z, b.x, b.z);
}

@compute @workgroup_size(8)
fn conv2d_pointwise_weight_sg(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(subgroup_invocation_id) lane: u32) {
    let per = p.ho * p.wo / 4u;
    let quads = p.n * per;
    let s = wid.z;
    let v0 = s * p.rows;
    let v1 = min(v0 + p.rows, quads);
    let ci0 = (wid.x * 8u + lane) * 8u;
    let co0 = wid.y * CO_TILE;
    // Offsets of this lane's 8 input channels' planes, and of the 4 (2)
    // output channels' whose dy it loads (channels past the last: the last
    // again, loaded, summed and not stored).
    let xs = p.h * p.w / 4u;
    let last = p.ci - 1u;
    let c = array<u32, 8>(min(ci0, last) * xs, min(ci0 + 1u, last) * xs,
                          min(ci0 + 2u, last) * xs, min(ci0 + 3u, last) * xs,
                          min(ci0 + 4u, last) * xs, min(ci0 + 5u, last) * xs,
                          min(ci0 + 6u, last) * xs, min(ci0 + 7u, last) * xs);
    let d = dy_planes(co0, lane, per);
    var a: Rows16;
    var b: Rows16;
    // The quad's image n and place r in its plane (stride 2: its first
    // output's row oy and column ox), stepped along rather than divided out.
    var n = v0 / per;
    var r = v0 % per;
    var oy = 4u * r / p.wo;
    var ox = 4u * r % p.wo;
    for (var v = v0; v < v1; v++) {
        let yq = n * p.co * per + r;
        var xq = n * p.ci * per + r;
        if p.sh != 1u {
            xq = (n * p.ci * p.h * p.w + 2u * oy * p.w + 2u * ox) / 4u;
        }
        let u = X8(wgrad_inputs(xq + c[0]), wgrad_inputs(xq + c[1]),
                   wgrad_inputs(xq + c[2]), wgrad_inputs(xq + c[3]),
                   wgrad_inputs(xq + c[4]), wgrad_inputs(xq + c[5]),
                   wgrad_inputs(xq + c[6]), wgrad_inputs(xq + c[7]));
        a = dots16(a, wdy[yq + d[0]], wdy[yq + d[1]], u);
        if CO_TILE == 32u {
            b = dots16(b, wdy[yq + d[2]], wdy[yq + d[3]], u);
        }
        r += 1u;
        if p.sh != 1u {
            ox += 4u;
            if ox == p.wo {
                ox = 0u;
                oy += 1u;
            }
        }
        if r == per {
            r = 0u;
            oy = 0u;
            n += 1u;
        }
    }
    if ci0 >= p.ci {
        return;
    }
    put_rows16(s, co0, ci0, a);
    if CO_TILE == 32u {
        put_rows16(s, co0 + 16u, ci0, b);
    }
}
