//! The encoder of seed 004 (section 2.3): after a GLO run has learned a latent z_x for each
//! training image x, a network E is trained to map x to z_x (a weighted sum of the L1 and L2
//! distances), so new images are encoded in one pass instead of by optimising a latent with
//! the generator frozen.
//!
//! E is DCGAN's discriminator with a linear layer in place of its sigmoid: 4 x 4 stride-2
//! convolutions with padding 1 (widths nf, 2 nf, 4 nf, ... until the map is 4 x 4 or
//! smaller), LeakyReLU(0.2), BatchNorm after all but the first; then a linear layer to the
//! latent, projected onto the unit sphere where GLO's latents live. The run is a sub-folder
//! `encoder` of the GLO run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::io::Checkpoint;
use crate::io::image::Grid;
use crate::models::glo::{Glo, open_glo_run};
use crate::models::{LatentModel, evaluating, psnr_db, spread};
use crate::nn::{Activation, BatchNorm, Conv2d, Flatten, Linear, Module, Sequential, loss};
use crate::ops::{ConvGeometry, Rng};
use crate::optim::Adam;
use crate::tensor::Tensor;
use crate::train::{Kind, Model, batch_indices, batches_per_epoch, counter, networks_state};

/// Everything an encoder run needs to be rebuilt exactly (under "encoder" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// The GLO run whose latents it learns to predict.
    pub glo_run: PathBuf,
    pub channels: usize,
    pub image_size: usize,
    pub nz: usize,
    /// Width of the first convolution; each later one doubles it.
    pub nf: usize,
    pub images: usize,
    pub batch: usize,
    pub lr: f32,
    pub w_l1: f32,
    pub w_l2: f32,
    pub seed: u64,
}

const DOWN: ConvGeometry = ConvGeometry::new(2, 1);
const SLOPE: f32 = 0.2;
/// Held-out images reconstructed for the figures and pictures.
const JUDGED: usize = 256;
/// Held-out images drawn with their reconstructions.
const SHOWN: usize = 32;

impl EncoderConfig {
    pub fn check(&self) -> Result<()> {
        if self.nf == 0 || self.batch == 0 || self.image_size < 4 {
            return Err(Error::Invalid(format!(
                "width {} and batch {} must be positive and the images at least 4 pixels (not {})",
                self.nf, self.batch, self.image_size
            )));
        }
        if !(self.w_l1 >= 0.0 && self.w_l2 >= 0.0 && self.w_l1 + self.w_l2 > 0.0) {
            return Err(Error::Invalid(format!(
                "--w-l1 {} and --w-l2 {}: give weights of 0 or more, not both 0",
                self.w_l1, self.w_l2
            )));
        }
        Ok(())
    }

    /// Sides of the maps: the image, then each convolution's output, down to 4 or less.
    fn sides(&self) -> Vec<usize> {
        let mut sides = vec![self.image_size];
        while let Some(&s) = sides.last().filter(|&&s| s > 4) {
            sides.push(s / 2);
        }
        sides
    }
}

/// A GLO run's encoder network: images [n, C, H, W] to latents [n, nz] on the sphere.
pub struct LatentEncoder {
    pub layers: Sequential,
}

impl LatentEncoder {
    pub fn new(gpu: &Arc<Gpu>, rng: &mut Rng, config: &EncoderConfig) -> LatentEncoder {
        let sides = config.sides();
        let mut layers = Sequential::default();
        let mut cin = config.channels;
        for stage in 0..sides.len() - 1 {
            let width = config.nf << stage;
            layers.push(Conv2d::new(gpu, rng, cin, width, 4, DOWN, false));
            if stage > 0 {
                layers.push(BatchNorm::new(gpu, width));
            }
            layers.push(Activation::LeakyRelu(SLOPE));
            cin = width;
        }
        let last = *sides.last().expect("at least the image side");
        layers.push(Flatten { to: None });
        layers.push(Linear::new(gpu, rng, cin * last * last, config.nz, true));
        LatentEncoder { layers }
    }
}

impl Module for LatentEncoder {
    fn forward(&self, x: &Tensor) -> Tensor {
        in_layer("encoder", || {
            self.layers.forward(x).project_to_sphere(1e-12)
        })
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.layers.parameters()
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.layers.buffers()
    }

    fn set_training(&self, training: bool) {
        self.layers.set_training(training);
    }
}

/// Latents of images [n, C, H, W] through `encoder` in evaluation mode, `batch` at a time.
fn one_pass(encoder: &LatentEncoder, batch: usize, images: &Tensor) -> Tensor {
    evaluating(encoder, images, batch, |x| encoder.forward(x))
}

pub struct GloEncoder {
    pub config: EncoderConfig,
    gpu: Arc<Gpu>,
    pub encoder: LatentEncoder,
    optimizer: Adam,
    /// The GLO run: its latents are the targets, its generator judges the encodings.
    glo: Glo,
    step: usize,
}

impl GloEncoder {
    pub fn new(gpu: &Arc<Gpu>, config: EncoderConfig) -> Result<GloEncoder> {
        config.check()?;
        let glo = open_glo_run(gpu, &config.glo_run)?;
        if glo.latents.dims() != [config.images, config.nz] {
            return Err(Error::Invalid(format!(
                "{} now has {:?} latents, not the [{}, {}] this encoder learned; train the encoder again",
                config.glo_run.display(),
                glo.latents.dims(),
                config.images,
                config.nz
            )));
        }
        let encoder = LatentEncoder::new(gpu, &mut Rng::new(config.seed), &config);
        let optimizer = Adam::single(encoder.parameters(), config.lr, 0.5, 0.999);
        Ok(GloEncoder {
            config,
            gpu: gpu.clone(),
            encoder,
            optimizer,
            glo,
            step: 0,
        })
    }

    /// Latents of images [n, C, H, W] (evaluation mode).
    pub fn encode(&self, images: &Tensor) -> Tensor {
        one_pass(&self.encoder, self.config.batch, images)
    }

    /// Held-out (or, without any, training) images and their reconstructions through the
    /// encoder and the GLO generator.
    fn judged(&self, data: &Split, count: usize) -> (Tensor, Tensor) {
        let set = data.heldout.as_ref().unwrap_or(&data.train);
        let images = set.batch(&self.gpu, &spread(set.len(), count));
        let recon = self.glo.decode(&self.encode(&images));
        (images, recon)
    }

    /// The GLO run with this encoder's one-pass encoding.
    pub fn into_encoding(self) -> EncodedGlo {
        EncodedGlo {
            glo: self.glo,
            encoder: self.encoder,
            batch: self.config.batch,
        }
    }
}

impl Model for GloEncoder {
    fn loss_names(&self) -> Vec<&'static str> {
        vec!["loss"]
    }

    fn eval_names(&self) -> Vec<&'static str> {
        vec!["heldout_psnr_db"]
    }

    fn step(&self) -> usize {
        self.step
    }

    fn batch_size(&self) -> usize {
        self.config.batch
    }

    fn describe(&self) -> String {
        format!(
            "encoder for {}, image -> latent {}, {} parameters",
            self.config.glo_run.display(),
            self.config.nz,
            crate::nn::parameter_count(&self.encoder)
        )
    }

    fn train_step(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let c = &self.config;
        let indices = batch_indices(c.seed, c.images, c.batch, self.step);
        let images = train.batch(&self.gpu, &indices);
        let targets = self.glo.latents.gather_rows(&indices);
        let z = self.encoder.forward(&images);
        let l = loss::l1(&z, &targets)
            .scale(c.w_l1)
            .add(&loss::mse(&z, &targets).scale(c.w_l2));
        self.optimizer.step(&l.backward());
        self.step += 1;
        vec![("loss", l.detach())]
    }

    fn evaluate(&self, data: &Split) -> Vec<f32> {
        let (images, recon) = self.judged(data, JUDGED);
        vec![psnr_db(&recon, &images)]
    }

    fn state(&mut self) -> Vec<(String, Tensor)> {
        networks_state(
            &[("encoder", &self.encoder)],
            vec![("optim", self.optimizer.state())],
        )
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("step", self.step as u64),
            ("optim.step", self.optimizer.step),
        ]
    }

    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()> {
        checkpoint.restore(path, &self.state())?;
        self.step = counter(checkpoint, path, "step")? as usize;
        self.optimizer.step = counter(checkpoint, path, "optim.step")?;
        Ok(())
    }

    /// Held-out images (top) above their reconstructions through the encoder (bottom).
    fn write_pictures(&self, data: &Split, dir: &Path, _last: bool) -> Result<Vec<String>> {
        let (images, recon) = self.judged(data, SHOWN);
        let both = Tensor::concat(&[&images, &recon], 0);
        Grid::from_tensor(&both, 16).save(&dir.join("heldout_reconstructions.png"))?;
        Ok(vec!["heldout_reconstructions.png".into()])
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr".into()
    }

    fn report(&self, data: &Split) -> Vec<String> {
        let (images, recon) = self.judged(data, JUDGED);
        vec![format!(
            "reconstruction PSNR through the encoder: {:.2} dB ({} {} images)",
            psnr_db(&recon, &images),
            images.dims()[0],
            if data.heldout.is_some() {
                "held-out"
            } else {
                "training"
            }
        )]
    }
}

impl Kind for GloEncoder {
    const KIND: &'static str = "encoder";
    type Config = EncoderConfig;

    fn build(gpu: &Arc<Gpu>, config: &EncoderConfig, _: Option<&Dataset>) -> Result<GloEncoder> {
        GloEncoder::new(gpu, config.clone())
    }

    fn batches_per_epoch(config: &EncoderConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &EncoderConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("channels", config.channels, 4),
            ("image_size", config.image_size, 4096),
            ("nz", config.nz, 4096),
            ("nf", config.nf, 1024),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}

/// A GLO run explored with its trained encoder: everything as GLO, but new images are
/// encoded in one pass.
pub struct EncodedGlo {
    glo: Glo,
    encoder: LatentEncoder,
    batch: usize,
}

impl LatentModel for EncodedGlo {
    fn nz(&self) -> usize {
        self.glo.nz()
    }

    fn image_shape(&self) -> (usize, usize) {
        self.glo.image_shape()
    }

    fn on_sphere(&self) -> bool {
        true
    }

    fn decode(&self, z: &Tensor) -> Tensor {
        self.glo.decode(z)
    }

    fn latents_of(&self, train: &Dataset, indices: &[usize]) -> Tensor {
        self.glo.latents_of(train, indices)
    }

    fn encode(&self, images: &Tensor, _effort: usize) -> Tensor {
        one_pass(&self.encoder, self.batch, images)
    }

    fn sample_prior(&self, n: usize, temperature: f32, rng: &mut Rng) -> Tensor {
        self.glo.sample_prior(n, temperature, rng)
    }

    fn prior_description(&self) -> &'static str {
        self.glo.prior_description()
    }
}
