//! CPU twin of `shaders/sgd.wgsl` (torch.optim.SGD).

use super::Real;
use crate::ops::SgdConfig;

pub fn sgd_step<T: Real>(
    param: &mut [T],
    momentum_buf: &mut [T],
    grad: &[T],
    c: &SgdConfig,
    first: bool,
) {
    let (lr, mom, damp, wd) = (
        c.lr as f64,
        c.momentum as f64,
        c.dampening as f64,
        c.weight_decay as f64,
    );
    for ((p, b), g) in param.iter_mut().zip(momentum_buf.iter_mut()).zip(grad) {
        let mut d = g.f64() + wd * p.f64();
        if mom != 0.0 {
            let buf = if first {
                d
            } else {
                mom * b.f64() + (1.0 - damp) * d
            };
            *b = T::of(buf);
            d = if c.nesterov { d + mom * buf } else { buf };
        }
        *p = T::of(p.f64() - lr * d);
    }
}
