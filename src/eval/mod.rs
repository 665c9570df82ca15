//! The yardsticks of `pegasus eval`, the same for every model: a Frechet distance and
//! k-nearest-neighbour precision and recall between generated and real images in a feature
//! space, how close samples come to training images, and how smoothly interpolations move.
//! The statistics are computed on the host in f64; only the large distance tables (samples
//! against every training image) run on the GPU.

pub mod features;
pub mod vgg16;

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::data::Dataset;
use crate::tensor::Tensor;

/// Rows of a [n, dims] row-major table of features.
fn rows(values: &[f32], dims: usize) -> impl Iterator<Item = &[f32]> {
    values.chunks_exact(dims)
}

/// Mean and unbiased covariance of the rows of `features` [n, dims].
pub fn gaussian_moments(features: &[f32], dims: usize) -> (DVector<f64>, DMatrix<f64>) {
    let n = features.len() / dims;
    let mut mean = DVector::zeros(dims);
    for row in rows(features, dims) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean /= n.max(1) as f64;
    let centred = DMatrix::from_fn(n, dims, |i, j| features[i * dims + j] as f64 - mean[j]);
    let cov = centred.transpose() * &centred / (n.max(2) - 1) as f64;
    (mean, cov)
}

/// The square root of a symmetric positive semi-definite matrix, through its eigenvectors
/// (eigenvalues that rounding pushed below 0 count as 0).
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(m.clone());
    let roots = eigen.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

/// Frechet distance between Gaussians fitted to two sets of features [n, dims] (Dowson and
/// Landau; the FID's formula): |m1 - m2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2).
/// The symmetric form of the cross term keeps every square root that of a symmetric PSD
/// matrix, so one symmetric eigendecomposition per root suffices.
pub fn frechet_distance(a: &[f32], b: &[f32], dims: usize) -> f64 {
    let (m1, c1) = gaussian_moments(a, dims);
    let (m2, c2) = gaussian_moments(b, dims);
    let root1 = psd_sqrt(&c1);
    let middle = &root1 * &c2 * &root1;
    // Symmetrise against rounding before the eigendecomposition.
    let middle = (&middle + middle.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(middle)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    (m1 - m2).norm_squared() + c1.trace() + c2.trace() - 2.0 * cross
}

/// Squared Euclidean distances between every row of `a` [n, dims] and of `b` [m, dims],
/// row-major [n, m], in f64.
pub fn squared_distances(a: &[f32], b: &[f32], dims: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() / dims * (b.len() / dims));
    for x in rows(a, dims) {
        for y in rows(b, dims) {
            out.push(
                x.iter()
                    .zip(y)
                    .map(|(p, q)| (*p as f64 - *q as f64).powi(2))
                    .sum(),
            );
        }
    }
    out
}

/// Squared distance from each row of `set` [n, dims] to its k-th nearest other row.
fn kth_neighbour_radii(set: &[f32], dims: usize, k: usize) -> Vec<f64> {
    let n = set.len() / dims;
    let table = squared_distances(set, set, dims);
    (0..n)
        .map(|i| {
            let mut others: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| table[i * n + j])
                .collect();
            others.sort_by(f64::total_cmp);
            others
                .get(k.saturating_sub(1).min(others.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        })
        .collect()
}

/// Fraction of `probes` inside the manifold of `support`: the union of balls around each
/// support row with the radius of its k-th nearest support neighbour.
fn coverage(probes: &[f32], support: &[f32], dims: usize, k: usize) -> f64 {
    let radii = kth_neighbour_radii(support, dims, k);
    let m = radii.len();
    let table = squared_distances(probes, support, dims);
    let inside = table
        .chunks_exact(m.max(1))
        .filter(|row| row.iter().zip(&radii).any(|(d, r)| d <= r))
        .count();
    inside as f64 / (probes.len() / dims).max(1) as f64
}

/// Improved precision and recall (Kynkaanniemi et al. 2019) of generated features against
/// real ones, each [n, dims]: precision is the fraction of generated rows inside the real
/// manifold, recall the fraction of real rows inside the generated one, each manifold the
/// balls reaching every row's k-th nearest neighbour in its own set.
pub fn precision_recall(real: &[f32], generated: &[f32], dims: usize, k: usize) -> (f64, f64) {
    (
        coverage(generated, real, dims, k),
        coverage(real, generated, dims, k),
    )
}

/// Images compared against the gallery at once (a [QUERY_CHUNK, GALLERY_CHUNK] table).
const QUERY_CHUNK: usize = 256;
/// Gallery images uploaded at once (all of CIFAR-10 would pass the largest binding).
const GALLERY_CHUNK: usize = 4096;

/// For each image of `queries` [n, C, H, W], the index of and Euclidean pixel distance to
/// its nearest image of `gallery` (on the GPU, the gallery a slice at a time); `own`
/// gives, per query, a gallery index to leave out (the query itself, when it is one).
pub fn nearest_in(queries: &Tensor, gallery: &Dataset, own: Option<&[usize]>) -> Vec<(usize, f32)> {
    let n = queries.dims()[0];
    let flat = queries.reshape(&[n, queries.numel() / n.max(1)]);
    let mut best = vec![(0usize, f32::INFINITY); n];
    for g0 in (0..gallery.len()).step_by(GALLERY_CHUNK) {
        let ids: Vec<usize> = (g0..(g0 + GALLERY_CHUNK).min(gallery.len())).collect();
        let slice = gallery.batch(queries.gpu(), &ids);
        let slice = slice.reshape(&[ids.len(), slice.numel() / ids.len()]);
        for q0 in (0..n).step_by(QUERY_CHUNK) {
            let len = (n - q0).min(QUERY_CHUNK);
            let table = flat
                .narrow(0, q0, len)
                .pairwise_sq_distances(&slice)
                .to_vec();
            for (row, dists) in table.chunks_exact(ids.len()).enumerate() {
                let q = q0 + row;
                let skip = own.map(|o| o[q]);
                for (j, &d) in dists.iter().enumerate() {
                    if Some(g0 + j) != skip && d < best[q].1 {
                        best[q] = (g0 + j, d);
                    }
                }
            }
        }
    }
    best.into_iter()
        .map(|(j, d)| (j, d.max(0.0).sqrt()))
        .collect()
}

/// The median of `values` (0 for none).
pub fn median(values: &[f32]) -> f32 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// Memorisation ratios: each sample's distance to its nearest training image over the
/// median distance between a training image and its nearest other training image. Near 0
/// is a copy of a training image; about 1 is as close as training images come to each other.
pub struct Memorisation {
    /// Per sample: (ratio, index of the nearest training image).
    pub nearest: Vec<(f32, usize)>,
    /// The median nearest-neighbour distance between training images.
    pub typical: f32,
}

impl Memorisation {
    /// `samples` [n, C, H, W] against the images of `train`; the typical distance is
    /// measured from the `reference` training images (indices into `train`).
    pub fn measure(samples: &Tensor, train: &Dataset, reference: &[usize]) -> Memorisation {
        let probes = train.batch(samples.gpu(), reference);
        let between: Vec<f32> = nearest_in(&probes, train, Some(reference))
            .iter()
            .map(|(_, d)| *d)
            .collect();
        let typical = median(&between).max(f32::MIN_POSITIVE);
        let nearest = nearest_in(samples, train, None)
            .into_iter()
            .map(|(j, d)| (d / typical, j))
            .collect();
        Memorisation { nearest, typical }
    }

    /// Ratios, in sample order.
    pub fn ratios(&self) -> Vec<f32> {
        self.nearest.iter().map(|(r, _)| *r).collect()
    }

    /// Sample indices from the closest to its training image on.
    pub fn closest_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.nearest.len()).collect();
        order.sort_by(|&a, &b| self.nearest[a].0.total_cmp(&self.nearest[b].0));
        order
    }
}

/// Feature distances between consecutive frames of interpolations: `frames` [pairs x
/// steps, dims], each pair's frames in order. Returns (mean step, largest step).
pub fn path_steps(frames: &[f32], dims: usize, steps: usize) -> (f64, f64) {
    let per_path: Vec<&[f32]> = frames.chunks_exact(dims * steps.max(1)).collect();
    let mut all = Vec::new();
    for path in per_path {
        let f: Vec<&[f32]> = rows(path, dims).collect();
        for w in f.windows(2) {
            all.push(squared_distances(w[0], w[1], dims)[0].sqrt());
        }
    }
    let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
    let largest = all.iter().copied().fold(0.0, f64::max);
    (mean, largest)
}
