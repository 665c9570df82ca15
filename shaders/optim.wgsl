// Optimiser updates, one fused pass per parameter tensor, in place. The formulas are
// PyTorch's (torch.optim.Adam, AdamW, SGD, SparseAdam), operation for operation.
//
// Bindings (group 0):
//   0  p      uniform Params
//   1  param  storage read_write   n (adam, sgd) / table rows * dim (adam_rows)
//   2  grad   storage read         n / batch * dim
//   3  m      storage read_write   first moment (Adam) or momentum buffer (SGD), as param
//   4  v      storage read_write   second moment (Adam), as param
//   5  rows   storage read         per batch row: its table index and its update count t, f32
//
// adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//   param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   with weight decay added to g (Adam) or param *= 1 - lr wd first (AdamW, DECOUPLED).
// adam_rows: the same for the table rows named in `rows` only (distinct rows per batch), with
//   each row's bias correction from its own update count: a latent seen once an epoch is an
//   Adam of its own, not one thousands of steps into a shared schedule.
// sgd: g += wd param; buf = g on the first step, else momentum buf + (1 - dampening) g;
//   param -= lr (nesterov ? g + momentum buf : buf) (plain g when momentum is 0).
// Grid: ceil(elements / 256) workgroups of 256 (2-D when large).

struct Params {
    n: u32,
    dim: u32,             // adam_rows: values per row
    lr: f32,
    beta1: f32,           // sgd: momentum
    beta2: f32,           // sgd: dampening
    eps: f32,
    weight_decay: f32,
    bias1: f32,           // 1 - beta1^t
    bias2_sqrt: f32,      // sqrt(1 - beta2^t)
    first: u32,           // sgd: first step
}

override DECOUPLED: bool = false;
override NESTEROV: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> rows: array<f32>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

fn adam_update(at: u32, g_in: f32, bias1: f32, bias2_sqrt: f32) {
    var g = g_in;
    var w = param[at];
    if DECOUPLED {
        w *= 1.0 - p.lr * p.weight_decay;
    } else {
        g += p.weight_decay * w;
    }
    let m1 = p.beta1 * m[at] + (1.0 - p.beta1) * g;
    let v1 = p.beta2 * v[at] + (1.0 - p.beta2) * g * g;
    m[at] = m1;
    v[at] = v1;
    let denom = sqrt(v1) / bias2_sqrt + p.eps;
    param[at] = w - (p.lr / bias1) * m1 / denom;
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.n {
        adam_update(i, grad[i], p.bias1, p.bias2_sqrt);
    }
}

@compute @workgroup_size(256)
fn adam_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.n {
        let b = i / p.dim;
        let row = u32(rows[2u * b]);
        let t = rows[2u * b + 1u];
        adam_update(row * p.dim + i % p.dim, grad[i], 1.0 - pow(p.beta1, t), sqrt(1.0 - pow(p.beta2, t)));
    }
}

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.n { return; }
    var g = grad[i] + p.weight_decay * param[i];
    if p.beta1 != 0.0 {
        let buf = select(p.beta1 * m[i] + (1.0 - p.beta2) * g, g, p.first == 1u);
        m[i] = buf;
        g = select(buf, g + p.beta1 * buf, NESTEROV);
    }
    param[i] -= p.lr * g;
}
