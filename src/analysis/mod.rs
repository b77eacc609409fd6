//! The analyses reslab exists for: the degradation experiment, redundant
//! blocks, lesions, loss landscapes and the probes of a finished net — on
//! checkpoints reslab wrote or state_dicts saved by PyTorch.

pub mod activations;
pub mod degradation;
pub mod landscape;
pub mod lesion;
pub mod probe;
pub mod redundancy;

use std::path::Path;

use crate::checkpoint::{self, Tensors};
use crate::data::{Dataset, IMAGENET_MEAN, IMAGENET_STD};
use crate::error::{Error, Result};
use crate::model::{Family, Graph, HostParams, ModelSpec};
use crate::train::{CheckpointMeta, ModelCard};

/// A trained model: its card (spec, input, normalisation, class names, data
/// set), graph and parameters.
pub struct Trained {
    pub card: ModelCard,
    pub graph: Graph,
    pub params: HostParams,
}

/// What a user says of a checkpoint that carries no reslab metadata (a
/// state_dict saved by PyTorch): which model it holds (family, depth and
/// kind; width, channels, classes, pre-activation and shortcut option are
/// read from its tensors), how its inputs were normalised and its class
/// names. For a checkpoint with metadata, each given value must agree with it.
#[derive(Debug, Clone, Default)]
pub struct Describe {
    /// `resnet20`, `resnet18`, `plain56`, …
    pub model: Option<String>,
    pub family: Option<Family>,
    /// Per-channel normalisation; by default ImageNet's for a 3-channel net
    /// of the ImageNet family (torchvision's), else the data set's own.
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
    /// Default: the data set's, when it has as many classes as the net.
    pub classes: Option<Vec<String>>,
}

/// A checkpoint read and checked, before its model is built.
pub struct Opened {
    pub tensors: Tensors,
    /// Its reslab metadata, card checked; `None` for a foreign state_dict.
    pub meta: Option<CheckpointMeta>,
}

/// Reads a checkpoint (safetensors or PyTorch's `.pt`/`.pth`) and its
/// metadata, if it has any.
pub fn open(path: &Path) -> Result<Opened> {
    let tensors = checkpoint::read(path)?;
    let meta = CheckpointMeta::of(&tensors)?;
    Ok(Opened { tensors, meta })
}

impl Opened {
    /// The model card of a checkpoint written by reslab.
    pub fn card(&self) -> Option<&ModelCard> {
        self.meta.as_ref().map(|m| &m.card)
    }

    fn path(&self) -> &Path {
        &self.tensors.path
    }

    /// The model, for inputs of `data`: from the metadata (and `d` must agree
    /// with it), or from `d` and the tensors, with the data set's
    /// normalisation and class names where `d` gives none.
    pub fn trained(&self, d: &Describe, data: &Dataset) -> Result<Trained> {
        let bad = |m: String| Error::file(self.path(), m);
        let card = match self.card() {
            Some(card) => {
                if let Some(name) = &d.model {
                    let base = ModelSpec::parse(name, d.family)?;
                    let m = &card.model;
                    if (base.family, base.depth, base.residual) != (m.family, m.depth, m.residual) {
                        return Err(bad(format!(
                            "--model {name} contradicts its metadata, which holds a {} ({:?} family)",
                            m.name(),
                            m.family
                        )));
                    }
                }
                for (flag, given, has) in [
                    ("--mean", &d.mean, &card.mean),
                    ("--std", &d.std, &card.std),
                ] {
                    if let Some(v) = given
                        && v != has
                    {
                        return Err(bad(format!(
                            "{flag} {v:?} contradicts its metadata's {has:?}"
                        )));
                    }
                }
                if let Some(c) = &d.classes
                    && c != &card.classes
                {
                    return Err(bad(format!(
                        "the class names given ({}) contradict its metadata's ({})",
                        c.join(", "),
                        card.classes.join(", ")
                    )));
                }
                card.clone()
            }
            None => {
                let name = d.model.as_deref().ok_or_else(|| {
                    bad("no reslab metadata: say which model it holds with --model (resnet20, resnet18, …), and how it normalised its inputs with --mean/--std".into())
                })?;
                let base = ModelSpec::parse(name, d.family)?;
                let spec = checkpoint::infer_spec(&base, &self.tensors)?;
                let c = data.test.c;
                // torchvision's ImageNet nets expect ImageNet's normalisation;
                // other nets, that of the data they are shown.
                let imagenet = spec.family == Family::Imagenet && c == 3;
                let (mean, std) = if imagenet {
                    (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec())
                } else {
                    (data.mean.clone(), data.std.clone())
                };
                let card = ModelCard {
                    input: [c, data.test.h, data.test.w],
                    mean: d.mean.clone().unwrap_or(mean),
                    std: d.std.clone().unwrap_or(std),
                    classes: d.classes.clone().unwrap_or_else(|| {
                        if data.class_names.len() == spec.classes {
                            data.class_names.clone()
                        } else {
                            (0..spec.classes).map(|k| format!("class {k}")).collect()
                        }
                    }),
                    data: data.name.clone(),
                    model: spec,
                };
                card.validate().map_err(|e| bad(e.to_string()))?;
                card
            }
        };
        // The weights first: a checkpoint that is broken is refused as such,
        // whatever the data.
        let [c, h, w] = card.input;
        let graph = Graph::build(&card.model, h, w)?;
        let params = checkpoint::params_from(&graph, &self.tensors)?;
        if (data.test.c, data.test.h, data.test.w) != (c, h, w) {
            return Err(bad(format!(
                "takes {c}x{h}x{w} images; the {} test images are {}x{}x{}",
                data.name, data.test.c, data.test.h, data.test.w
            )));
        }
        if data.class_names.len() > card.model.classes {
            return Err(bad(format!(
                "predicts {} classes; {} has {}",
                card.model.classes,
                data.name,
                data.class_names.len()
            )));
        }
        Ok(Trained {
            card,
            graph,
            params,
        })
    }
}

/// Reads a checkpoint written by `reslab train` (its metadata says what the
/// model is and how its inputs were normalised).
pub fn load_trained(path: &Path) -> Result<Trained> {
    let o = open(path)?;
    let card = o.card().cloned().ok_or_else(|| {
        Error::file(
            path,
            "no reslab metadata: say what it holds (--model, --mean, --std) where a command takes those",
        )
    })?;
    let graph = Graph::build(&card.model, card.input[1], card.input[2])?;
    let params = checkpoint::params_from(&graph, &o.tensors)?;
    Ok(Trained {
        card,
        graph,
        params,
    })
}

/// Writes `value` as pretty JSON to `dir/summary.json` (creating `dir`).
pub fn write_summary(dir: &Path, value: &impl serde::Serialize) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let json = serde_json::to_string_pretty(value).map_err(|e| Error::invalid(e.to_string()))?;
    crate::files::write_atomic(&dir.join("summary.json"), json.as_bytes())
}
