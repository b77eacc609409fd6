//! `reslab bench --against OTHER`: two builds measured alternately in one
//! run, so that whatever else the machine is doing falls on both alike. Each
//! round runs `OTHER bench --json` and this binary's, and every measure both
//! reports (the ceiling, the convolution passes, the models, the first
//! training step on a fresh device) is compared by its median over the
//! rounds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One binary's benchmark report, as JSON.
fn report(bin: &Path, quick: bool) -> Result<Value> {
    let mut c = Command::new(bin);
    c.arg("bench").arg("--json");
    if quick {
        c.arg("--quick");
    }
    let out = c
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!("{} bench failed ({})", bin.display(), out.status);
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} bench --json printed no report", bin.display()))
}

/// The measures of a report, by name: (value, true when larger is better).
fn measures(r: &Value) -> BTreeMap<String, (f64, bool)> {
    let mut m = BTreeMap::new();
    if let Some(f) = r["fma_gflops"].as_f64() {
        m.insert("ceiling GFLOP/s".to_string(), (f, true));
    }
    // (0 where the report has no first step: --quick leaves it out)
    if let Some(s) = r["first_train_step_s"].as_f64().filter(|&s| s > 0.0) {
        m.insert("first training step s".to_string(), (s, false));
    }
    for c in r["conv"].as_array().into_iter().flatten() {
        if let (Some(shape), Some(pass), Some(ms)) =
            (c["shape"].as_str(), c["pass"].as_str(), c["ms"].as_f64())
        {
            m.insert(format!("conv {shape} {pass} ms"), (ms, false));
        }
    }
    for x in r["models"].as_array().into_iter().flatten() {
        if let (Some(model), Some(batch), Some(mode), Some(ms)) = (
            x["model"].as_str(),
            x["batch"].as_u64(),
            x["mode"].as_str(),
            x["ms_per_batch"].as_f64(),
        ) {
            m.insert(format!("{model} b{batch} {mode} ms"), (ms, false));
            if let Some(d) = x["dispatches"].as_u64() {
                m.insert(
                    format!("{model} b{batch} {mode} dispatches"),
                    (d as f64, false),
                );
            }
        }
    }
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(other: &Path, quick: bool, rounds: usize, out: Option<&Path>) -> Result<()> {
    if !(1..=20).contains(&rounds) {
        bail!("--rounds must be 1 to 20");
    }
    let this = std::env::current_exe().context("finding this binary")?;
    let mut samples: [BTreeMap<String, Vec<f64>>; 2] = Default::default();
    let mut better = BTreeMap::new();
    for round in 0..rounds {
        // Alternate which one goes first, so neither always runs warm.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let bin = if i == 0 { other } else { &this };
            eprintln!("round {}/{rounds}: {}", round + 1, bin.display());
            for (k, (v, b)) in measures(&report(bin, quick)?) {
                samples[i].entry(k.clone()).or_default().push(v);
                better.insert(k, b);
            }
        }
    }
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "measure (median of rounds)", "A (other)", "B (this)", "B vs A"
    );
    let mut rows = Vec::new();
    for (k, a) in &samples[0] {
        let Some(b) = samples[1].get(k) else { continue };
        let (a, b) = (median(a.clone()), median(b.clone()));
        // Speed-up of B over A: >1 is better for B whichever way the measure goes.
        let gain = if better[k] { b / a } else { a / b };
        println!("{k:<44} {a:>12.2} {b:>12.2} {gain:>7.2}x");
        rows.push(serde_json::json!({"measure": k, "a": a, "b": b, "b_over_a": gain}));
    }
    if let Some(p) = out {
        let json = serde_json::json!({
            "a": other,
            "b": this,
            "rounds": rounds,
            "quick": quick,
            "measures": rows,
        });
        reslab::files::write_atomic(p, serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    Ok(())
}
