//! Where in a model each dispatch comes from, for the profiler's per-layer table: the layer
//! path that networks and `Sequential` push while they run, and the phase of training (the
//! forward pass, a gradient with respect to activations or to parameters, the optimiser).
//!
//! Both are per thread, as the tape is. The tape keeps the layer path of each record so the
//! backward pass, which runs long after the layer has returned, is charged to that layer.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// The part of a training step a dispatch belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    #[default]
    Forward,
    /// A gradient with respect to a layer's input (an activation).
    InputGradient,
    /// A gradient with respect to a parameter (weights, biases, learned latents).
    WeightGradient,
    Optimiser,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Forward,
        Phase::InputGradient,
        Phase::WeightGradient,
        Phase::Optimiser,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Phase::Forward => "forward",
            Phase::InputGradient => "input grad",
            Phase::WeightGradient => "weight grad",
            Phase::Optimiser => "optimiser",
        }
    }
}

/// A layer path such as "generator/1 ConvTranspose2d"; None outside every layer.
pub type LayerPath = Option<Arc<str>>;

thread_local! {
    static LAYER: RefCell<LayerPath> = const { RefCell::new(None) };
    static PHASE: Cell<Phase> = const { Cell::new(Phase::Forward) };
}

/// The layer path and phase that a dispatch made now belongs to.
pub fn current() -> (LayerPath, Phase) {
    (LAYER.with(|l| l.borrow().clone()), PHASE.with(Cell::get))
}

/// Runs `f` inside the layer `name`, nested under the current layer path.
pub fn in_layer<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let path: Arc<str> = match LAYER.with(|l| l.borrow().clone()) {
        Some(parent) => format!("{parent}/{name}").into(),
        None => name.into(),
    };
    with_layer(Some(path), f)
}

/// Runs `f` with the layer path set to `path` (a path kept from an earlier `current`).
pub fn with_layer<T>(path: LayerPath, f: impl FnOnce() -> T) -> T {
    // Restored on drop, so a panic caught further up leaves no stale layer behind.
    struct Restore(LayerPath);
    impl Drop for Restore {
        fn drop(&mut self) {
            LAYER.with(|l| *l.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(LAYER.with(|l| l.replace(path)));
    f()
}

/// Runs `f` in `phase`.
pub fn in_phase<T>(phase: Phase, f: impl FnOnce() -> T) -> T {
    struct Restore(Phase);
    impl Drop for Restore {
        fn drop(&mut self) {
            PHASE.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(PHASE.with(|p| p.replace(phase)));
    f()
}

/// Runs `f`, a parameter's gradient inside a layer's backward, as a weight gradient.
pub fn weight_gradient<T>(f: impl FnOnce() -> T) -> T {
    in_phase(Phase::WeightGradient, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_nest_and_phases_restore() {
        assert_eq!(current(), (None, Phase::Forward));
        in_layer("generator", || {
            in_layer("1 ConvTranspose2d", || {
                let (path, phase) = current();
                assert_eq!(path.as_deref(), Some("generator/1 ConvTranspose2d"));
                assert_eq!(phase, Phase::Forward);
                in_phase(Phase::WeightGradient, || {
                    assert_eq!(current().1, Phase::WeightGradient);
                });
                assert_eq!(current().1, Phase::Forward);
            });
            assert_eq!(current().0.as_deref(), Some("generator"));
            with_layer(None, || assert_eq!(current().0, None));
            assert_eq!(current().0.as_deref(), Some("generator"));
        });
        assert_eq!(current(), (None, Phase::Forward));
    }
}
