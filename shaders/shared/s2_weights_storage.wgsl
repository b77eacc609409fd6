// s2_weights_uniform.wgsl's place in the grouped stride-2 backward-data
// passes' `*_storage_subgroup` twins: every output channel's weights from
// one storage binding, so a pass over many channels is one dispatch (the
// weight tiles [Co, 3, 3, Ci8] as vec4).
@group(0) @binding(3) var<storage, read> ws: array<vec4<f32>>;

fn weight(i: u32) -> vec4<f32> {
    return ws[i];
}
