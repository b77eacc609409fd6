//! The kernel table: every compute entry point of the engine, declared once —
//! its shader module, entry point, workgroup size, bindings and the Rust type
//! of its parameter block. Launchers name kernels by these constants, never
//! by strings, and the type of a kernel's parameters is checked by the
//! compiler at every launch. `tests/kernels.rs` reflects every module with
//! naga and checks the table, and each parameter struct's size and field
//! offsets, against the WGSL.

use std::marker::PhantomData;

use crate::device::Gpu;
use crate::error::Result;
use crate::kernels::grid_1d;
use crate::kernels::shaders::{self, Module};
use crate::kernels::{
    batchnorm, ceiling, colormap, conv2d, elementwise, linear, loss, pool, reduce, sgd, shortcut,
};

/// What a binding after the parameter block (binding 0, a uniform) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// A storage buffer the kernel only reads.
    Read,
    /// A storage buffer the kernel writes (and may read).
    Write,
    /// A write-only storage texture of [`IMAGE_FORMAT`] (the colormap's picture).
    Image,
    /// A uniform buffer of [`UNIFORM_WINDOW_BYTES`]: a window of a tensor's
    /// buffer that every invocation reads alike (weights a CPU driver then
    /// loads once and broadcasts).
    Uniform,
    /// A tensor read as texels (a read-only `rgba32float` storage texture,
    /// shared/texels.wgsl): the dispatch copies it into a texture of the
    /// device's ([`crate::device::Texels`]) first. Its kernels have a
    /// variant reading storage buffers.
    Texels,
}

/// The format of every [`Binding::Image`].
pub const IMAGE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// The size of every [`Binding::Uniform`]: 64 KiB, WebGPU's default
/// `max_uniform_buffer_binding_size` (a kernel with one does not fit
/// adapters with less, such as wgpu's downlevel profile, and has a variant).
pub const UNIFORM_WINDOW_BYTES: u64 = 65536;

/// One field of a parameter block: name, byte offset, byte size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A parameter block's layout as Rust lays it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsLayout {
    /// The WGSL struct it mirrors.
    pub name: &'static str,
    pub size: usize,
    pub fields: Vec<Field>,
}

/// A `#[repr(C)]` mirror of a WGSL parameter struct.
pub trait Params: bytemuck::Pod {
    fn layout() -> ParamsLayout;
}

/// Declares a parameter block: the struct (`#[repr(C)]`, `Pod`, fields public
/// to the kernels) and its [`Params`] layout. Field names are the WGSL's,
/// padding written out.
macro_rules! params {
    ($(#[$m:meta])* pub struct $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $(pub $field: $ty),*
        }

        impl $crate::kernels::table::Params for $name {
            fn layout() -> $crate::kernels::table::ParamsLayout {
                $crate::kernels::table::ParamsLayout {
                    name: stringify!($name),
                    size: std::mem::size_of::<$name>(),
                    fields: vec![$($crate::kernels::table::Field {
                        name: stringify!($field),
                        offset: std::mem::offset_of!($name, $field),
                        size: std::mem::size_of::<$ty>(),
                    }),*],
                }
            }
        }
    };
}
pub(crate) use params;

/// A compute entry point whose parameter block is a `P`.
pub struct Kernel<P> {
    pub module: &'static Module,
    pub entry: &'static str,
    pub workgroup: [u32; 3],
    /// Bindings 1.., in order.
    pub bindings: &'static [Binding],
    /// Values of the module's pipeline-overridable constants (none in the
    /// table; see [`Kernel::with_constants`]).
    pub constants: &'static [(&'static str, u32)],
    params: PhantomData<fn() -> P>,
}

impl<P> Clone for Kernel<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Kernel<P> {}

impl<P: Params> Kernel<P> {
    /// This kernel with the module's overridable constants set to
    /// `constants`: a pipeline of its own.
    pub fn with_constants(&self, constants: &'static [(&'static str, u32)]) -> Kernel<P> {
        Kernel { constants, ..*self }
    }

    /// Invocations per workgroup along x.
    pub fn width(&self) -> u32 {
        self.workgroup[0]
    }

    /// Whether `gpu`'s limits allow it.
    pub fn fits(&self, gpu: &Gpu) -> bool {
        self.info("").exceeds(gpu.limits()).is_empty()
    }

    /// The grid for one invocation per item of `threads` (see [`grid_1d`]).
    pub fn grid_1d(&self, gpu: &Gpu, threads: usize) -> Result<[u32; 3]> {
        grid_1d(gpu, self.entry, threads, self.width())
    }

    /// The kernel as data, for the reflection tests.
    pub fn info(&self, name: &'static str) -> KernelInfo {
        KernelInfo {
            name,
            module: self.module,
            entry: self.entry,
            workgroup: self.workgroup,
            bindings: self.bindings,
            params: P::layout(),
        }
    }
}

/// A kernel of the table with its parameter layout spelled out.
#[derive(Debug)]
pub struct KernelInfo {
    /// Its name in the table.
    pub name: &'static str,
    pub module: &'static Module,
    pub entry: &'static str,
    pub workgroup: [u32; 3],
    pub bindings: &'static [Binding],
    pub params: ParamsLayout,
}

impl KernelInfo {
    /// Storage buffers it binds (a storage texture or uniform is not one).
    pub fn storage_buffers(&self) -> u32 {
        self.bindings
            .iter()
            .filter(|b| matches!(b, Binding::Read | Binding::Write))
            .count() as u32
    }

    /// Storage textures it binds: its texels (read) and images (written).
    pub fn storage_textures(&self) -> u32 {
        self.bindings
            .iter()
            .filter(|b| matches!(b, Binding::Texels | Binding::Image))
            .count() as u32
    }

    /// Bytes of its largest uniform binding after the parameters (0: none).
    pub fn uniform_window(&self) -> u32 {
        if self.bindings.contains(&Binding::Uniform) {
            UNIFORM_WINDOW_BYTES as u32
        } else {
            0
        }
    }

    /// Uniform windows it binds after the parameters.
    pub fn uniform_windows(&self) -> u32 {
        self.bindings
            .iter()
            .filter(|b| **b == Binding::Uniform)
            .count() as u32
    }

    pub fn invocations(&self) -> u32 {
        self.workgroup.iter().product()
    }

    /// Each limit of `l` it exceeds: (the limit's name, what `l` allows, what
    /// the kernel needs).
    pub fn exceeds(&self, l: &wgpu::Limits) -> Vec<(&'static str, u32, u32)> {
        let [x, y, z] = self.workgroup;
        [
            (
                "max_storage_buffers_per_shader_stage",
                l.max_storage_buffers_per_shader_stage,
                self.storage_buffers(),
            ),
            (
                "max_storage_textures_per_shader_stage",
                l.max_storage_textures_per_shader_stage,
                self.storage_textures(),
            ),
            (
                "max_compute_invocations_per_workgroup",
                l.max_compute_invocations_per_workgroup,
                self.invocations(),
            ),
            (
                "max_compute_workgroup_size_x",
                l.max_compute_workgroup_size_x,
                x,
            ),
            (
                "max_compute_workgroup_size_y",
                l.max_compute_workgroup_size_y,
                y,
            ),
            (
                "max_compute_workgroup_size_z",
                l.max_compute_workgroup_size_z,
                z,
            ),
            (
                "max_uniform_buffer_binding_size",
                l.max_uniform_buffer_binding_size.min(u32::MAX as u64) as u32,
                self.uniform_window(),
            ),
            (
                "max_uniform_buffers_per_shader_stage",
                l.max_uniform_buffers_per_shader_stage,
                1 + self.uniform_windows(),
            ),
        ]
        .into_iter()
        .filter(|(_, allowed, needed)| needed > allowed)
        .collect()
    }
}

/// Entry points with a variant for smaller limits, which their launcher runs
/// where they do not fit (see [`Kernel::fits`]).
pub const WITH_VARIANT: &[&str] = &[
    "bn_stats_apply_pad4",
    "bn_stats_apply_pad4_one",
    "bn_backward_apply_pad4_one",
    "bn_eval_apply_pad4",
    "bn_backward_partial4_tail",
    "bn_backward_partial4_tail_w8",
    "bn_backward_finalize_apply_pad4",
    "bn_apply_pad4",
    "bn_backward_apply_pad4",
    "bn_backward_apply",
    "bn_backward_apply4",
    "bn_stats_coef",
    "bn_backward_partial_saved",
    "bn_backward_partial_saved_w8",
    "bn_backward_partial4_saved",
    "bn_backward_partial4_saved_w8",
    "bn_backward_finalize_grads",
    "conv2d_forward_tiled_s1_r4u",
    "conv2d_forward_tiled_s1_r4sg2",
    "conv2d_forward_tiled_s1_r4sg4",
    "conv2d_forward_tiled_s1_r4sg8",
    "conv2d_forward_tiled_s2u",
    "conv2d_forward_tiled_s2sg2",
    "conv2d_forward_tiled_s2sg4",
    "conv2d_forward_tiled_s2sg8",
    "conv2d_backward_data_tiled_s2u",
    "conv2d_backward_data_tiled_s2sg2",
    "conv2d_backward_data_tiled_s2sg4",
    "conv2d_backward_data_tiled_s2sg8",
    "conv2d_backward_data_tiled_s2p2",
    "conv2d_backward_data_tiled_s2p4",
    "conv2d_backward_data_tiled_s2p8",
];

/// Whether `k` has a variant for smaller limits: its entry point is one of
/// [`WITH_VARIANT`], or it is a tiled conv's batch-norm twin (where one does
/// not fit, the conv and the batch norm run as two passes).
pub fn has_variant(k: &KernelInfo) -> bool {
    WITH_VARIANT.contains(&k.entry) || k.module.name.starts_with("conv2d_forward_bn_")
}

/// Refuses, naming each limit and the kernels over it, a device whose limits
/// some kernel of the table exceeds (but those with a variant,
/// [`has_variant`]) — before any pipeline is built, rather than as a pipeline
/// error in the middle of planning.
pub fn check_limits(l: &wgpu::Limits) -> Result<()> {
    let mut over: Vec<(&'static str, u32, u32, Vec<&'static str>)> = Vec::new();
    for k in all().iter().filter(|k| !has_variant(k)) {
        for (limit, allowed, needed) in k.exceeds(l) {
            match over.iter_mut().find(|o| o.0 == limit) {
                Some(o) => {
                    o.2 = o.2.max(needed);
                    o.3.push(k.entry);
                }
                None => over.push((limit, allowed, needed, vec![k.entry])),
            }
        }
    }
    if over.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = over
        .iter()
        .map(|(limit, allowed, needed, entries)| {
            format!(
                "{limit} is {allowed}, and {} kernel(s) need up to {needed} ({})",
                entries.len(),
                entries.join(", ")
            )
        })
        .collect();
    Err(crate::error::Error::Device(format!(
        "this device's limits are below what reslab's kernels need: {}",
        what.join("; ")
    )))
}

macro_rules! table {
    ($($(#[$doc:meta])* $name:ident: $params:ty = $module:ident::$entry:literal,
        [$x:literal, $y:literal, $z:literal], [$($b:ident),*];)*) => {
        $(
            $(#[$doc])*
            pub const $name: Kernel<$params> = Kernel {
                module: &shaders::$module,
                entry: $entry,
                workgroup: [$x, $y, $z],
                bindings: &[$(Binding::$b),*],
                constants: &[],
                params: PhantomData,
            };
        )*

        /// Every kernel of the table.
        pub fn all() -> Vec<KernelInfo> {
            vec![$($name.info(stringify!($name))),*]
        }
    };
}

table! {
    // Batch norm forward: statistics per chunk of samples, then per channel;
    // (or the running ones, in eval mode); the per-channel scale and shift;
    // the apply pass (+ residual, ReLU).
    BN_STATS_PARTIAL: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_partial", [128, 1, 1], [Write, Read];
    BN_STATS_PARTIAL_W8: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_partial_w8", [8, 1, 1], [Write, Read];
    BN_STATS_PARTIAL4: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_partial4", [128, 1, 1], [Write, Read];
    BN_STATS_PARTIAL4_W8: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_partial4_w8", [8, 1, 1], [Write, Read];
    BN_STATS_FINALIZE: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_finalize", [64, 1, 1], [Write, Write, Write, Read];
    BN_EVAL_STATS: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_eval_stats", [64, 1, 1], [Write, Read, Read];
    BN_COEF: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_coef", [64, 1, 1], [Write, Read, Read, Read];
    /// BN_STATS_FINALIZE and BN_COEF in one pass, where a stage has 7 storage buffers.
    BN_STATS_COEF: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_coef", [64, 1, 1], [Write, Write, Write, Write, Read, Read, Read];
    BN_APPLY: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_apply", [64, 1, 1], [Write, Read, Read, Read];
    BN_APPLY4: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_apply4", [64, 1, 1], [Write, Read, Read, Read];
    /// BN_STATS_COEF and BN_APPLY_PAD4 in one pass (8 storage buffers).
    BN_STATS_APPLY_PAD4: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_apply_pad4", [64, 1, 1], [Write, Write, Read, Write, Read, Read, Write, Read];
    /// BN_STATS_PARTIAL4_W8 over one chunk and BN_STATS_APPLY_PAD4 in one
    /// pass, a workgroup per channel (7 storage buffers; CPU adapters,
    /// BnSums::OnePass).
    BN_STATS_APPLY_PAD4_ONE: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_stats_apply_pad4_one", [8, 1, 1], [Write, Write, Read, Write, Read, Read, Write];
    /// BN_EVAL_STATS, BN_COEF and BN_APPLY_PAD4 in one pass (7 storage buffers).
    BN_EVAL_APPLY_PAD4: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_eval_apply_pad4", [64, 1, 1], [Write, Read, Read, Write, Read, Read, Write];
    /// BN_APPLY4 also writing the output's padded copy (5 storage buffers;
    /// where a stage has fewer, BN_APPLY4 and CONV2D_PAD run instead).
    BN_APPLY_PAD4: batchnorm::BnParams = BATCHNORM_FORWARD::"bn_apply_pad4", [64, 1, 1], [Write, Read, Read, Read, Write];
    /// BN_STATS_PARTIAL4 and BN_STATS_APPLY_PAD4 reading x and the residual
    /// as texels (BnReads::Texels), the latter its partials through a
    /// uniform window.
    BN_STATS_PARTIAL4_TEX: batchnorm::BnParams = BATCHNORM_FORWARD_TEXEL::"bn_stats_partial4", [128, 1, 1], [Write, Texels];
    BN_STATS_PARTIAL4_TEX_W8: batchnorm::BnParams = BATCHNORM_FORWARD_TEXEL::"bn_stats_partial4_w8", [8, 1, 1], [Write, Texels];
    BN_STATS_APPLY_PAD4_TEX: batchnorm::BnParams = BATCHNORM_FORWARD_TEXEL::"bn_stats_apply_pad4", [64, 1, 1], [Write, Write, Read, Write, Texels, Texels, Write, Uniform];
    BN_STATS_APPLY_PAD4_ONE_TEX: batchnorm::BnParams = BATCHNORM_FORWARD_TEXEL::"bn_stats_apply_pad4_one", [8, 1, 1], [Write, Write, Read, Write, Texels, Texels, Write];
    /// BN_EVAL_APPLY_PAD4 reading x and the residual as texels.
    BN_EVAL_APPLY_PAD4_TEX: batchnorm::BnParams = BATCHNORM_FORWARD_TEXEL::"bn_eval_apply_pad4", [64, 1, 1], [Write, Read, Read, Write, Texels, Texels, Write];
    // Batch norm backward.
    BN_BACKWARD_MEAN: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_mean", [64, 1, 1], [Write, Read];
    BN_BACKWARD_PARTIAL: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial", [128, 1, 1], [Write, Read, Read, Read];
    BN_BACKWARD_PARTIAL_W8: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial_w8", [8, 1, 1], [Write, Read, Read, Read];
    BN_BACKWARD_PARTIAL4: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial4", [128, 1, 1], [Write, Read, Read, Read];
    BN_BACKWARD_PARTIAL4_W8: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial4_w8", [8, 1, 1], [Write, Read, Read, Read];
    /// BN_BACKWARD_PARTIAL(4) reading the mean from the saved statistics (no
    /// BN_BACKWARD_MEAN), where a stage has 5 storage buffers.
    BN_BACKWARD_PARTIAL_SAVED: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial_saved", [128, 1, 1], [Write, Read, Read, Read, Read];
    BN_BACKWARD_PARTIAL_SAVED_W8: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial_saved_w8", [8, 1, 1], [Write, Read, Read, Read, Read];
    BN_BACKWARD_PARTIAL4_SAVED: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial4_saved", [128, 1, 1], [Write, Read, Read, Read, Read];
    BN_BACKWARD_PARTIAL4_SAVED_W8: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial4_saved_w8", [8, 1, 1], [Write, Read, Read, Read, Read];
    /// BN_BACKWARD_FINALIZE and BN_BACKWARD_GRADS in one pass, where a stage has 6.
    BN_BACKWARD_FINALIZE_GRADS: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_finalize_grads", [64, 1, 1], [Write, Write, Write, Read, Read, Read];
    BN_BACKWARD_FINALIZE: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_finalize", [64, 1, 1], [Write, Read, Read, Read];
    BN_BACKWARD_GRADS: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_grads", [64, 1, 1], [Write, Write, Read];
    /// Needs 6 storage buffers; where a stage allows fewer, the launcher runs
    /// BN_BACKWARD_GATE and BN_BACKWARD_APPLY_GATED in its place.
    BN_BACKWARD_APPLY: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_apply", [64, 1, 1], [Write, Write, Read, Read, Read, Read];
    BN_BACKWARD_APPLY4: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_apply4", [64, 1, 1], [Write, Write, Read, Read, Read, Read];
    /// BN_BACKWARD_PARTIAL4_SAVED also copying mean, invstd and gamma to the
    /// partials' tail (6 storage buffers), for BN_BACKWARD_FINALIZE_APPLY_PAD4.
    BN_BACKWARD_PARTIAL4_TAIL: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial4_tail", [128, 1, 1], [Write, Read, Read, Read, Read, Read];
    BN_BACKWARD_PARTIAL4_TAIL_W8: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_partial4_tail_w8", [8, 1, 1], [Write, Read, Read, Read, Read, Read];
    /// BN_BACKWARD_FINALIZE_GRADS and BN_BACKWARD_APPLY_PAD4 in one pass (8 storage buffers).
    BN_BACKWARD_FINALIZE_APPLY_PAD4: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_finalize_apply_pad4", [64, 1, 1], [Write, Write, Write, Read, Read, Read, Write, Read];
    /// BN_BACKWARD_PARTIAL4_TAIL_W8 over one chunk and
    /// BN_BACKWARD_FINALIZE_APPLY_PAD4 in one pass, a workgroup per channel
    /// (8 storage buffers; CPU adapters, BnSums::OnePass).
    BN_BACKWARD_APPLY_PAD4_ONE: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_apply_pad4_one", [8, 1, 1], [Write, Write, Write, Read, Read, Read, Write, Read];
    /// BN_BACKWARD_APPLY4 also writing dx's padded copy (7 storage buffers;
    /// where a stage has fewer, the unfused apply and CONV2D_PAD run instead).
    BN_BACKWARD_APPLY_PAD4: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_apply_pad4", [64, 1, 1], [Write, Write, Read, Read, Read, Read, Write];
    /// BN_BACKWARD_PARTIAL4_TAIL and BN_BACKWARD_FINALIZE_APPLY_PAD4 reading
    /// dout, out and x as texels (BnReads::Texels), the latter its partials
    /// through a uniform window.
    BN_BACKWARD_PARTIAL4_TAIL_TEX: batchnorm::BnParams = BATCHNORM_BACKWARD_TEXEL::"bn_backward_partial4_tail", [128, 1, 1], [Write, Texels, Texels, Texels, Read, Read];
    BN_BACKWARD_PARTIAL4_TAIL_TEX_W8: batchnorm::BnParams = BATCHNORM_BACKWARD_TEXEL::"bn_backward_partial4_tail_w8", [8, 1, 1], [Write, Texels, Texels, Texels, Read, Read];
    BN_BACKWARD_FINALIZE_APPLY_PAD4_TEX: batchnorm::BnParams = BATCHNORM_BACKWARD_TEXEL::"bn_backward_finalize_apply_pad4", [64, 1, 1], [Write, Write, Write, Texels, Texels, Texels, Write, Uniform];
    BN_BACKWARD_APPLY_PAD4_ONE_TEX: batchnorm::BnParams = BATCHNORM_BACKWARD_TEXEL::"bn_backward_apply_pad4_one", [8, 1, 1], [Write, Write, Write, Texels, Texels, Texels, Write, Read];
    BN_BACKWARD_GATE: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_gate", [64, 1, 1], [Write, Write, Read, Read];
    BN_BACKWARD_GATE4: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_gate4", [64, 1, 1], [Write, Write, Read, Read];
    BN_BACKWARD_APPLY_GATED: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_apply_gated", [64, 1, 1], [Write, Read, Read];
    BN_BACKWARD_APPLY_GATED4: batchnorm::BnParams = BATCHNORM_BACKWARD::"bn_backward_apply_gated4", [64, 1, 1], [Write, Read, Read];
    // The multiply-add ceiling of `reslab bench`.
    BENCH_FMA: ceiling::FmaParams = BENCH_FMA::"bench_fma", [64, 1, 1], [Write];
    // Activation pictures.
    CHANNEL_RANGE: colormap::ColormapParams = COLORMAP::"channel_range", [64, 1, 1], [Write, Read, Read, Read];
    COLORMAP: colormap::ColormapParams = COLORMAP::"colormap", [8, 8, 1], [Image, Read, Read, Read, Read];
    // Convolution: the readable references.
    CONV2D_FORWARD_REFERENCE: conv2d::ConvParams = CONV2D_FORWARD::"conv2d_forward_reference", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_BACKWARD_DATA_REFERENCE: conv2d::ConvParams = CONV2D_BACKWARD_DATA::"conv2d_backward_data_reference", [64, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_REFERENCE: conv2d::ConvParams = CONV2D_BACKWARD_WEIGHT::"conv2d_backward_weight_reference", [64, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_BIAS: conv2d::ConvParams = CONV2D_BACKWARD_WEIGHT::"conv2d_backward_bias", [64, 1, 1], [Write, Read];
    // Convolution: the register-tiled direct passes (any window, stride,
    // padding), and the unfolded input that makes them 1x1 ones.
    CONV2D_DIRECT: conv2d::ConvParams = CONV2D_DIRECT::"conv2d_direct", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_DIRECT_WEIGHT: conv2d::ConvParams = CONV2D_DIRECT::"conv2d_direct_weight", [64, 1, 1], [Write, Read, Read];
    CONV2D_UNFOLD: conv2d::UnfoldParams = CONV2D_UNFOLD::"conv2d_unfold", [64, 1, 1], [Write, Read];
    CONV2D_UNFOLD4: conv2d::UnfoldParams = CONV2D_UNFOLD::"conv2d_unfold4", [64, 1, 1], [Write, Read];
    // Convolution: 1x1 passes over quads of positions (vec4s where they fit).
    CONV2D_POINTWISE: conv2d::ConvParams = CONV2D_POINTWISE::"conv2d_pointwise", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_POINTWISE_SG: conv2d::ConvParams = CONV2D_POINTWISE_SUBGROUP::"conv2d_pointwise_sg", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_POINTWISE_SG64: conv2d::ConvParams = CONV2D_POINTWISE_SUBGROUP::"conv2d_pointwise_sg64", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_POINTWISE_WEIGHT_SG: conv2d::ConvParams = CONV2D_POINTWISE_SUBGROUP::"conv2d_pointwise_weight_sg", [8, 1, 1], [Write, Read, Read];
    CONV2D_POINTWISE_ANY_SG: conv2d::ConvParams = CONV2D_POINTWISE_ANY_SUBGROUP::"conv2d_pointwise_any_sg", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_POINTWISE_ANY_SG64: conv2d::ConvParams = CONV2D_POINTWISE_ANY_SUBGROUP::"conv2d_pointwise_any_sg64", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_POINTWISE_WEIGHT_ANY_SG: conv2d::ConvParams = CONV2D_POINTWISE_ANY_SUBGROUP::"conv2d_pointwise_weight_any_sg", [8, 1, 1], [Write, Read, Read];
    // Convolution: the tiled 3x3 passes (each writing, or adding to, its
    // output; stride 1 in two tilings) and their layout passes.
    CONV2D_PAD: conv2d::PadParams = CONV2D_TILED_PREPARE::"conv2d_pad", [64, 1, 1], [Write, Read];
    CONV2D_PAD_SHIFT1: conv2d::PadParams = CONV2D_TILED_PREPARE::"conv2d_pad_shift1", [64, 1, 1], [Write, Read];
    CONV2D_WEIGHT_TILES: conv2d::WeightParams = CONV2D_TILED_PREPARE::"conv2d_weight_tiles", [128, 1, 1], [Write, Read];
    CONV2D_WEIGHT_TILES_BATCH: conv2d::BatchParams = CONV2D_TILED_PREPARE::"conv2d_weight_tiles_batch", [128, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S1: conv2d::TiledParams = CONV2D_FORWARD_TILED::"conv2d_forward_tiled_s1", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4: conv2d::TiledParams = CONV2D_FORWARD_TILED::"conv2d_forward_tiled_s1_r4", [32, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4U: conv2d::TiledParams = CONV2D_FORWARD_UNIFORM::"conv2d_forward_tiled_s1_r4u", [32, 1, 1], [Write, Read, Uniform, Read];
    // (needs subgroups: see conv2d::has_subgroups)
    CONV2D_FORWARD_TILED_S1_R4SG2: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP::"conv2d_forward_tiled_s1_r4sg2", [32, 1, 1], [Write, Read, Uniform, Read, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG4: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP::"conv2d_forward_tiled_s1_r4sg4", [32, 1, 1], [Write, Read, Uniform, Read, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG8: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP::"conv2d_forward_tiled_s1_r4sg8", [32, 1, 1], [Write, Read, Uniform, Read, Uniform, Uniform];
    // (needs subgroups: see conv2d::has_subgroups)
    CONV2D_FORWARD_TILED_S2SG2: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP::"conv2d_forward_tiled_s2sg2", [64, 1, 1], [Write, Read, Uniform, Read, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG4: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP::"conv2d_forward_tiled_s2sg4", [64, 1, 1], [Write, Read, Uniform, Read, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG8: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP::"conv2d_forward_tiled_s2sg8", [64, 1, 1], [Write, Read, Uniform, Read, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG2_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP::"conv2d_forward_tiled_s1_r4sg2", [32, 1, 1], [Write, Texels, Uniform, Read, Uniform, Uniform, Texels];
    CONV2D_FORWARD_TILED_S1_R4SG4_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP::"conv2d_forward_tiled_s1_r4sg4", [32, 1, 1], [Write, Texels, Uniform, Read, Uniform, Uniform, Texels];
    CONV2D_FORWARD_TILED_S1_R4SG8_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP::"conv2d_forward_tiled_s1_r4sg8", [32, 1, 1], [Write, Texels, Uniform, Read, Uniform, Uniform, Texels];
    CONV2D_FORWARD_TILED_S2SG2_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP::"conv2d_forward_tiled_s2sg2", [64, 1, 1], [Write, Texels, Uniform, Read, Uniform, Uniform, Texels];
    CONV2D_FORWARD_TILED_S2SG4_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP::"conv2d_forward_tiled_s2sg4", [64, 1, 1], [Write, Texels, Uniform, Read, Uniform, Uniform, Texels];
    CONV2D_FORWARD_TILED_S2SG8_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP::"conv2d_forward_tiled_s2sg8", [64, 1, 1], [Write, Texels, Uniform, Read, Uniform, Uniform, Texels];
    // The grouped kernels above with every input channel's weights from one
    // storage binding (one dispatch a pass; conv2d::GROUPED_RUNS).
    CONV2D_FORWARD_TILED_S1_R4SG2_ST: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP_STORAGE::"conv2d_forward_tiled_s1_r4sg2", [32, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4SG4_ST: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP_STORAGE::"conv2d_forward_tiled_s1_r4sg4", [32, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4SG8_ST: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP_STORAGE::"conv2d_forward_tiled_s1_r4sg8", [32, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S2SG2_ST: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP_STORAGE::"conv2d_forward_tiled_s2sg2", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S2SG4_ST: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP_STORAGE::"conv2d_forward_tiled_s2sg4", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S2SG8_ST: conv2d::TiledParams = CONV2D_FORWARD_SUBGROUP_STORAGE::"conv2d_forward_tiled_s2sg8", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4SG2_TEX_ST: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE::"conv2d_forward_tiled_s1_r4sg2", [32, 1, 1], [Write, Texels, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4SG4_TEX_ST: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE::"conv2d_forward_tiled_s1_r4sg4", [32, 1, 1], [Write, Texels, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4SG8_TEX_ST: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE::"conv2d_forward_tiled_s1_r4sg8", [32, 1, 1], [Write, Texels, Read, Read];
    CONV2D_FORWARD_TILED_S2SG2_TEX_ST: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE::"conv2d_forward_tiled_s2sg2", [64, 1, 1], [Write, Texels, Read, Read];
    CONV2D_FORWARD_TILED_S2SG4_TEX_ST: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE::"conv2d_forward_tiled_s2sg4", [64, 1, 1], [Write, Texels, Read, Read];
    CONV2D_FORWARD_TILED_S2SG8_TEX_ST: conv2d::TiledParams = CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE::"conv2d_forward_tiled_s2sg8", [64, 1, 1], [Write, Texels, Read, Read];
    CONV2D_FORWARD_TILED_S1_R4U_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL::"conv2d_forward_tiled_s1_r4u", [32, 1, 1], [Write, Texels, Uniform, Read];
    CONV2D_FORWARD_TILED_S2U_TEX: conv2d::TiledParams = CONV2D_FORWARD_TEXEL::"conv2d_forward_tiled_s2u", [64, 1, 1], [Write, Texels, Uniform, Read];
    CONV2D_FORWARD_TILED_S2U: conv2d::TiledParams = CONV2D_FORWARD_UNIFORM::"conv2d_forward_tiled_s2u", [64, 1, 1], [Write, Read, Uniform, Read];
    CONV2D_FORWARD_TILED_S2: conv2d::TiledParams = CONV2D_FORWARD_TILED::"conv2d_forward_tiled_s2", [64, 1, 1], [Write, Read, Read, Read];
    // The same passes with batch norm (running statistics), the residual,
    // ReLU and the padded copy for the next conv as their epilogue
    // (shared/conv_out_bn.wgsl; conv2d::bn_twin pairs them).
    CONV2D_FORWARD_TILED_S1_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TILED::"conv2d_forward_tiled_s1", [64, 1, 1], [Write, Read, Read, Read, Read, Read, Read, Write];
    CONV2D_FORWARD_TILED_S1_R4_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TILED::"conv2d_forward_tiled_s1_r4", [32, 1, 1], [Write, Read, Read, Read, Read, Read, Read, Write];
    CONV2D_FORWARD_TILED_S1_R4U_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_UNIFORM::"conv2d_forward_tiled_s1_r4u", [32, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write];
    CONV2D_FORWARD_TILED_S1_R4SG2_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_SUBGROUP::"conv2d_forward_tiled_s1_r4sg2", [32, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG4_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_SUBGROUP::"conv2d_forward_tiled_s1_r4sg4", [32, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG8_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_SUBGROUP::"conv2d_forward_tiled_s1_r4sg8", [32, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG2_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_SUBGROUP::"conv2d_forward_tiled_s2sg2", [64, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG4_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_SUBGROUP::"conv2d_forward_tiled_s2sg4", [64, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG8_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_SUBGROUP::"conv2d_forward_tiled_s2sg8", [64, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG2_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL_SUBGROUP::"conv2d_forward_tiled_s1_r4sg2", [32, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG4_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL_SUBGROUP::"conv2d_forward_tiled_s1_r4sg4", [32, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4SG8_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL_SUBGROUP::"conv2d_forward_tiled_s1_r4sg8", [32, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG2_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL_SUBGROUP::"conv2d_forward_tiled_s2sg2", [64, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG4_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL_SUBGROUP::"conv2d_forward_tiled_s2sg4", [64, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S2SG8_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL_SUBGROUP::"conv2d_forward_tiled_s2sg8", [64, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write, Uniform, Uniform];
    CONV2D_FORWARD_TILED_S1_R4U_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL::"conv2d_forward_tiled_s1_r4u", [32, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write];
    CONV2D_FORWARD_TILED_S2U_TEX_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TEXEL::"conv2d_forward_tiled_s2u", [64, 1, 1], [Write, Texels, Uniform, Read, Read, Read, Read, Write];
    CONV2D_FORWARD_TILED_S2U_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_UNIFORM::"conv2d_forward_tiled_s2u", [64, 1, 1], [Write, Read, Uniform, Read, Read, Read, Read, Write];
    CONV2D_FORWARD_TILED_S2_BN: conv2d::TiledParams = CONV2D_FORWARD_BN_TILED::"conv2d_forward_tiled_s2", [64, 1, 1], [Write, Read, Read, Read, Read, Read, Read, Write];
    CONV2D_BACKWARD_DATA_TILED_S2: conv2d::S2Params = CONV2D_BACKWARD_DATA_S2::"conv2d_backward_data_tiled_s2", [64, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2U: conv2d::S2Params = CONV2D_BACKWARD_DATA_UNIFORM::"conv2d_backward_data_tiled_s2u", [64, 1, 1], [Write, Read, Uniform];
    // (needs subgroups: see conv2d::has_subgroups)
    CONV2D_BACKWARD_DATA_TILED_S2SG2: conv2d::S2Params = CONV2D_BACKWARD_DATA_SUBGROUP::"conv2d_backward_data_tiled_s2sg2", [64, 1, 1], [Write, Read, Uniform];
    CONV2D_BACKWARD_DATA_TILED_S2SG4: conv2d::S2Params = CONV2D_BACKWARD_DATA_SUBGROUP::"conv2d_backward_data_tiled_s2sg4", [64, 1, 1], [Write, Read, Uniform];
    CONV2D_BACKWARD_DATA_TILED_S2SG8: conv2d::S2Params = CONV2D_BACKWARD_DATA_SUBGROUP::"conv2d_backward_data_tiled_s2sg8", [64, 1, 1], [Write, Read, Uniform];
    CONV2D_BACKWARD_DATA_TILED_S2SG2_TEX: conv2d::S2Params = CONV2D_BACKWARD_DATA_TEXEL_SUBGROUP::"conv2d_backward_data_tiled_s2sg2", [64, 1, 1], [Write, Texels, Uniform];
    CONV2D_BACKWARD_DATA_TILED_S2SG4_TEX: conv2d::S2Params = CONV2D_BACKWARD_DATA_TEXEL_SUBGROUP::"conv2d_backward_data_tiled_s2sg4", [64, 1, 1], [Write, Texels, Uniform];
    CONV2D_BACKWARD_DATA_TILED_S2SG8_TEX: conv2d::S2Params = CONV2D_BACKWARD_DATA_TEXEL_SUBGROUP::"conv2d_backward_data_tiled_s2sg8", [64, 1, 1], [Write, Texels, Uniform];
    // (needs subgroups and dx rows of whole vec4s: see conv2d_backward_data_tiled_s2_as)
    CONV2D_BACKWARD_DATA_TILED_S2P2: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_SUBGROUP::"conv2d_backward_data_tiled_s2p2", [64, 1, 1], [Write, Read, Uniform, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P4: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_SUBGROUP::"conv2d_backward_data_tiled_s2p4", [64, 1, 1], [Write, Read, Uniform, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P8: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_SUBGROUP::"conv2d_backward_data_tiled_s2p8", [64, 1, 1], [Write, Read, Uniform, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P2_TEX: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_TEXEL_SUBGROUP::"conv2d_backward_data_tiled_s2p2", [64, 1, 1], [Write, Texels, Uniform, Texels, Texels];
    CONV2D_BACKWARD_DATA_TILED_S2P4_TEX: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_TEXEL_SUBGROUP::"conv2d_backward_data_tiled_s2p4", [64, 1, 1], [Write, Texels, Uniform, Texels, Texels];
    CONV2D_BACKWARD_DATA_TILED_S2P8_TEX: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_TEXEL_SUBGROUP::"conv2d_backward_data_tiled_s2p8", [64, 1, 1], [Write, Texels, Uniform, Texels, Texels];
    // The grouped stride-2 backward-data kernels above with every output
    // channel's weights from one storage binding (conv2d::s2_data_storage_twin).
    CONV2D_BACKWARD_DATA_TILED_S2SG2_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2sg2", [64, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2SG4_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2sg4", [64, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2SG8_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2sg8", [64, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2SG2_TEX_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_TEXEL_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2sg2", [64, 1, 1], [Write, Texels, Read];
    CONV2D_BACKWARD_DATA_TILED_S2SG4_TEX_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_TEXEL_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2sg4", [64, 1, 1], [Write, Texels, Read];
    CONV2D_BACKWARD_DATA_TILED_S2SG8_TEX_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_TEXEL_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2sg8", [64, 1, 1], [Write, Texels, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P2_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2p2", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P4_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2p4", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P8_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2p8", [64, 1, 1], [Write, Read, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P2_TEX_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_TEXEL_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2p2", [64, 1, 1], [Write, Texels, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P4_TEX_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_TEXEL_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2p4", [64, 1, 1], [Write, Texels, Read, Read];
    CONV2D_BACKWARD_DATA_TILED_S2P8_TEX_ST: conv2d::S2Params = CONV2D_BACKWARD_DATA_PAIRS_TEXEL_STORAGE_SUBGROUP::"conv2d_backward_data_tiled_s2p8", [64, 1, 1], [Write, Texels, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S1: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TILED::"conv2d_backward_weight_tiled_s1", [16, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TILED::"conv2d_backward_weight_tiled_s1_c8", [16, 1, 1], [Write, Read, Read];
    // (needs subgroups: see conv2d::has_subgroups)
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s1_c8sg", [16, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s1_c8sg_w8", [8, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s1_c16sg", [16, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s1_c16sg_w8", [8, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S2: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TILED::"conv2d_backward_weight_tiled_s2", [16, 1, 1], [Write, Read, Read];
    // (needs subgroups: see conv2d::has_subgroups)
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s2_c8sg", [16, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s2_c8sg_w8", [8, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s2_c16sg", [16, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_SUBGROUP::"conv2d_backward_weight_tiled_s2_c16sg_w8", [8, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_TEX: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s1_c8sg", [16, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_TEX_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s1_c8sg_w8", [8, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_TEX: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s1_c16sg", [16, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_TEX_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s1_c16sg_w8", [8, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_TEX: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s2_c8sg", [16, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_TEX_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s2_c8sg_w8", [8, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_TEX: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s2_c16sg", [16, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_TEX_W8: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP::"conv2d_backward_weight_tiled_s2_c16sg_w8", [8, 1, 1], [Write, Texels, Texels];
    CONV2D_BACKWARD_WEIGHT_REDUCE: conv2d::WgradParams = CONV2D_BACKWARD_WEIGHT_TILED::"conv2d_backward_weight_reduce", [128, 1, 1], [Write, Read];
    CONV2D_BACKWARD_WEIGHT_REDUCE_BATCH: conv2d::BatchParams = CONV2D_BACKWARD_WEIGHT_TILED::"conv2d_backward_weight_reduce_batch", [128, 1, 1], [Write, Read, Read];
    CONV2D_BACKWARD_WEIGHT_REDUCE_BATCH4: conv2d::BatchParams = CONV2D_BACKWARD_WEIGHT_TILED::"conv2d_backward_weight_reduce_batch4", [128, 1, 1], [Write, Read, Read];
    // Elementwise passes.
    RELU_FORWARD: elementwise::EwParams = ELEMENTWISE::"relu_forward", [128, 1, 1], [Write, Read];
    RELU_BACKWARD: elementwise::EwParams = ELEMENTWISE::"relu_backward", [128, 1, 1], [Write, Read, Read];
    ADD_FORWARD: elementwise::EwParams = ELEMENTWISE::"add_forward", [128, 1, 1], [Write, Read, Read];
    AXPBY: elementwise::EwParams = ELEMENTWISE::"axpby", [128, 1, 1], [Write, Read, Read];
    COPY: elementwise::EwParams = ELEMENTWISE::"copy", [128, 1, 1], [Write, Read];
    RELU_FORWARD4: elementwise::EwParams = ELEMENTWISE::"relu_forward4", [128, 1, 1], [Write, Read];
    RELU_BACKWARD4: elementwise::EwParams = ELEMENTWISE::"relu_backward4", [128, 1, 1], [Write, Read, Read];
    ADD_FORWARD4: elementwise::EwParams = ELEMENTWISE::"add_forward4", [128, 1, 1], [Write, Read, Read];
    AXPBY4: elementwise::EwParams = ELEMENTWISE::"axpby4", [128, 1, 1], [Write, Read, Read];
    COPY4: elementwise::EwParams = ELEMENTWISE::"copy4", [128, 1, 1], [Write, Read];
    // The classifier.
    LINEAR_FORWARD: linear::LinearParams = LINEAR::"linear_forward", [64, 1, 1], [Write, Read, Read, Read];
    LINEAR_BACKWARD_DATA: linear::LinearParams = LINEAR::"linear_backward_data", [64, 1, 1], [Write, Read, Read];
    LINEAR_BACKWARD_WEIGHT: linear::LinearParams = LINEAR::"linear_backward_weight", [64, 1, 1], [Write, Read, Read];
    LINEAR_BACKWARD_BIAS: linear::LinearParams = LINEAR::"linear_backward_bias", [64, 1, 1], [Write, Read];
    LINEAR_FORWARD4: linear::LinearParams = LINEAR::"linear_forward4", [64, 1, 1], [Write, Read, Read, Read];
    LINEAR_BACKWARD_DATA4: linear::LinearParams = LINEAR::"linear_backward_data4", [64, 1, 1], [Write, Read, Read];
    LINEAR_BACKWARD_WEIGHT4: linear::LinearParams = LINEAR::"linear_backward_weight4", [64, 1, 1], [Write, Read, Read];
    // Pooling.
    MAXPOOL_FORWARD: pool::PoolParams = POOL::"maxpool_forward", [128, 1, 1], [Write, Write, Read];
    MAXPOOL3S2_FORWARD4: pool::PoolParams = POOL::"maxpool3s2_forward4", [128, 1, 1], [Write, Write, Read];
    MAXPOOL_BACKWARD: pool::PoolParams = POOL::"maxpool_backward", [128, 1, 1], [Write, Read, Read];
    MAXPOOL_BACKWARD4: pool::PoolParams = POOL::"maxpool_backward4", [128, 1, 1], [Write, Read, Read];
    AVGPOOL_FORWARD: pool::PoolParams = POOL::"avgpool_forward", [64, 1, 1], [Write, Read];
    AVGPOOL_BACKWARD: pool::PoolParams = POOL::"avgpool_backward", [128, 1, 1], [Write, Read];
    // Sums for the analysis probes.
    SUM_SUMSQ_ROWS: reduce::ReduceParams = REDUCE::"sum_sumsq_rows", [64, 1, 1], [Write, Read, Read];
    SUM_SUMSQ_CHANNELS: reduce::ReduceParams = REDUCE::"sum_sumsq_channels", [64, 1, 1], [Write, Read, Read];
    // The optimiser, the shortcut and the loss.
    SGD_STEP: sgd::SgdParams = SGD::"sgd_step", [128, 1, 1], [Write, Write, Read];
    SGD_STEP4: sgd::SgdParams = SGD::"sgd_step4", [128, 1, 1], [Write, Write, Read];
    SHORTCUT_A_FORWARD: shortcut::ShortcutParams = SHORTCUT::"shortcut_a_forward", [128, 1, 1], [Write, Read];
    SHORTCUT_A_BACKWARD: shortcut::ShortcutParams = SHORTCUT::"shortcut_a_backward", [128, 1, 1], [Write, Read];
    SHORTCUT_A_FORWARD4: shortcut::ShortcutParams = SHORTCUT::"shortcut_a_forward4", [128, 1, 1], [Write, Read];
    SHORTCUT_A_BACKWARD4: shortcut::ShortcutParams = SHORTCUT::"shortcut_a_backward4", [128, 1, 1], [Write, Read];
    SOFTMAX_XENT: loss::XentParams = SOFTMAX_XENT::"softmax_xent", [128, 1, 1], [Write, Write, Read, Read];
    XENT_MEAN: loss::XentParams = SOFTMAX_XENT::"xent_mean", [128, 1, 1], [Write, Read];
}
