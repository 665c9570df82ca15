//! `pegasus data`: fetch sets, describe them, and cluster them to pick subsets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::data::cluster::{kmeans, pca, pixel_features};
use crate::data::selection::ClusterFile;
use crate::data::{DataSelection, download};
use crate::gpu::Gpu;
use crate::io::image::Grid;

#[derive(Args)]
pub struct DataArgs {
    #[command(subcommand)]
    what: DataCommand,
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
