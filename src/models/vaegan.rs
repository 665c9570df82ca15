//! VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity
//! metric"; seed 001): a VAE whose reconstruction error is measured in the feature space of
//! a GAN discriminator, trained with the discriminator at the same time.
//!
//! Networks, after Larsen's table (widths for `nf` = 64 are Larsen's; a stage halves the side
//! with a 5x5 stride-2 convolution, padding 2, until it is 4 or less: 32 -> 16 -> 8 -> 4, one
//! more stage for 64):
//!
//! | network       | layers                                                                  |
//! |---------------|-------------------------------------------------------------------------|
//! | encoder       | per stage conv nf, 2 nf, 4 nf (capped), BatchNorm, ReLU; fc 16 nf,       |
//! |               | BatchNorm, ReLU; fc to mu and fc to log sigma^2                          |
//! | decoder       | fc to 4 x 4 x (last encoder width), BatchNorm, ReLU; per stage a 5x5     |
//! |               | stride-2 transposed conv back up (BatchNorm, ReLU), widths mirrored down |
//! |               | to nf / 2; a 5x5 conv to the image, tanh                                 |
//! | discriminator | conv nf / 2, ReLU; per stage conv 2 nf, 4 nf, 4 nf ..., BatchNorm, ReLU; |
//! |               | fc 8 nf, BatchNorm, ReLU; fc 1 (a logit: the losses use a stable BCE)    |
//!
//! Dis_l is the output of the discriminator's `dis_layer`-th convolution (before its
//! BatchNorm); Larsen's CIFAR configuration compares the third.
//!
//! Objectives, each network trained on its own (Larsen's algorithm 1):
//! - encoder: beta KL / (values of Dis_l) + L_llike, L_llike = mean (Dis_l(x~) - Dis_l(x))^2
//!   for the reconstruction x~ = Dec(mu + sigma eps);
//! - decoder: gamma L_llike + BCE(D(x~), real) + BCE(D(Dec(z_p)), real), z_p ~ N(0, I): the
//!   non-saturating form of -L_GAN;
//! - discriminator: BCE(D(x), real) + BCE(D(x~), fake) + BCE(D(Dec(z_p)), fake) = -L_GAN;
//! - with `pixel` > 0, pixel MSE(x~, x) x pixel is added to the encoder's and the decoder's.
//! - with a saturation penalty w > 0, w mean max(a^2 - atanh(0.99)^2, 0) over the prior
//!   samples' values a before the tanh is added to the decoder's (see `saturation_penalty`).
//!
//! One forward pass computes all three objectives; `autograd::backward_each` then takes each
//! objective's gradient with respect to its own network's parameters only (as Larsen's code
//! takes each cost's gradient with respect to one parameter set), running only the records
//! between that objective and those parameters: no gradient of the discriminator's loss
//! reaches the generator, the encoder's objective computes no weight gradients of the decoder
//! or the discriminator. Only then do the three optimisers step, each on its network's
//! gradients alone, all at the weights of the forward pass. The discriminator judges real
//! images, reconstructions and prior samples as one batch, as Larsen's code does; with
//! `joint_decode` (new runs) the decoder likewise decodes the reconstructions' codes and the
//! prior draws as one batch.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::autograd::Grads;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::io::Checkpoint;
use crate::models::autoencoder::{self, Autoencoder, GaussianEncoder};
use crate::models::{evaluating, spread};
use crate::nn::{
    Activation, BatchNorm, Conv2d, ConvTranspose2d, Flatten, Linear, Module, Sequential, loss,
    prefixed,
};
use crate::ops::{ConvGeometry, Rng};
use crate::optim::Adam;
use crate::tensor::Tensor;
use crate::train::{Kind, Model, batch_indices, batches_per_epoch, counter, networks_state};

/// Everything a VAE-GAN run needs to be rebuilt exactly (under "vaegan" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeGanConfig {
    pub image_size: usize,
    pub channels: usize,
    pub nz: usize,
    /// Width unit: Larsen's networks at 64.
    pub nf: usize,
    pub images: usize,
    pub batch: usize,
    pub lr: f32,
    /// Weight of the KL (per value of the likelihood's features).
    pub beta: f32,
    /// Weight of L_llike in the decoder's objective, against the GAN term.
    pub gamma: f32,
    /// Which discriminator convolution (1-based) gives Dis_l.
    pub dis_layer: usize,
    /// Balance guard: the discriminator skips its update when its loss on real or on
    /// generated images falls under equilibrium - margin, the decoder when one rises over
    /// equilibrium + margin; 0 turns the guard off.
    pub margin: f32,
    pub equilibrium: f32,
    /// Train the plain VAE loss (KL + pixel MSE) instead, for comparison.
    pub plain_vae: bool,
    /// Weight of the pixel MSE between x~ and x added to the encoder's and the decoder's
    /// objectives (0, the default and absent from older runs: Larsen's objectives).
    #[serde(default)]
    pub pixel: f32,
    /// Decode the reconstructions' codes and the prior draws as one batch, so that the
    /// decoder's BatchNorm normalises both with the same statistics, as Larsen's code does
    /// (new runs); false, and absent from older runs' config.json: each is its own batch.
    #[serde(default)]
    pub joint_decode: bool,
    /// Weight of the saturation penalty in the decoder's objective: the mean over the decoded
    /// prior draws' values of max(a^2 - atanh(0.99)^2, 0), a the value before the tanh.
    /// Where the tanh saturates it passes the GAN term almost no gradient; this term pulls
    /// such values back to where it does. None in runs made before it (config.json without
    /// the field): no penalty, and metrics.csv has no `saturated` column.
    #[serde(default)]
    pub saturation_penalty: Option<f32>,
    pub seed: u64,
}

const KERNEL: usize = 5;
/// A decoded value beyond this magnitude counts as saturated: the tanh passes back under 2%
/// of the gradient there.
const SATURATED: f32 = 0.99;
/// A sample with at least this share of saturated values counts as saturated.
const SATURATED_SHARE: f32 = 0.25;
const HALVE: ConvGeometry = ConvGeometry::new(2, 2);
const SAME: ConvGeometry = ConvGeometry::new(1, 2);

impl VaeGanConfig {
    pub fn check(&self) -> Result<()> {
        if !(8..=256).contains(&self.image_size) {
            return Err(Error::Invalid(format!(
                "the VAE-GAN takes square images of 8 to 256 pixels (Larsen's are 32 or 64), not {}; pass --image-size 32",
                self.image_size
            )));
        }
        if self.nz == 0 || self.nf < 2 || !(1..=4).contains(&self.channels) {
            return Err(Error::Invalid(format!(
                "latent size {} must be positive, width {} at least 2 and channels {} 1 to 4",
                self.nz, self.nf, self.channels
            )));
        }
        if !(self.pixel.is_finite() && self.pixel >= 0.0) {
            return Err(Error::Invalid(format!(
                "the pixel term's weight is {}: give 0 or more (--pixel)",
                self.pixel
            )));
        }
        if let Some(w) = self
            .saturation_penalty
            .filter(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(Error::Invalid(format!(
                "the saturation penalty's weight is {w}: give 0 or more (--saturation-penalty)"
            )));
        }
        let convs = self.sides().len();
        if !(1..=convs).contains(&self.dis_layer) {
            return Err(Error::Invalid(format!(
                "--dis-layer {}: the discriminator has convolutions 1 to {convs}",
                self.dis_layer
            )));
        }
        Ok(())
    }

    /// The image side, then each stage's: halved (rounded up) until 4 or less.
    pub fn sides(&self) -> Vec<usize> {
        let mut sides = vec![self.image_size];
        while let Some(&s) = sides.last().filter(|&&s| s > 4) {
            sides.push(s.div_ceil(2));
        }
        sides
    }

    fn stages(&self) -> usize {
        self.sides().len() - 1
    }

    /// Output widths of the encoder's stages: nf, 2 nf, 4 nf, 4 nf, ...
    pub fn encoder_widths(&self) -> Vec<usize> {
        (0..self.stages())
            .map(|i| (self.nf << i).min(4 * self.nf))
            .collect()
    }

    /// Output widths of the discriminator's strided convolutions: 2 nf, 4 nf, 4 nf, ...
    pub fn discriminator_widths(&self) -> Vec<usize> {
        (0..self.stages())
            .map(|i| if i == 0 { 2 * self.nf } else { 4 * self.nf })
            .collect()
    }

    fn last_side(&self) -> usize {
        *self.sides().last().expect("at least the image side")
    }

    /// Values of Dis_l for one image (channels x side x side of that convolution's output).
    pub fn dis_values(&self) -> usize {
        let sides = self.sides();
        let (channels, side) = match self.dis_layer {
            1 => (self.nf / 2, sides[0]),
            l => (self.discriminator_widths()[l - 2], sides[l - 1]),
        };
        channels * side * side
    }

    /// Layer index of Dis_l in the discriminator's Sequential: conv 1 is layer 0 (then its
    /// ReLU); conv k >= 2 is layer 2 + 3 (k - 2) (then BatchNorm and ReLU).
    fn dis_tap(&self) -> usize {
        match self.dis_layer {
            1 => 0,
            l => 2 + 3 * (l - 2),
        }
    }

    /// Bytes of the largest activation for a batch, to check against the adapter's limits:
    /// the discriminator's first layer at full size, over the 3 x batch images it judges.
    pub fn largest_activation_bytes(&self, batch: usize) -> u64 {
        let s = self.image_size;
        (3 * batch * (self.nf / 2).max(self.channels) * s * s * 4) as u64
    }
}

fn conv_block(main: &mut Sequential, gpu: &Arc<Gpu>, rng: &mut Rng, cin: usize, cout: usize) {
    main.push(Conv2d::new(gpu, rng, cin, cout, KERNEL, HALVE, false));
    main.push(BatchNorm::new(gpu, cout));
    main.push(Activation::Relu);
}

/// The encoder: the stages, then fc, BatchNorm, ReLU; mu and logvar from there.
fn encoder(gpu: &Arc<Gpu>, rng: &mut Rng, c: &VaeGanConfig) -> GaussianEncoder {
    let mut main = Sequential::default();
    let mut cin = c.channels;
    for w in c.encoder_widths() {
        conv_block(&mut main, gpu, rng, cin, w);
        cin = w;
    }
    let side = c.last_side();
    main.push(Flatten { to: None });
    main.push(Linear::new(gpu, rng, cin * side * side, 16 * c.nf, false));
    main.push(BatchNorm::new(gpu, 16 * c.nf));
    main.push(Activation::Relu);
    GaussianEncoder {
        main,
        fc_mu: Linear::new(gpu, rng, 16 * c.nf, c.nz, true),
        fc_logvar: Linear::new(gpu, rng, 16 * c.nf, c.nz, true),
    }
}

/// The decoder: fc, BatchNorm, ReLU to the smallest map, then the stages back up.
fn decoder(gpu: &Arc<Gpu>, rng: &mut Rng, c: &VaeGanConfig) -> Sequential {
    let (sides, widths) = (c.sides(), c.encoder_widths());
    let top = *widths.last().expect("at least one stage");
    let side = c.last_side();
    let mut main = Sequential::default();
    main.push(Linear::new(gpu, rng, c.nz, top * side * side, false));
    main.push(BatchNorm::new(gpu, top * side * side));
    main.push(Activation::Relu);
    main.push(Flatten::to(&[top, side, side]));
    // Stage k (from the top) maps sides[k + 1] back to sides[k]: a transposed 5x5
    // stride-2 convolution with padding 2 gives 2 s - 1, plus 1 where the side was even.
    let last_width = (c.nf / 2).max(1);
    for k in (0..widths.len()).rev() {
        let cout = if k == 0 { last_width } else { widths[k - 1] };
        let output_padding = sides[k] - (2 * sides[k + 1] - 1);
        main.push(ConvTranspose2d::new(
            gpu,
            rng,
            widths[k],
            cout,
            KERNEL,
            HALVE,
            output_padding,
            false,
        ));
        main.push(BatchNorm::new(gpu, cout));
        main.push(Activation::Relu);
    }
    main.push(Conv2d::new(
        gpu, rng, last_width, c.channels, KERNEL, SAME, true,
    ));
    main.push(Activation::Tanh);
    main
}

pub struct Discriminator {
    pub main: Sequential,
    /// Layer index of Dis_l.
    tap: usize,
    /// The layers before the first BatchNorm, which act on each image alone.
    per_image: usize,
}

impl Discriminator {
    fn new(gpu: &Arc<Gpu>, rng: &mut Rng, c: &VaeGanConfig) -> Discriminator {
        let mut main = Sequential::default();
        let first = (c.nf / 2).max(1);
        main.push(Conv2d::new(gpu, rng, c.channels, first, KERNEL, SAME, true));
        main.push(Activation::Relu);
        let mut cin = first;
        // The first stage's convolution, then its BatchNorm.
        let per_image = main.layers.len() + 1;
        for w in c.discriminator_widths() {
            conv_block(&mut main, gpu, rng, cin, w);
            cin = w;
        }
        let side = c.last_side();
        main.push(Flatten { to: None });
        main.push(Linear::new(gpu, rng, cin * side * side, 8 * c.nf, false));
        main.push(BatchNorm::new(gpu, 8 * c.nf));
        main.push(Activation::Relu);
        main.push(Linear::new(gpu, rng, 8 * c.nf, 1, true));
        Discriminator {
            main,
            tap: c.dis_tap(),
            per_image,
        }
    }

    /// Dis_l of every image of `parts` and, when `logits`, the logit of each being real,
    /// judged as one batch. Real and generated images always share a batch, as in Larsen's
    /// code: the BatchNorm layers would normalise a batch of only real or only generated
    /// images to the same statistics, and the fully connected layer's BatchNorm would leave
    /// such a batch's mean logit nearly fixed. The layers past Dis_l run only for logits.
    ///
    /// The layers before the first BatchNorm (up to Dis_l at most) run on each part alone
    /// and are joined after: a backward then runs through them only for the parts its
    /// objective reaches (the encoder's, only the reconstructions; the decoder's, not the
    /// real images), where on one batch it would run over all three.
    pub fn judge(&self, parts: &[&Tensor], logits: bool) -> (Vec<Tensor>, Vec<Tensor>) {
        let joined = self.per_image.min(self.tap + 1);
        let end = if logits {
            self.main.layers.len()
        } else {
            self.tap + 1
        };
        let keep: &[usize] = if self.tap >= joined { &[self.tap] } else { &[] };
        let (all, out, kept) = in_layer("discriminator", || {
            let heads: Vec<Tensor> = parts
                .iter()
                .map(|p| self.main.forward_span(p, 0..joined, &[]).0)
                .collect();
            let all = Tensor::concat(&heads.iter().collect::<Vec<_>>(), 0);
            let (out, kept) = self.main.forward_span(&all, joined..end, keep);
            (all, out, kept)
        });
        let split = |t: &Tensor| -> Vec<Tensor> {
            let mut start = 0;
            parts
                .iter()
                .map(|p| {
                    let n = p.dims()[0];
                    start += n;
                    t.narrow(0, start - n, n)
                })
                .collect()
        };
        let features = split(kept.first().unwrap_or(&all));
        let logits = if logits { split(&out) } else { Vec::new() };
        (features, logits)
    }

    pub fn logit(&self, x: &Tensor) -> Tensor {
        in_layer("discriminator", || self.main.forward(x))
    }
}

/// BCE of logits against one label for all.
fn bce_all(logits: &Tensor, real: bool) -> Tensor {
    let target = Tensor::full(logits.gpu(), logits.dims(), if real { 1.0 } else { 0.0 });
    loss::bce_with_logits(logits, &target)
}

/// The gradients of one step, each of its network's own objective, and what it measured.
pub struct StepGradients {
    pub encoder: Grads,
    pub decoder: Grads,
    pub discriminator: Grads,
    /// kl (raw, nats), llike, g_loss, d_loss, d_real, d_recon, d_prior; all detached.
    pub scalars: Vec<(&'static str, Tensor)>,
}

/// The three objectives at the current weights for a batch, with the step's noise, and the
/// terms they are made of.
pub struct Objectives {
    pub encoder: Tensor,
    pub decoder: Tensor,
    pub discriminator: Tensor,
    /// KL (raw, nats), L_llike and the decoder's GAN loss.
    kl: Tensor,
    llike: Tensor,
    g_loss: Tensor,
    /// The discriminator's BCE on real images, reconstructions and prior samples.
    costs: [Tensor; 3],
    /// Its logits for the three.
    logits: Vec<Tensor>,
    /// The share of saturated prior samples (detached), in runs with a saturation penalty.
    saturated: Option<Tensor>,
}

/// Which networks besides the encoder (which always updates) a step updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Updates {
    pub decoder: bool,
    pub discriminator: bool,
}

impl Updates {
    pub const ALL: Updates = Updates {
        decoder: true,
        discriminator: true,
    };
}

pub struct VaeGan {
    pub config: VaeGanConfig,
    pub encoder: GaussianEncoder,
    pub decoder: Sequential,
    pub discriminator: Discriminator,
    pub opt_encoder: Adam,
    pub opt_decoder: Adam,
    pub opt_discriminator: Adam,
    /// Draws eps and z_p; its offset is saved so a resume draws the same.
    pub rng: Rng,
    pub step: usize,
    /// Updates the balance guard skipped.
    pub skipped_discriminator: u64,
    pub skipped_decoder: u64,
}

impl VaeGan {
    pub fn new(gpu: &Arc<Gpu>, config: VaeGanConfig) -> Result<VaeGan> {
        config.check()?;
        gpu.check_binding(config.largest_activation_bytes(config.batch))?;
        let mut init = Rng::new(config.seed);
        let encoder = encoder(gpu, &mut init, &config);
        let decoder = decoder(gpu, &mut init, &config);
        let discriminator = Discriminator::new(gpu, &mut init, &config);
        let adam = |params| Adam::single(params, config.lr, 0.5, 0.999);
        Ok(VaeGan {
            opt_encoder: adam(encoder.parameters()),
            opt_decoder: adam(decoder.parameters()),
            opt_discriminator: adam(discriminator.parameters()),
            rng: Rng::new(config.seed ^ 0x4741_4e31),
            config,
            encoder,
            decoder,
            discriminator,
            step: 0,
            skipped_discriminator: 0,
            skipped_decoder: 0,
        })
    }

    /// eps and z_p for a batch of `n` (the step's noise).
    pub fn draw_noise(&mut self, n: usize) -> (Tensor, Tensor) {
        let gpu = self.gpu().clone();
        let nz = self.config.nz;
        let eps = self.rng.normal(&gpu, &[n, nz], 0.0, 1.0);
        let z_prior = self.rng.normal(&gpu, &[n, nz], 0.0, 1.0);
        (eps, z_prior)
    }

    fn kl_weight(&self) -> f32 {
        let c = &self.config;
        let values = if c.plain_vae {
            c.channels * c.image_size * c.image_size
        } else {
            c.dis_values()
        };
        c.beta / values as f32
    }

    /// Adds `pixel` x MSE(recon, x) to an objective (nothing when the weight is 0).
    fn pixel_term<'a>(&self, recon: &'a Tensor, x: &'a Tensor) -> impl Fn(Tensor) -> Tensor + 'a {
        let weight = self.config.pixel;
        move |objective: Tensor| {
            if weight > 0.0 {
                objective.add(&loss::mse(recon, x).scale(weight))
            } else {
                objective
            }
        }
    }

    /// The decoder's images for the codes `z` and, when `before_tanh`, its values before the
    /// output tanh.
    fn decode(&self, z: &Tensor, before_tanh: bool) -> (Tensor, Option<Tensor>) {
        if !before_tanh {
            return (self.decoder.forward(z), None);
        }
        let tanh = self.decoder.layers.len() - 1;
        let (pre, _) = self.decoder.forward_span(z, 0..tanh, &[]);
        let (out, _) = self.decoder.forward_span(&pre, tanh..tanh + 1, &[]);
        (out, Some(pre))
    }

    /// The encoder's forward for the noise: (mu, logvar, z).
    fn posterior(&self, x: &Tensor, eps: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (mu, logvar) = self.encoder.forward(x);
        let z = mu.add(&logvar.scale(0.5).exp().mul(eps));
        (mu, logvar, z)
    }

    /// The three objectives at the current weights, each on the tape, from one forward pass
    /// that judges real images, reconstructions and prior samples in one batch.
    pub fn objectives(&self, x: &Tensor, eps: &Tensor, z_prior: &Tensor) -> Objectives {
        let (mu, logvar, z) = self.posterior(x, eps);
        let penalty = self.config.saturation_penalty;
        let (recon, prior, prior_before_tanh) = if self.config.joint_decode {
            // Apart, the running statistics that evaluation normalises with would mix the
            // reconstruction batches' statistics with the prior batches'; together, they are
            // the ones the reconstructions were trained with.
            let (n, m) = (z.dims()[0], z_prior.dims()[0]);
            let (both, before) = self.decode(&Tensor::concat(&[&z, z_prior], 0), penalty.is_some());
            (
                both.narrow(0, 0, n),
                both.narrow(0, n, m),
                before.map(|b| b.narrow(0, n, m)),
            )
        } else {
            let (prior, before) = self.decode(z_prior, penalty.is_some());
            (self.decoder.forward(&z), prior, before)
        };
        let (features, logits) = self.discriminator.judge(&[x, &recon, &prior], true);
        let llike = loss::mse(&features[1], &features[0]);
        let kl = loss::kl_divergence(&mu, &logvar, 1.0);
        let g_loss = bce_all(&logits[1], true).add(&bce_all(&logits[2], true));
        let costs = [
            bce_all(&logits[0], true),
            bce_all(&logits[1], false),
            bce_all(&logits[2], false),
        ];
        let pixel = self.pixel_term(&recon, x);
        let mut decoder = pixel(llike.scale(self.config.gamma).add(&g_loss));
        if let (Some(weight), Some(before)) = (penalty.filter(|w| *w > 0.0), &prior_before_tanh) {
            let limit = SATURATED.atanh();
            let beyond = before.square().add_scalar(-limit * limit).relu().mean();
            decoder = decoder.add(&beyond.scale(weight));
        }
        Objectives {
            encoder: pixel(kl.scale(self.kl_weight()).add(&llike)),
            decoder,
            discriminator: costs[0].add(&costs[1]).add(&costs[2]),
            kl,
            llike,
            g_loss,
            costs,
            logits,
            saturated: penalty.map(|_| saturated_flags(&prior.detach()).mean()),
        }
    }

    /// Each network's gradient of its own objective, all from the one forward pass of
    /// [`VaeGan::objectives`] (see the module notes).
    pub fn gradients(&self, x: &Tensor, eps: &Tensor, z_prior: &Tensor) -> StepGradients {
        let o = self.objectives(x, eps, z_prior);
        self.backward(o, Updates::ALL)
    }

    /// The gradients of the networks that `updates` names (a skipped network's come back
    /// empty), so a step the balance guard skips costs no backward pass through it.
    pub fn backward(&self, o: Objectives, updates: Updates) -> StepGradients {
        let leaves = |params: Vec<(String, Tensor)>, wanted: bool| -> Vec<Tensor> {
            if wanted {
                params.into_iter().map(|(_, t)| t).collect()
            } else {
                Vec::new()
            }
        };
        let (encoder_params, decoder_params, discriminator_params) = (
            leaves(self.encoder.parameters(), true),
            leaves(self.decoder.parameters(), updates.decoder),
            leaves(self.discriminator.parameters(), updates.discriminator),
        );
        let [encoder, decoder, discriminator] = crate::autograd::backward_each([
            (&o.encoder, &encoder_params),
            (&o.decoder, &decoder_params),
            (&o.discriminator, &discriminator_params),
        ]);
        let logits = &o.logits;
        let mean_d = |logit: &Tensor| logit.detach().sigmoid().mean();
        StepGradients {
            encoder,
            decoder,
            discriminator,
            scalars: vec![
                ("kl", o.kl.detach()),
                ("llike", o.llike.detach()),
                ("g_loss", o.g_loss.detach()),
                ("d_loss", o.discriminator.detach()),
                ("d_real", mean_d(&logits[0])),
                ("d_recon", mean_d(&logits[1])),
                ("d_prior", mean_d(&logits[2])),
            ]
            .into_iter()
            .chain(o.saturated.map(|s| ("saturated", s)))
            .collect(),
        }
    }

    /// Which of the decoder and the discriminator update, by Larsen's balance rule (with a
    /// margin); both when the guard is off.
    fn balance(&self, o: &Objectives) -> Updates {
        let (eq, margin) = (self.config.equilibrium, self.config.margin);
        if margin <= 0.0 {
            return Updates::ALL;
        }
        // The discriminator's BCE on real images and its mean BCE on generated ones, detached
        // so that reading them adds nothing to the tape.
        let [real, recon, prior] = &o.costs;
        let real_cost = real.detach().item();
        let fake_cost = recon.detach().add(&prior.detach()).scale(0.5).item();
        let updates = Updates {
            discriminator: real_cost >= eq - margin && fake_cost >= eq - margin,
            decoder: real_cost <= eq + margin && fake_cost <= eq + margin,
        };
        if updates.decoder || updates.discriminator {
            updates
        } else {
            Updates::ALL
        }
    }

    /// One step of all three networks on a batch (or of the plain VAE).
    pub fn fit_batch(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let c = &self.config;
        let idx = batch_indices(c.seed, c.images, c.batch, self.step);
        let x = train.batch(self.gpu(), &idx);
        self.set_training(true);
        let (eps, z_prior) = self.draw_noise(idx.len());
        self.step += 1;
        if self.config.plain_vae {
            let (mu, logvar, z) = self.posterior(&x, &eps);
            let mse = loss::mse(&self.decoder.forward(&z), &x);
            let kl = loss::kl_divergence(&mu, &logvar, 1.0);
            let grads = kl.scale(self.kl_weight()).add(&mse).backward();
            self.opt_encoder.step(&grads);
            self.opt_decoder.step(&grads);
            return vec![("kl", kl.detach()), ("mse", mse.detach())];
        }
        let objectives = self.objectives(&x, &eps, &z_prior);
        let updates = self.balance(&objectives);
        let step = self.backward(objectives, updates);
        self.opt_encoder.step(&step.encoder);
        if updates.decoder {
            self.opt_decoder.step(&step.decoder);
        } else {
            self.skipped_decoder += 1;
        }
        if updates.discriminator {
            self.opt_discriminator.step(&step.discriminator);
        } else {
            self.skipped_discriminator += 1;
        }
        step.scalars
    }

    /// `n` samples from the prior, the same draws at every call: what the report's diversity
    /// and saturation figures are measured on.
    pub fn report_samples(&self, n: usize) -> Tensor {
        let z =
            Rng::new(self.config.seed ^ 0xd1).normal(self.gpu(), &[n, self.config.nz], 0.0, 1.0);
        autoencoder::generate(self, &z)
    }

    /// Mean pairwise L2 distance between the `samples` and between as many of the given
    /// images: (samples, images). Samples much closer together than images are the mark of
    /// mode collapse.
    pub fn diversity(&self, samples: &Tensor, images: &Dataset) -> (f32, f32) {
        let mean_distance = |t: &Tensor| {
            let m = t.dims()[0];
            let flat = t.reshape(&[m, t.numel() / m.max(1)]);
            let d = crate::autograd::no_grad(|| flat.pairwise_sq_distances(&flat)).to_vec();
            let off: f64 = (0..m)
                .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| f64::from(d[i * m + j]).sqrt())
                .sum();
            (off / (m * (m - 1)).max(1) as f64) as f32
        };
        let n = samples.dims()[0];
        let real = images.batch(self.gpu(), &spread(images.len(), n));
        (mean_distance(samples), mean_distance(&real))
    }

    /// [`Saturation`] of `samples`, judged by the discriminator in evaluation mode.
    pub fn saturation(&self, samples: &Tensor) -> Saturation {
        let judged = crate::autograd::no_grad(|| {
            evaluating(&self.discriminator, samples, self.config.batch, |x| {
                self.discriminator.logit(x).sigmoid()
            })
        })
        .to_vec();
        let n = samples.dims()[0];
        let saturated: Vec<bool> = saturated_flags(samples)
            .to_vec()
            .into_iter()
            .map(|flag| flag > 0.5)
            .collect();
        let mean_d = |wanted: bool| {
            let d: Vec<f32> = judged
                .iter()
                .zip(&saturated)
                .filter(|(_, s)| **s == wanted)
                .map(|(d, _)| *d)
                .collect();
            d.iter().sum::<f32>() / d.len() as f32
        };
        Saturation {
            samples: n,
            saturated: saturated.iter().filter(|s| **s).count(),
            d_saturated: mean_d(true),
            d_others: mean_d(false),
        }
    }
}

/// 1 for each image with at least [`SATURATED_SHARE`] of its values beyond [`SATURATED`] in
/// magnitude, else 0 (n x 1; not differentiable).
fn saturated_flags(images: &Tensor) -> Tensor {
    let n = images.dims()[0];
    let per_image = images.reshape(&[n, images.numel() / n.max(1)]);
    per_image
        .abs()
        .step(SATURATED.next_up())
        .mean_axes(&[1])
        .step(SATURATED_SHARE)
}

/// How many prior samples the decoder draws at the tanh's limits, and how the discriminator
/// judges them: the tanh passes almost no gradient back through such values, so the GAN term
/// can hardly move the decoder away from them however surely they are rejected.
#[derive(Clone, Copy, Debug)]
pub struct Saturation {
    pub samples: usize,
    /// Samples with at least a quarter of their values beyond 0.99 in magnitude.
    pub saturated: usize,
    /// The discriminator's mean output D on the saturated samples and on the others (NaN
    /// where there are none).
    pub d_saturated: f32,
    pub d_others: f32,
}

impl Autoencoder for VaeGan {
    fn gpu(&self) -> &Arc<Gpu> {
        self.encoder.fc_mu.weight.gpu()
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
        self.encoder.main.set_training(training);
        self.decoder.set_training(training);
        self.discriminator.main.set_training(training);
    }

    fn posterior_mean(&self, x: &Tensor) -> Tensor {
        self.encoder.forward(x).0
    }

    fn decode_batch(&self, z: &Tensor) -> Tensor {
        self.decoder.forward(z)
    }
}

impl Module for Discriminator {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.logit(x)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        prefixed("main", self.main.parameters())
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        prefixed("main", self.main.buffers())
    }

    fn set_training(&self, training: bool) {
        self.main.set_training(training);
    }
}

impl Model for VaeGan {
    fn loss_names(&self) -> Vec<&'static str> {
        if self.config.plain_vae {
            vec!["kl", "mse"]
        } else {
            let mut names = vec![
                "kl", "llike", "g_loss", "d_loss", "d_real", "d_recon", "d_prior",
            ];
            if self.config.saturation_penalty.is_some() {
                names.push("saturated");
            }
            names
        }
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
            "VAE-GAN{}, latent {}, encoder {}, decoder {} and discriminator {} parameters, Dis_l = conv {} ({} values)",
            if self.config.plain_vae {
                " (trained as a plain VAE)"
            } else {
                ""
            },
            self.config.nz,
            crate::nn::parameter_count(&self.encoder),
            crate::nn::parameter_count(&self.decoder),
            crate::nn::parameter_count(&self.discriminator),
            self.config.dis_layer,
            self.config.dis_values()
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
            ("optim.encoder", self.opt_encoder.state()),
            ("optim.decoder", self.opt_decoder.state()),
            ("optim.discriminator", self.opt_discriminator.state()),
        ];
        networks_state(
            &[
                ("encoder", &self.encoder),
                ("decoder", &self.decoder),
                ("discriminator", &self.discriminator),
            ],
            moments,
        )
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("step", self.step as u64),
            ("optim.encoder.step", self.opt_encoder.step),
            ("optim.decoder.step", self.opt_decoder.step),
            ("optim.discriminator.step", self.opt_discriminator.step),
            ("rng.offset", self.rng.offset),
            ("skipped.decoder", self.skipped_decoder),
            ("skipped.discriminator", self.skipped_discriminator),
        ]
    }

    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()> {
        checkpoint.restore(path, &self.state())?;
        let read = |key| counter(checkpoint, path, key);
        self.step = read("step")? as usize;
        self.opt_encoder.step = read("optim.encoder.step")?;
        self.opt_decoder.step = read("optim.decoder.step")?;
        self.opt_discriminator.step = read("optim.discriminator.step")?;
        self.rng.offset = read("rng.offset")?;
        self.skipped_decoder = read("skipped.decoder")?;
        self.skipped_discriminator = read("skipped.discriminator")?;
        Ok(())
    }

    fn write_pictures(&self, data: &Split, dir: &Path, last: bool) -> Result<Vec<String>> {
        autoencoder::write_pictures(self, data, dir, last)
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr, or --gamma if the decoder's GAN term runs away".into()
    }

    fn report(&self, data: &Split) -> Vec<String> {
        let mut lines = autoencoder::report(self, data);
        let real = autoencoder::heldout_or_train(data);
        let n = real.len().min(256);
        let drawn = self.report_samples(n);
        let (samples, images) = self.diversity(&drawn, real);
        lines.push(format!(
            "diversity: mean distance between {n} samples {samples:.2}, between {n} held-out images {images:.2} (ratio {:.2}; far under 1 means mode collapse)",
            samples / images.max(1e-12)
        ));
        let s = self.saturation(&drawn);
        let judged = |d: f32| {
            if d.is_nan() {
                "- (none)".to_string()
            } else {
                format!("{d:.2}")
            }
        };
        lines.push(format!(
            "saturated samples: {} of {n} have a quarter or more of their values at the tanh's limits (|x| > 0.99); the discriminator's mean output on them {}, on the others {}",
            s.saturated,
            judged(s.d_saturated),
            judged(s.d_others)
        ));
        if !self.config.plain_vae {
            lines.push(format!(
                "balance guard: the discriminator skipped {} and the decoder {} of {} updates",
                self.skipped_discriminator, self.skipped_decoder, self.step
            ));
        }
        lines
    }
}

impl Kind for VaeGan {
    const KIND: &'static str = "vaegan";
    type Config = VaeGanConfig;

    fn build(gpu: &Arc<Gpu>, config: &VaeGanConfig, _train: Option<&Dataset>) -> Result<VaeGan> {
        VaeGan::new(gpu, config.clone())
    }

    fn batches_per_epoch(config: &VaeGanConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &VaeGanConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("image_size", config.image_size, 4096),
            ("channels", config.channels, 4),
            ("nz", config.nz, 4096),
            ("nf", config.nf, 1024),
            ("dis_layer", config.dis_layer, 8),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}
