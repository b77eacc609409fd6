// batchnorm_forward.wgsl's fused vec4 passes (bn_stats_partial4,
// bn_stats_apply_pad4, bn_stats_apply_pad4_one, bn_eval_apply_pad4) with x and the residual read as texels
// (shared/texels.wgsl) instead of from storage buffers: the launcher copies
// each into its slot's texture before the pass. The bodies are
// shared/bn_forward4.wgsl's: the same sums in the same order, the same bits.
//
// Bindings as batchnorm_forward.wgsl's passes of those names, but x (2; 5;
// 5) and the residual (6; 6) as textures, and bn_stats_apply_pad4's partials
// (8) as a 64 KiB uniform window (every invocation of a workgroup reads its
// channels' chunk sums: on lavapipe a uniform read is a fraction of a
// storage one's cost). Dispatch as there.

#import bn
#import sum2
#import nan
#import texels
#import bn_forward4

const WG: u32 = 128u;
const LANES: u32 = 256u;

// ---- bn_stats_partial4 ----
@group(0) @binding(1) var<storage, read_write> partials4: array<f32>;
@group(0) @binding(2) var px_t: Texels;

@compute @workgroup_size(WG)
fn bn_stats_partial4(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(local_invocation_index) t: u32) {
    stats_partial4(wid.x, wid.y, t, WG);
}

// bn_stats_partial4 in a workgroup of NARROW invocations
// (shared/bn.wgsl): the same sums.
@compute @workgroup_size(NARROW)
fn bn_stats_partial4_w8(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_index) t: u32) {
    stats_partial4(wid.x, wid.y, t, NARROW);
}

fn stats_x(i: u32) -> vec4<f32> {
    return textureLoad(px_t, texel(i));
}

// ---- bn_stats_apply_pad4 ----
@group(0) @binding(1) var<storage, read_write> s_stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_running: array<f32>;
@group(0) @binding(3) var<storage, read> s_gamma_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> s_y4: array<vec4<f32>>;
@group(0) @binding(5) var s_x_t: Texels;
@group(0) @binding(6) var s_residual_t: Texels;
@group(0) @binding(7) var<storage, read_write> s_yp4: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> s_partials_u: array<vec4<f32>, 4096>;

@compute @workgroup_size(64)
fn bn_stats_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    stats_apply_pad4(gid, nwg);
}

@compute @workgroup_size(NARROW)
fn bn_stats_apply_pad4_one(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(local_invocation_index) t: u32) {
    stats_apply_one4(wid.x, t);
}

fn apply_x(i: u32) -> vec4<f32> {
    return textureLoad(s_x_t, texel(i));
}

fn apply_res(i: u32) -> vec4<f32> {
    return textureLoad(s_residual_t, texel(i));
}

fn apply_partial(i: u32) -> f32 {
    return s_partials_u[i >> 2u][i & 3u];
}

// ---- bn_eval_apply_pad4 ----
@group(0) @binding(1) var<storage, read_write> v_coef: array<f32>;
@group(0) @binding(2) var<storage, read> v_running: array<f32>;
@group(0) @binding(3) var<storage, read> v_gamma_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_y4: array<vec4<f32>>;
@group(0) @binding(5) var v_x_t: Texels;
@group(0) @binding(6) var v_residual_t: Texels;
@group(0) @binding(7) var<storage, read_write> v_yp4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn bn_eval_apply_pad4(@builtin(global_invocation_id) gid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
    eval_apply_pad4(gid, nwg);
}

fn eval_x(i: u32) -> vec4<f32> {
    return textureLoad(v_x_t, texel(i));
}

fn eval_res(i: u32) -> vec4<f32> {
    return textureLoad(v_residual_t, texel(i));
}
