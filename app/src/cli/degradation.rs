use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use reslab::analysis::degradation::{self, Progress};

use super::common::{DataArgs, ModelArgs, RecipeArgs, bar, gpu};

#[derive(clap::Args)]
pub struct Args {
    /// Depths to compare (each trained plain and residual).
    #[arg(long, value_delimiter = ',', default_values_t = [20, 56])]
    depths: Vec<usize>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    recipe: RecipeArgs,
    /// Steps between probes of r_b during training.
    #[arg(long, default_value_t = 25)]
    probe_every: usize,
    /// Output folder: summary.json and the plots.
    #[arg(long, default_value = "runs/degradation")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let gpu = gpu()?;
    let data = a.data.load()?;
    let model = a.model.spec(data.train.c, data.class_names.len())?;
    let recipe = a.recipe.config(model, &a.data, a.probe_every);
    recipe.validate()?;
    let data = Arc::new(data);
    let mut b = bar(
        0,
        "{prefix:>12} {bar:30} {pos}/{len} loss {msg} [{elapsed_precise} < {eta_precise}]",
    );
    let s = degradation::run(&gpu, &recipe, &a.depths, data, &mut |p| match p {
        Progress::Start {
            net,
            index,
            of,
            steps,
        } => {
            b.finish_and_clear();
            b = bar(
                steps,
                "{prefix:>12} {bar:30} {pos}/{len} loss {msg} [{elapsed_precise} < {eta_precise}]",
            );
            b.set_prefix(format!("{net} {}/{of}", index + 1));
            if b.is_hidden() {
                eprintln!("training {net} ({}/{of}), {steps} steps", index + 1);
            }
        }
        Progress::Step { step, loss } => {
            b.set_position(step as u64 + 1);
            b.set_message(format!("{loss:.4}"));
        }
    })?;
    b.finish_and_clear();
    degradation::write(&a.out, &s)?;
    println!(
        "{:<12} {:>12} {:>12} {:>10} {:>8} {:>8}",
        "net", "train loss", "train error", "test acc", "seconds", "img/s"
    );
    for n in &s.nets {
        println!(
            "{:<12} {:>12.4} {:>11.2}% {:>9.2}% {:>8.0} {:>8.0}",
            n.model,
            n.final_train_loss,
            100.0 * n.final_train_error,
            100.0 * n.test_accuracy,
            n.seconds,
            n.images_per_s
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
