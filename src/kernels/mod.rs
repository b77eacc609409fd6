//! Launchers: one per shader pass. A launcher checks shapes and device limits,
//! then returns a prepared [`Dispatch`] (pipeline, bind group, grid) that a
//! [`Program`] records into an encoder as often as needed. Every kernel is an
//! entry of the [`table`], which names its module, entry point, workgroup
//! size, bindings and parameter type; pipelines come from the device's cache,
//! bind groups are built once per set of tensors.
//!
//! Binding convention of every shader: binding 0 is the uniform parameter block,
//! bindings 1.. are storage tensors, outputs first, then inputs.

pub mod batchnorm;
pub mod ceiling;
pub mod colormap;
pub mod conv2d;
pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod pool;
pub mod reduce;
pub mod sgd;
pub mod shaders;
pub mod shortcut;
pub mod table;

use std::sync::Arc;

use wgpu::util::DeviceExt;

use crate::device::{Gpu, Pipeline, PipelineKey};
use crate::device::{Tensor, TexelCopy, Texels, texels};
use crate::error::{Error, Result};
use table::{Binding, Kernel, Params};

/// A prepared launch of one compute pass.
pub struct Dispatch {
    label: String,
    pipeline: Pipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    workgroups: [u32; 3],
    /// Its tensors read as texels ([`Binding::Texels`]), copied into their
    /// textures just before it runs.
    copies: Vec<TexelCopy>,
    /// The bound tensors: holding them keeps their pooled buffers from being
    /// handed out again while this dispatch can still run (and tells a
    /// profile what the dispatch ran on).
    bound: Vec<Tensor>,
}

impl Dispatch {
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn workgroups(&self) -> [u32; 3] {
        self.workgroups
    }

    /// Bytes of its tensors copied into texel textures just before it runs.
    pub fn texel_copy_bytes(&self) -> u64 {
        self.copies.iter().map(|c| c.src.bytes()).sum()
    }

    /// The shapes of the tensors bound to it, in binding order (the output
    /// first, for most kernels).
    pub fn bound_shapes(&self) -> impl Iterator<Item = &[usize]> {
        self.bound.iter().map(|t| t.shape())
    }

    /// Rewrites the uniform parameter block (e.g. the learning rate of SGD) for the
    /// next submission.
    pub fn set_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) {
        gpu.queue()
            .write_buffer(&self.params, 0, bytemuck::bytes_of(params));
    }

    /// Records the dispatch, waiting for its pipeline to be made; one whose
    /// pipeline failed records nothing (the failure is in the device's error
    /// log, which [`Gpu::check`] reports).
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        let [x, y, z] = self.workgroups;
        let Some(pipeline) = self.pipeline.wait() else {
            return;
        };
        if x == 0 || y == 0 || z == 0 {
            return;
        }
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
    }
}

/// An ordered list of dispatches, recorded into one compute pass (or
/// several, split where a dispatch's texel copies go).
#[derive(Default)]
pub struct Program {
    pub dispatches: Vec<Dispatch>,
}

impl Program {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Dispatch) -> usize {
        self.dispatches.push(d);
        self.dispatches.len() - 1
    }

    pub fn extend(&mut self, other: Program) {
        self.dispatches.extend(other.dispatches);
    }

    pub fn len(&self) -> usize {
        self.dispatches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dispatches.is_empty()
    }

    /// For each dispatch in order, the bytes of its texel copies that copy
    /// the same floats (buffer, offset and length) as the last copy into the
    /// same texture before it. Such a copy could be skipped where no
    /// dispatch between them wrote those floats; that is not checked here,
    /// so this is an upper bound on the copying to save.
    pub fn repeated_texel_copies(&self) -> Vec<u64> {
        let mut last: Vec<(&Texels, &Tensor)> = Vec::new();
        self.dispatches
            .iter()
            .map(|d| {
                let mut bytes = 0;
                for c in &d.copies {
                    let same = |t: &Tensor| {
                        t.buffer() == c.src.buffer()
                            && t.offset() == c.src.offset()
                            && t.bytes() == c.src.bytes()
                    };
                    match last.iter_mut().find(|(tex, _)| std::ptr::eq(*tex, &*c.dst)) {
                        Some(entry) => {
                            if same(entry.1) {
                                bytes += c.src.bytes();
                            }
                            entry.1 = &c.src;
                        }
                        None => last.push((&c.dst, &c.src)),
                    }
                }
                bytes
            })
            .collect()
    }

    /// Records every dispatch, in order, into compute passes of `enc`.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder, label: &str) {
        self.record_range(enc, label, 0..self.dispatches.len());
    }

    /// Records dispatches `range`, in order, into compute passes of `enc`:
    /// one, or a new one after each texel copy (copies go between passes).
    pub fn record_range(
        &self,
        enc: &mut wgpu::CommandEncoder,
        label: &str,
        range: std::ops::Range<usize>,
    ) {
        self.record_with(enc, label, range, |_, _| {});
    }

    /// [`Program::record_range`] calling `each(pass, None)` when the first
    /// pass opens and `each(pass, Some(i))` after dispatch i (the profile
    /// writes its timestamps there).
    pub fn record_with(
        &self,
        enc: &mut wgpu::CommandEncoder,
        label: &str,
        range: std::ops::Range<usize>,
        mut each: impl FnMut(&mut wgpu::ComputePass<'static>, Option<usize>),
    ) {
        let desc = wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        };
        let mut pass = enc.begin_compute_pass(&desc).forget_lifetime();
        each(&mut pass, None);
        for i in range {
            let d = &self.dispatches[i];
            if !d.copies.is_empty() {
                drop(pass);
                for c in &d.copies {
                    c.record(enc);
                }
                pass = enc.begin_compute_pass(&desc).forget_lifetime();
            }
            d.record(&mut pass);
            each(&mut pass, Some(i));
        }
    }

    /// Records, submits and waits; reports any validation error.
    pub fn run(&self, gpu: &Gpu) -> Result<()> {
        let mut enc = gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("program"),
            });
        self.record(&mut enc, "program");
        gpu.submit([enc.finish()]);
        gpu.wait()
    }
}

/// Workgroup counts for `threads` invocations in groups of `wg`, folded into a
/// second dimension when one would exceed the device's per-dimension limit.
/// Shaders recover the linear index as `gid.x + gid.y * num_workgroups.x * WG`.
pub(crate) fn grid_1d(gpu: &Gpu, what: &str, threads: usize, wg: u32) -> Result<[u32; 3]> {
    let groups = (threads as u64).div_ceil(wg as u64);
    let max = gpu.limits().max_compute_workgroups_per_dimension as u64;
    if groups <= max {
        return Ok([groups as u32, 1, 1]);
    }
    let y = groups.div_ceil(max);
    if y > max {
        return Err(Error::DispatchTooLarge {
            what: what.into(),
            needed: groups,
            limit: max as u32,
        });
    }
    Ok([groups.div_ceil(y) as u32, y as u32, 1])
}

/// Checks a grid against the per-dimension limit.
pub(crate) fn check_grid(gpu: &Gpu, what: &str, grid: [u64; 3]) -> Result<[u32; 3]> {
    let max = gpu.limits().max_compute_workgroups_per_dimension;
    for g in grid {
        if g > max as u64 {
            return Err(Error::DispatchTooLarge {
                what: what.into(),
                needed: g,
                limit: max,
            });
        }
    }
    Ok([grid[0] as u32, grid[1] as u32, grid[2] as u32])
}

/// Validates the tensors against the kernel's bindings and the device limits
/// and builds the dispatch. `image` is the storage texture of a kernel that
/// draws one; `tensors` are its storage bindings in order, `None` binding a
/// small placeholder where an optional input is absent.
pub(crate) fn prepare<P: Params>(
    gpu: &Gpu,
    k: &Kernel<P>,
    params: &P,
    image: Option<&wgpu::TextureView>,
    tensors: &[Option<&Tensor>],
    workgroups: [u32; 3],
) -> Result<Dispatch> {
    let label = format!("{}:{}", k.module.name, k.entry);
    let images = k.bindings.iter().filter(|b| **b == Binding::Image).count();
    if tensors.len() + images != k.bindings.len() || image.is_some() != (images == 1) {
        return Err(Error::invalid(format!(
            "{label}: {} tensor(s) and {} image(s) for {} bindings",
            tensors.len(),
            image.is_some() as usize,
            k.bindings.len()
        )));
    }
    let limits = gpu.limits();
    let kinds: Vec<Binding> = k
        .bindings
        .iter()
        .copied()
        .filter(|b| *b != Binding::Image)
        .collect();
    for (i, t) in tensors.iter().enumerate() {
        let Some(t) = t else {
            continue;
        };
        if kinds[i] == Binding::Uniform {
            check_uniform_window(&label, i + 1, t, limits)?;
            continue;
        }
        if kinds[i] == Binding::Texels {
            texels::check(
                &format!("{label} binding {}", i + 1),
                t,
                limits.max_texture_dimension_2d,
            )?;
            continue;
        }
        if t.is_empty() {
            return Err(Error::invalid(format!(
                "{label}: binding {} is an empty tensor {:?}",
                i + 1,
                t.shape()
            )));
        }
        if t.bytes() > limits.max_storage_buffer_binding_size {
            return Err(Error::BindingTooLarge {
                what: format!("{label} binding {} {:?}", i + 1, t.shape()),
                bytes: t.bytes(),
                limit: limits.max_storage_buffer_binding_size,
            });
        }
        if t.offset() % limits.min_storage_buffer_offset_alignment as u64 != 0 {
            return Err(Error::invalid(format!(
                "{label}: binding {} starts at byte {}, not a multiple of the device's storage offset alignment {}",
                i + 1,
                t.offset(),
                limits.min_storage_buffer_offset_alignment
            )));
        }
    }
    let key = PipelineKey {
        module: k.module.name,
        entry: k.entry,
        constants: k.constants,
    };
    let (pipeline, layout) = gpu.pipeline(key, || k.module.wgsl(), &layout_entries(k.bindings))?;
    let params = gpu
        .device()
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label),
            contents: bytemuck::bytes_of(params),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
    let mut entries = vec![wgpu::BindGroupEntry {
        binding: 0,
        resource: params.as_entire_binding(),
    }];
    let first = if let Some(view) = image {
        entries.push(wgpu::BindGroupEntry {
            binding: 1,
            resource: wgpu::BindingResource::TextureView(view),
        });
        2
    } else {
        1
    };
    // Each tensor read as texels: its slot's texture, filled just before the
    // pass; an absent one binds the slot's texture as it is (never read).
    let mut copies: Vec<(usize, TexelCopy)> = Vec::new();
    let mut unfilled: Vec<(usize, Arc<Texels>)> = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        if kinds[i] != Binding::Texels {
            continue;
        }
        let slot = i + first as usize;
        match t {
            Some(t) => copies.push((
                i,
                TexelCopy {
                    src: (*t).clone(),
                    dst: gpu.texels(slot, t.len())?,
                },
            )),
            None => unfilled.push((i, gpu.texels(slot, 4)?)),
        }
    }
    for (i, t) in tensors.iter().enumerate() {
        let texels = copies
            .iter()
            .map(|(j, c)| (*j, &c.dst))
            .chain(unfilled.iter().map(|(j, t)| (*j, t)))
            .find(|(j, _)| *j == i);
        let resource = match (texels, t) {
            (Some((_, tex)), _) => wgpu::BindingResource::TextureView(tex.view()),
            (None, Some(t)) => t.binding(),
            (None, None) => gpu
                .dummy(i)
                .ok_or_else(|| Error::invalid(format!("{label}: too many bindings")))?
                .as_entire_binding(),
        };
        entries.push(wgpu::BindGroupEntry {
            binding: i as u32 + first,
            resource,
        });
    }
    let bind_group = gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(&label),
        layout: &layout,
        entries: &entries,
    });
    Ok(Dispatch {
        label,
        pipeline,
        bind_group,
        params,
        workgroups,
        copies: copies.into_iter().map(|(_, c)| c).collect(),
        bound: tensors.iter().flatten().map(|t| (*t).clone()).collect(),
    })
}

/// The bind group layout of a kernel with `bindings` (1..; 0 is the
/// parameter block), as the table declares them (`tests/kernels.rs` checks
/// the table against each entry point's WGSL).
fn layout_entries(bindings: &[Binding]) -> Vec<wgpu::BindGroupLayoutEntry> {
    let buffer = |ty| wgpu::BindingType::Buffer {
        ty,
        has_dynamic_offset: false,
        min_binding_size: None,
    };
    let storage = |read_only| buffer(wgpu::BufferBindingType::Storage { read_only });
    let entry = |binding: usize, ty| wgpu::BindGroupLayoutEntry {
        binding: binding as u32,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty,
        count: None,
    };
    let mut entries = vec![entry(0, buffer(wgpu::BufferBindingType::Uniform))];
    for (i, b) in bindings.iter().enumerate() {
        let ty = match b {
            Binding::Read => storage(true),
            Binding::Write => storage(false),
            Binding::Uniform => buffer(wgpu::BufferBindingType::Uniform),
            Binding::Texels => wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::ReadOnly,
                format: crate::device::texels::FORMAT,
                view_dimension: wgpu::TextureViewDimension::D2,
            },
            Binding::Image => wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format: table::IMAGE_FORMAT,
                view_dimension: wgpu::TextureViewDimension::D2,
            },
        };
        entries.push(entry(i + 1, ty));
    }
    entries
}

/// A [`Binding::Uniform`] tensor: exactly the window's size, within the
/// device's uniform binding limit, at an offset its alignment allows.
fn check_uniform_window(label: &str, i: usize, t: &Tensor, limits: &wgpu::Limits) -> Result<()> {
    let bytes = table::UNIFORM_WINDOW_BYTES;
    if t.bytes() != bytes {
        return Err(Error::invalid(format!(
            "{label}: uniform binding {i} is {} bytes, not the {bytes} the kernel reads",
            t.bytes()
        )));
    }
    if bytes > limits.max_uniform_buffer_binding_size {
        return Err(Error::BindingTooLarge {
            what: format!("{label} uniform binding {i}"),
            bytes,
            limit: limits.max_uniform_buffer_binding_size,
        });
    }
    if !t
        .offset()
        .is_multiple_of(limits.min_uniform_buffer_offset_alignment as u64)
    {
        return Err(Error::invalid(format!(
            "{label}: uniform binding {i} starts at byte {}, not a multiple of the device's uniform offset alignment {}",
            t.offset(),
            limits.min_uniform_buffer_offset_alignment
        )));
    }
    Ok(())
}

/// Fails with a shape error naming `what` unless `t` has shape `expected`.
pub(crate) fn expect_shape(what: &str, t: &Tensor, expected: &[usize]) -> Result<()> {
    if t.shape() != expected {
        return Err(Error::Shape {
            what: what.into(),
            expected: expected.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    Ok(())
}

/// Shape of a 4-D tensor as (n, c, h, w), or a shape error.
pub(crate) fn nchw(what: &str, t: &Tensor) -> Result<[usize; 4]> {
    match *t.shape() {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::invalid(format!(
            "{what}: expected a 4-D NCHW tensor, got shape {:?}",
            t.shape()
        ))),
    }
}

/// `u32::try_from` with a message naming the size that does not fit.
pub(crate) fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid(format!("{what} = {v} does not fit in 32 bits")))
}

/// Prepares a dispatch of `k` (see [`prepare`]) and appends it to `prog`;
/// returns its index there.
pub(crate) fn launch<P: Params>(
    gpu: &Gpu,
    prog: &mut Program,
    k: &Kernel<P>,
    params: &P,
    tensors: &[Option<&Tensor>],
    workgroups: [u32; 3],
) -> Result<usize> {
    let d = prepare(gpu, k, params, None, tensors, workgroups)?;
    Ok(prog.push(d))
}
