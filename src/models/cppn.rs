//! CPPN GAN + VAE (seed 003; Ha's cppn-gan-vae): a generator that maps a latent z and a
//! pixel's coordinates (x, y, r) to that pixel's intensity, trained as the decoder of a VAE
//! and the generator of a GAN at once. Because it sees coordinates, not a pixel grid, a
//! trained generator renders at any resolution (`pegasus render`).
//!
//! Networks (the reference's sizes are the defaults):
//! - generator: scale z, x, y, r, each through its own linear map (z's with a bias), summed,
//!   softplus; `depth - 1` layers of `width` with tanh; a linear map to the channels,
//!   sigmoid (the losses take the logits). Coordinates span [-scale, scale] over the
//!   training side, r = sqrt(x^2 + y^2); z is multiplied by `scale` too.
//! - discriminator: 5x5 stride-2 convolutions of df, 2 df and 4 df channels (BatchNorm on
//!   the last two), LeakyReLU(0.2), a linear map to one logit.
//! - encoder: two fully connected softplus layers of `q_width`, then mu and log sigma^2.
//!
//! One step on a batch of random crops (seed 003's algorithm): `vae_steps` updates of the
//! encoder and generator on the VAE loss (Bernoulli likelihood per value + KL per value)
//! with their own Adam at `lr_vae`; `g_steps` updates of both on the GAN generator loss +
//! the VAE loss at `lr_g` (the generator's images are the reconstructions, as the
//! reference); then the discriminator's update at `lr_d`, taken only when the
//! generator's last loss is under `th_high` and the discriminator's over `th_low`, so the
//! discriminator never runs far ahead. With a curriculum, the generator renders the stage's
//! side and the data is downscaled to it; both are shown to the discriminator and the
//! encoder at the training side (nearest-neighbour upscaled).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::autograd::no_grad;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::io::Checkpoint;
use crate::models::autoencoder::{self, Autoencoder, GaussianEncoder};
use crate::nn::{
    Activation, BatchNorm, Conv2d, Flatten, Linear, Module, Sequential, loss, prefixed,
};
use crate::ops::cppn::{DenseLayer, MAX_UNITS, PackedCppn};
use crate::ops::{ConvGeometry, HostRng, Rng};
use crate::optim::Adam;
use crate::tensor::Tensor;
use crate::train::{Kind, Model, batch_indices, batches_per_epoch, counter, networks_state};

/// Everything a CPPN run needs to be rebuilt exactly (under "cppn" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CppnConfig {
    /// Side of the dataset's (square) images.
    pub data_side: usize,
    /// Side of the random crops it trains on (the reference: 26 of 28).
    pub side: usize,
    pub channels: usize,
    pub nz: usize,
    pub width: usize,
    pub depth: usize,
    /// Coordinates span [-scale, scale] over the training side; z is multiplied by it.
    pub scale: f32,
    pub q_width: usize,
    pub df: usize,
    pub batch: usize,
    pub images: usize,
    pub lr_g: f32,
    pub lr_d: f32,
    pub lr_vae: f32,
    pub beta1: f32,
    pub vae_steps: usize,
    pub g_steps: usize,
    pub th_high: f32,
    pub th_low: f32,
    /// Sides the generator trains at in turn (empty: the training side throughout).
    pub curriculum: Vec<usize>,
    /// Steps per curriculum stage (the last stage lasts to the end).
    pub stage_steps: usize,
    pub seed: u64,
}

const KERNEL: usize = 5;
const HALVE: ConvGeometry = ConvGeometry::new(2, 2);
const SLOPE: f32 = 0.2;

impl CppnConfig {
    pub fn check(&self) -> Result<()> {
        let invalid = |s: String| Err(Error::Invalid(s));
        if self.side < 4 || self.side > self.data_side {
            return invalid(format!(
                "--crop {} must be 4 to the images' side {}",
                self.side, self.data_side
            ));
        }
        if self.nz == 0 || self.width == 0 || self.depth == 0 || self.q_width == 0 || self.df == 0 {
            return invalid(
                "--nz, --width, --depth, --q-width and --df must all be at least 1".into(),
            );
        }
        if self.width > MAX_UNITS {
            return invalid(format!(
                "--width {}: the fused renderer holds up to {MAX_UNITS} units a layer",
                self.width
            ));
        }
        if !(1..=4).contains(&self.channels) {
            return invalid(format!(
                "the CPPN draws 1 to 4 channels, not {}",
                self.channels
            ));
        }
        if let Some(&bad) = self.curriculum.iter().find(|&&s| s < 2 || s > self.side) {
            return invalid(format!(
                "--curriculum side {bad}: give sides of 2 to the training side {} (pass --crop {} to train on the whole images)",
                self.side, self.data_side
            ));
        }
        Ok(())
    }

    /// The side the generator renders at step `step` of training.
    pub fn stage_side(&self, step: usize) -> usize {
        match self.curriculum.len() {
            0 => self.side,
            n => self.curriculum[(step / self.stage_steps.max(1)).min(n - 1)],
        }
    }

    /// Distance between neighbouring pixels' coordinates at the training side.
    pub fn pixel_step(&self) -> f32 {
        2.0 * self.scale / (self.side - 1) as f32
    }
}

/// (x, y, r) of every pixel of a `width` x `height` grid, row by row, centred on 0 with
/// `step` between neighbours: [height * width, 3].
pub fn coordinates(
    width: usize,
    height: usize,
    step: f32,
    rows: std::ops::Range<usize>,
) -> Vec<f32> {
    let centre = |i: usize, n: usize| (i as f32 - (n as f32 - 1.0) / 2.0) * step;
    let mut out = Vec::with_capacity(rows.len() * width * 3);
    for row in rows {
        let y = centre(row, height);
        for col in 0..width {
            let x = centre(col, width);
            out.extend([x, y, (x * x + y * y).sqrt()]);
        }
    }
    out
}

/// The CPPN: (z, x, y, r) -> a pixel's logits.
pub struct CppnGenerator {
    pub z_in: Linear,
    /// x, y and r's maps as one [width, 3] weight (the reference's three bias-free maps).
    pub coord_in: Linear,
    pub hidden: Vec<Linear>,
    pub out: Linear,
    pub scale: f32,
    /// The training side, which `forward` renders.
    pub side: usize,
}

impl CppnGenerator {
    fn new(gpu: &Arc<Gpu>, rng: &mut Rng, c: &CppnConfig) -> CppnGenerator {
        CppnGenerator {
            z_in: Linear::new(gpu, rng, c.nz, c.width, true),
            coord_in: Linear::new(gpu, rng, 3, c.width, false),
            hidden: (1..c.depth)
                .map(|_| Linear::new(gpu, rng, c.width, c.width, true))
                .collect(),
            out: Linear::new(gpu, rng, c.width, c.channels, true),
            scale: c.scale,
            side: c.side,
        }
    }

    /// Logits [B, C, height, width] of the images of latents z [B, nz] on the grid whose
    /// pixel coordinates are `coords` [height * width, 3].
    pub fn logits(&self, z: &Tensor, coords: &Tensor, (height, width): (usize, usize)) -> Tensor {
        let (b, p) = (z.dims()[0], coords.dims()[0]);
        let w = self.z_in.weight.dims()[0];
        let c = self.out.weight.dims()[0];
        // z's part is expanded (a copy) because broadcasting takes one contiguous run of
        // non-1 axes per operand: [B, 1, W] against [1, P, W] would need two.
        in_layer("generator", || {
            let from_z = in_layer("z_in Linear", || {
                self.z_in
                    .forward(&z.scale(self.scale))
                    .reshape(&[b, 1, w])
                    .expand(&[b, p, w])
            });
            let from_xy = in_layer("coord_in Linear", || {
                self.coord_in.forward(coords).reshape(&[1, p, w])
            });
            let mut h = from_z.add(&from_xy).softplus().reshape(&[b * p, w]);
            for (i, layer) in self.hidden.iter().enumerate() {
                h = in_layer(&format!("hidden.{i} Linear"), || layer.forward(&h).tanh());
            }
            in_layer("out Linear", || {
                self.out
                    .forward(&h)
                    .reshape(&[b, p, c])
                    .permute(&[0, 2, 1])
                    .reshape(&[b, c, height, width])
            })
        })
    }
}

impl CppnGenerator {
    /// Logits of latents z on a side x side grid spanning [-scale, scale], or with `step`
    /// between pixels when given.
    pub fn logits_on_grid(&self, z: &Tensor, side: usize, step: Option<f32>) -> Tensor {
        let step = step.unwrap_or(2.0 * self.scale / (side - 1) as f32);
        let coords = Tensor::from_slice(
            z.gpu(),
            &coordinates(side, side, step, 0..side),
            &[side * side, 3],
        );
        self.logits(z, &coords, (side, side))
    }

    fn logits_at(&self, z: &Tensor, side: usize) -> Tensor {
        self.logits_on_grid(z, side, None)
    }
}

impl CppnGenerator {
    /// The network for the fused renderer, with z's map applied to `z` on the host.
    pub fn pack(&self, z: &[f32]) -> PackedCppn {
        let gpu = self.out.weight.gpu();
        let layer = |l: &Linear| DenseLayer {
            weight: l.weight.to_vec(),
            bias: l
                .bias
                .as_ref()
                .map_or_else(|| vec![0.0; l.weight.dims()[0]], Tensor::to_vec),
        };
        let z_map = layer(&self.z_in);
        let nz = self.z_in.weight.dims()[1];
        assert_eq!(z.len(), nz, "a latent of {nz} values");
        let from_z: Vec<f32> = z_map
            .bias
            .iter()
            .enumerate()
            .map(|(u, b)| {
                let row = &z_map.weight[u * nz..(u + 1) * nz];
                b + row
                    .iter()
                    .zip(z)
                    .map(|(w, v)| w * v * self.scale)
                    .sum::<f32>()
            })
            .collect();
        let hidden: Vec<DenseLayer> = self.hidden.iter().map(layer).collect();
        PackedCppn::new(
            gpu,
            self.scale,
            &from_z,
            &self.coord_in.weight.to_vec(),
            &hidden,
            &layer(&self.out),
        )
    }
}

impl Module for CppnGenerator {
    /// Logits of latents z at the training side.
    fn forward(&self, z: &Tensor) -> Tensor {
        self.logits_at(z, self.side)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut all = prefixed("z_in", self.z_in.parameters());
        all.extend(prefixed("coord_in", self.coord_in.parameters()));
        for (i, layer) in self.hidden.iter().enumerate() {
            all.extend(prefixed(&format!("hidden.{i}"), layer.parameters()));
        }
        all.extend(prefixed("out", self.out.parameters()));
        all
    }
}

fn discriminator(gpu: &Arc<Gpu>, rng: &mut Rng, c: &CppnConfig) -> Sequential {
    let mut main = Sequential::default();
    let mut cin = c.channels;
    let mut side = c.side;
    for (i, w) in [c.df, 2 * c.df, 4 * c.df].into_iter().enumerate() {
        main.push(Conv2d::new(gpu, rng, cin, w, KERNEL, HALVE, i == 0));
        if i > 0 {
            main.push(BatchNorm::new(gpu, w));
        }
        main.push(Activation::LeakyRelu(SLOPE));
        cin = w;
        side = side.div_ceil(2);
    }
    main.push(Flatten { to: None });
    main.push(Linear::new(gpu, rng, cin * side * side, 1, true));
    main
}

fn encoder(gpu: &Arc<Gpu>, rng: &mut Rng, c: &CppnConfig) -> GaussianEncoder {
    let mut main = Sequential::default();
    main.push(Flatten { to: None });
    main.push(Linear::new(
        gpu,
        rng,
        c.channels * c.side * c.side,
        c.q_width,
        true,
    ));
    main.push(Activation::Softplus);
    main.push(Linear::new(gpu, rng, c.q_width, c.q_width, true));
    main.push(Activation::Softplus);
    GaussianEncoder {
        main,
        fc_mu: Linear::new(gpu, rng, c.q_width, c.nz, true),
        fc_logvar: Linear::new(gpu, rng, c.q_width, c.nz, true),
    }
}

/// BCE of logits against one label for all.
fn bce_all(logits: &Tensor, real: bool) -> Tensor {
    let target = Tensor::full(logits.gpu(), logits.dims(), if real { 1.0 } else { 0.0 });
    loss::bce_with_logits(logits, &target)
}

pub struct Cppn {
    pub config: CppnConfig,
    pub generator: CppnGenerator,
    pub discriminator: Sequential,
    pub encoder: GaussianEncoder,
    pub opt_vae: Adam,
    pub opt_g: Adam,
    pub opt_d: Adam,
    /// Draws eps; its offset is saved so a resume draws the same.
    pub rng: Rng,
    pub step: usize,
    pub discriminator_updates: u64,
}

/// The VAE terms of a batch and the generator's images for it.
pub struct Reconstruction {
    pub vae_loss: Tensor,
    /// In [-1, 1], at the training side.
    pub images: Tensor,
}

/// The discriminator's judgement of a batch against its reconstructions.
pub struct Judgement {
    /// (BCE on real + BCE on generated) / 2.
    pub loss: Tensor,
    pub real_logits: Tensor,
    pub fake_logits: Tensor,
}

impl Cppn {
    pub fn new(gpu: &Arc<Gpu>, config: CppnConfig) -> Result<Cppn> {
        config.check()?;
        let mut init = Rng::new(config.seed);
        let generator = CppnGenerator::new(gpu, &mut init, &config);
        let discriminator = discriminator(gpu, &mut init, &config);
        let encoder = encoder(gpu, &mut init, &config);
        let mut vae_params = prefixed("encoder", encoder.parameters());
        vae_params.extend(prefixed("generator", generator.parameters()));
        let adam = |params, lr| Adam::single(params, lr, config.beta1, 0.999);
        Ok(Cppn {
            opt_vae: adam(vae_params.clone(), config.lr_vae),
            opt_g: adam(vae_params, config.lr_g),
            opt_d: adam(discriminator.parameters(), config.lr_d),
            rng: Rng::new(config.seed ^ 0x4350_504e),
            config,
            generator,
            discriminator,
            encoder,
            step: 0,
            discriminator_updates: 0,
        })
    }

    fn gpu(&self) -> &Arc<Gpu> {
        self.generator.out.weight.gpu()
    }

    /// Random `side` x `side` crops of the images at `indices`, in [-1, 1]; each crop's
    /// corner is drawn from (seed, step), so a resumed run crops the same.
    fn crops(&self, set: &Dataset, indices: &[usize]) -> Tensor {
        let c = &self.config;
        let (d, s) = (c.data_side, c.side);
        let mut rng = HostRng::new(c.seed ^ 0x6372_6f70, self.step as u64);
        let mut values = Vec::with_capacity(indices.len() * c.channels * s * s);
        for &i in indices {
            let (top, left) = (rng.below(d - s + 1), rng.below(d - s + 1));
            let image = set.image(i);
            for ch in 0..c.channels {
                for y in top..top + s {
                    let row = &image[(ch * d + y) * d + left..][..s];
                    values.extend(row.iter().map(|&p| f32::from(p) / 127.5 - 1.0));
                }
            }
        }
        Tensor::from_slice(self.gpu(), &values, &[indices.len(), c.channels, s, s])
    }

    /// The batch as the current curriculum stage shows it: downscaled to the stage's side,
    /// then back to the training side.
    fn staged(&self, x: &Tensor) -> Tensor {
        let (side, stage) = (self.config.side, self.config.stage_side(self.step));
        if stage == side {
            x.clone()
        } else {
            x.adaptive_avg_pool2d(stage, stage)
                .upsample_nearest(side, side)
        }
    }

    /// The VAE loss of a batch: the Bernoulli negative log-likelihood of each value (the
    /// images mapped to [0, 1]) plus the KL per value, and the reconstructions.
    pub fn reconstruct(&mut self, x: &Tensor) -> Reconstruction {
        let (side, stage) = (self.config.side, self.config.stage_side(self.step));
        let (mu, logvar) = self.encoder.forward(x);
        let eps = self.rng.normal(x.gpu(), mu.dims(), 0.0, 1.0);
        let z = mu.add(&logvar.scale(0.5).exp().mul(&eps));
        let mut logits = self.generator.logits_at(&z, stage);
        if stage != side {
            logits = logits.upsample_nearest(side, side);
        }
        let values = (x.numel() / x.dims()[0]) as f32;
        let likelihood = loss::bce_with_logits(&logits, &x.affine(0.5, 0.5));
        let kl = loss::kl_divergence(&mu, &logvar, 1.0);
        Reconstruction {
            vae_loss: likelihood.add(&kl.scale(1.0 / values)),
            images: logits.sigmoid().affine(2.0, -1.0),
        }
    }

    /// The generator's objective on a batch (its GAN loss on the reconstructions + the VAE
    /// loss), with the GAN loss alone.
    pub fn generator_objective(&mut self, x: &Tensor) -> (Tensor, Tensor) {
        let r = self.reconstruct(x);
        let logits = in_layer("discriminator", || self.discriminator.forward(&r.images));
        let fooled = bce_all(&logits, true);
        (fooled.add(&r.vae_loss), fooled)
    }

    /// The discriminator's loss on a batch and reconstructions of it (held fixed).
    pub fn judge(&mut self, x: &Tensor) -> Judgement {
        let fake = no_grad(|| self.reconstruct(x).images);
        let (real_logits, fake_logits) = in_layer("discriminator", || {
            (
                self.discriminator.forward(x),
                self.discriminator.forward(&fake),
            )
        });
        let loss = bce_all(&real_logits, true)
            .add(&bce_all(&fake_logits, false))
            .scale(0.5);
        Judgement {
            loss,
            real_logits,
            fake_logits,
        }
    }

    /// Whether the discriminator updates, by seed 003's gate: only while the generator's
    /// loss is under `th_high` and its own over `th_low`.
    pub fn discriminator_may_update(&self, g_loss: f32, d_loss: f32) -> bool {
        g_loss < self.config.th_high && d_loss > self.config.th_low
    }

    /// One batch: the VAE updates, the generator updates, the gated discriminator update.
    pub fn fit_batch(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let c = self.config.clone();
        let idx = batch_indices(c.seed, c.images, c.batch, self.step);
        let x = self.staged(&self.crops(train, &idx));
        self.set_training(true);
        let mut vae_loss = None;
        for _ in 0..c.vae_steps {
            let r = self.reconstruct(&x);
            self.opt_vae.step(&r.vae_loss.backward());
            vae_loss = Some(r.vae_loss.detach());
        }
        let mut g_loss = None;
        for _ in 0..c.g_steps {
            let (objective, fooled) = self.generator_objective(&x);
            self.opt_g.step(&objective.backward());
            vae_loss = Some(objective.detach().sub(&fooled.detach()));
            g_loss = Some(fooled.detach());
        }
        let judged = self.judge(&x);
        // Without generator steps there is no generator loss to gate on: the discriminator
        // then updates whenever its own loss allows.
        let g_value = g_loss.as_ref().map_or(f32::NEG_INFINITY, Tensor::item);
        if self.discriminator_may_update(g_value, judged.loss.item()) {
            self.opt_d.step(&judged.loss.backward());
            self.discriminator_updates += 1;
        } else {
            // The judgement's records would hold its activations until the next backward.
            crate::autograd::clear();
        }
        self.step += 1;
        let zero = || Tensor::scalar(x.gpu(), 0.0);
        let mean_d = |logits: &Tensor| logits.detach().sigmoid().mean();
        vec![
            ("vae_loss", vae_loss.unwrap_or_else(zero)),
            ("g_loss", g_loss.unwrap_or_else(zero)),
            ("d_loss", judged.loss.detach()),
            ("d_real", mean_d(&judged.real_logits)),
            ("d_fake", mean_d(&judged.fake_logits)),
        ]
    }
}

impl Autoencoder for Cppn {
    fn gpu(&self) -> &Arc<Gpu> {
        Cppn::gpu(self)
    }

    fn latent_size(&self) -> usize {
        self.config.nz
    }

    fn channels_and_side(&self) -> (usize, usize) {
        (self.config.channels, self.config.data_side)
    }

    fn batch(&self) -> usize {
        self.config.batch
    }

    fn seed(&self) -> u64 {
        self.config.seed
    }

    fn set_training(&self, training: bool) {
        self.encoder.set_training(training);
        self.discriminator.set_training(training);
    }

    /// The encoder sees the centre crop of the training side.
    fn posterior_mean(&self, x: &Tensor) -> Tensor {
        let c = &self.config;
        let offset = (c.data_side - c.side) / 2;
        let centre = x.narrow(2, offset, c.side).narrow(3, offset, c.side);
        self.encoder.forward(&centre).0
    }

    fn renderer(&self, z: &[f32]) -> Option<PackedCppn> {
        Some(self.generator.pack(z))
    }

    /// Images at the data's side, the pixels spaced as in training (the border beyond the
    /// crop is the generator's extrapolation).
    fn decode_batch(&self, z: &Tensor) -> Tensor {
        let (d, step) = (self.config.data_side, self.config.pixel_step());
        self.generator
            .logits_on_grid(z, d, Some(step))
            .sigmoid()
            .affine(2.0, -1.0)
    }
}

impl Model for Cppn {
    fn loss_names(&self) -> Vec<&'static str> {
        vec!["vae_loss", "g_loss", "d_loss", "d_real", "d_fake"]
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
        let c = &self.config;
        format!(
            "CPPN GAN + VAE, latent {}, generator {} parameters ({} layers of {}, scale {}), discriminator {}, encoder {}; trains on {} x {} crops{}",
            c.nz,
            crate::nn::parameter_count(&self.generator),
            c.depth,
            c.width,
            c.scale,
            crate::nn::parameter_count(&self.discriminator),
            crate::nn::parameter_count(&self.encoder),
            c.side,
            c.side,
            if c.curriculum.is_empty() {
                String::new()
            } else {
                format!(
                    ", curriculum {:?} ({} steps a stage)",
                    c.curriculum, c.stage_steps
                )
            }
        )
    }

    fn train_step(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        self.fit_batch(train)
    }

    fn evaluate(&self, data: &Split) -> Vec<f32> {
        autoencoder::evaluate(self, data)
    }

    fn state(&mut self) -> Vec<(String, Tensor)> {
        let moments = vec![
            ("optim.vae", self.opt_vae.state()),
            ("optim.g", self.opt_g.state()),
            ("optim.d", self.opt_d.state()),
        ];
        networks_state(
            &[
                ("generator", &self.generator),
                ("discriminator", &self.discriminator),
                ("encoder", &self.encoder),
            ],
            moments,
        )
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("step", self.step as u64),
            ("optim.vae.step", self.opt_vae.step),
            ("optim.g.step", self.opt_g.step),
            ("optim.d.step", self.opt_d.step),
            ("rng.offset", self.rng.offset),
            ("discriminator.updates", self.discriminator_updates),
        ]
    }

    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()> {
        checkpoint.restore(path, &self.state())?;
        let read = |key| counter(checkpoint, path, key);
        self.step = read("step")? as usize;
        self.opt_vae.step = read("optim.vae.step")?;
        self.opt_g.step = read("optim.g.step")?;
        self.opt_d.step = read("optim.d.step")?;
        self.rng.offset = read("rng.offset")?;
        self.discriminator_updates = read("discriminator.updates")?;
        Ok(())
    }

    fn write_pictures(&self, data: &Split, dir: &Path, last: bool) -> Result<Vec<String>> {
        autoencoder::write_pictures(self, data, dir, last)
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr-g or --lr-vae".into()
    }

    fn report(&self, data: &Split) -> Vec<String> {
        let mut lines = autoencoder::report(self, data);
        lines.push(format!(
            "the discriminator updated on {} of {} batches (the rest were gated by --th-high / --th-low)",
            self.discriminator_updates, self.step
        ));
        lines
    }
}

impl Kind for Cppn {
    const KIND: &'static str = "cppn";
    type Config = CppnConfig;

    fn build(gpu: &Arc<Gpu>, config: &CppnConfig, _train: Option<&Dataset>) -> Result<Cppn> {
        Cppn::new(gpu, config.clone())
    }

    fn batches_per_epoch(config: &CppnConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &CppnConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("data_side", config.data_side, 4096),
            ("side", config.side, 4096),
            ("channels", config.channels, 4),
            ("nz", config.nz, 4096),
            ("width", config.width, 4096),
            ("depth", config.depth, 64),
            ("q_width", config.q_width, 65536),
            ("df", config.df, 1024),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}
