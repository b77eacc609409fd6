//! The device layer, the bottom of the engine: adapter choice, a device with
//! the adapter's real limits, validation errors turned into `Error`s, buffers
//! and their pool ([`buffer`]), the pipeline cache, and reading results back
//! ([`readback`]). It knows nothing of kernels or models.

pub mod buffer;
pub mod disk_cache;
pub mod pipelines;
pub mod profile;
pub mod readback;
mod specialize;
pub mod texels;
pub mod tuning;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use buffer::{BufferPool, PoolStats, Tensor, numel};
pub use disk_cache::{CacheFolder, PipelineCacheInfo};
pub use pipelines::Pipeline;
pub use profile::LimitProfile;
pub use texels::{TexelCopy, Texels};

use crate::error::{Error, Result};

/// Most storage bindings any reslab shader declares.
pub const MAX_BINDINGS: usize = 12;

/// Features reslab uses where the adapter has them (timestamps, for
/// `reslab bench`; subgroups, for the kernels that share loads through
/// them; pipeline caches, kept on disk: [`disk_cache`]); none is required.
pub fn wanted_features() -> wgpu::Features {
    wgpu::Features::SUBGROUP
        | wgpu::Features::PIPELINE_CACHE
        | wgpu::Features::TIMESTAMP_QUERY
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
        | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
}

/// A compute pipeline's identity: its shader module, entry point and the
/// values it gives the module's pipeline-overridable constants (each setting
/// is a pipeline of its own; those left out keep their defaults).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PipelineKey {
    pub module: &'static str,
    pub entry: &'static str,
    pub constants: &'static [(&'static str, u32)],
}

/// How to open a device. The defaults honour `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`
/// and `WGPU_POWER_PREF`, and request the adapter's own limits.
#[derive(Default, Clone)]
pub struct GpuOptions {
    /// Backends to consider; `None` reads `WGPU_BACKEND` (all backends if unset).
    pub backends: Option<wgpu::Backends>,
    /// Substring of the adapter name (case-insensitive); `None` reads `WGPU_ADAPTER_NAME`.
    pub adapter_name: Option<String>,
    /// Lets a caller lower limits below the adapter's (tests of limit handling do this).
    pub adjust_limits: Option<fn(&mut wgpu::Limits)>,
    /// Poison mode (see [`Gpu::poisoned`]); also on when `RESLAB_POISON=1`.
    pub poison: bool,
    /// Limits at most a profile's; `None` reads `RESLAB_LIMITS` (the
    /// adapter's own limits if unset).
    pub profile: Option<LimitProfile>,
    /// Where the driver's pipeline cache is kept between runs.
    pub pipeline_cache: CacheFolder,
}

/// Whether `RESLAB_POISON=1` asks for poison mode.
fn poison_from_env() -> bool {
    std::env::var("RESLAB_POISON").is_ok_and(|v| v == "1")
}

/// What `reslab info` prints.
#[derive(Debug, Clone, Serialize)]
pub struct GpuInfo {
    pub backend: String,
    pub adapter: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub vendor: u32,
    pub device: u32,
    pub features: Vec<String>,
    pub limits: wgpu::Limits,
    pub pipeline_cache: PipelineCacheInfo,
}

struct Shared {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    errors: Arc<Mutex<Vec<String>>>,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    /// The same modules parsed by naga, for the pipelines that set
    /// overridable constants (each specialised from it, [`specialize`]).
    parsed: Mutex<HashMap<&'static str, Arc<specialize::Parsed>>>,
    /// Each kernel's pipeline (made by `compiler`) and bind group layout.
    pipelines: Mutex<PipelineCache>,
    compiler: pipelines::Compiler,
    /// What the compiler's pipeline cache on disk started from.
    cache_info: PipelineCacheInfo,
    pool: BufferPool,
    /// Bound where a kernel's optional tensor is absent (bias, residual), one
    /// per binding slot so that one dispatch never binds the same buffer both
    /// read-only and read-write.
    dummies: Vec<wgpu::Buffer>,
    /// The texture of each binding slot that reads a tensor as texels, the
    /// largest asked for so far (see [`texels`]).
    texels: Mutex<Vec<Option<Arc<Texels>>>>,
    /// See [`Gpu::poisoned`].
    poison: bool,
    /// This adapter's table of the tuning file, read when first asked.
    tuning: Mutex<Option<tuning::Table>>,
}

/// Each kernel's pipeline and bind group layout.
type PipelineCache = HashMap<PipelineKey, (Pipeline, Arc<wgpu::BindGroupLayout>)>;

/// A new wgpu instance for `desc`, the first of each set of backends kept for
/// the process. Dropping the last instance unloads the Vulkan driver, and a
/// driver can leave destructors to run when a thread that called it ends:
/// NVIDIA's (580, on an H200) crashed the thread that had opened a device
/// and ended after another thread dropped it (the app's window thread, after
/// its training worker closes). One instance kept keeps the driver loaded.
/// Devices still get instances of their own: on GL two devices of one
/// instance share its context, which two threads cannot hold at once.
fn instance(desc: wgpu::InstanceDescriptor) -> wgpu::Instance {
    static KEPT: Mutex<Vec<(wgpu::Backends, wgpu::Instance)>> = Mutex::new(Vec::new());
    let backends = desc.backends;
    let i = wgpu::Instance::new(desc);
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if !kept.iter().any(|(b, _)| *b == backends) {
        kept.push((backends, i.clone()));
    }
    i
}

/// What poison mode fills buffers with: a quiet NaN in every f32.
const POISON: [u8; 4] = 0x7fc0_0000u32.to_le_bytes();

/// A device and queue with everything the kernels need. Cheap to clone.
#[derive(Clone)]
pub struct Gpu {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Gpu({} on {})",
            self.shared.info.name, self.shared.info.backend
        )
    }
}

impl Gpu {
    /// Opens the adapter chosen by the environment (see [`GpuOptions`]).
    pub fn new() -> Result<Gpu> {
        Self::with_options(GpuOptions::default())
    }

    pub fn with_options(opts: GpuOptions) -> Result<Gpu> {
        pollster::block_on(Self::open(opts))
    }

    async fn open(opts: GpuOptions) -> Result<Gpu> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
        if let Some(b) = opts.backends {
            desc.backends = b;
        }
        let backends = desc.backends;
        let instance = instance(desc);
        let wanted_name = opts
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty());
        let adapter = if let Some(name) = wanted_name {
            let needle = name.to_lowercase();
            let adapters = instance.enumerate_adapters(backends).await;
            let names: Vec<String> = adapters
                .iter()
                .map(|a| {
                    let i = a.get_info();
                    format!("{} ({})", i.name, i.backend)
                })
                .collect();
            adapters
                .into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&needle))
                .ok_or_else(|| {
                    Error::NoAdapter(format!(
                        " whose name contains {name:?}; adapters present: [{}]",
                        names.join(", ")
                    ))
                })?
        } else {
            instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::from_env()
                        .unwrap_or(wgpu::PowerPreference::HighPerformance),
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    apply_limit_buckets: false,
                })
                .await
                .map_err(|e| Error::NoAdapter(format!(" for backends {backends:?}: {e}")))?
        };
        let profile = match opts.profile {
            Some(p) => p,
            None => LimitProfile::from_env()?,
        };
        let mut limits = profile.apply(&adapter.limits());
        if let Some(adjust) = opts.adjust_limits {
            adjust(&mut limits);
        }
        let features = adapter.features() & wanted_features();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("reslab"),
                required_features: features,
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Device(e.to_string()))?;
        let poison = opts.poison || poison_from_env();
        Ok(Self::build(
            device,
            queue,
            adapter.get_info(),
            poison,
            &opts.pipeline_cache,
        ))
    }

    /// Wraps a device and queue made elsewhere (the desktop app shares its renderer's).
    /// Installs an uncaptured-error handler that turns validation errors into `Error`s
    /// returned by [`Gpu::check`].
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Gpu {
        Self::build(
            device,
            queue,
            info,
            poison_from_env(),
            &CacheFolder::FromEnv,
        )
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        poison: bool,
        cache: &CacheFolder,
    ) -> Gpu {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let lost = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut v) = lost.lock() {
                v.push(format!("device lost ({reason:?}): {msg}"));
            }
        });
        let limits = device.limits();
        let features = device.features();
        let dummies = (0..MAX_BINDINGS)
            .map(|_| {
                let b = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("dummy"),
                    size: 16,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                if poison {
                    queue.write_buffer(&b, 0, &POISON.repeat(4));
                }
                b
            })
            .collect();
        let pool = BufferPool::new(device.clone());
        let (disk, cache_info) = disk_cache::DiskCache::open(&device, &info, cache);
        let compiler = pipelines::Compiler::new(&device, info.backend, errors.clone(), disk);
        Gpu {
            shared: Arc::new(Shared {
                device,
                queue,
                info,
                limits,
                features,
                errors,
                modules: Mutex::new(HashMap::new()),
                parsed: Mutex::new(HashMap::new()),
                pipelines: Mutex::new(HashMap::new()),
                compiler,
                cache_info,
                pool,
                dummies,
                texels: Mutex::new(vec![None; MAX_BINDINGS]),
                poison,
                tuning: Mutex::new(None),
            }),
        }
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.shared.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.shared.queue
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.shared.limits
    }

    pub fn features(&self) -> wgpu::Features {
        self.shared.features
    }

    /// The variant the tuning file chose for `key` on this adapter (see
    /// [`tuning`]), `None` when it has none. The file is read on the first
    /// call; one that cannot be read is an error naming it, at every call.
    pub fn tuned(&self, key: &str) -> Result<Option<String>> {
        let mut t = self.shared.tuning.lock().expect("tuning lock");
        if t.is_none() {
            *t = Some(self.read_tuning()?);
        }
        Ok(t.as_ref().and_then(|t| t.get(key).cloned()))
    }

    /// Sets (or, with `None`, removes) this process's choice for `key`, over
    /// what the file says; `reslab bench --tune` measures with it.
    pub fn set_tuned(&self, key: &str, variant: Option<&str>) -> Result<()> {
        let mut t = self.shared.tuning.lock().expect("tuning lock");
        if t.is_none() {
            *t = Some(self.read_tuning()?);
        }
        let t = t.as_mut().expect("loaded above");
        match variant {
            Some(v) => t.insert(key.to_string(), v.to_string()),
            None => t.remove(key),
        };
        Ok(())
    }

    fn read_tuning(&self) -> Result<tuning::Table> {
        let Some(path) = tuning::default_path() else {
            return Ok(tuning::Table::new());
        };
        let mut file = tuning::load(&path)?;
        Ok(file
            .adapters
            .remove(&tuning::adapter_key(&self.shared.info))
            .unwrap_or_default())
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.shared.info
    }

    pub fn backend(&self) -> wgpu::Backend {
        self.shared.info.backend
    }

    pub fn has_timestamps(&self) -> bool {
        self.shared.features.contains(
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
        )
    }

    /// Poison mode: every tensor taken from the pool and every placeholder
    /// for an absent input is filled with NaN, so a kernel that reads a value
    /// nothing wrote, or an input that is not there, shows in the
    /// GPU-vs-CPU tests.
    pub fn poisoned(&self) -> bool {
        self.shared.poison
    }

    /// The placeholder buffer for binding `slot` (see [`MAX_BINDINGS`]).
    pub(crate) fn dummy(&self, slot: usize) -> Option<&wgpu::Buffer> {
        self.shared.dummies.get(slot)
    }

    /// The texture of binding `slot` for reading `floats` floats as texels:
    /// the slot's texture, made larger first if it is too small.
    pub(crate) fn texels(&self, slot: usize, floats: usize) -> Result<Arc<Texels>> {
        let mut all = self
            .shared
            .texels
            .lock()
            .map_err(|_| Error::Wgpu("texel cache poisoned".into()))?;
        let cached = all
            .get_mut(slot)
            .ok_or_else(|| Error::invalid(format!("texels for binding slot {slot}")))?;
        let rows = Texels::rows_for(floats);
        match cached {
            Some(t) if t.rows() as u64 >= rows => Ok(t.clone()),
            _ => {
                let rows = u32::try_from(rows)
                    .map_err(|_| Error::invalid(format!("{floats} floats as texels")))?;
                let t = Arc::new(Texels::new(&self.shared.device, rows));
                *cached = Some(t.clone());
                Ok(t)
            }
        }
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.shared.pool.stats()
    }

    pub(crate) fn pool(&self) -> &BufferPool {
        &self.shared.pool
    }

    pub fn info(&self) -> GpuInfo {
        let i = &self.shared.info;
        GpuInfo {
            backend: i.backend.to_string(),
            adapter: i.name.clone(),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
            vendor: i.vendor,
            device: i.device,
            features: self
                .shared
                .features
                .iter_names()
                .map(|(n, _)| n.to_string())
                .collect(),
            limits: self.shared.limits.clone(),
            pipeline_cache: self.shared.cache_info.clone(),
        }
    }

    /// Writes the driver's pipeline cache to its file now if its data
    /// changed (it is also written when the device is dropped); whether it
    /// wrote.
    pub fn save_pipeline_cache(&self) -> Result<bool> {
        self.shared.compiler.save_cache()
    }

    /// Returns the validation errors wgpu reported since the last call, as one error.
    pub fn check(&self) -> Result<()> {
        let mut v = self
            .shared
            .errors
            .lock()
            .map_err(|_| Error::Wgpu("error log poisoned".into()))?;
        if v.is_empty() {
            return Ok(());
        }
        let msg = v.join("\n");
        v.clear();
        Err(Error::Wgpu(msg))
    }

    /// The compute pipeline of `key` with the bind group layout `entries`
    /// (binding 0 and up), and that layout: the layout at once, the pipeline
    /// as it is made on the compile threads (see [`pipelines`]); both made
    /// once and cached. `source` gives the module's WGSL the first time the
    /// module is needed.
    pub fn pipeline(
        &self,
        key: PipelineKey,
        source: impl FnOnce() -> Result<String>,
        entries: &[wgpu::BindGroupLayoutEntry],
    ) -> Result<(Pipeline, Arc<wgpu::BindGroupLayout>)> {
        if let Some(p) = self.lock_pipelines()?.get(&key) {
            return Ok(p.clone());
        }
        // A pipeline setting constants is made from a module of its own,
        // specialised on its compile thread; the others share the module.
        let module = if key.constants.is_empty() {
            pipelines::Source::Shared(self.module(key.module, source)?)
        } else {
            pipelines::Source::Specialize(self.parsed(key.module, source)?)
        };
        let device = &self.shared.device;
        let label = format!("{}:{}", key.module, key.entry);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries,
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Wgpu(format!("layout of {label}: {e}")));
        }
        let pipeline =
            self.shared
                .compiler
                .request(device, &self.shared.errors, module, layout, key, label);
        let made = (pipeline, Arc::new(bgl));
        self.lock_pipelines()?.insert(key, made.clone());
        Ok(made)
    }

    /// Waits for every pipeline asked for so far; the first that failed, as
    /// an error.
    pub fn pipelines_ready(&self) -> Result<()> {
        let all: Vec<Pipeline> = self
            .lock_pipelines()?
            .values()
            .map(|(p, _)| p.clone())
            .collect();
        for p in all {
            p.ready().map_err(Error::Wgpu)?;
        }
        Ok(())
    }

    /// Every pipeline asked for so far (waited for), as `module:entry`
    /// with the constants it sets, and the seconds its creation took.
    pub fn pipeline_seconds(&self) -> Result<Vec<(String, f64)>> {
        let all: Vec<(PipelineKey, Pipeline)> = self
            .lock_pipelines()?
            .iter()
            .map(|(k, (p, _))| (*k, p.clone()))
            .collect();
        Ok(all
            .into_iter()
            .map(|(k, p)| {
                let mut label = format!("{}:{}", k.module, k.entry);
                for (name, v) in k.constants {
                    label += &format!(" {name}={v}");
                }
                (label, p.seconds())
            })
            .collect())
    }

    fn lock_pipelines(&self) -> Result<std::sync::MutexGuard<'_, PipelineCache>> {
        self.shared
            .pipelines
            .lock()
            .map_err(|_| Error::Wgpu("pipeline cache poisoned".into()))
    }

    /// Module `name` parsed and validated by naga, once.
    fn parsed(
        &self,
        name: &'static str,
        source: impl FnOnce() -> Result<String>,
    ) -> Result<Arc<specialize::Parsed>> {
        let mut parsed = self
            .shared
            .parsed
            .lock()
            .map_err(|_| Error::Wgpu("shader cache poisoned".into()))?;
        if let Some(m) = parsed.get(name) {
            return Ok(m.clone());
        }
        let m = Arc::new(specialize::parse(name, &source()?).map_err(Error::Wgpu)?);
        parsed.insert(name, m.clone());
        Ok(m)
    }

    fn module(
        &self,
        name: &'static str,
        source: impl FnOnce() -> Result<String>,
    ) -> Result<wgpu::ShaderModule> {
        let mut modules = self
            .shared
            .modules
            .lock()
            .map_err(|_| Error::Wgpu("shader cache poisoned".into()))?;
        if let Some(m) = modules.get(name) {
            return Ok(m.clone());
        }
        let source = source()?;
        let scope = self
            .shared
            .device
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .shared
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Wgpu(format!("shader {name}: {e}")));
        }
        modules.insert(name, module.clone());
        Ok(module)
    }

    /// Submits command buffers and returns the submission index.
    pub fn submit(
        &self,
        cmds: impl IntoIterator<Item = wgpu::CommandBuffer>,
    ) -> wgpu::SubmissionIndex {
        self.shared.queue.submit(cmds)
    }

    /// Blocks until all submitted work is done, then reports any validation error.
    pub fn wait(&self) -> Result<()> {
        self.shared
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
        self.check()
    }

    /// Copies `t` into a fresh staging buffer, waits, and returns its values.
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(t.buffer(), t.offset(), t.bytes())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Like [`Gpu::read`] for a tensor holding `u32` values.
    pub fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        let bytes = self.read_bytes(t.buffer(), t.offset(), t.bytes())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    pub fn read_bytes(&self, buf: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.shared.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .shared
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        enc.copy_buffer_to_buffer(buf, offset, &staging, 0, size);
        self.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Wgpu("readback callback dropped".into()))?
            .map_err(|e| Error::Wgpu(format!("readback map failed: {e}")))?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Wgpu(format!("readback view: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// Writes `data` into `t` (through the queue; takes effect before the next submission).
    pub fn write(&self, t: &Tensor, data: &[f32]) -> Result<()> {
        self.write_bytes(t, bytemuck::cast_slice(data))
    }

    pub fn write_u32(&self, t: &Tensor, data: &[u32]) -> Result<()> {
        self.write_bytes(t, bytemuck::cast_slice(data))
    }

    fn write_bytes(&self, t: &Tensor, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 != t.bytes() {
            return Err(Error::invalid(format!(
                "write: {} bytes into a tensor of shape {:?} ({} bytes)",
                bytes.len(),
                t.shape(),
                t.bytes()
            )));
        }
        if !bytes.is_empty() {
            self.shared
                .queue
                .write_buffer(t.buffer(), t.offset(), bytes);
        }
        Ok(())
    }

    /// A tensor from the pool, contents unspecified (NaN in poison mode).
    pub fn tensor(&self, shape: &[usize]) -> Result<Tensor> {
        let bytes = (numel(shape) as u64)
            .checked_mul(4)
            .ok_or_else(|| Error::BufferTooLarge {
                what: format!("tensor {shape:?}"),
                bytes: u64::MAX,
                limit: self.limits().max_buffer_size,
            })?;
        let buf = self.pool().take(bytes, self.limits().max_buffer_size)?;
        let t = Tensor::pooled(buf, shape);
        if self.shared.poison {
            let size = t.buffer().size() as usize;
            self.shared
                .queue
                .write_buffer(t.buffer(), 0, &POISON.repeat(size / 4));
        }
        Ok(t)
    }

    /// A tensor holding `data`.
    pub fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        let t = self.tensor(shape)?;
        self.write(&t, data)?;
        Ok(t)
    }

    /// A tensor of zeros.
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensor(shape)?;
        let mut enc = self
            .shared
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("zeros"),
            });
        t.clear(&mut enc);
        self.submit([enc.finish()]);
        Ok(t)
    }
}
