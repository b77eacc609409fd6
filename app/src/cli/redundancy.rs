use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use reslab::analysis::redundancy::{self, Insert, Progress};

use super::common::{DataArgs, ModelArgs, RecipeArgs, RecipeDefaults, bar, gpu};

#[derive(clap::Args)]
pub struct Args {
    /// Depth of the shallow net (6n+2).
    #[arg(long, default_value_t = 20)]
    shallow: usize,
    /// Depth of the grown net (6m+2, m > n): m − n blocks inserted per stage.
    #[arg(long, default_value_t = 32)]
    deep: usize,
    /// How inserted residual blocks start: random, zero-gamma, or both.
    #[arg(long, default_value = "both")]
    init: String,
    /// Steps of training after growing (the shallow nets train on as long):
    /// randomly initialised inserted blocks need about 600 to get the grown
    /// net's accuracy back to the shallow net's.
    #[arg(long, default_value_t = 600)]
    grow_steps: usize,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// --steps trains the shallow nets before growing.
    #[command(flatten)]
    recipe: RecipeArgs,
    #[arg(long, default_value_t = 10)]
    probe_every: usize,
    #[arg(long, default_value = "runs/redundancy")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let inserts = match a.init.as_str() {
        "both" => vec![Insert::Random, Insert::ZeroGamma],
        s => vec![s.parse::<Insert>()?],
    };
    let gpu = gpu()?;
    let data_args = a.data.for_family(a.model.family_of()?);
    let data = data_args.load()?;
    let model = a.model.spec(data.train.c, data.class_names.len())?;
    // The shallow nets train 300 steps unless --steps or --epochs says otherwise.
    let defaults = RecipeDefaults {
        steps: Some(300),
        ..RecipeDefaults::TRAIN
    };
    let recipe = a
        .recipe
        .config_or(model, &data_args, a.probe_every, &defaults);
    recipe.validate()?;
    let mut b = bar(0, "");
    let s = redundancy::run(
        &gpu,
        &recipe,
        a.shallow,
        a.deep,
        a.grow_steps,
        &inserts,
        Arc::new(data),
        &mut |p| match p {
            Progress::Start { name, steps } => {
                b.finish_and_clear();
                b = bar(
                    steps,
                    "{bar:30} {pos}/{len} {prefix} loss {msg} [{elapsed_precise} < {eta_precise}]",
                );
                b.set_prefix(name.to_string());
                if b.is_hidden() {
                    eprintln!("training {name}, {steps} steps");
                }
            }
            Progress::Step { step, loss } => {
                b.set_position(step as u64 + 1);
                b.set_message(format!("{loss:.4}"));
            }
        },
    )?;
    b.finish_and_clear();
    redundancy::write(&a.out, &s)?;
    reslab_plot::redundancy(&a.out, &s)?;
    println!("{:<60} {:>12} {:>10}", "run", "train loss", "test acc");
    for r in s.residual.iter().chain(&s.plain) {
        println!(
            "{:<60} {:>12.4} {:>9.2}%",
            r.name,
            r.final_train_loss,
            100.0 * r.test_accuracy
        );
    }
    let f = |v: Option<f32>| v.map(|x| format!("{x:.4}")).unwrap_or("-".into());
    for (label, [a0, a1, b0, b1]) in &s.medians {
        println!(
            "{label}: median r of inserted blocks {} -> {}, of copied blocks {} -> {}",
            f(*a0),
            f(*a1),
            f(*b0),
            f(*b1)
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
