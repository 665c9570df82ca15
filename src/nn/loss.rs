//! The simple losses, as PyTorch computes them with reduction='mean' (over every element).
//! Built from elementwise ops and a mean, so their gradients come from those ops' rules.

use crate::tensor::Tensor;

/// mean((pred - target)^2)
pub fn mse(pred: &Tensor, target: &Tensor) -> Tensor {
    pred.sub(target).square().mean()
}

/// mean(|pred - target|)
pub fn l1(pred: &Tensor, target: &Tensor) -> Tensor {
    pred.sub(target).abs().mean()
}

/// mean(-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x))) written as
/// mean(softplus(x) - t x), which never forms log(0) or exp of a large number.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Tensor {
    logits.softplus().sub(&logits.mul(targets)).mean()
}
