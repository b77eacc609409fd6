//! SGD with momentum, weight decay and Nesterov (torch.optim.SGD).

/// Hyper-parameters of one SGD step, with PyTorch's meaning.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// The paper's CIFAR recipe: lr 0.1, momentum 0.9, weight decay 1e-4.
    fn default() -> Self {
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 1e-4,
            nesterov: false,
        }
    }
}
