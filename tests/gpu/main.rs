//! GPU kernels against their CPU twins, backward passes against finite differences.

mod common;
mod conv2d;
