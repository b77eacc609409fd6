//! Max and average pooling.

use crate::error::{Error, Result};

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
