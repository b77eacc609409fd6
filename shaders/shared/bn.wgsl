// What the batch-norm passes share: their parameters, the walk over one
// channel's values in a chunk of samples, the tree that sums a reduction's
// lanes, and the four values an apply invocation takes. Needs
// `const WG: u32`, the wide reduction workgroup's size, and
// `const LANES: u32`, twice that: a reduction sums over LANES lanes, each of
// the wg invocations of its workgroup (WG, or NARROW) running LANES / wg of
// them, in an order (and so with bits) that does not depend on wg.

#import sum2

struct BnParams {
    n: u32, c: u32, hw: u32, chunks: u32,
    chunk_len: u32, flags: u32, momentum: f32, eps: f32,
    // The _pad4 apply passes only: the planes' width, and the padded copy's
    // rows per plane, row pitch (a multiple of 4) and offset of the planes in
    // it; and, for those that read or write two tensors through one binding,
    // where the second starts (coef after saved, running_var after
    // running_mean, beta after gamma).
    w: u32, hp: u32, pitch: u32, pad_oy: u32,
    pad_ox: u32, coef_at: u32, rv_at: u32, beta_at: u32,
}

@group(0) @binding(0) var<uniform> p: BnParams;

// Walks the elements of channel c in chunk s (samples s·chunk_len onwards),
// planes of `len` elements (values, or vec4s), as lane t's share: the lanes
// in runs of RUN, each run over its own contiguous span of the chunk's m
// elements (a multiple of RUN long; the last may be short or empty), lane i
// of a run taking elements i, i + RUN, ... of it; without a division per
// element: (n, k) is the sample and the element of its plane at j. (Each
// run of lanes streams through memory. With the lanes spread over the whole
// chunk in steps of LANES, lavapipe's SIMD rows of 8 lanes hopped a plane per
// load: a resnet20 step's backward sums took 3x as long, the forward's 2.4x.)
const RUN: u32 = 8u;

struct ChunkIter {
    j: u32, end: u32, n: u32, k: u32, dn: u32, dk: u32, len: u32,
}

fn chunk_start(s: u32, t: u32, len: u32) -> ChunkIter {
    let n0 = s * p.chunk_len;
    let n1 = min(n0 + p.chunk_len, p.n);
    let m = (n1 - n0) * len;
    let runs = LANES / RUN;
    let span = (m + runs * RUN - 1u) / (runs * RUN) * RUN;
    var it: ChunkIter;
    it.j = min((t / RUN) * span + t % RUN, m);
    it.end = min((t / RUN + 1u) * span, m);
    it.n = n0 + it.j / len;
    it.k = it.j % len;
    it.dn = RUN / len;
    it.dk = RUN % len;
    it.len = len;
    return it;
}

// (k, n) stepped by (dk, dn) in a count whose k wraps at len into n: the
// place t + step of place t = n·len + k, without a division.
fn step_carry(k: u32, n: u32, dk: u32, dn: u32, len: u32) -> vec2<u32> {
    var r = vec2<u32>(k + dk, n + dn);
    if r.x >= len {
        r.x -= len;
        r.y += 1u;
    }
    return r;
}

fn advance(it0: ChunkIter) -> ChunkIter {
    var it = it0;
    let s = step_carry(it.k, it.n, it.dk, it.dn, it.len);
    it.k = s.x;
    it.n = s.y;
    return it;
}

// The workgroup of the reductions' _w8 twins: one SIMD row of lavapipe's
// (and within one subgroup wherever subgroups have at least 8 invocations).
// A CPU adapter runs a workgroup's invocations in turn, switching between
// them at every barrier; a workgroup this narrow has no switches to make.
const NARROW: u32 = 8u;

// One invocation's lanes' sums (Σ a, Σ b): LANES / wg of them, at most
// LANES / NARROW.
alias Leaves = array<vec2<f32>, LANES / NARROW>;

// (Σ a, Σ b) over a reduction's LANES lanes in a workgroup of wg invocations
// (WG or NARROW), invocation t holding lanes t, t + wg, ... in
// v[0 .. LANES / wg), by one tree: the levels that pair lanes of one
// invocation (lane i with i + k for k ≥ wg) in its registers first, then
// group_sum2's over the workgroup. The same tree for every wg: the same bits.
// The sums in invocation 0.
fn leaves_sum2(t: u32, wg: u32, v: ptr<function, Leaves>) -> vec2<f32> {
    for (var k = LANES / wg / 2u; k > 0u; k >>= 1u) {
        for (var i = 0u; i < k; i++) {
            (*v)[i] += (*v)[i + k];
        }
    }
    return group_sum2(t, wg, (*v)[0]);
}

// Apply passes: one invocation takes 4 consecutive values of one plane
// (sample n, channel c); planes are numbered over the grid's y and z.
struct Quad {
    base: u32, c: u32, count: u32,
}

fn quad(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> Quad {
    let plane = wid.y + wid.z * nwg.y;
    let k = gid.x * 4u;
    var q: Quad;
    q.c = plane % p.c;
    q.base = plane * p.hw + k;
    q.count = select(0u, min(4u, p.hw - min(k, p.hw)), plane < p.n * p.c);
    return q;
}

// Vec4 apply passes: one invocation takes one vec4 (index i, channel c) of one
// plane; `valid` is false past the last plane or the plane's end.
struct Quad4 {
    i: u32, c: u32, valid: bool,
}

fn quad4(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> Quad4 {
    let plane = wid.y + wid.z * nwg.y;
    let q = p.hw / 4u;
    var r: Quad4;
    r.valid = plane < p.n * p.c && gid.x < q;
    r.c = plane % p.c;
    r.i = plane * q + gid.x;
    return r;
}

// The _pad4 apply passes: one invocation per row of the padded copy
// [N, C, hp, pitch] of their output, which they write whole (zeros around
// the plane) as conv2d_pad would, along with the output itself. `src` is the
// vec4 index of the output row this padded row holds, or -1; `out` the vec4
// index where the padded row starts. Workgroups of 64, folded over (x, y).
struct PadRow {
    ok: bool, c: u32, src: i32, out: u32,
    // The first row of channel c's first plane: the one invocation per
    // channel of a pass that also finalizes its statistics.
    first: bool,
}

fn pad_row(gid: vec3<u32>, nwg: vec3<u32>) -> PadRow {
    return row_at(gid.x + gid.y * nwg.x * 64u);
}

// Padded row r of the copy [N, C, hp, pitch].
fn row_at(r: u32) -> PadRow {
    let yy = r % p.hp;
    let plane = r / p.hp;
    let h = p.hw / p.w;
    var row: PadRow;
    row.ok = r < p.n * p.c * p.hp;
    row.c = plane % p.c;
    row.out = r * (p.pitch / 4u);
    row.first = plane == row.c && yy == 0u;
    row.src = -1;
    if yy >= p.pad_oy && yy - p.pad_oy < h {
        row.src = i32((plane * h + yy - p.pad_oy) * (p.w / 4u));
    }
    return row;
}

// The padded vec4 at a row's vec4 q, from the output's vec4s there (cur) and
// just before (prev): shifted one value right when pad_ox is 1.
fn padded4(prev: vec4<f32>, cur: vec4<f32>) -> vec4<f32> {
    return select(cur, vec4<f32>(prev.w, cur.xyz), p.pad_ox == 1u);
}

// Flag of the passes writing a padded copy (either direction): the copy's
// rows with no source (above and below each plane) already hold zeros, from
// a copy that only such passes write, so only the rows with a source are
// written.
const HALO_ZERO: u32 = 16u;

// Whether a pass leaves padded row `row` as it is: a row of zeros already.
fn halo_kept(row: PadRow) -> bool {
    return row.src < 0 && (p.flags & HALO_ZERO) != 0u;
}

// Rows per plane that a one-pass walk over a channel's padded copy visits:
// all hp, or only the h with a source where the others hold zeros already.
fn walk_rows() -> u32 {
    return select(p.hp, p.hw / p.w, (p.flags & HALO_ZERO) != 0u);
}

// A lane's walk over channel c's rows in a one-pass kernel: rows t,
// t + NARROW, ... of N·rows (`rows` = walk_rows() per plane), as sample n
// and row j of its plane's walk, stepped without a division per row (an
// integer division is a loop over the lanes on a CPU adapter: with one per
// row, planes of 4x4 values spent more on finding their rows than on them).
struct RowWalk {
    n: u32, j: u32, dn: u32, dj: u32, rows: u32,
    // The plane's rows with a source.
    h: u32,
}

fn row_walk(t: u32, rows: u32) -> RowWalk {
    return RowWalk(t / rows, t % rows, NARROW / rows, NARROW % rows, rows, p.hw / p.w);
}

fn row_step(w0: RowWalk) -> RowWalk {
    var w = w0;
    let s = step_carry(w.j, w.n, w.dj, w.dn, w.rows);
    w.j = s.x;
    w.n = s.y;
    return w;
}

// The walk's row over channel c: row_at of padded row
// (n·C + c)·hp + skipped + j, where `skipped` is the halo kept above each
// plane, worked out as row_at does without its divisions.
fn walk_row(c: u32, w: RowWalk) -> PadRow {
    let yy = select(0u, p.pad_oy, (p.flags & HALO_ZERO) != 0u) + w.j;
    let plane = w.n * p.c + c;
    var row: PadRow;
    row.ok = w.n < p.n;
    row.c = c;
    row.out = (plane * p.hp + yy) * (p.pitch / 4u);
    row.first = w.n == 0u && yy == 0u;
    row.src = -1;
    if yy >= p.pad_oy && yy - p.pad_oy < w.h {
        row.src = i32((plane * w.h + yy - p.pad_oy) * (p.w / 4u));
    }
    return row;
}
