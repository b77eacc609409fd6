// Sums and sums of squares, for the analysis probes (‖F(x)‖, ‖x‖, response std).
//   sum_sumsq_rows      1 out [R, 2]  2 x [R, D]          one workgroup per row r
//   sum_sumsq_channels  1 out [C, 2]  2 x [N, C, HW]      one workgroup per channel c
// With flags & 1 each value v is first mapped to v·coef[c] + coef[C + c] (binding 3,
// coef [2, C], c the element's channel): the batch-norm output computed from its
// input, so a probe needs no extra activation buffer.
// Workgroups of 64 invocations, each summing a strided share, then a tree (64
// rather than 256: on CPU adapters each barrier of the tree costs per invocation).

struct ReduceParams {
    rows: u32, d: u32, c: u32, hw: u32,
    n: u32, flags: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> coef: array<f32>;

const WG: u32 = 64u;

#import sum2

// Element `i` of x, in channel `c`, through the affine map when flags & 1.
fn value(i: u32, c: u32) -> f32 {
    var v = x[i];
    if (p.flags & 1u) != 0u {
        v = v * coef[c] + coef[p.c + c];
    }
    return v;
}

fn finish(t: u32, slot: u32, write: bool, a: f32, b: f32) {
    let total = workgroup_sum2(t, a, b);
    if t == 0u && write {
        out[2u * slot] = total.x;
        out[2u * slot + 1u] = total.y;
    }
}

// Both kernels walk their elements with a stride of WG, carrying the position
// in the channel plane (k) and the channel or sample (c or n) along instead of
// dividing per element.

@compute @workgroup_size(WG)
fn sum_sumsq_rows(@builtin(workgroup_id) wid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) t: u32) {
    let r = wid.x + wid.y * nwg.x;
    var a = 0.0;
    var b = 0.0;
    if r < p.rows {
        var c = t / p.hw;
        var k = t - c * p.hw;
        for (var j = t; j < p.d; j += WG) {
            let v = value(r * p.d + j, c);
            a += v;
            b += v * v;
            k += WG;
            while k >= p.hw {
                k -= p.hw;
                c += 1u;
            }
        }
    }
    // Every invocation reaches the barriers; only real rows write.
    finish(t, r, r < p.rows, a, b);
}

@compute @workgroup_size(WG)
fn sum_sumsq_channels(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_index) t: u32) {
    let c = wid.x;
    let m = p.n * p.hw;
    var a = 0.0;
    var b = 0.0;
    var n = t / p.hw;
    var k = t - n * p.hw;
    for (var j = t; j < m; j += WG) {
        let v = value((n * p.c + c) * p.hw + k, c);
        a += v;
        b += v * v;
        k += WG;
        while k >= p.hw {
            k -= p.hw;
            n += 1u;
        }
    }
    finish(t, c, true, a, b);
}
