//! MNIST and Fashion-MNIST in the IDX format (big-endian header: magic
//! 0x0000080N with N dimensions, then the sizes, then u8 data), raw or gzip.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::Split;
use crate::error::{Error, Result};

/// Contents of an IDX file: its sizes and bytes.
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX stream (raw, or the output of a gzip decoder when `gzip`):
/// the header first, its sizes checked with checked arithmetic and against
/// `limit` bytes, then exactly the data it announces. A stream that is
/// shorter or longer than its header says is refused, and a compressed
/// stream is never inflated past what its header announced.
pub fn decode(path: &Path, r: &mut dyn Read, gzip: bool, limit: u64) -> Result<Idx> {
    let fail = |e: std::io::Error| {
        if gzip {
            Error::file(
                path,
                format!("not a valid gzip stream ({e}); the file may be truncated"),
            )
        } else {
            Error::io(path, e)
        }
    };
    // Reads up to `buf.len()` bytes; fewer only at the end of the stream.
    let fill = |r: &mut dyn Read, buf: &mut [u8]| -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(got)
    };
    let mut magic = [0u8; 4];
    let got = fill(r, &mut magic)?;
    if got < 4 || magic[0] != 0 || magic[1] != 0 {
        return Err(Error::file(path, "not an IDX file (bad magic number)"));
    }
    if magic[2] != 0x08 {
        return Err(Error::file(
            path,
            format!(
                "IDX element type 0x{:02x} is not unsigned bytes (0x08)",
                magic[2]
            ),
        ));
    }
    let ndim = magic[3] as usize;
    if ndim == 0 || ndim > 4 {
        return Err(Error::file(
            path,
            format!("IDX file with {ndim} dimensions"),
        ));
    }
    let mut sizes = [0u8; 16];
    if fill(r, &mut sizes[..4 * ndim])? < 4 * ndim {
        return Err(Error::file(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = sizes[..4 * ndim]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let Some(expected) = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
        return Err(Error::file(path, format!("IDX sizes {dims:?} overflow")));
    };
    if expected as u64 > limit {
        return Err(Error::file(
            path,
            format!(
                "header {dims:?} announces {}, more than the {} of memory available",
                crate::files::human_bytes(expected as u64),
                crate::files::human_bytes(limit)
            ),
        ));
    }
    // Grown as the data arrives, so a header that promises more than the
    // stream holds costs no more memory than the stream.
    let mut data = Vec::with_capacity(expected.min(1 << 24));
    r.take(expected as u64 + 1)
        .read_to_end(&mut data)
        .map_err(fail)?;
    let got = data.len();
    if got != expected {
        let what = if got < expected {
            "truncated"
        } else {
            "longer than its header says"
        };
        let has = if got < expected {
            format!("{got}")
        } else {
            "more".into()
        };
        return Err(Error::file(
            path,
            format!("{what}: header {dims:?} needs {expected} data bytes, the file has {has}"),
        ));
    }
    Ok(Idx { dims, data })
}

/// Parses an IDX file of unsigned bytes held in memory (raw, or gzip when
/// the bytes start with its magic).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Idx> {
    if bytes.starts_with(&GZIP_MAGIC) {
        decode(
            path,
            &mut flate2::read::GzDecoder::new(bytes),
            true,
            MAX_IN_MEMORY,
        )
    } else {
        decode(path, &mut &bytes[..], false, MAX_IN_MEMORY)
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most [`parse`] inflates from bytes in memory: 4 GiB.
const MAX_IN_MEMORY: u64 = 1 << 32;

/// Reads and parses `path` (gzip or raw), never holding more than the data
/// its header announces (and no more than this machine has available).
pub fn read(path: &Path) -> Result<Idx> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = std::io::BufReader::new(f);
    let gzip = std::io::BufRead::fill_buf(&mut r)
        .map_err(|e| Error::io(path, e))?
        .starts_with(&GZIP_MAGIC);
    let limit = crate::files::memory_budget().unwrap_or(u64::MAX);
    if gzip {
        decode(path, &mut flate2::read::GzDecoder::new(r), true, limit)
    } else {
        decode(path, &mut r, false, limit)
    }
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
    Ok(Split::in_memory(
        im.data,
        lb.data.into_iter().map(u32::from).collect(),
        1,
        h,
        w,
    ))
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
