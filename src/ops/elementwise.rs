//! Elementwise ops: unary maps, binary maps with numpy-style broadcasting, fill.

use std::sync::Arc;

use crate::gpu::{Gpu, Kernel};
use crate::ops::shaders::ELEMENTWISE;
use crate::tensor::{Shape, Tensor};

const WORKGROUP: u64 = 256;

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $method:ident => $variant:ident = $code:literal;)*) => {
        /// Unary maps; the codes match the constants in shaders/elementwise.wgsl.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Unary { $($variant,)* LeakyRelu, Affine }

        impl Unary {
            fn code(self) -> u32 {
                match self {
                    $(Unary::$variant => $code,)*
                    Unary::LeakyRelu => 7,
                    Unary::Affine => 10,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $(Unary::$variant => stringify!($method),)*
                    Unary::LeakyRelu => "leaky_relu",
                    Unary::Affine => "affine",
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

fn grid_for(gpu: &Gpu, n: usize) -> crate::gpu::Grid {
    gpu.linear_grid((n as u64).div_ceil(WORKGROUP))
}

impl Tensor {
    pub fn full(gpu: &Arc<Gpu>, dims: &[usize], value: f32) -> Tensor {
        let out = Tensor::uninit(gpu, dims);
        let n = out.numel();
        let params = [n as u32, 0, 0, 0, 0, value.to_bits(), 0];
        gpu.dispatch(
            &Kernel::new(&ELEMENTWISE, "fill"),
            &[out.buffer()],
            &params,
            grid_for(gpu, n),
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
            .tagged(op.name());
        let params = [n as u32, 0, 0, 0, 0, alpha.to_bits(), beta.to_bits()];
        self.gpu().dispatch(
            &kernel,
            &[self.buffer(), out.buffer()],
            &params,
            grid_for(self.gpu(), n),
        );
        out
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
            .tagged(op.name());
        self.gpu().dispatch(
            &kernel,
            &[self.buffer(), other.buffer(), out.buffer()],
            &[n as u32, ai, ac, bi, bc, 0, 0],
            grid_for(self.gpu(), n),
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

    /// binary(x, value) for every element, without materialising the constant.
    pub(crate) fn map_scalar(&self, op: Binary, value: f32) -> Tensor {
        let out = Tensor::uninit(self.gpu(), self.dims());
        let n = self.numel();
        let constants = [("OP", op as u32 as f64)];
        let kernel = Kernel::new(&ELEMENTWISE, "map_scalar")
            .with(&constants)
            .tagged(op.name());
        self.gpu().dispatch(
            &kernel,
            &[self.buffer(), out.buffer()],
            &[n as u32, 0, 0, 0, 0, value.to_bits(), 0],
            grid_for(self.gpu(), n),
        );
        out
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
