//! Flags shared by several subcommands: the model and the data set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use reslab::data::folder::FolderSpec;
use reslab::data::synthetic::SyntheticSpec;
use reslab::data::{DataSpec, Dataset};
use reslab::model::{Family, ModelSpec, Shortcut};

#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// resnetN or plainN: 6n+2 for the CIFAR family (resnet20, plain56, …);
    /// 18, 34, 50, 101, 152 for torchvision's ImageNet family.
    #[arg(long, default_value = "resnet20")]
    pub model: String,
    /// Override the family a depth implies.
    #[arg(long)]
    pub family: Option<Family>,
    /// Shortcut option: A (zero-pad), B (projection where the shape changes), C (projection everywhere).
    #[arg(long)]
    pub shortcut: Option<Shortcut>,
    /// Full pre-activation blocks (BN-ReLU-conv; degradation: the default).
    #[arg(long)]
    pub preact: bool,
    /// Channels of the first stage (CIFAR default 16, ImageNet 64; degradation: CIFAR 8).
    #[arg(long)]
    pub width: Option<usize>,
    /// Start every residual branch's last BN at gamma = 0.
    #[arg(long)]
    pub zero_gamma: bool,
}

impl ModelArgs {
    /// The family `--model` (and `--family`) name.
    pub fn family_of(&self) -> Result<Family> {
        Ok(ModelSpec::parse(&self.model, self.family)?.family)
    }

    /// The spec for a data set with `channels` and `classes`.
    pub fn spec(&self, channels: usize, classes: usize) -> Result<ModelSpec> {
        let mut s = ModelSpec::parse(&self.model, self.family)?;
        if let Some(sc) = self.shortcut {
            s.shortcut = sc;
        }
        if let Some(w) = self.width {
            s.width = w;
        }
        s.preact = self.preact;
        s.zero_gamma = self.zero_gamma;
        s.in_channels = channels;
        s.classes = classes;
        s.validate()?;
        Ok(s)
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct DataArgs {
    /// synthetic (embedded, generated), fashion-mnist, mnist, cifar10, or
    /// folder (your own images: --data-dir DIR holding train/<class>/ and
    /// val/<class>/, or <class>/ folders split by --val-fraction).
    #[arg(long, default_value = "synthetic")]
    pub data: String,
    /// Folder of the data files (Fashion-MNIST is found in /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Image side in pixels: of the synthetic set [default: 16], or the size
    /// images of a folder are cropped to [default: 32; ImageNet family: 224].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Synthetic set or folder: channels (synthetic 1 to 4; images 1 or 3)
    /// [default: 3].
    #[arg(long)]
    pub channels: Option<usize>,
    /// Synthetic set: training and test images.
    #[arg(long, default_value_t = 10_000)]
    pub train_images: usize,
    #[arg(long, default_value_t = 2_000)]
    pub test_images: usize,
    /// Use only the first N training images (any data set).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Folder: the shorter side images are resized to before the centre crop
    /// [default: the image size; ImageNet family: image size × 256/224, as
    /// torchvision].
    #[arg(long)]
    pub resize: Option<usize>,
    /// Folder with one level of class folders: the share of each class that
    /// makes the test split.
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Folder: decode images as batches need them even when the set would
    /// fit in memory.
    #[arg(long)]
    pub stream: bool,
    /// The family of the net the data feeds (sets the folder defaults).
    #[arg(skip)]
    pub family: Option<Family>,
}

impl DataArgs {
    pub fn spec(&self) -> DataSpec {
        let imagenet = self.family == Some(Family::Imagenet);
        let folder_side = self.image_size.unwrap_or(if imagenet { 224 } else { 32 });
        DataSpec {
            name: self.data.clone(),
            dir: self.data_dir.clone(),
            synthetic: SyntheticSpec {
                side: self.image_size.unwrap_or(16),
                channels: self.channels.unwrap_or(3),
                train: self.train_images,
                test: self.test_images,
                seed: 0,
            },
            train_limit: self.train_limit,
            folder: FolderSpec {
                side: folder_side,
                resize: self
                    .resize
                    .or(imagenet.then(|| (folder_side as f64 * 256.0 / 224.0).round() as usize)),
                channels: self.channels.unwrap_or(3),
                val_fraction: self.val_fraction,
                stream: self.stream,
            },
        }
    }

    /// These flags for a net of `family`.
    pub fn for_family(&self, family: Family) -> DataArgs {
        DataArgs {
            family: Some(family),
            ..self.clone()
        }
    }

    pub fn load(&self) -> Result<Dataset> {
        reslab::data::load(&self.spec())
            .with_context(|| format!("loading data set {:?}", self.data))
    }

    /// The data set to analyse a checkpoint on: the one asked for, or, when
    /// none was (the default synthetic set), the one its card names; image
    /// size and channels not given are those the card's net takes; the
    /// folder defaults follow the family of the net (`describe`'s `--model`
    /// for a foreign checkpoint).
    pub fn load_for(
        &self,
        card: Option<&reslab::train::ModelCard>,
        describe: &reslab::analysis::Describe,
    ) -> Result<Dataset> {
        let mut d = self.clone();
        if let Some(c) = card
            && d.data == "synthetic"
            && c.data != "synthetic"
        {
            d.data = c.data.clone();
        }
        if let Some(c) = card {
            d.image_size = d.image_size.or(Some(c.input[1]));
            d.channels = d.channels.or(Some(c.input[0]));
        }
        d.family = match (card, &describe.model) {
            (Some(c), _) => Some(c.model.family),
            (None, Some(m)) => ModelSpec::parse(m, describe.family).ok().map(|s| s.family),
            (None, None) => None,
        };
        d.load()
    }
}

/// What a checkpoint without reslab's metadata holds (a state_dict saved by
/// PyTorch); for one with metadata, each flag given must agree with it.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DescribeArgs {
    /// The model a PyTorch checkpoint holds: family, depth and kind
    /// (resnet20, plain56, resnet18, …); width, channels, classes,
    /// pre-activation and shortcut option are read from its tensors.
    #[arg(long)]
    pub model: Option<String>,
    /// Override the family the depth implies.
    #[arg(long)]
    pub family: Option<Family>,
    /// Per-channel normalisation its inputs were trained with (default:
    /// ImageNet's for a 3-channel net of the ImageNet family, as
    /// torchvision's; else the data set's own statistics).
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// A file of its class names, one per line (default: the data set's).
    #[arg(long)]
    pub class_names: Option<PathBuf>,
}

impl DescribeArgs {
    pub fn get(&self) -> Result<reslab::analysis::Describe> {
        let classes = match &self.class_names {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading class names from {}", p.display()))?;
                let names: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                if names.is_empty() {
                    anyhow::bail!("{}: no class names in it", p.display());
                }
                Some(names)
            }
        };
        Ok(reslab::analysis::Describe {
            model: self.model.clone(),
            family: self.family,
            mean: self.mean.clone(),
            std: self.std.clone(),
            classes,
        })
    }
}

/// Opens the GPU, naming the adapter on stderr.
pub fn gpu() -> Result<reslab::Gpu> {
    let gpu = reslab::Gpu::new()
        .context("opening the GPU (set WGPU_BACKEND=vulkan|gl|metal|dx12 to choose)")?;
    let i = gpu.adapter_info();
    eprintln!("device: {} ({})", i.name, i.backend);
    Ok(gpu)
}

/// The training recipe, shared by `train` and the analysis commands.
#[derive(clap::Args, Clone, Debug)]
pub struct RecipeArgs {
    /// Passes over the training set (ignored when --steps is given)
    /// [default: 1; degradation: --steps 180].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Length of a run in SGD steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Images per step [default: 128; degradation: 64].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate [default: 0.1].
    #[arg(long)]
    pub lr: Option<f32>,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub wd: f32,
    #[arg(long)]
    pub nesterov: bool,
    /// step (÷10 at 50% and 75%, as in the paper), cosine or constant.
    #[arg(long, default_value = "step")]
    pub schedule: reslab::train::Schedule,
    /// Steps of linear learning-rate warm-up [default: 0; degradation: 20].
    #[arg(long)]
    pub warmup: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Turn off cropping and flipping.
    #[arg(long)]
    pub no_augment: bool,
    /// Steps between lines of metrics.jsonl.
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
}

/// A command's defaults for the recipe flags left out.
pub struct RecipeDefaults {
    pub epochs: usize,
    /// Used when neither --steps nor --epochs is given.
    pub steps: Option<usize>,
    pub batch: usize,
    pub lr: f32,
    pub warmup: usize,
}

impl RecipeDefaults {
    /// Those of `reslab train`.
    pub const TRAIN: Self = RecipeDefaults {
        epochs: 1,
        steps: None,
        batch: 128,
        lr: 0.1,
        warmup: 0,
    };
}

impl RecipeArgs {
    /// The run configuration for `model` on the data set `data`, with the
    /// defaults of `reslab train`.
    pub fn config(
        &self,
        model: ModelSpec,
        data: &DataArgs,
        probe_every: usize,
    ) -> reslab::train::TrainConfig {
        self.config_or(model, data, probe_every, &RecipeDefaults::TRAIN)
    }

    /// The run configuration, with `d` for the flags left out.
    pub fn config_or(
        &self,
        model: ModelSpec,
        data: &DataArgs,
        probe_every: usize,
        d: &RecipeDefaults,
    ) -> reslab::train::TrainConfig {
        let steps = match (self.steps, self.epochs) {
            (Some(s), _) => Some(s),
            (None, Some(_)) => None,
            (None, None) => d.steps,
        };
        reslab::train::TrainConfig {
            model,
            data: data.spec(),
            epochs: self.epochs.unwrap_or(d.epochs),
            steps,
            batch: self.batch.unwrap_or(d.batch),
            lr: self.lr.unwrap_or(d.lr),
            momentum: self.momentum,
            weight_decay: self.wd,
            nesterov: self.nesterov,
            schedule: self.schedule,
            warmup: self.warmup.unwrap_or(d.warmup),
            seed: self.seed,
            log_every: self.log_every,
            augment: self.no_augment.then_some(reslab::data::Augment::NONE),
            probe_every,
        }
    }
}

/// A progress bar on a terminal (hidden otherwise) with the house style.
pub fn bar(len: usize, template: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(len as u64);
    b.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    b
}
