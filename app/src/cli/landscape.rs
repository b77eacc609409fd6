use std::path::PathBuf;

use anyhow::{Result, bail};
use reslab::analysis::landscape::{self, Directions};
use reslab::analysis::load_trained;
use reslab::data::Normalize;

use super::common::{DataArgs, bar, gpu};

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint written by `reslab train`.
    #[arg(long)]
    checkpoint: PathBuf,
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
    let t = load_trained(&a.checkpoint)?;
    let mut data = a.data.clone();
    if data.data == "synthetic" && t.card.data != "synthetic" {
        data.data = t.card.data.clone();
    }
    let d = data.load()?;
    if [d.test.c, d.test.h, d.test.w] != t.card.input {
        bail!(
            "{} takes {:?} images; {} test images differ",
            a.checkpoint.display(),
            t.card.input,
            d.name
        );
    }
    let (dirs, range) = match &a.to {
        Some(p) => {
            let other = load_trained(p)?;
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
