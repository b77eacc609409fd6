//! Batch norm: sizes and what the forward pass does besides normalising.

/// Sizes of a batch norm over an NCHW tensor: `n` samples, `c` channels, `hw` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BnGeom {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl BnGeom {
    pub fn shape(&self) -> [usize; 4] {
        [self.n, self.c, self.hw, 1]
    }

    pub fn len(&self) -> usize {
        self.n * self.c * self.hw
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per channel.
    pub fn m(&self) -> usize {
        self.n * self.hw
    }
}

/// What the forward pass does besides normalising.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BnOptions {
    /// Apply ReLU to the output (after the residual add).
    pub relu: bool,
    pub momentum: f32,
    pub eps: f32,
}

impl Default for BnOptions {
    /// PyTorch's defaults, no ReLU.
    fn default() -> Self {
        BnOptions {
            relu: false,
            momentum: 0.1,
            eps: 1e-5,
        }
    }
}
