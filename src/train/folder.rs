//! A run on disk: `runs/NAME/` with config.json (every setting, the model kind, the data and
//! its held-out split), checkpoint.safetensors and metrics.csv; choosing the folder for a new
//! run or a resume, and refusing what would overwrite saved work.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::{DataSelection, HeldOut, Split};
use crate::error::{Error, Result};

/// config.json of a run. The model's own settings sit under its kind's key ("glo": {...}).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RunConfig {
    pub model: String,
    pub data: DataSelection,
    pub heldout: HeldOut,
    /// Training images (after the held-out split), to notice a source that changed.
    pub images: usize,
    pub steps: usize,
    pub log_every: usize,
    pub image_every: usize,
    pub checkpoint_every: usize,
    pub checkpoint_minutes: f64,
    pub adapter: String,
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl RunConfig {
    pub fn read(dir: &Path) -> Result<RunConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|_| {
            Error::file(
                &path,
                format!("cannot read it: is {} a run folder?", dir.display()),
            )
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::file(
                &path,
                format!("not a pegasus run configuration ({e}); was it edited by hand?"),
            )
        })
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("the run configuration serialises");
        crate::io::write_atomically(&dir.join("config.json"), text.as_bytes())
    }

    /// The model's settings, under its kind's key.
    pub fn settings<C: DeserializeOwned>(&self, dir: &Path) -> Result<C> {
        let path = dir.join("config.json");
        let value = self.settings.get(&self.model).ok_or_else(|| {
            Error::file(
                &path,
                format!("it has no `{}` settings for its model", self.model),
            )
        })?;
        serde_json::from_value(value.clone()).map_err(|e| {
            Error::file(
                &path,
                format!("its `{}` settings do not read ({e})", self.model),
            )
        })
    }

    /// `settings` as the model section of a config.json for `kind`.
    pub fn model_section<C: Serialize>(
        kind: &str,
        settings: &C,
    ) -> serde_json::Map<String, serde_json::Value> {
        // Through text, so f32 settings read back as written (0.001, not 0.0010000000474974513).
        let text = serde_json::to_string(settings).expect("model settings serialise");
        let mut map = serde_json::Map::new();
        map.insert(
            kind.to_string(),
            serde_json::from_str(&text).expect("serde_json reads what it wrote"),
        );
        map
    }

    /// The run's images, split as it was trained; refuses a source that now gives another
    /// number of images (the latents and batches would no longer match).
    pub fn load_data(&self, dir: &Path) -> Result<Split> {
        let split = Split::load(&self.data, self.heldout)?;
        if split.train.len() != self.images {
            return Err(Error::Invalid(format!(
                "{} was trained on {} images but its data selection ({}) now gives {}; the source changed",
                dir.display(),
                self.images,
                self.data.data,
                split.train.len()
            )));
        }
        Ok(split)
    }
}

/// The folder of one run.
#[derive(Clone, Debug)]
pub struct RunFolder {
    pub dir: PathBuf,
}

/// What opening a folder for training found.
#[derive(Debug)]
pub enum Opening {
    /// A new run. `unfinished`: the folder held a run that stopped before its first
    /// checkpoint, which is started again.
    New { unfinished: bool },
    /// Continue a run; from its checkpoint, or from step 0 with its saved settings when it
    /// stopped before its first checkpoint.
    Resume {
        config: Box<RunConfig>,
        from_checkpoint: bool,
    },
}

/// `--run` as a name under `runs`: the exploring commands take a run as its folder
/// (`runs/NAME`), so a name given that way means the same run, not `runs/runs/NAME`.
fn name_under<'a>(runs: &Path, name: &'a str) -> &'a Path {
    match Path::new(name).strip_prefix(runs) {
        Ok(rest) if !rest.as_os_str().is_empty() => rest,
        _ => Path::new(name),
    }
}

impl RunFolder {
    pub fn new(dir: impl Into<PathBuf>) -> RunFolder {
        RunFolder { dir: dir.into() }
    }

    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }

    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }

    fn has_config(&self) -> bool {
        self.dir.join("config.json").is_file()
    }

    /// Whether a checkpoint is saved here: only then does the folder hold work to keep.
    pub fn holds_checkpoint(&self) -> bool {
        self.checkpoint().is_file()
    }

    /// The folder for `pegasus train KIND`: `--run NAME` under `runs`, or for a new run
    /// without a name the first of KIND, KIND-2, ... that holds no checkpoint; then whether
    /// it starts or resumes, refusing to overwrite a saved run or to resume another kind.
    pub fn open(
        kind: &str,
        runs: &Path,
        name: Option<&str>,
        resume: bool,
    ) -> Result<(RunFolder, Opening)> {
        let folder = match name {
            Some(n) => RunFolder::new(runs.join(name_under(runs, n))),
            None if resume => RunFolder::new(runs.join(kind)),
            None => (1..)
                .map(|i| match i {
                    1 => RunFolder::new(runs.join(kind)),
                    _ => RunFolder::new(runs.join(format!("{kind}-{i}"))),
                })
                .find(|f| !f.holds_checkpoint())
                .expect("some name is free"),
        };
        let shown = folder.dir.display();
        if !resume {
            if folder.holds_checkpoint() {
                return Err(Error::Invalid(format!(
                    "{shown} already holds a run: continue it with --resume, or choose another --run name (nothing was changed)"
                )));
            }
            let unfinished = folder.has_config();
            return Ok((folder, Opening::New { unfinished }));
        }
        if !folder.has_config() {
            return Err(Error::Invalid(format!(
                "{shown} holds no run to resume (no config.json): start it without --resume"
            )));
        }
        let config = RunConfig::read(&folder.dir)?;
        if config.model != kind {
            return Err(Error::Invalid(format!(
                "{shown} is a {} run: continue it with `pegasus train {} --run {} --resume`",
                config.model,
                config.model,
                folder
                    .dir
                    .file_name()
                    .map_or("NAME".into(), |n| n.to_string_lossy())
            )));
        }
        let from_checkpoint = folder.holds_checkpoint();
        Ok((
            folder,
            Opening::Resume {
                config: Box::new(config),
                from_checkpoint,
            },
        ))
    }

    /// `pegasus train ... --resume` for this folder, as a user would type it.
    pub fn resume_command(&self, kind: &str) -> String {
        format!(
            "pegasus train {kind} --runs {} --run {} --resume",
            self.dir
                .parent()
                .map_or(".".into(), |p| p.display().to_string()),
            self.dir
                .file_name()
                .map_or("NAME".into(), |n| n.to_string_lossy())
        )
    }

    /// Starts metrics.csv afresh with this header.
    pub fn start_metrics(&self, columns: &[String]) -> Result<()> {
        crate::io::write_atomically(&self.metrics(), (columns.join(",") + "\n").as_bytes())
    }

    /// Appends one row to metrics.csv.
    pub fn append_metrics(&self, row: &str) -> Result<()> {
        let path = self.metrics();
        let fail = |e: std::io::Error| Error::file(&path, format!("cannot append a row: {e}"));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(fail)?;
        writeln!(file, "{row}").map_err(fail)
    }

    /// The header of metrics.csv, if it has one.
    pub fn metrics_header(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.metrics()).ok()?;
        text.lines().next().map(str::to_string)
    }

    /// The last value of the last row (the elapsed seconds), 0 without rows.
    pub fn elapsed_so_far(&self) -> f64 {
        std::fs::read_to_string(self.metrics())
            .ok()
            .and_then(|t| t.lines().skip(1).last()?.rsplit(',').next()?.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Drops metrics rows past `step` (written after the checkpoint a resume starts from), and
/// a row cut short by a killed process (fewer values than the header has columns).
pub fn trim_metrics(path: &Path, step: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok(());
    };
    let columns = header.split(',').count();
    let kept: Vec<&str> = std::iter::once(header)
        .chain(lines.filter(|l| {
            l.split(',').count() == columns
                && l.split(',')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .is_some_and(|s| s <= step)
        }))
        .collect();
    crate::io::write_atomically(path, (kept.join("\n") + "\n").as_bytes())
}
