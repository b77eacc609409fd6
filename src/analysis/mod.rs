//! The analyses reslab exists for: probes of F(x) during training, the
//! degradation experiment, redundant blocks, lesions and loss landscapes.

pub mod activations;
pub mod degradation;
pub mod landscape;
pub mod lesion;

pub mod redundancy;

use std::path::Path;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::model::{Graph, HostParams};
use crate::train::{CheckpointMeta, ModelCard};

/// A model trained by `reslab train`: its card (spec, input, normalisation,
/// data set), graph and parameters.
pub struct Trained {
    pub card: ModelCard,
    pub graph: Graph,
    pub params: HostParams,
}

/// Reads a checkpoint written by `reslab train` (its metadata says what the
/// model is and how its inputs were normalised).
pub fn load_trained(path: &Path) -> Result<Trained> {
    let t = checkpoint::read(path)?;
    let meta = CheckpointMeta::of(&t)?.ok_or_else(|| {
        Error::file(
            path,
            "no reslab metadata: the analyses take checkpoints written by reslab train",
        )
    })?;
    let card = meta.card;
    let graph = Graph::build(&card.model, card.input[1], card.input[2])?;
    let params = checkpoint::params_from(&graph, &t)?;
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
