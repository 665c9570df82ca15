//! Exploring a trained run, written once for every latent model (GLO, VAE): `pegasus
//! sample`, `pegasus interpolate`, `pegasus hybrid`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::data::{Dataset, Split};
use crate::gpu::Gpu;
use crate::io::image::Grid;
use crate::latent::expr::{self, Atom, Term};
use crate::latent::{Path as LatentPath, cosine, interpolate, on_sphere, swap_blocks};
use crate::models::LatentModel;
use crate::models::cppn::Cppn;
use crate::models::glann::{Glann, GlannConfig};
use crate::models::glo::Glo;
use crate::models::glo_encoder::{EncoderConfig, GloEncoder};
use crate::models::vae::Vae;
use crate::models::vaegan::VaeGan;
use crate::ops::Rng;
use crate::tensor::Tensor;
use crate::train::{Kind, RunConfig, load_checkpoint};

/// A trained run opened for exploring: its folder, settings and model.
pub(crate) struct Opened {
    pub(crate) dir: PathBuf,
    pub(crate) config: RunConfig,
    pub(crate) model: Box<dyn LatentModel>,
    /// How new images are encoded, in words.
    pub(crate) encoding: String,
}

impl Opened {
    /// The images the run trained on, split as in training (and their clusters).
    pub(crate) fn data(&self) -> anyhow::Result<Split> {
        Ok(self.config.load_data(&self.dir)?)
    }

    /// Back onto the unit sphere for models whose latents live there.
    pub(crate) fn placed(&self, z: Vec<f32>) -> Vec<f32> {
        if self.model.on_sphere() {
            on_sphere(&z)
        } else {
            z
        }
    }
}

/// The model of kind K of a run, its checkpoint restored.
fn restored<K: Kind + LatentModel + 'static>(
    gpu: &Arc<Gpu>,
    config: &RunConfig,
    dir: &Path,
    checkpoint: &Path,
) -> anyhow::Result<Box<dyn LatentModel>> {
    Ok(Box::new(load_checkpoint::<K>(
        gpu,
        &config.settings(dir)?,
        checkpoint,
    )?))
}

/// How new images of a GLO run are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Latents {
    /// Through the run's encoder when it has one (RUN/encoder, `pegasus train encoder`),
    /// else by optimisation.
    Auto,
    /// By optimising a latent with the generator frozen.
    Fit,
    /// Through the run's encoder.
    Encoder,
}

/// A GLO run with its trained encoder, when `latents` asks for it and it has one.
fn glo_with_encoder(
    gpu: &Arc<Gpu>,
    dir: &Path,
    latents: Latents,
) -> anyhow::Result<Option<Box<dyn LatentModel>>> {
    let encoder_dir = dir.join(GloEncoder::KIND);
    let checkpoint = encoder_dir.join("checkpoint.safetensors");
    let wanted = match latents {
        Latents::Fit => false,
        Latents::Auto => checkpoint.is_file(),
        Latents::Encoder => {
            anyhow::ensure!(
                checkpoint.is_file(),
                "{} has no encoder; train one with `pegasus train encoder --run {}`",
                dir.display(),
                dir.display()
            );
            true
        }
    };
    if !wanted {
        return Ok(None);
    }
    let mut settings: EncoderConfig = RunConfig::read(&encoder_dir)?.settings(&encoder_dir)?;
    // The GLO run is the one opened, wherever it has moved since the encoder trained.
    settings.glo_run = dir.to_path_buf();
    let encoder: GloEncoder = load_checkpoint(gpu, &settings, &checkpoint)?;
    Ok(Some(Box::new(encoder.into_encoding())))
}

/// Opens the run in `dir` for `pegasus COMMAND`, refusing kinds it cannot explore; a GLO
/// run encodes new images through its encoder when it has one.
pub(crate) fn open_run(gpu: &Arc<Gpu>, dir: &Path, command: &str) -> anyhow::Result<Opened> {
    open_run_encoding(gpu, dir, command, Latents::Auto)
}

/// As `open_run`, with the way a GLO run encodes new images chosen.
pub(crate) fn open_run_encoding(
    gpu: &Arc<Gpu>,
    dir: &Path,
    command: &str,
    latents: Latents,
) -> anyhow::Result<Opened> {
    let config = RunConfig::read(dir)?;
    let checkpoint = dir.join("checkpoint.safetensors");
    anyhow::ensure!(
        checkpoint.is_file(),
        "{} has no checkpoint yet; train it first",
        dir.display()
    );
    let own_encoder = "its encoder".to_string();
    let (model, encoding) = match config.model.as_str() {
        Glo::KIND => match glo_with_encoder(gpu, dir, latents)? {
            Some(encoded) => (
                encoded,
                format!(
                    "the run's encoder ({})",
                    dir.join(GloEncoder::KIND).display()
                ),
            ),
            None => (
                restored::<Glo>(gpu, &config, dir, &checkpoint)?,
                "optimising each latent with the generator frozen".to_string(),
            ),
        },
        Vae::KIND => (
            restored::<Vae>(gpu, &config, dir, &checkpoint)?,
            own_encoder,
        ),
        VaeGan::KIND => (
            restored::<VaeGan>(gpu, &config, dir, &checkpoint)?,
            own_encoder,
        ),
        Cppn::KIND => (
            restored::<Cppn>(gpu, &config, dir, &checkpoint)?,
            own_encoder,
        ),
        other => anyhow::bail!(
            "{} holds a `{other}` run; `pegasus {command}` explores glo, vae, vaegan and cppn runs",
            dir.display()
        ),
    };
    Ok(Opened {
        dir: dir.to_path_buf(),
        config,
        model,
        encoding,
    })
}

#[derive(Args)]
#[command(
    after_help = "Draws latents from the run's prior and decodes them: for GLO a full-covariance Gaussian
fitted to the learned latents (as the GLO paper) and projected onto the unit sphere, for a
VAE N(0, I); for a GLO run with a GLANN mapper (pegasus train glann), that mapper (--prior own
for the Gaussian). --temperature scales the spread (below 1: more typical, less varied images).

Examples:
  pegasus sample --run runs/glo --n 64
  pegasus sample --run runs/vae --n 32 --temperature 0.8 --seed 7"
)]
pub struct SampleArgs {
    /// Run folder (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// Images drawn.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Scale of the prior's spread.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Seed of the draws: the same seed gives the same images.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output PNG (default: RUN/sample_SEED.png).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Prior::Auto)]
    prior: Prior,
}

/// Where new latents come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Prior {
    /// GLANN's mapper when the run has one (RUN/glann, `pegasus train glann`), else the
    /// model's own prior.
    Auto,
    /// The model's own prior: GLO's fitted Gaussian, N(0, I) for the others.
    Own,
    /// GLANN's mapper (a GLO run's RUN/glann).
    Glann,
}

/// Refuses a --temperature outside (0, 10].
pub(crate) fn check_temperature(temperature: f32) -> anyhow::Result<()> {
    anyhow::ensure!(
        temperature.is_finite() && temperature > 0.0 && temperature <= 10.0,
        "--temperature {temperature}: give a value in (0, 10]"
    );
    Ok(())
}

/// n latents drawn for `run` as `prior` says, with the draw described in words.
pub(crate) fn prior_draws(
    gpu: &Arc<Gpu>,
    run: &Opened,
    prior: Prior,
    n: usize,
    temperature: f32,
    rng: &mut Rng,
) -> anyhow::Result<(Tensor, String)> {
    let dir = run.dir.join(Glann::KIND);
    let checkpoint = dir.join("checkpoint.safetensors");
    let use_glann = match prior {
        Prior::Own => false,
        Prior::Auto => run.config.model == Glo::KIND && checkpoint.is_file(),
        Prior::Glann => {
            anyhow::ensure!(
                run.config.model == Glo::KIND && checkpoint.is_file(),
                "{} has no GLANN mapper; train one with `pegasus train glann --run {}` (GLO runs only)",
                run.dir.display(),
                run.dir.display()
            );
            true
        }
    };
    if !use_glann {
        let z = run.model.sample_prior(n, temperature, rng);
        return Ok((z, run.model.prior_description().into()));
    }
    let mut settings: GlannConfig = RunConfig::read(&dir)?.settings(&dir)?;
    // The GLO run is the one opened, wherever it has moved since GLANN trained.
    settings.glo_run = run.dir.clone();
    let glann: Glann = load_checkpoint(gpu, &settings, &checkpoint)?;
    Ok((
        glann.draw(n, temperature, rng),
        format!("GLANN's mapper ({})", dir.display()),
    ))
}

pub fn sample(gpu: &Arc<Gpu>, args: &SampleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=4096).contains(&args.n),
        "--n {}: give 1 to 4096",
        args.n
    );
    check_temperature(args.temperature)?;
    let run = open_run(gpu, &args.run, "sample")?;
    let (z, drawn_from) = prior_draws(
        gpu,
        &run,
        args.prior,
        args.n,
        args.temperature,
        &mut Rng::new(args.seed),
    )?;
    let images = run.model.decode(&z);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| run.dir.join(format!("sample_{}.png", args.seed)));
    Grid::from_tensor(&images, (args.n as f64).sqrt().ceil() as usize).save(&out)?;
    println!("{} samples from {drawn_from}: {}", args.n, out.display());
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Straight line between the latents, projected onto the sphere.
    Lerp,
    /// Along the great circle of the sphere.
    Slerp,
    /// Row k: the first latent with its k-th block of dimensions from the second.
    Swap,
}

#[derive(Args)]
#[command(
    after_help = "A and B are latent expressions: a training-image index (as in the run's data
selection), an image file (encoded by the encoder, or for GLO by optimising a latent with the
generator frozen), seed(S) for a prior draw, or weighted sums such as
\"enc(a.png) - enc(b.png) + enc(c.png)\" (operators between spaces).

Examples:
  pegasus interpolate --run runs/glo --from 3 --to 4010 --steps 10
  pegasus interpolate --run runs/glo --from 3 --to 4010 --weights 0.65
  pegasus interpolate --run runs/glo --from 3 --to 4010 --mode swap --blocks 8
  pegasus interpolate --run runs/glo --from horse.png --to bird.png --mode slerp"
)]
pub struct InterpolateArgs {
    /// Run folder (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// A: a latent expression (a training-image index, an image file, seed(S), sums).
    #[arg(long)]
    from: String,
    /// B: as A.
    #[arg(long)]
    to: String,
    /// Frames from A to B, both included.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, value_enum, default_value_t = Mode::Slerp)]
    mode: Mode,
    /// Instead of a path: mixes w A + (1 - w) B for each weight given (e.g. 0.65 for seed
    /// 001's 65:35 hybrid), shown between A and B.
    #[arg(long, value_delimiter = ',')]
    weights: Vec<f32>,
    /// Blocks of dimensions for --mode swap.
    #[arg(long, default_value_t = 8)]
    blocks: usize,
    /// Optimisation steps to encode an image file.
    #[arg(long, default_value_t = 300)]
    encode_steps: usize,
    /// Output PNG (default: RUN/interpolate_A_B_MODE.png, MODE `mix` with --weights).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The latent of a latent expression (src/latent/expr.rs): a training-image index, an image
/// file encoded by the model, a prior draw, or a weighted sum of those, e.g.
/// `enc(a.png) - enc(b.png) + enc(c.png)`. A sum is placed back onto the sphere for GLO.
pub(crate) fn latent_for(
    gpu: &Arc<Gpu>,
    run: &Opened,
    data: &mut Option<Split>,
    spec: &str,
    encode_steps: usize,
) -> anyhow::Result<Vec<f32>> {
    // A file name as it stands (spaces, plus or minus signs and all) before any arithmetic.
    if Path::new(spec).is_file() {
        return atom_latent(gpu, run, data, &Atom::File(spec.into()), encode_steps);
    }
    let terms = expr::parse(spec).map_err(anyhow::Error::msg)?;
    if let [Term { weight, atom }] = terms.as_slice()
        && *weight == 1.0
    {
        return atom_latent(gpu, run, data, atom, encode_steps);
    }
    let mut sum = vec![0.0f32; run.model.nz()];
    for term in &terms {
        let z = atom_latent(gpu, run, data, &term.atom, encode_steps)?;
        for (s, v) in sum.iter_mut().zip(&z) {
            *s += term.weight * v;
        }
    }
    Ok(run.placed(sum))
}

/// The latent of one term of an expression.
fn atom_latent(
    gpu: &Arc<Gpu>,
    run: &Opened,
    data: &mut Option<Split>,
    atom: &Atom,
    encode_steps: usize,
) -> anyhow::Result<Vec<f32>> {
    let path = match atom {
        Atom::Train(i) => {
            if data.is_none() {
                *data = Some(run.data()?);
            }
            let train = &data.as_ref().expect("loaded above").train;
            anyhow::ensure!(
                *i < train.len(),
                "training image {i} does not exist: the run has images 0..{}",
                train.len() - 1
            );
            return Ok(run.model.latents_of(train, &[*i]).to_vec());
        }
        Atom::Seed(seed) => {
            return Ok(run
                .model
                .sample_prior(1, 1.0, &mut Rng::new(*seed))
                .to_vec());
        }
        Atom::File(path) => path,
    };
    let spec = path.display();
    anyhow::ensure!(
        path.is_file(),
        "`{spec}` is neither a training-image index nor an image file"
    );
    let (channels, size) = run.model.image_shape();
    let folder = tempdir_with(path)?;
    let loaded = Dataset::load(&crate::data::Source::Folder(folder.clone()));
    let _ = std::fs::remove_dir_all(&folder);
    let mut set = loaded?;
    if channels == 1 {
        set = set.greyscale();
    }
    anyhow::ensure!(
        set.channels == channels,
        "{spec} has {} channels, the model {channels}",
        set.channels
    );
    let target = set.resized(size, size).batch(gpu, &[0]);
    Ok(run.model.encode(&target, encode_steps).to_vec())
}

/// A temporary folder holding only `file` (so the folder reader decodes and checks it).
fn tempdir_with(file: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("pegasus-encode-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let name = file.file_name().context("an image file name")?;
    std::fs::copy(file, dir.join(name))
        .with_context(|| format!("cannot read {}", file.display()))?;
    Ok(dir)
}

pub fn interpolate_cmd(gpu: &Arc<Gpu>, args: &InterpolateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (2..=64).contains(&args.steps),
        "--steps {}: give 2 to 64",
        args.steps
    );
    anyhow::ensure!(
        args.weights.iter().all(|w| (0.0..=1.0).contains(w)),
        "--weights must lie in 0..1"
    );
    let run = open_run(gpu, &args.run, "interpolate")?;
    let mut data = None;
    let a = latent_for(gpu, &run, &mut data, &args.from, args.encode_steps)?;
    let b = latent_for(gpu, &run, &mut data, &args.to, args.encode_steps)?;
    let nz = a.len();
    let (rows, columns, what): (Vec<Vec<f32>>, usize, String) = if !args.weights.is_empty() {
        let mut rows = vec![a.clone()];
        for &w in &args.weights {
            rows.push(run.placed(crate::latent::between(&b, &a, w, LatentPath::Linear)));
        }
        rows.push(b.clone());
        let n = rows.len();
        (
            rows,
            n,
            format!("mixes {:?} of A and B, between A and B", args.weights),
        )
    } else {
        match args.mode {
            Mode::Swap => {
                let mut rows = vec![a.clone()];
                rows.extend(swap_blocks(&a, &b, args.blocks));
                rows.push(b.clone());
                let n = rows.len();
                (
                    rows,
                    n,
                    format!(
                        "A, A with each of {} blocks of dimensions from B, B",
                        args.blocks.clamp(1, nz)
                    ),
                )
            }
            Mode::Lerp => {
                let rows = interpolate(&a, &b, args.steps, LatentPath::Linear)
                    .into_iter()
                    .map(|z| run.placed(z))
                    .collect();
                (rows, args.steps, format!("{} frames, linear", args.steps))
            }
            Mode::Slerp => (
                interpolate(&a, &b, args.steps, LatentPath::Spherical),
                args.steps,
                format!("{} frames, spherical", args.steps),
            ),
        }
    };
    let flat: Vec<f32> = rows.concat();
    let images = run
        .model
        .decode(&Tensor::from_slice(gpu, &flat, &[rows.len(), nz]));
    let out = args.out.clone().unwrap_or_else(|| {
        let label = |spec: &str| {
            let stem = Path::new(spec).file_stem().map(|s| s.to_string_lossy());
            stem.map_or_else(|| spec.to_string(), |s| s.into_owned())
        };
        let kind = if args.weights.is_empty() {
            format!("{:?}", args.mode).to_lowercase()
        } else {
            "mix".into()
        };
        let name = format!(
            "interpolate_{}_{}_{kind}.png",
            label(&args.from),
            label(&args.to)
        );
        run.dir.join(name)
    });
    Grid::from_tensor(&images, columns).save(&out)?;
    println!("{what}: {}", out.display());
    Ok(())
}

#[derive(Args)]
#[command(
    after_help = "Looks for hybrids of two classes (a Pegasus from horses and birds). Candidates are the
images of each class whose latents lie nearest that class's mean latent (its most typical
members), or with --pick faithful those the model redraws most faithfully from their latents;
every pair of candidates is mixed at each weight (and projected onto the sphere for GLO).
Criterion: a mix z scores min(cos(z, mean A), cos(z, mean B)), its cosine similarity to the
farther of the two class means, so the best hybrids are close to both classes at once.

Typical members of a class lie near its mean, which a blurry model decodes to an average of the
class; the faithful ones are the images it draws clearly, so their mixes keep more shape.

Examples:
  pegasus hybrid --run runs/glo --a 1 --b 7
  pegasus hybrid --run runs/stl --a horse --b bird --candidates 12 --weights 0.35,0.5,0.65
  pegasus hybrid --run runs/vaegan --a horse --b bird --weights 0.65 --pick faithful
  pegasus hybrid --run runs/clustered --a cluster:2 --b cluster:5"
)]
pub struct HybridArgs {
    /// Run folder (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// First group: a class name from the run's data, or cluster:ID for a run trained with
    /// --clusters.
    #[arg(long)]
    a: String,
    /// Second group, as --a.
    #[arg(long)]
    b: String,
    /// Images taken from each group.
    #[arg(long, default_value_t = 8)]
    candidates: usize,
    /// Which images of each group are the candidates.
    #[arg(long, value_enum, default_value_t = Pick::Typical)]
    pick: Pick,
    /// Weights of A in the mixes tried, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.35,0.5,0.65")]
    weights: Vec<f32>,
    /// Hybrids shown.
    #[arg(long, default_value_t = 16)]
    top: usize,
    /// Output PNG (default: RUN/hybrids_A_B.png).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// How `pegasus hybrid` chooses each group's candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Pick {
    /// Latents nearest the group's mean latent: its most typical members.
    Typical,
    /// Images the model decodes back from their latents with the least squared error for
    /// their contrast (error over the image's variance).
    Faithful,
}

/// Positions in `members` of the `count` images whose decoded latents (`latents`, one row
/// of `nz` per member) redraw the most of them (`unexplained_fraction`), best first.
fn most_faithful(
    gpu: &Arc<Gpu>,
    run: &Opened,
    set: &Dataset,
    members: &[usize],
    latents: &[f32],
    count: usize,
) -> Vec<usize> {
    const CHUNK: usize = 256;
    let nz = run.model.nz();
    let mut errors = Vec::with_capacity(members.len());
    for (c, chunk) in members.chunks(CHUNK).enumerate() {
        let z = &latents[c * CHUNK * nz..(c * CHUNK + chunk.len()) * nz];
        let drawn = run
            .model
            .decode(&Tensor::from_slice(gpu, z, &[chunk.len(), nz]))
            .to_vec();
        let images = set.batch(gpu, chunk).to_vec();
        let per_image = images.len() / chunk.len();
        errors.extend(
            images
                .chunks(per_image)
                .zip(drawn.chunks(per_image))
                .map(|(x, y)| unexplained_fraction(x, y)),
        );
    }
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&i, &j| errors[i].total_cmp(&errors[j]));
    order.truncate(count);
    order
}

/// The squared error of `drawn` against `image` over the image's own spread about its mean
/// value: the part of the picture the drawing misses. A flat image is easy to redraw with a
/// small error, yet shows nothing; relative to the spread it no longer wins.
fn unexplained_fraction(image: &[f32], drawn: &[f32]) -> f32 {
    let mean = image.iter().sum::<f32>() / image.len().max(1) as f32;
    let spread: f32 = image.iter().map(|v| (v - mean) * (v - mean)).sum();
    let error: f32 = image
        .iter()
        .zip(drawn)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    error / spread.max(f32::MIN_POSITIVE)
}

/// The images of a group: a class name, or `cluster:ID` for a run trained through a
/// clusters.json.
fn group_members(
    set: &Dataset,
    cluster_of: Option<&[usize]>,
    group: &str,
) -> anyhow::Result<Vec<usize>> {
    if let Some(id) = group.strip_prefix("cluster:") {
        let id: usize = id
            .parse()
            .with_context(|| format!("`{group}`: write a cluster as cluster:ID, e.g. cluster:3"))?;
        let clusters = cluster_of.with_context(|| {
            format!("`{group}`: this run was not trained through --clusters FILE, so it has no cluster ids; name a class instead")
        })?;
        let members: Vec<usize> = (0..set.len()).filter(|&i| clusters[i] == id).collect();
        anyhow::ensure!(
            !members.is_empty(),
            "`{group}`: none of the run's images is in cluster {id}"
        );
        return Ok(members);
    }
    let labels = set.labels.as_ref().with_context(|| {
        format!(
            "{} has no classes; use cluster:ID with a clustered run",
            set.name
        )
    })?;
    let id = set
        .class_names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(group))
        .with_context(|| {
            format!(
                "{} has no class `{group}`; its classes are: {}",
                set.name,
                set.class_names.join(", ")
            )
        })?;
    let members: Vec<usize> = (0..set.len())
        .filter(|&i| usize::from(labels[i]) == id)
        .collect();
    anyhow::ensure!(!members.is_empty(), "the run's images have no `{group}`");
    Ok(members)
}

pub fn hybrid(gpu: &Arc<Gpu>, args: &HybridArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.weights.is_empty() && args.weights.iter().all(|w| (0.0..=1.0).contains(w)),
        "--weights must lie in 0..1"
    );
    let run = open_run(gpu, &args.run, "hybrid")?;
    let data = run.data()?;
    let (set, cluster_of) = (&data.train, &data.cluster_of);
    let nz = run.model.nz();
    // (members, their latents, class mean) of one class.
    let class = |name: &str| -> anyhow::Result<(Vec<usize>, Vec<f32>, Vec<f32>)> {
        let members = group_members(set, cluster_of.as_deref(), name)?;
        let z = run.model.latents_of(set, &members).to_vec();
        let mut mean = vec![0f32; nz];
        for row in z.chunks(nz) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, v)| *m += v / members.len() as f32);
        }
        Ok((members, z, run.placed(mean)))
    };
    let (ma, za, mean_a) = class(&args.a)?;
    let (mb, zb, mean_b) = class(&args.b)?;
    let count = args.candidates.max(1);
    let typical = |z: &[f32], mean: &[f32]| -> Vec<usize> {
        let mut order: Vec<usize> = (0..z.len() / nz).collect();
        order.sort_by(|&i, &j| {
            cosine(&z[j * nz..(j + 1) * nz], mean)
                .total_cmp(&cosine(&z[i * nz..(i + 1) * nz], mean))
        });
        order.truncate(count);
        order
    };
    let candidates = |members: &[usize], z: &[f32], mean: &[f32]| match args.pick {
        Pick::Typical => typical(z, mean),
        Pick::Faithful => most_faithful(gpu, &run, set, members, z, count),
    };
    let (picked_a, picked_b) = (candidates(&ma, &za, &mean_a), candidates(&mb, &zb, &mean_b));
    let mut scored: Vec<(f32, usize, usize, f32, Vec<f32>)> = Vec::new();
    for &i in &picked_a {
        for &j in &picked_b {
            for &w in &args.weights {
                let z = run.placed(crate::latent::between(
                    &zb[j * nz..(j + 1) * nz],
                    &za[i * nz..(i + 1) * nz],
                    w,
                    LatentPath::Linear,
                ));
                let score = cosine(&z, &mean_a).min(cosine(&z, &mean_b));
                scored.push((score, ma[i], mb[j], w, z));
            }
        }
    }
    scored.sort_by(|x, y| y.0.total_cmp(&x.0));
    scored.truncate(args.top.max(1));
    let flat: Vec<f32> = scored.iter().flat_map(|s| s.4.clone()).collect();
    let images = run
        .model
        .decode(&Tensor::from_slice(gpu, &flat, &[scored.len(), nz]));
    let out = args.out.clone().unwrap_or_else(|| {
        let name = format!("hybrids_{}_{}.png", args.a, args.b).replace(':', "-");
        run.dir.join(name)
    });
    Grid::from_tensor(&images, 8).save(&out)?;
    println!(
        "rank  score   {:>6} {:>6} weight of {}",
        args.a, args.b, args.a
    );
    for (k, (score, i, j, w, _)) in scored.iter().enumerate() {
        println!("{:>4}  {score:.3}  {i:>6} {j:>6} {w:.2}", k + 1);
    }
    println!("hybrids: {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unexplained_fraction;

    #[test]
    fn the_faithful_pick_prefers_a_redrawn_contrast_to_a_flat_image() {
        // Error 4 x 0.01 over a spread of 4 (values +-1 about mean 0).
        let checkerboard = [1.0, -1.0, 1.0, -1.0];
        let drawn_well = [0.9, -0.9, 0.9, -0.9];
        let fraction = unexplained_fraction(&checkerboard, &drawn_well);
        assert!((fraction - 0.01).abs() < 1e-6, "{fraction}");
        // A flat grey redrawn with a 200th of that error still shows nothing, so it must
        // rank after any image with contrast.
        let grey = [0.2; 4];
        let drawn_grey = [0.21, 0.19, 0.2, 0.2];
        assert!(unexplained_fraction(&grey, &drawn_grey) > 1.0);
        // Half the contrast lost: a quarter of the spread unexplained (error 4 x 0.25 over 4).
        let drawn_faintly = [0.5, -0.5, 0.5, -0.5];
        let faint = unexplained_fraction(&checkerboard, &drawn_faintly);
        assert!((faint - 0.25).abs() < 1e-6, "{faint}");
    }
}
