//! Layers as modules with PyTorch-style parameter names, train/eval mode and initialisers.
//!
//! A parameter is a tracked tensor: the optimiser updates its storage in place, so the same
//! handle serves every step. Names follow PyTorch's state_dict ("main.0.weight") so weights
//! can be read by other tools.

pub mod init;
mod layers;
pub mod loss;

pub use layers::{
    Activation, AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, ConvTranspose2d, Flatten, Linear,
    Resize, Sequential,
};

use crate::tensor::Tensor;

pub trait Module {
    fn forward(&self, x: &Tensor) -> Tensor;

    /// (name, tracked tensor) of every trainable parameter, names relative to this module.
    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// (name, tensor) of state that is saved but not trained (BatchNorm running estimates).
    fn buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Training mode (batch statistics) or evaluation mode (running estimates).
    fn set_training(&self, _training: bool) {}

    /// The slope below zero if this module is a (leaky) rectifier (0 for ReLU), so that the
    /// module before it can apply it in its own passes (`forward_rectified`).
    fn rectifier_slope(&self) -> Option<f32> {
        None
    }

    /// The output followed by a leaky rectifier of `slope`, if this module can apply one
    /// itself.
    fn forward_rectified(&self, _x: &Tensor, _slope: f32) -> Option<Tensor> {
        None
    }

    /// What kind of module this is, for the profiler's layer names: the type's own name.
    fn kind(&self) -> &'static str {
        let path = std::any::type_name::<Self>();
        path.rsplit("::").next().unwrap_or(path)
    }
}

/// Prefixes each name with `prefix.`.
pub fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named
        .into_iter()
        .map(|(n, t)| (format!("{prefix}.{n}"), t))
        .collect()
}

/// Number of trainable values.
pub fn parameter_count(module: &dyn Module) -> usize {
    module.parameters().iter().map(|(_, t)| t.numel()).sum()
}
