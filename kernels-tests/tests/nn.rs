//! Modules: PyTorch parameter names and counts, train/eval switching, initialiser ranges.

use kernels_tests::gpu;
use pegasus::Rng;
use pegasus::models::generator::{Generator, GeneratorConfig};
use pegasus::nn::{Linear, Module, init, parameter_count};

fn config(image_size: usize, channels: usize, nz: usize, ngf: usize) -> GeneratorConfig {
    GeneratorConfig {
        image_size,
        channels,
        nz,
        ngf,
    }
}

#[test]
fn dcgan_generator_has_pytorchs_names_and_size() {
    let gpu = gpu();
    let g = Generator::new(&gpu, &mut Rng::new(0), config(64, 3, 100, 64));
    let names: Vec<String> = g.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        &names[..3],
        &["main.0.weight", "main.1.weight", "main.1.bias"]
    );
    assert_eq!(names.last().unwrap(), "main.12.weight");
    let buffers: Vec<String> = g.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        &buffers[..2],
        &["main.1.running_mean", "main.1.running_var"]
    );
    // torch's DCGAN example generator (nz 100, ngf 64, nc 3) has 3,576,704 parameters.
    assert_eq!(parameter_count(&g), 3_576_704);
    let out =
        pegasus::autograd::no_grad(|| g.forward(&Rng::new(1).normal(&gpu, &[2, 100], 0.0, 1.0)));
    assert_eq!(out.dims(), &[2, 3, 64, 64]);
    assert!(out.to_vec().iter().all(|v| v.abs() <= 1.0), "tanh output");
}

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    (
        m,
        (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

#[test]
fn initialisers_follow_their_definitions() {
    let gpu = gpu();
    let mut rng = Rng::new(5);
    let lin = Linear::new(&gpu, &mut rng, 400, 300, true);
    let w = lin.weight.to_vec();
    let bound = 1.0 / 400f64.sqrt();
    assert!(
        w.iter().all(|&x| f64::from(x).abs() <= bound),
        "U(-1/sqrt(fan_in), 1/sqrt(fan_in))"
    );
    let (m, s) = mean_std(&w);
    assert!(
        m.abs() < 0.002 && (s - bound / 3f64.sqrt()).abs() < 0.001,
        "mean {m}, std {s}"
    );
    let (m, s) = mean_std(&init::dcgan_normal(&mut rng, &gpu, &[100_000], 1.0).to_vec());
    assert!(
        (m - 1.0).abs() < 0.001 && (s - 0.02).abs() < 0.0005,
        "N(1, 0.02): mean {m}, std {s}"
    );
    let x = init::xavier_uniform(&mut rng, &gpu, &[100_000], 30, 20, 1.0).to_vec();
    let xb = (6.0f64 / 50.0).sqrt();
    let (_, s) = mean_std(&x);
    assert!(x.iter().all(|&v| f64::from(v).abs() <= xb) && (s - xb / 3f64.sqrt()).abs() < 0.005);
}

#[test]
fn eval_mode_freezes_batch_norm() {
    let gpu = gpu();
    let g = Generator::new(&gpu, &mut Rng::new(0), config(64, 1, 8, 4));
    let z = Rng::new(2).normal(&gpu, &[4, 8], 0.0, 1.0);
    let (_, rm) = g.buffers().into_iter().next().unwrap();
    let before = rm.to_vec();
    g.set_training(false);
    let a = pegasus::autograd::no_grad(|| g.forward(&z).to_vec());
    let b = pegasus::autograd::no_grad(|| g.forward(&z.narrow(0, 0, 2)).to_vec());
    assert_eq!(
        rm.to_vec(),
        before,
        "eval mode leaves the running estimates"
    );
    assert_eq!(
        &a[..b.len()],
        &b[..],
        "in eval mode an image does not depend on the rest of the batch"
    );
    g.set_training(true);
    let _ = pegasus::autograd::no_grad(|| g.forward(&z));
    assert_ne!(rm.to_vec(), before, "training mode moves them");
}

/// Seed 000's 96 x 96 generator: 2 x 2 with 1536 filters first, then doubling sizes and
/// halving widths, a 5 x 5 stride-3 padding-1 layer to 96 x 96; no biases (DCGAN), BatchNorm
/// scale and shift per hidden layer.
#[test]
fn seed_000_generator_shape_and_size() {
    let gpu = gpu();
    let seed_000 = config(96, 3, 100, 96);
    let g = Generator::new(&gpu, &mut Rng::new(0), seed_000);
    let widths = [100usize, 1536, 768, 384, 192, 96, 3];
    let kernels = [2usize, 4, 4, 4, 4, 5];
    let convs: usize = (0..6)
        .map(|i| widths[i] * widths[i + 1] * kernels[i] * kernels[i])
        .sum();
    let norms: usize = widths[1..6].iter().map(|w| 2 * w).sum();
    assert_eq!(parameter_count(&g), convs + norms);
    assert_eq!(parameter_count(&g), 25_695_072);
    assert_eq!(g.main.parameters()[0].1.dims(), &[100, 1536, 2, 2]);
    let out =
        pegasus::autograd::no_grad(|| g.forward(&Rng::new(1).normal(&gpu, &[2, 100], 0.0, 1.0)));
    assert_eq!(out.dims(), &[2, 3, 96, 96]);
    for size in [28, 32] {
        let c = config(size, 1, 8, 4);
        let out = pegasus::autograd::no_grad(|| {
            Generator::new(&gpu, &mut Rng::new(0), c).forward(&Rng::new(1).normal(
                &gpu,
                &[2, 8],
                0.0,
                1.0,
            ))
        });
        assert_eq!(out.dims(), &[2, 1, size, size]);
    }
    assert!(
        GeneratorConfig {
            image_size: 48,
            ..seed_000
        }
        .check()
        .is_err()
    );
}

/// Sequential runs BatchNorm and the rectifier after it in fused passes: the same outputs and
/// gradients as the layers one at a time, and a feature tap on the BatchNorm still sees its
/// output before the rectifier.
#[test]
fn sequential_fuses_batch_norm_and_rectifier_exactly() {
    use kernels_tests::assert_close;
    use pegasus::nn::{Activation, BatchNorm, Sequential};
    let gpu = gpu();
    let mut net = Sequential::default();
    net.push(BatchNorm::new(&gpu, 3));
    net.push(Activation::Relu);
    net.push(BatchNorm::new(&gpu, 3));
    net.push(Activation::LeakyRelu(0.2));
    let x = Rng::new(5).normal(&gpu, &[4, 3, 6, 6], 0.5, 2.0).track();
    let weight = Rng::new(6).normal(&gpu, &[4, 3, 6, 6], 0.0, 1.0);
    let fused = net.forward(&x);
    let grads = fused.mul(&weight).sum().backward();
    let one_at_a_time = net.layers.iter().fold(x.clone(), |h, l| l.forward(&h));
    let grads_apart = one_at_a_time.mul(&weight).sum().backward();
    let f64s = |t: &pegasus::Tensor| t.to_vec().iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
    assert_close("output", &fused.to_vec(), &f64s(&one_at_a_time), 1e-5, 1e-5);
    for (name, p) in net
        .parameters()
        .iter()
        .chain([("x".to_string(), x.clone())].iter())
    {
        assert_close(
            &format!("gradient of {name}"),
            &grads.get(p).unwrap().to_vec(),
            &f64s(grads_apart.get(p).unwrap()),
            1e-5,
            1e-5,
        );
    }
    let tapped = net.forward_features(&x, &[0, 1]);
    let normalized = net.layers[0].forward(&x);
    assert_eq!(
        tapped[0].to_vec(),
        normalized.to_vec(),
        "tap on the BatchNorm"
    );
    assert_eq!(
        tapped[1].to_vec(),
        normalized.relu().to_vec(),
        "tap on the ReLU"
    );
    assert!(
        normalized.to_vec().iter().any(|&v| v < 0.0),
        "the tap before the rectifier has negative values"
    );
}
