//! `pegasus train vae`: the VAE's options and settings; the harness does the rest.

use clap::{Args, ValueEnum};

use super::{RunArgs, train_kind};
use crate::data::Split;
use crate::gpu::Gpu;
use crate::models::vae::{Vae, VaeConfig, VaeRecon};

pub const EXAMPLES: &str =
    "Holds images out of training (the source's test split, or every 20th image when it has
none) and reports their reconstruction PSNR and SSIM. Writes runs/NAME/: config.json,
metrics.csv (loss, each term, the raw KL in nats, training and held-out PSNR), loss.png,
reconstructions.png and heldout_reconstructions.png (originals above reconstructions),
samples.png (decoded draws from N(0, I)), interpolation.png and checkpoint.safetensors.

Examples:
  pegasus train vae
  pegasus train vae --data cifar10:../shared/data/cifar10-horse-bird-airplane --classes horse,bird
  pegasus train vae --data stl10 --image-size 96 --nf 32 --batch 32
  pegasus train vae --recon mse --run digits-mse
  pegasus train vae --run vae --resume --steps 3000";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReconArg {
    /// 1 - SSIM (seed 002).
    Ssim,
    /// Mean squared error, for comparison.
    Mse,
    /// Mean absolute error, for comparison.
    L1,
}

#[derive(Args, Clone)]
pub struct VaeArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Latent size [default: 32 for 28 x 28, 128 up to 32 x 32, 512 up to 64 x 64, 1024 above].
    #[arg(long)]
    nz: Option<usize>,
    /// Width of the first convolution (each later one doubles it).
    #[arg(long, default_value_t = 32)]
    nf: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Weight of the KL term (per image value unless --kl-sum).
    #[arg(long, default_value_t = 1.0)]
    beta: f32,
    /// Weight of the reconstruction term (1 - SSIM, or the --recon loss).
    #[arg(long, default_value_t = 1.0)]
    w_ssim: f32,
    /// Weight of the colour loss (both images average-pooled to 3 x 3, MSE per channel).
    #[arg(long, default_value_t = 1.0)]
    w_colour: f32,
    /// Weight of the feature-consistency term (seed 002 section 3.3: MSE between the
    /// encoder's activations of the image and of its reconstruction); 0 leaves it out.
    #[arg(long, default_value_t = 0.0)]
    w_feature: f32,
    #[arg(long, value_enum, default_value_t = ReconArg::Ssim)]
    recon: ReconArg,
    /// Add the KL's raw sum over latent dimensions instead of dividing it by the values of
    /// an image (C x H x W); with equal weights that makes this VAE collapse.
    #[arg(long)]
    kl_sum: bool,
    /// Hold back every N-th image for held-out figures when the source has no test split.
    #[arg(long, default_value_t = 20)]
    holdout_every: usize,
    /// Seed of the initialisation, the batch order and the sampling noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn train(
    args: &VaeArgs,
    open_gpu: impl Fn() -> anyhow::Result<std::sync::Arc<Gpu>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(
        (1..=1024).contains(&args.nf),
        "--nf {}: give 1 to 1024",
        args.nf
    );
    if let Some(nz) = args.nz {
        anyhow::ensure!((1..=8192).contains(&nz), "--nz {nz}: give 1 to 8192");
    }
    anyhow::ensure!(args.lr > 0.0, "--lr must be positive");
    anyhow::ensure!(
        [args.beta, args.w_ssim, args.w_colour, args.w_feature]
            .iter()
            .all(|w| w.is_finite() && *w >= 0.0),
        "--beta, --w-ssim, --w-colour and --w-feature must be 0 or more"
    );
    anyhow::ensure!(
        args.holdout_every >= 2,
        "--holdout-every {}: give 2 or more",
        args.holdout_every
    );
    train_kind::<Vae>(&args.run, open_gpu, Some(args.holdout_every), |data| {
        settings(args, data)
    })
}

/// The VAE's settings for a new run on `data`.
fn settings(args: &VaeArgs, data: &Split) -> anyhow::Result<VaeConfig> {
    let set = &data.train;
    anyhow::ensure!(
        set.height == set.width,
        "the images are {} x {}; the VAE needs square images: pass --image-size",
        set.height,
        set.width
    );
    let config = VaeConfig {
        image_size: set.height,
        channels: set.channels,
        nz: args.nz.unwrap_or(VaeConfig::default_nz(set.height)),
        nf: args.nf,
        images: set.len(),
        batch: args.batch.min(set.len()),
        lr: args.lr,
        beta: args.beta,
        w_ssim: args.w_ssim,
        w_colour: args.w_colour,
        w_feature: args.w_feature,
        recon: match args.recon {
            ReconArg::Ssim => VaeRecon::Ssim,
            ReconArg::Mse => VaeRecon::Mse,
            ReconArg::L1 => VaeRecon::L1,
        },
        kl_per_value: !args.kl_sum,
        seed: args.seed,
    };
    config.check()?;
    Ok(config)
}
