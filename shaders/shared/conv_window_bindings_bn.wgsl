// The second and third uniform windows of shared/conv_windows.wgsl in the _bn
// modules, after the batch-norm epilogue's bindings 5–8
// (shared/conv_out_bn.wgsl).
@group(0) @binding(9) var<uniform> wu1: array<vec4<f32>, 4096>;
@group(0) @binding(10) var<uniform> wu2: array<vec4<f32>, 4096>;
