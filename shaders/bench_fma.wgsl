// bench_fma: the adapter's multiply-add ceiling for `reslab bench`. Each
// invocation runs 8 independent chains of a·m + c for `iters` rounds (16 FLOPs
// a round) and writes one sum so the work cannot be optimised away.
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
    var a0 = f32(i & 255u) * 1e-3;
    var a1 = a0 + 0.1;
    var a2 = a0 + 0.2;
    var a3 = a0 + 0.3;
    var a4 = a0 + 0.4;
    var a5 = a0 + 0.5;
    var a6 = a0 + 0.6;
    var a7 = a0 + 0.7;
    let m = 0.9999;
    let c = 1e-4;
    for (var k = 0u; k < p.iters; k++) {
        a0 = a0 * m + c;
        a1 = a1 * m + c;
        a2 = a2 * m + c;
        a3 = a3 * m + c;
        a4 = a4 * m + c;
        a5 = a5 * m + c;
        a6 = a6 * m + c;
        a7 = a7 * m + c;
    }
    out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}
