// bench_fma: the adapter's multiply-add ceiling for `reslab bench`. Each
// invocation runs 32 independent chains (eight vec4s) of fused multiply-adds
// for `iters` trips of four rounds (64 FLOPs a round: enough chains in flight
// to fill the FMA units of a SIMD CPU as of a GPU) and writes one sum so the
// work cannot be optimised away.
//
//   bench_fma  1 out [invocations]
// Dispatch: 64 invocations per workgroup, one output each.

struct FmaParams {
    iters: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: FmaParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn bench_fma(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let a = f32(i & 255u) * 1e-3;
    var a0 = vec4<f32>(a, a + 0.1, a + 0.2, a + 0.3);
    var a1 = a0 + 0.4;
    var a2 = a0 + 0.8;
    var a3 = a0 + 1.2;
    var a4 = a0 + 1.6;
    var a5 = a0 + 2.0;
    var a6 = a0 + 2.4;
    var a7 = a0 + 2.8;
    let m = vec4<f32>(0.9999);
    let c = vec4<f32>(1e-4);
    // Four rounds per trip: the loop's own instructions take issue slots
    // that a GPU would give to multiply-adds.
    for (var k = 0u; k < p.iters; k++) {
        for (var r = 0u; r < 4u; r++) {
            a0 = fma(a0, m, c);
            a1 = fma(a1, m, c);
            a2 = fma(a2, m, c);
            a3 = fma(a3, m, c);
            a4 = fma(a4, m, c);
            a5 = fma(a5, m, c);
            a6 = fma(a6, m, c);
            a7 = fma(a7, m, c);
        }
    }
    let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    out[i] = s.x + s.y + s.z + s.w;
}
