use std::path::PathBuf;

use anyhow::Result;

use crate::gui::Launch;
use crate::gui::view::OpenForm;

#[derive(clap::Args, Default)]
pub struct Args {
    /// Run folders to open beside the nets: of `reslab train`, or the
    /// output folder of degradation, redundancy, lesion or landscape.
    #[arg(value_name = "RUN_DIR")]
    runs: Vec<PathBuf>,
    /// Open this checkpoint in place of the fresh nets: reslab's, or a
    /// PyTorch state_dict (.pt, .pth, .safetensors) described by --model.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The model a PyTorch checkpoint holds (resnet20, resnet18, …).
    #[arg(long)]
    model: Option<String>,
    /// Per-channel normalisation its inputs were trained with.
    #[arg(long)]
    mean: Option<String>,
    #[arg(long)]
    std: Option<String>,
    /// The data set of the run panel (synthetic, fashion-mnist, mnist,
    /// cifar10, folder).
    #[arg(long)]
    data: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Image side of the synthetic set or a folder of images.
    #[arg(long)]
    image_size: Option<usize>,
    /// Start with a preset list of nets: `degradation` (plain-20, plain-56,
    /// resnet-20, resnet-56 with the recipe of `reslab degradation`).
    #[arg(long)]
    preset: Option<String>,
}

pub fn run(a: Args) -> Result<()> {
    let open = a.checkpoint.map(|p| OpenForm {
        path: p.to_string_lossy().into_owned(),
        model: a.model.unwrap_or_default(),
        mean: a.mean.unwrap_or_default(),
        std: a.std.unwrap_or_default(),
    });
    if let Some(o) = &open {
        // Mistakes in the flags are reported here, not in the window.
        o.describe().map_err(anyhow::Error::msg)?;
    }
    for r in &a.runs {
        crate::gui::runs::OpenedRun::open_all(r)
            .map_err(|e| anyhow::anyhow!("cannot open the run: {e}"))?;
    }
    let degradation = match a.preset.as_deref() {
        None => false,
        Some("degradation") => true,
        Some(p) => anyhow::bail!("--preset {p:?}: the one preset is \"degradation\""),
    };
    crate::gui::run(Launch {
        degradation,
        data: a.data,
        data_dir: a.data_dir.map(|d| d.to_string_lossy().into_owned()),
        image_size: a.image_size,
        open,
        runs: a.runs,
    })
}
