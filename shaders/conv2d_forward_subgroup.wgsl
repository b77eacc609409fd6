// conv2d_forward_tiled_s1_r4sg{2,4,8}: conv2d_forward_tiled_s1_r4u (4-row
// tiles, weights through the uniform window, runs over input channels) with
// the input shared through the subgroup. There every invocation loads its
// tile's 6 input rows (18 vec4s per input channel) itself, and on lavapipe
// each storage load is a loop over the lanes: those loads take about 40% of
// the pass. Here the lanes of a subgroup work in groups of L (2, 4 or 8, the
// entry point's suffix): a group computes one tile for L consecutive runs of
// 8 output channels, so all its lanes need the same 18 vectors; lane k of the
// group loads vectors k, k + L, ... and the group takes each from the lane
// that loaded it with subgroupShuffle. Each lane's sums are those of
// conv2d_forward_tiled_s1_r4u for its tile and channels, in the same order:
// the same bits.
//
// Lanes past the last tile keep running on the last one (their sums are not
// stored) so that every lane of a group takes part in its shuffles. Needs
// subgroups of 8 or more invocations (the launcher runs _r4u elsewhere, see
// conv2d::has_subgroups). Which lanes form a group follows the subgroup
// built-ins, not the order of the invocations.
//
// Bindings as conv2d_forward_tiled_s1_r4u. Dispatch: workgroups of 32 over
// (tiles × L) invocations in x (and z), Co8 / (8·L) in y; once per run of
// input channels as conv2d_forward_tiled_s1_r4u.

// (naga takes the subgroup built-ins without WGSL's `enable subgroups;`, which
// it does not parse yet; wgpu creates this module only on devices with
// Features::SUBGROUP.)

#import conv_tile
#import conv_uniform

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// An invocation's place: its tile (`ok` false past the last one, whose place
// it then takes), its position k in its group and the subgroup lane of the
// group's first.
struct Lane {
    t: Tile, k: u32, first: u32,
}

fn lane_of(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) -> Lane {
    // A subgroup of `size` lanes (fewer when the workgroup is smaller) holds
    // size / l groups; the workgroup WG_R4 / l.
    let group = sid * (size / l) + sl / l;
    let g = (wid.x + wid.z * nwg.x) * (WG_R4 / l) + group;
    let bands = (p.ho + 3u) / 4u;
    let tiles = p.n * bands * p.tiles_x;
    let ti = min(g, tiles - 1u);
    var r: Lane;
    r.k = sl % l;
    r.first = sl - r.k;
    r.t.ok = g < tiles;
    r.t.ox0 = (ti % p.tiles_x) * 8u;
    r.t.oy = ((ti / p.tiles_x) % bands) * 4u;
    r.t.n = ti / (p.tiles_x * bands);
    r.t.co0 = (wid.y * l + r.k) * 8u;
    r.t.add = false;
    return r;
}

// The vectors lane k of a group of l loads from the 18 of its tile's input
// rows (row j's vec4 i is vector 3j + i; r the first, `next` one row down):
// vectors k, k + l, ... in slots 0, 1, ...
fn own_vectors(r: u32, next: u32, k: u32, l: u32) -> array<vec4<f32>, 9> {
    var m = array<vec4<f32>, 9>();
    for (var s = 0u; s < 9u; s++) {
        let v = k + s * l;
        if v < 18u {
            m[s] = xp[r + (v / 3u) * next + v % 3u];
        }
    }
    return m;
}

// Vector v of the group's tile, from the lane that loaded it.
fn group_vector(m: ptr<function, array<vec4<f32>, 9>>, v: u32, first: u32, l: u32) -> vec4<f32> {
    return subgroupShuffle((*m)[v / l], first + v % l);
}

// The window of input row j of the group's tile.
fn group_window(m: ptr<function, array<vec4<f32>, 9>>, j: u32, first: u32, l: u32) -> Window {
    return window_of(group_vector(m, 3u * j, first, l), group_vector(m, 3u * j + 1u, first, l),
                     group_vector(m, 3u * j + 2u, first, l));
}

fn r4sg(wid: vec3<u32>, nwg: vec3<u32>, sid: u32, sl: u32, size: u32, l: u32) {
    let lane = lane_of(wid, nwg, sid, sl, size, l);
    let t = lane.t;
    var a0: Acc;
    var a1: Acc;
    var a2: Acc;
    var a3: Acc;
    if (p.flags & 2u) != 0u {
        a0 = resume(t);
        a1 = resume(down(t, 1u));
        a2 = resume(down(t, 2u));
        a3 = resume(down(t, 3u));
    }
    let next = p.pitch / 4u;
    for (var ci = p.ci0; ci < p.ci0 + p.cn; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        let k0 = taps(ci, 0u, t.co0);
        let k1 = taps(ci, 1u, t.co0);
        let k2 = taps(ci, 2u, t.co0);
        var m = own_vectors(((plane + t.oy) * p.pitch + t.ox0) / 4u, next, lane.k, l);
        let f = lane.first;
        r4_channel(&a0, &a1, &a2, &a3, k0, k1, k2,
            group_window(&m, 0u, f, l), group_window(&m, 1u, f, l), group_window(&m, 2u, f, l),
            group_window(&m, 3u, f, l), group_window(&m, 4u, f, l), group_window(&m, 5u, f, l));
    }
    if t.ok {
        store4(a0, a1, a2, a3, t);
    }
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4sg2(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    r4sg(wid, nwg, sid, sl, min(size, WG_R4), 2u);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4sg4(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    r4sg(wid, nwg, sid, sl, min(size, WG_R4), 4u);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4sg8(@builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(subgroup_id) sid: u32,
      @builtin(subgroup_invocation_id) sl: u32,
      @builtin(subgroup_size) size: u32) {
    r4sg(wid, nwg, sid, sl, min(size, WG_R4), 8u);
}
