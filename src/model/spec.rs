//! What a model is: family, depth, residual or plain, shortcut option,
//! activation order, width. Everything else (layers, parameter names, the
//! GPU plan, checkpoint keys) derives from a [`ModelSpec`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// CIFAR-style nets (He et al. 2016 §4.2: 3x3 stem, 3 stages, depth 6n+2) or
/// torchvision's ImageNet nets (7x7/2 stem, max pool, 4 stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Cifar,
    Imagenet,
}

/// How a block's shortcut matches shapes (He et al. 2016 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Shortcut {
    /// Identity; where the shape changes, subsample and zero-pad channels.
    A,
    /// Identity; a 1x1 projection (conv + BN) only where the shape changes.
    B,
    /// A 1x1 projection on every block.
    C,
}

impl std::str::FromStr for Shortcut {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "A" => Ok(Shortcut::A),
            "B" => Ok(Shortcut::B),
            "C" => Ok(Shortcut::C),
            _ => Err(Error::invalid(format!(
                "unknown shortcut option {s:?}; use A, B or C"
            ))),
        }
    }
}

impl std::str::FromStr for Family {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cifar" => Ok(Family::Cifar),
            "imagenet" => Ok(Family::Imagenet),
            _ => Err(Error::invalid(format!(
                "unknown model family {s:?}; use cifar or imagenet"
            ))),
        }
    }
}

/// A model, complete: two equal specs build identical layers and parameter names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelSpec {
    pub family: Family,
    pub depth: usize,
    /// Residual blocks; `false` builds the plain twin (same layers, no shortcut additions).
    pub residual: bool,
    pub shortcut: Shortcut,
    /// Full pre-activation blocks (He et al., Identity Mappings, 2016).
    pub preact: bool,
    /// Channels of the first stage (16 for CIFAR nets, 64 for ImageNet nets).
    pub width: usize,
    pub in_channels: usize,
    pub classes: usize,
    /// The last BN gamma of every residual branch starts at 0 (Goyal et al. 2017).
    pub zero_gamma: bool,
}

/// Depths that name torchvision's ImageNet models.
pub const IMAGENET_DEPTHS: [usize; 5] = [18, 34, 50, 101, 152];

/// The largest nets reslab builds. Far beyond the papers (ResNet-1202, width
/// 16 or 64, 1000 classes), small enough that no size derived from a spec can
/// overflow; whether a net fits the device is checked separately (see
/// [`crate::model::memory`]).
pub mod limits {
    /// CIFAR-family depth 6n+2 with n up to 1000 blocks per stage.
    pub const MAX_CIFAR_DEPTH: usize = 6002;
    /// Channels of the first stage.
    pub const MAX_WIDTH: usize = 4096;
    pub const MAX_IN_CHANNELS: usize = 1024;
    pub const MAX_CLASSES: usize = 1_000_000;
    /// Input images up to this many pixels on a side.
    pub const MAX_INPUT_SIDE: usize = 16_384;
}

impl ModelSpec {
    /// Parses `resnet20`, `plain56`, `resnet18`, … Depths 18, 34, 50, 101 and 152
    /// name the torchvision models unless `family` says otherwise; other depths
    /// must be 6n+2 (CIFAR family). Defaults: shortcut A (CIFAR) or B (ImageNet),
    /// width 16 or 64, 3 input channels, 10 classes (CIFAR) or 1000 (ImageNet).
    pub fn parse(name: &str, family: Option<Family>) -> Result<ModelSpec> {
        let lower = name.to_ascii_lowercase();
        let (residual, digits) = if let Some(d) = lower.strip_prefix("resnet") {
            (true, d)
        } else if let Some(d) = lower.strip_prefix("plain") {
            (false, d)
        } else {
            return Err(Error::invalid(format!(
                "unknown model {name:?}: expected resnetN or plainN (e.g. resnet20, plain56, resnet18)"
            )));
        };
        let depth: usize = digits
            .parse()
            .ok()
            .filter(|&d| d <= limits::MAX_CIFAR_DEPTH)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "model {name:?}: {digits:?} is not a depth (6n+2 up to {}, or one of {IMAGENET_DEPTHS:?})",
                    limits::MAX_CIFAR_DEPTH
                ))
            })?;
        let family = family.unwrap_or(if IMAGENET_DEPTHS.contains(&depth) {
            Family::Imagenet
        } else {
            Family::Cifar
        });
        let spec = match family {
            Family::Cifar => ModelSpec {
                family,
                depth,
                residual,
                shortcut: Shortcut::A,
                preact: false,
                width: 16,
                in_channels: 3,
                classes: 10,
                zero_gamma: false,
            },
            Family::Imagenet => ModelSpec {
                family,
                depth,
                residual,
                shortcut: Shortcut::B,
                preact: false,
                width: 64,
                in_channels: 3,
                classes: 1000,
                zero_gamma: false,
            },
        };
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<()> {
        match self.family {
            Family::Cifar => {
                if self.depth < 8
                    || !(self.depth - 2).is_multiple_of(6)
                    || self.depth > limits::MAX_CIFAR_DEPTH
                {
                    return Err(Error::invalid(format!(
                        "CIFAR-family depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, …, {}), got {}",
                        limits::MAX_CIFAR_DEPTH,
                        self.depth
                    )));
                }
            }
            Family::Imagenet => {
                if !IMAGENET_DEPTHS.contains(&self.depth) {
                    return Err(Error::invalid(format!(
                        "ImageNet-family depth must be one of {IMAGENET_DEPTHS:?}, got {}",
                        self.depth
                    )));
                }
            }
        }
        if self.width == 0 || self.in_channels == 0 || self.classes == 0 {
            return Err(Error::invalid(format!(
                "width ({}), input channels ({}) and classes ({}) must be positive",
                self.width, self.in_channels, self.classes
            )));
        }
        for (what, v, max) in [
            ("width", self.width, limits::MAX_WIDTH),
            ("input channels", self.in_channels, limits::MAX_IN_CHANNELS),
            ("classes", self.classes, limits::MAX_CLASSES),
        ] {
            if v > max {
                return Err(Error::invalid(format!(
                    "{what} {v} is above reslab's limit of {max}"
                )));
            }
        }
        Ok(())
    }

    /// `resnet20`, `plain56-preact`, … (as in run names and plot legends).
    pub fn name(&self) -> String {
        let kind = if self.residual { "resnet" } else { "plain" };
        let mut s = format!("{kind}{}", self.depth);
        if self.preact {
            s.push_str("-preact");
        }
        s
    }

    /// The same net with (`true`) or without shortcut additions.
    pub fn twin(&self, residual: bool) -> ModelSpec {
        ModelSpec {
            residual,
            ..self.clone()
        }
    }

    /// Blocks per stage and whether they are bottlenecks.
    pub fn stages(&self) -> (Vec<usize>, bool) {
        match self.family {
            Family::Cifar => (vec![(self.depth - 2) / 6; 3], false),
            Family::Imagenet => match self.depth {
                18 => (vec![2, 2, 2, 2], false),
                34 => (vec![3, 4, 6, 3], false),
                50 => (vec![3, 4, 6, 3], true),
                101 => (vec![3, 4, 23, 3], true),
                _ => (vec![3, 8, 36, 3], true),
            },
        }
    }

    /// Smallest input side the net accepts.
    pub fn min_input(&self) -> usize {
        match self.family {
            Family::Cifar => 4,
            Family::Imagenet => 32,
        }
    }
}
