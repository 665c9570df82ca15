//! `pegasus train <model>`: the options every model shares (data, run folder, schedule) and
//! the one path every model trains through: open or resume the run, build the model, hand
//! it to the harness, report.

mod cppn;
mod encoder;
mod features;
mod glann;
pub(crate) mod glo;
mod vae;
mod vaegan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Subcommand};

use crate::data::{DataSelection, HeldOut, Split};
use crate::gpu::Gpu;
use crate::models::glo::{Glo, GloConfig};
use crate::train::{
    Kind, Opening, RunConfig, RunFolder, Schedule, check_sizes, load_checkpoint, summary,
    train as train_in_harness, trim_metrics,
};

#[derive(Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    model: TrainModel,
}

#[derive(Subcommand)]
enum TrainModel {
    /// GLO: a generator and one latent per training image on the unit sphere, trained on the
    /// Laplacian-pyramid L1 loss.
    #[command(after_help = glo::EXAMPLES)]
    Glo(glo::GloArgs),
    /// VAE (seed 002): a convolutional encoder to mu and log sigma^2, a mirrored decoder,
    /// trained on KL + SSIM + colour losses.
    #[command(after_help = vae::EXAMPLES)]
    Vae(vae::VaeArgs),
    /// VAE-GAN (Larsen et al.; seed 001): a VAE whose reconstruction error is measured in a
    /// GAN discriminator's features, the three networks trained together.
    #[command(after_help = vaegan::EXAMPLES)]
    Vaegan(vaegan::VaeGanArgs),
    /// CPPN GAN + VAE (seed 003): a generator from a latent and a pixel's coordinates to
    /// its intensity, trained as a VAE's decoder and a GAN's generator; renders at any size.
    #[command(after_help = cppn::EXAMPLES)]
    Cppn(cppn::CppnArgs),
    /// The feature network of `pegasus eval`: a small convolutional classifier on labelled
    /// images, whose penultimate layer is the space the quality metrics are measured in.
    #[command(after_help = features::EXAMPLES)]
    Features(features::FeaturesArgs),
    /// GLANN (Hoshen et al.): an MLP from noise to a GLO run's latents, trained by IMLE, that
    /// `sample` and `eval` then draw new latents through.
    #[command(after_help = glann::EXAMPLES)]
    Glann(glann::GlannArgs),
    /// The encoder of a GLO run (seed 004): a network from images to the run's latents, so
    /// new images are encoded in one pass.
    #[command(after_help = encoder::EXAMPLES)]
    Encoder(encoder::EncoderArgs),
}

pub fn run(
    args: &TrainArgs,
    open_gpu: impl Fn() -> anyhow::Result<Arc<Gpu>>,
) -> anyhow::Result<()> {
    match &args.model {
        TrainModel::Glo(a) => glo::train(a, open_gpu),
        TrainModel::Vae(a) => vae::train(a, open_gpu),
        TrainModel::Vaegan(a) => vaegan::train(a, open_gpu),
        TrainModel::Cppn(a) => cppn::train(a, open_gpu),
        TrainModel::Features(a) => features::train(a, open_gpu),
        TrainModel::Glann(a) => glann::train(a, open_gpu),
        TrainModel::Encoder(a) => encoder::train(a, open_gpu),
    }
}

/// Options of every `pegasus train` subcommand: the images, the run folder and the schedule.
#[derive(Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: DataSelection,
    /// Run name: the folder under --runs (given as runs/NAME, as the exploring commands take
    /// it, the same run) [default: the model's name (glo, vae), or NAME-2, NAME-3, ... when
    /// taken].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder that holds the runs.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

/// How long a run trains and how often it reports and saves, and whether it resumes.
#[derive(Args, Clone)]
pub struct ScheduleArgs {
    /// Continue runs/NAME from its checkpoint with its saved settings: of the options given,
    /// only --steps or --epochs (to extend it) count.
    #[arg(long)]
    pub resume: bool,
    /// Total training steps (batches) [default: 1200; with --resume, the run's own].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Total training length in passes over the training images, instead of --steps.
    #[arg(long, conflicts_with = "steps")]
    pub epochs: Option<usize>,
    /// Steps between metrics rows (and progress lines when stderr is not a terminal).
    #[arg(long, default_value_t = 50)]
    pub log_every: usize,
    /// Steps between picture updates.
    #[arg(long, default_value_t = 300)]
    pub image_every: usize,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 300)]
    pub checkpoint_every: usize,
    /// Minutes between checkpoints, whatever the step count.
    #[arg(long, default_value_t = 5.0)]
    pub checkpoint_minutes: f64,
}

const DEFAULT_STEPS: usize = 1200;

impl ScheduleArgs {
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.steps != Some(0), "--steps must be at least 1");
        anyhow::ensure!(self.epochs != Some(0), "--epochs must be at least 1");
        anyhow::ensure!(
            self.log_every >= 1 && self.image_every >= 1 && self.checkpoint_every >= 1,
            "--log-every, --image-every and --checkpoint-every must be at least 1"
        );
        anyhow::ensure!(
            self.checkpoint_minutes > 0.0,
            "--checkpoint-minutes must be positive"
        );
        Ok(())
    }

    /// --steps, or --epochs in whole batches of the run.
    fn total_steps(&self, batches_per_epoch: usize) -> Option<usize> {
        self.steps.or(self.epochs.map(|e| e * batches_per_epoch))
    }
}

/// Trains a model of kind K: a new run whose settings `new_settings` makes from the loaded
/// images (holding every `hold_out`-th back, or the test split, when given), or the resumed
/// run of `args.run`. Nothing is written before the model is built
/// (and, on resume, its checkpoint restored), so refused settings and damaged checkpoints
/// leave the folder as it was.
fn train_kind<K: Kind>(
    args: &RunArgs,
    open_gpu: impl Fn() -> anyhow::Result<Arc<Gpu>>,
    hold_out: Option<usize>,
    new_settings: impl FnOnce(&Split) -> anyhow::Result<K::Config>,
) -> anyhow::Result<()> {
    let schedule = &args.schedule;
    schedule.check()?;
    let (folder, opening) =
        RunFolder::open(K::KIND, &args.runs, args.run.as_deref(), schedule.resume)?;
    let dir = folder.dir.clone();
    let (mut config, settings, data, from_checkpoint) = match opening {
        Opening::New { unfinished } => {
            let data = Split::choose(&args.selection, hold_out)?;
            let settings = new_settings(&data)?;
            if unfinished {
                eprintln!(
                    "{} stopped before its first checkpoint; starting it again",
                    dir.display()
                );
            }
            let steps = schedule
                .total_steps(K::batches_per_epoch(&settings))
                .unwrap_or(DEFAULT_STEPS);
            let config = RunConfig {
                model: K::KIND.into(),
                data: args.selection.clone(),
                heldout: data.how,
                images: data.train.len(),
                steps,
                log_every: schedule.log_every,
                image_every: schedule.image_every,
                checkpoint_every: schedule.checkpoint_every,
                checkpoint_minutes: schedule.checkpoint_minutes,
                adapter: String::new(),
                settings: RunConfig::model_section(K::KIND, &settings),
            };
            (config, settings, data, false)
        }
        Opening::Resume {
            config,
            from_checkpoint,
        } => {
            let mut config = *config;
            let settings: K::Config = config.settings(&dir)?;
            check_sizes::<K>(&settings)?;
            if let Some(steps) = schedule.total_steps(K::batches_per_epoch(&settings)) {
                config.steps = steps;
            }
            let data = config.load_data(&dir)?;
            (config, settings, data, from_checkpoint)
        }
    };
    let gpu = open_gpu()?;
    let mut model = if from_checkpoint {
        let model: K = load_checkpoint(&gpu, &settings, &folder.checkpoint())?;
        trim_metrics(&folder.metrics(), model.step())?;
        eprintln!(
            "resuming {} at step {} of {}",
            dir.display(),
            model.step(),
            config.steps
        );
        model
    } else {
        if schedule.resume {
            eprintln!(
                "{} stopped before its first checkpoint: starting it again from step 0 with its saved settings",
                dir.display()
            );
        }
        K::build(&gpu, &settings, Some(&data.train))?
    };
    config.adapter = gpu.info().name.clone();
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    config.write(&dir)?;
    let set = &data.train;
    let heldout = match &data.heldout {
        Some(h) => format!(", {} held out ({})", h.len(), data.describe_heldout()),
        None => String::new(),
    };
    eprintln!(
        "{} on {} ({} images of {} x {} x {}{heldout}), {} steps of {}",
        model.describe(),
        set.name,
        set.len(),
        set.channels,
        set.height,
        set.width,
        config.steps,
        model.batch_size()
    );
    if from_checkpoint && model.step() >= config.steps {
        println!(
            "{} is already at step {} of {}; give a larger --steps to train on",
            dir.display(),
            model.step(),
            config.steps
        );
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second Ctrl-C during the save falls through to the default and ends the process.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let (traffic_before, step_before) = (gpu.traffic(), model.step());
    let outcome = train_in_harness(
        &mut model,
        K::KIND,
        &data,
        &folder,
        &Schedule {
            steps: config.steps,
            log_every: config.log_every,
            image_every: config.image_every,
            checkpoint_every: config.checkpoint_every,
            checkpoint_minutes: config.checkpoint_minutes,
        },
        &stop,
    )?;
    if gpu.profiling() {
        super::print_traffic(&gpu, traffic_before, outcome.step - step_before);
    }
    println!("{}", summary(&outcome, &dir));
    for line in model.report(&data) {
        println!("{line}");
    }
    for file in outcome.pictures.iter().chain(["metrics.csv".into()].iter()) {
        println!("  {}", dir.join(file).display());
    }
    if let Some(warning) = &outcome.warning {
        println!("warning: {warning}");
    }
    if !outcome.finished() {
        println!("continue with: {}", folder.resume_command(K::KIND));
    }
    Ok(())
}

/// Trains a model of kind K that learns from a GLO run (GLANN, the encoder) in that run's
/// sub-folder named K::KIND, on the GLO run's own images split as it split them;
/// `new_settings` gets the split and the GLO run's latent size.
fn train_beside_glo<K: Kind>(
    glo_run: &Path,
    schedule: &ScheduleArgs,
    open_gpu: impl Fn() -> anyhow::Result<Arc<Gpu>>,
    new_settings: impl FnOnce(&Split, usize) -> anyhow::Result<K::Config>,
) -> anyhow::Result<()> {
    let glo = RunConfig::read(glo_run)?;
    anyhow::ensure!(
        glo.model == Glo::KIND,
        "{} is a {} run; `pegasus train {}` learns from a GLO run",
        glo_run.display(),
        glo.model,
        K::KIND
    );
    let nz = glo.settings::<GloConfig>(glo_run)?.generator.nz;
    let hold_out = match glo.heldout {
        HeldOut::None => None,
        HeldOut::EveryNth(n) => Some(n),
        // With a test split the number is unused: the split is held out again.
        HeldOut::TestSplit => Some(20),
    };
    let folder = RunFolder::new(glo_run.join(K::KIND));
    anyhow::ensure!(
        schedule.resume || !folder.holds_checkpoint(),
        "{} already holds a trained {}: continue it with --resume, or move it away to train a new one (nothing was changed)",
        folder.dir.display(),
        K::KIND
    );
    let run = RunArgs {
        selection: glo.data.clone(),
        run: Some(K::KIND.into()),
        runs: glo_run.to_path_buf(),
        schedule: schedule.clone(),
    };
    train_kind::<K>(&run, open_gpu, hold_out, |data| new_settings(data, nz))
}
