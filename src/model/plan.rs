//! A graph prepared to run on the GPU for one batch size: every activation,
//! gradient and scratch tensor allocated, every dispatch prepared (pipelines
//! cached, bind groups built once). A training step then records the whole
//! forward pass, loss, backward pass and SGD update into one submission (one
//! compute pass, or several where texel copies go between them), and
//! allocates nothing.

use std::collections::{BTreeSet, HashMap};

use crate::device::Gpu;
use crate::device::Tensor;
use crate::error::{Error, Result};
use crate::kernels::batchnorm::{self, ResidualGrad};
use crate::kernels::conv2d::Scratch as _;
use crate::kernels::sgd::SgdParams;
use crate::kernels::{Program, conv2d, elementwise, linear, loss, pool, shortcut};
use crate::model::graph::{Block, Graph, Op, Tid};
use crate::model::params::Params;
use crate::ops::SgdConfig;
use crate::ops::{BnOptions, Conv2dGeom, PadGeom, ShortcutGeom};

/// Batch norm with batch statistics (training) or running statistics (eval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// What a plan computes besides the forward pass and the loss.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Gradients of every parameter (needs [`Mode::Train`]).
    pub backward: bool,
    /// An SGD update after the backward pass.
    pub sgd: Option<SgdConfig>,
    /// Blocks bypassed (output = the shortcut alone), by index in `graph.blocks`.
    pub lesions: BTreeSet<usize>,
    /// The most bytes of weight-gradient partial sums reduced together
    /// (default [`WGRAD_ARENA_BYTES`]; 0 reduces each conv's by itself).
    pub wgrad_batch_bytes: Option<u64>,
    /// [`Mode::Eval`]: each batch norm after a tiled conv (with its residual
    /// and ReLU) runs as that conv's epilogue where the conv's pass can run
    /// it ([`conv2d::conv2d_forward_padded_bn`]): one pass instead of two.
    /// The conv's own output (the batch norm's input) is then never stored
    /// and [`Plan::bn_coef`] has nothing for that batch norm, so plans whose
    /// probes read either leave this off. Plans that read only the logits
    /// take [`fuse_bn_pays`].
    pub fuse_bn: bool,
}

/// Whether eval plans on `gpu` run batch norm in the conv's pass
/// ([`PlanOptions::fuse_bn`]) by default: on GPUs (a pass over memory and a
/// dispatch fewer per batch norm), not on CPU adapters, where the
/// epilogue's loads and single stores cost more than the pass it saves
/// (lavapipe, resnet20 inference at batch 128: 0.9x). `RESLAB_FUSE_BN=1` or
/// `0` overrides.
pub fn fuse_bn_pays(gpu: &Gpu) -> bool {
    match std::env::var("RESLAB_FUSE_BN").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => gpu.adapter_info().device_type != wgpu::DeviceType::Cpu,
    }
}

/// Scratch tensors reused once their last reader has been recorded, keyed by
/// shape; and the weight tiles the step's first pass writes for every conv.
#[derive(Default)]
struct Scratch {
    free: HashMap<Vec<usize>, Vec<Tensor>>,
    /// (offset of the weights in their buffer, backward-data, flipped) → tiles.
    tiles: HashMap<(u64, bool, bool), Tensor>,
    /// Activations their batch norm writes zero-padded too, in the layout of
    /// the tiled conv that reads them ([`fused_pads`]).
    pad_acts: HashMap<Tid, PadGeom>,
    /// Those padded copies, once recorded.
    padded_acts: HashMap<Tid, (PadGeom, Tensor)>,
    /// Gradients of conv outputs that the batch norm after the conv wrote
    /// zero-padded for the conv's backward-data pass, and their layout.
    padded_grads: HashMap<Tid, (PadGeom, Tensor)>,
    /// Those padded gradients free for reuse, by layout: cleared when made,
    /// then written only by batch norm's padded passes, which leave the rows
    /// with no source as they are ([`batchnorm::Padded::halo_zero`]), so
    /// kept apart from the other scratch tensors.
    free_padded: HashMap<PadGeom, Vec<Tensor>>,
    /// Weight gradients whose chunk sums wait to be reduced together.
    wgrad: Option<WgradBatch>,
    /// Batch norms run as the epilogue of the conv before them.
    fused_bn: BTreeSet<usize>,
}

/// The most bytes of weight-gradient partial sums a plan keeps for one
/// batched reduction (more, and the reduction runs in more passes).
pub const WGRAD_ARENA_BYTES: u64 = 32 << 20;

/// The tiled weight gradients' partial sums, side by side in one tensor, and
/// the jobs that reduce them into the flat gradients in one pass: a pass per
/// batch of convs rather than one per conv.
struct WgradBatch {
    arena: Tensor,
    grads: Tensor,
    used: usize,
    jobs: Vec<conv2d::WgradJob>,
}

impl WgradBatch {
    /// For the tiled convs of `graph` (the gradients `grads` one binding
    /// holds), or `None` where there is nothing to batch.
    fn new(
        gpu: &Gpu,
        graph: &Graph,
        batch: usize,
        grads: &Tensor,
        bytes: u64,
    ) -> Result<Option<WgradBatch>> {
        let l = gpu.limits();
        let align = (l.min_storage_buffer_offset_alignment as usize / 4).max(1);
        let max = l.max_storage_buffer_binding_size.min(bytes) as usize / 4;
        if grads.bytes() > l.max_storage_buffer_binding_size {
            return Ok(None);
        }
        let mut total = 0usize;
        for op in &graph.ops {
            if let Op::Conv {
                x,
                y,
                k,
                stride,
                pad,
                ..
            } = op
                && let Some(s) = conv2d::wgrad_partials_shape(
                    &graph.conv_geom(batch, *x, *y, *k, *stride, *pad),
                    conv2d::wgrad_chunks(gpu),
                )
                && s[0] > 1
            {
                let len: usize = s.iter().product();
                if len <= max {
                    total = total.next_multiple_of(align) + len;
                }
            }
        }
        if total == 0 {
            return Ok(None);
        }
        Ok(Some(WgradBatch {
            arena: gpu.tensor(&[total.min(max)])?,
            grads: grads.clone(),
            used: 0,
            jobs: Vec::new(),
        }))
    }

    /// Room for partial sums of `shape` reduced into `dw` (the batch so far
    /// reduced first when full), or `None` when they would not fit at all.
    fn reserve(
        &mut self,
        gpu: &Gpu,
        prog: &mut Program,
        dw: &Tensor,
        shape: [usize; 4],
    ) -> Result<Option<Tensor>> {
        let len: usize = shape.iter().product();
        if len > self.arena.len() {
            return Ok(None);
        }
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
        let mut at = self.used.next_multiple_of(align);
        if at + len > self.arena.len() {
            self.flush(gpu, prog)?;
            at = 0;
        }
        let partials = self.arena.view(at, &shape)?;
        self.used = at + len;
        self.jobs.push(conv2d::WgradJob {
            dw: dw.clone(),
            partials: partials.clone(),
        });
        Ok(Some(partials))
    }

    /// Records the reduction of every job so far.
    fn flush(&mut self, gpu: &Gpu, prog: &mut Program) -> Result<()> {
        conv2d::conv2d_backward_weight_reduce_batch(
            gpu,
            prog,
            &self.grads,
            &self.arena,
            &self.jobs,
        )?;
        self.jobs.clear();
        self.used = 0;
        Ok(())
    }
}

impl Scratch {
    /// A padded gradient copy of layout `pg` whose rows with no source hold
    /// zeros: a free one, or a new one cleared.
    fn take_padded(&mut self, gpu: &Gpu, pg: &PadGeom) -> Result<Tensor> {
        match self.free_padded.get_mut(pg).and_then(|v| v.pop()) {
            Some(t) => Ok(t),
            None => gpu.zeros(&pg.shape()),
        }
    }
}

impl conv2d::Scratch for Scratch {
    fn take(&mut self, gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        match self.free.get_mut(shape).and_then(|v| v.pop()) {
            Some(t) => Ok(t),
            None => gpu.tensor(shape),
        }
    }

    fn give(&mut self, t: Tensor) {
        self.free.entry(t.shape().to_vec()).or_default().push(t);
    }

    fn weight_tiles(
        &mut self,
        gpu: &Gpu,
        prog: &mut Program,
        w: &Tensor,
        g: &crate::ops::Conv2dGeom,
        backward_data: bool,
        flip: bool,
    ) -> Result<Tensor> {
        if let Some(t) = self.tiles.get(&(w.offset(), backward_data, flip)) {
            return Ok(t.clone());
        }
        // Not planned (no conv of the plan asks for it): written here.
        let wt =
            conv2d::weight_tiles_tensor(gpu, self, &conv2d::weight_tiles_shape(g, backward_data))?;
        conv2d::conv2d_weight_tiles_with(gpu, prog, &wt, w, g, backward_data, flip)?;
        Ok(wt)
    }

    fn give_weight_tiles(&mut self, wt: Tensor) {
        let planned = self
            .tiles
            .values()
            .any(|t| t.buffer() == wt.buffer() && t.offset() == wt.offset());
        if !planned {
            self.give(conv2d::weight_tiles_allocation(wt));
        }
    }
}

/// Per-op state the backward pass and the probes need.
#[derive(Default)]
struct OpState {
    /// Padded input of a tiled conv (read again by its weight gradient).
    xp: Option<Tensor>,
    /// BN: (mean, invstd) of the batch.
    saved: Option<Tensor>,
    /// BN: the (scale, shift) its output was made with.
    coef: Option<Tensor>,
    /// Max pool: where each maximum came from.
    argmax: Option<Tensor>,
}

/// The weight tiles a plan's convolutions read: every conv's forward layout
/// and, with the backward pass, the backward-data layout of each whose input
/// needs a gradient; lesioned convs (never recorded) left out, and the
/// forward layout of those whose forward pass runs over the unfolded input
/// (which writes its own tiles, taps outermost).
fn tile_jobs(
    gpu: &Gpu,
    graph: &Graph,
    params: &Params,
    batch: usize,
    backward: bool,
    skipped: &BTreeSet<usize>,
) -> Result<Vec<conv2d::TileJob>> {
    let mut jobs = Vec::new();
    for (i, op) in graph.ops.iter().enumerate() {
        let Op::Conv {
            name,
            x,
            y,
            k,
            stride,
            pad,
        } = op
        else {
            continue;
        };
        if skipped.contains(&i) {
            continue;
        }
        let g = graph.conv_geom(batch, *x, *y, *k, *stride, *pad);
        let w = params.param(&format!("{name}.weight"))?;
        if conv2d::unfold_chunk(gpu, &g).is_none() {
            jobs.push(conv2d::TileJob {
                w: w.clone(),
                g,
                backward_data: false,
                flip: false,
            });
        }
        if backward
            && *x != graph.input
            && let Some(flip) = conv2d::backward_data_tiles(&g)
        {
            jobs.push(conv2d::TileJob {
                w,
                g,
                backward_data: true,
                flip,
            });
        }
    }
    Ok(jobs)
}

/// The activations whose batch norm also writes the zero-padded copy that
/// the first tiled 3x3 conv reading them needs (a pass fewer per conv), with
/// that layout: every one written by a batch norm that runs, but a lesioned
/// block's output (written again by the lesion).
fn fused_pads(
    graph: &Graph,
    batch: usize,
    skipped: &BTreeSet<usize>,
    lesions: &BTreeSet<usize>,
) -> HashMap<Tid, PadGeom> {
    let by_bn: BTreeSet<Tid> = graph
        .ops
        .iter()
        .enumerate()
        .filter(|(j, op)| matches!(op, Op::BatchNorm { .. }) && !skipped.contains(j))
        .map(|(_, op)| op.output())
        .filter(|t| !lesions.iter().any(|&b| graph.blocks[b].output == *t))
        .collect();
    let mut pads = HashMap::new();
    for (i, op) in graph.ops.iter().enumerate() {
        let Op::Conv {
            x,
            y,
            k,
            stride,
            pad,
            ..
        } = op
        else {
            continue;
        };
        let g = graph.conv_geom(batch, *x, *y, *k, *stride, *pad);
        if !skipped.contains(&i) && conv2d::has_tiled_forward(&g) && by_bn.contains(x) {
            pads.entry(*x).or_insert_with(|| g.forward_pad());
        }
    }
    pads
}

/// A graph ready to run for `batch` samples.
pub struct Plan {
    gpu: Gpu,
    pub batch: usize,
    pub mode: Mode,
    pub graph: Graph,
    /// Every graph tensor, [batch, C, H, W].
    pub acts: Vec<Tensor>,
    /// Input images [batch, C, H, W].
    pub input: Tensor,
    /// Labels, u32 [batch].
    pub labels: Tensor,
    /// (loss, correct) per sample [batch, 2].
    pub per_sample: Tensor,
    /// (mean loss, number correct) [2].
    pub metrics: Tensor,
    state: Vec<OpState>,
    /// Forward, loss, backward and update, in recording order.
    pub program: Program,
    /// The SGD dispatches (index in the program, elements) and their settings.
    sgd: Option<(Vec<(usize, usize)>, SgdConfig)>,
    lesions: BTreeSet<usize>,
}

impl Plan {
    /// Prepares `graph` with `params` for batches of `batch`.
    pub fn new(
        gpu: &Gpu,
        graph: &Graph,
        params: &Params,
        batch: usize,
        mode: Mode,
        opts: PlanOptions,
    ) -> Result<Plan> {
        if batch == 0 {
            return Err(Error::invalid("batch size must be at least 1"));
        }
        crate::kernels::table::check_limits(gpu.limits())?;
        if opts.backward && mode != Mode::Train {
            return Err(Error::invalid("gradients need batch norm in training mode"));
        }
        if opts.sgd.is_some() && !opts.backward {
            return Err(Error::invalid("an SGD update needs the backward pass"));
        }
        graph.check_lesions(&opts.lesions)?;
        if opts.backward && !opts.lesions.is_empty() {
            return Err(Error::invalid(
                "lesions are for evaluation; train the whole net",
            ));
        }
        crate::model::memory::check_fits_gpu(gpu, graph, batch, mode, opts.backward)?;
        let acts = graph
            .tensors
            .iter()
            .map(|d| gpu.tensor(&[batch, d.c, d.h, d.w]))
            .collect::<Result<Vec<_>>>()?;
        let input = acts[graph.input].clone();
        let classes = graph.tensors[graph.logits].c;
        let labels = gpu.tensor(&[batch])?;
        let per_sample = gpu.tensor(&[batch, 2])?;
        let metrics = gpu.zeros(&[2])?;
        let mut plan = Plan {
            gpu: gpu.clone(),
            batch,
            mode,
            graph: graph.clone(),
            acts,
            input,
            labels,
            per_sample,
            metrics,
            state: (0..graph.ops.len()).map(|_| OpState::default()).collect(),
            program: Program::new(),
            sgd: None,
            lesions: opts.lesions.clone(),
        };
        let mut prog = Program::new();
        let mut scratch = Scratch::default();
        let skipped = graph.lesioned_ops(&opts.lesions);
        scratch.pad_acts = fused_pads(graph, batch, &skipped, &opts.lesions);
        // Every conv's weight tiles (forward, and backward-data where the
        // input's gradient is needed), in one pass at the start of the step.
        let jobs = tile_jobs(gpu, graph, params, batch, opts.backward, &skipped)?;
        let views = conv2d::conv2d_weight_tiles_batch(gpu, &mut prog, &params.params, &jobs)?;
        for (j, t) in jobs.iter().zip(views) {
            scratch
                .tiles
                .insert((j.w.offset(), j.backward_data, j.flip), t);
        }
        let fuse_bn = opts.fuse_bn && mode == Mode::Eval;
        for i in 0..graph.ops.len() {
            if skipped.contains(&i) || scratch.fused_bn.contains(&i) {
                // (a fused batch norm ran in its conv's pass)
            } else if fuse_bn
                && !skipped.contains(&(i + 1))
                && plan.conv_bn(&mut prog, &mut scratch, params, i)?
            {
                scratch.fused_bn.insert(i + 1);
            } else {
                plan.forward_op(&mut prog, &mut scratch, params, i)?;
            }
            for b in graph.lesions_ending_at(&opts.lesions, i) {
                plan.lesion_output(&mut prog, b)?;
            }
        }
        let logits = plan.acts[graph.logits].reshape(&[batch, classes])?;
        let dlogits = if opts.backward {
            Some(gpu.tensor(&[batch, classes])?)
        } else {
            None
        };
        loss::softmax_xent(
            gpu,
            &mut prog,
            dlogits.as_ref(),
            &plan.per_sample,
            &plan.metrics,
            &logits,
            &plan.labels,
        )?;
        if let Some(dl) = dlogits {
            let bytes = opts.wgrad_batch_bytes.unwrap_or(WGRAD_ARENA_BYTES);
            scratch.wgrad = WgradBatch::new(gpu, graph, batch, &params.grads, bytes)?;
            plan.backward(&mut prog, &mut scratch, params, dl)?;
        }
        if let Some(cfg) = opts.sgd {
            let parts = crate::kernels::sgd::sgd_steps(
                gpu,
                &mut prog,
                &params.params,
                &params.momentum,
                &params.grads,
                &cfg,
                true,
            )?;
            plan.sgd = Some((parts, cfg));
        }
        plan.program = prog;
        // The pipelines were made on other threads while the plan recorded.
        gpu.pipelines_ready()?;
        gpu.check()?;
        Ok(plan)
    }

    /// A lesioned block's output: the shortcut alone (through the block's ReLU
    /// for post-activation blocks).
    fn lesion_output(&self, prog: &mut Program, b: &Block) -> Result<()> {
        let (y, x) = (&self.acts[b.output], &self.acts[b.shortcut]);
        if b.relu_out {
            elementwise::relu_forward(&self.gpu, prog, y, x)
        } else {
            elementwise::copy(&self.gpu, prog, y, x, false)
        }
    }

    /// Records op `i`, a tiled conv, and the batch norm after it (op i + 1,
    /// eval mode, its only reader) as one pass with the batch norm as
    /// epilogue; `false`, having recorded nothing, where they cannot be.
    fn conv_bn(
        &mut self,
        prog: &mut Program,
        scratch: &mut Scratch,
        params: &Params,
        i: usize,
    ) -> Result<bool> {
        let Op::Conv {
            name,
            x,
            y,
            k,
            stride,
            pad,
        } = &self.graph.ops[i]
        else {
            return Ok(false);
        };
        let Some(Op::BatchNorm {
            name: bn_name,
            x: bn_x,
            y: bn_y,
            relu,
            residual,
        }) = self.graph.ops.get(i + 1)
        else {
            return Ok(false);
        };
        let g = self.graph.conv_geom(self.batch, *x, *y, *k, *stride, *pad);
        if bn_x != y || self.graph.consumers()[*y].len() != 1 || !conv2d::has_tiled_forward(&g) {
            return Ok(false);
        }
        let gpu = self.gpu.clone();
        let param = |n: &str| params.param(n);
        let (gamma, beta) = (
            param(&format!("{bn_name}.weight"))?,
            param(&format!("{bn_name}.bias"))?,
        );
        let rm = params.buffer(&format!("{bn_name}.running_mean"))?;
        let rv = params.buffer(&format!("{bn_name}.running_var"))?;
        let (Some((gb, beta_at)), Some((run, rv_at))) = (gamma.span(&beta), rm.span(&rv)) else {
            return Ok(false);
        };
        let w = param(&format!("{name}.weight"))?;
        // Recorded here, and kept only if the fused pass runs: the conv's
        // input padded by the batch norm before it, else padded now.
        let mut pre = Program::new();
        let xp = match scratch.padded_acts.get(x) {
            Some((pg, xp)) if *pg == g.forward_pad() => xp.clone(),
            _ => {
                let pg = g.forward_pad();
                let xp = gpu.tensor(&pg.shape())?;
                conv2d::conv2d_pad(&gpu, &mut pre, &xp, &self.acts[*x], &pg)?;
                xp
            }
        };
        // The batch norm's padded output, if the next conv reads one: its
        // padding zeros once, never written again.
        let padded = match scratch.pad_acts.get(bn_y) {
            Some(pg) => Some((*pg, gpu.zeros(&pg.shape())?)),
            None => None,
        };
        let res = residual.map(|r| self.acts[r].clone());
        let e = conv2d::BnEpilogue {
            gamma_beta: &gb,
            beta_at,
            running: &run,
            rv_at,
            eps: BnOptions::default().eps,
            relu: *relu,
            residual: res.as_ref(),
            padded: padded.as_ref().map(|(pg, t)| (t, *pg)),
        };
        let fused = conv2d::conv2d_forward_padded_bn(
            &gpu,
            &mut pre,
            &self.acts[*bn_y],
            &xp,
            &w,
            &g,
            &e,
            scratch,
        )?;
        if !fused {
            return Ok(false);
        }
        prog.extend(pre);
        self.state[i].xp = Some(xp);
        if let Some(p) = padded {
            scratch.padded_acts.insert(*bn_y, p);
        }
        Ok(true)
    }

    fn forward_op(
        &mut self,
        prog: &mut Program,
        scratch: &mut Scratch,
        params: &Params,
        i: usize,
    ) -> Result<()> {
        let gpu = self.gpu.clone();
        let batch = self.batch;
        let op = self.graph.ops[i].clone();
        match &op {
            Op::Conv {
                name,
                x,
                y,
                k,
                stride,
                pad,
            } => {
                let g = self.graph.conv_geom(self.batch, *x, *y, *k, *stride, *pad);
                let w = params.param(&format!("{name}.weight"))?;
                let padded = scratch
                    .padded_acts
                    .get(x)
                    .filter(|(pg, _)| conv2d::has_tiled_forward(&g) && *pg == g.forward_pad())
                    .map(|(_, xp)| xp.clone());
                self.state[i].xp = match padded {
                    Some(xp) => {
                        conv2d::conv2d_forward_padded(
                            &gpu,
                            prog,
                            &self.acts[*y],
                            &xp,
                            &w,
                            None,
                            &g,
                            scratch,
                        )?;
                        Some(xp)
                    }
                    None => conv2d::conv2d_forward(
                        &gpu,
                        prog,
                        &self.acts[*y],
                        &self.acts[*x],
                        &w,
                        None,
                        &g,
                        scratch,
                    )?,
                };
            }
            Op::BatchNorm {
                name,
                x,
                y,
                relu,
                residual,
            } => {
                let g = self.graph.bn_geom(batch, *x);
                let o = BnOptions {
                    relu: *relu,
                    ..Default::default()
                };
                let gamma = params.param(&format!("{name}.weight"))?;
                let beta = params.param(&format!("{name}.bias"))?;
                let rm = params.buffer(&format!("{name}.running_mean"))?;
                let rv = params.buffer(&format!("{name}.running_var"))?;
                // The statistics then the coefficients, side by side (the
                // fused passes write both through one binding).
                let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
                let coef_at = (2 * g.c).next_multiple_of(align);
                let stats_coef = gpu.tensor(&[coef_at + 2 * g.c])?;
                let coef = stats_coef.view(coef_at, &[2, g.c])?;
                let res = residual.map(|r| self.acts[r].clone());
                let (xa, ya) = (self.acts[*x].clone(), self.acts[*y].clone());
                // The padded copy the next conv reads: its rows with no
                // source zeroed once, and only ever written by this pass.
                let pad = match scratch.pad_acts.get(y) {
                    Some(pg) => Some((*pg, gpu.zeros(&pg.shape())?)),
                    None => None,
                };
                let padded = pad.as_ref().map(|(pg, xp)| batchnorm::Padded {
                    xp,
                    pg,
                    halo_zero: true,
                });
                match self.mode {
                    Mode::Train => {
                        let saved = stats_coef.view(0, &[2, g.c])?;
                        batchnorm::batchnorm_forward_train_padded(
                            &gpu,
                            prog,
                            &ya,
                            padded,
                            &saved,
                            &coef,
                            &rm,
                            &rv,
                            &xa,
                            &gamma,
                            &beta,
                            res.as_ref(),
                            &g,
                            &o,
                        )?;
                        self.state[i].saved = Some(saved);
                    }
                    Mode::Eval => {
                        batchnorm::batchnorm_forward_eval_padded(
                            &gpu,
                            prog,
                            &ya,
                            padded,
                            &coef,
                            &xa,
                            &rm,
                            &rv,
                            &gamma,
                            &beta,
                            res.as_ref(),
                            &g,
                            &o,
                        )?;
                    }
                }
                self.state[i].coef = Some(coef);
                if let Some(p) = pad {
                    scratch.padded_acts.insert(*y, p);
                }
            }
            Op::Add { a, b, y, relu } => elementwise::add_forward(
                &gpu,
                prog,
                &self.acts[*y],
                &self.acts[*a],
                &self.acts[*b],
                *relu,
            )?,
            Op::ShortcutA { x, y, stride } => {
                let g = self.graph.shortcut_geom(self.batch, *x, *y, *stride);
                shortcut::shortcut_a_forward(&gpu, prog, &self.acts[*y], &self.acts[*x], &g)?;
            }
            Op::MaxPool {
                x,
                y,
                k,
                stride,
                pad,
            } => {
                let g = self.graph.pool_geom(self.batch, *x, *k, *stride, *pad);
                let argmax = gpu.tensor(&g.y_shape())?;
                pool::maxpool_forward(&gpu, prog, &self.acts[*y], &argmax, &self.acts[*x], &g)?;
                self.state[i].argmax = Some(argmax);
            }
            Op::AvgPool { x, y } => {
                let c = self.graph.tensors[*y].c;
                pool::avgpool_forward(
                    &gpu,
                    prog,
                    &self.acts[*y].reshape(&[batch, c])?,
                    &self.acts[*x],
                )?;
            }
            Op::Linear { name, x, y } => {
                let (cx, cy) = (self.graph.tensors[*x].len(), self.graph.tensors[*y].c);
                let w = params.param(&format!("{name}.weight"))?;
                let b = params.param(&format!("{name}.bias"))?;
                linear::linear_forward(
                    &gpu,
                    prog,
                    &self.acts[*y].reshape(&[batch, cy])?,
                    &self.acts[*x].reshape(&[batch, cx])?,
                    &w,
                    Some(&b),
                )?;
            }
        }
        Ok(())
    }

    /// Records the backward pass. Gradients of activations live in scratch
    /// tensors: each is created when its first consumer's backward writes it and
    /// returned when its producer's backward has read it. A tensor read by
    /// several ops sums their gradients (the first writes, the others add).
    fn backward(
        &mut self,
        prog: &mut Program,
        scratch: &mut Scratch,
        params: &Params,
        dlogits: Tensor,
    ) -> Result<()> {
        let gpu = self.gpu.clone();
        let batch = self.batch;
        let n_t = self.graph.tensors.len();
        let mut grads: Vec<Option<Tensor>> = vec![None; n_t];
        grads[self.graph.logits] = Some(dlogits.reshape(self.acts[self.graph.logits].shape())?);
        // Tensors whose gradient nobody needs: the input and what only feeds it.
        let needs_grad = |t: Tid| t != self.graph.input;
        for i in (0..self.graph.ops.len()).rev() {
            let op = self.graph.ops[i].clone();
            let y = op.output();
            let Some(gy) = grads[y].take() else {
                continue; // nothing downstream of this op reaches the loss
            };
            match &op {
                Op::Conv {
                    name,
                    x,
                    k,
                    stride,
                    pad,
                    ..
                } => {
                    let g = self.graph.conv_geom(self.batch, *x, y, *k, *stride, *pad);
                    let w = params.param(&format!("{name}.weight"))?;
                    let dw = params.grad(&format!("{name}.weight"))?;
                    // (A weight gradient of one chunk writes dw itself.)
                    let partials = match (
                        conv2d::wgrad_partials_shape(&g, conv2d::wgrad_chunks(&gpu)),
                        &mut scratch.wgrad,
                    ) {
                        (Some(shape), Some(b)) if shape[0] > 1 => {
                            b.reserve(&gpu, prog, &dw, shape)?
                        }
                        _ => None,
                    };
                    let xp = self.state[i].xp.clone();
                    match partials {
                        Some(t) => conv2d::conv2d_backward_weight_partials(
                            &gpu,
                            prog,
                            &t,
                            &gy,
                            &self.acts[*x],
                            xp.as_ref(),
                            &g,
                            scratch,
                        )?,
                        None => conv2d::conv2d_backward_weight(
                            &gpu,
                            prog,
                            &dw,
                            &gy,
                            &self.acts[*x],
                            xp.as_ref(),
                            &g,
                            scratch,
                        )?,
                    }
                    if needs_grad(*x) {
                        let (gx, acc) = grad_target(&gpu, scratch, &mut grads, *x, &self.acts[*x])?;
                        match scratch.padded_grads.remove(&y) {
                            Some((pg, dyp)) => {
                                // An option-A shortcut beside a stride-2 conv:
                                // its gradient joins this pass where it can
                                // (else its own pass adds it later).
                                let beside = match acc {
                                    false => self.shortcut_beside(i, *x, &g).and_then(|(t, sg)| {
                                        grads[t].take().map(|dres| (t, sg, dres))
                                    }),
                                    true => None,
                                };
                                match beside {
                                    Some((t, sg, dres)) => {
                                        let shortcut = conv2d::S2Shortcut {
                                            dy: &dres,
                                            geom: &sg,
                                        };
                                        if conv2d::conv2d_backward_data_padded_with_shortcut(
                                            &gpu, prog, &gx, &dyp, &w, &g, shortcut, scratch,
                                        )? {
                                            scratch.give(dres);
                                        } else {
                                            grads[t] = Some(dres);
                                        }
                                    }
                                    None => conv2d::conv2d_backward_data_padded(
                                        &gpu, prog, &gx, &dyp, &w, &g, acc, scratch,
                                    )?,
                                }
                                scratch.free_padded.entry(pg).or_default().push(dyp);
                            }
                            None => conv2d::conv2d_backward_data(
                                &gpu, prog, &gx, &gy, &w, &g, acc, scratch,
                            )?,
                        }
                        grads[*x] = Some(gx);
                    }
                }
                Op::BatchNorm {
                    name,
                    x,
                    relu,
                    residual,
                    ..
                } => {
                    let g = self.graph.bn_geom(batch, *x);
                    let gamma = params.param(&format!("{name}.weight"))?;
                    let dgamma = params.grad(&format!("{name}.weight"))?;
                    let dbeta = params.grad(&format!("{name}.bias"))?;
                    let saved = self.state[i]
                        .saved
                        .clone()
                        .ok_or_else(|| Error::invalid("BN backward without saved stats"))?;
                    let res = match residual {
                        Some(r) => Some((
                            *r,
                            grad_target(&gpu, scratch, &mut grads, *r, &self.acts[*r])?,
                        )),
                        None => None,
                    };
                    let gx = scratch.take(&gpu, self.acts[*x].shape())?;
                    // dx padded for the backward-data pass of the conv before,
                    // when dx is that conv's whole output gradient.
                    let pg = self
                        .conv_dy_pad(*x)
                        .filter(|_| needs_grad(*x) && grads[*x].is_none());
                    let dxp = match &pg {
                        Some(pg) => Some(scratch.take_padded(&gpu, pg)?),
                        None => None,
                    };
                    let padded = pg
                        .as_ref()
                        .zip(dxp.as_ref())
                        .map(|(pg, xp)| batchnorm::Padded {
                            xp,
                            pg,
                            halo_zero: true,
                        });
                    batchnorm::batchnorm_backward_padded(
                        &gpu,
                        prog,
                        &gx,
                        padded,
                        &dgamma,
                        &dbeta,
                        res.as_ref().map(|(_, (t, acc))| ResidualGrad {
                            dres: t,
                            accumulate: *acc,
                        }),
                        &gy,
                        relu.then_some(&self.acts[y]),
                        &self.acts[*x],
                        &saved,
                        self.state[i]
                            .coef
                            .as_ref()
                            .map(|coef| batchnorm::TrainForward {
                                coef,
                                residual: residual.is_some(),
                            }),
                        &gamma,
                        &g,
                    )?;
                    if let Some((r, (t, _))) = res {
                        grads[r] = Some(t);
                    }
                    if let Some((pg, dxp)) = pg.zip(dxp) {
                        scratch.padded_grads.insert(*x, (pg, dxp));
                    }
                    if needs_grad(*x) {
                        accumulate_into(&gpu, prog, scratch, &mut grads, *x, gx)?;
                    } else {
                        scratch.give(gx);
                    }
                }
                Op::Add { a, b, relu, .. } => {
                    let g_in = if *relu {
                        let t = scratch.take(&gpu, gy.shape())?;
                        elementwise::relu_backward(&gpu, prog, &t, &gy, &self.acts[y])?;
                        t
                    } else {
                        gy.clone()
                    };
                    for t in [*a, *b] {
                        if needs_grad(t) {
                            let (gt, acc) =
                                grad_target(&gpu, scratch, &mut grads, t, &self.acts[t])?;
                            elementwise::copy(&gpu, prog, &gt, &g_in, acc)?;
                            grads[t] = Some(gt);
                        }
                    }
                    if *relu {
                        scratch.give(g_in);
                    }
                }
                Op::ShortcutA { x, stride, .. } => {
                    if needs_grad(*x) {
                        let g = self.graph.shortcut_geom(self.batch, *x, y, *stride);
                        let (gx, acc) = grad_target(&gpu, scratch, &mut grads, *x, &self.acts[*x])?;
                        shortcut::shortcut_a_backward(&gpu, prog, &gx, &gy, &g, acc)?;
                        grads[*x] = Some(gx);
                    }
                }
                Op::MaxPool {
                    x, k, stride, pad, ..
                } => {
                    if needs_grad(*x) {
                        let g = self.graph.pool_geom(self.batch, *x, *k, *stride, *pad);
                        let argmax = self.state[i]
                            .argmax
                            .clone()
                            .ok_or_else(|| Error::invalid("max pool without argmax"))?;
                        let gx = scratch.take(&gpu, self.acts[*x].shape())?;
                        pool::maxpool_backward(&gpu, prog, &gx, &gy, &argmax, &g)?;
                        accumulate_into(&gpu, prog, scratch, &mut grads, *x, gx)?;
                    }
                }
                Op::AvgPool { x, .. } => {
                    if needs_grad(*x) {
                        let c = self.graph.tensors[y].c;
                        let gx = scratch.take(&gpu, self.acts[*x].shape())?;
                        pool::avgpool_backward(&gpu, prog, &gx, &gy.reshape(&[batch, c])?)?;
                        accumulate_into(&gpu, prog, scratch, &mut grads, *x, gx)?;
                    }
                }
                Op::Linear { name, x, .. } => {
                    let (cx, cy) = (self.graph.tensors[*x].len(), self.graph.tensors[y].c);
                    let w = params.param(&format!("{name}.weight"))?;
                    let dy2 = gy.reshape(&[batch, cy])?;
                    let x2 = self.acts[*x].reshape(&[batch, cx])?;
                    linear::linear_backward_weight(
                        &gpu,
                        prog,
                        &params.grad(&format!("{name}.weight"))?,
                        &dy2,
                        &x2,
                    )?;
                    linear::linear_backward_bias(
                        &gpu,
                        prog,
                        &params.grad(&format!("{name}.bias"))?,
                        &dy2,
                    )?;
                    if needs_grad(*x) {
                        let gx = scratch.take(&gpu, self.acts[*x].shape())?;
                        linear::linear_backward_data(
                            &gpu,
                            prog,
                            &gx.reshape(&[batch, cx])?,
                            &dy2,
                            &w,
                        )?;
                        accumulate_into(&gpu, prog, scratch, &mut grads, *x, gx)?;
                    }
                }
            }
            scratch.give(gy);
        }
        if let Some(b) = &mut scratch.wgrad {
            b.flush(&gpu, prog)?;
        }
        Ok(())
    }

    /// The output and geometry of the option-A shortcut of stride 2 that
    /// reads `x` beside op `i`, a 3x3 stride-2 conv (`g`) over `x`, when
    /// the shortcut comes before the conv and everything that reads its
    /// output after it: then, walking the ops backwards, the shortcut's
    /// gradient is whole when the conv's backward-data pass runs, which can
    /// add it to dx (see [`conv2d::conv2d_backward_data_padded_with_shortcut`]).
    fn shortcut_beside(&self, i: usize, x: Tid, g: &Conv2dGeom) -> Option<(Tid, ShortcutGeom)> {
        if (g.kh, g.kw, g.sh, g.sw) != (3, 3, 2, 2) || conv2d::backward_data_s2_pad(g).is_none() {
            return None;
        }
        let consumers = self.graph.consumers();
        self.graph.ops[..i].iter().find_map(|op| match op {
            Op::ShortcutA {
                x: sx,
                y,
                stride: 2,
            } if *sx == x && consumers[*y].iter().all(|&c| c > i) => {
                Some((*y, self.graph.shortcut_geom(self.batch, x, *y, 2)))
            }
            _ => None,
        })
    }

    /// The padded dy the backward-data pass of the conv producing `t` reads,
    /// when `t` is a conv output that only one op reads (so its gradient is
    /// that op's alone) and the conv's input needs a gradient.
    fn conv_dy_pad(&self, t: Tid) -> Option<PadGeom> {
        if self.graph.consumers()[t].len() != 1 {
            return None;
        }
        let Some(Op::Conv {
            x,
            y,
            k,
            stride,
            pad,
            ..
        }) = self.graph.ops.iter().find(|op| op.output() == t)
        else {
            return None;
        };
        if *x == self.graph.input {
            return None;
        }
        conv2d::backward_data_pad(&self.graph.conv_geom(self.batch, *x, *y, *k, *stride, *pad))
    }

    /// Prepares the SGD dispatch for the next step (`first` initialises momentum).
    fn set_sgd(&self, lr: f32, first: bool) -> Result<()> {
        let (parts, cfg) = self
            .sgd
            .as_ref()
            .ok_or_else(|| Error::invalid("this plan has no SGD update"))?;
        let cfg = SgdConfig { lr, ..*cfg };
        for &(at, len) in parts {
            self.program.dispatches[at].set_params(&self.gpu, &SgdParams::new(len, &cfg, first));
        }
        Ok(())
    }

    /// Uploads a batch: `images` [batch, C, H, W] and `labels` [batch].
    pub fn set_batch(&self, images: &[f32], labels: &[u32]) -> Result<()> {
        if labels.len() != self.batch {
            return Err(Error::invalid(format!(
                "{} labels for a batch of {}",
                labels.len(),
                self.batch
            )));
        }
        let classes = self.graph.spec.classes as u32;
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(Error::invalid(format!(
                "label {bad} out of range for {classes} classes"
            )));
        }
        if images.len() != self.input.len() {
            return Err(Error::Shape {
                what: "input batch".into(),
                expected: self.input.shape().to_vec(),
                got: vec![images.len()],
            });
        }
        self.gpu.write(&self.input, images)?;
        self.gpu.write_u32(&self.labels, labels)
    }

    /// Records the whole step (forward, loss, and the backward pass and update
    /// when the plan has them) into `enc`. With SGD, `lr` is this step's
    /// learning rate and `first` marks the step that starts the momentum.
    pub fn record(
        &self,
        enc: &mut wgpu::CommandEncoder,
        lr: Option<f32>,
        first: bool,
    ) -> Result<()> {
        if let Some(lr) = lr {
            self.set_sgd(lr, first)?;
        }
        self.program.record(enc, "step");
        Ok(())
    }

    /// Like [`Plan::record`] for dispatches `range` of the step only; the
    /// learning rate is set by the part that starts at 0.
    pub fn record_range(
        &self,
        enc: &mut wgpu::CommandEncoder,
        range: std::ops::Range<usize>,
        lr: Option<f32>,
        first: bool,
    ) -> Result<()> {
        if range.start == 0
            && let Some(lr) = lr
        {
            self.set_sgd(lr, first)?;
        }
        self.program.record_range(enc, "step", range);
        Ok(())
    }

    /// Runs one batch and waits; returns (mean loss, number correct).
    pub fn run(
        &self,
        images: &[f32],
        labels: &[u32],
        lr: Option<f32>,
        first: bool,
    ) -> Result<(f32, f32)> {
        self.run_in_parts(images, labels, lr, first, None)
    }

    /// As [`Plan::run`], its dispatches submitted in `parts` (see [`Parts`]).
    pub fn run_in_parts(
        &self,
        images: &[f32],
        labels: &[u32],
        lr: Option<f32>,
        first: bool,
        parts: Option<&Parts>,
    ) -> Result<(f32, f32)> {
        self.set_batch(images, labels)?;
        let start = match parts {
            Some(p) => self.submit_leading_parts(p, lr, first)?,
            None => 0,
        };
        let mut enc = self.encoder();
        self.record_range(&mut enc, start..self.program.len(), lr, first)?;
        self.gpu.submit([enc.finish()]);
        let m = self.gpu.read(&self.metrics)?;
        Ok((m[0], m[1]))
    }

    fn encoder(&self) -> wgpu::CommandEncoder {
        self.gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            })
    }

    /// Submits the program's dispatches in parts of `parts.dispatches`, each
    /// waited for, up to the last part, which it leaves to the caller to
    /// record (with what goes after it); returns where that part starts.
    pub fn submit_leading_parts(
        &self,
        parts: &Parts,
        lr: Option<f32>,
        first: bool,
    ) -> Result<usize> {
        let n = self.program.len();
        let part = parts.dispatches.max(1);
        let mut start = 0;
        while n - start > part {
            let mut enc = self.encoder();
            self.record_range(&mut enc, start..start + part, lr, first)?;
            let done = self.gpu.submit([enc.finish()]);
            self.gpu
                .device()
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(done),
                    timeout: None,
                })
                .map_err(|e| Error::Wgpu(format!("poll: {e}")))?;
            if let Some(between) = &parts.between {
                between();
            }
            start += part;
        }
        Ok(start)
    }

    /// The (scale, shift) a batch norm applied in the last run, [2, C].
    pub fn bn_coef(&self, op: usize) -> Option<&Tensor> {
        self.state.get(op).and_then(|s| s.coef.as_ref())
    }

    /// The batch statistics (mean, invstd) a batch norm of a
    /// [`Mode::Train`] plan normalized with in the last run, [2, C].
    pub fn bn_saved(&self, op: usize) -> Option<&Tensor> {
        self.state.get(op).and_then(|s| s.saved.as_ref())
    }

    pub fn lesions(&self) -> &BTreeSet<usize> {
        &self.lesions
    }
}

/// Long GPU work split into submissions of at most `dispatches` each, each
/// waited for before the next: other work on the same queue (a window's
/// frames) then waits for one part, not for the whole of it. `between` runs
/// after each part; it may hold the next one back (while a window answers
/// its user, say).
#[derive(Clone)]
pub struct Parts {
    pub dispatches: usize,
    pub between: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
}

impl Parts {
    pub fn of(dispatches: usize) -> Parts {
        Parts {
            dispatches,
            between: None,
        }
    }
}

/// The tensor to write the gradient of `t` into, and whether to add to it
/// (another consumer has written it already).
fn grad_target(
    gpu: &Gpu,
    scratch: &mut Scratch,
    grads: &mut [Option<Tensor>],
    t: Tid,
    like: &Tensor,
) -> Result<(Tensor, bool)> {
    match grads[t].take() {
        Some(g) => Ok((g, true)),
        None => Ok((scratch.take(gpu, like.shape())?, false)),
    }
}

/// Makes `g` the gradient of `t`, or adds it to the one there.
fn accumulate_into(
    gpu: &Gpu,
    prog: &mut Program,
    scratch: &mut Scratch,
    grads: &mut [Option<Tensor>],
    t: Tid,
    g: Tensor,
) -> Result<()> {
    match grads[t].take() {
        None => grads[t] = Some(g),
        Some(existing) => {
            elementwise::copy(gpu, prog, &existing, &g, true)?;
            scratch.give(g);
            grads[t] = Some(existing);
        }
    }
    Ok(())
}
