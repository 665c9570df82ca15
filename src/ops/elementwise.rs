//! Elementwise ops: unary maps, binary maps with numpy-style broadcasting, fill.

use std::sync::Arc;

use crate::autograd::record;
use crate::gpu::{Gpu, Kernel};
use crate::ops::shaders::ELEMENTWISE;
use crate::tensor::{Shape, Tensor};

const WORKGROUP: u64 = 256;

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $method:ident => $variant:ident = $code:literal;)*) => {
        /// Unary maps; the codes match the constants in shaders/elementwise.wgsl.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Unary { $($variant,)* LeakyRelu, Affine, Step }

        impl Unary {
            fn code(self) -> u32 {
                match self {
                    $(Unary::$variant => $code,)*
                    Unary::LeakyRelu => 7,
                    Unary::Affine => 10,
                    Unary::Step => 13,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $(Unary::$variant => stringify!($method),)*
                    Unary::LeakyRelu => "leaky_relu",
                    Unary::Affine => "affine",
                    Unary::Step => "step",
                }
            }
        }

        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $method(&self) -> Tensor {
                    self.map_unary(Unary::$variant, 0.0, 0.0)
                }
            )*
        }
    };
}

unary_ops! {
    neg => Neg = 0;
    exp => Exp = 1;
    /// Natural logarithm; NaN below zero, -inf at zero, as the math says.
    log => Log = 2;
    sqrt => Sqrt = 3;
    tanh => Tanh = 4;
    /// 1 / (1 + exp(-x)), computed without overflow for large |x|.
    sigmoid => Sigmoid = 5;
    relu => Relu = 6;
    /// log(1 + exp(x)), computed as max(x, 0) + log(1 + exp(-|x|)).
    softplus => Softplus = 8;
    abs => Abs = 9;
    square => Square = 11;
    reciprocal => Reciprocal = 12;
}

/// Binary maps; the codes match the constants in shaders/elementwise.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add = 0,
    Sub = 1,
    Mul = 2,
    Div = 3,
    Maximum = 4,
    Minimum = 5,
    GreaterEqual = 6,
    Equal = 7,
}

impl Binary {
    fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Maximum => "maximum",
            Binary::Minimum => "minimum",
            Binary::GreaterEqual => "greater_equal",
            Binary::Equal => "equal",
        }
    }
}

/// How an operand is read when it is smaller than the output: element i of the output takes
/// element (i / inner) % count of the operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub inner: usize,
    pub count: usize,
}

/// The numpy broadcast of two shapes (right-aligned, size-1 axes stretch), or None.
pub fn broadcast_shape(a: Shape, b: Shape) -> Option<Shape> {
    let rank = a.rank().max(b.rank());
    let mut dims = vec![0; rank];
    for (i, d) in dims.iter_mut().enumerate() {
        let da = aligned_dim(a, rank, i);
        let db = aligned_dim(b, rank, i);
        *d = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(Shape::new(&dims))
}

fn aligned_dim(s: Shape, rank: usize, i: usize) -> usize {
    let offset = rank - s.rank();
    if i < offset { 1 } else { s.dims()[i - offset] }
}

/// How `small` is read inside `out` (None: same layout, read at i). Broadcasting needs the
/// axes where `small` is not 1 to be one contiguous run, which covers scalars, NCHW
/// per-channel vectors ([C, 1, 1]), row vectors and column vectors.
pub fn broadcast_layout(out: Shape, small: Shape) -> Option<Broadcast> {
    if small.numel() == out.numel() {
        return None;
    }
    let rank = out.rank();
    let kept: Vec<usize> = (0..rank)
        .filter(|&i| aligned_dim(small, rank, i) != 1)
        .collect();
    let (start, end) = match (kept.first(), kept.last()) {
        (Some(&s), Some(&e)) => (s, e + 1),
        _ => (rank, rank),
    };
    assert!(
        (start..end).all(|i| aligned_dim(small, rank, i) == out.dims()[i]),
        "cannot broadcast {small} against {out}: pegasus broadcasts an operand whose non-1 \
         axes form one contiguous run"
    );
    Some(Broadcast {
        inner: out.dims()[end..].iter().product(),
        count: out.dims()[start..end].iter().product(),
    })
}

/// Runs an elementwise kernel over n values: `bound` gives (binding, buffer) of its scalar
/// entry point. Where n % 4 == 0 and `wide` names the entry point's vec4 form, that runs
/// instead over n / 4 vec4s, each buffer at its vec4 binding (4 higher; shaders/elementwise.wgsl).
fn dispatch_elementwise(
    gpu: &Gpu,
    kernel: Kernel,
    wide: Option<&'static str>,
    bound: &[(u32, &wgpu::Buffer)],
    params: &[u32; 7],
) {
    let n = params[0] as usize;
    match wide.filter(|_| n.is_multiple_of(4)) {
        Some(entry) => {
            let bound: Vec<(u32, &wgpu::Buffer)> = bound.iter().map(|&(b, t)| (b + 4, t)).collect();
            let grid = gpu.linear_grid((n as u64 / 4).div_ceil(WORKGROUP));
            gpu.dispatch_by_binding(&Kernel { entry, ..kernel }, &bound, params, grid);
        }
        None => {
            let grid = gpu.linear_grid((n as u64).div_ceil(WORKGROUP));
            gpu.dispatch_by_binding(&kernel, bound, params, grid);
        }
    }
}

impl Tensor {
    pub fn full(gpu: &Arc<Gpu>, dims: &[usize], value: f32) -> Tensor {
        let out = Tensor::uninit(gpu, dims);
        let n = out.numel();
        dispatch_elementwise(
            gpu,
            Kernel::new(&ELEMENTWISE, "fill").doing(0, n),
            Some("fill_wide"),
            &[(4, out.buffer())],
            &[n as u32, 0, 0, 0, 0, value.to_bits(), 0],
        );
        out
    }

    pub fn ones_like(&self) -> Tensor {
        Tensor::full(self.gpu(), self.dims(), 1.0)
    }

    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.gpu(), self.dims())
    }

    pub(crate) fn map_unary(&self, op: Unary, alpha: f32, beta: f32) -> Tensor {
        let out = Tensor::uninit(self.gpu(), self.dims());
        let n = self.numel();
        let constants = [("OP", f64::from(op.code()))];
        let kernel = Kernel::new(&ELEMENTWISE, "map_unary")
            .with(&constants)
            .tagged(op.name())
            .doing(n, 2 * n);
        dispatch_elementwise(
            self.gpu(),
            kernel,
            Some("map_unary_wide"),
            &[(1, self.buffer()), (4, out.buffer())],
            &[n as u32, 0, 0, 0, 0, alpha.to_bits(), beta.to_bits()],
        );
        if op == Unary::Step {
            return out;
        }
        let (x, y) = (self.detach(), out.clone());
        record(
            &[self],
            out,
            Box::new(move |g, _| vec![Some(x.unary_grad(&y, g, op, alpha))]),
        )
    }

    /// g * unary'(self), where y = unary(self).
    fn unary_grad(&self, y: &Tensor, g: &Tensor, op: Unary, alpha: f32) -> Tensor {
        let out = Tensor::uninit(self.gpu(), self.dims());
        let n = self.numel();
        let constants = [("OP", f64::from(op.code()))];
        let kernel = Kernel::new(&ELEMENTWISE, "map_unary_grad")
            .with(&constants)
            .tagged(op.name())
            .doing(2 * n, 4 * n);
        dispatch_elementwise(
            self.gpu(),
            kernel,
            Some("map_unary_grad_wide"),
            &[
                (1, self.buffer()),
                (2, y.buffer()),
                (3, g.buffer()),
                (4, out.buffer()),
            ],
            &[n as u32, 0, 0, 0, 0, alpha.to_bits(), 0],
        );
        out
    }

    /// mean(|self|) over every value, as `self.abs().mean()`, with a backward of one pass.
    pub fn mean_abs(&self) -> Tensor {
        let out = self.mean_of_magnitudes();
        let x = self.detach();
        record(
            &[self],
            out,
            Box::new(move |g, _| vec![Some(x.scaled_signs(g, 1.0 / x.numel() as f32))]),
        )
    }

    /// g scale sign(self) for the scalar g: mean_abs's gradient for scale 1 / n.
    pub(crate) fn scaled_signs(&self, g: &Tensor, scale: f32) -> Tensor {
        let gpu = self.gpu();
        let out = Tensor::uninit(gpu, self.dims());
        let n = self.numel();
        let params = [n as u32, 0, 0, 0, 0, scale.to_bits(), 0];
        let kernel = Kernel::new(&ELEMENTWISE, "scaled_signs").doing(2 * n, 2 * n);
        // The vec4 form reads self and writes out four values at a time, g as one value.
        if n.is_multiple_of(4) {
            gpu.dispatch_by_binding(
                &Kernel {
                    entry: "scaled_signs_wide",
                    ..kernel
                },
                &[(5, self.buffer()), (3, g.buffer()), (8, out.buffer())],
                &params,
                gpu.linear_grid((n as u64 / 4).div_ceil(WORKGROUP)),
            );
        } else {
            gpu.dispatch_by_binding(
                &kernel,
                &[(1, self.buffer()), (3, g.buffer()), (4, out.buffer())],
                &params,
                gpu.linear_grid((n as u64).div_ceil(WORKGROUP)),
            );
        }
        out
    }

    /// 1 where self >= threshold, else 0 (not differentiable).
    pub fn step(&self, threshold: f32) -> Tensor {
        self.map_unary(Unary::Step, threshold, 0.0)
    }

    /// Sums a broadcast result back to `shape` (the gradient of broadcasting).
    pub fn sum_to(&self, shape: Shape) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        let rank = self.shape().rank();
        let axes: Vec<isize> = (0..rank)
            .filter(|&i| aligned_dim(shape, rank, i) == 1 && self.dims()[i] != 1)
            .map(|i| i as isize)
            .collect();
        let summed = if axes.is_empty() {
            self.clone()
        } else {
            self.sum_axes(&axes)
        };
        summed.reshape(shape.dims())
    }

    /// x if x > 0, else slope * x.
    pub fn leaky_relu(&self, slope: f32) -> Tensor {
        self.map_unary(Unary::LeakyRelu, slope, 0.0)
    }

    /// scale * x + shift.
    pub fn affine(&self, scale: f32, shift: f32) -> Tensor {
        self.map_unary(Unary::Affine, scale, shift)
    }

    pub fn scale(&self, factor: f32) -> Tensor {
        self.affine(factor, 0.0)
    }

    pub fn add_scalar(&self, value: f32) -> Tensor {
        self.affine(1.0, value)
    }

    pub(crate) fn map_binary(&self, other: &Tensor, op: Binary) -> Tensor {
        let out = self.map_binary_raw(other, op);
        let (a, b) = (self.detach(), other.detach());
        let backward = move |g: &Tensor, needs: &[bool]| -> Vec<Option<Tensor>> {
            let (sa, sb) = (a.shape(), b.shape());
            let (ga, gb) = match op {
                Binary::Add => (needs[0].then(|| g.clone()), needs[1].then(|| g.clone())),
                Binary::Sub => (needs[0].then(|| g.clone()), needs[1].then(|| g.neg())),
                Binary::Mul => (needs[0].then(|| g.mul(&b)), needs[1].then(|| g.mul(&a))),
                Binary::Div => (
                    needs[0].then(|| g.div(&b)),
                    needs[1].then(|| g.mul(&a).div(&b.square()).neg()),
                ),
                Binary::Maximum | Binary::Minimum => {
                    // Ties send the gradient to the first operand.
                    let first = if op == Binary::Maximum {
                        a.map_binary_raw(&b, Binary::GreaterEqual)
                    } else {
                        b.map_binary_raw(&a, Binary::GreaterEqual)
                    };
                    (
                        needs[0].then(|| g.mul(&first)),
                        needs[1].then(|| g.mul(&first.affine(-1.0, 1.0))),
                    )
                }
                Binary::GreaterEqual | Binary::Equal => (None, None),
            };
            vec![ga.map(|t| t.sum_to(sa)), gb.map(|t| t.sum_to(sb))]
        };
        if matches!(op, Binary::GreaterEqual | Binary::Equal) {
            return out;
        }
        record(&[self, other], out, Box::new(backward))
    }

    fn map_binary_raw(&self, other: &Tensor, op: Binary) -> Tensor {
        let shape = broadcast_shape(self.shape(), other.shape()).unwrap_or_else(|| {
            panic!(
                "{}: shapes {} and {} do not broadcast",
                op.name(),
                self.shape(),
                other.shape()
            )
        });
        let layout_a = broadcast_layout(shape, self.shape());
        let layout_b = broadcast_layout(shape, other.shape());
        let out = Tensor::uninit(self.gpu(), shape.dims());
        let n = shape.numel();
        let words = |l: Option<Broadcast>| l.map_or([1, 1], |l| [l.inner as u32, l.count as u32]);
        let [ai, ac] = words(layout_a);
        let [bi, bc] = words(layout_b);
        let constants = [
            ("OP", op as u32 as f64),
            ("A_BCAST", f64::from(u8::from(layout_a.is_some()))),
            ("B_BCAST", f64::from(u8::from(layout_b.is_some()))),
        ];
        let kernel = Kernel::new(&ELEMENTWISE, "map_binary")
            .with(&constants)
            .tagged(op.name())
            .doing(n, n + self.numel() + other.numel());
        let same_shape = layout_a.is_none() && layout_b.is_none();
        dispatch_elementwise(
            self.gpu(),
            kernel,
            same_shape.then_some("map_binary_wide"),
            &[(1, self.buffer()), (2, other.buffer()), (4, out.buffer())],
            &[n as u32, ai, ac, bi, bc, 0, 0],
        );
        out
    }

    pub fn add(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Add)
    }

    pub fn sub(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Sub)
    }

    pub fn mul(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Mul)
    }

    pub fn div(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Div)
    }

    pub fn maximum(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Maximum)
    }

    pub fn minimum(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Minimum)
    }

    /// 1 where self >= other, else 0 (broadcasting; not differentiable).
    pub fn greater_equal(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::GreaterEqual)
    }

    /// 1 where self == other, else 0 (broadcasting; not differentiable).
    pub fn equal(&self, other: &Tensor) -> Tensor {
        self.map_binary(other, Binary::Equal)
    }

    /// binary(x, value) for every element, without materialising the constant.
    pub(crate) fn map_scalar(&self, op: Binary, value: f32) -> Tensor {
        let out = Tensor::uninit(self.gpu(), self.dims());
        let n = self.numel();
        let constants = [("OP", op as u32 as f64)];
        let kernel = Kernel::new(&ELEMENTWISE, "map_scalar")
            .with(&constants)
            .tagged(op.name())
            .doing(n, 2 * n);
        dispatch_elementwise(
            self.gpu(),
            kernel,
            Some("map_scalar_wide"),
            &[(1, self.buffer()), (4, out.buffer())],
            &[n as u32, 0, 0, 0, 0, value.to_bits(), 0],
        );
        let x = self.detach();
        let backward = move |g: &Tensor, _: &[bool]| -> Vec<Option<Tensor>> {
            vec![Some(match op {
                Binary::Div => g.div_scalar(value),
                // Ties (x == value) pass the gradient, as for the binary maximum.
                Binary::Maximum => g.mul(&x.step(value)),
                Binary::Minimum => g.mul(&x.neg().step(-value)),
                _ => unreachable!("map_scalar serves div, max and min"),
            })]
        };
        record(&[self], out, Box::new(backward))
    }

    pub fn div_scalar(&self, value: f32) -> Tensor {
        self.map_scalar(Binary::Div, value)
    }

    pub fn max_scalar(&self, value: f32) -> Tensor {
        self.map_scalar(Binary::Maximum, value)
    }

    pub fn min_scalar(&self, value: f32) -> Tensor {
        self.map_scalar(Binary::Minimum, value)
    }
}
