//! `pegasus train glo`: GLO's options and settings; the harness does the rest.

use clap::{Args, ValueEnum};

use super::{RunArgs, train_kind};
use crate::data::Split;
use crate::gpu::Gpu;
use crate::models::generator::GeneratorConfig;
use std::sync::Arc;

use crate::data::Dataset;
use crate::data::cluster::{pixel_pca_features, staged_split};
use crate::models::glo::{Continuity, Glo, GloConfig, LatentInit, Reconstruction, Stages};

pub const EXAMPLES: &str =
    "Writes runs/NAME/: config.json, metrics.csv (step, loss, reconstruction PSNR), loss.png,
reconstructions.png (originals above reconstructions), samples.png (from a Gaussian fitted to
the latents), interpolation.png and checkpoint.safetensors. Ctrl-C saves a checkpoint and stops.

Examples:
  pegasus train glo
  pegasus train glo --steps 3000 --nz 64 --run digits-long
  pegasus train glo --data cifar10 --classes horse,bird --image-size 32 --ngf 32 --nz 100
  pegasus train glo --data stl10 --classes horse,bird --image-size 96 --ngf 96 --nz 100 --batch 16
  pegasus train glo --continuity 0.05 --run digits-continuity
  pegasus train glo --stages 3 --stage-steps 300 --steps 2400 --run digits-stages
  pegasus train features && pegasus train glo --loss perceptual --features runs/features
  pegasus train glo --run digits-long --resume --steps 6000
  pegasus train glo --epochs 20 --run digits-20-epochs";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LossArg {
    Laplacian,
    L1,
    L2,
    /// L1 plus the L1 distance of a feature network's stage activations (seed 004; needs
    /// --features).
    Perceptual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum InitArg {
    Pca,
    Normal,
}

#[derive(Args, Clone)]
pub struct GloArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Latent size.
    #[arg(long, default_value_t = 32)]
    nz: usize,
    /// Generator width (filters of its last hidden layer).
    #[arg(long, default_value_t = 16)]
    ngf: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate of the generator's weights.
    #[arg(long, default_value_t = 1e-3)]
    lr_generator: f32,
    /// Adam learning rate of the latents (each row steps only when its image is in the batch).
    #[arg(long, default_value_t = 3e-2)]
    lr_latent: f32,
    #[arg(long, value_enum, default_value_t = LossArg::Laplacian)]
    loss: LossArg,
    /// Laplacian pyramid levels (the last one the Gaussian residual).
    #[arg(long, default_value_t = 4)]
    levels: usize,
    /// Weights of the levels, finest first, comma-separated (default: all 1).
    #[arg(long, value_delimiter = ',')]
    lap_weights: Vec<f32>,
    /// How the latents start.
    #[arg(long, value_enum, default_value_t = InitArg::Pca)]
    init: InitArg,
    /// The network --loss perceptual measures with: a features run (runs/NAME, `pegasus
    /// train features` on the same images) or torchvision's VGG16 as vgg16:FILE.
    #[arg(long, value_name = "RUN")]
    features: Option<std::path::PathBuf>,
    /// Seed 004's continuity term with noise of this standard deviation per latent value:
    /// the loss becomes --alpha x loss(G(z), x) + --beta x loss(G(z + eps), x).
    #[arg(long, value_name = "SIGMA")]
    continuity: Option<f32>,
    /// Weight of the loss on the learned latents (--continuity), or on the earlier subsets
    /// (--stages).
    #[arg(long, default_value_t = 1.0)]
    alpha: f32,
    /// Weight of the loss on the shaken latents (--continuity), or on the current subset
    /// (--stages).
    #[arg(long, default_value_t = 1.0)]
    beta: f32,
    /// Seed 004's incremental training over N subsets chosen by PCA + k-means of the pixels
    /// (each of the first N - 1 the images nearest each k-means centre among those left, the
    /// last the rest), --stage-steps each, then every image to the end of the run.
    #[arg(long, value_name = "N")]
    stages: Option<usize>,
    /// Steps of each subset stage.
    #[arg(long, default_value_t = 300)]
    stage_steps: usize,
    /// k-means clusters when choosing a subset for --stages.
    #[arg(long, default_value_t = 10)]
    stage_clusters: usize,
    /// Images taken nearest each cluster's centre for a subset of --stages.
    #[arg(long, default_value_t = 50)]
    stage_images: usize,
    /// Hold back every N-th image (or the source's test split) from training, for the
    /// held-out figures of `pegasus eval`; 0 trains on every image.
    #[arg(long, default_value_t = 20)]
    holdout_every: usize,
    /// Seed of the initialisation and of the batch order: the same seed, the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &GloArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    check_args(args)?;
    let hold_out = (args.holdout_every > 0).then_some(args.holdout_every);
    // Choosing --stages' subsets needs the adapter before the run is built: both use one.
    let opened = std::cell::OnceCell::new();
    let adapter = || -> anyhow::Result<Arc<Gpu>> {
        if let Some(gpu) = opened.get() {
            return Ok(Arc::clone(gpu));
        }
        let gpu = open_gpu()?;
        Ok(Arc::clone(opened.get_or_init(|| gpu)))
    };
    train_kind::<Glo>(&args.run, &adapter, hold_out, |data| {
        let mut config = settings(args, data)?;
        if let Some(subsets) = args.stages {
            config.stages = Some(staged(args, subsets, &data.train, &adapter()?));
        }
        Ok(config)
    })
}

fn check_args(a: &GloArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!((1..=4096).contains(&a.nz), "--nz {}: give 1 to 4096", a.nz);
    anyhow::ensure!(
        (1..=1024).contains(&a.ngf),
        "--ngf {}: give 1 to 1024",
        a.ngf
    );
    anyhow::ensure!(
        (1..=8).contains(&a.levels),
        "--levels {}: give 1 to 8",
        a.levels
    );
    anyhow::ensure!(
        a.lap_weights.is_empty() || a.lap_weights.len() == a.levels,
        "--lap-weights has {} values for {} levels",
        a.lap_weights.len(),
        a.levels
    );
    anyhow::ensure!(
        a.lr_generator > 0.0 && a.lr_latent > 0.0,
        "learning rates must be positive"
    );
    anyhow::ensure!(
        (a.loss == LossArg::Perceptual) == a.features.is_some(),
        "--loss perceptual and --features go together: the perceptual loss measures with a features run (pegasus train features on the same images)"
    );
    if let Some(sigma) = a.continuity {
        anyhow::ensure!(
            sigma.is_finite() && sigma > 0.0 && sigma <= 10.0,
            "--continuity {sigma}: give a noise deviation in (0, 10]"
        );
    }
    anyhow::ensure!(
        a.alpha.is_finite() && a.beta.is_finite() && a.alpha >= 0.0 && a.beta >= 0.0,
        "--alpha and --beta must be 0 or more"
    );
    anyhow::ensure!(
        a.holdout_every != 1,
        "--holdout-every 1 would hold out every image: give 0 (none) or 2 or more"
    );
    Ok(())
}

/// GLO's settings for a new run on `data`.
/// The staged training's subsets of `set` (PCA to 50 values of the pixels, k-means).
fn staged(args: &GloArgs, subsets: usize, set: &Dataset, gpu: &Arc<Gpu>) -> Stages {
    let features = pixel_pca_features(gpu, set, 50, args.seed);
    Stages {
        subset_of: staged_split(
            &features,
            subsets,
            args.stage_clusters,
            args.stage_images,
            50,
            args.seed,
        ),
        subsets,
        stage_steps: args.stage_steps,
        alpha: args.alpha,
        beta: args.beta,
    }
}

fn settings(args: &GloArgs, data: &Split) -> anyhow::Result<GloConfig> {
    let set = &data.train;
    anyhow::ensure!(
        set.height == set.width,
        "the images are {} x {}; GLO needs square images: pass --image-size",
        set.height,
        set.width
    );
    let size = set.height;
    anyhow::ensure!(
        GeneratorConfig::SIZES.contains(&size),
        "the images are {size} x {size}; the generator makes 28, 32, 64 or 96 pixels: pass --image-size 32 (or 28, 64, 96)"
    );
    Ok(GloConfig {
        generator: GeneratorConfig {
            image_size: size,
            channels: set.channels,
            nz: args.nz,
            ngf: args.ngf,
        },
        images: set.len(),
        batch: args.batch.min(set.len()),
        lr_generator: args.lr_generator,
        lr_latent: args.lr_latent,
        loss: match args.loss {
            LossArg::Laplacian => Reconstruction::Laplacian,
            LossArg::L1 => Reconstruction::L1,
            LossArg::L2 => Reconstruction::L2,
            LossArg::Perceptual => Reconstruction::Perceptual,
        },
        levels: args.levels,
        lap_weights: (!args.lap_weights.is_empty()).then(|| args.lap_weights.clone()),
        init: if args.init == InitArg::Pca {
            LatentInit::Pca
        } else {
            LatentInit::Normal
        },
        seed: args.seed,
        perceptual_features: args.features.clone(),
        stages: None,
        continuity: args.continuity.map(|sigma| Continuity {
            alpha: args.alpha,
            beta: args.beta,
            sigma,
        }),
    })
}

/// The README's `pegasus train glo`: its model, built with every default on the embedded
/// digits (held-out split included), for `pegasus bench train-step --model glo`.
pub(crate) fn default_run(gpu: &Arc<Gpu>) -> anyhow::Result<(Glo, Split)> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        args: GloArgs,
    }
    let Defaults { args } = <Defaults as clap::Parser>::try_parse_from(["glo"])?;
    let hold_out = (args.holdout_every > 0).then_some(args.holdout_every);
    let data = Split::choose(&args.run.selection, hold_out)?;
    let config = settings(&args, &data)?;
    let model = <Glo as crate::train::Kind>::build(gpu, &config, Some(&data.train))?;
    Ok((model, data))
}
