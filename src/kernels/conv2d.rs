//! Launchers for 2-D convolution: forward, backward-data, backward-weight, backward-bias.

use crate::device::Gpu;
use crate::device::{Tensor, numel};
use crate::error::{Error, Result};
use crate::kernels::table::{self, params};
use crate::kernels::{Program, expect_shape, launch, u32_of};
use crate::ops::{Conv2dGeom, PadGeom, ShortcutGeom, UnfoldOrder};

params! {
    /// Mirrors `ConvParams` of the conv shaders.
    pub struct ConvParams {
        n: u32,
        ci: u32,
        h: u32,
        w: u32,
        co: u32,
        ho: u32,
        wo: u32,
        kh: u32,
        kw: u32,
        sh: u32,
        sw: u32,
        ph: u32,
        pw: u32,
        flags: u32,
        rows: u32,
        chunks: u32,
        dily: u32,
        dilx: u32,
        slots: u32,
        _pad1: u32,
    }
}

pub const FLAG_BIAS: u32 = 1;
pub const FLAG_ACCUMULATE: u32 = 2;

impl ConvParams {
    pub fn new(g: &Conv2dGeom, flags: u32) -> Result<Self> {
        g.validate()?;
        // Every index the shaders form must fit in u32.
        u32_of("conv2d input elements", g.n * g.cin * g.h * g.w)?;
        u32_of("conv2d output elements", g.n * g.cout * g.ho() * g.wo())?;
        u32_of("conv2d weight elements", g.cout * g.cin * g.kh * g.kw)?;
        Ok(ConvParams {
            n: g.n as u32,
            ci: g.cin as u32,
            h: g.h as u32,
            w: g.w as u32,
            co: g.cout as u32,
            ho: g.ho() as u32,
            wo: g.wo() as u32,
            kh: g.kh as u32,
            kw: g.kw as u32,
            sh: g.sh as u32,
            sw: g.sw as u32,
            ph: g.ph as u32,
            pw: g.pw as u32,
            flags,
            rows: (g.n * g.ho()) as u32,
            chunks: 1,
            dily: 1,
            dilx: 1,
            slots: 0,
            _pad1: 0,
        })
    }
}

fn check(g: &Conv2dGeom, y: &Tensor, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<()> {
    expect_shape("conv2d output", y, &g.y_shape())?;
    expect_shape("conv2d input", x, &g.x_shape())?;
    expect_shape("conv2d weight", w, &g.w_shape())?;
    if let Some(b) = b {
        expect_shape("conv2d bias", b, &[g.cout])?;
    }
    Ok(())
}

/// Reference forward: one invocation per output element.
pub fn conv2d_forward_reference(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
) -> Result<()> {
    check(g, y, x, w, b)?;
    let params = ConvParams::new(g, if b.is_some() { FLAG_BIAS } else { 0 })?;
    launch(
        gpu,
        prog,
        &table::CONV2D_FORWARD_REFERENCE,
        &params,
        &[Some(y), Some(x), Some(w), b],
        table::CONV2D_FORWARD_REFERENCE.grid_1d(gpu, y.len())?,
    )?;
    Ok(())
}

/// Reference backward-data: one invocation per element of dx. With `accumulate`
/// the result is added to dx.
pub fn conv2d_backward_data_reference(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Result<()> {
    check(g, dy, dx, w, None)?;
    let params = ConvParams::new(g, if accumulate { FLAG_ACCUMULATE } else { 0 })?;
    launch(
        gpu,
        prog,
        &table::CONV2D_BACKWARD_DATA_REFERENCE,
        &params,
        &[Some(dx), Some(dy), Some(w)],
        table::CONV2D_BACKWARD_DATA_REFERENCE.grid_1d(gpu, dx.len())?,
    )?;
    Ok(())
}

/// Reference backward-weight: one invocation per element of dweight.
pub fn conv2d_backward_weight_reference(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    check(g, dy, x, dw, None)?;
    let params = ConvParams::new(g, 0)?;
    launch(
        gpu,
        prog,
        &table::CONV2D_BACKWARD_WEIGHT_REFERENCE,
        &params,
        &[Some(dw), Some(dy), Some(x)],
        table::CONV2D_BACKWARD_WEIGHT_REFERENCE.grid_1d(gpu, dw.len())?,
    )?;
    Ok(())
}

/// `dw` = the sum over the first axis of `partials` [chunks, len(dw)].
fn reduce_chunks(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    partials: &Tensor,
    chunks: usize,
) -> Result<()> {
    let p = WgradParams {
        len: dw.len() as u32,
        chunks: chunks as u32,
        ..Default::default()
    };
    launch(
        gpu,
        prog,
        &table::CONV2D_BACKWARD_WEIGHT_REDUCE,
        &p,
        &[Some(dw), Some(partials)],
        table::CONV2D_BACKWARD_WEIGHT_REDUCE.grid_1d(gpu, dw.len())?,
    )?;
    Ok(())
}

/// A weight gradient left as partial sums ([`conv2d_backward_weight_partials`]):
/// its `dw` and the `partials` of [`wgrad_partials_shape`].
#[derive(Clone)]
pub struct WgradJob {
    pub dw: Tensor,
    pub partials: Tensor,
}

/// Fields per job in the table the batched reduction reads.
const REDUCE_JOB_FIELDS: usize = 5;

/// Sums the chunks of every job's partial sums into its `dw` in one pass, as
/// [`conv2d_backward_weight`]'s own reduction would (the same order, the
/// same bits): every `dw` a range of `grads`, every `partials` a range of
/// `arena`, each of which one binding holds.
pub fn conv2d_backward_weight_reduce_batch(
    gpu: &Gpu,
    prog: &mut Program,
    grads: &Tensor,
    arena: &Tensor,
    jobs: &[WgradJob],
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    if jobs
        .iter()
        .any(|j| !j.dw.lies_within(grads) || !j.partials.lies_within(arena))
    {
        return Err(Error::invalid(
            "conv2d_backward_weight_reduce_batch: a job's tensors are not ranges of the batch's",
        ));
    }
    // Over vec4s where every job's length and offsets allow (the table then
    // counts vec4s; the same sums).
    let floats = |t: &Tensor, base: &Tensor| ((t.offset() - base.offset()) / 4) as usize;
    let vec4 = grads.offset().is_multiple_of(16)
        && arena.offset().is_multiple_of(16)
        && jobs.iter().all(|j| {
            j.dw.len().is_multiple_of(4)
                && floats(&j.dw, grads).is_multiple_of(4)
                && floats(&j.partials, arena).is_multiple_of(4)
        });
    let (k, unit) = if vec4 {
        (&table::CONV2D_BACKWARD_WEIGHT_REDUCE_BATCH4, 4)
    } else {
        (&table::CONV2D_BACKWARD_WEIGHT_REDUCE_BATCH, 1)
    };
    let mut table = Vec::with_capacity(REDUCE_JOB_FIELDS * jobs.len());
    let mut total = 0usize;
    for j in jobs {
        let [co, ci, kh, kw] = <[usize; 4]>::try_from(j.dw.shape()).map_err(|_| {
            Error::invalid("conv2d_backward_weight_reduce_batch: dw is not [Co, Ci, 3, 3]")
        })?;
        let len = co * ci * kh * kw / unit;
        if kh != 3 || kw != 3 || j.partials.shape().get(1..) != Some(&[co, ci, 9][..]) {
            return Err(Error::invalid(format!(
                "conv2d_backward_weight_reduce_batch: partial sums {:?} are not of dw {:?}",
                j.partials.shape(),
                j.dw.shape()
            )));
        }
        // Each job starts a workgroup of the pass.
        total = total.next_multiple_of(k.width() as usize);
        table.extend([
            u32_of("weight gradients of a batch", total)?,
            u32_of("weight gradient length", len)?,
            u32_of("weight gradient offset", floats(&j.dw, grads) / unit)?,
            u32_of("partial sums offset", floats(&j.partials, arena) / unit)?,
            j.partials.shape()[0] as u32,
        ]);
        total += len;
    }
    let table_t = gpu.tensor(&[table.len()])?;
    gpu.write_u32(&table_t, &table)?;
    let p = BatchParams {
        jobs: jobs.len() as u32,
        total: u32_of("weight gradients of a batch", total)?,
        _pad0: 0,
        _pad1: 0,
    };
    launch(
        gpu,
        prog,
        k,
        &p,
        &[Some(grads), Some(arena), Some(&table_t)],
        k.grid_1d(gpu, total)?,
    )?;
    Ok(())
}

/// Bias gradient: dbias[co] = sum of dy over batch and pixels.
pub fn conv2d_backward_bias(
    gpu: &Gpu,
    prog: &mut Program,
    db: &Tensor,
    dy: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    expect_shape("conv2d dy", dy, &g.y_shape())?;
    expect_shape("conv2d dbias", db, &[g.cout])?;
    let params = ConvParams::new(g, 0)?;
    launch(
        gpu,
        prog,
        &table::CONV2D_BACKWARD_BIAS,
        &params,
        &[Some(db), Some(dy)],
        table::CONV2D_BACKWARD_BIAS.grid_1d(gpu, g.cout)?,
    )?;
    Ok(())
}

/// Positions a chunk of the direct weight gradient sums over.
const WGRAD_POSITIONS: usize = 4096;

/// The direct pass (any window, stride and padding) over `x` with weights
/// `wt` in the layout of [`conv2d_weight_tiles`] ([Ci, Kh, Kw, Co8]):
/// `y` = conv(x) (+ bias), or added to `y` with `accumulate`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_direct(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Result<()> {
    let params = direct_params(y, x, wt, b, g, accumulate)?;
    launch_direct(gpu, prog, &params, y, x, wt, b)
}

/// The 1x1 pass `kernel` over `x` (where [`pointwise_fits`] `g`; `Plain`
/// where [`quads_fit`]), with the arguments of [`conv2d_direct`], which runs
/// [`Pointwise::on`] the device.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_pointwise(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    kernel: Pointwise,
) -> Result<()> {
    let params = direct_params(y, x, wt, b, g, accumulate)?;
    if !pointwise_fits(&params) {
        return Err(Error::invalid(format!(
            "conv2d_pointwise: not a 1x1 convolution without padding: {g:?}"
        )));
    }
    if kernel == Pointwise::SharedWeights && !has_subgroups(gpu) {
        return Err(Error::invalid(
            "conv2d_pointwise: shared weights need subgroups of at least 8 invocations",
        ));
    }
    launch_pointwise(gpu, prog, &params, kernel, y, x, wt, b)
}

/// The parameters of the direct forward pass, its tensors' shapes checked.
fn direct_params(
    y: &Tensor,
    x: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Result<ConvParams> {
    expect_shape("conv2d output", y, &g.y_shape())?;
    expect_shape("conv2d input", x, &g.x_shape())?;
    expect_shape("conv2d weight tiles", wt, &weight_tiles_shape(g, false))?;
    if let Some(b) = b {
        expect_shape("conv2d bias", b, &[g.cout])?;
    }
    let mut flags = 0;
    if b.is_some() {
        flags |= FLAG_BIAS;
    }
    if accumulate {
        flags |= FLAG_ACCUMULATE;
    }
    ConvParams::new(g, flags)
}

/// The backward-data pass of any convolution whose padding is less than its
/// window (`dx`, or added to it with `accumulate`) as a direct pass over `dy`
/// with zeros between its rows and columns (the stride), padded by
/// k − 1 − pad, and `wt` the weights transposed and flipped
/// ([`conv2d_weight_tiles`] with `backward_data`: [Co, Kh, Kw, Ci8]).
pub fn conv2d_direct_backward_data(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    wt: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Result<()> {
    if g.ph >= g.kh || g.pw >= g.kw {
        return Err(Error::invalid(format!(
            "conv2d_direct_backward_data: padding as large as the window: {g:?}"
        )));
    }
    expect_shape("conv2d dx", dx, &g.x_shape())?;
    expect_shape("conv2d dy", dy, &g.y_shape())?;
    expect_shape("conv2d weight tiles", wt, &weight_tiles_shape(g, true))?;
    // dx = a stride-1 convolution of dy dilated by the stride and padded by
    // k − 1 − pad, from Co channels to Ci, with an output the size of x.
    let p = ConvParams::new(g, if accumulate { FLAG_ACCUMULATE } else { 0 })?;
    let params = ConvParams {
        ci: p.co,
        co: p.ci,
        h: p.ho,
        w: p.wo,
        ho: p.h,
        wo: p.w,
        sh: 1,
        sw: 1,
        ph: p.kh - 1 - p.ph,
        pw: p.kw - 1 - p.pw,
        dily: p.sh,
        dilx: p.sw,
        ..p
    };
    launch_direct(gpu, prog, &params, dx, dy, wt, None)
}

/// Whether a 1x1 kernel ([`Pointwise`]) can take the direct pass of
/// `params`: a 1x1 window without padding at any stride, or the
/// backward-data pass of one (dy read dilated by the stride, each dy
/// position owning the stride's block of dx) — every 1x1 convolution of the
/// ResNets, forward and backward. Without [`quads_fit`] only
/// `SharedWeights` takes it.
pub fn pointwise_fits(params: &ConvParams) -> bool {
    let p = params;
    let one = p.kh == 1 && p.kw == 1 && p.ph == 0 && p.pw == 0;
    let blocks = |size: u32, dil: u32, out: u32| (size - 1) * dil < out && out <= size * dil;
    let dilated = p.dily != 1 || p.dilx != 1;
    one && (!dilated
        || (p.sh == 1 && p.sw == 1 && blocks(p.h, p.dily, p.ho) && blocks(p.w, p.dilx, p.wo)))
}

/// Whether the 1x1 pass of `params` reads and writes quads of positions as
/// whole vec4s: no dilation, and stride 1 over planes of a multiple of 4
/// positions, or stride 2 with output rows of whole vec4s over input rows
/// twice as long. Of ResNet-50's at 224 px, all but those with 7x7 outputs,
/// the 28→14 projection and the strided backward-data passes.
pub fn quads_fit(params: &ConvParams) -> bool {
    let p = params;
    pointwise_fits(p)
        && p.dily == 1
        && p.dilx == 1
        && p.sh == p.sw
        && match p.sh {
            1 => (p.ho * p.wo).is_multiple_of(4),
            2 => p.wo.is_multiple_of(4) && p.w == 2 * p.wo,
            _ => false,
        }
}

/// The 1x1 kernels (where [`pointwise_fits`]): the same sums in the same
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointwise {
    /// [`table::CONV2D_POINTWISE`]: 8 output channels × 4 quads of positions
    /// an invocation, where [`quads_fit`].
    Plain,
    /// [`table::CONV2D_POINTWISE_SG`]: 32 output channels × 1 quad, each
    /// lane loading an eighth of the weights and taking the rest from the
    /// subgroup, where [`quads_fit`]; elsewhere
    /// [`table::CONV2D_POINTWISE_ANY_SG`], the same reading positions one by
    /// one. Both with 64 output channels an invocation (`_SG64`; the first
    /// over 2 quads) where Co is more than 32. Needs [`has_subgroups`].
    SharedWeights,
}

impl Pointwise {
    /// The kernel for `gpu`: `SharedWeights` on CPU adapters with subgroups,
    /// where every lane's storage load is a loop of its own and 8 lanes
    /// loading the same weights cost 8 loads (measured 1.26 times as fast as
    /// `Plain` on lavapipe); elsewhere `Plain`.
    pub fn on(gpu: &Gpu) -> Pointwise {
        if has_subgroups(gpu) && gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
            Pointwise::SharedWeights
        } else {
            Pointwise::Plain
        }
    }
}

/// Records the direct pass of `params`: the 1x1 kernel [`Pointwise::on`]
/// `gpu` where it fits ([`quads_fit`], or for `SharedWeights`
/// [`pointwise_fits`]), else [`table::CONV2D_DIRECT`] (a tile of 4 positions
/// per invocation along x, folded into z; 8 output channels per workgroup
/// row).
fn launch_direct(
    gpu: &Gpu,
    prog: &mut Program,
    params: &ConvParams,
    y: &Tensor,
    x: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
) -> Result<()> {
    let kernel = Pointwise::on(gpu);
    if quads_fit(params) || (kernel == Pointwise::SharedWeights && pointwise_fits(params)) {
        return launch_pointwise(gpu, prog, params, kernel, y, x, wt, b);
    }
    let tiles = (params.n as usize * params.ho as usize * params.wo as usize).div_ceil(4);
    launch_tiles(
        gpu,
        prog,
        &table::CONV2D_DIRECT,
        params,
        tiles,
        8,
        [y, x, wt],
        b,
    )
}

/// Records the 1x1 pass `kernel` of `params` (which [`pointwise_fits`]):
/// invocations over quads of positions, tiles of output channels.
#[allow(clippy::too_many_arguments)]
fn launch_pointwise(
    gpu: &Gpu,
    prog: &mut Program,
    params: &ConvParams,
    kernel: Pointwise,
    y: &Tensor,
    x: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
) -> Result<()> {
    // The grid of points: the output positions, or a backward-data pass's dy.
    let (gh, gw) = if params.dily != 1 || params.dilx != 1 {
        (params.h, params.w)
    } else {
        (params.ho, params.wo)
    };
    let quads = (params.n as usize * gh as usize * gw as usize).div_ceil(4);
    // The kernel, its invocations and the output channels each takes.
    // The shared-weights kernels take 64 output channels an invocation where
    // more than 32 fill them (their input loads serve twice the sums).
    let wide = params.co > 32;
    let (k, invocations, channels) = match (kernel, quads_fit(params)) {
        (Pointwise::Plain, true) => (&table::CONV2D_POINTWISE, quads.div_ceil(4), 8),
        // 64 channels × a pair of quads an invocation.
        (Pointwise::SharedWeights, true) if wide => {
            (&table::CONV2D_POINTWISE_SG64, quads.div_ceil(2), 64)
        }
        (Pointwise::SharedWeights, true) => (&table::CONV2D_POINTWISE_SG, quads, 32),
        (Pointwise::SharedWeights, false) if wide => (&table::CONV2D_POINTWISE_ANY_SG64, quads, 64),
        (Pointwise::SharedWeights, false) => (&table::CONV2D_POINTWISE_ANY_SG, quads, 32),
        (Pointwise::Plain, false) => {
            return Err(Error::invalid(format!(
                "conv2d_pointwise: the plain 1x1 kernel needs whole vec4s of positions: {params:?}"
            )));
        }
    };
    if kernel == Pointwise::Plain {
        return launch_tiles(gpu, prog, k, params, invocations, channels, [y, x, wt], b);
    }
    // The shared-weights kernels number their channel tiles and quads
    // together (shared/pointwise_lanes.wgsl's `slot`): `slots` invocations a
    // tile, the quads rounded up to whole subgroups, so that where the quads
    // are few a workgroup holds several tiles instead of idling.
    let size = (gpu.adapter_info().subgroup_max_size as usize).clamp(8, k.width() as usize);
    let slots = invocations.next_multiple_of(size);
    let tiles = (params.co as usize).div_ceil(channels);
    let params = ConvParams {
        slots: u32_of("1x1 pass invocations a tile", slots)?,
        ..*params
    };
    let [gx, gz, _] = k.grid_1d(gpu, slots * tiles)?;
    launch(
        gpu,
        prog,
        k,
        &params,
        &[Some(y), Some(x), Some(wt), b],
        [gx, 1, gz],
    )?;
    Ok(())
}

/// Records a direct or 1x1 pass `k` over y, x, weight tiles and bias:
/// `invocations` along x (folded into z), tiles of `channels` output
/// channels along y.
#[allow(clippy::too_many_arguments)]
fn launch_tiles(
    gpu: &Gpu,
    prog: &mut Program,
    k: &table::Kernel<ConvParams>,
    params: &ConvParams,
    invocations: usize,
    channels: usize,
    [y, x, wt]: [&Tensor; 3],
    b: Option<&Tensor>,
) -> Result<()> {
    let [gx, gz, _] = k.grid_1d(gpu, invocations)?;
    let gy = (params.co as usize).div_ceil(channels) as u32;
    launch(
        gpu,
        prog,
        k,
        params,
        &[Some(y), Some(x), Some(wt), b],
        [gx, gy, gz],
    )?;
    Ok(())
}

/// The direct weight gradient: 4x4 channel tiles of each tap over chunks of
/// positions, then the chunks summed; where the 1x1 passes share their
/// weights ([`Pointwise::on`] the device is `SharedWeights`) and the
/// convolution [`pointwise_fits`], [`conv2d_pointwise_weight`] instead.
pub fn conv2d_direct_weight(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    check(g, dy, x, dw, None)?;
    if pointwise_fits(&ConvParams::new(g, 0)?) && Pointwise::on(gpu) == Pointwise::SharedWeights {
        return conv2d_pointwise_weight(gpu, prog, dw, dy, x, g);
    }
    let split = direct_weight_split(g);
    let k = &table::CONV2D_DIRECT_WEIGHT;
    // An invocation per (tap, 4 output channels, 4 input channels) job of
    // each chunk: the jobs along x (folded into y), the chunks along z.
    let jobs = g.kh * g.kw * g.cout.div_ceil(4) * g.cin.div_ceil(4);
    let [gx, gy, _] = k.grid_1d(gpu, jobs)?;
    let params = ConvParams::new(g, 0)?;
    launch_weight_chunks(gpu, prog, k, params, split, [gx, gy], [dw, dy, x])
}

/// Records weight-gradient kernel `k` over `chunks` chunks of `rows` steps
/// each (grid x, y from `xy`, the chunks along z) into partial sums, then
/// their sum into `dw` (one chunk's into `dw` directly).
fn launch_weight_chunks(
    gpu: &Gpu,
    prog: &mut Program,
    k: &table::Kernel<ConvParams>,
    params: ConvParams,
    (rows, chunks): (usize, usize),
    [gx, gy]: [u32; 2],
    [dw, dy, x]: [&Tensor; 3],
) -> Result<()> {
    u32_of("weight-gradient partial sums", chunks * dw.len())?;
    // One chunk's partial sums are the gradient: written to dw directly.
    let partials = if chunks == 1 {
        dw.clone()
    } else {
        gpu.tensor(&[chunks, dw.len()])?
    };
    let params = ConvParams {
        rows: rows as u32,
        chunks: chunks as u32,
        ..params
    };
    let grid = crate::kernels::check_grid(gpu, k.entry, [gx as u64, gy as u64, chunks as u64])?;
    launch(
        gpu,
        prog,
        k,
        &params,
        &[Some(&partials), Some(dy), Some(x)],
        grid,
    )?;
    if chunks == 1 {
        return Ok(());
    }
    reduce_chunks(gpu, prog, dw, &partials, chunks)
}

/// The weight gradient of a 1x1 convolution that [`pointwise_fits`] with dy
/// shared through the subgroup: 16 output × 8 input channels a lane, 64
/// input channels a workgroup of 8, over chunks of positions, then the
/// chunks summed. Where [`quads_fit`], [`table::CONV2D_POINTWISE_WEIGHT_SG`]
/// over chunks of whole quads (sums of 4 products at a time); elsewhere
/// [`table::CONV2D_POINTWISE_WEIGHT_ANY_SG`], position by position, over the
/// chunks of [`conv2d_direct_weight`]. Needs [`has_subgroups`].
pub fn conv2d_pointwise_weight(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    check(g, dy, x, dw, None)?;
    let p = ConvParams::new(g, 0)?;
    if !pointwise_fits(&p) {
        return Err(Error::invalid(format!(
            "conv2d_pointwise_weight: not a 1x1 convolution without padding: {g:?}"
        )));
    }
    if !has_subgroups(gpu) {
        return Err(Error::invalid(
            "conv2d_pointwise_weight: needs subgroups of at least 8 invocations",
        ));
    }
    // The kernel, and its chunks' length in its steps (quads or positions).
    let (k, split) = if quads_fit(&p) {
        let quads = g.n * g.ho() * g.wo() / 4;
        let rows = (WGRAD_POSITIONS / 4).max(quads.div_ceil(4096)).min(quads);
        (
            &table::CONV2D_POINTWISE_WEIGHT_SG,
            (rows, quads.div_ceil(rows)),
        )
    } else {
        (
            &table::CONV2D_POINTWISE_WEIGHT_ANY_SG,
            direct_weight_split(g),
        )
    };
    // Each lane sums 32 output channels (`CO_TILE`), 16 where no more fill
    // them.
    let (k, co_tile) = if g.cout > 16 {
        (*k, 32)
    } else {
        (k.with_constants(&[("CO_TILE", 16)]), 16)
    };
    let xy = [g.cin.div_ceil(64) as u32, g.cout.div_ceil(co_tile) as u32];
    launch_weight_chunks(gpu, prog, &k, p, split, xy, [dw, dy, x])
}

/// The direct weight gradient's split of the N·Ho·Wo positions: (positions
/// per chunk, chunks), at most 4096 chunks (the compat profile's grid
/// dimension).
fn direct_weight_split(g: &Conv2dGeom) -> (usize, usize) {
    let total = (g.n * g.ho() * g.wo()).max(1);
    let rows = WGRAD_POSITIONS.max(total.div_ceil(4096)).min(total);
    (rows, total.div_ceil(rows))
}

params! {
    /// Mirrors `UnfoldParams` of conv2d_unfold.wgsl.
    pub struct UnfoldParams {
        n0: u32,
        ci: u32,
        h: u32,
        w: u32,
        ho: u32,
        wo: u32,
        kh: u32,
        kw: u32,
        sh: u32,
        sw: u32,
        ph: u32,
        pw: u32,
        tap_major: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// The most bytes of unfolded input one pass holds: a batch whose unfolded
/// input is larger runs in chunks of images.
pub const UNFOLD_BYTES: u64 = 64 << 20;

/// The 1x1 convolution over the unfolded input of `images` images of `g`
/// ([`conv2d_unfold`]): Ci·Kh·Kw input channels at the Ho×Wo output positions.
pub fn unfolded_geom(g: &Conv2dGeom, images: usize) -> Conv2dGeom {
    Conv2dGeom {
        n: images,
        cin: g.cin * g.kh * g.kw,
        h: g.ho(),
        w: g.wo(),
        cout: g.cout,
        kh: 1,
        kw: 1,
        sh: 1,
        sw: 1,
        ph: 0,
        pw: 0,
    }
}

/// Writes `col` [M, Ci·Kh·Kw, Ho, Wo], the unfolded input (im2col) of the M
/// images of `x` from image `n0`: the channel of tap (ky, kx) of input
/// channel ci (in `order`, [`Conv2dGeom::unfolded_channel`]) holds that tap at
/// every output position, zero where it falls in the padding. `g` over it
/// ([`unfolded_geom`]) is a 1x1 convolution with output y's images n0 .. n0 +
/// M and weights [Co, Ci·Kh·Kw]: `g`'s own reshaped (channel-major), or its
/// forward tiles with the taps outermost (tap-major,
/// [`conv2d_weight_tiles_tap_major`]).
pub fn conv2d_unfold(
    gpu: &Gpu,
    prog: &mut Program,
    col: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
    n0: usize,
    order: UnfoldOrder,
) -> Result<()> {
    g.validate()?;
    expect_shape("conv2d input", x, &g.x_shape())?;
    let taps = g.cin * g.kh * g.kw;
    let images = col.shape().first().copied().unwrap_or(0);
    expect_shape("unfolded input", col, &[images, taps, g.ho(), g.wo()])?;
    if images == 0 || n0 + images > g.n {
        return Err(Error::invalid(format!(
            "conv2d_unfold: images {n0} .. {} of a batch of {}",
            n0 + images,
            g.n
        )));
    }
    u32_of("unfolded input elements", col.len())?;
    u32_of("conv2d input elements", x.len())?;
    let p = UnfoldParams {
        n0: n0 as u32,
        ci: g.cin as u32,
        h: g.h as u32,
        w: g.w as u32,
        ho: g.ho() as u32,
        wo: g.wo() as u32,
        kh: g.kh as u32,
        kw: g.kw as u32,
        sh: g.sh as u32,
        sw: g.sw as u32,
        ph: g.ph as u32,
        pw: g.pw as u32,
        tap_major: (order == UnfoldOrder::TapMajor) as u32,
        ..Default::default()
    };
    let pixels = g.ho() * g.wo();
    // Invocations along a plane: a quad each, 4 (`QUADS`) for the vec4 kernel.
    let (k, per) = if pixels.is_multiple_of(4) {
        (&table::CONV2D_UNFOLD4, 4)
    } else {
        (&table::CONV2D_UNFOLD, 1)
    };
    let quads = pixels
        .div_ceil(4)
        .div_ceil(per)
        .div_ceil(k.width() as usize);
    let grid =
        crate::kernels::check_grid(gpu, k.entry, [quads as u64, taps as u64, images as u64])?;
    launch(gpu, prog, k, &p, &[Some(col), Some(x)], grid)?;
    Ok(())
}

/// Images per chunk where `gpu` runs the forward pass and the weight
/// gradient of `g` as 1x1 ones over its unfolded input
/// ([`conv2d_unfolded_forward`], [`conv2d_unfolded_weight`]), `None` where
/// it runs [`conv2d_direct`] and [`conv2d_direct_weight`]: on devices whose
/// 1x1 kernels share weights
/// through the subgroup ([`Pointwise::SharedWeights`]), for windows other
/// than 1x1 and the tiled 3x3 ones, as many images as [`UNFOLD_BYTES`] holds
/// where [`unfold_fits`] them.
pub fn unfold_chunk(gpu: &Gpu, g: &Conv2dGeom) -> Option<usize> {
    let params = ConvParams::new(g, 0).ok()?;
    if Pointwise::on(gpu) != Pointwise::SharedWeights
        || has_tiled_forward(g)
        || pointwise_fits(&params)
    {
        return None;
    }
    let image = 4 * (g.cin * g.kh * g.kw * g.ho() * g.wo()) as u64;
    let images = ((UNFOLD_BYTES / image.max(1)) as usize).min(g.n);
    unfold_fits(gpu, g, images).ok().map(|()| images)
}

/// Whether the unfolded passes of `g` can run `images` images at a time: at
/// least one, the unfolded input of that many within a binding, its Ci·Kh·Kw
/// planes within a grid dimension, and, in more than one chunk, y's images
/// starting where a binding may.
pub fn unfold_fits(gpu: &Gpu, g: &Conv2dGeom, images: usize) -> Result<()> {
    let limits = gpu.limits();
    let taps = g.cin * g.kh * g.kw;
    let col = 4 * (images * taps * g.ho() * g.wo()) as u64;
    let y_image = 4 * (g.cout * g.ho() * g.wo()) as u64;
    let align = limits.min_storage_buffer_offset_alignment as u64;
    let why = if images == 0 || images > g.n {
        format!("{images} images of a batch of {}", g.n)
    } else if col > limits.max_storage_buffer_binding_size {
        format!(
            "{col} bytes of unfolded input, more than a binding's {}",
            limits.max_storage_buffer_binding_size
        )
    } else if taps > limits.max_compute_workgroups_per_dimension as usize {
        format!("{taps} unfolded channels, more than a grid dimension holds")
    } else if images < g.n && !y_image.is_multiple_of(align) {
        format!(
            "an output image of {y_image} bytes, not a multiple of the {align} a binding starts at"
        )
    } else {
        return Ok(());
    };
    Err(Error::invalid(format!("conv2d unfolded {g:?}: {why}")))
}

/// The forward pass of `g` over its unfolded input, `images` images at a
/// time ([`unfold_fits`]): [`conv2d_unfold`] tap-major, then the 1x1 pass
/// ([`Pointwise::on`] the device; `Plain` needs output planes of whole
/// quads) over [`conv2d_weight_tiles_tap_major`]'s tiles. Each output sums
/// its terms in [`conv2d_direct`]'s order (ky, kx, ci), from zero, so the two
/// give the same bits.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_unfolded_forward(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    images: usize,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    check(g, y, x, w, b)?;
    unfold_fits(gpu, g, images)?;
    let taps = g.cin * g.kh * g.kw;
    let wt = scratch.take(gpu, &tap_major_tiles_shape(g))?;
    conv2d_weight_tiles_tap_major(gpu, prog, &wt, w, g)?;
    let wt1 = wt.reshape(&[taps, 1, 1, wt.len() / taps])?;
    let col = scratch.take(gpu, &[images, taps, g.ho(), g.wo()])?;
    let per_image = g.cout * g.ho() * g.wo();
    for n0 in (0..g.n).step_by(images) {
        let m = images.min(g.n - n0);
        let cols = col.view(0, &[m, taps, g.ho(), g.wo()])?;
        conv2d_unfold(gpu, prog, &cols, x, g, n0, UnfoldOrder::TapMajor)?;
        let g1 = unfolded_geom(g, m);
        let ys = y.view(n0 * per_image, &g1.y_shape())?;
        conv2d_pointwise(
            gpu,
            prog,
            &ys,
            &cols,
            &wt1,
            b,
            &g1,
            false,
            Pointwise::on(gpu),
        )?;
    }
    scratch.give(col);
    scratch.give(wt);
    Ok(())
}

/// The weight gradient of `g` over its unfolded input, `images` images at a
/// time ([`unfold_fits`]): [`conv2d_unfold`] channel-major, then
/// [`conv2d_pointwise_weight`] into dw read as [Co, Ci·Kh·Kw, 1, 1], each
/// later chunk's added to the first's. Needs [`has_subgroups`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_unfolded_weight(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
    images: usize,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    check(g, dy, x, dw, None)?;
    unfold_fits(gpu, g, images)?;
    let taps = g.cin * g.kh * g.kw;
    let dw1 = dw.reshape(&[g.cout, taps, 1, 1])?;
    let col = scratch.take(gpu, &[images, taps, g.ho(), g.wo()])?;
    // A later chunk's gradient, before it joins the first's.
    let chunk_dw = if images < g.n {
        Some(gpu.tensor(dw1.shape())?)
    } else {
        None
    };
    let per_image = g.cout * g.ho() * g.wo();
    for n0 in (0..g.n).step_by(images) {
        let m = images.min(g.n - n0);
        let cols = col.view(0, &[m, taps, g.ho(), g.wo()])?;
        conv2d_unfold(gpu, prog, &cols, x, g, n0, UnfoldOrder::ChannelMajor)?;
        let g1 = unfolded_geom(g, m);
        let dys = dy.view(n0 * per_image, &g1.y_shape())?;
        match (&chunk_dw, n0) {
            (Some(sum), 1..) => {
                conv2d_pointwise_weight(gpu, prog, sum, &dys, &cols, &g1)?;
                crate::kernels::elementwise::copy(gpu, prog, &dw1, sum, true)?;
            }
            _ => conv2d_pointwise_weight(gpu, prog, &dw1, &dys, &cols, &g1)?,
        }
    }
    scratch.give(col);
    Ok(())
}

/// Output pixels per invocation of the tiled 3x3 kernels, along a row.
const TILE_X: usize = 8;

/// True when the tiled kernels handle this convolution: 3x3, stride 1 or 2.
pub fn has_tiled_forward(g: &Conv2dGeom) -> bool {
    g.kh == 3 && g.kw == 3 && g.sh == g.sw && (g.sh == 1 || g.sh == 2)
}

impl Conv2dGeom {
    /// The padded input the tiled forward pass reads (with rows for whole
    /// bands of 4 output rows at stride 1, whichever [`Tiling`] runs).
    pub fn forward_pad(&self) -> PadGeom {
        let s = self.sh;
        let tiles_x = self.wo().div_ceil(TILE_X);
        let rows = if s == 1 { MAX_TILE_ROWS } else { 1 };
        // Rows read: s·oy + ky for oy < Ho rounded up to a band, ky < 3.
        // Columns: s·ox0 + 0 .. s·ox0 + 4·(2s + 1), except at stride 1 over
        // rows of at most 4 pixels: the pixels kept read columns 0 .. 5, the
        // folded tiles no more than 8, and what the other tilings read past
        // the row's 8 lands only in pixels past its end, which they drop. A
        // 4x4 plane's copy is then [6, 8], not [6, 12]: a third fewer values
        // for batch norm to store and for the texel copies to move.
        let hp = (self.h + 2 * self.ph).max((self.ho().next_multiple_of(rows) - 1) * s + 3);
        let need = if s == 1 && self.wo() <= 4 {
            8
        } else {
            s * TILE_X * (tiles_x - 1) + 4 * (2 * s + 1)
        };
        PadGeom {
            n: self.n,
            c: self.cin,
            h: self.h,
            w: self.w,
            hp,
            pitch: (self.w + 2 * self.pw).max(need).next_multiple_of(4),
            oy: self.ph,
            ox: self.pw,
            dil: 1,
        }
    }
}

params! {
    /// Mirrors `PadParams` of conv2d_tiled_prepare.wgsl.
    pub struct PadParams {
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        hp: u32,
        pitch: u32,
        oy: u32,
        ox: u32,
        dil: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// Writes the zero-padded (and dilated) copy of `x` that the tiled kernels read.
pub fn conv2d_pad(
    gpu: &Gpu,
    prog: &mut Program,
    xp: &Tensor,
    x: &Tensor,
    pg: &PadGeom,
) -> Result<()> {
    expect_shape("conv2d padded input", xp, &pg.shape())?;
    expect_shape("conv2d input", x, &[pg.n, pg.c, pg.h, pg.w])?;
    u32_of("padded input elements", xp.len())?;
    if !pg.pitch.is_multiple_of(4) || pg.dil == 0 {
        return Err(Error::invalid(format!(
            "conv2d_pad: pitch {} must be a multiple of 4 and dilation positive",
            pg.pitch
        )));
    }
    let p = PadParams {
        n: pg.n as u32,
        c: pg.c as u32,
        h: pg.h as u32,
        w: pg.w as u32,
        hp: pg.hp as u32,
        pitch: pg.pitch as u32,
        oy: pg.oy as u32,
        ox: pg.ox as u32,
        dil: pg.dil as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let k = if pg.ox == 1 && pg.dil == 1 && pg.w.is_multiple_of(4) {
        &table::CONV2D_PAD_SHIFT1
    } else {
        &table::CONV2D_PAD
    };
    launch(
        gpu,
        prog,
        k,
        &p,
        &[Some(xp), Some(x)],
        k.grid_1d(gpu, pg.n * pg.c * pg.hp)?,
    )?;
    Ok(())
}

params! {
    /// Mirrors `WeightParams` of conv2d_tiled_prepare.wgsl.
    pub struct WeightParams {
        co: u32,
        ci: u32,
        kh: u32,
        kw: u32,
        opad: u32,
        flags: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// Shape of the weight tiles: [Ci, Kh, Kw, Co8] forward, [Co, Kh, Kw, Ci8] for
/// the backward-data pass.
pub fn weight_tiles_shape(g: &Conv2dGeom, backward_data: bool) -> [usize; 4] {
    let (ins, outs) = if backward_data {
        (g.cout, g.cin)
    } else {
        (g.cin, g.cout)
    };
    [ins, g.kh, g.kw, outs.next_multiple_of(8)]
}

/// Writes the weights with the output channel innermost (and, for the
/// backward-data pass, input and output swapped and the window flipped).
pub fn conv2d_weight_tiles(
    gpu: &Gpu,
    prog: &mut Program,
    wt: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    backward_data: bool,
) -> Result<()> {
    conv2d_weight_tiles_with(gpu, prog, wt, w, g, backward_data, backward_data)
}

/// [`conv2d_weight_tiles`] choosing whether the backward-data window is flipped.
pub fn conv2d_weight_tiles_with(
    gpu: &Gpu,
    prog: &mut Program,
    wt: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    backward_data: bool,
    flip: bool,
) -> Result<()> {
    expect_shape("conv2d weight", w, &g.w_shape())?;
    let shape = weight_tiles_shape(g, backward_data);
    expect_shape("conv2d weight tiles", wt, &shape)?;
    let flags = backward_data as u32 | ((backward_data && !flip) as u32) << 1;
    launch_weight_tiles(gpu, prog, wt, w, g, shape[3], flags)
}

/// Records `conv2d_weight_tiles` of `g`'s weights `w` into `wt`, output
/// channels padded to `opad`, in the layout `flags` names.
fn launch_weight_tiles(
    gpu: &Gpu,
    prog: &mut Program,
    wt: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    opad: usize,
    flags: u32,
) -> Result<()> {
    let p = WeightParams {
        co: g.cout as u32,
        ci: g.cin as u32,
        kh: g.kh as u32,
        kw: g.kw as u32,
        opad: opad as u32,
        flags,
        _pad0: 0,
        _pad1: 0,
    };
    let k = &table::CONV2D_WEIGHT_TILES;
    launch(
        gpu,
        prog,
        k,
        &p,
        &[Some(wt), Some(w)],
        k.grid_1d(gpu, wt.len())?,
    )?;
    Ok(())
}

/// Writes the forward weight tiles of `g` with the taps outermost, wt [Kh,
/// Kw, Ci, Co8]: the weights of the 1x1 pass over the tap-major unfolded
/// input ([`UnfoldOrder::TapMajor`]).
pub fn conv2d_weight_tiles_tap_major(
    gpu: &Gpu,
    prog: &mut Program,
    wt: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    expect_shape("conv2d weight", w, &g.w_shape())?;
    let shape = tap_major_tiles_shape(g);
    expect_shape("conv2d tap-major weight tiles", wt, &shape)?;
    launch_weight_tiles(gpu, prog, wt, w, g, shape[3], 4)
}

/// The shape of [`conv2d_weight_tiles_tap_major`]'s tiles.
pub fn tap_major_tiles_shape(g: &Conv2dGeom) -> [usize; 4] {
    [g.kh, g.kw, g.cin, g.cout.next_multiple_of(8)]
}

/// Most output rows one invocation of a tiled stride-1 pass covers.
const MAX_TILE_ROWS: usize = 4;

/// How the tiled stride-1 pass covers its output: one row of 8 pixels of 8
/// channels per invocation, or 4 such rows (weights from a storage buffer, or
/// from a uniform one, with the input rows shared through the subgroup or
/// not). All sum every output in the same order, so all give the same bits;
/// which is faster depends on the adapter (CPU adapters: 4 rows, a quarter
/// of the invocations and of the weight loads, with uniform weights, which
/// lavapipe loads once per workgroup instead of once per lane, and shared
/// input rows; GPUs: one row, for register pressure), so it is chosen per
/// adapter and shape: the tuning table of `reslab bench --tune` (see
/// [`tuned`]), else [`default_variant`]. A pass that adds to its output
/// (a gradient's second term) runs the same kernel, its sums starting from
/// y's values (`FLAG_RESUME`), in every tiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiling {
    /// 8 channels × 8 pixels of one row.
    Row,
    /// 8 channels × 8 pixels × 4 rows.
    Rows4,
    /// `Rows4` reading the weights through a 64 KiB uniform binding, one
    /// dispatch per run of input channels whose weights fit in it
    /// ([`uniform_runs`]). Where it cannot run (smaller uniform limit, weight
    /// tiles without the window's room after them) `Rows4` runs instead.
    Rows4Uniform,
    /// `Rows4Uniform` with the lanes of a subgroup in groups of 2, 4 or 8
    /// ([`group_lanes`]) over as many runs of 8 output channels of one tile:
    /// each lane loads a share of the tile's input rows and takes the rest
    /// from the others through subgroup shuffles (on lavapipe, where every
    /// storage load is a loop over the lanes, 1.2–2.1x as fast as
    /// `Rows4Uniform`). Where the device has no subgroups ([`has_subgroups`])
    /// or Co8 / 8 is odd, `Rows4Uniform` runs instead.
    Rows4Subgroup,
    /// `Rows4Subgroup` reading the input as texels
    /// ([`Binding::Texels`](table::Binding::Texels)), copied into a texture
    /// before each pass; where lanes cannot form groups, `Rows4Uniform`
    /// reading texels. The storage kernels where the input is too large for
    /// the device's textures.
    Rows4SubgroupTexels,
    /// `Rows4SubgroupTexels` over tiles of [`EIGHT_ROWS`] output rows: ten
    /// input rows loaded and shared per input channel for eight output rows
    /// instead of six for four, and half the tiles' fixed costs. Only where
    /// that computes no more rows than 4-row tiles ([`eight_rows_fit`]) and
    /// the pass reads its weights through one uniform window or from storage
    /// (a three-window pipeline of 8-row tiles took lavapipe over three times
    /// as long to create); elsewhere, and where lanes cannot form groups, it
    /// runs as `Rows4SubgroupTexels`.
    Rows8SubgroupTexels,
}

/// How a tiled stride-1 pass's kernel covers its tile's rows (its pipeline
/// constants `FOLDED` and `ROWS8`, shared/conv_tile.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TileShape {
    /// As the kernel's tile (1 or 4 rows).
    Rows4,
    /// Two rows of at most 4 pixels in one accumulator.
    Folded,
    /// Two 4-row tiles a lane.
    Rows8,
}

impl TileShape {
    /// The pipeline constants: these, `VEC4_ROWS` where rows are whole vec4s
    /// and `WINDOWS` where a pass reads several weight windows.
    fn constants(self, vec4_rows: bool, windows: bool) -> &'static [(&'static str, u32)] {
        const W: u32 = WINDOWS as u32;
        match (self, vec4_rows, windows) {
            (TileShape::Rows4, true, true) => &[("VEC4_ROWS", 1), ("WINDOWS", W)],
            (TileShape::Rows4, true, false) => &[("VEC4_ROWS", 1)],
            (TileShape::Rows4, false, true) => &[("WINDOWS", W)],
            (TileShape::Rows4, false, false) => &[],
            (TileShape::Folded, true, true) => &[("VEC4_ROWS", 1), ("WINDOWS", W), ("FOLDED", 1)],
            (TileShape::Folded, true, false) => &[("VEC4_ROWS", 1), ("FOLDED", 1)],
            (TileShape::Folded, false, true) => &[("WINDOWS", W), ("FOLDED", 1)],
            (TileShape::Folded, false, false) => &[("FOLDED", 1)],
            (TileShape::Rows8, true, true) => &[("VEC4_ROWS", 1), ("WINDOWS", W), ("ROWS8", 1)],
            (TileShape::Rows8, true, false) => &[("VEC4_ROWS", 1), ("ROWS8", 1)],
            (TileShape::Rows8, false, true) => &[("WINDOWS", W), ("ROWS8", 1)],
            (TileShape::Rows8, false, false) => &[("ROWS8", 1)],
        }
    }
}

/// Output rows of [`Tiling::Rows8SubgroupTexels`]'s tiles (`ROWS8` in
/// shared/conv_tile.wgsl).
pub const EIGHT_ROWS: usize = 2 * MAX_TILE_ROWS;

/// Whether [`Tiling::Rows8SubgroupTexels`] runs `g`'s pass in tiles of
/// [`EIGHT_ROWS`] rows, with `lanes` lanes a tile in workgroups of `width`: output rows
/// wider than 4 pixels, and no more rows computed than in tiles of 4,
/// counting the rows past the output (a last band of 8 that ends past it,
/// as at a height of 12) and the lanes a part-empty workgroup spends on
/// copies of its last tile (at 7x7, batch 2, and 8 lanes a tile: 2 tiles of
/// 8 rows in a workgroup of 32 lanes, where 4 tiles of 4 fill it).
pub fn eight_rows_fit(g: &Conv2dGeom, lanes: usize, width: usize) -> bool {
    let rows_run = |rows: usize| {
        let tiles = g.n * g.ho().div_ceil(rows) * g.wo().div_ceil(TILE_X);
        (tiles * lanes).div_ceil(width) * width * rows
    };
    g.wo() > 4 && rows_run(EIGHT_ROWS) <= rows_run(MAX_TILE_ROWS)
}

/// Lanes per group of [`Tiling::Rows4Subgroup`] for `co8` output channels
/// (a multiple of 8): the most of 8, 4, 2 dividing the runs of 8 channels.
pub fn group_lanes(co8: usize) -> Option<usize> {
    [8, 4, 2].into_iter().find(|l| (co8 / 8).is_multiple_of(*l))
}

impl Tiling {
    /// Its kernel for `co8` output channels on `gpu`, `texels`: whether the
    /// input fits the device's textures; the tiling that runs; and the lanes
    /// sharing a tile.
    fn kernel(
        self,
        gpu: &Gpu,
        co8: usize,
        texels: bool,
    ) -> (&'static table::Kernel<TiledParams>, Tiling, usize) {
        use Tiling::*;
        let lanes = group_lanes(co8).filter(|_| has_subgroups(gpu));
        match (self, lanes) {
            (Row, _) => (&table::CONV2D_FORWARD_TILED_S1, Row, 1),
            (Rows4, _) => (&table::CONV2D_FORWARD_TILED_S1_R4, Rows4, 1),
            (Rows4SubgroupTexels | Rows8SubgroupTexels, Some(l)) if texels => {
                let k = match l {
                    8 => &table::CONV2D_FORWARD_TILED_S1_R4SG8_TEX,
                    4 => &table::CONV2D_FORWARD_TILED_S1_R4SG4_TEX,
                    _ => &table::CONV2D_FORWARD_TILED_S1_R4SG2_TEX,
                };
                (k, Rows4SubgroupTexels, l)
            }
            (Rows4Subgroup | Rows4SubgroupTexels | Rows8SubgroupTexels, Some(l)) => {
                let k = match l {
                    8 => &table::CONV2D_FORWARD_TILED_S1_R4SG8,
                    4 => &table::CONV2D_FORWARD_TILED_S1_R4SG4,
                    _ => &table::CONV2D_FORWARD_TILED_S1_R4SG2,
                };
                (k, Rows4Subgroup, l)
            }
            (Rows4SubgroupTexels | Rows8SubgroupTexels, None) if texels => (
                &table::CONV2D_FORWARD_TILED_S1_R4U_TEX,
                Rows4SubgroupTexels,
                1,
            ),
            (Rows4Uniform | Rows4Subgroup | Rows4SubgroupTexels | Rows8SubgroupTexels, _) => {
                (&table::CONV2D_FORWARD_TILED_S1_R4U, Rows4Uniform, 1)
            }
        }
    }

    /// Output rows one invocation covers.
    pub fn rows(self) -> usize {
        match self {
            Tiling::Row => 1,
            _ => MAX_TILE_ROWS,
        }
    }
}

/// How the stride-2 tiled forward reads its weights: from a storage buffer,
/// or through a 64 KiB uniform window in runs of input channels as
/// [`Tiling::Rows4Uniform`] (storage where the window cannot run), and with
/// that its input rows shared by groups of lanes as [`Tiling::Rows4Subgroup`]
/// (uniform where that cannot run). The same bits every way; the tuning table
/// chooses, else [`default_variant`] (CPU adapters: subgroups); a pass that
/// adds to its output starts from y's values as [`Tiling`]'s do. `SubgroupTexels` is `Subgroup` (or,
/// where lanes cannot form groups, `Uniform`) reading the input as texels
/// (the storage kernel where it is too large for the device's textures).
/// The stride-2 backward-data pass follows its conv's choice, with its dy
/// shared by groups of lanes over runs of input channels for `Subgroup` and
/// `SubgroupTexels` (read as texels there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S2Tiling {
    Storage,
    Uniform,
    Subgroup,
    SubgroupTexels,
}

impl Variant for S2Tiling {
    const ALL: &'static [S2Tiling] = &[
        S2Tiling::Storage,
        S2Tiling::Uniform,
        S2Tiling::Subgroup,
        S2Tiling::SubgroupTexels,
    ];
    const PASS: &'static str = "conv2d_forward_tiled_s2";

    /// The entry point (`Subgroup`: the stem of its three).
    fn name(self) -> &'static str {
        match self {
            S2Tiling::Storage => table::CONV2D_FORWARD_TILED_S2.entry,
            S2Tiling::Uniform => table::CONV2D_FORWARD_TILED_S2U.entry,
            S2Tiling::Subgroup => "conv2d_forward_tiled_s2sg",
            S2Tiling::SubgroupTexels => "conv2d_forward_tiled_s2sg_tex",
        }
    }
}

/// Output rows of the grouped stride-2 forward tile ([`S2Tiling::Subgroup`]
/// and its texel twin; `S2_ROWS` in shared/conv_lanes.wgsl): two, which
/// share the middle one of their five input rows.
const S2_GROUP_ROWS: usize = 2;

/// Most runs of uniform weight windows a grouped tiled forward pass
/// ([`Tiling::Rows4Subgroup`], [`S2Tiling::Subgroup`] and their texel twins)
/// takes: past them its storage twin ([`storage_twin`]) reads every input
/// channel's weights in one dispatch. Each dispatch of up to [`WINDOWS`]
/// runs reads and writes all of y again.
pub const GROUPED_RUNS: usize = 12;

/// The twin of grouped tiled forward kernel `k` reading its weights from
/// storage (the same sums in the same order: the same bits), if it has one.
pub fn storage_twin(k: &table::Kernel<TiledParams>) -> Option<&'static table::Kernel<TiledParams>> {
    twin_in(&FORWARD_STORAGE_TWINS, k)
}

/// The grouped tiled forward kernels and their storage twins.
static FORWARD_STORAGE_TWINS: [(table::Kernel<TiledParams>, table::Kernel<TiledParams>); 12] = {
    use table::*;
    [
        (
            CONV2D_FORWARD_TILED_S1_R4SG2,
            CONV2D_FORWARD_TILED_S1_R4SG2_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S1_R4SG4,
            CONV2D_FORWARD_TILED_S1_R4SG4_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S1_R4SG8,
            CONV2D_FORWARD_TILED_S1_R4SG8_ST,
        ),
        (CONV2D_FORWARD_TILED_S2SG2, CONV2D_FORWARD_TILED_S2SG2_ST),
        (CONV2D_FORWARD_TILED_S2SG4, CONV2D_FORWARD_TILED_S2SG4_ST),
        (CONV2D_FORWARD_TILED_S2SG8, CONV2D_FORWARD_TILED_S2SG8_ST),
        (
            CONV2D_FORWARD_TILED_S1_R4SG2_TEX,
            CONV2D_FORWARD_TILED_S1_R4SG2_TEX_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S1_R4SG4_TEX,
            CONV2D_FORWARD_TILED_S1_R4SG4_TEX_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S1_R4SG8_TEX,
            CONV2D_FORWARD_TILED_S1_R4SG8_TEX_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S2SG2_TEX,
            CONV2D_FORWARD_TILED_S2SG2_TEX_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S2SG4_TEX,
            CONV2D_FORWARD_TILED_S2SG4_TEX_ST,
        ),
        (
            CONV2D_FORWARD_TILED_S2SG8_TEX,
            CONV2D_FORWARD_TILED_S2SG8_TEX_ST,
        ),
    ]
};

/// The second of the pair in `pairs` whose first is `k` (the same module
/// and entry point).
fn twin_in<P>(
    pairs: &'static [(table::Kernel<P>, table::Kernel<P>)],
    k: &table::Kernel<P>,
) -> Option<&'static table::Kernel<P>> {
    pairs
        .iter()
        .find(|(first, _)| std::ptr::eq(first.module, k.module) && first.entry == k.entry)
        .map(|(_, twin)| twin)
}

/// Most uniform windows of weights one tiled forward pass reads (the grouped
/// passes, [`Tiling::Rows4Subgroup`] and [`S2Tiling::Subgroup`] with their
/// texel twins: shared/conv_windows.wgsl).
pub const WINDOWS: usize = 3;

/// Uniform windows of weights `k` reads in one pass: [`WINDOWS`] for the
/// grouped tiled forward passes, else 1.
pub fn windows(k: &table::Kernel<TiledParams>) -> usize {
    k.bindings
        .iter()
        .filter(|b| **b == table::Binding::Uniform)
        .count()
        .max(1)
}

/// Room a tensor of weight tiles keeps after it in its buffer, in elements,
/// so that a [`Tiling::Rows4Uniform`] window from any of its input channels
/// stays inside the buffer.
pub const WEIGHT_TILES_ROOM: usize = (table::UNIFORM_WINDOW_BYTES / 4) as usize;

/// A scratch tensor for weight tiles of `shape` with [`WEIGHT_TILES_ROOM`]
/// after it (a view of a larger one).
pub fn weight_tiles_tensor(
    gpu: &Gpu,
    scratch: &mut (impl Scratch + ?Sized),
    shape: &[usize],
) -> Result<Tensor> {
    scratch
        .take(gpu, &[numel(shape) + WEIGHT_TILES_ROOM])?
        .view(0, shape)
}

/// What [`weight_tiles_tensor`] took for `wt`: the tiles and the room after
/// them, as the flat tensor a scratch gets back.
pub fn weight_tiles_allocation(wt: Tensor) -> Tensor {
    match wt.window(0, wt.len() + WEIGHT_TILES_ROOM) {
        Some(all) => all,
        None => wt,
    }
}

/// The runs of input channels of a [`Tiling::Rows4Uniform`] pass over the
/// weight tiles `wt` ([Ci, 3, 3, Co8]): (first channel, channels, the 64 KiB
/// window from the first channel's weights). Each run's weights fit in the
/// window, and each window starts where the device's uniform offset
/// alignment allows. `None` where the pass cannot run: the device's uniform
/// bindings are smaller, one channel's weights do not fit, a window would run
/// past the buffer, or the tiles start unaligned.
pub fn uniform_runs(gpu: &Gpu, wt: &Tensor) -> Option<Vec<(usize, usize, Tensor)>> {
    let l = gpu.limits();
    if l.max_uniform_buffer_binding_size < table::UNIFORM_WINDOW_BYTES {
        return None;
    }
    let &[ci, kh, kw, co8] = wt.shape() else {
        return None;
    };
    let per_channel = kh * kw * co8;
    let window = WEIGHT_TILES_ROOM;
    let align = l.min_uniform_buffer_offset_alignment as u64;
    if !wt.offset().is_multiple_of(align) || per_channel == 0 {
        return None;
    }
    // The most channels whose weights fit, fewer until a run's bytes keep
    // the next window aligned.
    let mut run = (window / per_channel).min(ci);
    while run > 0 && run < ci && !(4 * (run * per_channel) as u64).is_multiple_of(align) {
        run -= 1;
    }
    if run == 0 {
        return None;
    }
    (0..ci)
        .step_by(run)
        .map(|c0| Some((c0, run.min(ci - c0), wt.window(c0 * per_channel, window)?)))
        .collect()
}

/// Variants of a pass that compute the same bits at speeds that depend on the
/// adapter ([`Tiling`], [`WgradTiling`], [`S2Tiling`], [`S2Wgrad`]): which one runs a shape is the tuning
/// table's choice ([`tuned`]), else [`default_variant`].
pub trait Variant: Copy + PartialEq + std::fmt::Debug + 'static {
    /// Every variant: the one for GPUs first, the one for CPU adapters last.
    const ALL: &'static [Self];
    /// The pass, as the tuning table's keys name it.
    const PASS: &'static str;

    /// Its entry point, which is also its name in the tuning table.
    fn name(self) -> &'static str;

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

impl Variant for Tiling {
    const ALL: &'static [Tiling] = &[
        Tiling::Row,
        Tiling::Rows4,
        Tiling::Rows4Uniform,
        Tiling::Rows4Subgroup,
        Tiling::Rows4SubgroupTexels,
        Tiling::Rows8SubgroupTexels,
    ];
    const PASS: &'static str = "conv2d_forward_tiled_s1";

    /// The entry point (`Rows4Subgroup`: the stem of its three).
    fn name(self) -> &'static str {
        match self {
            Tiling::Row => table::CONV2D_FORWARD_TILED_S1.entry,
            Tiling::Rows4 => table::CONV2D_FORWARD_TILED_S1_R4.entry,
            Tiling::Rows4Uniform => table::CONV2D_FORWARD_TILED_S1_R4U.entry,
            Tiling::Rows4Subgroup => "conv2d_forward_tiled_s1_r4sg",
            Tiling::Rows4SubgroupTexels => "conv2d_forward_tiled_s1_r4sg_tex",
            Tiling::Rows8SubgroupTexels => "conv2d_forward_tiled_s1_r8sg_tex",
        }
    }
}

/// The key of `g`'s pass `V` in the tuning table: the pass and the shape, the
/// batch aside (`reslab bench --tune` measures at one batch size).
pub fn variant_key<V: Variant>(g: &Conv2dGeom) -> String {
    format!(
        "{} {}->{} {}x{} pad {}",
        V::PASS,
        g.cin,
        g.cout,
        g.h,
        g.w,
        g.ph
    )
}

/// What runs `g`'s pass `V` on `gpu`: the tuning table's choice for the
/// shape, else [`default_variant`].
pub fn tuned<V: Variant>(gpu: &Gpu, g: &Conv2dGeom) -> Result<V> {
    let name = gpu.tuned(&variant_key::<V>(g))?;
    Ok(name
        .and_then(|n| V::from_name(&n))
        .unwrap_or_else(|| default_variant(gpu)))
}

/// The variant used where nothing was measured: on a CPU adapter the one
/// with the most work per invocation (measured 1.3–2.3 times as fast on
/// lavapipe), on any other the smallest (register pressure).
pub fn default_variant<V: Variant>(gpu: &Gpu) -> V {
    let all = V::ALL;
    if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
        all[all.len() - 1]
    } else {
        all[0]
    }
}

/// How many output channels one invocation of the tiled stride-1 weight
/// gradient sums for: 4, or 8 (twice the sums per load, which CPU adapters
/// run faster), or 8 or 16 with dy shared through the subgroup (one load per
/// lane where the others load each of the 8 vectors in every lane; 16: twice
/// the sums per input row loaded), the last two those with dy and the input
/// read as texels. All sum every weight in the same order: the same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WgradTiling {
    Channels4,
    Channels8,
    /// `Channels8` with subgroup broadcasts: where [`has_subgroups`]; else
    /// `Channels8` runs instead.
    Channels8Subgroup,
    /// `Channels8Subgroup` over 16 output channels: twice the sums per input
    /// row loaded. Where there are no subgroups `Channels8` runs instead.
    Channels16Subgroup,
    /// `Channels8Subgroup` reading dy and the padded input as texels
    /// ([`Binding::Texels`](table::Binding::Texels)), each copied into a
    /// texture first: on lavapipe a texel load costs a fraction of a storage
    /// load. `Channels8Subgroup` where the tensors are too large for the
    /// device's textures.
    Channels8SubgroupTexels,
    /// `Channels16Subgroup` reading texels as `Channels8SubgroupTexels`.
    Channels16SubgroupTexels,
}

impl WgradTiling {
    fn kernel(self) -> &'static table::Kernel<WgradParams> {
        match self {
            WgradTiling::Channels4 => &table::CONV2D_BACKWARD_WEIGHT_TILED_S1,
            WgradTiling::Channels8 => &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8,
            WgradTiling::Channels8Subgroup => &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG,
            WgradTiling::Channels16Subgroup => &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG,
            WgradTiling::Channels8SubgroupTexels => {
                &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_TEX
            }
            WgradTiling::Channels16SubgroupTexels => {
                &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_TEX
            }
        }
    }

    pub fn channels(self) -> usize {
        match self {
            WgradTiling::Channels4 => 4,
            WgradTiling::Channels8
            | WgradTiling::Channels8Subgroup
            | WgradTiling::Channels8SubgroupTexels => 8,
            WgradTiling::Channels16Subgroup | WgradTiling::Channels16SubgroupTexels => 16,
        }
    }

    /// The tiling that runs on `gpu` in its place for `g`, dy and the padded
    /// input xp: without subgroups `Channels8`; reading storage where the
    /// tensors are too large for texels; 8 channels where `g` has no more
    /// (the same sums, none of them dropped).
    fn on(self, gpu: &Gpu, g: &Conv2dGeom, dy: &Tensor, xp: &Tensor) -> WgradTiling {
        use WgradTiling::*;
        let t = match self {
            Channels8Subgroup
            | Channels16Subgroup
            | Channels8SubgroupTexels
            | Channels16SubgroupTexels
                if !has_subgroups(gpu) =>
            {
                return Channels8;
            }
            Channels8SubgroupTexels if !texels_fit(gpu, &[dy, xp]) => Channels8Subgroup,
            Channels16SubgroupTexels if !texels_fit(gpu, &[dy, xp]) => Channels16Subgroup,
            t => t,
        };
        match t {
            Channels16Subgroup if g.cout <= 8 => Channels8Subgroup,
            Channels16SubgroupTexels if g.cout <= 8 => Channels8SubgroupTexels,
            t => t,
        }
    }
}

/// Whether every tensor of `ts` can be read as texels on `gpu`: each fits
/// its textures, and the kernel may bind as many storage textures.
pub(crate) fn texels_fit(gpu: &Gpu, ts: &[&Tensor]) -> bool {
    let l = gpu.limits();
    ts.len() as u64 <= u64::from(l.max_storage_textures_per_shader_stage)
        && ts
            .iter()
            .all(|t| crate::device::texels::check("", t, l.max_texture_dimension_2d).is_ok())
}

/// The stride-2 tiled weight gradient's kernels: 4 output channels per
/// invocation, 8 or 16 with dy shared through subgroups (16: twice the sums
/// per input row loaded, as [`WgradTiling::Channels16Subgroup`]), and those
/// reading dy and the input as texels. All the same sums in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S2Wgrad {
    Channels4,
    /// Where [`has_subgroups`]; else `Channels4`.
    Channels8Subgroup,
    /// Where the tensors fit the device's textures; else `Channels8Subgroup`.
    Channels8SubgroupTexels,
    /// `Channels8Subgroup` over 16 output channels (8 where the conv has no
    /// more); `Channels4` without subgroups.
    Channels16Subgroup,
    /// `Channels16Subgroup` reading texels as `Channels8SubgroupTexels`.
    Channels16SubgroupTexels,
}

impl Variant for S2Wgrad {
    const ALL: &'static [S2Wgrad] = &[
        S2Wgrad::Channels4,
        S2Wgrad::Channels8Subgroup,
        S2Wgrad::Channels8SubgroupTexels,
        S2Wgrad::Channels16Subgroup,
        S2Wgrad::Channels16SubgroupTexels,
    ];
    const PASS: &'static str = "conv2d_backward_weight_tiled_s2";

    /// The entry point (the texel module's has the same one: `_tex` added).
    fn name(self) -> &'static str {
        match self {
            S2Wgrad::Channels4 => table::CONV2D_BACKWARD_WEIGHT_TILED_S2.entry,
            S2Wgrad::Channels8Subgroup => table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG.entry,
            S2Wgrad::Channels8SubgroupTexels => "conv2d_backward_weight_tiled_s2_c8sg_tex",
            S2Wgrad::Channels16Subgroup => table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG.entry,
            S2Wgrad::Channels16SubgroupTexels => "conv2d_backward_weight_tiled_s2_c16sg_tex",
        }
    }
}

impl S2Wgrad {
    /// The kernel that runs on `gpu` in its place for `g`, dy and xp, and its
    /// output channels per invocation.
    fn on(
        self,
        gpu: &Gpu,
        g: &Conv2dGeom,
        dy: &Tensor,
        xp: &Tensor,
    ) -> (&'static table::Kernel<WgradParams>, usize) {
        use S2Wgrad::*;
        let texels = texels_fit(gpu, &[dy, xp]);
        let wide = g.cout > 8;
        match self {
            Channels4 => (&table::CONV2D_BACKWARD_WEIGHT_TILED_S2, 4),
            _ if !has_subgroups(gpu) => (&table::CONV2D_BACKWARD_WEIGHT_TILED_S2, 4),
            Channels16SubgroupTexels if texels && wide => {
                (&table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_TEX, 16)
            }
            Channels16Subgroup | Channels16SubgroupTexels if wide => {
                (&table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG, 16)
            }
            Channels8SubgroupTexels | Channels16SubgroupTexels if texels => {
                (&table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_TEX, 8)
            }
            _ => (&table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG, 8),
        }
    }
}

/// The weight-gradient subgroup kernels and their `_w8` twins, which run
/// workgroups of 8 input channels instead of 16.
const WGRAD_NARROW: [(&table::Kernel<WgradParams>, &table::Kernel<WgradParams>); 8] = [
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_TEX,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C8SG_TEX_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_TEX,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S1_C16SG_TEX_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_TEX,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C8SG_TEX_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_W8,
    ),
    (
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_TEX,
        &table::CONV2D_BACKWARD_WEIGHT_TILED_S2_C16SG_TEX_W8,
    ),
];

/// `k`'s `_w8` twin where it has one, for convolutions of at most 8 input
/// channels: a subgroup kernel's lanes past the input channels run on (every
/// lane takes part in the broadcasts), and in workgroups of 16 half of them
/// would. The same invocations' sums: the same bits. Kernels without a twin
/// return their lanes past the channels at once.
fn wgrad_narrow(k: &'static table::Kernel<WgradParams>) -> &'static table::Kernel<WgradParams> {
    WGRAD_NARROW
        .iter()
        .find(|(wide, _)| wide.entry == k.entry && wide.module.name == k.module.name)
        .map_or(k, |(_, narrow)| *narrow)
}

/// Whether `gpu` runs the subgroup kernels: the device has subgroups, of at
/// least 8 invocations (they broadcast from lanes 0..7).
pub fn has_subgroups(gpu: &Gpu) -> bool {
    gpu.features().contains(wgpu::Features::SUBGROUP) && gpu.adapter_info().subgroup_min_size >= 8
}

impl Variant for WgradTiling {
    const ALL: &'static [WgradTiling] = &[
        WgradTiling::Channels4,
        WgradTiling::Channels8,
        WgradTiling::Channels8Subgroup,
        WgradTiling::Channels16Subgroup,
        WgradTiling::Channels8SubgroupTexels,
        WgradTiling::Channels16SubgroupTexels,
    ];
    const PASS: &'static str = "conv2d_backward_weight_tiled_s1";

    /// The entry point (the texel kernels: with a suffix, their entry points
    /// having the storage kernels' names in another module).
    fn name(self) -> &'static str {
        match self {
            WgradTiling::Channels8SubgroupTexels => "conv2d_backward_weight_tiled_s1_c8sg_tex",
            WgradTiling::Channels16SubgroupTexels => "conv2d_backward_weight_tiled_s1_c16sg_tex",
            t => t.kernel().entry,
        }
    }
}

params! {
    /// Mirrors `BatchParams` of conv2d_tiled_prepare.wgsl and
    /// conv2d_backward_weight_tiled.wgsl: the jobs of a batched pass.
    pub struct BatchParams {
        jobs: u32,
        total: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// One convolution's weight tiles in a batch (see [`conv2d_weight_tiles_batch`]):
/// its weights, a range of the flat tensor the batch reads, and the layout
/// [`conv2d_weight_tiles_with`] would write.
#[derive(Clone)]
pub struct TileJob {
    pub w: Tensor,
    pub g: Conv2dGeom,
    pub backward_data: bool,
    pub flip: bool,
}

/// The weight tiles [`conv2d_backward_data`] reads for `g`: `Some(flip)`, or
/// `None` where it runs the reference kernel, which reads the weights as they are.
pub fn backward_data_tiles(g: &Conv2dGeom) -> Option<bool> {
    if backward_data_s2_pad(g).is_some() {
        Some(false)
    } else if backward_data_plan(g).is_some() || (g.ph < g.kh && g.pw < g.kw) {
        Some(true)
    } else {
        None
    }
}

/// Job fields per job in the table the kernel reads.
const JOB_FIELDS: usize = 12;

/// Elements of tiles one invocation of a job in runs writes (`RUN` in
/// conv2d_tiled_prepare.wgsl).
const TILE_RUN: usize = 16;

/// Input channels of a block of the batched weight tiles pass
/// (`BLOCK_CI` in conv2d_tiled_prepare.wgsl).
const TILE_BLOCK_CI: usize = 16;

/// Whether the batched pass writes `j`'s tiles in blocks of vec4s
/// (conv2d_tiled_prepare.wgsl's `forward_block`, `backward_block`): a 1x1
/// or 3x3 window, channel counts of a multiple of 16 (tiles without padding)
/// and weights `src` elements into the batch's source, a multiple of 4; and
/// its invocations (blocks, else runs of 16 elements).
pub fn tile_blocks(j: &TileJob, src: usize) -> (bool, usize) {
    let g = &j.g;
    let taps = g.kh * g.kw;
    let blocks = (taps == 1 || (g.kh == 3 && g.kw == 3))
        && g.cin.is_multiple_of(TILE_BLOCK_CI)
        && g.cout.is_multiple_of(16)
        && src.is_multiple_of(4);
    let invocations = match (blocks, j.backward_data) {
        (true, false) => g.cout / 16 * (g.cin / TILE_BLOCK_CI),
        // 1x1: the weights as they are, 64 values a block.
        (true, true) if taps == 1 => g.cout * g.cin / 64,
        (true, true) => g.cout * (g.cin / TILE_BLOCK_CI),
        (false, _) => numel(&weight_tiles_shape(g, j.backward_data)).div_ceil(TILE_RUN),
    };
    (blocks, invocations)
}

/// The weight tiles of every job in as few dispatches as the binding limits
/// allow (one for the CIFAR nets; under WebGPU's 128 MiB bindings two for
/// ResNet-50's training, more for the deepest): each job's tiles are a view,
/// aligned to the device's storage offset alignment, of one buffer per
/// dispatch. `weights` is the flat tensor
/// every job's `w` is a view of. Returns the views in the jobs' order.
pub fn conv2d_weight_tiles_batch(
    gpu: &Gpu,
    prog: &mut Program,
    weights: &Tensor,
    jobs: &[TileJob],
) -> Result<Vec<Tensor>> {
    let limits = gpu.limits();
    // Jobs start at multiples of 64 elements (the kernel's runs of 16 never
    // cross into the next job) and of the storage offset alignment (views).
    let align = (limits.min_storage_buffer_offset_alignment as usize / 4).max(64);
    let max_binding = (limits.max_storage_buffer_binding_size / 4) as usize;
    let mut out = Vec::with_capacity(jobs.len());
    // Each round makes one group of consecutive jobs, from `start`.
    let mut start = 0;
    while start < jobs.len() {
        // Source positions are in elements of `weights`.
        let src_of = |j: &TileJob| -> Result<usize> {
            if !j.w.lies_within(weights) {
                return Err(Error::invalid(
                    "conv2d_weight_tiles_batch: a job's weights are not a range of the batch's tensor",
                ));
            }
            Ok(((j.w.offset() - weights.offset()) / 4) as usize)
        };
        let src0 = src_of(&jobs[start])? / align * align;
        let (mut dst, mut end, mut src_end) = (Vec::new(), 0usize, src0);
        let mut next = start;
        while next < jobs.len() {
            let j = &jobs[next];
            expect_shape("conv2d weight", &j.w, &j.g.w_shape())?;
            let len = numel(&weight_tiles_shape(&j.g, j.backward_data));
            let at = end.next_multiple_of(align);
            let s = src_of(j)?;
            let fits = at + len <= max_binding && s >= src0 && s + j.w.len() - src0 <= max_binding;
            if !fits {
                if next == start {
                    return Err(Error::BindingTooLarge {
                        what: format!("the weight tiles of a conv {:?}", j.g),
                        bytes: 4 * len as u64,
                        limit: limits.max_storage_buffer_binding_size,
                    });
                }
                break;
            }
            dst.push(at);
            end = at + len;
            src_end = src_end.max(s + j.w.len());
            next += 1;
        }
        let group = &jobs[start..next];
        // Room after the last job's tiles for a uniform window over them.
        let tiles = gpu.tensor(&[end + WEIGHT_TILES_ROOM])?.view(0, &[end])?;
        let mut table = Vec::with_capacity(JOB_FIELDS * group.len());
        let mut invocations = 0usize;
        for (j, &at) in group.iter().zip(&dst) {
            let shape = weight_tiles_shape(&j.g, j.backward_data);
            let opad = u32_of("conv2d weight tiles' channels", shape[3])?;
            if opad > 0xffff {
                return Err(Error::invalid(format!(
                    "conv2d_weight_tiles_batch: {opad} channels, more than a job holds"
                )));
            }
            let flags = j.backward_data as u32 | ((j.backward_data && !j.flip) as u32) << 1;
            let src = src_of(j)? - src0;
            let (blocks, count) = tile_blocks(j, src);
            table.extend([
                u32_of("weight tiles offset", at)?,
                u32_of("weight tiles length", numel(&shape))?,
                u32_of("weights offset", src)?,
                j.g.cout as u32,
                j.g.cin as u32,
                j.g.kh as u32,
                j.g.kw as u32,
                opad | flags << 16,
                u32_of("weight tiles invocations", invocations)?,
                blocks as u32,
                0,
                0,
            ]);
            invocations += count;
            out.push(tiles.view(at, &shape)?);
        }
        let table_t = gpu.tensor(&[table.len()])?;
        gpu.write_u32(&table_t, &table)?;
        let source = weights.view(src0, &[src_end - src0])?;
        // The source again as vec4s: its whole vec4s (every block's weights
        // lie in them), or 4 values from its start past a shorter one's end.
        let quads = source.len() / 4 * 4;
        let source4 = match quads {
            0 => source.window(0, 4).ok_or_else(|| {
                Error::invalid(
                    "conv2d_weight_tiles_batch: weights shorter than a vec4 at a buffer's end",
                )
            })?,
            _ => source.view(0, &[quads])?,
        };
        let p = BatchParams {
            jobs: group.len() as u32,
            total: u32_of("weight tiles invocations", invocations)?,
            _pad0: 0,
            _pad1: 0,
        };
        launch(
            gpu,
            prog,
            &table::CONV2D_WEIGHT_TILES_BATCH,
            &p,
            &[Some(&tiles), Some(&source), Some(&table_t), Some(&source4)],
            table::CONV2D_WEIGHT_TILES_BATCH.grid_1d(gpu, invocations)?,
        )?;
        start = next;
    }
    Ok(out)
}

params! {
    /// Mirrors `TiledParams` of conv2d_forward_tiled.wgsl.
    pub struct TiledParams {
        n: u32,
        ci: u32,
        hp: u32,
        pitch: u32,
        co: u32,
        co8: u32,
        ho: u32,
        wo: u32,
        tiles_x: u32,
        flags: u32,
        // The first input channel and how many: all of them but in the
        // runs of `Tiling::Rows4Uniform`.
        ci0: u32,
        cn: u32,
        // The batch-norm epilogue's (the _BN twins; see `BnEpilogue`).
        bn_flags: u32,
        eps: f32,
        beta_at: u32,
        rv_at: u32,
        yp_hp: u32,
        yp_pitch: u32,
        yp_oy: u32,
        yp_ox: u32,
        // Input channels per uniform window of the kernels that read up to
        // three in one pass ([`WINDOWS`]): ci0 .. ci0 + run from the first,
        // the next run from the second, the rest from the third.
        run: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// Batch norm with running statistics (eval mode), then the residual and
/// ReLU, as the tiled forward pass's epilogue (shared/conv_out_bn.wgsl): what
/// batchnorm_forward_eval_padded does after the conv, in the conv's own pass
/// and with the same arithmetic. `gamma_beta` and `running` are each one
/// span of their buffer ([`Tensor::span`]): gamma then beta (from
/// `beta_at`), the running mean then variance (from `rv_at`).
pub struct BnEpilogue<'a> {
    pub gamma_beta: &'a Tensor,
    pub beta_at: usize,
    pub running: &'a Tensor,
    pub rv_at: usize,
    pub eps: f32,
    pub relu: bool,
    /// Added before the ReLU; y's shape.
    pub residual: Option<&'a Tensor>,
    /// Also written: y zero-padded as `PadGeom` lays it out (no dilation),
    /// whose padding the pass leaves as it finds it (zeros, from
    /// [`Gpu::zeros`](crate::device::Gpu::zeros)).
    pub padded: Option<(&'a Tensor, PadGeom)>,
}

/// Epilogue flags of [`BnEpilogue`] (shared/conv_out_bn.wgsl).
const BN_RELU: u32 = 1;
const BN_RESIDUAL: u32 = 2;
const BN_PADDED: u32 = 4;

/// The tiled forward kernels and their batch-norm twins, which run the same
/// sums with shared/conv_out_bn.wgsl as epilogue.
static BN_TWINS: &[(&table::Kernel<TiledParams>, &table::Kernel<TiledParams>)] = &[
    (
        &table::CONV2D_FORWARD_TILED_S1,
        &table::CONV2D_FORWARD_TILED_S1_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4,
        &table::CONV2D_FORWARD_TILED_S1_R4_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4U,
        &table::CONV2D_FORWARD_TILED_S1_R4U_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4SG2,
        &table::CONV2D_FORWARD_TILED_S1_R4SG2_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4SG4,
        &table::CONV2D_FORWARD_TILED_S1_R4SG4_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4SG8,
        &table::CONV2D_FORWARD_TILED_S1_R4SG8_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2SG2,
        &table::CONV2D_FORWARD_TILED_S2SG2_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2SG4,
        &table::CONV2D_FORWARD_TILED_S2SG4_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2SG8,
        &table::CONV2D_FORWARD_TILED_S2SG8_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4SG2_TEX,
        &table::CONV2D_FORWARD_TILED_S1_R4SG2_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4SG4_TEX,
        &table::CONV2D_FORWARD_TILED_S1_R4SG4_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4SG8_TEX,
        &table::CONV2D_FORWARD_TILED_S1_R4SG8_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2SG2_TEX,
        &table::CONV2D_FORWARD_TILED_S2SG2_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2SG4_TEX,
        &table::CONV2D_FORWARD_TILED_S2SG4_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2SG8_TEX,
        &table::CONV2D_FORWARD_TILED_S2SG8_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S1_R4U_TEX,
        &table::CONV2D_FORWARD_TILED_S1_R4U_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2U_TEX,
        &table::CONV2D_FORWARD_TILED_S2U_TEX_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2U,
        &table::CONV2D_FORWARD_TILED_S2U_BN,
    ),
    (
        &table::CONV2D_FORWARD_TILED_S2,
        &table::CONV2D_FORWARD_TILED_S2_BN,
    ),
];

/// The batch-norm twin of tiled forward kernel `k`, if it has one.
pub fn bn_twin(k: &table::Kernel<TiledParams>) -> Option<&'static table::Kernel<TiledParams>> {
    BN_TWINS
        .iter()
        .find(|(base, _)| base.module.name == k.module.name && base.entry == k.entry)
        .map(|(_, twin)| *twin)
}

/// Every tiled forward kernel with a batch-norm twin, and the twin.
pub fn bn_twins() -> &'static [(
    &'static table::Kernel<TiledParams>,
    &'static table::Kernel<TiledParams>,
)] {
    BN_TWINS
}

/// The tiled 3x3 pass over prepared inputs: `xp` from [`conv2d_pad`] with
/// `g.forward_pad()`, `wt` from [`conv2d_weight_tiles`]; at stride 1 with the
/// adapter's [`Tiling`] for the shape ([`tuned`]). With `accumulate`, adds to `y`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_tiled(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Result<()> {
    let (tiling, s2) = tuned_forward(gpu, g)?;
    forward_tiled(gpu, prog, y, xp, wt, b, g, accumulate, tiling, s2)
}

/// The tuning table's choice for `g`'s tiled forward pass: the stride-1
/// tiling, or at stride 2 the [`S2Tiling`].
fn tuned_forward(gpu: &Gpu, g: &Conv2dGeom) -> Result<(Option<Tiling>, S2Tiling)> {
    if !has_tiled_forward(g) {
        return Ok((None, S2Tiling::Storage));
    }
    Ok(match g.sh {
        1 => (Some(tuned::<Tiling>(gpu, g)?), S2Tiling::Storage),
        2 => (None, tuned::<S2Tiling>(gpu, g)?),
        _ => (None, S2Tiling::Storage),
    })
}

/// [`conv2d_forward_tiled`] with the tiling of a stride-1 pass given (`None`
/// for stride 2, whose [`S2Tiling`] the tuning table chooses).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_tiled_as(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    tiling: Option<Tiling>,
) -> Result<()> {
    let s2 = if tiling.is_none() && g.sh == 2 {
        tuned::<S2Tiling>(gpu, g)?
    } else {
        S2Tiling::Storage
    };
    forward_tiled(gpu, prog, y, xp, wt, b, g, accumulate, tiling, s2)
}

/// The stride-2 tiled pass of `g` with its weights read as `s2` says.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_s2_as(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    s2: S2Tiling,
) -> Result<()> {
    forward_tiled(gpu, prog, y, xp, wt, b, g, accumulate, None, s2)
}

#[allow(clippy::too_many_arguments)]
fn forward_tiled(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    tiling: Option<Tiling>,
    s2: S2Tiling,
) -> Result<()> {
    forward_tiled_bn(gpu, prog, y, xp, wt, b, g, accumulate, tiling, s2, None).map(|_| ())
}

/// The tiled pass (no bias) with the batch-norm epilogue `bn`, the stride-1
/// pass with `tiling`, the stride-2 one with `s2`: what
/// [`conv2d_forward_padded_bn`] runs with the tuned ones. `false`, nothing
/// recorded, where it cannot (see [`forward_tiled_bn`]).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_tiled_bn_as(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    wt: &Tensor,
    g: &Conv2dGeom,
    tiling: Option<Tiling>,
    s2: S2Tiling,
    bn: &BnEpilogue<'_>,
) -> Result<bool> {
    forward_tiled_bn(gpu, prog, y, xp, wt, None, g, false, tiling, s2, Some(bn))
}

/// [`forward_tiled`] with, given `bn`, the batch-norm epilogue: returns
/// whether the pass ran with it; where it cannot (no twin for the kernel
/// that runs, or one the device's limits refuse, a bias, an adding pass, y
/// or the residual not bindable as whole vec4s), records nothing and
/// returns `false`.
#[allow(clippy::too_many_arguments)]
fn forward_tiled_bn(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    wt: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    tiling: Option<Tiling>,
    s2: S2Tiling,
    bn: Option<&BnEpilogue<'_>>,
) -> Result<bool> {
    if !has_tiled_forward(g) {
        return Err(Error::invalid(format!(
            "conv2d_forward_tiled: no tiled kernel for {g:?}"
        )));
    }
    if tiling.is_some() != (g.sh == 1) {
        return Err(Error::invalid(format!(
            "conv2d_forward_tiled: tiling {tiling:?} for stride {}",
            g.sh
        )));
    }
    g.validate()?;
    let pg = g.forward_pad();
    expect_shape("conv2d output", y, &g.y_shape())?;
    expect_shape("conv2d padded input", xp, &pg.shape())?;
    expect_shape("conv2d weight tiles", wt, &weight_tiles_shape(g, false))?;
    if let Some(b) = b {
        expect_shape("conv2d bias", b, &[g.cout])?;
    }
    u32_of("conv2d output elements", y.len())?;
    u32_of("padded input elements", xp.len())?;
    let tiles_x = g.wo().div_ceil(TILE_X);
    let co8 = g.cout.next_multiple_of(8);
    let flags = if b.is_some() { FLAG_BIAS } else { 0 };
    // A pass adding to y starts its sums from y's values.
    let adds = if accumulate { FLAG_RESUME } else { 0 };
    let p = TiledParams {
        n: g.n as u32,
        ci: g.cin as u32,
        hp: pg.hp as u32,
        pitch: pg.pitch as u32,
        co: g.cout as u32,
        co8: co8 as u32,
        ho: g.ho() as u32,
        wo: g.wo() as u32,
        tiles_x: tiles_x as u32,
        flags: flags | adds,
        ci0: 0,
        cn: g.cin as u32,
        ..Default::default()
    };
    // The kernel, the output rows of its tile, and for a kernel reading its
    // weights through a uniform window the one reading them from storage
    // (the same bits) and that one's rows, which runs where the window
    // cannot. (lanes: the invocations sharing a tile, each over its own 8
    // channels.)
    let texels = texels_fit(gpu, &[xp]);
    let (k, rows, storage, lanes) = match tiling {
        Some(t) => {
            let (k, runs, lanes) = t.kernel(gpu, co8, texels);
            let uniform = !matches!(runs, Tiling::Row | Tiling::Rows4);
            let storage = uniform.then_some((&table::CONV2D_FORWARD_TILED_S1_R4, MAX_TILE_ROWS));
            let eight = eight_rows_fit(g, lanes, k.width() as usize);
            let rows = if t == Tiling::Rows8SubgroupTexels && lanes > 1 && eight {
                EIGHT_ROWS
            } else {
                runs.rows()
            };
            (k, rows, storage, lanes)
        }
        None => {
            use S2Tiling::*;
            let lanes = group_lanes(co8).filter(|_| has_subgroups(gpu));
            let storage = Some((&table::CONV2D_FORWARD_TILED_S2, 1));
            match (s2, lanes) {
                (Storage, _) => (&table::CONV2D_FORWARD_TILED_S2, 1, None, 1),
                (SubgroupTexels, Some(l)) if texels => {
                    let k = match l {
                        8 => &table::CONV2D_FORWARD_TILED_S2SG8_TEX,
                        4 => &table::CONV2D_FORWARD_TILED_S2SG4_TEX,
                        _ => &table::CONV2D_FORWARD_TILED_S2SG2_TEX,
                    };
                    (k, S2_GROUP_ROWS, storage, l)
                }
                (Subgroup | SubgroupTexels, Some(l)) => {
                    let k = match l {
                        8 => &table::CONV2D_FORWARD_TILED_S2SG8,
                        4 => &table::CONV2D_FORWARD_TILED_S2SG4,
                        _ => &table::CONV2D_FORWARD_TILED_S2SG2,
                    };
                    (k, S2_GROUP_ROWS, storage, l)
                }
                (SubgroupTexels, None) if texels => {
                    (&table::CONV2D_FORWARD_TILED_S2U_TEX, 1, storage, 1)
                }
                (Uniform | Subgroup | SubgroupTexels, _) => {
                    (&table::CONV2D_FORWARD_TILED_S2U, 1, storage, 1)
                }
            }
        }
    };
    let uniform = storage.and_then(|_| k.fits(gpu).then(|| uniform_runs(gpu, wt)).flatten());
    let (k, rows, lanes) = match storage {
        Some((s, s_rows)) if uniform.is_none() => (s, s_rows, 1),
        _ => (k, rows, lanes),
    };
    // Past GROUPED_RUNS windows a grouped kernel reads its weights from
    // storage in one dispatch (not where batch norm rides on the pass: the
    // epilogue's twins read windows).
    let (k, uniform) = match (&uniform, storage_twin(k)) {
        (Some(u), Some(twin)) if u.len() > GROUPED_RUNS && bn.is_none() && twin.fits(gpu) => {
            (twin, None)
        }
        _ => (k, uniform),
    };
    // A pass over several weight windows keeps tiles of 4 rows: lavapipe
    // took 0.69 s to create the 8-row three-window pipeline (a loop per
    // window, each inlining the 8-row body) against 0.2 s for the 4-row one,
    // and one loop over the windows, picking each channel's window inside
    // it, ran 1.2-1.4x slower.
    let multi = windows(k) > 1 && uniform.as_ref().is_some_and(|u| u.len() > 1);
    let rows = if multi { rows.min(MAX_TILE_ROWS) } else { rows };
    let tiles = g.n * g.ho().div_ceil(rows) * tiles_x;
    let [gx, gz, _] = k.grid_1d(gpu, tiles * lanes)?;
    let gy = u32_of("conv2d channel tiles", co8 / 8 / lanes)?;
    // The epilogue's twin, its bindings and parameters, or nothing recorded.
    let epilogue = match bn {
        None => None,
        Some(e) => match bn_epilogue(gpu, k, y, b, g, accumulate, e, &p)? {
            Some(x) => Some(x),
            None => return Ok(false),
        },
    };
    // The tiled kernels bind y as vec4s; where y's buffer ends inside its
    // last vec4 they write a scratch copy of it instead.
    let y_out = y;
    let (yv, scratch) = match vec4_binding(y) {
        Some(t) => (t, None),
        None => {
            let t = gpu.tensor(&[y.len().next_multiple_of(4)])?;
            let v = t.view(0, y.shape())?;
            if accumulate {
                crate::kernels::elementwise::copy(gpu, prog, &v, y, false)?;
            }
            (t, Some(v))
        }
    };
    let y = &yv;
    // Rows of whole vec4s take the kernel's vec4 stores, and passes over
    // several windows their loops (each a pipeline of its own).
    // Rows of at most 4 pixels fold two rows into one accumulator of the
    // subgroup tiles (`FOLDED`, shared/conv_lanes.wgsl).
    // Tiles of 8 rows (grouped kernels only) run two 4-row tiles a lane.
    let shape = match rows {
        EIGHT_ROWS => TileShape::Rows8,
        MAX_TILE_ROWS if lanes > 1 && g.wo() <= 4 => TileShape::Folded,
        _ => TileShape::Rows4,
    };
    let vec4_rows = g.wo().is_multiple_of(4);
    let k = &k.with_constants(shape.constants(vec4_rows, multi));
    // The last (or only) dispatch runs the epilogue's twin, if any.
    let constants = k.constants;
    let last_k = epilogue
        .as_ref()
        .map(|(twin, ..)| twin.with_constants(constants));
    let (last_k, last_p) = match (&epilogue, &last_k) {
        (Some((_, _, bp)), Some(t)) => (t, *bp),
        _ => (k, p),
    };
    let extra = epilogue.as_ref().map(|(_, t, _)| t);
    fn with_extra<'a>(
        base: [Option<&'a Tensor>; 4],
        extra: Option<&'a [Option<Tensor>; 4]>,
    ) -> Vec<Option<&'a Tensor>> {
        let mut v = base.to_vec();
        if let Some(e) = extra {
            v.extend(e.iter().map(Option::as_ref));
        }
        v
    }
    let Some(uniform) = uniform else {
        launch(
            gpu,
            prog,
            last_k,
            &last_p,
            &with_extra([Some(y), Some(xp), Some(wt), b], extra),
            [gx, gy, gz],
        )?;
        copy_back(gpu, prog, scratch, y_out)?;
        return Ok(true);
    };
    // One dispatch per run of input channels, or per up to [`WINDOWS`] runs
    // for the kernels that read as many windows (shared/conv_windows.wgsl,
    // the windows after the other bindings): the first writes y (or adds to
    // it), the others resume from it, the last adds the bias (and runs the
    // epilogue).
    let per = windows(k);
    let passes: Vec<&[(usize, usize, Tensor)]> = uniform.chunks(per).collect();
    for (i, runs) in passes.iter().enumerate() {
        let last = i + 1 == passes.len();
        let (kk, pp) = if last { (last_k, last_p) } else { (k, p) };
        let (c0, run, first) = &runs[0];
        let q = TiledParams {
            ci0: *c0 as u32,
            cn: runs.iter().map(|r| r.1).sum::<usize>() as u32,
            run: *run as u32,
            flags: if last { flags } else { 0 } | if i > 0 { FLAG_RESUME } else { adds },
            ..pp
        };
        let mut bindings = with_extra([Some(y), Some(xp), Some(first), b], extra.filter(|_| last));
        // Windows past the pass's last run bind its first again (never read).
        bindings.extend((1..per).map(|j| Some(&runs.get(j).unwrap_or(&runs[0]).2)));
        let mut q = q;
        if reads_earlier_texels(kk) {
            // A pass resuming from y reads y's values as texels where it can
            // (shared/conv_earlier_texels.wgsl).
            let texels = q.flags & FLAG_RESUME != 0 && vec4_rows && texels_fit(gpu, &[xp, y]);
            if texels {
                q.flags |= FLAG_EARLIER_TEXELS;
            }
            bindings.push(texels.then_some(y));
        }
        launch(gpu, prog, kk, &q, &bindings, [gx, gy, gz])?;
    }
    copy_back(gpu, prog, scratch, y_out)?;
    Ok(true)
}

/// The batch-norm twin of `k` for `e` on `gpu`, the tensors it binds after
/// the base kernel's (gamma and beta, the running statistics, the residual
/// as whole vec4s, the padded copy) and its parameters from `p`; `None`
/// where the epilogue cannot run (see [`forward_tiled_bn`]).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn bn_epilogue(
    gpu: &Gpu,
    k: &table::Kernel<TiledParams>,
    y: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    e: &BnEpilogue<'_>,
    p: &TiledParams,
) -> Result<
    Option<(
        &'static table::Kernel<TiledParams>,
        [Option<Tensor>; 4],
        TiledParams,
    )>,
> {
    let Some(twin) = bn_twin(k).filter(|t| t.fits(gpu)) else {
        return Ok(None);
    };
    if b.is_some() || accumulate || vec4_binding(y).is_none() {
        return Ok(None);
    }
    let c = g.cout;
    if e.gamma_beta.len() < e.beta_at + c || e.beta_at < c {
        return Err(Error::invalid(format!(
            "conv batch-norm epilogue: gamma and beta ({} values, beta at {}) for {c} channels",
            e.gamma_beta.len(),
            e.beta_at
        )));
    }
    if e.running.len() < e.rv_at + c || e.rv_at < c {
        return Err(Error::invalid(format!(
            "conv batch-norm epilogue: running statistics ({} values, variance at {}) for {c} channels",
            e.running.len(),
            e.rv_at
        )));
    }
    let res = match e.residual {
        Some(r) => {
            expect_shape("conv batch-norm epilogue residual", r, &g.y_shape())?;
            match vec4_binding(r) {
                Some(v) => Some(v),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let mut bn_flags = 0;
    if e.relu {
        bn_flags |= BN_RELU;
    }
    if res.is_some() {
        bn_flags |= BN_RESIDUAL;
    }
    let mut q = TiledParams {
        bn_flags,
        eps: e.eps,
        beta_at: u32_of("beta offset", e.beta_at)?,
        rv_at: u32_of("running variance offset", e.rv_at)?,
        ..*p
    };
    let yp = match &e.padded {
        Some((yp, pg)) => {
            let fits = pg.n == g.n
                && pg.c == c
                && pg.h == g.ho()
                && pg.w == g.wo()
                && pg.dil == 1
                && pg.oy + pg.h <= pg.hp
                && pg.ox + pg.w <= pg.pitch
                && pg.pitch.is_multiple_of(4);
            if !fits {
                return Err(Error::invalid(format!(
                    "conv batch-norm epilogue: padded copy {pg:?} does not hold the output {:?}",
                    g.y_shape()
                )));
            }
            expect_shape("conv batch-norm epilogue padded copy", yp, &pg.shape())?;
            u32_of("padded copy elements", yp.len())?;
            q.bn_flags |= BN_PADDED;
            q.yp_hp = pg.hp as u32;
            q.yp_pitch = pg.pitch as u32;
            q.yp_oy = pg.oy as u32;
            q.yp_ox = pg.ox as u32;
            Some((*yp).clone())
        }
        None => None,
    };
    Ok(Some((
        twin,
        [Some(e.gamma_beta.clone()), Some(e.running.clone()), res, yp],
        q,
    )))
}

/// `y` as the tiled kernels bind it, as whole vec4s: itself where its length
/// is a multiple of 4, else a window running on to the end of its last vec4
/// (the kernels store y's elements only); `None` where its buffer ends first.
fn vec4_binding(y: &Tensor) -> Option<Tensor> {
    if y.len().is_multiple_of(4) {
        Some(y.clone())
    } else {
        y.window(0, y.len().next_multiple_of(4))
    }
}

/// Copies the scratch output `from` (if a pass wrote one) into `y`.
fn copy_back(gpu: &Gpu, prog: &mut Program, from: Option<Tensor>, y: &Tensor) -> Result<()> {
    match from {
        Some(t) => crate::kernels::elementwise::copy(gpu, prog, y, &t, false),
        None => Ok(()),
    }
}

/// Flag of a tiled forward pass starting its sums from y's values: the later
/// runs of [`Tiling::Rows4Uniform`] (and the kernels sharing its runs), and
/// every pass that adds to y.
const FLAG_RESUME: u32 = 2;

/// Flag of a resuming pass of the texel-reading grouped forward kernels:
/// y's values come from the texels bound after the windows
/// (shared/conv_earlier_texels.wgsl), not from y.
const FLAG_EARLIER_TEXELS: u32 = 16;

/// Whether `k` binds y's values before the pass as texels after its
/// windows: the kernels of conv2d_forward_texel_subgroup.wgsl as it is
/// (not its storage-weight or batch-norm twins).
fn reads_earlier_texels(k: &table::Kernel<TiledParams>) -> bool {
    std::ptr::eq(
        k.module,
        &crate::kernels::shaders::CONV2D_FORWARD_TEXEL_SUBGROUP,
    )
}

/// Where a convolution pass gets the scratch tensors of its layout copies
/// (padded inputs, weight tiles) and returns them once recorded: a plan
/// reuses them across layers, [`Fresh`] allocates new ones.
pub trait Scratch {
    fn take(&mut self, gpu: &Gpu, shape: &[usize]) -> Result<Tensor>;
    fn give(&mut self, t: Tensor);

    /// The weight tiles of `w` for `g` in the layout of
    /// [`conv2d_weight_tiles_with`]: by default a scratch tensor and the pass
    /// that writes it, recorded now; a plan hands out tiles that one batched
    /// pass at the start of its step wrote ([`conv2d_weight_tiles_batch`]).
    #[allow(clippy::too_many_arguments)]
    fn weight_tiles(
        &mut self,
        gpu: &Gpu,
        prog: &mut Program,
        w: &Tensor,
        g: &Conv2dGeom,
        backward_data: bool,
        flip: bool,
    ) -> Result<Tensor> {
        let wt = weight_tiles_tensor(gpu, self, &weight_tiles_shape(g, backward_data))?;
        conv2d_weight_tiles_with(gpu, prog, &wt, w, g, backward_data, flip)?;
        Ok(wt)
    }

    /// Returns what [`Scratch::weight_tiles`] gave once its readers are recorded.
    fn give_weight_tiles(&mut self, wt: Tensor) {
        self.give(weight_tiles_allocation(wt));
    }
}

/// Scratch tensors allocated for each pass and dropped after it.
pub struct Fresh;

impl Scratch for Fresh {
    fn take(&mut self, gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        gpu.tensor(shape)
    }

    fn give(&mut self, _: Tensor) {}
}

/// The forward convolution, on the fastest path for its shape: the tiled
/// kernels for 3x3 windows of stride 1 or 2 (a padded copy of x and the
/// weight tiles first), the 1x1 kernel over the unfolded input where
/// [`unfold_chunk`] says so, the direct kernel (over the weight tiles)
/// otherwise. The last two give the same bits.
/// Returns the padded copy of x on the tiled path, which
/// [`conv2d_backward_weight`] reads again.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    scratch: &mut dyn Scratch,
) -> Result<Option<Tensor>> {
    if !has_tiled_forward(g) {
        check(g, y, x, w, b)?;
        if let Some(images) = unfold_chunk(gpu, g) {
            conv2d_unfolded_forward(gpu, prog, y, x, w, b, g, images, scratch)?;
            return Ok(None);
        }
        let wt = scratch.weight_tiles(gpu, prog, w, g, false, false)?;
        conv2d_direct(gpu, prog, y, x, &wt, b, g, false)?;
        scratch.give_weight_tiles(wt);
        return Ok(None);
    }
    check(g, y, x, w, b)?;
    let pg = g.forward_pad();
    let xp = gpu.tensor(&pg.shape())?;
    conv2d_pad(gpu, prog, &xp, x, &pg)?;
    conv2d_forward_padded(gpu, prog, y, &xp, w, b, g, scratch)?;
    Ok(Some(xp))
}

/// [`conv2d_forward`] of a 3x3 convolution whose input comes already padded
/// (`xp`, laid out as `g.forward_pad()`, by [`conv2d_pad`] or by the pass that
/// wrote the input): the tiled pass alone.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_padded(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    expect_shape("conv2d weight", w, &g.w_shape())?;
    let wt = scratch.weight_tiles(gpu, prog, w, g, false, false)?;
    conv2d_forward_tiled(gpu, prog, y, xp, &wt, b, g, false)?;
    scratch.give_weight_tiles(wt);
    Ok(())
}

/// [`conv2d_forward_padded`] (no bias) with batch norm in eval mode, the
/// residual and ReLU as the pass's epilogue ([`BnEpilogue`]): y is the batch
/// norm's output, the conv's own never stored. Returns `false`, having
/// recorded nothing, where the pass cannot run it (see [`forward_tiled_bn`]);
/// the caller then runs the conv and the batch norm as two passes.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_padded_bn(
    gpu: &Gpu,
    prog: &mut Program,
    y: &Tensor,
    xp: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    bn: &BnEpilogue<'_>,
    scratch: &mut dyn Scratch,
) -> Result<bool> {
    expect_shape("conv2d weight", w, &g.w_shape())?;
    if !has_tiled_forward(g) {
        return Ok(false);
    }
    let (tiling, s2) = tuned_forward(gpu, g)?;
    let wt = scratch.weight_tiles(gpu, prog, w, g, false, false)?;
    let fused = forward_tiled_bn(gpu, prog, y, xp, &wt, None, g, false, tiling, s2, Some(bn))?;
    scratch.give_weight_tiles(wt);
    Ok(fused)
}

/// How the backward-data pass runs as a stride-1 tiled convolution: the
/// geometry of that convolution (input channels Co, output Ci, no padding, over
/// an input of H+k−1 × W+k−1) and where dy goes in its padded input (offset
/// k−1−p, dilated by the stride). `None` when the tiled kernels cannot do it.
pub fn backward_data_plan(g: &Conv2dGeom) -> Option<(Conv2dGeom, PadGeom)> {
    if !has_tiled_forward(g) || g.ph > g.kh - 1 || g.pw > g.kw - 1 {
        return None;
    }
    let t = Conv2dGeom {
        n: g.n,
        cin: g.cout,
        h: g.h + g.kh - 1,
        w: g.w + g.kw - 1,
        cout: g.cin,
        kh: g.kh,
        kw: g.kw,
        sh: 1,
        sw: 1,
        ph: 0,
        pw: 0,
    };
    let tp = t.forward_pad();
    let pg = PadGeom {
        n: g.n,
        c: g.cout,
        h: g.ho(),
        w: g.wo(),
        hp: tp.hp,
        pitch: tp.pitch,
        oy: g.kh - 1 - g.ph,
        ox: g.kw - 1 - g.pw,
        dil: g.sh,
    };
    Some((t, pg))
}

/// The padded dy the direct stride-2 kernel reads (a zero row below, zero
/// columns to the right); `None` unless the convolution is 3x3, stride 2, pad 1.
pub fn backward_data_s2_pad(g: &Conv2dGeom) -> Option<PadGeom> {
    if !(g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.ph == 1 && g.pw == 1) {
        return None;
    }
    let tiles_x = g.w.div_ceil(2).div_ceil(TILE_X);
    Some(PadGeom {
        n: g.n,
        c: g.cout,
        h: g.ho(),
        w: g.wo(),
        hp: g.ho() + 1,
        pitch: (g.wo() + 1).max(TILE_X * tiles_x + 4).next_multiple_of(4),
        oy: 0,
        ox: 0,
        dil: 1,
    })
}

params! {
    /// Mirrors `S2Params` of conv2d_backward_data_tiled.wgsl.
    pub struct S2Params {
        n: u32,
        co: u32,
        ho: u32,
        wo: u32,
        ci: u32,
        ci8: u32,
        h: u32,
        w: u32,
        pitch: u32,
        rows: u32,
        tiles_x: u32,
        flags: u32,
        // The output channels summed over: all of them but in the runs of
        // the uniform kernel.
        co0: u32,
        cn: u32,
        // The paired kernels' option-A shortcut (FLAG_S2_SHORTCUT): the
        // zero channels before the copied ones and the channels of its dy.
        sc_pad: u32,
        sc_co: u32,
    }
}

/// Flag of the uniform stride-2 backward-data pass's later runs: start from
/// the sums in dx.
const FLAG_S2_RESUME: u32 = 4;

/// Flag of the paired stride-2 backward-data passes reading dy as texels
/// that add to dx or resume from it: dx's values come from the texels bound
/// last (shared/s2_earlier_texels.wgsl), not from dx.
const FLAG_S2_EARLIER_TEXELS: u32 = 16;

/// Flag of the paired stride-2 backward-data pass's last run: add the
/// option-A shortcut's gradient (shared/conv_s2_pairs.wgsl).
const FLAG_S2_SHORTCUT: u32 = 8;

/// The gradient `dy` at the output of an option-A shortcut of stride 2 (`geom`)
/// that reads the same input as a stride-2 convolution: its backward pass
/// (`shortcut::shortcut_a_backward`) can ride on the convolution's
/// backward-data pass ([`conv2d_backward_data_padded_with_shortcut`]).
#[derive(Clone, Copy, Debug)]
pub struct S2Shortcut<'a> {
    pub dy: &'a Tensor,
    pub geom: &'a ShortcutGeom,
}

/// Direct backward-data of a 3x3 stride-2 pad-1 convolution, the four output
/// parities each taking only their own taps, with its weights read as `s2`
/// says (the tuning table's choice for the conv's forward pass, which
/// [`conv2d_backward_data_padded`] passes): a uniform window in runs of
/// output channels, or storage where the window cannot run or a pass of
/// several runs would add to dx. The same bits. `dyp` from [`conv2d_pad`]
/// with [`backward_data_s2_pad`], `wt` from [`conv2d_weight_tiles`] with
/// `unflipped`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_data_tiled_s2_as(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dyp: &Tensor,
    wt: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
    s2: S2Tiling,
) -> Result<()> {
    backward_data_s2(gpu, prog, dx, dyp, wt, g, accumulate, s2, None).map(|_| ())
}

/// [`conv2d_backward_data_tiled_s2_as`] that, given `shortcut`, also adds its
/// gradient to dx where it can: the paired kernels over uniform windows,
/// writing dx (not adding to it). Returns whether it did; where not, dx
/// holds the convolution's gradient alone and the shortcut's pass is still
/// to run.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_data_tiled_s2_with_shortcut(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dyp: &Tensor,
    wt: &Tensor,
    g: &Conv2dGeom,
    s2: S2Tiling,
    shortcut: S2Shortcut<'_>,
) -> Result<bool> {
    backward_data_s2(gpu, prog, dx, dyp, wt, g, false, s2, Some(shortcut))
}

/// Most runs of output channels (uniform windows of weights) the grouped
/// stride-2 backward-data kernels take; past it their storage twins
/// ([`s2_data_storage_twin`]) run in one pass, and the storage kernel
/// without groups where those cannot. Each run reads dy's tiles and
/// rewrites all of dx: on lavapipe, ResNet-50 at 112 px, the storage kernel
/// without groups took 0.61x the unpaired grouped kernels' time at 37 runs
/// and 0.30x at 171.
pub const S2_DATA_RUNS: usize = 16;

/// The twin of grouped stride-2 backward-data kernel `k` reading its
/// weights from storage (the same sums in the same order: the same bits),
/// if it has one.
pub fn s2_data_storage_twin(
    k: &table::Kernel<S2Params>,
) -> Option<&'static table::Kernel<S2Params>> {
    twin_in(&S2_DATA_STORAGE_TWINS, k)
}

/// The grouped stride-2 backward-data kernels and their storage twins.
static S2_DATA_STORAGE_TWINS: [(table::Kernel<S2Params>, table::Kernel<S2Params>); 12] = {
    use table::*;
    [
        (
            CONV2D_BACKWARD_DATA_TILED_S2SG2,
            CONV2D_BACKWARD_DATA_TILED_S2SG2_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2SG4,
            CONV2D_BACKWARD_DATA_TILED_S2SG4_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2SG8,
            CONV2D_BACKWARD_DATA_TILED_S2SG8_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2SG2_TEX,
            CONV2D_BACKWARD_DATA_TILED_S2SG2_TEX_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2SG4_TEX,
            CONV2D_BACKWARD_DATA_TILED_S2SG4_TEX_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2SG8_TEX,
            CONV2D_BACKWARD_DATA_TILED_S2SG8_TEX_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2P2,
            CONV2D_BACKWARD_DATA_TILED_S2P2_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2P4,
            CONV2D_BACKWARD_DATA_TILED_S2P4_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2P8,
            CONV2D_BACKWARD_DATA_TILED_S2P8_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2P2_TEX,
            CONV2D_BACKWARD_DATA_TILED_S2P2_TEX_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2P4_TEX,
            CONV2D_BACKWARD_DATA_TILED_S2P4_TEX_ST,
        ),
        (
            CONV2D_BACKWARD_DATA_TILED_S2P8_TEX,
            CONV2D_BACKWARD_DATA_TILED_S2P8_TEX_ST,
        ),
    ]
};

#[allow(clippy::too_many_arguments)]
fn backward_data_s2(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dyp: &Tensor,
    wt: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
    s2: S2Tiling,
    shortcut: Option<S2Shortcut<'_>>,
) -> Result<bool> {
    if let Some(sc) = shortcut {
        let sg = sc.geom;
        sg.validate()?;
        if (sg.n, sg.cin, sg.h, sg.w, sg.stride, sg.ho(), sg.wo())
            != (g.n, g.cin, g.h, g.w, 2, g.ho(), g.wo())
        {
            return Err(Error::invalid(format!(
                "conv2d_backward_data_tiled_s2: shortcut {sg:?} does not read the input of {g:?}"
            )));
        }
        expect_shape("shortcut dy", sc.dy, &sg.y_shape())?;
        u32_of("shortcut dy elements", sc.dy.len())?;
    }
    let pg = backward_data_s2_pad(g).ok_or_else(|| {
        Error::invalid(format!(
            "conv2d_backward_data_tiled_s2: not a 3x3/2 convolution: {g:?}"
        ))
    })?;
    expect_shape("conv2d dx", dx, &g.x_shape())?;
    expect_shape("conv2d padded dy", dyp, &pg.shape())?;
    expect_shape("conv2d weight tiles", wt, &weight_tiles_shape(g, true))?;
    u32_of("conv2d input elements", dx.len())?;
    u32_of("padded dy elements", dyp.len())?;
    let rows = g.h.div_ceil(2);
    let tiles_x = g.w.div_ceil(2).div_ceil(TILE_X);
    let ci8 = g.cin.next_multiple_of(8);
    let p = S2Params {
        n: g.n as u32,
        co: g.cout as u32,
        ho: g.ho() as u32,
        wo: g.wo() as u32,
        ci: g.cin as u32,
        ci8: ci8 as u32,
        h: g.h as u32,
        w: g.w as u32,
        pitch: pg.pitch as u32,
        rows: rows as u32,
        tiles_x: tiles_x as u32,
        flags: if accumulate { FLAG_ACCUMULATE } else { 0 },
        co0: 0,
        cn: g.cout as u32,
        sc_pad: 0,
        sc_co: 0,
    };
    // Groups of lanes sharing a tile (over as many runs of 8 channels, of 4
    // for the paired kernels, which take all four parities).
    let grid = |lanes: usize, paired: bool| {
        let (per_run, parities) = if paired { (4, 1) } else { (8, 4) };
        crate::kernels::check_grid(
            gpu,
            "conv2d_backward_data_tiled_s2",
            [
                (g.n * rows * tiles_x * lanes).div_ceil(64) as u64,
                (ci8 / per_run / lanes) as u64,
                parities,
            ],
        )
    };
    // (With SubgroupTexels the grouped kernels read dy as texels.) Where dx's
    // rows are whole vec4s the grouped kernels are the paired ones (both
    // column and both row parities per lane, vec4 stores;
    // shared/conv_s2_pairs.wgsl): groups over runs of 4 input channels.
    let grouped = matches!(s2, S2Tiling::Subgroup | S2Tiling::SubgroupTexels);
    let paired = grouped && g.w.is_multiple_of(4) && has_subgroups(gpu);
    // The paired texel kernels read the shortcut's gradient as texels too.
    let texels = s2 == S2Tiling::SubgroupTexels
        && match shortcut.filter(|_| paired && !accumulate) {
            Some(sc) => texels_fit(gpu, &[dyp, sc.dy]),
            None => texels_fit(gpu, &[dyp]),
        };
    let (k, lanes) = if paired {
        use table::*;
        match group_lanes(2 * ci8) {
            Some(8) if texels => (&CONV2D_BACKWARD_DATA_TILED_S2P8_TEX, 8),
            Some(4) if texels => (&CONV2D_BACKWARD_DATA_TILED_S2P4_TEX, 4),
            _ if texels => (&CONV2D_BACKWARD_DATA_TILED_S2P2_TEX, 2),
            Some(8) => (&CONV2D_BACKWARD_DATA_TILED_S2P8, 8),
            Some(4) => (&CONV2D_BACKWARD_DATA_TILED_S2P4, 4),
            _ => (&CONV2D_BACKWARD_DATA_TILED_S2P2, 2),
        }
    } else {
        match group_lanes(ci8).filter(|_| has_subgroups(gpu)) {
            Some(8) if texels => (&table::CONV2D_BACKWARD_DATA_TILED_S2SG8_TEX, 8),
            Some(4) if texels => (&table::CONV2D_BACKWARD_DATA_TILED_S2SG4_TEX, 4),
            Some(l) if texels => (&table::CONV2D_BACKWARD_DATA_TILED_S2SG2_TEX, l),
            Some(8) if grouped => (&table::CONV2D_BACKWARD_DATA_TILED_S2SG8, 8),
            Some(4) if grouped => (&table::CONV2D_BACKWARD_DATA_TILED_S2SG4, 4),
            Some(l) if grouped => (&table::CONV2D_BACKWARD_DATA_TILED_S2SG2, l),
            _ => (&table::CONV2D_BACKWARD_DATA_TILED_S2U, 1),
        }
    };
    let runs = match s2 {
        S2Tiling::Uniform | S2Tiling::Subgroup | S2Tiling::SubgroupTexels if k.fits(gpu) => {
            uniform_runs(gpu, wt)
        }
        _ => None,
    };
    // Past S2_DATA_RUNS windows a grouped kernel's storage twin takes every
    // output channel in one pass (adding to dx, and the shortcut's gradient
    // riding on it, as a single run would).
    let twin = s2_data_storage_twin(k).filter(|t| t.fits(gpu));
    if let (Some(r), Some(twin)) = (&runs, twin)
        && r.len() > S2_DATA_RUNS
    {
        let shortcut = shortcut.filter(|_| paired && !accumulate);
        let mut q = p;
        let mut bound = vec![Some(dx), Some(dyp), Some(wt)];
        if paired {
            bound.push(Some(shortcut.map_or(dyp, |sc| sc.dy)));
        }
        if let Some(sc) = shortcut {
            q.flags |= FLAG_S2_SHORTCUT;
            q.sc_pad = u32_of("shortcut zero channels", sc.geom.pad_before())?;
            q.sc_co = u32_of("shortcut channels", sc.geom.cout)?;
        }
        launch(gpu, prog, twin, &q, &bound, grid(lanes, paired)?)?;
        return Ok(shortcut.is_some());
    }
    let runs = runs
        .filter(|r| !accumulate || r.len() == 1)
        .filter(|r| paired || r.len() <= S2_DATA_RUNS);
    let Some(runs) = runs else {
        launch(
            gpu,
            prog,
            &table::CONV2D_BACKWARD_DATA_TILED_S2,
            &p,
            &[Some(dx), Some(dyp), Some(wt)],
            grid(1, false)?,
        )?;
        return Ok(false);
    };
    // The shortcut's gradient rides on the paired kernels' last run where
    // they write dx.
    let shortcut = shortcut.filter(|_| paired && !accumulate);
    let grid = grid(lanes, paired)?;
    for (i, (c0, cn, window)) in runs.iter().enumerate() {
        let last = i + 1 == runs.len();
        let mut q = S2Params {
            co0: *c0 as u32,
            cn: *cn as u32,
            flags: p.flags | if i > 0 { FLAG_S2_RESUME } else { 0 },
            ..p
        };
        // The paired kernels bind the shortcut's dy (any buffer without it;
        // as texels, only in the pass that adds it).
        let texel_pairs = std::ptr::eq(
            k.module,
            &crate::kernels::shaders::CONV2D_BACKWARD_DATA_PAIRS_TEXEL_SUBGROUP,
        );
        let sdy = shortcut.filter(|_| last).map(|sc| sc.dy);
        let mut bound = vec![Some(dx), Some(dyp), Some(window)];
        if texel_pairs {
            bound.push(sdy);
        } else if paired {
            bound.push(Some(sdy.unwrap_or(dyp)));
        }
        if let (Some(sc), true) = (shortcut, last) {
            q.flags |= FLAG_S2_SHORTCUT;
            q.sc_pad = u32_of("shortcut zero channels", sc.geom.pad_before())?;
            q.sc_co = u32_of("shortcut channels", sc.geom.cout)?;
        }
        if texel_pairs {
            // A pass adding to dx or resuming from it reads dx's values as
            // texels where it can (shared/s2_earlier_texels.wgsl).
            let reads = q.flags & (FLAG_ACCUMULATE | FLAG_S2_RESUME) != 0;
            let mut read: Vec<&Tensor> = vec![dyp, dx];
            read.extend(sdy);
            let texels = reads && texels_fit(gpu, &read);
            if texels {
                q.flags |= FLAG_S2_EARLIER_TEXELS;
            }
            bound.push(texels.then_some(dx));
        }
        launch(gpu, prog, k, &q, &bound, grid)?;
    }
    Ok(shortcut.is_some())
}

/// The padded copy of dy that [`conv2d_backward_data`] reads for `g` (the
/// stride-2 kernel's or the stride-1 tiled pass's), or `None` where it reads
/// dy as it is.
pub fn backward_data_pad(g: &Conv2dGeom) -> Option<PadGeom> {
    backward_data_tiles(g)?;
    backward_data_s2_pad(g).or_else(|| backward_data_plan(g).map(|(_, pg)| pg))
}

/// The backward-data pass (dx, or dx += with `accumulate`), on the fastest
/// path for its shape: for 3x3 windows the direct stride-2 kernel or the
/// stride-1 tiled kernel over dy padded (and, for other strides, dilated)
/// with flipped weights; the direct kernel for other windows; the reference
/// kernel where the padding is as large as the window.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_data(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    check(g, dy, dx, w, None)?;
    let Some(flip) = backward_data_tiles(g) else {
        return conv2d_backward_data_reference(gpu, prog, dx, dy, w, g, accumulate);
    };
    let Some(pg) = backward_data_pad(g) else {
        let wt = scratch.weight_tiles(gpu, prog, w, g, true, flip)?;
        conv2d_direct_backward_data(gpu, prog, dx, dy, &wt, g, accumulate)?;
        scratch.give_weight_tiles(wt);
        return Ok(());
    };
    let dyp = scratch.take(gpu, &pg.shape())?;
    conv2d_pad(gpu, prog, &dyp, dy, &pg)?;
    conv2d_backward_data_padded(gpu, prog, dx, &dyp, w, g, accumulate, scratch)?;
    scratch.give(dyp);
    Ok(())
}

/// [`conv2d_backward_data_padded`] writing dx (not adding to it) for a 3x3
/// stride-2 convolution whose input an option-A shortcut also reads: adds
/// the shortcut's gradient in the same pass where the tuned kernel can
/// ([`conv2d_backward_data_tiled_s2_with_shortcut`]). Returns whether it
/// did; where not, dx holds the convolution's gradient alone.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_data_padded_with_shortcut(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dyp: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    shortcut: S2Shortcut<'_>,
    scratch: &mut dyn Scratch,
) -> Result<bool> {
    if backward_data_s2_pad(g).is_none() {
        return Err(Error::invalid(format!(
            "conv2d_backward_data_padded_with_shortcut: not a 3x3/2 convolution: {g:?}"
        )));
    }
    backward_data_padded(gpu, prog, dx, dyp, w, g, false, Some(shortcut), scratch)
}

/// [`conv2d_backward_data`] from dy already padded (`dyp`, laid out as
/// [`backward_data_pad`] says, by [`conv2d_pad`] or by the pass that wrote dy).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_data_padded(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dyp: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    backward_data_padded(gpu, prog, dx, dyp, w, g, accumulate, None, scratch).map(|_| ())
}

/// Both of the above: whether the shortcut's gradient was added.
#[allow(clippy::too_many_arguments)]
fn backward_data_padded(
    gpu: &Gpu,
    prog: &mut Program,
    dx: &Tensor,
    dyp: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
    shortcut: Option<S2Shortcut<'_>>,
    scratch: &mut dyn Scratch,
) -> Result<bool> {
    let (Some(flip), Some(pg)) = (backward_data_tiles(g), backward_data_pad(g)) else {
        return Err(Error::invalid(format!(
            "conv2d_backward_data_padded: no padded backward-data pass for {g:?}"
        )));
    };
    expect_shape("conv2d weight", w, &g.w_shape())?;
    expect_shape("conv2d padded dy", dyp, &pg.shape())?;
    let wt = scratch.weight_tiles(gpu, prog, w, g, true, flip)?;
    let added = if backward_data_s2_pad(g).is_some() {
        let s2 = tuned::<S2Tiling>(gpu, g)?;
        backward_data_s2(gpu, prog, dx, dyp, &wt, g, accumulate, s2, shortcut)?
    } else {
        let (t, _) =
            backward_data_plan(g).ok_or_else(|| Error::invalid("no backward-data plan"))?;
        let tiling = tuned::<Tiling>(gpu, &t)?;
        conv2d_forward_tiled_as(gpu, prog, dx, dyp, &wt, None, &t, accumulate, Some(tiling))?;
        false
    };
    scratch.give_weight_tiles(wt);
    Ok(added)
}

params! {
    /// Mirrors `WgradParams` of conv2d_backward_weight_tiled.wgsl.
    pub struct WgradParams {
        n: u32,
        ci: u32,
        co: u32,
        ho: u32,
        wo: u32,
        dy_pitch: u32,
        hp: u32,
        pitch: u32,
        imgs: u32,
        chunks: u32,
        len: u32,
        _pad0: u32,
    }
}

/// The padded copy of dy the tiled weight gradient reads when Wo is not a
/// multiple of 4 (rows rounded up to 4 floats); `None` when dy can be read as is.
pub fn backward_weight_dy_pad(g: &Conv2dGeom) -> Option<PadGeom> {
    (!g.wo().is_multiple_of(4)).then(|| PadGeom {
        n: g.n,
        c: g.cout,
        h: g.ho(),
        w: g.wo(),
        hp: g.ho(),
        pitch: g.wo().next_multiple_of(4),
        oy: 0,
        ox: 0,
        dil: 1,
    })
}

/// How the tiled weight gradient splits the batch into chunks of whole
/// images, each workgroup summing one chunk: about `pixels` output pixels a
/// chunk (at least one image), and at most `max_images` images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WgradChunks {
    pub pixels: usize,
    pub max_images: usize,
}

/// A GPU's: enough chunks to fill one at the ResNet-20/56 stage shapes (128
/// at batch 128 and 32x32 pixels).
pub const WGRAD_CHUNKS_GPU: WgradChunks = WgradChunks {
    pixels: 1024,
    max_images: usize::MAX,
};

/// A CPU adapter's. Its few threads need few workgroups, while every chunk
/// stores its Co·Ci·9 partial sums (a loop over the lanes per store on
/// lavapipe) and the reduction reads them all again: with these chunks
/// instead of a GPU's, lavapipe reduced a resnet20 step's partial sums
/// (batch 128) in a quarter of the time (BENCHMARKS.md). At most 16 images, so
/// that small planes (the desktop app's 4x4 and 8x8 stages at batch 64)
/// still give both threads workgroups: 4096 pixels alone made one chunk,
/// one workgroup, of its 8x8 stage.
pub const WGRAD_CHUNKS_CPU: WgradChunks = WgradChunks {
    pixels: 4096,
    max_images: 16,
};

/// The tiled weight gradient's chunks on `gpu`: a constant per kind of
/// adapter, not per host, so that a run's sums (and numbers) are the same on
/// every machine with the same kind.
pub fn wgrad_chunks(gpu: &Gpu) -> WgradChunks {
    if gpu.adapter_info().device_type == wgpu::DeviceType::Cpu {
        WGRAD_CHUNKS_CPU
    } else {
        WGRAD_CHUNKS_GPU
    }
}

/// How the tiled weight gradient of `g` splits its batch in `c`'s chunks:
/// (images per chunk, chunks).
pub fn wgrad_split(g: &Conv2dGeom, c: WgradChunks) -> (usize, usize) {
    let pixels = g.ho() * g.wo().next_multiple_of(4);
    let imgs = (c.pixels / pixels).min(c.max_images).clamp(1, g.n.max(1));
    (imgs, g.n.div_ceil(imgs))
}

/// The longest serial loop of each pass of a convolution as
/// [`conv2d_forward`], [`conv2d_backward_data`] and [`conv2d_backward_weight`]
/// run it: the products one invocation sums for one output value (forward,
/// backward-data, weight gradient), and the chunks the weight gradient's
/// reduction adds, with the weight gradient's chunks `c` ([`wgrad_chunks`]).
/// What bounds an invocation's time (and a driver's watchdog).
pub fn serial_loops(g: &Conv2dGeom, c: WgradChunks) -> [(&'static str, usize); 4] {
    let (terms, chunks) = if has_tiled_forward(g) {
        let (imgs, chunks) = wgrad_split(g, c);
        (imgs * g.ho() * g.wo(), chunks)
    } else {
        direct_weight_split(g)
    };
    [
        ("conv forward", g.cin * g.kh * g.kw),
        ("conv backward-data", g.cout * g.kh * g.kw),
        ("conv weight gradient", terms),
        ("conv weight-gradient chunks", chunks),
    ]
}

/// Tiled weight gradient of a 3x3 convolution of stride 1 or 2 from the forward
/// pass's padded input `xp` and `dyv`: dy itself, or its padded copy when
/// [`backward_weight_dy_pad`] asks for one.
pub fn conv2d_backward_weight_tiled(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dyv: &Tensor,
    xp: &Tensor,
    g: &Conv2dGeom,
) -> Result<()> {
    let tiling = wgrad_tiling(gpu, g)?;
    conv2d_backward_weight_tiled_as(gpu, prog, dw, dyv, xp, g, tiling)
}

/// The adapter's tiling of a stride-1 tiled weight gradient (`None` at stride 2).
fn wgrad_tiling(gpu: &Gpu, g: &Conv2dGeom) -> Result<Option<WgradTiling>> {
    Ok(if g.sh == 1 && has_tiled_forward(g) {
        Some(tuned::<WgradTiling>(gpu, g)?)
    } else {
        None
    })
}

/// [`conv2d_backward_weight_tiled`] with the tiling of a stride-1 pass given
/// (`None` for stride 2: the tuned [`S2Wgrad`]; the same bits).
pub fn conv2d_backward_weight_tiled_as(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dyv: &Tensor,
    xp: &Tensor,
    g: &Conv2dGeom,
    tiling: Option<WgradTiling>,
) -> Result<()> {
    wgrad_tiled(gpu, prog, WgradOut::Reduced(dw), dyv, xp, g, tiling)
}

/// The stride-2 tiled weight gradient with kernel `kind` (or the one that
/// runs in its place, see [`S2Wgrad`]).
pub fn conv2d_backward_weight_s2_as(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dyv: &Tensor,
    xp: &Tensor,
    g: &Conv2dGeom,
    kind: S2Wgrad,
) -> Result<()> {
    wgrad_tiled_with(gpu, prog, WgradOut::Reduced(dw), dyv, xp, g, None, kind)
}

/// Where a tiled weight gradient goes: reduced into dw by a pass of its own,
/// or left as the partial sums of its chunks for a batched reduction
/// ([`conv2d_backward_weight_reduce_batch`]).
#[derive(Clone, Copy)]
pub enum WgradOut<'a> {
    Reduced(&'a Tensor),
    /// A tensor of [`wgrad_partials_shape`].
    Partials(&'a Tensor),
}

/// The partial sums, [chunks, Co, Ci, 9], that the tiled weight gradient of
/// `g` reduces in chunks `c` ([`wgrad_chunks`]); `None` where `g` has none.
/// (A weight gradient of one chunk writes dw itself where it is asked for
/// dw, [`WgradOut::Reduced`].)
pub fn wgrad_partials_shape(g: &Conv2dGeom, c: WgradChunks) -> Option<[usize; 4]> {
    has_tiled_forward(g).then(|| [wgrad_split(g, c).1, g.cout, g.cin, 9])
}

fn wgrad_tiled(
    gpu: &Gpu,
    prog: &mut Program,
    out: WgradOut<'_>,
    dyv: &Tensor,
    xp: &Tensor,
    g: &Conv2dGeom,
    tiling: Option<WgradTiling>,
) -> Result<()> {
    let s2 = if g.sh == 2 {
        tuned::<S2Wgrad>(gpu, g)?
    } else {
        S2Wgrad::Channels4 // not used at stride 1
    };
    wgrad_tiled_with(gpu, prog, out, dyv, xp, g, tiling, s2)
}

/// [`wgrad_tiled`]; `s2`: the stride-2 pass's kernel.
#[allow(clippy::too_many_arguments)]
fn wgrad_tiled_with(
    gpu: &Gpu,
    prog: &mut Program,
    out: WgradOut<'_>,
    dyv: &Tensor,
    xp: &Tensor,
    g: &Conv2dGeom,
    tiling: Option<WgradTiling>,
    s2: S2Wgrad,
) -> Result<()> {
    if tiling.is_some() != (g.sh == 1) {
        return Err(Error::invalid(format!(
            "conv2d_backward_weight_tiled: tiling {tiling:?} for stride {}",
            g.sh
        )));
    }
    if !has_tiled_forward(g) {
        return Err(Error::invalid(format!(
            "conv2d_backward_weight_tiled: no tiled kernel for {g:?}"
        )));
    }
    let pg = g.forward_pad();
    let dy_pitch = g.wo().next_multiple_of(4);
    if let WgradOut::Reduced(dw) = out {
        expect_shape("conv2d dweight", dw, &g.w_shape())?;
    }
    // dy itself when its rows are a multiple of 4 floats, else its padded copy.
    expect_shape(
        "conv2d dy (rows padded to 4)",
        dyv,
        &[g.n, g.cout, g.ho(), dy_pitch],
    )
    .or_else(|e| {
        if dyv.shape() == g.y_shape() && g.wo() == dy_pitch {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    expect_shape("conv2d padded input", xp, &pg.shape())?;
    u32_of("padded input elements", xp.len())?;
    let (imgs, chunks) = wgrad_split(g, wgrad_chunks(gpu));
    let len = g.cout * g.cin * 9;
    u32_of("weight-gradient partial sums", chunks * len)?;
    let partials = match out {
        // One chunk's sums are dw's, in dw's layout.
        WgradOut::Reduced(dw) if chunks == 1 => dw.reshape(&[1, g.cout, g.cin, 9])?,
        WgradOut::Reduced(_) => gpu.tensor(&[chunks, g.cout, g.cin, 9])?,
        WgradOut::Partials(t) => {
            expect_shape(
                "conv2d weight-gradient partial sums",
                t,
                &[chunks, g.cout, g.cin, 9],
            )?;
            t.clone()
        }
    };
    let p = WgradParams {
        n: g.n as u32,
        ci: g.cin as u32,
        co: g.cout as u32,
        ho: g.ho() as u32,
        wo: g.wo() as u32,
        dy_pitch: dy_pitch as u32,
        hp: pg.hp as u32,
        pitch: pg.pitch as u32,
        imgs: imgs as u32,
        chunks: chunks as u32,
        len: len as u32,
        _pad0: 0,
    };
    let (k, channels) = match tiling {
        Some(t) => {
            let t = t.on(gpu, g, dyv, xp);
            (t.kernel(), t.channels())
        }
        None => s2.on(gpu, g, dyv, xp),
    };
    let k = if g.cin <= 8 { wgrad_narrow(k) } else { k };
    // An invocation per input channel, `channels` output channels per workgroup row.
    let grid = crate::kernels::check_grid(
        gpu,
        k.entry,
        [
            g.cin.div_ceil(k.width() as usize) as u64,
            g.cout.div_ceil(channels) as u64,
            chunks as u64,
        ],
    )?;
    launch(
        gpu,
        prog,
        k,
        &p,
        &[Some(&partials), Some(dyv), Some(xp)],
        grid,
    )?;
    match out {
        WgradOut::Reduced(_) if chunks == 1 => Ok(()),
        WgradOut::Reduced(dw) => reduce_chunks(gpu, prog, dw, &partials, chunks),
        WgradOut::Partials(_) => Ok(()),
    }
}

/// The weight gradient, on the fastest path for its shape: the tiled 3x3
/// kernel (reading `xp`, the padded input [`conv2d_forward`] returned, or
/// padding x itself when there is none; and dy padded when its rows need it),
/// the 1x1 one over the unfolded input where [`unfold_chunk`] says so, or
/// the direct kernel over chunks of positions.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    prog: &mut Program,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    xp: Option<&Tensor>,
    g: &Conv2dGeom,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    if !has_tiled_forward(g) {
        return match unfold_chunk(gpu, g) {
            Some(images) => conv2d_unfolded_weight(gpu, prog, dw, dy, x, g, images, scratch),
            None => conv2d_direct_weight(gpu, prog, dw, dy, x, g),
        };
    }
    check(g, dy, x, dw, None)?;
    backward_weight_tiled_from(gpu, prog, WgradOut::Reduced(dw), dy, x, xp, g, scratch)
}

/// [`conv2d_backward_weight`] of a 3x3 convolution ([`wgrad_partials_shape`]
/// is `Some`) that leaves the partial sums of its chunks in `partials`, for
/// [`conv2d_backward_weight_reduce_batch`] to reduce with others'.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight_partials(
    gpu: &Gpu,
    prog: &mut Program,
    partials: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    xp: Option<&Tensor>,
    g: &Conv2dGeom,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    if !has_tiled_forward(g) {
        return Err(Error::invalid(format!(
            "conv2d_backward_weight_partials: no tiled weight gradient for {g:?}"
        )));
    }
    expect_shape("conv2d dy", dy, &g.y_shape())?;
    expect_shape("conv2d input", x, &g.x_shape())?;
    backward_weight_tiled_from(
        gpu,
        prog,
        WgradOut::Partials(partials),
        dy,
        x,
        xp,
        g,
        scratch,
    )
}

/// The tiled weight gradient: x padded unless `xp` is given, dy padded
/// where its rows need it.
#[allow(clippy::too_many_arguments)]
fn backward_weight_tiled_from(
    gpu: &Gpu,
    prog: &mut Program,
    out: WgradOut<'_>,
    dy: &Tensor,
    x: &Tensor,
    xp: Option<&Tensor>,
    g: &Conv2dGeom,
    scratch: &mut dyn Scratch,
) -> Result<()> {
    let own = match xp {
        Some(_) => None,
        None => {
            let pg = g.forward_pad();
            let t = scratch.take(gpu, &pg.shape())?;
            conv2d_pad(gpu, prog, &t, x, &pg)?;
            Some(t)
        }
    };
    let xp = xp
        .or(own.as_ref())
        .ok_or_else(|| Error::invalid("no padded input"))?;
    match backward_weight_dy_pad(g) {
        Some(dpg) => {
            let dyp = scratch.take(gpu, &dpg.shape())?;
            conv2d_pad(gpu, prog, &dyp, dy, &dpg)?;
            wgrad_tiled(gpu, prog, out, &dyp, xp, g, wgrad_tiling(gpu, g)?)?;
            scratch.give(dyp);
        }
        None => wgrad_tiled(gpu, prog, out, dy, xp, g, wgrad_tiling(gpu, g)?)?,
    }
    if let Some(t) = own {
        scratch.give(t);
    }
    Ok(())
}
