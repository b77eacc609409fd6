//! `reslab bench --tune`: times every tiling of the tiled stride-1 passes
//! (forward, backward-data, weight gradient), both weight reads of the
//! stride-2 forward, the stride-2 weight gradient's kernels and both ways batch norm's training passes read their
//! activations (storage or texels) at the ResNet-20/56 stage shapes
//! on this adapter and keeps the fastest for each shape in the adapter's
//! tuning table (`reslab::device::tuning`), which later plans on the same
//! adapter and driver follow. The variants give the same bits, so a table
//! changes speed only.

use serde::Serialize;

use reslab::device::Gpu;
use reslab::error::Result;
use reslab::kernels::Program;
use reslab::kernels::batchnorm::{self, BnReads, Padded, ResidualGrad};
use reslab::kernels::conv2d::{self, S2Tiling, S2Wgrad, Tiling, Variant, WgradTiling};
use reslab::ops::{BnGeom, BnOptions, Conv2dGeom};
use reslab::rng::Rng;

use crate::{Budget, conv_shapes, time_program};

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

/// Kernel milliseconds of one tiled forward of `g` run as `t` (the stride-1
/// backward-data pass is this over dy padded, in its own geometry).
fn forward_ms(gpu: &Gpu, g: &Conv2dGeom, t: Forward, b: Budget) -> Result<f64> {
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
    conv2d::conv2d_pad(gpu, &mut prep, &xp, &x, &pg)?;
    conv2d::conv2d_weight_tiles(gpu, &mut prep, &wt, &w, g, false)?;
    prep.run(gpu)?;
    let y = gpu.tensor(&g.y_shape())?;
    let mut prog = Program::new();
    match t {
        Forward::S1(t) => {
            conv2d::conv2d_forward_tiled_as(gpu, &mut prog, &y, &xp, &wt, None, g, false, Some(t))?
        }
        Forward::S2(t) => {
            conv2d::conv2d_forward_s2_as(gpu, &mut prog, &y, &xp, &wt, None, g, false, t)?
        }
    }
    // Every dispatch: a tiling may run in several (one per run of channels).
    Ok(time_program(gpu, &prog, &[], b)?.0)
}

/// How a tuned weight gradient runs: a stride-1 tiling, or the stride-2
/// pass's kernel.
#[derive(Clone, Copy)]
enum Wgrad {
    S1(WgradTiling),
    S2(S2Wgrad),
}

/// Kernel milliseconds of the tiled weight gradient of `g` run as `t` (the
/// chunk reduction after it aside).
fn wgrad_ms(gpu: &Gpu, g: &Conv2dGeom, t: Wgrad, b: Budget) -> Result<f64> {
    let mut rng = Rng::new(5);
    let pg = g.forward_pad();
    let x = upload(gpu, &mut rng, &g.x_shape())?;
    let xp = gpu.tensor(&pg.shape())?;
    let mut prep = Program::new();
    conv2d::conv2d_pad(gpu, &mut prep, &xp, &x, &pg)?;
    let dyv = match conv2d::backward_weight_dy_pad(g) {
        Some(dpg) => {
            let dy = upload(gpu, &mut rng, &g.y_shape())?;
            let t = gpu.tensor(&dpg.shape())?;
            conv2d::conv2d_pad(gpu, &mut prep, &t, &dy, &dpg)?;
            t
        }
        None => upload(gpu, &mut rng, &g.y_shape())?,
    };
    prep.run(gpu)?;
    let dw = gpu.tensor(&g.w_shape())?;
    let mut prog = Program::new();
    match t {
        Wgrad::S1(t) => {
            conv2d::conv2d_backward_weight_tiled_as(gpu, &mut prog, &dw, &dyv, &xp, g, Some(t))?
        }
        Wgrad::S2(t) => conv2d::conv2d_backward_weight_s2_as(gpu, &mut prog, &dw, &dyv, &xp, g, t)?,
    }
    Ok(time_program(gpu, &prog, &[0], b)?.1)
}

/// Milliseconds of batch norm's fused training passes over the input of
/// `g` (forward with ReLU and a residual, writing the padded copy the next
/// convolution reads; backward writing dx's) with its reads `reads`.
fn batchnorm_ms(gpu: &Gpu, g: &Conv2dGeom, reads: BnReads, b: Budget) -> Result<f64> {
    let bg = BnGeom {
        n: g.n,
        c: g.cin,
        hw: g.h * g.w,
    };
    let pg = g.forward_pad();
    let mut rng = Rng::new(6);
    let shape = g.x_shape();
    let (x, res, dout) = (
        upload(gpu, &mut rng, &shape)?,
        upload(gpu, &mut rng, &shape)?,
        upload(gpu, &mut rng, &shape)?,
    );
    let (y, dx, dres) = (
        gpu.tensor(&shape)?,
        gpu.tensor(&shape)?,
        gpu.tensor(&shape)?,
    );
    let (yp, dxp) = (gpu.tensor(&pg.shape())?, gpu.tensor(&pg.shape())?);
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
    gpu.set_tuned(&batchnorm::reads_key(&bg), Some(reads.name()))?;
    let mut prog = Program::new();
    batchnorm::batchnorm_forward_train_padded(
        gpu,
        &mut prog,
        &y,
        Some(Padded { xp: &yp, pg: &pg }),
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
    batchnorm::batchnorm_backward_padded(
        gpu,
        &mut prog,
        &dx,
        Some(Padded { xp: &dxp, pg: &pg }),
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
        &gamma,
        &bg,
    )?;
    Ok(time_program(gpu, &prog, &[], b)?.0)
}

/// The fastest of `times`, and how the default compares with it.
fn result(key: String, what: String, times: Vec<(String, f64)>, default: &str) -> TuneResult {
    let (chosen, best) = times
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, t)| (n.clone(), *t))
        .unwrap_or_default();
    let default_ms = times
        .iter()
        .find(|(n, _)| n == default)
        .map_or(best, |(_, t)| *t);
    TuneResult {
        key,
        what,
        times_ms: times,
        chosen,
        default: default.to_string(),
        default_vs_chosen: default_ms / best,
    }
}

/// Measures every tiling of the stride-1 passes at the stage shapes at batch
/// `batch` and sets the fastest as this process's choice on `gpu` (the caller
/// saves the table). `progress` hears each shape.
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
            let mut times = Vec::new();
            for &tiling in Tiling::ALL {
                times.push((
                    tiling.name().to_string(),
                    forward_ms(gpu, &geom, Forward::S1(tiling), b)?,
                ));
            }
            let default = conv2d::default_variant::<Tiling>(gpu).name();
            out.push(result(
                conv2d::variant_key::<Tiling>(&geom),
                format!("{shape} {pass}"),
                times,
                default,
            ));
        }
        progress(&format!("{shape} backward-weight"));
        let mut times = Vec::new();
        for &tiling in WgradTiling::ALL {
            times.push((
                tiling.name().to_string(),
                wgrad_ms(gpu, &g, Wgrad::S1(tiling), b)?,
            ));
        }
        let default = conv2d::default_variant::<WgradTiling>(gpu).name();
        out.push(result(
            conv2d::variant_key::<WgradTiling>(&g),
            format!("{shape} backward-weight"),
            times,
            default,
        ));
    }
    for (shape, g) in conv_shapes(batch).into_iter().filter(|(_, g)| g.sh == 2) {
        progress(&format!("{shape} forward"));
        let mut times = Vec::new();
        for &t in S2Tiling::ALL {
            times.push((
                t.name().to_string(),
                forward_ms(gpu, &g, Forward::S2(t), b)?,
            ));
        }
        let default = conv2d::default_variant::<S2Tiling>(gpu).name();
        out.push(result(
            conv2d::variant_key::<S2Tiling>(&g),
            format!("{shape} forward"),
            times,
            default,
        ));
        progress(&format!("{shape} backward-weight"));
        let mut times = Vec::new();
        for &t in S2Wgrad::ALL {
            times.push((t.name().to_string(), wgrad_ms(gpu, &g, Wgrad::S2(t), b)?));
        }
        let default = conv2d::default_variant::<S2Wgrad>(gpu).name();
        out.push(result(
            conv2d::variant_key::<S2Wgrad>(&g),
            format!("{shape} backward-weight"),
            times,
            default,
        ));
    }
    for (shape, g) in conv_shapes(batch).into_iter().filter(|(_, g)| g.sh == 1) {
        let bg = BnGeom {
            n: g.n,
            c: g.cin,
            hw: g.h * g.w,
        };
        progress(&format!("{shape} batch norm"));
        let mut times = Vec::new();
        for &reads in BnReads::ALL {
            times.push((reads.name().to_string(), batchnorm_ms(gpu, &g, reads, b)?));
        }
        let default = BnReads::DEFAULT.name();
        out.push(result(
            batchnorm::reads_key(&bg),
            format!("{shape} batch norm training passes"),
            times,
            default,
        ));
    }
    for r in &out {
        gpu.set_tuned(&r.key, Some(&r.chosen))?;
    }
    Ok(out)
}
