//! `pegasus train glo`: train a GLO model, writing metrics, pictures and checkpoints to its
//! run folder; Ctrl-C saves and stops; `--resume` continues exactly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use super::data::DataSelection;
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::io::image::Grid;
use crate::latent::{GaussianFit, Path as LatentPath, interpolate};
use crate::models::generator::GeneratorConfig;
use crate::models::glo::{Glo, GloConfig, LatentInit, Reconstruction};
use crate::ops::Rng;
use crate::tensor::Tensor;

#[derive(Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    model: TrainModel,
}

#[derive(Subcommand)]
enum TrainModel {
    /// GLO: a generator and one latent per training image on the unit sphere, trained on the
    /// Laplacian-pyramid L1 loss.
    #[command(after_help = GLO_EXAMPLES)]
    Glo(GloArgs),
}

const GLO_EXAMPLES: &str =
    "Writes runs/NAME/: config.json, metrics.csv (step, loss, reconstruction PSNR), loss.png,
reconstructions.png (originals above reconstructions), samples.png (from a Gaussian fitted to
the latents), interpolation.png and checkpoint.safetensors. Ctrl-C saves a checkpoint and stops.

Examples:
  pegasus train glo
  pegasus train glo --steps 3000 --nz 64 --run digits-long
  pegasus train glo --data cifar10 --classes horse,bird --image-size 32 --ngf 32 --nz 100
  pegasus train glo --data stl10 --classes horse,bird --image-size 96 --ngf 96 --nz 100 --batch 16
  pegasus train glo --run digits-long --resume --steps 6000
  pegasus train glo --epochs 20 --run digits-20-epochs";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LossArg {
    Laplacian,
    L1,
    L2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum InitArg {
    Pca,
    Normal,
}

#[derive(Args, Clone)]
struct GloArgs {
    #[command(flatten)]
    selection: DataSelection,
    /// Run name: the folder under --runs [default: glo, or glo-2, glo-3, ... when taken].
    #[arg(long)]
    run: Option<String>,
    /// Folder that holds the runs.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Continue runs/NAME from its checkpoint (with its saved settings; --steps may extend it).
    #[arg(long)]
    resume: bool,
    /// Latent size.
    #[arg(long, default_value_t = 32)]
    nz: usize,
    /// Generator width (filters of its last hidden layer).
    #[arg(long, default_value_t = 16)]
    ngf: usize,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Total training steps (batches) [default: 1200; with --resume, the run's own].
    #[arg(long)]
    steps: Option<usize>,
    /// Total training length in passes over the images, instead of --steps.
    #[arg(long, conflicts_with = "steps")]
    epochs: Option<usize>,
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
    /// Seed of the initialisation and of the batch order: the same seed, the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps between metrics rows.
    #[arg(long, default_value_t = 50)]
    log_every: usize,
    /// Steps between picture updates.
    #[arg(long, default_value_t = 300)]
    image_every: usize,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 300)]
    checkpoint_every: usize,
}

/// config.json of a GLO run.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RunConfig {
    pub model: String,
    pub data: DataSelection,
    pub glo: GloConfig,
    pub log_every: usize,
    pub image_every: usize,
    pub checkpoint_every: usize,
    pub adapter: String,
}

impl RunConfig {
    pub fn read(dir: &Path) -> anyhow::Result<RunConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a run folder?",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a pegasus run configuration", path.display()))
    }
}

pub fn run(
    args: &TrainArgs,
    open_gpu: impl Fn() -> anyhow::Result<Arc<Gpu>>,
) -> anyhow::Result<()> {
    let TrainModel::Glo(glo) = &args.model;
    train_glo(glo, open_gpu)
}

impl GloArgs {
    /// --steps, or --epochs in whole batches of the run.
    fn total_steps(&self, run: &GloConfig) -> Option<usize> {
        self.steps
            .or(self.epochs.map(|e| e * run.batches_per_epoch()))
    }
}

fn check_args(a: &GloArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(a.steps != Some(0), "--steps must be at least 1");
    anyhow::ensure!(a.epochs != Some(0), "--epochs must be at least 1");
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
        a.log_every >= 1 && a.image_every >= 1 && a.checkpoint_every >= 1,
        "--log-every, --image-every and --checkpoint-every must be at least 1"
    );
    Ok(())
}

/// The run folder: the one named, or for a new run without a name the first free of glo,
/// glo-2, glo-3, ...
fn run_dir(args: &GloArgs) -> PathBuf {
    match &args.run {
        Some(name) => args.runs.join(name),
        None if args.resume => args.runs.join("glo"),
        None => (1..)
            .map(|i| {
                args.runs.join(if i == 1 {
                    "glo".to_string()
                } else {
                    format!("glo-{i}")
                })
            })
            .find(|d| !d.join("config.json").exists())
            .expect("some name is free"),
    }
}

fn train_glo(
    args: &GloArgs,
    open_gpu: impl Fn() -> anyhow::Result<Arc<Gpu>>,
) -> anyhow::Result<()> {
    check_args(args)?;
    let dir = run_dir(args);
    let checkpoint = dir.join("checkpoint.safetensors");
    let gpu = open_gpu()?;
    let (config, mut glo, set) = if args.resume {
        let mut config = RunConfig::read(&dir)?;
        anyhow::ensure!(
            checkpoint.is_file(),
            "{} has no checkpoint to resume from",
            dir.display()
        );
        if let Some(steps) = args.total_steps(&config.glo) {
            config.glo.steps = steps;
        }
        let set = config.data.load()?;
        anyhow::ensure!(
            set.len() == config.glo.images,
            "{} was trained on {} images but its data selection now gives {}; the source changed",
            dir.display(),
            config.glo.images,
            set.len()
        );
        let glo = Glo::load(&gpu, config.glo.clone(), &checkpoint)?;
        trim_metrics(&dir.join("metrics.csv"), glo.step)?;
        eprintln!(
            "resuming {} at step {} of {}",
            dir.display(),
            glo.step,
            config.glo.steps
        );
        (config, glo, set)
    } else {
        anyhow::ensure!(
            !dir.join("config.json").exists(),
            "{} already holds a run: continue it with --resume, or choose another --run name (nothing was changed)",
            dir.display()
        );
        let set = args.selection.load()?;
        let channels = set.channels;
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
        let batch = args.batch.min(set.len());
        let mut glo_config = GloConfig {
            generator: GeneratorConfig {
                image_size: size,
                channels,
                nz: args.nz,
                ngf: args.ngf,
            },
            images: set.len(),
            batch,
            steps: 1200,
            lr_generator: args.lr_generator,
            lr_latent: args.lr_latent,
            loss: match args.loss {
                LossArg::Laplacian => Reconstruction::Laplacian,
                LossArg::L1 => Reconstruction::L1,
                LossArg::L2 => Reconstruction::L2,
            },
            levels: args.levels,
            lap_weights: (!args.lap_weights.is_empty()).then(|| args.lap_weights.clone()),
            init: if args.init == InitArg::Pca {
                LatentInit::Pca
            } else {
                LatentInit::Normal
            },
            seed: args.seed,
        };
        glo_config.steps = args.total_steps(&glo_config).unwrap_or(glo_config.steps);
        let config = RunConfig {
            model: "glo".into(),
            data: args.selection.clone(),
            glo: glo_config.clone(),
            log_every: args.log_every,
            image_every: args.image_every,
            checkpoint_every: args.checkpoint_every,
            adapter: gpu.info().name.clone(),
        };
        let glo = Glo::new(&gpu, &set, glo_config)?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        crate::io::write_atomically(
            &dir.join("config.json"),
            serde_json::to_string_pretty(&config)?.as_bytes(),
        )?;
        (config, glo, set)
    };
    eprintln!(
        "GLO on {} ({} images of {} x {} x {}), latent {}, generator {} parameters, {} steps of {}",
        set.name,
        set.len(),
        set.channels,
        set.height,
        set.width,
        config.glo.generator.nz,
        crate::nn::parameter_count(&glo.generator),
        config.glo.steps,
        config.glo.batch
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second Ctrl-C during the save falls through to the default and ends the process.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    train_loop(&gpu, &config, &mut glo, &set, &dir, &stop)
}

/// Drops metrics rows past `step` (written after the checkpoint a resume starts from).
fn trim_metrics(path: &Path, step: usize) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|s| s.parse::<usize>().ok())
                .is_none_or(|s| s <= step)
        })
        .collect();
    crate::io::write_atomically(path, (kept.join("\n") + "\n").as_bytes())?;
    Ok(())
}

fn train_loop(
    gpu: &Arc<Gpu>,
    config: &RunConfig,
    glo: &mut Glo,
    set: &Dataset,
    dir: &Path,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let total = config.glo.steps;
    if glo.step >= total {
        println!(
            "{} is already at step {} of {total}; give a larger --steps to train on",
            dir.display(),
            glo.step
        );
        return Ok(());
    }
    let metrics_path = dir.join("metrics.csv");
    if !metrics_path.exists() {
        std::fs::write(
            &metrics_path,
            "step,loss,psnr_db,images_per_second,elapsed_seconds\n",
        )?;
    }
    // Elapsed time counts on from the last row of a resumed run.
    let earlier: f64 = std::fs::read_to_string(&metrics_path)?
        .lines()
        .last()
        .and_then(|l| l.rsplit(',').next()?.parse().ok())
        .unwrap_or(0.0);
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} eta {eta}")
            .expect("valid template"),
    );
    bar.set_position(glo.step as u64);
    let started = Instant::now();
    let (mut window_start, mut window_steps) = (Instant::now(), 0usize);
    let mut last = (f32::NAN, f32::NAN);
    while glo.step < total && !stop.load(Ordering::SeqCst) {
        let loss = glo.train_step(set);
        window_steps += 1;
        let step = glo.step;
        if step.is_multiple_of(config.log_every) || step == total {
            let value = loss.item();
            anyhow::ensure!(
                value.is_finite(),
                "the loss became {value} at step {step}; lower --lr-generator or --lr-latent"
            );
            let rate =
                (window_steps * glo.config.batch) as f64 / window_start.elapsed().as_secs_f64();
            let psnr = glo.reconstruction_psnr(set, 64);
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&metrics_path)?;
            writeln!(
                file,
                "{step},{value},{psnr},{rate:.2},{:.1}",
                earlier + started.elapsed().as_secs_f64()
            )?;
            bar.set_message(format!(
                "loss {value:.4}, PSNR {psnr:.2} dB, {rate:.0} images/s"
            ));
            last = (value, psnr);
            (window_start, window_steps) = (Instant::now(), 0);
        }
        bar.set_position(step as u64);
        // The last step's pictures and checkpoint are written once, after the loop.
        if step < total && step.is_multiple_of(config.image_every) {
            write_pictures(gpu, glo, set, dir, false)?;
        }
        if step < total && step.is_multiple_of(config.checkpoint_every) {
            glo.save(&dir.join("checkpoint.safetensors"))?;
        }
    }
    bar.finish_and_clear();
    glo.save(&dir.join("checkpoint.safetensors"))?;
    write_pictures(gpu, glo, set, dir, true)?;
    if let Some(report) = gpu.profile_report() {
        eprintln!("\n{report}");
    }
    let state = if glo.step < total {
        "stopped"
    } else {
        "finished"
    };
    println!(
        "{state} at step {} of {total} in {:.0} s: loss {:.4}, training-set reconstruction PSNR {:.2} dB",
        glo.step,
        started.elapsed().as_secs_f64(),
        last.0,
        last.1
    );
    println!(
        "pictures, metrics and the checkpoint are in {}:",
        dir.display()
    );
    for f in [
        "reconstructions.png",
        "samples.png",
        "interpolation.png",
        "loss.png",
        "metrics.csv",
    ] {
        println!("  {}", dir.join(f).display());
    }
    if glo.step < total {
        println!(
            "continue with: pegasus train glo --runs {} --run {} --resume",
            dir.parent().map_or(".".into(), |p| p.display().to_string()),
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("NAME")
        );
    }
    Ok(())
}

/// Two training images of different classes (when there are classes) for the interpolation.
pub fn interpolation_ends(set: &Dataset) -> (usize, usize) {
    match &set.labels {
        Some(l) => (
            0,
            (1..set.len())
                .find(|&i| l[i] != l[0])
                .unwrap_or(set.len().min(2) - 1),
        ),
        None => (0, set.len().min(2) - 1),
    }
}

fn write_pictures(
    gpu: &Arc<Gpu>,
    glo: &Glo,
    set: &Dataset,
    dir: &Path,
    with_interpolation: bool,
) -> anyhow::Result<()> {
    let idx = crate::models::glo::spread(set.len(), 16);
    let recon = glo.generate(&glo.latents.gather_rows(&idx));
    let originals = Grid::from_dataset(set, &idx, 8);
    Grid::stacked(&[originals, Grid::from_tensor(&recon, 8)])
        .save(&dir.join("reconstructions.png"))?;
    let fit = GaussianFit::fit(&glo.latents);
    let samples = glo.generate(&fit.sample(gpu, 64, &mut Rng::new(glo.config.seed ^ 0x5a)));
    Grid::from_tensor(&samples, 8).save(&dir.join("samples.png"))?;
    if let Ok(text) = std::fs::read_to_string(dir.join("metrics.csv")) {
        let points: Vec<(f64, f64)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut f = l.split(',');
                Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
            })
            .collect();
        crate::io::plot::line_plot(&dir.join("loss.png"), &points, "step", "loss")?;
    }
    if with_interpolation {
        let (a, b) = interpolation_ends(set);
        let rows = glo.latents.gather_rows(&[a, b]).to_vec();
        let nz = glo.config.generator.nz;
        let path: Vec<f32> =
            interpolate(&rows[..nz], &rows[nz..], 10, LatentPath::Spherical).concat();
        let frames = glo.generate(&Tensor::from_slice(gpu, &path, &[10, nz]));
        Grid::from_tensor(&frames, 10).save(&dir.join("interpolation.png"))?;
    }
    Ok(())
}
