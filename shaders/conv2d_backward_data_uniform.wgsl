// conv2d_backward_data_tiled_s2u: the stride-2 backward-data pass of
// conv2d_backward_data_s2.wgsl (shared/conv_s2_data.wgsl) reading its weights
// through a 64 KiB uniform window, in runs of output channels as
// conv2d_forward_uniform.wgsl does with input channels (flags & 4: a later run,
// which starts from the sums in dx). One run may also add to dx (flags & 2);
// an adding pass of several runs reads its weights from storage instead. The
// same sums in the same order as conv2d_backward_data_tiled_s2: the same bits.
//
// Bindings: 1 dx, 2 dyp as conv2d_backward_data_tiled_s2; 3 wu, uniform, 64 KiB
// of the weight tiles [Co, 3, 3, Ci8] from output channel co0.

#import conv_s2_data

@group(0) @binding(2) var<storage, read> dyp: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;

fn weight(i: u32) -> vec4<f32> {
    return wu[i - p.co0 * 9u * (p.ci8 / 4u)];
}

fn input_vec(i: u32) -> vec4<f32> {
    return dyp[i];
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2u(@builtin(global_invocation_id) gid: vec3<u32>,
                                  @builtin(workgroup_id) wid: vec3<u32>) {
    backward_data_s2(gid, wid);
}
