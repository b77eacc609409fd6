//! Data sets: the embedded synthetic set, MNIST and Fashion-MNIST (IDX, raw or
//! gzip), CIFAR-10 (binary batches), and the loader that shuffles, augments
//! and normalises batches on a thread of its own.

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod image;
pub mod loader;
pub mod synthetic;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use loader::{Augment, Batch, Loader, Normalize};

/// Where a split's pixels are: decoded in memory, or in image files decoded
/// when a batch needs them (a large folder of images).
#[derive(Debug, Clone)]
pub enum Pixels {
    /// NCHW bytes (0–255), image after image.
    Memory(Vec<u8>),
    Files(Arc<folder::Files>),
}

impl Pixels {
    /// The bytes, when they are in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Pixels::Memory(v) => Some(v),
            Pixels::Files(_) => None,
        }
    }
}

/// Images as bytes (0–255), NCHW, with their labels.
#[derive(Debug, Clone)]
pub struct Split {
    pub images: Pixels,
    pub labels: Vec<u32>,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Split {
    /// A split held in memory.
    pub fn in_memory(images: Vec<u8>, labels: Vec<u32>, c: usize, h: usize, w: usize) -> Split {
        Split {
            images: Pixels::Memory(images),
            labels,
            c,
            h,
            w,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Image `i`, [C, H, W] bytes (decoded now when the split is on disk).
    pub fn image(&self, i: usize) -> Cow<'_, [u8]> {
        let n = self.image_len();
        match &self.images {
            Pixels::Memory(v) => Cow::Borrowed(&v[i * n..(i + 1) * n]),
            Pixels::Files(f) => Cow::Owned(f.decode(i)),
        }
    }

    /// Why an image of the split could not be decoded, if one could not.
    pub fn failure(&self) -> Option<String> {
        match &self.images {
            Pixels::Memory(_) => None,
            Pixels::Files(f) => f.failure(),
        }
    }

    /// An error naming the first image that could not be decoded when a
    /// batch needed it (its pixels were zeros in that batch).
    pub fn decoded(&self) -> Result<()> {
        match self.failure() {
            None => Ok(()),
            Some(f) => Err(Error::invalid(format!(
                "an image could not be decoded when a batch needed it: {f}"
            ))),
        }
    }

    /// The first `n` samples (all when n ≥ len).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        let len = self.image_len();
        match &mut self.images {
            Pixels::Memory(v) => v.truncate(n * len),
            Pixels::Files(f) => *f = Arc::new(f.first(n)),
        }
        self.labels.truncate(n);
    }
}

/// A data set with its splits, class names and per-channel statistics of the
/// training images (for normalisation), and the augmentation that suits it.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub train: Split,
    pub test: Split,
    pub class_names: Vec<String>,
    /// Per-channel mean and standard deviation of the training images, in [0, 1] units.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub augment: Augment,
}

/// Which data set to load and how.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataSpec {
    /// `synthetic`, `fashion-mnist`, `mnist` or `cifar10`.
    pub name: String,
    pub dir: Option<PathBuf>,
    /// Synthetic set only: side, channels, sizes of the splits, seed.
    pub synthetic: synthetic::SyntheticSpec,
    /// Only the first N training images (the statistics for normalisation
    /// are those of the whole training split).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// A folder of images only: sizes, channels, split.
    #[serde(default)]
    pub folder: folder::FolderSpec,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            name: "synthetic".into(),
            dir: None,
            synthetic: synthetic::SyntheticSpec::default(),
            train_limit: None,
            folder: folder::FolderSpec::default(),
        }
    }
}

/// The per-channel mean and std of ImageNet's training images (RGB, [0, 1]
/// units), with which torchvision's ResNets are trained.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Names accepted by [`load`].
pub const DATASETS: [&str; 5] = ["synthetic", "fashion-mnist", "mnist", "cifar10", "folder"];

/// Loads a data set, validating every file it reads.
pub fn load(spec: &DataSpec) -> Result<Dataset> {
    let name = spec.name.to_ascii_lowercase();
    let (train, test, classes, augment): (Split, Split, Vec<String>, Augment) = match name.as_str()
    {
        "synthetic" => {
            let (train, test) = synthetic::generate(&spec.synthetic)?;
            let names = synthetic::CLASSES.iter().map(|s| s.to_string()).collect();
            (train, test, names, Augment { pad: 2, flip: true })
        }
        "fashion-mnist" | "mnist" => {
            let dir = match &spec.dir {
                Some(d) => d.clone(),
                None if name == "fashion-mnist" => PathBuf::from(FASHION_MNIST_DIR),
                None => {
                    return Err(Error::invalid(
                        "mnist: give the folder holding the IDX files with --data-dir",
                    ));
                }
            };
            let (train, test) = idx::load_dir(&dir)?;
            let names: Vec<String> = if name == "fashion-mnist" {
                FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
            } else {
                (0..10).map(|d| d.to_string()).collect()
            };
            // Digits are not mirror-symmetric; clothes are.
            let flip = name == "fashion-mnist";
            (train, test, names, Augment { pad: 2, flip })
        }
        "cifar10" | "cifar-10" => {
            let dir = spec
                .dir
                .as_deref()
                .ok_or_else(|| Error::invalid("cifar10: give the folder holding data_batch_1.bin … test_batch.bin with --data-dir"))?;
            let (train, test) = cifar::load_dir(dir)?;
            let names = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
            (train, test, names, Augment { pad: 4, flip: true })
        }
        "folder" => {
            let dir = spec.dir.as_deref().ok_or_else(|| {
                Error::invalid("folder: give the folder of class subfolders with --data-dir")
            })?;
            let (train, test, names) = folder::load_dir(dir, &spec.folder)?;
            // Photographs are not all mirror-symmetric, but flips are what
            // ImageFolder training usually does.
            (train, test, names, Augment { pad: 0, flip: true })
        }
        other => {
            return Err(Error::invalid(format!(
                "unknown data set {other:?}; choose one of {}",
                DATASETS.join(", ")
            )));
        }
    };
    check_labels(&train, classes.len(), "training")?;
    check_labels(&test, classes.len(), "test")?;
    let (mean, std) = channel_stats(&train);
    let mut train = train;
    if let Some(n) = spec.train_limit {
        if n == 0 {
            return Err(Error::invalid("--train-limit must be at least 1"));
        }
        train.truncate(n);
    }
    Ok(Dataset {
        name,
        train,
        test,
        class_names: classes,
        mean,
        std,
        augment,
    })
}

fn check_labels(s: &Split, classes: usize, what: &str) -> Result<()> {
    if let Some(&bad) = s.labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::invalid(format!(
            "{what} label {bad} out of range for {classes} classes"
        )));
    }
    if s.is_empty() {
        return Err(Error::invalid(format!("the {what} split is empty")));
    }
    Ok(())
}

/// Per-channel mean and standard deviation of a split, pixel values in [0, 1]
/// (of at most 2000 images spread over a split on disk).
pub fn channel_stats(s: &Split) -> (Vec<f32>, Vec<f32>) {
    let hw = s.h * s.w;
    let mut sum = vec![0f64; s.c];
    let mut sq = vec![0f64; s.c];
    let step = match s.images {
        Pixels::Memory(_) => 1,
        Pixels::Files(_) => s.len().div_ceil(2000).max(1),
    };
    let picked: Vec<usize> = (0..s.len()).step_by(step).collect();
    for &i in &picked {
        let img = s.image(i);
        for c in 0..s.c {
            for &v in &img[c * hw..(c + 1) * hw] {
                let v = v as f64 / 255.0;
                sum[c] += v;
                sq[c] += v * v;
            }
        }
    }
    let n = (picked.len() * hw).max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|v| (v / n) as f32).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, &m)| ((q / n - (m as f64) * (m as f64)).max(1e-12).sqrt() as f32).max(1e-3))
        .collect();
    (mean, std)
}

/// Reads a whole file, naming it in the error; one larger than the memory
/// this machine has available is refused before reading.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    crate::files::read_whole(path)
}
