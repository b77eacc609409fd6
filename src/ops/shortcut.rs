//! The option-A shortcut: subsample, zero-pad channels.

use crate::error::{Error, Result};

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
