// The tiled weight gradient's shared parts (conv2d_backward_weight_tiled.wgsl,
// conv2d_backward_weight_subgroup.wgsl, conv2d_backward_weight_texel_subgroup.wgsl):
// the parameter block and partial sums' binding, the job of an invocation (an
// input channel and 4 or 8 output channels of a chunk of the batch), the
// 4-pixel dot products and the partial sums' stores. The importing module
// binds dy (2) and xp (3) and defines `dy_vec(i)` and `x_vec(i)`, their i-th
// vec4.

struct WgradParams {
    n: u32, ci: u32, co: u32, ho: u32,
    wo: u32, dy_pitch: u32, hp: u32, pitch: u32,
    imgs: u32, chunks: u32, len: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: WgradParams;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

const WG: u32 = 16u;

// Σ over 4 pixels of dy (4 channels) ⊗ the 3 windows of one input row.
struct Taps3 {
    t0: vec4<f32>, t1: vec4<f32>, t2: vec4<f32>,
}

fn taps(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>,
        s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>) -> Taps3 {
    return Taps3(
        vec4<f32>(dot(d0, s0), dot(d1, s0), dot(d2, s0), dot(d3, s0)),
        vec4<f32>(dot(d0, s1), dot(d1, s1), dot(d2, s1), dot(d3, s1)),
        vec4<f32>(dot(d0, s2), dot(d1, s2), dot(d2, s2), dot(d3, s2)));
}

struct Job {
    ci: u32, co0: u32, chunk: u32, ok: bool,
}

fn job(wid: vec3<u32>, lid: u32) -> Job {
    return job_of(wid, lid, 4u);
}

// The job of workgroup wid when each covers `channels` output channels.
fn job_of(wid: vec3<u32>, lid: u32, channels: u32) -> Job {
    return job_in(wid, lid, channels, WG);
}

// job_of in workgroups of wg invocations (input channels).
fn job_in(wid: vec3<u32>, lid: u32, channels: u32, wg: u32) -> Job {
    var j: Job;
    j.ci = wid.x * wg + lid;
    j.co0 = wid.y * channels;
    j.chunk = wid.z;
    j.ok = j.ci < p.ci;
    return j;
}

// dy rows of channels co0..co0+3 (clamped to Co - 1; those sums are dropped).
fn dy_row(n: u32, co0: u32, k: u32, oy: u32) -> u32 {
    return ((n * p.co + min(co0 + k, p.co - 1u)) * p.ho + oy) * (p.dy_pitch / 4u);
}

// acc[tap] holds 4 output channels; writes those that exist.
fn write(j: Job, acc: array<vec4<f32>, 9>) {
    for (var k = 0u; k < 4u; k++) {
        let co = j.co0 + k;
        if co < p.co {
            let base = ((j.chunk * p.co + co) * p.ci + j.ci) * 9u;
            // Components by name: a computed vector index costs more than the sums.
            var v = array<f32, 9>();
            if k == 0u { v = array<f32, 9>(acc[0].x, acc[1].x, acc[2].x, acc[3].x, acc[4].x, acc[5].x, acc[6].x, acc[7].x, acc[8].x); }
            if k == 1u { v = array<f32, 9>(acc[0].y, acc[1].y, acc[2].y, acc[3].y, acc[4].y, acc[5].y, acc[6].y, acc[7].y, acc[8].y); }
            if k == 2u { v = array<f32, 9>(acc[0].z, acc[1].z, acc[2].z, acc[3].z, acc[4].z, acc[5].z, acc[6].z, acc[7].z, acc[8].z); }
            if k == 3u { v = array<f32, 9>(acc[0].w, acc[1].w, acc[2].w, acc[3].w, acc[4].w, acc[5].w, acc[6].w, acc[7].w, acc[8].w); }
            partials[base] = v[0];
            partials[base + 1u] = v[1];
            partials[base + 2u] = v[2];
            partials[base + 3u] = v[3];
            partials[base + 4u] = v[4];
            partials[base + 5u] = v[5];
            partials[base + 6u] = v[6];
            partials[base + 7u] = v[7];
            partials[base + 8u] = v[8];
        }
    }
}

// 8 floats of one input row from vec4 index r: the 4 pixels of a quad and the
// 4 after them (the 3 taps' windows lie in the first 6).
struct Row {
    v0: vec4<f32>, v1: vec4<f32>,
}

fn row_at(r: u32) -> Row {
    return Row(x_vec(r), x_vec(r + 1u));
}

// 12 floats of one input row from vec4 index r: the 8 pixels under a quad of
// stride-2 outputs and the 4 after them.
struct Row3 {
    v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>,
}

fn row3_at(r: u32) -> Row3 {
    return Row3(x_vec(r), x_vec(r + 1u), x_vec(r + 2u));
}

// The 3 taps' windows of a stride-2 row: input pixels 2·i + kx, i = 0..3.
fn s2_windows(w: Row3) -> Taps3 {
    return Taps3(vec4<f32>(w.v0.xz, w.v1.xz), vec4<f32>(w.v0.yw, w.v1.yw),
                 vec4<f32>(w.v0.z, w.v1.xz, w.v2.x));
}

// The stride-2 passes likewise visit the pixels quad by quad, and within a
// quad output row by row (input rows 2·oy .. 2·oy + 2; the last of one is
// the first of the next, loaded once). Every stride-2 kernel sums in this
// order, so all give the same bits.

// Σ over 4 pixels for channels co0..co0+3 (acc[0..2]) and co0+4..co0+7
// (acc[3..5]) of one kernel row of stride 2, over the input row w.
fn row8_s2(a: ptr<function, array<vec4<f32>, 6>>, d: array<vec4<f32>, 8>, w: Row3) {
    let s = s2_windows(w);
    let t = taps(d[0], d[1], d[2], d[3], s.t0, s.t1, s.t2);
    let u = taps(d[4], d[5], d[6], d[7], s.t0, s.t1, s.t2);
    (*a)[0] += t.t0; (*a)[1] += t.t1; (*a)[2] += t.t2;
    (*a)[3] += u.t0; (*a)[4] += u.t1; (*a)[5] += u.t2;
}

// The stride-1 passes visit the pixels quad by quad, and within a quad row by
// row (dy row oy, input rows oy .. oy + 2): each input row is loaded once and
// serves three output rows (kernel rows 2, 1, 0) as the window slides down.
// Every stride-1 tiling sums in this order, so all give the same bits.

// Σ over 4 pixels for channels co0..co0+3 (acc[0..2]) and co0+4..co0+7
// (acc[3..5]) of one kernel row, over the input row w.
fn row8(a: ptr<function, array<vec4<f32>, 6>>, d: array<vec4<f32>, 8>, w: Row) {
    let v0 = w.v0;
    let v1 = w.v1;
    let s1 = vec4<f32>(v0.yzw, v1.x);
    let s2 = vec4<f32>(v0.zw, v1.xy);
    let t = taps(d[0], d[1], d[2], d[3], v0, s1, s2);
    let u = taps(d[4], d[5], d[6], d[7], v0, s1, s2);
    (*a)[0] += t.t0; (*a)[1] += t.t1; (*a)[2] += t.t2;
    (*a)[3] += u.t0; (*a)[4] += u.t1; (*a)[5] += u.t2;
}

// Writes the 8-channel sums: per kernel row ky (k0, k1, k2), taps 0..2 of
// channels co0..co0+3, then of co0+4..co0+7.
fn write8(j: Job, k0: array<vec4<f32>, 6>, k1: array<vec4<f32>, 6>, k2: array<vec4<f32>, 6>) {
    write(j, array<vec4<f32>, 9>(k0[0], k0[1], k0[2], k1[0], k1[1], k1[2], k2[0], k2[1], k2[2]));
    var hi = j;
    hi.co0 = j.co0 + 4u;
    write(hi, array<vec4<f32>, 9>(k0[3], k0[4], k0[5], k1[3], k1[4], k1[5], k2[3], k2[4], k2[5]));
}
