// Elementwise kernels: unary maps and their derivatives, binary maps with broadcasting, fill.
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  a    storage read        first operand, n elements (or broadcast, see below)
//   2  b    storage read        second operand (binary; the forward output for gradients)
//   3  c    storage read        the incoming gradient (gradients only)
//   4  out  storage read_write  n elements
//   5-8      a, b, c and out seen as vec4s (the _wide entry points, which bind only these)
//
// Grid: ceil(n / 256) workgroups of 256, laid out 2-D when over the per-dimension limit;
// element i = (wid.x + wid.y * nwg.x) * 256 + lid.
//
// Broadcasting: an operand marked by A_BCAST / B_BCAST is read at (i / inner) % count, which
// covers a scalar (inner = 1, count = 1), a per-channel NCHW vector (inner = H*W, count = C)
// and a row vector (inner = 1, count = C). Unmarked operands are read at i, so the common
// same-shape case does no integer division.

struct Params {
    n: u32,
    a_inner: u32,
    a_count: u32,
    b_inner: u32,
    b_count: u32,
    alpha: f32,
    beta: f32,
}

// Unary ops; the host mirrors these numbers in src/ops/elementwise.rs.
const NEG: u32 = 0u;
const EXP: u32 = 1u;
const LOG: u32 = 2u;
const SQRT: u32 = 3u;
const TANH: u32 = 4u;
const SIGMOID: u32 = 5u;
const RELU: u32 = 6u;
const LEAKY_RELU: u32 = 7u;
const SOFTPLUS: u32 = 8u;
const ABS: u32 = 9u;
const AFFINE: u32 = 10u;   // alpha * x + beta
const SQUARE: u32 = 11u;
const RECIPROCAL: u32 = 12u;
const STEP: u32 = 13u;     // 1 where x >= alpha, else 0

// Binary ops.
const ADD: u32 = 0u;
const SUB: u32 = 1u;
const MUL: u32 = 2u;
const DIV: u32 = 3u;
const MAXIMUM: u32 = 4u;
const MINIMUM: u32 = 5u;
const GREATER_EQUAL: u32 = 6u;   // 1 or 0
const EQUAL: u32 = 7u;           // 1 or 0

override OP: u32 = 0u;
override A_BCAST: bool = false;
override B_BCAST: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn element(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Numerically safe forms: tanh and sigmoid never form exp of a large positive number, and
// softplus is max(x, 0) + log(1 + exp(-|x|)).
fn unary(x: f32) -> f32 {
    switch OP {
        case NEG: { return -x; }
        case EXP: { return exp(x); }
        case LOG: { return log(x); }
        case SQRT: { return sqrt(x); }
        case TANH: {
            // tanh(15) rounds to 1 in f32; clamping keeps exp inside tanh from overflowing.
            return tanh(clamp(x, -15.0, 15.0));
        }
        case SIGMOID: {
            let e = exp(-abs(x));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
        }
        case RELU: { return max(x, 0.0); }
        case LEAKY_RELU: { return select(p.alpha * x, x, x > 0.0); }
        case SOFTPLUS: { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }
        case ABS: { return abs(x); }
        case AFFINE: { return p.alpha * x + p.beta; }
        case SQUARE: { return x * x; }
        case RECIPROCAL: { return 1.0 / x; }
        case STEP: { return select(0.0, 1.0, x >= p.alpha); }
        default: { return x; }
    }
}

// d unary / dx at x, given y = unary(x).
fn derivative(x: f32, y: f32) -> f32 {
    switch OP {
        case NEG: { return -1.0; }
        case EXP: { return y; }
        case LOG: { return 1.0 / x; }
        case SQRT: { return 0.5 / y; }
        case TANH: { return 1.0 - y * y; }
        case SIGMOID: { return y * (1.0 - y); }
        case RELU: { return select(0.0, 1.0, x > 0.0); }
        case LEAKY_RELU: { return select(p.alpha, 1.0, x > 0.0); }
        case SOFTPLUS: {
            let e = exp(-abs(x));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
        }
        case ABS: { return sign(x); }
        case AFFINE: { return p.alpha; }
        case SQUARE: { return 2.0 * x; }
        case RECIPROCAL: { return -y * y; }
        default: { return 0.0; }
    }
}

fn binary(x: f32, y: f32) -> f32 {
    switch OP {
        case ADD: { return x + y; }
        case SUB: { return x - y; }
        case MUL: { return x * y; }
        case DIV: { return x / y; }
        case MAXIMUM: { return max(x, y); }
        case MINIMUM: { return min(x, y); }
        case GREATER_EQUAL: { return select(0.0, 1.0, x >= y); }
        case EQUAL: { return select(0.0, 1.0, x == y); }
        default: { return x; }
    }
}

@compute @workgroup_size(256)
fn map_unary(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n {
        out[i] = unary(a[i]);
    }
}

@compute @workgroup_size(256)
fn map_binary(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n {
        var ia = i;
        var ib = i;
        if A_BCAST { ia = (i / p.a_inner) % p.a_count; }
        if B_BCAST { ib = (i / p.b_inner) % p.b_count; }
        out[i] = binary(a[ia], b[ib]);
    }
}

// out = c * unary'(a) with b = unary(a): the gradient of map_unary.
@compute @workgroup_size(256)
fn map_unary_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n {
        out[i] = c[i] * derivative(a[i], b[i]);
    }
}

// out = binary(a, alpha): the second operand is a constant.
@compute @workgroup_size(256)
fn map_scalar(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n {
        out[i] = binary(a[i], p.alpha);
    }
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n {
        out[i] = p.alpha;
    }
}

// The same maps four values per invocation over n / 4 vec4s, where n % 4 == 0 and no operand
// is broadcast: a software rasteriser pays about as much for a vec4 access as for a scalar.
@group(0) @binding(5) var<storage, read> a4: array<vec4f>;
@group(0) @binding(6) var<storage, read> b4: array<vec4f>;
@group(0) @binding(7) var<storage, read> c4: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> out4: array<vec4f>;

@compute @workgroup_size(256)
fn map_unary_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n / 4u {
        let x = a4[i];
        out4[i] = vec4f(unary(x.x), unary(x.y), unary(x.z), unary(x.w));
    }
}

@compute @workgroup_size(256)
fn map_binary_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n / 4u {
        let x = a4[i];
        let y = b4[i];
        out4[i] = vec4f(binary(x.x, y.x), binary(x.y, y.y), binary(x.z, y.z), binary(x.w, y.w));
    }
}

@compute @workgroup_size(256)
fn map_unary_grad_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n / 4u {
        let x = a4[i];
        let y = b4[i];
        out4[i] = c4[i] * vec4f(derivative(x.x, y.x), derivative(x.y, y.y),
                                derivative(x.z, y.z), derivative(x.w, y.w));
    }
}

@compute @workgroup_size(256)
fn map_scalar_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n / 4u {
        let x = a4[i];
        out4[i] = vec4f(binary(x.x, p.alpha), binary(x.y, p.alpha), binary(x.z, p.alpha),
                        binary(x.w, p.alpha));
    }
}

@compute @workgroup_size(256)
fn fill_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n / 4u {
        out4[i] = vec4f(p.alpha);
    }
}

// out = c[0] alpha sign(a): with alpha = 1 / n the backward of mean(|a|) over its n values,
// one pass where spreading the mean's gradient, scaling it and abs' derivative took three.
@compute @workgroup_size(256)
fn scaled_signs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n {
        out[i] = c[0] * p.alpha * sign(a[i]);
    }
}

@compute @workgroup_size(256)
fn scaled_signs_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.n / 4u {
        out4[i] = c[0] * p.alpha * sign(a4[i]);
    }
}
