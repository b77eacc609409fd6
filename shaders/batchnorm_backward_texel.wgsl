// batchnorm_backward.wgsl's fused vec4 passes (bn_backward_partial4_tail,
// bn_backward_finalize_apply_pad4, bn_backward_apply_pad4_one) with dout, out and x read as texels
// (shared/texels.wgsl) instead of from storage buffers: the launcher copies
// each into its slot's texture before the pass. The bodies are
// shared/bn_backward4.wgsl's: the same sums in the same order, the same bits.
//
// Bindings as batchnorm_backward.wgsl's passes of those names, but dout, out
// and x as textures (2, 3, 4 and 4, 5, 6), and the apply's partials (8) as a
// 64 KiB uniform window, as in batchnorm_forward_texel.wgsl. Dispatch as
// there.

#import bn
#import sum2
#import texels
#import bn_backward4

const WG: u32 = 128u;
const LANES: u32 = 256u;

// ---- bn_backward_partial4_tail ----
@group(0) @binding(1) var<storage, read_write> r_partials4: array<f32>;
@group(0) @binding(2) var r_dout_t: Texels;
@group(0) @binding(3) var r_out_t: Texels;
@group(0) @binding(4) var r_x_t: Texels;
@group(0) @binding(5) var<storage, read> r_saved: array<f32>;
@group(0) @binding(6) var<storage, read> r_gamma: array<f32>;

@compute @workgroup_size(WG)
fn bn_backward_partial4_tail(@builtin(workgroup_id) wid: vec3<u32>,
                             @builtin(local_invocation_index) t: u32) {
    partial4_tail(wid.x, wid.y, t, WG);
}

// bn_backward_partial4_tail in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_backward_partial4_tail_w8(@builtin(workgroup_id) wid: vec3<u32>,
                               @builtin(local_invocation_index) t: u32) {
    partial4_tail(wid.x, wid.y, t, NARROW);
}

fn sums_dout(i: u32) -> vec4<f32> {
    return textureLoad(r_dout_t, texel(i));
}

fn sums_out(i: u32) -> vec4<f32> {
    return textureLoad(r_out_t, texel(i));
}

fn sums_x(i: u32) -> vec4<f32> {
    return textureLoad(r_x_t, texel(i));
}

// ---- bn_backward_finalize_apply_pad4 ----
@group(0) @binding(1) var<storage, read_write> y_dgb: array<f32>;
@group(0) @binding(2) var<storage, read_write> y_dx4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y_dres4: array<vec4<f32>>;
@group(0) @binding(4) var y_dout_t: Texels;
@group(0) @binding(5) var y_out_t: Texels;
@group(0) @binding(6) var y_x_t: Texels;
@group(0) @binding(7) var<storage, read_write> y_dxp4: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> y_partials_u: array<vec4<f32>, 4096>;

@compute @workgroup_size(64)
fn bn_backward_finalize_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                                   @builtin(num_workgroups) nwg: vec3<u32>) {
    finalize_apply_pad4(gid, nwg);
}

fn apply_dout(i: u32) -> vec4<f32> {
    return textureLoad(y_dout_t, texel(i));
}

fn apply_out(i: u32) -> vec4<f32> {
    return textureLoad(y_out_t, texel(i));
}

fn apply_x(i: u32) -> vec4<f32> {
    return textureLoad(y_x_t, texel(i));
}

fn apply_partial(i: u32) -> f32 {
    return y_partials_u[i >> 2u][i & 3u];
}

// ---- bn_backward_apply_pad4_one ----
@group(0) @binding(8) var<storage, read> y_stats: array<f32>;

@compute @workgroup_size(NARROW)
fn bn_backward_apply_pad4_one(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(local_invocation_index) t: u32) {
    backward_one4(wid.x, t);
}

fn apply_stats(i: u32) -> f32 {
    return y_stats[i];
}
