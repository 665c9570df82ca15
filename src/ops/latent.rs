//! Latent-space pieces: reparameterised sampling, projection onto the unit sphere, cosine
//! similarity, pairwise squared distances and the nearest row.

use crate::gpu::Kernel;
use crate::ops::Rng;
use crate::ops::shaders::REDUCE;
use crate::tensor::Tensor;

impl Tensor {
    /// z = mu + exp(logvar / 2) eps, eps ~ N(0, 1) from `rng`: differentiable in mu and logvar.
    pub fn reparameterize(&self, logvar: &Tensor, rng: &mut Rng) -> Tensor {
        assert_eq!(
            self.dims(),
            logvar.dims(),
            "mu {} and logvar {} differ",
            self.shape(),
            logvar.shape()
        );
        let eps = rng.normal(self.gpu(), self.dims(), 0.0, 1.0);
        self.add(&logvar.scale(0.5).exp().mul(&eps))
    }

    /// Each row of [N, D] divided by max(its L2 norm, eps).
    pub fn project_to_sphere(&self, eps: f32) -> Tensor {
        let n = self.dims()[0];
        let norms = self.square().sum_axes(&[-1]).sqrt().max_scalar(eps);
        self.div(&norms.reshape(&[n, 1]))
    }

    /// Cosine similarity of matching rows of two [N, D] tensors: [N].
    pub fn cosine_similarity(&self, other: &Tensor, eps: f32) -> Tensor {
        let dot = self.mul(other).sum_axes(&[-1]);
        let na = self.square().sum_axes(&[-1]).sqrt();
        let nb = other.square().sum_axes(&[-1]).sqrt();
        dot.div(&na.mul(&nb).max_scalar(eps))
    }

    /// ||a_i - b_j||^2 for rows a_i of self [N, D] and b_j of other [M, D]: [N, M], as
    /// |a|^2 + |b|^2 - 2 a.b, clamped at 0 against rounding.
    pub fn pairwise_sq_distances(&self, other: &Tensor) -> Tensor {
        let (n, m) = (self.dims()[0], other.dims()[0]);
        let aa = self.square().sum_axes(&[-1]).reshape(&[n, 1]);
        let bb = other.square().sum_axes(&[-1]).reshape(&[1, m]);
        aa.add(&bb)
            .sub(&self.matmul_t(other, false, true).scale(2.0))
            .max_scalar(0.0)
    }

    /// For each row of [N, M], the column of its smallest value (the first on ties), as
    /// f32 values in a [N] tensor. Not differentiable.
    pub fn argmin_rows(&self) -> Tensor {
        let [rows, cols] = *self.dims() else {
            panic!("argmin_rows expects [N, M], got {}", self.shape());
        };
        let out = Tensor::uninit(self.gpu(), &[rows]);
        let gpu = self.gpu();
        // Short rows: a thread per row; long ones: a workgroup per row and a tree.
        let (entry, groups) = if cols <= 256 {
            ("argmin_short_rows", (rows as u64).div_ceil(256))
        } else {
            ("argmin_rows", rows as u64)
        };
        // Unused by the short rows' entry point.
        let group = [("GROUP", crate::ops::reduce::tree_threads(gpu))];
        gpu.dispatch(
            &Kernel::new(&REDUCE, entry)
                .with(&group)
                .doing(rows * cols, rows * cols + rows),
            &[self.buffer(), out.buffer()],
            &[rows as u32, cols as u32, 1, cols as u32, 1, 1f32.to_bits()],
            gpu.linear_grid(groups),
        );
        out
    }
}
