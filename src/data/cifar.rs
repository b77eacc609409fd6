//! CIFAR-10 in its official binary format: records of 1 label byte and 3072
//! image bytes (3 planes of 32x32), in data_batch_1..5.bin and test_batch.bin.

use std::path::Path;

use crate::data::{Pixels, Split, read_file};
use crate::error::{Error, Result};

const SIDE: usize = 32;
const RECORD: usize = 1 + 3 * SIDE * SIDE;

/// Parses one batch file, checking its size and labels.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Split> {
    if bytes.is_empty() {
        return Err(Error::file(path, "empty file"));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::file(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated, or another format)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(Error::file(
                path,
                format!(
                    "record {i} has label {}, CIFAR-10 labels are 0–9 (another format?)",
                    rec[0]
                ),
            ));
        }
        labels.push(rec[0] as u32);
        images.extend_from_slice(&rec[1..]);
    }
    Ok(Split::in_memory(images, labels, 3, SIDE, SIDE))
}

fn append(a: &mut Split, b: Split) {
    if let (Pixels::Memory(x), Pixels::Memory(y)) = (&mut a.images, b.images) {
        x.extend(y);
    }
    a.labels.extend(b.labels);
}

/// The five training batches and the test batch of `dir`.
pub fn load_dir(dir: &Path) -> Result<(Split, Split)> {
    let mut train: Option<Split> = None;
    for i in 1..=5 {
        let p = dir.join(format!("data_batch_{i}.bin"));
        let s = parse(&p, &read_file(&p)?)?;
        match &mut train {
            Some(t) => append(t, s),
            None => train = Some(s),
        }
    }
    let p = dir.join("test_batch.bin");
    let test = parse(&p, &read_file(&p)?)?;
    Ok((train.expect("five batches read"), test))
}
