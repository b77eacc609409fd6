use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reslab::train::{self, Event, RunDir, Trainer};

use super::common::{DataArgs, ModelArgs, RecipeArgs, gpu};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    recipe: RecipeArgs,
    /// Steps between probes of r_b = |F(x)|/|x| per block and the response std
    /// per 3x3 layer, logged to metrics.jsonl (0: off).
    #[arg(long, default_value_t = 0)]
    probe_every: usize,
    /// Run folder (default runs/<model>-<data>-s<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Replace the run in --out.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.resume && a.force {
        bail!("--resume continues a run and --force replaces it; give one of them");
    }
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{}-{}-s{}",
            a.model.model, a.data.data, a.recipe.seed
        ))
    });
    let gpu = gpu()?;
    let (cfg, dir, start) = if a.resume {
        let dir = RunDir { path: out.clone() };
        let (mut cfg, start) =
            train::resume(&dir).with_context(|| format!("resuming {}", out.display()))?;
        // A resumed run may be made longer.
        if a.recipe.steps.is_some() {
            cfg.steps = a.recipe.steps;
        } else if let Some(e) = a.recipe.epochs
            && e > cfg.epochs
        {
            cfg.epochs = e;
        }
        (cfg, dir, Some(start))
    } else {
        let data = a.data.load()?;
        let model = a.model.spec(data.train.c, data.class_names.len())?;
        let cfg = a.recipe.config(model, &a.data, a.probe_every);
        cfg.validate()?;
        let dir = RunDir::create(&out, a.force)?;
        train::write_config(&dir, &cfg)?;
        (cfg, dir, None)
    };
    let mut data = reslab::data::load(&cfg.data)?;
    if let Some(n) = a.data.train_limit {
        data.train.truncate(n);
    }
    let mut t = Trainer::new(&gpu, cfg, Arc::new(data), start)?;
    let total = t.total_steps();
    eprintln!(
        "training {} ({} parameters) on {} ({} images {}x{}x{}), batch {}, {} steps, into {}",
        t.cfg.model.name(),
        t.params.count(),
        t.data.name,
        t.data.train.len(),
        t.data.train.c,
        t.data.train.h,
        t.data.train.w,
        t.cfg.batch,
        total,
        out.display()
    );
    let bar = ProgressBar::new(total as u64).with_position(t.step as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} epoch {msg} [{elapsed_precise} < {eta_precise}]",
        )
        .expect("valid template"),
    );
    let terminal = !bar.is_hidden();
    let mut ips = 0f32;
    let last = t.run(Some(&dir), &mut |e| {
        match e {
            Event::Step {
                step,
                epoch,
                loss,
                accuracy,
                ..
            } => {
                bar.set_position(*step as u64 + 1);
                bar.set_message(format!(
                    "{epoch}  loss {loss:.4}  acc {:.1}%  {ips:.0} img/s",
                    accuracy * 100.0
                ));
            }
            Event::Logged(l) => ips = l.images_per_s,
            Event::Probe(_) => {}
            Event::Epoch(l) => {
                let line = format!(
                    "epoch {} done (step {}): test loss {:.4}, test accuracy {:.2}%, {:.0} s",
                    l.epoch,
                    l.step,
                    l.test_loss,
                    l.test_accuracy * 100.0,
                    l.seconds
                );
                if terminal {
                    bar.println(line);
                } else {
                    eprintln!("{line}");
                }
            }
        }
        true
    });
    bar.finish_and_clear();
    let last = last?;
    if let Some(l) = last {
        println!(
            "{}",
            serde_json::json!({
                "run": out,
                "steps": t.step,
                "test_loss": l.test_loss,
                "test_accuracy": l.test_accuracy,
            })
        );
    }
    Ok(())
}
