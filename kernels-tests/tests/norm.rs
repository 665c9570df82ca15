//! Batch normalisation: training and eval forward, the fused backward, running estimates.

use kernels_tests::{Inputs, OpCheck, assert_close, gpu, to_f64};
use pegasus::Tensor;
use pegasus::ops::{RunningStats, with_separate_norm_passes};

/// Per-channel (mean, biased variance) of x viewed as [n, c, s].
fn stats(x: &[f64], n: usize, c: usize, s: usize) -> Vec<(f64, f64)> {
    (0..c)
        .map(|ch| {
            let vals: Vec<f64> = (0..n)
                .flat_map(|b| (0..s).map(move |i| (b, i)))
                .map(|(b, i)| x[(b * c + ch) * s + i])
                .collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let v = vals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / vals.len() as f64;
            (m, v)
        })
        .collect()
}

const EPS: f64 = 1e-5;

/// The check with each pair of passes fused in one per-channel kernel (software rasterisers)
/// and as the separate passes a GPU runs.
fn check_training_both_ways(dims: &[usize], seed: u64, slope: f64) {
    check_training_rectified(dims, seed, slope);
    with_separate_norm_passes(|| check_training_rectified(dims, seed, slope));
}

/// Batch norm in training mode followed by a leaky rectifier of `slope` (1: none; the
/// rectifier fused into batch norm's kernels).
fn check_training_rectified(dims: &[usize], seed: u64, slope: f64) {
    let (n, c) = (dims[0], dims[1]);
    let s: usize = dims[2..].iter().product();
    let ch = |i: usize| (i / s) % c;
    let normalized = |v: &[Vec<f64>]| -> Vec<f64> {
        let st = stats(&v[0], n, c, s);
        (0..v[0].len())
            .map(|i| {
                (v[0][i] - st[ch(i)].0) / (st[ch(i)].1 + EPS).sqrt() * v[1][ch(i)] + v[2][ch(i)]
            })
            .collect()
    };
    let forward = |v: &[Vec<f64>]| {
        normalized(v)
            .into_iter()
            .map(|y| if y > 0.0 { y } else { slope * y })
            .collect()
    };
    // The textbook backward of y = gamma * xhat + beta with batch statistics, after the
    // rectifier's.
    let backward = |v: &[Vec<f64>], up: &[f64]| {
        let up: Vec<f64> = normalized(v)
            .iter()
            .zip(up)
            .map(|(&y, &u)| if y > 0.0 { u } else { slope * u })
            .collect();
        let st = stats(&v[0], n, c, s);
        let count = (n * s) as f64;
        let xhat: Vec<f64> = (0..v[0].len())
            .map(|i| (v[0][i] - st[ch(i)].0) / (st[ch(i)].1 + EPS).sqrt())
            .collect();
        let mut sum_dy = vec![0.0; c];
        let mut sum_dy_xhat = vec![0.0; c];
        for i in 0..up.len() {
            sum_dy[ch(i)] += up[i];
            sum_dy_xhat[ch(i)] += up[i] * xhat[i];
        }
        let dx = (0..up.len())
            .map(|i| {
                let k = ch(i);
                v[1][k] / (st[k].1 + EPS).sqrt()
                    * (up[i] - sum_dy[k] / count - xhat[i] * sum_dy_xhat[k] / count)
            })
            .collect();
        vec![dx, sum_dy_xhat, sum_dy]
    };
    let gpu = gpu();
    let running_mean = Tensor::zeros(&gpu, &[c]);
    let running_var = Tensor::full(&gpu, &[c], 1.0);
    OpCheck {
        name: format!("batch_norm train {dims:?}, rectifier slope {slope}"),
        inputs: with_affine(dims.to_vec(), (-2.0, 3.0), c),
        gpu: &|t| {
            let stats = RunningStats::new(&running_mean, &running_var);
            t[0].batch_norm_rectified(&t[1], &t[2], stats, (true, 0.1, EPS as f32), slope as f32)
        },
        forward: &forward,
        backward: &backward,
        forward_tol: (1e-4, 1e-4),
        grad_tol: (1e-4, 1e-4),
        seed,
    }
    .run();
}

/// OpCheck inputs for batch norm: x of `x_dims` from `range`, then gamma and beta for `c`
/// channels.
fn with_affine(x_dims: Vec<usize>, range: (f64, f64), c: usize) -> Vec<(Vec<usize>, f64, f64)> {
    vec![
        (x_dims, range.0, range.1),
        (vec![c], 0.5, 1.5),
        (vec![c], -1.0, 1.0),
    ]
}

/// Batch norm of t[0] with gamma t[1] and beta t[2], momentum 0.1.
fn batch_norm(t: &[Tensor], stats: RunningStats, training: bool) -> Tensor {
    t[0].batch_norm(&t[1], &t[2], stats, training, 0.1, EPS as f32)
}

#[test]
fn training_mode_forward_and_backward() {
    // Planes of 4 to 63 values, not whole vec4s, in a tensor that is: every pass reads vec4s
    // that span two planes, from each position (35, 5), the GLO's 7 x 7, and planes of 6
    // whose vec4s hold values of three channels
    check_training_both_ways(&[4, 3, 5, 7], 1, 1.0);
    check_training_both_ways(&[2, 6, 2, 3], 18, 1.0);
    check_training_both_ways(&[4, 3, 5, 1], 9, 1.0);
    check_training_both_ways(&[2, 2, 7, 7], 10, 1.0);
    check_training_both_ways(&[3, 1, 5, 1], 15, 1.0); // 15 values: one thread per element
    check_training_both_ways(&[1, 2, 3, 1], 2, 1.0); // batch of one image: statistics over its pixels
    check_training_both_ways(&[7, 5], 3, 1.0); // BatchNorm1d
    check_training_both_ways(&[3, 37, 1, 1], 4, 1.0);
    check_training_both_ways(&[2, 3, 17, 19], 5, 1.0); // planes longer than a workgroup, not a multiple of it
    check_training_both_ways(&[3, 2, 16, 16], 6, 1.0); // planes exactly one workgroup long
    // Planes of whole vec4s: short ones (vec4 reductions, one thread per element), and ones
    // whose 100 vec4s take two passes of a plane's 64 threads.
    check_training_both_ways(&[3, 5, 2, 6], 7, 1.0);
    check_training_both_ways(&[2, 3, 20, 20], 8, 1.0);
}

#[test]
fn rectifiers_fused_into_training_mode() {
    // ReLU and a leaky slope, on scalar and vec4 kernels of both launch shapes.
    for (dims, seed) in [
        (&[4, 3, 5, 7][..], 11),
        (&[4, 3, 5, 1], 16),
        (&[3, 1, 5, 1], 17),
        (&[3, 5, 2, 6], 12),
        (&[2, 3, 20, 20], 13),
    ] {
        check_training_both_ways(dims, seed, 0.0);
        check_training_both_ways(dims, seed, 0.2);
    }
    check_training_both_ways(&[7, 5], 14, 0.0);
}

#[test]
fn statistics_stay_accurate_far_from_zero_and_over_long_planes() {
    // Values near 1000 with a spread of 1: a plain sum of squares in f32 would lose the
    // variance to cancellation.
    let gpu = gpu();
    let mut inputs = Inputs::new(11);
    for dims in [
        [3usize, 2, 17, 19],
        [2, 3, 1, 1],
        [5, 4, 16, 16],
        [300, 2, 1, 1],
        [6, 3, 7, 7], // vec4s spanning two planes in the reductions
    ] {
        let (n, c, s) = (dims[0], dims[1], dims[2] * dims[3]);
        let (x, host) = inputs.tensor(&dims, 1000.0, 1001.0);
        let (rm, rv) = (Tensor::zeros(&gpu, &[c]), Tensor::zeros(&gpu, &[c]));
        let (gamma, beta) = (Tensor::full(&gpu, &[c], 1.0), Tensor::zeros(&gpu, &[c]));
        // Momentum 1: the running estimates become the batch's mean and unbiased variance.
        let _ = x.batch_norm(&gamma, &beta, RunningStats::new(&rm, &rv), true, 1.0, 1e-5);
        let st = stats(&to_f64(&host), n, c, s);
        let count = (n * s) as f64;
        let means: Vec<f64> = st.iter().map(|m| m.0).collect();
        let vars: Vec<f64> = st.iter().map(|m| m.1 * count / (count - 1.0)).collect();
        assert_close(&format!("mean {dims:?}"), &rm.to_vec(), &means, 1e-4, 1e-6);
        assert_close(
            &format!("variance {dims:?}"),
            &rv.to_vec(),
            &vars,
            1e-5,
            1e-3,
        );
    }
}

#[test]
fn running_estimates_move_by_momentum_with_the_unbiased_variance() {
    let gpu = gpu();
    let mut inputs = Inputs::new(9);
    let (x, host) = inputs.tensor(&[6, 4, 3, 3], -1.0, 2.0);
    let rm_host = inputs.vec(4, -0.5, 0.5);
    let rv_host = inputs.vec(4, 0.5, 1.5);
    let (rm, rv) = (
        Tensor::from_slice(&gpu, &rm_host, &[4]),
        Tensor::from_slice(&gpu, &rv_host, &[4]),
    );
    let gamma = Tensor::full(&gpu, &[4], 1.0);
    let beta = Tensor::zeros(&gpu, &[4]);
    let _ = x.batch_norm(&gamma, &beta, RunningStats::new(&rm, &rv), true, 0.1, 1e-5);
    let st = stats(&to_f64(&host), 6, 4, 9);
    let count = 54.0;
    let want_mean: Vec<f64> = (0..4)
        .map(|k| 0.9 * f64::from(rm_host[k]) + 0.1 * st[k].0)
        .collect();
    let want_var: Vec<f64> = (0..4)
        .map(|k| 0.9 * f64::from(rv_host[k]) + 0.1 * st[k].1 * count / (count - 1.0))
        .collect();
    assert_close("running mean", &rm.to_vec(), &want_mean, 1e-6, 1e-5);
    assert_close("running var", &rv.to_vec(), &want_var, 1e-6, 1e-5);
}

#[test]
fn eval_mode_uses_the_running_estimates() {
    let (n, c, s) = (3, 4, 6);
    let gpu = gpu();
    let mut inputs = Inputs::new(10);
    let rm_host = inputs.vec(c, -0.5, 0.5);
    let rv_host = inputs.vec(c, 0.5, 1.5);
    let rm = Tensor::from_slice(&gpu, &rm_host, &[c]);
    let rv = Tensor::from_slice(&gpu, &rv_host, &[c]);
    let (rm64, rv64) = (to_f64(&rm_host), to_f64(&rv_host));
    let ch = |i: usize| (i / s) % c;
    OpCheck {
        name: "batch_norm eval".into(),
        inputs: with_affine(vec![n, c, 2, 3], (-2.0, 2.0), c),
        gpu: &|t| batch_norm(t, RunningStats::new(&rm, &rv), false),
        forward: &|v| {
            (0..v[0].len())
                .map(|i| {
                    (v[0][i] - rm64[ch(i)]) / (rv64[ch(i)] + EPS).sqrt() * v[1][ch(i)] + v[2][ch(i)]
                })
                .collect()
        },
        backward: &|v, up| {
            let mut dgamma = vec![0.0; c];
            let mut dbeta = vec![0.0; c];
            let dx = (0..up.len())
                .map(|i| {
                    let k = ch(i);
                    dgamma[k] += up[i] * (v[0][i] - rm64[k]) / (rv64[k] + EPS).sqrt();
                    dbeta[k] += up[i];
                    up[i] * v[1][k] / (rv64[k] + EPS).sqrt()
                })
                .collect();
            vec![dx, dgamma, dbeta]
        },
        forward_tol: (1e-5, 1e-5),
        grad_tol: (1e-5, 1e-5),
        seed: 11,
    }
    .run();
    assert_close("eval leaves running mean", &rm.to_vec(), &rm64, 0.0, 0.0);
}

#[test]
fn a_channel_of_infinities_leaves_the_others_finite() {
    // 7 x 7 planes: the reductions' vec4s at a plane's edges also hold the next channel's
    // values, which must not reach this channel's sums even multiplied by zero.
    let gpu = gpu();
    let (n, c, s) = (2, 2, 49);
    let host: Vec<f32> = (0..n * c * s)
        .map(|i| {
            if (i / s) % c == 1 {
                f32::INFINITY
            } else {
                (i % 7) as f32 * 0.3 - 1.0
            }
        })
        .collect();
    let x = Tensor::from_slice(&gpu, &host, &[n, c, 7, 7]).track();
    let (rm, rv) = (Tensor::zeros(&gpu, &[c]), Tensor::zeros(&gpu, &[c]));
    let gamma = Tensor::full(&gpu, &[c], 1.0).track();
    let beta = Tensor::zeros(&gpu, &[c]).track();
    let y = x.batch_norm(&gamma, &beta, RunningStats::new(&rm, &rv), true, 0.1, 1e-5);
    let weights: Vec<f32> = (0..n * c * s).map(|i| (i % 5) as f32 - 2.0).collect();
    let grads = y
        .mul(&Tensor::from_slice(&gpu, &weights, &[n, c, 7, 7]))
        .sum()
        .backward();
    let dx = grads.get(&x).unwrap().to_vec();
    let channel_0 = (0..n * c * s).filter(|i| (i / s) % c == 0);
    assert!(
        channel_0.clone().all(|i| dx[i].is_finite()),
        "channel 0's input gradient: {:?}",
        channel_0.map(|i| dx[i]).collect::<Vec<_>>()
    );
    assert!(grads.get(&gamma).unwrap().to_vec()[0].is_finite());
}
