//! The analyses reslab exists for: probes of F(x) during training, the
//! degradation experiment, redundant blocks, lesions and loss landscapes.

pub mod degradation;
pub mod plot;
pub mod probe;
