//! VAE and latent-space pieces: reparameterised sampling, KL, sphere projection, cosine
//! similarity, pairwise distances, argmin, feature distances.

use kernels_tests::{Inputs, OpCheck, assert_close, gpu, numeric_backward};
use pegasus::nn::{Activation, Linear, Module, Sequential, loss};
use pegasus::{Rng, Tensor};

#[test]
fn reparameterised_samples_and_their_gradients() {
    let gpu = gpu();
    let mut inputs = Inputs::new(1);
    let (mu, mh) = inputs.tensor(&[3, 5], -1.0, 1.0);
    let (logvar, lh) = inputs.tensor(&[3, 5], -2.0, 1.0);
    let (mu, logvar) = (mu.track(), logvar.track());
    let z = mu.reparameterize(&logvar, &mut Rng::new(7));
    let eps = Rng::new(7).normal(&gpu, &[3, 5], 0.0, 1.0).to_vec();
    let want: Vec<f64> = (0..15)
        .map(|i| f64::from(mh[i]) + (0.5 * f64::from(lh[i])).exp() * f64::from(eps[i]))
        .collect();
    assert_close("z", &z.to_vec(), &want, 1e-6, 1e-5);
    let grads = z.sum().backward();
    assert_close(
        "dz/dmu",
        &grads.get(&mu).unwrap().to_vec(),
        &[1.0; 15],
        1e-6,
        0.0,
    );
    let dlogvar: Vec<f64> = (0..15)
        .map(|i| 0.5 * (0.5 * f64::from(lh[i])).exp() * f64::from(eps[i]))
        .collect();
    assert_close(
        "dz/dlogvar",
        &grads.get(&logvar).unwrap().to_vec(),
        &dlogvar,
        1e-6,
        1e-5,
    );
}

#[test]
fn kl_divergence_of_a_diagonal_gaussian() {
    let beta = 0.5;
    let forward = |v: &[Vec<f64>]| {
        let s: f64 = v[0]
            .iter()
            .zip(&v[1])
            .map(|(m, lv)| 1.0 + lv - m * m - lv.exp())
            .sum();
        vec![-0.5 * s / 4.0 * beta]
    };
    OpCheck {
        name: "kl".into(),
        inputs: vec![(vec![4, 6], -1.0, 1.0), (vec![4, 6], -2.0, 1.0)],
        gpu: &|t| loss::kl_divergence(&t[0], &t[1], beta as f32),
        forward: &forward,
        backward: &|v, up| {
            let k = -0.5 / 4.0 * beta * up[0];
            vec![
                v[0].iter().map(|m| k * -2.0 * m).collect(),
                v[1].iter().map(|lv| k * (1.0 - lv.exp())).collect(),
            ]
        },
        forward_tol: (1e-6, 1e-5),
        grad_tol: (1e-6, 1e-5),
        seed: 2,
    }
    .run();
}

#[test]
fn projection_onto_the_unit_sphere() {
    let (n, d) = (4, 7);
    OpCheck {
        name: "sphere".into(),
        inputs: vec![(vec![n, d], -1.0, 1.0)],
        gpu: &|t| t[0].project_to_sphere(1e-8),
        forward: &|v| {
            v[0].chunks(d)
                .flat_map(|row| {
                    let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
                    row.iter().map(move |x| x / norm).collect::<Vec<_>>()
                })
                .collect()
        },
        // d(z / |z|) = (g - zhat (zhat . g)) / |z|
        backward: &|v, up| {
            let mut out = Vec::new();
            for (row, g) in v[0].chunks(d).zip(up.chunks(d)) {
                let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
                let dot: f64 = row.iter().zip(g).map(|(x, gi)| x / norm * gi).sum();
                out.extend(
                    row.iter()
                        .zip(g)
                        .map(|(x, gi)| (gi - x / norm * dot) / norm),
                );
            }
            vec![out]
        },
        forward_tol: (1e-6, 1e-5),
        grad_tol: (1e-5, 1e-5),
        seed: 3,
    }
    .run();
    let z = Rng::new(1)
        .normal(&gpu(), &[64, 100], 0.0, 1.0)
        .project_to_sphere(1e-8);
    let norms = z.square().sum_axes(&[1]).sqrt().to_vec();
    assert_close("norms", &norms, &[1.0; 64], 1e-6, 0.0);
}

#[test]
fn cosine_similarity_and_pairwise_distances() {
    let d = 5;
    OpCheck {
        name: "cosine".into(),
        inputs: vec![(vec![3, d], -1.0, 1.0), (vec![3, d], -1.0, 1.0)],
        gpu: &|t| t[0].cosine_similarity(&t[1], 1e-8),
        forward: &|v| {
            v[0].chunks(d)
                .zip(v[1].chunks(d))
                .map(|(a, b)| {
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                    dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
                        * b.iter().map(|x| x * x).sum::<f64>().sqrt())
                })
                .collect()
        },
        backward: &|v, up| {
            numeric_backward(
                &|w| {
                    w[0].chunks(d)
                        .zip(w[1].chunks(d))
                        .map(|(a, b)| {
                            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                            dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
                                * b.iter().map(|x| x * x).sum::<f64>().sqrt())
                        })
                        .collect()
                },
                v,
                up,
            )
        },
        forward_tol: (1e-6, 1e-5),
        grad_tol: (1e-5, 1e-4),
        seed: 4,
    }
    .run();
    OpCheck {
        name: "pairwise".into(),
        inputs: vec![(vec![4, d], -1.0, 1.0), (vec![6, d], -1.0, 1.0)],
        gpu: &|t| t[0].pairwise_sq_distances(&t[1]),
        forward: &|v| {
            let mut out = Vec::new();
            for a in v[0].chunks(d) {
                for b in v[1].chunks(d) {
                    out.push(a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum());
                }
            }
            out
        },
        backward: &|v, up| {
            let (mut ga, mut gb) = (vec![0.0; 4 * d], vec![0.0; 6 * d]);
            for i in 0..4 {
                for j in 0..6 {
                    for k in 0..d {
                        let diff = v[0][i * d + k] - v[1][j * d + k];
                        ga[i * d + k] += 2.0 * diff * up[i * 6 + j];
                        gb[j * d + k] -= 2.0 * diff * up[i * 6 + j];
                    }
                }
            }
            vec![ga, gb]
        },
        forward_tol: (1e-5, 1e-5),
        grad_tol: (1e-5, 1e-5),
        seed: 5,
    }
    .run();
}

#[test]
fn argmin_of_each_row_takes_the_first_of_ties() {
    let gpu = gpu();
    let x = Tensor::from_slice(
        &gpu,
        &[3.0, 1.0, 2.0, 1.0, -5.0, 0.0, 0.0, -5.0, 7.0],
        &[3, 3],
    );
    assert_eq!(x.argmin_rows().to_vec(), vec![1.0, 1.0, 1.0]);
    let mut inputs = Inputs::new(6);
    let (big, h) = inputs.tensor(&[5, 1000], -1.0, 1.0);
    let want: Vec<f32> = h
        .chunks(1000)
        .map(|row| {
            row.iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0 as f32
        })
        .collect();
    assert_eq!(big.argmin_rows().to_vec(), want);
}

#[test]
fn feature_distances_between_intermediate_activations() {
    let gpu = gpu();
    let mut rng = Rng::new(8);
    let mut net = Sequential::default();
    net.push(Linear::new(&gpu, &mut rng, 4, 6, true))
        .push(Activation::Relu)
        .push(Linear::new(&gpu, &mut rng, 6, 3, true));
    let a = rng.normal(&gpu, &[5, 4], 0.0, 1.0);
    let b = rng.normal(&gpu, &[5, 4], 0.0, 1.0);
    let fa = net.forward_features(&a, &[1, 2]);
    let fb = net.forward_features(&b, &[1, 2]);
    assert_eq!(fa.len(), 2);
    assert_eq!(
        fa[1].to_vec(),
        net.forward(&a).to_vec(),
        "the last tap is the output"
    );
    let (l1, l2) = (
        loss::feature_distance(&fa, &fb, false).item(),
        loss::feature_distance(&fa, &fb, true).item(),
    );
    let mean = |x: &Tensor, y: &Tensor, sq: bool| -> f64 {
        let (u, v) = (x.to_vec(), y.to_vec());
        u.iter()
            .zip(&v)
            .map(|(p, q)| {
                let d = f64::from(p - q);
                if sq { d * d } else { d.abs() }
            })
            .sum::<f64>()
            / u.len() as f64
    };
    assert!(
        (f64::from(l1) - (mean(&fa[0], &fb[0], false) + mean(&fa[1], &fb[1], false))).abs() < 1e-5
    );
    assert!(
        (f64::from(l2) - (mean(&fa[0], &fb[0], true) + mean(&fa[1], &fb[1], true))).abs() < 1e-5
    );
}
