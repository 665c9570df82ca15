//! Moving through a latent space: interpolation (linear, spherical, weighted), swapping
//! blocks of dimensions, a full-covariance Gaussian fitted to learned latents, and finding the
//! latent of a new image by optimisation with the generator frozen.

pub mod expr;

use std::sync::Arc;

use crate::gpu::Gpu;
use crate::nn::{Module, loss};
use crate::ops::Rng;
use crate::optim::Adam;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Linear,
    /// Along the great circle (Shoemake's slerp), natural for latents on the unit sphere.
    Spherical,
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// cos of the angle between a and b (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b)).max(1e-12)
}

/// The point a fraction t of the way from a to b.
pub fn between(a: &[f32], b: &[f32], t: f32, path: Path) -> Vec<f32> {
    let linear = || {
        a.iter()
            .zip(b)
            .map(|(x, y)| (1.0 - t) * x + t * y)
            .collect::<Vec<f32>>()
    };
    if path == Path::Linear {
        return linear();
    }
    let omega = cosine(a, b).clamp(-1.0, 1.0).acos();
    if omega.sin().abs() < 1e-4 {
        return linear();
    }
    let (wa, wb) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect()
}

/// `steps` points from a to b inclusive.
pub fn interpolate(a: &[f32], b: &[f32], steps: usize, path: Path) -> Vec<Vec<f32>> {
    let n = steps.max(2);
    (0..n)
        .map(|i| between(a, b, i as f32 / (n - 1) as f32, path))
        .collect()
}

/// Row k is `a` with its k-th block of dimensions taken from `b` (seed 000's table).
pub fn swap_blocks(a: &[f32], b: &[f32], blocks: usize) -> Vec<Vec<f32>> {
    let d = a.len();
    let blocks = blocks.clamp(1, d);
    (0..blocks)
        .map(|k| {
            let (lo, hi) = (k * d / blocks, (k + 1) * d / blocks);
            a.iter()
                .enumerate()
                .map(|(i, &x)| if (lo..hi).contains(&i) { b[i] } else { x })
                .collect()
        })
        .collect()
}

/// Divides by the L2 norm (GLO keeps every latent on the unit sphere).
pub fn on_sphere(v: &[f32]) -> Vec<f32> {
    let n = norm(v).max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// A Gaussian N(mean, cov) fitted to latents, sampled through the Cholesky factor of cov.
pub struct GaussianFit {
    pub mean: Vec<f64>,
    /// Lower-triangular L with L L^T = cov (plus a small ridge so it exists).
    pub chol: Vec<f64>,
    pub dim: usize,
}

impl GaussianFit {
    /// Fits the rows of a [N, D] tensor (covariance with N - 1).
    pub fn fit(latents: &Tensor) -> GaussianFit {
        let [n, d] = *latents.dims() else {
            panic!("latents must be [N, D]")
        };
        let mean_t = latents.mean_axes(&[0]);
        let centred = latents.sub(&mean_t.reshape(&[1, d]));
        let cov_t = centred
            .matmul_t(&centred, true, false)
            .scale(1.0 / (n.max(2) - 1) as f32);
        let mean: Vec<f64> = mean_t.to_vec().into_iter().map(f64::from).collect();
        let mut cov: Vec<f64> = cov_t.to_vec().into_iter().map(f64::from).collect();
        let ridge = 1e-6 * (0..d).map(|i| cov[i * d + i]).sum::<f64>() / d as f64 + 1e-12;
        for i in 0..d {
            cov[i * d + i] += ridge;
        }
        let mut chol = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let s: f64 = cov[i * d + j]
                    - (0..j)
                        .map(|k| chol[i * d + k] * chol[j * d + k])
                        .sum::<f64>();
                chol[i * d + j] = if i == j {
                    s.max(1e-18).sqrt()
                } else {
                    s / chol[j * d + j]
                };
            }
        }
        GaussianFit { mean, chol, dim: d }
    }

    /// n samples as [n, D], each projected onto the unit sphere; `temperature` scales the
    /// spread around the mean (1: the fitted covariance).
    pub fn sample(&self, gpu: &Arc<Gpu>, n: usize, temperature: f32, rng: &mut Rng) -> Tensor {
        let d = self.dim;
        let e = rng.normal(gpu, &[n, d], 0.0, temperature).to_vec();
        let mut out = Vec::with_capacity(n * d);
        for r in 0..n {
            let z: Vec<f32> = (0..d)
                .map(|i| {
                    (self.mean[i]
                        + (0..=i)
                            .map(|k| self.chol[i * d + k] * f64::from(e[r * d + k]))
                            .sum::<f64>()) as f32
                })
                .collect();
            out.extend(on_sphere(&z));
        }
        Tensor::from_slice(gpu, &out, &[n, d])
    }
}

/// Latents for `images` [B, C, H, W] that the frozen `generator` maps close to them: Adam on
/// the Laplacian L1 loss from `start` [B, D], projecting onto the sphere after every step.
pub fn encode(
    generator: &dyn Module,
    images: &Tensor,
    start: &Tensor,
    steps: usize,
    levels: usize,
) -> Tensor {
    generator.set_training(false);
    let z = start.deep_clone().track();
    let mut adam = Adam::single(vec![("z".into(), z.clone())], 0.05, 0.9, 0.999);
    for _ in 0..steps {
        let l = loss::laplacian_l1(&generator.forward(&z), images, levels, None);
        // The optimiser holds only the latent, so the generator's weights stay as they are.
        adam.step(&l.backward());
        crate::autograd::no_grad(|| z.assign(&z.project_to_sphere(1e-12)));
    }
    z.detach()
}
