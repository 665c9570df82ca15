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
//   6-9       param, grad, m and v seen as vec4s (adam_wide, which binds only these)
//
// adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//   param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   with weight decay added to g (Adam) or param *= 1 - lr wd first (AdamW, DECOUPLED).
// adam_rows: the same for the table rows named in `rows` only (distinct rows per batch), with
//   each row's bias correction from its own update count: a latent seen once an epoch is an
//   Adam of its own, not one thousands of steps into a shared schedule.
// sgd: g += wd param; buf = g on the first step, else momentum buf + (1 - dampening) g;
//   param -= lr (nesterov ? g + momentum buf : buf) (plain g when momentum is 0).
// Grid: ceil(elements / 256) workgroups of 256 (2-D when large); adam_wide ceil(n / 1024).

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

// New (param, m, v) from the old and the gradient, four values at a time (the scalar
// kernels use .x).
fn adam_values(param_in: vec4f, g_in: vec4f, m_in: vec4f, v_in: vec4f, bias1: f32,
               bias2_sqrt: f32) -> array<vec4f, 3> {
    var g = g_in;
    var w = param_in;
    if DECOUPLED {
        w *= 1.0 - p.lr * p.weight_decay;
    } else {
        g += p.weight_decay * w;
    }
    let m1 = p.beta1 * m_in + (1.0 - p.beta1) * g;
    let v1 = p.beta2 * v_in + (1.0 - p.beta2) * g * g;
    let denom = sqrt(v1) / bias2_sqrt + p.eps;
    return array(w - (p.lr / bias1) * m1 / denom, m1, v1);
}

fn adam_update(at: u32, g: f32, bias1: f32, bias2_sqrt: f32) {
    let next = adam_values(vec4f(param[at]), vec4f(g), vec4f(m[at]), vec4f(v[at]), bias1,
                          bias2_sqrt);
    param[at] = next[0].x;
    m[at] = next[1].x;
    v[at] = next[2].x;
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.n {
        adam_update(i, grad[i], p.bias1, p.bias2_sqrt);
    }
}

// adam over n / 4 vec4s (n % 4 == 0): on a software rasteriser a vec4 load or store costs
// about what a scalar one does.
@group(0) @binding(6) var<storage, read_write> param4: array<vec4f>;
@group(0) @binding(7) var<storage, read> grad4: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> m4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> v4: array<vec4f>;

@compute @workgroup_size(256)
fn adam_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.n / 4u {
        let next = adam_values(param4[i], grad4[i], m4[i], v4[i], p.bias1, p.bias2_sqrt);
        param4[i] = next[0];
        m4[i] = next[1];
        v4[i] = next[2];
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
