//! `reslab bench` (its own crate: the engine builds without it): the adapter's multiply-add ceiling, the convolution passes at
//! the ResNet-20/56 stage shapes, the memory-bound passes, and whole models
//! (inference and training steps), the cost of the analysis probes during
//! training, with medians over repeated runs.
//!
//! Kernel times come from GPU timestamps written between dispatches where the
//! adapter has them (wall clock around a completed submission otherwise); model
//! throughput is wall clock over back-to-back steps, as training sees it.

use std::time::Instant;

use serde::Serialize;

pub mod profile;
pub mod tune;

use reslab::device::Gpu;
use reslab::error::Result;
use reslab::kernels::batchnorm;
use reslab::kernels::{Program, conv2d, elementwise};
use reslab::model::plan::PlanOptions;
use reslab::model::probe::Probes;
use reslab::model::{Graph, HostParams, Mode, ModelSpec, Params, Plan};
use reslab::ops::Conv2dGeom;
use reslab::ops::SgdConfig;
use reslab::ops::{BnGeom, BnOptions};
use reslab::rng::Rng;

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConvResult {
    /// e.g. `C16@32x32 3x3/1`
    pub shape: String,
    /// forward, backward-data or backward-weight
    pub pass: String,
    pub geom: Conv2dGeom,
    /// The whole pass, layout passes (padding, weight re-layout) included.
    pub ms: f64,
    pub gflops: f64,
    /// The convolution kernel alone.
    pub kernel_ms: f64,
    pub kernel_gflops: f64,
    /// kernel_gflops as a fraction of the run's multiply-add ceiling.
    pub kernel_of_peak: f64,
    /// The kernel's entry point (which tiling ran, on this adapter).
    pub kernel: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BandwidthResult {
    pub name: String,
    pub elements: usize,
    pub ms: f64,
    /// Bytes the pass must read and write, over its time.
    pub gb_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub batch: usize,
    /// inference (BN eval) or training (forward, loss, backward, SGD)
    pub mode: String,
    pub input: [usize; 3],
    pub ms_per_batch: f64,
    pub images_per_s: f64,
    /// Dispatches one batch records (forward, loss and, in training,
    /// backward and the SGD update).
    pub dispatches: usize,
    /// Useful work per second: the model's FLOPs per image (2 per
    /// multiply-add of its convolutions and classifier, ×3 for training but
    /// the stem's input gradient) times images per second.
    pub gflops: f64,
    /// gflops as a fraction of the run's multiply-add ceiling.
    pub of_peak: f64,
    /// GPU memory the plan holds (activations, gradients, scratch, parameters).
    pub memory_bytes: u64,
}

/// Training steps with the analysis probes (r_b and response std) recorded
/// every `every` steps, against the same steps without them.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub model: String,
    pub width: usize,
    pub batch: usize,
    /// Image side (square, 3 channels).
    pub side: usize,
    /// Steps between probes (0: none, the baseline).
    pub every: usize,
    /// Dispatches one probe adds.
    pub dispatches: usize,
    /// Milliseconds one probe's reductions take, timed alone.
    pub probe_ms: f64,
    /// What the probes add to a step on average: probe_ms / every over the
    /// baseline's ms_per_step (0 for the baseline).
    pub cost: f64,
    /// Wall clock per step, probes included, over the alternating rounds.
    pub ms_per_step: f64,
    /// ms_per_step over the baseline's, minus one: the cost as the rounds saw
    /// it, with the machine's noise in it.
    pub overhead: f64,
    /// Alternating rounds, and steps per round, behind ms_per_step.
    pub rounds: usize,
    pub steps_per_round: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub device: Device,
    pub date: String,
    pub commit: String,
    /// How kernel times were taken.
    pub timing: String,
    pub repeats: usize,
    /// The multiply-add ceiling: the highest of its samples over the run,
    /// which every fraction of it in the report is against.
    pub fma_gflops: f64,
    /// Every sample of the ceiling, in the order taken (one at the start,
    /// then one after each conv pass and each model).
    pub fma_samples: Vec<f64>,
    pub conv: Vec<ConvResult>,
    pub bandwidth: Vec<BandwidthResult>,
    pub models: Vec<ModelResult>,
    pub probes: Vec<ProbeResult>,
    /// Seconds from a fresh device to the end of the first resnet20 training
    /// step at batch 128 (pipeline creation and any tuning included). A
    /// driver that keeps compiled shaders on disk (Mesa does) serves them
    /// from there after its first run on a machine; this leaves that cache
    /// as it is, so it is the first step as a returning user sees it.
    pub first_train_step_s: f64,
    /// How long the benchmark took.
    pub seconds: f64,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most samples of one measurement (fewer when its median settles).
    pub repeats: usize,
    pub quick: bool,
    /// Measure only the probes' cost (the report's other sections stay empty).
    pub probes_only: bool,
    pub commit: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// How long one measurement may take, and how many samples at most.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_samples: usize,
    pub seconds: f64,
}

/// Samples a measurement until its median settles: at least three samples
/// (two when one takes over a quarter of the budget), then until a new sample
/// moves the median by under 2%, the samples run out or the time does.
/// Returns the samples.
fn settle(b: Budget, mut sample: impl FnMut() -> Result<f64>) -> Result<Vec<f64>> {
    let start = Instant::now();
    let mut v = vec![sample()?];
    let min = if start.elapsed().as_secs_f64() > b.seconds / 4.0 {
        2
    } else {
        3
    };
    let mut last = v[0];
    while v.len() < b.max_samples.max(min) {
        v.push(sample()?);
        let m = median(v.clone());
        let settled = v.len() >= min && (m - last).abs() <= 0.02 * m;
        let out_of_time = start.elapsed().as_secs_f64() > b.seconds && v.len() >= min;
        if settled || out_of_time {
            break;
        }
        last = m;
    }
    Ok(v)
}

/// Per-dispatch milliseconds of `prog` (medians over settled runs after a
/// warm-up), from timestamps; `None` without (sensible) timestamps.
fn dispatch_ms(gpu: &Gpu, prog: &Program, b: Budget) -> Result<Option<Vec<f64>>> {
    if crate::profile::profile(gpu, prog)?.is_none() {
        return Ok(None);
    }
    let mut runs: Vec<Vec<f64>> = Vec::new();
    let mut lost = false;
    settle(b, || {
        match crate::profile::profile(gpu, prog)? {
            Some(t) => runs.push(t.into_iter().map(|(_, ns)| ns / 1e6).collect()),
            None => lost = true,
        }
        Ok(runs.last().map_or(0.0, |r| r.iter().sum()))
    })?;
    if lost || runs.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        (0..prog.len())
            .map(|i| median(runs.iter().map(|r| r[i]).collect()))
            .collect(),
    ))
}

/// Median wall-clock milliseconds of one run of `prog` (submitted and waited for).
fn wall_ms(gpu: &Gpu, prog: &Program, b: Budget) -> Result<f64> {
    prog.run(gpu)?;
    let v = settle(b, || {
        let t = Instant::now();
        prog.run(gpu)?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    })?;
    Ok(median(v))
}

/// (whole program ms, ms of the dispatches `main`): from timestamps, else
/// both the wall clock of the whole program.
fn time_program(gpu: &Gpu, prog: &Program, main: &[usize], b: Budget) -> Result<(f64, f64)> {
    match dispatch_ms(gpu, prog, b)? {
        Some(t) => Ok((t.iter().sum(), main.iter().map(|&i| t[i]).sum())),
        None => {
            let all = wall_ms(gpu, prog, b)?;
            Ok((all, all))
        }
    }
}

/// The adapter's multiply-add ceiling in GFLOP/s: the faster of two grids
/// (2^17 and 2^19 invocations), each with as many iterations as make one
/// dispatch last about [`FMA_TARGET_MS`]. A GPU raises its clock only under
/// sustained load: dispatches of 0.4 ms, with the host's gaps between them,
/// read 65% of an H200's data-sheet peak.
pub fn fma_peak(gpu: &Gpu, b: Budget) -> Result<f64> {
    Ok(Ceiling::measure(gpu, b)?.gflops)
}

/// The ceiling kernel as [`fma_peak`] sized it (its faster grid and its
/// iterations), to sample again during a run. A host's speed drifts, and
/// the ceiling kernel's more than the convolutions' (one 2-core host's
/// samples within one run spanned 59–112 GFLOP/s while the same kernel at
/// the same shape ran at 28.0 and 28.3 GFLOP/s), so `reslab bench` samples
/// the ceiling after each of its measurements and takes the highest sample:
/// what the adapter has shown it can do in that run.
pub struct Ceiling {
    out: reslab::Tensor,
    iters: u32,
    /// The first measurement's GFLOP/s.
    pub gflops: f64,
}

impl Ceiling {
    /// Sizes and measures the ceiling kernel as [`fma_peak`] describes.
    pub fn measure(gpu: &Gpu, b: Budget) -> Result<Ceiling> {
        let mut best: Option<Ceiling> = None;
        for invocations in [64 * 2048, 4 * 64 * 2048] {
            let out = gpu.tensor(&[invocations])?;
            // A short probe sizes the loop.
            const PROBE_ITERS: u32 = 64;
            let probe = Budget {
                max_samples: 3,
                seconds: 0.5,
            };
            let probe_ms = fma_ms(gpu, &out, PROBE_ITERS, probe)?.max(1e-3);
            let iters = (f64::from(PROBE_ITERS) * FMA_TARGET_MS / probe_ms)
                .clamp(f64::from(PROBE_ITERS), f64::from(1u32 << 22))
                as u32;
            let ms = fma_ms(gpu, &out, iters, b)?;
            let gflops = ceiling_gflops(&out, iters, ms);
            if best.as_ref().is_none_or(|c| gflops > c.gflops) {
                best = Some(Ceiling { out, iters, gflops });
            }
        }
        Ok(best.expect("two grids measured"))
    }

    /// One more sample of the sized kernel, in GFLOP/s (a median of a few
    /// dispatches: about a tenth of a second on a CPU adapter).
    pub fn sample(&self, gpu: &Gpu) -> Result<f64> {
        let b = Budget {
            max_samples: 3,
            seconds: 0.0,
        };
        let ms = fma_ms(gpu, &self.out, self.iters, b)?;
        Ok(ceiling_gflops(&self.out, self.iters, ms))
    }
}

/// GFLOP/s of one dispatch of the ceiling kernel over `out`'s invocations,
/// `iters` iterations each, that took `ms`.
fn ceiling_gflops(out: &reslab::Tensor, iters: u32, ms: f64) -> f64 {
    let flops =
        out.len() as f64 * f64::from(iters) * reslab::kernels::ceiling::FLOPS_PER_ITER as f64;
    flops / (ms * 1e-3) / 1e9
}

/// How long one dispatch of the ceiling kernel is made to run.
pub const FMA_TARGET_MS: f64 = 40.0;

/// Median milliseconds of one dispatch of the ceiling kernel over `out`'s
/// invocations, `iters` iterations each (GPU timestamps, else the wall clock).
fn fma_ms(gpu: &Gpu, out: &reslab::Tensor, iters: u32, b: Budget) -> Result<f64> {
    let mut prog = Program::new();
    reslab::kernels::ceiling::bench_fma(gpu, &mut prog, out, iters)?;
    Ok(match dispatch_ms(gpu, &prog, b)? {
        Some(t) => t[0],
        None => wall_ms(gpu, &prog, b)?,
    })
}

/// The convolution workloads: ResNet-20/56 stage shapes at batch `n`.
pub fn conv_shapes(n: usize) -> Vec<(String, Conv2dGeom)> {
    vec![
        (
            "C16@32x32 3x3/1".into(),
            Conv2dGeom::square(n, 16, 32, 32, 16, 3, 1, 1),
        ),
        (
            "C32@16x16 3x3/1".into(),
            Conv2dGeom::square(n, 32, 16, 16, 32, 3, 1, 1),
        ),
        (
            "C64@8x8 3x3/1".into(),
            Conv2dGeom::square(n, 64, 8, 8, 64, 3, 1, 1),
        ),
        (
            "C16->32 @32->16 3x3/2".into(),
            Conv2dGeom::square(n, 16, 32, 32, 32, 3, 2, 1),
        ),
        (
            "C32->64 @16->8 3x3/2".into(),
            Conv2dGeom::square(n, 32, 16, 16, 64, 3, 2, 1),
        ),
    ]
}

fn conv_pass(gpu: &Gpu, g: &Conv2dGeom, pass: &str, b: Budget) -> Result<ConvResult> {
    let mut rng = Rng::new(1);
    let x = gpu.upload(
        &g.x_shape(),
        &rng.vec_uniform(g.n * g.cin * g.h * g.w, -1.0, 1.0),
    )?;
    let w = gpu.upload(
        &g.w_shape(),
        &rng.vec_uniform(g.cout * g.cin * g.kh * g.kw, -1.0, 1.0),
    )?;
    let y = gpu.upload(
        &g.y_shape(),
        &rng.vec_uniform(g.n * g.cout * g.ho() * g.wo(), -1.0, 1.0),
    )?;
    let mut prog = Program::new();
    let fresh = &mut conv2d::Fresh;
    match pass {
        "forward" => {
            conv2d::conv2d_forward(gpu, &mut prog, &y, &x, &w, None, g, fresh)?;
        }
        "backward-data" => {
            conv2d::conv2d_backward_data(gpu, &mut prog, &x, &y, &w, g, false, fresh)?
        }
        _ => conv2d::conv2d_backward_weight(gpu, &mut prog, &w, &y, &x, None, g, fresh)?,
    }
    // The convolution kernel is the last dispatch of forward and backward-data
    // (or the last few, one per run of input channels, all of one kernel),
    // the one before the reduction for backward-weight.
    let last = if pass == "backward-weight" {
        prog.len() - 2
    } else {
        prog.len() - 1
    };
    let label = prog.dispatches[last].label();
    let mut main: Vec<usize> = (0..=last)
        .rev()
        .take_while(|&i| prog.dispatches[i].label() == label)
        .collect();
    if pass == "backward-weight" {
        main.truncate(1);
    }
    let (ms, kernel_ms) = time_program(gpu, &prog, &main, b)?;
    let kernel = label;
    let kernel = kernel.rsplit(':').next().unwrap_or(kernel).to_string();
    let flops = 2.0 * g.macs() as f64;
    let kernel_gflops = flops / (kernel_ms * 1e-3) / 1e9;
    Ok(ConvResult {
        shape: String::new(),
        pass: pass.into(),
        geom: *g,
        ms,
        gflops: flops / (ms * 1e-3) / 1e9,
        kernel_ms,
        kernel_gflops,
        kernel_of_peak: 0.0,
        kernel,
    })
}

fn bandwidth(gpu: &Gpu, b: Budget) -> Result<Vec<BandwidthResult>> {
    let g = BnGeom {
        n: 128,
        c: 16,
        hw: 1024,
    };
    let len = g.len();
    let mut rng = Rng::new(2);
    let shape = [g.n, g.c, 32, 32];
    let x = gpu.upload(&shape, &rng.vec_uniform(len, -1.0, 1.0))?;
    let r = gpu.upload(&shape, &rng.vec_uniform(len, -1.0, 1.0))?;
    let y = gpu.tensor(&shape)?;
    let dx = gpu.tensor(&shape)?;
    let ones = |gpu: &Gpu| gpu.upload(&[g.c], &vec![1.0; g.c]);
    let (gamma, beta, rm, rv) = (
        ones(gpu)?,
        gpu.zeros(&[g.c])?,
        gpu.zeros(&[g.c])?,
        ones(gpu)?,
    );
    let (saved, coef) = (gpu.tensor(&[2, g.c])?, gpu.tensor(&[2, g.c])?);
    let (dg, db) = (gpu.tensor(&[g.c])?, gpu.tensor(&[g.c])?);
    let o = BnOptions {
        relu: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    // (name, bytes per element read and written, program)
    let mut cases: Vec<(&str, f64, Program)> = Vec::new();
    let mut p = Program::new();
    elementwise::relu_forward(gpu, &mut p, &y, &x)?;
    cases.push(("relu forward", 8.0, p));
    let mut p = Program::new();
    elementwise::add_forward(gpu, &mut p, &y, &x, &r, true)?;
    cases.push(("add + relu", 12.0, p));
    let mut p = Program::new();
    batchnorm::batchnorm_forward_train(
        gpu,
        &mut p,
        &y,
        &saved,
        &coef,
        &rm,
        &rv,
        &x,
        &gamma,
        &beta,
        Some(&r),
        &g,
        &o,
    )?;
    // Statistics read x; the apply reads x and the residual and writes y.
    cases.push(("batch norm forward (train) + add + relu", 16.0, p));
    let mut p = Program::new();
    batchnorm::batchnorm_backward(
        gpu,
        &mut p,
        &dx,
        &dg,
        &db,
        None,
        &r,
        Some(&y),
        &x,
        &saved,
        &gamma,
        &g,
    )?;
    // The reduction reads dout, out, x; the apply reads them again and writes dx.
    cases.push(("batch norm backward (+ relu mask)", 28.0, p));
    for (name, bytes, prog) in cases {
        let (ms, _) = time_program(gpu, &prog, &[0], b)?;
        out.push(BandwidthResult {
            name: name.into(),
            elements: len,
            ms,
            gb_per_s: bytes * len as f64 / (ms * 1e-3) / 1e9,
        });
    }
    Ok(out)
}

/// A model's plan for `batch` random inputs of its usual size, run once.
struct Setup {
    plan: Plan,
    _params: Params,
    input: [usize; 3],
    memory_bytes: u64,
}

fn setup(gpu: &Gpu, name: &str, batch: usize, train: bool) -> Result<Setup> {
    setup_shaped(gpu, name, ProfileShape::default(), batch, train)
}

/// A model's width and input side where they are not its defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileShape {
    pub width: Option<usize>,
    pub side: Option<usize>,
}

/// [`setup`] with `shape`'s width and side where given.
fn setup_shaped(
    gpu: &Gpu,
    name: &str,
    shape: ProfileShape,
    batch: usize,
    train: bool,
) -> Result<Setup> {
    let mut spec = ModelSpec::parse(name, None)?;
    if let Some(w) = shape.width {
        spec.width = w;
    }
    let side = shape
        .side
        .unwrap_or(if spec.family == reslab::model::Family::Imagenet {
            224
        } else {
            32
        });
    setup_spec(gpu, &spec, side, batch, train)
}

/// [`setup`] for any spec and `side`-pixel square inputs.
fn setup_spec(
    gpu: &Gpu,
    spec: &ModelSpec,
    side: usize,
    batch: usize,
    train: bool,
) -> Result<Setup> {
    let before = gpu.pool_stats().bytes_live;
    let (plan, params) = plan_for(gpu, spec, side, batch, train)?;
    let (x, y) = batch_for(spec, side, batch);
    plan.run(&x, &y, train.then_some(0.01), true)?;
    Ok(Setup {
        plan,
        _params: params,
        input: [spec.in_channels, side, side],
        memory_bytes: gpu.pool_stats().bytes_live.saturating_sub(before),
    })
}

/// A batch of random images and labels for `spec`.
fn batch_for(spec: &ModelSpec, side: usize, batch: usize) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::new(3);
    let x = rng.vec_normal(batch * spec.in_channels * side * side, 1.0);
    let y: Vec<u32> = (0..batch).map(|_| rng.below(spec.classes) as u32).collect();
    (x, y)
}

/// The plan a benchmark of `spec` runs (training: backward and SGD), and
/// the parameters it holds.
fn plan_for(
    gpu: &Gpu,
    spec: &ModelSpec,
    side: usize,
    batch: usize,
    train: bool,
) -> Result<(Plan, Params)> {
    let graph = Graph::build(spec, side, side)?;
    let params = Params::upload(gpu, &graph, &HostParams::init(&graph, 0))?;
    let opts = if train {
        PlanOptions {
            backward: true,
            sgd: Some(SgdConfig::default()),
            ..Default::default()
        }
    } else {
        // As the evaluator and `reslab infer` run it: batch norm in the
        // conv's pass where that pays.
        PlanOptions {
            fuse_bn: reslab::model::plan::fuse_bn_pays(gpu),
            ..Default::default()
        }
    };
    let mode = if train { Mode::Train } else { Mode::Eval };
    let plan = Plan::new(gpu, &graph, &params, batch, mode, opts)?;
    Ok((plan, params))
}

/// Throughput of a model: inference (BN eval) or full training steps, with
/// the useful work it does (convolutions and classifier, forward and, in
/// training, both backward passes); its fraction of the ceiling is left to
/// the caller, which samples the ceiling around it.
pub fn model(gpu: &Gpu, name: &str, batch: usize, train: bool, b: Budget) -> Result<ModelResult> {
    let s = setup(gpu, name, batch, train)?;
    let lr = train.then_some(0.01);
    // Back-to-back steps, one wait at the end: the throughput a training
    // loop sees. Three steps a sample where a step is short (under a third of
    // a second), one where it is long (the wait is then a small part of it).
    let mut steps = 1;
    let per = settle(b, || {
        let t = Instant::now();
        for _ in 0..steps {
            let mut enc = gpu
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("bench step"),
                });
            s.plan.record(&mut enc, lr, false)?;
            gpu.submit([enc.finish()]);
        }
        gpu.wait()?;
        let ms = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
        if ms < 1e3 / 3.0 {
            steps = 3;
        }
        Ok(ms)
    })?;
    let ms = median(per);
    let images_per_s = batch as f64 / (ms * 1e-3);
    let gflops = s.plan.graph.flops_per_image(train) as f64 * images_per_s / 1e9;
    Ok(ModelResult {
        model: name.into(),
        batch,
        mode: if train { "training" } else { "inference" }.into(),
        input: s.input,
        ms_per_batch: ms,
        images_per_s,
        dispatches: s.plan.program.len(),
        gflops,
        of_peak: 0.0,
        memory_bytes: s.memory_bytes,
    })
}

/// The probes' share of a training step: `model` at `width`, batch `batch`,
/// `side`-pixel images (the degradation experiment's setting), trained with
/// probes every 0 (baseline), 25 and 5 steps. Two measures: the probe's
/// reductions timed alone against the baseline step (precise), and the steps
/// timed with probes in them, the three variants alternating in each of
/// `rounds` rounds of 10 steps so that drift in the machine's speed falls on
/// all of them alike (per-step medians over the rounds; noisy where the
/// machine is).
pub fn probe_overhead(
    gpu: &Gpu,
    name: &str,
    width: usize,
    batch: usize,
    side: usize,
    rounds: usize,
) -> Result<Vec<ProbeResult>> {
    const EVERY: [usize; 3] = [0, 25, 5];
    const STEPS: usize = 10;
    let mut spec = ModelSpec::parse(name, None)?;
    spec.width = width;
    let s = setup_spec(gpu, &spec, side, batch, true)?;
    let plan = &s.plan;
    let mut probes = Probes::new(gpu, plan)?;
    probes.read_now()?;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); EVERY.len()];
    for round in 0..rounds.max(2) {
        for (i, &every) in EVERY.iter().enumerate() {
            let t = Instant::now();
            for step in 0..STEPS {
                let mut enc =
                    gpu.device()
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("bench step"),
                        });
                plan.record(&mut enc, Some(0.01), false)?;
                // Probing steps spread over the rounds as over a run.
                let global = round * STEPS + step;
                let probe = every > 0 && global.is_multiple_of(every);
                if probe {
                    // As in training: a probe still being read is waited for.
                    probes.record(&mut enc, global)?;
                }
                gpu.submit([enc.finish()]);
                if probe {
                    probes.submitted(global);
                }
                probes.collect(false)?;
            }
            gpu.wait()?;
            probes.collect(true)?;
            times[i].push(t.elapsed().as_secs_f64() * 1e3 / STEPS as f64);
        }
    }
    let ms: Vec<f64> = times.into_iter().map(median).collect();
    let budget = Budget {
        max_samples: 7,
        seconds: 5.0,
    };
    let (probe_ms, _) = time_program(gpu, probes.program(), &[0], budget)?;
    Ok(EVERY
        .iter()
        .zip(&ms)
        .map(|(&every, &m)| ProbeResult {
            model: name.into(),
            width,
            batch,
            side,
            every,
            dispatches: if every > 0 { probes.dispatches() } else { 0 },
            probe_ms: if every > 0 { probe_ms } else { 0.0 },
            cost: if every > 0 {
                probe_ms / every as f64 / ms[0]
            } else {
                0.0
            },
            ms_per_step: m,
            overhead: m / ms[0] - 1.0,
            rounds: rounds.max(2),
            steps_per_round: STEPS,
        })
        .collect())
}

/// Seconds from opening a fresh device (reslab's pipeline cache empty, the
/// driver's on-disk one as it is) to the end of the first resnet20 training
/// step at batch 128.
pub fn first_step_seconds() -> Result<f64> {
    let f = first_steps(false)?;
    Ok(f.open_s + f.plan_s + f.first_step_s)
}

/// Where the time to the first resnet20 training step at batch 128 on a
/// fresh device goes ([`first_step_seconds`] is the sum of the first three).
#[derive(Debug, Clone, Serialize)]
pub struct FirstStep {
    /// Opening the device.
    pub open_s: f64,
    /// The model's parameters uploaded and the plan built: its buffers, its
    /// bind groups and its pipelines, made on the compile threads meanwhile
    /// (the plan waits for the last).
    pub plan_s: f64,
    /// The first step, batch upload and read-back included: the driver's own
    /// work at a pipeline's first dispatch (lavapipe: its machine code, from
    /// its shader cache or compiled) falls here.
    pub first_step_s: f64,
    /// The step after it, for comparison (0 where not run).
    pub next_step_s: f64,
    /// Each pipeline of the plan and the seconds its creation took on its
    /// thread, slowest first (the threads run side by side, so these add
    /// up to more than `plan_s`).
    pub pipelines: Vec<(String, f64)>,
}

/// [`FirstStep`], with the next step too where `next`.
pub fn first_steps(next: bool) -> Result<FirstStep> {
    let spec = ModelSpec::parse("resnet20", None)?;
    let (side, batch) = (32, 128);
    let (x, y) = batch_for(&spec, side, batch);
    let t = Instant::now();
    let gpu = Gpu::new()?;
    let open_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (plan, _params) = plan_for(&gpu, &spec, side, batch, true)?;
    let plan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    plan.run(&x, &y, Some(0.01), true)?;
    let first_step_s = t.elapsed().as_secs_f64();
    let mut next_step_s = 0.0;
    if next {
        let t = Instant::now();
        plan.run(&x, &y, Some(0.01), false)?;
        next_step_s = t.elapsed().as_secs_f64();
    }
    let mut pipelines = gpu.pipeline_seconds()?;
    pipelines.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(FirstStep {
        open_s,
        plan_s,
        first_step_s,
        next_step_s,
        pipelines,
    })
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Runs everything; `progress` hears what is being measured.
pub fn run(gpu: &Gpu, opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let start = Instant::now();
    let reps = opts.repeats.max(1);
    // Kernels are short: many samples fit in a second. Whole models and the
    // probe rounds are long: a few samples, a longer budget.
    let kernels = Budget {
        max_samples: reps,
        seconds: if opts.quick { 1.0 } else { 3.0 },
    };
    let models_budget = Budget {
        max_samples: reps,
        seconds: if opts.quick { 4.0 } else { 20.0 },
    };
    let i = gpu.adapter_info();
    let timed = gpu
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
    let (mut conv, mut bw, mut models, mut first) = (Vec::new(), Vec::new(), Vec::new(), 0.0);
    let mut fma_samples = Vec::new();
    // First, while the process holds no more than a user's `reslab train`
    // does: measured after the other sections, with their gigabyte of
    // buffers and pipelines still held, the same step read 2.3 s against
    // 1.5–1.7 s.
    if !opts.probes_only && !opts.quick {
        progress("first training step on a fresh device");
        first = first_step_seconds()?;
    }
    if !opts.probes_only {
        progress("multiply-add ceiling");
        let ceiling = Ceiling::measure(gpu, kernels)?;
        fma_samples.push(ceiling.gflops);
        // The ceiling again after each measurement ([`Ceiling`]).
        let again = |samples: &mut Vec<f64>| -> Result<()> {
            samples.push(ceiling.sample(gpu)?);
            Ok(())
        };
        let batch = if opts.quick { 32 } else { 128 };
        for (shape, g) in conv_shapes(batch) {
            for pass in ["forward", "backward-data", "backward-weight"] {
                progress(&format!("conv {shape} {pass}"));
                let mut r = conv_pass(gpu, &g, pass, kernels)?;
                r.shape = shape.clone();
                again(&mut fma_samples)?;
                conv.push(r);
            }
        }
        progress("memory-bound passes");
        bw = bandwidth(gpu, kernels)?;
        let cases: &[(&str, usize, bool)] = if opts.quick {
            &[("resnet20", 32, false), ("resnet20", 32, true)]
        } else {
            &[
                ("resnet20", 128, false),
                ("resnet56", 128, false),
                ("resnet20", 32, true),
                ("resnet20", 128, true),
                ("resnet56", 32, true),
                ("resnet56", 128, true),
            ]
        };
        for &(name, b, train) in cases {
            progress(&format!(
                "{name} batch {b} {}",
                if train { "training" } else { "inference" }
            ));
            models.push(model(gpu, name, b, train, models_budget)?);
            again(&mut fma_samples)?;
        }
    }
    // Every fraction against the highest sample.
    let fma = fma_samples.iter().copied().fold(0.0, f64::max);
    for c in &mut conv {
        c.kernel_of_peak = c.kernel_gflops / fma;
    }
    for m in &mut models {
        m.of_peak = m.gflops / fma;
    }
    let mut probes = Vec::new();
    let probe_cases: &[&str] = if opts.quick {
        &["resnet20"]
    } else {
        &["resnet20", "resnet56"]
    };
    for &name in probe_cases {
        progress(&format!("{name} training with probes"));
        probes.extend(probe_overhead(gpu, name, 8, 64, 16, reps.clamp(2, 3))?);
    }
    Ok(Report {
        device: Device {
            adapter: i.name.clone(),
            backend: i.backend.to_string(),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
        },
        date: today(),
        commit: opts.commit.clone(),
        timing: if timed {
            "gpu timestamps"
        } else {
            "wall clock"
        }
        .into(),
        repeats: reps,
        fma_gflops: fma,
        fma_samples,
        conv,
        bandwidth: bw,
        models,
        probes,
        first_train_step_s: first,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// One entry point's share of a step: how many dispatches ran it and how long
/// they took together.
#[derive(Debug, Clone, Serialize)]
pub struct KernelShare {
    pub kernel: String,
    pub dispatches: usize,
    pub ms: f64,
}

/// One dispatch of a step, in program order: its entry point, the shapes of
/// the tensors bound to it (binding order), its workgroups and its time; and
/// the bytes copied into texel textures just before it, and of those the
/// bytes that repeat the texture's previous copy
/// ([`Program::repeated_texel_copies`](reslab::kernels::Program::repeated_texel_copies)).
#[derive(Debug, Clone, Serialize)]
pub struct DispatchTime {
    pub kernel: String,
    pub shapes: Vec<Vec<usize>>,
    pub workgroups: [u32; 3],
    pub ms: f64,
    pub texel_bytes: u64,
    pub repeated_texel_bytes: u64,
}

/// Every dispatch of one step of `name` (training with `train`, else
/// inference) at `batch`, shaped as `shape` says, in program order, timed by
/// GPU timestamps (medians over settled runs). `None` when the adapter has
/// no timestamps inside passes.
pub fn step_dispatches(
    gpu: &Gpu,
    name: &str,
    shape: ProfileShape,
    batch: usize,
    train: bool,
    b: Budget,
) -> Result<Option<Vec<DispatchTime>>> {
    let s = setup_shaped(gpu, name, shape, batch, train)?;
    let prog = &s.plan.program;
    let Some(ms) = dispatch_ms(gpu, prog, b)? else {
        return Ok(None);
    };
    let repeats = prog.repeated_texel_copies();
    Ok(Some(
        prog.dispatches
            .iter()
            .zip(ms)
            .zip(repeats)
            .map(|((d, ms), repeated)| DispatchTime {
                kernel: d.label().to_string(),
                shapes: d.bound_shapes().map(<[usize]>::to_vec).collect(),
                workgroups: d.workgroups(),
                ms,
                texel_bytes: d.texel_copy_bytes(),
                repeated_texel_bytes: repeated,
            })
            .collect(),
    ))
}

/// Where a step goes: the times of [`step_dispatches`] summed by entry
/// point, largest first.
pub fn by_kernel(each: &[DispatchTime]) -> Vec<KernelShare> {
    let times: Vec<(String, f64)> = each.iter().map(|d| (d.kernel.clone(), d.ms)).collect();
    profile::by_kernel(&times)
        .into_iter()
        .map(|(kernel, ms, dispatches)| KernelShare {
            kernel,
            dispatches,
            ms,
        })
        .collect()
}
