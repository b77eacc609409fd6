//! Files reslab writes whole: replaced atomically and made durable, so that a
//! crash or a power loss leaves either the old file or the new one under the
//! final name, never an empty or half-written one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The temporary name `path` is written under before the rename.
fn temporary(path: &Path) -> PathBuf {
    let dir = folder_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    dir.join(format!(".{name}.tmp-{}", std::process::id()))
}

/// The folder holding `path` (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Fault injection for the kill tests: `RESLAB_WRITE_STALL_MS` makes every
/// atomic write pause that long between writing its bytes and making them
/// durable, so a test can kill the process inside the write.
fn stall() {
    static MS: OnceLock<u64> = OnceLock::new();
    let ms = *MS.get_or_init(|| {
        std::env::var("RESLAB_WRITE_STALL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Writes `data` to `path` through a temporary file in the same folder: the
/// bytes are synced, the file renamed over `path`, and the folder synced.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = temporary(path);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        stall();
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    sync_folder(folder_of(path))
}

/// reslab's folder in the user's cache folder: `$XDG_CACHE_HOME/reslab`, else
/// `~/.cache/reslab`; `None` when neither variable is set.
pub fn cache_home() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let cache = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("reslab"))
}

/// Makes the folder's entries (created, renamed, removed files) durable.
pub fn sync_folder(dir: &Path) -> Result<()> {
    // Windows cannot open a folder as a file; its renames are durable with
    // the file's own flush.
    if cfg!(unix) {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Syncs a file's contents (appended lines, say) to the disk.
pub fn sync_file(path: &Path) -> Result<()> {
    File::options()
        .append(true)
        .open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Renames `from` to `to` and syncs their folder.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io(from, e))?;
    sync_folder(folder_of(to))
}

/// Removes the temporary files that an interrupted [`write_atomic`] of
/// `path` left behind (by any process).
pub fn remove_stale_temporaries(path: &Path) -> Result<()> {
    let dir = folder_of(path);
    let Some(name) = path.file_name() else {
        return Ok(());
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let p = e.path();
            std::fs::remove_file(&p).map_err(|err| Error::io(&p, err))?;
        }
    }
    Ok(())
}

/// The bytes of `path`; a file larger than the memory available (see
/// [`memory_budget`]) is refused before reading.
pub fn read_whole(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if let Some(budget) = memory_budget()
        && len > budget
    {
        return Err(Error::file(
            path,
            format!(
                "{} is more than the {} of memory available",
                human_bytes(len),
                human_bytes(budget)
            ),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Bytes of memory this process may plan to use: what the system reports
/// as available (`MemAvailable` on Linux), or `RESLAB_MEMORY_BUDGET` (bytes,
/// or with a K/M/G suffix) when set. `None` where neither is known.
pub fn memory_budget() -> Option<u64> {
    if let Ok(v) = std::env::var("RESLAB_MEMORY_BUDGET") {
        return parse_bytes(&v);
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `123`, `64K`, `512M`, `2G` (powers of 1024) as bytes.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, shift) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 10),
        'M' => (&s[..s.len() - 1], 20),
        'G' => (&s[..s.len() - 1], 30),
        'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// `1.5 GiB`, `640 MiB`, `12 KiB`, `100 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_and_print() {
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("99999999999T"), None);
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(human_bytes(100), "100 B");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("reslab-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::write(temporary(&p), b"left by a killed writer").unwrap();
        remove_stale_temporaries(&p).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
