//! The layers of a model as a list of ops over numbered tensors, built from a
//! [`ModelSpec`]. The GPU plan, the CPU twin, the parameter list and the
//! checkpoint keys all read this one description.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::spec::{Family, ModelSpec, Shortcut};
use crate::ops::{BnGeom, Conv2dGeom, Pool2dGeom, ShortcutGeom};

/// A tensor of the graph, by index.
pub type Tid = usize;

/// Per-sample shape of a graph tensor (C, H, W); features are (C, 1, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dims {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Dims {
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One layer. Parameter names are PyTorch state_dict prefixes (`layer1.0.conv1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Op {
    /// 2-D convolution, no bias (every conv of a ResNet is followed by BN).
    Conv {
        name: String,
        x: Tid,
        y: Tid,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// y = relu?(bn(x) + residual?)
    BatchNorm {
        name: String,
        x: Tid,
        y: Tid,
        relu: bool,
        residual: Option<Tid>,
    },
    /// y = relu?(a + b)
    Add {
        a: Tid,
        b: Tid,
        y: Tid,
        relu: bool,
    },
    /// Option-A shortcut: subsample by `stride`, zero-pad channels.
    ShortcutA {
        x: Tid,
        y: Tid,
        stride: usize,
    },
    MaxPool {
        x: Tid,
        y: Tid,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// Global average pool to (C, 1, 1).
    AvgPool {
        x: Tid,
        y: Tid,
    },
    Linear {
        name: String,
        x: Tid,
        y: Tid,
    },
}

impl Op {
    /// Tensors the op reads.
    pub fn inputs(&self) -> Vec<Tid> {
        match self {
            Op::Conv { x, .. }
            | Op::ShortcutA { x, .. }
            | Op::MaxPool { x, .. }
            | Op::AvgPool { x, .. }
            | Op::Linear { x, .. } => vec![*x],
            Op::BatchNorm { x, residual, .. } => std::iter::once(*x).chain(*residual).collect(),
            Op::Add { a, b, .. } => vec![*a, *b],
        }
    }

    pub fn output(&self) -> Tid {
        match self {
            Op::Conv { y, .. }
            | Op::BatchNorm { y, .. }
            | Op::Add { y, .. }
            | Op::ShortcutA { y, .. }
            | Op::MaxPool { y, .. }
            | Op::AvgPool { y, .. }
            | Op::Linear { y, .. } => *y,
        }
    }
}

/// Where a block's residual branch output F(x) (before the addition) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Branch {
    /// F(x) = bn(conv output): the op index of that batch norm, which fuses the
    /// addition (post-activation blocks, and the last BN of a plain block).
    Bn { op: usize },
    /// F(x) is this tensor (pre-activation blocks: the last conv's output).
    Tensor(Tid),
}

/// A (residual or plain) block, for probes and lesions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// `layer2.0`
    pub name: String,
    pub stage: usize,
    pub index: usize,
    pub input: Tid,
    pub output: Tid,
    /// The shortcut's output (what F(x) is added to); for a plain block, its input.
    pub shortcut: Tid,
    pub branch: Branch,
    /// Input and output shapes differ (stride or channels).
    pub downsample: bool,
    /// The ops that compute F(x) and add it (skipped when the block is lesioned,
    /// the output then being the shortcut alone).
    pub branch_ops: Vec<usize>,
    /// Whether the block's output passes through a ReLU (post-activation).
    pub relu_out: bool,
}

/// A trainable parameter or a BN running statistic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// PyTorch state_dict key.
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Init {
    /// Kaiming normal, fan-out, ReLU gain (torchvision's conv init): std = sqrt(2 / fan_out).
    HeNormalFanOut {
        fan_out: usize,
    },
    /// U(−1/√fan_in, 1/√fan_in), PyTorch's default for nn.Linear weight and bias.
    UniformFanIn {
        fan_in: usize,
    },
    Const(f32),
}

/// The whole model as ops over tensors.
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    pub spec: ModelSpec,
    pub tensors: Vec<Dims>,
    pub ops: Vec<Op>,
    pub input: Tid,
    pub logits: Tid,
    pub blocks: Vec<Block>,
    /// Trainable parameters, in state_dict order.
    pub params: Vec<ParamSpec>,
    /// BN running statistics (`running_mean`, `running_var`), in state_dict order.
    pub buffers: Vec<ParamSpec>,
    /// One op per 3x3 conv, in layer order, whose output is that conv's
    /// response (the paper's Fig. 7 quantity): the BN that reads the conv's
    /// output (its output before ReLU and addition), or the conv itself where
    /// no BN reads it (the second conv of a pre-activation residual block,
    /// added to the shortcut as it is). A plain net gets the same responses in
    /// both forms: it is the same sequence of layers.
    pub responses: Vec<usize>,
}

struct Builder {
    spec: ModelSpec,
    tensors: Vec<Dims>,
    ops: Vec<Op>,
    params: Vec<ParamSpec>,
    buffers: Vec<ParamSpec>,
    blocks: Vec<Block>,
    responses: Vec<usize>,
}

impl Builder {
    fn tensor(&mut self, d: Dims) -> Tid {
        self.tensors.push(d);
        self.tensors.len() - 1
    }

    fn conv(
        &mut self,
        name: &str,
        x: Tid,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Tid> {
        let d = self.tensors[x];
        if d.h + 2 * pad < k || d.w + 2 * pad < k {
            return Err(Error::invalid(format!(
                "{name}: a {k}x{k} window does not fit a {}x{} input; the input image is too small for {}",
                d.h,
                d.w,
                self.spec.name()
            )));
        }
        let h = (d.h + 2 * pad - k) / stride + 1;
        let w = (d.w + 2 * pad - k) / stride + 1;
        let y = self.tensor(Dims { c: cout, h, w });
        self.params.push(ParamSpec {
            name: format!("{name}.weight"),
            shape: vec![cout, d.c, k, k],
            init: Init::HeNormalFanOut {
                fan_out: cout * k * k,
            },
        });
        self.ops.push(Op::Conv {
            name: name.into(),
            x,
            y,
            k,
            stride,
            pad,
        });
        if k == 3 {
            self.responses.push(self.ops.len() - 1);
        }
        Ok(y)
    }

    /// Adds a batch norm; `gamma` is its initial weight. Returns (output, op index).
    fn bn(
        &mut self,
        name: &str,
        x: Tid,
        relu: bool,
        residual: Option<Tid>,
        gamma: f32,
    ) -> (Tid, usize) {
        let d = self.tensors[x];
        let y = self.tensor(d);
        let c = d.c;
        for (field, v) in [("weight", gamma), ("bias", 0.0)] {
            self.params.push(ParamSpec {
                name: format!("{name}.{field}"),
                shape: vec![c],
                init: Init::Const(v),
            });
        }
        for (field, v) in [("running_mean", 0.0), ("running_var", 1.0)] {
            self.buffers.push(ParamSpec {
                name: format!("{name}.{field}"),
                shape: vec![c],
                init: Init::Const(v),
            });
        }
        // A BN that reads a 3x3 conv's output is that conv's response. In
        // pre-activation residual blocks the second conv's output goes into the
        // addition instead, and stays its own response.
        if let Some(last) = self.responses.last_mut()
            && matches!(&self.ops[*last], Op::Conv { y, .. } if *y == x)
        {
            *last = self.ops.len();
        }
        self.ops.push(Op::BatchNorm {
            name: name.into(),
            x,
            y,
            relu,
            residual,
        });
        (y, self.ops.len() - 1)
    }

    /// The shortcut of a block from `x` (and, for projections in pre-activation
    /// blocks, the pre-activated `xa`) to `cout` channels at `stride`.
    fn shortcut(&mut self, name: &str, x: Tid, xa: Tid, cout: usize, stride: usize) -> Result<Tid> {
        let d = self.tensors[x];
        let changes = stride != 1 || d.c != cout;
        let project = match self.spec.shortcut {
            Shortcut::A => false,
            Shortcut::B => changes,
            Shortcut::C => true,
        };
        if project {
            let src = if self.spec.preact { xa } else { x };
            let z = self.conv(&format!("{name}.downsample.0"), src, cout, 1, stride, 0)?;
            let (y, _) = self.bn(&format!("{name}.downsample.1"), z, false, None, 1.0);
            Ok(y)
        } else if changes {
            if cout < d.c {
                return Err(Error::invalid(format!(
                    "{name}: option-A shortcut cannot reduce {} channels to {cout}",
                    d.c
                )));
            }
            let y = self.tensor(Dims {
                c: cout,
                h: d.h.div_ceil(stride),
                w: d.w.div_ceil(stride),
            });
            self.ops.push(Op::ShortcutA { x, y, stride });
            Ok(y)
        } else {
            Ok(x)
        }
    }

    /// One block: basic (two 3x3 convs) or bottleneck (1x1, 3x3, 1x1 ×4), with
    /// the stride on its 3x3 conv. A plain block has the same layers and no
    /// shortcut (only its same-shape blocks can be lesioned).
    fn block(
        &mut self,
        stage: usize,
        index: usize,
        x: Tid,
        planes: usize,
        stride: usize,
        bottleneck: bool,
    ) -> Result<Tid> {
        let name = format!("layer{}.{}", stage + 1, index);
        let residual = self.spec.residual;
        let preact = self.spec.preact;
        let cout = if bottleneck { planes * 4 } else { planes };
        let last_gamma = if self.spec.zero_gamma && residual {
            0.0
        } else {
            1.0
        };
        let downsample = stride != 1 || self.tensors[x].c != cout;
        // Pre-activation: bn1 + ReLU first; a projection shortcut reads its output.
        let (xa, _) = if preact {
            self.bn(&format!("{name}.bn1"), x, true, None, 1.0)
        } else {
            (x, 0)
        };
        let sc = if residual {
            self.shortcut(&name, x, xa, cout, stride)?
        } else {
            x
        };
        let first_branch_op = self.ops.len();
        let (n1, n2, n3) = if preact {
            ("bn2", "bn3", "")
        } else {
            ("bn1", "bn2", "bn3")
        };
        let z = if bottleneck {
            let a = self.conv(&format!("{name}.conv1"), xa, planes, 1, 1, 0)?;
            let (a, _) = self.bn(&format!("{name}.{n1}"), a, true, None, 1.0);
            let a = self.conv(&format!("{name}.conv2"), a, planes, 3, stride, 1)?;
            let (a, _) = self.bn(
                &format!("{name}.{n2}"),
                a,
                true,
                None,
                if preact { last_gamma } else { 1.0 },
            );
            self.conv(&format!("{name}.conv3"), a, cout, 1, 1, 0)?
        } else {
            let a = self.conv(&format!("{name}.conv1"), xa, planes, 3, stride, 1)?;
            let (a, _) = self.bn(
                &format!("{name}.{n1}"),
                a,
                true,
                None,
                if preact { last_gamma } else { 1.0 },
            );
            self.conv(&format!("{name}.conv2"), a, cout, 3, 1, 1)?
        };
        let (y, branch) = if preact {
            if residual {
                let y = self.tensor(self.tensors[z]);
                self.ops.push(Op::Add {
                    a: z,
                    b: sc,
                    y,
                    relu: false,
                });
                (y, Branch::Tensor(z))
            } else {
                (z, Branch::Tensor(z))
            }
        } else {
            let last = if bottleneck { n3 } else { n2 };
            let (y, op) = self.bn(
                &format!("{name}.{last}"),
                z,
                true,
                residual.then_some(sc),
                last_gamma,
            );
            (y, Branch::Bn { op })
        };
        self.blocks.push(Block {
            name,
            stage,
            index,
            input: x,
            output: y,
            shortcut: sc,
            branch,
            downsample,
            branch_ops: (first_branch_op..self.ops.len()).collect(),
            relu_out: !preact,
        });
        Ok(y)
    }
}

impl Graph {
    /// The model for input images of `in_h` × `in_w` pixels.
    pub fn build(spec: &ModelSpec, in_h: usize, in_w: usize) -> Result<Graph> {
        spec.validate()?;
        if in_h < spec.min_input() || in_w < spec.min_input() {
            return Err(Error::invalid(format!(
                "{} needs inputs of at least {1}x{1} pixels, got {in_h}x{in_w}",
                spec.name(),
                spec.min_input()
            )));
        }
        let max = crate::model::spec::limits::MAX_INPUT_SIDE;
        if in_h > max || in_w > max {
            return Err(Error::invalid(format!(
                "inputs of {in_h}x{in_w} pixels: reslab's limit is {max} on a side"
            )));
        }
        let mut b = Builder {
            spec: spec.clone(),
            tensors: Vec::new(),
            ops: Vec::new(),
            params: Vec::new(),
            buffers: Vec::new(),
            blocks: Vec::new(),
            responses: Vec::new(),
        };
        let input = b.tensor(Dims {
            c: spec.in_channels,
            h: in_h,
            w: in_w,
        });
        let (counts, bottleneck) = spec.stages();
        let mut x = match spec.family {
            Family::Cifar => {
                let a = b.conv("conv1", input, spec.width, 3, 1, 1)?;
                if spec.preact {
                    a
                } else {
                    b.bn("bn1", a, true, None, 1.0).0
                }
            }
            Family::Imagenet => {
                let a = b.conv("conv1", input, spec.width, 7, 2, 3)?;
                // The stem keeps BN + ReLU in pre-activation nets too: the max
                // pool should see activated features.
                let a = b.bn("bn1", a, true, None, 1.0).0;
                let d = b.tensors[a];
                let y = b.tensor(Dims {
                    c: d.c,
                    h: (d.h + 2 - 3) / 2 + 1,
                    w: (d.w + 2 - 3) / 2 + 1,
                });
                b.ops.push(Op::MaxPool {
                    x: a,
                    y,
                    k: 3,
                    stride: 2,
                    pad: 1,
                });
                y
            }
        };
        for (stage, &count) in counts.iter().enumerate() {
            let planes = spec.width << stage;
            let stride = if stage == 0 { 1 } else { 2 };
            for i in 0..count {
                x = b.block(
                    stage,
                    i,
                    x,
                    planes,
                    if i == 0 { stride } else { 1 },
                    bottleneck,
                )?;
            }
        }
        if spec.preact {
            x = b.bn("bn_final", x, true, None, 1.0).0;
        }
        let c = b.tensors[x].c;
        let pooled = b.tensor(Dims { c, h: 1, w: 1 });
        b.ops.push(Op::AvgPool { x, y: pooled });
        let logits = b.tensor(Dims {
            c: spec.classes,
            h: 1,
            w: 1,
        });
        b.params.push(ParamSpec {
            name: "fc.weight".into(),
            shape: vec![spec.classes, c],
            init: Init::UniformFanIn { fan_in: c },
        });
        b.params.push(ParamSpec {
            name: "fc.bias".into(),
            shape: vec![spec.classes],
            init: Init::UniformFanIn { fan_in: c },
        });
        b.ops.push(Op::Linear {
            name: "fc".into(),
            x: pooled,
            y: logits,
        });
        Ok(Graph {
            spec: spec.clone(),
            tensors: b.tensors,
            ops: b.ops,
            input,
            logits,
            blocks: b.blocks,
            params: b.params,
            buffers: b.buffers,
            responses: b.responses,
        })
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// The convolution reading `x` into `y`, for `batch` samples.
    pub fn conv_geom(
        &self,
        batch: usize,
        x: Tid,
        y: Tid,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Conv2dGeom {
        let (dx, dy) = (self.tensors[x], self.tensors[y]);
        Conv2dGeom::square(batch, dx.c, dx.h, dx.w, dy.c, k, stride, pad)
    }

    /// The batch norm over tensor `x`, for `batch` samples.
    pub fn bn_geom(&self, batch: usize, x: Tid) -> BnGeom {
        let d = self.tensors[x];
        BnGeom {
            n: batch,
            c: d.c,
            hw: d.h * d.w,
        }
    }

    /// The option-A shortcut from `x` to `y`, for `batch` samples.
    pub fn shortcut_geom(&self, batch: usize, x: Tid, y: Tid, stride: usize) -> ShortcutGeom {
        let (dx, dy) = (self.tensors[x], self.tensors[y]);
        ShortcutGeom {
            n: batch,
            cin: dx.c,
            h: dx.h,
            w: dx.w,
            cout: dy.c,
            stride,
        }
    }

    /// The max pool over `x`, for `batch` samples.
    pub fn pool_geom(
        &self,
        batch: usize,
        x: Tid,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Pool2dGeom {
        let d = self.tensors[x];
        Pool2dGeom {
            n: batch,
            c: d.c,
            h: d.h,
            w: d.w,
            k,
            stride,
            pad,
        }
    }

    /// Checks that every block of `lesions` exists and can be removed (every
    /// residual block; a plain block only where it keeps the shape).
    pub fn check_lesions(&self, lesions: &BTreeSet<usize>) -> Result<()> {
        for &l in lesions {
            let b = self.blocks.get(l).ok_or_else(|| {
                Error::invalid(format!(
                    "lesion of block {l}: {} has {} blocks",
                    self.spec.name(),
                    self.blocks.len()
                ))
            })?;
            if !self.spec.residual && b.downsample {
                return Err(Error::invalid(format!(
                    "{} of a plain net changes shape; only same-shape plain blocks can be removed",
                    b.name
                )));
            }
        }
        Ok(())
    }

    /// The ops a net with `lesions` does not run: the branches of those blocks.
    pub fn lesioned_ops(&self, lesions: &BTreeSet<usize>) -> BTreeSet<usize> {
        lesions
            .iter()
            .flat_map(|&b| self.blocks[b].branch_ops.iter().copied())
            .collect()
    }

    /// The lesioned blocks whose output is due after op `i` (their last branch
    /// op): the output is then the shortcut alone, through the block's ReLU
    /// when it has one.
    pub fn lesions_ending_at<'a>(
        &'a self,
        lesions: &'a BTreeSet<usize>,
        i: usize,
    ) -> impl Iterator<Item = &'a Block> + 'a {
        lesions
            .iter()
            .map(|&b| &self.blocks[b])
            .filter(move |b| b.branch_ops.last() == Some(&i))
    }

    /// Floating-point operations of the convolutions and the classifier for
    /// one image — the useful work, counted as 2 per multiply-add: forward
    /// alone, or (`train`) forward and both backward passes (no gradient of
    /// the input image).
    pub fn flops_per_image(&self, train: bool) -> u64 {
        let mut total = 0u64;
        for op in &self.ops {
            let (macs, feeds_input) = match op {
                Op::Conv { x, y, k, .. } => {
                    let (dx, dy) = (self.tensors[*x], self.tensors[*y]);
                    ((dy.len() * dx.c * k * k) as u64, *x == self.input)
                }
                Op::Linear { x, y, .. } => (
                    (self.tensors[*x].len() * self.tensors[*y].c) as u64,
                    *x == self.input,
                ),
                _ => continue,
            };
            // Forward; in training also the weight gradient, and the input
            // gradient unless the op reads the image.
            let passes = if !train {
                1
            } else if feeds_input {
                2
            } else {
                3
            };
            total += 2 * macs * passes;
        }
        total
    }

    /// The name of each 3x3 layer's response (`self.responses`), as its
    /// state_dict prefix: the BN that reads the conv, or the conv itself.
    pub fn response_names(&self) -> Vec<String> {
        self.responses
            .iter()
            .map(|&op| match &self.ops[op] {
                Op::BatchNorm { name, .. } | Op::Conv { name, .. } => name.clone(),
                _ => format!("op {op}"),
            })
            .collect()
    }

    /// Which ops read each tensor.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![Vec::new(); self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate() {
            for t in op.inputs() {
                c[t].push(i);
            }
        }
        c
    }
}
