// Two sums over a workgroup by a tree in a fixed order (no atomics: the same
// inputs give the same bits). Needs `const WG: u32`, the workgroup size, a
// power of two. Call from uniform control flow: it holds barriers.
var<workgroup> sum2_a: array<f32, WG>;
var<workgroup> sum2_b: array<f32, WG>;

// (Σ a, Σ b) over the invocations of the workgroup, in every invocation.
fn workgroup_sum2(t: u32, a: f32, b: f32) -> vec2<f32> {
    sum2_a[t] = a;
    sum2_b[t] = b;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if t < k {
            sum2_a[t] += sum2_a[t + k];
            sum2_b[t] += sum2_b[t + k];
        }
        workgroupBarrier();
    }
    return vec2<f32>(sum2_a[0], sum2_b[0]);
}
