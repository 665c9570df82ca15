//! Layout changes that move elements: permute and transpose.

use crate::gpu::Kernel;
use crate::ops::shaders::LAYOUT;
use crate::tensor::{MAX_RANK, Tensor};

impl Tensor {
    /// Output axis k is input axis `axes[k]` (as torch.permute).
    pub fn permute(&self, axes: &[usize]) -> Tensor {
        let rank = self.shape().rank();
        let mut seen = [false; MAX_RANK];
        assert!(
            axes.len() == rank
                && axes
                    .iter()
                    .all(|&a| a < rank && !std::mem::replace(&mut seen[a], true)),
            "permute {axes:?} is not a permutation of the {rank} axes of {}",
            self.shape()
        );
        let dims: Vec<usize> = axes.iter().map(|&a| self.dims()[a]).collect();
        let in_strides = self.shape().strides();
        // Pad to four axes at the front: size 1, stride 0.
        let pad = MAX_RANK - rank;
        let mut out_dims = [1u32; MAX_RANK];
        let mut src_stride = [0u32; MAX_RANK];
        for (k, &a) in axes.iter().enumerate() {
            out_dims[pad + k] = dims[k] as u32;
            src_stride[pad + k] = in_strides[a] as u32;
        }
        let out = Tensor::uninit(self.gpu(), &dims);
        let n = self.numel();
        let params = [
            n as u32,
            out_dims[1],
            out_dims[2],
            out_dims[3],
            src_stride[0],
            src_stride[1],
            src_stride[2],
            src_stride[3],
        ];
        let gpu = self.gpu();
        gpu.dispatch(
            &Kernel::new(&LAYOUT, "permute"),
            &[self.buffer(), out.buffer()],
            &params,
            gpu.linear_grid((n as u64).div_ceil(256)),
        );
        out
    }

    /// Swaps two axes (negative counts from the end).
    pub fn transpose(&self, a: isize, b: isize) -> Tensor {
        let (a, b) = (self.shape().axis(a), self.shape().axis(b));
        let mut axes: Vec<usize> = (0..self.shape().rank()).collect();
        axes.swap(a, b);
        self.permute(&axes)
    }
}
