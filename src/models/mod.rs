//! The generative models, and what the exploring commands (sample, interpolate, hybrid) need
//! of any of them: [`LatentModel`].

pub mod autoencoder;
pub mod cppn;
pub mod features;
pub mod generator;
pub mod glann;
pub mod glo;
pub mod glo_encoder;
pub mod vae;
pub mod vaegan;

use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::nn::{Module, loss};
use crate::ops::Rng;
use crate::ops::cppn::PackedCppn;
use crate::tensor::Tensor;

/// A trained model with a latent space: decode latents to images, find the latents of
/// images, and draw latents from the model's prior.
pub trait LatentModel {
    /// Latent size.
    fn nz(&self) -> usize;
    /// (channels, side) of the images it makes.
    fn image_shape(&self) -> (usize, usize);
    /// Whether its latents live on the unit sphere (GLO): mixes are projected back onto it.
    fn on_sphere(&self) -> bool;
    /// Images [n, C, H, W] from latents [n, nz] (evaluation mode).
    fn decode(&self, z: &Tensor) -> Tensor;
    /// The latents of training images, by index into `train` (GLO's learned rows, a VAE's
    /// encoder means).
    fn latents_of(&self, train: &Dataset, indices: &[usize]) -> Tensor;
    /// The latents of new images [n, C, H, W]; `effort` is the optimisation steps of a model
    /// without an encoder.
    fn encode(&self, images: &Tensor, effort: usize) -> Tensor;
    /// n latents from the model's prior, `temperature` scaling its spread.
    fn sample_prior(&self, n: usize, temperature: f32, rng: &mut Rng) -> Tensor;
    /// How `sample_prior` draws, in words.
    fn prior_description(&self) -> &'static str;
    /// For a model that draws at any resolution (a CPPN): its fused renderer for latent z.
    fn renderer(&self, _z: &[f32]) -> Option<PackedCppn> {
        None
    }
}

/// `f` over `x` in slices of at most `batch` rows, without recording, concatenated.
pub fn in_batches(x: &Tensor, batch: usize, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
    no_grad(|| {
        let n = x.dims()[0];
        let parts: Vec<Tensor> = (0..n)
            .step_by(batch.max(1))
            .map(|s| f(&x.narrow(0, s, (n - s).min(batch.max(1)))))
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        Tensor::concat(&refs, 0)
    })
}

/// `f` over `x` in slices of at most `batch` rows as `in_batches`, with `module` in
/// evaluation mode meanwhile (BatchNorm on its running estimates), back in training mode after.
pub fn evaluating(
    module: &dyn Module,
    x: &Tensor,
    batch: usize,
    f: impl Fn(&Tensor) -> Tensor,
) -> Tensor {
    module.set_training(false);
    let out = in_batches(x, batch, f);
    module.set_training(true);
    out
}

/// PSNR in dB of `pred` against `target`, both in [-1, 1] (peak-to-peak 2), from the MSE
/// over every value.
pub fn psnr_db(pred: &Tensor, target: &Tensor) -> f32 {
    let mse = no_grad(|| loss::mse(pred, target).item()).max(1e-12);
    10.0 * (4.0 / mse).log10()
}

/// `count` indices spread evenly over 0..n (all of them when n <= count).
pub fn spread(n: usize, count: usize) -> Vec<usize> {
    let count = count.min(n);
    (0..count).map(|i| i * n / count).collect()
}

/// Two images of different classes (when there are classes), for interpolation pictures.
pub fn interpolation_ends(set: &Dataset) -> (usize, usize) {
    match &set.labels {
        Some(l) => (
            0,
            (1..set.len())
                .find(|&i| l[i] != l[0])
                .unwrap_or(set.len().min(2) - 1),
        ),
        None => (0, set.len().min(2) - 1),
    }
}
