use std::path::PathBuf;

use anyhow::Result;
use reslab::analysis::Trained;
use reslab::data::Normalize;
use reslab::model::Params;
use reslab::train::Evaluator;

use super::common::{DataArgs, DescribeArgs, gpu};

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
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Also list each test image's predicted class, in the order of the
    /// split (for a folder: classes, then files, sorted by name).
    #[arg(long)]
    predictions: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    // The checkpoint is read and checked before the data is loaded.
    let opened = reslab::analysis::open(&a.checkpoint)?;
    let describe = a.describe.get()?;
    let data = a.data.load_for(opened.card(), &describe)?;
    let Trained {
        card,
        graph,
        params: host,
    } = opened.trained(&describe, &data)?;
    let gpu = gpu()?;
    let params = Params::upload(&gpu, &graph, &host)?;
    let norm = Normalize {
        mean: card.mean.clone(),
        std: card.std.clone(),
    };
    let mut evaluator = Evaluator::new(&gpu, &graph, a.batch);
    let (loss, acc, predicted) = if a.predictions {
        let (l, c, p) = evaluator.evaluate_each(&params, &data.test, &norm)?;
        (l, c, Some(p))
    } else {
        let (l, c) = evaluator.evaluate(&params, &data.test, &norm)?;
        (l, c, None)
    };
    if !loss.is_finite() {
        anyhow::bail!(
            "the test loss of {} is {loss}: its weights or statistics are unusable on {}",
            a.checkpoint.display(),
            data.name
        );
    }
    let mut report = serde_json::json!({
        "checkpoint": a.checkpoint,
        "model": card.model.name(),
        "data": data.name,
        "images": data.test.len(),
        "test_loss": loss,
        "test_accuracy": acc,
    });
    if let Some(p) = predicted {
        report["predictions"] = serde_json::json!(p);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
