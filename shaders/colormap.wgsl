// colormap: the channel maps of one sample, drawn as a grid of small images
// into an RGBA texture with a viridis colour scale — activations go from their
// buffer to the screen without a CPU round trip.
//
// A value is v = src[n, c, k] (·coef[c] + coef[C + c] when flags & 1, the batch-
// norm output computed from its input) (+ add[n, c, k] when flags & 2).
//
//   channel_range  1 range [C + 1, 2] (min, max)  2 src [N, C, H, W]  3 coef [2, C]  4 add
//       one workgroup of 64 per row c = first + workgroup id: for c < C the min and
//       max of v over the H·W pixels of channel c of sample n; for c = C the joint
//       range of all channels (a second dispatch, after the first wrote them).
//   colormap       1 image (rgba8unorm storage texture)  2 src  3 coef  4 add  5 range
//       one invocation per texel: channel c sits in grid cell (c % cols, c / cols),
//       cells of W × H texels with a 1-texel gap; v is scaled by the channel's own
//       range, or by range[C] (the joint range, possibly another tensor's) when
//       flags & 4. Texels outside every cell are dark grey.

struct ColormapParams {
    n: u32, c: u32, h: u32, w: u32,
    cols: u32, tex_w: u32, tex_h: u32, flags: u32,
    first: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

const AFFINE: u32 = 1u;
const ADD: u32 = 2u;
const JOINT: u32 = 4u;

@group(0) @binding(0) var<uniform> p: ColormapParams;

// ---- channel_range ----
@group(0) @binding(1) var<storage, read_write> r_range: array<f32>;
@group(0) @binding(2) var<storage, read> r_src: array<f32>;
@group(0) @binding(3) var<storage, read> r_coef: array<f32>;
@group(0) @binding(4) var<storage, read> r_add: array<f32>;

var<workgroup> lo_s: array<f32, 64>;
var<workgroup> hi_s: array<f32, 64>;

@compute @workgroup_size(64)
fn channel_range(@builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(local_invocation_index) t: u32) {
    let c = wid.x + p.first;
    var lo = 3.4e38;
    var hi = -3.4e38;
    if c < p.c {
        let hw = p.h * p.w;
        let base = (p.n * p.c + c) * hw;
        for (var k = t; k < hw; k += 64u) {
            let i = base + k;
            // The optional inputs are read only when given: an absent one is
            // a small dummy buffer, and GL adds no bounds checks.
            var v = r_src[i];
            if (p.flags & AFFINE) != 0u {
                v = v * r_coef[c] + r_coef[p.c + c];
            }
            if (p.flags & ADD) != 0u {
                v += r_add[i];
            }
            lo = min(lo, v);
            hi = max(hi, v);
        }
    } else {
        // The joint range, from the per-channel ranges of the first dispatch.
        for (var k = t; k < p.c; k += 64u) {
            lo = min(lo, r_range[2u * k]);
            hi = max(hi, r_range[2u * k + 1u]);
        }
    }
    lo_s[t] = lo;
    hi_s[t] = hi;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            lo_s[t] = min(lo_s[t], lo_s[t + s]);
            hi_s[t] = max(hi_s[t], hi_s[t + s]);
        }
        workgroupBarrier();
    }
    if t == 0u {
        r_range[2u * c] = lo_s[0];
        r_range[2u * c + 1u] = hi_s[0];
    }
}

// ---- colormap ----
@group(0) @binding(1) var image: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(2) var<storage, read> m_src: array<f32>;
@group(0) @binding(3) var<storage, read> m_coef: array<f32>;
@group(0) @binding(4) var<storage, read> m_add: array<f32>;
@group(0) @binding(5) var<storage, read> m_range: array<f32>;

fn viridis(t: f32) -> vec3<f32> {
    let s = clamp(t, 0.0, 1.0) * 4.0;
    let i = min(u32(s), 3u);
    let f = s - f32(i);
    var a = vec3<f32>(68.0, 1.0, 84.0);
    var b = vec3<f32>(59.0, 82.0, 139.0);
    if i == 1u {
        a = vec3<f32>(59.0, 82.0, 139.0);
        b = vec3<f32>(33.0, 145.0, 140.0);
    } else if i == 2u {
        a = vec3<f32>(33.0, 145.0, 140.0);
        b = vec3<f32>(94.0, 201.0, 98.0);
    } else if i == 3u {
        a = vec3<f32>(94.0, 201.0, 98.0);
        b = vec3<f32>(253.0, 231.0, 37.0);
    }
    return mix(a, b, f) / 255.0;
}

@compute @workgroup_size(8, 8)
fn colormap(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= p.tex_w || gid.y >= p.tex_h {
        return;
    }
    let cell_w = p.w + 1u;
    let cell_h = p.h + 1u;
    let col = gid.x / cell_w;
    let row = gid.y / cell_h;
    let x = gid.x % cell_w;
    let y = gid.y % cell_h;
    let c = row * p.cols + col;
    var rgb = vec3<f32>(0.16, 0.16, 0.16);
    if x < p.w && y < p.h && col < p.cols && c < p.c {
        let i = ((p.n * p.c + c) * p.h + y) * p.w + x;
        var v = m_src[i];
        if (p.flags & AFFINE) != 0u {
            v = v * m_coef[c] + m_coef[p.c + c];
        }
        if (p.flags & ADD) != 0u {
            v += m_add[i];
        }
        var r = c;
        if (p.flags & JOINT) != 0u {
            r = p.c;
        }
        let lo = m_range[2u * r];
        let hi = m_range[2u * r + 1u];
        var t = 0.5;
        if hi > lo {
            t = (v - lo) / (hi - lo);
        }
        rgb = viridis(t);
    }
    textureStore(image, vec2<i32>(gid.xy), vec4<f32>(rgb, 1.0));
}
