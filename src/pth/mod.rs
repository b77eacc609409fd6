//! PyTorch's own checkpoint files: what `torch.save(model.state_dict(), f)`
//! writes (a zip archive since PyTorch 1.6: `data.pkl`, the pickle, and
//! `data/<key>`, each storage's bytes), read without PyTorch and without
//! executing anything (see [`pickle`]). The common wrappers are unwrapped: a
//! dict holding the state_dict under `state_dict` or `model`, and the
//! `module.` prefix DataParallel and DistributedDataParallel leave on keys.

pub mod pickle;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use pickle::{DType, TensorRef, Value};

/// The tensors of a state_dict: floating-point ones as f32, integer ones
/// (`num_batches_tracked`) as i64, with notes on conversions made.
#[derive(Debug, Default)]
pub struct StateDict {
    pub f32s: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub i64s: BTreeMap<String, (Vec<usize>, Vec<i64>)>,
    pub notes: Vec<String>,
}

/// True when `bytes` start like a zip archive (a `.pt`/`.pth` of PyTorch 1.6
/// and later).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// True when `bytes` start like the legacy format of PyTorch before 1.6 (a
/// bare pickle stream with a magic number).
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a])
}

/// Reads a state_dict from the bytes of a `torch.save` zip archive; `path`
/// names it in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StateDict> {
    let bad = |m: String| Error::file(path, m);
    if is_legacy(bytes) {
        return Err(bad(
            "a checkpoint in PyTorch's format before 1.6; save it again with a current PyTorch (torch.save) or as safetensors".into(),
        ));
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a PyTorch checkpoint (a zip archive): {e}")))?;
    let pkl = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|r| r.ok())
                .map(|n| n.to_string())
        })
        .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or_else(|| bad("a zip archive without data.pkl: not a torch.save checkpoint".into()))?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let pickle_bytes = entry(&mut zip, &pkl, bytes.len()).map_err(bad)?;
    let top = pickle::load(&pickle_bytes).map_err(bad)?;
    let dict = state_dict_of(top).map_err(bad)?;
    let mut out = StateDict::default();
    let mut storages: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut converted: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, t) in dict {
        if !storages.contains_key(&t.key) {
            let b =
                entry(&mut zip, &format!("{prefix}data/{}", t.key), bytes.len()).map_err(bad)?;
            storages.insert(t.key.clone(), b);
        }
        let raw = &storages[&t.key];
        let want = t.numel.checked_mul(t.dtype.size());
        if want != Some(raw.len()) {
            return Err(bad(format!(
                "{name}: its storage holds {} bytes, not the {} elements of {:?} it claims",
                raw.len(),
                t.numel,
                t.dtype
            )));
        }
        let index = gather(&t).map_err(|e| bad(format!("{name}: {e}")))?;
        let at = |i: usize, n: usize| &raw[i * n..(i + 1) * n];
        match t.dtype {
            DType::I64 | DType::I32 | DType::I16 | DType::I8 | DType::U8 | DType::Bool => {
                let v = index
                    .iter()
                    .map(|&i| match t.dtype {
                        DType::I64 => i64::from_le_bytes(at(i, 8).try_into().unwrap_or_default()),
                        DType::I32 => {
                            i32::from_le_bytes(at(i, 4).try_into().unwrap_or_default()) as i64
                        }
                        DType::I16 => {
                            i16::from_le_bytes(at(i, 2).try_into().unwrap_or_default()) as i64
                        }
                        DType::I8 => raw[i] as i8 as i64,
                        _ => raw[i] as i64,
                    })
                    .collect();
                out.i64s.insert(name, (t.shape.clone(), v));
            }
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {
                let v = index
                    .iter()
                    .map(|&i| match t.dtype {
                        DType::F32 => f32::from_le_bytes(at(i, 4).try_into().unwrap_or_default()),
                        DType::F64 => {
                            f64::from_le_bytes(at(i, 8).try_into().unwrap_or_default()) as f32
                        }
                        DType::F16 => {
                            half::f16::from_le_bytes(at(i, 2).try_into().unwrap_or_default())
                                .to_f32()
                        }
                        _ => half::bf16::from_le_bytes(at(i, 2).try_into().unwrap_or_default())
                            .to_f32(),
                    })
                    .collect();
                if t.dtype != DType::F32 {
                    *converted
                        .entry(match t.dtype {
                            DType::F64 => "f64",
                            DType::F16 => "f16",
                            _ => "bf16",
                        })
                        .or_default() += 1;
                }
                out.f32s.insert(name, (t.shape.clone(), v));
            }
        }
    }
    out.notes = converted
        .into_iter()
        .map(|(t, n)| format!("{n} tensors converted from {t} to f32"))
        .collect();
    Ok(out)
}

/// The bytes of entry `name`, refused when it would inflate past `limit`
/// (a stored entry is never larger than its archive).
fn entry<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limit: usize,
) -> std::result::Result<Vec<u8>, String> {
    let f = zip
        .by_name(name)
        .map_err(|e| format!("no {name} in the archive ({e})"))?;
    let size = f.size();
    let cap = (limit as u64).max(1 << 20).saturating_mul(4);
    if size > cap {
        return Err(format!(
            "{name} claims {size} bytes, more than its archive can hold"
        ));
    }
    let mut v = Vec::with_capacity(size as usize);
    f.take(size + 1)
        .read_to_end(&mut v)
        .map_err(|e| format!("{name}: {e}"))?;
    if v.len() as u64 != size {
        return Err(format!(
            "{name} holds {} bytes, not the {size} it claims",
            v.len()
        ));
    }
    Ok(v)
}

/// The element of the storage behind every element of `t`, in row-major
/// order (a state_dict's tensors are usually contiguous; views are not).
fn gather(t: &TensorRef) -> std::result::Result<Vec<usize>, String> {
    let count = t
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("its size overflows")?;
    // The last element it reads must lie inside the storage.
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |a, (&d, &s)| {
            a.checked_add(d.saturating_sub(1).checked_mul(s)?)
        })
        .ok_or("its extent overflows")?;
    if count > t.numel {
        return Err(format!(
            "{:?} has {count} elements, more than its storage's {}",
            t.shape, t.numel
        ));
    }
    if count > 0 && last >= t.numel {
        return Err(format!(
            "a view of {:?} (stride {:?}, offset {}) past its storage of {} elements",
            t.shape, t.stride, t.offset, t.numel
        ));
    }
    let mut out = Vec::with_capacity(count);
    let mut idx = vec![0usize; t.shape.len()];
    for _ in 0..count {
        out.push(t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>());
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// The tensors of the state_dict a pickle holds, by key: the top-level dict,
/// or one under `state_dict`/`model`/`module`, `module.` prefixes dropped.
fn state_dict_of(top: Value) -> std::result::Result<Vec<(String, TensorRef)>, String> {
    fn tensors(d: &[(Value, Value)]) -> Vec<(String, TensorRef)> {
        d.iter()
            .filter_map(|(k, v)| match (k, v) {
                (Value::Str(k), Value::Tensor(t)) => Some((k.clone(), t.clone())),
                _ => None,
            })
            .collect()
    }
    let Value::Dict(d) = top else {
        return Err(
            "the pickle holds no dict of tensors (a whole pickled model?); save model.state_dict()"
                .into(),
        );
    };
    let mut found = tensors(&d);
    if found.is_empty() {
        for wrapper in ["state_dict", "model", "module", "net"] {
            if let Some((_, Value::Dict(inner))) = d
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == wrapper))
            {
                found = tensors(inner);
                if !found.is_empty() {
                    break;
                }
            }
        }
    }
    if found.is_empty() {
        return Err("no tensors in the checkpoint's dict (nor under state_dict or model)".into());
    }
    let prefixed = found.iter().all(|(k, _)| k.starts_with("module."));
    if prefixed {
        for (k, _) in &mut found {
            *k = k["module.".len()..].to_string();
        }
    }
    Ok(found)
}
