//! The driver's pipeline cache on disk (`reslab::device::disk_cache`): written
//! when a device that made pipelines is dropped, read by the next device on
//! the adapter; a damaged file or data the driver refuses is replaced, a file
//! that is not reslab's is left alone, and backends without pipeline caches
//! write nothing.

use std::path::{Path, PathBuf};

use reslab::kernels::{Program, elementwise};
use reslab::{CacheFolder, Gpu, GpuOptions};

fn folder(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reslab-plcache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A device keeping its cache in `dir`, made to create one pipeline (run
/// once), then dropped; what it reported on opening.
fn session(dir: &Path) -> reslab::device::PipelineCacheInfo {
    let gpu = Gpu::with_options(GpuOptions {
        pipeline_cache: CacheFolder::At(dir.to_path_buf()),
        ..Default::default()
    })
    .expect("device");
    let info = gpu.info().pipeline_cache;
    let x = gpu.upload(&[64], &[-1.0; 64]).unwrap();
    let y = gpu.tensor(&[64]).unwrap();
    let mut p = Program::new();
    elementwise::relu_forward(&gpu, &mut p, &y, &x).unwrap();
    p.run(&gpu).unwrap();
    assert_eq!(gpu.read(&y).unwrap(), vec![0.0; 64]);
    gpu.check().unwrap();
    info
}

fn has_cache() -> bool {
    let gpu = Gpu::new().expect("device");
    gpu.features().contains(wgpu::Features::PIPELINE_CACHE)
}

/// The only file in `dir`.
fn file_in(dir: &Path) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// The file's bytes with its payload changed by `f` and its header made to
/// match again.
fn rewrap(bytes: &[u8], f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut data = bytes[24..].to_vec();
    f(&mut data);
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    [
        &bytes[..8],
        &(data.len() as u64).to_le_bytes(),
        &hash.to_le_bytes(),
        &data,
    ]
    .concat()
}

#[test]
fn pipeline_cache_round_trip_and_bad_files() {
    let dir = folder("trip");
    let first = session(&dir);
    if !has_cache() {
        // (GL: no pipeline cache; nothing is written)
        assert!(first.path.is_none() && first.note.is_some(), "{first:?}");
        assert!(!dir.exists());
        return;
    }
    assert_eq!(first.loaded_bytes, 0, "{first:?}");
    assert_eq!(first.note, None);
    let path = file_in(&dir);
    assert_eq!(first.path.as_deref(), Some(path.to_str().unwrap()));
    let saved = std::fs::read(&path).unwrap();
    assert_eq!(&saved[..8], b"RSLBPLC1");

    // The next device starts from it (and, its data unchanged, leaves the
    // file as it was).
    let second = session(&dir);
    assert_eq!(second.loaded_bytes, saved.len() - 24, "{second:?}");
    assert_eq!(second.note, None);
    assert_eq!(std::fs::read(&path).unwrap(), saved);

    // Damaged files are not handed to the driver, and are replaced.
    let mut flipped = saved.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    for (bytes, says) in [
        (saved[..saved.len() - 5].to_vec(), "header says"),
        (flipped, "checksum"),
        (saved[..20].to_vec(), "truncated"),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let s = session(&dir);
        assert_eq!(s.loaded_bytes, 0, "{s:?}");
        let note = s.note.unwrap_or_default();
        assert!(
            note.contains(says) && note.contains("started afresh"),
            "{note}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), saved, "{says}: not replaced");
    }

    // Whole files the driver refuses (here: wgpu's own header damaged
    // under a matching checksum) are dropped and replaced too.
    std::fs::write(&path, rewrap(&saved, |d| d[0] ^= 1)).unwrap();
    let s = session(&dir);
    assert_eq!(s.loaded_bytes, 0, "{s:?}");
    assert!(
        s.note
            .as_deref()
            .unwrap_or_default()
            .contains("did not take"),
        "{s:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), saved);

    // A file that is not reslab's stays as it is, and no cache is kept.
    let theirs = b"a file of someone else's".to_vec();
    std::fs::write(&path, &theirs).unwrap();
    let s = session(&dir);
    assert!(
        s.note
            .as_deref()
            .unwrap_or_default()
            .contains("left as it is"),
        "{s:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), theirs);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pipeline_cache_off_writes_nothing() {
    let gpu = Gpu::with_options(GpuOptions {
        pipeline_cache: CacheFolder::Off,
        ..Default::default()
    })
    .expect("device");
    let info = gpu.info().pipeline_cache;
    assert!(info.path.is_none() && info.note.is_some(), "{info:?}");
    assert!(!gpu.save_pipeline_cache().unwrap());
}
