//! Reductions over all elements or chosen axes: sum, mean, max, min.
//!
//! Axes are grouped into runs of neighbours that are all kept or all reduced; each reduced
//! run is then the middle axis of a [outer, R, inner] view and goes through a tree of passes
//! (see shaders/reduce.wgsl).

use crate::autograd::record;
use crate::gpu::{Gpu, Kernel};
use crate::ops::shaders::REDUCE;
use crate::tensor::Tensor;

/// Elements of R one workgroup folds per pass when R is the innermost axis (16 per thread).
const ROW_CHUNK: usize = 256 * 16;
/// Elements of R one thread folds per pass when R has an inner stride.
const COL_CHUNK: usize = 64;
/// Rows at most this long are folded by one thread each, in one pass.
const SHORT_ROW: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Sum = 0,
    Max = 1,
    Min = 2,
}

impl Reduce {
    fn name(self) -> &'static str {
        match self {
            Reduce::Sum => "sum",
            Reduce::Max => "max",
            Reduce::Min => "min",
        }
    }
}

/// Threads of a workgroup that reduces through a tree in workgroup memory (reduce_rows,
/// argmin_rows, BatchNorm's statistics): 256 on GPUs; 64 on software rasterisers, which run a
/// workgroup as a loop over SIMD chunks and pay each of the tree's barriers once per chunk.
pub(crate) fn tree_threads(gpu: &Gpu) -> f64 {
    if gpu.is_software() { 64.0 } else { 256.0 }
}

impl Tensor {
    /// Reduces the [outer, r, inner] view of `self` over r: one or more passes.
    /// `magnitudes`: fold |x| instead of x (later passes then fold partial sums of
    /// magnitudes, which |.| leaves as they are).
    fn reduce_middle(
        &self,
        outer: usize,
        r: usize,
        inner: usize,
        op: Reduce,
        scale: f32,
        magnitudes: bool,
    ) -> Tensor {
        let gpu = self.gpu();
        if inner == 1 && r <= SHORT_ROW {
            let out = Tensor::uninit(gpu, &[outer]);
            let params = [outer as u32, r as u32, 1, r as u32, 1, scale.to_bits()];
            let constants = [
                ("OP", op as u32 as f64),
                ("MAGNITUDES", f64::from(u8::from(magnitudes))),
            ];
            gpu.dispatch(
                &Kernel::new(&REDUCE, "reduce_short_rows")
                    .with(&constants)
                    .tagged(op.name())
                    .doing(outer * r, outer * r + outer),
                &[self.buffer(), out.buffer()],
                &params,
                gpu.linear_grid((outer as u64).div_ceil(256)),
            );
            return out;
        }
        let mut x = self.clone();
        let mut r = r;
        let magnitudes = f64::from(u8::from(magnitudes));
        loop {
            let chunk = if inner == 1 { ROW_CHUNK } else { COL_CHUNK };
            let chunks = r.div_ceil(chunk);
            let out = Tensor::uninit(gpu, &[outer * chunks * inner]);
            let last = chunks == 1;
            let params = [
                outer as u32,
                r as u32,
                inner as u32,
                chunk as u32,
                chunks as u32,
                (if last { scale } else { 1.0 }).to_bits(),
            ];
            let rows_constants = [
                ("OP", op as u32 as f64),
                ("GROUP", tree_threads(gpu)),
                ("MAGNITUDES", magnitudes),
            ];
            let cols_constants = [("OP", op as u32 as f64), ("MAGNITUDES", magnitudes)];
            let (entry, groups, constants) = if inner == 1 {
                ("reduce_rows", outer * chunks, &rows_constants[..])
            } else {
                (
                    "reduce_cols",
                    inner.div_ceil(256) * outer * chunks,
                    &cols_constants[..],
                )
            };
            let kernel = Kernel::new(&REDUCE, entry)
                .with(constants)
                .tagged(op.name())
                .doing(x.numel(), x.numel() + out.numel());
            gpu.dispatch(
                &kernel,
                &[x.buffer(), out.buffer()],
                &params,
                gpu.linear_grid(groups as u64),
            );
            if last {
                return out;
            }
            x = out;
            r = chunks;
        }
    }

    /// mean(|self|) over every value, untracked: the reduction folds magnitudes.
    pub(crate) fn mean_of_magnitudes(&self) -> Tensor {
        let n = self.numel();
        assert!(n > 0, "mean of an empty tensor {}", self.shape());
        self.reduce_middle(1, n, 1, Reduce::Sum, 1.0 / n as f32, true)
            .reshape(&[])
    }

    /// Reduces over `axes` (negative counts from the end); the reduced axes disappear from
    /// the shape. `mean` divides a sum by the number of elements folded into each result.
    pub(crate) fn reduce(&self, axes: &[isize], op: Reduce, mean: bool) -> Tensor {
        let shape = self.shape();
        assert!(self.numel() > 0, "reduction of an empty tensor {shape}");
        let mut reduced = vec![false; shape.rank()];
        for &a in axes {
            reduced[shape.axis(a)] = true;
        }
        let kept_dims: Vec<usize> = (0..shape.rank())
            .filter(|&i| !reduced[i])
            .map(|i| shape.dims()[i])
            .collect();
        let count: usize = (0..shape.rank())
            .filter(|&i| reduced[i])
            .map(|i| shape.dims()[i])
            .product();
        // Runs of neighbouring axes that are all kept or all reduced; size-1 axes join any run.
        let mut runs: Vec<(usize, bool)> = Vec::new();
        for (i, &d) in shape.dims().iter().enumerate() {
            if d == 1 {
                continue;
            }
            match runs.last_mut() {
                Some((size, red)) if *red == reduced[i] => *size *= d,
                _ => runs.push((d, reduced[i])),
            }
        }
        let scale = if mean { 1.0 / count.max(1) as f32 } else { 1.0 };
        let mut x = self.clone();
        // Innermost reduced run first, so each step leaves a contiguous tensor of the kept
        // axes that precede it.
        while let Some(pos) = runs.iter().rposition(|&(_, red)| red) {
            let outer: usize = runs[..pos].iter().map(|r| r.0).product();
            let inner: usize = runs[pos + 1..].iter().map(|r| r.0).product();
            let r = runs[pos].0;
            runs.remove(pos);
            let last = !runs.iter().any(|&(_, red)| red);
            x = x.reduce_middle(outer, r, inner, op, if last { scale } else { 1.0 }, false);
        }
        if count == 1 {
            // Nothing was folded (reduced axes of size 1): the values are the input's.
            x = x.deep_clone();
        }
        let out = x.reshape(&kept_dims);
        // The result with the reduced axes kept as size 1, to broadcast back.
        let keep_dims: Vec<usize> = (0..shape.rank())
            .map(|i| if reduced[i] { 1 } else { shape.dims()[i] })
            .collect();
        let (input, result) = (self.detach(), out.clone());
        let backward = move |g: &Tensor, _: &[bool]| {
            let spread = g.reshape(&keep_dims).expand(input.dims());
            vec![Some(match op {
                Reduce::Sum if mean => spread.scale(scale),
                Reduce::Sum => spread,
                // Every element equal to the extreme receives the gradient.
                Reduce::Max | Reduce::Min => {
                    let extreme = result.reshape(&keep_dims).expand(input.dims());
                    spread.mul(&input.equal(&extreme))
                }
            })]
        };
        record(&[self], out, Box::new(backward))
    }

    pub fn sum(&self) -> Tensor {
        self.reduce(&all_axes(self), Reduce::Sum, false)
    }

    pub fn mean(&self) -> Tensor {
        self.reduce(&all_axes(self), Reduce::Sum, true)
    }

    pub fn max(&self) -> Tensor {
        self.reduce(&all_axes(self), Reduce::Max, false)
    }

    pub fn min(&self) -> Tensor {
        self.reduce(&all_axes(self), Reduce::Min, false)
    }

    pub fn sum_axes(&self, axes: &[isize]) -> Tensor {
        self.reduce(axes, Reduce::Sum, false)
    }

    pub fn mean_axes(&self, axes: &[isize]) -> Tensor {
        self.reduce(axes, Reduce::Sum, true)
    }

    pub fn max_axes(&self, axes: &[isize]) -> Tensor {
        self.reduce(axes, Reduce::Max, false)
    }

    pub fn min_axes(&self, axes: &[isize]) -> Tensor {
        self.reduce(axes, Reduce::Min, false)
    }
}

fn all_axes(t: &Tensor) -> Vec<isize> {
    (0..t.shape().rank() as isize).collect()
}
