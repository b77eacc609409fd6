//! Structure-aware fuzzing of every parser and loader that reads a user's
//! file, and of model building from random sizes, on stable Rust: valid seed
//! files mutated in their headers, shapes, dtypes and lengths (and byte by
//! byte), each input fed to the same functions the commands call.
//!
//! An input fails the run when the code under test panics or asks for more
//! than [`MAX_ALLOC`] bytes at once (the process then aborts, naming the
//! target and the input's number). Inputs are derived from the target's seed
//! and their number, so `RESLAB_FUZZ_ONLY=target:N` replays one.
//!
//! `RESLAB_FUZZ_ITERS` inputs per target (default 3000, a smoke run for CI).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use reslab::checkpoint;
use reslab::data::{cifar, idx};
use reslab::model::memory::{Allowance, MemoryNeed, check_fits};
use reslab::model::{Family, Graph, HostParams, Mode, ModelSpec, Shortcut};
use reslab::rng::Rng;
use reslab::train::{CheckpointMeta, ModelCard, TrainConfig};

/// No single allocation for any input may ask for more (the image decoder's
/// own limit is 256 MiB).
const MAX_ALLOC: usize = 300 << 20;

struct Capped;

thread_local! {
    /// (target, input number) of what this thread is running.
    static CURRENT: Cell<(&'static str, usize)> = const { Cell::new(("", 0)) };
}

/// Writes the refusal without allocating, then aborts.
fn over_cap(size: usize) -> ! {
    let (t, n) = CURRENT.with(|c| c.get());
    let mut buf = [0u8; 200];
    let mut w = &mut buf[..];
    let _ = write!(
        w,
        "\nfuzz: {t} input {n} asked for {size} bytes (cap {MAX_ALLOC}); replay with RESLAB_FUZZ_ONLY={t}:{n}\n"
    );
    let len = 200 - w.len();
    let _ = std::io::stderr().write_all(&buf[..len]);
    std::process::abort();
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// only addition is a size check before it.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOC {
            over_cap(layout.size());
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOC {
            over_cap(layout.size());
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOC {
            over_cap(new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

fn iterations() -> usize {
    std::env::var("RESLAB_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// What one target did with its inputs.
#[derive(Default, Debug)]
struct Tally {
    accepted: usize,
    refused: usize,
    panics: Vec<String>,
}

/// Runs `check` on `iterations()` inputs made by `make(rng, n)`: accepted
/// (`Ok`) or refused with an error are both fine, a panic is not.
fn fuzz(
    name: &'static str,
    make: impl Fn(&mut Rng, usize) -> Vec<u8>,
    check: impl Fn(&[u8]) -> reslab::Result<()>,
) {
    let only: Option<usize> = std::env::var("RESLAB_FUZZ_ONLY").ok().and_then(|v| {
        let (t, n) = v.split_once(':')?;
        if t == name {
            n.parse().ok()
        } else {
            Some(usize::MAX)
        }
    });
    if only == Some(usize::MAX) {
        return;
    }
    let root = Rng::new(0xF022 ^ name.len() as u64 ^ (name.as_bytes()[0] as u64) << 8);
    let mut tally = Tally::default();
    let start = std::time::Instant::now();
    let range = match only {
        Some(n) => n..n + 1,
        None => 0..iterations(),
    };
    let count = range.len();
    for n in range {
        let mut rng = root.fork(n as u64);
        let input = make(&mut rng, n);
        CURRENT.with(|c| c.set((name, n)));
        match catch_unwind(AssertUnwindSafe(|| check(&input))) {
            Ok(Ok(())) => tally.accepted += 1,
            Ok(Err(_)) => tally.refused += 1,
            Err(_) => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{name}-{n}.bin"));
                let _ = std::fs::write(&file, &input);
                tally
                    .panics
                    .push(format!("input {n} (saved as {})", file.display()));
            }
        }
    }
    CURRENT.with(|c| c.set(("", 0)));
    eprintln!(
        "fuzz {name}: {count} inputs in {:.1} s: {} accepted, {} refused, {} panics",
        start.elapsed().as_secs_f64(),
        tally.accepted,
        tally.refused,
        tally.panics.len()
    );
    assert!(
        tally.panics.is_empty(),
        "{name}: panics on {:?} (replay one with RESLAB_FUZZ_ONLY={name}:N)",
        tally.panics
    );
}

// ---------------------------------------------------------------- mutators

const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    3,
    0x7f,
    0xff,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
    1 << 40,
];

/// A number that is often at an edge: 0, 1, a power of two, all ones, huge.
fn edgy(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => INTERESTING[rng.below(INTERESTING.len())],
        1 => 1u64 << rng.below(64),
        2 => rng.below(64) as u64,
        _ => rng.next_u64() >> rng.below(64),
    }
}

/// One to four blind mutations of `b`: flips, edgy integers, inserted,
/// deleted and duplicated ranges, truncation.
fn bytes_mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = INTERESTING[rng.below(INTERESTING.len())] as u8;
            }
            2 if len >= 8 => {
                let i = rng.below(len - 7);
                let v = edgy(rng);
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let k = [1, 2, 4, 8][rng.below(4)];
                b[i..i + k].copy_from_slice(&bytes[..k]);
            }
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                b.splice(i..i, ins);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                b.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let dup = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, dup);
            }
            6 => b.truncate(rng.below(len + 1)),
            _ => {}
        }
    }
}

/// A JSON value changed in one place: a number made edgy (or negative, or
/// fractional), a string or list emptied, a key removed, a type swapped.
fn json_mutate(rng: &mut Rng, v: &mut serde_json::Value) {
    use serde_json::Value;
    // Walk down to a random node, as a JSON pointer.
    let mut pointer = String::new();
    for _ in 0..rng.below(5) {
        let step = match v.pointer(&pointer) {
            Some(Value::Object(m)) if !m.is_empty() => m
                .keys()
                .nth(rng.below(m.len()))
                .map(|k| k.replace('~', "~0").replace('/', "~1")),
            Some(Value::Array(a)) if !a.is_empty() => Some(rng.below(a.len()).to_string()),
            _ => None,
        };
        match step {
            Some(s) => pointer = format!("{pointer}/{s}"),
            None => break,
        }
    }
    let Some(node) = v.pointer_mut(&pointer) else {
        return;
    };
    *node = match (rng.below(8), &*node) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let mut m = m.clone();
            let k = m.keys().nth(rng.below(m.len())).cloned().unwrap();
            m.remove(&k);
            Value::Object(m)
        }
        (1, Value::Array(a)) => {
            let mut a = a.clone();
            if rng.below(2) == 0 {
                a.clear();
            } else {
                a.extend(a.clone());
            }
            Value::Array(a)
        }
        (2, _) => serde_json::json!(edgy(rng)),
        (3, _) => serde_json::json!((edgy(rng) as i64).wrapping_neg()),
        (4, _) => serde_json::json!(rng.normal() * 10f64.powi(rng.below(40) as i32)),
        (5, _) => Value::Null,
        (6, _) => serde_json::json!("x"),
        _ => serde_json::json!(rng.below(100)),
    };
}

// ------------------------------------------------------------ safetensors

/// A checkpoint of `spec` as reslab writes it (with a card when `card`).
fn checkpoint_bytes(spec: &ModelSpec, side: usize, card: bool) -> Vec<u8> {
    let graph = Graph::build(spec, side, side).unwrap();
    let host = HostParams::init(&graph, 1);
    let c = spec.in_channels;
    let meta = CheckpointMeta {
        card: ModelCard {
            model: spec.clone(),
            input: [c, side, side],
            mean: vec![0.5; c],
            std: vec![0.25; c],
            classes: (0..spec.classes).map(|k| format!("class {k}")).collect(),
            data: "synthetic".into(),
        },
        config: None,
        step: 3,
        epoch: 0,
    };
    // Removed with the checkpoint in it when `dir` drops, also on a panic.
    let dir = tempfile::Builder::new()
        .prefix("reslab-fuzz-seed-")
        .tempdir()
        .unwrap();
    let path = dir
        .path()
        .join(format!("{}-{card}.safetensors", spec.name()));
    let json = serde_json::to_value(&meta).unwrap();
    checkpoint::save(&path, &graph, &host, &json).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    if !card {
        let t = checkpoint::read(&path).unwrap();
        let values: Vec<_> = t
            .f32s
            .iter()
            .map(|(k, (s, v))| (k.clone(), s.clone(), v.clone()))
            .collect();
        checkpoint::write(&path, &values, &[], Default::default()).unwrap();
        bytes = std::fs::read(&path).unwrap();
    }
    bytes
}

fn small(name: &str, f: impl FnOnce(&mut ModelSpec)) -> ModelSpec {
    let mut s = ModelSpec::parse(name, None).unwrap();
    s.width = 4;
    f(&mut s);
    s
}

/// Splits safetensors bytes into header JSON and data.
fn st_split(b: &[u8]) -> Option<(serde_json::Value, Vec<u8>)> {
    let n = u64::from_le_bytes(b.get(..8)?.try_into().ok()?) as usize;
    let h = serde_json::from_slice(b.get(8..8usize.checked_add(n)?)?).ok()?;
    Some((h, b[8 + n..].to_vec()))
}

fn st_join(h: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let hb = serde_json::to_vec(h).unwrap();
    let mut out = (hb.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&hb);
    out.extend_from_slice(data);
    out
}

/// A safetensors file changed where parsers trust it: a tensor's shape,
/// dtype or offsets, the reslab card, the header's length, the data.
fn st_mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let Some((mut h, mut data)) = st_split(seed) else {
        return seed.to_vec();
    };
    let keys: Vec<String> = h
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    for _ in 0..1 + rng.below(3) {
        let k = &keys[rng.below(keys.len())];
        let op = rng.below(9);
        let Some(header) = h.as_object_mut() else {
            break;
        };
        match op {
            0..3 => {
                let Some(t) = header.get_mut(k).and_then(|t| t.as_object_mut()) else {
                    continue;
                };
                match op {
                    0 => {
                        let dims = t
                            .get("shape")
                            .and_then(|s| s.as_array())
                            .map_or(0, |a| a.len());
                        let shape: Vec<u64> = if dims > 0 && rng.below(3) > 0 {
                            let mut v: Vec<u64> = (0..dims)
                                .map(|i| t["shape"][i].as_u64().unwrap_or(1))
                                .collect();
                            v[rng.below(dims)] = edgy(rng);
                            v
                        } else {
                            (0..rng.below(6)).map(|_| edgy(rng) % 4096).collect()
                        };
                        t.insert("shape".into(), serde_json::json!(shape));
                    }
                    1 => {
                        const DT: [&str; 9] = [
                            "F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "F8_E4M3",
                        ];
                        t.insert("dtype".into(), serde_json::json!(DT[rng.below(DT.len())]));
                    }
                    _ => {
                        let mut o: Vec<u64> = (0..2)
                            .map(|i| {
                                t.get("data_offsets")
                                    .and_then(|o| o[i].as_u64())
                                    .unwrap_or(0)
                            })
                            .collect();
                        o[rng.below(2)] = edgy(rng) % (data.len() as u64 + 64);
                        t.insert("data_offsets".into(), serde_json::json!(o));
                    }
                }
            }
            3 => {
                header.remove(k);
            }
            4 => {
                // The reslab card (or a made-up one on a file without).
                let meta = header
                    .entry("__metadata__")
                    .or_insert_with(|| serde_json::json!({}));
                let Some(meta) = meta.as_object_mut() else {
                    continue;
                };
                let card = meta
                    .get(checkpoint::CONFIG_KEY)
                    .and_then(|c| c.as_str())
                    .and_then(|c| serde_json::from_str(c).ok());
                let mut v = card.unwrap_or_else(|| serde_json::json!({"card": {}, "step": 1}));
                for _ in 0..1 + rng.below(3) {
                    json_mutate(rng, &mut v);
                }
                meta.insert(
                    checkpoint::CONFIG_KEY.into(),
                    serde_json::json!(v.to_string()),
                );
            }
            5 => {
                // Values that are not finite, in place.
                if data.len() >= 4 {
                    let i = rng.below(data.len() / 4) * 4;
                    let v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX][rng.below(4)];
                    data[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            6 => json_mutate(rng, &mut h),
            7 => {
                let n = rng.below(data.len() + 1);
                data.truncate(n);
            }
            _ => {
                let mut b = st_join(&h, &data);
                bytes_mutate(rng, &mut b);
                return b;
            }
        }
    }
    st_join(&h, &data)
}

#[test]
fn fuzz_safetensors_checkpoints() {
    let seeds = [
        checkpoint_bytes(&small("resnet8", |_| {}), 8, true),
        checkpoint_bytes(
            &small("resnet8", |s| {
                s.preact = true;
                s.shortcut = Shortcut::B;
            }),
            8,
            false,
        ),
        checkpoint_bytes(&small("resnet14", |s| s.shortcut = Shortcut::C), 8, true),
        checkpoint_bytes(&small("plain8", |s| s.in_channels = 1), 8, true),
        checkpoint_bytes(
            &small("resnet18", |s| {
                s.classes = 7;
                s.width = 2;
            }),
            32,
            false,
        ),
    ];
    let bases: Vec<ModelSpec> = ["resnet8", "resnet14", "plain8", "resnet18", "resnet50"]
        .iter()
        .map(|n| ModelSpec::parse(n, None).unwrap())
        .collect();
    let path = Path::new("fuzz.safetensors");
    fuzz(
        "safetensors",
        |rng, _| {
            let k = rng.below(seeds.len());
            st_mutate(rng, &seeds[k])
        },
        |bytes| {
            // Accepted: the file parses. What follows may refuse it too.
            let t = checkpoint::parse(path, bytes)?;
            // What eval, lesion, landscape and resume do with a card ...
            if let Ok(Some(meta)) = CheckpointMeta::of(&t)
                && let Ok(g) =
                    Graph::build(&meta.card.model, meta.card.input[1], meta.card.input[2])
            {
                let _ = checkpoint::params_from(&g, &t);
            }
            // ... and what infer does without one.
            for base in &bases {
                if let Ok(spec) = checkpoint::infer_spec(base, &t) {
                    let side = if spec.family == Family::Imagenet {
                        32
                    } else {
                        8
                    };
                    if let Ok(g) = Graph::build(&spec, side, side) {
                        let _ = checkpoint::params_from(&g, &t);
                    }
                }
            }
            Ok(())
        },
    );
}

// -------------------------------------------------------------------- npy

fn npy_mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let hlen = u16::from_le_bytes([seed[8], seed[9]]) as usize;
    let header = String::from_utf8_lossy(&seed[10..10 + hlen]).to_string();
    let body = &seed[10 + hlen..];
    let mut header = match rng.below(5) {
        0 => {
            let dims: Vec<String> = (0..rng.below(6)).map(|_| edgy(rng).to_string()).collect();
            let shape = if dims.len() == 1 {
                format!("({},)", dims[0])
            } else {
                format!("({})", dims.join(", "))
            };
            let at = header.find("'shape'").unwrap();
            let end = header[at..].find(')').map_or(header.len(), |e| at + e + 1);
            format!("{}'shape': {shape}{}", &header[..at], &header[end..])
        }
        1 => {
            const D: [&str; 7] = [
                "'<f4'", "'<f8'", "'>f4'", "'<i8'", "'|u1'", "'<f2'", "'=f4'",
            ];
            header.replace("'<f4'", D[rng.below(D.len())])
        }
        2 => header.replace("False", "True"),
        3 => header.replace("'shape'", "'shapes'"),
        _ => header,
    };
    if rng.below(4) == 0 {
        let mut b = header.into_bytes();
        bytes_mutate(rng, &mut b);
        header = String::from_utf8_lossy(&b).to_string();
    }
    let mut out = b"\x93NUMPY".to_vec();
    match rng.below(8) {
        0 => {
            out.extend_from_slice(&[2, 0]);
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        1 => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&(edgy(rng) as u16).to_le_bytes());
        }
        _ => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        }
    }
    out.extend_from_slice(header.as_bytes());
    let cut = if rng.below(3) == 0 {
        rng.below(body.len() + 1)
    } else {
        body.len()
    };
    out.extend_from_slice(&body[..cut]);
    if rng.below(4) == 0 {
        bytes_mutate(rng, &mut out);
    }
    out
}

#[test]
fn fuzz_npy() {
    let seeds: Vec<Vec<u8>> = [vec![2, 3, 4, 5], vec![7], vec![1, 1, 8, 8], vec![]]
        .into_iter()
        .map(|shape: Vec<usize>| {
            let n = shape.iter().product();
            reslab::npy::encode(&reslab::npy::Array {
                shape,
                data: (0..n).map(|i| i as f32).collect(),
            })
        })
        .collect();
    fuzz(
        "npy",
        |rng, _| {
            let k = rng.below(seeds.len());
            npy_mutate(rng, &seeds[k])
        },
        |b| reslab::npy::parse(Path::new("fuzz.npy"), b).map(|_| ()),
    );
}

// -------------------------------------------------------------------- IDX

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

#[test]
fn fuzz_idx_raw_and_gzip() {
    let seeds = [
        idx_bytes(&[12, 4, 4], &[7; 192]),
        idx_bytes(&[12], &[1; 12]),
        idx_bytes(&[3, 2, 2, 2], &[0; 24]),
    ];
    fuzz(
        "idx",
        |rng, _| {
            let mut b = seeds[rng.below(seeds.len())].clone();
            match rng.below(3) {
                0 => {
                    // Dimensions: count and sizes.
                    b[3] = rng.below(7) as u8;
                    let i = 4 + 4 * rng.below(4);
                    if i + 4 <= b.len() {
                        b[i..i + 4].copy_from_slice(&(edgy(rng) as u32).to_be_bytes());
                    }
                }
                1 => b[2] = [0x08, 0x09, 0x0d, 0x0e][rng.below(4)],
                _ => bytes_mutate(rng, &mut b),
            }
            if rng.below(2) == 0 {
                // A gzip stream, sometimes with more data behind the header's,
                // sometimes cut short or damaged itself.
                if rng.below(3) == 0 {
                    b.extend(std::iter::repeat_n(0, rng.below(1 << 20)));
                }
                let mut z = gzip(&b);
                if rng.below(3) == 0 {
                    bytes_mutate(rng, &mut z);
                }
                z
            } else {
                b
            }
        },
        |b| idx::parse(Path::new("fuzz-idx"), b).map(|_| ()),
    );
}

// ------------------------------------------------------------------ CIFAR

#[test]
fn fuzz_cifar_batches() {
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend((0..3072).map(|i| (i % 251) as u8));
        r
    };
    let seed: Vec<u8> = (0..3).flat_map(|k| record(k as u8)).collect();
    fuzz(
        "cifar",
        |rng, _| {
            let mut b = seed.clone();
            if rng.below(2) == 0 {
                let i = rng.below(3) * 3073;
                b[i] = edgy(rng) as u8;
            } else {
                bytes_mutate(rng, &mut b);
            }
            b
        },
        |b| cifar::parse(Path::new("fuzz.bin"), b).map(|_| ()),
    );
}

// ----------------------------------------------------------------- images

#[test]
fn fuzz_image_decoding() {
    let img = image::RgbImage::from_fn(13, 9, |x, y| image::Rgb([x as u8 * 19, y as u8 * 27, 99]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let grey = image::GrayImage::from_pixel(5, 7, image::Luma([80]));
    let mut png_grey = Vec::new();
    grey.write_to(
        &mut std::io::Cursor::new(&mut png_grey),
        image::ImageFormat::Png,
    )
    .unwrap();
    let seeds = [png, jpeg, png_grey];
    fuzz(
        "image",
        |rng, _| {
            let k = rng.below(seeds.len());
            let mut b = seeds[k].clone();
            match rng.below(3) {
                // The PNG header's width and height (IHDR at 16..24), or a
                // JPEG frame's (after the SOF0 marker).
                0 if k != 1 => {
                    let at = 16 + 4 * rng.below(2);
                    b[at..at + 4].copy_from_slice(&(edgy(rng) as u32).to_be_bytes());
                }
                0 => {
                    if let Some(i) = b.windows(2).position(|w| w == [0xff, 0xc0]) {
                        let at = i + 5 + 2 * rng.below(2);
                        b[at..at + 2].copy_from_slice(&(edgy(rng) as u16).to_be_bytes());
                    }
                }
                _ => bytes_mutate(rng, &mut b),
            }
            b
        },
        |b| {
            let img = reslab::data::image::decode_bytes(Path::new("fuzz.png"), b)?;
            let _ = img.resize_exact(8, 8, image::imageops::FilterType::Triangle);
            Ok(())
        },
    );
}

// ---------------------------------------------------- config.json (resume)

#[test]
fn fuzz_run_configs() {
    let mut cifar = TrainConfig {
        model: ModelSpec::parse("resnet50", None).unwrap(),
        steps: Some(100),
        ..TrainConfig::default()
    };
    cifar.data.name = "cifar10".into();
    cifar.data.dir = Some("/data/cifar".into());
    cifar.data.train_limit = Some(5);
    let cfgs = [TrainConfig::default(), cifar];
    let seeds: Vec<serde_json::Value> = cfgs
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let allowance = Allowance {
        max_buffer: 2 << 30,
        max_binding: 128 << 20,
        budget: Some(8 << 30),
        device_is_host: true,
    };
    fuzz(
        "config",
        |rng, _| {
            let mut v = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(3) {
                json_mutate(rng, &mut v);
            }
            let mut b = serde_json::to_vec_pretty(&v).unwrap();
            if rng.below(5) == 0 {
                bytes_mutate(rng, &mut b);
            }
            b
        },
        |b| {
            // What --resume does with a run's config.json before training.
            let cfg: TrainConfig =
                serde_json::from_slice(b).map_err(|e| reslab::Error::invalid(e.to_string()))?;
            cfg.validate()?;
            let side = cfg.data.synthetic.side.clamp(cfg.model.min_input(), 512);
            let g = Graph::build(&cfg.model, side, side)?;
            check_fits(&g, cfg.batch, Mode::Train, true, &allowance)?;
            Ok(())
        },
    );
}

// ------------------------------------------------------ model sizes (property)

#[test]
fn models_of_random_sizes_build_or_are_refused() {
    let allowance = Allowance {
        max_buffer: 4 << 30,
        max_binding: 1 << 30,
        budget: Some(16 << 30),
        device_is_host: false,
    };
    fuzz(
        "model-sizes",
        |rng, _| {
            // Eight words that describe a spec: flags, depth, width,
            // channels, classes, input side, batch. Mostly plausible values,
            // often at or past an edge.
            let mut pick = |plausible: u64| {
                if rng.below(4) == 0 {
                    edgy(rng)
                } else {
                    rng.below(plausible as usize + 1) as u64
                }
            };
            let depth = if pick(1) == 0 {
                pick(1100).wrapping_mul(6).wrapping_add(2)
            } else {
                [18, 34, 50, 101, 152][pick(4) as usize % 5]
            };
            let words = [
                pick(u64::MAX >> 1),
                depth,
                pick(5000),
                pick(1100),
                pick(1 << 21),
                pick(20_000),
                pick(5000),
                0,
            ];
            words.iter().flat_map(|w| w.to_le_bytes()).collect()
        },
        |b| {
            let word = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
            let family = if word(0) & 1 == 0 {
                Family::Cifar
            } else {
                Family::Imagenet
            };
            let spec = ModelSpec {
                family,
                depth: word(1) as usize % 8000,
                residual: word(0) & 2 == 0,
                shortcut: [Shortcut::A, Shortcut::B, Shortcut::C][(word(0) >> 2) as usize % 3],
                preact: word(0) & 32 == 0,
                width: word(2) as usize,
                in_channels: word(3) as usize,
                classes: word(4) as usize,
                zero_gamma: word(0) & 64 == 0,
            };
            spec.validate()?;
            let side = word(5) as usize % 20_000;
            // Accepted: the graph builds. Fitting a device is its own question.
            let g = Graph::build(&spec, side, side)?;
            let batch = word(6) as usize;
            if let Ok(n) = MemoryNeed::of(&g, batch, Mode::Train, true) {
                assert!(n.device >= n.params, "{n:?}");
            }
            if let Ok(n) = check_fits(&g, batch.max(1), Mode::Eval, false, &allowance) {
                assert!(n.refusal(&allowance).is_none(), "{n:?}");
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------- PyTorch files

/// The pickle inside a `torch.save` archive (stored, so its bytes are there).
fn pickle_of(archive: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let name = (0..z.len())
        .filter_map(|i| {
            z.name_for_index(i)
                .and_then(|r| r.ok())
                .map(|n| n.to_string())
        })
        .find(|n| n.ends_with("data.pkl"))
        .unwrap();
    let mut f = z.by_name(&name).unwrap();
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v).unwrap();
    v
}

#[test]
fn fuzz_pytorch_checkpoints() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/foreign");
    let archives: Vec<Vec<u8>> = [
        "resnet20.pth",
        "resnet18.pth",
        "resnet50.pth",
        "hostile.pth",
    ]
    .iter()
    .map(|f| std::fs::read(dir.join(f)).unwrap())
    .collect();
    let pickles: Vec<Vec<u8>> = archives.iter().map(|a| pickle_of(a)).collect();
    // The pickles themselves, mutated (the archive's checksum would stop a
    // mutated pickle before the reader saw it) ...
    fuzz(
        "pickle",
        |rng, _| {
            let mut b = pickles[rng.below(pickles.len())].clone();
            bytes_mutate(rng, &mut b);
            b
        },
        |b| {
            reslab::pth::pickle::load(b).map_err(reslab::Error::invalid)?;
            Ok(())
        },
    );
    // ... and whole archives, mutated and cut.
    fuzz(
        "pth",
        |rng, _| {
            let mut b = archives[rng.below(archives.len())].clone();
            bytes_mutate(rng, &mut b);
            b
        },
        |b| checkpoint::parse(Path::new("fuzz.pth"), b).map(|_| ()),
    );
}
