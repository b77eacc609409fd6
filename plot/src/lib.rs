//! PNG plots of reslab's analyses (plotters, drawing into a buffer that the
//! image crate encodes), in a crate of their own so that the engine builds
//! without a plotting library. The font is egui's embedded Ubuntu Light, so
//! plots need no system fonts. [`figures`] draws each analysis's plots from
//! its summary.

pub mod figures;

pub use figures::{degradation, landscape, lesion, probe, redundancy};

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use reslab::{Error, Result};

const W: u32 = 1000;
const H: u32 = 640;

fn font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::file(path, format!("plotting failed: {e}"))
}

fn save(path: &Path, buf: Vec<u8>, w: u32, h: u32) -> Result<()> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| err(path, "bad buffer"))?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| err(path, e))?;
    reslab::files::write_atomic(path, &bytes)
}

/// A colour per series index, distinct and readable on white.
pub fn palette(i: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (255, 127, 14),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
}

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        y1 = y0 + 1.0;
    }
    (x0, x1, y0, y1)
}

/// Lines with a legend. With `log_y`, the y axis is logarithmic (values ≤ 0 dropped).
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    font();
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let cleaned: Vec<Series> = series
            .iter()
            .map(|s| Series {
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| !log_y || p.1 > 0.0)
                    .collect(),
                ..s.clone()
            })
            .collect();
        let (x0, x1, y0, y1) = bounds(&cleaned);
        let integer_x = cleaned
            .iter()
            .flat_map(|s| s.points.iter())
            .all(|p| p.0.fract() == 0.0);
        let mut builder = ChartBuilder::on(&root);
        let chart = builder
            .caption(title, ("sans-serif", 26))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(72);
        macro_rules! draw {
            ($c:expr) => {{
                let mut c = $c;
                let fmt_x = |x: &f64| {
                    if integer_x {
                        format!("{x:.0}")
                    } else {
                        format!("{x:.3}")
                    }
                };
                c.configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .x_label_formatter(&fmt_x)
                    .y_label_formatter(&|y: &f64| format!("{y:.3}"))
                    .label_style(("sans-serif", 16))
                    .axis_desc_style(("sans-serif", 18))
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(|e| err(path, e))?;
                for s in &cleaned {
                    let style = ShapeStyle::from(&s.color).stroke_width(2);
                    let legend_color = s.color;
                    // A series without a name (the second edge of a band,
                    // say) stays out of the legend.
                    let named = !s.name.is_empty();
                    if s.dashed {
                        let a = c
                            .draw_series(DashedLineSeries::new(
                                s.points.iter().copied(),
                                8,
                                5,
                                style,
                            ))
                            .map_err(|e| err(path, e))?;
                        if named {
                            a.label(s.name.clone()).legend(move |(x, y)| {
                                EmptyElement::at((x, y))
                                    + PathElement::new(
                                        vec![(0, 0), (9, 0)],
                                        legend_color.stroke_width(2),
                                    )
                                    + PathElement::new(
                                        vec![(15, 0), (24, 0)],
                                        legend_color.stroke_width(2),
                                    )
                            });
                        }
                    } else {
                        let a = c
                            .draw_series(LineSeries::new(s.points.iter().copied(), style))
                            .map_err(|e| err(path, e))?;
                        if named {
                            a.label(s.name.clone()).legend(move |(x, y)| {
                                PathElement::new(
                                    vec![(x, y), (x + 24, y)],
                                    legend_color.stroke_width(2),
                                )
                            });
                        }
                    }
                }
                c.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 16))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| err(path, e))?;
            }};
        }
        if log_y {
            let c = chart
                .build_cartesian_2d(x0..x1, (y0 * 0.9..y1 * 1.1).log_scale())
                .map_err(|e| err(path, e))?;
            draw!(c);
        } else {
            let pad = 0.05 * (y1 - y0);
            let c = chart
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
                .map_err(|e| err(path, e))?;
            draw!(c);
        }
        root.present().map_err(|e| err(path, e))?;
    }
    save(path, buf, W, H)
}

/// Grouped bars: one group per label, one bar per series.
pub fn bars(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    labels: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    font();
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let all = series
            .iter()
            .flat_map(|s| s.1.iter())
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = all.fold((0f64, 0f64), |(a, b), v| (a.min(v), b.max(v)));
        let hi = if hi - lo < 1e-12 { lo + 1.0 } else { hi };
        let n = labels.len().max(1);
        let k = series.len().max(1);
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 26))
            .margin(18)
            .x_label_area_size(70)
            .y_label_area_size(72)
            .build_cartesian_2d(
                0f64..n as f64,
                (lo - 0.05 * (hi - lo))..(hi + 0.05 * (hi - lo)),
            )
            .map_err(|e| err(path, e))?;
        let labels_owned = labels.to_vec();
        c.configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(n.min(40))
            .x_label_formatter(&move |x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 0.26 || n <= 40 {
                    labels_owned.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 18))
            .disable_x_mesh()
            .draw()
            .map_err(|e| err(path, e))?;
        for (j, (name, vals)) in series.iter().enumerate() {
            let color = palette(j);
            let w = 0.8 / k as f64;
            c.draw_series(
                vals.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| {
                        let x = i as f64 + 0.1 + j as f64 * w;
                        Rectangle::new([(x, 0.0), (x + w * 0.95, v)], color.filled())
                    }),
            )
            .map_err(|e| err(path, e))?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))?;
    }
    save(path, buf, W, H)
}

/// Viridis, approximately: t in [0, 1] to a colour.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heat map of `z[row][col]` over `xs` (columns) and `ys` (rows) with a
/// colour bar, and contour lines at `levels` values when given. `labels`
/// names the x axis, the y axis and the values.
pub fn heatmap(
    path: &Path,
    title: &str,
    [x_label, y_label, value_label]: [&str; 3],
    xs: &[f64],
    ys: &[f64],
    z: &[Vec<f64>],
    levels: &[f64],
) -> Result<()> {
    font();
    let (w, h) = (900u32, 760u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let (main, bar) = root.split_horizontally(760);
        let finite = z.iter().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo > hi {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 {
            (lo, lo + 1.0)
        } else {
            (lo, hi)
        };
        let dx = if xs.len() > 1 {
            (xs[1] - xs[0]) / 2.0
        } else {
            0.5
        };
        let dy = if ys.len() > 1 {
            (ys[1] - ys[0]) / 2.0
        } else {
            0.5
        };
        let (x0, x1) = (xs[0] - dx, xs[xs.len() - 1] + dx);
        let (y0, y1) = (ys[0] - dy, ys[ys.len() - 1] + dy);
        let mut c = ChartBuilder::on(&main)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(path, e))?;
        c.configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x: &f64| format!("{:.2}", x + 0.0))
            .y_label_formatter(&|y: &f64| format!("{:.2}", y + 0.0))
            .disable_mesh()
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(|e| err(path, e))?;
        let t = |v: f64| (v - lo) / (hi - lo);
        c.draw_series(z.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(col, &v)| {
                let color = if v.is_finite() {
                    viridis(t(v))
                } else {
                    RGBColor(255, 255, 255)
                };
                Rectangle::new(
                    [(xs[col] - dx, ys[r] - dy), (xs[col] + dx, ys[r] + dy)],
                    color.filled(),
                )
            })
        }))
        .map_err(|e| err(path, e))?;
        // Contours by marching squares over the cell centres.
        for &level in levels {
            let segs = contour(xs, ys, z, level);
            c.draw_series(
                segs.into_iter()
                    .map(|s| PathElement::new(s, WHITE.mix(0.9).stroke_width(2))),
            )
            .map_err(|e| err(path, e))?;
        }
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(60)
            .margin_bottom(64)
            .margin_right(46)
            .y_label_area_size(0)
            .right_y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, lo..hi)
            .map_err(|e| err(path, e))?;
        cb.configure_mesh()
            .disable_x_axis()
            .disable_mesh()
            .y_desc(value_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(|e| err(path, e))?;
        let steps = 100;
        cb.draw_series((0..steps).map(|i| {
            let a = lo + (hi - lo) * i as f64 / steps as f64;
            let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                viridis(i as f64 / steps as f64).filled(),
            )
        }))
        .map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))?;
    }
    save(path, buf, w, h)
}

/// Line segments where `z` (values at (xs[col], ys[row])) crosses `level`,
/// interpolated linearly along the edges of each square of four neighbours.
pub fn contour(xs: &[f64], ys: &[f64], z: &[Vec<f64>], level: f64) -> Vec<Vec<(f64, f64)>> {
    let mut segs = Vec::new();
    for r in 0..z.len().saturating_sub(1) {
        for c in 0..z[r].len().saturating_sub(1) {
            // Corners counter-clockwise from bottom-left, and the edges between them.
            let p = [
                (xs[c], ys[r]),
                (xs[c + 1], ys[r]),
                (xs[c + 1], ys[r + 1]),
                (xs[c], ys[r + 1]),
            ];
            let v = [z[r][c], z[r][c + 1], z[r + 1][c + 1], z[r + 1][c]];
            if v.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let mut cuts = Vec::new();
            for e in 0..4 {
                let (a, b) = (e, (e + 1) % 4);
                if (v[a] - level) * (v[b] - level) < 0.0 {
                    let t = (level - v[a]) / (v[b] - v[a]);
                    cuts.push((
                        p[a].0 + t * (p[b].0 - p[a].0),
                        p[a].1 + t * (p[b].1 - p[a].1),
                    ));
                }
            }
            // Two crossings: one segment; four (a saddle): pair them in order.
            for pair in cuts.chunks_exact(2) {
                segs.push(vec![pair[0], pair[1]]);
            }
        }
    }
    segs
}
