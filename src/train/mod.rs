//! The training harness. A model plugs in through [`Model`] (a step on a batch that returns
//! named scalars, the named tensors of its state, its pictures) and [`Kind`] (its name,
//! settings and constructor); the harness owns everything else once for all models: the run
//! folder and config.json, the step loop, progress, metrics.csv, loss.png, checkpoints (every
//! N steps, every few minutes, on Ctrl-C), exact resume and the non-finite guard.

mod folder;
mod progress;
mod session;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use folder::{Opening, RunConfig, RunFolder, trim_metrics};
pub use session::{Outcome, Schedule, summary, train};

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::io::Checkpoint;
use crate::nn::{Module, prefixed};
use crate::ops::HostRng;
use crate::tensor::Tensor;

/// What the harness needs of a model while it trains.
pub trait Model {
    /// Names of the scalars `train_step` returns, in order (columns of metrics.csv).
    fn loss_names(&self) -> Vec<&'static str>;
    /// Names of the figures `evaluate` measures (more columns of metrics.csv).
    fn eval_names(&self) -> Vec<&'static str>;
    /// Steps taken so far.
    fn step(&self) -> usize;
    /// Images in one step (for images/s).
    fn batch_size(&self) -> usize;
    /// The model in a line: its kind, sizes and parameter count.
    fn describe(&self) -> String;
    /// One optimisation step on the next batch of `train`. The scalars stay on the GPU:
    /// the harness reads them only when it logs, so steps in between never wait.
    fn train_step(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)>;
    /// Figures measured when a metrics row is written (e.g. reconstruction PSNR).
    fn evaluate(&self, data: &Split) -> Vec<f32>;
    /// Every tensor a resume needs, by name (weights, buffers, optimiser moments).
    fn state(&mut self) -> Vec<(String, Tensor)>;
    /// Every counter a resume needs (at least `step`; optimiser steps, random offsets).
    fn counters(&self) -> Vec<(&'static str, u64)>;
    /// Puts a checkpoint's tensors and counters back (`path` names the file in errors).
    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()>;
    /// Writes the model's pictures into `dir` and returns their file names; `last` is the
    /// end of training (for the pictures that cost too much to redraw often).
    fn write_pictures(&self, data: &Split, dir: &Path, last: bool) -> Result<Vec<String>>;
    /// What to change when training produces a non-finite value.
    fn divergence_hint(&self) -> String;
    /// A warning about the latest figures (a VAE's KL near 0, say), or None.
    fn warning(&self, _figures: &[(&'static str, f32)]) -> Option<String> {
        None
    }
    /// Lines printed when training ends (held-out figures and the like).
    fn report(&self, _data: &Split) -> Vec<String> {
        Vec::new()
    }
}

/// A model as `pegasus train <kind>` knows it: its name in config.json, its settings and how
/// to build it.
pub trait Kind: Model + Sized {
    /// The subcommand and config.json name: "glo", "vae".
    const KIND: &'static str;
    /// Everything that rebuilds the model exactly, saved in config.json under KIND.
    type Config: Serialize + DeserializeOwned + Clone;
    /// A model of `config`: initialised from `train` for a new run, or (None) ready for a
    /// checkpoint to be restored into.
    fn build(gpu: &Arc<Gpu>, config: &Self::Config, train: Option<&Dataset>) -> Result<Self>;
    /// Steps in one pass over the training images.
    fn batches_per_epoch(config: &Self::Config) -> usize;
    /// The sizes in `config` that set the model's cost, each with the largest value the
    /// command line accepts for it.
    fn sizes(config: &Self::Config) -> Vec<(&'static str, usize, usize)>;
}

/// Refuses settings whose sizes are outside what the command line accepts: a config.json
/// edited or damaged since the run was made must not build a model of a million layers.
pub fn check_sizes<K: Kind>(config: &K::Config) -> Result<()> {
    for (name, value, most) in K::sizes(config) {
        if !(1..=most).contains(&value) {
            return Err(Error::Invalid(format!(
                "the {} settings in config.json say {name} = {value}, outside 1 to {most}: the file was edited or damaged; restore it or start a new run",
                K::KIND
            )));
        }
    }
    Ok(())
}

/// Checkpoint tensors of a model's networks and optimisers: each network's parameters and
/// buffers under its name, then each optimiser's moments under its prefix.
pub fn networks_state(
    networks: &[(&str, &dyn Module)],
    optimisers: Vec<(&str, Vec<(String, Tensor)>)>,
) -> Vec<(String, Tensor)> {
    let mut all = Vec::new();
    for (name, network) in networks {
        all.extend(prefixed(name, network.parameters()));
        all.extend(prefixed(name, network.buffers()));
    }
    for (prefix, moments) in optimisers {
        all.extend(prefixed(prefix, moments));
    }
    all
}

/// Whole batches in one pass over `images` (a partial last batch is dropped).
pub fn batches_per_epoch(images: usize, batch: usize) -> usize {
    (images / batch.max(1)).max(1)
}

/// The training images of step `step`: epoch by epoch, each a fresh permutation drawn from
/// (seed, epoch), so a resumed run sees the same batches.
pub fn batch_indices(seed: u64, images: usize, batch: usize, step: usize) -> Vec<usize> {
    let per = batches_per_epoch(images, batch);
    let order = HostRng::new(seed, (step / per) as u64).permutation(images);
    let b = batch.min(images);
    order[(step % per) * b..(step % per + 1) * b].to_vec()
}

/// Reads a counter a checkpoint must hold.
pub fn counter(checkpoint: &Checkpoint, path: &Path, key: &str) -> Result<u64> {
    checkpoint
        .metadata
        .get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "the checkpoint has no counter `{key}`; it is from another model or version"
                ),
            )
        })
}

/// Writes the model's state and counters to `path` (atomically), tagged with its kind;
/// refuses, naming the tensor, a state that holds a value that is not finite.
pub fn save_checkpoint(model: &mut dyn Model, kind: &str, path: &Path) -> Result<()> {
    let mut checkpoint = Checkpoint::capture(&model.state());
    for (name, (_, values)) in &checkpoint.tensors {
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("tensor `{name}`"),
                value: *bad,
            });
        }
    }
    checkpoint.metadata.insert("model".into(), kind.to_string());
    for (name, value) in model.counters() {
        checkpoint.metadata.insert(name.into(), value.to_string());
    }
    checkpoint.save(path)
}

/// A model of `config` with the checkpoint at `path` restored into it; refuses a checkpoint
/// of another kind.
pub fn load_checkpoint<K: Kind>(gpu: &Arc<Gpu>, config: &K::Config, path: &Path) -> Result<K> {
    let checkpoint = Checkpoint::load(path)?;
    if let Some(kind) = checkpoint.metadata.get("model")
        && kind != K::KIND
    {
        return Err(Error::file(
            path,
            format!("a checkpoint of a {kind} model, not of a {}", K::KIND),
        ));
    }
    check_sizes::<K>(config)?;
    let mut model = K::build(gpu, config, None)?;
    model.restore(&checkpoint, path)?;
    Ok(model)
}
