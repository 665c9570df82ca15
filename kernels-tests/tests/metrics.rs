//! The yardsticks of `pegasus eval` against answers known from their definitions: the
//! Frechet distance against an f64 reference that takes the matrix square root another way
//! (Denman-Beavers iteration on C1 C2), precision and recall on sets built by hand, the
//! memorisation ratio on an exact copy; and the classifier's cross-entropy.

use kernels_tests::{Inputs, OpCheck, assert_close, gpu};
use pegasus::Tensor;
use pegasus::data::Dataset;
use pegasus::eval::{Memorisation, frechet_distance, nearest_in, precision_recall};
use pegasus::nn::loss;

/// A square matrix in f64, row-major.
#[derive(Clone)]
struct Matrix {
    n: usize,
    v: Vec<f64>,
}

impl Matrix {
    fn identity(n: usize) -> Matrix {
        let mut v = vec![0.0; n * n];
        (0..n).for_each(|i| v[i * n + i] = 1.0);
        Matrix { n, v }
    }

    fn mul(&self, o: &Matrix) -> Matrix {
        let n = self.n;
        let mut v = vec![0.0; n * n];
        for i in 0..n {
            for k in 0..n {
                for j in 0..n {
                    v[i * n + j] += self.v[i * n + k] * o.v[k * n + j];
                }
            }
        }
        Matrix { n, v }
    }

    fn mean_with(&self, o: &Matrix) -> Matrix {
        Matrix {
            n: self.n,
            v: self
                .v
                .iter()
                .zip(&o.v)
                .map(|(a, b)| 0.5 * (a + b))
                .collect(),
        }
    }

    /// Gauss-Jordan elimination with partial pivoting.
    fn inverse(&self) -> Matrix {
        let n = self.n;
        let mut a = self.v.clone();
        let mut inv = Matrix::identity(n).v;
        for col in 0..n {
            let pivot = (col..n)
                .max_by(|&x, &y| a[x * n + col].abs().total_cmp(&a[y * n + col].abs()))
                .unwrap();
            for j in 0..n {
                a.swap(col * n + j, pivot * n + j);
                inv.swap(col * n + j, pivot * n + j);
            }
            let p = a[col * n + col];
            for j in 0..n {
                a[col * n + j] /= p;
                inv[col * n + j] /= p;
            }
            for r in (0..n).filter(|&r| r != col) {
                let f = a[r * n + col];
                for j in 0..n {
                    a[r * n + j] -= f * a[col * n + j];
                    inv[r * n + j] -= f * inv[col * n + j];
                }
            }
        }
        Matrix { n, v: inv }
    }

    fn trace(&self) -> f64 {
        (0..self.n).map(|i| self.v[i * self.n + i]).sum()
    }

    /// The principal square root by Denman-Beavers: Y -> (Y + Z^-1)/2, Z -> (Z + Y^-1)/2
    /// from Y = A, Z = I converges to A^1/2 for A with positive real eigenvalues (as C1 C2).
    fn sqrt(&self) -> Matrix {
        let (mut y, mut z) = (self.clone(), Matrix::identity(self.n));
        for _ in 0..60 {
            let (yi, zi) = (y.inverse(), z.inverse());
            (y, z) = (y.mean_with(&zi), z.mean_with(&yi));
        }
        y
    }
}

/// Mean and unbiased covariance from the definitions.
fn moments(x: &[f32], d: usize) -> (Vec<f64>, Matrix) {
    let n = x.len() / d;
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x[i * d + j] as f64).sum::<f64>() / n as f64)
        .collect();
    let mut cov = Matrix {
        n: d,
        v: vec![0.0; d * d],
    };
    for i in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov.v[a * d + b] += (x[i * d + a] as f64 - mean[a])
                    * (x[i * d + b] as f64 - mean[b])
                    / (n - 1) as f64;
            }
        }
    }
    (mean, cov)
}

/// |m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^1/2), the FID's formula as written.
fn frechet_reference(a: &[f32], b: &[f32], d: usize) -> f64 {
    let (m1, c1) = moments(a, d);
    let (m2, c2) = moments(b, d);
    let shift: f64 = m1.iter().zip(&m2).map(|(x, y)| (x - y).powi(2)).sum();
    shift + c1.trace() + c2.trace() - 2.0 * c1.mul(&c2).sqrt().trace()
}

/// n draws of N(mean, diag(scale^2)) in d dimensions (Box-Muller on the test stream).
fn gaussian(inputs: &mut Inputs, n: usize, d: usize, mean: &[f64], scale: &[f64]) -> Vec<f32> {
    (0..n * d)
        .map(|i| {
            let u1 = inputs.uniform(1e-12, 1.0);
            let u2 = inputs.uniform(0.0, 1.0);
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (mean[i % d] + scale[i % d] * z) as f32
        })
        .collect()
}

#[test]
fn frechet_distance_matches_the_definition_on_random_gaussians() {
    let mut inputs = Inputs::new(41);
    let d = 5;
    let a = gaussian(&mut inputs, 400, d, &[0.0; 5], &[1.0, 0.5, 2.0, 1.0, 0.3]);
    let b = gaussian(
        &mut inputs,
        300,
        d,
        &[0.5, -1.0, 0.0, 0.2, 0.0],
        &[1.5, 0.5, 1.0, 0.7, 0.3],
    );
    let got = frechet_distance(&a, &b, d);
    let want = frechet_reference(&a, &b, d);
    assert!(
        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
        "Frechet distance {got}, the definition gives {want}"
    );
    // And both near the population value: |m|^2 + sum (s1 - s2)^2 for diagonal covariances.
    let population = 0.25 + 1.0 + 0.04 + 0.25 + 0.0 + 1.0 + 0.09;
    assert!(
        (got - population).abs() < 0.2 * population,
        "Frechet distance {got} is far from the population's {population}"
    );
}

#[test]
fn frechet_distance_is_zero_for_equal_sets_and_the_squared_shift_for_shifted_ones() {
    let mut inputs = Inputs::new(42);
    let d = 6;
    let a = gaussian(
        &mut inputs,
        200,
        d,
        &[0.0; 6],
        &[1.0, 2.0, 0.5, 1.0, 1.0, 3.0],
    );
    let same = frechet_distance(&a, &a, d);
    assert!(same.abs() < 1e-6, "FD of a set with itself is {same}");
    let shift = [1.0f32, -2.0, 0.5, 0.0, 3.0, -0.25];
    let b: Vec<f32> = a
        .iter()
        .enumerate()
        .map(|(i, x)| x + shift[i % d])
        .collect();
    let squared: f64 = shift.iter().map(|s| (*s as f64).powi(2)).sum();
    let got = frechet_distance(&a, &b, d);
    assert!(
        (got - squared).abs() < 1e-4 * squared,
        "FD of a shifted copy is {got}, expected the squared shift {squared}"
    );
}

#[test]
fn precision_and_recall_on_sets_with_known_answers() {
    // Real points 0, 1, ..., 19 on a line: with k = 3 each ball has radius 3.
    let real: Vec<f32> = (0..20).flat_map(|i| [i as f32, 0.0]).collect();
    // Generated: copies of the real points 0..9 (inside) and ten points far away (outside).
    let generated: Vec<f32> = (0..10)
        .flat_map(|i| [i as f32, 0.0])
        .chain((0..10).flat_map(|i| [1000.0 + i as f32, 0.0]))
        .collect();
    let (precision, recall) = precision_recall(&real, &generated, 2, 3);
    assert!(
        (precision - 0.5).abs() < 1e-12,
        "precision {precision}, expected 0.5"
    );
    // The generated balls (radius 3 around 0..9) reach the real points 0..12: 13 of 20.
    assert!(
        (recall - 0.65).abs() < 1e-12,
        "recall {recall}, expected 0.65"
    );
    let (p, r) = precision_recall(&real, &real, 2, 3);
    assert_eq!((p, r), (1.0, 1.0), "a set against itself");
}

fn random_images(inputs: &mut Inputs, n: usize, side: usize) -> Dataset {
    Dataset {
        name: "noise".into(),
        channels: 1,
        height: side,
        width: side,
        pixels: (0..n * side * side)
            .map(|_| inputs.uniform(0.0, 256.0) as u8)
            .collect(),
        labels: None,
        class_names: Vec::new(),
    }
}

#[test]
fn nearest_training_images_match_brute_force_across_gallery_slices() {
    let gpu = gpu();
    let mut inputs = Inputs::new(43);
    // More images than one gallery slice, so the merge across slices is exercised.
    let train = random_images(&mut inputs, 4500, 3);
    let (queries, host) = inputs.tensor(&[37, 1, 3, 3], -1.0, 1.0);
    let got = nearest_in(&queries, &train, None);
    let all: Vec<usize> = (0..train.len()).collect();
    let gallery = train.batch(&gpu, &all).to_vec();
    for (q, (index, distance)) in got.iter().enumerate() {
        let dist = |j: usize| -> f64 {
            (0..9)
                .map(|k| (host[q * 9 + k] as f64 - gallery[j * 9 + k] as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let best = (0..train.len()).map(dist).fold(f64::INFINITY, f64::min);
        assert!(
            (*distance as f64 - best).abs() < 1e-3 && (dist(*index) - best).abs() < 1e-3,
            "query {q}: nearest {index} at {distance}, brute force {best}"
        );
    }
}

#[test]
fn memorisation_ratio_flags_an_exact_copy_of_a_training_image() {
    let gpu = gpu();
    let mut inputs = Inputs::new(44);
    let train = random_images(&mut inputs, 300, 8);
    let copy = train.batch(&gpu, &[123]);
    let (fresh, _) = inputs.tensor(&[3, 1, 8, 8], -1.0, 1.0);
    let samples = Tensor::concat(&[&fresh, &copy], 0);
    let reference: Vec<usize> = (0..300).step_by(3).collect();
    let m = Memorisation::measure(&samples, &train, &reference);
    let ratios = m.ratios();
    assert_eq!(m.nearest[3].1, 123, "the copy's nearest training image");
    assert!(ratios[3] < 0.02, "an exact copy has ratio {}", ratios[3]);
    for (i, r) in ratios[..3].iter().enumerate() {
        assert!(
            *r > 0.5,
            "fresh noise image {i} has ratio {r}, as if copied"
        );
    }
    assert_eq!(m.closest_first()[0], 3, "the copy is shown first");
}

#[test]
fn cross_entropy_matches_softmax_reference_and_its_gradient() {
    let (rows, classes) = (5, 7);
    let labels = [3usize, 0, 6, 6, 2];
    let mut one_hot = vec![0.0f32; rows * classes];
    for (r, &l) in labels.iter().enumerate() {
        one_hot[r * classes + l] = 1.0;
    }
    let targets = Tensor::from_slice(&gpu(), &one_hot, &[rows, classes]);
    let softmax = |x: &[f64], r: usize| -> Vec<f64> {
        let row = &x[r * classes..(r + 1) * classes];
        let peak = row.iter().copied().fold(f64::MIN, f64::max);
        let e: Vec<f64> = row.iter().map(|v| (v - peak).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    };
    OpCheck {
        name: "cross_entropy".into(),
        inputs: vec![(vec![rows, classes], -20.0, 20.0)],
        gpu: &|t| loss::cross_entropy(&t[0], &targets),
        forward: &|x| {
            let total: f64 = (0..rows).map(|r| -softmax(&x[0], r)[labels[r]].ln()).sum();
            vec![total / rows as f64]
        },
        backward: &|x, up| {
            let mut g = vec![0.0; rows * classes];
            for r in 0..rows {
                for (k, p) in softmax(&x[0], r).iter().enumerate() {
                    let t = if k == labels[r] { 1.0 } else { 0.0 };
                    g[r * classes + k] = up[0] * (p - t) / rows as f64;
                }
            }
            vec![g]
        },
        forward_tol: (1e-4, 1e-4),
        grad_tol: (1e-6, 1e-4),
        seed: 45,
    }
    .run();
}

#[test]
fn accuracy_counts_rows_whose_largest_logit_is_the_label() {
    let logits = [0.1f32, 2.0, -1.0, 5.0, 0.0, 0.0, -3.0, -2.0, -2.5];
    let targets = [0.0f32, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    let g = gpu();
    let got = loss::accuracy(
        &Tensor::from_slice(&g, &logits, &[3, 3]),
        &Tensor::from_slice(&g, &targets, &[3, 3]),
    );
    // Row 0 right (2.0 at the label), row 1 wrong (5.0 elsewhere), row 2 wrong (-2.0 wins).
    assert_close("accuracy", &got.to_vec(), &[1.0 / 3.0], 1e-6, 0.0);
}
