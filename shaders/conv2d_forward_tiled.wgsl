// conv2d_forward_tiled_s1 / _s2: fast 3x3 convolutions, stride 1 and 2, as an implicit
// GEMM with an 8x8 register tile. conv2d_forward.wgsl is the reference they are
// tested against. conv2d_forward_tiled_s1_r4 is the stride-1 pass with 4 rows
// of the 8x8 tile per invocation: a quarter of the invocations, each loading
// its weights once for 4 rows and each of the 6 input rows under them once
// (not once per kernel row: on lavapipe every load is a per-lane gather, and
// halving them ran the pass 1.45x faster), which is what CPU adapters run fastest; GPUs
// keep the 8x8 tile (register pressure). (Larger tiles, 16 channels × 4 rows,
// ran no faster on lavapipe and took the driver 2.7 times as long to compile.)
// Every variant sums each output in the same order, so all give the same bits;
// which one runs is chosen per adapter and shape (src/kernels/conv2d.rs, Tiling).
//
// Inputs come prepared by conv2d_tiled_prepare.wgsl: xp is the input zero-padded
// (rows of `pitch` floats, a multiple of 4, so every load is an aligned vec4 and
// no load needs a bounds test) and wt holds the weights as [Ci, 3, 3, Co8] with
// the output channel innermost (Co8 = Co rounded up to 8).
//
// Bindings of every entry point:
//   1 y    [N, Co, Ho, Wo]       as vec4 (see shared/conv_tile.wgsl put4);
//                                written (read first when flags & 2)
//   2 xp   [N, Ci, Hp, pitch]    as vec4 (Hp covers whole bands of 4 rows for _r4)
//   3 wt   [Ci, 3, 3, Co8]       as vec4
//   4 bias [Co]                  read when flags & 1
// flags & 2: the pass adds to y, its sums starting from y's values (a
// gradient's second term: the same sum, in the same order, in every variant).
// Dispatch: one invocation computes 8 output channels × 8 consecutive pixels of
// one output row (_r4: of 4 rows). x of the grid
// (and z, when x would exceed the device limit) numbers pixel tiles; y numbers
// channel tiles, so every invocation of a workgroup loads the same weights, a
// uniform load the compiler can broadcast. Per input channel and kernel row: 3
// (stride 1) or 5 (stride 2) vec4 input loads and 6 vec4 weight loads feed 192
// multiply-adds. 64 invocations per group (32 for _r4).

#import conv_tile

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn input_vec(i: u32) -> vec4<f32> {
    return xp[i];
}

// Weights of taps (ky, 0..2) for input channel ci, channels co0..co0+7.
fn weights_base(ci: u32, ky: u32, co0: u32) -> u32 {
    return ((ci * 3u + ky) * 3u * p.co8 + co0) / 4u;
}

fn taps(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = weights_base(ci, ky, co0);
    return Taps(wt[wb], wt[wb + 1u], wt[wb + q], wt[wb + q + 1u], wt[wb + 2u * q], wt[wb + 2u * q + 1u]);
}

// acc += one kernel row of weights w over the input row whose 8 pixels (and the
// 2 after them) start at vec4 index r, stride 1.
fn row_s1(a: ptr<function, Acc>, w: Taps, r: u32) {
    let v0 = xp[r];
    let v1 = xp[r + 1u];
    let v2 = xp[r + 2u];
    row(a, w.w0l, w.w0h, w.w1l, w.w1h, w.w2l, w.w2h,
        v0, v1,
        vec4<f32>(v0.yzw, v1.x), vec4<f32>(v1.yzw, v2.x),
        vec4<f32>(v0.zw, v1.xy), vec4<f32>(v1.zw, v2.xy));
}

fn forward_s1(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) {
    let t = tile(gid, wid, nwg);
    if !t.ok {
        return;
    }
    var a = start(t);
    for (var ci = 0u; ci < p.ci; ci++) {
        let plane = (t.n * p.ci + ci) * p.hp;
        for (var ky = 0u; ky < 3u; ky++) {
            // Input row oy + ky, pixels ox0 .. ox0 + 9 (padding included).
            row_s1(&a, taps(ci, ky, t.co0), ((plane + t.oy + ky) * p.pitch + t.ox0) / 4u);
        }
    }
    store(a, t);
}

fn forward_s1_r4(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) {
    let t = tile_of(gid, wid, nwg, WG_R4, 4u);
    if !t.ok {
        return;
    }
    var a0 = start(t);
    var a1 = start(down(t, 1u));
    var a2 = start(down(t, 2u));
    var a3 = start(down(t, 3u));
    r4_sum(&a0, &a1, &a2, &a3, t, 0u, p.ci);
    store4(a0, a1, a2, a3, t);
}

fn forward_s2(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) {
    let t = tile(gid, wid, nwg);
    if !t.ok {
        return;
    }
    var a = start(t);
    s2_sum(&a, t, 0u, p.ci);
    store(a, t);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s1(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s1(gid, wid, nwg);
}

@compute @workgroup_size(WG_R4)
fn conv2d_forward_tiled_s1_r4(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s1_r4(gid, wid, nwg);
}

@compute @workgroup_size(WG)
fn conv2d_forward_tiled_s2(@builtin(global_invocation_id) gid: vec3<u32>,
      @builtin(workgroup_id) wid: vec3<u32>,
      @builtin(num_workgroups) nwg: vec3<u32>) {
    forward_s2(gid, wid, nwg);
}
