//! Limit profiles: a device opened with the limits a smaller adapter would
//! give, so the tests show on a CPU driver (whose limits are generous) what
//! would fail elsewhere. `RESLAB_LIMITS=webgpu|downlevel|compat` picks one.

use std::str::FromStr;

use crate::error::{Error, Result};

/// Whose limits a device gets: the adapter's own, or at most a profile's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitProfile {
    /// The adapter's own limits.
    #[default]
    Adapter,
    /// WebGPU's defaults, which every wgpu adapter but the downlevel ones meets:
    /// 8 storage buffers per stage, 256 invocations, 128 MiB bindings.
    WebGpu,
    /// wgpu's downlevel defaults (GLES 3.1 class): 4 storage buffers per stage.
    Downlevel,
    /// Downlevel, and 128 invocations per workgroup (GLES 3.1's guarantee) and
    /// at most 4096 workgroups per grid dimension (so large grids fold).
    Compat,
}

impl FromStr for LimitProfile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "adapter" => Ok(LimitProfile::Adapter),
            "webgpu" => Ok(LimitProfile::WebGpu),
            "downlevel" => Ok(LimitProfile::Downlevel),
            "compat" => Ok(LimitProfile::Compat),
            other => Err(Error::invalid(format!(
                "RESLAB_LIMITS={other:?}: give adapter, webgpu, downlevel or compat"
            ))),
        }
    }
}

impl LimitProfile {
    /// The profile `RESLAB_LIMITS` names (the adapter's limits when unset).
    pub fn from_env() -> Result<Self> {
        std::env::var("RESLAB_LIMITS").unwrap_or_default().parse()
    }

    /// The profile's own limits (`None` for the adapter's).
    pub fn limits(self) -> Option<wgpu::Limits> {
        match self {
            LimitProfile::Adapter => None,
            LimitProfile::WebGpu => Some(wgpu::Limits::defaults()),
            LimitProfile::Downlevel => Some(wgpu::Limits::downlevel_defaults()),
            LimitProfile::Compat => Some(wgpu::Limits {
                max_compute_invocations_per_workgroup: 128,
                max_compute_workgroup_size_x: 128,
                max_compute_workgroup_size_y: 128,
                max_compute_workgroups_per_dimension: 4096,
                ..wgpu::Limits::downlevel_defaults()
            }),
        }
    }

    /// `adapter`'s limits lowered to this profile's where the profile's are
    /// smaller (the compute and buffer limits the kernels depend on).
    pub fn apply(self, adapter: &wgpu::Limits) -> wgpu::Limits {
        let Some(p) = self.limits() else {
            return adapter.clone();
        };
        let mut l = adapter.clone();
        macro_rules! lower {
            ($($field:ident),*) => { $(l.$field = l.$field.min(p.$field);)* };
        }
        lower!(
            max_storage_buffers_per_shader_stage,
            max_storage_buffer_binding_size,
            max_uniform_buffer_binding_size,
            max_buffer_size,
            max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x,
            max_compute_workgroup_size_y,
            max_compute_workgroup_size_z,
            max_compute_workgroups_per_dimension
        );
        l
    }
}
