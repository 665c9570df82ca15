//! GLO end to end on a slice of the embedded digits: the loss falls, latents stay on the
//! sphere, a resumed run continues bit for bit; and the latent-space helpers.

use kernels_tests::{gpu, temp_dir};
use pegasus::data::Dataset;
use pegasus::latent::{GaussianFit, Path, between, interpolate, on_sphere, swap_blocks};
use pegasus::models::features::open_features_run;
use pegasus::models::generator::GeneratorConfig;
use pegasus::models::glo::{Continuity, Glo, GloConfig, LatentInit, Reconstruction, Stages};
use pegasus::nn::Module;
use pegasus::train::{Model, load_checkpoint, save_checkpoint};
use pegasus::{Rng, Tensor};

fn digits(n: usize) -> Dataset {
    let all = Dataset::embedded().unwrap();
    // Every 40th image: all ten digits in a small set.
    all.select(&(0..n).map(|i| i * 40).collect::<Vec<_>>())
}

fn config(images: usize) -> GloConfig {
    GloConfig {
        generator: GeneratorConfig {
            image_size: 28,
            channels: 1,
            nz: 16,
            ngf: 8,
        },
        images,
        batch: 32,
        lr_generator: 2e-3,
        lr_latent: 3e-2,
        loss: Reconstruction::Laplacian,
        levels: 3,
        lap_weights: None,
        init: LatentInit::Pca,
        seed: 11,
        continuity: None,
        perceptual_features: None,
        stages: None,
    }
}

fn norms(t: &Tensor) -> Vec<f32> {
    t.square().sum_axes(&[1]).sqrt().to_vec()
}

#[test]
fn a_tiny_glo_learns_and_keeps_its_latents_on_the_sphere() {
    let gpu = gpu();
    let set = digits(128);
    let mut glo = Glo::new(&gpu, &set, config(set.len())).unwrap();
    assert!(
        norms(&glo.latents).iter().all(|n| (n - 1.0).abs() < 1e-5),
        "PCA latents start on the sphere"
    );
    let mut losses = Vec::new();
    for _ in 0..60 {
        losses.push(glo.train_step(&set).item());
    }
    let first: f32 = losses[..4].iter().sum::<f32>() / 4.0;
    let last: f32 = losses[56..].iter().sum::<f32>() / 4.0;
    // 60 steps (15 epochs of 4 batches) take the Laplacian loss well under half its start.
    assert!(last < 0.5 * first, "Laplacian loss {first} -> {last}");
    assert!(
        norms(&glo.latents).iter().all(|n| (n - 1.0).abs() < 1e-5),
        "every latent is back on the sphere"
    );
    assert!(glo.reconstruction_psnr(&set, 64) > 12.0);
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let gpu = gpu();
    let set = digits(96);
    let dir = temp_dir("glo-resume");
    let path = dir.join("checkpoint.safetensors");
    let mut straight = Glo::new(&gpu, &set, config(set.len())).unwrap();
    for _ in 0..8 {
        straight.train_step(&set);
    }
    save_checkpoint(&mut straight, "glo", &path).unwrap();
    for _ in 0..8 {
        straight.train_step(&set);
    }
    let mut resumed: Glo = load_checkpoint(&gpu, &config(set.len()), &path).unwrap();
    assert_eq!(resumed.step, 8);
    for _ in 0..8 {
        resumed.train_step(&set);
    }
    let bits = |t: &Tensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&straight.latents), bits(&resumed.latents), "latents");
    for ((name, a), (_, b)) in straight.state().iter().zip(resumed.state().iter()) {
        assert_eq!(bits(a), bits(b), "{name}");
    }
}

#[test]
fn interpolation_paths_and_block_swaps() {
    let a = on_sphere(&[1.0, 0.0, 0.0, 0.0]);
    let b = on_sphere(&[0.0, 1.0, 0.0, 0.0]);
    let path = interpolate(&a, &b, 5, Path::Spherical);
    assert_eq!(path.len(), 5);
    assert_eq!(path[0], a);
    assert!(path[4].iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
    for z in &path {
        let n: f32 = z.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "slerp stays on the sphere");
    }
    let mid = between(&a, &b, 0.5, Path::Spherical);
    assert!((mid[0] - mid[1]).abs() < 1e-6 && (mid[0] - 0.5f32.sqrt()).abs() < 1e-6);
    let mix = between(&a, &b, 0.35, Path::Linear);
    assert!((mix[0] - 0.65).abs() < 1e-6 && (mix[1] - 0.35).abs() < 1e-6);
    let swaps = swap_blocks(&[1.0; 6], &[2.0; 6], 3);
    assert_eq!(
        swaps,
        vec![
            vec![2.0, 2.0, 1.0, 1.0, 1.0, 1.0],
            vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0],
            vec![1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
        ]
    );
}

#[test]
fn gaussian_fit_reproduces_the_latent_statistics() {
    let gpu = gpu();
    // Correlated 3-D latents: x, x + small noise, independent.
    let raw = Rng::new(5).normal(&gpu, &[4000, 3], 0.0, 1.0).to_vec();
    let rows: Vec<f32> = raw
        .chunks(3)
        .flat_map(|r| [r[0] + 2.0, r[0] + 0.1 * r[1], 0.5 * r[2]])
        .collect();
    let fit = GaussianFit::fit(&Tensor::from_slice(&gpu, &rows, &[4000, 3]));
    assert!((fit.mean[0] - 2.0).abs() < 0.06 && fit.mean[2].abs() < 0.03);
    // L L^T reproduces the covariance: var x = 1, cov(x, y) = 1, var z = 0.25.
    let c = |i: usize, j: usize| {
        (0..3)
            .map(|k| fit.chol[i * 3 + k] * fit.chol[j * 3 + k])
            .sum::<f64>()
    };
    assert!(
        (c(0, 0) - 1.0).abs() < 0.08
            && (c(0, 1) - 1.0).abs() < 0.08
            && (c(2, 2) - 0.25).abs() < 0.02
    );
    let samples = fit.sample(&gpu, 100, 1.0, &mut Rng::new(1));
    assert!(
        norms(&samples).iter().all(|n| (n - 1.0).abs() < 1e-5),
        "samples are projected onto the sphere"
    );
}

#[test]
fn continuity_noise_is_seeded_by_step_and_has_the_asked_spread() {
    let glo = Glo::new(&gpu(), &digits(64), config(64)).unwrap();
    let a = glo.continuity_noise(3, 64, 0.1).to_vec();
    assert_eq!(
        a,
        glo.continuity_noise(3, 64, 0.1).to_vec(),
        "same step, same noise"
    );
    assert_ne!(
        a,
        glo.continuity_noise(4, 64, 0.1).to_vec(),
        "next step, new noise"
    );
    let n = a.len() as f64;
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(
        mean.abs() < 0.01 && (std - 0.1).abs() < 0.01,
        "mean {mean}, std {std}"
    );
}

#[test]
fn the_continuity_term_adds_a_weighted_loss_on_shaken_latents() {
    let set = digits(64);
    let plain_config = config(set.len());
    let with = |alpha, beta| GloConfig {
        continuity: Some(Continuity {
            alpha,
            beta,
            sigma: 0.2,
        }),
        ..plain_config.clone()
    };
    // beta = 0, alpha = 1: the same training as without the term, step for step.
    let mut plain = Glo::new(&gpu(), &set, plain_config.clone()).unwrap();
    let mut silent = Glo::new(&gpu(), &set, with(1.0, 0.0)).unwrap();
    for step in 0..4 {
        let p = plain.fit_batch(&set).0.item();
        let (s, shaken) = silent.fit_batch(&set);
        assert_eq!(p, s.item(), "step {step}: beta 0 must train as plain GLO");
        assert!(shaken.expect("the shaken loss is reported").item() > 0.0);
    }
    assert_eq!(plain.latents.to_vec(), silent.latents.to_vec());

    // alpha x (the plain loss at the same weights) + beta x (the shaken one).
    let fresh = Glo::new(&gpu(), &set, plain_config.clone())
        .unwrap()
        .fit_batch(&set)
        .0
        .item();
    let mut weighted = Glo::new(&gpu(), &set, with(0.5, 2.0)).unwrap();
    let (total, shaken) = weighted.fit_batch(&set);
    let shaken = shaken.unwrap().item();
    let want = 0.5 * fresh + 2.0 * shaken;
    assert!(
        (total.item() - want).abs() < 1e-5 * want,
        "total {} against 0.5 x {fresh} + 2 x {shaken}",
        total.item()
    );
    // The shaken latents draw other images: their loss is not the plain one.
    assert!((shaken - fresh).abs() > 1e-4, "{shaken} vs {fresh}");
}

#[test]
fn the_perceptual_loss_is_l1_plus_the_l1_of_each_feature_stage() {
    let runs = temp_dir("perceptual");
    let runs_arg = runs.to_string_lossy().into_owned();
    pegasus::cli::run_with(&[
        "pegasus",
        "train",
        "features",
        "--nf",
        "4",
        "--feature-size",
        "8",
        "--steps",
        "3",
        "--log-every",
        "3",
        "--image-every",
        "3",
        "--checkpoint-every",
        "3",
        "--runs",
        &runs_arg,
        "--run",
        "features",
    ])
    .unwrap();
    let features = runs.join("features");
    let set = digits(64);
    let glo = Glo::new(
        &gpu(),
        &set,
        GloConfig {
            loss: Reconstruction::Perceptual,
            perceptual_features: Some(features.clone()),
            ..config(set.len())
        },
    )
    .unwrap();
    let net = open_features_run(&gpu(), &features).unwrap();
    let x = set.batch(&gpu(), &(0..8).collect::<Vec<_>>());
    let y = set.batch(&gpu(), &(8..16).collect::<Vec<_>>());
    let mean_abs = |a: &Tensor, b: &Tensor| -> f64 {
        let (a, b) = (a.to_vec(), b.to_vec());
        a.iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs() as f64)
            .sum::<f64>()
            / a.len() as f64
    };
    let stages = net
        .stage_features(&x)
        .into_iter()
        .zip(net.stage_features(&y));
    let want = mean_abs(&x, &y) + stages.map(|(a, b)| mean_abs(&a, &b)).sum::<f64>();
    let got = glo.reconstruction_loss(&x, &y).item() as f64;
    assert!(
        (got - want).abs() < 1e-5 * want,
        "perceptual loss {got}, L1 + stage L1s {want}"
    );
    assert!(glo.reconstruction_loss(&x, &x).item().abs() < 1e-7);
}

#[test]
fn a_staged_step_freezes_earlier_subsets_and_weights_the_two_losses() {
    let set = digits(64);
    // Subset 0: the first 32 images; subset 1: the rest. Steps 2 and 3 train subset 1.
    let staged = |alpha, beta| GloConfig {
        stages: Some(Stages {
            subset_of: (0..64).map(|i| usize::from(i >= 32)).collect(),
            subsets: 2,
            stage_steps: 2,
            alpha,
            beta,
        }),
        batch: 16,
        ..config(set.len())
    };
    let (alpha, beta) = (0.3, 2.0);
    let glo = Glo::new(&gpu(), &set, staged(alpha, beta)).unwrap();
    let (total, _, rows, z) = glo.step_loss(&set, 2);
    assert!(
        rows.iter().all(|&r| r >= 32),
        "subset 1's rows only: {rows:?}"
    );
    let grads = total.backward();
    // The same weights (same seed) with one term at a time.
    let part = |a, b| {
        let g = Glo::new(&gpu(), &set, staged(a, b)).unwrap();
        let (l, _, _, z) = g.step_loss(&set, 2);
        let grads = l.backward();
        let generator: Vec<Vec<f32>> = g
            .generator
            .parameters()
            .iter()
            .map(|(_, p)| grads.get(p).unwrap().to_vec())
            .collect();
        (generator, grads.get(&z).unwrap().to_vec())
    };
    let (kept, kept_z) = part(1.0, 0.0);
    let (current, current_z) = part(0.0, 1.0);
    for (i, (name, p)) in glo.generator.parameters().iter().enumerate() {
        let want: Vec<f64> = kept[i]
            .iter()
            .zip(&current[i])
            .map(|(k, c)| alpha as f64 * *k as f64 + beta as f64 * *c as f64)
            .collect();
        kernels_tests::assert_close(name, &grads.get(p).unwrap().to_vec(), &want, 1e-6, 1e-4);
    }
    // The trained latents get only the current subset's gradient; the earlier subsets'
    // latents are not on the tape at all.
    assert!(
        kept_z.iter().all(|&g| g == 0.0),
        "frozen term moved a latent"
    );
    let want_z: Vec<f64> = current_z.iter().map(|g| beta as f64 * *g as f64).collect();
    kernels_tests::assert_close(
        "latents",
        &grads.get(&z).unwrap().to_vec(),
        &want_z,
        1e-7,
        1e-4,
    );

    // Training through the subset stage leaves subset 0's latents exactly as they were.
    let mut trained = Glo::new(&gpu(), &set, staged(alpha, beta)).unwrap();
    trained.fit_batch(&set);
    trained.fit_batch(&set);
    let first: Vec<usize> = (0..32).collect();
    let before = trained.latents.gather_rows(&first).to_vec();
    trained.fit_batch(&set);
    trained.fit_batch(&set);
    assert_eq!(trained.latents.gather_rows(&first).to_vec(), before);
}

#[test]
fn staged_split_covers_every_image_once_and_its_first_subset_spans_the_digits() {
    let all = Dataset::embedded().unwrap();
    // Every 10th digit: the set is ordered by class, so the first images are all 0s.
    let set = all.select(&(0..1000).map(|i| i * 10).collect::<Vec<_>>());
    let features = pegasus::data::cluster::pixel_features(&gpu(), &set);
    let subset_of = pegasus::data::cluster::staged_split(&features, 3, 10, 10, 20, 0);
    assert_eq!(subset_of.len(), 1000);
    let sizes: Vec<usize> = (0..3)
        .map(|s| subset_of.iter().filter(|&&x| x == s).count())
        .collect();
    assert_eq!(
        sizes,
        [100, 100, 800],
        "10 clusters x 10 images, twice, then the rest"
    );
    let labels = set.labels.as_ref().unwrap();
    let classes = |s: usize| {
        let mut seen: Vec<u16> = (0..1000)
            .filter(|&i| subset_of[i] == s)
            .map(|i| labels[i])
            .collect();
        seen.sort();
        seen.dedup();
        seen.len()
    };
    // The first 100 images in order would hold one digit; the chosen ones hold most.
    assert!(
        classes(0) >= 7,
        "the first subset holds {} digits",
        classes(0)
    );
    assert!(
        classes(1) >= 7,
        "the second subset holds {} digits",
        classes(1)
    );
}

#[test]
fn pixel_pca_features_project_every_slice_of_a_large_set_alike() {
    let mut inputs = kernels_tests::Inputs::new(61);
    let n = 12_000;
    let mut pixels: Vec<u8> = (0..n * 16)
        .map(|_| inputs.uniform(0.0, 256.0) as u8)
        .collect();
    // Image 10,005 (past the first slice of 10,000) is a copy of image 5.
    let copy: Vec<u8> = pixels[5 * 16..6 * 16].to_vec();
    pixels[10_005 * 16..10_006 * 16].copy_from_slice(&copy);
    let set = Dataset {
        name: "noise".into(),
        channels: 1,
        height: 4,
        width: 4,
        pixels,
        labels: None,
        class_names: Vec::new(),
    };
    let features = pegasus::data::cluster::pixel_pca_features(&gpu(), &set, 8, 0);
    assert_eq!(features.dims(), &[n, 8]);
    let values = features.to_vec();
    assert!(values.iter().all(|v| v.is_finite()));
    assert_eq!(values[5 * 8..6 * 8], values[10_005 * 8..10_006 * 8]);
}
