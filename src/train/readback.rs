//! The (loss, correct) of recent steps, read back through a ring of staging
//! buffers so the GPU is never waited for unless the ring is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Reads the (loss, correct) of recent steps through a ring of staging buffers,
/// so the GPU is never waited for unless the ring is full.
pub(super) struct Readback {
    slots: Vec<(wgpu::Buffer, Option<usize>, Arc<AtomicBool>)>,
}

impl Readback {
    pub(super) fn new(gpu: &Gpu, n: usize) -> Readback {
        let slots = (0..n)
            .map(|_| {
                let b = gpu.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("metrics readback"),
                    size: 8,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (b, None, Arc::new(AtomicBool::new(false)))
            })
            .collect();
        Readback { slots }
    }

    fn read_slot(
        slot: &mut (wgpu::Buffer, Option<usize>, Arc<AtomicBool>),
    ) -> Result<Option<(usize, f32, f32)>> {
        let Some(step) = slot.1 else { return Ok(None) };
        let v: Vec<f32> = {
            let view = slot
                .0
                .get_mapped_range(..)
                .map_err(|e| Error::Wgpu(format!("metrics readback: {e}")))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        slot.0.unmap();
        slot.1 = None;
        slot.2.store(false, Ordering::SeqCst);
        Ok(Some((step, v[0], v[1])))
    }

    /// Frees the slot for `step` (waiting for its previous step if needed) and
    /// records the copy of `metrics` into it.
    pub(super) fn record(
        &mut self,
        gpu: &Gpu,
        enc: &mut wgpu::CommandEncoder,
        metrics: &crate::Tensor,
        step: usize,
        out: &mut Vec<(usize, f32, f32)>,
    ) -> Result<()> {
        let n = self.slots.len();
        let slot = &mut self.slots[step % n];
        if slot.1.is_some() {
            while !slot.2.load(Ordering::SeqCst) {
                gpu.device()
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            }
            out.extend(Self::read_slot(slot)?);
        }
        enc.copy_buffer_to_buffer(metrics.buffer(), metrics.offset(), &slot.0, 0, 8);
        Ok(())
    }

    /// Starts mapping the slot of `step` (after its submission).
    pub(super) fn submitted(&mut self, step: usize) {
        let n = self.slots.len();
        let slot = &mut self.slots[step % n];
        slot.1 = Some(step);
        let ready = slot.2.clone();
        // Set on failure too: reading the slot then reports the error
        // instead of waiting for it forever.
        slot.0.map_async(wgpu::MapMode::Read, .., move |_| {
            ready.store(true, Ordering::SeqCst);
        });
    }

    /// Results that have arrived, in step order; with `wait`, all of them.
    pub(super) fn collect(&mut self, gpu: &Gpu, wait: bool) -> Result<Vec<(usize, f32, f32)>> {
        let waiting = |slots: &[(wgpu::Buffer, Option<usize>, Arc<AtomicBool>)]| {
            slots
                .iter()
                .any(|s| s.1.is_some() && !s.2.load(Ordering::SeqCst))
        };
        // A map callback may fire on a later poll than the one that saw its
        // submission complete, so waiting means polling until every slot in
        // flight has been mapped.
        loop {
            let poll = if wait {
                wgpu::PollType::wait_indefinitely()
            } else {
                wgpu::PollType::Poll
            };
            gpu.device()
                .poll(poll)
                .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            if !wait || !waiting(&self.slots) {
                break;
            }
        }
        // A map callback can fire for a later step before an earlier one's;
        // release results only up to the oldest step still on its way, so
        // they always leave in step order.
        let oldest_waiting = self
            .slots
            .iter()
            .filter(|s| !s.2.load(Ordering::SeqCst))
            .filter_map(|s| s.1)
            .min()
            .unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if slot.1.is_some_and(|s| s < oldest_waiting) && slot.2.load(Ordering::SeqCst) {
                out.extend(Self::read_slot(slot)?);
            }
        }
        out.sort_by_key(|r| r.0);
        Ok(out)
    }
}
