//! End to end: small networks learn synthetic data, and a run interrupted by a checkpoint
//! continues exactly as one that was not.

use std::sync::Arc;

use kernels_tests::gpu;
use pegasus::io::Checkpoint;
use pegasus::nn::{Activation, Conv2d, ConvTranspose2d, Linear, Module, Sequential, loss};
use pegasus::ops::ConvGeometry;
use pegasus::optim::Adam;
use pegasus::{Gpu, Rng, Tensor};

fn mlp(gpu: &Arc<Gpu>, rng: &mut Rng) -> Sequential {
    let mut net = Sequential::default();
    net.push(Linear::new(gpu, rng, 3, 32, true))
        .push(Activation::Tanh)
        .push(Linear::new(gpu, rng, 32, 32, true))
        .push(Activation::Relu)
        .push(Linear::new(gpu, rng, 32, 1, true));
    net
}

/// y = sin(2 x0) + x1 x2 on [-1, 1]^3: a smooth target a 3-32-32-1 network fits well.
fn regression_batch(gpu: &Arc<Gpu>, rng: &mut Rng, n: usize) -> (Tensor, Tensor) {
    let x = rng.uniform(gpu, &[n, 3], -1.0, 1.0);
    let h = x.to_vec();
    let y: Vec<f32> = h
        .chunks(3)
        .map(|v| (2.0 * v[0]).sin() + v[1] * v[2])
        .collect();
    (x, Tensor::from_slice(gpu, &y, &[n, 1]))
}

#[test]
fn mlp_fits_a_smooth_function() {
    let gpu = gpu();
    let mut rng = Rng::new(1);
    let net = mlp(&gpu, &mut rng);
    let mut adam = Adam::single(net.parameters(), 1e-2, 0.9, 0.999);
    let (x_test, y_test) = regression_batch(&gpu, &mut rng, 512);
    let initial = pegasus::autograd::no_grad(|| loss::mse(&net.forward(&x_test), &y_test).item());
    for _ in 0..300 {
        let (x, y) = regression_batch(&gpu, &mut rng, 64);
        let l = loss::mse(&net.forward(&x), &y);
        adam.step(&l.backward());
    }
    let fin = pegasus::autograd::no_grad(|| loss::mse(&net.forward(&x_test), &y_test).item());
    // The target's variance is about 0.5; a fitted network gets the test MSE under 0.02.
    assert!(fin < 0.02, "test MSE {initial} -> {fin} after 300 steps");
}

/// 16 x 16 single-channel images: one 4 x 4 square of ones at a random place on zeros.
fn squares(gpu: &Arc<Gpu>, rng: &mut Rng, n: usize) -> Tensor {
    let pos = rng.uniform(gpu, &[n, 2], 0.0, 12.0).to_vec();
    let mut img = vec![0.0f32; n * 256];
    for i in 0..n {
        let (y0, x0) = (pos[2 * i] as usize, pos[2 * i + 1] as usize);
        for y in y0..y0 + 4 {
            for x in x0..x0 + 4 {
                img[i * 256 + y * 16 + x] = 1.0;
            }
        }
    }
    Tensor::from_slice(gpu, &img, &[n, 1, 16, 16])
}

#[test]
fn conv_autoencoder_learns_to_reconstruct() {
    let gpu = gpu();
    let mut rng = Rng::new(2);
    let halve = ConvGeometry::new(2, 1);
    let mut down = |cin, cout| Conv2d::new(&gpu, &mut rng, cin, cout, 4, halve, true);
    let (down1, down2) = (down(1, 16), down(16, 32));
    let mut up = |cin, cout| ConvTranspose2d::new(&gpu, &mut rng, cin, cout, 4, halve, 0, true);
    let (up1, up2) = (up(32, 16), up(16, 1));
    let mut net = Sequential::default();
    net.push(down1)
        .push(Activation::LeakyRelu(0.2))
        .push(down2)
        .push(Activation::LeakyRelu(0.2))
        .push(up1)
        .push(Activation::Relu)
        .push(up2);
    let mut adam = Adam::single(net.parameters(), 3e-3, 0.9, 0.999);
    let test = squares(&gpu, &mut rng, 64);
    let initial = pegasus::autograd::no_grad(|| loss::mse(&net.forward(&test), &test).item());
    for _ in 0..150 {
        let batch = squares(&gpu, &mut rng, 32);
        let l = loss::mse(&net.forward(&batch), &batch);
        adam.step(&l.backward());
    }
    let fin = pegasus::autograd::no_grad(|| loss::mse(&net.forward(&test), &test).item());
    // Predicting the background everywhere scores 16 / 256 = 0.0625; a working autoencoder
    // gets under a tenth of that (about 0.001 after 150 steps here).
    assert!(
        fin < 0.006 && fin < initial / 10.0,
        "reconstruction MSE {initial} -> {fin}"
    );
}

/// Trains `steps` steps from the state in `net`/`adam`/`rng`.
fn train(net: &Sequential, adam: &mut Adam, rng: &mut Rng, steps: usize) {
    let gpu = gpu();
    for _ in 0..steps {
        let (x, y) = regression_batch(&gpu, rng, 32);
        adam.step(&loss::mse(&net.forward(&x), &y).backward());
    }
}

fn state(net: &Sequential, adam: &mut Adam) -> Vec<(String, Tensor)> {
    let mut all = net.parameters();
    all.extend(pegasus::nn::prefixed("optim", adam.state()));
    all
}

#[test]
fn save_load_and_continue_is_bit_identical() {
    let gpu = gpu();
    let dir = std::env::temp_dir().join(format!("pegasus-resume-{}", std::process::id()));
    let path = dir.join("checkpoint.safetensors");
    // Uninterrupted: 20 steps.
    let mut rng = Rng::new(3);
    let net = mlp(&gpu, &mut rng);
    let mut adam = Adam::single(net.parameters(), 1e-2, 0.9, 0.999);
    train(&net, &mut adam, &mut rng, 10);
    let mut ckpt = Checkpoint::capture(&state(&net, &mut adam));
    ckpt.metadata
        .insert("adam.step".into(), adam.step.to_string());
    ckpt.metadata
        .insert("rng.offset".into(), rng.offset.to_string());
    ckpt.save(&path).unwrap();
    train(&net, &mut adam, &mut rng, 10);
    let uninterrupted: Vec<Vec<f32>> = net.parameters().iter().map(|(_, t)| t.to_vec()).collect();

    // Resumed: a model built from another seed, restored from the checkpoint, 10 more steps.
    let mut other = Rng::new(99);
    let net2 = mlp(&gpu, &mut other);
    let mut adam2 = Adam::single(net2.parameters(), 1e-2, 0.9, 0.999);
    let loaded = Checkpoint::load(&path).unwrap();
    loaded.restore(&path, &state(&net2, &mut adam2)).unwrap();
    adam2.step = loaded.metadata["adam.step"].parse().unwrap();
    let mut rng2 = Rng {
        seed: 3,
        offset: loaded.metadata["rng.offset"].parse().unwrap(),
    };
    train(&net2, &mut adam2, &mut rng2, 10);
    let resumed: Vec<Vec<f32>> = net2.parameters().iter().map(|(_, t)| t.to_vec()).collect();
    for (a, b) in uninterrupted.iter().zip(&resumed) {
        let bits_a: Vec<u32> = a.iter().map(|v| v.to_bits()).collect();
        let bits_b: Vec<u32> = b.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            bits_a, bits_b,
            "resumed parameters differ from the uninterrupted run"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
