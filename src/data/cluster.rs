//! Choosing subsets: PCA on the GPU (randomised SVD, Halko et al. 2011: the big products on
//! the GPU, the small dense algebra on the host in f64) and k-means with k-means++ seeding
//! and Lloyd iterations on the GPU, several restarts.

use std::sync::Arc;

use crate::gpu::Gpu;
use crate::ops::{HostRng, Rng};
use crate::tensor::Tensor;

pub struct Pca {
    /// [D] mean of the data.
    pub mean: Tensor,
    /// [k, D] principal directions, largest variance first, unit length.
    pub components: Tensor,
    /// Variance along each component (eigenvalues of the covariance, divided by N - 1).
    pub explained_variance: Vec<f64>,
    /// Total variance of the data (trace of the covariance).
    pub total_variance: f64,
}

impl Pca {
    /// [N, D] -> [N, k] coordinates along the components.
    pub fn project(&self, x: &Tensor) -> Tensor {
        let d = self.mean.numel();
        x.sub(&self.mean.reshape(&[1, d]))
            .matmul_t(&self.components, false, true)
    }
}

/// Orthonormalises the columns of an [n, p] row-major matrix in place (modified
/// Gram-Schmidt, twice for stability); returns the columns kept (dependent ones are zeroed).
fn orthonormalise_columns(m: &mut [f64], n: usize, p: usize) {
    for _ in 0..2 {
        for j in 0..p {
            for k in 0..j {
                let dot: f64 = (0..n).map(|i| m[i * p + j] * m[i * p + k]).sum();
                for i in 0..n {
                    m[i * p + j] -= dot * m[i * p + k];
                }
            }
            let norm = (0..n)
                .map(|i| m[i * p + j] * m[i * p + j])
                .sum::<f64>()
                .sqrt();
            for i in 0..n {
                m[i * p + j] = if norm > 1e-12 {
                    m[i * p + j] / norm
                } else {
                    0.0
                };
            }
        }
    }
}

/// Eigen-decomposition of a symmetric p x p matrix by cyclic Jacobi rotations: (values,
/// vectors as rows), sorted by decreasing value.
pub fn symmetric_eigen(a: &[f64], p: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; p * p];
    for i in 0..p {
        v[i * p + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| a[i * p + j].powi(2))
            .sum();
        if off < 1e-22 * (1.0 + (0..p).map(|i| a[i * p + i].powi(2)).sum::<f64>()) {
            break;
        }
        for q in 1..p {
            for r in 0..q {
                let apq = a[r * p + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * p + q] - a[r * p + r]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..p {
                    let (akr, akq) = (a[k * p + r], a[k * p + q]);
                    a[k * p + r] = c * akr - s * akq;
                    a[k * p + q] = s * akr + c * akq;
                }
                for k in 0..p {
                    let (ark, aqk) = (a[r * p + k], a[q * p + k]);
                    a[r * p + k] = c * ark - s * aqk;
                    a[q * p + k] = s * ark + c * aqk;
                }
                for k in 0..p {
                    let (vkr, vkq) = (v[k * p + r], v[k * p + q]);
                    v[k * p + r] = c * vkr - s * vkq;
                    v[k * p + q] = s * vkr + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&i, &j| a[j * p + j].total_cmp(&a[i * p + i]));
    let values = order.iter().map(|&i| a[i * p + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..p).map(|k| v[k * p + i]).collect())
        .collect();
    (values, vectors)
}

/// The top `k` principal components of the rows of x [N, D].
pub fn pca(x: &Tensor, k: usize, seed: u64) -> Pca {
    let [n, d] = *x.dims() else {
        panic!("pca expects [N, D], got {}", x.shape())
    };
    assert!(
        k >= 1 && k <= d.min(n),
        "pca: {k} components of {n} points in {d} dimensions"
    );
    let gpu = x.gpu().clone();
    let mean = x.mean_axes(&[0]);
    let centred = x.sub(&mean.reshape(&[1, d]));
    let total_variance = f64::from(centred.square().sum().item()) / (n.max(2) - 1) as f64;
    // Oversampling and power iterations as Halko et al. recommend for slowly decaying spectra.
    let p = (k + 10).min(d).min(n);
    let mut rng = Rng::new(seed);
    let mut y = centred.matmul(&rng.normal(&gpu, &[d, p], 0.0, 1.0));
    let orthonormal = |t: &Tensor| -> Tensor {
        let mut host: Vec<f64> = t.to_vec().into_iter().map(f64::from).collect();
        orthonormalise_columns(&mut host, n, p);
        let f: Vec<f32> = host.iter().map(|&v| v as f32).collect();
        Tensor::from_slice(&gpu, &f, &[n, p])
    };
    for _ in 0..4 {
        let q = orthonormal(&y);
        y = centred.matmul(&centred.matmul_t(&q, true, false));
    }
    let q = orthonormal(&y);
    // B = Q^T X [p, D]; its right singular vectors are the principal directions.
    let b: Vec<f64> = q
        .matmul_t(&centred, true, false)
        .to_vec()
        .into_iter()
        .map(f64::from)
        .collect();
    let mut bbt = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let dot: f64 = (0..d).map(|c| b[i * d + c] * b[j * d + c]).sum();
            bbt[i * p + j] = dot;
            bbt[j * p + i] = dot;
        }
    }
    let (values, vectors) = symmetric_eigen(&bbt, p);
    let mut components = Vec::with_capacity(k * d);
    let mut explained = Vec::with_capacity(k);
    for (value, u) in values.iter().zip(&vectors).take(k) {
        let sigma = value.max(0.0).sqrt();
        explained.push(value.max(0.0) / (n.max(2) - 1) as f64);
        // v = B^T u / sigma
        for c in 0..d {
            let s: f64 = (0..p).map(|i| b[i * d + c] * u[i]).sum();
            components.push((if sigma > 0.0 { s / sigma } else { 0.0 }) as f32);
        }
    }
    Pca {
        mean,
        components: Tensor::from_slice(&gpu, &components, &[k, d]),
        explained_variance: explained,
        total_variance,
    }
}

pub struct KMeans {
    /// [k, D] cluster centres.
    pub centroids: Tensor,
    pub assignments: Vec<usize>,
    /// Sum of squared distances of the points to their centres.
    pub inertia: f64,
}

impl KMeans {
    /// For each cluster, the indices of its `count` points nearest the centre, nearest first.
    pub fn nearest(&self, x: &Tensor, count: usize) -> Vec<Vec<usize>> {
        let k = self.centroids.dims()[0];
        let dist = x.pairwise_sq_distances(&self.centroids).to_vec();
        let mut members: Vec<Vec<(f32, usize)>> = vec![Vec::new(); k];
        for (i, &c) in self.assignments.iter().enumerate() {
            members[c].push((dist[i * k + c], i));
        }
        members
            .into_iter()
            .map(|mut m| {
                m.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                m.into_iter().take(count).map(|(_, i)| i).collect()
            })
            .collect()
    }
}

/// One k-means run from k-means++ seeds (Arthur and Vassilvitskii 2007).
fn kmeans_once(x: &Tensor, k: usize, iterations: usize, rng: &mut HostRng) -> KMeans {
    let gpu = x.gpu().clone();
    let [n, d] = *x.dims() else { unreachable!() };
    let points = x.to_vec();
    let row = |i: usize| &points[i * d..(i + 1) * d];
    let mut centres: Vec<f32> = row(rng.below(n)).to_vec();
    let mut closest = vec![f64::INFINITY; n];
    for c in 1..k {
        let last = Tensor::from_slice(&gpu, &centres[(c - 1) * d..c * d], &[1, d]);
        for (best, dist) in closest
            .iter_mut()
            .zip(x.pairwise_sq_distances(&last).to_vec())
        {
            *best = best.min(f64::from(dist));
        }
        let total: f64 = closest.iter().sum();
        let pick = if total > 0.0 {
            let mut target = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            closest
                .iter()
                .position(|&w| {
                    target -= w;
                    target < 0.0
                })
                .unwrap_or(n - 1)
        } else {
            rng.below(n)
        };
        centres.extend_from_slice(row(pick));
    }
    let mut assignments = vec![usize::MAX; n];
    let mut inertia = 0.0;
    for _ in 0..iterations.max(1) {
        let c = Tensor::from_slice(&gpu, &centres, &[k, d]);
        let dist = x.pairwise_sq_distances(&c);
        let labels: Vec<usize> = dist
            .argmin_rows()
            .to_vec()
            .into_iter()
            .map(|v| v as usize)
            .collect();
        inertia = f64::from(dist.min_axes(&[1]).sum().item());
        let changed = labels != assignments;
        assignments = labels;
        if !changed {
            break;
        }
        // New centres: the mean of each cluster's points, as (one-hot)^T X on the GPU.
        let mut one_hot = vec![0f32; n * k];
        let mut counts = vec![0usize; k];
        for (i, &a) in assignments.iter().enumerate() {
            one_hot[i * k + a] = 1.0;
            counts[a] += 1;
        }
        let sums = Tensor::from_slice(&gpu, &one_hot, &[n, k])
            .matmul_t(x, true, false)
            .to_vec();
        let dist_host = dist.to_vec();
        for j in 0..k {
            if counts[j] > 0 {
                for t in 0..d {
                    centres[j * d + t] = sums[j * d + t] / counts[j] as f32;
                }
            } else {
                // An empty cluster restarts at the point farthest from its own centre.
                let far = (0..n)
                    .max_by(|&a, &b| {
                        dist_host[a * k + assignments[a]]
                            .total_cmp(&dist_host[b * k + assignments[b]])
                    })
                    .unwrap_or(0);
                centres[j * d..(j + 1) * d].copy_from_slice(row(far));
            }
        }
    }
    KMeans {
        centroids: Tensor::from_slice(&gpu, &centres, &[k, d]),
        assignments,
        inertia,
    }
}

/// k-means of the rows of x [N, D]: `restarts` runs from different k-means++ seeds, the one
/// with the lowest inertia kept.
pub fn kmeans(x: &Tensor, k: usize, restarts: usize, iterations: usize, seed: u64) -> KMeans {
    let n = x.dims()[0];
    assert!(k >= 1 && k <= n, "k-means with {k} clusters of {n} points");
    (0..restarts.max(1))
        .map(|r| kmeans_once(x, k, iterations, &mut HostRng::new(seed, r as u64)))
        .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
        .expect("at least one restart")
}

/// Rows of u8 images as f32 features [N, C*H*W] in [0, 1] (greyscale first when asked).
pub fn pixel_features(gpu: &Arc<Gpu>, set: &super::Dataset) -> Tensor {
    let values: Vec<f32> = set.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    Tensor::from_slice(gpu, &values, &[set.len(), set.image_bytes()])
}

/// Seed 004's split of a training set into subsets that each cover the images: `subsets - 1`
/// rounds of PCA (to `dims` values) and k-means (k = `clusters`) over the images not chosen
/// yet, each round taking the `per_cluster` images nearest each centre; the images left
/// form the last subset. Returns the subset of each row of `features` [N, D].
pub fn staged_split(
    features: &Tensor,
    subsets: usize,
    clusters: usize,
    per_cluster: usize,
    dims: usize,
    seed: u64,
) -> Vec<usize> {
    let [n, d] = *features.dims() else {
        panic!("staged_split expects [N, D], got {}", features.shape())
    };
    let last = subsets.max(1) - 1;
    let mut subset_of = vec![last; n];
    let mut left: Vec<usize> = (0..n).collect();
    for round in 0..last {
        if left.len() <= clusters {
            break;
        }
        let rows = features.gather_rows(&left);
        let p = pca(&rows, dims.min(d).min(left.len()), seed + round as u64);
        let projected = p.project(&rows);
        let fit = kmeans(&projected, clusters, 2, 20, seed + round as u64);
        for members in fit.nearest(&projected, per_cluster) {
            for i in members {
                subset_of[left[i]] = round;
            }
        }
        left.retain(|&i| subset_of[i] == last);
    }
    subset_of
}

/// Images the pixel PCA is fitted on, and projected at once (10,000 CIFAR images stay under
/// the 128 MiB a kernel can bind on most adapters).
const PCA_ROWS: usize = 10_000;

/// The images' pixels (downsampled to 32 x 32 first when larger) projected onto their top
/// `dims` principal components, [N, dims]: the PCA fitted on the first 10,000 images, the
/// projection a slice at a time, so any number of images fits the adapter's bindings.
pub fn pixel_pca_features(gpu: &Arc<Gpu>, set: &super::Dataset, dims: usize, seed: u64) -> Tensor {
    let small = if set.height > 32 {
        set.resized(32, 32)
    } else {
        set.clone()
    };
    let fit_rows = small.len().min(PCA_ROWS);
    let fit_set = small.select(&(0..fit_rows).collect::<Vec<_>>());
    let features = pixel_features(gpu, &fit_set);
    let dims = dims.min(features.dims()[1]).min(fit_rows);
    let p = pca(&features, dims, seed);
    let mut out = Vec::with_capacity(small.len() * dims);
    for start in (0..small.len()).step_by(fit_rows) {
        let rows: Vec<usize> = (start..(start + fit_rows).min(small.len())).collect();
        out.extend(
            p.project(&pixel_features(gpu, &small.select(&rows)))
                .to_vec(),
        );
    }
    Tensor::from_slice(gpu, &out, &[small.len(), dims])
}
