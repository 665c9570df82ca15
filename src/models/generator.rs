//! The DCGAN-style generator (Radford et al.) for 28 x 28, 32 x 32, 64 x 64 and 96 x 96
//! images: z [B, nz] -> transposed convolutions that double the size while halving the width,
//! BatchNorm and ReLU between, tanh out.
//!
//! - 64: nz -> 8 ngf (4x4) -> 4 ngf (8) -> 2 ngf (16) -> ngf (32) -> C (64), PyTorch's DCGAN.
//! - 32: nz -> 4 ngf (4x4) -> 2 ngf (8) -> ngf (16) -> C (32).
//! - 28: nz -> 4 ngf (7x7, kernel 7) -> 2 ngf (14) -> C (28).
//! - 96 (seed 000): nz -> 16 ngf (2x2, kernel 2) -> 8 ngf (4) -> 4 ngf (8) -> 2 ngf (16) ->
//!   ngf (32) -> C (96, kernel 5, stride 3, padding 1); with ngf 96 the first layer has 1536
//!   filters.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::nn::{Activation, BatchNorm, ConvTranspose2d, Module, Sequential, init, prefixed};
use crate::ops::{ConvGeometry, Rng};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeneratorConfig {
    pub image_size: usize,
    pub channels: usize,
    pub nz: usize,
    pub ngf: usize,
}

/// One transposed convolution: (input channels, output channels, kernel, stride, padding,
/// input size).
type Layer = (usize, usize, usize, usize, usize, usize);

impl GeneratorConfig {
    pub const SIZES: [usize; 4] = [28, 32, 64, 96];

    pub fn check(&self) -> Result<()> {
        if !GeneratorConfig::SIZES.contains(&self.image_size) {
            return Err(Error::Invalid(format!(
                "the generator makes 28, 32, 64 or 96 pixel images, not {}; resize with --image-size",
                self.image_size
            )));
        }
        if self.nz == 0 || self.ngf == 0 || !(1..=4).contains(&self.channels) {
            return Err(Error::Invalid(format!(
                "latent size {} and width {} must be positive and channels {} 1 to 4",
                self.nz, self.ngf, self.channels
            )));
        }
        Ok(())
    }

    pub fn layers(&self) -> Vec<Layer> {
        let (nz, g, c) = (self.nz, self.ngf, self.channels);
        match self.image_size {
            28 => vec![
                (nz, 4 * g, 7, 1, 0, 1),
                (4 * g, 2 * g, 4, 2, 1, 7),
                (2 * g, c, 4, 2, 1, 14),
            ],
            32 => vec![
                (nz, 4 * g, 4, 1, 0, 1),
                (4 * g, 2 * g, 4, 2, 1, 4),
                (2 * g, g, 4, 2, 1, 8),
                (g, c, 4, 2, 1, 16),
            ],
            64 => vec![
                (nz, 8 * g, 4, 1, 0, 1),
                (8 * g, 4 * g, 4, 2, 1, 4),
                (4 * g, 2 * g, 4, 2, 1, 8),
                (2 * g, g, 4, 2, 1, 16),
                (g, c, 4, 2, 1, 32),
            ],
            _ => vec![
                (nz, 16 * g, 2, 1, 0, 1),
                (16 * g, 8 * g, 4, 2, 1, 2),
                (8 * g, 4 * g, 4, 2, 1, 4),
                (4 * g, 2 * g, 4, 2, 1, 8),
                (2 * g, g, 4, 2, 1, 16),
                (g, c, 5, 3, 1, 32),
            ],
        }
    }

    /// Bytes of the largest activation for a batch, to check against the adapter's limits.
    pub fn largest_activation_bytes(&self, batch: usize) -> u64 {
        self.layers()
            .iter()
            .map(|&(_, out, k, s, p, size)| {
                let o = (size - 1) * s + k - 2 * p;
                (batch * out * o * o * 4) as u64
            })
            .max()
            .unwrap_or(0)
    }
}

pub struct Generator {
    pub main: Sequential,
    pub config: GeneratorConfig,
}

impl Generator {
    /// Weights N(0, 0.02), BatchNorm scales N(1, 0.02), shifts 0 (the DCGAN initialisation).
    pub fn new(gpu: &Arc<Gpu>, rng: &mut Rng, config: GeneratorConfig) -> Generator {
        let layers = config.layers();
        let mut main = Sequential::default();
        for (i, &(cin, cout, k, s, p, _)) in layers.iter().enumerate() {
            let conv =
                ConvTranspose2d::new(gpu, rng, cin, cout, k, ConvGeometry::new(s, p), 0, false);
            init::set(
                &conv.weight,
                &init::dcgan_normal(rng, gpu, conv.weight.dims(), 0.0),
            );
            main.push(conv);
            if i + 1 < layers.len() {
                let bn = BatchNorm::new(gpu, cout);
                init::set(
                    &bn.weight,
                    &init::dcgan_normal(rng, gpu, bn.weight.dims(), 1.0),
                );
                main.push(bn);
                main.push(Activation::Relu);
            } else {
                main.push(Activation::Tanh);
            }
        }
        Generator { main, config }
    }

    /// Multiply-adds of one forward pass for a batch (the backward costs about twice that).
    pub fn forward_macs(&self, batch: usize) -> u64 {
        self.config
            .layers()
            .iter()
            .map(|&(cin, cout, k, _, _, size)| (batch * cin * cout * k * k * size * size) as u64)
            .sum()
    }
}

impl Module for Generator {
    fn forward(&self, z: &Tensor) -> Tensor {
        let z = match *z.dims() {
            [b, nz] => z.reshape(&[b, nz, 1, 1]),
            _ => z.clone(),
        };
        in_layer("generator", || self.main.forward(&z))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        prefixed("main", self.main.parameters())
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        prefixed("main", self.main.buffers())
    }

    fn set_training(&self, training: bool) {
        self.main.set_training(training);
    }
}
