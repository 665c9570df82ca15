//! Weight initialisers, drawn on the GPU from the run's Philox stream.

use std::sync::Arc;

use crate::gpu::Gpu;
use crate::ops::Rng;
use crate::tensor::Tensor;

/// PyTorch's default for Linear and convolution weights and biases:
/// kaiming_uniform(a = sqrt(5)) reduces to U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)).
pub fn pytorch_default(rng: &mut Rng, gpu: &Arc<Gpu>, dims: &[usize], fan_in: usize) -> Tensor {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    rng.uniform(gpu, dims, -bound, bound)
}

/// DCGAN (Radford et al.): N(mean, 0.02); mean 0 for weights, 1 for BatchNorm scales.
pub fn dcgan_normal(rng: &mut Rng, gpu: &Arc<Gpu>, dims: &[usize], mean: f32) -> Tensor {
    rng.normal(gpu, dims, mean, 0.02)
}

/// Xavier/Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
pub fn xavier_uniform(
    rng: &mut Rng,
    gpu: &Arc<Gpu>,
    dims: &[usize],
    fan_in: usize,
    fan_out: usize,
    gain: f32,
) -> Tensor {
    let bound = gain * (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
    rng.uniform(gpu, dims, -bound, bound)
}

/// Overwrites `param` (same shape) with `value`, keeping its identity on the tape.
pub fn set(param: &Tensor, value: &Tensor) {
    param.assign(value);
}
