//! CPU twins of `shaders/elementwise.wgsl`.

use super::{Real, relu as keep_nan_relu};

pub fn relu_forward<T: Real>(y: &mut [T], x: &[T]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = T::of(keep_nan_relu(v.f64()));
    }
}

pub fn relu_backward<T: Real>(dx: &mut [T], dy: &[T], y: &[T]) {
    for ((o, d), v) in dx.iter_mut().zip(dy).zip(y) {
        *o = if v.f64() > 0.0 { *d } else { T::of(0.0) };
    }
}

pub fn add_forward<T: Real>(y: &mut [T], a: &[T], b: &[T], relu: bool) {
    for ((o, u), v) in y.iter_mut().zip(a).zip(b) {
        let s = u.f64() + v.f64();
        *o = T::of(if relu { keep_nan_relu(s) } else { s });
    }
}

pub fn axpby<T: Real>(y: &mut [T], a: &[T], b: &[T], alpha: f64, beta: f64) {
    for ((o, u), v) in y.iter_mut().zip(a).zip(b) {
        *o = T::of(alpha * u.f64() + beta * v.f64());
    }
}

pub fn copy<T: Real>(y: &mut [T], a: &[T], accumulate: bool) {
    for (o, v) in y.iter_mut().zip(a) {
        *o = if accumulate {
            T::of(o.f64() + v.f64())
        } else {
            *v
        };
    }
}
