//! `pegasus train features`: the feature network's options and settings; the harness does
//! the rest.

use clap::Args;

use super::{RunArgs, train_kind};
use crate::data::Split;
use crate::gpu::Gpu;
use crate::models::features::{FeatureNet, FeaturesConfig};

pub const EXAMPLES: &str =
    "Trains a small convolutional classifier on labelled images and reports its accuracy on
images it never saw (the source's test split, or every 20th image). Its penultimate layer is
the feature space of `pegasus eval`, which picks the newest features run on a run's data.
Writes runs/NAME/: config.json, metrics.csv (loss, batch accuracy, held-out accuracy),
loss.png and checkpoint.safetensors.

Examples:
  pegasus train features
  pegasus train features --data fashion-mnist --run fashion-features
  pegasus train features --data cifar10:../shared/data/cifar10-horse-bird-airplane --classes horse,bird,airplane";

#[derive(Args, Clone)]
pub struct FeaturesArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Width of the first convolution (each of the three doubles it).
    #[arg(long, default_value_t = 32)]
    nf: usize,
    /// Values in the feature space (the penultimate layer).
    #[arg(long, default_value_t = 128)]
    feature_size: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Hold back every N-th image for the accuracy when the source has no test split (20
    /// holds out the same images as the other models' runs).
    #[arg(long, default_value_t = 20)]
    holdout_every: usize,
    /// Seed of the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &FeaturesArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        (1..=512).contains(&args.nf),
        "--nf {}: give 1 to 512",
        args.nf
    );
    anyhow::ensure!(
        (1..=4096).contains(&args.feature_size),
        "--feature-size {}: give 1 to 4096",
        args.feature_size
    );
    anyhow::ensure!(args.lr > 0.0, "--lr must be positive");
    anyhow::ensure!(
        args.holdout_every >= 2,
        "--holdout-every {}: give 2 or more",
        args.holdout_every
    );
    train_kind::<FeatureNet>(&args.run, open_gpu, Some(args.holdout_every), |data| {
        settings(args, data)
    })
}

/// The feature network's settings for a new run on `data`.
fn settings(args: &FeaturesArgs, data: &Split) -> anyhow::Result<FeaturesConfig> {
    let set = &data.train;
    anyhow::ensure!(
        set.labels.is_some(),
        "{} has no class labels; the feature network learns to tell classes apart (a folder of images needs one sub-folder per class)",
        set.name
    );
    anyhow::ensure!(
        set.height == set.width,
        "the images are {} x {}; the feature network needs square images: pass --image-size",
        set.height,
        set.width
    );
    let config = FeaturesConfig {
        channels: set.channels,
        image_size: set.height,
        class_names: set.class_names.clone(),
        nf: args.nf,
        feature_size: args.feature_size,
        images: set.len(),
        batch: args.batch.min(set.len()),
        lr: args.lr,
        seed: args.seed,
    };
    config.check()?;
    Ok(config)
}
