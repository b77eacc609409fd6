// conv2d_backward_data_s2: the input gradient of a 3x3 convolution of
// stride 2 and padding 1, without the zeros a dilated stride-1 pass multiplies.
// conv2d_backward_data.wgsl is the reference.
//
// Input pixel iy = 2·oy + ky − 1 receives from kernel row ky = 1 alone when iy is
// even (oy = iy/2), and from rows 2 (oy = m) and 0 (oy = m + 1) when iy = 2m + 1 is
// odd; columns likewise. Each workgroup z is one of the four parities
// (py, px) = (z / 2, z % 2) and computes dx[n, ci, 2m + py, 2l + px] for 8
// channels × 8 consecutive l of one row m:
//   dx = Σ_co Σ_(ky,oy) Σ_(kx,ox) dy[n, co, oy, ox] · w[co, ci, ky, kx].
//
// Bindings:
//   1 dx   [N, Ci, H, W]             written (added to when flags & 2; read
//                                    first when flags & 4, a later run of
//                                    conv2d_backward_data_tiled_s2u)
//   2 dyp  [N, Co, Ho + 1, pitch]    dy with a zero row below and zero columns
//                                    to the right, read as vec4 (conv2d_pad)
//   3 wt   [Co, 3, 3, Ci8]           unflipped backward weight tiles, as vec4
// Dispatch: x (and y when folded) over tiles of (n, m, 8 l), y… z = 4 parities;
// channel tiles of 8 ci over the grid's y. 64 invocations per workgroup.

#import conv_s2_data

@group(0) @binding(2) var<storage, read> dyp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<f32>>;

fn weight(i: u32) -> vec4<f32> {
    return wt[i];
}

fn input_vec(i: u32) -> vec4<f32> {
    return dyp[i];
}

@compute @workgroup_size(WG)
fn conv2d_backward_data_tiled_s2(@builtin(global_invocation_id) gid: vec3<u32>,
                              @builtin(workgroup_id) wid: vec3<u32>) {
    backward_data_s2(gid, wid);
}
