//! The tape: ops on tracked tensors record how to send a gradient back to their inputs;
//! `backward` walks the records in reverse and sums the gradients reaching each tensor.
//!
//! A tensor is tracked when it carries an id: parameters get one from `Tensor::track`, and
//! an op's output gets one when any input is tracked and gradients are enabled on this
//! thread. The tape is per thread; `backward` consumes it, and `clear` drops it (freeing
//! the activations its records hold) when a forward pass is not followed by `backward`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::tensor::Tensor;

/// Identifies a tracked tensor (and its clones) on the tape.
pub type TensorId = u64;

/// Given the gradient of an op's output and which inputs need one, the gradients of its
/// inputs (None where not needed).
pub type Backward = Box<dyn FnOnce(&Tensor, &[bool]) -> Vec<Option<Tensor>>>;

struct Record {
    inputs: Vec<Option<TensorId>>,
    output: TensorId,
    backward: Backward,
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
}

impl Grads {
    /// The gradient of `t` (which must be tracked), or None if the loss does not depend on it.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id()?)
    }

    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.map.remove(&t.id()?)
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
        no_grad(|| {
            for record in records.into_iter().rev() {
                // Each id is the output of one record, met here after every use of it.
                let Some(g) = grads.map.remove(&record.output) else {
                    continue;
                };
                let needs: Vec<bool> = record.inputs.iter().map(Option::is_some).collect();
                let input_grads = (record.backward)(&g, &needs);
                for (id, grad) in record.inputs.iter().zip(input_grads) {
                    if let (Some(id), Some(grad)) = (id, grad) {
                        grads.accumulate(*id, grad);
                    }
                }
            }
        });
        grads
    }
}
