//! MNIST and Fashion-MNIST in the IDX format (big-endian header: magic
//! 0x0000080N with N dimensions, then the sizes, then u8 data), raw or gzip.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::{Split, read_file};
use crate::error::{Error, Result};

/// Contents of an IDX file: its sizes and bytes.
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Decompresses when the bytes start with the gzip magic.
fn maybe_gunzip(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::file(
                    path,
                    format!("not a valid gzip stream ({e}); the file may be truncated"),
                )
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Parses an IDX file of unsigned bytes, checking its header against its size.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Idx> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::file(path, "not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(Error::file(
            path,
            format!(
                "IDX element type 0x{:02x} is not unsigned bytes (0x08)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 || ndim > 4 {
        return Err(Error::file(
            path,
            format!("IDX file with {ndim} dimensions"),
        ));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::file(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let Some(expected) = expected else {
        return Err(Error::file(path, format!("IDX sizes {dims:?} overflow")));
    };
    let got = bytes.len() - header;
    if got != expected {
        let what = if got < expected {
            "truncated"
        } else {
            "longer than its header says"
        };
        return Err(Error::file(
            path,
            format!("{what}: header {dims:?} needs {expected} data bytes, file has {got}"),
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads and parses `path` (gzip or raw).
pub fn read(path: &Path) -> Result<Idx> {
    let bytes = maybe_gunzip(path, read_file(path)?)?;
    parse(path, &bytes)
}

/// A split from an image file [N, H, W] and a label file [N].
pub fn load_split(images: &Path, labels: &Path) -> Result<Split> {
    let im = read(images)?;
    let lb = read(labels)?;
    let [n, h, w] = im.dims[..] else {
        return Err(Error::file(
            images,
            format!("expected images [N, H, W], got dims {:?}", im.dims),
        ));
    };
    let [nl] = lb.dims[..] else {
        return Err(Error::file(
            labels,
            format!("expected labels [N], got dims {:?}", lb.dims),
        ));
    };
    if nl != n {
        return Err(Error::file(
            labels,
            format!("{nl} labels for {n} images in {}", images.display()),
        ));
    }
    Ok(Split {
        images: im.data,
        labels: lb.data,
        c: 1,
        h,
        w,
    })
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::file(
        dir.join(stem),
        "missing (looked for it raw and as .gz)",
    ))
}

/// The training and test splits of an MNIST-layout folder.
pub fn load_dir(dir: &Path) -> Result<(Split, Split)> {
    let train = load_split(
        &find(dir, "train-images-idx3-ubyte")?,
        &find(dir, "train-labels-idx1-ubyte")?,
    )?;
    let test = load_split(
        &find(dir, "t10k-images-idx3-ubyte")?,
        &find(dir, "t10k-labels-idx1-ubyte")?,
    )?;
    if (train.h, train.w) != (test.h, test.w) {
        return Err(Error::invalid(format!(
            "{}: training images are {}x{}, test images {}x{}",
            dir.display(),
            train.h,
            train.w,
            test.h,
            test.w
        )));
    }
    Ok((train, test))
}
