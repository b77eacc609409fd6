//! reslab: a wgpu compute engine whose WGSL shaders train and run ResNets.

pub mod analysis;
pub mod bench;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod error;
pub mod files;
pub mod geom;
pub mod gpu;
pub mod kernels;
pub mod model;
pub mod npy;
pub mod profile;
pub mod rng;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::Tensor;
