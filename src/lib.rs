//! reslab: a wgpu compute engine whose WGSL shaders train and run ResNets.

pub mod analysis;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod device;
pub mod error;
pub mod files;
pub mod kernels;
pub mod model;
pub mod npy;
pub mod ops;
pub mod pth;
pub mod rng;
pub mod train;

pub use device::{CacheFolder, Gpu, GpuOptions, Tensor};
pub use error::{Error, Result};
