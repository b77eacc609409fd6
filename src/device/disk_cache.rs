//! The driver's pipeline cache, kept on disk between runs where the backend
//! has one (wgpu's `PipelineCache`: Vulkan, feature `PIPELINE_CACHE`). Every
//! pipeline a device makes goes through it, and when the device's pipeline
//! compiler is dropped the driver's data is written back if it changed, so a
//! later run on the same adapter and driver can skip the driver's compiles.
//! Many desktop drivers keep a cache of their own as well; lavapipe (Mesa
//! 22.3) hands back only the cache's header.
//!
//! The file (`<folder>/<wgpu's key for the adapter>.bin`, the folder
//! `RESLAB_PIPELINE_CACHE`, else `reslab/pipelines` in the user's cache
//! folder; `RESLAB_PIPELINE_CACHE=off` keeps none) wraps the driver's bytes
//! in a header of reslab's own: a magic, their length and an FNV-1a hash,
//! since neither wgpu nor the Vulkan spec promises to survive damaged data.
//! A file that fails those checks is not handed to the driver and is
//! replaced; one without the magic is not reslab's and is left as it is
//! (the device then keeps no cache on disk); data the driver refuses (another
//! driver version, another wgpu) is dropped and replaced. Each case is a
//! note in [`PipelineCacheInfo`], which `reslab info` prints.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// The header's magic: format 1.
const MAGIC: &[u8; 8] = b"RSLBPLC1";
/// Magic, length (u64 LE), hash (u64 LE).
const HEADER: usize = 24;
/// Largest cache file read.
const MAX_BYTES: u64 = 512 << 20;

/// Where a device's pipeline cache lives, or that it keeps none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheFolder {
    /// `RESLAB_PIPELINE_CACHE` (`off` for none), else the user's cache folder.
    #[default]
    FromEnv,
    /// No cache on disk.
    Off,
    /// This folder.
    At(PathBuf),
}

impl CacheFolder {
    fn resolve(&self) -> Option<PathBuf> {
        match self {
            CacheFolder::Off => None,
            CacheFolder::At(p) => Some(p.clone()),
            CacheFolder::FromEnv => match std::env::var_os("RESLAB_PIPELINE_CACHE") {
                Some(v) if v == "off" => None,
                Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
                _ => crate::files::cache_home().map(|h| h.join("pipelines")),
            },
        }
    }
}

/// What a device's pipeline cache on disk is doing.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PipelineCacheInfo {
    /// The cache file, where the device keeps one.
    pub path: Option<String>,
    /// Bytes of the driver's data the device started from (0: none).
    pub loaded_bytes: usize,
    /// Why there is no cache on disk, or what was wrong with the file.
    pub note: Option<String>,
}

/// A device's pipeline cache and the file it is saved to.
pub(crate) struct DiskCache {
    pub(crate) cache: wgpu::PipelineCache,
    path: PathBuf,
    /// Hash of the driver's data as loaded or last written: unchanged data is
    /// not written again.
    written: Mutex<Option<u64>>,
}

/// FNV-1a, 64 bits.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The file's bytes for the driver's `data`.
fn wrap(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + data.len());
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&(data.len() as u64).to_le_bytes());
    v.extend_from_slice(&fnv1a(data).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// What a cache file holds.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// No file.
    Missing,
    /// The driver's data.
    Data(Vec<u8>),
    /// A reslab cache file that fails its checks (replaced on the next save).
    Damaged(String),
    /// Not a reslab cache file (left alone).
    Foreign(String),
}

/// The file at `path`, opened and past its magic; the reason it is not
/// one of reslab's cache files otherwise (`None`: there is no file).
fn open_magic(path: &Path) -> Result<std::fs::File, Option<String>> {
    use std::io::Read as _;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) => return Err(Some(format!("cannot be read ({e})"))),
    };
    let mut magic = [0u8; 8];
    match f.read_exact(&mut magic) {
        Ok(()) if &magic == MAGIC => Ok(f),
        _ => Err(Some("is not a reslab pipeline cache".into())),
    }
}

fn read(path: &Path) -> Read {
    use std::io::Read as _;
    let mut f = match open_magic(path) {
        Ok(f) => f,
        Err(None) => return Read::Missing,
        Err(Some(why)) => return Read::Foreign(why),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_BYTES {
        return Read::Damaged(format!("{len} bytes, more than a cache file holds"));
    }
    let mut rest = Vec::new();
    if let Err(e) = f.read_to_end(&mut rest) {
        return Read::Damaged(format!("cannot be read ({e})"));
    }
    if rest.len() < HEADER - 8 {
        return Read::Damaged("truncated in its header".into());
    }
    let (lh, data) = rest.split_at(HEADER - 8);
    let n = u64::from_le_bytes(lh[..8].try_into().expect("8 bytes"));
    let hash = u64::from_le_bytes(lh[8..].try_into().expect("8 bytes"));
    if n != data.len() as u64 {
        return Read::Damaged(format!(
            "holds {} bytes of data where its header says {n}",
            data.len()
        ));
    }
    if fnv1a(data) != hash {
        return Read::Damaged("its data do not match their checksum".into());
    }
    Read::Data(data.to_vec())
}

/// Serialises this process's writes of cache files.
static WRITING: Mutex<()> = Mutex::new(());

impl DiskCache {
    /// Opens the device's cache from `folder`'s file for this adapter, where
    /// the device has pipeline caches; `None` (with the reason) where it
    /// keeps none on disk.
    pub(crate) fn open(
        device: &wgpu::Device,
        info: &wgpu::AdapterInfo,
        folder: &CacheFolder,
    ) -> (Option<DiskCache>, PipelineCacheInfo) {
        let mut report = PipelineCacheInfo::default();
        if !device.features().contains(wgpu::Features::PIPELINE_CACHE) {
            report.note = Some("this adapter's backend has no pipeline cache".into());
            return (None, report);
        }
        let Some(key) = wgpu::util::pipeline_cache_key(info) else {
            report.note = Some("wgpu keeps no pipeline cache for this backend".into());
            return (None, report);
        };
        let Some(dir) = folder.resolve() else {
            report.note = Some(
                "RESLAB_PIPELINE_CACHE=off, or no cache folder (neither XDG_CACHE_HOME nor HOME set)"
                    .into(),
            );
            return (None, report);
        };
        let path = dir.join(format!("{key}.bin"));
        report.path = Some(path.display().to_string());
        let data = match read(&path) {
            Read::Missing => None,
            Read::Data(d) => Some(d),
            Read::Damaged(why) => {
                report.note = Some(format!("the file {why}: started afresh, to be replaced"));
                None
            }
            Read::Foreign(why) => {
                report.note = Some(format!(
                    "the file {why}: left as it is, no pipeline cache kept on disk"
                ));
                return (None, report);
            }
        };
        let cache = match &data {
            Some(d) => {
                let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
                // SAFETY: the bytes came from `get_data` of a device with this
                // cache key (its file names it), checked by length and hash
                // above; wgpu checks its own header (adapter, driver, version)
                // and, with `fallback` off, refuses data it cannot use.
                let c = unsafe { create(device, Some(d), false) };
                if let Some(e) = pollster::block_on(scope.pop()) {
                    report.note = Some(format!(
                        "the driver did not take the saved data ({e}): started afresh, to be replaced"
                    ));
                    // SAFETY: no data.
                    unsafe { create(device, None, true) }
                } else {
                    report.loaded_bytes = d.len();
                    c
                }
            }
            // SAFETY: no data.
            None => unsafe { create(device, None, true) },
        };
        let written = (report.loaded_bytes > 0).then(|| fnv1a(data.as_deref().unwrap_or(&[])));
        let disk = DiskCache {
            cache,
            path,
            written: Mutex::new(written),
        };
        (Some(disk), report)
    }

    /// Writes the driver's data to the file if it changed since it was read
    /// or last written; whether it wrote.
    pub(crate) fn save(&self) -> crate::error::Result<bool> {
        let Some(data) = self.cache.get_data() else {
            return Ok(false);
        };
        let hash = fnv1a(&data);
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written == Some(hash) {
            return Ok(false);
        }
        let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        // A file put there since this device opened that is not reslab's
        // stays.
        if let Err(Some(_)) = open_magic(&self.path) {
            return Ok(false);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
        }
        crate::files::write_atomic(&self.path, &wrap(&data))?;
        *written = Some(hash);
        Ok(true)
    }
}

/// # Safety
/// As [`wgpu::Device::create_pipeline_cache`].
unsafe fn create(
    device: &wgpu::Device,
    data: Option<&[u8]>,
    fallback: bool,
) -> wgpu::PipelineCache {
    unsafe {
        device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
            label: Some("reslab pipelines"),
            data,
            fallback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("reslab-plc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("c.bin")
    }

    #[test]
    fn wrapped_data_reads_back_and_damage_is_named() {
        let p = tmp("wrap");
        assert_eq!(read(&p), Read::Missing);
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let file = wrap(&data);
        std::fs::write(&p, &file).unwrap();
        assert_eq!(read(&p), Read::Data(data.clone()));
        let cases: [(Vec<u8>, &str); 4] = [
            (file[..file.len() - 1].to_vec(), "header says 300"),
            (file[..12].to_vec(), "truncated"),
            (
                {
                    let mut f = file.clone();
                    f[HEADER + 17] ^= 1;
                    f
                },
                "checksum",
            ),
            ([file.clone(), vec![0]].concat(), "header says 300"),
        ];
        for (bytes, says) in cases {
            std::fs::write(&p, &bytes).unwrap();
            match read(&p) {
                Read::Damaged(why) => assert!(why.contains(says), "{why}"),
                r => panic!("{says}: {r:?}"),
            }
        }
        for bytes in [&b""[..], b"RSLB", b"{\"json\": true}"] {
            std::fs::write(&p, bytes).unwrap();
            assert!(matches!(read(&p), Read::Foreign(_)), "{bytes:?}");
        }
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn folder_from_env_off_and_explicit() {
        assert_eq!(CacheFolder::Off.resolve(), None);
        let d = PathBuf::from("/some/where");
        assert_eq!(CacheFolder::At(d.clone()).resolve(), Some(d));
    }
}
