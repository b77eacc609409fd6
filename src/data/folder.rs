//! A person's own images: a folder of class subfolders, torchvision's
//! ImageFolder layout — `DIR/train/<class>/*` and `DIR/val/<class>/*` (or
//! `test/`), or `DIR/<class>/*` split by a fraction. PNG and JPEG files, in
//! sorted order, classes numbered by their sorted names.
//!
//! Every image is brought to `side` × `side` pixels as torchvision does:
//! its shorter side resized to `resize` (bilinear), then the centre cropped.
//! A set that fits comfortably in memory is decoded once, on loading; a
//! larger one stays on disk and each image is decoded when a batch needs it
//! (on the loader's thread, for training), so the whole set is never held.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::data::{Pixels, Split};
use crate::error::{Error, Result};

/// How to read a folder of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderSpec {
    /// Side of the square images the model takes.
    pub side: usize,
    /// The shorter side before the centre crop (torchvision's `Resize`);
    /// `side` when `None`.
    pub resize: Option<usize>,
    /// 1 (grey) or 3 (RGB) channels.
    pub channels: usize,
    /// With one level of class folders: the share of each class's files, the
    /// last ones in sorted order, that make the test split.
    pub val_fraction: f64,
    /// Decode images when batches need them, even when the set would fit in
    /// memory.
    pub stream: bool,
}

impl Default for FolderSpec {
    fn default() -> Self {
        FolderSpec {
            side: 32,
            resize: None,
            channels: 3,
            val_fraction: 0.2,
            stream: false,
        }
    }
}

/// The images of one split on disk, decoded on demand.
#[derive(Debug)]
pub struct Files {
    paths: Vec<PathBuf>,
    spec: FolderSpec,
    /// The first image that could not be decoded when a batch needed it.
    failure: Mutex<Option<String>>,
}

impl Files {
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Image `i` as [C, side, side] bytes. A file that cannot be decoded
    /// gives zeros and is recorded (see [`Files::failure`]).
    pub fn decode(&self, i: usize) -> Vec<u8> {
        match transform(&self.paths[i], &self.spec) {
            Ok(v) => v,
            Err(e) => {
                if let Ok(mut f) = self.failure.lock()
                    && f.is_none()
                {
                    *f = Some(e.to_string());
                }
                vec![0; self.spec.channels * self.spec.side * self.spec.side]
            }
        }
    }

    /// Why an image could not be decoded, if one could not.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// The first `n` files.
    pub fn first(&self, n: usize) -> Files {
        Files {
            paths: self.paths[..n.min(self.paths.len())].to_vec(),
            spec: self.spec.clone(),
            failure: Mutex::new(None),
        }
    }
}

/// `path` decoded, resized and centre-cropped to [C, side, side] bytes.
pub fn transform(path: &Path, spec: &FolderSpec) -> Result<Vec<u8>> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let img = crate::data::image::decode(path, reader)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let side = spec.side;
    let resize = spec.resize.unwrap_or(side).max(side);
    // The shorter side to `resize`, the other in proportion (rounded).
    let (rw, rh) = if w <= h {
        (resize, ((h * resize) as f64 / w as f64).round() as usize)
    } else {
        (((w * resize) as f64 / h as f64).round() as usize, resize)
    };
    let img = if (rw, rh) == (w, h) {
        img
    } else {
        img.resize_exact(rw as u32, rh as u32, image::imageops::FilterType::Triangle)
    };
    let (x0, y0) = ((rw - side) / 2, (rh - side) / 2);
    let img = img.crop_imm(x0 as u32, y0 as u32, side as u32, side as u32);
    let planes: Vec<Vec<u8>> = if spec.channels == 1 {
        vec![img.to_luma8().into_raw()]
    } else {
        let rgb = img.to_rgb8().into_raw();
        (0..3)
            .map(|k| rgb.iter().skip(k).step_by(3).copied().collect())
            .collect()
    };
    Ok(planes.concat())
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn sorted_entries(dir: &Path, folders: bool) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            if folders {
                p.is_dir()
            } else {
                p.is_file() && is_image(p)
            }
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The class names (sorted folder names) and, per class, its image files.
fn classes_in(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    for c in sorted_entries(dir, true)? {
        let name = c
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let files = sorted_entries(&c, false)?;
        if files.is_empty() {
            return Err(Error::file(&c, "a class folder without PNG or JPEG images"));
        }
        out.push((name, files));
    }
    if out.is_empty() {
        return Err(Error::file(
            dir,
            "no class folders: expected DIR/<class>/*.png, or DIR/train/<class>/… and DIR/val/<class>/…",
        ));
    }
    Ok(out)
}

/// The training and test splits of `dir` and the class names.
pub fn load_dir(dir: &Path, spec: &FolderSpec) -> Result<(Split, Split, Vec<String>)> {
    if spec.channels != 1 && spec.channels != 3 {
        return Err(Error::invalid(format!(
            "images give 1 or 3 channels, not {}",
            spec.channels
        )));
    }
    let limit = crate::data::image::MAX_IMAGE_SIDE as usize;
    if spec.side < 4 || spec.side > limit || spec.resize.is_some_and(|r| r > limit) {
        return Err(Error::invalid(format!(
            "image side {} (resize {:?}): give 4 to {limit} pixels",
            spec.side, spec.resize
        )));
    }
    let val = ["val", "test"]
        .iter()
        .map(|v| dir.join(v))
        .find(|p| p.is_dir());
    let (train, test) = match (dir.join("train").is_dir(), val) {
        (true, Some(v)) => {
            let (tr, te) = (classes_in(&dir.join("train"))?, classes_in(&v)?);
            let names: Vec<&String> = tr.iter().map(|c| &c.0).collect();
            let other: Vec<&String> = te.iter().map(|c| &c.0).collect();
            if names != other {
                return Err(Error::file(
                    dir,
                    format!(
                        "train/ has classes {names:?} but {} has {other:?}",
                        v.display()
                    ),
                ));
            }
            (tr, te)
        }
        (true, None) => {
            return Err(Error::file(
                dir,
                "has train/ but no val/ (or test/) beside it",
            ));
        }
        (false, _) => {
            if !(spec.val_fraction > 0.0 && spec.val_fraction < 1.0) {
                return Err(Error::invalid(format!(
                    "--val-fraction {} must lie strictly between 0 and 1",
                    spec.val_fraction
                )));
            }
            let all = classes_in(dir)?;
            let mut tr = Vec::new();
            let mut te = Vec::new();
            for (name, files) in all {
                let n_val = ((files.len() as f64 * spec.val_fraction).round() as usize)
                    .clamp(1, files.len().saturating_sub(1).max(1));
                if files.len() < 2 {
                    return Err(Error::file(
                        dir.join(&name),
                        "one image cannot be split into training and test images",
                    ));
                }
                let (a, b) = files.split_at(files.len() - n_val);
                tr.push((name.clone(), a.to_vec()));
                te.push((name, b.to_vec()));
            }
            (tr, te)
        }
    };
    let names: Vec<String> = train.iter().map(|c| c.0.clone()).collect();
    Ok((split_of(train, spec)?, split_of(test, spec)?, names))
}

/// The most bytes of decoded images kept in memory: a quarter of what the
/// machine has available, at most 2 GiB.
fn in_memory_limit() -> u64 {
    crate::files::memory_budget()
        .map(|b| b / 4)
        .unwrap_or(u64::MAX)
        .min(2 << 30)
}

fn split_of(classes: Vec<(String, Vec<PathBuf>)>, spec: &FolderSpec) -> Result<Split> {
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for (k, (_, files)) in classes.into_iter().enumerate() {
        labels.extend(std::iter::repeat_n(k as u32, files.len()));
        paths.extend(files);
    }
    let per = spec.channels * spec.side * spec.side;
    let bytes = (paths.len() as u64).saturating_mul(per as u64);
    let images = if spec.stream || bytes > in_memory_limit() {
        // Each file's header read now, so a foreign file is refused before
        // training rather than in the middle of it.
        for p in &paths {
            image::ImageReader::open(p)
                .map_err(|e| Error::io(p, e))?
                .with_guessed_format()
                .map_err(|e| Error::io(p, e))?
                .into_dimensions()
                .map_err(|e| Error::file(p, format!("not a readable image: {e}")))?;
        }
        Pixels::Files(Arc::new(Files {
            paths,
            spec: spec.clone(),
            failure: Mutex::new(None),
        }))
    } else {
        let mut v = Vec::with_capacity(paths.len() * per);
        for p in &paths {
            v.extend(transform(p, spec)?);
        }
        Pixels::Memory(v)
    };
    Ok(Split {
        images,
        labels,
        c: spec.channels,
        h: spec.side,
        w: spec.side,
    })
}
