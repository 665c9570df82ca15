//! Batched matrix product with optional transposes (shaders/matmul*.wgsl).

use crate::autograd::record;
use crate::gpu::{Gpu, Grid, Kernel};
use crate::ops::shaders::{MATMUL, MATMUL_LANES};
use crate::tensor::Tensor;

/// Which matmul kernel runs; `Auto` picks per adapter (see shaders/matmul_common.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    Auto,
    /// Workgroup-memory tiles: for GPUs.
    Tiled,
    /// One subgroup per workgroup: for software rasterisers; needs subgroups.
    Lanes,
}

/// Subgroup size the lanes kernel runs with, if this adapter can run it: every subgroup the
/// same size (the kernel shuffles across exactly one) and rows split evenly among lanes.
fn lanes(gpu: &Gpu) -> Option<u32> {
    let info = gpu.info();
    let size = info.subgroup_min_size;
    (gpu.has_subgroups() && size == info.subgroup_max_size && [4, 8, 16, 32].contains(&size))
        .then_some(size)
}

impl MatmulKernel {
    /// The kernels this adapter can run (tests run each).
    pub fn available(gpu: &Gpu) -> Vec<MatmulKernel> {
        let mut kernels = vec![MatmulKernel::Tiled];
        if lanes(gpu).is_some() {
            kernels.push(MatmulKernel::Lanes);
        }
        kernels
    }

    fn resolve(self, gpu: &Gpu) -> MatmulKernel {
        match self {
            MatmulKernel::Auto if gpu.is_software() && lanes(gpu).is_some() => MatmulKernel::Lanes,
            MatmulKernel::Auto => MatmulKernel::Tiled,
            other => other,
        }
    }
}

/// A gradient computed per batch entry, summed over the batch where the operand was shared.
fn unbroadcast_batch(grad: Tensor, operand: &Tensor) -> Tensor {
    let (batch, _, _) = as_batched(operand, "operand");
    let grad = if grad.dims().len() == 3 && batch == 1 {
        grad.sum_axes(&[0])
    } else {
        grad
    };
    grad.reshape(operand.dims())
}

/// (batch, rows, cols) of a 2-D or 3-D operand.
fn as_batched(t: &Tensor, what: &str) -> (usize, usize, usize) {
    match *t.dims() {
        [r, c] => (1, r, c),
        [b, r, c] => (b, r, c),
        _ => panic!("matmul: {what} must be 2-D or 3-D, got {}", t.shape()),
    }
}

impl Tensor {
    /// self @ other for 2-D or batched 3-D operands; a batch of 1 broadcasts.
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        self.matmul_t(other, false, false)
    }

    /// op(self) @ op(other) where op transposes the last two axes when its flag is set,
    /// without materialising the transpose.
    pub fn matmul_t(&self, other: &Tensor, trans_a: bool, trans_b: bool) -> Tensor {
        self.matmul_with(other, trans_a, trans_b, MatmulKernel::Auto)
    }

    /// `matmul_t` with the kernel chosen by the caller (tests run both on one adapter).
    pub fn matmul_with(
        &self,
        other: &Tensor,
        trans_a: bool,
        trans_b: bool,
        kernel: MatmulKernel,
    ) -> Tensor {
        let out = self.matmul_raw(other, trans_a, trans_b, kernel);
        let (a, b) = (self.detach(), other.detach());
        let backward = move |g: &Tensor, needs: &[bool]| {
            // With Ao = op(A), Bo = op(B): dAo = g Bo^T and dBo = Ao^T g; transposed operands
            // take the transpose of those, written as products so nothing is materialised.
            let ga = needs[0].then(|| {
                let d = if trans_a {
                    b.matmul_raw(g, trans_b, true, kernel)
                } else {
                    g.matmul_raw(&b, false, !trans_b, kernel)
                };
                unbroadcast_batch(d, &a)
            });
            let gb = needs[1].then(|| {
                let d = if trans_b {
                    g.matmul_raw(&a, true, trans_a, kernel)
                } else {
                    a.matmul_raw(g, !trans_a, false, kernel)
                };
                unbroadcast_batch(d, &b)
            });
            vec![ga, gb]
        };
        record(&[self, other], out, Box::new(backward))
    }

    fn matmul_raw(
        &self,
        other: &Tensor,
        trans_a: bool,
        trans_b: bool,
        kernel: MatmulKernel,
    ) -> Tensor {
        let (ba, ra, ca) = as_batched(self, "A");
        let (bb, rb, cb) = as_batched(other, "B");
        let (m, k) = if trans_a { (ca, ra) } else { (ra, ca) };
        let (k2, n) = if trans_b { (cb, rb) } else { (rb, cb) };
        assert_eq!(
            k,
            k2,
            "matmul: inner sizes differ, {} x {} (transposes {trans_a}, {trans_b})",
            self.shape(),
            other.shape()
        );
        assert!(
            ba == bb || ba == 1 || bb == 1,
            "matmul: batch sizes {ba} and {bb} differ"
        );
        let batch = ba.max(bb);
        let batched = self.dims().len() == 3 || other.dims().len() == 3;
        let out_dims: Vec<usize> = if batched {
            vec![batch, m, n]
        } else {
            vec![m, n]
        };
        let out = Tensor::uninit(self.gpu(), &out_dims);
        let stride = |b: usize, size: usize| if b == 1 { 0 } else { size as u32 };
        let params = [
            m as u32,
            n as u32,
            k as u32,
            stride(ba, m * k),
            stride(bb, k * n),
        ];
        let gpu = self.gpu();
        let flag = |on: bool| f64::from(u8::from(on));
        let storage = [self.buffer(), other.buffer(), out.buffer()];
        match kernel.resolve(gpu) {
            MatmulKernel::Lanes => {
                let lanes = lanes(gpu).unwrap_or_else(|| {
                    panic!(
                        "the lanes matmul needs subgroups of one size on {}",
                        gpu.info().name
                    )
                });
                let constants = [
                    ("TRANS_A", flag(trans_a)),
                    ("TRANS_B", flag(trans_b)),
                    ("LANES", f64::from(lanes)),
                ];
                let cols = 6 * lanes as usize;
                let grid = Grid([n.div_ceil(cols) as u32, m.div_ceil(32) as u32, batch as u32]);
                let kernel = Kernel::new(&MATMUL_LANES, "matmul_lanes").with(&constants);
                gpu.dispatch(&kernel, &storage, &params, grid);
            }
            _ => {
                let constants = [("TRANS_A", flag(trans_a)), ("TRANS_B", flag(trans_b))];
                let grid = Grid([n.div_ceil(64) as u32, m.div_ceil(64) as u32, batch as u32]);
                let kernel = Kernel::new(&MATMUL, "matmul_tiled").with(&constants);
                gpu.dispatch(&kernel, &storage, &params, grid);
            }
        }
        out
    }
}
