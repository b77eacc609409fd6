// The second and third uniform windows of shared/conv_windows.wgsl, after the
// bindings 0–4 of the tiled forward modules.
@group(0) @binding(5) var<uniform> wu1: array<vec4<f32>, 4096>;
@group(0) @binding(6) var<uniform> wu2: array<vec4<f32>, 4096>;
