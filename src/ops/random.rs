//! Random tensors from the Philox 4x32-10 counter-based generator (shaders/random.wgsl).

use std::sync::Arc;

use crate::gpu::{Gpu, Kernel};
use crate::ops::shaders::RANDOM;
use crate::tensor::Tensor;

/// A seed and a position in its stream. Each call takes the next ceil(n / 4) counters, so a
/// run that saves (seed, offset) in its checkpoint draws the same numbers after a resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rng {
    pub seed: u64,
    pub offset: u64,
}

#[derive(Clone, Copy)]
enum Distribution {
    Uniform { low: f32, high: f32 },
    Normal { mean: f32, std: f32 },
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { seed, offset: 0 }
    }

    /// Uniform on [low, high).
    pub fn uniform(&mut self, gpu: &Arc<Gpu>, dims: &[usize], low: f32, high: f32) -> Tensor {
        self.draw(gpu, dims, Distribution::Uniform { low, high })
    }

    /// Normal with the given mean and standard deviation.
    pub fn normal(&mut self, gpu: &Arc<Gpu>, dims: &[usize], mean: f32, std: f32) -> Tensor {
        self.draw(gpu, dims, Distribution::Normal { mean, std })
    }

    fn draw(&mut self, gpu: &Arc<Gpu>, dims: &[usize], dist: Distribution) -> Tensor {
        let out = Tensor::uninit(gpu, dims);
        let n = out.numel() as u64;
        let (normal, a, b) = match dist {
            Distribution::Uniform { low, high } => (false, low, high),
            Distribution::Normal { mean, std } => (true, mean, std),
        };
        let params = [
            n as u32,
            self.seed as u32,
            (self.seed >> 32) as u32,
            self.offset as u32,
            (self.offset >> 32) as u32,
            a.to_bits(),
            b.to_bits(),
        ];
        let constants = [("NORMAL", f64::from(u8::from(normal)))];
        let kernel = Kernel::new(&RANDOM, "generate")
            .with(&constants)
            .tagged(if normal { "normal" } else { "uniform" });
        gpu.dispatch(
            &kernel,
            &[out.buffer()],
            &params,
            gpu.linear_grid(n.div_ceil(1024)),
        );
        self.offset += n.div_ceil(4);
        out
    }
}
