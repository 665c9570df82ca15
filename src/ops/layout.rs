//! Layout changes that move elements: permute and transpose.

use crate::autograd::record;
use crate::gpu::Kernel;
use crate::ops::shaders::LAYOUT;
use crate::tensor::{MAX_RANK, Shape, Tensor};

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
        let strides: Vec<usize> = axes.iter().map(|&a| in_strides[a]).collect();
        let out = self.gather_strided(&dims, &strides);
        let mut inverse = vec![0; rank];
        for (k, &a) in axes.iter().enumerate() {
            inverse[a] = k;
        }
        record(
            &[self],
            out,
            Box::new(move |g, _| vec![Some(g.permute(&inverse))]),
        )
    }

    /// Repeats size-1 axes (and adds leading axes) to reach `dims`, numpy-style.
    pub fn expand(&self, dims: &[usize]) -> Tensor {
        let target = Shape::new(dims);
        let rank = dims.len();
        assert!(
            self.shape().rank() <= rank,
            "cannot expand {} to {target}",
            self.shape()
        );
        let offset = rank - self.shape().rank();
        let in_strides = self.shape().strides();
        let strides: Vec<usize> = (0..rank)
            .map(|i| {
                if i < offset {
                    return 0;
                }
                let d = self.dims()[i - offset];
                assert!(
                    d == dims[i] || d == 1,
                    "cannot expand {} to {target}",
                    self.shape()
                );
                if d == 1 { 0 } else { in_strides[i - offset] }
            })
            .collect();
        let out = self.gather_strided(dims, &strides);
        let source = self.shape();
        record(
            &[self],
            out,
            Box::new(move |g, _| vec![Some(g.sum_to(source))]),
        )
    }

    /// out[c0, c1, ...] = self[sum c_k * strides[k]] for every coordinate of `dims`.
    fn gather_strided(&self, dims: &[usize], strides: &[usize]) -> Tensor {
        let pad = MAX_RANK - dims.len();
        let mut out_dims = [1u32; MAX_RANK];
        let mut src_stride = [0u32; MAX_RANK];
        for k in 0..dims.len() {
            out_dims[pad + k] = dims[k] as u32;
            src_stride[pad + k] = strides[k] as u32;
        }
        let out = Tensor::uninit(self.gpu(), dims);
        let n = out.numel();
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
            &Kernel::new(&LAYOUT, "gather"),
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
