//! GPU kernels against their CPU twins, backward passes against finite
//! differences of the CPU forward in f64. One device for the whole binary; any
//! wgpu validation error fails the test that caused it.

mod analysis;
mod batchnorm;
mod ceiling;
mod common;
mod conv2d;
mod elementwise;
mod fused;
mod limits;
mod linear;
mod loss;
mod model;
mod pipeline_cache;
mod poison;
mod pool;
mod reduce;
mod sgd;
mod torch;
mod train;
