//! Tensors read as texels: a tensor's floats copied into a 2D `rgba32float`
//! texture, 4 floats a texel, [`TEXEL_ROW`] texels a row, bound as a
//! read-only storage texture for kernels that load them with `textureLoad`
//! (`shaders/shared/texels.wgsl`). On a CPU adapter such a load is a vector
//! gather while a storage-buffer load is a loop over the lanes, several
//! times slower (and a fetch from a sampled texture works out each lane's
//! mip level first, about twice the cost); the copy itself is a memcpy.
//!
//! The device keeps one texture per binding slot and hands it to every
//! dispatch that reads a tensor there, growing it when a larger tensor
//! comes: each such dispatch copies its tensor in just before it runs (the
//! copies and dispatches of a queue run in order), so one texture serves all.

use std::sync::Arc;

use super::Tensor;
use crate::error::{Error, Result};

/// Texels a row (`1 << TEXEL_ROW_SHIFT` in shared/texels.wgsl): 2048, the
/// largest 2D texture side every limit profile allows.
pub const TEXEL_ROW: u32 = 2048;

/// The textures' format, read-only storage textures of which every wgpu
/// device has (WebGPU guarantees it).
pub const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;

/// Bytes of one texel: 4 `f32`s.
const TEXEL_BYTES: u64 = 16;

/// A texture of `rows` rows of [`TEXEL_ROW`] texels.
#[derive(Debug)]
pub struct Texels {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    rows: u32,
}

impl Texels {
    pub(crate) fn new(device: &wgpu::Device, rows: u32) -> Texels {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("texels"),
            size: wgpu::Extent3d {
                width: TEXEL_ROW,
                height: rows,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Texels {
            texture,
            view,
            rows,
        }
    }

    /// Rows needed for `floats` floats (a multiple of 4).
    pub fn rows_for(floats: usize) -> u64 {
        (floats as u64 / 4).div_ceil(TEXEL_ROW as u64).max(1)
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    pub fn view(&self) -> &wgpu::TextureView {
        &self.view
    }
}

/// Checks that `t` can be read as texels on a device whose textures are at
/// most `max_side` texels a side: whole texels, a start at a texel, few
/// enough rows. `what` names the binding in the error.
pub fn check(what: &str, t: &Tensor, max_side: u32) -> Result<()> {
    if !t.len().is_multiple_of(4) || !t.offset().is_multiple_of(TEXEL_BYTES) {
        return Err(Error::invalid(format!(
            "{what}: a tensor of {} floats at byte {} cannot be read as texels (whole groups of 4 floats from a multiple of 16 bytes)",
            t.len(),
            t.offset()
        )));
    }
    if TEXEL_ROW > max_side {
        return Err(Error::invalid(format!(
            "{what}: the device's textures are at most {max_side} texels wide, under the {TEXEL_ROW} a row of texels takes"
        )));
    }
    let rows = Texels::rows_for(t.len());
    if rows > max_side as u64 {
        return Err(Error::invalid(format!(
            "{what}: {} floats need {rows} rows of texels, more than the device's {max_side}",
            t.len()
        )));
    }
    Ok(())
}

/// A copy of a tensor into a texture, recorded before the dispatch that reads it.
pub struct TexelCopy {
    pub src: Tensor,
    pub dst: Arc<Texels>,
}

impl TexelCopy {
    /// Records the copy: the whole rows, then the last part row.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder) {
        let texels = self.src.len() as u64 / 4;
        let full = (texels / TEXEL_ROW as u64) as u32;
        let rest = (texels % TEXEL_ROW as u64) as u32;
        let mut copy = |row: u32, width: u32, height: u32| {
            enc.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer: self.src.buffer(),
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: self.src.offset() + row as u64 * TEXEL_ROW as u64 * TEXEL_BYTES,
                        bytes_per_row: Some(TEXEL_ROW * TEXEL_BYTES as u32),
                        rows_per_image: None,
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture: &self.dst.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x: 0, y: row, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
            );
        };
        if full > 0 {
            copy(0, TEXEL_ROW, full);
        }
        if rest > 0 {
            copy(full, rest, 1);
        }
    }
}
