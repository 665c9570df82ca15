//! `pegasus train vaegan`: the VAE-GAN's options and settings; the harness does the rest.

use clap::Args;

use super::{RunArgs, train_kind};
use crate::data::Split;
use crate::gpu::Gpu;
use crate::models::vaegan::{VaeGan, VaeGanConfig};

pub const EXAMPLES: &str = "Three networks trained at once, each on its own objective (Larsen et al. 2016): the
encoder on KL + L_llike, the decoder on gamma L_llike + the GAN term, the discriminator on the
GAN loss, where L_llike compares the discriminator's features (Dis_l) of an image and of its
reconstruction. A balance guard skips the discriminator's update when it wins by too much and
the decoder's when it loses by too much (--margin 0 turns it off). Holds images out (the test
split, or every 20th image) and reports their reconstruction, the diversity of samples against
real images, and how often the guard stepped in. metrics.csv and loss.png follow the
discriminator's loss and its mean output on real images (d_real), reconstructions (d_recon)
and decoded prior samples (d_prior).

Examples:
  pegasus train vaegan
  pegasus train vaegan --data cifar10:../shared/data/cifar10-horse-bird-airplane --classes horse,bird,airplane --epochs 10
  pegasus train vaegan --nf 64 --run larsen-widths
  pegasus train vaegan --plain-vae --run plain
  pegasus train vaegan --data cifar10:DIR --classes horse,bird,airplane --gamma 10 --pixel 1
  pegasus interpolate --run runs/vaegan --from 0 --to 5000 --weights 0.65";

#[derive(Args, Clone)]
pub struct VaeGanArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Latent size.
    #[arg(long, default_value_t = 128)]
    nz: usize,
    /// Width unit of the three networks (Larsen's widths at 64: encoder 64-128-256 + fc
    /// 1024, discriminator 32-128-256-256 + fc 512; narrower by default for speed on a
    /// software driver).
    #[arg(long, default_value_t = 16)]
    nf: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate of all three networks (betas 0.5, 0.999).
    #[arg(long, default_value_t = 3e-4)]
    lr: f32,
    /// Weight of the KL (per value of the discriminator features it sits beside).
    #[arg(long, default_value_t = 1.0)]
    beta: f32,
    /// Weight of the feature reconstruction error in the decoder's objective, against the
    /// GAN term.
    #[arg(long, default_value_t = 1.0)]
    gamma: f32,
    /// The discriminator convolution (1-based) whose output is Dis_l.
    #[arg(long, default_value_t = 3)]
    dis_layer: usize,
    /// Half-width of the balance band around --equilibrium (0: no guard).
    #[arg(long, default_value_t = 0.35)]
    margin: f32,
    /// The discriminator's BCE at balance (ln 2 is a coin toss).
    #[arg(long, default_value_t = 0.68)]
    equilibrium: f32,
    /// Train the plain VAE loss (KL + pixel MSE) on the same encoder and decoder instead.
    #[arg(long)]
    plain_vae: bool,
    /// Weight of a pixel MSE between reconstruction and image added to the encoder's and the
    /// decoder's objectives (0: Larsen's objectives alone).
    #[arg(long, default_value_t = 0.0)]
    pixel: f32,
    /// Decode the reconstructions' codes and the prior draws as two batches, each with its
    /// own BatchNorm statistics, as runs made before 2026-12-07 did (default: one batch, as
    /// Larsen's code).
    #[arg(long)]
    separate_decode: bool,
    /// Weight of a penalty on decoded prior samples' values beyond the tanh's limits
    /// (|x| > 0.99), taken before the tanh, in the decoder's objective: the tanh passes such
    /// values almost no gradient of the GAN term. metrics.csv logs the share of saturated
    /// samples either way.
    #[arg(long, default_value_t = 0.0)]
    saturation_penalty: f32,
    /// Hold back every N-th image for held-out figures when the source has no test split.
    #[arg(long, default_value_t = 20)]
    holdout_every: usize,
    /// Seed of the initialisation, the batch order and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &VaeGanArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch >= 2, "--batch must be at least 2 (BatchNorm)");
    anyhow::ensure!(
        (2..=1024).contains(&args.nf),
        "--nf {}: give 2 to 1024",
        args.nf
    );
    anyhow::ensure!(
        (1..=8192).contains(&args.nz),
        "--nz {}: give 1 to 8192",
        args.nz
    );
    anyhow::ensure!(
        args.lr > 0.0 && args.lr.is_finite(),
        "--lr must be positive"
    );
    anyhow::ensure!(
        [
            args.beta,
            args.gamma,
            args.margin,
            args.pixel,
            args.saturation_penalty
        ]
        .iter()
        .all(|w| w.is_finite() && *w >= 0.0),
        "--beta, --gamma, --margin, --pixel and --saturation-penalty must be 0 or more"
    );
    anyhow::ensure!(
        args.equilibrium > 0.0 && args.equilibrium.is_finite(),
        "--equilibrium must be positive"
    );
    anyhow::ensure!(
        args.holdout_every >= 2,
        "--holdout-every {}: give 2 or more",
        args.holdout_every
    );
    train_kind::<VaeGan>(&args.run, open_gpu, Some(args.holdout_every), |data| {
        settings(args, data)
    })
}

/// The VAE-GAN's settings for a new run on `data`.
fn settings(args: &VaeGanArgs, data: &Split) -> anyhow::Result<VaeGanConfig> {
    let set = &data.train;
    anyhow::ensure!(
        set.height == set.width,
        "the images are {} x {}; the VAE-GAN needs square images: pass --image-size",
        set.height,
        set.width
    );
    let config = VaeGanConfig {
        image_size: set.height,
        channels: set.channels,
        nz: args.nz,
        nf: args.nf,
        images: set.len(),
        batch: args.batch.min(set.len()),
        lr: args.lr,
        beta: args.beta,
        gamma: args.gamma,
        dis_layer: args.dis_layer,
        margin: args.margin,
        equilibrium: args.equilibrium,
        plain_vae: args.plain_vae,
        pixel: args.pixel,
        joint_decode: !args.separate_decode,
        saturation_penalty: Some(args.saturation_penalty),
        seed: args.seed,
    };
    config.check()?;
    Ok(config)
}
