//! `pegasus train glann --run R`: GLANN's options; the run lives in R/glann and trains
//! through the same harness as every model.

use std::path::PathBuf;

use clap::Args;

use super::{ScheduleArgs, train_beside_glo};
use crate::gpu::Gpu;
use crate::models::glann::{Glann, GlannConfig};

pub const EXAMPLES: &str =
    "Learns to draw new latents for a GLO run (GLANN, Hoshen et al. 2019): an MLP from noise to
the run's latent space, trained by IMLE so that every learned latent has a draw near it.
Writes RUN/glann/: config.json, metrics.csv (loss; nearest_draw_distance, the mean distance
from a training latent to the nearest of as many draws), loss.png, samples.png (GLANN's
draws through the generator), gaussian_samples.png (the fitted Gaussian's, for comparison)
and checkpoint.safetensors. `pegasus sample` and `pegasus eval` then draw through it
(--prior gaussian for the fitted Gaussian).

Examples:
  pegasus train glann --run runs/glo
  pegasus train glann --run runs/glo --candidates 32 --steps 3000
  pegasus train glann --run runs/glo --resume --steps 5000";

#[derive(Args, Clone)]
pub struct GlannArgs {
    /// The GLO run (runs/NAME) whose latents GLANN learns to draw.
    #[arg(long)]
    run: PathBuf,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Values of the noise [default: the GLO run's latent size].
    #[arg(long)]
    noise: Option<usize>,
    /// Width of the mapper's two hidden layers.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Target latents per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Noise draws per target latent each step (IMLE's candidates).
    #[arg(long, default_value_t = 16)]
    candidates: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Seed of the initialisation, the batch order and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &GlannArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=4096).contains(&args.width),
        "--width {}: give 1 to 4096",
        args.width
    );
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        (1..=1024).contains(&args.candidates),
        "--candidates {}: give 1 to 1024",
        args.candidates
    );
    anyhow::ensure!(args.lr > 0.0, "--lr must be positive");
    if let Some(noise) = args.noise {
        anyhow::ensure!(
            (1..=4096).contains(&noise),
            "--noise {noise}: give 1 to 4096"
        );
    }
    train_beside_glo::<Glann>(&args.run, &args.schedule, open_gpu, |data, nz| {
        let config = GlannConfig {
            glo_run: args.run.clone(),
            nz,
            noise: args.noise.unwrap_or(nz),
            width: args.width,
            images: data.train.len(),
            batch: args.batch.min(data.train.len()),
            candidates: args.candidates,
            lr: args.lr,
            seed: args.seed,
        };
        config.check()?;
        Ok(config)
    })
}
