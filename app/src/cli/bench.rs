use std::path::PathBuf;

use anyhow::Result;
use reslab_bench as bench;

use super::common::gpu;

#[derive(clap::Args)]
pub struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Fewer repeats, batch 32, resnet20 only: a minute instead of many.
    #[arg(long)]
    quick: bool,
    /// Measure only what the analysis probes cost a training step.
    #[arg(long)]
    probes: bool,
    /// Runs per measurement (the median is reported).
    #[arg(long)]
    repeats: Option<usize>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A/B: run this other reslab binary's benchmark and this one's
    /// alternately (`--rounds` each, with --quick when given) and print the
    /// median of each measure for both and their ratio.
    #[arg(long)]
    against: Option<PathBuf>,
    /// Rounds of the A/B comparison.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Time every tiling of the tiled 3x3 passes, and batch norm's reads
    /// (storage or texels) and sums (workgroups of 128 or 8, or one pass
    /// with the apply), at the
    /// ResNet-20/56 stage shapes (batch 128, 32 with --quick) and keep the
    /// fastest for each shape
    /// in this adapter's tuning table (RESLAB_TUNING, else
    /// ~/.cache/reslab/tuning.json), which later runs on this adapter follow.
    #[arg(long, conflicts_with_all = ["probes", "against"])]
    tune: bool,
    /// Where the time to the first resnet20 training step (batch 128) on a
    /// fresh device goes: opening it, the plan (its pipelines made
    /// meanwhile), the first step and the one after, and the slowest
    /// pipelines; --repeats fresh devices in turn (default 3).
    #[arg(long, conflicts_with_all = ["probes", "against", "tune", "profile"])]
    first_step: bool,
    /// Where one training step of this model goes: time and dispatches per
    /// kernel entry point, from GPU timestamps (adapters that have them).
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["probes", "against", "tune"])]
    profile: Option<String>,
    /// With --profile: the batch size (default 128, 32 with --quick).
    #[arg(long, requires = "profile")]
    batch: Option<usize>,
    /// With --profile: an inference step (BN on running statistics) instead.
    #[arg(long, requires = "profile")]
    inference: bool,
    /// With --profile: the model's base width (default: the model's own;
    /// the desktop app trains at 8).
    #[arg(long, requires = "profile")]
    width: Option<usize>,
    /// With --profile: the side of the square input images (default 32, 224
    /// for ImageNet models; the desktop app trains on 16).
    #[arg(long, requires = "profile")]
    image_size: Option<usize>,
    /// With --profile: list every dispatch of the step in program order (its
    /// kernel, the shapes of the tensors bound to it, its workgroups and
    /// time) instead of the sums per kernel.
    #[arg(long, requires = "profile")]
    dispatches: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.repeats.is_some_and(|r| !(1..=1000).contains(&r)) {
        anyhow::bail!("--repeats must be 1 to 1000");
    }
    if let Some(other) = &a.against {
        return super::ab::run(other, a.quick, a.rounds, a.out.as_deref());
    }
    let gpu = gpu()?;
    if a.tune {
        return tune(&gpu, &a);
    }
    if let Some(model) = &a.profile {
        return profile(&gpu, &a, model);
    }
    if a.first_step {
        // (this device only named the adapter: each run opens its own)
        drop(gpu);
        return first_step(&a);
    }
    let opts = bench::Options {
        repeats: a.repeats.unwrap_or(if a.quick { 5 } else { 9 }),
        quick: a.quick,
        probes_only: a.probes,
        commit: env!("RESLAB_COMMIT").to_string(),
    };
    let r = bench::run(&gpu, &opts, &mut |what| eprintln!("measuring {what} …"))?;
    let json = serde_json::to_string_pretty(&r)?;
    if let Some(p) = &a.out {
        reslab::files::write_atomic(p, json.as_bytes())?;
    }
    if a.json {
        println!("{json}");
        return Ok(());
    }
    println!(
        "{} ({}, {} {}), {}, commit {}; kernel times by {}, medians of up to {} samples (until they settle)",
        r.device.adapter,
        r.device.backend,
        r.device.driver,
        r.device.driver_info,
        r.date,
        r.commit,
        r.timing,
        r.repeats
    );
    if !a.probes {
        print_kernels_and_models(&r);
    }
    if let Some(p) = r.probes.first() {
        println!(
            "\nanalysis probes during training (width {}, batch {}, {}x{} images)",
            p.width, p.batch, p.side, p.side
        );
        println!(
            "cost: one probe's reductions timed alone, spread over the steps between probes, against a step without;"
        );
        println!(
            "measured: steps with probes against steps without, {} alternating rounds of {} steps (noisy)",
            p.rounds, p.steps_per_round
        );
        println!(
            "{:<10} {:>12} {:>11} {:>9} {:>7} {:>12} {:>9}",
            "model", "probe every", "dispatches", "probe ms", "cost", "ms/step", "measured"
        );
        for p in &r.probes {
            let every = if p.every == 0 {
                "never".to_string()
            } else {
                format!("{} steps", p.every)
            };
            println!(
                "{:<10} {:>12} {:>11} {:>9.1} {:>6.1}% {:>12.1} {:>8.1}%",
                p.model,
                every,
                p.dispatches,
                p.probe_ms,
                100.0 * p.cost,
                p.ms_per_step,
                100.0 * p.overhead
            );
        }
    }
    if r.first_train_step_s > 0.0 {
        println!(
            "\nfirst resnet20 training step (batch 128) on a fresh device: {:.1} s \
             (with the driver's own shader cache as this machine holds it)",
            r.first_train_step_s
        );
    }
    Ok(())
}

fn first_step(a: &Args) -> Result<()> {
    let runs = (0..a.repeats.unwrap_or(3))
        .map(|_| bench::first_steps(true))
        .collect::<reslab::error::Result<Vec<_>>>()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    println!(
        "first resnet20 training step (batch 128) on a fresh device, seconds \
         (the driver's own shader cache as this machine holds it)"
    );
    println!(
        "{:>4} {:>8} {:>8} {:>11} {:>8} {:>11}",
        "run", "open", "plan", "first step", "to it", "next step"
    );
    for (i, r) in runs.iter().enumerate() {
        println!(
            "{:>4} {:>8.3} {:>8.3} {:>11.3} {:>8.3} {:>11.3}",
            i + 1,
            r.open_s,
            r.plan_s,
            r.first_step_s,
            r.open_s + r.plan_s + r.first_step_s,
            r.next_step_s
        );
    }
    if let Some(last) = runs.last() {
        println!(
            "\nslowest of the plan's {} pipelines to create (last run, ms, on the compile threads):",
            last.pipelines.len()
        );
        for (label, secs) in last.pipelines.iter().take(8) {
            println!("{:>9.1}  {label}", 1e3 * secs);
        }
    }
    Ok(())
}

fn print_kernels_and_models(r: &bench::Report) {
    let lowest = r.fma_samples.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "multiply-add ceiling: {:.1} GFLOP/s, the highest of {} samples over the run (lowest {:.1}), \
         which every \"of peak\" is against",
        r.fma_gflops,
        r.fma_samples.len(),
        lowest
    );
    println!(
        "\n{:<24} {:<16} {:>9} {:>9} {:>10} {:>10} {:>8}  kernel",
        "conv (batch N)", "pass", "ms", "GFLOP/s", "kernel ms", "kernel GF", "of peak"
    );
    for c in &r.conv {
        println!(
            "{:<24} {:<16} {:>9.2} {:>9.2} {:>10.2} {:>10.2} {:>7.0}%  {}",
            c.shape,
            c.pass,
            c.ms,
            c.gflops,
            c.kernel_ms,
            c.kernel_gflops,
            100.0 * c.kernel_of_peak,
            c.kernel
        );
    }
    println!(
        "\n{:<42} {:>9} {:>8}",
        "memory-bound pass (2M elements)", "ms", "GB/s"
    );
    for b in &r.bandwidth {
        println!("{:<42} {:>9.2} {:>8.2}", b.name, b.ms, b.gb_per_s);
    }
    println!(
        "\n{:<10} {:>6} {:<10} {:>12} {:>10} {:>11} {:>9} {:>8} {:>10}",
        "model",
        "batch",
        "mode",
        "ms/batch",
        "images/s",
        "dispatches",
        "GFLOP/s",
        "of peak",
        "memory MB"
    );
    for m in &r.models {
        println!(
            "{:<10} {:>6} {:<10} {:>12.1} {:>10.1} {:>11} {:>9.2} {:>7.1}% {:>10.1}",
            m.model,
            m.batch,
            m.mode,
            m.ms_per_batch,
            m.images_per_s,
            m.dispatches,
            m.gflops,
            100.0 * m.of_peak,
            m.memory_bytes as f64 / 1e6
        );
    }
    println!("\nbenchmark: {:.0} s", r.seconds);
}

/// `--profile MODEL`: one step's time and dispatches per kernel.
fn profile(gpu: &reslab::Gpu, a: &Args, model: &str) -> Result<()> {
    let batch = a.batch.unwrap_or(if a.quick { 32 } else { 128 });
    if !(1..=65536).contains(&batch) {
        anyhow::bail!("--batch must be 1 to 65536");
    }
    let budget = bench::Budget {
        max_samples: a.repeats.unwrap_or(if a.quick { 5 } else { 9 }),
        seconds: if a.quick { 2.0 } else { 6.0 },
    };
    let what = if a.inference { "inference" } else { "training" };
    if a.width.is_some_and(|w| !(1..=4096).contains(&w)) {
        anyhow::bail!("--width must be 1 to 4096");
    }
    if a.image_size.is_some_and(|s| !(1..=4096).contains(&s)) {
        anyhow::bail!("--image-size must be 1 to 4096");
    }
    let shape = bench::ProfileShape {
        width: a.width,
        side: a.image_size,
    };
    let Some(each) = bench::step_dispatches(gpu, model, shape, batch, !a.inference, budget)? else {
        anyhow::bail!(
            "this adapter cannot time inside compute passes (no TIMESTAMP_QUERY_INSIDE_PASSES): no per-kernel profile"
        );
    };
    let shares = bench::by_kernel(&each);
    if a.json {
        let json = if a.dispatches {
            serde_json::to_string_pretty(&each)?
        } else {
            serde_json::to_string_pretty(&shares)?
        };
        println!("{json}");
        return Ok(());
    }
    let total: f64 = each.iter().map(|d| d.ms).sum();
    let mut at = String::new();
    if let Some(w) = a.width {
        at += &format!(", width {w}");
    }
    if let Some(side) = a.image_size {
        at += &format!(", {side}x{side} images");
    }
    println!(
        "{model} {what} step, batch {batch}{at}: {total:.2} ms in {} dispatches",
        each.len()
    );
    let mb = |f: fn(&bench::DispatchTime) -> u64| each.iter().map(f).sum::<u64>() as f64 / 1e6;
    println!(
        "texel copies before its passes: {:.1} MB, of which {:.1} MB copy what the same texture last held (skippable where nothing wrote it between)",
        mb(|d| d.texel_bytes),
        mb(|d| d.repeated_texel_bytes)
    );
    if a.dispatches {
        println!(
            "{:>4} {:>9} {:>6}  {:<48} {:<16} tensors bound",
            "#", "ms", "share", "kernel", "workgroups"
        );
        for (i, d) in each.iter().enumerate() {
            let [x, y, z] = d.workgroups;
            let shapes: Vec<String> = d.shapes.iter().map(|s| format!("{s:?}")).collect();
            println!(
                "{i:>4} {:>9.3} {:>5.1}%  {:<48} {:<16} {}",
                d.ms,
                100.0 * d.ms / total,
                d.kernel,
                format!("{x}x{y}x{z}"),
                shapes.join(" ")
            );
        }
        return Ok(());
    }
    println!("{:>9} {:>6} {:>10}  kernel", "ms", "share", "dispatches");
    for s in &shares {
        println!(
            "{:>9.3} {:>5.1}% {:>10}  {}",
            s.ms,
            100.0 * s.ms / total,
            s.dispatches,
            s.kernel
        );
    }
    Ok(())
}

/// `--tune`: measures, saves the table, prints what it chose.
fn tune(gpu: &reslab::Gpu, a: &Args) -> Result<()> {
    let path = reslab::device::tuning::default_path().ok_or_else(|| {
        anyhow::anyhow!("no place for the tuning table: set RESLAB_TUNING to a file path (or HOME)")
    })?;
    // A table that cannot be read is reported before anything is measured.
    reslab::device::tuning::load(&path)?;
    let budget = bench::Budget {
        max_samples: a.repeats.unwrap_or(if a.quick { 5 } else { 9 }),
        seconds: if a.quick { 1.0 } else { 3.0 },
    };
    let batch = if a.quick { 32 } else { 128 };
    let results = bench::tune::tune(gpu, batch, budget, &mut |what| eprintln!("tuning {what} …"))?;
    let table: reslab::device::tuning::Table = results
        .iter()
        .map(|r| (r.key.clone(), r.chosen.clone()))
        .collect();
    let adapter = reslab::device::tuning::adapter_key(gpu.adapter_info());
    reslab::device::tuning::save(&path, &adapter, &table)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    println!(
        "{adapter}, batch {batch}: kernel ms of each tiling (s1: one row of 8x8 tiles or 4 output channels, r4: 4 rows, r4u: 4 rows with uniform weights, r4sg: r4u with input rows shared through subgroups, c8: 8 channels, c8sg, c16sg: 8 or 16 channels sharing dy through subgroups; s2, s2u, s2sg: stride 2, weights from storage or uniform, input shared through subgroups)"
    );
    let short = |n: &str| n.rsplit('_').next().unwrap_or(n).to_string();
    println!(
        "{:36} {:24} {:>6}  default vs kept",
        "pass", "ms per tiling", "kept"
    );
    for r in &results {
        let times: Vec<String> = r
            .times_ms
            .iter()
            .map(|(n, t)| format!("{} {t:.2}", short(n)))
            .collect();
        println!(
            "{:36} {:24} {:>6}  {} {:.2}x the time",
            r.what,
            times.join(", "),
            short(&r.chosen),
            short(&r.default),
            r.default_vs_chosen
        );
    }
    println!("saved to {}", path.display());
    Ok(())
}
