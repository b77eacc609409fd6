use std::path::PathBuf;

use anyhow::{Result, bail};
use reslab::analysis::landscape::{self, Directions};
use reslab::data::Normalize;

use super::common::{DataArgs, DescribeArgs, bar, gpu};

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint: written by `reslab train`, or a state_dict saved by
    /// PyTorch (.safetensors, .pt, .pth; say what it holds with --model).
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    describe: DescribeArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Points per axis.
    #[arg(long, default_value_t = 21)]
    grid: usize,
    /// The grid spans [-range, range] along each direction.
    #[arg(long, default_value_t = 1.0)]
    range: f64,
    /// Test images each point is evaluated on.
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// 2 (a plane of two directions) or 1 (a line).
    #[arg(long, default_value_t = 2)]
    dims: usize,
    /// Interpolate toward this checkpoint instead (α from -0.5 to 1.5 unless --range).
    #[arg(long)]
    to: Option<PathBuf>,
    /// Seed of the random directions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "runs/landscape")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    if !(a.range.is_finite() && a.range > 0.0) {
        bail!("--range must be a positive number, not {}", a.range);
    }
    if a.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let range = match (&a.to, a.dims) {
        (Some(_), _) if a.range == 1.0 => (-0.5, 1.5),
        (_, 1 | 2) => (-a.range, a.range),
        _ => bail!("--dims must be 1 or 2"),
    };
    landscape::check(a.grid, range, a.to.is_none() && a.dims == 2)?;
    let opened = reslab::analysis::open(&a.checkpoint)?;
    let describe = a.describe.get()?;
    let d = a.data.load_for(opened.card(), &describe)?;
    let t = opened.trained(&describe, &d)?;
    let (dirs, range) = match &a.to {
        Some(p) => {
            // The other end is the same model; a foreign one is described
            // by the same flags.
            let other = reslab::analysis::open(p)?.trained(&describe, &d)?;
            if other.card.model != t.card.model {
                bail!(
                    "{} holds a {}, not a {}",
                    p.display(),
                    other.card.model.name(),
                    t.card.model.name()
                );
            }
            (Directions::Toward(other.params), range)
        }
        None if a.dims == 1 => (Directions::Line { seed: a.seed }, range),
        None => (Directions::Plane { seed: a.seed }, range),
    };
    let gpu = gpu()?;
    let norm = Normalize {
        mean: t.card.mean.clone(),
        std: t.card.std.clone(),
    };
    let b = bar(
        0,
        "landscape {bar:30} {pos}/{len} points [{elapsed_precise} < {eta_precise}]",
    );
    let s = landscape::run(
        &gpu,
        &t.graph,
        &t.params,
        &d.test,
        &norm,
        a.samples,
        a.grid,
        range,
        &dirs,
        &mut |done, total| {
            b.set_length(total as u64);
            b.set_position(done as u64);
        },
    )?;
    b.finish_and_clear();
    landscape::write(&a.out, &s)?;
    reslab_plot::landscape(&a.out, &s)?;
    let centre = s.loss[s.loss.len() / 2][s.xs.len() / 2];
    let (lo, hi) = s
        .loss
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    println!(
        "{} {} landscape: {} points on {} images in {:.1} s; loss {lo:.4} to {hi:.4}, {centre:.4} at the centre",
        s.model,
        s.mode,
        s.xs.len() * s.loss.len(),
        s.images,
        s.seconds
    );
    println!("wrote {}", a.out.display());
    Ok(())
}
