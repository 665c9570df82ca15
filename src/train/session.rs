//! The step loop every model trains in: metrics rows, pictures, checkpoints (every N steps,
//! every few minutes, on Ctrl-C, at the end) and the guard that stops a run whose numbers
//! stop being finite before it can save them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::progress::Progress;
use super::{Model, RunFolder, save_checkpoint};
use crate::data::Split;
use crate::error::{Error, Result};
use crate::io::plot::{panels, series_from_csv};

/// When a run logs, draws and saves.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub steps: usize,
    pub log_every: usize,
    pub image_every: usize,
    pub checkpoint_every: usize,
    pub checkpoint_minutes: f64,
}

/// How a call to [`train`] ended.
#[derive(Debug)]
pub struct Outcome {
    pub step: usize,
    pub total: usize,
    pub seconds: f64,
    /// The last metrics row's figures, by column name.
    pub figures: Vec<(&'static str, f32)>,
    /// Picture files written, and loss.png.
    pub pictures: Vec<String>,
    /// The model's warning about the last metrics row, if it had one.
    pub warning: Option<String>,
}

impl Outcome {
    pub fn finished(&self) -> bool {
        self.step >= self.total
    }
}

/// A figure with as many decimals as its size deserves.
fn figure(v: f32) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.1}"),
        a if a >= 10.0 => format!("{v:.2}"),
        _ => format!("{v:.4}"),
    }
}

fn figures_text(figures: &[(&'static str, f32)]) -> String {
    figures
        .iter()
        .map(|(n, v)| format!("{n} {}", figure(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The loop's state between steps.
struct Loop<'a> {
    model: &'a mut dyn Model,
    kind: &'a str,
    folder: &'a RunFolder,
    /// Step of the checkpoint on disk.
    saved_step: usize,
    saved_at: Instant,
}

impl Loop<'_> {
    /// The error of a run that produced `value` in `what` at `step`; the checkpoint on disk
    /// is left as it is.
    fn diverged(&self, step: usize, what: &str, value: f32) -> Error {
        Error::Invalid(format!(
            "training stopped at step {step}: {what} became {value}. {}. The last good checkpoint (step {}) is kept: {}",
            self.model.divergence_hint(),
            self.saved_step,
            self.folder.checkpoint().display()
        ))
    }

    /// Saves the model's state, unless a value in it is not finite.
    fn save(&mut self) -> Result<()> {
        let step = self.model.step();
        match save_checkpoint(self.model, self.kind, &self.folder.checkpoint()) {
            Err(Error::NonFinite { what, value }) => Err(self.diverged(step, &what, value)),
            Err(e) => Err(e),
            Ok(()) => {
                self.saved_step = step;
                self.saved_at = Instant::now();
                Ok(())
            }
        }
    }

    fn pictures(&self, data: &Split, last: bool) -> Result<Vec<String>> {
        let mut written = self.model.write_pictures(data, &self.folder.dir, last)?;
        if let Ok(text) = std::fs::read_to_string(self.folder.metrics()) {
            let names: Vec<&str> = self
                .model
                .loss_names()
                .into_iter()
                .chain(self.model.eval_names())
                .collect();
            let path = self.folder.dir.join("loss.png");
            panels(&path, &series_from_csv(&text, &names), "step")?;
            written.push("loss.png".into());
        }
        Ok(written)
    }
}

/// Trains `model` (of kind `kind`) on `data.train` up to `schedule.steps`, writing into
/// `folder`. A model with no checkpoint on disk yet is saved first, so the folder can be
/// resumed from the start. Stops early, with a checkpoint, when `stop` is set (Ctrl-C).
/// Fails, keeping the last good checkpoint, when a scalar or a saved tensor is not finite.
pub fn train(
    model: &mut dyn Model,
    kind: &str,
    data: &Split,
    folder: &RunFolder,
    schedule: &Schedule,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let columns: Vec<String> = std::iter::once("step")
        .chain(model.loss_names())
        .chain(model.eval_names())
        .chain(["images_per_second", "elapsed_seconds"])
        .map(str::to_string)
        .collect();
    match folder.metrics_header() {
        _ if model.step() == 0 => folder.start_metrics(&columns)?,
        Some(h) if h == columns.join(",") => {}
        Some(h) => {
            return Err(Error::file(
                folder.metrics(),
                format!(
                    "its columns `{h}` are not this model's `{}`; move it away to resume",
                    columns.join(",")
                ),
            ));
        }
        None => folder.start_metrics(&columns)?,
    }
    let earlier = folder.elapsed_so_far();
    let mut run = Loop {
        saved_step: model.step(),
        model,
        kind,
        folder,
        saved_at: Instant::now(),
    };
    if !folder.holds_checkpoint() {
        run.save()?;
    }
    let stepped = crate::gpu::catching(|| steps(&mut run, data, schedule, stop, earlier));
    stepped.unwrap_or_else(|failure| {
        Err(Error::Invalid(format!(
            "training stopped after step {}: {failure}. The last checkpoint (step {}) is kept \
             in {}; continue with `{}`",
            run.model.step(),
            run.saved_step,
            folder.dir.display(),
            folder.resume_command(kind)
        )))
    })
}

/// The steps from the model's current one to `schedule.steps`, then the last checkpoint and
/// pictures.
fn steps(
    run: &mut Loop,
    data: &Split,
    schedule: &Schedule,
    stop: &AtomicBool,
    earlier: f64,
) -> Result<Outcome> {
    let (total, folder) = (schedule.steps, run.folder);
    let started = Instant::now();
    let progress = Progress::new(run.model.step(), total);
    let (mut window_start, mut window_steps) = (Instant::now(), 0usize);
    let mut figures = Vec::new();
    let mut warning: Option<String> = None;
    while run.model.step() < total && !stop.load(Ordering::SeqCst) {
        let step_started = Instant::now();
        let scalars = run.model.train_step(&data.train);
        if let Some((_, t)) = scalars.first() {
            let gpu = t.gpu();
            gpu.host_span("train step (queued)", step_started);
            // A software rasteriser's threads share the CPU with the host: recording the next
            // steps while the driver runs this one slowed the default GLO run by about 10%
            // (kernels-tests/lab/README.md), so there each step finishes first.
            if gpu.is_software() {
                gpu.sync();
            }
        }
        window_steps += 1;
        let step = run.model.step();
        let stopping = stop.load(Ordering::SeqCst);
        let log = step.is_multiple_of(schedule.log_every) || step == total || stopping;
        let save = step < total
            && (step.is_multiple_of(schedule.checkpoint_every)
                || run.saved_at.elapsed().as_secs_f64() >= schedule.checkpoint_minutes * 60.0
                || stopping);
        if log || save {
            let mut read = Vec::with_capacity(scalars.len());
            for (name, t) in &scalars {
                let v = t.item();
                if !v.is_finite() {
                    progress.finish();
                    return Err(run.diverged(step, &format!("the scalar `{name}`"), v));
                }
                read.push((*name, v));
            }
            if log {
                let names = run.model.eval_names();
                for (name, v) in names.into_iter().zip(run.model.evaluate(data)) {
                    if v.is_nan() {
                        progress.finish();
                        return Err(run.diverged(step, &format!("the figure `{name}`"), v));
                    }
                    read.push((name, v));
                }
                let rate = (window_steps * run.model.batch_size()) as f64
                    / window_start.elapsed().as_secs_f64();
                let row: Vec<String> = std::iter::once(step.to_string())
                    .chain(read.iter().map(|(_, v)| v.to_string()))
                    .chain([
                        format!("{rate:.2}"),
                        format!("{:.1}", earlier + started.elapsed().as_secs_f64()),
                    ])
                    .collect();
                folder.append_metrics(&row.join(","))?;
                progress.report(
                    step,
                    &format!("{}, {rate:.0} images/s", figures_text(&read)),
                );
                let now = run.model.warning(&read);
                // Said when it starts to hold, not on every row while it does.
                if let Some(w) = &now
                    && warning.is_none()
                {
                    progress.note(&format!("warning at step {step}: {w}"));
                }
                warning = now;
                figures = read;
                (window_start, window_steps) = (Instant::now(), 0);
            }
        }
        progress.advance(step);
        if step < total && step.is_multiple_of(schedule.image_every) {
            run.pictures(data, false)?;
        }
        if save {
            if let Err(e) = run.save() {
                progress.finish();
                return Err(e);
            }
            if stopping {
                progress.note(&format!("stopped: checkpoint saved at step {step}"));
            }
        }
    }
    progress.finish();
    if run.model.step() != run.saved_step {
        run.save()?;
    }
    let pictures = run.pictures(data, true)?;
    Ok(Outcome {
        step: run.model.step(),
        total,
        seconds: started.elapsed().as_secs_f64(),
        figures,
        pictures,
        warning,
    })
}

/// The summary line of a finished or stopped run.
pub fn summary(outcome: &Outcome, dir: &Path) -> String {
    let state = if outcome.finished() {
        "finished"
    } else {
        "stopped"
    };
    let mut line = format!(
        "{state} at step {} of {} in {:.0} s",
        outcome.step, outcome.total, outcome.seconds
    );
    if !outcome.figures.is_empty() {
        line += &format!(": {}", figures_text(&outcome.figures));
    }
    line + &format!(
        "\npictures, metrics and the checkpoint are in {}",
        dir.display()
    )
}
