//! Reading results back without stalling the GPU: a ring of staging buffers.
//! A submission's copies go into the slot of its tag (a step number, say);
//! the slot is mapped once the submission is made and read on a later call,
//! so the GPU is only waited for when the ring is full or the caller asks.
//! Results are released in tag order even when a later slot's mapping
//! completes first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::device::{Gpu, Tensor};
use crate::error::{Error, Result};

/// Where a slot's mapping stands.
const IDLE: u8 = 0;
const MAPPING: u8 = 1;
const MAPPED: u8 = 2;
const FAILED: u8 = 3;

struct Slot {
    buffer: wgpu::Buffer,
    /// The tag whose copies the slot holds (recorded, maybe not yet submitted).
    tag: Option<usize>,
    state: Arc<AtomicU8>,
}

/// A ring of staging buffers of one size.
pub struct Readback {
    label: &'static str,
    slots: Vec<Slot>,
    bytes: u64,
}

impl Readback {
    /// `slots` staging buffers of `bytes` each.
    pub fn new(gpu: &Gpu, label: &'static str, slots: usize, bytes: u64) -> Readback {
        let slots = (0..slots.max(1))
            .map(|_| Slot {
                buffer: gpu.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes.max(4),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                tag: None,
                state: Arc::new(AtomicU8::new(IDLE)),
            })
            .collect();
        Readback {
            label,
            slots,
            bytes,
        }
    }

    /// Bytes of one result.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records copies of `sources`, packed in order, into the slot of `tag`.
    /// If that slot still holds an earlier result, waits for it and returns it.
    pub fn record(
        &mut self,
        gpu: &Gpu,
        enc: &mut wgpu::CommandEncoder,
        sources: &[&Tensor],
        tag: usize,
    ) -> Result<Option<(usize, Vec<u8>)>> {
        let total: u64 = sources.iter().map(|t| t.bytes()).sum();
        if total > self.bytes {
            return Err(Error::invalid(format!(
                "{}: {total} bytes do not fit its {}-byte slots",
                self.label, self.bytes
            )));
        }
        let n = self.slots.len();
        let label = self.label;
        let slot = &mut self.slots[tag % n];
        let earlier = match slot.tag {
            Some(_) => {
                while slot.state.load(Ordering::SeqCst) == MAPPING {
                    gpu.device()
                        .poll(wgpu::PollType::wait_indefinitely())
                        .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
                }
                read(label, slot)?
            }
            None => None,
        };
        let mut at = 0;
        for t in sources {
            enc.copy_buffer_to_buffer(t.buffer(), t.offset(), &slot.buffer, at, t.bytes());
            at += t.bytes();
        }
        slot.tag = Some(tag);
        Ok(earlier)
    }

    /// Starts mapping the slot of `tag`; call once its submission is made.
    pub fn submitted(&mut self, tag: usize) {
        let n = self.slots.len();
        let slot = &mut self.slots[tag % n];
        slot.state.store(MAPPING, Ordering::SeqCst);
        let state = slot.state.clone();
        // A failed mapping completes too: reading the slot then reports it
        // instead of waiting for it forever.
        slot.buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            state.store(if r.is_ok() { MAPPED } else { FAILED }, Ordering::SeqCst);
        });
    }

    /// True while some result has not been collected.
    pub fn in_flight(&self) -> bool {
        self.slots.iter().any(|s| s.tag.is_some())
    }

    /// The results that have arrived, in tag order; with `wait`, every
    /// submitted one.
    pub fn collect(&mut self, gpu: &Gpu, wait: bool) -> Result<Vec<(usize, Vec<u8>)>> {
        let mapping = |slots: &[Slot]| {
            slots
                .iter()
                .any(|s| s.state.load(Ordering::SeqCst) == MAPPING)
        };
        // A map callback may fire on a later poll than the one that saw its
        // submission complete, so waiting means polling until none is mapping.
        loop {
            let poll = if wait {
                wgpu::PollType::wait_indefinitely()
            } else {
                wgpu::PollType::Poll
            };
            gpu.device()
                .poll(poll)
                .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            if !wait || !mapping(&self.slots) {
                break;
            }
        }
        // Release results only up to the oldest tag still on its way.
        let oldest_waiting = self
            .slots
            .iter()
            .filter(|s| s.state.load(Ordering::SeqCst) == MAPPING)
            .filter_map(|s| s.tag)
            .min();
        let mut out = Vec::new();
        for slot in &mut self.slots {
            let done = matches!(slot.state.load(Ordering::SeqCst), MAPPED | FAILED);
            if done
                && slot
                    .tag
                    .is_some_and(|t| oldest_waiting.is_none_or(|o| t < o))
            {
                out.extend(read(self.label, slot)?);
            }
        }
        out.sort_by_key(|r| r.0);
        Ok(out)
    }

    /// Waits for the result of `tag` (recorded and submitted) and returns it.
    pub fn wait_for(&mut self, gpu: &Gpu, tag: usize) -> Result<Vec<u8>> {
        self.collect(gpu, true)?
            .into_iter()
            .find(|r| r.0 == tag)
            .map(|r| r.1)
            .ok_or_else(|| Error::Wgpu(format!("{}: the result of {tag} was lost", self.label)))
    }
}

/// The bytes of a mapped (or failed) slot, which is then free again.
fn read(label: &str, slot: &mut Slot) -> Result<Option<(usize, Vec<u8>)>> {
    let Some(tag) = slot.tag.take() else {
        return Ok(None);
    };
    let state = slot.state.swap(IDLE, Ordering::SeqCst);
    if state != MAPPED {
        return Err(Error::Wgpu(format!("{label}: mapping the results failed")));
    }
    let bytes = slot
        .buffer
        .get_mapped_range(..)
        .map_err(|e| Error::Wgpu(format!("{label}: {e}")))?
        .to_vec();
    slot.buffer.unmap();
    Ok(Some((tag, bytes)))
}
