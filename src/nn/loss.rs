//! The simple losses, as PyTorch computes them with reduction='mean' (over every element).
//! Built from elementwise ops and a mean, so their gradients come from those ops' rules.

use crate::gpu::scope::in_layer;
use crate::tensor::Tensor;

/// mean((pred - target)^2)
pub fn mse(pred: &Tensor, target: &Tensor) -> Tensor {
    in_layer("loss mse", || pred.sub(target).square().mean())
}

/// mean(|pred - target|)
pub fn l1(pred: &Tensor, target: &Tensor) -> Tensor {
    in_layer("loss l1", || pred.sub(target).mean_abs())
}

/// mean(-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x))) written as
/// mean(softplus(x) - t x), which never forms log(0) or exp of a large number.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Tensor {
    in_layer("loss bce_with_logits", || {
        logits.softplus().sub(&logits.mul(targets)).mean()
    })
}

/// The Laplacian-pyramid L1 loss of GLO (Bojanowski et al.): sum over levels j of
/// weight_j * mean |L^j(pred) - L^j(target)|, with L the Laplacian pyramid of `levels`
/// levels (the last one the Gaussian residual) built with the 1 4 6 4 1 kernel. Default
/// weights are all 1 on per-level means: level j holds 4^-j as many pixels as level 0, so
/// its mean is 4^j = 2^(2j) times its sum over the level-0 count, the paper's weighting of
/// sums up to a constant. The pyramid is linear, so it is built once, of the
/// difference.
pub fn laplacian_l1(
    pred: &Tensor,
    target: &Tensor,
    levels: usize,
    weights: Option<&[f32]>,
) -> Tensor {
    in_layer("loss laplacian_l1", || {
        let ones = vec![1.0; levels];
        pred.laplacian_l1(
            target,
            levels,
            weights.unwrap_or(&ones),
            &crate::ops::blur::PYRAMID_TAPS,
        )
    })
}

/// 1 - SSIM, SSIM averaged over images, channels and the valid area (11 x 11 Gaussian
/// window, sigma 1.5). `data_range` is 2 for images in [-1, 1].
pub fn ssim(pred: &Tensor, target: &Tensor, data_range: f32) -> Tensor {
    in_layer("loss ssim", || {
        use crate::ops::ssim::{SSIM_RADIUS, SSIM_SIGMA};
        pred.ssim_map(target, data_range, SSIM_SIGMA, SSIM_RADIUS)
            .mean()
            .affine(-1.0, 1.0)
    })
}

/// Seed 002's colour loss: both images average-pooled to 3 x 3, then the MSE.
pub fn colour(pred: &Tensor, target: &Tensor) -> Tensor {
    in_layer("loss colour", || {
        mse(
            &pred.adaptive_avg_pool2d(3, 3),
            &target.adaptive_avg_pool2d(3, 3),
        )
    })
}

/// KL(N(mu, exp(logvar)) || N(0, 1)) = -0.5 sum(1 + logvar - mu^2 - exp(logvar)) over the
/// latent dimensions, averaged over the batch, times `beta`.
pub fn kl_divergence(mu: &Tensor, logvar: &Tensor, beta: f32) -> Tensor {
    in_layer("loss kl_divergence", || {
        let batch = mu.dims()[0] as f32;
        let inner = logvar.add_scalar(1.0).sub(&mu.square()).sub(&logvar.exp());
        inner.sum().scale(-0.5 * beta / batch)
    })
}

/// Distance between matching intermediate activations (e.g. a discriminator's features for
/// VAE-GAN, or a perceptual network's): the sum over layers of mean |a - b| (L1) or
/// mean (a - b)^2 (L2).
pub fn feature_distance(a: &[Tensor], b: &[Tensor], squared: bool) -> Tensor {
    in_layer("loss feature_distance", || {
        assert_eq!(a.len(), b.len(), "{} and {} feature maps", a.len(), b.len());
        let terms = a
            .iter()
            .zip(b)
            .map(|(x, y)| if squared { mse(x, y) } else { l1(x, y) });
        terms
            .reduce(|s, t| s.add(&t))
            .expect("at least one feature map")
    })
}

/// Softmax cross-entropy of `logits` [B, K] against one-hot `targets` [B, K], mean over the
/// batch: mean_b(logsumexp_k(x_bk) - sum_k t_bk x_bk). Each row is shifted by its maximum
/// (a constant, so the gradient is unchanged) before the exponential, which then never
/// overflows.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    in_layer("loss cross_entropy", || {
        let rows = logits.dims()[0];
        let peak = crate::autograd::no_grad(|| logits.max_axes(&[1]).reshape(&[rows, 1]));
        let shifted = logits.sub(&peak);
        let log_norm = shifted.exp().sum_axes(&[1]).log();
        let picked = shifted.mul(targets).sum_axes(&[1]);
        log_norm.sub(&picked).mean()
    })
}

/// Fraction of rows of `logits` [B, K] whose largest value is at the one-hot `targets`' class.
pub fn accuracy(logits: &Tensor, targets: &Tensor) -> Tensor {
    crate::autograd::no_grad(|| {
        let rows = logits.dims()[0];
        let peak = logits.max_axes(&[1]).reshape(&[rows, 1]);
        logits
            .greater_equal(&peak)
            .mul(targets)
            .sum()
            .scale(1.0 / rows as f32)
    })
}
