//! The plotting primitives on values an analysis can produce: NaN and
//! infinite points (a diverged net, a landscape far from its minimum), a flat
//! series, one point. Each draws a PNG; none panics.

use reslab_plot::{Series, bars, contour, heatmap, lines, palette};

/// A fresh directory under the system temp dir for the plots, removed (with
/// them) when the returned guard drops, also when the test fails.
fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("reslab-plot-")
        .tempdir()
        .unwrap()
}

fn decodes(p: &std::path::Path) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(img.width() > 100 && img.height() > 100);
}

#[test]
fn lines_bars_and_heat_maps_survive_values_that_are_not_finite() {
    let dir = tmp();
    let path = |name: &str| dir.path().join(name);
    let odd = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300];
    let series = vec![
        Series {
            name: "with holes".into(),
            points: (0..10)
                .map(|i| (i as f64, if i % 3 == 0 { odd[i % 5] } else { i as f64 }))
                .collect(),
            color: palette(0),
            dashed: false,
        },
        Series {
            name: "flat".into(),
            points: vec![(0.0, 2.0), (1.0, 2.0)],
            color: palette(1),
            dashed: true,
        },
        Series {
            name: "one point".into(),
            points: vec![(5.0, 1.0)],
            color: palette(2),
            dashed: false,
        },
    ];
    for log_y in [false, true] {
        let p = path(&format!("lines-{log_y}.png"));
        lines(&p, "title", "x", "y", &series, log_y).unwrap();
        decodes(&p);
    }
    let p = path("bars.png");
    bars(
        &p,
        "bars",
        "block",
        "drop",
        &["a".into(), "b".into(), "c".into()],
        &[("drop".into(), vec![1.0, f64::NAN, -2.0])],
    )
    .unwrap();
    decodes(&p);
    let xs = [-1.0, 0.0, 1.0];
    let z = vec![
        vec![1.0, f64::NAN, 3.0],
        vec![f64::INFINITY, 0.5, 2.0],
        vec![1.0, 2.0, 1e300],
    ];
    let levels: Vec<f64> = contour(&xs, &xs, &z, 1.5).iter().map(|_| 1.5).collect();
    let p = path("heat.png");
    heatmap(&p, "heat", ["x", "y", "z"], &xs, &xs, &z, &levels).unwrap();
    decodes(&p);
    let all_nan = vec![vec![f64::NAN; 3]; 3];
    heatmap(
        &p,
        "nothing finite",
        ["x", "y", "z"],
        &xs,
        &xs,
        &all_nan,
        &[1.0],
    )
    .unwrap();
    decodes(&p);
}
