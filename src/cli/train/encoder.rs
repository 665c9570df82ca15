//! `pegasus train encoder --run R`: the encoder of a GLO run (seed 004); the run lives in
//! R/encoder and trains through the same harness as every model.

use std::path::PathBuf;

use clap::Args;

use super::{ScheduleArgs, train_beside_glo};
use crate::gpu::Gpu;
use crate::models::glo_encoder::{EncoderConfig, GloEncoder};

pub const EXAMPLES: &str =
    "Trains a network that maps each training image to the latent the GLO run learned for it
(seed 004 section 2.3: DCGAN's discriminator with a linear output, on w_l1 L1 + w_l2 L2).
From then on interpolate, hybrid, encode and eval encode new images of that run in one pass
instead of optimising their latents (eval --latents fit for the optimisation). Writes
RUN/encoder/: config.json, metrics.csv (loss, held-out PSNR through the encoder), loss.png,
heldout_reconstructions.png and checkpoint.safetensors.

Examples:
  pegasus train encoder --run runs/glo
  pegasus train encoder --run runs/glo --nf 64 --steps 3000";

#[derive(Args, Clone)]
pub struct EncoderArgs {
    /// The GLO run (runs/NAME) whose latents the encoder learns to predict.
    #[arg(long)]
    run: PathBuf,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Width of the first convolution (each later one doubles it).
    #[arg(long, default_value_t = 32)]
    nf: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Weight of the L1 distance to the learned latent.
    #[arg(long, default_value_t = 1.0)]
    w_l1: f32,
    /// Weight of the squared (L2) distance to the learned latent.
    #[arg(long, default_value_t = 1.0)]
    w_l2: f32,
    /// Seed of the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &EncoderArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=1024).contains(&args.nf),
        "--nf {}: give 1 to 1024",
        args.nf
    );
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(args.lr > 0.0, "--lr must be positive");
    train_beside_glo::<GloEncoder>(&args.run, &args.schedule, open_gpu, |data, nz| {
        let set = &data.train;
        let config = EncoderConfig {
            glo_run: args.run.clone(),
            channels: set.channels,
            image_size: set.height,
            nz,
            nf: args.nf,
            images: set.len(),
            batch: args.batch.min(set.len()),
            lr: args.lr,
            w_l1: args.w_l1,
            w_l2: args.w_l2,
            seed: args.seed,
        };
        config.check()?;
        Ok(config)
    })
}
