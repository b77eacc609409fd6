//! Batches for training and evaluation. Training batches are shuffled,
//! augmented and normalised on a thread of their own, a few batches ahead, so
//! the GPU never waits for them; the same seed gives the same batches.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::data::Split;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Random crop after zero padding by `pad` pixels, and random horizontal flips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    pub pad: usize,
    pub flip: bool,
}

impl Augment {
    pub const NONE: Augment = Augment {
        pad: 0,
        flip: false,
    };
}

/// Normalised images [batch, C, H, W] and their labels.
#[derive(Debug, Clone)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    pub epoch: usize,
    /// Index of the batch within its epoch.
    pub index: usize,
}

/// Per-channel normalisation: (v/255 − mean) / std.
#[derive(Debug, Clone)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
/// Writes sample `i` of `split` into `out` (one image), normalised, cropped
/// from the zero-padded image at (dy, dx) and mirrored when `flip`.
fn fill(
    out: &mut [f32],
    split: &Split,
    i: usize,
    norm: &Normalize,
    pad: usize,
    dy: usize,
    dx: usize,
    flip: bool,
) {
    let (c, h, w) = (split.c, split.h, split.w);
    let img = split.image(i);
    for ch in 0..c {
        let (m, s) = (norm.mean[ch], norm.std[ch]);
        let zero = (0.0 - m) / s;
        for y in 0..h {
            let sy = (y + dy) as isize - pad as isize;
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let sx = (xx + dx) as isize - pad as isize;
                let v = if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                    zero
                } else {
                    (img[(ch * h + sy as usize) * w + sx as usize] as f32 / 255.0 - m) / s
                };
                out[(ch * h + y) * w + x] = v;
            }
        }
    }
}

/// The order in which epoch `epoch` visits the samples.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    epoch_rng(seed, epoch).fork(0).shuffle(&mut order);
    order
}

fn epoch_rng(seed: u64, epoch: usize) -> Rng {
    Rng::new(seed).fork(0xDA7A).fork(epoch as u64)
}

/// Batch `index` of epoch `epoch` (`order` from [`epoch_order`]): per-sample
/// crops and flips come from a stream of their own, so a batch does not depend
/// on which batches were made before it.
#[allow(clippy::too_many_arguments)]
pub fn train_batch(
    split: &Split,
    norm: &Normalize,
    batch: usize,
    aug: Augment,
    seed: u64,
    epoch: usize,
    index: usize,
    order: &[usize],
) -> Batch {
    let mut rng = epoch_rng(seed, epoch).fork(1 + index as u64);
    let len = split.image_len();
    let mut images = vec![0f32; batch * len];
    let mut labels = Vec::with_capacity(batch);
    for (k, &i) in order[index * batch..(index + 1) * batch].iter().enumerate() {
        let (dy, dx) = if aug.pad > 0 {
            (rng.below(2 * aug.pad + 1), rng.below(2 * aug.pad + 1))
        } else {
            (0, 0)
        };
        let flip = aug.flip && rng.below(2) == 1;
        fill(
            &mut images[k * len..(k + 1) * len],
            split,
            i,
            norm,
            aug.pad,
            dy,
            dx,
            flip,
        );
        labels.push(split.labels[i]);
    }
    Batch {
        images,
        labels,
        epoch,
        index,
    }
}

/// Batches of a training split, made on a background thread.
pub struct Loader {
    rx: Receiver<Batch>,
    handle: Option<JoinHandle<()>>,
    pub batches_per_epoch: usize,
}

impl Loader {
    /// Batches from (`epoch`, `index`) on, `total` of them, each epoch a new
    /// shuffle; the last partial batch of an epoch is dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        split: Arc<Split>,
        norm: Normalize,
        batch: usize,
        aug: Augment,
        seed: u64,
        epoch: usize,
        index: usize,
        total: usize,
    ) -> Loader {
        let per_epoch = split.len() / batch.max(1);
        let (tx, rx): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(4);
        let handle = std::thread::Builder::new()
            .name("reslab-loader".into())
            .spawn(move || {
                let (mut e, mut i) = (epoch, index);
                let mut order = epoch_order(seed, e, split.len());
                for _ in 0..total {
                    if i >= per_epoch {
                        e += 1;
                        i = 0;
                        order = epoch_order(seed, e, split.len());
                    }
                    let b = train_batch(&split, &norm, batch, aug, seed, e, i, &order);
                    if tx.send(b).is_err() {
                        return; // the trainer stopped
                    }
                    i += 1;
                }
            })
            .ok();
        Loader {
            rx,
            handle,
            batches_per_epoch: per_epoch,
        }
    }

    /// The next batch, or `None` when all have been delivered (or the thread failed).
    pub fn next(&self) -> Option<Batch> {
        self.rx.recv().ok()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Unblock a sender waiting on a full channel, then join.
        while self.rx.try_recv().is_ok() {}
        if let Some(h) = self.handle.take() {
            drop(std::mem::replace(&mut self.rx, sync_channel(0).1));
            let _ = h.join();
        }
    }
}

/// The first `n` images of a split as one evaluation batch; an error when
/// the split is empty or one of them could not be decoded.
pub fn first_batch(split: &Split, norm: &Normalize, n: usize) -> Result<Batch> {
    checked_batch(split, norm, 0, n.min(split.len()))
}

/// Image `i` of a split as a batch of one; an error when there is no such
/// image or it could not be decoded.
pub fn image_batch(split: &Split, norm: &Normalize, i: usize) -> Result<Batch> {
    if i >= split.len() {
        return Err(Error::invalid(format!(
            "image {i} of a split of {}",
            split.len()
        )));
    }
    checked_batch(split, norm, i, 1)
}

fn checked_batch(split: &Split, norm: &Normalize, lo: usize, n: usize) -> Result<Batch> {
    if n == 0 {
        return Err(Error::invalid("no images"));
    }
    let b = eval_batch(split, norm, lo, lo + n, 0);
    split.decoded()?;
    Ok(b)
}

/// Evaluation batches of a split in order, unaugmented; the last one may be short.
pub fn eval_batches<'a>(
    split: &'a Split,
    norm: &Normalize,
    batch: usize,
) -> impl Iterator<Item = Batch> + 'a {
    let norm = norm.clone();
    let batch = batch.max(1);
    (0..split.len().div_ceil(batch)).map(move |b| {
        let lo = b * batch;
        eval_batch(split, &norm, lo, (lo + batch).min(split.len()), b)
    })
}

/// Images `lo..hi`, normalised and unaugmented, as batch number `index`.
fn eval_batch(split: &Split, norm: &Normalize, lo: usize, hi: usize, index: usize) -> Batch {
    let len = split.image_len();
    let mut images = vec![0f32; (hi - lo) * len];
    for (k, i) in (lo..hi).enumerate() {
        fill(
            &mut images[k * len..(k + 1) * len],
            split,
            i,
            norm,
            0,
            0,
            0,
            false,
        );
    }
    Batch {
        images,
        labels: split.labels[lo..hi].to_vec(),
        epoch: 0,
        index,
    }
}
