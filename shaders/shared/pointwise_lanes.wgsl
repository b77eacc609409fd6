// The 1x1 passes sharing values through the subgroup
// (conv2d_pointwise_subgroup.wgsl, conv2d_pointwise_any_subgroup.wgsl): the
// forward passes' sums, lane k of each 8 loading vec4 k of an input
// channel's 32 weights and the others taking it with subgroupBroadcast; the
// weight gradients' channel tiles. Only for modules validated with
// subgroups (*_subgroup.wgsl); needs shared/pointwise.wgsl imported first.

// Where an invocation of a forward pass works: its channel tile (of
// `width` output channels) and its quad v, and whether it stores them. The
// pass numbers tiles and quads together, p.slots invocations a tile (the
// quads rounded up to whole subgroups), so that a subgroup's lanes share
// their tile's weights while a workgroup may hold several tiles: with a tile
// a workgroup, the last stages' few quads (at batch 2, 25 on 7x7 planes)
// left most of its 64 lanes computing a copy of the last. Invocation g is
// counted subgroup by subgroup (its subgroup, then its lane), whatever the
// order the device numbers them in; past the last tile or quad it takes the
// last again and stores nothing.
struct Slot {
    tile: u32, v: u32, stored: bool,
}

fn slot(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, lane: u32, size: u32, quads: u32,
        width: u32) -> Slot {
    let g = (wid.x + wid.z * nwg.x) * WG + sid * min(size, WG) + lane;
    let tiles = (p.co + width - 1u) / width;
    let tile = g / p.slots;
    let v = g % p.slots;
    return Slot(min(tile, tiles - 1u), min(v, quads - 1u), tile < tiles && v < quads);
}

// 32 output channels' sums over one quad.
struct Acc32 {
    a0: Acc8, a1: Acc8, a2: Acc8, a3: Acc8,
}

// a + one input channel's terms: its quad of inputs u times the 32 weights
// whose vec4 k lane k of each 8 holds in `mine`.
fn mac32(a: Acc32, u: vec4<f32>, mine: vec4<f32>) -> Acc32 {
    return Acc32(mac8(a.a0, u, subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u)),
                 mac8(a.a1, u, subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u)),
                 mac8(a.a2, u, subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u)),
                 mac8(a.a3, u, subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u)));
}

// The vec4 of input channel ci's weights (tiles [Ci, 1, 1, Co8]) that this
// lane loads for the 32 channels from tile t (past the last channel the
// last one's, which nobody stores).
fn lane_weights(ci: u32, t: u32, lane: u32) -> vec4<f32> {
    let co8 = (p.co + 7u) / 8u;
    return wt[ci * co8 * 2u + min(t * 8u + lane % 8u, co8 * 2u - 1u)];
}

// Output channels a lane of the weight gradients (conv2d_pointwise_weight_sg,
// conv2d_pointwise_weight_any_sg) sums: 32, or 16 (the launcher's choice
// where Co is at most 16).
override CO_TILE: u32 = 32u;

// Where the planes of the 4 output channels whose dy the lane loads for its
// workgroup's channels from co0 start, in units of `per` (lane k: channels
// co0 + k, + 8, + 16, + 24; past the last channel the last).
fn dy_planes(co0: u32, lane: u32, per: u32) -> vec4<u32> {
    let last = p.co - 1u;
    return vec4<u32>(min(co0 + lane, last), min(co0 + 8u + lane, last),
                     min(co0 + 16u + lane, last), min(co0 + 24u + lane, last)) * per;
}
