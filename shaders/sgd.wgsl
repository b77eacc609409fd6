// SGD with momentum, weight decay and optional Nesterov, as torch.optim.SGD:
//   g = grad + wd·param
//   buf = g on the first step, else momentum·buf + (1 − dampening)·g
//   g = g + momentum·buf (Nesterov) or buf
//   param -= lr·g
// in place over flat buffers of `len` elements (all parameters of a model at once).
//
//   sgd_step  1 param (read-write)  2 momentum_buf (read-write)  3 grad
// One invocation per element, 128 per workgroup, folded over (x, y).
// flags: 1 Nesterov, 2 first step, 4 momentum on.

struct SgdParams {
    len: u32, flags: u32, lr: f32, momentum: f32,
    dampening: f32, weight_decay: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SgdParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentum_buf: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;

const WG: u32 = 128u;

#import grid

@compute @workgroup_size(WG)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.len {
        return;
    }
    var g = grad[i] + p.weight_decay * param[i];
    if (p.flags & 4u) != 0u {
        var buf = g;
        if (p.flags & 2u) == 0u {
            buf = p.momentum * momentum_buf[i] + (1.0 - p.dampening) * g;
        }
        momentum_buf[i] = buf;
        if (p.flags & 1u) != 0u {
            g = g + p.momentum * buf;
        } else {
            g = buf;
        }
    }
    param[i] = param[i] - p.lr * g;
}
