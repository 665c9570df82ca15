//! Modules: PyTorch parameter names and counts, train/eval switching, initialiser ranges.

use kernels_tests::gpu;
use pegasus::Rng;
use pegasus::models::dcgan::{DcganConfig, Generator};
use pegasus::nn::{Linear, Module, init, parameter_count};

#[test]
fn dcgan_generator_has_pytorchs_names_and_size() {
    let gpu = gpu();
    let g = Generator::new(
        &gpu,
        &mut Rng::new(0),
        DcganConfig {
            nz: 100,
            ngf: 64,
            channels: 3,
        },
    );
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
    let g = Generator::new(
        &gpu,
        &mut Rng::new(0),
        DcganConfig {
            nz: 8,
            ngf: 4,
            channels: 1,
        },
    );
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
