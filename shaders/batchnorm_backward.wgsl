// Batch norm backward (training mode), per channel c over M = N·H·W values.
// The incoming gradient dout is taken with respect to the forward output
// out = relu?(xhat·gamma + beta + res?); with flags & 1 it is masked by out > 0
// first: g = dout·[out > 0]. Then
//   dbeta = Σ g,  dgamma = Σ g·xhat,
//   dx = gamma·invstd·(g − dbeta/M − xhat·dgamma/M) = a·g + k·(x − mean) + b
//        with per-channel a, k, b (bcoef holds a, k, b, mean),
//   dres = g (the residual branch's gradient; added to dres when flags & 4).
//
// Passes and bindings:
//   bn_backward_partial  1 partials [C, S, 2]  2 dout  3 out  4 x  5 saved [2, C]
//       grid (C, S): Σ g and Σ g·(x − mean) over chunk s of channel c.
//   bn_backward_finalize 1 dgamma [C]  2 dbeta [C]  3 bcoef [4, C]  4 partials  5 saved  6 gamma
//       one invocation per channel.
//   bn_backward_apply    1 dx [N, C, H, W]  2 dres  3 dout  4 out  5 x  6 bcoef
//       one invocation per element; dres written when flags & 2.

struct BnParams {
    n: u32, c: u32, hw: u32, chunks: u32,
    chunk_len: u32, flags: u32, momentum: f32, eps: f32,
}

const RELU: u32 = 1u;
const WRITE_DRES: u32 = 2u;
const ACCUMULATE_DRES: u32 = 4u;

@group(0) @binding(0) var<uniform> p: BnParams;

const WG: u32 = 256u;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;

// ---- bn_backward_partial ----
@group(0) @binding(1) var<storage, read_write> r_partials: array<f32>;
@group(0) @binding(2) var<storage, read> r_dout: array<f32>;
@group(0) @binding(3) var<storage, read> r_out: array<f32>;
@group(0) @binding(4) var<storage, read> r_x: array<f32>;
@group(0) @binding(5) var<storage, read> r_saved: array<f32>;

@compute @workgroup_size(WG)
fn bn_backward_partial(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_index) t: u32) {
    let c = wid.x;
    let s = wid.y;
    let m = p.n * p.hw;
    let start = s * p.chunk_len;
    let end = min(start + p.chunk_len, m);
    let mean = r_saved[c];
    let relu = (p.flags & RELU) != 0u;
    var a = 0.0;
    var b = 0.0;
    for (var j = start + t; j < end; j += WG) {
        let n = j / p.hw;
        let i = (n * p.c + c) * p.hw + (j - n * p.hw);
        var g = r_dout[i];
        if relu && r_out[i] <= 0.0 {
            g = 0.0;
        }
        a += g;
        b += g * (r_x[i] - mean);
    }
    s1[t] = a;
    s2[t] = b;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if t < k {
            s1[t] += s1[t + k];
            s2[t] += s2[t + k];
        }
        workgroupBarrier();
    }
    if t == 0u {
        r_partials[(c * p.chunks + s) * 2u] = s1[0];
        r_partials[(c * p.chunks + s) * 2u + 1u] = s2[0];
    }
}

// ---- bn_backward_finalize ----
@group(0) @binding(1) var<storage, read_write> f_dgamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> f_dbeta: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_bcoef: array<f32>;
@group(0) @binding(4) var<storage, read> f_partials: array<f32>;
@group(0) @binding(5) var<storage, read> f_saved: array<f32>;
@group(0) @binding(6) var<storage, read> f_gamma: array<f32>;

@compute @workgroup_size(64)
fn bn_backward_finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    var sg = 0.0;
    var sgx = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        sg += f_partials[(c * p.chunks + s) * 2u];
        sgx += f_partials[(c * p.chunks + s) * 2u + 1u];
    }
    let mean = f_saved[c];
    let invstd = f_saved[p.c + c];
    let dgamma = sgx * invstd;
    f_dgamma[c] = dgamma;
    f_dbeta[c] = sg;
    let m = f32(p.n * p.hw);
    let a = f_gamma[c] * invstd;
    let k = -a * invstd * dgamma / m;
    f_bcoef[c] = a;
    f_bcoef[p.c + c] = k;
    f_bcoef[2u * p.c + c] = -a * sg / m;
    f_bcoef[3u * p.c + c] = mean;
}

// ---- bn_backward_apply ----
@group(0) @binding(1) var<storage, read_write> d_dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_dres: array<f32>;
@group(0) @binding(3) var<storage, read> d_dout: array<f32>;
@group(0) @binding(4) var<storage, read> d_out: array<f32>;
@group(0) @binding(5) var<storage, read> d_x: array<f32>;
@group(0) @binding(6) var<storage, read> d_bcoef: array<f32>;

@compute @workgroup_size(WG)
fn bn_backward_apply(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n * p.c * p.hw {
        return;
    }
    let c = (i / p.hw) % p.c;
    var g = d_dout[i];
    if (p.flags & RELU) != 0u && d_out[i] <= 0.0 {
        g = 0.0;
    }
    d_dx[i] = d_bcoef[c] * g + d_bcoef[p.c + c] * (d_x[i] - d_bcoef[3u * p.c + c]) + d_bcoef[2u * p.c + c];
    if (p.flags & WRITE_DRES) != 0u {
        var r = g;
        if (p.flags & ACCUMULATE_DRES) != 0u {
            r += d_dres[i];
        }
        d_dres[i] = r;
    }
}
