//! Seed 004's encoder learns a GLO run's latents: on a tiny run its loss (L1 + L2 to the
//! learned latents) falls well under the untrained network's, and its outputs stay on the
//! unit sphere with the latents.

use kernels_tests::{gpu, temp_dir};
use pegasus::data::DataSelection;
use pegasus::models::glo_encoder::{EncoderConfig, GloEncoder};
use pegasus::train::Model;

#[test]
fn encoder_training_lowers_its_loss_on_a_tiny_glo_run() {
    let runs = temp_dir("glo-encoder");
    let runs_arg = runs.to_string_lossy().into_owned();
    pegasus::cli::run_with(&[
        "pegasus",
        "train",
        "glo",
        "--classes",
        "1,7",
        "--limit",
        "320",
        "--nz",
        "8",
        "--ngf",
        "8",
        "--batch",
        "32",
        "--steps",
        "20",
        "--holdout-every",
        "0",
        "--log-every",
        "10",
        "--image-every",
        "100",
        "--checkpoint-every",
        "100",
        "--runs",
        &runs_arg,
        "--run",
        "glo",
    ])
    .unwrap();
    let set = DataSelection {
        data: "embedded".into(),
        classes: vec!["1".into(), "7".into()],
        clusters: None,
        cluster: Vec::new(),
        representatives: None,
        image_size: None,
        grey: false,
        limit: Some(320),
    }
    .load()
    .unwrap();
    let config = EncoderConfig {
        glo_run: runs.join("glo"),
        channels: 1,
        image_size: 28,
        nz: 8,
        nf: 8,
        images: set.len(),
        batch: 32,
        lr: 3e-3,
        w_l1: 1.0,
        w_l2: 1.0,
        seed: 0,
    };
    let mut encoder = GloEncoder::new(&gpu(), config).unwrap();
    let mut losses = Vec::new();
    for _ in 0..60 {
        let step = encoder.train_step(&set);
        losses.push(step[0].1.item());
    }
    let untrained = losses[0];
    let last: f32 = losses[55..].iter().sum::<f32>() / 5.0;
    assert!(
        last < 0.6 * untrained,
        "encoder loss went from {untrained} to {last} in 60 steps"
    );
    let z = encoder.encode(&set.batch(&gpu(), &[0, 1, 2])).to_vec();
    for row in z.chunks(8) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "latent norm {norm}");
    }
}
