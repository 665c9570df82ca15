//! The VAE-GAN of seed 001: sizes, each optimiser receiving exactly the gradient of its own
//! objective (checked against finite differences, and shown to differ from the gradient of
//! the summed objectives that a single backward pass would give), and a discriminator that
//! learns to tell digits from noise.

use kernels_tests::{Inputs, gpu, gradient_along, unit_direction};
use pegasus::Tensor;
use pegasus::autograd::{Grads, clear};
use pegasus::data::Dataset;
use pegasus::models::vaegan::{Updates, VaeGan, VaeGanConfig};
use pegasus::nn::{Module, loss};

fn config(image_size: usize, channels: usize, nf: usize, nz: usize, batch: usize) -> VaeGanConfig {
    VaeGanConfig {
        image_size,
        channels,
        nz,
        nf,
        images: 100,
        batch,
        lr: 3e-4,
        beta: 1.0,
        gamma: 1.0,
        dis_layer: 3,
        margin: 0.35,
        equilibrium: 0.68,
        plain_vae: false,
        pixel: 0.0,
        joint_decode: true,
        saturation_penalty: Some(0.0),
        seed: 5,
    }
}

#[test]
fn networks_have_larsens_shapes_at_28_32_and_64() {
    let gpu = gpu();
    for (side, channels, sides) in [
        (28, 1, vec![28, 14, 7, 4]),
        (32, 3, vec![32, 16, 8, 4]),
        (64, 3, vec![64, 32, 16, 8, 4]),
    ] {
        let mut c = config(side, channels, 4, 6, 2);
        assert_eq!(c.sides(), sides, "sides of {side}");
        for layer in 1..=sides.len() {
            c.dis_layer = layer;
            let vg = VaeGan::new(&gpu, c.clone()).unwrap();
            let x = Inputs::new(side as u64)
                .tensor(&[2, channels, side, side], -1.0, 1.0)
                .0;
            let (features, _) = vg.discriminator.judge(&[&x], false);
            assert_eq!(
                features[0].numel() / 2,
                c.dis_values(),
                "Dis_l values at conv {layer} of {side}"
            );
            if layer == 3 {
                let (mu, logvar) = vg.encoder.forward(&x);
                assert_eq!((mu.dims(), logvar.dims()), (&[2, 6][..], &[2, 6][..]));
                let out = vg.decoder.forward(&mu);
                assert_eq!(out.dims(), &[2, channels, side, side], "decoded {side}");
                assert_eq!(vg.discriminator.logit(&out).dims(), &[2, 1]);
            }
            clear();
        }
        c.dis_layer = sides.len() + 1;
        assert!(
            VaeGan::new(&gpu, c).is_err(),
            "a conv past the last refused"
        );
    }
}

#[test]
fn each_optimiser_gets_the_gradient_of_its_own_objective_only() {
    // Dis_l the second convolution (within the layers that `judge` runs on each part alone)
    // and the third (past them); reconstructions and prior draws decoded as one batch or two.
    // The last, with the saturation penalty acting on part of the prior samples' values.
    for (dis_layer, joint_decode, penalty) in [
        (2, true, false),
        (3, true, false),
        (3, false, false),
        (3, true, true),
    ] {
        own_objective_gradients(dis_layer, joint_decode, penalty);
    }
}

/// The decoder's output convolution's bias.
fn output_bias(vg: &VaeGan) -> Tensor {
    let (name, bias) = vg.decoder.parameters().pop().unwrap();
    assert!(
        name.ends_with("bias"),
        "the decoder's last parameter is {name}"
    );
    bias
}

fn own_objective_gradients(dis_layer: usize, joint_decode: bool, penalty: bool) {
    let gpu = gpu();
    // 12 x 12 images: sides 12 -> 6 -> 3.
    let mut c = config(12, 2, 2, 3, 3);
    c.dis_layer = dis_layer;
    c.joint_decode = joint_decode;
    // Weights that make every term of each objective count in its gradient.
    c.beta = 2.0;
    c.gamma = 50.0;
    c.pixel = 3.0;
    c.saturation_penalty = Some(if penalty { 4.0 } else { 0.0 });
    let vg = VaeGan::new(&gpu, c).unwrap();
    if penalty {
        // The first channel's values before the tanh around atanh(0.99) = 2.65, some past
        // it; the second's inside, where the tanh passes the other terms' gradients on.
        output_bias(&vg).write(&[2.6, 0.0]);
    }
    let mut inputs = Inputs::new(20 + 3 * dis_layer as u64);
    let x = inputs.tensor(&[3, 2, 12, 12], -1.0, 1.0).0;
    let eps = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let z_prior = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let step = vg.gradients(&x, &eps, &z_prior);
    assert_eq!(
        pegasus::autograd::len(),
        0,
        "a step's gradients leave nothing on the tape"
    );
    // The three objectives at the current weights.
    let objectives = || {
        let o = vg.objectives(&x, &eps, &z_prior);
        let values = [&o.encoder, &o.decoder, &o.discriminator].map(|t| f64::from(t.item()));
        clear();
        values
    };
    let networks: [(&str, &dyn Module, &Grads, usize); 3] = [
        ("encoder", &vg.encoder, &step.encoder, 0),
        ("decoder", &vg.decoder, &step.decoder, 1),
        ("discriminator", &vg.discriminator, &step.discriminator, 2),
    ];
    // Small: with gamma 50 the decoder's objective curves fast.
    let eps_fd = 2e-4;
    for (name, module, grads, own) in networks {
        let params = module.parameters();
        let direction = unit_direction(&mut inputs, &params);
        let originals: Vec<Vec<f32>> = params.iter().map(|(_, p)| p.to_vec()).collect();
        let moved = |sign: f32| {
            for (((_, p), w), d) in params.iter().zip(&originals).zip(&direction) {
                let v: Vec<f32> = w
                    .iter()
                    .zip(d)
                    .map(|(a, b)| a + sign * eps_fd * b)
                    .collect();
                p.write(&v);
            }
        };
        moved(1.0);
        let plus = objectives();
        moved(-1.0);
        let minus = objectives();
        for ((_, p), w) in params.iter().zip(&originals) {
            p.write(w);
        }
        let numeric: Vec<f64> = (0..3)
            .map(|k| (plus[k] - minus[k]) / (2.0 * f64::from(eps_fd)))
            .collect();
        let analytic = gradient_along(grads, &params, &direction);
        let tolerance = 3e-4 + 3e-2 * analytic.abs();
        assert!(
            (numeric[own] - analytic).abs() <= tolerance,
            "{name}, Dis_l conv {dis_layer}, joint decoding {joint_decode}, penalty {penalty}: its gradient along a direction is {analytic}, finite differences of its own objective {}",
            numeric[own]
        );
        for (other, what) in [(0, "encoder"), (1, "decoder"), (2, "discriminator")] {
            if other != own {
                assert!(
                    (numeric[other] - analytic).abs() > 5.0 * tolerance,
                    "{name}, Dis_l conv {dis_layer}, joint decoding {joint_decode}, penalty {penalty}: its gradient {analytic} matches the {what}'s objective too ({}): the test cannot tell the routing apart",
                    numeric[other]
                );
            }
        }
    }
}

#[test]
fn a_network_the_guard_skips_costs_no_backward_and_changes_no_other_gradient() {
    let gpu = gpu();
    let vg = VaeGan::new(&gpu, config(12, 2, 2, 3, 3)).unwrap();
    let mut inputs = Inputs::new(41);
    let x = inputs.tensor(&[3, 2, 12, 12], -1.0, 1.0).0;
    let eps = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let z_prior = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let all = vg.gradients(&x, &eps, &z_prior);
    let values = |grads: &Grads, module: &dyn Module| -> Option<Vec<Vec<f32>>> {
        module
            .parameters()
            .iter()
            .map(|(_, p)| grads.get(p).map(Tensor::to_vec))
            .collect()
    };
    for (decoder, discriminator) in [(true, false), (false, true), (false, false)] {
        let o = vg.objectives(&x, &eps, &z_prior);
        let step = vg.backward(
            o,
            Updates {
                decoder,
                discriminator,
            },
        );
        assert_eq!(pegasus::autograd::len(), 0, "the tape is spent");
        let networks: [(&str, &dyn Module, &Grads, &Grads, bool); 3] = [
            ("encoder", &vg.encoder, &step.encoder, &all.encoder, true),
            ("decoder", &vg.decoder, &step.decoder, &all.decoder, decoder),
            (
                "discriminator",
                &vg.discriminator,
                &step.discriminator,
                &all.discriminator,
                discriminator,
            ),
        ];
        for (name, module, got, full, updated) in networks {
            if updated {
                let got = values(got, module).expect("every parameter has a gradient");
                assert_eq!(
                    Some(got),
                    values(full, module),
                    "{name}'s gradient with decoder {decoder}, discriminator {discriminator} differs from the full step's"
                );
            } else {
                assert!(
                    module
                        .parameters()
                        .iter()
                        .all(|(_, p)| got.get(p).is_none()),
                    "the skipped {name} got gradients"
                );
            }
        }
    }
}

#[test]
fn joint_decoding_normalises_reconstructions_with_the_prior_draws() {
    let gpu = gpu();
    let mut inputs = Inputs::new(31);
    let x = inputs.tensor(&[3, 2, 12, 12], -1.0, 1.0).0;
    let eps = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let draws = [
        inputs.tensor(&[3, 3], -1.5, 1.5).0,
        inputs.tensor(&[3, 3], -4.0, 4.0).0,
    ];
    for joint_decode in [true, false] {
        let mut c = config(12, 2, 2, 3, 3);
        c.joint_decode = joint_decode;
        // Dis_l before the discriminator's first BatchNorm, which sees the prior draws too.
        c.dis_layer = 2;
        let vg = VaeGan::new(&gpu, c).unwrap();
        // The encoder's objective then sees the prior draws only through the reconstructions.
        let [a, b] = draws.each_ref().map(|z_prior| {
            let value = vg.objectives(&x, &eps, z_prior).encoder.item();
            clear();
            value
        });
        if joint_decode {
            assert!(
                (a - b).abs() > 1e-4 * a.abs(),
                "decoded in one batch, the reconstructions share BatchNorm statistics with the prior draws, yet other draws left the encoder's objective at {a} and {b}"
            );
        } else {
            assert_eq!(
                a, b,
                "decoded apart, the prior draws must not touch the reconstructions"
            );
        }
    }
}

#[test]
fn samples_at_the_tanh_limits_are_counted_and_judged() {
    let gpu = gpu();
    let vg = VaeGan::new(&gpu, config(12, 2, 2, 3, 3)).unwrap();
    let fresh = vg.saturation(&vg.report_samples(10));
    assert_eq!(
        (fresh.samples, fresh.saturated),
        (10, 0),
        "an untrained decoder draws near 0"
    );
    assert!(fresh.d_saturated.is_nan() && (0.0..=1.0).contains(&fresh.d_others));
    // The output convolution's bias pushes every value to tanh(5) = 0.9999.
    let bias = output_bias(&vg);
    bias.write(&vec![5.0; bias.numel()]);
    let pushed = vg.saturation(&vg.report_samples(10));
    assert_eq!(pushed.saturated, 10, "every sample at the limit");
    assert!(pushed.d_others.is_nan() && (0.0..=1.0).contains(&pushed.d_saturated));
    assert_eq!(
        pegasus::autograd::len(),
        0,
        "judging leaves nothing on the tape"
    );
}

#[test]
fn the_saturation_penalty_weighs_only_prior_values_past_the_tanh_limit() {
    let gpu = gpu();
    let mut c = config(12, 2, 2, 3, 3);
    // Two batches, so the prior draws' values before the tanh can be had on their own.
    c.joint_decode = false;
    let mut vg = VaeGan::new(&gpu, c).unwrap();
    let mut inputs = Inputs::new(53);
    let x = inputs.tensor(&[3, 2, 12, 12], -1.0, 1.0).0;
    let eps = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let z_prior = inputs.tensor(&[3, 3], -1.5, 1.5).0;
    let tanh = vg.decoder.layers.len() - 1;
    let limit = 0.99f64.atanh();
    let bias = output_bias(&vg);
    for (shift, saturated_share) in [(0.0, 0.0), (2.0, f32::NAN), (5.0, 1.0)] {
        bias.write(&vec![shift; bias.numel()]);
        let before: Vec<f64> = vg
            .decoder
            .forward_span(&z_prior, 0..tanh, &[])
            .0
            .to_vec()
            .into_iter()
            .map(f64::from)
            .collect();
        let expected = before
            .iter()
            .map(|a| (a * a - limit * limit).max(0.0))
            .sum::<f64>()
            / before.len() as f64;
        let mut decoder_objective = |weight: f32| {
            vg.config.saturation_penalty = Some(weight);
            let o = vg.objectives(&x, &eps, &z_prior);
            let value = f64::from(o.decoder.item());
            let step = vg.backward(o, Updates::ALL);
            let share = step
                .scalars
                .iter()
                .find(|(name, _)| *name == "saturated")
                .expect("a saturated column")
                .1
                .item();
            (value, share)
        };
        let (without, share) = decoder_objective(0.0);
        let (with, _) = decoder_objective(3.0);
        let penalty = (with - without) / 3.0;
        assert!(
            (penalty - expected).abs() <= 1e-4 + 1e-3 * expected,
            "bias {shift}: the penalty adds {penalty}, the values before the tanh give {expected}"
        );
        if shift == 0.0 {
            assert_eq!(expected, 0.0, "an untrained decoder stays inside the limit");
        } else {
            assert!(expected > 0.0, "bias {shift} puts values past the limit");
        }
        if !saturated_share.is_nan() {
            assert_eq!(
                share, saturated_share,
                "share of saturated samples at bias {shift}"
            );
        }
    }
    vg.config.saturation_penalty = None;
    let (o, names) = (
        vg.objectives(&x, &eps, &z_prior),
        pegasus::train::Model::loss_names(&vg),
    );
    let step = vg.backward(o, Updates::ALL);
    assert!(
        !names.contains(&"saturated") && step.scalars.iter().all(|(n, _)| *n != "saturated"),
        "runs made before the penalty keep their columns"
    );
    assert_eq!(pegasus::autograd::len(), 0, "nothing left on the tape");
}

#[test]
fn the_discriminator_learns_to_tell_digits_from_noise() {
    let gpu = gpu();
    let digits = Dataset::embedded().unwrap();
    let mut c = config(28, 1, 4, 8, 32);
    c.lr = 2e-3;
    let mut vg = VaeGan::new(&gpu, c).unwrap();
    let mut noise = pegasus::Rng::new(9);
    let real_of = |step: usize| {
        let idx: Vec<usize> = (0..32).map(|i| (step * 32 + i) * 7 % 9000).collect();
        digits.batch(&gpu, &idx)
    };
    // Real and noise images are judged in one batch, as in training.
    let judged = |vg: &VaeGan, real: &Tensor, fake: &Tensor| {
        let (_, logits) = vg.discriminator.judge(&[real, fake], true);
        logits
    };
    let ones = Tensor::full(&gpu, &[32, 1], 1.0);
    let zeros = Tensor::full(&gpu, &[32, 1], 0.0);
    for step in 0..40 {
        let fake = noise.uniform(&gpu, &[32, 1, 28, 28], -1.0, 1.0);
        let logits = judged(&vg, &real_of(step), &fake);
        let l = loss::bce_with_logits(&logits[0], &ones)
            .add(&loss::bce_with_logits(&logits[1], &zeros));
        let g = l.backward();
        vg.opt_discriminator.step(&g);
    }
    // Digits it has not seen, and fresh noise.
    let unseen: Vec<usize> = (0..32).map(|i| 9100 + i * 28).collect();
    let fresh = noise.uniform(&gpu, &[32, 1, 28, 28], -1.0, 1.0);
    let logits = judged(&vg, &digits.batch(&gpu, &unseen), &fresh);
    let p = |l: &Tensor| l.sigmoid().mean().item();
    let (real, fake) = (p(&logits[0]), p(&logits[1]));
    clear();
    assert!(
        real > 0.9 && fake < 0.1,
        "D(real) {real:.3}, D(noise) {fake:.3} after 40 steps"
    );
}
