// Batch norm forward over NCHW, per channel c (M = N·H·W values each):
//   train: mean, biased var over the batch; running stats updated with the
//          unbiased var (PyTorch: momentum, eps); y = relu?(xhat·gamma + beta + res?)
//   eval:  the same apply with running_mean / running_var.
//
// Passes (entry points) and their bindings:
//   bn_stats_partial  1 partials [C, S, 2]  2 x [N, C, H, W]
//       grid (C, S); workgroup (c, s) sums (v - K) and (v - K)² over chunk s of
//       channel c, where the shift K = x[0, c, 0, 0] keeps the one-pass variance exact
//       enough (no cancellation when the mean is far from zero).
//   bn_stats_finalize 1 saved [2, C] (mean, invstd)  2 coef [2, C] (scale, shift)
//                     3 running_mean [C]  4 running_var [C]  5 partials  6 gamma  7 beta  8 x
//       one invocation per channel.
//   bn_eval_coef      1 coef [2, C]  2 running_mean  3 running_var  4 gamma  5 beta
//       one invocation per channel.
//   bn_apply          1 y [N, C, H, W]  2 x  3 coef [2, C]  4 residual [N, C, H, W]
//       one invocation per element; y = x·scale + shift (+ residual when flags & 2),
//       then ReLU when flags & 1.

struct BnParams {
    n: u32, c: u32, hw: u32, chunks: u32,
    chunk_len: u32, flags: u32, momentum: f32, eps: f32,
}

const RELU: u32 = 1u;
const RESIDUAL: u32 = 2u;
const UPDATE_RUNNING: u32 = 4u;

@group(0) @binding(0) var<uniform> p: BnParams;

const WG: u32 = 256u;
var<workgroup> s1: array<f32, WG>;
var<workgroup> s2: array<f32, WG>;

@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read> px: array<f32>;

@compute @workgroup_size(WG)
fn bn_stats_partial(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(local_invocation_index) t: u32) {
    let c = wid.x;
    let s = wid.y;
    let m = p.n * p.hw;
    let start = s * p.chunk_len;
    let end = min(start + p.chunk_len, m);
    let shift = px[c * p.hw];
    var a = 0.0;
    var b = 0.0;
    for (var j = start + t; j < end; j += WG) {
        let n = j / p.hw;
        let v = px[(n * p.c + c) * p.hw + (j - n * p.hw)] - shift;
        a += v;
        b += v * v;
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
        partials[(c * p.chunks + s) * 2u] = s1[0];
        partials[(c * p.chunks + s) * 2u + 1u] = s2[0];
    }
}

// ---- bn_stats_finalize ----
@group(0) @binding(1) var<storage, read_write> f_saved: array<f32>;
@group(0) @binding(2) var<storage, read_write> f_coef: array<f32>;
@group(0) @binding(3) var<storage, read_write> f_running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_running_var: array<f32>;
@group(0) @binding(5) var<storage, read> f_partials: array<f32>;
@group(0) @binding(6) var<storage, read> f_gamma: array<f32>;
@group(0) @binding(7) var<storage, read> f_beta: array<f32>;
@group(0) @binding(8) var<storage, read> f_x: array<f32>;

@compute @workgroup_size(64)
fn bn_stats_finalize(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    var a = 0.0;
    var b = 0.0;
    for (var s = 0u; s < p.chunks; s++) {
        a += f_partials[(c * p.chunks + s) * 2u];
        b += f_partials[(c * p.chunks + s) * 2u + 1u];
    }
    let m = f32(p.n * p.hw);
    let d = a / m;
    let mean = f_x[c * p.hw] + d;
    let var_b = max(b / m - d * d, 0.0);
    let invstd = inverseSqrt(var_b + p.eps);
    f_saved[c] = mean;
    f_saved[p.c + c] = invstd;
    let scale = f_gamma[c] * invstd;
    f_coef[c] = scale;
    f_coef[p.c + c] = f_beta[c] - mean * scale;
    if (p.flags & UPDATE_RUNNING) != 0u {
        let unbiased = var_b * m / max(m - 1.0, 1.0);
        f_running_mean[c] = (1.0 - p.momentum) * f_running_mean[c] + p.momentum * mean;
        f_running_var[c] = (1.0 - p.momentum) * f_running_var[c] + p.momentum * unbiased;
    }
}

// ---- bn_eval_coef ----
@group(0) @binding(1) var<storage, read_write> e_coef: array<f32>;
@group(0) @binding(2) var<storage, read> e_running_mean: array<f32>;
@group(0) @binding(3) var<storage, read> e_running_var: array<f32>;
@group(0) @binding(4) var<storage, read> e_gamma: array<f32>;
@group(0) @binding(5) var<storage, read> e_beta: array<f32>;

@compute @workgroup_size(64)
fn bn_eval_coef(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    let scale = e_gamma[c] * inverseSqrt(e_running_var[c] + p.eps);
    e_coef[c] = scale;
    e_coef[p.c + c] = e_beta[c] - e_running_mean[c] * scale;
}

// ---- bn_apply ----
@group(0) @binding(1) var<storage, read_write> a_y: array<f32>;
@group(0) @binding(2) var<storage, read> a_x: array<f32>;
@group(0) @binding(3) var<storage, read> a_coef: array<f32>;
@group(0) @binding(4) var<storage, read> a_residual: array<f32>;

@compute @workgroup_size(WG)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n * p.c * p.hw {
        return;
    }
    let c = (i / p.hw) % p.c;
    var v = a_x[i] * a_coef[c] + a_coef[p.c + c];
    if (p.flags & RESIDUAL) != 0u {
        v += a_residual[i];
    }
    if (p.flags & RELU) != 0u {
        v = max(v, 0.0);
    }
    a_y[i] = v;
}
