//! The feature network: a small convolutional classifier that pegasus trains itself on a
//! labelled dataset, whose penultimate layer is the feature space of `pegasus eval` (no
//! pretrained weights can be downloaded on every machine, and a network trained on the very
//! images a run models sees what matters in them).
//!
//! | part     | layers                                                                    |
//! |----------|---------------------------------------------------------------------------|
//! | stages   | 3 x 3 stride-2 padded convolutions, widths nf, 2 nf, 4 nf, each with       |
//! |          | BatchNorm and ReLU: 28 -> 14 -> 7 -> 4, 32 -> 16 -> 8 -> 4                 |
//! | features | flatten, a linear layer to `feature_size` values, ReLU (the feature space) |
//! | head     | a linear layer to one logit per class, trained on softmax cross-entropy    |

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::io::Checkpoint;
use crate::models::evaluating;
use crate::nn::{Activation, BatchNorm, Conv2d, Flatten, Linear, Module, Sequential, loss};
use crate::ops::{ConvGeometry, Rng};
use crate::optim::Adam;
use crate::tensor::Tensor;
use crate::train::{
    Kind, Model, RunConfig, batch_indices, batches_per_epoch, counter, load_checkpoint,
    networks_state,
};

/// Everything a features run needs to be rebuilt exactly (under "features" in config.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeaturesConfig {
    pub channels: usize,
    pub image_size: usize,
    pub class_names: Vec<String>,
    /// Width of the first convolution; each later one doubles it.
    pub nf: usize,
    /// Values of the feature space (the penultimate layer).
    pub feature_size: usize,
    pub images: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
}

const STAGES: usize = 3;
const DOWN: ConvGeometry = ConvGeometry::new(2, 1);
/// Images per forward pass when embedding or classifying many.
const EMBED_BATCH: usize = 256;

impl FeaturesConfig {
    pub fn check(&self) -> Result<()> {
        if !(8..=256).contains(&self.image_size) {
            return Err(Error::Invalid(format!(
                "the feature network takes square images of 8 to 256 pixels, not {}; pass --image-size",
                self.image_size
            )));
        }
        if self.class_names.len() < 2 {
            return Err(Error::Invalid(format!(
                "a classifier needs at least 2 classes; the images have {}",
                self.class_names.len()
            )));
        }
        if self.nf == 0 || self.feature_size == 0 || !(1..=4).contains(&self.channels) {
            return Err(Error::Invalid(format!(
                "width {} and feature size {} must be positive and channels {} 1 to 4",
                self.nf, self.feature_size, self.channels
            )));
        }
        Ok(())
    }

    /// Side of the last stage's map.
    fn last_side(&self) -> usize {
        (0..STAGES).fold(self.image_size, |s, _| s.div_ceil(2))
    }
}

/// A trained (or training) feature network.
pub struct FeatureNet {
    pub config: FeaturesConfig,
    gpu: Arc<Gpu>,
    /// Stages, flatten, the feature layer and its ReLU, then the class head.
    net: Sequential,
    optimizer: Adam,
    step: usize,
}

impl FeatureNet {
    pub fn new(gpu: &Arc<Gpu>, config: FeaturesConfig) -> Result<FeatureNet> {
        config.check()?;
        let mut rng = Rng::new(config.seed);
        let mut net = Sequential::default();
        let mut cin = config.channels;
        for stage in 0..STAGES {
            let width = config.nf << stage;
            net.push(Conv2d::new(gpu, &mut rng, cin, width, 3, DOWN, false));
            net.push(BatchNorm::new(gpu, width));
            net.push(Activation::Relu);
            cin = width;
        }
        let side = config.last_side();
        net.push(Flatten { to: None });
        net.push(Linear::new(
            gpu,
            &mut rng,
            cin * side * side,
            config.feature_size,
            true,
        ));
        net.push(Activation::Relu);
        net.push(Linear::new(
            gpu,
            &mut rng,
            config.feature_size,
            config.class_names.len(),
            true,
        ));
        let optimizer = Adam::single(net.parameters(), config.lr, 0.9, 0.999);
        Ok(FeatureNet {
            config,
            gpu: gpu.clone(),
            net,
            optimizer,
            step: 0,
        })
    }

    /// Index of the layer whose output is the feature space (the ReLU after the feature layer).
    fn feature_layer(&self) -> usize {
        self.net.layers.len() - 2
    }

    /// Feature vectors [n, feature_size] of images [n, C, H, W] in [-1, 1] (evaluation mode).
    pub fn embed(&self, images: &Tensor) -> Tensor {
        let tap = [self.feature_layer()];
        evaluating(&self.net, images, EMBED_BATCH, |x| {
            self.net.forward_features(x, &tap).remove(0)
        })
    }

    /// The activations after each convolution stage (BatchNorm and ReLU included), in
    /// evaluation mode and differentiable: the blocks of a perceptual loss.
    pub fn stage_features(&self, images: &Tensor) -> Vec<Tensor> {
        self.net.set_training(false);
        let taps: Vec<usize> = (0..STAGES).map(|stage| 3 * stage + 2).collect();
        self.net.forward_features(images, &taps)
    }

    /// The class each image of `set` is given (the images uploaded a batch at a time: a
    /// whole test split could pass the adapter's largest binding).
    pub fn classify(&self, set: &Dataset) -> Vec<usize> {
        let all: Vec<usize> = (0..set.len()).collect();
        let logits: Vec<f32> = all
            .chunks(EMBED_BATCH)
            .flat_map(|chunk| {
                evaluating(&self.net, &set.batch(&self.gpu, chunk), EMBED_BATCH, |x| {
                    self.net.forward(x)
                })
                .to_vec()
            })
            .collect();
        let classes = self.config.class_names.len();
        logits
            .chunks(classes)
            .map(|row| {
                (0..classes)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Fraction of `set`'s images given their own class (None without labels).
    pub fn accuracy_on(&self, set: &Dataset) -> Option<f32> {
        let labels = set.labels.as_ref()?;
        let right = self
            .classify(set)
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == **l as usize)
            .count();
        Some(right as f32 / set.len().max(1) as f32)
    }

    fn one_hot(&self, set: &Dataset, indices: &[usize]) -> Tensor {
        let classes = self.config.class_names.len();
        let labels = set
            .labels
            .as_ref()
            .expect("features runs are built from labelled images only");
        let mut values = vec![0.0f32; indices.len() * classes];
        for (row, &i) in indices.iter().enumerate() {
            values[row * classes + labels[i] as usize] = 1.0;
        }
        Tensor::from_slice(&self.gpu, &values, &[indices.len(), classes])
    }
}

/// The held-out images, or the training images when nothing is held out.
fn judged(data: &Split) -> &Dataset {
    data.heldout.as_ref().unwrap_or(&data.train)
}

impl Model for FeatureNet {
    fn loss_names(&self) -> Vec<&'static str> {
        vec!["loss", "accuracy"]
    }

    fn eval_names(&self) -> Vec<&'static str> {
        vec!["heldout_accuracy"]
    }

    fn step(&self) -> usize {
        self.step
    }

    fn batch_size(&self) -> usize {
        self.config.batch
    }

    fn describe(&self) -> String {
        format!(
            "feature network, {} classes, {} features, {} parameters",
            self.config.class_names.len(),
            self.config.feature_size,
            crate::nn::parameter_count(&self.net)
        )
    }

    fn train_step(&mut self, train: &Dataset) -> Vec<(&'static str, Tensor)> {
        let indices = batch_indices(self.config.seed, train.len(), self.config.batch, self.step);
        let x = train.batch(&self.gpu, &indices);
        let targets = self.one_hot(train, &indices);
        let logits = self.net.forward(&x);
        let l = loss::cross_entropy(&logits, &targets);
        self.optimizer.step(&l.backward());
        self.step += 1;
        vec![
            ("loss", l.detach()),
            ("accuracy", loss::accuracy(&logits.detach(), &targets)),
        ]
    }

    fn evaluate(&self, data: &Split) -> Vec<f32> {
        vec![self.accuracy_on(judged(data)).unwrap_or(f32::NAN)]
    }

    fn state(&mut self) -> Vec<(String, Tensor)> {
        networks_state(
            &[("net", &self.net)],
            vec![("optim", self.optimizer.state())],
        )
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("step", self.step as u64),
            ("optim.step", self.optimizer.step),
        ]
    }

    fn restore(&mut self, checkpoint: &Checkpoint, path: &Path) -> Result<()> {
        checkpoint.restore(path, &self.state())?;
        self.step = counter(checkpoint, path, "step")? as usize;
        self.optimizer.step = counter(checkpoint, path, "optim.step")?;
        Ok(())
    }

    fn write_pictures(&self, _data: &Split, _dir: &Path, _last: bool) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn divergence_hint(&self) -> String {
        "Lower --lr".into()
    }

    fn report(&self, data: &Split) -> Vec<String> {
        let set = judged(data);
        let whose = if data.heldout.is_some() {
            "held-out"
        } else {
            "training"
        };
        match self.accuracy_on(set) {
            Some(a) => vec![format!(
                "{whose} accuracy: {:.2}% of {} images",
                100.0 * a,
                set.len()
            )],
            None => Vec::new(),
        }
    }
}

impl Kind for FeatureNet {
    const KIND: &'static str = "features";
    type Config = FeaturesConfig;

    fn build(gpu: &Arc<Gpu>, config: &FeaturesConfig, _: Option<&Dataset>) -> Result<FeatureNet> {
        FeatureNet::new(gpu, config.clone())
    }

    fn batches_per_epoch(config: &FeaturesConfig) -> usize {
        batches_per_epoch(config.images, config.batch)
    }

    fn sizes(config: &FeaturesConfig) -> Vec<(&'static str, usize, usize)> {
        vec![
            ("channels", config.channels, 4),
            ("image_size", config.image_size, 4096),
            ("nf", config.nf, 512),
            ("feature_size", config.feature_size, 4096),
            ("images", config.images, 1 << 28),
            ("batch", config.batch, 1 << 16),
        ]
    }
}

/// The feature network of the features run at `dir`, its checkpoint restored.
pub fn open_features_run(gpu: &Arc<Gpu>, dir: &Path) -> Result<FeatureNet> {
    let config = RunConfig::read(dir)?;
    if config.model != FeatureNet::KIND {
        return Err(Error::Invalid(format!(
            "{} is a {} run, not a features run; make one with `pegasus train features --data ...`",
            dir.display(),
            config.model
        )));
    }
    let checkpoint = dir.join("checkpoint.safetensors");
    if !checkpoint.is_file() {
        return Err(Error::Invalid(format!(
            "{} has no checkpoint yet; train it first",
            dir.display()
        )));
    }
    load_checkpoint(gpu, &config.settings(dir)?, &checkpoint)
}
