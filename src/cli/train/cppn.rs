//! `pegasus train cppn`: the CPPN GAN + VAE's options and settings; the harness does the rest.

use clap::Args;

use super::{RunArgs, train_kind};
use crate::data::Split;
use crate::gpu::Gpu;
use crate::models::cppn::{Cppn, CppnConfig};

pub const EXAMPLES: &str = "A generator from (z, x, y, r) to a pixel (seed 003), trained as a VAE's decoder and a GAN's
generator at once on random crops. Each batch: --vae-steps updates of the encoder and generator
on the VAE loss, --g-steps on the GAN loss + the VAE loss, and one discriminator update only
while the generator's loss is under --th-high and the discriminator's over --th-low.
metrics.csv and loss.png follow the VAE, generator and discriminator losses (both GAN losses
near 0.69 when they are balanced) and the discriminator's mean output on real and generated
images. A trained run renders at any size: pegasus render --run runs/cppn --width 1920 --height 1080.

Examples:
  pegasus train cppn
  pegasus train cppn --width 32 --depth 3 --batch 32 --steps 600 --run small
  pegasus train cppn --crop 28 --curriculum 2,4,8,16,28 --stage-steps 300
  pegasus train cppn --data fashion-mnist --g-steps 8";

#[derive(Args, Clone)]
pub struct CppnArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Latent size.
    #[arg(long, default_value_t = 32)]
    nz: usize,
    /// Units per generator layer.
    #[arg(long, default_value_t = 128)]
    width: usize,
    /// Generator layers before the output (the first softplus, the rest tanh).
    #[arg(long, default_value_t = 4)]
    depth: usize,
    /// Coordinates span [-scale, scale] over the training side; z is scaled by it too.
    #[arg(long, default_value_t = 8.0)]
    scale: f32,
    /// Units of the encoder's two layers.
    #[arg(long, default_value_t = 512)]
    q_width: usize,
    /// Channels of the discriminator's first convolution (then twice and four times).
    #[arg(long, default_value_t = 24)]
    df: usize,
    /// Side of the random square crops it trains on [default: the images' side - 2].
    #[arg(long)]
    crop: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate of the generator's GAN updates.
    #[arg(long, default_value_t = 0.01)]
    lr_g: f32,
    /// Adam learning rate of the discriminator.
    #[arg(long, default_value_t = 0.001)]
    lr_d: f32,
    /// Adam learning rate of the VAE updates.
    #[arg(long, default_value_t = 1e-4)]
    lr_vae: f32,
    /// Adam's beta1 for all three.
    #[arg(long, default_value_t = 0.9)]
    beta1: f32,
    /// VAE updates per batch.
    #[arg(long, default_value_t = 4)]
    vae_steps: usize,
    /// Generator (GAN + VAE) updates per batch: the seed's handicap for the discriminator.
    #[arg(long, default_value_t = 4)]
    g_steps: usize,
    /// The discriminator updates only while the generator's loss is under this.
    #[arg(long, default_value_t = 0.80)]
    th_high: f32,
    /// ... and its own loss over this.
    #[arg(long, default_value_t = 0.45)]
    th_low: f32,
    /// Sides the generator trains at in turn, e.g. 2,4,8,16,26 (each up to --crop).
    #[arg(long, value_delimiter = ',')]
    curriculum: Vec<usize>,
    /// Steps per curriculum stage (the last stage runs to the end).
    #[arg(long, default_value_t = 300)]
    stage_steps: usize,
    /// Hold back every N-th image for held-out figures when the source has no test split.
    #[arg(long, default_value_t = 20)]
    holdout_every: usize,
    /// Seed of the initialisation, the batch order, the crops and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &CppnArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch >= 2, "--batch must be at least 2 (BatchNorm)");
    for (flag, value, most) in [
        ("--nz", args.nz, 4096),
        ("--width", args.width, 4096),
        ("--depth", args.depth, 64),
        ("--q-width", args.q_width, 65536),
        ("--df", args.df, 1024),
    ] {
        anyhow::ensure!(
            (1..=most).contains(&value),
            "{flag} {value}: give 1 to {most}"
        );
    }
    for (flag, lr) in [
        ("--lr-g", args.lr_g),
        ("--lr-d", args.lr_d),
        ("--lr-vae", args.lr_vae),
    ] {
        anyhow::ensure!(lr > 0.0 && lr.is_finite(), "{flag} must be positive");
    }
    anyhow::ensure!(
        (0.0..1.0).contains(&args.beta1),
        "--beta1 {}: give 0 to just under 1",
        args.beta1
    );
    anyhow::ensure!(
        args.scale > 0.0 && args.scale.is_finite(),
        "--scale must be positive"
    );
    anyhow::ensure!(
        args.vae_steps + args.g_steps > 0,
        "--vae-steps and --g-steps are both 0: nothing would train the generator"
    );
    anyhow::ensure!(args.stage_steps >= 1, "--stage-steps must be at least 1");
    anyhow::ensure!(
        args.holdout_every >= 2,
        "--holdout-every {}: give 2 or more",
        args.holdout_every
    );
    train_kind::<Cppn>(&args.run, open_gpu, Some(args.holdout_every), |data| {
        settings(args, data)
    })
}

/// The CPPN's settings for a new run on `data`.
fn settings(args: &CppnArgs, data: &Split) -> anyhow::Result<CppnConfig> {
    let set = &data.train;
    anyhow::ensure!(
        set.height == set.width,
        "the images are {} x {}; the CPPN trains on square images: pass --image-size",
        set.height,
        set.width
    );
    let config = CppnConfig {
        data_side: set.height,
        side: args.crop.unwrap_or(set.height.saturating_sub(2)),
        channels: set.channels,
        nz: args.nz,
        width: args.width,
        depth: args.depth,
        scale: args.scale,
        q_width: args.q_width,
        df: args.df,
        batch: args.batch.min(set.len()),
        images: set.len(),
        lr_g: args.lr_g,
        lr_d: args.lr_d,
        lr_vae: args.lr_vae,
        beta1: args.beta1,
        vae_steps: args.vae_steps,
        g_steps: args.g_steps,
        th_high: args.th_high,
        th_low: args.th_low,
        curriculum: args.curriculum.clone(),
        stage_steps: args.stage_steps,
        seed: args.seed,
    };
    config.check()?;
    Ok(config)
}
