//! 2-D convolutions: sizes of the convolution, and of the padded copy its
//! tiled passes read.

use crate::error::{Error, Result};

/// A 2-D convolution over an NCHW input with OIHW weights (groups = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Conv2dGeom {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

/// How the unfolded input of a convolution (im2col: its taps as the input
/// channels of a 1x1 convolution at the output positions) orders its
/// Ci·Kh·Kw channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnfoldOrder {
    /// Channel (ci·Kh + ky)·Kw + kx: the weights [Co, Ci, Kh, Kw] as they
    /// stand are the 1x1 convolution's [Co, Ci·Kh·Kw] (the weight gradient
    /// comes out in the weights' own layout).
    ChannelMajor,
    /// Channel (ky·Kw + kx)·Ci + ci: a 1x1 pass summing its channels in order
    /// takes the terms in the direct kernel's order (ky, kx, ci), so gives the
    /// same bits; its weights are the forward tiles with the taps outermost.
    TapMajor,
}

impl Conv2dGeom {
    /// A square kernel `k` with equal stride and padding on both axes.
    #[allow(clippy::too_many_arguments)]
    pub fn square(
        n: usize,
        cin: usize,
        h: usize,
        w: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        Conv2dGeom {
            n,
            cin,
            h,
            w,
            cout,
            kh: k,
            kw: k,
            sh: stride,
            sw: stride,
            ph: pad,
            pw: pad,
        }
    }

    pub fn ho(&self) -> usize {
        (self.h + 2 * self.ph).saturating_sub(self.kh) / self.sh + 1
    }

    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pw).saturating_sub(self.kw) / self.sw + 1
    }

    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.cin, self.h, self.w]
    }

    pub fn w_shape(&self) -> [usize; 4] {
        [self.cout, self.cin, self.kh, self.kw]
    }

    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.ho(), self.wo()]
    }

    /// The unfolded input's channel holding tap (ky, kx) of input channel ci.
    pub fn unfolded_channel(&self, order: UnfoldOrder, ci: usize, ky: usize, kx: usize) -> usize {
        match order {
            UnfoldOrder::ChannelMajor => (ci * self.kh + ky) * self.kw + kx,
            UnfoldOrder::TapMajor => (ky * self.kw + kx) * self.cin + ci,
        }
    }

    /// Multiply-adds of the forward pass (FLOPs are twice this).
    pub fn macs(&self) -> u64 {
        (self.n * self.cout * self.ho() * self.wo() * self.cin * self.kh * self.kw) as u64
    }

    pub fn validate(&self) -> Result<()> {
        let all = [
            self.n, self.cin, self.h, self.w, self.cout, self.kh, self.kw, self.sh, self.sw,
        ];
        if all.contains(&0) {
            return Err(Error::invalid(format!("conv2d: zero size in {self:?}")));
        }
        if self.h + 2 * self.ph < self.kh || self.w + 2 * self.pw < self.kw {
            return Err(Error::invalid(format!(
                "conv2d: kernel {}x{} larger than the padded input {}x{}",
                self.kh,
                self.kw,
                self.h + 2 * self.ph,
                self.w + 2 * self.pw
            )));
        }
        Ok(())
    }
}

/// Where a tiled pass reads its input: the zero-padded (and, for the
/// backward-data pass of a strided convolution, dilated) copy made by
/// the pad pass (`conv2d_pad`). Rows are `pitch` floats, a multiple of 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PadGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub hp: usize,
    pub pitch: usize,
    pub oy: usize,
    pub ox: usize,
    pub dil: usize,
}

impl PadGeom {
    pub fn shape(&self) -> [usize; 4] {
        [self.n, self.c, self.hp, self.pitch]
    }
}
