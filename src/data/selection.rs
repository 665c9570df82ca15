//! Which images a command uses (`--data`, `--classes`, clusters, resizing), and the split of
//! a training run into the images it trains on and the images it never sees.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{Dataset, SOURCE_HELP, Source};
use crate::error::{Error, Result};

/// Which images a command uses: the source, optional classes, clusters and resizing.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSelection {
    /// Image source.
    #[arg(long, default_value = "embedded", long_help = SOURCE_HELP)]
    pub data: String,
    /// Only these classes, comma-separated (names as `pegasus data info` lists them).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// clusters.json written by `pegasus data cluster` (for --cluster / --representatives).
    #[arg(long, value_name = "FILE")]
    pub clusters: Option<PathBuf>,
    /// Only the images of these clusters, comma-separated ids.
    #[arg(long, value_delimiter = ',', requires = "clusters")]
    pub cluster: Vec<usize>,
    /// Only the K images nearest each chosen cluster's centre (seed 004's selection).
    #[arg(long, value_name = "K", requires = "clusters")]
    pub representatives: Option<usize>,
    /// Resize every image to SIZE x SIZE at load (area averaging down, bilinear up).
    #[arg(long, value_name = "SIZE")]
    pub image_size: Option<usize>,
    /// Convert to one greyscale channel at load.
    #[arg(long)]
    pub grey: bool,
    /// Use at most this many images (the first ones after selection).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// What `pegasus data cluster` writes to clusters.json.
#[derive(Serialize, Deserialize, Debug)]
pub struct ClusterFile {
    pub data: String,
    pub classes: Vec<String>,
    pub images: usize,
    pub k: usize,
    pub features: String,
    pub explained_variance_ratio: f64,
    pub inertia: f64,
    pub sizes: Vec<usize>,
    pub purity: Option<f64>,
    pub majority_class: Vec<String>,
    pub assignments: Vec<usize>,
    /// Per cluster, images nearest its centre, nearest first.
    pub nearest: Vec<Vec<usize>>,
    pub centroids: Vec<Vec<f32>>,
}

impl ClusterFile {
    fn read(path: &Path) -> Result<ClusterFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, format!("cannot read it: {e}")))?;
        serde_json::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("not a clusters.json from `pegasus data cluster` ({e})"),
            )
        })
    }
}

impl DataSelection {
    /// Loads and filters the images this selection names.
    pub fn load(&self) -> Result<Dataset> {
        Ok(self.load_with_clusters()?.0)
    }

    /// The selected images and, when the selection goes through a clusters.json, the cluster
    /// of each of them.
    pub fn load_with_clusters(&self) -> Result<(Dataset, Option<Vec<usize>>)> {
        let source = Source::parse(&self.data)?;
        let mut set = self.with_classes(Dataset::load(&source)?)?;
        let mut cluster_of = None;
        if let Some(path) = &self.clusters {
            let (keep, clusters) = self.cluster_members(path, set.len())?;
            set = set.select(&keep);
            cluster_of = Some(clusters);
        }
        if let Some(limit) = self.limit {
            let n = limit.min(set.len());
            set = set.select(&(0..n).collect::<Vec<_>>());
            if let Some(clusters) = &mut cluster_of {
                clusters.truncate(n);
            }
        }
        Ok((self.converted(set)?, cluster_of))
    }

    /// The source's test split under the same classes and conversions, when the source has
    /// one, its files are present, and the selection does not go through clusters (whose
    /// ids describe the training images only).
    pub fn load_test_split(&self) -> Option<Dataset> {
        if self.clusters.is_some() {
            return None;
        }
        let test = Source::parse(&self.data).ok()?.test_split()?;
        let set = self.with_classes(Dataset::load(&test).ok()?).ok()?;
        self.converted(set).ok()
    }

    fn with_classes(&self, set: Dataset) -> Result<Dataset> {
        if self.classes.is_empty() {
            Ok(set)
        } else {
            set.filter_classes(&self.classes)
        }
    }

    /// Greyscale and resizing as asked; refuses an empty result.
    fn converted(&self, mut set: Dataset) -> Result<Dataset> {
        if self.grey {
            set = set.greyscale();
        }
        if let Some(size) = self.image_size {
            if !(4..=1024).contains(&size) {
                return Err(Error::Invalid(format!(
                    "--image-size {size}: give 4 to 1024 pixels"
                )));
            }
            set = set.resized(size, size);
        }
        if set.is_empty() {
            return Err(Error::Invalid(format!(
                "the selection ({}) has no images",
                self.data
            )));
        }
        Ok(set)
    }

    /// The images of `set` (of `images` images) that the clusters at `path` select, and the
    /// cluster of each.
    fn cluster_members(&self, path: &Path, images: usize) -> Result<(Vec<usize>, Vec<usize>)> {
        let file = ClusterFile::read(path)?;
        if file.data != self.data || file.classes != self.classes || file.images != images {
            return Err(Error::file(
                path,
                format!(
                    "made from --data {} --classes {:?} ({} images); this run selects --data {} --classes {:?} ({images} images). Use the same source and classes, or cluster again",
                    file.data, file.classes, file.images, self.data, self.classes
                ),
            ));
        }
        if file.assignments.len() != images || file.nearest.len() != file.k {
            return Err(Error::file(
                path,
                "its assignments or nearest lists do not match its counts; cluster again",
            ));
        }
        let chosen: Vec<usize> = if self.cluster.is_empty() {
            (0..file.k).collect()
        } else {
            self.cluster.clone()
        };
        if let Some(bad) = chosen.iter().find(|&&c| c >= file.k) {
            return Err(Error::file(
                path,
                format!("--cluster {bad}: it has clusters 0..{}", file.k - 1),
            ));
        }
        let keep: Vec<usize> = match self.representatives {
            Some(k) => {
                if file
                    .nearest
                    .first()
                    .is_some_and(|n| n.len() < k.min(images))
                {
                    return Err(Error::file(
                        path,
                        format!(
                            "--representatives {k}: it lists only the {} nearest images per cluster; run `pegasus data cluster --nearest {k}`",
                            file.nearest[0].len()
                        ),
                    ));
                }
                chosen
                    .iter()
                    .flat_map(|&c| file.nearest[c].iter().take(k).copied())
                    .filter(|&i| i < images)
                    .collect()
            }
            None => (0..images)
                .filter(|&i| chosen.contains(&file.assignments[i]))
                .collect(),
        };
        let clusters = keep.iter().map(|&i| file.assignments[i]).collect();
        Ok((keep, clusters))
    }
}

/// Where a run's held-out images come from: images it never trains on, for honest
/// reconstruction figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldOut {
    /// Nothing is held out (GLO learns a latent for every image).
    None,
    /// The source's own test split.
    TestSplit,
    /// Every n-th selected image is held back from training (from the n-th on: indices
    /// n-1, 2n-1, ...), spread over the set so every class is represented.
    EveryNth(usize),
}

/// A run's images: those it trains on and those held out.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Dataset,
    pub heldout: Option<Dataset>,
    pub how: HeldOut,
    /// The cluster of each training image, for runs selected through a clusters.json.
    pub cluster_of: Option<Vec<usize>>,
}

impl Split {
    /// Loads a selection for a new run. With `every` given, images are held out: the test
    /// split where the source has one, else every `every`-th image.
    pub fn choose(selection: &DataSelection, every: Option<usize>) -> Result<Split> {
        match every {
            None => Split::assemble(selection, HeldOut::None, None),
            Some(n) => match selection.load_test_split() {
                Some(test) => Split::assemble(selection, HeldOut::TestSplit, Some(test)),
                None if n >= 2 => Split::assemble(selection, HeldOut::EveryNth(n), None),
                None => Err(Error::Invalid(format!(
                    "--holdout-every {n}: give 2 or more (every n-th image is held back)"
                ))),
            },
        }
    }

    /// Loads a selection split as `how` says (a run's recorded split).
    pub fn load(selection: &DataSelection, how: HeldOut) -> Result<Split> {
        let test = match how {
            HeldOut::TestSplit => Some(selection.load_test_split().ok_or_else(|| {
                Error::Invalid(format!(
                    "the run held out the test split of {}, which cannot be read now; put its test files back",
                    selection.data
                ))
            })?),
            _ => None,
        };
        Split::assemble(selection, how, test)
    }

    /// The selection's images split as `how` says, `test` being the test split it names.
    fn assemble(selection: &DataSelection, how: HeldOut, test: Option<Dataset>) -> Result<Split> {
        let (set, cluster_of) = selection.load_with_clusters()?;
        let (train, heldout, cluster_of) = match how {
            HeldOut::None | HeldOut::TestSplit => (set, test, cluster_of),
            HeldOut::EveryNth(n) => {
                let n = n.max(2);
                let (kept, held): (Vec<usize>, Vec<usize>) =
                    (0..set.len()).partition(|i| i % n != n - 1);
                if kept.is_empty() || held.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{} images are too few to hold every {n}th back; select at least {n}",
                        set.len()
                    )));
                }
                let clusters = cluster_of.map(|c| kept.iter().map(|&i| c[i]).collect());
                (set.select(&kept), Some(set.select(&held)), clusters)
            }
        };
        Ok(Split {
            train,
            heldout,
            how,
            cluster_of,
        })
    }

    /// Where the held-out images come from, in words.
    pub fn describe_heldout(&self) -> String {
        match self.how {
            HeldOut::None => "none".into(),
            HeldOut::TestSplit => "the test split".into(),
            HeldOut::EveryNth(n) => format!("every {n}th image, held back from training"),
        }
    }
}
