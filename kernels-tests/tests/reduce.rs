//! Reductions against f64 references.

use kernels_tests::{Inputs, assert_close};
use pegasus::Tensor;

#[derive(Clone, Copy, Debug)]
enum Op {
    Sum,
    Mean,
    Max,
    Min,
}

fn apply(op: Op, t: &Tensor, axes: &[isize]) -> Tensor {
    match op {
        Op::Sum => t.sum_axes(axes),
        Op::Mean => t.mean_axes(axes),
        Op::Max => t.max_axes(axes),
        Op::Min => t.min_axes(axes),
    }
}

/// f64 reference: fold every element into the output cell of its kept coordinates.
fn reference(op: Op, host: &[f32], dims: &[usize], axes: &[usize]) -> Vec<f64> {
    let kept: Vec<usize> = (0..dims.len()).filter(|d| !axes.contains(d)).collect();
    let out_len: usize = kept.iter().map(|&d| dims[d]).product();
    let count: usize = axes.iter().map(|&d| dims[d]).product();
    let init = match op {
        Op::Max => f64::NEG_INFINITY,
        Op::Min => f64::INFINITY,
        _ => 0.0,
    };
    let mut out = vec![init; out_len];
    for (i, &v) in host.iter().enumerate() {
        let mut rest = i;
        let mut coords = vec![0; dims.len()];
        for d in (0..dims.len()).rev() {
            coords[d] = rest % dims[d];
            rest /= dims[d];
        }
        let o = kept.iter().fold(0, |acc, &d| acc * dims[d] + coords[d]);
        let v = f64::from(v);
        out[o] = match op {
            Op::Max => out[o].max(v),
            Op::Min => out[o].min(v),
            _ => out[o] + v,
        };
    }
    if let Op::Mean = op {
        out.iter_mut().for_each(|v| *v /= count as f64);
    }
    out
}

/// Every subset of axes of a 4-D odd shape, and of shapes with size-1 axes.
#[test]
fn every_axis_subset() {
    let mut inputs = Inputs::new(11);
    for dims in [[3usize, 5, 7, 11], [1, 6, 1, 9], [2, 1, 13, 1]] {
        let (x, host) = inputs.tensor(&dims, -2.0, 2.0);
        for mask in 1u32..16 {
            let axes: Vec<usize> = (0..4).filter(|d| mask & (1 << d) != 0).collect();
            let signed: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            for op in [Op::Sum, Op::Mean, Op::Max, Op::Min] {
                let got = apply(op, &x, &signed);
                let want = reference(op, &host, &dims, &axes);
                let kept: Vec<usize> = (0..4)
                    .filter(|d| !axes.contains(d))
                    .map(|d| dims[d])
                    .collect();
                assert_eq!(
                    got.dims(),
                    kept.as_slice(),
                    "{op:?} over {axes:?} of {dims:?}"
                );
                // Sums of at most 1155 terms in [-2, 2]: f32 rounding stays far below 1e-4.
                assert_close(
                    &format!("{op:?} {axes:?} of {dims:?}"),
                    &got.to_vec(),
                    &want,
                    1e-4,
                    1e-5,
                );
            }
        }
    }
}

#[test]
fn negative_axes_count_from_the_end() {
    let mut inputs = Inputs::new(12);
    let (x, host) = inputs.tensor(&[4, 6, 5], -1.0, 1.0);
    let want = reference(Op::Sum, &host, &[4, 6, 5], &[2]);
    assert_close("sum -1", &x.sum_axes(&[-1]).to_vec(), &want, 1e-5, 1e-5);
}

/// Over a million elements: several passes of the tree; a long serial f32 sum of these
/// values would drift by about 1e-3 relative, the tree stays near 1e-6.
#[test]
fn large_reductions_are_accurate() {
    let mut inputs = Inputs::new(13);
    let n = (1 << 20) + 3;
    let (x, host) = inputs.tensor(&[n], 0.0, 1.0);
    let exact: f64 = host.iter().map(|&v| f64::from(v)).sum();
    assert_close("sum", &x.sum().to_vec(), &[exact], 0.0, 2e-6);
    assert_close("mean", &x.mean().to_vec(), &[exact / n as f64], 0.0, 2e-6);
    let max = host.iter().cloned().fold(f32::MIN, f32::max);
    assert_eq!(x.max().item(), max);
    // Columns of a tall matrix: the strided kernel over many chunks.
    let (y, yh) = inputs.tensor(&[4099, 3], -1.0, 1.0);
    let want = reference(Op::Sum, &yh, &[4099, 3], &[0]);
    assert_close("column sums", &y.sum_axes(&[0]).to_vec(), &want, 1e-4, 1e-5);
}

#[test]
fn reducing_a_single_element_copies_it() {
    let x = Tensor::scalar(&kernels_tests::gpu(), 4.5);
    assert_eq!(x.sum().to_vec(), vec![4.5]);
    assert_eq!(x.mean().item(), 4.5);
    let y = x.sum();
    assert!(!y.same_storage(&x), "a reduction returns a new tensor");
}

#[test]
fn mean_abs_and_its_one_pass_gradient() {
    // Sizes that are and are not whole vec4s, one value, more than a workgroup, and enough
    // for the reduction to take several passes.
    for (dims, seed) in [
        (vec![7usize], 1u64),
        (vec![2, 3, 4], 2),
        (vec![1], 3),
        (vec![5, 257], 4),
        (vec![3, 50_001], 5),
    ] {
        kernels_tests::OpCheck {
            name: format!("mean_abs {dims:?}"),
            inputs: vec![(dims, -1.0, 1.0)],
            gpu: &|t| t[0].mean_abs(),
            forward: &|v| vec![v[0].iter().map(|x| x.abs()).sum::<f64>() / v[0].len() as f64],
            backward: &|v, up| {
                let n = v[0].len() as f64;
                vec![v[0].iter().map(|x| up[0] * x.signum() / n).collect()]
            },
            forward_tol: (1e-6, 1e-5),
            grad_tol: (1e-7, 1e-5),
            seed,
        }
        .run();
    }
}
