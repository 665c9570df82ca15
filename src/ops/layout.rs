//! Layout changes that move elements: permute and transpose.

use crate::autograd::record;
use crate::gpu::Kernel;
use crate::ops::shaders::{BLOCK, LAYOUT};
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
        let kernel = Kernel::new(&LAYOUT, "gather").doing(0, 2 * n);
        if out_dims[MAX_RANK - 1].is_multiple_of(4) {
            // SOURCE_RUN of shaders/layout.wgsl, gather_wide.
            let source_run = match src_stride {
                [.., 0] => 0,
                [a, b, c, 1] if [a, b, c].iter().all(|s| s.is_multiple_of(4)) => 2,
                _ => 1,
            };
            let (x, y) = (self.buffer(), out.buffer());
            gpu.dispatch_by_binding(
                &Kernel {
                    entry: "gather_wide",
                    ..kernel
                }
                .with(&[("SOURCE_RUN", f64::from(source_run))]),
                &[(1, x), (3, x), (4, y)],
                &params,
                gpu.linear_grid((n as u64 / 4).div_ceil(256)),
            );
        } else {
            gpu.dispatch(
                &kernel,
                &[self.buffer(), out.buffer()],
                &params,
                gpu.linear_grid((n as u64).div_ceil(256)),
            );
        }
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

/// Copies a block of `outer` runs of `inner` elements from `src` into `dst` (see
/// shaders/block.wgsl).
fn copy_block(
    src: &Tensor,
    dst: &Tensor,
    outer: usize,
    inner: usize,
    src_at: (usize, usize),
    dst_at: (usize, usize),
) {
    let gpu = src.gpu();
    let words = [
        outer as u32,
        inner as u32,
        src_at.0 as u32,
        src_at.1 as u32,
        dst_at.0 as u32,
        dst_at.1 as u32,
    ];
    gpu.dispatch(
        &Kernel::new(&BLOCK, "copy_block").doing(0, 2 * outer * inner),
        &[src.buffer(), dst.buffer()],
        &words,
        gpu.linear_grid(((outer * inner) as u64).div_ceil(256)),
    );
}

impl Tensor {
    /// Joins tensors along `axis`; all other sizes must agree.
    pub fn concat(parts: &[&Tensor], axis: isize) -> Tensor {
        let first = parts.first().expect("concat of no tensors");
        let axis = first.shape().axis(axis);
        let mut dims = first.dims().to_vec();
        dims[axis] = parts.iter().map(|t| t.dims()[axis]).sum();
        for t in parts {
            let mut d = t.dims().to_vec();
            d[axis] = dims[axis];
            assert_eq!(
                d,
                dims,
                "concat along {axis}: shapes {} and {} differ elsewhere",
                first.shape(),
                t.shape()
            );
        }
        let outer: usize = dims[..axis].iter().product();
        let rest: usize = dims[axis + 1..].iter().product();
        let out = Tensor::uninit(first.gpu(), &dims);
        let mut offset = 0;
        let mut sizes = Vec::new();
        for t in parts {
            let inner = t.dims()[axis] * rest;
            copy_block(
                t,
                &out,
                outer,
                inner,
                (inner, 0),
                (dims[axis] * rest, offset),
            );
            offset += inner;
            sizes.push(t.dims()[axis]);
        }
        let backward = move |g: &Tensor, needs: &[bool]| {
            let mut start = 0;
            sizes
                .iter()
                .zip(needs)
                .map(|(&size, &need)| {
                    let piece = need.then(|| g.narrow(axis as isize, start, size));
                    start += size;
                    piece
                })
                .collect()
        };
        crate::autograd::record(parts, out, Box::new(backward))
    }

    /// Elements start .. start + len along `axis` (a copy).
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor {
        let axis = self.shape().axis(axis);
        let size = self.dims()[axis];
        assert!(
            start + len <= size,
            "narrow {start}..{} of axis {axis} of size {size}",
            start + len
        );
        let mut dims = self.dims().to_vec();
        dims[axis] = len;
        let outer: usize = dims[..axis].iter().product();
        let rest: usize = dims[axis + 1..].iter().product();
        let out = Tensor::uninit(self.gpu(), &dims);
        copy_block(
            self,
            &out,
            outer,
            len * rest,
            (size * rest, start * rest),
            (len * rest, 0),
        );
        let source = self.dims().to_vec();
        let backward = move |g: &Tensor, _: &[bool]| {
            let dx = Tensor::zeros(g.gpu(), &source);
            copy_block(
                g,
                &dx,
                outer,
                len * rest,
                (len * rest, 0),
                (size * rest, start * rest),
            );
            vec![Some(dx)]
        };
        record(&[self], out, Box::new(backward))
    }
}

/// Refuses a list of rows that names one twice: two threads would write it.
fn assert_distinct(rows: &[usize], what: &str) {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    assert!(
        sorted.windows(2).all(|pair| pair[0] != pair[1]),
        "{what}: a row is written twice"
    );
}

/// Row indices as the f32 tensor the row kernels read (exact below 2^24 rows).
fn row_index(gpu: &std::sync::Arc<crate::gpu::Gpu>, rows: &[usize], table_rows: usize) -> Tensor {
    assert!(
        rows.iter().all(|&r| r < table_rows),
        "a row index is past the {table_rows} rows"
    );
    let values: Vec<f32> = rows.iter().map(|&r| r as f32).collect();
    Tensor::from_slice(gpu, &values, &[rows.len()])
}

impl Tensor {
    /// Rows `rows` of a [R, D] table as [len, D] (not differentiable; see GLO for how the
    /// latents' gradients are taken).
    pub fn gather_rows(&self, rows: &[usize]) -> Tensor {
        let [n, d] = *self.dims() else {
            panic!("gather_rows of a {} tensor", self.shape())
        };
        let out = Tensor::uninit(self.gpu(), &[rows.len(), d]);
        let index = row_index(self.gpu(), rows, n);
        let gpu = self.gpu();
        gpu.dispatch(
            &Kernel::new(&BLOCK, "gather_rows").doing(0, rows.len() * (2 * d + 1)),
            &[self.buffer(), out.buffer(), index.buffer()],
            &[rows.len() as u32, d as u32, 0, 0, 0, 0],
            gpu.linear_grid(((rows.len() * d) as u64).div_ceil(256)),
        );
        out
    }

    /// Scales rows `rows` (distinct) of this [R, D] table in place to unit length, each by
    /// 1 / max(|row|, eps) as `project_to_sphere`: one dispatch, where gathering, projecting
    /// and scattering back takes seven.
    pub fn project_rows_to_sphere(&self, rows: &[usize], eps: f32) {
        let [n, d] = *self.dims() else {
            panic!("project_rows_to_sphere of a {} tensor", self.shape())
        };
        assert_distinct(rows, "project_rows_to_sphere");
        let index = row_index(self.gpu(), rows, n);
        let gpu = self.gpu();
        gpu.dispatch_by_binding(
            &Kernel::new(&BLOCK, "project_rows")
                .doing(3 * rows.len() * d, rows.len() * (2 * d + 1)),
            &[(2, self.buffer()), (3, index.buffer())],
            &[rows.len() as u32, d as u32, eps.to_bits(), 0, 0, 0],
            gpu.linear_grid((rows.len() as u64).div_ceil(64)),
        );
    }
}
