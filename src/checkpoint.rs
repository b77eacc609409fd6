//! Checkpoints as safetensors files whose keys are PyTorch state_dict keys, so
//! `model.load_state_dict(safetensors.torch.load_file(path), strict=True)`
//! accepts them. The run's configuration rides along in the file's metadata.
//! Files are written to a temporary name and renamed, so a crash never leaves a
//! half-written checkpoint where a good one was.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::model::{Graph, HostParams};

/// The metadata key holding the reslab configuration (JSON).
pub const CONFIG_KEY: &str = "reslab";

/// Every tensor of a safetensors file as f32 (or the i64 step counters), with
/// notes about conversions made.
#[derive(Debug, Clone)]
pub struct Tensors {
    pub path: PathBuf,
    pub f32s: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub i64s: BTreeMap<String, (Vec<usize>, Vec<i64>)>,
    pub metadata: HashMap<String, String>,
    /// e.g. "12 tensors converted from bf16 to f32".
    pub notes: Vec<String>,
}

impl Tensors {
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.f32s.get(name).map(|(s, _)| &s[..])
    }
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::file(path, msg.into())
}

/// Reads a checkpoint — safetensors, or PyTorch's own `.pt`/`.pth` — converting
/// f16/bf16/f64 tensors to f32.
pub fn read(path: &Path) -> Result<Tensors> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    // f16 and bf16 tensors double in size as f32.
    if let Some(budget) = crate::files::memory_budget()
        && len.saturating_mul(3) > budget
    {
        return Err(bad(
            path,
            format!(
                "{} is more than this machine can read with {} of memory available",
                crate::files::human_bytes(len),
                crate::files::human_bytes(budget)
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(path, &bytes)
}

/// [`read`] of a file's bytes; `path` names it in errors. A PyTorch
/// checkpoint (`torch.save`'s zip archive) is read as its state_dict.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Tensors> {
    if crate::pth::is_zip(bytes) || crate::pth::is_legacy(bytes) {
        let sd = crate::pth::parse(path, bytes)?;
        return Ok(Tensors {
            path: path.to_path_buf(),
            f32s: sd.f32s,
            i64s: sd.i64s,
            metadata: HashMap::new(),
            notes: sd.notes,
        });
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(
            path,
            format!("not a valid safetensors file ({e}); truncated, or another format"),
        )
    })?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(path, format!("bad safetensors header: {e}")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut f32s = BTreeMap::new();
    let mut i64s = BTreeMap::new();
    let mut converted: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (name, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4")))
                .collect(),
            Dtype::F16 => {
                *converted.entry("f16").or_default() += 1;
                data.chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes(b.try_into().expect("2")).to_f32())
                    .collect()
            }
            Dtype::BF16 => {
                *converted.entry("bf16").or_default() += 1;
                data.chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes(b.try_into().expect("2")).to_f32())
                    .collect()
            }
            Dtype::F64 => {
                *converted.entry("f64").or_default() += 1;
                data.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8")) as f32)
                    .collect()
            }
            Dtype::I64 => {
                let v = data
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8")))
                    .collect();
                i64s.insert(name, (shape, v));
                continue;
            }
            other => {
                return Err(bad(
                    path,
                    format!(
                        "tensor {name} has dtype {other:?}; floating-point weights (f32, f16, bf16) are required"
                    ),
                ));
            }
        };
        f32s.insert(name, (shape, values));
    }
    let notes = converted
        .into_iter()
        .map(|(t, n)| format!("{n} tensors converted from {t} to f32"))
        .collect();
    Ok(Tensors {
        path: path.to_path_buf(),
        f32s,
        i64s,
        metadata,
        notes,
    })
}

/// The parameters of `graph` from `t`, checked strictly: every key present with
/// its shape, no key left over (except `num_batches_tracked`, which sets the step
/// count).
pub fn params_from(graph: &Graph, t: &Tensors) -> Result<HostParams> {
    let mut expected: Vec<&str> = graph
        .params
        .iter()
        .chain(&graph.buffers)
        .map(|p| p.name.as_str())
        .collect();
    expected.sort_unstable();
    let mut take = |spec: &crate::model::graph::ParamSpec| -> Result<Vec<f32>> {
        let (shape, v) = t.f32s.get(&spec.name).ok_or_else(|| {
            bad(
                &t.path,
                format!(
                    "missing key {} (shape {:?}) for {}",
                    spec.name,
                    spec.shape,
                    graph.spec.name()
                ),
            )
        })?;
        if *shape != spec.shape {
            return Err(bad(
                &t.path,
                format!(
                    "{}: shape {:?} in the file, {} needs {:?}",
                    spec.name,
                    shape,
                    graph.spec.name(),
                    spec.shape
                ),
            ));
        }
        let bad_values = v.iter().filter(|x| !x.is_finite()).count();
        if bad_values > 0 {
            return Err(bad(
                &t.path,
                format!(
                    "{} holds {bad_values} NaN or infinite value(s): the weights are unusable (saved from a diverged run?)",
                    spec.name
                ),
            ));
        }
        Ok(v.clone())
    };
    let params = graph
        .params
        .iter()
        .map(&mut take)
        .collect::<Result<Vec<_>>>()?;
    let buffers = graph
        .buffers
        .iter()
        .map(&mut take)
        .collect::<Result<Vec<_>>>()?;
    if let Some(extra) = t
        .f32s
        .keys()
        .find(|k| expected.binary_search(&k.as_str()).is_err())
    {
        return Err(bad(
            &t.path,
            format!(
                "unexpected key {extra} (shape {:?}): not part of {}",
                t.f32s[extra].0,
                graph.spec.name()
            ),
        ));
    }
    if let Some(extra) = t.i64s.keys().find(|k| !k.ends_with("num_batches_tracked")) {
        return Err(bad(&t.path, format!("unexpected integer tensor {extra}")));
    }
    let steps = t
        .i64s
        .values()
        .filter_map(|(_, v)| v.first().copied())
        .max()
        .unwrap_or(0)
        .max(0) as u64;
    Ok(HostParams {
        params,
        buffers,
        steps,
    })
}

/// Writes `values` (state_dict key → shape and f32 data) plus optional i64
/// scalars to `path` atomically (temporary file in the same folder, then rename).
pub fn write(
    path: &Path,
    values: &[(String, Vec<usize>, Vec<f32>)],
    counters: &[(String, i64)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let f32_bytes: Vec<Vec<u8>> = values
        .iter()
        .map(|(_, _, v)| bytemuck::cast_slice(v).to_vec())
        .collect();
    let i64_bytes: Vec<[u8; 8]> = counters.iter().map(|(_, v)| v.to_le_bytes()).collect();
    let mut views: Vec<(String, TensorView<'_>)> =
        Vec::with_capacity(values.len() + counters.len());
    for ((name, shape, _), bytes) in values.iter().zip(&f32_bytes) {
        let v = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
        views.push((name.clone(), v));
    }
    for ((name, _), bytes) in counters.iter().zip(&i64_bytes) {
        let v = TensorView::new(Dtype::I64, vec![], bytes)
            .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
        views.push((name.clone(), v));
    }
    let data = safetensors::serialize(views, Some(metadata))
        .map_err(|e| bad(path, format!("cannot serialise: {e}")))?;
    crate::files::write_atomic(path, &data)
}

/// Saves a model's parameters and running statistics under its state_dict keys,
/// with `num_batches_tracked` for every batch norm and `config` in the metadata.
pub fn save(
    path: &Path,
    graph: &Graph,
    host: &HostParams,
    config: &serde_json::Value,
) -> Result<()> {
    host.check(graph)?;
    let values: Vec<(String, Vec<usize>, Vec<f32>)> = graph
        .params
        .iter()
        .zip(&host.params)
        .chain(graph.buffers.iter().zip(&host.buffers))
        .map(|(s, v)| (s.name.clone(), s.shape.clone(), v.clone()))
        .collect();
    let counters: Vec<(String, i64)> = graph
        .buffers
        .iter()
        .filter_map(|b| b.name.strip_suffix(".running_mean"))
        .map(|bn| (format!("{bn}.num_batches_tracked"), host.steps as i64))
        .collect();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert(CONFIG_KEY.to_string(), config.to_string());
    write(path, &values, &counters, meta)
}

/// The metadata of a safetensors file, read from its header alone.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| bad(path, "not a safetensors file (shorter than its header)"))?;
    let n = u64::from_le_bytes(n);
    // safetensors' own bound on a header's size.
    if n > 100_000_000 {
        return Err(bad(
            path,
            format!("header of {n} bytes: not a safetensors file"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|_| bad(path, "truncated safetensors header"))?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| bad(path, format!("bad safetensors header: {e}")))?;
    Ok(v.get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// The reslab configuration stored in a checkpoint's metadata, if any.
pub fn config_of(t: &Tensors) -> Result<Option<serde_json::Value>> {
    match t.metadata.get(CONFIG_KEY) {
        None => Ok(None),
        Some(s) => serde_json::from_str(s).map(Some).map_err(|e| {
            bad(
                &t.path,
                format!("metadata {CONFIG_KEY:?} is not valid JSON: {e}"),
            )
        }),
    }
}

impl Tensors {
    /// The tensors whose keys start with `prefix`, with the prefix removed.
    pub fn with_prefix(&self, prefix: &str) -> Tensors {
        fn strip<V: Clone>(m: &BTreeMap<String, V>, prefix: &str) -> BTreeMap<String, V> {
            m.iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
                .collect()
        }
        Tensors {
            path: self.path.clone(),
            f32s: strip(&self.f32s, prefix),
            i64s: strip(&self.i64s, prefix),
            metadata: self.metadata.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// The model a state_dict holds. `base` gives family, depth and residual or
/// plain (plain and option-A residual nets have the same tensors); width, input
/// channels, classes, pre-activation and the shortcut option are read from the
/// tensors: A when a block that changes shape has no `downsample.*`, B when only
/// those blocks have one, C when every block has one.
pub fn infer_spec(base: &crate::model::ModelSpec, t: &Tensors) -> Result<crate::model::ModelSpec> {
    use crate::model::{Graph, Shortcut};
    let need = |k: &str| {
        t.shape(k)
            .ok_or_else(|| bad(&t.path, format!("missing key {k}: not a ResNet state_dict")))
    };
    let conv1 = need("conv1.weight")?;
    let fc = need("fc.weight")?;
    if conv1.len() != 4 || fc.len() != 2 {
        return Err(bad(
            &t.path,
            format!("conv1.weight {conv1:?} / fc.weight {fc:?} are not conv and linear weights"),
        ));
    }
    let k = conv1[2];
    let family_k = match base.family {
        crate::model::Family::Cifar => 3,
        crate::model::Family::Imagenet => 7,
    };
    if k != family_k {
        return Err(bad(
            &t.path,
            format!(
                "conv1 is {k}x{k}; the {:?} family's stem is {family_k}x{family_k} (another model? see --model/--family)",
                base.family
            ),
        ));
    }
    let mut spec = base.clone();
    spec.width = conv1[0];
    spec.in_channels = conv1[1];
    spec.classes = fc[0];
    spec.preact = t.f32s.contains_key("bn_final.weight");
    // Which blocks carry a projection?
    let blocks = Graph::build(
        &spec.twin(true),
        64.max(spec.min_input()),
        64.max(spec.min_input()),
    )?
    .blocks;
    let has = |b: &crate::model::Block| {
        t.f32s
            .contains_key(&format!("{}.downsample.0.weight", b.name))
    };
    let changing: Vec<bool> = blocks.iter().map(|b| b.downsample).collect();
    let projected: Vec<bool> = blocks.iter().map(has).collect();
    spec.shortcut = if projected.iter().all(|&p| p) {
        Shortcut::C
    } else if projected.iter().zip(&changing).all(|(p, c)| p == c) {
        Shortcut::B
    } else if !projected.iter().any(|&p| p) {
        Shortcut::A
    } else {
        return Err(bad(
            &t.path,
            "projection shortcuts on some blocks that keep their shape but not all: not option A, B or C",
        ));
    };
    if !spec.residual && spec.shortcut != Shortcut::A {
        return Err(bad(
            &t.path,
            format!(
                "{} has projection shortcuts; a plain net has none",
                base.name()
            ),
        ));
    }
    spec.validate()?;
    Ok(spec)
}
