// bench_fma: the adapter's multiply-add ceiling for `reslab bench`. Each
// invocation runs 32 independent chains (eight vec4s) of fused multiply-adds
// for `iters` trips of eight rounds (64 FLOPs a round: enough chains in
// flight to fill the FMA units of a SIMD CPU as of a GPU) and writes one sum
// so the work cannot be optimised away.
//
//   bench_fma  1 out [invocations]
// Dispatch: 64 invocations per workgroup, one output each.

struct FmaParams {
    iters: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: FmaParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

alias Chains = array<vec4<f32>, 8>;

// One round: a multiply-add on each chain.
fn fma_round(a: ptr<function, Chains>, m: vec4<f32>, c: vec4<f32>) {
    (*a)[0] = fma((*a)[0], m, c);
    (*a)[1] = fma((*a)[1], m, c);
    (*a)[2] = fma((*a)[2], m, c);
    (*a)[3] = fma((*a)[3], m, c);
    (*a)[4] = fma((*a)[4], m, c);
    (*a)[5] = fma((*a)[5], m, c);
    (*a)[6] = fma((*a)[6], m, c);
    (*a)[7] = fma((*a)[7], m, c);
}

@compute @workgroup_size(64)
fn bench_fma(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let a = f32(i & 255u) * 1e-3;
    let a0 = vec4<f32>(a, a + 0.1, a + 0.2, a + 0.3);
    var ch = Chains(a0, a0 + 0.4, a0 + 0.8, a0 + 1.2, a0 + 1.6, a0 + 2.0, a0 + 2.4, a0 + 2.8);
    let m = vec4<f32>(0.9999);
    let c = vec4<f32>(1e-4);
    // Eight rounds per trip, written out rather than as an inner loop: the
    // trip's own instructions take issue slots that a GPU would give to
    // multiply-adds, and a CPU adapter keeps per-lane masks for every loop
    // (lavapipe read half the ceiling with an inner loop over four rounds).
    for (var k = 0u; k < p.iters; k++) {
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
        fma_round(&ch, m, c);
    }
    var s = vec4<f32>(0.0);
    for (var j = 0u; j < 8u; j++) {
        s += ch[j];
    }
    out[i] = s.x + s.y + s.z + s.w;
}
