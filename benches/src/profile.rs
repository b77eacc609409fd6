//! Time per dispatch of a program, from GPU timestamps written between
//! dispatches (on adapters that allow timestamps inside passes).

use std::collections::BTreeMap;

use reslab::device::Gpu;
use reslab::error::Result;
use reslab::kernels::Program;

/// Nanoseconds each dispatch of `prog` took in one run, in program order,
/// with the dispatch labels. `None` when the adapter cannot time inside
/// passes, or its timestamps for this run make no sense.
pub fn profile(gpu: &Gpu, prog: &Program) -> Result<Option<Vec<(String, f64)>>> {
    let need = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
    if !gpu.features().contains(need) || prog.is_empty() {
        return Ok(None);
    }
    let n = prog.len() as u32 + 1;
    let qs = gpu.device().create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("profile"),
        ty: wgpu::QueryType::Timestamp,
        count: n,
    });
    let resolve = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("profile resolve"),
        size: 8 * n as u64,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut enc = gpu
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("profile"),
        });
    // A dispatch's time includes the copies recorded before it (its texels).
    prog.record_with(&mut enc, "profile", 0..prog.len(), |pass, i| {
        pass.write_timestamp(&qs, i.map_or(0, |i| i as u32 + 1));
    });
    enc.resolve_query_set(&qs, 0..n, &resolve, 0);
    gpu.submit([enc.finish()]);
    let raw = gpu.read_bytes(&resolve, 0, 8 * n as u64)?;
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
    let period = gpu.queue().get_timestamp_period() as f64;
    // Queries can overlap or wrap on GPUs: timestamps that go backwards (or
    // all read zero) time nothing, and the caller falls back to the wall clock.
    if ticks.windows(2).any(|w| w[1] < w[0]) || ticks.last() == ticks.first() {
        return Ok(None);
    }
    Ok(Some(
        prog.dispatches
            .iter()
            .zip(ticks.windows(2))
            .map(|(d, w)| (d.label().to_string(), (w[1] - w[0]) as f64 * period))
            .collect(),
    ))
}

/// Sums per-dispatch times by label (entry point), largest first.
pub fn by_kernel(times: &[(String, f64)]) -> Vec<(String, f64, usize)> {
    let mut m: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (l, t) in times {
        let e = m.entry(l).or_default();
        e.0 += t;
        e.1 += 1;
    }
    let mut v: Vec<_> = m
        .into_iter()
        .map(|(l, (t, c))| (l.to_string(), t, c))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}
