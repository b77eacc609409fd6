//! The run panel's settings, remembered between launches (eframe persistence).

use reslab::analysis::redundancy::Insert;
use reslab::model::{Family, ModelSpec, Shortcut};
use serde::{Deserialize, Serialize};

/// The most nets the run panel holds. Each net adds a training step to every
/// round, so on a CPU adapter time runs out long before memory does; eight
/// also keeps every colour and legend entry distinct.
pub const MAX_NETS: usize = 8;

/// One net of the run panel's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetChoice {
    /// CIFAR-family depth, 6n+2.
    pub depth: usize,
    /// With shortcut additions (a ResNet) or without (its plain twin).
    pub residual: bool,
    /// The shortcut option of a residual net (a plain net has none).
    pub shortcut: Shortcut,
    pub preact: bool,
}

impl Default for NetChoice {
    fn default() -> Self {
        NetChoice::resnet(20)
    }
}

impl NetChoice {
    pub fn resnet(depth: usize) -> NetChoice {
        NetChoice {
            depth,
            residual: true,
            shortcut: Shortcut::A,
            preact: false,
        }
    }

    pub fn plain(depth: usize) -> NetChoice {
        NetChoice {
            residual: false,
            ..NetChoice::resnet(depth)
        }
    }

    /// The net's name: resnet56, plain20, resnet32-B, resnet110-preact.
    pub fn name(&self) -> String {
        let mut s = format!(
            "{}{}",
            if self.residual { "resnet" } else { "plain" },
            self.depth
        );
        if self.residual && self.shortcut != Shortcut::A {
            s.push_str(&format!("-{:?}", self.shortcut));
        }
        if self.preact {
            s.push_str("-preact");
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    /// The nets trained side by side, on one data stream and seed.
    pub nets: Vec<NetChoice>,
    pub width: usize,
    pub zero_gamma: bool,
    /// synthetic, fashion-mnist, mnist or cifar10
    pub data: String,
    pub data_dir: String,
    /// Synthetic set: image side.
    pub image_size: usize,
    pub batch: usize,
    pub lr: f32,
    /// Steps of linear learning-rate warm-up (as `reslab degradation`):
    /// deep nets at width 8 diverge without it.
    pub warmup: usize,
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
            nets: vec![NetChoice::plain(20), NetChoice::resnet(20)],
            width: 8,
            zero_gamma: false,
            data: "synthetic".into(),
            data_dir: String::new(),
            image_size: 16,
            batch: 64,
            lr: 0.05,
            warmup: 20,
            seed: 0,
            probe_every: 5,
            eval_every: 50,
            grow_depth: 32,
            grow_init: Insert::ZeroGamma,
        }
    }
}

impl RunSettings {
    /// The paper's Fig. 6 at two depths: plain-20, plain-56, resnet-20 and
    /// resnet-56 (option A shortcuts, as the paper's CIFAR nets), with the
    /// recipe of `reslab degradation`: residual nets in the full
    /// pre-activation form, width 8, batch 64, learning rate 0.1 after 20
    /// warm-up steps. The data set and seed stay as they are.
    pub fn degradation_preset(&mut self) {
        let preact = |n: NetChoice| NetChoice { preact: true, ..n };
        self.nets = vec![
            NetChoice::plain(20),
            NetChoice::plain(56),
            preact(NetChoice::resnet(20)),
            preact(NetChoice::resnet(56)),
        ];
        self.width = 8;
        self.batch = 64;
        self.lr = 0.1;
        self.warmup = 20;
    }

    /// The list's nets for a data set of `channels` and `classes`, each with
    /// its name (unique within the list: a repeated net gets "#2", "#3").
    pub fn specs(
        &self,
        channels: usize,
        classes: usize,
    ) -> reslab::Result<Vec<(String, ModelSpec)>> {
        if self.nets.is_empty() {
            return Err(reslab::Error::invalid(
                "the run panel lists no nets: add one",
            ));
        }
        if self.nets.len() > MAX_NETS {
            return Err(reslab::Error::invalid(format!(
                "the run panel lists {} nets; it trains at most {MAX_NETS}",
                self.nets.len()
            )));
        }
        let mut out: Vec<(String, ModelSpec)> = Vec::new();
        for n in &self.nets {
            let mut r = ModelSpec::parse(&format!("resnet{}", n.depth), Some(Family::Cifar))?;
            r.width = self.width;
            r.shortcut = if n.residual { n.shortcut } else { Shortcut::A };
            r.preact = n.preact;
            r.zero_gamma = self.zero_gamma;
            r.in_channels = channels;
            r.classes = classes;
            let spec = r.twin(n.residual);
            spec.validate()?;
            let base = n.name();
            let same = out
                .iter()
                .filter(|(name, _)| *name == base || name.starts_with(&format!("{base}#")))
                .count();
            let name = if same == 0 {
                base
            } else {
                format!("{base}#{}", same + 1)
            };
            out.push((name, spec));
        }
        Ok(out)
    }

    /// A short description for the window title.
    pub fn title(&self) -> String {
        let nets: Vec<String> = self.nets.iter().map(NetChoice::name).collect();
        format!(
            "{}, width {}, on {}",
            nets.join(", "),
            self.width,
            self.data
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_nets_get_distinct_names() {
        let s = RunSettings {
            nets: vec![
                NetChoice::resnet(20),
                NetChoice::plain(20),
                NetChoice::resnet(20),
                NetChoice {
                    shortcut: Shortcut::B,
                    ..NetChoice::resnet(20)
                },
                NetChoice::resnet(20),
            ],
            ..RunSettings::default()
        };
        let names: Vec<String> = s.specs(3, 10).unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(
            names,
            [
                "resnet20",
                "plain20",
                "resnet20#2",
                "resnet20-B",
                "resnet20#3"
            ]
        );
    }

    #[test]
    fn a_plain_net_has_no_shortcut_option() {
        let s = RunSettings {
            nets: vec![NetChoice {
                shortcut: Shortcut::C,
                ..NetChoice::plain(56)
            }],
            ..RunSettings::default()
        };
        let (name, spec) = s.specs(1, 10).unwrap().remove(0);
        assert_eq!(name, "plain56");
        assert!(!spec.residual);
        assert_eq!(spec.shortcut, Shortcut::A);
    }

    #[test]
    fn a_bad_list_is_refused_with_its_reason() {
        let mut s = RunSettings::default();
        s.nets.clear();
        assert!(s.specs(3, 10).unwrap_err().to_string().contains("no nets"));
        s.nets = vec![NetChoice::resnet(21)];
        assert!(s.specs(3, 10).is_err());
        s.nets = vec![NetChoice::resnet(20); MAX_NETS + 1];
        assert!(s.specs(3, 10).unwrap_err().to_string().contains("at most"));
    }
}
