//! Per-adapter choices among kernel variants that compute the same bits at
//! different speeds, measured by `reslab bench --tune` and kept in a JSON file
//! so later runs on the same adapter and driver use them.
//!
//! The file (`RESLAB_TUNING`, else `$XDG_CACHE_HOME/reslab/tuning.json`, else
//! `~/.cache/reslab/tuning.json`) holds a table per adapter, keyed by the
//! adapter's name, backend, driver and driver version; each table maps a
//! kernel layer's key (a pass and its shape) to the variant it measured
//! fastest. The device layer only stores strings: what a key or a variant
//! means is the kernels' business, and a variant it does not know is ignored
//! there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file's format version.
pub const VERSION: u32 = 1;

/// Largest tuning file read (a table is a few kilobytes).
const MAX_BYTES: u64 = 4 << 20;

/// Key → chosen variant, for one adapter.
pub type Table = BTreeMap<String, String>;

/// What the tuning file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningFile {
    pub version: u32,
    /// Adapter (see [`adapter_key`]) → its table.
    pub adapters: BTreeMap<String, Table>,
}

/// The key an adapter's table is filed under: name, backend, driver and its
/// version, so a driver update measures afresh.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {} | {} | {}",
        info.name, info.backend, info.driver, info.driver_info
    )
}

/// Where the tuning file is: `RESLAB_TUNING`, else the user's cache folder;
/// `None` when neither that variable nor a home folder is set.
pub fn default_path() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = env("RESLAB_TUNING") {
        return Some(PathBuf::from(p));
    }
    Some(crate::files::cache_home()?.join("tuning.json"))
}

/// Reads a tuning file; a missing one is an empty table. A file that is not
/// one (unreadable, too large, not this format) is an error naming it.
pub fn load(path: &Path) -> Result<TuningFile> {
    let bad = |why: String| {
        Error::invalid(format!(
            "tuning file {}: {why} (run `reslab bench --tune` to measure afresh, or remove the file)",
            path.display()
        ))
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(TuningFile {
                version: VERSION,
                ..Default::default()
            });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.len() > MAX_BYTES {
        return Err(bad(format!(
            "{} bytes, more than a tuning file holds ({MAX_BYTES})",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file: TuningFile =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a tuning file: {e}")))?;
    if file.version != VERSION {
        return Err(bad(format!(
            "format version {}, this reslab reads {VERSION}",
            file.version
        )));
    }
    Ok(file)
}

/// Files `table` under `adapter` in the tuning file at `path` (other adapters'
/// tables kept, this adapter's entries replaced key by key), written
/// atomically, its folder made if needed.
pub fn save(path: &Path, adapter: &str, table: &Table) -> Result<()> {
    let mut file = load(path)?;
    file.adapters
        .entry(adapter.to_string())
        .or_default()
        .extend(table.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::invalid(e.to_string()))?;
    crate::files::write_atomic(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("reslab-tuning-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d.join("sub").join("tuning.json")
    }

    #[test]
    fn missing_file_is_empty_and_save_merges_per_adapter() {
        let p = tmp("merge");
        assert!(load(&p).unwrap().adapters.is_empty());
        let t1 = Table::from([("a".to_string(), "x".to_string())]);
        save(&p, "gpu one", &t1).unwrap();
        let t2 = Table::from([("b".to_string(), "y".to_string())]);
        save(&p, "gpu two", &t2).unwrap();
        let t3 = Table::from([("a".to_string(), "z".to_string())]);
        save(&p, "gpu one", &t3).unwrap();
        let f = load(&p).unwrap();
        assert_eq!(f.adapters["gpu one"]["a"], "z");
        assert_eq!(f.adapters["gpu two"]["b"], "y");
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn broken_files_are_errors_naming_them() {
        let p = tmp("broken");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        for (bytes, says) in [
            (
                &b"{\"version\": 1, \"adapters\": {\"g\": {\"k\": "[..],
                "not a tuning file",
            ),
            (b"\x00\x01binary", "not a tuning file"),
            (b"{\"version\": 9, \"adapters\": {}}", "format version 9"),
            (
                b"{\"version\": 1, \"adapters\": {}, \"extra\": 1}",
                "not a tuning file",
            ),
        ] {
            std::fs::write(&p, bytes).unwrap();
            let e = load(&p).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("tuning.json"), "{e}");
            // Nothing is written over a file that cannot be read.
            assert!(save(&p, "g", &Table::new()).is_err());
            assert_eq!(std::fs::read(&p).unwrap(), bytes);
        }
        let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
    }
}
