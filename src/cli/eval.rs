//! `pegasus eval`: the same yardsticks for every model's run, written to eval.json and
//! printed as a table (src/eval holds the formulas).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use super::explore::{Latents, Opened, Prior, check_temperature, open_run_encoding, prior_draws};
use crate::data::{DataSelection, Dataset};
use crate::eval::features::{FeatureSpace, TrainedFeatures};
use crate::eval::vgg16::Vgg16;
use crate::eval::{Memorisation, frechet_distance, median, path_steps, precision_recall};
use crate::gpu::Gpu;
use crate::io::image::Grid;
use crate::latent::{Path as LatentPath, interpolate};
use crate::models::features::{FeatureNet, open_features_run};
use crate::models::{in_batches, psnr_db, spread};
use crate::nn::loss;
use crate::ops::Rng;
use crate::tensor::Tensor;
use crate::train::{Kind, RunConfig};

#[derive(Args)]
#[command(
    after_help = "Measures a run (GLO, VAE, VAE-GAN, CPPN) on images it never trained on, writes
RUN/eval.json and prints a table:
  - held-out reconstruction PSNR and SSIM: encoder models encode directly, GLO fits each
    latent with the generator frozen (--fit-steps, the same budget for every run compared);
  - FD: the Frechet distance between Gaussians fitted to the features of samples and of
    held-out images, with the same distance between training and held-out images as its
    floor, and k-nearest-neighbour precision and recall (Kynkaanniemi et al. 2019). The
    numbers compare runs measured in the same feature space, not published FIDs;
  - memorisation: each sample's pixel distance to its nearest training image over the
    median distance between a training image and its nearest other one (near 0: a copy);
  - interpolation smoothness: feature distance between consecutive frames of
    interpolations between held-out images, mean and largest.
Pictures: RUN/eval_samples.png, eval_memorisation.png (the closest samples above their
nearest training images) and eval_interpolations.png.

The feature space (--features): a features run folder (pegasus train features), or
vgg16:FILE for torchvision's VGG16 weights saved as safetensors; without it, the newest
features run beside RUN trained on the same data.

Examples:
  pegasus train features
  pegasus eval --run runs/glo
  pegasus eval --run runs/vae --features runs/features --images 500
  pegasus eval --run runs/vaegan --features vgg16:vgg16.safetensors
  pegasus eval --run runs/vaegan --temperature 0.7"
)]
pub struct EvalArgs {
    /// Run folder (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// Feature space: a features run folder or vgg16:FILE [default: the newest features run
    /// beside RUN on the same data].
    #[arg(long)]
    features: Option<String>,
    /// Held-out images compared with as many samples (at most the held-out images).
    #[arg(long, default_value_t = 1000)]
    images: usize,
    /// Held-out images reconstructed.
    #[arg(long, default_value_t = 256)]
    recon_images: usize,
    /// Optimisation steps to fit a latent to a held-out image, for models without an
    /// encoder (GLO).
    #[arg(long, default_value_t = 100)]
    fit_steps: usize,
    /// Neighbours that set each point's radius for precision and recall.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Interpolations between pairs of held-out images.
    #[arg(long, default_value_t = 16)]
    pairs: usize,
    /// Frames per interpolation, both ends included.
    #[arg(long, default_value_t = 10)]
    frames: usize,
    /// Seed of the samples drawn.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where samples come from (auto: a GLO run's GLANN mapper when it has one).
    #[arg(long, value_enum, default_value_t = Prior::Auto)]
    prior: Prior,
    /// Scale of the prior's spread for the samples (below 1: more typical, less varied
    /// images, trading recall for precision).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// How a GLO run's held-out images are encoded (auto: its encoder when it has one).
    #[arg(long, value_enum, default_value_t = Latents::Auto)]
    latents: Latents,
}

/// Memorisation ratios under this count as near-copies in the summary.
const NEAR_COPY: f32 = 0.5;
/// Closest sample/training pairs shown.
const PAIRS_SHOWN: usize = 8;
/// Training images whose nearest neighbours set the typical distance.
const REFERENCE_IMAGES: usize = 1000;

/// A features run folder as a feature space.
fn open_features_space(gpu: &Arc<Gpu>, dir: &Path) -> anyhow::Result<TrainedFeatures> {
    Ok(TrainedFeatures {
        net: open_features_run(gpu, dir)?,
        name: format!("features run {}", dir.display()),
    })
}

/// Whether two selections hold the same images as a feature network sees them.
fn same_images(a: &DataSelection, b: &DataSelection) -> bool {
    a.data == b.data && a.classes == b.classes && a.image_size == b.image_size && a.grey == b.grey
}

/// The newest features run beside `run` trained on the same data.
fn newest_features_run(run: &Path, data: &DataSelection) -> anyhow::Result<PathBuf> {
    let runs = run.parent().unwrap_or(Path::new("."));
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(runs)
        .with_context(|| format!("cannot list {}", runs.display()))?
        .flatten()
    {
        let dir = entry.path();
        let checkpoint = dir.join("checkpoint.safetensors");
        let Ok(config) = RunConfig::read(&dir) else {
            continue;
        };
        if config.model == FeatureNet::KIND
            && same_images(&config.data, data)
            && let Ok(modified) = checkpoint.metadata().and_then(|m| m.modified())
        {
            found.push((modified, dir));
        }
    }
    found.sort();
    let classes = if data.classes.is_empty() {
        String::new()
    } else {
        format!(" --classes {}", data.classes.join(","))
    };
    found.pop().map(|(_, dir)| dir).ok_or_else(|| {
        anyhow::anyhow!(
            "no features run on {}{classes} in {}: make one with `pegasus train features --data {}{classes}`, or pass --features",
            data.data,
            runs.display(),
            data.data
        )
    })
}

fn feature_space(
    gpu: &Arc<Gpu>,
    run: &Opened,
    spec: Option<&str>,
) -> anyhow::Result<Box<dyn FeatureSpace>> {
    Ok(match spec {
        Some(s) if s.starts_with("vgg16:") => {
            let file = &s["vgg16:".len()..];
            anyhow::ensure!(
                !file.is_empty(),
                "--features vgg16:FILE needs the safetensors file of torchvision's VGG16 after the colon"
            );
            Box::new(Vgg16::load(gpu, Path::new(file)).context("--features")?)
        }
        Some(dir) => Box::new(open_features_space(gpu, Path::new(dir))?),
        None => {
            let dir = newest_features_run(&run.dir, &run.config.data)?;
            Box::new(open_features_space(gpu, &dir)?)
        }
    })
}

fn check(args: &EvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.images >= 2, "--images {}: give 2 or more", args.images);
    anyhow::ensure!(args.recon_images >= 1, "--recon-images must be at least 1");
    anyhow::ensure!(args.k >= 1, "--k must be at least 1");
    anyhow::ensure!(args.pairs >= 1, "--pairs must be at least 1");
    anyhow::ensure!(
        (2..=100).contains(&args.frames),
        "--frames {}: give 2 to 100",
        args.frames
    );
    anyhow::ensure!(
        args.fit_steps <= 100_000,
        "--fit-steps {}: give at most 100000",
        args.fit_steps
    );
    check_temperature(args.temperature)
}

/// Images of `set` at `indices`, uploaded a batch at a time.
fn images_of(gpu: &Arc<Gpu>, set: &Dataset, indices: &[usize]) -> Tensor {
    let parts: Vec<Tensor> = indices.chunks(256).map(|c| set.batch(gpu, c)).collect();
    let refs: Vec<&Tensor> = parts.iter().collect();
    Tensor::concat(&refs, 0)
}

pub fn eval(gpu: &Arc<Gpu>, args: &EvalArgs) -> anyhow::Result<()> {
    check(args)?;
    let started = Instant::now();
    let run = open_run_encoding(gpu, &args.run, "eval", args.latents)?;
    let data = run.data()?;
    let heldout = data.heldout.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "{} trained on every image, so nothing is left to measure it on; train it again holding images out (--holdout-every 20)",
            run.dir.display()
        )
    })?;
    anyhow::ensure!(
        heldout.len() >= 2,
        "{} holds out {} image; eval compares sets, so hold out more (--holdout-every)",
        run.dir.display(),
        heldout.len()
    );
    let space = feature_space(gpu, &run, args.features.as_deref())?;
    let (channels, side) = run.model.image_shape();
    anyhow::ensure!(
        (heldout.channels, heldout.height, heldout.width) == (channels, side, side),
        "{} makes {channels} x {side} x {side} images but its data is {} x {} x {}",
        run.dir.display(),
        heldout.channels,
        heldout.height,
        heldout.width
    );
    let model = &run.model;
    let n = args.images.min(heldout.len());
    eprintln!(
        "eval of {} on {} held-out images; features: {}",
        run.dir.display(),
        heldout.len(),
        space.name()
    );

    eprintln!("  reconstructing held-out images");
    let recon_idx = spread(heldout.len(), args.recon_images);
    let originals = images_of(gpu, heldout, &recon_idx);
    let recon = model.decode(&model.encode(&originals, args.fit_steps));
    let psnr = psnr_db(&recon, &originals);
    let ssim = if side >= crate::models::vae::MIN_SIZE {
        Some(1.0 - crate::autograd::no_grad(|| loss::ssim(&recon, &originals, 2.0).item()))
    } else {
        None
    };

    eprintln!("  drawing {n} samples and measuring features");
    let real = images_of(gpu, heldout, &spread(heldout.len(), n));
    let (z, drawn_from) = prior_draws(
        gpu,
        &run,
        args.prior,
        n,
        args.temperature,
        &mut Rng::new(args.seed),
    )?;
    let drawn_from = if args.temperature == 1.0 {
        drawn_from
    } else {
        format!("{drawn_from} at temperature {}", args.temperature)
    };
    let samples = in_batches(&z, 256, |z| model.decode(z));
    let real_f = space.embed(&real)?.to_vec();
    let sample_f = space.embed(&samples)?.to_vec();
    let dims = space.dims();
    let fd = frechet_distance(&sample_f, &real_f, dims);
    let train_f = space
        .embed(&images_of(gpu, &data.train, &spread(data.train.len(), n)))?
        .to_vec();
    let fd_floor = frechet_distance(&train_f, &real_f, dims);
    let (precision, recall) = precision_recall(&real_f, &sample_f, dims, args.k);

    eprintln!(
        "  comparing samples with the {} training images",
        data.train.len()
    );
    let reference = spread(data.train.len(), REFERENCE_IMAGES);
    let memorisation = Memorisation::measure(&samples, &data.train, &reference);
    let ratios = memorisation.ratios();
    let near_copies =
        ratios.iter().filter(|r| **r < NEAR_COPY).count() as f32 / ratios.len().max(1) as f32;
    let min_ratio = ratios.iter().copied().fold(f32::INFINITY, f32::min);
    let closest: Vec<usize> = memorisation
        .closest_first()
        .into_iter()
        .take(PAIRS_SHOWN)
        .collect();
    let nearest_train: Vec<usize> = closest.iter().map(|&i| memorisation.nearest[i].1).collect();
    let flat = samples.reshape(&[n, samples.numel() / n]);
    let closest_samples =
        flat.gather_rows(&closest)
            .reshape(&[closest.len(), channels, side, side]);
    let pairs_picture = Tensor::concat(
        &[
            &closest_samples,
            &images_of(gpu, &data.train, &nearest_train),
        ],
        0,
    );

    eprintln!("  interpolating between {} held-out pairs", args.pairs);
    // Pair the first half of an even spread with the second, so ends lie far apart in a
    // set ordered by class.
    let spread_ends = spread(heldout.len(), 2 * args.pairs);
    let pairs = spread_ends.len() / 2;
    let ends_idx: Vec<usize> = (0..pairs)
        .flat_map(|p| [spread_ends[p], spread_ends[pairs + p]])
        .collect();
    let ends = model.encode(&images_of(gpu, heldout, &ends_idx), args.fit_steps);
    let ends = ends.to_vec();
    let nz = model.nz();
    let path = if model.on_sphere() {
        LatentPath::Spherical
    } else {
        LatentPath::Linear
    };
    let mut frames_z = Vec::new();
    for p in 0..pairs {
        let a = &ends[2 * p * nz..(2 * p + 1) * nz];
        let b = &ends[(2 * p + 1) * nz..(2 * p + 2) * nz];
        for frame in interpolate(a, b, args.frames, path) {
            frames_z.extend(run.placed(frame));
        }
    }
    let frames_z = Tensor::from_slice(gpu, &frames_z, &[pairs * args.frames, nz]);
    let frames = in_batches(&frames_z, 256, |z| model.decode(z));
    let (mean_step, largest_step) = path_steps(&space.embed(&frames)?.to_vec(), dims, args.frames);

    let shown = PAIRS_SHOWN.min(pairs);
    Grid::from_tensor(&samples.narrow(0, 0, n.min(64)), 8)
        .save(&run.dir.join("eval_samples.png"))?;
    Grid::from_tensor(&pairs_picture, closest.len())
        .save(&run.dir.join("eval_memorisation.png"))?;
    Grid::from_tensor(&frames.narrow(0, 0, shown * args.frames), args.frames)
        .save(&run.dir.join("eval_interpolations.png"))?;

    let seconds = started.elapsed().as_secs_f64();
    let report = json!({
        "run": run.dir.display().to_string(),
        "model": run.config.model,
        "features": space.name(),
        "samples_from": drawn_from,
        "adapter": gpu.info().name,
        "heldout_images": heldout.len(),
        "reconstruction": {
            "images": recon_idx.len(),
            "fit_steps": args.fit_steps,
            "encoded_by": run.encoding,
            "psnr_db": psnr,
            "ssim": ssim,
        },
        "distribution": {
            "images": n,
            "temperature": args.temperature,
            "fd": fd,
            "fd_train_vs_heldout": fd_floor,
            "k": args.k,
            "precision": precision,
            "recall": recall,
        },
        "memorisation": {
            "typical_train_distance": memorisation.typical,
            "median_ratio": median(&ratios),
            "min_ratio": min_ratio,
            "near_copy_fraction": near_copies,
            "near_copy_below": NEAR_COPY,
        },
        "interpolation": {
            "pairs": pairs,
            "frames": args.frames,
            "mean_step": mean_step,
            "largest_step": largest_step,
        },
        "seconds": seconds,
    });
    let out = run.dir.join("eval.json");
    crate::io::write_atomically(&out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    for line in table(&report) {
        println!("{line}");
    }
    println!("  {}", out.display());
    Ok(())
}

/// A figure of eval.json at `path` ("a/b"), as shown in tables ("-" when absent).
pub fn figure(report: &serde_json::Value, path: &str, decimals: usize) -> String {
    let value = path.split('/').fold(report, |v, key| &v[key]);
    match value.as_f64() {
        Some(x) => format!("{x:.decimals$}"),
        None => "-".into(),
    }
}

/// How the held-out images were encoded, with the optimisation's budget where it applies.
fn encoded_by(report: &serde_json::Value) -> String {
    let how = report["reconstruction"]["encoded_by"]
        .as_str()
        .unwrap_or("?");
    if how.starts_with("optimising") {
        format!(
            "{how} ({} steps)",
            figure(report, "reconstruction/fit_steps", 0)
        )
    } else {
        how.to_string()
    }
}

/// A line of the eval table.
pub struct EvalRow {
    pub label: &'static str,
    pub value: String,
    /// How it was measured.
    pub note: String,
}

/// The rows of the eval table.
pub fn rows(report: &serde_json::Value) -> Vec<EvalRow> {
    let f = |p: &str, d: usize| figure(report, p, d);
    let row = |label, value, note| EvalRow { label, value, note };
    vec![
        row(
            "held-out PSNR (dB)",
            f("reconstruction/psnr_db", 2),
            format!(
                "{} images, encoded by {}",
                f("reconstruction/images", 0),
                encoded_by(report)
            ),
        ),
        row("held-out SSIM", f("reconstruction/ssim", 3), String::new()),
        row(
            "FD",
            f("distribution/fd", 2),
            format!(
                "{} samples vs held-out; training vs held-out: {}",
                f("distribution/images", 0),
                f("distribution/fd_train_vs_heldout", 2)
            ),
        ),
        row(
            "precision / recall",
            format!(
                "{} / {}",
                f("distribution/precision", 3),
                f("distribution/recall", 3)
            ),
            format!("k = {}", f("distribution/k", 0)),
        ),
        row(
            "memorisation ratio",
            format!(
                "{} (min {})",
                f("memorisation/median_ratio", 2),
                f("memorisation/min_ratio", 2)
            ),
            format!(
                "median; near copies (< {}): {}",
                f("memorisation/near_copy_below", 1),
                f("memorisation/near_copy_fraction", 3)
            ),
        ),
        row(
            "interpolation step",
            format!(
                "{} (largest {})",
                f("interpolation/mean_step", 3),
                f("interpolation/largest_step", 3)
            ),
            format!(
                "feature distance between frames, {} pairs x {} frames",
                f("interpolation/pairs", 0),
                f("interpolation/frames", 0)
            ),
        ),
    ]
}

fn table(report: &serde_json::Value) -> Vec<String> {
    let mut lines = vec![format!(
        "eval of {} ({}), features: {}, samples from {}",
        report["run"].as_str().unwrap_or("?"),
        report["model"].as_str().unwrap_or("?"),
        report["features"].as_str().unwrap_or("?"),
        report["samples_from"].as_str().unwrap_or("?")
    )];
    for r in rows(report) {
        lines.push(format!("  {:<20} {:<22} {}", r.label, r.value, r.note));
    }
    lines
}
