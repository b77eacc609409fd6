use std::path::PathBuf;

use anyhow::Result;
use reslab::analysis::{Trained, load_trained};
use reslab::data::Normalize;
use reslab::model::Params;
use reslab::train::Evaluator;

use super::common::{DataArgs, gpu};

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint written by `reslab train`.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 256)]
    batch: usize,
}

pub fn run(a: Args) -> Result<()> {
    if a.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    // The checkpoint is read and checked whole before the data is loaded.
    let Trained {
        card,
        graph,
        params: host,
    } = load_trained(&a.checkpoint)?;
    let data = a.data.load()?;
    let [c, h, w] = card.input;
    if (data.test.c, data.test.h, data.test.w) != (c, h, w) {
        anyhow::bail!(
            "{} takes {c}x{h}x{w} images; {} test images are {}x{}x{}",
            a.checkpoint.display(),
            data.name,
            data.test.c,
            data.test.h,
            data.test.w
        );
    }
    let gpu = gpu()?;
    let params = Params::upload(&gpu, &graph, &host)?;
    let norm = Normalize {
        mean: card.mean.clone(),
        std: card.std.clone(),
    };
    let (loss, acc) = Evaluator::new(&gpu, &graph, a.batch).evaluate(&params, &data.test, &norm)?;
    if !loss.is_finite() {
        anyhow::bail!(
            "the test loss of {} is {loss}: its weights or statistics are unusable on {}",
            a.checkpoint.display(),
            data.name
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "checkpoint": a.checkpoint,
            "model": card.model.name(),
            "data": data.name,
            "images": data.test.len(),
            "test_loss": loss,
            "test_accuracy": acc,
        }))?
    );
    Ok(())
}
