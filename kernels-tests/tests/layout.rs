//! Permute and transpose against index arithmetic in f64.

use kernels_tests::{Inputs, assert_close, broadcast_index, to_f64};

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

fn reference(host: &[f32], dims: &[usize], axes: &[usize]) -> Vec<f64> {
    let rank = dims.len();
    let mut strides = vec![1; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * dims[d + 1];
    }
    let out_dims: Vec<usize> = axes.iter().map(|&a| dims[a]).collect();
    let n = host.len();
    (0..n)
        .map(|i| {
            let mut rest = i;
            let mut src = 0;
            for k in (0..rank).rev() {
                src += (rest % out_dims[k]) * strides[axes[k]];
                rest /= out_dims[k];
            }
            f64::from(host[src])
        })
        .collect()
}

#[test]
fn every_permutation_of_two_three_and_four_axes() {
    let mut inputs = Inputs::new(50);
    // [3, 4, 2, 8]: outputs whose last axis is 4 or 8 long take the four-wide gather, reading
    // the source four at a time when that axis is the source's last, else one by one.
    for dims in [
        vec![5usize, 3],
        vec![2, 7, 3],
        vec![3, 5, 2, 7],
        vec![3, 4, 2, 8],
    ] {
        let (x, host) = inputs.tensor(&dims, -1.0, 1.0);
        for axes in permutations(dims.len()) {
            let got = x.permute(&axes);
            let out_dims: Vec<usize> = axes.iter().map(|&a| dims[a]).collect();
            assert_eq!(got.dims(), out_dims.as_slice());
            assert_close(
                &format!("permute {axes:?} of {dims:?}"),
                &got.to_vec(),
                &reference(&host, &dims, &axes),
                0.0,
                0.0,
            );
        }
    }
}

/// Broadcasting by `expand`, including each read of the four-wide gather: the last axis
/// broadcast (one value for four outputs), contiguous, and an odd last axis (scalar gather).
#[test]
fn expand_repeats_size_one_axes() {
    let mut inputs = Inputs::new(54);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[1], &[2, 3, 8]),
        (&[3, 1], &[5, 3, 12]),
        (&[1, 3, 4], &[5, 3, 4]),
        (&[2, 1, 8], &[2, 3, 8]),
        (&[2, 1, 3], &[2, 5, 3]),
    ];
    for (small, out) in cases {
        let (x, host) = inputs.tensor(small, -1.0, 1.0);
        let got = x.expand(out);
        assert_eq!(got.dims(), out);
        let n = out.iter().product();
        let want: Vec<f64> = (0..n)
            .map(|i| f64::from(host[broadcast_index(out, small, i)]))
            .collect();
        assert_close(
            &format!("expand {small:?} to {out:?}"),
            &got.to_vec(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn transpose_swaps_two_axes_and_reshape_shares_storage() {
    let mut inputs = Inputs::new(51);
    let (x, host) = inputs.tensor(&[4, 6, 5], -1.0, 1.0);
    let t = x.transpose(0, -1);
    assert_eq!(t.dims(), &[5, 6, 4]);
    assert_close(
        "transpose",
        &t.to_vec(),
        &reference(&host, &[4, 6, 5], &[2, 1, 0]),
        0.0,
        0.0,
    );
    let r = x.reshape(&[24, 5]);
    assert!(r.same_storage(&x));
    assert_close("reshape", &r.to_vec(), &to_f64(&host), 0.0, 0.0);
}

#[test]
fn concat_and_narrow_with_gradients() {
    use kernels_tests::OpCheck;
    // Channels of [2, 3, 2, 2] and [2, 5, 2, 2] joined, then a middle slice taken back out.
    let (a_len, b_len) = (3 * 4, 5 * 4);
    OpCheck {
        name: "concat along channels".into(),
        inputs: vec![(vec![2, 3, 2, 2], -1.0, 1.0), (vec![2, 5, 2, 2], -1.0, 1.0)],
        gpu: &|t| pegasus::Tensor::concat(&[&t[0], &t[1]], 1),
        forward: &|v| {
            (0..2)
                .flat_map(|n| {
                    v[0][n * a_len..(n + 1) * a_len]
                        .iter()
                        .chain(&v[1][n * b_len..(n + 1) * b_len])
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .collect()
        },
        backward: &|_, up| {
            let row = a_len + b_len;
            let da = (0..2)
                .flat_map(|n| up[n * row..n * row + a_len].to_vec())
                .collect();
            let db = (0..2)
                .flat_map(|n| up[n * row + a_len..(n + 1) * row].to_vec())
                .collect();
            vec![da, db]
        },
        forward_tol: (0.0, 0.0),
        grad_tol: (0.0, 0.0),
        seed: 52,
    }
    .run();
    OpCheck {
        name: "narrow".into(),
        inputs: vec![(vec![3, 7, 2], -1.0, 1.0)],
        gpu: &|t| t[0].narrow(1, 2, 4),
        forward: &|v| {
            (0..3)
                .flat_map(|n| v[0][n * 14 + 4..n * 14 + 12].to_vec())
                .collect()
        },
        backward: &|_, up| {
            let mut dx = vec![0.0; 42];
            for n in 0..3 {
                dx[n * 14 + 4..n * 14 + 12].copy_from_slice(&up[n * 8..(n + 1) * 8]);
            }
            vec![dx]
        },
        forward_tol: (0.0, 0.0),
        grad_tol: (0.0, 0.0),
        seed: 53,
    }
    .run();
}

/// Gathering rows (repeats allowed) and projecting distinct rows onto the unit sphere in
/// place, on tables with one column, an odd width, and more rows than a workgroup covers.
#[test]
fn gather_and_project_rows() {
    let gpu = kernels_tests::gpu();
    let mut inputs = Inputs::new(54);
    for (rows, width, picks) in [
        (13usize, 5usize, vec![12usize, 0, 5, 5, 12, 3, 7]),
        (4, 1, vec![3, 1]),
        (301, 3, (0..300).map(|i| (i * 7) % 301).collect()),
    ] {
        let (table, host) = inputs.tensor(&[rows, width], -1.0, 1.0);
        let picked = table.gather_rows(&picks);
        assert_eq!(picked.dims(), &[picks.len(), width]);
        let want: Vec<f64> = picks
            .iter()
            .flat_map(|&r| to_f64(&host[r * width..(r + 1) * width]))
            .collect();
        let what = format!("gather {} of {rows}x{width}", picks.len());
        assert_close(&what, &picked.to_vec(), &want, 0.0, 0.0);

        let mut distinct = picks.clone();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.reverse();
        table.project_rows_to_sphere(&distinct, 1e-12);
        let mut want = to_f64(&host);
        for &r in &distinct {
            let row = &mut want[r * width..(r + 1) * width];
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
        }
        let what = format!("project {} of {rows}x{width}", distinct.len());
        assert_close(&what, &table.to_vec(), &want, 1e-6, 1e-6);
    }
    // A zero row stays zero (divided by eps, not by its norm of 0).
    let table = pegasus::Tensor::zeros(&gpu, &[3, 2]);
    table.project_rows_to_sphere(&[2], 1e-12);
    assert_close("zero row", &table.to_vec(), &[0.0; 6], 0.0, 0.0);
    let twice = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        table.project_rows_to_sphere(&[1, 1], 1e-12)
    }));
    assert!(twice.is_err(), "a row named twice must be refused");
}
