//! GLANN (Hoshen, Li and Malik 2019, "Non-Adversarial Image Synthesis with Generative Latent
//! Nearest Neighbors"): a GLO run's latents are a sample of where its generator draws well;
//! an MLP from noise to that latent space, trained by implicit maximum likelihood estimation
//! (IMLE), learns to draw new latents there, where the Gaussian fitted to them also fills the
//! space between them.
//!
//! IMLE step: for each target latent of a batch, many noise vectors are mapped and the one
//! whose image lies nearest the target is pulled towards it (mean squared distance, Adam).
//! Every target thus gets a nearby sample: the mapper covers all the latents rather than a
//! few modes. Mapper: noise -> linear, ReLU -> linear, ReLU -> linear -> onto the unit sphere
//! (GLO's latents live there). The run is a sub-folder `glann` of the GLO run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::autograd::no_grad;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::io::Checkpoint;
use crate::io::image::Grid;
use crate::models::glo::{Glo, open_glo_run};
use crate::models::{LatentModel, in_batches};
use crate::nn::{Activation, Linear, Module, Sequential, loss};
use crate::ops::Rng;
use crate::optim::Adam;
use crate::tensor::Tensor;
use crate::train::{Kind, Model, batch_indices, batches_per_epoch, counter, networks_state};

/// Everything a GLANN run needs to be rebuilt exactly (under "glann" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlannConfig {
    /// The GLO run whose latents it learns to draw.
    pub glo_run: PathBuf,
    pub nz: usize,
    /// Values of the noise the mapper starts from.
    pub noise: usize,
    /// Width of the mapper's hidden layers.
    pub width: usize,
    pub images: usize,
    /// Target latents per step.
    pub batch: usize,
    /// Noise draws per target each step; the nearest of all of them is pulled to it.
    pub candidates: usize,
    pub lr: f32,
    pub seed: u64,
}

impl GlannConfig {
    pub fn check(&self) -> Result<()> {
        if self.noise == 0 || self.width == 0 || self.candidates == 0 || self.batch == 0 {
            return Err(Error::Invalid(format!(
                "noise {}, width {}, candidates {} and batch {} must be positive",
                self.noise, self.width, self.candidates, self.batch
            )));
        }
        Ok(())
    }
}

/// The mapper from noise [n, noise] to latents [n, nz] on the unit sphere.
pub struct Mapper {
    pub layers: Sequential,
}

impl Mapper {
    pub fn new(gpu: &Arc<Gpu>, rng: &mut Rng, noise: usize, width: usize, nz: usize) -> Mapper {
        let mut layers = Sequential::default();
        layers.push(Linear::new(gpu, rng, noise, width, true));
        layers.push(Activation::Relu);
        layers.push(Linear::new(gpu, rng, width, width, true));
        layers.push(Activation::Relu);
        layers.push(Linear::new(gpu, rng, width, nz, true));
        Mapper { layers }
    }
}

impl Module for Mapper {
    fn forward(&self, noise: &Tensor) -> Tensor {
        in_layer("mapper", || {
            self.layers.forward(noise).project_to_sphere(1e-12)
        })
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.layers.parameters()
    }
}

/// One IMLE step: maps every row of `pool` [m, noise], finds for each of `targets` [b, nz]
/// the row whose image is nearest, and steps `optimizer` on the mean squared distance between
/// the chosen rows' images and their targets. Returns the loss and the chosen rows.
pub fn imle_step(
    mapper: &Mapper,
    optimizer: &mut Adam,
    targets: &Tensor,
    pool: &Tensor,
) -> (Tensor, Vec<usize>) {
    let mapped = no_grad(|| mapper.forward(pool));
    let chosen: Vec<usize> = no_grad(|| targets.pairwise_sq_distances(&mapped).argmin_rows())
        .to_vec()
        .iter()
        .map(|&i| i as usize)
        .collect();
    let l = loss::mse(&mapper.forward(&pool.gather_rows(&chosen)), targets);
    optimizer.step(&l.backward());
    (l.detach(), chosen)
}

pub struct Glann {
    pub config: GlannConfig,
    gpu: Arc<Gpu>,
    pub mapper: Mapper,
    optimizer: Adam,
    rng: Rng,
    /// The GLO run: its latents are the targets, its generator draws the pictures.
    glo: Glo,
    step: usize,
}

impl Glann {
    pub fn new(gpu: &Arc<Gpu>, config: GlannConfig) -> Result<Glann> {
        config.check()?;
        let glo = open_glo_run(gpu, &config.glo_run)?;
        if glo.latents.dims() != [config.images, config.nz] {
            return Err(Error::Invalid(format!(
                "{} now has {:?} latents, not the [{}, {}] this GLANN run learned; train GLANN again",
                config.glo_run.display(),
                glo.latents.dims(),
                config.images,
                config.nz
            )));
        }
        let mut init = Rng::new(config.seed);
        let mapper = Mapper::new(gpu, &mut init, config.noise, config.width, config.nz);
        let optimizer = Adam::single(mapper.parameters(), config.lr, 0.9, 0.999);
        Ok(Glann {
            rng: Rng::new(config.seed ^ 0x474c_414e),
            config,
            gpu: gpu.clone(),
            mapper,
            optimizer,
            glo,
            step: 0,
        })
    }

    /// n latents drawn through the mapper, the noise's spread scaled by `temperature`.
    pub fn draw(&self, n: usize, temperature: f32, rng: &mut Rng) -> Tensor {
        let noise = rng.normal(&self.gpu, &[n, self.config.noise], 0.0, temperature);
        in_batches(&noise, 1024, |e| self.mapper.forward(e))
    }
}

impl Model for Glann {
    fn loss_names(&self) -> Vec<&'static str> {
        vec!["loss"]
    }

    fn eval_names(&self) -> Vec<&'static str> {
        vec!["nearest_draw_distance"]
    }

    fn step(&self) -> usize {
        self.step
    }

    fn batch_size(&self) -> usize {
        self.config.batch
    }

    fn describe(&self) -> String {
        format!(
            "GLANN for {}, noise {} -> latent {}, {} parameters, {} candidates per latent",
            self.config.glo_run.display(),
            self.config.noise,
            self.config.nz,
            crate::nn::parameter_count(&self.mapper),
            self.config.candidates
        )
    }

    fn train_step(&mut self, _train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let c = &self.config;
        let indices = batch_indices(c.seed, c.images, c.batch, self.step);
        let targets = self.glo.latents.gather_rows(&indices);
        let pool = self.rng.normal(
            &self.gpu,
            &[indices.len() * c.candidates, c.noise],
            0.0,
            1.0,
        );
        let (l, _) = imle_step(&self.mapper, &mut self.optimizer, &targets, &pool);
        self.step += 1;
        vec![("loss", l)]
    }

    /// Mean distance from a spread of training latents to the nearest of as many fresh draws:
    /// how well the draws cover the latents.
    fn evaluate(&self, _data: &Split) -> Vec<f32> {
        let indices = crate::models::spread(self.config.images, 512);
        let targets = self.glo.latents.gather_rows(&indices);
        let draws = self.draw(indices.len(), 1.0, &mut Rng::new(self.config.seed + 1));
        let nearest = no_grad(|| {
            targets
                .pairwise_sq_distances(&draws)
                .min_axes(&[1])
                .sqrt()
                .mean()
        });
        vec![nearest.item()]
    }

    fn state(&mut self) -> Vec<(String, Tensor)> {
        networks_state(
            &[("mapper", &self.mapper)],
            vec![("optim", self.optimizer.state())],
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

    /// GLANN's samples beside the Gaussian fit's, decoded by the GLO generator.
    fn write_pictures(&self, _data: &Split, dir: &Path, _last: bool) -> Result<Vec<String>> {
        let seed = self.config.seed + 1;
        let glann = self.glo.decode(&self.draw(64, 1.0, &mut Rng::new(seed)));
        let gaussian = self
            .glo
            .decode(&self.glo.sample_prior(64, 1.0, &mut Rng::new(seed)));
        Grid::from_tensor(&glann, 8).save(&dir.join("samples.png"))?;
        Grid::from_tensor(&gaussian, 8).save(&dir.join("gaussian_samples.png"))?;
        Ok(vec!["samples.png".into(), "gaussian_samples.png".into()])
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr".into()
    }
}

impl Kind for Glann {
    const KIND: &'static str = "glann";
    type Config = GlannConfig;

    fn build(gpu: &Arc<Gpu>, config: &GlannConfig, _: Option<&Dataset>) -> Result<Glann> {
        Glann::new(gpu, config.clone())
    }

    fn batches_per_epoch(config: &GlannConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &GlannConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("nz", config.nz, 4096),
            ("noise", config.noise, 4096),
            ("width", config.width, 4096),
            ("candidates", config.candidates, 4096),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}
