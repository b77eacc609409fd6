//! Loss landscapes (Li et al. 2018): the loss and accuracy at θ* + a·d₁ + b·d₂
//! over a grid, for two random directions that are *filter-normalised* (each
//! filter rescaled to the norm of the matching filter of θ*; batch-norm
//! parameters and biases get no direction). Each grid point moves the weights on
//! the GPU (two axpby passes over the flat parameter buffer) and evaluates a fixed
//! set of test images with BN in eval mode, in one submission. A 1-D slice takes
//! one direction; interpolation goes from θ* toward a second checkpoint.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::loader::first_batch;
use crate::data::{Normalize, Split};
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::kernels::{Program, elementwise};
use crate::model::graph::ParamSpec;
use crate::model::plan::PlanOptions;
use crate::model::{Graph, HostParams, Mode, Params, Plan};
use crate::rng::Rng;

/// A random direction, filter-normalised to `theta`: per output filter of a
/// conv weight (and per row of the classifier weight) the norm of θ's filter;
/// zero for batch-norm parameters and biases.
pub fn filter_normalised(specs: &[ParamSpec], theta: &[Vec<f32>], rng: &mut Rng) -> Vec<Vec<f32>> {
    specs
        .iter()
        .zip(theta)
        .map(|(s, w)| {
            if s.shape.len() < 2 {
                return vec![0.0; w.len()];
            }
            let filters = s.shape[0];
            let per = w.len() / filters;
            let mut d = rng.vec_normal(w.len(), 1.0);
            for f in 0..filters {
                let (wf, df) = (&w[f * per..(f + 1) * per], &mut d[f * per..(f + 1) * per]);
                let nw = wf.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                let nd = df.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                let k = if nd > 0.0 { (nw / nd) as f32 } else { 0.0 };
                df.iter_mut().for_each(|v| *v *= k);
            }
            d
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    /// "2d", "1d" or "interpolation"
    pub mode: String,
    pub images: usize,
    pub xs: Vec<f64>,
    /// Empty for 1-D modes.
    pub ys: Vec<f64>,
    /// loss[row][col] (row: ys, col: xs); one row for 1-D modes.
    pub loss: Vec<Vec<f64>>,
    pub accuracy: Vec<Vec<f64>>,
    pub seconds: f64,
    pub seed: u64,
}

/// Where the grid goes.
#[derive(Debug, Clone)]
pub enum Directions {
    /// Two filter-normalised random directions.
    Plane { seed: u64 },
    /// One filter-normalised random direction.
    Line { seed: u64 },
    /// Toward another model's parameters and running statistics (x = 1 there).
    Toward(HostParams),
}

/// Most grid points of one landscape (a 2-D grid of 316 x 316).
pub const MAX_POINTS: usize = 100_000;
/// Largest distance along a direction: a filter-normalised direction is as
/// long as the weights it is drawn for (Li et al. plot [-1, 1]).
pub const MAX_RANGE: f64 = 1000.0;

/// Checks a grid of `grid` points per axis over `range` (`two_d`: a plane).
pub fn check(grid: usize, range: (f64, f64), two_d: bool) -> Result<()> {
    let points = if two_d {
        grid.checked_mul(grid)
    } else {
        Some(grid)
    };
    if grid < 2 || points.is_none_or(|p| p > MAX_POINTS) {
        return Err(Error::invalid(format!(
            "--grid {grid}: give 2 to {} points per axis",
            if two_d {
                (MAX_POINTS as f64).sqrt() as usize
            } else {
                MAX_POINTS
            }
        )));
    }
    let (lo, hi) = range;
    if !(lo.is_finite() && hi.is_finite() && lo < hi && lo.abs().max(hi.abs()) <= MAX_RANGE) {
        return Err(Error::invalid(format!(
            "the grid's range [{lo:?}, {hi:?}] must be finite, non-empty and within ±{MAX_RANGE}"
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    gpu: &Gpu,
    graph: &Graph,
    host: &HostParams,
    split: &Split,
    norm: &Normalize,
    samples: usize,
    grid: usize,
    range: (f64, f64),
    dirs: &Directions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Summary> {
    check(
        grid,
        range,
        !matches!(dirs, Directions::Line { .. } | Directions::Toward(_)),
    )?;
    let n = samples.min(split.len());
    if n == 0 {
        return Err(Error::invalid("no images to evaluate the landscape on"));
    }
    let batch = first_batch(split, norm, n)?;
    let params = Params::upload(gpu, graph, host)?;
    let base = params.flat_like(gpu, &host.params)?;
    let base_state = params.flat_state_like(gpu, &host.buffers)?;
    let tmp = gpu.tensor(base.shape())?;
    let zero_state: Vec<Vec<f32>> = host.buffers.iter().map(|b| vec![0.0; b.len()]).collect();
    let (d1, d2, state_dir, two_d, mode) = match dirs {
        Directions::Plane { seed } | Directions::Line { seed } => {
            let mut rng = Rng::new(*seed);
            let a = filter_normalised(&graph.params, &host.params, &mut rng);
            let b = filter_normalised(&graph.params, &host.params, &mut rng);
            let plane = matches!(dirs, Directions::Plane { .. });
            (a, b, zero_state, plane, if plane { "2d" } else { "1d" })
        }
        Directions::Toward(other) => {
            other.check(graph)?;
            let diff = |a: &[Vec<f32>], b: &[Vec<f32>]| -> Vec<Vec<f32>> {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| x.iter().zip(y).map(|(p, q)| q - p).collect())
                    .collect()
            };
            let d = diff(&host.params, &other.params);
            let s = diff(&host.buffers, &other.buffers);
            let zeros = host.params.iter().map(|p| vec![0.0; p.len()]).collect();
            (d, zeros, s, false, "interpolation")
        }
    };
    let (d1, d2) = (params.flat_like(gpu, &d1)?, params.flat_like(gpu, &d2)?);
    let sdir = params.flat_state_like(gpu, &state_dir)?;
    let plan = Plan::new(gpu, graph, &params, n, Mode::Eval, PlanOptions::default())?;
    plan.set_batch(&batch.images, &batch.labels)?;
    // Moves: tmp = base + a·d1; params = tmp + b·d2; state = base_state + a·sdir.
    let mut moves = Program::new();
    let len = base.len();
    let i1 = elementwise::axpby(gpu, &mut moves, &tmp, &base, &d1, 1.0, 0.0)?;
    let i2 = elementwise::axpby(gpu, &mut moves, &params.params, &tmp, &d2, 1.0, 0.0)?;
    let i3 = elementwise::axpby(gpu, &mut moves, &params.state, &base_state, &sdir, 1.0, 0.0)?;
    let axis = |k: usize| range.0 + (range.1 - range.0) * k as f64 / (grid - 1) as f64;
    let xs: Vec<f64> = (0..grid).map(axis).collect();
    let ys: Vec<f64> = if two_d { xs.clone() } else { vec![0.0] };
    let start = Instant::now();
    let (mut loss, mut accuracy) = (Vec::new(), Vec::new());
    let total = xs.len() * ys.len();
    for (r, &b) in ys.iter().enumerate() {
        let (mut lrow, mut arow) = (Vec::new(), Vec::new());
        for (c, &a) in xs.iter().enumerate() {
            progress(r * xs.len() + c, total);
            elementwise::set_axpby(gpu, &moves, i1, len, 1.0, a as f32);
            elementwise::set_axpby(gpu, &moves, i2, len, 1.0, b as f32);
            elementwise::set_axpby(gpu, &moves, i3, params.state.len(), 1.0, a as f32);
            let mut enc = gpu
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("landscape point"),
                });
            moves.record(&mut enc, "move");
            plan.record(&mut enc, None, false)?;
            gpu.submit([enc.finish()]);
            let m = gpu.read(&plan.metrics)?;
            lrow.push(m[0] as f64);
            arow.push(m[1] as f64 / n as f64);
        }
        loss.push(lrow);
        accuracy.push(arow);
    }
    progress(total, total);
    Ok(Summary {
        model: graph.spec.name(),
        mode: mode.into(),
        images: n,
        xs,
        ys: if two_d { ys } else { Vec::new() },
        loss,
        accuracy,
        seconds: start.elapsed().as_secs_f64(),
        seed: match dirs {
            Directions::Plane { seed } | Directions::Line { seed } => *seed,
            Directions::Toward(_) => 0,
        },
    })
}

/// summary.json in `dir` (the plots are `reslab_plot::landscape`).
pub fn write(dir: &Path, s: &Summary) -> Result<()> {
    crate::analysis::write_summary(dir, s)
}
