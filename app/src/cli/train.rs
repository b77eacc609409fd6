use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reslab::train::{self, Event, RunDir, TrainConfig, Trainer};

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
    /// Continue the run in --out from its last checkpoint. --steps or
    /// --epochs make it longer; any other flag must agree with its config.json.
    #[arg(long)]
    resume: bool,
    /// Replace the run in --out.
    #[arg(long)]
    force: bool,
}

/// The ids of the flags given on the command line.
#[derive(Default)]
pub struct Given(Vec<String>);

impl From<&clap::ArgMatches> for Given {
    fn from(m: &clap::ArgMatches) -> Given {
        Given(
            m.ids()
                .filter(|id| {
                    m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
                })
                .map(|id| id.to_string())
                .collect(),
        )
    }
}

impl Given {
    fn has(&self, id: &str) -> bool {
        self.0.iter().any(|g| g == id)
    }
}

/// A flag that shapes a run: its clap id, its name, and the part of the
/// configuration it sets.
type Shaping = (&'static str, &'static str, fn(&TrainConfig) -> String);

const SHAPING: &[Shaping] = &[
    ("model", "--model", |c| {
        format!(
            "{:?} {}",
            c.model.family,
            c.model
                .twin(c.model.residual)
                .name()
                .trim_end_matches("-preact")
        )
    }),
    ("family", "--family", |c| format!("{:?}", c.model.family)),
    ("shortcut", "--shortcut", |c| {
        format!("{:?}", c.model.shortcut)
    }),
    ("preact", "--preact", |c| c.model.preact.to_string()),
    ("width", "--width", |c| c.model.width.to_string()),
    ("zero_gamma", "--zero-gamma", |c| {
        c.model.zero_gamma.to_string()
    }),
    ("data", "--data", |c| c.data.name.to_ascii_lowercase()),
    ("data_dir", "--data-dir", |c| format!("{:?}", c.data.dir)),
    ("image_size", "--image-size", |c| {
        c.data.synthetic.side.to_string()
    }),
    ("channels", "--channels", |c| {
        c.data.synthetic.channels.to_string()
    }),
    ("train_images", "--train-images", |c| {
        c.data.synthetic.train.to_string()
    }),
    ("test_images", "--test-images", |c| {
        c.data.synthetic.test.to_string()
    }),
    ("train_limit", "--train-limit", |c| {
        format!("{:?}", c.data.train_limit)
    }),
    ("batch", "--batch", |c| c.batch.to_string()),
    ("lr", "--lr", |c| c.lr.to_string()),
    ("momentum", "--momentum", |c| c.momentum.to_string()),
    ("wd", "--wd", |c| c.weight_decay.to_string()),
    ("nesterov", "--nesterov", |c| c.nesterov.to_string()),
    ("schedule", "--schedule", |c| format!("{:?}", c.schedule)),
    ("warmup", "--warmup", |c| c.warmup.to_string()),
    ("seed", "--seed", |c| c.seed.to_string()),
    ("no_augment", "--no-augment", |c| format!("{:?}", c.augment)),
    ("log_every", "--log-every", |c| c.log_every.to_string()),
    ("probe_every", "--probe-every", |c| {
        c.probe_every.to_string()
    }),
];

/// The run's configuration with the flags given beside --resume: --steps and
/// --epochs make it longer; any other flag must say what config.json says.
fn resumed_config(
    a: &Args,
    given: &Given,
    saved: TrainConfig,
    at: usize,
    dir: &RunDir,
) -> Result<TrainConfig> {
    let flags = {
        let mut model = a.model.spec(saved.model.in_channels, saved.model.classes)?;
        if !given.has("preact") {
            model.preact = saved.model.preact;
        }
        a.recipe.config(
            model.clone(),
            &a.data.for_family(model.family),
            a.probe_every,
        )
    };
    for (id, flag, part) in SHAPING {
        if given.has(id) && part(&flags) != part(&saved) {
            bail!(
                "{flag} ({}) disagrees with {} ({}): a resumed run keeps its settings; start a new run with another --out, or replace this one with --force",
                part(&flags),
                dir.file(train::CONFIG_FILE).display(),
                part(&saved)
            );
        }
    }
    let mut cfg = saved;
    match (a.recipe.steps, a.recipe.epochs) {
        (Some(s), _) => cfg.steps = Some(s),
        (None, Some(e)) if cfg.steps.is_some() => bail!(
            "--epochs {e}: this run's length is {} steps (--steps); make it longer with --steps",
            cfg.steps.unwrap_or_default()
        ),
        (None, Some(e)) => cfg.epochs = e,
        (None, None) => {}
    }
    cfg.validate()?;
    if (a.recipe.steps.is_some() || a.recipe.epochs.is_some()) && cfg.steps.is_some_and(|s| s <= at)
    {
        bail!("the run has already taken {at} steps; give more than that to make it longer");
    }
    Ok(cfg)
}

pub fn run(a: Args, given: &Given) -> Result<()> {
    if a.resume && a.force {
        bail!("--resume continues a run and --force replaces it; give one of them");
    }
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{}-{}-s{}",
            a.model.model, a.data.data, a.recipe.seed
        ))
    });
    // Everything is checked and the trainer made (data loaded, plans fitted
    // to the device) before the run folder is created or changed.
    let (mut t, dir, start_step, changed) = if a.resume {
        let dir = RunDir { path: out.clone() };
        if !dir.file(train::CONFIG_FILE).exists() {
            bail!(
                "{}: no run to resume here (no {})",
                out.display(),
                train::CONFIG_FILE
            );
        }
        let (saved, start) =
            train::resume(&dir).with_context(|| format!("resuming {}", out.display()))?;
        let at = start.as_ref().map_or(0, |s| s.step);
        let cfg = resumed_config(&a, given, saved.clone(), at, &dir)?;
        let data = reslab::data::load(&cfg.data)?;
        let gpu = gpu()?;
        let changed = cfg != saved;
        if start.is_none() {
            eprintln!(
                "{}: no checkpoint yet; the run starts again from step 0",
                out.display()
            );
        }
        let t = Trainer::new(&gpu, cfg, Arc::new(data), start)?;
        (t, dir, at, changed)
    } else {
        RunDir::check_new(&out, a.force)?;
        let data_args = a.data.for_family(a.model.family_of()?);
        let data = data_args.load()?;
        let model = a.model.spec(data.train.c, data.class_names.len())?;
        let cfg = a.recipe.config(model, &data_args, a.probe_every);
        cfg.validate()?;
        let gpu = gpu()?;
        let t = Trainer::new(&gpu, cfg, Arc::new(data), None)?;
        let dir = RunDir::create(&out, a.force)?;
        (t, dir, 0, true)
    };
    let total = t.total_steps();
    if t.step >= total {
        eprintln!(
            "{}: the run has all its {total} steps; give --steps or --epochs to make it longer",
            out.display()
        );
        return Ok(());
    }
    dir.settle(start_step)?;
    if changed {
        train::write_config(&dir, &t.cfg)?;
    }
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
