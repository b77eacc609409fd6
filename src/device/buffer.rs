//! Tensors on the GPU and the buffer pool they come from.
//!
//! A [`Tensor`] is a range of a storage buffer with a shape. Activations are
//! NCHW, row-major, f32 (see ARCHITECTURE.md for why). Parameters of a model are
//! views into one flat buffer, so one SGD dispatch updates them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::error::{Error, Result};

/// Usage of every pooled buffer: bindable as storage (and as a uniform window,
/// see [`Tensor::window`]), copyable both ways.
const POOL_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::UNIFORM)
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Counters of the pool: a training step that allocates nothing leaves
/// `buffers_created` unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    pub buffers_created: u64,
    pub bytes_created: u64,
    pub bytes_live: u64,
    pub bytes_peak: u64,
}

struct PoolInner {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: PoolStats,
}

/// Recycles storage buffers by size class (powers of two in quarter steps, so
/// at most 25% is wasted). A buffer returns to the pool when its last tensor drops.
pub struct BufferPool {
    device: wgpu::Device,
    inner: Arc<Mutex<PoolInner>>,
}

impl BufferPool {
    pub(crate) fn new(device: wgpu::Device) -> Self {
        BufferPool {
            device,
            inner: Arc::new(Mutex::new(PoolInner {
                free: HashMap::new(),
                stats: PoolStats::default(),
            })),
        }
    }

    pub fn stats(&self) -> PoolStats {
        self.inner.lock().map(|p| p.stats).unwrap_or_default()
    }

    /// Size class for a request of `bytes`: at least 256 bytes, then the next
    /// of 4·2^k, 5·2^k, 6·2^k, 7·2^k.
    pub fn size_class(bytes: u64) -> u64 {
        let b = bytes.max(256);
        let top = 63 - b.leading_zeros() as u64; // floor(log2 b)
        let step = 1u64 << (top - 2);
        b.div_ceil(step) * step
    }

    pub(crate) fn take(&self, bytes: u64, limit: u64) -> Result<PoolBuffer> {
        let size = Self::size_class(bytes);
        if size > limit {
            return Err(Error::BufferTooLarge {
                what: "tensor".into(),
                bytes,
                limit,
            });
        }
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| Error::Wgpu("buffer pool poisoned".into()))?;
        let reused = inner.free.get_mut(&size).and_then(|v| v.pop());
        let raw = match reused {
            Some(b) => b,
            None => {
                inner.stats.buffers_created += 1;
                inner.stats.bytes_created += size;
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("pool"),
                    size,
                    usage: POOL_USAGE,
                    mapped_at_creation: false,
                })
            }
        };
        inner.stats.bytes_live += size;
        inner.stats.bytes_peak = inner.stats.bytes_peak.max(inner.stats.bytes_live);
        Ok(PoolBuffer {
            raw: Some(raw),
            pool: Arc::downgrade(&self.inner),
        })
    }
}

/// A buffer that goes back to its pool (if any) when dropped.
pub struct PoolBuffer {
    raw: Option<wgpu::Buffer>,
    pool: Weak<Mutex<PoolInner>>,
}

impl Drop for PoolBuffer {
    fn drop(&mut self) {
        let (Some(raw), Some(pool)) = (self.raw.take(), self.pool.upgrade()) else {
            return;
        };
        if let Ok(mut p) = pool.lock() {
            let size = raw.size();
            p.stats.bytes_live = p.stats.bytes_live.saturating_sub(size);
            p.free.entry(size).or_default().push(raw);
        }
    }
}

/// A shaped range of a GPU buffer, f32 (or u32 for labels and indices).
#[derive(Clone)]
pub struct Tensor {
    buf: Arc<PoolBuffer>,
    offset: u64,
    shape: Vec<usize>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}@{}", self.shape, self.offset)
    }
}

impl Tensor {
    /// A tensor over a whole buffer taken from the pool.
    pub(crate) fn pooled(buf: PoolBuffer, shape: &[usize]) -> Tensor {
        Tensor {
            buf: Arc::new(buf),
            offset: 0,
            shape: shape.to_vec(),
        }
    }

    /// Wraps a buffer made elsewhere (not pooled). It needs `STORAGE` usage to be bound.
    pub fn from_buffer(buffer: wgpu::Buffer, shape: &[usize]) -> Result<Tensor> {
        let bytes = 4 * numel(shape) as u64;
        if bytes > buffer.size() {
            return Err(Error::invalid(format!(
                "tensor of shape {shape:?} ({bytes} bytes) does not fit a buffer of {} bytes",
                buffer.size()
            )));
        }
        Ok(Tensor {
            buf: Arc::new(PoolBuffer {
                raw: Some(buffer),
                pool: Weak::new(),
            }),
            offset: 0,
            shape: shape.to_vec(),
        })
    }

    /// A view of `shape` starting `offset` elements into this tensor's range.
    pub fn view(&self, offset: usize, shape: &[usize]) -> Result<Tensor> {
        let end = offset + numel(shape);
        if end > self.len() {
            return Err(Error::invalid(format!(
                "view [{offset}, {end}) outside a tensor of {} elements",
                self.len()
            )));
        }
        Ok(Tensor {
            buf: self.buf.clone(),
            offset: self.offset + 4 * offset as u64,
            shape: shape.to_vec(),
        })
    }

    /// The range from this tensor's start to `other`'s end as one flat
    /// tensor, and where `other` starts in it (elements): for a kernel that
    /// reads or writes two tensors of one buffer through one binding. `None`
    /// unless both lie in one buffer, `other` at or after this one's end.
    pub fn span(&self, other: &Tensor) -> Option<(Tensor, usize)> {
        if self.buffer() != other.buffer() || other.offset < self.offset + self.bytes() {
            return None;
        }
        let len = ((other.offset + other.bytes() - self.offset) / 4) as usize;
        let at = ((other.offset - self.offset) / 4) as usize;
        Some((
            Tensor {
                buf: self.buf.clone(),
                offset: self.offset,
                shape: vec![len],
            },
            at,
        ))
    }

    /// `len` elements of this tensor's buffer from `offset` elements into
    /// this tensor, as a flat tensor: a window that may run past this
    /// tensor's end (for a binding of fixed size, such as a 64 KiB uniform,
    /// over a tensor's tail; what lies past the end is bound, never read).
    /// `None` where it would run past the buffer's end.
    pub fn window(&self, offset: usize, len: usize) -> Option<Tensor> {
        let start = self.offset.checked_add(4 * offset as u64)?;
        let end = start.checked_add(4 * len as u64)?;
        (end <= self.buffer().size()).then(|| Tensor {
            buf: self.buf.clone(),
            offset: start,
            shape: vec![len],
        })
    }

    /// The same range with another shape of equal size.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.len() {
            return Err(Error::Shape {
                what: "reshape".into(),
                expected: self.shape.clone(),
                got: shape.to_vec(),
            });
        }
        Ok(Tensor {
            buf: self.buf.clone(),
            offset: self.offset,
            shape: shape.to_vec(),
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        numel(&self.shape)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> u64 {
        4 * self.len() as u64
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        // The option is only emptied in drop.
        self.buf.raw.as_ref().expect("live pool buffer")
    }

    /// True when this tensor's range lies inside `other`'s (one buffer).
    pub fn lies_within(&self, other: &Tensor) -> bool {
        self.buffer() == other.buffer()
            && self.offset >= other.offset
            && self.offset + self.bytes() <= other.offset + other.bytes()
    }

    /// True when both tensors live in the same buffer and their ranges overlap.
    pub fn overlaps(&self, other: &Tensor) -> bool {
        self.buffer() == other.buffer()
            && self.offset < other.offset + other.bytes()
            && other.offset < self.offset + self.bytes()
    }

    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buffer(),
            offset: self.offset,
            size: wgpu::BufferSize::new(self.bytes().max(4)),
        })
    }

    /// Records a clear of this tensor's range to zero.
    pub fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        if self.bytes() > 0 {
            enc.clear_buffer(self.buffer(), self.offset, Some(self.bytes()));
        }
    }
}

/// Elements of a tensor of `shape` (saturating: an absurd shape cannot be
/// allocated, and must not wrap into a small one).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}
