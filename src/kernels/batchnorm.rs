//! Launchers for batch norm: training forward (batch statistics, running stats
//! updated), eval forward (running stats), training backward. ReLU and a
//! residual add can be fused into the output.

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::table::{self, Kernel, params};
use crate::kernels::{Program, conv2d, expect_shape, launch, u32_of};
use crate::ops::{BnGeom, BnOptions, PadGeom};

params! {
    /// Mirrors `BnParams` of the batch-norm shaders.
    pub struct BnParams {
        n: u32,
        c: u32,
        hw: u32,
        chunks: u32,
        chunk_len: u32,
        flags: u32,
        momentum: f32,
        eps: f32,
        w: u32,
        hp: u32,
        pitch: u32,
        pad_oy: u32,
        pad_ox: u32,
        coef_at: u32,
        rv_at: u32,
        beta_at: u32,
    }
}

/// A zero-padded copy of an apply pass's output, laid out as `pg` (the
/// layout of [`crate::kernels::conv2d::conv2d_pad`]), which the pass writes
/// too: in the same pass where the layout allows (planes a multiple of 4
/// values wide, no dilation, offset at most one column, and the adapter has
/// the storage buffers), else by a pad pass after it.
#[derive(Clone, Copy)]
pub struct Padded<'a> {
    pub xp: &'a Tensor,
    pub pg: &'a PadGeom,
    /// The copy's rows with no source (above and below each plane) hold
    /// zeros already, and the pass may leave them so: a copy cleared once and
    /// written only by padded passes of this layout, which write no other
    /// value there. A pass writing the copy itself then writes only the
    /// rows with a source.
    pub halo_zero: bool,
}

impl Padded<'_> {
    fn check(&self, g: &BnGeom) -> Result<()> {
        let pg = self.pg;
        if pg.n != g.n || pg.c != g.c || pg.h * pg.w != g.hw {
            return Err(Error::invalid(format!(
                "batch norm: padded copy {pg:?} is not of planes {g:?}"
            )));
        }
        expect_shape("batch norm padded output", self.xp, &pg.shape())
    }

    /// Whether `k` writes this copy in its own pass.
    fn fused(&self, gpu: &Gpu, k: &Kernel<BnParams>) -> bool {
        let pg = self.pg;
        pg.w.is_multiple_of(4)
            && pg.pitch.is_multiple_of(4)
            && pg.dil == 1
            && pg.ox <= 1
            && pg.pitch >= pg.ox + pg.w
            && pg.hp >= pg.oy + pg.h
            && k.fits(gpu)
    }

    /// `p` with the copy's layout.
    fn params(&self, p: &BnParams) -> BnParams {
        let pg = self.pg;
        BnParams {
            w: pg.w as u32,
            hp: pg.hp as u32,
            pitch: pg.pitch as u32,
            pad_oy: pg.oy as u32,
            pad_ox: pg.ox as u32,
            flags: if self.halo_zero {
                p.flags | HALO_ZERO
            } else {
                p.flags
            },
            ..*p
        }
    }

    /// Launches `k`, which writes the copy (after `bindings`, before
    /// `then`): one invocation per padded row.
    fn launch(
        &self,
        gpu: &Gpu,
        prog: &mut Program,
        k: &'static Kernel<BnParams>,
        p: &BnParams,
        bindings: &[Option<&Tensor>],
        then: &[Option<&Tensor>],
    ) -> Result<()> {
        let mut b = bindings.to_vec();
        b.push(Some(self.xp));
        b.extend_from_slice(then);
        let rows = self.pg.n * self.pg.c * self.pg.hp;
        launch(gpu, prog, k, &self.params(p), &b, k.grid_1d(gpu, rows)?)?;
        Ok(())
    }

    /// Runs fused pass `k` over `bindings` (the copy last), or, where it
    /// cannot, `unfused` and then the pad pass from `out`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        gpu: &Gpu,
        prog: &mut Program,
        k: &'static Kernel<BnParams>,
        p: &BnParams,
        bindings: &[Option<&Tensor>],
        out: &Tensor,
        unfused: impl FnOnce(&mut Program) -> Result<()>,
    ) -> Result<()> {
        if self.fused(gpu, k) {
            return self.launch(gpu, prog, k, p, bindings, &[]);
        }
        unfused(prog)?;
        let pg = self.pg;
        conv2d::conv2d_pad(
            gpu,
            prog,
            self.xp,
            &out.reshape(&[pg.n, pg.c, pg.h, pg.w])?,
            pg,
        )
    }
}

/// How batch norm's passes over vec4s (the statistics' sums, the fused
/// statistics-and-apply and eval-apply passes writing the padded copy, and the
/// backward's sums and fused apply) read their activations: x, the residual,
/// dout and the output. `Texels` copies each into a texture first
/// ([`Binding::Texels`](table::Binding::Texels)): on lavapipe a texel load
/// costs a fraction of a storage-buffer load. The same arithmetic either way
/// (shared/bn_forward4.wgsl, shared/bn_backward4.wgsl): the same bits.
/// Unless the tuning table says otherwise, `Texels` on CPU adapters, where
/// a texel load (from a read-only storage texture) is a gather and a
/// storage load a loop over the lanes: on lavapipe the texel passes ran
/// 0.83-0.99 of the storage ones' time at the ResNet-20 stage shapes in
/// most runs (BENCHMARKS.md). `Storage` elsewhere, where the copies into
/// textures are not known to pay: `reslab bench --tune` picks texels on a
/// machine where they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnReads {
    Storage,
    Texels,
}

impl BnReads {
    /// The reads where the tuning table has no choice: texels on CPU
    /// adapters, storage on the rest.
    pub fn default_for(gpu: &Gpu) -> BnReads {
        if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
            BnReads::Texels
        } else {
            BnReads::Storage
        }
    }
}

impl conv2d::Variant for BnReads {
    const ALL: &'static [BnReads] = &[BnReads::Storage, BnReads::Texels];
    const PASS: &'static str = "batchnorm_reads";

    fn name(self) -> &'static str {
        match self {
            BnReads::Storage => "storage",
            BnReads::Texels => "texels",
        }
    }
}

/// The key of `g`'s reads in the tuning table: channels and plane size, the
/// batch aside.
pub fn reads_key(g: &BnGeom) -> String {
    use conv2d::Variant;
    format!("{} C{} {}px", BnReads::PASS, g.c, g.hw)
}

/// How `g`'s passes read on `gpu`: the tuning table's choice, else
/// [`BnReads::default_for`].
pub fn tuned_reads(gpu: &Gpu, g: &BnGeom) -> Result<BnReads> {
    use conv2d::Variant;
    Ok(gpu
        .tuned(&reads_key(g))?
        .and_then(|n| BnReads::from_name(&n))
        .unwrap_or_else(|| BnReads::default_for(gpu)))
}

/// How wide the workgroups of batch norm's reductions (the statistics' and
/// the backward's sums) are: `Wide`, 128 invocations running 2 of a chunk's
/// 256 lanes each, or `Narrow`, the `_w8` twins' 8 running 32 each (on CPU
/// adapters only: see [`tuned_sums`]). The same
/// tree over the same lanes either way (shared/bn.wgsl's leaves_sum2): the
/// same bits. A CPU adapter runs a workgroup's invocations in turn and
/// switches between all of them at every barrier; 8 are one of lavapipe's
/// SIMD rows, and its sums passes ran about twice as fast at the desktop
/// app's size (BENCHMARKS.md). A GPU wants the wide ones' parallelism.
///
/// `OnePass` sums each channel in one chunk, in one narrow workgroup per
/// channel that then applies the statistics too: the training forward's
/// sums and apply in one pass (`bn_stats_apply_pad4_one`), and the
/// backward's (`bn_backward_apply_pad4_one`), with or without a padded copy,
/// where planes are whole vec4s and a channel's lanes stay within
/// [`MAX_LANE_VALUES`]; elsewhere the narrow passes. As few workgroups as
/// channels: for CPU adapters, where a pass saved is worth more than the
/// workgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnSums {
    Wide,
    Narrow,
    OnePass,
}

impl BnSums {
    /// The way where the tuning table has no choice: one pass on CPU
    /// adapters, wide on the rest.
    pub fn default_for(gpu: &Gpu) -> BnSums {
        if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
            BnSums::OnePass
        } else {
            BnSums::Wide
        }
    }

    /// `wide`, or its `_w8` twin `narrow`.
    fn pick(
        self,
        wide: &'static Kernel<BnParams>,
        narrow: &'static Kernel<BnParams>,
    ) -> &'static Kernel<BnParams> {
        match self {
            BnSums::Wide => wide,
            BnSums::Narrow | BnSums::OnePass => narrow,
        }
    }
}

impl conv2d::Variant for BnSums {
    const ALL: &'static [BnSums] = &[BnSums::Wide, BnSums::Narrow, BnSums::OnePass];
    const PASS: &'static str = "batchnorm_sums";

    fn name(self) -> &'static str {
        match self {
            BnSums::Wide => "wide",
            BnSums::Narrow => "narrow",
            BnSums::OnePass => "one_pass",
        }
    }
}

/// Whether `g`'s channels fit one chunk each: what the one-pass kernels sum.
fn one_chunk(g: &BnGeom) -> bool {
    chunks(g, 1).0 == 1
}

/// The key of `g`'s reductions' width in the tuning table: channels and
/// plane size, the batch aside.
pub fn sums_key(g: &BnGeom) -> String {
    use conv2d::Variant;
    format!("{} C{} {}px", BnSums::PASS, g.c, g.hw)
}

/// How `g`'s reductions run on `gpu`: on a CPU adapter the tuning table's
/// choice, else [`BnSums::default_for`]; wide on every other adapter. (A
/// narrow invocation runs 32 lanes' loops, up to 32 x [`serial_loops`]'
/// lane, and a one-pass one a whole channel's share besides: fine where
/// nothing watches an invocation's time.)
pub fn tuned_sums(gpu: &Gpu, g: &BnGeom) -> Result<BnSums> {
    use conv2d::Variant;
    if gpu.adapter_info().device_type != wgpu::DeviceType::Cpu {
        return Ok(BnSums::Wide);
    }
    Ok(gpu
        .tuned(&sums_key(g))?
        .and_then(|n| BnSums::from_name(&n))
        .unwrap_or_else(|| BnSums::default_for(gpu)))
}

/// Whether `g`'s vec4 passes read `ts` (the absent ones aside) as texels:
/// chosen so, planes of a multiple of 4 values, every tensor within the
/// device's textures, and the chunks' sums (with the backward's tail of 3
/// per channel) within the uniform window the fused passes read them through.
fn reads_texels(gpu: &Gpu, g: &BnGeom, ts: &[Option<&Tensor>]) -> Result<bool> {
    let present: Vec<&Tensor> = ts.iter().flatten().copied().collect();
    let sums = g.c * (2 * chunks(g, reduction_groups(gpu)).0 + 3);
    Ok(g.hw.is_multiple_of(4)
        && sums <= UNIFORM_FLOATS
        && tuned_reads(gpu, g)? == BnReads::Texels
        && conv2d::texels_fit(gpu, &present))
}

/// Floats of a uniform window ([`table::UNIFORM_WINDOW_BYTES`]).
const UNIFORM_FLOATS: usize = (table::UNIFORM_WINDOW_BYTES / 4) as usize;

const RELU: u32 = 1;
const RESIDUAL: u32 = 2;
const UPDATE_RUNNING: u32 = 4;
const WRITE_DRES: u32 = 2;
const ACCUMULATE_DRES: u32 = 4;
/// The one-pass kernels' flag (either direction): no padded copy to write.
const NO_COPY: u32 = 8;
/// The padded passes' flag (either direction): the copy's rows with no
/// source hold zeros already ([`Padded::halo_zero`]).
const HALO_ZERO: u32 = 16;
/// The one-pass backward's flag: ReLU's mask from x and the forward's
/// coefficients, not from its output ([`TrainForward::residual`]).
const MASK_FROM_X: u32 = 32;

/// The parameters of a one-pass kernel `k` ([`BnSums::OnePass`]) from `p`:
/// its channels in one chunk, written with the padded copy `padded` where
/// given, else each plane a row of its own and no copy. `None` where the
/// kernel cannot run so.
fn one_pass(
    gpu: &Gpu,
    g: &BnGeom,
    k: &Kernel<BnParams>,
    p: &BnParams,
    padded: Option<&Padded<'_>>,
) -> Option<BnParams> {
    if !(one_chunk(g) && g.hw.is_multiple_of(4)) {
        return None;
    }
    let p = BnParams {
        chunks: 1,
        chunk_len: g.n as u32,
        ..*p
    };
    match padded {
        Some(pd) => pd.fused(gpu, k).then(|| pd.params(&p)),
        None => k.fits(gpu).then_some(BnParams {
            w: g.hw as u32,
            hp: 1,
            pitch: g.hw as u32,
            pad_oy: 0,
            pad_ox: 0,
            flags: p.flags | NO_COPY,
            ..p
        }),
    }
}

/// Workgroups a batch-norm reduction aims for on `gpu`: 256 on a GPU (enough
/// to fill one when there are few channels), 32 on a CPU adapter, whose
/// threads need far fewer (more only add per-workgroup cost, and make every
/// invocation of the apply passes, which add up a channel's chunks, read
/// more of them: with 2 / 1 / 1 chunks per channel instead of 16 / 8 / 4 at
/// the ResNet-20 stages, lavapipe ran a resnet20 step's batch-norm passes
/// about a fifth faster). A constant per kind of adapter, not the host's
/// thread count: the sums' order, and so a run's numbers, stay the same on
/// every machine with the same kind of adapter.
pub fn reduction_groups(gpu: &Gpu) -> usize {
    if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
        32
    } else {
        256
    }
}

/// Chunks of samples per channel for the reductions aiming at `groups`
/// workgroups: none of fewer than ~2048 values, none whose lanes sum more
/// than [`MAX_LANE_VALUES`] values each (but of one sample). Returns
/// (chunks, samples per chunk).
pub fn chunks(g: &BnGeom, groups: usize) -> (usize, usize) {
    let hw = g.hw.max(1);
    let min_samples = 2048usize.div_ceil(hw).max(1);
    let max_samples = (MAX_LANE_VALUES * LANES / hw).max(1);
    let want = groups.div_ceil(g.c).max(1);
    let per =
        g.n.div_ceil(want)
            .max(min_samples)
            .min(max_samples)
            .min(g.n);
    (g.n.div_ceil(per), per)
}

/// Most values one lane of a reduction sums (where a sample has no more).
const MAX_LANE_VALUES: usize = 8192;

/// Lanes a batch-norm reduction sums over (`LANES` of the batch-norm shaders).
const LANES: usize = 256;

/// The longest serial loops of batch norm for reductions aiming at `groups`
/// workgroups ([`reduction_groups`]): the values one lane of the statistics
/// (and backward) reductions sums, and the chunks a channel's finalize pass
/// adds. An invocation of the wide reductions runs 2 lanes; of the narrow
/// twins, which run only on CPU adapters ([`tuned_sums`]), 32.
pub fn serial_loops(g: &BnGeom, groups: usize) -> [(&'static str, usize); 2] {
    let (s, len) = chunks(g, groups);
    [
        ("batch-norm reduction lane", (len * g.hw).div_ceil(LANES)),
        ("batch-norm chunks", s),
    ]
}

/// Grid of the apply pass `k`: x over a plane's values in fours, a workgroup
/// of them per group; y (and z beyond the per-dimension limit) over the N·C
/// planes.
fn apply_grid(gpu: &Gpu, g: &BnGeom, k: &Kernel<BnParams>) -> Result<[u32; 3]> {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let planes = g.n * g.c;
    let gy = planes.min(max);
    let gz = planes.div_ceil(gy);
    let per_group = 4 * k.width() as usize;
    crate::kernels::check_grid(
        gpu,
        "batch norm apply",
        [g.hw.div_ceil(per_group) as u64, gy as u64, gz as u64],
    )
}

/// A pass's kernel: its vec4 variant when planes are a multiple of 4 values
/// (every tensor binding then holds whole vec4s).
fn pick(
    g: &BnGeom,
    scalar: &'static Kernel<BnParams>,
    vec4: &'static Kernel<BnParams>,
) -> &'static Kernel<BnParams> {
    if g.hw.is_multiple_of(4) { vec4 } else { scalar }
}

fn params(gpu: &Gpu, g: &BnGeom, o: &BnOptions, flags: u32) -> Result<BnParams> {
    if g.is_empty() {
        return Err(Error::invalid(format!("batch norm: empty geometry {g:?}")));
    }
    u32_of("batch norm elements", g.len())?;
    let (s, len) = chunks(g, reduction_groups(gpu));
    Ok(BnParams {
        n: g.n as u32,
        c: g.c as u32,
        hw: g.hw as u32,
        chunks: s as u32,
        chunk_len: len as u32,
        flags,
        momentum: o.momentum,
        eps: o.eps,
        ..Default::default()
    })
}

fn check_channel_vecs(g: &BnGeom, named: &[(&str, &Tensor)]) -> Result<()> {
    for (what, t) in named {
        expect_shape(what, t, &[g.c])?;
    }
    Ok(())
}

fn check_act(what: &str, g: &BnGeom, t: &Tensor) -> Result<()> {
    if t.len() != g.len() || t.shape().first() != Some(&g.n) {
        return Err(Error::Shape {
            what: what.into(),
            expected: g.shape().to_vec(),
            got: t.shape().to_vec(),
        });
    }
    Ok(())
}

/// Training forward: `y = relu?(xhat·gamma + beta + residual?)` with batch
/// statistics; `saved` [2, C] receives (mean, 1/sqrt(var + eps)) for the
/// backward pass, `coef` [2, C] the per-channel (scale, shift) the output was
/// made with (the analysis probes reuse it); the running stats are updated as
/// PyTorch does.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    saved: &Tensor,
    coef: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    residual: Option<&Tensor>,
    g: &BnGeom,
    o: &BnOptions,
) -> Result<()> {
    batchnorm_forward_train_padded(
        gpu,
        prog,
        y,
        None,
        saved,
        coef,
        running_mean,
        running_var,
        x,
        gamma,
        beta,
        residual,
        g,
        o,
    )
}

/// [`batchnorm_forward_train`] writing, with `padded`, also y's padded copy.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train_padded(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    padded: Option<Padded<'_>>,
    saved: &Tensor,
    coef: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    residual: Option<&Tensor>,
    g: &BnGeom,
    o: &BnOptions,
) -> Result<()> {
    if g.m() < 2 {
        return Err(Error::invalid(format!(
            "batch norm in training mode needs more than one value per channel, got {} (batch {}, {} pixels)",
            g.m(),
            g.n,
            g.hw
        )));
    }
    check_act("batch norm output", g, y)?;
    check_act("batch norm input", g, x)?;
    if let Some(r) = residual {
        check_act("batch norm residual", g, r)?;
    }
    expect_shape("batch norm saved stats", saved, &[2, g.c])?;
    expect_shape("batch norm coefficients", coef, &[2, g.c])?;
    check_channel_vecs(
        g,
        &[
            ("running_mean", running_mean),
            ("running_var", running_var),
            ("gamma", gamma),
            ("beta", beta),
        ],
    )?;
    let mut flags = UPDATE_RUNNING;
    if o.relu {
        flags |= RELU;
    }
    if residual.is_some() {
        flags |= RESIDUAL;
    }
    let p = params(gpu, g, o, flags)?;
    if let Some(pd) = &padded {
        pd.check(g)?;
    }
    let tex = reads_texels(gpu, g, &[Some(x), residual])?;
    let width = tuned_sums(gpu, g)?;
    // The fused passes read and write pairs of small tensors through one
    // binding each, where each pair lies in one buffer (saved then coef, the
    // running mean then variance, gamma then beta): those bindings, then y,
    // x and the residual, and the parameters with the pairs' offsets.
    let pairs = (
        saved.span(coef),
        running_mean.span(running_var),
        gamma.span(beta),
    );
    let merged = match &pairs {
        (Some((stats, coef_at)), Some((run, rv_at)), Some((gb, beta_at))) => Some((
            vec![Some(stats), Some(run), Some(gb), Some(y), Some(x), residual],
            BnParams {
                coef_at: u32_of("batch norm coefficients offset", *coef_at)?,
                rv_at: u32_of("running variance offset", *rv_at)?,
                beta_at: u32_of("beta offset", *beta_at)?,
                ..p
            },
        )),
        _ => None,
    };
    // Sums and apply in one pass, a workgroup per channel.
    let one = if tex {
        &table::BN_STATS_APPLY_PAD4_ONE_TEX
    } else {
        &table::BN_STATS_APPLY_PAD4_ONE
    };
    if width == BnSums::OnePass
        && let Some((bindings, pm)) = &merged
        && let Some(p) = one_pass(gpu, g, one, pm, padded.as_ref())
    {
        let mut bindings = bindings.clone();
        bindings.push(padded.map(|pd| pd.xp));
        let grid = crate::kernels::check_grid(gpu, "batch norm channels", [g.c as u64, 1, 1])?;
        launch(gpu, prog, one, &p, &bindings, grid)?;
        return Ok(());
    }
    // The texel passes' partials are a whole uniform window.
    let partials = if tex {
        gpu.tensor(&[UNIFORM_FLOATS])?
    } else {
        partials(gpu, g, &p)?
    };
    let (sums, k) = if tex {
        (
            width.pick(
                &table::BN_STATS_PARTIAL4_TEX,
                &table::BN_STATS_PARTIAL4_TEX_W8,
            ),
            &table::BN_STATS_APPLY_PAD4_TEX,
        )
    } else {
        (
            pick(
                g,
                width.pick(&table::BN_STATS_PARTIAL, &table::BN_STATS_PARTIAL_W8),
                width.pick(&table::BN_STATS_PARTIAL4, &table::BN_STATS_PARTIAL4_W8),
            ),
            &table::BN_STATS_APPLY_PAD4,
        )
    };
    launch(
        gpu,
        prog,
        sums,
        &p,
        &[Some(&partials), Some(x)],
        [g.c as u32, p.chunks, 1],
    )?;
    // Statistics, coefficients, output and its padded copy in one pass.
    if let Some(pd) = padded.filter(|pd| pd.fused(gpu, k))
        && let Some((bindings, pm)) = &merged
    {
        return pd.launch(gpu, prog, k, pm, bindings, &[Some(&partials)]);
    }
    if table::BN_STATS_COEF.fits(gpu) {
        launch(
            gpu,
            prog,
            &table::BN_STATS_COEF,
            &p,
            &[
                Some(saved),
                Some(running_mean),
                Some(running_var),
                Some(coef),
                Some(&partials),
                Some(gamma),
                Some(beta),
            ],
            table::BN_STATS_COEF.grid_1d(gpu, g.c)?,
        )?;
    } else {
        // One pass cannot write coef and read saved from the same buffer: the
        // statistics then go through a tensor of their own.
        let shared = saved.buffer() == coef.buffer();
        let stats = if shared {
            gpu.tensor(&[2, g.c])?
        } else {
            saved.clone()
        };
        launch(
            gpu,
            prog,
            &table::BN_STATS_FINALIZE,
            &p,
            &[
                Some(&stats),
                Some(running_mean),
                Some(running_var),
                Some(&partials),
            ],
            table::BN_STATS_FINALIZE.grid_1d(gpu, g.c)?,
        )?;
        scale_shift(gpu, prog, coef, &stats, gamma, beta, g, &p)?;
        if shared {
            crate::kernels::elementwise::copy(gpu, prog, saved, &stats, false)?;
        }
    }
    apply(gpu, prog, y, padded, x, coef, residual, g, &p)
}

/// Eval forward: the same output computed with the running statistics;
/// `coef` [2, C] receives the (scale, shift) used.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    coef: &Tensor,
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    residual: Option<&Tensor>,
    g: &BnGeom,
    o: &BnOptions,
) -> Result<()> {
    batchnorm_forward_eval_padded(
        gpu,
        prog,
        y,
        None,
        coef,
        x,
        running_mean,
        running_var,
        gamma,
        beta,
        residual,
        g,
        o,
    )
}

/// [`batchnorm_forward_eval`] writing, with `padded`, also y's padded copy.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval_padded(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    padded: Option<Padded<'_>>,
    coef: &Tensor,
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    residual: Option<&Tensor>,
    g: &BnGeom,
    o: &BnOptions,
) -> Result<()> {
    check_act("batch norm output", g, y)?;
    check_act("batch norm input", g, x)?;
    if let Some(r) = residual {
        check_act("batch norm residual", g, r)?;
    }
    check_channel_vecs(
        g,
        &[
            ("running_mean", running_mean),
            ("running_var", running_var),
            ("gamma", gamma),
            ("beta", beta),
        ],
    )?;
    let mut flags = 0;
    if o.relu {
        flags |= RELU;
    }
    if residual.is_some() {
        flags |= RESIDUAL;
    }
    expect_shape("batch norm coefficients", coef, &[2, g.c])?;
    let p = params(gpu, g, o, flags)?;
    if let Some(pd) = &padded {
        pd.check(g)?;
    }
    // Coefficients from the running statistics, output and its padded copy in
    // one pass, where the pairs it reads through one binding lie in one buffer.
    let k = if reads_texels(gpu, g, &[Some(x), residual])? {
        &table::BN_EVAL_APPLY_PAD4_TEX
    } else {
        &table::BN_EVAL_APPLY_PAD4
    };
    if let Some(pd) = padded.filter(|pd| pd.fused(gpu, k))
        && let Some((run, rv_at)) = running_mean.span(running_var)
        && let Some((gb, beta_at)) = gamma.span(beta)
    {
        let p = BnParams {
            rv_at: u32_of("running variance offset", rv_at)?,
            beta_at: u32_of("beta offset", beta_at)?,
            ..p
        };
        let bindings = [
            Some(coef),
            Some(&run),
            Some(&gb),
            Some(y),
            Some(x),
            residual,
        ];
        return pd.launch(gpu, prog, k, &p, &bindings, &[]);
    }
    let stats = gpu.tensor(&[2, g.c])?;
    launch(
        gpu,
        prog,
        &table::BN_EVAL_STATS,
        &p,
        &[Some(&stats), Some(running_mean), Some(running_var)],
        table::BN_EVAL_STATS.grid_1d(gpu, g.c)?,
    )?;
    scale_shift(gpu, prog, coef, &stats, gamma, beta, g, &p)?;
    apply(gpu, prog, y, padded, x, coef, residual, g, &p)
}

/// The reductions' per-chunk sums [C, S, 2] and a value per channel [C] (the
/// forward's shift, the backward's mean).
fn partials(gpu: &Gpu, g: &BnGeom, p: &BnParams) -> Result<Tensor> {
    gpu.tensor(&[g.c * (2 * p.chunks as usize + 1)])
}

/// `coef` [2, C] = (gamma·invstd, beta − mean·gamma·invstd) from `stats`
/// [2, C] = (mean, invstd).
#[allow(clippy::too_many_arguments)]
fn scale_shift(
    gpu: &Gpu,
    prog: &mut Program,
    coef: &Tensor,
    stats: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    g: &BnGeom,
    p: &BnParams,
) -> Result<()> {
    launch(
        gpu,
        prog,
        &table::BN_COEF,
        p,
        &[Some(coef), Some(stats), Some(gamma), Some(beta)],
        table::BN_COEF.grid_1d(gpu, g.c)?,
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    padded: Option<Padded<'_>>,
    x: &Tensor,
    coef: &Tensor,
    residual: Option<&Tensor>,
    g: &BnGeom,
    p: &BnParams,
) -> Result<()> {
    let bindings = [Some(y), Some(x), Some(coef), residual];
    let unfused = |prog: &mut Program| -> Result<()> {
        let k = pick(g, &table::BN_APPLY, &table::BN_APPLY4);
        launch(gpu, prog, k, p, &bindings, apply_grid(gpu, g, k)?)?;
        Ok(())
    };
    match padded {
        Some(pd) => {
            pd.check(g)?;
            pd.run(gpu, prog, &table::BN_APPLY_PAD4, p, &bindings, y, unfused)
        }
        None => unfused(prog),
    }
}

/// Where the backward pass sends the residual branch's gradient.
#[derive(Clone, Copy)]
pub struct ResidualGrad<'a> {
    pub dres: &'a Tensor,
    /// Add to what `dres` holds instead of overwriting it.
    pub accumulate: bool,
}

/// Training backward of [`batchnorm_forward_train`]. `dout` is the gradient with
/// respect to its output `out` (needed only when the forward fused a ReLU, for
/// the mask). Writes `dx`, `dgamma`, `dbeta`, and the gradient of the residual
/// input when asked.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dgamma: &Tensor,
    dbeta: &Tensor,
    dres: Option<ResidualGrad<'_>>,
    dout: &Tensor,
    out: Option<&Tensor>,
    x: &Tensor,
    saved: &Tensor,
    gamma: &Tensor,
    g: &BnGeom,
) -> Result<()> {
    batchnorm_backward_padded(
        gpu, prog, dx, None, dgamma, dbeta, dres, dout, out, x, saved, None, gamma, g,
    )
}

/// What a training forward ([`batchnorm_forward_train_padded`]) left for its
/// backward besides the saved statistics, and how it made its output.
#[derive(Clone, Copy)]
pub struct TrainForward<'a> {
    /// The (scale, shift) it wrote along with `saved` for this `gamma` (its
    /// scale is gamma·invstd, that very product).
    pub coef: &'a Tensor,
    /// Whether it added a residual before its ReLU. Without one, ReLU's
    /// input was x·scale + shift, and the one-pass kernel computes that
    /// again from x, with the forward's own expression, for the mask instead
    /// of reading `out` (the same mask: the same bits).
    pub residual: bool,
}

/// [`batchnorm_backward`] writing, with `padded`, also dx's padded copy.
/// With `forward` (see [`TrainForward`]), where its coef lies in saved's
/// buffer after `saved`, the one-pass kernel ([`BnSums::OnePass`]) reads the
/// scale there instead of gamma, which keeps it within 8 storage buffers.
/// Without it the two passes run.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward_padded(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    padded: Option<Padded<'_>>,
    dgamma: &Tensor,
    dbeta: &Tensor,
    dres: Option<ResidualGrad<'_>>,
    dout: &Tensor,
    out: Option<&Tensor>,
    x: &Tensor,
    saved: &Tensor,
    forward: Option<TrainForward<'_>>,
    gamma: &Tensor,
    g: &BnGeom,
) -> Result<()> {
    if let Some(pd) = &padded {
        pd.check(g)?;
    }
    check_act("batch norm dx", g, dx)?;
    check_act("batch norm dout", g, dout)?;
    check_act("batch norm input", g, x)?;
    if let Some(o) = out {
        check_act("batch norm output", g, o)?;
    }
    if let Some(r) = &dres {
        check_act("batch norm dres", g, r.dres)?;
    }
    expect_shape("batch norm saved stats", saved, &[2, g.c])?;
    check_channel_vecs(g, &[("dgamma", dgamma), ("dbeta", dbeta), ("gamma", gamma)])?;
    let mut flags = 0;
    if out.is_some() {
        flags |= RELU;
    }
    if let Some(r) = &dres {
        flags |= WRITE_DRES;
        if r.accumulate {
            flags |= ACCUMULATE_DRES;
        }
    }
    let p = params(gpu, g, &BnOptions::default(), flags)?;
    // The coefficients, parameter gradients, dx and its padded copy in one
    // pass after the sums, where dgamma and dbeta lie in one buffer (read
    // through one binding) and the stage has the buffers.
    let tex = reads_texels(gpu, g, &[Some(dout), out, Some(x)])?;
    let width = tuned_sums(gpu, g)?;
    let one = if tex {
        &table::BN_BACKWARD_APPLY_PAD4_ONE_TEX
    } else {
        &table::BN_BACKWARD_APPLY_PAD4_ONE
    };
    if width == BnSums::OnePass
        && let Some((dgb, beta_at)) = dgamma.span(dbeta)
        && let Some(f) = forward
        && let Some((stats, coef_at)) = saved.span(f.coef)
        && let Some(p) = one_pass(gpu, g, one, &p, padded.as_ref())
    {
        // The mask from x where out is x·scale + shift after ReLU.
        let from_x = out.is_some() && !f.residual;
        let p = BnParams {
            beta_at: u32_of("dbeta offset", beta_at)?,
            coef_at: u32_of("batch norm coefficients offset", coef_at)?,
            flags: p.flags | if from_x { MASK_FROM_X } else { 0 },
            ..p
        };
        let grid = crate::kernels::check_grid(gpu, "batch norm channels", [g.c as u64, 1, 1])?;
        let bindings = [
            Some(&dgb),
            Some(dx),
            dres.map(|r| r.dres),
            Some(dout),
            out.filter(|_| !from_x),
            Some(x),
            padded.map(|pd| pd.xp),
            Some(&stats),
        ];
        launch(gpu, prog, one, &p, &bindings, grid)?;
        return Ok(());
    }
    let (sums, k) = if tex {
        (
            width.pick(
                &table::BN_BACKWARD_PARTIAL4_TAIL_TEX,
                &table::BN_BACKWARD_PARTIAL4_TAIL_TEX_W8,
            ),
            &table::BN_BACKWARD_FINALIZE_APPLY_PAD4_TEX,
        )
    } else {
        (
            width.pick(
                &table::BN_BACKWARD_PARTIAL4_TAIL,
                &table::BN_BACKWARD_PARTIAL4_TAIL_W8,
            ),
            &table::BN_BACKWARD_FINALIZE_APPLY_PAD4,
        )
    };
    if let Some(pd) =
        padded.filter(|pd| pd.fused(gpu, k) && g.hw.is_multiple_of(4) && sums.fits(gpu))
        && let Some((dgb, beta_at)) = dgamma.span(dbeta)
    {
        // The chunks' sums, then mean, invstd and gamma per channel (the
        // texel passes': in a whole uniform window).
        let partials = gpu.tensor(&[if tex {
            UNIFORM_FLOATS
        } else {
            g.c * (2 * p.chunks as usize + 3)
        }])?;
        launch(
            gpu,
            prog,
            sums,
            &p,
            &[
                Some(&partials),
                Some(dout),
                out,
                Some(x),
                Some(saved),
                Some(gamma),
            ],
            [g.c as u32, p.chunks, 1],
        )?;
        let p = BnParams {
            beta_at: u32_of("dbeta offset", beta_at)?,
            ..p
        };
        let dres = dres.map(|r| r.dres);
        let bindings = [Some(&dgb), Some(dx), dres, Some(dout), out, Some(x)];
        return pd.launch(gpu, prog, k, &p, &bindings, &[Some(&partials)]);
    }
    let partials = partials(gpu, g, &p)?;
    let bcoef = gpu.tensor(&[6, g.c])?;
    let direct = pick(
        g,
        width.pick(
            &table::BN_BACKWARD_PARTIAL_SAVED,
            &table::BN_BACKWARD_PARTIAL_SAVED_W8,
        ),
        width.pick(
            &table::BN_BACKWARD_PARTIAL4_SAVED,
            &table::BN_BACKWARD_PARTIAL4_SAVED_W8,
        ),
    );
    if direct.fits(gpu) {
        launch(
            gpu,
            prog,
            direct,
            &p,
            &[Some(&partials), Some(dout), out, Some(x), Some(saved)],
            [g.c as u32, p.chunks, 1],
        )?;
    } else {
        // Four storage buffers: the mean goes to the partials' tail first.
        launch(
            gpu,
            prog,
            &table::BN_BACKWARD_MEAN,
            &p,
            &[Some(&partials), Some(saved)],
            table::BN_BACKWARD_MEAN.grid_1d(gpu, g.c)?,
        )?;
        launch(
            gpu,
            prog,
            pick(
                g,
                width.pick(&table::BN_BACKWARD_PARTIAL, &table::BN_BACKWARD_PARTIAL_W8),
                width.pick(
                    &table::BN_BACKWARD_PARTIAL4,
                    &table::BN_BACKWARD_PARTIAL4_W8,
                ),
            ),
            &p,
            &[Some(&partials), Some(dout), out, Some(x)],
            [g.c as u32, p.chunks, 1],
        )?;
    }
    if table::BN_BACKWARD_FINALIZE_GRADS.fits(gpu) {
        launch(
            gpu,
            prog,
            &table::BN_BACKWARD_FINALIZE_GRADS,
            &p,
            &[
                Some(&bcoef),
                Some(dgamma),
                Some(dbeta),
                Some(&partials),
                Some(saved),
                Some(gamma),
            ],
            table::BN_BACKWARD_FINALIZE_GRADS.grid_1d(gpu, g.c)?,
        )?;
    } else {
        launch(
            gpu,
            prog,
            &table::BN_BACKWARD_FINALIZE,
            &p,
            &[Some(&bcoef), Some(&partials), Some(saved), Some(gamma)],
            table::BN_BACKWARD_FINALIZE.grid_1d(gpu, g.c)?,
        )?;
        launch(
            gpu,
            prog,
            &table::BN_BACKWARD_GRADS,
            &p,
            &[Some(dgamma), Some(dbeta), Some(&bcoef)],
            table::BN_BACKWARD_GRADS.grid_1d(gpu, g.c)?,
        )?;
    }
    let dres = dres.map(|r| r.dres);
    let bindings = [Some(dx), dres, Some(dout), out, Some(x), Some(&bcoef)];
    match padded {
        Some(pd) => pd.run(
            gpu,
            prog,
            &table::BN_BACKWARD_APPLY_PAD4,
            &p,
            &bindings,
            dx,
            |prog| backward_apply(gpu, prog, &bindings, g, &p),
        ),
        None => backward_apply(gpu, prog, &bindings, g, &p),
    }
}

/// The apply pass of [`batchnorm_backward`] (two where a stage has fewer than
/// 6 storage buffers); `b` its bindings: dx, dres, dout, out, x, bcoef.
fn backward_apply(
    gpu: &Gpu,
    prog: &mut Program,
    b: &[Option<&Tensor>; 6],
    g: &BnGeom,
    p: &BnParams,
) -> Result<()> {
    let k = pick(g, &table::BN_BACKWARD_APPLY, &table::BN_BACKWARD_APPLY4);
    if k.fits(gpu) {
        launch(gpu, prog, k, p, b, apply_grid(gpu, g, k)?)?;
        return Ok(());
    }
    let [dx, dres, dout, out, x, bcoef] = *b;
    // Fewer than 6 storage buffers: the masked gradient goes through dx.
    let gate = pick(g, &table::BN_BACKWARD_GATE, &table::BN_BACKWARD_GATE4);
    launch(
        gpu,
        prog,
        gate,
        p,
        &[dx, dres, dout, out],
        apply_grid(gpu, g, gate)?,
    )?;
    let k = pick(
        g,
        &table::BN_BACKWARD_APPLY_GATED,
        &table::BN_BACKWARD_APPLY_GATED4,
    );
    launch(gpu, prog, k, p, &[dx, x, bcoef], apply_grid(gpu, g, k)?)?;
    Ok(())
}
