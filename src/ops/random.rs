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
            .tagged(if normal { "normal" } else { "uniform" })
            .doing(0, n as usize);
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

/// SplitMix64 on the host, for choices made before upload (shuffles, crop offsets, flips).
/// Seeded from (run seed, epoch or step) so a resumed run makes the same choices.
#[derive(Clone, Debug)]
pub struct HostRng(u64);

impl HostRng {
    pub fn new(seed: u64, stream: u64) -> HostRng {
        HostRng(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without modulo bias worth noticing for n far below 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// 0..n in a uniformly random order (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, self.below(i + 1));
        }
        order
    }
}
