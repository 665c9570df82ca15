//! torchvision's VGG16 (Simonyan and Zisserman) as a feature space, for users who have its
//! weights saved as safetensors under torchvision's names ("features.0.weight", ...). Only
//! the convolutional part is read: the feature of an image is the mean over positions of
//! the last max-pooled map (512 values). Images are scaled to [0, 1], normalised with
//! ImageNet's channel means and deviations as torchvision's weights expect, grey images
//! repeated on the three channels, and images under 32 pixels enlarged to 32 (five poolings
//! halve the side).

use std::path::Path;
use std::sync::Arc;

use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::eval::features::FeatureSpace;
use crate::gpu::Gpu;
use crate::io::Checkpoint;
use crate::models::in_batches;
use crate::nn::{Activation, Conv2d, Module, Sequential, prefixed};
use crate::ops::{ConvGeometry, Rng};
use crate::tensor::Tensor;

/// torchvision's configuration "D": output widths, 0 for a 2 x 2 max pool.
const LAYOUT: [usize; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// The smallest side five 2 x 2 poolings leave a pixel of.
const MIN_SIDE: usize = 32;
const BATCH: usize = 32;

/// 2 x 2 max pooling with stride 2 (an odd last row or column dropped, as PyTorch's floor).
struct MaxPool2x2;

impl Module for MaxPool2x2 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let [n, c, h, w] = *x.dims() else {
            panic!("max pooling expects [N, C, H, W], got {}", x.shape());
        };
        let (oh, ow) = (h / 2, w / 2);
        let even = x.narrow(2, 0, 2 * oh).narrow(3, 0, 2 * ow);
        // Rows in pairs, then columns in pairs: tensors have at most four axes.
        let rows = even.reshape(&[n * c * oh, 2, 2 * ow]).max_axes(&[1]);
        rows.reshape(&[n * c * oh * ow, 2])
            .max_axes(&[1])
            .reshape(&[n, c, oh, ow])
    }
}

pub struct Vgg16 {
    gpu: Arc<Gpu>,
    /// Layer indices as torchvision's `features` Sequential, so parameter names match.
    features: Sequential,
    /// Indices of its max poolings (torchvision's 4, 9, 16, 23, 30): the ends of the blocks.
    pools: Vec<usize>,
    name: String,
}

impl Vgg16 {
    /// Reads the convolutions from a safetensors file with torchvision's names; a missing
    /// tensor or a shape of another network is refused, naming it.
    pub fn load(gpu: &Arc<Gpu>, path: &Path) -> Result<Vgg16> {
        let mut rng = Rng::new(0);
        let mut features = Sequential::default();
        let mut cin = 3;
        let mut pools = Vec::new();
        for width in LAYOUT {
            if width == 0 {
                features.push(MaxPool2x2);
                pools.push(features.layers.len() - 1);
            } else {
                let same = ConvGeometry::new(1, 1);
                features.push(Conv2d::new(gpu, &mut rng, cin, width, 3, same, true));
                features.push(Activation::Relu);
                cin = width;
            }
        }
        let mut checkpoint = Checkpoint::load(path)?;
        // The classifier is not part of the feature space.
        checkpoint
            .tensors
            .retain(|name, _| name.starts_with("features."));
        checkpoint
            .restore(path, &prefixed("features", features.parameters()))
            .map_err(|e| {
                Error::Invalid(format!(
                    "{e}; is it torchvision's VGG16 (vgg16, not vgg16_bn) saved with safetensors' save_file(model.state_dict())?"
                ))
            })?;
        Ok(Vgg16 {
            gpu: gpu.clone(),
            features,
            pools,
            name: format!("vgg16:{}", path.display()),
        })
    }

    /// The output of each of the five blocks (after its max pooling) for images in
    /// [-1, 1], differentiable: the blocks of a perceptual loss.
    pub fn block_features(&self, images: &Tensor) -> Result<Vec<Tensor>> {
        Ok(self
            .features
            .forward_features(&self.prepared(images)?, &self.pools))
    }

    /// Images in [-1, 1] as the network was trained to see them: 3 channels, [0, 1],
    /// normalised per channel, at least 32 pixels.
    fn prepared(&self, images: &Tensor) -> Result<Tensor> {
        let [n, c, h, w] = *images.dims() else {
            return Err(Error::Invalid(format!(
                "VGG16 takes images [N, C, H, W], not {}",
                images.shape()
            )));
        };
        let rgb = match c {
            3 => images.clone(),
            1 => images.expand(&[n, 3, h, w]),
            _ => {
                return Err(Error::Invalid(format!(
                    "VGG16 takes grey or RGB images, not {c} channels"
                )));
            }
        };
        let scale: Vec<f32> = IMAGENET_STD.iter().map(|s| 0.5 / s).collect();
        let shift: Vec<f32> = IMAGENET_MEAN
            .iter()
            .zip(IMAGENET_STD)
            .map(|(m, s)| (0.5 - m) / s)
            .collect();
        let scale = Tensor::from_slice(&self.gpu, &scale, &[1, 3, 1, 1]);
        let shift = Tensor::from_slice(&self.gpu, &shift, &[1, 3, 1, 1]);
        let normalised = rgb.mul(&scale).add(&shift);
        Ok(if h < MIN_SIDE || w < MIN_SIDE {
            normalised.upsample_bilinear(h.max(MIN_SIDE), w.max(MIN_SIDE))
        } else {
            normalised
        })
    }
}

impl FeatureSpace for Vgg16 {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> usize {
        512
    }

    fn embed(&self, images: &Tensor) -> Result<Tensor> {
        let x = no_grad(|| self.prepared(images))?;
        Ok(in_batches(&x, BATCH, |b| {
            self.features.forward(b).mean_axes(&[2, 3])
        }))
    }
}
