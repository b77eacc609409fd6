// Two sums over a workgroup by a tree in a fixed order (no atomics: the same
// inputs give the same bits). Needs `const WG: u32`, the (largest) workgroup
// size, a power of two of at least 8. Call from uniform control flow: it
// holds barriers.
//
// The tree pairs x[t] with x[t + k] for k = WG/2, WG/4, ..., 1. Its levels
// k >= 8 only ever combine values of one residue t mod 8, so invocation t < 8
// runs them for its residue in registers, in the tree's order; after one more
// barrier invocation 0 runs levels 4, 2, 1: the tree's sums, bit for bit,
// with two barriers instead of log2(WG) + 1 (lavapipe runs a workgroup's
// invocations as coroutines that all switch at every barrier: the tree's 8
// made a batch-norm reduction's fixed cost about a third larger).
var<workgroup> sum2_a: array<f32, WG>;
var<workgroup> sum2_b: array<f32, WG>;

// (Σ a, Σ b) over the invocations of the workgroup, in invocation 0 (the
// others get partial sums).
fn workgroup_sum2(t: u32, a: f32, b: f32) -> vec2<f32> {
    return group_sum2(t, WG, vec2<f32>(a, b));
}

// workgroup_sum2 over a workgroup of wg invocations (a power of two,
// 8 ≤ wg ≤ WG) each holding x = (a, b).
fn group_sum2(t: u32, wg: u32, x: vec2<f32>) -> vec2<f32> {
    sum2_a[t] = x.x;
    sum2_b[t] = x.y;
    workgroupBarrier();
    if t < 8u {
        // Residue t's values x[t + 8i] as v[i]: the tree's level k pairs
        // v[i] with v[i + k / 8].
        var va: array<f32, WG / 8u>;
        var vb: array<f32, WG / 8u>;
        for (var i = 0u; i < wg / 8u; i++) {
            va[i] = sum2_a[t + 8u * i];
            vb[i] = sum2_b[t + 8u * i];
        }
        for (var k = wg / 16u; k > 0u; k >>= 1u) {
            for (var i = 0u; i < k; i++) {
                va[i] += va[i + k];
                vb[i] += vb[i + k];
            }
        }
        // Only this invocation reads index t: its residue's sum goes there.
        sum2_a[t] = va[0];
        sum2_b[t] = vb[0];
    }
    workgroupBarrier();
    var r = vec2<f32>(sum2_a[0], sum2_b[0]);
    if t == 0u {
        var x: array<vec2<f32>, 8>;
        for (var i = 0u; i < 8u; i++) {
            x[i] = vec2<f32>(sum2_a[i], sum2_b[i]);
        }
        for (var k = 4u; k > 0u; k >>= 1u) {
            for (var i = 0u; i < k; i++) {
                x[i] += x[i + k];
            }
        }
        r = x[0];
    }
    return r;
}
