//! `reslab bench --tune`: times every tiling of the tiled stride-1 passes
//! (forward, backward-data, weight gradient), both weight reads of the
//! stride-2 forward, the stride-2 weight gradient's kernels and both ways batch norm's training passes read their
//! activations (storage or texels) at the ResNet-20/56 stage shapes
//! on this adapter and keeps the fastest for each shape in the adapter's
//! tuning table (`reslab::device::tuning`), which later plans on the same
//! adapter and driver follow. A shape's variants are timed in alternating
//! rounds, and the default stays unless another is faster by [`MARGIN`].
//! The variants give the same bits, so a table changes speed only.

use serde::Serialize;

use reslab::device::Gpu;
use reslab::error::Result;
use reslab::kernels::Program;
use reslab::kernels::batchnorm::{self, BnReads, BnSums, Padded, ResidualGrad};
use reslab::kernels::conv2d::{self, S2Tiling, S2Wgrad, Tiling, Variant, WgradTiling};
use reslab::ops::{BnGeom, BnOptions, Conv2dGeom, PadGeom};
use reslab::rng::Rng;

use crate::{Budget, conv_shapes, median};

/// One tuned pass: its key in the table, every tiling's kernel time, the choice.
#[derive(Debug, Clone, Serialize)]
pub struct TuneResult {
    /// The table's key (pass and shape).
    pub key: String,
    /// Shape and pass, for people.
    pub what: String,
    /// (tiling, kernel milliseconds), in the order tried.
    pub times_ms: Vec<(String, f64)>,
    pub chosen: String,
    /// The tiling the adapter gets without a table, and how much slower it
    /// is than the chosen one (1.0 when it is the chosen one).
    pub default: String,
    pub default_vs_chosen: f64,
}

/// The layout of an [N, C, H, W] tensor as conv2d_pad writes it unpadded:
/// that pass as a plain copy (its rows must be whole vec4s).
fn unpadded([n, c, h, w]: [usize; 4]) -> PadGeom {
    PadGeom {
        n,
        c,
        h,
        w,
        hp: h,
        pitch: w,
        oy: 0,
        ox: 0,
        dil: 1,
    }
}

fn upload(gpu: &Gpu, rng: &mut Rng, shape: &[usize]) -> Result<reslab::Tensor> {
    let n = shape.iter().product();
    gpu.upload(shape, &rng.vec_uniform(n, -1.0, 1.0))
}

/// How a tuned forward pass runs: a stride-1 tiling, or the stride-2 pass's
/// weight reads.
#[derive(Clone, Copy)]
enum Forward {
    S1(Tiling),
    S2(S2Tiling),
}

/// One tiled forward of `g` run as `t` (the stride-1 backward-data pass is
/// this over dy padded, in its own geometry), every dispatch of it timed: a
/// tiling may run in several (one per run of channels). Its padded input is
/// written just before it, untimed, as the batch norm before a conv in a
/// training step writes it.
fn forward_prog(gpu: &Gpu, g: &Conv2dGeom, t: Forward) -> Result<Timed> {
    let mut rng = Rng::new(4);
    let pg = g.forward_pad();
    let x = upload(gpu, &mut rng, &g.x_shape())?;
    let w = upload(gpu, &mut rng, &g.w_shape())?;
    let (xp, wt) = (
        gpu.tensor(&pg.shape())?,
        conv2d::weight_tiles_tensor(
            gpu,
            &mut conv2d::Fresh,
            &conv2d::weight_tiles_shape(g, false),
        )?,
    );
    let mut prep = Program::new();
    conv2d::conv2d_weight_tiles(gpu, &mut prep, &wt, &w, g, false)?;
    prep.run(gpu)?;
    let y = gpu.tensor(&g.y_shape())?;
    let mut prog = Program::new();
    conv2d::conv2d_pad(gpu, &mut prog, &xp, &x, &pg)?;
    let first = prog.len();
    match t {
        Forward::S1(t) => {
            conv2d::conv2d_forward_tiled_as(gpu, &mut prog, &y, &xp, &wt, None, g, false, Some(t))?
        }
        Forward::S2(t) => {
            conv2d::conv2d_forward_s2_as(gpu, &mut prog, &y, &xp, &wt, None, g, false, t)?
        }
    }
    Ok(Timed {
        counted: (first..prog.len()).collect(),
        prog,
        _keep: vec![x, xp, wt, y],
    })
}

/// How a tuned weight gradient runs: a stride-1 tiling, or the stride-2
/// pass's kernel.
#[derive(Clone, Copy)]
enum Wgrad {
    S1(WgradTiling),
    S2(S2Wgrad),
}

/// The tiled weight gradient of `g` run as `t`, its first dispatch timed
/// (the chunk reduction after it aside). dy is written just before it,
/// untimed, as the batch norm backward before it in a training step writes
/// it: on lavapipe at batch 128 the 16-channel kernels took 1.5–2 times as
/// long over a dy fresh from memory as over one just written, which ranked
/// them behind the 8-channel ones, the other way round from a training step.
fn wgrad_prog(gpu: &Gpu, g: &Conv2dGeom, t: Wgrad) -> Result<Timed> {
    let mut rng = Rng::new(5);
    let pg = g.forward_pad();
    let x = upload(gpu, &mut rng, &g.x_shape())?;
    let xp = gpu.tensor(&pg.shape())?;
    let mut prep = Program::new();
    conv2d::conv2d_pad(gpu, &mut prep, &xp, &x, &pg)?;
    prep.run(gpu)?;
    let dy = upload(gpu, &mut rng, &g.y_shape())?;
    // dy's rows as the pass reads them: padded to 4 floats where they are
    // not whole vec4s, else as they are.
    let dpg = conv2d::backward_weight_dy_pad(g).unwrap_or(unpadded(g.y_shape()));
    let dyv = gpu.tensor(&dpg.shape())?;
    let dw = gpu.tensor(&g.w_shape())?;
    let mut prog = Program::new();
    conv2d::conv2d_pad(gpu, &mut prog, &dyv, &dy, &dpg)?;
    let first = prog.len();
    match t {
        Wgrad::S1(t) => {
            conv2d::conv2d_backward_weight_tiled_as(gpu, &mut prog, &dw, &dyv, &xp, g, Some(t))?
        }
        Wgrad::S2(t) => conv2d::conv2d_backward_weight_s2_as(gpu, &mut prog, &dw, &dyv, &xp, g, t)?,
    }
    Ok(Timed {
        counted: vec![first],
        prog,
        _keep: vec![x, xp, dy, dyv, dw],
    })
}

/// Batch norm's fused training passes over the input of `g` (forward with
/// ReLU and a residual, writing the padded copy the next convolution reads;
/// backward writing dx's) with the tuning table's `key` set to `variant`
/// (how they read, or how wide their sums are), all timed. Their inputs
/// fresh from the pass before in a training step (the forward's x from the
/// conv, the backward's dout from the conv's backward-data) are written just
/// before them, untimed.
fn batchnorm_prog(gpu: &Gpu, g: &Conv2dGeom, key: &str, variant: &str) -> Result<Timed> {
    let bg = BnGeom {
        n: g.n,
        c: g.cin,
        hw: g.h * g.w,
    };
    let pg = g.forward_pad();
    let mut rng = Rng::new(6);
    let shape = g.x_shape();
    let (x0, res, dout0) = (
        upload(gpu, &mut rng, &shape)?,
        upload(gpu, &mut rng, &shape)?,
        upload(gpu, &mut rng, &shape)?,
    );
    let (x, dout) = (gpu.tensor(&shape)?, gpu.tensor(&shape)?);
    let (y, dx, dres) = (
        gpu.tensor(&shape)?,
        gpu.tensor(&shape)?,
        gpu.tensor(&shape)?,
    );
    // Cleared, and written with their zero rows left as they are, as a
    // plan's are.
    let (yp, dxp) = (gpu.zeros(&pg.shape())?, gpu.zeros(&pg.shape())?);
    // Pairs of per-channel vectors in one buffer each, as a plan lays them
    // out (the fused passes read and write each pair through one binding).
    let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
    let at = (2 * bg.c).next_multiple_of(align);
    let pair = |len: usize, fill: f32| -> Result<(reslab::Tensor, reslab::Tensor)> {
        let t = gpu.upload(&[at + len], &vec![fill; at + len])?;
        let shape = if len == bg.c {
            vec![bg.c]
        } else {
            vec![2, bg.c]
        };
        Ok((t.view(0, &shape)?, t.view(at, &shape)?))
    };
    let (saved, coef) = pair(2 * bg.c, 0.0)?;
    let (rm, rv) = pair(bg.c, 1.0)?;
    let (gamma, beta) = pair(bg.c, 1.0)?;
    let (dgamma, dbeta) = pair(bg.c, 0.0)?;
    let o = BnOptions {
        relu: true,
        ..Default::default()
    };
    gpu.set_tuned(key, Some(variant))?;
    let mut prog = Program::new();
    conv2d::conv2d_pad(gpu, &mut prog, &x, &x0, &unpadded(shape))?;
    let forward = prog.len();
    batchnorm::batchnorm_forward_train_padded(
        gpu,
        &mut prog,
        &y,
        Some(Padded {
            xp: &yp,
            pg: &pg,
            halo_zero: true,
        }),
        &saved,
        &coef,
        &rm,
        &rv,
        &x,
        &gamma,
        &beta,
        Some(&res),
        &bg,
        &o,
    )?;
    let forward = forward..prog.len();
    conv2d::conv2d_pad(gpu, &mut prog, &dout, &dout0, &unpadded(shape))?;
    let backward = prog.len();
    batchnorm::batchnorm_backward_padded(
        gpu,
        &mut prog,
        &dx,
        Some(Padded {
            xp: &dxp,
            pg: &pg,
            halo_zero: true,
        }),
        &dgamma,
        &dbeta,
        Some(ResidualGrad {
            dres: &dres,
            accumulate: false,
        }),
        &dout,
        Some(&y),
        &x,
        &saved,
        Some(batchnorm::TrainForward {
            coef: &coef,
            residual: true,
        }),
        &gamma,
        &bg,
    )?;
    Ok(Timed {
        counted: forward.chain(backward..prog.len()).collect(),
        prog,
        _keep: vec![
            x0, x, res, dout0, dout, y, dx, dres, yp, dxp, saved, coef, rm, rv, gamma, beta,
            dgamma, dbeta,
        ],
    })
}

/// A program to time, which of its dispatches count (the others write the
/// pass's inputs first, as the pass before it in a training step does, so
/// that it reads them from the cache as it does there), and the tensors it
/// reads and writes, kept alive as long as it is.
struct Timed {
    prog: Program,
    counted: Vec<usize>,
    _keep: Vec<reslab::Tensor>,
}

/// The median milliseconds of each of `variants`, timed in turn: each round
/// runs every variant once, a round starting one further along, so that a
/// host whose speed drifts (a shared VM) moves all of them alike. Kernel
/// times from GPU timestamps (the counted dispatches), else the wall clock
/// of a whole run (the writes before the pass included).
fn race(gpu: &Gpu, variants: &[Timed], b: Budget) -> Result<Vec<f64>> {
    let n = variants.len();
    // A warm-up run of each: pipelines made, caches filled.
    for v in variants {
        v.prog.run(gpu)?;
    }
    let rounds = b.max_samples.max(3);
    let start = std::time::Instant::now();
    let mut samples = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let v = &variants[i];
            let ms = match crate::profile::profile(gpu, &v.prog)? {
                Some(t) => v.counted.iter().map(|&i| t[i].1 / 1e6).sum(),
                None => {
                    let t = std::time::Instant::now();
                    v.prog.run(gpu)?;
                    t.elapsed().as_secs_f64() * 1e3
                }
            };
            samples[i].push(ms);
        }
        // Three rounds at least; more while the budget lasts.
        if round >= 2 && start.elapsed().as_secs_f64() > b.seconds * n as f64 {
            break;
        }
    }
    Ok(samples.into_iter().map(median).collect())
}

/// How much faster than the default a variant must be to be kept instead:
/// closer than this is noise on a busy host, and the default stays.
pub const MARGIN: f64 = 0.05;

/// The choice among `times`: the fastest, unless the default is within
/// [`MARGIN`] of it; and how the default compares with the fastest.
fn result(key: String, what: String, times: Vec<(String, f64)>, default: &str) -> TuneResult {
    let (fastest, best) = times
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, t)| (n.clone(), *t))
        .unwrap_or_default();
    let default_ms = times
        .iter()
        .find(|(n, _)| n == default)
        .map_or(best, |(_, t)| *t);
    let chosen = if default_ms <= best * (1.0 + MARGIN) {
        default.to_string()
    } else {
        fastest
    };
    TuneResult {
        key,
        what,
        times_ms: times,
        chosen,
        default: default.to_string(),
        default_vs_chosen: default_ms / best,
    }
}

/// Races `variants` (named) and files the result under `key`.
fn tuned<V: Copy>(
    gpu: &Gpu,
    b: Budget,
    key: String,
    what: String,
    variants: &[(V, &str)],
    default: &str,
    prog: impl Fn(V) -> Result<Timed>,
) -> Result<TuneResult> {
    let timed = variants
        .iter()
        .map(|&(v, _)| prog(v))
        .collect::<Result<Vec<_>>>()?;
    let ms = race(gpu, &timed, b)?;
    let times = variants
        .iter()
        .zip(ms)
        .map(|(&(_, name), t)| (name.to_string(), t))
        .collect();
    Ok(result(key, what, times, default))
}

fn named<V: Variant>() -> Vec<(V, &'static str)> {
    V::ALL.iter().map(|&v| (v, v.name())).collect()
}

/// Measures every tiling of the tiled passes at the stage shapes at batch
/// `batch`, each shape's variants raced against each other ([`race`]), and
/// sets the choice ([`result`]) as this process's on `gpu` (the caller saves
/// the table). `progress` hears each shape.
pub fn tune(
    gpu: &Gpu,
    batch: usize,
    b: Budget,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<TuneResult>> {
    let mut out = Vec::new();
    for (shape, g) in conv_shapes(batch).into_iter().filter(|(_, g)| g.sh == 1) {
        let Some((t, _)) = conv2d::backward_data_plan(&g) else {
            continue;
        };
        for (pass, geom) in [("forward", g), ("backward-data", t)] {
            progress(&format!("{shape} {pass}"));
            out.push(tuned(
                gpu,
                b,
                conv2d::variant_key::<Tiling>(&geom),
                format!("{shape} {pass}"),
                &named::<Tiling>(),
                conv2d::default_variant::<Tiling>(gpu).name(),
                |t| forward_prog(gpu, &geom, Forward::S1(t)),
            )?);
        }
        progress(&format!("{shape} backward-weight"));
        out.push(tuned(
            gpu,
            b,
            conv2d::variant_key::<WgradTiling>(&g),
            format!("{shape} backward-weight"),
            &named::<WgradTiling>(),
            conv2d::default_variant::<WgradTiling>(gpu).name(),
            |t| wgrad_prog(gpu, &g, Wgrad::S1(t)),
        )?);
    }
    for (shape, g) in conv_shapes(batch).into_iter().filter(|(_, g)| g.sh == 2) {
        progress(&format!("{shape} forward"));
        out.push(tuned(
            gpu,
            b,
            conv2d::variant_key::<S2Tiling>(&g),
            format!("{shape} forward"),
            &named::<S2Tiling>(),
            conv2d::default_variant::<S2Tiling>(gpu).name(),
            |t| forward_prog(gpu, &g, Forward::S2(t)),
        )?);
        progress(&format!("{shape} backward-weight"));
        out.push(tuned(
            gpu,
            b,
            conv2d::variant_key::<S2Wgrad>(&g),
            format!("{shape} backward-weight"),
            &named::<S2Wgrad>(),
            conv2d::default_variant::<S2Wgrad>(gpu).name(),
            |t| wgrad_prog(gpu, &g, Wgrad::S2(t)),
        )?);
    }
    for (shape, g) in conv_shapes(batch).into_iter().filter(|(_, g)| g.sh == 1) {
        let bg = BnGeom {
            n: g.n,
            c: g.cin,
            hw: g.h * g.w,
        };
        // Reads first, with the default sums; then the sums with the reads
        // just chosen (each program is recorded with its reads or sums set).
        gpu.set_tuned(&batchnorm::sums_key(&bg), None)?;
        progress(&format!("{shape} batch norm"));
        out.push(tuned(
            gpu,
            b,
            batchnorm::reads_key(&bg),
            format!("{shape} batch norm training passes"),
            &named::<BnReads>(),
            BnReads::default_for(gpu).name(),
            |reads| batchnorm_prog(gpu, &g, &batchnorm::reads_key(&bg), reads.name()),
        )?);
        let reads = out[out.len() - 1].chosen.clone();
        gpu.set_tuned(&batchnorm::reads_key(&bg), Some(&reads))?;
        // The narrow and one-pass sums run only on CPU adapters
        // (batchnorm::tuned_sums).
        if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
            progress(&format!("{shape} batch norm sums"));
            out.push(tuned(
                gpu,
                b,
                batchnorm::sums_key(&bg),
                format!("{shape} batch norm sums"),
                &named::<BnSums>(),
                BnSums::default_for(gpu).name(),
                |sums| batchnorm_prog(gpu, &g, &batchnorm::sums_key(&bg), sums.name()),
            )?);
        }
    }
    for r in &out {
        gpu.set_tuned(&r.key, Some(&r.chosen))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels of `t`'s dispatches, split into the counted and the rest.
    fn split(t: &Timed) -> (Vec<String>, Vec<String>) {
        let (mut counted, mut rest) = (Vec::new(), Vec::new());
        for (i, d) in t.prog.dispatches.iter().enumerate() {
            let label = d.label().to_string();
            if t.counted.contains(&i) {
                counted.push(label);
            } else {
                rest.push(label);
            }
        }
        (counted, rest)
    }

    #[test]
    fn a_race_times_the_pass_alone_after_writing_what_it_reads() {
        let gpu = Gpu::new().expect("a wgpu adapter");
        for (shape, g) in crate::conv_shapes(2) {
            let mut progs = vec![(
                "weight gradient",
                wgrad_prog(
                    &gpu,
                    &g,
                    match g.sh {
                        1 => Wgrad::S1(conv2d::default_variant(&gpu)),
                        _ => Wgrad::S2(conv2d::default_variant(&gpu)),
                    },
                )
                .unwrap(),
            )];
            if g.sh == 1 {
                let t = conv2d::default_variant(&gpu);
                progs.push(("forward", forward_prog(&gpu, &g, Forward::S1(t)).unwrap()));
                let bg = BnGeom {
                    n: g.n,
                    c: g.cin,
                    hw: g.h * g.w,
                };
                let key = batchnorm::reads_key(&bg);
                let prog =
                    batchnorm_prog(&gpu, &g, &key, BnReads::default_for(&gpu).name()).unwrap();
                gpu.set_tuned(&key, None).unwrap();
                progs.push(("batch norm", prog));
            }
            for (what, t) in &progs {
                t.prog.run(&gpu).unwrap();
                let (counted, rest) = split(t);
                let pass = |l: &String| match *what {
                    "weight gradient" => l.contains("backward_weight_tiled"),
                    "forward" => l.contains("forward_tiled"),
                    _ => l.starts_with("batchnorm_"),
                };
                // The pass's own dispatches count (batch norm's include its
                // copies and padding where the device's limits split it).
                assert!(
                    counted.first().is_some_and(pass),
                    "{shape} {what}: counted {counted:?}"
                );
                // What is not counted: the writes of the pass's inputs just
                // before it (one per input, the first of them the program's
                // first dispatch), and the weight gradient's reduction of its
                // chunks.
                assert!(!t.counted.contains(&0), "{shape} {what}");
                let writes = rest.iter().filter(|l| l.contains("conv2d_pad")).count();
                let want = if *what == "batch norm" { 2 } else { 1 };
                assert_eq!(writes, want, "{shape} {what}: not counted {rest:?}");
                assert!(
                    rest.iter()
                        .all(|l| l.contains("conv2d_pad") || l.contains("reduce")),
                    "{shape} {what}: not counted {rest:?}"
                );
            }
        }
    }

    fn times(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|&(n, t)| (n.to_string(), t)).collect()
    }

    #[test]
    fn the_default_stays_unless_another_is_clearly_faster() {
        let r = result(
            "k".into(),
            "w".into(),
            times(&[("a", 10.0), ("b", 10.4)]),
            "b",
        );
        assert_eq!(r.chosen, "b", "4% is within the margin");
        assert!((r.default_vs_chosen - 1.04).abs() < 1e-9);
        let r = result(
            "k".into(),
            "w".into(),
            times(&[("a", 10.0), ("b", 10.6)]),
            "b",
        );
        assert_eq!(r.chosen, "a", "6% is not");
        let r = result(
            "k".into(),
            "w".into(),
            times(&[("a", 10.0), ("b", 9.0)]),
            "b",
        );
        assert_eq!(r.chosen, "b", "the default is the fastest");
        assert_eq!(r.default_vs_chosen, 1.0);
    }
}
