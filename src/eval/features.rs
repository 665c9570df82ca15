//! The spaces the metrics are measured in: a feature network pegasus trained, or
//! torchvision's VGG16 read from a safetensors file.

use crate::error::{Error, Result};
use crate::models::features::FeatureNet;
use crate::tensor::Tensor;

/// A map from images to feature vectors.
pub trait FeatureSpace {
    /// The space in words, for tables and eval.json.
    fn name(&self) -> &str;
    /// Values per feature vector.
    fn dims(&self) -> usize;
    /// Feature vectors [n, dims] of images [n, C, H, W] in [-1, 1]; refuses images of a
    /// shape it cannot take.
    fn embed(&self, images: &Tensor) -> Result<Tensor>;
}

/// A features run (`pegasus train features`) as a feature space.
pub struct TrainedFeatures {
    pub net: FeatureNet,
    pub name: String,
}

impl FeatureSpace for TrainedFeatures {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> usize {
        self.net.config.feature_size
    }

    fn embed(&self, images: &Tensor) -> Result<Tensor> {
        let (c, s) = (self.net.config.channels, self.net.config.image_size);
        let d = images.dims();
        if d[1] != c || d[2] != s || d[3] != s {
            return Err(Error::Invalid(format!(
                "{} takes images of {c} x {s} x {s}, not {} x {} x {}: train features on the run's own data (pegasus train features --data ...)",
                self.name, d[1], d[2], d[3]
            )));
        }
        Ok(self.net.embed(images))
    }
}
