// conv2d_backward_weight_tiled: fast weight gradient of the 3x3 convolutions
// of stride 1 and 2; conv2d_backward_weight.wgsl is the reference.
//
//   dweight[co, ci, ky, kx] = Σ over n, oy, ox of dy[n, co, oy, ox] · xp[n, ci, s·oy + ky, s·ox + kx]
//
// xp is the forward pass's padded input (conv2d_tiled_prepare.wgsl), dy is read
// as vec4 rows of `dy_pitch` (Wo rounded up to 4; a padded copy when Wo is not a
// multiple of 4). The sum over n, oy, ox is split: chunk s of the batch writes
// partial sums, and conv2d_backward_weight_reduce adds the chunks in a fixed order
// (deterministic, no atomics).
//
//   conv2d_backward_weight_tiled_s1 / _s2
//       1 partials [S, Co, Ci, 9]  2 dy [N, Co, Ho, dy_pitch] as vec4  3 xp [N, Ci, Hp, pitch] as vec4
//       grid (ceil(Ci / 16), Co / 4 rounded up, S); invocation: input channel ci =
//       16·wid.x + local index, 4 output channels, all 9 taps (36 sums), over 4
//       pixels at a time. dy is the same in every invocation of a workgroup
//       (uniform loads); xp differs by ci.
//   conv2d_backward_weight_reduce
//       1 dweight [Co, Ci, 3, 3]  2 partials     one invocation per element of dweight
//   conv2d_backward_weight_reduce_batch
//       1 grads  2 partials (many convolutions')  3 jobs (u32, 5 per job)
//       conv2d_backward_weight_reduce for many convolutions in one pass: job j
//       (fields: first, len, dst, src, chunks) writes grads[dst + e] = Σ_s
//       partials[src + s·len + e] for e < len, the same sum in the same order.
//       One invocation per element of the jobs one after another (job j's from
//       element `first`, a multiple of the workgroup size); each workgroup
//       finds its job by binary search.
//   conv2d_backward_weight_reduce_batch4  the same over vec4s, where every
//       job's length and offsets are multiples of 4 (the table in vec4s).

#import wgrad_tile

@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> xp: array<vec4<f32>>;

fn x_vec(i: u32) -> vec4<f32> {
    return xp[i];
}

@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s1(@builtin(workgroup_id) wid: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
    let j = job(wid, lid);
    if !j.ok {
        return;
    }
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var a8 = vec4<f32>(0.0);
    let n0 = j.chunk * p.imgs;
    let n1 = min(n0 + p.imgs, p.n);
    let quads = p.dy_pitch / 4u;
    let next = p.pitch / 4u; // one input row down, in vec4s
    for (var n = n0; n < n1; n++) {
        let plane = (n * p.ci + j.ci) * p.hp * next;
        for (var q = 0u; q < quads; q++) {
            var w0 = row_at(plane + q);
            var w1 = row_at(plane + next + q);
            for (var oy = 0u; oy < p.ho; oy++) {
                let w2 = row_at(plane + (oy + 2u) * next + q);
                let d0 = dy[dy_row(n, j.co0, 0u, oy) + q];
                let d1 = dy[dy_row(n, j.co0, 1u, oy) + q];
                let d2 = dy[dy_row(n, j.co0, 2u, oy) + q];
                let d3 = dy[dy_row(n, j.co0, 3u, oy) + q];
                let t0 = taps(d0, d1, d2, d3, w0.v0, vec4<f32>(w0.v0.yzw, w0.v1.x), vec4<f32>(w0.v0.zw, w0.v1.xy));
                a0 += t0.t0; a1 += t0.t1; a2 += t0.t2;
                let t1 = taps(d0, d1, d2, d3, w1.v0, vec4<f32>(w1.v0.yzw, w1.v1.x), vec4<f32>(w1.v0.zw, w1.v1.xy));
                a3 += t1.t0; a4 += t1.t1; a5 += t1.t2;
                let t2 = taps(d0, d1, d2, d3, w2.v0, vec4<f32>(w2.v0.yzw, w2.v1.x), vec4<f32>(w2.v0.zw, w2.v1.xy));
                a6 += t2.t0; a7 += t2.t1; a8 += t2.t2;
                w0 = w1;
                w1 = w2;
            }
        }
    }
    write(j, array<vec4<f32>, 9>(a0, a1, a2, a3, a4, a5, a6, a7, a8));
}

// The stride-1 pass with 8 output channels per invocation (twice the sums
// per load; CPU adapters run it faster). The same sums in the same order as
// conv2d_backward_weight_tiled_s1, so the same bits.
@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s1_c8(@builtin(workgroup_id) wid: vec3<u32>,
                                      @builtin(local_invocation_index) lid: u32) {
    let j = job_of(wid, lid, 8u);
    if !j.ok {
        return;
    }
    // Per kernel row ky: taps 0..2 of channels 0..3, then of channels 4..7.
    var k0 = array<vec4<f32>, 6>();
    var k1 = array<vec4<f32>, 6>();
    var k2 = array<vec4<f32>, 6>();
    let n0 = j.chunk * p.imgs;
    let n1 = min(n0 + p.imgs, p.n);
    let quads = p.dy_pitch / 4u;
    let next = p.pitch / 4u; // one input row down, in vec4s
    for (var n = n0; n < n1; n++) {
        let plane = (n * p.ci + j.ci) * p.hp * next;
        for (var q = 0u; q < quads; q++) {
            var w0 = row_at(plane + q);
            var w1 = row_at(plane + next + q);
            for (var oy = 0u; oy < p.ho; oy++) {
                let w2 = row_at(plane + (oy + 2u) * next + q);
                let d = array<vec4<f32>, 8>(
                    dy[dy_row(n, j.co0, 0u, oy) + q], dy[dy_row(n, j.co0, 1u, oy) + q],
                    dy[dy_row(n, j.co0, 2u, oy) + q], dy[dy_row(n, j.co0, 3u, oy) + q],
                    dy[dy_row(n, j.co0, 4u, oy) + q], dy[dy_row(n, j.co0, 5u, oy) + q],
                    dy[dy_row(n, j.co0, 6u, oy) + q], dy[dy_row(n, j.co0, 7u, oy) + q]);
                row8(&k0, d, w0);
                row8(&k1, d, w1);
                row8(&k2, d, w2);
                w0 = w1;
                w1 = w2;
            }
        }
    }
    write8(j, k0, k1, k2);
}

@compute @workgroup_size(WG)
fn conv2d_backward_weight_tiled_s2(@builtin(workgroup_id) wid: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
    let j = job(wid, lid);
    if !j.ok {
        return;
    }
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var a8 = vec4<f32>(0.0);
    let n0 = j.chunk * p.imgs;
    let n1 = min(n0 + p.imgs, p.n);
    let quads = p.dy_pitch / 4u;
    let next = p.pitch / 4u; // one input row down, in vec4s
    for (var n = n0; n < n1; n++) {
        let plane = (n * p.ci + j.ci) * p.hp * next;
        for (var q = 0u; q < quads; q++) {
            var w0 = row3_at(plane + 2u * q);
            for (var oy = 0u; oy < p.ho; oy++) {
                let w1 = row3_at(plane + (2u * oy + 1u) * next + 2u * q);
                let w2 = row3_at(plane + (2u * oy + 2u) * next + 2u * q);
                let d0 = dy[dy_row(n, j.co0, 0u, oy) + q];
                let d1 = dy[dy_row(n, j.co0, 1u, oy) + q];
                let d2 = dy[dy_row(n, j.co0, 2u, oy) + q];
                let d3 = dy[dy_row(n, j.co0, 3u, oy) + q];
                let s0 = s2_windows(w0);
                let t0 = taps(d0, d1, d2, d3, s0.t0, s0.t1, s0.t2);
                a0 += t0.t0; a1 += t0.t1; a2 += t0.t2;
                let s1 = s2_windows(w1);
                let t1 = taps(d0, d1, d2, d3, s1.t0, s1.t1, s1.t2);
                a3 += t1.t0; a4 += t1.t1; a5 += t1.t2;
                let s2 = s2_windows(w2);
                let t2 = taps(d0, d1, d2, d3, s2.t0, s2.t1, s2.t2);
                a6 += t2.t0; a7 += t2.t1; a8 += t2.t2;
                w0 = w2;
            }
        }
    }
    write(j, array<vec4<f32>, 9>(a0, a1, a2, a3, a4, a5, a6, a7, a8));
}

@group(0) @binding(1) var<storage, read_write> r_dweight: array<f32>;
@group(0) @binding(2) var<storage, read> r_partials: array<f32>;

const REDUCE_WG: u32 = 128u;

@compute @workgroup_size(REDUCE_WG)
fn conv2d_backward_weight_reduce(@builtin(global_invocation_id) gid: vec3<u32>,
                                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * REDUCE_WG;
    if i >= p.len {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        acc += r_partials[s * p.len + i];
    }
    r_dweight[i] = acc;
}

struct BatchParams {
    jobs: u32, total: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> rb: BatchParams;
@group(0) @binding(1) var<storage, read_write> b_grads: array<f32>;
@group(0) @binding(2) var<storage, read> b_partials: array<f32>;
@group(0) @binding(3) var<storage, read> b_jobs: array<u32>;

const REDUCE_JOB: u32 = 5u;

// A reduce job as the table holds it: its first element in the pass, its
// length, where it writes and reads, its chunks; `e` the invocation's element
// of it, `ok` false past the pass's end or the job's.
struct ReduceJob {
    ok: bool, e: u32, len: u32, dst: u32, src: u32, chunks: u32,
}

// Invocation lid's job in the workgroup that starts at element w0. Jobs start
// at multiples of the workgroup size, so the job is the workgroup's: found
// from its first element, the same in every invocation.
fn reduce_job(w0: u32, lid: u32) -> ReduceJob {
    var r: ReduceJob;
    if w0 >= rb.total {
        return r;
    }
    // The last job starting at or before w0.
    var lo = 0u;
    var hi = rb.jobs;
    while hi - lo > 1u {
        let mid = (lo + hi) / 2u;
        if b_jobs[REDUCE_JOB * mid] <= w0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let j = REDUCE_JOB * lo;
    r.e = w0 - b_jobs[j] + lid;
    r.len = b_jobs[j + 1u];
    r.dst = b_jobs[j + 2u];
    r.src = b_jobs[j + 3u];
    r.chunks = b_jobs[j + 4u];
    r.ok = r.e < r.len;
    return r;
}

@compute @workgroup_size(REDUCE_WG)
fn conv2d_backward_weight_reduce_batch(@builtin(workgroup_id) wid: vec3<u32>,
                                       @builtin(local_invocation_index) lid: u32,
                                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = reduce_job((wid.x + wid.y * nwg.x) * REDUCE_WG, lid);
    if !j.ok {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < j.chunks; s++) {
        acc += b_partials[j.src + s * j.len + j.e];
    }
    b_grads[j.dst + j.e] = acc;
}

@group(0) @binding(1) var<storage, read_write> b_grads4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b_partials4: array<vec4<f32>>;

// conv2d_backward_weight_reduce_batch over vec4s, where every job's length
// and offsets are multiples of 4 (the table then counts vec4s): on a CPU
// adapter a storage access is a loop over the lanes, and a vec4 costs one
// trip of it. The same sums in the same order.
@compute @workgroup_size(REDUCE_WG)
fn conv2d_backward_weight_reduce_batch4(@builtin(workgroup_id) wid: vec3<u32>,
                                        @builtin(local_invocation_index) lid: u32,
                                        @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = reduce_job((wid.x + wid.y * nwg.x) * REDUCE_WG, lid);
    if !j.ok {
        return;
    }
    var acc = vec4<f32>(0.0);
    for (var s = 0u; s < j.chunks; s++) {
        acc += b_partials4[j.src + s * j.len + j.e];
    }
    b_grads4[j.dst + j.e] = acc;
}
