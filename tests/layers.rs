//! The engine is a chain of layers, each knowing only those below it. The
//! chain is the one drawn in ARCHITECTURE.md (the line after its
//! `<!-- layers -->` marker); this test reads it and every `crate::` path in
//! `src/` (comments left out) and fails on an upward reach or a reach across
//! one layer, so the drawing and the code cannot part.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Layer of each top-level module, from ARCHITECTURE.md: groups separated by
/// `→`, modules of one group by commas.
fn layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let line = doc
        .lines()
        .skip_while(|l| !l.contains("<!-- layers -->"))
        .find(|l| l.contains('→'))
        .expect("ARCHITECTURE.md draws the layers after <!-- layers -->");
    line.split('→')
        .enumerate()
        .flat_map(|(rank, group)| {
            group
                .split(',')
                .map(move |m| (m.trim().to_string(), rank))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root().join("src")).unwrap();
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib").then_some(name)
}

/// Every module named by a `crate::` path in `text`, comments left out.
fn reaches(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            rest = tail;
        }
    }
    out
}

#[test]
fn every_reach_goes_down_the_chain_drawn_in_architecture_md() {
    let ranks = layers();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut modules: Vec<String> = files.iter().filter_map(|f| module_of(f)).collect();
    modules.sort();
    modules.dedup();
    for m in &modules {
        assert!(
            ranks.contains_key(m),
            "src/{m} is not in the chain ARCHITECTURE.md draws: {ranks:?}"
        );
    }
    for m in ranks.keys() {
        assert!(
            modules.contains(m),
            "ARCHITECTURE.md names {m}, which src/ does not have"
        );
    }
    let mut wrong = Vec::new();
    for f in &files {
        let Some(from) = module_of(f) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        for to in reaches(&text) {
            if to == from {
                continue;
            }
            let Some(&r) = ranks.get(&to) else {
                wrong.push(format!(
                    "{}: crate::{to} is no module of the chain",
                    f.display()
                ));
                continue;
            };
            if r >= ranks[&from] {
                let how = if r == ranks[&from] {
                    "across its layer"
                } else {
                    "up"
                };
                wrong.push(format!("{}: {from} reaches {how} to {to}", f.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_engine_builds_without_plotting_or_benchmarking() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    for name in ["plotters", "reslab-plot", "reslab-bench", "egui", "eframe"] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(name)),
            "the engine depends on {name}"
        );
    }
}

#[test]
fn the_reach_finder_sees_paths_and_skips_comments() {
    let text = "use crate::model::Graph;\nlet x = crate::files::write_atomic(p); // crate::train\n/// crate::analysis\n";
    assert_eq!(reaches(text), ["model", "files"]);
}
