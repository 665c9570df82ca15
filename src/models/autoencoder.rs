//! What the VAE and the VAE-GAN share: an encoder to a Gaussian posterior, a decoder, a
//! N(0, I) prior. Their held-out figures, pictures, report and exploring (through
//! [`LatentModel`]) are written here once.

use std::path::Path;
use std::sync::Arc;

use crate::autograd::no_grad;
use crate::data::{Dataset, Split};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::io::image::Grid;
use crate::latent::{Path as LatentPath, interpolate};
use crate::models::{LatentModel, in_batches, interpolation_ends, psnr_db, spread};
use crate::nn::{Linear, Module, Sequential, loss, prefixed};
use crate::ops::Rng;
use crate::ops::cppn::PackedCppn;
use crate::tensor::Tensor;

/// An encoder to a diagonal Gaussian posterior: `main` (whatever layers the model uses),
/// flattened, then one linear map to mu and one to log sigma^2.
pub struct GaussianEncoder {
    pub main: Sequential,
    pub fc_mu: Linear,
    pub fc_logvar: Linear,
}

impl GaussianEncoder {
    /// (mu, logvar), each [B, nz].
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        in_layer("encoder", || {
            let h = self.main.forward(x);
            let h = h.reshape(&[h.dims()[0], h.numel() / h.dims()[0]]);
            let mu = in_layer("fc_mu Linear", || self.fc_mu.forward(&h));
            let logvar = in_layer("fc_logvar Linear", || self.fc_logvar.forward(&h));
            (mu, logvar)
        })
    }
}

impl Module for GaussianEncoder {
    fn forward(&self, x: &Tensor) -> Tensor {
        GaussianEncoder::forward(self, x).0
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut all = prefixed("main", self.main.parameters());
        all.extend(prefixed("fc_mu", self.fc_mu.parameters()));
        all.extend(prefixed("fc_logvar", self.fc_logvar.parameters()));
        all
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        prefixed("main", self.main.buffers())
    }

    fn set_training(&self, training: bool) {
        self.main.set_training(training);
    }
}

/// A model with an encoder to mu (and log sigma^2) and a decoder from z.
pub trait Autoencoder {
    fn gpu(&self) -> &Arc<Gpu>;
    fn latent_size(&self) -> usize;
    /// (channels, side) of its images.
    fn channels_and_side(&self) -> (usize, usize);
    /// Images per forward pass.
    fn batch(&self) -> usize;
    fn seed(&self) -> u64;
    /// Training mode (batch statistics) or evaluation mode for every network.
    fn set_training(&self, training: bool);
    /// The encoder's mean for a batch of images.
    fn posterior_mean(&self, x: &Tensor) -> Tensor;
    /// The decoder's images for a batch of latents.
    fn decode_batch(&self, z: &Tensor) -> Tensor;
    /// The fused renderer for latent z, for decoders that draw at any resolution.
    fn renderer(&self, _z: &[f32]) -> Option<PackedCppn> {
        None
    }
}

/// `f` in evaluation mode, without recording, over `x` in batches.
fn evaluated(m: &impl Autoencoder, x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
    m.set_training(false);
    let out = in_batches(x, m.batch(), f);
    m.set_training(true);
    out
}

/// Encoder means of images [n, C, H, W].
pub fn encode_mean(m: &impl Autoencoder, images: &Tensor) -> Tensor {
    evaluated(m, images, |x| m.posterior_mean(x))
}

/// Images from latents [n, nz].
pub fn generate(m: &impl Autoencoder, z: &Tensor) -> Tensor {
    evaluated(m, z, |z| m.decode_batch(z))
}

/// Encoder means of the images of `set` at `indices`, uploaded a batch at a time (a class of
/// large images at once could pass the adapter's largest binding).
pub fn means_of(m: &impl Autoencoder, set: &Dataset, indices: &[usize]) -> Tensor {
    let parts: Vec<Tensor> = indices
        .chunks(m.batch().max(1))
        .map(|chunk| encode_mean(m, &set.batch(m.gpu(), chunk)))
        .collect();
    let refs: Vec<&Tensor> = parts.iter().collect();
    Tensor::concat(&refs, 0)
}

/// Images of `set` at `indices` and their reconstructions through the encoder means.
fn reconstruct(m: &impl Autoencoder, set: &Dataset, indices: &[usize]) -> (Tensor, Tensor) {
    let x = set.batch(m.gpu(), indices);
    let recon = generate(m, &encode_mean(m, &x));
    (x, recon)
}

/// Mean PSNR (dB) and SSIM of the reconstructions of up to `count` images spread over `set`.
pub fn reconstruction_quality(m: &impl Autoencoder, set: &Dataset, count: usize) -> (f32, f32) {
    let idx = spread(set.len(), count);
    let (mut se, mut ssim, mut seen) = (0.0f64, 0.0f64, 0usize);
    for chunk in idx.chunks(m.batch().max(1)) {
        let (x, recon) = reconstruct(m, set, chunk);
        no_grad(|| {
            se += f64::from(loss::mse(&recon, &x).item()) * chunk.len() as f64;
            ssim += (1.0 - f64::from(loss::ssim(&recon, &x, 2.0).item())) * chunk.len() as f64;
        });
        seen += chunk.len();
    }
    let mse = (se / seen.max(1) as f64).max(1e-12);
    (
        (10.0 * (4.0 / mse).log10()) as f32,
        (ssim / seen.max(1) as f64) as f32,
    )
}

/// Latent dimensions the encoder uses: those whose mean varies across `set` (variance of mu
/// over up to 1,000 images above 0.01, the usual "active units" count).
pub fn active_dimensions(m: &impl Autoencoder, set: &Dataset) -> usize {
    let idx = spread(set.len(), 1000);
    let mu = means_of(m, set, &idx).to_vec();
    let (n, nz) = (idx.len() as f64, m.latent_size());
    (0..nz)
        .filter(|&d| {
            let mean = (0..idx.len())
                .map(|r| f64::from(mu[r * nz + d]))
                .sum::<f64>()
                / n;
            let var = (0..idx.len())
                .map(|r| (f64::from(mu[r * nz + d]) - mean).powi(2))
                .sum::<f64>()
                / n;
            var > 0.01
        })
        .count()
}

/// Held-out images, or the training images for a run that holds none out.
pub fn heldout_or_train(data: &Split) -> &Dataset {
    data.heldout.as_ref().unwrap_or(&data.train)
}

/// The figures of a metrics row: reconstruction PSNR of 64 training and 64 held-out images.
pub fn evaluate(m: &impl Autoencoder, data: &Split) -> Vec<f32> {
    let psnr = |set: &Dataset| {
        let (x, recon) = reconstruct(m, set, &spread(set.len(), 64));
        psnr_db(&recon, &x)
    };
    vec![psnr(&data.train), psnr(heldout_or_train(data))]
}

/// reconstructions.png and heldout_reconstructions.png (originals above reconstructions),
/// samples.png from the prior, and at the end interpolation.png.
pub fn write_pictures(
    m: &impl Autoencoder,
    data: &Split,
    dir: &Path,
    last: bool,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let mut pairs = |set: &Dataset, name: &str| -> Result<()> {
        let (x, recon) = reconstruct(m, set, &spread(set.len(), 16));
        Grid::stacked(&[Grid::from_tensor(&x, 8), Grid::from_tensor(&recon, 8)])
            .save(&dir.join(name))?;
        written.push(name.to_string());
        Ok(())
    };
    pairs(&data.train, "reconstructions.png")?;
    if let Some(heldout) = &data.heldout {
        pairs(heldout, "heldout_reconstructions.png")?;
    }
    let nz = m.latent_size();
    let z = Rng::new(m.seed() ^ 0x5a).normal(m.gpu(), &[64, nz], 0.0, 1.0);
    Grid::from_tensor(&generate(m, &z), 8).save(&dir.join("samples.png"))?;
    written.push("samples.png".into());
    if last {
        let (a, b) = interpolation_ends(&data.train);
        let ends = means_of(m, &data.train, &[a, b]).to_vec();
        let path: Vec<f32> = interpolate(&ends[..nz], &ends[nz..], 10, LatentPath::Linear).concat();
        let frames = generate(m, &Tensor::from_slice(m.gpu(), &path, &[10, nz]));
        Grid::from_tensor(&frames, 10).save(&dir.join("interpolation.png"))?;
        written.push("interpolation.png".into());
    }
    Ok(written)
}

/// Held-out and training reconstruction figures and the latent dimensions in use.
pub fn report(m: &impl Autoencoder, data: &Split) -> Vec<String> {
    let heldout = heldout_or_train(data);
    let (psnr, ssim) = reconstruction_quality(m, heldout, 1000);
    let (train_psnr, train_ssim) = reconstruction_quality(m, &data.train, 1000);
    vec![
        format!(
            "held-out reconstruction ({} images, {}): PSNR {psnr:.2} dB, SSIM {ssim:.4}",
            heldout.len().min(1000),
            data.describe_heldout()
        ),
        format!(
            "training-set reconstruction ({} images): PSNR {train_psnr:.2} dB, SSIM {train_ssim:.4}",
            data.train.len().min(1000)
        ),
        format!(
            "latent dimensions in use: {} of {}",
            active_dimensions(m, heldout),
            m.latent_size()
        ),
    ]
}

impl<M: Autoencoder> LatentModel for M {
    fn nz(&self) -> usize {
        self.latent_size()
    }

    fn image_shape(&self) -> (usize, usize) {
        self.channels_and_side()
    }

    fn on_sphere(&self) -> bool {
        false
    }

    fn decode(&self, z: &Tensor) -> Tensor {
        generate(self, z)
    }

    fn latents_of(&self, train: &Dataset, indices: &[usize]) -> Tensor {
        means_of(self, train, indices)
    }

    fn encode(&self, images: &Tensor, _effort: usize) -> Tensor {
        encode_mean(self, images)
    }

    fn sample_prior(&self, n: usize, temperature: f32, rng: &mut Rng) -> Tensor {
        rng.normal(self.gpu(), &[n, self.latent_size()], 0.0, temperature)
    }

    fn prior_description(&self) -> &'static str {
        "the prior N(0, I) (times --temperature)"
    }

    fn renderer(&self, z: &[f32]) -> Option<PackedCppn> {
        Autoencoder::renderer(self, z)
    }
}
