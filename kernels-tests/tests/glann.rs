//! GLANN's IMLE step: each target gets the candidate whose image is nearest (against a
//! brute-force f64 search), the loss is the mean squared distance between the chosen images
//! and their targets, and the step moves the chosen images towards their targets.

use kernels_tests::{Inputs, gpu, to_f64};
use pegasus::models::glann::{Mapper, imle_step};
use pegasus::nn::Module;
use pegasus::ops::Rng;
use pegasus::optim::Adam;

fn squared(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

#[test]
fn imle_pulls_each_targets_nearest_candidate_towards_it() {
    let g = gpu();
    let (noise, width, nz, targets_n, pool_n) = (3, 8, 4, 5, 37);
    let mapper = Mapper::new(&g, &mut Rng::new(7), noise, width, nz);
    let mut adam = Adam::single(mapper.parameters(), 1e-2, 0.9, 0.999);
    let mut inputs = Inputs::new(51);
    let (raw, _) = inputs.tensor(&[targets_n, nz], -1.0, 1.0);
    let targets = raw.project_to_sphere(1e-12);
    let (pool, _) = inputs.tensor(&[pool_n, noise], -2.0, 2.0);
    let target_host = to_f64(&targets.to_vec());

    let before = to_f64(&mapper.forward(&pool).to_vec());
    let (loss, chosen) = imle_step(&mapper, &mut adam, &targets, &pool);
    let after = to_f64(&mapper.forward(&pool).to_vec());

    let row = |v: &[f64], i: usize| v[i * nz..(i + 1) * nz].to_vec();
    let mut want_loss = 0.0;
    let (mut moved_before, mut moved_after) = (0.0, 0.0);
    for (t, &c) in chosen.iter().enumerate() {
        let target = row(&target_host, t);
        let nearest = (0..pool_n)
            .min_by(|&a, &b| {
                squared(&row(&before, a), &target).total_cmp(&squared(&row(&before, b), &target))
            })
            .unwrap();
        let best = squared(&row(&before, nearest), &target);
        assert!(
            squared(&row(&before, c), &target) <= best + 1e-6,
            "target {t}: chose candidate {c}, the nearest is {nearest}"
        );
        want_loss += squared(&row(&before, c), &target);
        moved_before += squared(&row(&before, c), &target);
        moved_after += squared(&row(&after, c), &target);
    }
    want_loss /= (targets_n * nz) as f64;
    let got = loss.item() as f64;
    assert!(
        (got - want_loss).abs() < 1e-5,
        "IMLE loss {got}, mean squared distance {want_loss}"
    );
    assert!(
        moved_after < moved_before,
        "the chosen candidates moved away from their targets: {moved_before} -> {moved_after}"
    );
    // The mapper's images stay on the unit sphere, where GLO's latents are.
    for i in 0..pool_n {
        let norm = squared(&row(&after, i), &[0.0; 4]).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "image {i} has norm {norm}");
    }
}
