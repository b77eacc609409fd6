use std::path::PathBuf;

use anyhow::Result;
use reslab::analysis::probe;
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
    /// Test images to probe (each on its own).
    #[arg(long, default_value_t = 500)]
    samples: usize,
    #[arg(long, default_value_t = 50)]
    batch: usize,
    #[arg(long, default_value = "runs/probe")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    if a.batch == 0 || a.samples == 0 {
        anyhow::bail!("--batch and --samples must be at least 1");
    }
    let opened = reslab::analysis::open(&a.checkpoint)?;
    let describe = a.describe.get()?;
    let d = a.data.load_for(opened.card(), &describe)?;
    let t = opened.trained(&describe, &d)?;
    let gpu = gpu()?;
    let norm = Normalize {
        mean: t.card.mean.clone(),
        std: t.card.std.clone(),
    };
    let b = bar(
        0,
        "probes {bar:30} {pos}/{len} images [{elapsed_precise} < {eta_precise}]",
    );
    let s = probe::run(
        &gpu,
        &t.graph,
        &t.params,
        &d.test,
        &norm,
        a.samples,
        a.batch,
        &mut |done, total| {
            b.set_length(total as u64);
            b.set_position(done as u64);
        },
    )?;
    b.finish_and_clear();
    probe::write(&a.out, &s)?;
    reslab_plot::probe(&a.out, &s)?;
    println!(
        "{}: probes over {} test images (BN in eval mode)",
        s.model, s.images
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9}",
        "block", "r mean", "r std", "r min", "r max"
    );
    for p in &s.blocks {
        println!(
            "{:<12} {:>9.4} {:>9.4} {:>9.4} {:>9.4}{}",
            p.block,
            p.r.mean,
            p.r.std,
            p.r.min,
            p.r.max,
            if p.downsample { "  (downsampling)" } else { "" }
        );
    }
    println!(
        "\n{:<22} {:>12} {:>9}",
        "3x3 layer", "response std", "spread"
    );
    for l in &s.layers {
        println!(
            "{:<22} {:>12.4} {:>9.4}",
            l.layer, l.response_std.mean, l.response_std.std
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
