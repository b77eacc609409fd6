// Option-A shortcut (He et al. 2016, CIFAR nets): subsample by the stride
// (keep pixels 0, s, 2s, …) and zero-pad channels from Ci to Co, with
// (Co − Ci)/2 zero channels before the copied ones and the rest after, as
// F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, p // 2, p - p // 2)) does.
//
//   shortcut_a_forward   1 y [N, Co, Ho, Wo]  2 x [N, Ci, H, W]
//       one invocation per element of y.
//   shortcut_a_backward  1 dx [N, Ci, H, W]   2 dy [N, Co, Ho, Wo]
//       one invocation per element of dx; added to dx when flags & 1.
//   shortcut_a_forward4 / shortcut_a_backward4: the same with one invocation
//       per 4 elements of a row of y (Wo a multiple of 4) / of dx (W a
//       multiple of 4), written as one vec4 (on lavapipe a storage access is
//       a loop over the lanes whatever its width).
// Ho = ceil(H / s), Wo = ceil(W / s).

struct ShortcutParams {
    n: u32, ci: u32, h: u32, w: u32,
    co: u32, ho: u32, wo: u32, stride: u32,
    pad_before: u32, flags: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ShortcutParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

const WG: u32 = 128u;

#import grid

// Element i of a [N, C, H, W] tensor as (x, y, channel, image).
fn place(i: u32, c: u32, h: u32, w: u32) -> vec4<u32> {
    return vec4<u32>(i % w, (i / w) % h, (i / (w * h)) % c, i / (w * h * c));
}

// Whether y's channel co is one of x's (not a zero-padded one).
fn copied(co: u32) -> bool {
    return co >= p.pad_before && co < p.pad_before + p.ci;
}

// The element of x that y's element at o = (ox, oy, co, n) copies.
fn source_of(o: vec4<u32>) -> u32 {
    return ((o.w * p.ci + o.z - p.pad_before) * p.h + o.y * p.stride) * p.w + o.x * p.stride;
}

// The start of the row of dy that x's row at x = (·, iy, ci, n) feeds, for
// iy a multiple of the stride.
fn dy_row(x: vec4<u32>) -> u32 {
    return ((x.w * p.co + x.z + p.pad_before) * p.ho + x.y / p.stride) * p.wo;
}

@compute @workgroup_size(WG)
fn shortcut_a_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.co * p.ho * p.wo {
        return;
    }
    let o = place(i, p.co, p.ho, p.wo);
    var v = 0.0;
    if copied(o.z) {
        v = src[source_of(o)];
    }
    out[i] = v;
}

@compute @workgroup_size(WG)
fn shortcut_a_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.ci * p.h * p.w {
        return;
    }
    let x = place(i, p.ci, p.h, p.w);
    var v = 0.0;
    if x.x % p.stride == 0u && x.y % p.stride == 0u {
        v = src[dy_row(x) + x.x / p.stride];
    }
    if (p.flags & 1u) != 0u {
        v += out[i];
    }
    out[i] = v;
}

// ---- over vec4s of the output ----
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn shortcut_a_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = folded_index(gid, nwg);
    if q >= p.n * p.co * p.ho * p.wo / 4u {
        return;
    }
    let i = 4u * q;
    let o = place(i, p.co, p.ho, p.wo);
    var v = vec4<f32>(0.0);
    if copied(o.z) {
        let r = source_of(o);
        v = vec4<f32>(src[r], src[r + p.stride], src[r + 2u * p.stride], src[r + 3u * p.stride]);
    }
    out4[q] = v;
}

@compute @workgroup_size(WG)
fn shortcut_a_backward4(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = folded_index(gid, nwg);
    if q >= p.n * p.ci * p.h * p.w / 4u {
        return;
    }
    let i = 4u * q;
    let x = place(i, p.ci, p.h, p.w);
    var v = vec4<f32>(0.0);
    if x.y % p.stride == 0u {
        let r = dy_row(x);
        let ix = x.x;
        if ix % p.stride == 0u { v.x = src[r + ix / p.stride]; }
        if (ix + 1u) % p.stride == 0u { v.y = src[r + (ix + 1u) / p.stride]; }
        if (ix + 2u) % p.stride == 0u { v.z = src[r + (ix + 2u) / p.stride]; }
        if (ix + 3u) % p.stride == 0u { v.w = src[r + (ix + 3u) / p.stride]; }
    }
    if (p.flags & 1u) != 0u {
        v += out4[q];
    }
    out4[q] = v;
}
