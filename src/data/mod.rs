//! Datasets: readers for MNIST / Fashion-MNIST (IDX), CIFAR-10 / CIFAR-100 and STL-10
//! binaries and image folders, the embedded digits, transforms, batches, downloads, and
//! PCA + k-means selection.
//!
//! Images are kept as u8 planes ([C, H, W] per image) in host memory: a quarter of the f32
//! size, converted to [-1, 1] when a batch is uploaded.

mod cifar;
pub mod cluster;
pub mod download;
mod folder;
mod idx;
pub mod selection;
mod stl10;
pub mod transform;

pub use selection::{DataSelection, HeldOut, Split};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// Images of one size and channel count, with optional labels and class names.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// N * C * H * W bytes, image after image, each [C, H, W].
    pub pixels: Vec<u8>,
    /// Class index per image, when the source has them.
    pub labels: Option<Vec<u16>>,
    pub class_names: Vec<String>,
}

const DIGIT_NAMES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const FASHION_NAMES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];
pub(crate) const CIFAR10_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
pub(crate) const STL10_NAMES: [&str; 10] = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
];

static EMBEDDED_IMAGES: &[u8] = include_bytes!("../../assets/digits-images-idx3-ubyte.gz");
static EMBEDDED_LABELS: &[u8] = include_bytes!("../../assets/digits-labels-idx1-ubyte.gz");

/// Where images come from, as given to `--data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The 10,000 MNIST digits inside the binary.
    Embedded,
    Mnist {
        dir: PathBuf,
        fashion: bool,
        test: bool,
    },
    Cifar10 {
        dir: PathBuf,
        test: bool,
    },
    Cifar100 {
        dir: PathBuf,
        test: bool,
    },
    Stl10 {
        dir: PathBuf,
        split: String,
    },
    Folder(PathBuf),
}

pub const SOURCE_HELP: &str = "embedded (default: 10,000 MNIST digits built in), \
mnist[:DIR][:test], fashion-mnist[:DIR][:test], cifar10[:DIR][:test], cifar100[:DIR][:test], \
stl10[:DIR][:train|test|unlabeled], or a folder of PNG/JPEG images (one sub-folder per class \
optional). DIR defaults to data/<name> as `pegasus data get` writes it.";

impl Source {
    pub fn parse(spec: &str) -> Result<Source> {
        let mut parts = spec.splitn(2, ':');
        let kind = parts.next().unwrap_or_default();
        let rest = parts.next();
        // Optional ":DIR" then an optional split word.
        let (dir, split) = match rest {
            None => (None, None),
            Some(r) => {
                let (d, s) = match r.rsplit_once(':') {
                    Some((d, s)) if ["train", "test", "unlabeled"].contains(&s) => (d, Some(s)),
                    _ if ["train", "test", "unlabeled"].contains(&r) => ("", Some(r)),
                    _ => (r, None),
                };
                ((!d.is_empty()).then(|| PathBuf::from(d)), s)
            }
        };
        let dir_or = |name: &str| dir.clone().unwrap_or_else(|| Path::new("data").join(name));
        let test = split == Some("test");
        let source = match kind {
            "embedded" => Source::Embedded,
            "mnist" => Source::Mnist {
                dir: dir_or("mnist"),
                fashion: false,
                test,
            },
            "fashion-mnist" => Source::Mnist {
                dir: dir_or("fashion-mnist"),
                fashion: true,
                test,
            },
            "cifar10" => Source::Cifar10 {
                dir: dir_or("cifar10"),
                test,
            },
            "cifar100" => Source::Cifar100 {
                dir: dir_or("cifar100"),
                test,
            },
            "stl10" => Source::Stl10 {
                dir: dir_or("stl10"),
                split: split.unwrap_or("train").to_string(),
            },
            _ if Path::new(spec).is_dir() => Source::Folder(PathBuf::from(spec)),
            _ => {
                return Err(Error::Invalid(format!(
                    "`{spec}` is not a data source or a folder. Give one of: {SOURCE_HELP}"
                )));
            }
        };
        if split == Some("unlabeled") && !matches!(source, Source::Stl10 { .. }) {
            return Err(Error::Invalid(format!(
                "`{spec}`: only stl10 has an unlabeled split"
            )));
        }
        Ok(source)
    }

    /// The same source's test split, for sources that have one.
    pub fn test_split(&self) -> Option<Source> {
        let mut test = self.clone();
        match &mut test {
            Source::Mnist { test, .. }
            | Source::Cifar10 { test, .. }
            | Source::Cifar100 { test, .. } => {
                if *test {
                    return None;
                }
                *test = true;
            }
            Source::Stl10 { split, .. } if split != "test" => *split = "test".into(),
            _ => return None,
        }
        Some(test)
    }
}

impl Dataset {
    pub fn load(source: &Source) -> Result<Dataset> {
        match source {
            Source::Embedded => Dataset::embedded(),
            Source::Mnist { dir, fashion, test } => {
                let prefix = if *test { "t10k" } else { "train" };
                let find = |stem: &str| find_file(dir, stem);
                let images = find(&format!("{prefix}-images-idx3-ubyte"))?;
                let labels = find(&format!("{prefix}-labels-idx1-ubyte"))?;
                let (rows, cols, pixels, labels) = idx::read_pair(&images, &labels)?;
                let names = if *fashion {
                    &FASHION_NAMES
                } else {
                    &DIGIT_NAMES
                };
                Dataset::labelled(
                    if *fashion { "fashion-mnist" } else { "mnist" },
                    [1, rows, cols],
                    pixels,
                    labels,
                    names,
                )
            }
            Source::Cifar10 { dir, test } => cifar::load(dir, false, *test),
            Source::Cifar100 { dir, test } => cifar::load(dir, true, *test),
            Source::Stl10 { dir, split } => stl10::load(dir, split),
            Source::Folder(dir) => folder::load(dir),
        }
    }

    /// The 10,000 MNIST digits built into the binary (assets/make_digits.py).
    pub fn embedded() -> Result<Dataset> {
        let bad = |m: String| {
            Error::Invalid(format!(
                "the embedded digits are damaged ({m}); rebuild pegasus"
            ))
        };
        let images = idx::gunzip_if_needed(EMBEDDED_IMAGES).map_err(bad)?;
        let labels = idx::gunzip_if_needed(EMBEDDED_LABELS).map_err(bad)?;
        let (_, rows, cols, pixels) = idx::parse_images(images).map_err(bad)?;
        let labels = idx::parse_labels(labels).map_err(bad)?;
        Dataset::labelled(
            "embedded digits",
            [1, rows, cols],
            pixels,
            labels,
            &DIGIT_NAMES,
        )
    }

    pub(crate) fn labelled(
        name: &str,
        chw: [usize; 3],
        pixels: Vec<u8>,
        labels: Vec<u8>,
        names: &[&str],
    ) -> Result<Dataset> {
        let set = Dataset {
            name: name.to_string(),
            channels: chw[0],
            height: chw[1],
            width: chw[2],
            pixels,
            labels: Some(labels.iter().map(|&l| u16::from(l)).collect()),
            class_names: names.iter().map(|s| s.to_string()).collect(),
        };
        if let Some(bad) = set
            .labels
            .as_ref()
            .unwrap()
            .iter()
            .find(|&&l| usize::from(l) >= names.len())
        {
            return Err(Error::Invalid(format!(
                "{name}: label {bad} is past the {} classes",
                names.len()
            )));
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_bytes().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn image_bytes(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_bytes();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// A dataset of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_bytes());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            pixels,
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> Dataset {
        Dataset {
            name: self.name.clone(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels: Vec::new(),
            labels: None,
            class_names: self.class_names.clone(),
        }
    }

    /// Only the images of the named classes (names as `pegasus data info` lists them).
    pub fn filter_classes(&self, wanted: &[String]) -> Result<Dataset> {
        let Some(labels) = &self.labels else {
            return Err(Error::Invalid(format!(
                "{} has no classes to choose from",
                self.name
            )));
        };
        let mut ids = Vec::new();
        for w in wanted {
            let id = self
                .class_names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(w))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{} has no class `{w}`; its classes are: {}",
                        self.name,
                        self.class_names.join(", ")
                    ))
                })?;
            ids.push(id as u16);
        }
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| ids.contains(&labels[i]))
            .collect();
        Ok(self.select(&keep))
    }

    /// Number of images per class, in class order.
    pub fn class_counts(&self) -> Vec<(String, usize)> {
        let Some(labels) = &self.labels else {
            return Vec::new();
        };
        let mut counts = vec![0; self.class_names.len()];
        for &l in labels {
            counts[usize::from(l)] += 1;
        }
        self.class_names.iter().cloned().zip(counts).collect()
    }

    /// The images at `indices` as a [N, C, H, W] tensor in [-1, 1].
    pub fn batch(&self, gpu: &Arc<Gpu>, indices: &[usize]) -> Tensor {
        let mut values = Vec::with_capacity(indices.len() * self.image_bytes());
        for &i in indices {
            values.extend(self.image(i).iter().map(|&p| f32::from(p) / 127.5 - 1.0));
        }
        Tensor::from_slice(
            gpu,
            &values,
            &[indices.len(), self.channels, self.height, self.width],
        )
    }
}

/// `stem`, `stem.gz` or, as some archives name them, `stem` with a dot before the extension
/// (`train-images.idx3-ubyte`), inside `dir`.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    let candidates = [
        stem.to_string(),
        format!("{stem}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ];
    candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::file(
                dir,
                format!("no {stem}[.gz] here; fetch the set with `pegasus data get` or point --data at the folder that has it"),
            )
        })
}
