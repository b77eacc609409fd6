use std::path::PathBuf;

use anyhow::Result;
use reslab::analysis::lesion;
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
    /// Test images to evaluate on (default: all).
    #[arg(long)]
    samples: Option<usize>,
    /// Most blocks removed together (those of smallest r_b).
    #[arg(long, default_value_t = 8)]
    max_k: usize,
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[arg(long, default_value = "runs/lesion")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    if a.batch == 0 || a.samples == Some(0) {
        anyhow::bail!("--batch and --samples must be at least 1");
    }
    let opened = reslab::analysis::open(&a.checkpoint)?;
    let describe = a.describe.get()?;
    let d = a.data.load_for(opened.card(), &describe)?;
    let t = opened.trained(&describe, &d)?;
    let mut test = d.test;
    if let Some(n) = a.samples {
        test.truncate(n);
    }
    let gpu = gpu()?;
    let norm = Normalize {
        mean: t.card.mean.clone(),
        std: t.card.std.clone(),
    };
    let b = bar(
        0,
        "lesions {bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
    );
    let s = lesion::run(
        &gpu,
        &t.graph,
        &t.params,
        &test,
        &norm,
        a.batch,
        a.max_k,
        &mut |done, total| {
            b.set_length(total as u64);
            b.set_position(done as u64);
        },
    )?;
    b.finish_and_clear();
    lesion::write(&a.out, &s)?;
    reslab_plot::lesion(&a.out, &s)?;
    println!(
        "{}: base test accuracy {:.2}% on {} images",
        s.model,
        100.0 * s.base_accuracy,
        s.images
    );
    println!(
        "{:<12} {:>8} {:>10} {:>8}",
        "block", "r", "accuracy", "drop"
    );
    for l in &s.single {
        println!(
            "{:<12} {:>8.4} {:>9.2}% {:>7.2}{}",
            l.block,
            l.r,
            100.0 * l.accuracy,
            100.0 * l.drop,
            if l.downsample { "  (downsampling)" } else { "" }
        );
    }
    println!(
        "median drop {:.2} points, max {:.2}",
        100.0 * s.median_drop,
        100.0 * s.max_drop
    );
    for c in &s.cumulative {
        println!(
            "{} smallest-r blocks removed: {:.2}%",
            c.k,
            100.0 * c.accuracy
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
