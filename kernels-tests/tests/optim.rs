//! Adam, row-sparse Adam and gradient clipping against f64 references (dense Adam and SGD
//! are also checked against PyTorch in golden.rs).

use kernels_tests::{Inputs, assert_close, gpu, to_f64};
use pegasus::Tensor;
use pegasus::autograd::Grads;
use pegasus::optim::{Adam, ParamGroup, RowAdam, clip_grad_norm};

/// Sizes that take Adam's four-at-a-time kernel (multiples of 4, one spanning several
/// workgroups of 1,024 values) and its one-at-a-time kernel.
#[test]
fn adam_matches_an_f64_reference_at_every_size() {
    let gpu = gpu();
    let mut inputs = Inputs::new(71);
    for (n, decoupled) in [(12, false), (4100, true), (13, false), (1027, true)] {
        let start = inputs.vec(n, -1.0, 1.0);
        let param = Tensor::from_slice(&gpu, &start, &[n]).track();
        let (lr, b1, b2, eps, wd) = (0.02f64, 0.8f64, 0.99f64, 1e-8f64, 0.1f64);
        let mut opt = Adam::new(
            vec![ParamGroup {
                params: vec![("p".into(), param.clone())],
                lr: lr as f32,
            }],
            b1 as f32,
            b2 as f32,
        );
        opt.weight_decay = wd as f32;
        opt.decoupled = decoupled;
        let mut want = to_f64(&start);
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        for step in 1..=3 {
            let g = inputs.vec(n, -1.0, 1.0);
            let mut grads = Grads::default();
            grads.insert(&param, Tensor::from_slice(&gpu, &g, &[n]));
            opt.step(&grads);
            for i in 0..n {
                let mut gi = f64::from(g[i]);
                if decoupled {
                    want[i] *= 1.0 - lr * wd;
                } else {
                    gi += wd * want[i];
                }
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                let denom = v[i].sqrt() / (1.0 - b2.powi(step)).sqrt() + eps;
                want[i] -= lr / (1.0 - b1.powi(step)) * m[i] / denom;
            }
            assert_close(
                &format!("{n} values (decoupled {decoupled}) after step {step}"),
                &param.to_vec(),
                &want,
                2e-6,
                1e-5,
            );
        }
    }
}

#[test]
fn row_adam_updates_only_the_batch_rows() {
    let gpu = gpu();
    let (rows, dim) = (9, 5);
    let mut inputs = Inputs::new(70);
    let table_host = inputs.vec(rows * dim, -1.0, 1.0);
    let table = Tensor::from_slice(&gpu, &table_host, &[rows, dim]);
    let (lr, b1, b2, eps) = (0.05f64, 0.9f64, 0.999f64, 1e-8f64);
    let mut opt = RowAdam::new(table.clone(), lr as f32, b1 as f32, b2 as f32);
    let mut want = to_f64(&table_host);
    let mut m = vec![0.0; rows * dim];
    let mut v = vec![0.0; rows * dim];
    let mut seen = vec![0i32; rows];
    for (t, batch) in [vec![2usize, 7, 0], vec![7, 3], vec![8, 2, 5, 1]]
        .iter()
        .enumerate()
    {
        let g = inputs.vec(batch.len() * dim, -1.0, 1.0);
        opt.step(batch, &Tensor::from_slice(&gpu, &g, &[batch.len(), dim]));
        for (b, &r) in batch.iter().enumerate() {
            // Each row's bias correction counts its own updates.
            seen[r] += 1;
            let step = seen[r];
            for d in 0..dim {
                let (i, gi) = (r * dim + d, f64::from(g[b * dim + d]));
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                let denom = v[i].sqrt() / (1.0 - b2.powi(step)).sqrt() + eps;
                want[i] -= lr / (1.0 - b1.powi(step)) * m[i] / denom;
            }
        }
        // 1 - beta2^t in f32 keeps about 5 digits for t = 1 (0.999 is not exact), and the GPU
        // forms beta^t as exp2(t log2 beta): steps of 0.05 carry errors of a few 1e-6.
        assert_close(
            &format!("table after step {}", t + 1),
            &table.to_vec(),
            &want,
            5e-6,
            1e-5,
        );
    }
    assert_eq!(
        table.to_vec()[4 * dim..5 * dim],
        table_host[4 * dim..5 * dim],
        "row 4 was never in a batch"
    );
}

#[test]
#[should_panic(expected = "names a table row twice")]
fn row_adam_refuses_repeated_rows() {
    let gpu = gpu();
    let table = Tensor::zeros(&gpu, &[4, 2]);
    RowAdam::new(table, 0.1, 0.9, 0.999).step(&[1, 1], &Tensor::zeros(&gpu, &[2, 2]));
}

#[test]
fn clipping_scales_to_the_global_norm() {
    let gpu = gpu();
    let a = Tensor::zeros(&gpu, &[2]).track();
    let b = Tensor::zeros(&gpu, &[3]).track();
    let params = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
    for (max_norm, ga, gb) in [
        (1.0f32, [3.0f32, 0.0], [0.0f32, 4.0, 0.0]),
        (10.0, [3.0, 0.0], [0.0, 4.0, 0.0]),
    ] {
        let mut grads = Grads::default();
        grads.insert(&a, Tensor::from_slice(&gpu, &ga, &[2]));
        grads.insert(&b, Tensor::from_slice(&gpu, &gb, &[3]));
        let norm = clip_grad_norm(&mut grads, &params, max_norm);
        assert_close("norm", &norm.to_vec(), &[5.0], 1e-6, 0.0);
        let scale = (f64::from(max_norm) / (5.0 + 1e-6)).min(1.0);
        let want_a: Vec<f64> = ga.iter().map(|&g| f64::from(g) * scale).collect();
        let want_b: Vec<f64> = gb.iter().map(|&g| f64::from(g) * scale).collect();
        assert_close(
            "clipped a",
            &grads.get(&a).unwrap().to_vec(),
            &want_a,
            1e-6,
            1e-6,
        );
        assert_close(
            "clipped b",
            &grads.get(&b).unwrap().to_vec(),
            &want_b,
            1e-6,
            1e-6,
        );
    }
}
