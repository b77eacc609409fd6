// NaN by its bits, and a ReLU that keeps NaN (as PyTorch's does). WGSL lets an
// implementation assume no NaN or infinity, and Metal and DX12 compile with
// fast math, so `v != v` may fold to false and `max(v, 0.0)` may turn a NaN
// into 0 — hiding it from the divergence checks. An integer test of the bits
// cannot be folded away.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn relu(v: f32) -> f32 {
    return select(max(v, 0.0), v, is_nan(v));
}

fn relu4(v: vec4<f32>) -> vec4<f32> {
    let nan = (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
    return select(max(v, vec4<f32>(0.0)), v, nan);
}
