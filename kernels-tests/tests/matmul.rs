//! Matrix products against an f64 reference, for every kernel the adapter can run.

use kernels_tests::{Inputs, assert_close, gpu};
use pegasus::ops::GemmKernel;

/// C[b] = op(A[b]) op(B[b]) in f64. `a` is stored [ba, M, K] or [ba, K, M]; a batch of 1
/// broadcasts.
fn reference(
    a: &[f32],
    b: &[f32],
    batch: usize,
    (ba, bb): (usize, usize),
    (m, n, k): (usize, usize, usize),
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    let mut c = vec![0f64; batch * m * n];
    for z in 0..batch {
        let a0 = if ba == 1 { 0 } else { z * m * k };
        let b0 = if bb == 1 { 0 } else { z * k * n };
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for t in 0..k {
                    let av = if ta {
                        a[a0 + t * m + i]
                    } else {
                        a[a0 + i * k + t]
                    };
                    let bv = if tb {
                        b[b0 + j * k + t]
                    } else {
                        b[b0 + t * n + j]
                    };
                    s += f64::from(av) * f64::from(bv);
                }
                c[(z * m + i) * n + j] = s;
            }
        }
    }
    c
}

/// Products of K terms in [-1, 1] accumulated in f32: the error grows about like
/// sqrt(K) * 6e-8 * sqrt(K) (sum magnitude); 4e-6 * K bounds it with a wide margin while a
/// wrong index or a skipped k (errors of order 0.1) fails.
fn tolerance(k: usize) -> f64 {
    1e-6 + 4e-7 * k as f64
}

fn check(
    kernel: GemmKernel,
    batch: (usize, usize),
    mnk: (usize, usize, usize),
    ta: bool,
    tb: bool,
    seed: u64,
) {
    let (m, n, k) = mnk;
    let (ba, bb) = batch;
    let mut inputs = Inputs::new(seed);
    let a_dims = if ta { [ba, k, m] } else { [ba, m, k] };
    let b_dims = if tb { [bb, n, k] } else { [bb, k, n] };
    let (a, ah) = inputs.tensor(&a_dims, -1.0, 1.0);
    let (b, bh) = inputs.tensor(&b_dims, -1.0, 1.0);
    let batch_out = ba.max(bb);
    let got = a.matmul_with(&b, ta, tb, kernel);
    assert_eq!(got.dims(), &[batch_out, m, n]);
    let want = reference(&ah, &bh, batch_out, batch, mnk, ta, tb);
    let what = format!("{kernel:?} {batch:?} {mnk:?} trans {ta} {tb}");
    assert_close(&what, &got.to_vec(), &want, tolerance(k), 0.0);
}

#[test]
fn awkward_shapes_and_transposes() {
    let shapes = [
        (1, 1, 1),
        (7, 13, 5),
        (67, 45, 39),
        (33, 97, 129),
        (64, 64, 16),
        (2, 200, 3),
        // K and N multiples of 4 (the lanes kernel reads four values per load), with edges:
        (37, 44, 20),
        (9, 12, 8),
        // Blocks of 16 rows (gemm_rows16.wgsl): M a whole block and part of one
        (16, 52, 12),
        (13, 29, 7),
        // Blocks of 64 rows (two accumulator arrays): the last block's second half partly
        // inside M, and wholly outside it
        (101, 260, 24),
        (80, 264, 12),
        // Blocks of 128 rows x 128 columns, 8 k per step (gemm_big_blocks, no transposes):
        // the last row block's arrays partly and wholly outside M, the last column block's
        // quads partly and wholly outside N
        (300, 516, 40),
    ];
    for kernel in GemmKernel::available(&gpu()) {
        for (s, &mnk) in shapes.iter().enumerate() {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                check(kernel, (1, 1), mnk, ta, tb, s as u64);
            }
        }
    }
}

#[test]
fn batches_and_broadcast_operands() {
    for kernel in GemmKernel::available(&gpu()) {
        check(kernel, (3, 3), (17, 19, 23), false, false, 21);
        check(kernel, (4, 1), (9, 33, 7), false, true, 22);
        check(kernel, (1, 5), (31, 6, 11), true, false, 23);
        check(kernel, (3, 3), (13, 20, 8), false, false, 24);
        check(kernel, (2, 1), (13, 36, 12), false, true, 25);
        // gemm_big_blocks over a batch with A broadcast.
        check(kernel, (1, 2), (130, 132, 24), false, false, 26);
    }
}

#[test]
fn two_dimensional_operands_give_a_matrix() {
    let mut inputs = Inputs::new(30);
    let (a, ah) = inputs.tensor(&[5, 3], -1.0, 1.0);
    let (b, bh) = inputs.tensor(&[3, 4], -1.0, 1.0);
    let c = a.matmul(&b);
    assert_eq!(c.dims(), &[5, 4]);
    assert_close(
        "2-D",
        &c.to_vec(),
        &reference(&ah, &bh, 1, (1, 1), (5, 4, 3), false, false),
        1e-6,
        1e-6,
    );
}

#[test]
fn large_case() {
    for kernel in GemmKernel::available(&gpu()) {
        check(kernel, (1, 1), (1023, 517, 771), false, false, 40);
    }
}

#[test]
fn linear_with_bias() {
    use kernels_tests::OpCheck;
    let (n, fin, fout) = (5, 7, 3);
    OpCheck {
        name: "linear".into(),
        inputs: vec![
            (vec![n, fin], -1.0, 1.0),
            (vec![fout, fin], -1.0, 1.0),
            (vec![fout], -1.0, 1.0),
        ],
        gpu: &|t| t[0].linear(&t[1], Some(&t[2])),
        forward: &|v| {
            (0..n * fout)
                .map(|i| {
                    v[2][i % fout]
                        + (0..fin)
                            .map(|k| v[0][(i / fout) * fin + k] * v[1][(i % fout) * fin + k])
                            .sum::<f64>()
                })
                .collect()
        },
        backward: &|v, up| {
            let mut dx = vec![0.0; n * fin];
            let mut dw = vec![0.0; fout * fin];
            let mut db = vec![0.0; fout];
            for i in 0..n * fout {
                let (r, o) = (i / fout, i % fout);
                db[o] += up[i];
                for k in 0..fin {
                    dx[r * fin + k] += up[i] * v[1][o * fin + k];
                    dw[o * fin + k] += up[i] * v[0][r * fin + k];
                }
            }
            vec![dx, dw, db]
        },
        forward_tol: (1e-5, 1e-5),
        grad_tol: (1e-5, 1e-5),
        seed: 60,
    }
    .run();
}
