//! Optimisers: SGD with momentum, Adam and AdamW with bias correction, and a row-sparse
//! Adam for latent tables. Each update is one fused kernel per parameter tensor
//! (shaders/optim.wgsl); the state tensors are exposed by name for checkpoints.

use std::collections::HashMap;

use crate::autograd::Grads;
use crate::gpu::Kernel;
use crate::gpu::scope::{self, LayerPath, Phase};
use crate::ops::shaders::OPTIM;
use crate::tensor::Tensor;

/// Parameters sharing a learning rate.
pub struct ParamGroup {
    pub params: Vec<(String, Tensor)>,
    pub lr: f32,
}

/// Words of the optimiser kernels' Params (see shaders/optim.wgsl).
#[derive(Clone, Copy, Default)]
struct StepParams {
    n: usize,
    dim: usize,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias1: f32,
    bias2_sqrt: f32,
    first: bool,
}

impl StepParams {
    fn words(&self) -> [u32; 10] {
        [
            self.n as u32,
            self.dim as u32,
            self.lr.to_bits(),
            self.beta1.to_bits(),
            self.beta2.to_bits(),
            self.eps.to_bits(),
            self.weight_decay.to_bits(),
            self.bias1.to_bits(),
            self.bias2_sqrt.to_bits(),
            u32::from(self.first),
        ]
    }
}

/// Runs an update in the optimiser phase of the layer the gradient came from.
fn updating(layer: LayerPath, update: impl FnOnce()) {
    scope::with_layer(layer, || scope::in_phase(Phase::Optimiser, update));
}

fn launch(
    entry: &'static str,
    constants: &[(&'static str, f64)],
    buffers: &[&Tensor],
    p: StepParams,
) {
    let gpu = buffers[0].gpu();
    let storage: Vec<&wgpu::Buffer> = buffers.iter().map(|t| t.buffer()).collect();
    // Per updated value: every per-value state read (a row index is not), all but the
    // gradient written; Adam's update is about a dozen operations, SGD's four.
    let n = p.n;
    let states = buffers.iter().filter(|t| t.numel() >= n).count();
    let per_value = if entry.starts_with("adam") { 12 } else { 4 };
    // Adam four values per invocation where it can: a vec4 access costs a software
    // rasteriser about what a scalar one does.
    let wide = entry == "adam" && n.is_multiple_of(4);
    let kernel = Kernel::new(&OPTIM, if wide { "adam_wide" } else { entry })
        .with(constants)
        .doing(per_value * n, (2 * states).saturating_sub(1) * n);
    if wide {
        let bound: Vec<(u32, &wgpu::Buffer)> = (6..).zip(storage).collect();
        let grid = gpu.linear_grid((n as u64).div_ceil(4 * 256));
        gpu.dispatch_by_binding(&kernel, &bound, &p.words(), grid);
    } else {
        let grid = gpu.linear_grid((n as u64).div_ceil(256));
        gpu.dispatch(&kernel, &storage, &p.words(), grid);
    }
}

/// Adam (Kingma and Ba) as torch.optim.Adam, or AdamW (decoupled weight decay).
pub struct Adam {
    pub groups: Vec<ParamGroup>,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub decoupled: bool,
    pub step: u64,
    moments: HashMap<String, (Tensor, Tensor)>,
}

impl Adam {
    /// Adam over one group of parameters sharing a learning rate.
    pub fn single(params: Vec<(String, Tensor)>, lr: f32, beta1: f32, beta2: f32) -> Adam {
        Adam::new(vec![ParamGroup { params, lr }], beta1, beta2)
    }

    pub fn new(groups: Vec<ParamGroup>, beta1: f32, beta2: f32) -> Adam {
        Adam {
            groups,
            beta1,
            beta2,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            step: 0,
            moments: HashMap::new(),
        }
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &Grads) {
        self.step += 1;
        let t = self.step as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let constants = [("DECOUPLED", f64::from(u8::from(self.decoupled)))];
        for group in &self.groups {
            for (name, param) in &group.params {
                let Some(g) = grads.get(param) else { continue };
                let (m, v) = self
                    .moments
                    .entry(name.clone())
                    .or_insert_with(|| (param.zeros_like(), param.zeros_like()));
                let p = StepParams {
                    n: param.numel(),
                    lr: group.lr,
                    beta1: self.beta1,
                    beta2: self.beta2,
                    eps: self.eps,
                    weight_decay: self.weight_decay,
                    bias1,
                    bias2_sqrt,
                    ..StepParams::default()
                };
                updating(grads.layer(param), || {
                    launch("adam", &constants, &[param, g, m, v], p);
                });
            }
        }
    }

    /// (name, tensor) of the optimiser state, PyTorch's names: <param>.exp_avg, .exp_avg_sq.
    /// Missing moments are created (zero) so a checkpoint always has the same entries.
    pub fn state(&mut self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for group in &self.groups {
            for (name, param) in &group.params {
                let (m, v) = self
                    .moments
                    .entry(name.clone())
                    .or_insert_with(|| (param.zeros_like(), param.zeros_like()));
                out.push((format!("{name}.exp_avg"), m.clone()));
                out.push((format!("{name}.exp_avg_sq"), v.clone()));
            }
        }
        out
    }
}

/// torch.optim.SGD with momentum, dampening, Nesterov and weight decay.
pub struct Sgd {
    pub groups: Vec<ParamGroup>,
    pub momentum: f32,
    pub dampening: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    buffers: HashMap<String, Tensor>,
}

impl Sgd {
    pub fn new(groups: Vec<ParamGroup>, momentum: f32) -> Sgd {
        Sgd {
            groups,
            momentum,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            buffers: HashMap::new(),
        }
    }

    pub fn step(&mut self, grads: &Grads) {
        let constants = [("NESTEROV", f64::from(u8::from(self.nesterov)))];
        for group in &self.groups {
            for (name, param) in &group.params {
                let Some(g) = grads.get(param) else { continue };
                let first = !self.buffers.contains_key(name);
                let buf = self
                    .buffers
                    .entry(name.clone())
                    .or_insert_with(|| param.zeros_like());
                let p = StepParams {
                    n: param.numel(),
                    lr: group.lr,
                    beta1: self.momentum,
                    beta2: self.dampening,
                    weight_decay: self.weight_decay,
                    first,
                    ..StepParams::default()
                };
                updating(grads.layer(param), || {
                    launch("sgd", &constants, &[param, g, buf], p);
                });
            }
        }
    }
}

/// Adam on a table of rows (one latent per training image) where a step touches only the
/// rows in the batch: other rows and their moments stay as they are (as
/// torch.optim.SparseAdam), and each row's bias correction counts that row's own updates, so a
/// latent seen once an epoch is corrected as a fresh Adam rather than by the table's step.
pub struct RowAdam {
    pub table: Tensor,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Steps taken (any rows).
    pub step: u64,
    /// Updates of each row so far.
    pub row_steps: Vec<u32>,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

impl RowAdam {
    pub fn new(table: Tensor, lr: f32, beta1: f32, beta2: f32) -> RowAdam {
        RowAdam {
            exp_avg: table.zeros_like(),
            exp_avg_sq: table.zeros_like(),
            row_steps: vec![0; table.dims()[0]],
            table,
            lr,
            beta1,
            beta2,
            eps: 1e-8,
            step: 0,
        }
    }

    /// The per-row update counts as a tensor (for checkpoints) and back.
    pub fn row_steps_tensor(&self) -> Tensor {
        let v: Vec<f32> = self.row_steps.iter().map(|&c| c as f32).collect();
        Tensor::from_slice(self.table.gpu(), &v, &[v.len()])
    }

    pub fn set_row_steps(&mut self, counts: &Tensor) {
        self.row_steps = counts.to_vec().into_iter().map(|c| c as u32).collect();
    }

    /// Updates rows `rows[b]` of the table with `grad[b]` ([batch, dim]); rows must be
    /// distinct within a batch.
    pub fn step(&mut self, rows: &[usize], grad: &Tensor) {
        let dim = self.table.dims()[1];
        assert_eq!(
            grad.dims(),
            &[rows.len(), dim],
            "row gradients must be [batch, {dim}]"
        );
        let mut seen = std::collections::HashSet::new();
        assert!(
            rows.iter().all(|r| seen.insert(*r)),
            "a batch names a table row twice"
        );
        assert!(
            rows.iter().all(|&r| r < self.table.dims()[0]),
            "row index past the table"
        );
        self.step += 1;
        let mut index = Vec::with_capacity(2 * rows.len());
        for &r in rows {
            self.row_steps[r] += 1;
            index.extend([r as f32, self.row_steps[r] as f32]);
        }
        let index = Tensor::from_slice(self.table.gpu(), &index, &[rows.len(), 2]);
        let p = StepParams {
            n: grad.numel(),
            dim,
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            ..StepParams::default()
        };
        updating(Some("latents".into()), || {
            launch(
                "adam_rows",
                &[("DECOUPLED", 0.0)],
                &[&self.table, grad, &self.exp_avg, &self.exp_avg_sq, &index],
                p,
            );
        });
    }
}

/// Scales the gradients of `params` so their global L2 norm is at most `max_norm`
/// (torch.nn.utils.clip_grad_norm_ with its 1e-6 guard); returns the norm before clipping,
/// computed and applied on the GPU without a readback.
pub fn clip_grad_norm(grads: &mut Grads, params: &[(String, Tensor)], max_norm: f32) -> Tensor {
    let present: Vec<&Tensor> = params
        .iter()
        .map(|(_, p)| p)
        .filter(|p| grads.get(p).is_some())
        .collect();
    let Some(first) = present.first() else {
        return Tensor::zeros(params.first().expect("clip of no parameters").1.gpu(), &[1]);
    };
    let mut total = Tensor::zeros(first.gpu(), &[]);
    for p in &present {
        total = total.add(&grads.get(p).unwrap().square().sum());
    }
    let norm = total.sqrt();
    // min(1, max_norm / (norm + 1e-6))
    let scale = norm
        .add_scalar(1e-6)
        .reciprocal()
        .affine(max_norm, 0.0)
        .min_scalar(1.0);
    for p in present {
        let scaled = grads.get(p).unwrap().mul(&scale);
        grads.insert(p, scaled);
    }
    norm
}
