//! Compute pipelines created on threads of their own. A driver translates a
//! pipeline's shader when it is created (lavapipe: into its own IR, which it
//! optimises, up to half a second for a large tile kernel before
//! [`super::specialize`]; the machine code follows at the first dispatch),
//! so a plan that needs thirty of them would wait seconds if it made them
//! one by one as it records. Here a request returns at once with a
//! [`Pipeline`] to be filled by the first free worker (as many as the
//! machine has cores), which also specialises the module of a pipeline that
//! sets constants, and bind groups are made meanwhile from the kernel's
//! explicit layout; whoever records the dispatch waits for it.

use super::PipelineKey;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

/// A pipeline being created, or made, or failed (the message also went to
/// the device's error log, which [`super::Gpu::check`] reports).
#[derive(Clone, Debug)]
pub struct Pipeline {
    slot: Arc<OnceLock<Made>>,
}

/// A pipeline made (or its error), and the seconds its creation took.
type Made = (Result<wgpu::ComputePipeline, String>, f64);

impl Pipeline {
    /// Blocks until the pipeline is made; `None` if it failed.
    pub fn wait(&self) -> Option<&wgpu::ComputePipeline> {
        self.slot.wait().0.as_ref().ok()
    }

    /// Blocks until the pipeline is made; its error if it failed.
    pub fn ready(&self) -> std::result::Result<(), String> {
        self.slot
            .wait()
            .0
            .as_ref()
            .map(|_| ())
            .map_err(Clone::clone)
    }

    /// Blocks until the pipeline is made (or failed); the seconds its
    /// creation took on its thread (specialising its module included).
    pub fn seconds(&self) -> f64 {
        self.slot.wait().1
    }
}

/// What a pipeline is made from.
pub(crate) enum Source {
    /// The module all pipelines of its file share.
    Shared(wgpu::ShaderModule),
    /// A module of the pipeline's own, specialised to its constants from
    /// the parsed file ([`super::specialize`]).
    Specialize(Arc<super::specialize::Parsed>),
}

struct Job {
    module: Source,
    cache: Option<wgpu::PipelineCache>,
    layout: wgpu::PipelineLayout,
    key: PipelineKey,
    label: String,
    slot: Arc<OnceLock<Made>>,
}

/// The workers and their queue of jobs, and the driver's pipeline cache they
/// make pipelines through (kept on disk: [`super::disk_cache`]). Dropping it
/// ends the workers once the queue is empty and waits for them, so that the
/// device's last handle is dropped by the thread that drops the compiler (a
/// device torn down on another thread while the process exits crashed
/// lavapipe), then saves the cache.
pub(crate) struct Compiler {
    jobs: Mutex<Option<Sender<Job>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    disk: Option<super::disk_cache::DiskCache>,
}

impl Drop for Compiler {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        // A cache that cannot be written only costs a later run its
        // compiles (`Gpu::save_pipeline_cache` reports why).
        if let Some(d) = &self.disk {
            let _ = d.save();
        }
    }
}

impl Compiler {
    /// A compiler with a worker per core; none on `backend` GL, whose one
    /// context is locked while a program compiles (so workers gain nothing
    /// there, and a long compile made other threads' waits for the context
    /// time out), where `request` makes each pipeline itself.
    pub(crate) fn new(
        device: &wgpu::Device,
        backend: wgpu::Backend,
        errors: Arc<Mutex<Vec<String>>>,
        disk: Option<super::disk_cache::DiskCache>,
    ) -> Compiler {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let n = match backend {
            wgpu::Backend::Gl => 0,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        // A worker that cannot start leaves the others; with none, jobs are
        // made by `request` itself (see there).
        let workers = (0..n)
            .filter_map(|i| {
                let (device, rx, errors) = (device.clone(), rx.clone(), errors.clone());
                std::thread::Builder::new()
                    .name(format!("reslab-pipelines-{i}"))
                    .spawn(move || work(&device, &rx, &errors))
                    .ok()
            })
            .collect::<Vec<_>>();
        let tx = (!workers.is_empty()).then_some(tx);
        Compiler {
            jobs: Mutex::new(tx),
            workers,
            disk,
        }
    }

    /// Writes the pipeline cache to its file if the driver's data changed;
    /// whether it wrote (false too where no cache is kept on disk).
    pub(crate) fn save_cache(&self) -> crate::error::Result<bool> {
        self.disk.as_ref().map_or(Ok(false), |d| d.save())
    }

    /// Queues the creation of `key`'s pipeline (its entry point and constants)
    /// of `module` with `layout`.
    pub(crate) fn request(
        &self,
        device: &wgpu::Device,
        errors: &Mutex<Vec<String>>,
        module: Source,
        layout: wgpu::PipelineLayout,
        key: PipelineKey,
        label: String,
    ) -> Pipeline {
        let slot = Arc::new(OnceLock::new());
        let job = Job {
            module,
            cache: self.disk.as_ref().map(|d| d.cache.clone()),
            layout,
            key,
            label,
            slot: slot.clone(),
        };
        let sent = match self.jobs.lock().as_deref() {
            Ok(Some(tx)) => tx.send(job).map_err(|e| e.0),
            _ => Err(job),
        };
        // No worker to take it: make it here.
        if let Err(job) = sent {
            make(device, &job, errors);
        }
        Pipeline { slot }
    }
}

fn work(device: &wgpu::Device, rx: &Mutex<Receiver<Job>>, errors: &Mutex<Vec<String>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // the compiler is gone
        };
        // A panic inside the driver or wgpu must not leave the slot empty
        // (its dispatches would wait for ever): it becomes the job's error.
        let made =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(device, &job, errors)));
        if made.is_err() {
            let msg = format!("pipeline {}: its creation panicked", job.label);
            if let Ok(mut v) = errors.lock() {
                v.push(msg.clone());
            }
            let _ = job.slot.set((Err(msg), 0.0));
        }
    }
}

/// Creates the job's pipeline (error scopes are per thread) and fills its slot.
fn make(device: &wgpu::Device, job: &Job, errors: &Mutex<Vec<String>>) {
    let start = std::time::Instant::now();
    let result = create(device, job).map_err(|e| {
        let msg = format!("pipeline {}: {e}", job.label);
        if let Ok(mut v) = errors.lock() {
            v.push(msg.clone());
        }
        msg
    });
    let _ = job.slot.set((result, start.elapsed().as_secs_f64()));
}

fn create(device: &wgpu::Device, job: &Job) -> Result<wgpu::ComputePipeline, String> {
    let module = module(device, job)?;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&job.label),
        layout: Some(&job.layout),
        module: &module,
        entry_point: Some(job.key.entry),
        // (A specialised module has its constants in place; a shared one
        // is only used by pipelines that set none.)
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[],
            zero_initialize_workgroup_memory: false,
        },
        cache: job.cache.as_ref(),
    });
    match pollster::block_on(scope.pop()) {
        None => Ok(pipeline),
        Some(e) => Err(e.to_string()),
    }
}

/// The job's shader module: the shared one, or its own specialised one.
fn module(device: &wgpu::Device, job: &Job) -> Result<wgpu::ShaderModule, String> {
    let parsed = match &job.module {
        Source::Shared(m) => return Ok(m.clone()),
        Source::Specialize(parsed) => parsed,
    };
    let m = super::specialize::specialize(parsed, job.key.entry, job.key.constants)?;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&job.label),
        source: wgpu::ShaderSource::Naga(std::borrow::Cow::Owned(m)),
    });
    match pollster::block_on(scope.pop()) {
        None => Ok(module),
        Some(e) => Err(format!("its specialised module: {e}")),
    }
}
