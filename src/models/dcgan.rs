//! The DCGAN generator (Radford et al.), as in PyTorch's DCGAN example: z [B, nz, 1, 1] ->
//! transposed 4x4 convolutions 1 -> 4 -> 8 -> 16 -> 32 -> 64 with BatchNorm and ReLU between,
//! tanh out. GLO uses it as its generator; `pegasus bench train-step` times it.

use std::sync::Arc;

use crate::gpu::Gpu;
use crate::nn::{Activation, BatchNorm, ConvTranspose2d, Module, Sequential, init, prefixed};
use crate::ops::{ConvGeometry, Rng};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcganConfig {
    pub nz: usize,
    pub ngf: usize,
    pub channels: usize,
}

pub struct Generator {
    pub main: Sequential,
    pub config: DcganConfig,
}

impl Generator {
    /// Weights N(0, 0.02), BatchNorm scales N(1, 0.02), shifts 0 (the DCGAN initialisation).
    pub fn new(gpu: &Arc<Gpu>, rng: &mut Rng, config: DcganConfig) -> Generator {
        let DcganConfig { nz, ngf, channels } = config;
        let widths = [nz, ngf * 8, ngf * 4, ngf * 2, ngf, channels];
        let mut main = Sequential::default();
        for i in 0..5 {
            let g = if i == 0 {
                ConvGeometry::new(1, 0)
            } else {
                ConvGeometry::new(2, 1)
            };
            let conv = ConvTranspose2d::new(gpu, rng, widths[i], widths[i + 1], 4, g, 0, false);
            init::set(
                &conv.weight,
                &init::dcgan_normal(rng, gpu, conv.weight.dims(), 0.0),
            );
            main.push(conv);
            if i < 4 {
                let bn = BatchNorm::new(gpu, widths[i + 1]);
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
        let DcganConfig { nz, ngf, channels } = self.config;
        let widths = [nz, ngf * 8, ngf * 4, ngf * 2, ngf, channels];
        let inputs = [1u64, 4, 8, 16, 32];
        (0..5)
            .map(|i| batch as u64 * (widths[i] * widths[i + 1] * 16) as u64 * inputs[i] * inputs[i])
            .sum()
    }
}

impl Module for Generator {
    fn forward(&self, z: &Tensor) -> Tensor {
        let z = match *z.dims() {
            [b, nz] => z.reshape(&[b, nz, 1, 1]),
            _ => z.clone(),
        };
        self.main.forward(&z)
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
