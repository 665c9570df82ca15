//! The tape: ops on tracked tensors record how to send a gradient back to their inputs;
//! `backward` walks the records in reverse and sums the gradients reaching each tensor.
//!
//! A tensor is tracked when it carries an id: parameters get one from `Tensor::track`, and
//! an op's output gets one when any input is tracked and gradients are enabled on this
//! thread. The tape is per thread; `backward` consumes it, and `clear` drops it (freeing
//! the activations its records hold) when a forward pass is not followed by `backward`.
//!
//! `backward_each` takes several objectives of one forward pass, each with the leaves it is
//! wanted for, and runs only the records that lie between an objective and its leaves: a
//! GAN's discriminator loss then costs no generator backward, and the generator's objective
//! no weight gradients of the discriminator.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::gpu::scope::{self, LayerPath, Phase};
use crate::tensor::Tensor;

/// Identifies a tracked tensor (and its clones) on the tape.
pub type TensorId = u64;

/// Given the gradient of an op's output and which inputs need one, the gradients of its
/// inputs (None where not needed). `backward_each` may call it once per objective.
pub type Backward = Box<dyn Fn(&Tensor, &[bool]) -> Vec<Option<Tensor>>>;

struct Record {
    inputs: Vec<Option<TensorId>>,
    output: TensorId,
    backward: Backward,
    /// The layer the op ran in, which its backward is charged to in the profiler.
    layer: LayerPath,
}

thread_local! {
    static TAPE: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn new_id() -> TensorId {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Whether ops on this thread record themselves.
pub fn is_enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Runs `f` without recording (evaluation, sampling, optimiser updates).
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let was = ENABLED.with(|e| e.replace(false));
    let out = f();
    ENABLED.with(|e| e.set(was));
    out
}

/// Drops every record of this thread's tape and the tensors they hold.
pub fn clear() {
    TAPE.with(|t| t.borrow_mut().clear());
}

/// Number of records on this thread's tape.
pub fn len() -> usize {
    TAPE.with(|t| t.borrow().len())
}

/// Records an op: if gradients are enabled and an input is tracked, `output` gets an id and
/// `backward` is kept until the backward pass.
pub(crate) fn record(inputs: &[&Tensor], output: Tensor, backward: Backward) -> Tensor {
    if !is_enabled() || inputs.iter().all(|t| t.id().is_none()) {
        return output;
    }
    let id = new_id();
    let record = Record {
        inputs: inputs.iter().map(|t| t.id()).collect(),
        output: id,
        backward,
        layer: scope::current().0,
    };
    TAPE.with(|t| t.borrow_mut().push(record));
    output.with_id(Some(id))
}

/// Records a layer op of (input, weight) with an optional bias, the bias last among the
/// inputs its backward sees.
pub(crate) fn record_layer(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    output: Tensor,
    backward: Backward,
) -> Tensor {
    match bias {
        Some(b) => record(&[input, weight, b], output, backward),
        None => record(&[input, weight], output, backward),
    }
}

/// Gradients of one backward pass, by tensor.
#[derive(Default)]
pub struct Grads {
    map: HashMap<TensorId, Tensor>,
    /// The layer each leaf's gradient came from, so the profiler can charge its update there.
    layers: HashMap<TensorId, Arc<str>>,
}

impl Grads {
    /// The gradient of `t` (which must be tracked), or None if the loss does not depend on it.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id()?)
    }

    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.map.remove(&t.id()?)
    }

    /// The layer whose op produced the gradient of the leaf `t` (the last, when several).
    pub fn layer(&self, t: &Tensor) -> LayerPath {
        self.layers.get(&t.id()?).cloned()
    }

    pub fn insert(&mut self, t: &Tensor, grad: Tensor) {
        let id = t.id().expect("gradient of an untracked tensor");
        self.map.insert(id, grad);
    }

    fn accumulate(&mut self, id: TensorId, grad: Tensor) {
        let sum = match self.map.remove(&id) {
            Some(existing) => existing.add(&grad),
            None => grad,
        };
        self.map.insert(id, sum);
    }
}

impl Tensor {
    /// A tracked handle to this tensor's storage: a leaf whose gradient `backward` returns.
    pub fn track(&self) -> Tensor {
        self.clone().with_id(Some(new_id()))
    }

    /// An untracked handle to the same storage: gradients stop here.
    pub fn detach(&self) -> Tensor {
        self.clone().with_id(None)
    }

    /// Backpropagates from this scalar (d self / d self = 1) through this thread's tape and
    /// clears it.
    pub fn backward(&self) -> Grads {
        assert_eq!(
            self.numel(),
            1,
            "backward() starts from a scalar, got {}",
            self.shape()
        );
        self.backward_with(self.ones_like())
    }

    /// Backpropagates `grad` (same shape as self) through this thread's tape and clears it.
    pub fn backward_with(&self, grad: Tensor) -> Grads {
        let records = TAPE.with(|t| std::mem::take(&mut *t.borrow_mut()));
        let mut grads = Grads::default();
        let Some(root) = self.id() else {
            return grads;
        };
        grads.map.insert(root, grad);
        let [grads] = propagate(records, [grads], |_, _| true);
        grads
    }
}

/// The gradients of each objective with respect to its own leaves, from one forward pass on
/// this thread's tape (which it clears): `objectives[i] = (scalar, leaves)`. Records that
/// do not lead from an objective to one of its leaves are not run for it, so the result
/// holds the gradients of the given leaves only.
pub fn backward_each<const N: usize>(objectives: [(&Tensor, &[Tensor]); N]) -> [Grads; N] {
    let records = TAPE.with(|t| std::mem::take(&mut *t.borrow_mut()));
    // reaches[i]: the leaves of objective i and every tensor computed from one of them.
    let mut reaches: [HashSet<TensorId>; N] =
        objectives.map(|(_, leaves)| leaves.iter().filter_map(|t| t.id()).collect());
    for record in &records {
        for set in &mut reaches {
            if record.inputs.iter().flatten().any(|id| set.contains(id)) {
                set.insert(record.output);
            }
        }
    }
    let mut grads: [Grads; N] = std::array::from_fn(|_| Grads::default());
    for (i, (root, _)) in objectives.iter().enumerate() {
        assert_eq!(
            root.numel(),
            1,
            "backward_each() starts from scalars, got {}",
            root.shape()
        );
        if let Some(id) = root.id().filter(|id| reaches[i].contains(id)) {
            grads[i].map.insert(id, root.ones_like());
        }
    }
    propagate(records, grads, |i, id| reaches[i].contains(&id))
}

/// Walks `records` in reverse, sending each objective's gradient to the inputs `needed`
/// says it needs (by objective index and tensor id), and drops each record (and the
/// activations it holds) once it has run.
///
/// Each backward runs in its record's layer. A backward whose needed inputs are all leaves
/// (parameters) is a weight gradient; any other is an input gradient, within which the
/// layer ops mark their parameter gradients themselves.
fn propagate<const N: usize>(
    records: Vec<Record>,
    mut grads: [Grads; N],
    needed: impl Fn(usize, TensorId) -> bool,
) -> [Grads; N] {
    let computed: HashSet<TensorId> = records.iter().map(|r| r.output).collect();
    no_grad(|| {
        for record in records.into_iter().rev() {
            for (i, objective) in grads.iter_mut().enumerate() {
                // Each id is the output of one record, met here after every use of it.
                let Some(g) = objective.map.remove(&record.output) else {
                    continue;
                };
                let needs: Vec<bool> = record
                    .inputs
                    .iter()
                    .map(|id| id.is_some_and(|id| needed(i, id)))
                    .collect();
                let only_leaves = record
                    .inputs
                    .iter()
                    .zip(&needs)
                    .all(|(id, need)| !need || id.is_some_and(|id| !computed.contains(&id)));
                let phase = if only_leaves {
                    Phase::WeightGradient
                } else {
                    Phase::InputGradient
                };
                // Summing gradients that reach a tensor twice is part of this backward too.
                scope::with_layer(record.layer.clone(), || {
                    scope::in_phase(phase, || {
                        let input_grads = (record.backward)(&g, &needs);
                        for ((id, grad), need) in record.inputs.iter().zip(input_grads).zip(&needs)
                        {
                            if let (Some(id), Some(grad), true) = (id, grad, need) {
                                if let (false, Some(layer)) = (computed.contains(id), &record.layer)
                                {
                                    objective.layers.insert(*id, layer.clone());
                                }
                                objective.accumulate(*id, grad);
                            }
                        }
                    })
                });
            }
        }
    });
    grads
}
