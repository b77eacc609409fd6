//! CPU twins of the kernels: the same names and argument order as the
//! launchers, plain loops, f64 accumulation. They are the test oracle and the
//! documentation of what each shader computes.

pub mod batchnorm;
pub mod colormap;
pub mod conv2d;
pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod pool;
pub mod reduce;
pub mod sgd;
pub mod shortcut;

pub use batchnorm::*;
pub use conv2d::*;
pub use elementwise::*;
pub use linear::*;
pub use loss::*;
pub use pool::*;
pub use reduce::*;
pub use sgd::*;
pub use shortcut::*;

/// max(v, 0) that keeps a NaN, as PyTorch's ReLU (`f64::max` drops it).
pub fn relu(v: f64) -> f64 {
    if v.is_nan() { v } else { v.max(0.0) }
}

/// The element types the twins run on: f32 to mirror the GPU, f64 for
/// finite-difference checks. Accumulation is always in f64.
pub trait Real: Copy + Default + PartialOrd + std::fmt::Debug + Send + Sync + 'static {
    fn f64(self) -> f64;
    fn of(v: f64) -> Self;
}

impl Real for f32 {
    fn f64(self) -> f64 {
        self as f64
    }
    fn of(v: f64) -> Self {
        v as f32
    }
}

impl Real for f64 {
    fn f64(self) -> f64 {
        self
    }
    fn of(v: f64) -> Self {
        v
    }
}
