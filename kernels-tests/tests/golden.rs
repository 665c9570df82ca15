//! Against PyTorch: fixtures written by kernels-tests/golden/make_golden.py (float64 PyTorch,
//! so they carry its conventions: output sizes, the two BatchNorm variances and momentum,
//! Adam's bias correction and weight decay).

use kernels_tests::{assert_close, gpu};
use pegasus::Tensor;
use pegasus::autograd::Grads;
use pegasus::ops::{ConvGeometry, GemmKernel, RunningStats};
use pegasus::optim::{Adam, ParamGroup, Sgd};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn doubles(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn dims(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("size") as usize)
        .collect()
}

fn tensor(values: &Value, shape: &[usize]) -> Tensor {
    Tensor::from_slice(&gpu(), &floats(values), shape).track()
}

/// f32 inputs rounded from the fixture's float64: outputs agree with PyTorch to about 1e-6
/// per product; sums of up to a few hundred stay inside 2e-5.
const TOL: f64 = 2e-5;

fn conv_fixture(name: &str, transposed: bool) {
    for (i, case) in fixture(name)["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let g = ConvGeometry {
            stride: case["stride"].as_u64().unwrap() as usize,
            padding: case["padding"].as_u64().unwrap() as usize,
            dilation: case["dilation"].as_u64().unwrap() as usize,
        };
        let op = case["output_padding"].as_u64().unwrap() as usize;
        for kernel in GemmKernel::available(&gpu()) {
            let x = tensor(&case["x"], &dims(&case["x_shape"]));
            let w = tensor(&case["w"], &dims(&case["w_shape"]));
            let b = tensor(
                &case["b"],
                &[dims(&case["w_shape"])[usize::from(transposed)]],
            );
            let y = if transposed {
                x.conv_transpose2d_with(&w, Some(&b), g, op, kernel)
            } else {
                x.conv2d_with(&w, Some(&b), g, kernel)
            };
            let what = format!("{name} case {i} {kernel:?}");
            assert_eq!(
                y.dims(),
                dims(&case["y_shape"]).as_slice(),
                "{what}: output size"
            );
            assert_close(
                &format!("{what} y"),
                &y.to_vec(),
                &doubles(&case["y"]),
                TOL,
                TOL,
            );
            let dy = Tensor::from_slice(&gpu(), &floats(&case["dy"]), y.dims());
            let grads = y.backward_with(dy);
            for (t, key) in [(&x, "dx"), (&w, "dw"), (&b, "db")] {
                assert_close(
                    &format!("{what} {key}"),
                    &grads.get(t).unwrap().to_vec(),
                    &doubles(&case[key]),
                    TOL,
                    TOL,
                );
            }
        }
    }
}

#[test]
fn conv2d_matches_pytorch() {
    conv_fixture("conv", false);
}

#[test]
fn conv_transpose2d_matches_pytorch() {
    conv_fixture("conv_transpose", true);
}

#[test]
fn batch_norm_matches_pytorch_over_two_steps_and_eval() {
    let f = fixture("batch_norm");
    let shape = dims(&f["shape"]);
    let c = shape[1];
    let gamma = tensor(&f["gamma"], &[c]);
    let beta = tensor(&f["beta"], &[c]);
    let rm = Tensor::zeros(&gpu(), &[c]);
    let rv = Tensor::full(&gpu(), &[c], 1.0);
    for (i, step) in f["steps"].as_array().unwrap().iter().enumerate() {
        let x = tensor(&step["x"], &shape);
        let y = x.batch_norm(&gamma, &beta, RunningStats::new(&rm, &rv), true, 0.1, 1e-5);
        let grads = y.backward_with(Tensor::from_slice(&gpu(), &floats(&step["dy"]), &shape));
        let results = [
            ("y", y.to_vec(), 1e-5),
            ("dx", grads.get(&x).unwrap().to_vec(), 1e-5),
            ("dgamma", grads.get(&gamma).unwrap().to_vec(), 1e-5),
            ("dbeta", grads.get(&beta).unwrap().to_vec(), 1e-5),
            ("running_mean", rm.to_vec(), 1e-6),
            ("running_var", rv.to_vec(), 1e-6),
        ];
        for (field, got, atol) in results {
            let want = doubles(&step[field]);
            assert_close(&format!("step {i} {field}"), &got, &want, atol, 1e-5);
        }
    }
    let x = Tensor::from_slice(&gpu(), &floats(&f["eval_x"]), &dims(&f["eval_shape"]));
    let y = x.batch_norm(&gamma, &beta, RunningStats::new(&rm, &rv), false, 0.1, 1e-5);
    assert_close("eval y", &y.to_vec(), &doubles(&f["eval_y"]), 1e-5, 1e-5);
}

/// Runs five steps with the fixture's gradients and compares the parameter after each.
fn optimiser_fixture(name: &str, mut step: impl FnMut(&Grads, &Tensor)) {
    let run = &fixture("optim")[name];
    let param = tensor(&run["start"], &[2, 7]);
    for (i, (g, after)) in run["grads"]
        .as_array()
        .unwrap()
        .iter()
        .zip(run["after"].as_array().unwrap())
        .enumerate()
    {
        let mut grads = Grads::default();
        grads.insert(&param, Tensor::from_slice(&gpu(), &floats(g), &[2, 7]));
        step(&grads, &param);
        // One f32 update of magnitude up to lr per step: rounding stays near 1e-7.
        assert_close(
            &format!("{name} step {}", i + 1),
            &param.to_vec(),
            &doubles(after),
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn optimisers_match_pytorch() {
    let group = |p: &Tensor, lr| {
        vec![ParamGroup {
            params: vec![("p".into(), p.clone())],
            lr,
        }]
    };
    let mut adam: Option<Adam> = None;
    optimiser_fixture("adam", |grads, p| {
        let opt = adam.get_or_insert_with(|| {
            let mut a = Adam::new(group(p, 0.01), 0.5, 0.999);
            a.weight_decay = 0.1;
            a
        });
        opt.step(grads);
    });
    let mut adamw: Option<Adam> = None;
    optimiser_fixture("adamw", |grads, p| {
        let opt = adamw.get_or_insert_with(|| {
            let mut a = Adam::new(group(p, 0.01), 0.9, 0.99);
            a.weight_decay = 0.1;
            a.decoupled = true;
            a
        });
        opt.step(grads);
    });
    let mut sgd: Option<Sgd> = None;
    optimiser_fixture("sgd", |grads, p| {
        let opt = sgd.get_or_insert_with(|| {
            let mut s = Sgd::new(group(p, 0.05), 0.9);
            s.dampening = 0.1;
            s.weight_decay = 0.01;
            s
        });
        opt.step(grads);
    });
    let mut nesterov: Option<Sgd> = None;
    optimiser_fixture("sgd_nesterov", |grads, p| {
        let opt = nesterov.get_or_insert_with(|| {
            let mut s = Sgd::new(group(p, 0.05), 0.9);
            s.nesterov = true;
            s
        });
        opt.step(grads);
    });
}
