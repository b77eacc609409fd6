// SGD with momentum, weight decay and optional Nesterov, as torch.optim.SGD:
//   g = grad + wd·param
//   buf = g on the first step, else momentum·buf + (1 − dampening)·g
//   g = g + momentum·buf (Nesterov) or buf
//   param -= lr·g
// in place over flat buffers of `len` elements (all parameters of a model at once).
//
//   sgd_step  1 param (read-write)  2 momentum_buf (read-write)  3 grad
// One invocation per element, 128 per workgroup, folded over (x, y).
//   sgd_step4  the same bindings as vec4s, where len is a multiple of 4: four
// elements an invocation (on a CPU adapter a storage access is a loop over
// the lanes, and a vec4 costs one trip of it, not four).
// flags: 1 Nesterov, 2 first step, 4 momentum on.

struct SgdParams {
    len: u32, flags: u32, lr: f32, momentum: f32,
    dampening: f32, weight_decay: f32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: SgdParams;

const WG: u32 = 128u;
const NESTEROV: u32 = 1u;
const FIRST: u32 = 2u;
const MOMENTUM: u32 = 4u;

#import grid

// Whether the step reads the momentum buffer (momentum on, not the first step).
fn reads_buf() -> bool {
    return (p.flags & (MOMENTUM | FIRST)) == MOMENTUM;
}

struct Update {
    param: vec4<f32>, buf: vec4<f32>,
}

// One step of four elements: param w, momentum buffer m (as reads_buf()
// says, else unread) and gradient grad; the new param and momentum buffer.
fn update(w: vec4<f32>, m: vec4<f32>, grad: vec4<f32>) -> Update {
    var g = grad + p.weight_decay * w;
    var buf = g;
    if (p.flags & MOMENTUM) != 0u {
        if (p.flags & FIRST) == 0u {
            buf = p.momentum * m + (1.0 - p.dampening) * g;
        }
        if (p.flags & NESTEROV) != 0u {
            g = g + p.momentum * buf;
        } else {
            g = buf;
        }
    }
    return Update(w - p.lr * g, buf);
}

@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentum_buf: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;

@compute @workgroup_size(WG)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.len {
        return;
    }
    var m = 0.0;
    if reads_buf() {
        m = momentum_buf[i];
    }
    let u = update(vec4<f32>(param[i]), vec4<f32>(m), vec4<f32>(grad[i]));
    if (p.flags & MOMENTUM) != 0u {
        momentum_buf[i] = u.buf.x;
    }
    param[i] = u.param.x;
}

@group(0) @binding(1) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> momentum_buf4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn sgd_step4(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = folded_index(gid, nwg);
    if i >= p.len / 4u {
        return;
    }
    var m = vec4<f32>(0.0);
    if reads_buf() {
        m = momentum_buf4[i];
    }
    let u = update(param4[i], m, grad4[i]);
    if (p.flags & MOMENTUM) != 0u {
        momentum_buf4[i] = u.buf;
    }
    param4[i] = u.param;
}
