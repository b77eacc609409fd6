//! What the activation view shows of a net that has just run one image: the
//! stem's output, or for a block its input x (the shortcut's output), its
//! residual branch F(x) and F(x) + x — each a tensor of the plan, mapped
//! through the branch's batch-norm coefficients where F(x) is a BN output, so
//! no extra activation buffer is needed — and their pictures, coloured on the
//! GPU into textures (the `colormap` kernels), so activations never leave it.

use crate::device::{Gpu, Tensor};
use crate::error::{Error, Result};
use crate::kernels::{Program, colormap};
use crate::model::{Branch, Op, Plan};

/// Which layer of a net to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layer {
    /// The stem's output (the first block's input).
    Stem,
    /// Block b: x (its shortcut), F(x) (its branch) and F(x) + x.
    Block(usize),
}

/// One picture of the view: `src`, per channel through `coef` (scale, shift)
/// when given, plus `add` when given.
#[derive(Debug, Clone)]
pub struct Pane {
    pub label: String,
    pub src: Tensor,
    pub coef: Option<Tensor>,
    pub add: Option<Tensor>,
}

impl Pane {
    fn source(&self, sample: usize) -> colormap::Source<'_> {
        colormap::Source {
            src: &self.src,
            sample,
            coef: self.coef.as_ref(),
            add: self.add.as_ref(),
        }
    }

    /// [C, H, W] of the picture.
    pub fn dims(&self) -> Result<[usize; 3]> {
        match *self.src.shape() {
            [_, c, h, w] => Ok([c, h, w]),
            _ => Err(Error::invalid(format!(
                "{}: not an NCHW tensor {:?}",
                self.label,
                self.src.shape()
            ))),
        }
    }

    /// The values the pane shows for sample `sample`, [C, H, W], read back
    /// (the affine and the addend applied as the colormap applies them).
    pub fn values(&self, gpu: &Gpu, sample: usize) -> Result<Vec<f32>> {
        let [c, h, w] = self.dims()?;
        let plane = h * w;
        let at = sample * c * plane;
        let src = gpu.read(&self.src)?;
        let coef = self.coef.as_ref().map(|t| gpu.read(t)).transpose()?;
        let add = self.add.as_ref().map(|t| gpu.read(t)).transpose()?;
        Ok((0..c * plane)
            .map(|i| {
                let ch = i / plane;
                let mut v = src[at + i];
                if let Some(k) = &coef {
                    v = v * k[ch] + k[c + ch];
                }
                if let Some(a) = &add {
                    v += a[at + i];
                }
                v
            })
            .collect())
    }
}

/// The panes of `layer` of `plan` after it has run: the stem's output; or the
/// block's x, F(x) and (residual nets) F(x) + x; a block the plan bypasses
/// shows x and its output, the shortcut alone.
pub fn panes(plan: &Plan, layer: Layer) -> Result<Vec<Pane>> {
    let g = &plan.graph;
    let pane = |label: &str, src: Tensor, coef: Option<Tensor>, add: Option<Tensor>| Pane {
        label: label.to_string(),
        src,
        coef,
        add,
    };
    let b = match layer {
        Layer::Stem => {
            let t = g.blocks.first().map(|b| b.input).unwrap_or(g.input);
            return Ok(vec![pane("stem output", plan.acts[t].clone(), None, None)]);
        }
        Layer::Block(b) => b,
    };
    let blk = g.blocks.get(b).ok_or_else(|| {
        Error::invalid(format!(
            "block {b}: {} has {}",
            g.spec.name(),
            g.blocks.len()
        ))
    })?;
    let x = plan.acts[blk.shortcut].clone();
    let mut out = vec![pane(
        &format!("{} x (shortcut)", blk.name),
        x.clone(),
        None,
        None,
    )];
    if plan.lesions().contains(&b) {
        out.push(pane(
            "bypassed: output = shortcut",
            plan.acts[blk.output].clone(),
            None,
            None,
        ));
        return Ok(out);
    }
    let (f, coef) = match blk.branch {
        Branch::Bn { op } => {
            let Op::BatchNorm { x: z, .. } = &g.ops[op] else {
                return Err(Error::invalid("a branch that is not a batch norm"));
            };
            (plan.acts[*z].clone(), plan.bn_coef(op).cloned())
        }
        Branch::Tensor(t) => (plan.acts[t].clone(), None),
    };
    out.push(pane("F(x)", f.clone(), coef.clone(), None));
    if g.spec.residual {
        out.push(pane("F(x) + x", f, coef, Some(x)));
    }
    Ok(out)
}

/// Records the pictures of `panes` for sample `sample` into `views` (one
/// rgba8unorm storage texture per pane, of [`crate::ops::colormap::grid`]'s
/// size). With `joint`, every pane is scaled by the first pane's overall range
/// (so F(x) beside x shows how much the branch changes); else each channel by
/// its own. Returns the range tensors, which must live until `prog` has run.
pub fn draw(
    gpu: &Gpu,
    prog: &mut Program,
    panes: &[Pane],
    views: &[wgpu::TextureView],
    sample: usize,
    joint: bool,
) -> Result<Vec<Tensor>> {
    if panes.len() != views.len() {
        return Err(Error::invalid(format!(
            "{} panes for {} textures",
            panes.len(),
            views.len()
        )));
    }
    let mut ranges = Vec::new();
    for p in panes {
        let [c, _, _] = p.dims()?;
        if joint && c != panes[0].dims()?[0] {
            return Err(Error::invalid("panes of different channel counts"));
        }
        let r = gpu.tensor(&[c + 1, 2])?;
        colormap::channel_range(gpu, prog, &r, &p.source(sample))?;
        ranges.push(r);
    }
    for (k, (p, view)) in panes.iter().zip(views).enumerate() {
        let range = if joint { &ranges[0] } else { &ranges[k] };
        colormap::colormap(gpu, prog, view, range, &p.source(sample), joint)?;
    }
    Ok(ranges)
}
