//! Parameters and BN running statistics: on the host (init, checkpoints, the
//! CPU twin) and on the GPU, where each kind lives in one flat buffer so that a
//! single SGD dispatch updates every parameter.

use std::collections::HashMap;

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::model::graph::{Graph, Init, ParamSpec};
use crate::rng::Rng;

/// Parameters and running statistics on the host, in the graph's order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostParams {
    pub params: Vec<Vec<f32>>,
    pub buffers: Vec<Vec<f32>>,
    /// Training steps taken (PyTorch's `num_batches_tracked` of every BN).
    pub steps: u64,
}

fn init_values(spec: &ParamSpec, rng: &mut Rng) -> Vec<f32> {
    let n: usize = spec.shape.iter().product();
    match spec.init {
        Init::HeNormalFanOut { fan_out } => rng.vec_normal(n, (2.0 / fan_out as f64).sqrt()),
        Init::UniformFanIn { fan_in } => {
            let b = 1.0 / (fan_in as f64).sqrt();
            rng.vec_uniform(n, -b, b)
        }
        Init::Const(v) => vec![v; n],
    }
}

impl HostParams {
    /// Fresh parameters: He (Kaiming normal, fan-out) for convs, PyTorch's
    /// uniform for the classifier, BN weight 1 (0 for zero-gamma), bias 0,
    /// running mean 0 and variance 1. The same seed gives the same values.
    pub fn init(graph: &Graph, seed: u64) -> HostParams {
        let mut rng = Rng::new(seed);
        HostParams {
            params: graph
                .params
                .iter()
                .map(|p| init_values(p, &mut rng))
                .collect(),
            buffers: graph
                .buffers
                .iter()
                .map(|p| init_values(p, &mut rng))
                .collect(),
            steps: 0,
        }
    }

    /// Checks that every tensor has its spec's size.
    pub fn check(&self, graph: &Graph) -> Result<()> {
        let pairs = graph
            .params
            .iter()
            .zip(&self.params)
            .chain(graph.buffers.iter().zip(&self.buffers));
        if self.params.len() != graph.params.len() || self.buffers.len() != graph.buffers.len() {
            return Err(Error::invalid(format!(
                "{} parameters and {} buffers given, {} has {} and {}",
                self.params.len(),
                self.buffers.len(),
                graph.spec.name(),
                graph.params.len(),
                graph.buffers.len()
            )));
        }
        for (spec, v) in pairs {
            let n: usize = spec.shape.iter().product();
            if v.len() != n {
                return Err(Error::invalid(format!(
                    "{}: {} values for shape {:?}",
                    spec.name,
                    v.len(),
                    spec.shape
                )));
            }
        }
        Ok(())
    }

    /// The values of a parameter or buffer by its state_dict key.
    pub fn get<'a>(&'a self, graph: &Graph, name: &str) -> Option<&'a [f32]> {
        graph
            .params
            .iter()
            .position(|p| p.name == name)
            .map(|i| &self.params[i][..])
            .or_else(|| {
                graph
                    .buffers
                    .iter()
                    .position(|p| p.name == name)
                    .map(|i| &self.buffers[i][..])
            })
    }

    pub fn get_mut<'a>(&'a mut self, graph: &Graph, name: &str) -> Option<&'a mut Vec<f32>> {
        if let Some(i) = graph.params.iter().position(|p| p.name == name) {
            return Some(&mut self.params[i]);
        }
        graph
            .buffers
            .iter()
            .position(|p| p.name == name)
            .map(move |i| &mut self.buffers[i])
    }
}

/// Where each tensor sits in a flat buffer, in elements.
#[derive(Debug, Clone)]
struct Layout {
    ranges: Vec<(usize, usize)>,
    index: HashMap<String, usize>,
    total: usize,
}

impl Layout {
    fn new(specs: &[ParamSpec], align: usize) -> Layout {
        let mut ranges = Vec::with_capacity(specs.len());
        let mut index = HashMap::new();
        let mut at = 0;
        for (i, s) in specs.iter().enumerate() {
            let n: usize = s.shape.iter().product();
            ranges.push((at, n));
            index.insert(s.name.clone(), i);
            at = (at + n).next_multiple_of(align);
        }
        Layout {
            ranges,
            index,
            total: at.max(align),
        }
    }

    fn flatten(&self, values: &[Vec<f32>]) -> Vec<f32> {
        let mut flat = vec![0f32; self.total];
        for ((at, n), v) in self.ranges.iter().zip(values) {
            flat[*at..at + n].copy_from_slice(v);
        }
        flat
    }

    fn split(&self, flat: &[f32]) -> Vec<Vec<f32>> {
        self.ranges
            .iter()
            .map(|&(at, n)| flat[at..at + n].to_vec())
            .collect()
    }
}

/// A model's parameters on the GPU. `params`, `grads` and `momentum` share one
/// layout (padding stays zero in all three); `state` holds the BN running stats.
pub struct Params {
    specs: Vec<ParamSpec>,
    buffer_specs: Vec<ParamSpec>,
    layout: Layout,
    state_layout: Layout,
    pub params: Tensor,
    pub grads: Tensor,
    pub momentum: Tensor,
    pub state: Tensor,
    /// Training steps taken (checkpointed as `num_batches_tracked`).
    pub steps: u64,
}

impl Params {
    pub fn upload(gpu: &Gpu, graph: &Graph, host: &HostParams) -> Result<Params> {
        host.check(graph)?;
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(4);
        let layout = Layout::new(&graph.params, align);
        let state_layout = Layout::new(&graph.buffers, align);
        let params = gpu.upload(&[layout.total], &layout.flatten(&host.params))?;
        let grads = gpu.zeros(&[layout.total])?;
        let momentum = gpu.zeros(&[layout.total])?;
        let state = gpu.upload(&[state_layout.total], &state_layout.flatten(&host.buffers))?;
        Ok(Params {
            specs: graph.params.clone(),
            buffer_specs: graph.buffers.clone(),
            layout,
            state_layout,
            params,
            grads,
            momentum,
            state,
            steps: host.steps,
        })
    }

    /// Reads parameters and running stats back (waits for the GPU).
    pub fn download(&self, gpu: &Gpu) -> Result<HostParams> {
        Ok(HostParams {
            params: self.layout.split(&gpu.read(&self.params)?),
            buffers: self.state_layout.split(&gpu.read(&self.state)?),
            steps: self.steps,
        })
    }

    /// Replaces parameter and running-stat values (the momentum is left as is).
    pub fn load(&mut self, gpu: &Gpu, host: &HostParams) -> Result<()> {
        if host.params.len() != self.specs.len() || host.buffers.len() != self.buffer_specs.len() {
            return Err(Error::invalid("parameters of another model"));
        }
        gpu.write(&self.params, &self.layout.flatten(&host.params))?;
        gpu.write(&self.state, &self.state_layout.flatten(&host.buffers))?;
        self.steps = host.steps;
        Ok(())
    }

    /// Reads the SGD momentum buffers back, per parameter (waits for the GPU).
    pub fn download_momentum(&self, gpu: &Gpu) -> Result<Vec<Vec<f32>>> {
        Ok(self.layout.split(&gpu.read(&self.momentum)?))
    }

    /// Sets the SGD momentum buffers (resuming a run).
    pub fn upload_momentum(&mut self, gpu: &Gpu, m: &[Vec<f32>]) -> Result<()> {
        for (s, v) in self.specs.iter().zip(m) {
            if v.len() != s.shape.iter().product::<usize>() {
                return Err(Error::invalid(format!(
                    "momentum of {}: {} values for {:?}",
                    s.name,
                    v.len(),
                    s.shape
                )));
            }
        }
        gpu.write(&self.momentum, &self.layout.flatten(m))
    }

    /// A new flat tensor in the parameters' layout holding `values` (one vector
    /// per parameter): directions in weight space, for instance.
    pub fn flat_like(&self, gpu: &Gpu, values: &[Vec<f32>]) -> Result<Tensor> {
        if values.len() != self.specs.len() {
            return Err(Error::invalid("values for another model's parameters"));
        }
        gpu.upload(&[self.layout.total], &self.layout.flatten(values))
    }

    /// A new flat tensor in the running statistics' layout holding `values`.
    pub fn flat_state_like(&self, gpu: &Gpu, values: &[Vec<f32>]) -> Result<Tensor> {
        if values.len() != self.buffer_specs.len() {
            return Err(Error::invalid(
                "values for another model's running statistics",
            ));
        }
        gpu.upload(
            &[self.state_layout.total],
            &self.state_layout.flatten(values),
        )
    }

    /// Reads the gradients back, per parameter (waits for the GPU).
    pub fn download_grads(&self, gpu: &Gpu) -> Result<Vec<Vec<f32>>> {
        Ok(self.layout.split(&gpu.read(&self.grads)?))
    }

    fn view(
        &self,
        flat: &Tensor,
        layout: &Layout,
        specs: &[ParamSpec],
        name: &str,
    ) -> Result<Tensor> {
        let i = *layout
            .index
            .get(name)
            .ok_or_else(|| Error::invalid(format!("no parameter named {name}")))?;
        flat.view(layout.ranges[i].0, &specs[i].shape)
    }

    pub fn param(&self, name: &str) -> Result<Tensor> {
        self.view(&self.params, &self.layout, &self.specs, name)
    }

    pub fn grad(&self, name: &str) -> Result<Tensor> {
        self.view(&self.grads, &self.layout, &self.specs, name)
    }

    pub fn buffer(&self, name: &str) -> Result<Tensor> {
        self.view(&self.state, &self.state_layout, &self.buffer_specs, name)
    }

    /// Number of trainable values (padding excluded).
    pub fn count(&self) -> usize {
        self.layout.ranges.iter().map(|r| r.1).sum()
    }

    /// Bytes of the flat parameter buffer (padding included).
    pub fn bytes(&self) -> u64 {
        self.params.bytes()
    }
}
