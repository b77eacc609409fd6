//! NumPy `.npy` files of float32 (version 1.0–3.0 headers, C order): what
//! `reslab infer` reads and writes.

use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A float32 array and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Parses a `.npy` file; float64 is converted to float32, anything else refused.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Array> {
    let bad = |m: String| Error::file(path, m);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4")) as usize,
            12,
        ),
        v => return Err(bad(format!(".npy version {v} is not supported"))),
    };
    let header = bytes
        .get(start..start + hlen)
        .ok_or_else(|| bad("truncated .npy header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(".npy header is not text".into()))?;
    let descr =
        field(header, "descr").ok_or_else(|| bad("no 'descr' in the .npy header".into()))?;
    let width = if descr.starts_with("'<f4'") || descr.starts_with("'=f4'") {
        4
    } else if descr.starts_with("'<f8'") || descr.starts_with("'=f8'") {
        8
    } else {
        let d: String = descr.chars().take_while(|c| *c != ',').collect();
        return Err(bad(format!(
            "dtype {d}: a little-endian float32 array is required"
        )));
    };
    let fortran = field(header, "fortran_order")
        .ok_or_else(|| bad("no 'fortran_order' in the .npy header".into()))?;
    if fortran.starts_with("True") {
        return Err(bad(
            "Fortran-ordered array; save it in C order (np.ascontiguousarray)".into(),
        ));
    }
    let shape_s =
        field(header, "shape").ok_or_else(|| bad("no 'shape' in the .npy header".into()))?;
    let inner = shape_s
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("unreadable 'shape' in the .npy header".into()))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("unreadable dimension {s:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let need = shape
        .iter()
        .try_fold(width, |a: usize, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} is too large: its size overflows")))?;
    let body = &bytes[start + hlen..];
    if body.len() != need {
        return Err(bad(format!(
            "shape {shape:?} needs {need} data bytes, the file has {} (truncated?)",
            body.len()
        )));
    }
    let data = if width == 4 {
        body.chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4")))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8")) as f32)
            .collect()
    };
    Ok(Array { shape, data })
}

pub fn read(path: &Path) -> Result<Array> {
    parse(path, &crate::files::read_whole(path)?)
}

/// The bytes of a version-1.0 float32 `.npy` file.
pub fn encode(a: &Array) -> Vec<u8> {
    let dims: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that the data starts at a multiple of 64 bytes, ending in a newline.
    let total = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(bytemuck::cast_slice(&a.data));
    out
}

/// Writes `a` to `path` (through a temporary file and a rename).
pub fn write(path: &Path, a: &Array) -> Result<()> {
    crate::files::write_atomic(path, &encode(a))
}
