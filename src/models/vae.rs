//! The deep convolutional VAE of seed 002 (Kingma and Welling's VAE with an SSIM + colour
//! reconstruction loss):
//!
//! | part    | layers                                                                         |
//! |---------|--------------------------------------------------------------------------------|
//! | encoder | 4x4 stride-2 unpadded convolutions, each with BatchNorm and LeakyReLU(0.2),     |
//! |         | widths nf, 2 nf, 4 nf, ... until the map is 4 x 4 or smaller; two linear layers |
//! |         | from the flattened map to mu and log sigma^2                                   |
//! | decoder | a linear layer from z to that map, BatchNorm + LeakyReLU, then the mirrored    |
//! |         | 4x4 stride-2 transposed convolutions (BatchNorm + LeakyReLU between), tanh out |
//!
//! An unpadded 4x4 stride-2 convolution maps a side s to floor((s - 4) / 2) + 1, dropping the
//! last row and column when s is odd: 96 -> 47 -> 22 -> 10 -> 4, 32 -> 15 -> 6 -> 2,
//! 28 -> 13 -> 5 -> 1. Its transposed twin maps s back to 2 s + 2, one short of an odd side,
//! so each decoder layer takes an output padding of 1 exactly where the encoder dropped a row:
//! 4 -> 10 -> 22 -> 47 (padding 1) -> 96, the input's size again.
//!
//! Loss = beta KL / (C H W) + w_ssim (1 - SSIM) + w_colour colour (+ w_feature feature
//! consistency): the KL, summed over latent dimensions, is divided by the values of an image
//! so it sits on the scale of the per-pixel means beside it (with the raw sum and equal
//! weights this VAE collapses on CIFAR: KL near 0, blank reconstructions).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::io::Checkpoint;
use crate::models::autoencoder::{self, Autoencoder, GaussianEncoder};
use crate::nn::{
    Activation, BatchNorm, Conv2d, ConvTranspose2d, Linear, Module, Sequential, loss, prefixed,
};
use crate::ops::{ConvGeometry, Rng};
use crate::optim::Adam;
use crate::tensor::Tensor;
use crate::train::{Kind, Model, batch_indices, batches_per_epoch, counter, networks_state};

/// The reconstruction term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaeRecon {
    /// 1 - SSIM (11 x 11 Gaussian window), seed 002's choice.
    Ssim,
    Mse,
    L1,
}

impl VaeRecon {
    /// Its column in metrics.csv.
    pub fn name(self) -> &'static str {
        match self {
            VaeRecon::Ssim => "ssim_loss",
            VaeRecon::Mse => "mse",
            VaeRecon::L1 => "l1",
        }
    }
}

/// Everything a VAE run needs to be rebuilt exactly (under "vae" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub image_size: usize,
    pub channels: usize,
    pub nz: usize,
    /// Width of the first encoder layer; each later one doubles it.
    pub nf: usize,
    pub images: usize,
    pub batch: usize,
    pub lr: f32,
    pub beta: f32,
    pub w_ssim: f32,
    pub w_colour: f32,
    /// Weight of the feature-consistency term (seed 002 section 3.3); 0 leaves it out.
    pub w_feature: f32,
    pub recon: VaeRecon,
    /// Divide the KL by C H W (true, the default) or add its raw sum (false).
    pub kl_per_value: bool,
    pub seed: u64,
}

/// The smallest side: SSIM's 11 x 11 window must fit.
pub const MIN_SIZE: usize = 11;
const SLOPE: f32 = 0.2;

impl VaeConfig {
    /// The default latent size for images of `size` pixels: seed 002's 128 at 32 x 32 and
    /// 1024 at 96 x 96; 32 for 28 x 28 digits, 512 at 64 x 64, and by area in between.
    pub fn default_nz(size: usize) -> usize {
        match size {
            0..=28 => 32,
            29..=32 => 128,
            33..=64 => 512,
            _ => 1024,
        }
    }

    pub fn check(&self) -> Result<()> {
        if !(MIN_SIZE..=512).contains(&self.image_size) {
            return Err(Error::Invalid(format!(
                "the VAE takes square images of {MIN_SIZE} to 512 pixels (SSIM's window needs {MIN_SIZE}), not {}; pass --image-size",
                self.image_size
            )));
        }
        if self.nz == 0 || self.nf == 0 || !(1..=4).contains(&self.channels) {
            return Err(Error::Invalid(format!(
                "latent size {} and width {} must be positive and channels {} 1 to 4",
                self.nz, self.nf, self.channels
            )));
        }
        Ok(())
    }

    /// Sides of the encoder's maps: the image, then each convolution's output, down to 4
    /// or less.
    pub fn sides(&self) -> Vec<usize> {
        let mut sides = vec![self.image_size];
        while let Some(&s) = sides.last().filter(|&&s| s > 4) {
            sides.push((s - 4) / 2 + 1);
        }
        sides
    }

    /// Output widths of the encoder's convolutions.
    pub fn widths(&self) -> Vec<usize> {
        (0..self.sides().len() - 1).map(|i| self.nf << i).collect()
    }

    /// Values of the encoder's last map (the linear layers' width).
    pub fn flat_features(&self) -> usize {
        let last = *self.sides().last().expect("at least the image side");
        self.widths().last().expect("at least one convolution") * last * last
    }

    /// Bytes of the largest activation for a batch, to check against the adapter's limits.
    pub fn largest_activation_bytes(&self, batch: usize) -> u64 {
        let sides = self.sides();
        self.widths()
            .iter()
            .zip(&sides[1..])
            .map(|(w, s)| (batch * w * s * s * 4) as u64)
            .chain([(batch * self.channels * self.image_size * self.image_size * 4) as u64])
            .max()
            .unwrap_or(0)
    }
}

const KERNEL: usize = 4;
const DOWN: ConvGeometry = ConvGeometry::new(2, 0);

/// The VAE's encoder: convolution, BatchNorm, LeakyReLU per stage, then mu and logvar.
fn encoder(gpu: &Arc<Gpu>, rng: &mut Rng, config: &VaeConfig) -> GaussianEncoder {
    let mut main = Sequential::default();
    let mut cin = config.channels;
    for w in config.widths() {
        main.push(Conv2d::new(gpu, rng, cin, w, KERNEL, DOWN, false));
        main.push(BatchNorm::new(gpu, w));
        main.push(Activation::LeakyRelu(SLOPE));
        cin = w;
    }
    let flat = config.flat_features();
    GaussianEncoder {
        main,
        fc_mu: Linear::new(gpu, rng, flat, config.nz, true),
        fc_logvar: Linear::new(gpu, rng, flat, config.nz, true),
    }
}

/// The encoder's activations after each stage, for the feature-consistency term.
fn stage_features(encoder: &GaussianEncoder, x: &Tensor) -> Vec<Tensor> {
    let taps: Vec<usize> = (0..encoder.main.layers.len() / 3)
        .map(|i| 3 * i + 2)
        .collect();
    encoder.main.forward_features(x, &taps)
}

pub struct Decoder {
    pub fc: Linear,
    /// BatchNorm and LeakyReLU on the map from `fc`, then the transposed convolutions.
    pub main: Sequential,
    /// [C, side, side] of the map `fc` makes.
    map: [usize; 3],
}

impl Decoder {
    fn new(gpu: &Arc<Gpu>, rng: &mut Rng, config: &VaeConfig) -> Decoder {
        let sides = config.sides();
        let widths = config.widths();
        let last = *sides.last().expect("at least the image side");
        let top = *widths.last().expect("at least one convolution");
        let fc = Linear::new(gpu, rng, config.nz, config.flat_features(), true);
        let mut main = Sequential::default();
        main.push(BatchNorm::new(gpu, top));
        main.push(Activation::LeakyRelu(SLOPE));
        // Stage i (from the top) maps side sides[i + 1] back to sides[i].
        for i in (0..widths.len()).rev() {
            let cout = if i == 0 {
                config.channels
            } else {
                widths[i - 1]
            };
            let restored = 2 * sides[i + 1] + 2;
            let output_padding = sides[i] - restored;
            let out_layer = i == 0;
            main.push(ConvTranspose2d::new(
                gpu,
                rng,
                widths[i],
                cout,
                KERNEL,
                DOWN,
                output_padding,
                out_layer,
            ));
            if out_layer {
                main.push(Activation::Tanh);
            } else {
                main.push(BatchNorm::new(gpu, cout));
                main.push(Activation::LeakyRelu(SLOPE));
            }
        }
        Decoder {
            fc,
            main,
            map: [top, last, last],
        }
    }
}

impl Module for Decoder {
    fn forward(&self, z: &Tensor) -> Tensor {
        in_layer("decoder", || {
            let h = in_layer("fc Linear", || self.fc.forward(z));
            let [c, s, _] = self.map;
            self.main.forward(&h.reshape(&[h.dims()[0], c, s, s]))
        })
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut all = prefixed("fc", self.fc.parameters());
        all.extend(prefixed("main", self.main.parameters()));
        all
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        prefixed("main", self.main.buffers())
    }

    fn set_training(&self, training: bool) {
        self.main.set_training(training);
    }
}

/// The terms of the loss of one batch, each a scalar on the tape.
pub struct VaeLoss {
    pub total: Tensor,
    pub recon: Tensor,
    pub colour: Tensor,
    /// KL summed over latent dimensions, mean over the batch, before any weight (nats).
    pub kl: Tensor,
    pub feature: Option<Tensor>,
}

pub struct Vae {
    pub config: VaeConfig,
    pub encoder: GaussianEncoder,
    pub decoder: Decoder,
    pub optimizer: Adam,
    /// Draws the reparameterisation noise; its offset is saved so a resume draws the same.
    pub rng: Rng,
    pub step: usize,
}

impl Vae {
    pub fn new(gpu: &Arc<Gpu>, config: VaeConfig) -> Result<Vae> {
        config.check()?;
        gpu.check_binding(config.largest_activation_bytes(config.batch))?;
        let mut init = Rng::new(config.seed);
        let encoder = encoder(gpu, &mut init, &config);
        let decoder = Decoder::new(gpu, &mut init, &config);
        let mut params = prefixed("encoder", encoder.parameters());
        params.extend(prefixed("decoder", decoder.parameters()));
        let optimizer = Adam::single(params, config.lr, 0.9, 0.999);
        Ok(Vae {
            rng: Rng::new(config.seed ^ 0x5641_4531),
            config,
            encoder,
            decoder,
            optimizer,
            step: 0,
        })
    }

    /// The loss of a batch `x` [B, C, H, W]: encode, sample z by reparameterisation, decode,
    /// and every term (on the tape when gradients are on).
    pub fn loss(&mut self, x: &Tensor) -> VaeLoss {
        let c = &self.config;
        let (mu, logvar) = self.encoder.forward(x);
        let z = mu.reparameterize(&logvar, &mut self.rng);
        let out = self.decoder.forward(&z);
        let kl = loss::kl_divergence(&mu, &logvar, 1.0);
        let values_per_image = (c.channels * c.image_size * c.image_size) as f32;
        let kl_weight = if c.kl_per_value {
            c.beta / values_per_image
        } else {
            c.beta
        };
        let recon = match c.recon {
            VaeRecon::Ssim => loss::ssim(&out, x, 2.0),
            VaeRecon::Mse => loss::mse(&out, x),
            VaeRecon::L1 => loss::l1(&out, x),
        };
        let colour = loss::colour(&out, x);
        let mut total = kl
            .scale(kl_weight)
            .add(&recon.scale(c.w_ssim))
            .add(&colour.scale(c.w_colour));
        // Back-propagated through both sides, as seed 002 trained it ("through the whole
        // autoencoder"): the encoder's weights move the input's features too.
        let feature = (c.w_feature > 0.0).then(|| {
            loss::feature_distance(
                &stage_features(&self.encoder, &out),
                &stage_features(&self.encoder, x),
                true,
            )
        });
        if let Some(f) = &feature {
            total = total.add(&f.scale(c.w_feature));
        }
        VaeLoss {
            total,
            recon,
            colour,
            kl,
            feature,
        }
    }

    /// One Adam step on the next batch; returns the loss terms (detached).
    pub fn fit_batch(&mut self, train: &Dataset) -> VaeLoss {
        let c = &self.config;
        let idx = batch_indices(c.seed, c.images, c.batch, self.step);
        let x = train.batch(self.gpu(), &idx);
        self.set_training(true);
        let terms = self.loss(&x);
        let grads = terms.total.backward();
        self.optimizer.step(&grads);
        self.step += 1;
        VaeLoss {
            total: terms.total.detach(),
            recon: terms.recon.detach(),
            colour: terms.colour.detach(),
            kl: terms.kl.detach(),
            feature: terms.feature.map(|f| f.detach()),
        }
    }

    fn gpu(&self) -> &Arc<Gpu> {
        self.decoder.fc.weight.gpu()
    }
}

impl Autoencoder for Vae {
    fn gpu(&self) -> &Arc<Gpu> {
        self.decoder.fc.weight.gpu()
    }

    fn latent_size(&self) -> usize {
        self.config.nz
    }

    fn channels_and_side(&self) -> (usize, usize) {
        (self.config.channels, self.config.image_size)
    }

    fn batch(&self) -> usize {
        self.config.batch
    }

    fn seed(&self) -> u64 {
        self.config.seed
    }

    fn set_training(&self, training: bool) {
        self.encoder.set_training(training);
        self.decoder.set_training(training);
    }

    fn posterior_mean(&self, x: &Tensor) -> Tensor {
        self.encoder.forward(x).0
    }

    fn decode_batch(&self, z: &Tensor) -> Tensor {
        self.decoder.forward(z)
    }
}

impl Model for Vae {
    fn loss_names(&self) -> Vec<&'static str> {
        let mut names = vec!["loss", self.config.recon.name(), "colour", "kl"];
        if self.config.w_feature > 0.0 {
            names.push("feature");
        }
        names
    }

    fn eval_names(&self) -> Vec<&'static str> {
        vec!["psnr_db", "heldout_psnr_db"]
    }

    fn step(&self) -> usize {
        self.step
    }

    fn batch_size(&self) -> usize {
        self.config.batch
    }

    fn describe(&self) -> String {
        format!(
            "VAE, latent {}, encoder {} and decoder {} parameters, sides {:?}",
            self.config.nz,
            crate::nn::parameter_count(&self.encoder),
            crate::nn::parameter_count(&self.decoder),
            self.config.sides()
        )
    }

    fn train_step(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let terms = self.fit_batch(train);
        let mut out = vec![
            ("loss", terms.total),
            (self.config.recon.name(), terms.recon),
            ("colour", terms.colour),
            ("kl", terms.kl),
        ];
        if let Some(f) = terms.feature {
            out.push(("feature", f));
        }
        out
    }

    fn evaluate(&self, data: &Split) -> Vec<f32> {
        autoencoder::evaluate(self, data)
    }

    fn state(&mut self) -> Vec<(String, Tensor)> {
        let moments = vec![("optim", self.optimizer.state())];
        networks_state(
            &[("encoder", &self.encoder), ("decoder", &self.decoder)],
            moments,
        )
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("step", self.step as u64),
            ("optim.step", self.optimizer.step),
            ("rng.offset", self.rng.offset),
        ]
    }

    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()> {
        checkpoint.restore(path, &self.state())?;
        self.step = counter(checkpoint, path, "step")? as usize;
        self.optimizer.step = counter(checkpoint, path, "optim.step")?;
        self.rng.offset = counter(checkpoint, path, "rng.offset")?;
        Ok(())
    }

    fn write_pictures(&self, data: &Split, dir: &Path, last: bool) -> Result<Vec<String>> {
        autoencoder::write_pictures(self, data, dir, last)
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr (or --beta)".into()
    }

    fn warning(&self, figures: &[(&'static str, f32)]) -> Option<String> {
        let kl = figures.iter().find(|(n, _)| *n == "kl")?.1;
        // A posterior that carries under a nat about each image, past the first steps where
        // the KL is still small by chance, is the collapse the per-value KL guards against.
        (self.step >= 100 && kl < 1.0).then(|| {
            format!(
                "the KL is {kl:.3} nats: the encoder barely uses its latent (posterior collapse: blurred or identical reconstructions); lower --beta{}",
                if self.config.kl_per_value {
                    ""
                } else {
                    " or drop --kl-sum"
                }
            )
        })
    }

    fn report(&self, data: &Split) -> Vec<String> {
        autoencoder::report(self, data)
    }
}

impl Kind for Vae {
    const KIND: &'static str = "vae";
    type Config = VaeConfig;

    fn build(gpu: &Arc<Gpu>, config: &VaeConfig, _train: Option<&Dataset>) -> Result<Vae> {
        Vae::new(gpu, config.clone())
    }

    fn batches_per_epoch(config: &VaeConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &VaeConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("image_size", config.image_size, 4096),
            ("channels", config.channels, 4),
            ("nz", config.nz, 4096),
            ("nf", config.nf, 1024),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}
