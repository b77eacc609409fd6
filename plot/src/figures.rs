//! The PNG plots of every analysis, drawn from its summary.

use std::path::Path;

use reslab::Result;
use reslab::analysis::{degradation, landscape, lesion, probe, redundancy};

use crate::{Series, palette};

/// training_loss.png, training_error.png, responses.png and
/// responses_sorted.png in `dir`. With several seeds the curves are the mean
/// over the seeds.
pub fn degradation(dir: &Path, s: &degradation::Summary) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| reslab::Error::io(dir, e))?;
    let groups = degradation::by_model(s);
    let style = |i: usize, n: &degradation::NetResult| {
        (
            palette(s.depths.iter().position(|&d| d == n.depth).unwrap_or(i)),
            !n.residual,
        )
    };
    let label = |n: &degradation::NetResult| {
        if s.seeds.len() > 1 {
            format!("{} (mean of {} seeds)", n.model, s.seeds.len())
        } else {
            n.model.clone()
        }
    };
    let series = |f: &dyn Fn(&(usize, f32, f32)) -> f32| -> Vec<Series> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let (color, dashed) = style(i, g[0]);
                let steps: Vec<f64> = g[0].curve.iter().map(|p| p.0 as f64).collect();
                let ys: Vec<Vec<f64>> = g
                    .iter()
                    .map(|n| n.curve.iter().map(|p| f(p) as f64).collect())
                    .collect();
                Series {
                    name: label(g[0]),
                    points: steps.into_iter().zip(degradation::mean_of(&ys)).collect(),
                    color,
                    dashed,
                }
            })
            .collect()
    };
    let data = &s.recipe.data.name;
    crate::lines(
        &dir.join("training_loss.png"),
        &format!("Training loss on {data} (dashed: plain, solid: residual)"),
        "step",
        "training loss",
        &series(&|p| p.1),
        false,
    )?;
    crate::lines(
        &dir.join("training_error.png"),
        &format!("Training error on {data} (dashed: plain, solid: residual)"),
        "step",
        "training error",
        &series(&|p| p.2),
        false,
    )?;
    let resp = |sorted: bool| -> Vec<Series> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let (color, dashed) = style(i, g[0]);
                let ys: Vec<Vec<f64>> = g
                    .iter()
                    .map(|n| {
                        let mut v: Vec<f64> = n
                            .final_probe
                            .response_std
                            .iter()
                            .map(|&x| x as f64)
                            .collect();
                        if sorted {
                            v.sort_by(|a, b| b.total_cmp(a));
                        }
                        v
                    })
                    .collect();
                Series {
                    name: label(g[0]),
                    points: degradation::mean_of(&ys)
                        .into_iter()
                        .enumerate()
                        .map(|(k, y)| ((k + 1) as f64, y))
                        .collect(),
                    color,
                    dashed,
                }
            })
            .collect()
    };
    crate::lines(
        &dir.join("responses.png"),
        "Std of 3x3 layer responses (before ReLU/addition), layer order",
        "layer index",
        "std",
        &resp(false),
        false,
    )?;
    crate::lines(
        &dir.join("responses_sorted.png"),
        "Std of 3x3 layer responses, sorted by magnitude",
        "rank",
        "std",
        &resp(true),
        false,
    )
}

/// lesion.png (accuracy drop per block) and
/// lesion_cumulative.png (accuracy against blocks removed) in `dir`.
pub fn lesion(dir: &Path, s: &lesion::Summary) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| reslab::Error::io(dir, e))?;
    let labels: Vec<String> = s
        .single
        .iter()
        .map(|b| b.block.replace("layer", ""))
        .collect();
    crate::bars(
        &dir.join("lesion.png"),
        &format!(
            "{}: test accuracy lost when one block is removed (base {:.1}%)",
            s.model,
            100.0 * s.base_accuracy
        ),
        "block (stage.index)",
        "accuracy drop (points)",
        &labels,
        &[(
            "drop".to_string(),
            s.single.iter().map(|b| 100.0 * b.drop as f64).collect(),
        )],
    )?;
    let mut pts = vec![(0.0, 100.0 * s.base_accuracy as f64)];
    pts.extend(
        s.cumulative
            .iter()
            .map(|c| (c.k as f64, 100.0 * c.accuracy as f64)),
    );
    crate::lines(
        &dir.join("lesion_cumulative.png"),
        &format!("{}: blocks of smallest r_b removed together", s.model),
        "blocks removed",
        "test accuracy (%)",
        &[Series {
            name: s.model.clone(),
            points: pts,
            color: palette(if s.model.starts_with("plain") { 1 } else { 0 }),
            dashed: false,
        }],
        false,
    )
}

/// redundancy_loss.png and one redundancy_r_*.png per grown
/// residual run in `dir`.
pub fn redundancy(dir: &Path, s: &redundancy::Summary) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| reslab::Error::io(dir, e))?;
    let curves: Vec<Series> = s
        .residual
        .iter()
        .chain(&s.plain)
        .enumerate()
        .map(|(i, r)| Series {
            name: r.name.clone(),
            points: r.curve.iter().map(|c| (c.0 as f64, c.1 as f64)).collect(),
            color: palette(i),
            dashed: r.model.starts_with("plain"),
        })
        .collect();
    crate::lines(
        &dir.join("redundancy_loss.png"),
        "Training on after growing: loss (dashed: plain)",
        "step after growing",
        "training loss",
        &curves,
        false,
    )?;
    for r in s.residual.iter().filter(|r| r.inserted.iter().any(|&i| i)) {
        let series: Vec<Series> = (0..r.blocks.len())
            .map(|b| Series {
                name: format!(
                    "{}{}",
                    r.blocks[b],
                    if r.inserted[b] { " (inserted)" } else { "" }
                ),
                points: r
                    .r
                    .iter()
                    .map(|(step, v)| (*step as f64, v[b] as f64))
                    .collect(),
                color: if r.inserted[b] {
                    palette(1)
                } else {
                    palette(0)
                },
                dashed: !r.inserted[b],
            })
            .collect();
        let tag = if r.name.contains("zero-gamma") {
            "zero_gamma"
        } else {
            "random"
        };
        crate::lines(
            &dir.join(format!("redundancy_r_{tag}.png")),
            &format!(
                "r = |F(x)|/|x| per block, {} (red: inserted, blue dashed: copied)",
                r.model
            ),
            "step after growing",
            "r",
            &series,
            false,
        )?;
    }
    Ok(())
}

/// the plots: heat maps with contours of loss (log scale)
/// and accuracy for the plane, line plots for the 1-D modes.
pub fn landscape(dir: &Path, s: &landscape::Summary) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| reslab::Error::io(dir, e))?;
    if s.mode == "2d" {
        let log: Vec<Vec<f64>> = s
            .loss
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| {
                        // A loss that is not finite stays so (drawn as a hole).
                        if v.is_finite() {
                            v.max(1e-12).log10()
                        } else {
                            f64::NAN
                        }
                    })
                    .collect()
            })
            .collect();
        let finite = log.iter().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let levels: Vec<f64> = (1..10).map(|k| lo + (hi - lo) * k as f64 / 10.0).collect();
        crate::heatmap(
            &dir.join("landscape_loss.png"),
            &format!("{}: test loss around the trained weights", s.model),
            [
                "direction 1 (filter-normalised)",
                "direction 2 (filter-normalised)",
                "log10 loss",
            ],
            &s.xs,
            &s.xs,
            &log,
            &levels,
        )?;
        let acc: Vec<Vec<f64>> = s
            .accuracy
            .iter()
            .map(|r| r.iter().map(|v| 100.0 * v).collect())
            .collect();
        crate::heatmap(
            &dir.join("landscape_accuracy.png"),
            &format!("{}: test accuracy around the trained weights", s.model),
            [
                "direction 1 (filter-normalised)",
                "direction 2 (filter-normalised)",
                "accuracy (%)",
            ],
            &s.xs,
            &s.xs,
            &acc,
            &[],
        )
    } else {
        let x_label = if s.mode == "interpolation" {
            "α (0: this checkpoint, 1: the other)"
        } else {
            "distance along a filter-normalised direction"
        };
        crate::lines(
            &dir.join("landscape_1d.png"),
            &format!("{}: test loss along one line", s.model),
            x_label,
            "test loss",
            &[Series {
                name: s.model.clone(),
                points: s.xs.iter().zip(&s.loss[0]).map(|(&x, &y)| (x, y)).collect(),
                color: palette(0),
                dashed: false,
            }],
            false,
        )
    }
}

/// probe_r.png (r_b per block) and probe_responses.png (response std per 3x3
/// layer): the mean over the images, and the mean ± one standard deviation.
pub fn probe(dir: &Path, s: &probe::Summary) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| reslab::Error::io(dir, e))?;
    let band = |name: &str, v: &[probe::Spread], color: usize| -> Vec<Series> {
        let at = |f: &dyn Fn(&probe::Spread) -> f64| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, p)| ((i + 1) as f64, f(p)))
                .collect()
        };
        vec![
            Series {
                name: format!("{name}, mean over {} images", s.images),
                points: at(&|p| p.mean),
                color: palette(color),
                dashed: false,
            },
            Series {
                name: "mean ± std".into(),
                points: at(&|p| p.mean + p.std),
                color: palette(color),
                dashed: true,
            },
            Series {
                name: String::new(),
                points: at(&|p| p.mean - p.std),
                color: palette(color),
                dashed: true,
            },
        ]
    };
    let r: Vec<probe::Spread> = s.blocks.iter().map(|b| b.r).collect();
    crate::lines(
        &dir.join("probe_r.png"),
        &format!("{}: r = |F(x)|/|x| per block (BN in eval mode)", s.model),
        "block (in order)",
        "r",
        &band("r", &r, 0),
        false,
    )?;
    let resp: Vec<probe::Spread> = s.layers.iter().map(|l| l.response_std).collect();
    crate::lines(
        &dir.join("probe_responses.png"),
        &format!("{}: std of each 3x3 layer's response, layer order", s.model),
        "layer index",
        "std",
        &band("response std", &resp, 1),
        false,
    )
}
