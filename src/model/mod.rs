//! The model zoo: specs, the layer graph, parameters, and the GPU and CPU
//! executors that run a graph.

pub mod cpu;
pub mod graph;
pub mod memory;
pub mod params;
pub mod plan;
pub mod probe;
pub mod spec;

pub use graph::{Block, Branch, Dims, Graph, Op, Tid};
pub use params::{HostParams, Params};
pub use plan::{Mode, Parts, Plan};
pub use spec::{Family, ModelSpec, Shortcut};
