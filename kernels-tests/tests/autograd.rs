//! Gradients of the core ops and the tape's bookkeeping.

use kernels_tests::{OpCheck, assert_close, broadcast_index, gpu, sigmoid};
use pegasus::Tensor;
use pegasus::autograd;

type UnaryGrad = (
    &'static str,
    fn(&Tensor) -> Tensor,
    fn(f64) -> f64,
    fn(f64) -> f64,
    f64,
    f64,
);

#[test]
fn unary_gradients() {
    let cases: &[UnaryGrad] = &[
        ("neg", Tensor::neg, |x| -x, |_| -1.0, -3.0, 3.0),
        ("exp", Tensor::exp, f64::exp, f64::exp, -3.0, 3.0),
        ("log", Tensor::log, f64::ln, |x| 1.0 / x, 0.1, 5.0),
        (
            "sqrt",
            Tensor::sqrt,
            f64::sqrt,
            |x| 0.5 / x.sqrt(),
            0.1,
            5.0,
        ),
        (
            "tanh",
            Tensor::tanh,
            f64::tanh,
            |x| 1.0 - x.tanh().powi(2),
            -3.0,
            3.0,
        ),
        (
            "sigmoid",
            Tensor::sigmoid,
            sigmoid,
            |x| sigmoid(x) * (1.0 - sigmoid(x)),
            -6.0,
            6.0,
        ),
        (
            "relu",
            Tensor::relu,
            |x| x.max(0.0),
            |x| if x > 0.0 { 1.0 } else { 0.0 },
            -3.0,
            3.0,
        ),
        (
            "softplus",
            Tensor::softplus,
            |x| x.exp().ln_1p(),
            sigmoid,
            -6.0,
            6.0,
        ),
        ("abs", Tensor::abs, f64::abs, f64::signum, -3.0, 3.0),
        ("square", Tensor::square, |x| x * x, |x| 2.0 * x, -3.0, 3.0),
        (
            "reciprocal",
            Tensor::reciprocal,
            |x| 1.0 / x,
            |x| -1.0 / (x * x),
            0.5,
            3.0,
        ),
        (
            "leaky_relu",
            |t| t.leaky_relu(0.2),
            |x| if x > 0.0 { x } else { 0.2 * x },
            |x| if x > 0.0 { 1.0 } else { 0.2 },
            -3.0,
            3.0,
        ),
        (
            "affine",
            |t| t.affine(-1.5, 0.25),
            |x| -1.5 * x + 0.25,
            |_| -1.5,
            -3.0,
            3.0,
        ),
        (
            "div_scalar",
            |t| t.div_scalar(4.0),
            |x| x / 4.0,
            |_| 0.25,
            -3.0,
            3.0,
        ),
        (
            "max_scalar",
            |t| t.max_scalar(0.3),
            |x| x.max(0.3),
            |x| if x >= 0.3 { 1.0 } else { 0.0 },
            -3.0,
            3.0,
        ),
        (
            "min_scalar",
            |t| t.min_scalar(0.3),
            |x| x.min(0.3),
            |x| if x <= 0.3 { 1.0 } else { 0.0 },
            -3.0,
            3.0,
        ),
    ];
    for (seed, &(name, op, f, df, low, high)) in cases.iter().enumerate() {
        // An odd size and a multiple of 4 (the vec4 kernels).
        for dims in [vec![3, 5, 7], vec![4, 5, 7]] {
            OpCheck {
                name: format!("{name}{dims:?}"),
                inputs: vec![(dims, low, high)],
                gpu: &|x| op(&x[0]),
                forward: &|x| x[0].iter().map(|&v| f(v)).collect(),
                backward: &|x, up| vec![x[0].iter().zip(up).map(|(&v, &u)| u * df(v)).collect()],
                forward_tol: (1e-6, 1e-5),
                grad_tol: (1e-6, 1e-5),
                seed: seed as u64,
            }
            .run();
        }
    }
}

type BinaryGrad = (
    &'static str,
    fn(&Tensor, &Tensor) -> Tensor,
    fn(f64, f64) -> (f64, f64, f64),
);

#[test]
fn binary_gradients_sum_over_broadcast_axes() {
    // (value, d/da, d/db)
    let ops: &[BinaryGrad] = &[
        ("add", Tensor::add, |a, b| (a + b, 1.0, 1.0)),
        ("sub", Tensor::sub, |a, b| (a - b, 1.0, -1.0)),
        ("mul", Tensor::mul, |a, b| (a * b, b, a)),
        ("div", Tensor::div, |a, b| (a / b, 1.0 / b, -a / (b * b))),
        ("maximum", Tensor::maximum, |a, b| {
            if a >= b { (a, 1.0, 0.0) } else { (b, 0.0, 1.0) }
        }),
        ("minimum", Tensor::minimum, |a, b| {
            if a <= b { (a, 1.0, 0.0) } else { (b, 0.0, 1.0) }
        }),
    ];
    let layouts: &[(&[usize], &[usize], &[usize])] = &[
        (&[3, 4, 5], &[3, 4, 5], &[3, 4, 5]),
        (&[2, 3, 4, 5], &[3, 1, 1], &[2, 3, 4, 5]),
        (&[6, 1], &[1, 7], &[6, 7]),
        (&[1], &[4, 3], &[4, 3]),
    ];
    for &(name, op, f) in ops {
        for &(sa, sb, out) in layouts {
            let n: usize = out.iter().product();
            let forward = |x: &[Vec<f64>]| -> Vec<f64> {
                (0..n)
                    .map(|i| {
                        f(
                            x[0][broadcast_index(out, sa, i)],
                            x[1][broadcast_index(out, sb, i)],
                        )
                        .0
                    })
                    .collect()
            };
            let backward = |x: &[Vec<f64>], up: &[f64]| -> Vec<Vec<f64>> {
                let mut ga = vec![0.0; x[0].len()];
                let mut gb = vec![0.0; x[1].len()];
                for (i, u) in up.iter().enumerate() {
                    let (ia, ib) = (broadcast_index(out, sa, i), broadcast_index(out, sb, i));
                    let (_, da, db) = f(x[0][ia], x[1][ib]);
                    ga[ia] += u * da;
                    gb[ib] += u * db;
                }
                vec![ga, gb]
            };
            OpCheck {
                name: format!("{name} {sa:?} {sb:?}"),
                inputs: vec![(sa.to_vec(), -2.0, 2.0), (sb.to_vec(), 0.5, 2.0)],
                gpu: &|x| op(&x[0], &x[1]),
                forward: &forward,
                backward: &backward,
                forward_tol: (1e-6, 1e-5),
                grad_tol: (1e-5, 1e-5),
                seed: 7,
            }
            .run();
        }
    }
}

#[test]
fn reduction_gradients() {
    let dims = [3usize, 4, 5];
    let n = 60;
    let coords = |i: usize| [i / 20, (i / 5) % 4, i % 5];
    // Reduce axes {0, 2}: output index is the middle coordinate.
    OpCheck {
        name: "sum over 0, 2".into(),
        inputs: vec![(dims.to_vec(), -1.0, 1.0)],
        gpu: &|x| x[0].sum_axes(&[0, 2]),
        forward: &|x| {
            let mut out = vec![0.0; 4];
            (0..n).for_each(|i| out[coords(i)[1]] += x[0][i]);
            out
        },
        backward: &|_, up| vec![(0..n).map(|i| up[coords(i)[1]]).collect()],
        forward_tol: (1e-5, 1e-5),
        grad_tol: (1e-6, 1e-6),
        seed: 1,
    }
    .run();
    OpCheck {
        name: "mean over 1".into(),
        inputs: vec![(dims.to_vec(), -1.0, 1.0)],
        gpu: &|x| x[0].mean_axes(&[1]),
        forward: &|x| {
            let mut out = vec![0.0; 15];
            (0..n).for_each(|i| out[coords(i)[0] * 5 + coords(i)[2]] += x[0][i] / 4.0);
            out
        },
        backward: &|_, up| {
            vec![
                (0..n)
                    .map(|i| up[coords(i)[0] * 5 + coords(i)[2]] / 4.0)
                    .collect(),
            ]
        },
        forward_tol: (1e-6, 1e-5),
        grad_tol: (1e-6, 1e-6),
        seed: 2,
    }
    .run();
    OpCheck {
        name: "max over all".into(),
        inputs: vec![(dims.to_vec(), -1.0, 1.0)],
        gpu: &|x| x[0].max(),
        forward: &|x| vec![x[0].iter().cloned().fold(f64::MIN, f64::max)],
        backward: &|x, up| {
            let m = x[0].iter().cloned().fold(f64::MIN, f64::max);
            vec![
                x[0].iter()
                    .map(|&v| if v == m { up[0] } else { 0.0 })
                    .collect(),
            ]
        },
        forward_tol: (0.0, 0.0),
        grad_tol: (0.0, 0.0),
        seed: 3,
    }
    .run();
}

fn matmul_ref(a: &[f64], b: &[f64], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
        }
    }
    c
}

fn transpose(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols)
        .map(|i| x[(i % rows) * cols + i / rows])
        .collect()
}

#[test]
fn matmul_gradients_for_every_transpose() {
    let (m, n, k) = (7, 5, 9);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a_dims = if ta { vec![k, m] } else { vec![m, k] };
        let b_dims = if tb { vec![n, k] } else { vec![k, n] };
        // op(X) as a row-major matrix.
        let op_a = |a: &[f64]| if ta { transpose(a, k, m) } else { a.to_vec() };
        let op_b = |b: &[f64]| if tb { transpose(b, n, k) } else { b.to_vec() };
        OpCheck {
            name: format!("matmul trans {ta} {tb}"),
            inputs: vec![(a_dims, -1.0, 1.0), (b_dims, -1.0, 1.0)],
            gpu: &|x| x[0].matmul_t(&x[1], ta, tb),
            forward: &|x| matmul_ref(&op_a(&x[0]), &op_b(&x[1]), m, n, k),
            backward: &|x, up| {
                // dAo = G Bo^T, dBo = Ao^T G, then undo the transposes.
                let dao = matmul_ref(up, &transpose(&op_b(&x[1]), k, n), m, k, n);
                let dbo = matmul_ref(&transpose(&op_a(&x[0]), m, k), up, k, n, m);
                let da = if ta { transpose(&dao, m, k) } else { dao };
                let db = if tb { transpose(&dbo, k, n) } else { dbo };
                vec![da, db]
            },
            forward_tol: (1e-5, 1e-5),
            grad_tol: (1e-5, 1e-5),
            seed: 4,
        }
        .run();
    }
}

#[test]
fn batched_matmul_with_a_shared_weight() {
    let (batch, m, n, k) = (3, 4, 5, 6);
    OpCheck {
        name: "batched x shared".into(),
        inputs: vec![(vec![batch, m, k], -1.0, 1.0), (vec![k, n], -1.0, 1.0)],
        gpu: &|x| x[0].matmul(&x[1]),
        forward: &|x| {
            (0..batch)
                .flat_map(|z| matmul_ref(&x[0][z * m * k..(z + 1) * m * k], &x[1], m, n, k))
                .collect()
        },
        backward: &|x, up| {
            let bt = transpose(&x[1], k, n);
            let mut da = Vec::new();
            let mut db = vec![0.0; k * n];
            for z in 0..batch {
                let g = &up[z * m * n..(z + 1) * m * n];
                da.extend(matmul_ref(g, &bt, m, k, n));
                let az = transpose(&x[0][z * m * k..(z + 1) * m * k], m, k);
                for (d, v) in db.iter_mut().zip(matmul_ref(&az, g, k, n, m)) {
                    *d += v;
                }
            }
            vec![da, db]
        },
        forward_tol: (1e-5, 1e-5),
        grad_tol: (1e-5, 1e-5),
        seed: 5,
    }
    .run();
}

/// Input index of output element i of permute([2, 0, 1]) on a [2, 3, 4] tensor.
fn permuted(i: usize) -> usize {
    let (c0, c1, c2) = (i / 6, (i / 3) % 2, i % 3);
    c1 * 12 + c2 * 4 + c0
}

#[test]
fn layout_gradients() {
    OpCheck {
        name: "permute".into(),
        inputs: vec![(vec![2, 3, 4], -1.0, 1.0)],
        gpu: &|x| x[0].permute(&[2, 0, 1]),
        // out[c0, c1, c2] = x[c1, c2, c0] with out dims [4, 2, 3].
        forward: &|x| (0..24).map(|i| x[0][permuted(i)]).collect(),
        backward: &|_, up| {
            let mut g = vec![0.0; 24];
            (0..24).for_each(|i| g[permuted(i)] += up[i]);
            vec![g]
        },
        forward_tol: (0.0, 0.0),
        grad_tol: (0.0, 0.0),
        seed: 6,
    }
    .run();
    OpCheck {
        name: "expand".into(),
        inputs: vec![(vec![3, 1], -1.0, 1.0)],
        gpu: &|x| x[0].expand(&[2, 3, 4]),
        forward: &|x| (0..24).map(|i| x[0][(i / 4) % 3]).collect(),
        backward: &|_, up| {
            let mut g = vec![0.0; 3];
            (0..24).for_each(|i| g[(i / 4) % 3] += up[i]);
            vec![g]
        },
        forward_tol: (0.0, 0.0),
        grad_tol: (1e-6, 1e-6),
        seed: 7,
    }
    .run();
}

#[test]
fn gradients_accumulate_when_a_tensor_is_used_twice() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, &[1.0, -2.0, 3.0], &[3]).track();
    // y = x * x + 3x: dy/dx = 2x + 3.
    let y = x.mul(&x).add(&x.affine(3.0, 0.0)).sum();
    let grads = y.backward();
    assert_close(
        "d(x^2 + 3x)",
        &grads.get(&x).unwrap().to_vec(),
        &[5.0, -1.0, 9.0],
        1e-6,
        0.0,
    );
    assert_eq!(autograd::len(), 0, "backward consumes the tape");
}

#[test]
fn no_grad_detach_and_clear() {
    let gpu = gpu();
    let w = Tensor::from_slice(&gpu, &[2.0], &[1]).track();
    let y = autograd::no_grad(|| w.mul(&w));
    assert!(y.id().is_none(), "nothing is recorded under no_grad");
    let z = w.detach().mul(&w).sum();
    let grads = z.backward();
    assert_close(
        "through one side only",
        &grads.get(&w).unwrap().to_vec(),
        &[2.0],
        1e-6,
        0.0,
    );
    let _ = w.mul(&w);
    assert!(autograd::len() > 0);
    autograd::clear();
    assert_eq!(autograd::len(), 0);
    let untracked = Tensor::from_slice(&gpu, &[1.0], &[1]);
    assert!(
        untracked.exp().id().is_none(),
        "ops on untracked tensors are not recorded"
    );
}

#[test]
fn backward_each_gives_each_objective_its_own_leaves_only() {
    let gpu = gpu();
    let (x, a, b) = (
        [1.0f32, -2.0, 3.0],
        [0.5f32, 2.0, -1.0],
        [3.0f32, -1.0, 2.0],
    );
    let input = Tensor::from_slice(&gpu, &x, &[3]);
    let wa = Tensor::from_slice(&gpu, &a, &[3]).track();
    let wb = Tensor::from_slice(&gpu, &b, &[3]).track();
    let [x, a, b] = [x, a, b].map(|v| v.map(f64::from));
    // Two stages as a generator and a critic: h = x wa, y = h wb.
    let h = input.mul(&wa);
    let y = h.mul(&wb);
    let squares = y.mul(&y).sum();
    let linear = y.sum().add(&h.sum());
    let before_b = h.mul(&h).sum();
    let [for_a, for_b, unreachable] = autograd::backward_each([
        (&squares, std::slice::from_ref(&wa)),
        (&linear, std::slice::from_ref(&wb)),
        (&before_b, std::slice::from_ref(&wb)),
    ]);
    let hy: Vec<(f64, f64)> = (0..3).map(|i| (x[i] * a[i], x[i] * a[i] * b[i])).collect();
    // d sum(y^2) / d wa = 2 y wb x; d (sum y + sum h) / d wb = h.
    let want_a: Vec<f64> = (0..3).map(|i| 2.0 * hy[i].1 * b[i] * x[i]).collect();
    let want_b: Vec<f64> = hy.iter().map(|&(h, _)| h).collect();
    assert_close(
        "d sum(y^2) / d wa",
        &for_a.get(&wa).unwrap().to_vec(),
        &want_a,
        1e-6,
        0.0,
    );
    assert_close(
        "d (sum y + sum h) / d wb",
        &for_b.get(&wb).unwrap().to_vec(),
        &want_b,
        1e-6,
        0.0,
    );
    assert!(
        for_a.get(&wb).is_none(),
        "the first objective was not asked for wb's gradient"
    );
    assert!(
        for_b.get(&wa).is_none(),
        "the second objective was not asked for wa's gradient"
    );
    assert!(
        unreachable.get(&wb).is_none() && unreachable.get(&wa).is_none(),
        "sum(h^2) does not depend on wb"
    );
    assert_eq!(autograd::len(), 0, "backward_each consumes the tape");
}
