//! GLO (Bojanowski et al., "Optimizing the Latent Space of Generative Networks"): a
//! generator and one learned latent per training image on the unit sphere, trained jointly on
//! a reconstruction loss (the Laplacian-pyramid L1 by default).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::data::cluster::{pca, pixel_features};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::io::Checkpoint;
use crate::models::generator::{Generator, GeneratorConfig};
use crate::nn::{Module, loss, prefixed};
use crate::ops::{HostRng, Rng};
use crate::optim::{Adam, RowAdam};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reconstruction {
    /// Sum over pyramid levels of weighted mean |L^j(x) - L^j(y)|.
    Laplacian,
    L1,
    L2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatentInit {
    /// Principal components of the images (as the GLO paper), then onto the sphere.
    Pca,
    /// Normal, then onto the sphere.
    Normal,
}

/// Everything a GLO run needs to be rebuilt exactly (config.json of the run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GloConfig {
    pub generator: GeneratorConfig,
    pub images: usize,
    pub batch: usize,
    pub steps: usize,
    pub lr_generator: f32,
    pub lr_latent: f32,
    pub loss: Reconstruction,
    pub levels: usize,
    pub lap_weights: Option<Vec<f32>>,
    pub init: LatentInit,
    pub seed: u64,
}

/// The trainable state: generator, latent table and both optimisers.
pub struct Glo {
    pub config: GloConfig,
    pub generator: Generator,
    /// [images, nz], every row on the unit sphere.
    pub latents: Tensor,
    pub opt_generator: Adam,
    pub opt_latents: RowAdam,
    pub step: usize,
}

/// Latents from the principal components of the images (downsampled to at most 32 x 32 per
/// channel so the PCA fits on any adapter), one row per image, on the unit sphere.
fn pca_latents(gpu: &Arc<Gpu>, set: &Dataset, nz: usize, seed: u64) -> Vec<f32> {
    let small = if set.height > 32 {
        set.resized(32, 32)
    } else {
        set.clone()
    };
    let fit_rows = small.len().min(10_000);
    let fit_set = small.select(&(0..fit_rows).collect::<Vec<_>>());
    let features = pixel_features(gpu, &fit_set);
    let dims = nz.min(features.dims()[1]).min(fit_rows);
    let p = pca(&features, dims, seed);
    let mut out = Vec::with_capacity(set.len() * nz);
    for start in (0..small.len()).step_by(fit_rows) {
        let chunk = small.select(&(start..(start + fit_rows).min(small.len())).collect::<Vec<_>>());
        let projected = p.project(&pixel_features(gpu, &chunk)).to_vec();
        for row in projected.chunks(dims) {
            let mut z = row.to_vec();
            // Dimensions past the PCA's rank start as small noise.
            let mut noise = HostRng::new(seed, (start + out.len() / nz) as u64);
            z.extend(
                (dims..nz).map(|_| (noise.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 1e-3),
            );
            out.extend(crate::latent::on_sphere(&z));
        }
    }
    out
}

/// `count` indices spread evenly over 0..n (all of them when n <= count).
pub fn spread(n: usize, count: usize) -> Vec<usize> {
    let count = count.min(n);
    (0..count).map(|i| i * n / count).collect()
}

impl GloConfig {
    /// Whole batches in one pass over the images (a partial last batch is dropped).
    pub fn batches_per_epoch(&self) -> usize {
        (self.images / self.batch.max(1)).max(1)
    }
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
        Ok(Glo {
            config,
            generator,
            latents,
            opt_generator,
            opt_latents,
            step: 0,
        })
    }

    /// The training images of step `step`: epoch by epoch, each a fresh permutation drawn
    /// from (seed, epoch), so a resumed run sees the same batches.
    pub fn batch_indices(&self, step: usize) -> Vec<usize> {
        let per = self.config.batches_per_epoch();
        let order =
            HostRng::new(self.config.seed, (step / per) as u64).permutation(self.config.images);
        let b = self.config.batch.min(self.config.images);
        order[(step % per) * b..(step % per + 1) * b].to_vec()
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
        }
    }

    /// One step: generator and the batch's latents move together, then those latents go
    /// back onto the sphere. Returns the loss (on the GPU; reading it waits for the step).
    pub fn train_step(&mut self, set: &Dataset) -> Tensor {
        let indices = self.batch_indices(self.step);
        let images = set.batch(self.latents.gpu(), &indices);
        self.generator.set_training(true);
        // The batch's latents as a leaf of the tape: their gradient feeds the row-sparse Adam.
        let z = self.latents.gather_rows(&indices).track();
        let l = self.reconstruction_loss(&self.generator.forward(&z), &images);
        let grads = l.backward();
        self.opt_generator.step(&grads);
        if let Some(gz) = grads.get(&z) {
            self.opt_latents.step(&indices, gz);
        }
        let moved = self.latents.gather_rows(&indices).project_to_sphere(1e-12);
        self.latents.scatter_rows(&indices, &moved);
        self.step += 1;
        l.detach()
    }

    /// Images the generator makes from latents [n, nz] (eval mode), in batches.
    pub fn generate(&self, z: &Tensor) -> Tensor {
        self.generator.set_training(false);
        let out = crate::autograd::no_grad(|| {
            let n = z.dims()[0];
            let parts: Vec<Tensor> = (0..n)
                .step_by(self.config.batch)
                .map(|s| {
                    self.generator
                        .forward(&z.narrow(0, s, (n - s).min(self.config.batch)))
                })
                .collect();
            let refs: Vec<&Tensor> = parts.iter().collect();
            Tensor::concat(&refs, 0)
        });
        self.generator.set_training(true);
        out
    }

    /// Mean PSNR (dB, images in [-1, 1] so the peak-to-peak is 2) of the reconstructions of
    /// `count` training images spread evenly over the set.
    pub fn reconstruction_psnr(&self, set: &Dataset, count: usize) -> f32 {
        let idx = spread(set.len(), count);
        let recon = self.generate(&self.latents.gather_rows(&idx));
        let target = set.batch(self.latents.gpu(), &idx);
        let mse = crate::autograd::no_grad(|| loss::mse(&recon, &target).item()).max(1e-12);
        10.0 * (4.0 / mse).log10()
    }

    /// Everything a resume needs, by name (PyTorch-style names for the generator).
    pub fn state(&mut self) -> Vec<(String, Tensor)> {
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
        all
    }

    fn state_with_row_steps(&mut self) -> Vec<(String, Tensor)> {
        let mut all = self.state();
        all.push((
            "optim.latents.row_steps".into(),
            self.opt_latents.row_steps_tensor(),
        ));
        all
    }

    pub fn save(&mut self, path: &Path) -> Result<()> {
        let mut ckpt = Checkpoint::capture(&self.state_with_row_steps());
        ckpt.metadata.insert("step".into(), self.step.to_string());
        ckpt.metadata.insert(
            "optim.generator.step".into(),
            self.opt_generator.step.to_string(),
        );
        ckpt.metadata.insert(
            "optim.latents.step".into(),
            self.opt_latents.step.to_string(),
        );
        ckpt.metadata.insert(
            "config".into(),
            serde_json::to_string(&self.config).expect("config serialises"),
        );
        ckpt.save(path)
    }

    /// Rebuilds the model of `config` and restores a checkpoint into it.
    pub fn load(gpu: &Arc<Gpu>, config: GloConfig, path: &Path) -> Result<Glo> {
        let ckpt = Checkpoint::load(path)?;
        let mut glo = Glo::with_normal_latents(gpu, config)?;
        let row_steps = Tensor::zeros(gpu, &[glo.config.images]);
        let mut expected = glo.state();
        expected.push(("optim.latents.row_steps".into(), row_steps.clone()));
        ckpt.restore(path, &expected)?;
        glo.opt_latents.set_row_steps(&row_steps);
        let number = |key: &str| -> Result<u64> {
            ckpt.metadata
                .get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    Error::file(
                        path,
                        format!(
                            "the checkpoint has no `{key}`; it is not from `pegasus train glo`"
                        ),
                    )
                })
        };
        glo.step = number("step")? as usize;
        glo.opt_generator.step = number("optim.generator.step")?;
        glo.opt_latents.step = number("optim.latents.step")?;
        Ok(glo)
    }
}
