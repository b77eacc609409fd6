//! What a plan will allocate, worked out from the graph before anything is
//! allocated, with checked arithmetic, and compared with what the device and
//! the machine allow. A batch or an input size that cannot fit is refused
//! with a message that says what would fit, instead of failing deep inside
//! plan creation (or taking the machine's memory first).

use crate::device::Gpu;
use crate::device::buffer::BufferPool;
use crate::error::{Error, Result};
use crate::files::human_bytes;
use crate::kernels::conv2d::{WGRAD_CHUNKS_CPU, WGRAD_CHUNKS_GPU, wgrad_partials_shape};
use crate::model::graph::{Graph, Op};
use crate::model::plan::Mode;

/// Bytes a plan of `graph` for one batch size needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryNeed {
    pub batch: usize,
    /// Device buffers: activations, the convolutions' padded copies, gradient
    /// scratch, parameters (with gradients and momentum when training), and
    /// the textures convolutions read their inputs through.
    pub device: u64,
    /// Host memory besides the device's: input batches in flight.
    pub host: u64,
    /// The largest single tensor that depends on the batch, and what it is.
    pub largest: u64,
    pub largest_what: String,
    /// The flat parameter buffer (one buffer, whatever the batch; bound in
    /// chunks).
    pub params: u64,
}

/// What an adapter and the machine allow (see [`Allowance::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub max_buffer: u64,
    pub max_binding: u64,
    /// Bytes the process may use, where known; on CPU adapters device
    /// buffers live in this memory too.
    pub budget: Option<u64>,
    pub device_is_host: bool,
}

impl Allowance {
    /// The limits of `gpu` and the memory this machine has available.
    pub fn of(gpu: &Gpu) -> Allowance {
        let l = gpu.limits();
        Allowance {
            max_buffer: l.max_buffer_size,
            max_binding: l.max_storage_buffer_binding_size,
            budget: crate::files::memory_budget(),
            device_is_host: gpu.adapter_info().device_type == wgpu::DeviceType::Cpu,
        }
    }
}

fn overflow(graph: &Graph, batch: usize) -> Error {
    Error::DoesNotFit(format!(
        "{} at batch {batch}: the sizes overflow 64 bits",
        graph.spec.name()
    ))
}

/// Sum and maximum of byte sizes, every step checked.
struct Tally {
    total: u64,
    largest: u64,
    largest_what: String,
}

impl Tally {
    /// Adds a buffer of `elems` f32 values (rounded up to the pool's size class).
    fn add(&mut self, elems: u64, what: impl FnOnce() -> String) -> Option<()> {
        let bytes = elems.checked_mul(4)?;
        let class = if bytes > u64::MAX / 2 {
            bytes
        } else {
            BufferPool::size_class(bytes)
        };
        self.total = self.total.checked_add(class)?;
        if bytes > self.largest {
            self.largest = bytes;
            self.largest_what = what();
        }
        Some(())
    }
}

impl MemoryNeed {
    /// What a plan for `batch` samples in `mode` needs (`backward`: with
    /// gradients and an SGD update). An estimate of the allocations the plan
    /// makes, in the pool's size classes; exact in which tensor is largest.
    pub fn of(graph: &Graph, batch: usize, mode: Mode, backward: bool) -> Result<MemoryNeed> {
        Self::tally(graph, batch, mode, backward).ok_or_else(|| overflow(graph, batch))
    }

    fn tally(graph: &Graph, batch: usize, mode: Mode, backward: bool) -> Option<MemoryNeed> {
        let n = batch as u64;
        let mut t = Tally {
            total: 0,
            largest: 0,
            largest_what: String::new(),
        };
        let name = |tid: usize| {
            let d = graph.tensors[tid];
            format!("an activation of [{batch}, {}, {}, {}]", d.c, d.h, d.w)
        };
        let mut largest_act = 0u64;
        for (tid, d) in graph.tensors.iter().enumerate() {
            let per = (d.c as u64)
                .checked_mul(d.h as u64)?
                .checked_mul(d.w as u64)?;
            let elems = per.checked_mul(n)?;
            largest_act = largest_act.max(elems);
            t.add(elems, || name(tid))?;
        }
        let mut largest_pad = 0u64;
        // Elements of the largest unfolded input (a scratch tensor shared by
        // the passes the 1x1 kernels run unfolded).
        let mut largest_unfold = 0u64;
        // Elements of every tiled weight gradient's partial sums.
        let mut partials = 0u64;
        // Elements of every conv's weight tiles (one buffer, not per batch,
        // with room for a uniform window after the last).
        let mut tiles = crate::kernels::conv2d::WEIGHT_TILES_ROOM as u64;
        for op in &graph.ops {
            match op {
                Op::Conv {
                    x,
                    y,
                    k,
                    stride,
                    pad,
                    ..
                } => {
                    // The padded copy of the input that the tiled kernels read
                    // (kept for the weight gradient).
                    let g = graph.conv_geom(1, *x, *y, *k, *stride, *pad);
                    // Its weight tiles, written at the start of every step
                    // (forward, and backward-data), each aligned to 256 bytes.
                    let mut layouts = vec![false];
                    if backward && crate::kernels::conv2d::backward_data_tiles(&g).is_some() {
                        layouts.push(true);
                    }
                    for backward_data in layouts {
                        let s = crate::kernels::conv2d::weight_tiles_shape(&g, backward_data);
                        let elems = s.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
                        tiles = tiles.checked_add(elems.checked_add(64)?)?;
                    }
                    // Its weight gradient's partial sums (chunks of the batch;
                    // one chunk's go to its gradient directly), in whichever
                    // kind of adapter's chunks makes the more.
                    let gb = graph.conv_geom(batch, *x, *y, *k, *stride, *pad);
                    let mut most = 0u64;
                    for c in [WGRAD_CHUNKS_GPU, WGRAD_CHUNKS_CPU] {
                        if let Some(s) = wgrad_partials_shape(&gb, c)
                            && s[0] > 1
                        {
                            let elems = s.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
                            most = most.max(elems.checked_add(64)?);
                        }
                    }
                    partials = partials.checked_add(most)?;
                    // Its unfolded input, where its forward pass and weight
                    // gradient may run over one
                    // (crate::kernels::conv2d::unfold_chunk): at most
                    // UNFOLD_BYTES of images at a time. (Its tiles, taps
                    // outermost, take the forward layout's room.)
                    let unfolded = (g.kh, g.kw, g.ph, g.pw) != (1, 1, 0, 0);
                    if unfolded && !crate::kernels::conv2d::has_tiled_forward(&g) {
                        let image = (g.cin as u64)
                            .checked_mul((g.kh * g.kw) as u64)?
                            .checked_mul((g.ho() * g.wo()) as u64)?;
                        let most = crate::kernels::conv2d::UNFOLD_BYTES / 4;
                        if image <= most {
                            let images = (most / image.max(1)).min(n);
                            largest_unfold = largest_unfold.max(images.checked_mul(image)?);
                        }
                    }
                    if crate::kernels::conv2d::has_tiled_forward(&g) {
                        let s = g.forward_pad().shape();
                        let elems = (s[1] as u64)
                            .checked_mul(s[2] as u64)?
                            .checked_mul(s[3] as u64)?
                            .checked_mul(n)?;
                        largest_pad = largest_pad.max(elems);
                        t.add(elems, || {
                            format!(
                                "the padded input [{batch}, {}, {}, {}] of a 3x3 conv",
                                s[1], s[2], s[3]
                            )
                        })?;
                    }
                }
                Op::MaxPool { y, .. } => {
                    let d = graph.tensors[*y];
                    t.add((d.len() as u64).checked_mul(n)?, || {
                        "max-pool indices".into()
                    })?;
                }
                _ => {}
            }
        }
        if largest_unfold > 0 {
            t.add(largest_unfold, || "an unfolded conv input".into())?;
        }
        // The textures kernels read activations through (one per binding
        // slot, device::texels, as large as the largest tensor read there):
        // slot 2 (a convolution's padded input, batch norm's x or dout);
        // in training also slots 6 and 7 (batch norm's x and residual, or out
        // and x in its backward), 3 (the weight gradient's padded input, the
        // backward's out), 4 and 5.
        for _ in 0..if backward { 6 } else { 1 } {
            t.add(largest_pad, || "a texture of texels".into())?;
        }
        if backward {
            // Gradients of activations live in scratch tensors reused by
            // shape; at most a few are alive at once, the largest of them the
            // padded copies of dy.
            t.add(largest_act.checked_mul(2)?, || "gradient scratch".into())?;
            t.add(largest_pad, || "gradient scratch".into())?;
            // The partial sums of the weight gradients reduced together
            // (crate::model::plan::WGRAD_ARENA_BYTES at most).
            t.add(
                partials.min(crate::model::plan::WGRAD_ARENA_BYTES / 4),
                || "weight-gradient partial sums".into(),
            )?;
        }
        let params = graph.param_count() as u64;
        let state: u64 = graph
            .buffers
            .iter()
            .map(|b| b.shape.iter().product::<usize>() as u64)
            .sum();
        let copies = if mode == Mode::Train && backward {
            3
        } else {
            1
        };
        let device = t
            .total
            .checked_add(params.checked_mul(4 * copies)?)?
            .checked_add(tiles.checked_mul(4)?)?
            .checked_add(state.checked_mul(4)?)?;
        let input = graph.tensors[graph.input];
        // The batch being uploaded and the loader's batches in flight.
        let host = (input.len() as u64).checked_mul(n)?.checked_mul(4 * 6)?;
        Some(MemoryNeed {
            batch,
            device,
            host,
            largest: t.largest,
            largest_what: t.largest_what,
            params: params.checked_mul(4)?,
        })
    }

    /// Why this need does not fit `a`, or `None` when it fits.
    pub fn refusal(&self, a: &Allowance) -> Option<String> {
        let per_buffer = a.max_buffer.min(a.max_binding);
        let largest_class = if self.largest > u64::MAX / 2 {
            self.largest
        } else {
            BufferPool::size_class(self.largest)
        };
        if self.largest > a.max_binding || largest_class > a.max_buffer {
            return Some(format!(
                "{} ({}) is larger than this adapter allows per buffer ({})",
                self.largest_what,
                human_bytes(self.largest),
                human_bytes(per_buffer)
            ));
        }
        let total = if a.device_is_host {
            self.device.saturating_add(self.host)
        } else {
            self.host
        };
        match a.budget {
            Some(b) if total > b => Some(format!(
                "it needs {} of memory{}, and {} is available",
                human_bytes(total),
                if a.device_is_host {
                    " (the adapter runs on the CPU, so its buffers are host memory)"
                } else {
                    ""
                },
                human_bytes(b)
            )),
            _ => None,
        }
    }
}

/// Checks that a plan of `graph` for `batch` samples fits `a`. The error
/// says what does not fit and, where a smaller batch would, which one.
pub fn check_fits(
    graph: &Graph,
    batch: usize,
    mode: Mode,
    backward: bool,
    a: &Allowance,
) -> Result<MemoryNeed> {
    if batch == 0 {
        return Err(Error::invalid("batch size must be at least 1"));
    }
    let input = graph.tensors[graph.input];
    let what = format!(
        "{} at batch {batch} on {}x{} inputs",
        graph.spec.name(),
        input.h,
        input.w
    );
    // The flat parameter buffers are updated in chunks of one binding each;
    // the buffer itself must fit.
    let params = (graph.param_count() as u64).saturating_mul(4);
    if params > a.max_buffer {
        return Err(Error::DoesNotFit(format!(
            "{what}: its parameters need {} in one buffer; this adapter allows {} per buffer (a smaller batch cannot help)",
            human_bytes(params),
            human_bytes(a.max_buffer)
        )));
    }
    let need = MemoryNeed::of(graph, batch, mode, backward);
    let why = match &need {
        Ok(n) => match n.refusal(a) {
            None => return need,
            Some(why) => why,
        },
        Err(e) => e.to_string(),
    };
    // The largest batch that fits: needs grow with the batch.
    let fits = |b: usize| {
        MemoryNeed::of(graph, b, mode, backward)
            .ok()
            .is_some_and(|n| n.refusal(a).is_none())
    };
    let hint = if batch > 1 && fits(1) {
        let (mut lo, mut hi) = (1usize, batch - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        format!(": try --batch {lo}")
    } else {
        ": even one sample does not fit; use smaller inputs or a smaller model".into()
    };
    Err(Error::DoesNotFit(format!("{what}: {why}{hint}")))
}

/// [`check_fits`] against `gpu`'s limits and this machine's memory.
pub fn check_fits_gpu(
    gpu: &Gpu,
    graph: &Graph,
    batch: usize,
    mode: Mode,
    backward: bool,
) -> Result<MemoryNeed> {
    check_fits(graph, batch, mode, backward, &Allowance::of(gpu))
}
