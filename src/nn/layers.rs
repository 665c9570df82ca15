//! The layers: each holds its parameters as tracked tensors and names them as PyTorch does.

use std::cell::Cell;
use std::ops::Range;
use std::sync::Arc;

use super::{Module, init, prefixed};
use crate::gpu::Gpu;
use crate::gpu::scope::in_layer;
use crate::ops::{ConvGeometry, Rng, RunningStats};
use crate::tensor::Tensor;

fn named(pairs: &[(&str, &Tensor)]) -> Vec<(String, Tensor)> {
    pairs
        .iter()
        .map(|(n, t)| (n.to_string(), (*t).clone()))
        .collect()
}

fn weight_and_bias(weight: &Tensor, bias: &Option<Tensor>) -> Vec<(String, Tensor)> {
    let mut out = named(&[("weight", weight)]);
    if let Some(b) = bias {
        out.push(("bias".into(), b.clone()));
    }
    out
}

/// y = x W^T + b, W [out, in].
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

/// PyTorch's default initialisation of a weight and, when `bias_len` is given, of a bias of
/// that length, both drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). As in PyTorch, fan_in
/// is the product of the weight's dimensions after the first: the input features of a
/// Linear and a Conv2d, the output channels of a ConvTranspose2d, times the kernel area.
fn default_parameters(
    gpu: &Arc<Gpu>,
    rng: &mut Rng,
    weight_dims: &[usize],
    bias_len: Option<usize>,
) -> (Tensor, Option<Tensor>) {
    let fan_in = weight_dims[1..].iter().product();
    let weight = init::pytorch_default(rng, gpu, weight_dims, fan_in).track();
    let bias = bias_len.map(|len| init::pytorch_default(rng, gpu, &[len], fan_in).track());
    (weight, bias)
}

impl Linear {
    pub fn new(gpu: &Arc<Gpu>, rng: &mut Rng, inputs: usize, outputs: usize, bias: bool) -> Linear {
        let (weight, bias) =
            default_parameters(gpu, rng, &[outputs, inputs], bias.then_some(outputs));
        Linear { weight, bias }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }
}

/// Conv2d with a square kernel: weight [Co, Ci, k, k].
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub geometry: ConvGeometry,
}

impl Conv2d {
    pub fn new(
        gpu: &Arc<Gpu>,
        rng: &mut Rng,
        cin: usize,
        cout: usize,
        kernel: usize,
        geometry: ConvGeometry,
        bias: bool,
    ) -> Conv2d {
        let dims = [cout, cin, kernel, kernel];
        let (weight, bias) = default_parameters(gpu, rng, &dims, bias.then_some(cout));
        Conv2d {
            weight,
            bias,
            geometry,
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(&self.weight, self.bias.as_ref(), self.geometry)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }
}

/// ConvTranspose2d with a square kernel: weight [Ci, Co, k, k].
pub struct ConvTranspose2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub geometry: ConvGeometry,
    pub output_padding: usize,
}

impl ConvTranspose2d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Arc<Gpu>,
        rng: &mut Rng,
        cin: usize,
        cout: usize,
        kernel: usize,
        geometry: ConvGeometry,
        output_padding: usize,
        bias: bool,
    ) -> ConvTranspose2d {
        let dims = [cin, cout, kernel, kernel];
        let (weight, bias) = default_parameters(gpu, rng, &dims, bias.then_some(cout));
        ConvTranspose2d {
            weight,
            bias,
            geometry,
            output_padding,
        }
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv_transpose2d(
            &self.weight,
            self.bias.as_ref(),
            self.geometry,
            self.output_padding,
        )
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, &self.bias)
    }
}

/// BatchNorm1d ([N, C]) and BatchNorm2d ([N, C, H, W]).
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f32,
    pub eps: f32,
    training: Cell<bool>,
}

impl BatchNorm {
    pub fn new(gpu: &Arc<Gpu>, channels: usize) -> BatchNorm {
        BatchNorm {
            weight: Tensor::full(gpu, &[channels], 1.0).track(),
            bias: Tensor::zeros(gpu, &[channels]).track(),
            running_mean: Tensor::zeros(gpu, &[channels]),
            running_var: Tensor::full(gpu, &[channels], 1.0),
            momentum: 0.1,
            eps: 1e-5,
            training: Cell::new(true),
        }
    }
}

impl BatchNorm {
    /// The normalised x through a leaky rectifier of `slope` (1: none).
    fn normalize(&self, x: &Tensor, slope: f32) -> Tensor {
        let running = RunningStats::new(&self.running_mean, &self.running_var);
        x.batch_norm_rectified(
            &self.weight,
            &self.bias,
            running,
            (self.training.get(), self.momentum, self.eps),
            slope,
        )
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.normalize(x, 1.0)
    }

    fn forward_rectified(&self, x: &Tensor, slope: f32) -> Option<Tensor> {
        Some(self.normalize(x, slope))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        named(&[("weight", &self.weight), ("bias", &self.bias)])
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        named(&[
            ("running_mean", &self.running_mean),
            ("running_var", &self.running_var),
        ])
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
    Softplus,
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Tensor {
        match *self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(slope) => x.leaky_relu(slope),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Softplus => x.softplus(),
        }
    }

    fn rectifier_slope(&self) -> Option<f32> {
        match *self {
            Activation::Relu => Some(0.0),
            Activation::LeakyRelu(slope) => Some(slope),
            _ => None,
        }
    }
}

pub struct AvgPool2d {
    pub kernel: usize,
    pub stride: usize,
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.avg_pool2d(self.kernel, self.stride)
    }
}

pub struct AdaptiveAvgPool2d(pub usize, pub usize);

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.adaptive_avg_pool2d(self.0, self.1)
    }
}

/// Resize to a fixed size, nearest or bilinear (align_corners=False).
pub struct Resize {
    pub height: usize,
    pub width: usize,
    pub bilinear: bool,
}

impl Module for Resize {
    fn forward(&self, x: &Tensor) -> Tensor {
        if self.bilinear {
            x.upsample_bilinear(self.height, self.width)
        } else {
            x.upsample_nearest(self.height, self.width)
        }
    }
}

/// [N, ...] -> [N, rest] (or to any shape with the batch kept: `Flatten::to(&[c, h, w])`).
pub struct Flatten {
    pub to: Option<Vec<usize>>,
}

impl Flatten {
    pub fn to(dims: &[usize]) -> Flatten {
        Flatten {
            to: Some(dims.to_vec()),
        }
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        let n = x.dims()[0];
        match &self.to {
            Some(dims) => {
                let mut full = vec![n];
                full.extend_from_slice(dims);
                x.reshape(&full)
            }
            None => x.reshape(&[n, x.numel() / n.max(1)]),
        }
    }
}

/// Layers applied in order; layer i's parameters are named "i.<name>" as in nn.Sequential.
#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn push(&mut self, layer: impl Module + 'static) -> &mut Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// The output of each layer whose index is in `taps` (in order), for feature losses;
    /// the layers after the last tap are not run.
    pub fn forward_features(&self, x: &Tensor, taps: &[usize]) -> Vec<Tensor> {
        let last = taps.iter().copied().max().unwrap_or(0);
        self.forward_span(x, 0..last + 1, taps).1
    }

    /// The output of the layers in `span` applied to x (the input of layer span.start), and
    /// those of the layers in `keep`. A layer followed by a rectifier that it can apply
    /// itself (BatchNorm) runs both in its own passes, unless its own output is kept or the
    /// rectifier lies past the span.
    pub fn forward_span(
        &self,
        x: &Tensor,
        span: Range<usize>,
        keep: &[usize],
    ) -> (Tensor, Vec<Tensor>) {
        let mut h = x.clone();
        let mut kept = Vec::new();
        let mut i = span.start;
        while i < span.end {
            let next_slope = self.layers.get(i + 1).and_then(|l| l.rectifier_slope());
            let layer = &self.layers[i];
            let slope = next_slope.filter(|_| i + 1 < span.end && !keep.contains(&i));
            let (y, fused) = in_layer(&format!("{i} {}", layer.kind()), || {
                match slope.and_then(|slope| layer.forward_rectified(&h, slope)) {
                    Some(y) => (y, true),
                    None => (layer.forward(&h), false),
                }
            });
            h = y;
            if fused {
                i += 1;
            }
            if keep.contains(&i) {
                kept.push(h.clone());
            }
            i += 1;
        }
        (h, kept)
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_span(x, 0..self.layers.len(), &[]).0
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| prefixed(&i.to_string(), l.parameters()))
            .collect()
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| prefixed(&i.to_string(), l.buffers()))
            .collect()
    }

    fn set_training(&self, training: bool) {
        self.layers.iter().for_each(|l| l.set_training(training));
    }
}
