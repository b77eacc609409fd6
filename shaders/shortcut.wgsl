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

@compute @workgroup_size(WG)
fn shortcut_a_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.n * p.co * p.ho * p.wo {
        return;
    }
    let ox = i % p.wo;
    let oy = (i / p.wo) % p.ho;
    let co = (i / (p.wo * p.ho)) % p.co;
    let n = i / (p.wo * p.ho * p.co);
    var v = 0.0;
    if co >= p.pad_before && co < p.pad_before + p.ci {
        let ci = co - p.pad_before;
        v = src[((n * p.ci + ci) * p.h + oy * p.stride) * p.w + ox * p.stride];
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
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.ci;
    let n = i / (p.w * p.h * p.ci);
    var v = 0.0;
    if ix % p.stride == 0u && iy % p.stride == 0u {
        let co = ci + p.pad_before;
        v = src[((n * p.co + co) * p.ho + iy / p.stride) * p.wo + ix / p.stride];
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
    let ox = i % p.wo;
    let oy = (i / p.wo) % p.ho;
    let co = (i / (p.wo * p.ho)) % p.co;
    let n = i / (p.wo * p.ho * p.co);
    var v = vec4<f32>(0.0);
    if co >= p.pad_before && co < p.pad_before + p.ci {
        let ci = co - p.pad_before;
        let r = ((n * p.ci + ci) * p.h + oy * p.stride) * p.w + ox * p.stride;
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
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.ci;
    let n = i / (p.w * p.h * p.ci);
    var v = vec4<f32>(0.0);
    if iy % p.stride == 0u {
        let r = ((n * p.co + ci + p.pad_before) * p.ho + iy / p.stride) * p.wo;
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
