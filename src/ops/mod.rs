//! Op contracts: what each operation computes over which sizes, with which
//! options. The GPU launchers (`kernels`) and their CPU twins (`cpu`) both
//! take these and nothing of each other, so a twin checks a launcher against
//! the contract rather than against the launcher's own arithmetic.

pub mod batchnorm;
pub mod colormap;
pub mod conv;
pub mod pool;
pub mod sgd;
pub mod shortcut;

pub use batchnorm::{BnGeom, BnOptions};
pub use conv::{Conv2dGeom, PadGeom, UnfoldOrder};
pub use pool::Pool2dGeom;
pub use sgd::SgdConfig;
pub use shortcut::ShortcutGeom;
