//! Elementwise kernels against f64 references.

use kernels_tests::{Inputs, assert_close, broadcast_index, gpu, sigmoid, to_f64};
use pegasus::Tensor;

/// Sizes: a single element, odd primes, a 4-D odd shape, one past a workgroup multiple, and
/// multiples of 4 (the vec4 kernels) under and over a workgroup's 256 vec4s.
const SHAPES: &[&[usize]] = &[
    &[1],
    &[7],
    &[13, 17],
    &[3, 5, 7, 11],
    &[257],
    &[12, 20],
    &[2, 3, 4, 44],
];

/// f32 transcendental functions on GPUs are accurate to a few ulp; 1e-5 relative covers that
/// with margin, the absolute part covers results near zero.
const ATOL: f64 = 1e-6;
const RTOL: f64 = 1e-5;

type UnaryCase = (
    &'static str,
    fn(&Tensor) -> Tensor,
    fn(f64) -> f64,
    f64,
    f64,
);

#[test]
fn unary_ops_match_the_math() {
    let cases: &[UnaryCase] = &[
        ("neg", Tensor::neg, |x| -x, -5.0, 5.0),
        ("exp", Tensor::exp, f64::exp, -10.0, 10.0),
        ("log", Tensor::log, f64::ln, 1e-3, 100.0),
        ("sqrt", Tensor::sqrt, f64::sqrt, 0.0, 100.0),
        ("tanh", Tensor::tanh, f64::tanh, -30.0, 30.0),
        ("sigmoid", Tensor::sigmoid, sigmoid, -60.0, 60.0),
        ("relu", Tensor::relu, |x| x.max(0.0), -5.0, 5.0),
        (
            "softplus",
            Tensor::softplus,
            |x| x.exp().ln_1p(),
            -40.0,
            40.0,
        ),
        ("abs", Tensor::abs, f64::abs, -5.0, 5.0),
        ("square", Tensor::square, |x| x * x, -5.0, 5.0),
        ("reciprocal", Tensor::reciprocal, |x| 1.0 / x, 0.5, 5.0),
    ];
    let mut inputs = Inputs::new(1);
    for &(name, op, reference, low, high) in cases {
        for dims in SHAPES {
            let (x, host) = inputs.tensor(dims, low, high);
            let want: Vec<f64> = to_f64(&host).into_iter().map(reference).collect();
            assert_close(
                &format!("{name}{dims:?}"),
                &op(&x).to_vec(),
                &want,
                ATOL,
                RTOL,
            );
        }
    }
}

#[test]
fn parameterised_unary_ops() {
    let mut inputs = Inputs::new(2);
    let (x, host) = inputs.tensor(&[5, 7, 3], -4.0, 4.0);
    let h = to_f64(&host);
    let leaky: Vec<f64> = h
        .iter()
        .map(|&v| if v > 0.0 { v } else { 0.2 * v })
        .collect();
    assert_close(
        "leaky_relu",
        &x.leaky_relu(0.2).to_vec(),
        &leaky,
        ATOL,
        RTOL,
    );
    let affine: Vec<f64> = h.iter().map(|&v| 0.5 * v - 1.25).collect();
    assert_close(
        "affine",
        &x.affine(0.5, -1.25).to_vec(),
        &affine,
        ATOL,
        RTOL,
    );
    let clamped: Vec<f64> = h.iter().map(|&v| v.clamp(-1.0, 2.0)).collect();
    let got = x.max_scalar(-1.0).min_scalar(2.0).to_vec();
    assert_close("clamp", &got, &clamped, 0.0, 0.0);
    let divided: Vec<f64> = h.iter().map(|&v| v / 3.0).collect();
    assert_close(
        "div_scalar",
        &x.div_scalar(3.0).to_vec(),
        &divided,
        ATOL,
        RTOL,
    );
}

#[test]
fn extreme_inputs_stay_finite_where_the_math_is() {
    let gpu = gpu();
    let x = Tensor::from_slice(&gpu, &[-1e4, -90.0, 0.0, 90.0, 1e4], &[5]);
    assert_eq!(x.tanh().to_vec(), vec![-1.0, -1.0, 0.0, 1.0, 1.0]);
    assert_close(
        "sigmoid",
        &x.sigmoid().to_vec(),
        &[0.0, 0.0, 0.5, 1.0, 1.0],
        1e-30,
        0.0,
    );
    assert_close(
        "softplus",
        &x.softplus().to_vec(),
        &[0.0, 0.0, 2f64.ln(), 90.0, 1e4],
        1e-6,
        1e-6,
    );
}

type BinaryCase = (
    &'static str,
    fn(&Tensor, &Tensor) -> Tensor,
    fn(f64, f64) -> f64,
);

const BINARY: &[BinaryCase] = &[
    ("add", Tensor::add, |a, b| a + b),
    ("sub", Tensor::sub, |a, b| a - b),
    ("mul", Tensor::mul, |a, b| a * b),
    ("div", Tensor::div, |a, b| a / b),
    ("maximum", Tensor::maximum, f64::max),
    ("minimum", Tensor::minimum, f64::min),
];

#[test]
fn binary_ops_with_every_broadcast_kind() {
    let layouts: &[(&[usize], &[usize], &[usize])] = &[
        (&[1], &[1], &[1]),
        (&[3, 5, 7, 11], &[3, 5, 7, 11], &[3, 5, 7, 11]),
        (&[3, 5, 7, 11], &[1], &[3, 5, 7, 11]),       // scalar
        (&[3, 5, 7, 11], &[5, 1, 1], &[3, 5, 7, 11]), // NCHW per channel
        (&[13, 17], &[17], &[13, 17]),                // row vector (Linear bias)
        (&[13, 1], &[1, 17], &[13, 17]),              // outer sum
        (&[1, 5, 1, 1], &[3, 5, 7, 11], &[3, 5, 7, 11]), // broadcast first operand
        (&[4, 6, 5, 8], &[4, 6, 5, 8], &[4, 6, 5, 8]), // vec4s
        (&[4, 6, 5, 8], &[6, 1, 1], &[4, 6, 5, 8]),   // a multiple of 4, broadcast
    ];
    let mut inputs = Inputs::new(3);
    for &(sa, sb, out) in layouts {
        let (a, ha) = inputs.tensor(sa, -3.0, 3.0);
        let (b, hb) = inputs.tensor(sb, 0.5, 3.0);
        let n: usize = out.iter().product();
        for &(name, op, reference) in BINARY {
            let got = op(&a, &b);
            assert_eq!(got.dims(), out, "{name} {sa:?} {sb:?}");
            let want: Vec<f64> = (0..n)
                .map(|i| {
                    let x = f64::from(ha[broadcast_index(out, sa, i)]);
                    let y = f64::from(hb[broadcast_index(out, sb, i)]);
                    reference(x, y)
                })
                .collect();
            assert_close(
                &format!("{name} {sa:?} {sb:?}"),
                &got.to_vec(),
                &want,
                ATOL,
                RTOL,
            );
        }
    }
}

#[test]
fn fill_zeros_and_ones() {
    let gpu = gpu();
    assert_eq!(Tensor::full(&gpu, &[3, 7], -2.5).to_vec(), vec![-2.5; 21]);
    assert_eq!(Tensor::zeros(&gpu, &[5, 3]).to_vec(), vec![0.0; 15]);
    let x = Tensor::full(&gpu, &[2, 2], 9.0);
    assert_eq!(x.ones_like().to_vec(), vec![1.0; 4]);
    assert_eq!(x.zeros_like().to_vec(), vec![0.0; 4]);
}

/// More workgroups than one grid dimension holds: the 2-D grid must reach every element.
#[test]
fn large_tensor_uses_a_two_dimensional_grid() {
    let gpu = gpu();
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let n = max * 256 + 1000;
    let mut host = vec![1.0f32; n];
    host[n - 1] = -7.0;
    host[0] = -3.0;
    let got = Tensor::from_slice(&gpu, &host, &[n]).relu().to_vec();
    assert_eq!(got[0], 0.0);
    assert_eq!(got[n - 1], 0.0);
    assert!(
        got[1..n - 1].iter().all(|&v| v == 1.0),
        "an element was skipped"
    );
}
