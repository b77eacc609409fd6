// Pooling over NCHW tensors.
//   maxpool_forward   1 y [N, C, Ho, Wo]  2 argmax [N, C, Ho, Wo] (u32, index iy·W + ix
//                     within the input plane)  3 x [N, C, H, W]
//       one invocation per element of y; padding counts as −∞; the first maximum in
//       row-major window order wins, and a NaN wins over any number (as PyTorch).
//       maxpool3s2_forward4 the same for the ResNet stem's 3x3/2 pool with
//       padding 1 over rows of a multiple of 8, a vec4 of y an invocation.
//   maxpool_backward  1 dx [N, C, H, W]  2 dy [N, C, Ho, Wo]  3 argmax
//       one invocation per element of dx: gathers dy from every window whose
//       maximum it was (no atomics); maxpool_backward4 the same a vec4 of dx
//       an invocation where W is a multiple of 4.
//   avgpool_forward   1 y [N, C]  2 x [N, C, H, W]     global average, one invocation per (n, c)
//   avgpool_backward  1 dx [N, C, H, W]  2 dy [N, C]   one invocation per element of dx

struct PoolParams {
    n: u32, c: u32, h: u32, w: u32,
    ho: u32, wo: u32, k: u32, stride: u32,
    pad: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: PoolParams;

const WG: u32 = 128u;

#import grid
#import nan

// ---- maxpool_forward ----
@group(0) @binding(1) var<storage, read_write> mf_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> mf_argmax: array<u32>;
@group(0) @binding(3) var<storage, read> mf_x: array<f32>;

@compute @workgroup_size(WG)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.c * p.ho * p.wo {
        return;
    }
    let ox = i % p.wo;
    let oy = (i / p.wo) % p.ho;
    let plane = i / (p.wo * p.ho);
    let base = plane * p.h * p.w;
    var best = 0.0;
    var arg = 0xffffffffu;
    for (var ky = 0u; ky < p.k; ky++) {
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        for (var kx = 0u; kx < p.k; kx++) {
            let ix = i32(ox * p.stride + kx) - i32(p.pad);
            if ix < 0 || ix >= i32(p.w) {
                continue;
            }
            let at = u32(iy) * p.w + u32(ix);
            let v = mf_x[base + at];
            if arg == 0xffffffffu || v > best || is_nan(v) {
                best = v;
                arg = at;
                if is_nan(v) {
                    break;
                }
            }
        }
        if is_nan(best) {
            break;
        }
    }
    mf_y[i] = best;
    mf_argmax[i] = arg;
}

// A window's maximum so far, as maxpool_forward keeps it; `done` once a NaN
// won (maxpool_forward then leaves its loops).
struct Pick {
    best: f32, arg: u32, done: bool,
}

fn consider(b: ptr<function, Pick>, v: f32, at: u32) {
    if (*b).done {
        return;
    }
    if (*b).arg == 0xffffffffu || v > (*b).best || is_nan(v) {
        (*b).best = v;
        (*b).arg = at;
        (*b).done = is_nan(v);
    }
}

// maxpool_forward for the ResNet stem's 3x3/2 pool with padding 1 over rows
// of a multiple of 8 (Wo = W / 2, a multiple of 4), one invocation per vec4
// of y, ox0 = 4t: its windows read columns 8t − 1 .. 8t + 7 of each input
// row, the last value of vec4 2t − 1 and vec4s 2t and 2t + 1, each loaded
// once (a storage load on a CPU adapter is a loop over the lanes, and the
// windows overlap). Each output takes its values in maxpool_forward's order:
// the same values and indices.
@group(0) @binding(1) var<storage, read_write> mf_y4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> mf_argmax4: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> mf_x4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn maxpool3s2_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = folded_index(gid, nwg);
    let wo4 = p.wo / 4u;
    if q >= p.n * p.c * p.ho * wo4 {
        return;
    }
    let t = q % wo4;
    let oy = (q / wo4) % p.ho;
    let plane = q / (wo4 * p.ho);
    let w4 = p.w / 4u;
    let none = Pick(0.0, 0xffffffffu, false);
    var b0 = none;
    var b1 = none;
    var b2 = none;
    var b3 = none;
    for (var ky = 0u; ky < 3u; ky++) {
        let iy = i32(2u * oy + ky) - 1;
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        let row = (plane * p.h + u32(iy)) * w4 + 2u * t;
        let a = mf_x4[max(row, 1u) - 1u];
        let m = mf_x4[row];
        let z = mf_x4[row + 1u];
        // Column 8t + j's index in the plane.
        let at = u32(iy) * p.w + 8u * t;
        if t > 0u {
            consider(&b0, a.w, at - 1u);
        }
        consider(&b0, m.x, at);
        consider(&b0, m.y, at + 1u);
        consider(&b1, m.y, at + 1u);
        consider(&b1, m.z, at + 2u);
        consider(&b1, m.w, at + 3u);
        consider(&b2, m.w, at + 3u);
        consider(&b2, z.x, at + 4u);
        consider(&b2, z.y, at + 5u);
        consider(&b3, z.y, at + 5u);
        consider(&b3, z.z, at + 6u);
        consider(&b3, z.w, at + 7u);
    }
    mf_y4[q] = vec4<f32>(b0.best, b1.best, b2.best, b3.best);
    mf_argmax4[q] = vec4<u32>(b0.arg, b1.arg, b2.arg, b3.arg);
}

// ---- maxpool_backward ----
@group(0) @binding(1) var<storage, read_write> mb_dx: array<f32>;
@group(0) @binding(2) var<storage, read> mb_dy: array<f32>;
@group(0) @binding(3) var<storage, read> mb_argmax: array<u32>;

@compute @workgroup_size(WG)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.c * p.h * p.w {
        return;
    }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let plane = i / (p.w * p.h);
    let at = iy * p.w + ix;
    // Windows oy with oy·s − pad ≤ iy ≤ oy·s − pad + k − 1.
    let ty = i32(iy + p.pad) - i32(p.k) + 1;
    let tx = i32(ix + p.pad) - i32(p.k) + 1;
    let oy0 = u32(max(ty + i32(p.stride) - 1, 0)) / p.stride;
    let ox0 = u32(max(tx + i32(p.stride) - 1, 0)) / p.stride;
    let oy1 = min((iy + p.pad) / p.stride + 1u, p.ho);
    let ox1 = min((ix + p.pad) / p.stride + 1u, p.wo);
    var acc = 0.0;
    for (var oy = oy0; oy < oy1; oy++) {
        for (var ox = ox0; ox < ox1; ox++) {
            let o = (plane * p.ho + oy) * p.wo + ox;
            if mb_argmax[o] == at {
                acc += mb_dy[o];
            }
        }
    }
    mb_dx[i] = acc;
}

// maxpool_backward over rows of a multiple of 4 values, one invocation per
// vec4 of dx: the windows over any of its 4 columns, each argmax and dy
// loaded once for the 4 (a storage load on a CPU adapter is a loop over the
// lanes, and a 3x3/2 pool's windows overlap), each value's terms in
// maxpool_backward's order: the same bits.
@group(0) @binding(1) var<storage, read_write> mb_dx4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn maxpool_backward4(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = folded_index(gid, nwg);
    let w4 = p.w / 4u;
    if q >= p.n * p.c * p.h * w4 {
        return;
    }
    let ix = (q % w4) * 4u;
    let iy = (q / w4) % p.h;
    let plane = q / (w4 * p.h);
    let at = iy * p.w + ix;
    let ats = vec4<u32>(at, at + 1u, at + 2u, at + 3u);
    // Windows oy with oy·s − pad ≤ iy ≤ oy·s − pad + k − 1; columns likewise
    // for ix .. ix + 3.
    let ty = i32(iy + p.pad) - i32(p.k) + 1;
    let tx = i32(ix + p.pad) - i32(p.k) + 1;
    let oy0 = u32(max(ty + i32(p.stride) - 1, 0)) / p.stride;
    let ox0 = u32(max(tx + i32(p.stride) - 1, 0)) / p.stride;
    let oy1 = min((iy + p.pad) / p.stride + 1u, p.ho);
    let ox1 = min((ix + 3u + p.pad) / p.stride + 1u, p.wo);
    var acc = vec4<f32>(0.0);
    for (var oy = oy0; oy < oy1; oy++) {
        for (var ox = ox0; ox < ox1; ox++) {
            let o = (plane * p.ho + oy) * p.wo + ox;
            let hit = vec4<u32>(mb_argmax[o]) == ats;
            if any(hit) {
                acc += select(vec4<f32>(0.0), vec4<f32>(mb_dy[o]), hit);
            }
        }
    }
    mb_dx4[q] = acc;
}

// ---- avgpool_forward / avgpool_backward (global) ----
@group(0) @binding(1) var<storage, read_write> av_out: array<f32>;
@group(0) @binding(2) var<storage, read> av_in: array<f32>;

@compute @workgroup_size(64)
fn avgpool_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if i >= p.n * p.c {
        return;
    }
    let hw = p.h * p.w;
    var acc = 0.0;
    for (var j = 0u; j < hw; j++) {
        acc += av_in[i * hw + j];
    }
    av_out[i] = acc / f32(hw);
}

@compute @workgroup_size(WG)
fn avgpool_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    let hw = p.h * p.w;
    if i >= p.n * p.c * hw {
        return;
    }
    av_out[i] = av_in[i / hw] / f32(hw);
}
