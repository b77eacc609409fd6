//! Sizes of the layers, shared by the GPU launchers and their CPU twins.

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

/// A max pool window over an NCHW input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Pool2dGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Pool2dGeom {
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad).saturating_sub(self.k) / self.stride + 1
    }

    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad).saturating_sub(self.k) / self.stride + 1
    }

    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.ho(), self.wo()]
    }

    pub fn validate(&self) -> Result<()> {
        if [self.n, self.c, self.h, self.w, self.k, self.stride].contains(&0) {
            return Err(Error::invalid(format!("max pool: zero size in {self:?}")));
        }
        // PyTorch's rule: padding at most half the window, so every window sees
        // at least one real pixel.
        if 2 * self.pad > self.k {
            return Err(Error::invalid(format!(
                "max pool: padding {} exceeds half the window {}",
                self.pad, self.k
            )));
        }
        if self.h + 2 * self.pad < self.k || self.w + 2 * self.pad < self.k {
            return Err(Error::invalid(format!(
                "max pool: window {} larger than the padded input {}x{}",
                self.k,
                self.h + 2 * self.pad,
                self.w + 2 * self.pad
            )));
        }
        Ok(())
    }
}

/// Option-A shortcut: subsample by `stride` (pixels 0, s, 2s, …) and zero-pad
/// channels from `cin` to `cout`, `(cout-cin)/2` before and the rest after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ShortcutGeom {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub stride: usize,
}

impl ShortcutGeom {
    pub fn ho(&self) -> usize {
        self.h.div_ceil(self.stride)
    }

    pub fn wo(&self) -> usize {
        self.w.div_ceil(self.stride)
    }

    /// Zero channels placed before the copied ones.
    pub fn pad_before(&self) -> usize {
        (self.cout - self.cin) / 2
    }

    pub fn x_shape(&self) -> [usize; 4] {
        [self.n, self.cin, self.h, self.w]
    }

    pub fn y_shape(&self) -> [usize; 4] {
        [self.n, self.cout, self.ho(), self.wo()]
    }

    pub fn validate(&self) -> Result<()> {
        if [self.n, self.cin, self.h, self.w, self.stride].contains(&0) || self.cout < self.cin {
            return Err(Error::invalid(format!(
                "option-A shortcut needs cout >= cin and non-zero sizes: {self:?}"
            )));
        }
        Ok(())
    }
}
