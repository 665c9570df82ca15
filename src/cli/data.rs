//! `pegasus data`: fetch sets, describe them, and cluster them to pick subsets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::data::cluster::{kmeans, pca, pixel_features};
use crate::data::{Dataset, SOURCE_HELP, Source, download};
use crate::gpu::Gpu;
use crate::io::image::Grid;

#[derive(Args)]
pub struct DataArgs {
    #[command(subcommand)]
    what: DataCommand,
}

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

impl DataSelection {
    /// Loads and filters the images this selection names.
    pub fn load(&self) -> anyhow::Result<Dataset> {
        Ok(self.load_with_clusters()?.0)
    }

    /// The selected images and, when the selection goes through a clusters.json, the cluster
    /// of each of them.
    pub fn load_with_clusters(&self) -> anyhow::Result<(Dataset, Option<Vec<usize>>)> {
        let source = Source::parse(&self.data)?;
        let mut set = Dataset::load(&source)?;
        if !self.classes.is_empty() {
            set = set.filter_classes(&self.classes)?;
        }
        let mut cluster_of = None;
        if let Some(path) = &self.clusters {
            let file: ClusterFile = serde_json::from_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            )
            .with_context(|| {
                format!(
                    "{} is not a clusters.json from `pegasus data cluster`",
                    path.display()
                )
            })?;
            if file.data != self.data || file.classes != self.classes || file.images != set.len() {
                anyhow::bail!(
                    "{} was made from --data {} --classes {:?} ({} images); this run selects --data {} --classes {:?} ({} images). Use the same source and classes, or cluster again",
                    path.display(),
                    file.data,
                    file.classes,
                    file.images,
                    self.data,
                    self.classes,
                    set.len()
                );
            }
            let chosen: Vec<usize> = if self.cluster.is_empty() {
                (0..file.k).collect()
            } else {
                self.cluster.clone()
            };
            if let Some(bad) = chosen.iter().find(|&&c| c >= file.k) {
                anyhow::bail!(
                    "--cluster {bad}: {} has clusters 0..{}",
                    path.display(),
                    file.k - 1
                );
            }
            let keep: Vec<usize> = match self.representatives {
                Some(k) => {
                    if file
                        .nearest
                        .first()
                        .is_some_and(|n| n.len() < k.min(set.len()))
                    {
                        anyhow::bail!(
                            "--representatives {k}: {} lists only the {} nearest images per cluster; run `pegasus data cluster --nearest {k}`",
                            path.display(),
                            file.nearest[0].len()
                        );
                    }
                    chosen
                        .iter()
                        .flat_map(|&c| file.nearest[c].iter().take(k).copied())
                        .collect()
                }
                None => (0..set.len())
                    .filter(|&i| chosen.contains(&file.assignments[i]))
                    .collect(),
            };
            set = set.select(&keep);
            cluster_of = Some(
                keep.iter()
                    .map(|&i| file.assignments[i])
                    .collect::<Vec<_>>(),
            );
        }
        if let Some(limit) = self.limit {
            let n = limit.min(set.len());
            set = set.select(&(0..n).collect::<Vec<_>>());
            if let Some(clusters) = &mut cluster_of {
                clusters.truncate(n);
            }
        }
        if self.grey {
            set = set.greyscale();
        }
        if let Some(size) = self.image_size {
            anyhow::ensure!(
                (4..=1024).contains(&size),
                "--image-size {size}: give 4 to 1024 pixels"
            );
            set = set.resized(size, size);
        }
        anyhow::ensure!(
            !set.is_empty(),
            "the selection ({}) has no images",
            self.data
        );
        Ok((set, cluster_of))
    }
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a set's official archives, check their MD5 sums and unpack them.
    #[command(
        after_help = "Downloads resume where they stopped. Example:\n  pegasus data get cifar10 --dir data"
    )]
    Get {
        /// mnist, fashion-mnist, cifar10, cifar100 or stl10.
        name: String,
        #[arg(long, default_value = "data")]
        dir: PathBuf,
    },
    /// Count the images and classes of a source and write a preview grid.
    #[command(
        after_help = "Examples:\n  pegasus data info\n  pegasus data info --data cifar10 --classes horse,bird --preview horses-birds.png"
    )]
    Info {
        #[command(flatten)]
        selection: DataSelection,
        /// Where to write a grid of the first 64 images.
        #[arg(long, default_value = "data-preview.png")]
        preview: PathBuf,
    },
    /// PCA of the greyscale pixels, then k-means: clusters.json and one PNG per cluster.
    #[command(
        after_help = "Train on some clusters with --clusters FILE --cluster 2,5 (or --representatives K).\n\nExamples:\n  pegasus data cluster --k 10\n  pegasus data cluster --data stl10 --classes horse --k 8 --out runs/horse-clusters"
    )]
    Cluster {
        #[command(flatten)]
        selection: DataSelection,
        /// Number of clusters.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// PCA dimensions of the features.
        #[arg(long, default_value_t = 50)]
        pca: usize,
        /// k-means runs from different seeds; the lowest inertia is kept.
        #[arg(long, default_value_t = 4)]
        restarts: usize,
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Images listed (and drawn) per cluster, nearest the centre first.
        #[arg(long, default_value_t = 64)]
        nearest: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "runs/clusters")]
        out: PathBuf,
    },
}

pub fn run(args: &DataArgs, open_gpu: impl Fn() -> anyhow::Result<Arc<Gpu>>) -> anyhow::Result<()> {
    match &args.what {
        DataCommand::Get { name, dir } => {
            let folder = download::get(name, dir, true)?;
            println!("{name} is in {}", folder.display());
        }
        DataCommand::Info { selection, preview } => info(selection, preview)?,
        DataCommand::Cluster {
            selection,
            k,
            pca,
            restarts,
            iterations,
            nearest,
            seed,
            out,
        } => {
            let gpu = open_gpu()?;
            cluster(
                &gpu,
                selection,
                *k,
                *pca,
                *restarts,
                *iterations,
                *nearest,
                *seed,
                out,
            )?;
            super::print_profile(&gpu);
        }
    }
    Ok(())
}

fn info(selection: &DataSelection, preview: &Path) -> anyhow::Result<()> {
    let set = selection.load()?;
    println!(
        "{}: {} images of {} x {} pixels, {} channel{}",
        set.name,
        set.len(),
        set.height,
        set.width,
        set.channels,
        if set.channels == 1 { "" } else { "s" }
    );
    for (name, count) in set.class_counts() {
        if count > 0 {
            println!("  {name:<14} {count}");
        }
    }
    let shown: Vec<usize> = (0..set.len().min(64)).collect();
    Grid::from_dataset(&set, &shown, 8).save(preview)?;
    println!("preview: {}", preview.display());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn cluster(
    gpu: &Arc<Gpu>,
    selection: &DataSelection,
    k: usize,
    dims: usize,
    restarts: usize,
    iterations: usize,
    nearest: usize,
    seed: u64,
    out: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        selection.clusters.is_none(),
        "cluster a source, not a selection of clusters"
    );
    let set = selection.load()?;
    anyhow::ensure!(
        k >= 1 && k <= set.len(),
        "--k {k}: give 1 to {} clusters",
        set.len()
    );
    let features = pixel_features(gpu, &set.greyscale());
    let dims = dims.clamp(1, features.dims()[1].min(set.len()));
    let p = pca(&features, dims, seed);
    let projected = p.project(&features);
    let result = kmeans(&projected, k, restarts, iterations, seed);
    let near = result.nearest(&projected, nearest);
    let mut sizes = vec![0; k];
    for &a in &result.assignments {
        sizes[a] += 1;
    }
    let (purity, majority) = match &set.labels {
        Some(labels) => {
            let mut counts = vec![vec![0usize; set.class_names.len()]; k];
            for (i, &a) in result.assignments.iter().enumerate() {
                counts[a][usize::from(labels[i])] += 1;
            }
            let top: Vec<usize> = counts
                .iter()
                .map(|c| (0..c.len()).max_by_key(|&j| c[j]).unwrap_or(0))
                .collect();
            let agree: usize = counts.iter().zip(&top).map(|(c, &t)| c[t]).sum();
            (
                Some(agree as f64 / set.len() as f64),
                top.iter().map(|&t| set.class_names[t].clone()).collect(),
            )
        }
        None => (None, Vec::new()),
    };
    let ratio = p.explained_variance.iter().sum::<f64>() / p.total_variance.max(1e-12);
    let centroids = result
        .centroids
        .to_vec()
        .chunks(dims)
        .map(<[f32]>::to_vec)
        .collect();
    let file = ClusterFile {
        data: selection.data.clone(),
        classes: selection.classes.clone(),
        images: set.len(),
        k,
        features: format!("greyscale pixels, PCA to {dims} dimensions"),
        explained_variance_ratio: ratio,
        inertia: result.inertia,
        sizes: sizes.clone(),
        purity,
        majority_class: majority.clone(),
        assignments: result.assignments.clone(),
        nearest: near.clone(),
        centroids,
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = out.join("clusters.json");
    crate::io::write_atomically(&json, serde_json::to_string(&file)?.as_bytes())?;
    for (c, members) in near.iter().enumerate() {
        Grid::from_dataset(&set, members, 8).save(&out.join(format!("cluster_{c}.png")))?;
    }
    println!(
        "{} images, PCA to {dims} dimensions ({:.1}% of the variance), k-means with k = {k}, {restarts} restarts: inertia {:.1}",
        set.len(),
        100.0 * ratio,
        result.inertia
    );
    for (c, size) in sizes.iter().enumerate() {
        match majority.get(c) {
            Some(m) => println!("  cluster {c:>3}: {size:>6} images, mostly {m}"),
            None => println!("  cluster {c:>3}: {size:>6} images"),
        }
    }
    if let Some(p) = purity {
        println!(
            "purity (share of images whose class is their cluster's most common): {:.1}%",
            100.0 * p
        );
    }
    println!("wrote {} and cluster_<i>.png there", json.display());
    Ok(())
}
