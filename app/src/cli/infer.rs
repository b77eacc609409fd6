use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reslab::checkpoint;
use reslab::data::Normalize;
use reslab::model::plan::PlanOptions;
use reslab::model::{Family, Graph, Mode, ModelSpec, Params, Plan};
use reslab::npy;
use reslab::train::{CheckpointMeta, ModelCard};

use super::common::gpu;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Bn {
    /// Running statistics (model.eval()).
    Eval,
    /// Statistics of the input batch (model.train()).
    Train,
}

#[derive(clap::Args)]
pub struct Args {
    /// Family, depth and kind of the net (resnet18, plain56, …); width, channels,
    /// classes and shortcut option are read from the checkpoint.
    #[arg(long)]
    model: String,
    #[arg(long)]
    family: Option<Family>,
    /// A safetensors state_dict (from reslab or PyTorch).
    #[arg(long)]
    checkpoint: PathBuf,
    /// A float32 .npy array [N, C, H, W] (or [C, H, W]), or a PNG/JPEG image.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the logits, a float32 .npy [N, classes].
    #[arg(long)]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "eval")]
    bn: Bn,
    /// Print the K most likely classes of each input.
    #[arg(long)]
    top: Option<usize>,
    /// Image inputs: side to resize to (default: the checkpoint's input size,
    /// else 224 for the ImageNet family and 32 otherwise).
    #[arg(long)]
    size: Option<usize>,
    /// Image inputs: per-channel normalisation (default: the checkpoint's, else
    /// ImageNet's for 3-channel ImageNet-family nets, else 0.5 and 0.5).
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f32>>,
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f32>>,
}

fn is_npy(p: &std::path::Path) -> bool {
    std::fs::File::open(p)
        .ok()
        .and_then(|mut f| {
            let mut b = [0u8; 6];
            std::io::Read::read_exact(&mut f, &mut b).ok()?;
            Some(b == *b"\x93NUMPY")
        })
        .unwrap_or(false)
}

pub fn run(a: Args) -> Result<()> {
    let t = checkpoint::read(&a.checkpoint)?;
    for n in &t.notes {
        eprintln!("note: {}: {n}", a.checkpoint.display());
    }
    let card: Option<ModelCard> = CheckpointMeta::of(&t)?.map(|m| m.card);
    let base = ModelSpec::parse(&a.model, a.family)?;
    let spec = checkpoint::infer_spec(&base, &t)
        .with_context(|| format!("{} does not hold a {}", a.checkpoint.display(), a.model))?;
    if let Some(c) = &card
        && (c.model.family, c.model.depth, c.model.residual)
            != (spec.family, spec.depth, spec.residual)
    {
        bail!(
            "{} holds a {} ({:?} family), not a {}",
            a.checkpoint.display(),
            c.model.name(),
            c.model.family,
            a.model
        );
    }
    let gpu = gpu()?;
    // The plan's size is checked before an image is decoded and resized.
    let fits = |n: usize, h: usize, w: usize| -> Result<Graph> {
        let graph = Graph::build(&spec, h, w)?;
        reslab::model::memory::check_fits_gpu(&gpu, &graph, n, Mode::Eval, false)
            .with_context(|| format!("{}: {n} input(s) of {h}x{w}", a.input.display()))?;
        Ok(graph)
    };
    let (x, n, graph) = if is_npy(&a.input) {
        let arr = npy::read(&a.input)?;
        let (n, c, h, w) = match arr.shape[..] {
            [n, c, h, w] => (n, c, h, w),
            [c, h, w] => (1, c, h, w),
            _ => bail!(
                "{}: shape {:?}; expected [N, C, H, W] or [C, H, W]",
                a.input.display(),
                arr.shape
            ),
        };
        if c != spec.in_channels {
            bail!(
                "{}: shape {:?} has {c} channels, the model takes {}",
                a.input.display(),
                arr.shape,
                spec.in_channels
            );
        }
        if n == 0 {
            bail!("{}: no inputs in the array", a.input.display());
        }
        let graph = fits(n, h, w)?;
        (arr.data, n, graph)
    } else {
        let side = a.size.or(card.as_ref().map(|c| c.input[1])).unwrap_or(
            if spec.family == Family::Imagenet {
                224
            } else {
                32
            },
        );
        let c = spec.in_channels;
        let imagenet = spec.family == Family::Imagenet && c == 3;
        let mean = a
            .mean
            .clone()
            .or(card.as_ref().map(|c| c.mean.clone()))
            .unwrap_or(if imagenet {
                reslab::data::IMAGENET_MEAN.to_vec()
            } else {
                vec![0.5; c]
            });
        let std = a
            .std
            .clone()
            .or(card.as_ref().map(|c| c.std.clone()))
            .unwrap_or(if imagenet {
                reslab::data::IMAGENET_STD.to_vec()
            } else {
                vec![0.5; c]
            });
        if mean.len() != c || std.len() != c {
            bail!("--mean and --std need {c} values each");
        }
        if mean.iter().chain(&std).any(|v| !v.is_finite()) || std.iter().any(|&s| s <= 0.0) {
            bail!("--mean and --std must be finite, and every std positive");
        }
        let graph = fits(1, side, side)?;
        let x = reslab::data::image::load(&a.input, c, side, side, &Normalize { mean, std })?;
        (x, 1, graph)
    };
    if x.iter().any(|v| !v.is_finite()) {
        bail!(
            "{}: the input holds NaN or infinite values",
            a.input.display()
        );
    }
    let host = checkpoint::params_from(&graph, &t)?;
    let params = Params::upload(&gpu, &graph, &host)?;
    let mode = if a.bn == Bn::Train {
        Mode::Train
    } else {
        Mode::Eval
    };
    // Only the logits are read: batch norm (eval) may run in its conv's pass.
    let opts = PlanOptions {
        fuse_bn: reslab::model::plan::fuse_bn_pays(&gpu),
        ..Default::default()
    };
    let plan = Plan::new(&gpu, &graph, &params, n, mode, opts)?;
    plan.run(&x, &vec![0; n], None, false)?;
    let logits = gpu.read(&plan.acts[graph.logits])?;
    if let Some(i) = logits.iter().position(|v| !v.is_finite()) {
        bail!(
            "the logits are not finite ({} for input {}): the checkpoint's weights or statistics are unusable for these inputs",
            logits[i],
            i / spec.classes
        );
    }
    let k = spec.classes;
    if let Some(out) = &a.output {
        npy::write(
            out,
            &npy::Array {
                shape: vec![n, k],
                data: logits.clone(),
            },
        )?;
        eprintln!("wrote logits [{n}, {k}] to {}", out.display());
    }
    if let Some(top) = a.top {
        for (i, row) in logits.chunks(k).enumerate() {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&p, &q| row[q].total_cmp(&row[p]));
            let names: Vec<String> = order
                .iter()
                .take(top)
                .map(|&c| {
                    let name = card
                        .as_ref()
                        .and_then(|cd| cd.classes.get(c).cloned())
                        .unwrap_or_else(|| format!("class {c}"));
                    format!("{name} {:.1}%", 100.0 * (row[c] - m).exp() / z)
                })
                .collect();
            println!("{i}: {}", names.join(", "));
        }
    }
    Ok(())
}
