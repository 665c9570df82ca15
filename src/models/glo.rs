//! GLO (Bojanowski et al., "Optimizing the Latent Space of Generative Networks"): a
//! generator and one learned latent per training image on the unit sphere, trained jointly on
//! a reconstruction loss (the Laplacian-pyramid L1 by default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::cluster::pixel_pca_features;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::eval::vgg16::Vgg16;
use crate::gpu::Gpu;
use crate::io::Checkpoint;
use crate::io::image::Grid;
use crate::latent::{GaussianFit, Path as LatentPath, encode, interpolate};
use crate::models::features::{FeatureNet, open_features_run};
use crate::models::generator::{Generator, GeneratorConfig};
use crate::models::{LatentModel, evaluating, interpolation_ends, psnr_db, spread};
use crate::nn::{Module, loss, prefixed};
use crate::ops::{HostRng, Rng};
use crate::optim::{Adam, RowAdam};
use crate::tensor::Tensor;
use crate::train::{Kind, Model, RunConfig, batches_per_epoch, counter, load_checkpoint};

/// Images whose latents are fitted together when encoding new images.
const ENCODE_BATCH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconstruction {
    /// Sum over pyramid levels of weighted mean |L^j(x) - L^j(y)|.
    Laplacian,
    L1,
    L2,
    /// Seed 004's perceptual loss: mean |x - y| plus, for each stage of a feature network,
    /// the mean |phi(x) - phi(y)| of its activations.
    Perceptual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatentInit {
    /// Principal components of the images (as the GLO paper), then onto the sphere.
    Pca,
    /// Normal, then onto the sphere.
    Normal,
}

/// Everything a GLO run needs to be rebuilt exactly (under "glo" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GloConfig {
    pub generator: GeneratorConfig,
    pub images: usize,
    pub batch: usize,
    pub lr_generator: f32,
    pub lr_latent: f32,
    pub loss: Reconstruction,
    pub levels: usize,
    pub lap_weights: Option<Vec<f32>>,
    pub init: LatentInit,
    pub seed: u64,
    /// Seed 004's continuity term (absent in runs from before it).
    #[serde(default)]
    pub continuity: Option<Continuity>,
    /// The features run whose network the perceptual loss measures with.
    #[serde(default)]
    pub perceptual_features: Option<PathBuf>,
    /// Seed 004's incremental stages.
    #[serde(default)]
    pub stages: Option<Stages>,
}

/// Seed 004's incremental training: stage k < subsets trains on subset k alone (k = 0), or
/// on alpha x the loss on a batch of the earlier subsets, their latents frozen, + beta x the
/// loss on subset k (k > 0), `stage_steps` steps each; then every image to the end of the
/// run (with the continuity term when it is set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    /// The subset of each training image (`pegasus::data::cluster::staged_split`).
    pub subset_of: Vec<usize>,
    pub subsets: usize,
    pub stage_steps: usize,
    pub alpha: f32,
    pub beta: f32,
}

impl Stages {
    /// The subset stage `step` falls in and the step within it, or None in the final stage.
    pub fn at(&self, step: usize) -> Option<(usize, usize)> {
        let stage = step / self.stage_steps.max(1);
        (stage < self.subsets).then_some((stage, step % self.stage_steps.max(1)))
    }

    /// Training images of the subsets in `range`, in index order.
    pub fn members(&self, range: std::ops::Range<usize>) -> Vec<usize> {
        (0..self.subset_of.len())
            .filter(|&i| range.contains(&self.subset_of[i]))
            .collect()
    }
}

/// Streams of the staged batch orders (mixed into the run's seed), one per kind of batch.
const CURRENT_SUBSET_STREAM: u64 = 0x4355_5252;
const EARLIER_SUBSETS_STREAM: u64 = 0x5052_4556;

/// Seed 004's continuity term: the loss becomes alpha x loss(G(z), x) + beta x
/// loss(G(z + eps), x) with eps ~ N(0, sigma^2 I), z + eps put back onto the sphere, so
/// latents near a learned one draw nearly its image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Continuity {
    pub alpha: f32,
    pub beta: f32,
    pub sigma: f32,
}

/// The network whose stage activations the perceptual loss compares: a features run's, or
/// torchvision's VGG16 (its five blocks) given as `vgg16:FILE`.
enum PerceptualNet {
    Trained(FeatureNet),
    Vgg16(Vgg16),
}

impl PerceptualNet {
    fn open(gpu: &Arc<Gpu>, spec: &Path, channels: usize, side: usize) -> Result<PerceptualNet> {
        if let Some(file) = spec.to_str().and_then(|s| s.strip_prefix("vgg16:")) {
            if channels != 1 && channels != 3 {
                return Err(Error::Invalid(format!(
                    "VGG16 measures grey or RGB images, not {channels} channels"
                )));
            }
            return Ok(PerceptualNet::Vgg16(Vgg16::load(gpu, Path::new(file))?));
        }
        let net = open_features_run(gpu, spec)?;
        let (c, s) = (net.config.channels, net.config.image_size);
        if (c, s) != (channels, side) {
            return Err(Error::Invalid(format!(
                "{} measures {c} x {s} x {s} images but the generator makes {channels} x {side}: train features on the same images",
                spec.display()
            )));
        }
        Ok(PerceptualNet::Trained(net))
    }

    fn stages(&self, images: &Tensor) -> Vec<Tensor> {
        match self {
            PerceptualNet::Trained(net) => net.stage_features(images),
            PerceptualNet::Vgg16(vgg) => vgg
                .block_features(images)
                .expect("the generator's images are grey or RGB"),
        }
    }
}

/// Stream of the continuity term's noise (mixed into the run's seed).
const CONTINUITY_STREAM: u64 = 0x434f_4e54;

/// The trainable state: generator, latent table and both optimisers.
pub struct Glo {
    pub config: GloConfig,
    pub generator: Generator,
    /// [images, nz], every row on the unit sphere.
    pub latents: Tensor,
    pub opt_generator: Adam,
    pub opt_latents: RowAdam,
    pub step: usize,
    /// The frozen feature network of the perceptual loss.
    perceptual: Option<PerceptualNet>,
}

/// Latents from the principal components of the images (downsampled to at most 32 x 32 per
/// channel so the PCA fits on any adapter), one row per image, on the unit sphere.
fn pca_latents(gpu: &Arc<Gpu>, set: &Dataset, nz: usize, seed: u64) -> Vec<f32> {
    let projected = pixel_pca_features(gpu, set, nz, seed);
    let dims = projected.dims()[1];
    let mut out = Vec::with_capacity(set.len() * nz);
    for (i, row) in projected.to_vec().chunks(dims).enumerate() {
        let mut z = row.to_vec();
        // Dimensions past the PCA's rank start as small noise.
        let mut noise = HostRng::new(seed, i as u64);
        z.extend((dims..nz).map(|_| (noise.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 1e-3));
        out.extend(crate::latent::on_sphere(&z));
    }
    out
}

impl Glo {
    /// A new model for the images of `set`, latents initialised as `config.init` says.
    pub fn new(gpu: &Arc<Gpu>, set: &Dataset, config: GloConfig) -> Result<Glo> {
        if (set.channels, set.height) != (config.generator.channels, config.generator.image_size)
            || set.width != set.height
        {
            return Err(Error::Invalid(format!(
                "the images are {} x {} x {} but the generator makes {} x {} x {}",
                set.channels,
                set.height,
                set.width,
                config.generator.channels,
                config.generator.image_size,
                config.generator.image_size
            )));
        }
        let glo = Glo::with_normal_latents(gpu, config)?;
        if glo.config.init == LatentInit::Pca {
            let nz = glo.config.generator.nz;
            glo.latents
                .write(&pca_latents(gpu, set, nz, glo.config.seed));
        }
        Ok(glo)
    }

    /// A new model with normal latents on the sphere (what a checkpoint is restored into).
    fn with_normal_latents(gpu: &Arc<Gpu>, config: GloConfig) -> Result<Glo> {
        config.generator.check()?;
        gpu.check_binding(config.generator.largest_activation_bytes(config.batch))?;
        gpu.check_binding((config.images * config.generator.nz * 4) as u64)?;
        let mut rng = Rng::new(config.seed);
        let generator = Generator::new(gpu, &mut rng, config.generator);
        let nz = config.generator.nz;
        let latents = rng
            .normal(gpu, &[config.images, nz], 0.0, 1.0)
            .project_to_sphere(1e-12);
        let opt_generator = Adam::single(generator.parameters(), config.lr_generator, 0.5, 0.999);
        let opt_latents = RowAdam::new(latents.clone(), config.lr_latent, 0.5, 0.999);
        let perceptual = match (&config.loss, &config.perceptual_features) {
            (Reconstruction::Perceptual, Some(spec)) => Some(PerceptualNet::open(
                gpu,
                spec,
                config.generator.channels,
                config.generator.image_size,
            )?),
            (Reconstruction::Perceptual, None) => {
                return Err(Error::Invalid(
                    "the perceptual loss needs a features run (--features runs/NAME, made by `pegasus train features` on the same images) or --features vgg16:FILE".into(),
                ));
            }
            _ => None,
        };
        Ok(Glo {
            config,
            generator,
            latents,
            opt_generator,
            opt_latents,
            step: 0,
            perceptual,
        })
    }

    /// The training images of step `step`.
    pub fn batch_indices(&self, step: usize) -> Vec<usize> {
        crate::train::batch_indices(
            self.config.seed,
            self.config.images,
            self.config.batch,
            step,
        )
    }

    pub fn reconstruction_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        match self.config.loss {
            Reconstruction::Laplacian => loss::laplacian_l1(
                out,
                target,
                self.config.levels,
                self.config.lap_weights.as_deref(),
            ),
            Reconstruction::L1 => loss::l1(out, target),
            Reconstruction::L2 => loss::mse(out, target),
            Reconstruction::Perceptual => {
                let net = self
                    .perceptual
                    .as_ref()
                    .expect("a perceptual GLO is built with its feature network");
                let wanted = crate::autograd::no_grad(|| net.stages(target));
                loss::l1(out, target).add(&loss::feature_distance(&net.stages(out), &wanted, false))
            }
        }
    }

    /// One step: generator and the batch's latents move together, then those latents go
    /// back onto the sphere. Returns the loss (on the GPU; reading it waits for the step).
    pub fn train_step(&mut self, set: &Dataset) -> Tensor {
        self.fit_batch(set).0
    }

    /// The continuity term's noise for `rows` latents at `step`: drawn from the run's seed
    /// at an offset of its own per step, so a resumed run draws the same noise.
    pub fn continuity_noise(&self, step: usize, rows: usize, sigma: f32) -> Tensor {
        let nz = self.config.generator.nz;
        let mut rng = Rng {
            seed: self.config.seed ^ CONTINUITY_STREAM,
            offset: (step * rows * nz) as u64,
        };
        rng.normal(self.latents.gpu(), &[rows, nz], 0.0, sigma)
    }

    /// `batch` of `members` for step `step` of a stage: epoch by epoch a fresh permutation of
    /// the members from (seed ^ stream, epoch).
    fn members_batch(&self, members: &[usize], stream: u64, step: usize) -> Vec<usize> {
        crate::train::batch_indices(
            self.config.seed ^ stream,
            members.len(),
            self.config.batch,
            step,
        )
        .into_iter()
        .map(|i| members[i])
        .collect()
    }

    /// The loss of step `step` and the rows of the latents it trains, built on the tape but
    /// not stepped: in a subset stage, the staged loss (earlier subsets' latents enter as
    /// constants, so they receive no gradient); otherwise every image, with the continuity
    /// term when it is set. Returns (loss, shaken-latent loss, trained rows, their tracked
    /// latents).
    pub fn step_loss(
        &self,
        set: &Dataset,
        step: usize,
    ) -> (Tensor, Option<Tensor>, Vec<usize>, Tensor) {
        let gpu = self.latents.gpu();
        let staged = self
            .config
            .stages
            .as_ref()
            .and_then(|s| Some((s, s.at(step)?)));
        let indices = match staged {
            Some((stages, (subset, within))) => self.members_batch(
                &stages.members(subset..subset + 1),
                CURRENT_SUBSET_STREAM,
                within,
            ),
            None => self.batch_indices(step),
        };
        let images = set.batch(gpu, &indices);
        // The batch's latents as a leaf of the tape: their gradient feeds the row-sparse Adam.
        let z = self.latents.gather_rows(&indices).track();
        let mut l = self.reconstruction_loss(&self.generator.forward(&z), &images);
        let shake = |c: &Continuity| {
            let eps = self.continuity_noise(step, indices.len(), c.sigma);
            let shaken = z.add(&eps).project_to_sphere(1e-12);
            self.reconstruction_loss(&self.generator.forward(&shaken), &images)
        };
        let mut shaken_loss = None;
        match staged {
            Some((stages, (subset, within))) if subset > 0 => {
                let earlier =
                    self.members_batch(&stages.members(0..subset), EARLIER_SUBSETS_STREAM, within);
                let frozen = self.latents.gather_rows(&earlier);
                let kept = self.reconstruction_loss(
                    &self.generator.forward(&frozen),
                    &set.batch(gpu, &earlier),
                );
                l = kept.scale(stages.alpha).add(&l.scale(stages.beta));
            }
            Some(_) => {}
            None => {
                if let Some(c) = &self.config.continuity {
                    let term = shake(c);
                    l = l.scale(c.alpha).add(&term.scale(c.beta));
                    shaken_loss = Some(term.detach());
                }
            }
        }
        if staged.is_some()
            && let Some(c) = &self.config.continuity
        {
            // Trained only in the final stage, but followed in metrics.csv throughout.
            shaken_loss = Some(crate::autograd::no_grad(|| shake(c)));
        }
        (l, shaken_loss, indices, z)
    }

    /// One step as `train_step`; with the continuity term, also returns the loss on the
    /// shaken latents.
    pub fn fit_batch(&mut self, set: &Dataset) -> (Tensor, Option<Tensor>) {
        self.generator.set_training(true);
        let (l, shaken_loss, indices, z) = self.step_loss(set, self.step);
        let grads = l.backward();
        self.opt_generator.step(&grads);
        if let Some(gz) = grads.get(&z) {
            self.opt_latents.step(&indices, gz);
        }
        self.latents.project_rows_to_sphere(&indices, 1e-12);
        self.step += 1;
        (l.detach(), shaken_loss)
    }

    /// Images the generator makes from latents [n, nz] (eval mode), in batches.
    pub fn generate(&self, z: &Tensor) -> Tensor {
        evaluating(&self.generator, z, self.config.batch, |part| {
            self.generator.forward(part)
        })
    }

    /// Mean PSNR (dB) of the reconstructions of `count` training images spread evenly over
    /// the set.
    pub fn reconstruction_psnr(&self, set: &Dataset, count: usize) -> f32 {
        let idx = spread(set.len(), count);
        let recon = self.generate(&self.latents.gather_rows(&idx));
        psnr_db(&recon, &set.batch(self.latents.gpu(), &idx))
    }

    /// For each of `targets` [B, C, H, W], the training latent whose image is nearest (L2)
    /// among an even spread of at most 512 training images: where encoding starts.
    fn nearest_latents(&self, targets: &Tensor) -> Tensor {
        let idx = spread(self.config.images, 512);
        let z = self.latents.gather_rows(&idx);
        let images = self.generate(&z);
        let (n, b) = (idx.len(), targets.dims()[0]);
        let flat = images.reshape(&[n, images.numel() / n]);
        let t = targets.reshape(&[b, targets.numel() / b]);
        let best: Vec<usize> = t
            .pairwise_sq_distances(&flat)
            .argmin_rows()
            .to_vec()
            .iter()
            .map(|&i| i as usize)
            .collect();
        z.gather_rows(&best)
    }
}

impl Model for Glo {
    fn loss_names(&self) -> Vec<&'static str> {
        match self.config.continuity {
            Some(_) => vec!["loss", "shaken_loss"],
            None => vec!["loss"],
        }
    }

    fn eval_names(&self) -> Vec<&'static str> {
        vec!["psnr_db"]
    }

    fn step(&self) -> usize {
        self.step
    }

    fn batch_size(&self) -> usize {
        self.config.batch
    }

    fn describe(&self) -> String {
        format!(
            "GLO, latent {}, generator {} parameters",
            self.config.generator.nz,
            crate::nn::parameter_count(&self.generator)
        )
    }

    fn train_step(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let (l, shaken) = self.fit_batch(train);
        let mut out = vec![("loss", l)];
        out.extend(shaken.map(|t| ("shaken_loss", t)));
        out
    }

    fn evaluate(&self, data: &Split) -> Vec<f32> {
        vec![self.reconstruction_psnr(&data.train, 64)]
    }

    /// Generator, its buffers, the latent table and both optimisers' state, the latents'
    /// per-row step counts among them (PyTorch-style names for the generator).
    fn state(&mut self) -> Vec<(String, Tensor)> {
        let mut all = prefixed("generator", self.generator.parameters());
        all.extend(prefixed("generator", self.generator.buffers()));
        all.push(("latents".into(), self.latents.clone()));
        all.extend(prefixed("optim.generator", self.opt_generator.state()));
        all.push((
            "optim.latents.exp_avg".into(),
            self.opt_latents.exp_avg.clone(),
        ));
        all.push((
            "optim.latents.exp_avg_sq".into(),
            self.opt_latents.exp_avg_sq.clone(),
        ));
        all.push((
            "optim.latents.row_steps".into(),
            self.opt_latents.row_steps_tensor(),
        ));
        all
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("step", self.step as u64),
            ("optim.generator.step", self.opt_generator.step),
            ("optim.latents.step", self.opt_latents.step),
        ]
    }

    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()> {
        let expected = self.state();
        checkpoint.restore(path, &expected)?;
        let (_, row_steps) = expected
            .last()
            .expect("the row steps are part of the state");
        self.opt_latents.set_row_steps(row_steps);
        self.step = counter(checkpoint, path, "step")? as usize;
        self.opt_generator.step = counter(checkpoint, path, "optim.generator.step")?;
        self.opt_latents.step = counter(checkpoint, path, "optim.latents.step")?;
        Ok(())
    }

    fn write_pictures(&self, data: &Split, dir: &Path, last: bool) -> Result<Vec<String>> {
        let set = &data.train;
        let gpu = self.latents.gpu();
        let idx = spread(set.len(), 16);
        let recon = self.generate(&self.latents.gather_rows(&idx));
        let originals = Grid::from_dataset(set, &idx, 8);
        Grid::stacked(&[originals, Grid::from_tensor(&recon, 8)])
            .save(&dir.join("reconstructions.png"))?;
        let samples =
            self.generate(&self.sample_prior(64, 1.0, &mut Rng::new(self.config.seed ^ 0x5a)));
        Grid::from_tensor(&samples, 8).save(&dir.join("samples.png"))?;
        let mut written = vec!["reconstructions.png".to_string(), "samples.png".to_string()];
        if last {
            let (a, b) = interpolation_ends(set);
            let rows = self.latents.gather_rows(&[a, b]).to_vec();
            let nz = self.config.generator.nz;
            let path: Vec<f32> =
                interpolate(&rows[..nz], &rows[nz..], 10, LatentPath::Spherical).concat();
            let frames = self.generate(&Tensor::from_slice(gpu, &path, &[10, nz]));
            Grid::from_tensor(&frames, 10).save(&dir.join("interpolation.png"))?;
            written.push("interpolation.png".into());
        }
        Ok(written)
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr-generator or --lr-latent".into()
    }

    fn report(&self, data: &Split) -> Vec<String> {
        vec![format!(
            "training-set reconstruction PSNR {:.2} dB ({} images)",
            self.reconstruction_psnr(&data.train, 256),
            data.train.len().min(256)
        )]
    }
}

impl Kind for Glo {
    const KIND: &'static str = "glo";
    type Config = GloConfig;

    fn build(gpu: &Arc<Gpu>, config: &GloConfig, train: Option<&Dataset>) -> Result<Glo> {
        match train {
            Some(set) => Glo::new(gpu, set, config.clone()),
            None => Glo::with_normal_latents(gpu, config.clone()),
        }
    }

    fn batches_per_epoch(config: &GloConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &GloConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("image_size", config.generator.image_size, 4096),
            ("channels", config.generator.channels, 4),
            ("nz", config.generator.nz, 4096),
            ("ngf", config.generator.ngf, 1024),
            ("levels", config.levels, 8),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}

impl LatentModel for Glo {
    fn nz(&self) -> usize {
        self.config.generator.nz
    }

    fn image_shape(&self) -> (usize, usize) {
        (
            self.config.generator.channels,
            self.config.generator.image_size,
        )
    }

    fn on_sphere(&self) -> bool {
        true
    }

    fn decode(&self, z: &Tensor) -> Tensor {
        self.generate(z)
    }

    fn latents_of(&self, _train: &Dataset, indices: &[usize]) -> Tensor {
        self.latents.gather_rows(indices)
    }

    /// GLO has no encoder: each image's latent is optimised with the generator frozen,
    /// starting from the training latent whose image is nearest. Images are fitted a batch
    /// at a time: each latent moves only its own image, and Adam's steps do not depend on
    /// the loss's 1/B scale, so a batch fits as its images would one by one.
    fn encode(&self, images: &Tensor, effort: usize) -> Tensor {
        let n = images.dims()[0];
        let rows: Vec<Tensor> = (0..n)
            .step_by(ENCODE_BATCH)
            .map(|s| {
                let targets = images.narrow(0, s, (n - s).min(ENCODE_BATCH));
                let start = self.nearest_latents(&targets);
                encode(
                    &self.generator,
                    &targets,
                    &start,
                    effort,
                    self.config.levels,
                )
            })
            .collect();
        let refs: Vec<&Tensor> = rows.iter().collect();
        Tensor::concat(&refs, 0)
    }

    fn sample_prior(&self, n: usize, temperature: f32, rng: &mut Rng) -> Tensor {
        GaussianFit::fit(&self.latents).sample(self.latents.gpu(), n, temperature, rng)
    }

    fn prior_description(&self) -> &'static str {
        "a full-covariance Gaussian fitted to the learned latents (as the GLO paper), projected onto the unit sphere"
    }
}

/// The GLO model of the run at `dir`, its checkpoint restored.
pub fn open_glo_run(gpu: &Arc<Gpu>, dir: &Path) -> Result<Glo> {
    let config = RunConfig::read(dir)?;
    if config.model != <Glo as Kind>::KIND {
        return Err(Error::Invalid(format!(
            "{} is a {} run; this needs a GLO run",
            dir.display(),
            config.model
        )));
    }
    let checkpoint = dir.join("checkpoint.safetensors");
    if !checkpoint.is_file() {
        return Err(Error::Invalid(format!(
            "{} has no checkpoint yet; train it first",
            dir.display()
        )));
    }
    load_checkpoint::<Glo>(gpu, &config.settings(dir)?, &checkpoint)
}
