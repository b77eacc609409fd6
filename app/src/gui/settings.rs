//! The run panel's settings, remembered between launches (eframe persistence).

use reslab::analysis::redundancy::Insert;
use reslab::model::{ModelSpec, Shortcut};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    /// CIFAR-family depth (6n+2) of both nets.
    pub depth: usize,
    pub width: usize,
    pub shortcut: Shortcut,
    pub preact: bool,
    pub zero_gamma: bool,
    /// Train the plain twin beside the residual net.
    pub plain: bool,
    /// synthetic, fashion-mnist, mnist or cifar10
    pub data: String,
    pub data_dir: String,
    /// Synthetic set: image side.
    pub image_size: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
    /// Steps between probes of r_b.
    pub probe_every: usize,
    /// Steps between test evaluations (on up to 1000 test images).
    pub eval_every: usize,
    /// Depth the nets grow to.
    pub grow_depth: usize,
    pub grow_init: Insert,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            depth: 20,
            width: 8,
            shortcut: Shortcut::A,
            preact: false,
            zero_gamma: false,
            plain: true,
            data: "synthetic".into(),
            data_dir: String::new(),
            image_size: 16,
            batch: 64,
            lr: 0.05,
            seed: 0,
            probe_every: 5,
            eval_every: 50,
            grow_depth: 32,
            grow_init: Insert::ZeroGamma,
        }
    }
}

impl RunSettings {
    /// The residual net (and, with `plain`, its twin) for a data set of
    /// `channels` and `classes`.
    pub fn specs(&self, channels: usize, classes: usize) -> reslab::Result<Vec<ModelSpec>> {
        let mut r = ModelSpec::parse(
            &format!("resnet{}", self.depth),
            Some(reslab::model::Family::Cifar),
        )?;
        r.width = self.width;
        r.shortcut = self.shortcut;
        r.preact = self.preact;
        r.zero_gamma = self.zero_gamma;
        r.in_channels = channels;
        r.classes = classes;
        r.validate()?;
        let mut v = vec![r.clone()];
        if self.plain {
            v.insert(
                0,
                ModelSpec {
                    shortcut: Shortcut::A,
                    ..r.twin(false)
                },
            );
        }
        Ok(v)
    }

    /// A short description for the window title.
    pub fn title(&self) -> String {
        let nets = if self.plain {
            format!("plain{0} vs resnet{0}", self.depth)
        } else {
            format!("resnet{}", self.depth)
        };
        format!("{nets}, width {}, on {}", self.width, self.data)
    }
}
