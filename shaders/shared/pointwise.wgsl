// What the 1x1 passes of conv2d_pointwise.wgsl,
// conv2d_pointwise_subgroup.wgsl and conv2d_pointwise_any_subgroup.wgsl
// share: the forward passes' accumulators; over quads of whole vec4s, their
// bindings but the weights', the place of a quad of positions, its inputs
// and the stores of its sums; the weight gradients' sums and their stores.
//
// y[n, co, q] (+)= Σ_ci w[co, ci]·x[n, ci, pos(q)] (+ bias[co]), in ci order
//   1 y    [N, Co, Ho, Wo] as vec4  written (added to when flags & 2)
//   2 x    [N, Ci, H, W] as vec4
//   3 wt   [Ci, 1, 1, Co8]          the weights with the output channel
//                                   innermost (conv2d_weight_tiles), as vec4;
//                                   the importer declares it
//   4 bias [Co]                     read when flags & 1
//
// A quad is 4 consecutive output positions of one plane. The launcher runs
// these passes only where its inputs load as whole vec4s: stride 1 with Ho·Wo
// a multiple of 4 (pos(q) = q), or stride 2 with Wo a multiple of 4 and W =
// 2·Wo (pos is (2·oy, 2·ox): the even lanes of two vec4s of input row 2·oy).

#import conv_params

@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
// The weight gradients' output (conv2d_pointwise_weight_sg and _any_sg):
// partials [S, Co, Ci], the sums of chunk s of positions.
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

const WG: u32 = 64u;

// 8 output channels' sums over one quad.
struct Acc8 {
    c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>,
    c4: vec4<f32>, c5: vec4<f32>, c6: vec4<f32>, c7: vec4<f32>,
}

// a + the 8 channels' weights wl, wh times the quad's inputs v.
fn mac8(a: Acc8, v: vec4<f32>, wl: vec4<f32>, wh: vec4<f32>) -> Acc8 {
    return Acc8(fma(vec4<f32>(wl.x), v, a.c0), fma(vec4<f32>(wl.y), v, a.c1),
                fma(vec4<f32>(wl.z), v, a.c2), fma(vec4<f32>(wl.w), v, a.c3),
                fma(vec4<f32>(wh.x), v, a.c4), fma(vec4<f32>(wh.y), v, a.c5),
                fma(vec4<f32>(wh.z), v, a.c6), fma(vec4<f32>(wh.w), v, a.c7));
}

// Quad v (of N·Ho·Wo / 4): where it is in y (channel 0) and where its first
// input is in x (channel 0), both in vec4s.
struct Quad {
    y: u32, x: u32,
}

fn quad(v: u32) -> Quad {
    let per = p.ho * p.wo / 4u;
    let n = v / per;
    let r = v % per;
    var q: Quad;
    q.y = n * p.co * per + r;
    if p.sh == 1u {
        q.x = n * p.ci * per + r;
    } else {
        let oy = 4u * r / p.wo;
        let ox = 4u * r % p.wo;
        q.x = (n * p.ci * p.h * p.w + 2u * oy * p.w + 2u * ox) / 4u;
    }
    return q;
}

// The quad's 4 inputs of the channel whose plane starts at vec4 `at`.
fn inputs(at: u32) -> vec4<f32> {
    if p.sh == 1u {
        return x[at];
    }
    let a = x[at];
    let b = x[at + 1u];
    return vec4<f32>(a.x, a.z, b.x, b.z);
}

// Channel co's 4 sums of a quad leave for y at vec4 i (none past Co).
fn put(i: u32, co: u32, v: vec4<f32>) {
    if co >= p.co {
        return;
    }
    var s = v;
    if (p.flags & 1u) != 0u {
        s += vec4<f32>(bias[co]);
    }
    if (p.flags & 2u) != 0u {
        s += y[i];
    }
    y[i] = s;
}

// The 8 channels from c0 of the quad at y's vec4 `at`.
fn store8(at: u32, c0: u32, a: Acc8) {
    let per = p.ho * p.wo / 4u;
    put(at + c0 * per, c0, a.c0);
    put(at + (c0 + 1u) * per, c0 + 1u, a.c1);
    put(at + (c0 + 2u) * per, c0 + 2u, a.c2);
    put(at + (c0 + 3u) * per, c0 + 3u, a.c3);
    put(at + (c0 + 4u) * per, c0 + 4u, a.c4);
    put(at + (c0 + 5u) * per, c0 + 5u, a.c5);
    put(at + (c0 + 6u) * per, c0 + 6u, a.c6);
    put(at + (c0 + 7u) * per, c0 + 7u, a.c7);
}

// One output channel's sums with 8 input channels.
struct Row8 {
    lo: vec4<f32>, hi: vec4<f32>,
}

// Output channel co's sums with the 8 input channels from ci0 leave for
// chunk s's partials (none past Co or Ci).
fn put_row(s: u32, co: u32, ci0: u32, a: Row8) {
    if co >= p.co {
        return;
    }
    let at = (s * p.co + co) * p.ci + ci0;
    let v = array<f32, 8>(a.lo.x, a.lo.y, a.lo.z, a.lo.w, a.hi.x, a.hi.y, a.hi.z, a.hi.w);
    for (var e = 0u; e < 8u; e++) {
        if ci0 + e < p.ci {
            partials[at + e] = v[e];
        }
    }
}

// 16 output channels' sums with 8 input channels.
struct Rows16 {
    r0: Row8, r1: Row8, r2: Row8, r3: Row8, r4: Row8, r5: Row8, r6: Row8, r7: Row8,
    r8: Row8, r9: Row8, r10: Row8, r11: Row8, r12: Row8, r13: Row8, r14: Row8, r15: Row8,
}

// The 16 output channels from co0 leave for chunk s's partials.
fn put_rows16(s: u32, co0: u32, ci0: u32, a: Rows16) {
    put_row(s, co0, ci0, a.r0);
    put_row(s, co0 + 1u, ci0, a.r1);
    put_row(s, co0 + 2u, ci0, a.r2);
    put_row(s, co0 + 3u, ci0, a.r3);
    put_row(s, co0 + 4u, ci0, a.r4);
    put_row(s, co0 + 5u, ci0, a.r5);
    put_row(s, co0 + 6u, ci0, a.r6);
    put_row(s, co0 + 7u, ci0, a.r7);
    put_row(s, co0 + 8u, ci0, a.r8);
    put_row(s, co0 + 9u, ci0, a.r9);
    put_row(s, co0 + 10u, ci0, a.r10);
    put_row(s, co0 + 11u, ci0, a.r11);
    put_row(s, co0 + 12u, ci0, a.r12);
    put_row(s, co0 + 13u, ci0, a.r13);
    put_row(s, co0 + 14u, ci0, a.r14);
    put_row(s, co0 + 15u, ci0, a.r15);
}
