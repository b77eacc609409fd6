//! Shared test helpers: one device per test binary, seeded data, and the
//! closeness measure every GPU-vs-CPU check uses.

use std::sync::{Mutex, OnceLock};

use reslab::Gpu;
pub use reslab::rng::Rng;

/// Messages of the driver's validation layers (`WGPU_VALIDATION=1` with
/// Vulkan's `vulkan-validationlayers` installed), which wgpu passes to `log`
/// rather than to the device's error handler.
static LAYER_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct LayerLog;

impl log::Log for LayerLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn && m.target().starts_with("wgpu_hal")
    }

    fn log(&self, r: &log::Record) {
        // The Vulkan layers' messages, and GL's debug output; not, say, EGL
        // failing to start while wgpu looks at every backend.
        let msg = format!("{}: {}", r.target(), r.args());
        let layer = r.target().starts_with("wgpu_hal::vulkan") || msg.contains("GLES: [");
        if self.enabled(r.metadata()) && layer {
            eprintln!("{msg}");
            if let Ok(mut v) = LAYER_MESSAGES.lock() {
                v.push(msg);
            }
        }
    }

    fn flush(&self) {}
}

/// The device of this test binary (the adapter the environment picks).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        if log::set_logger(&LayerLog).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
        let g = Gpu::new().expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
        eprintln!("adapter: {:?}", g.adapter_info().name);
        g
    })
}

/// max |a - b| / max |b|, the error measure of the acceptance criteria.
pub fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let scale = want.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    if scale == 0.0 { diff } else { diff / scale }
}

/// Asserts max|got − want| / max|want| ≤ tol; on failure prints the largest
/// difference, where it is, and the first values.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    assert!(
        got.iter().all(|v| v.is_finite()),
        "{what}: non-finite value in the result"
    );
    let err = rel_err(got, want);
    if err > tol || err.is_nan() {
        let (idx, d) = got
            .iter()
            .zip(want)
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .enumerate()
            .fold((0, 0f64), |m, (i, d)| if d > m.1 { (i, d) } else { m });
        let head: Vec<_> = got.iter().zip(want).take(6).collect();
        panic!(
            "{what}: relative error {err:.3e} > {tol:.0e}; largest |diff| {d:.3e} at index {idx} \
             (got {}, want {}); first (got, want): {head:?}",
            got[idx], want[idx]
        );
    }
}

/// Asserts the device reported no validation error, and the driver's
/// validation layers (when on) no message.
#[track_caller]
pub fn no_errors() {
    gpu().check().expect("wgpu validation error");
    let layers = LAYER_MESSAGES.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(layers.is_empty(), "validation layer messages: {layers:#?}");
}

/// Central finite differences of `f` at `x` for the coordinates `idx`, in f64.
pub fn finite_diff(f: impl Fn(&[f64]) -> f64, x: &[f64], idx: &[usize], h: f64) -> Vec<f64> {
    let mut x = x.to_vec();
    idx.iter()
        .map(|&i| {
            let x0 = x[i];
            x[i] = x0 + h;
            let fp = f(&x);
            x[i] = x0 - h;
            let fm = f(&x);
            x[i] = x0;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// Up to `k` distinct coordinates of a vector of length `n` (all when n ≤ k).
pub fn sample_indices(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    if n > k {
        rng.shuffle(&mut all);
        all.truncate(k);
    }
    all
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

/// Picks `(got, want)` at `idx`.
pub fn pick(v: &[f32], idx: &[usize]) -> Vec<f32> {
    idx.iter().map(|&i| v[i]).collect()
}

/// `sum(r * y)`: the scalar whose gradient with respect to `y` is `r`.
pub fn dot(r: &[f64], y: &[f64]) -> f64 {
    r.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Builds a program with `f`, runs it and fails the test on any error.
#[track_caller]
pub fn run(f: impl FnOnce(&mut reslab::kernels::Program) -> reslab::Result<()>) {
    let mut prog = reslab::kernels::Program::new();
    f(&mut prog).expect("launch");
    prog.run(gpu()).expect("run");
}

pub fn up(shape: &[usize], data: &[f32]) -> reslab::Tensor {
    gpu().upload(shape, data).expect("upload")
}

pub fn read(t: &reslab::Tensor) -> Vec<f32> {
    gpu().read(t).expect("read")
}

pub fn empty(shape: &[usize]) -> reslab::Tensor {
    gpu().tensor(shape).expect("alloc")
}

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&a| a as f32).collect()
}

/// Compares every parameter gradient of a net. Some gradients are zero by
/// symmetry, not by chance (in a pre-activation net a projection's BN bias only
/// shifts what the next BN removes again): their values on both sides are
/// rounding noise, so a tensor whose largest reference gradient is below a
/// millionth of the net's largest is checked to be near zero instead.
#[track_caller]
pub fn assert_close_grads<'a>(
    what: &str,
    names: impl IntoIterator<Item = &'a str>,
    got: &[Vec<f32>],
    want: &[Vec<f32>],
    tol: f64,
) {
    let scale = |v: &[f32]| v.iter().fold(0f64, |m, x| m.max((*x as f64).abs()));
    let floor = 1e-6 * want.iter().map(|w| scale(w)).fold(0f64, f64::max);
    for ((name, g), w) in names.into_iter().zip(got).zip(want) {
        if scale(w) < floor {
            assert!(
                scale(g) < 100.0 * floor,
                "{what} d{name}: {:e} where the gradient is zero",
                scale(g)
            );
            continue;
        }
        assert_close(&format!("{what} d{name}"), g, w, tol);
    }
}
