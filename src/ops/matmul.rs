//! Batched matrix product with optional transposes (MODE 0 of shaders/gemm_*.wgsl).

use crate::autograd::{record, record_layer};
use crate::gpu::scope::weight_gradient;
use crate::ops::gemm::{BiasAlong, Gemm, GemmKernel, GemmParams, Mode};
use crate::tensor::Tensor;

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
        self.matmul_with(other, trans_a, trans_b, GemmKernel::Auto)
    }

    /// `matmul_t` with the kernel chosen by the caller (tests run both on one adapter).
    pub fn matmul_with(
        &self,
        other: &Tensor,
        trans_a: bool,
        trans_b: bool,
        kernel: GemmKernel,
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

    pub(crate) fn matmul_raw(
        &self,
        other: &Tensor,
        trans_a: bool,
        trans_b: bool,
        kernel: GemmKernel,
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
        Gemm {
            mode: Mode::Matmul { trans_a, trans_b },
            params: GemmParams {
                m: m as u32,
                n: n as u32,
                k: k as u32,
                a_batch_stride: stride(ba, m * k),
                b_batch_stride: stride(bb, k * n),
                c_batch_stride: (m * n) as u32,
                ..GemmParams::default()
            },
            batch,
            a: self,
            b: other,
            bias: None,
            out: &out,
            kernel,
        }
        .launch();
        out
    }
}

impl Tensor {
    /// PyTorch's linear: self [N, in] @ weight[out, in]^T + bias [out], the bias added by the
    /// product's kernel.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let [n, fan_in] = *self.dims() else {
            panic!(
                "linear: input must be [batch, features], got {}",
                self.shape()
            );
        };
        let [fan_out, w_in] = *weight.dims() else {
            panic!("linear: weight must be [out, in], got {}", weight.shape());
        };
        assert_eq!(
            fan_in, w_in,
            "linear: input has {fan_in} features, weight expects {w_in}"
        );
        let out = Tensor::uninit(self.gpu(), &[n, fan_out]);
        Gemm {
            mode: Mode::Matmul {
                trans_a: false,
                trans_b: true,
            },
            params: GemmParams {
                m: n as u32,
                n: fan_out as u32,
                k: fan_in as u32,
                c_batch_stride: (n * fan_out) as u32,
                ..GemmParams::default()
            },
            batch: 1,
            a: self,
            b: weight,
            bias: bias.map(|b| (b, BiasAlong::Columns)),
            out: &out,
            kernel: GemmKernel::Auto,
        }
        .launch();
        let (x, w) = (self.detach(), weight.detach());
        let backward = move |dy: &Tensor, needs: &[bool]| {
            let dx = needs[0].then(|| dy.matmul_raw(&w, false, false, GemmKernel::Auto));
            let dw = needs[1]
                .then(|| weight_gradient(|| dy.matmul_raw(&x, true, false, GemmKernel::Auto)));
            let db = needs
                .get(2)
                .copied()
                .unwrap_or(false)
                .then(|| weight_gradient(|| dy.sum_axes(&[0])));
            vec![dx, dw, db]
        };
        record_layer(self, weight, bias, out, Box::new(backward))
    }
}
