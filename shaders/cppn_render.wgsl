// The whole CPPN generator for inference in one kernel: an invocation takes one pixel of a
// tile of rows, computes its coordinates, runs every layer in private memory and writes the
// pixel as 8-bit channels packed in a u32 (R, G, B, A from the low byte; grey in R, G and B).
// No activation ever goes to memory, so the cost is the multiply-adds alone.
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  w    storage read        the network, packed by src/ops/cppn.rs:
//                               from_z [units]     z's map applied to this image's latent, with
//                                                  its bias (the host computes it once)
//                               coord  [units, 3]  x, y, r weights
//                               per hidden layer: weight [units, units], bias [units]
//                               out weight [channels, units], out bias [channels]
//   2  out  storage read_write  rows * width packed pixels
//
// Grid: ceil(rows * width / 64) workgroups of 64, 2-D when over the per-dimension limit;
// pixel i = (wid.x + wid.y * nwg.x) * 64 + lid.

struct Params {
    width: u32,
    height: u32,
    row0: u32,          // first image row of this tile
    rows: u32,
    step: f32,          // coordinate distance between neighbouring pixels
}

// The network's sizes are pipeline constants, so the compiler sees every loop's trip count
// and can keep the activations in registers (on llvmpipe a private array indexed at run
// time lives in memory and every access is a gather).
override UNITS: u32 = 32u;      // at most MAX_UNITS
override HIDDEN: u32 = 3u;      // tanh layers after the first
override CHANNELS: u32 = 1u;    // 1 to 4
const MAX_UNITS: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// tanh through exp of a clamped argument: some drivers' tanh returns NaN for large |x|.
fn safe_tanh(x: f32) -> f32 {
    let e = exp(2.0 * clamp(x, -15.0, 15.0));
    return (e - 1.0) / (e + 1.0);
}

fn to_byte(logit: f32) -> u32 {
    let v = 1.0 / (1.0 + exp(-clamp(logit, -30.0, 30.0)));
    return u32(round(clamp(v, 0.0, 1.0) * 255.0));
}

@compute @workgroup_size(64)
fn cppn_render(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if i >= p.rows * p.width {
        return;
    }
    let row = p.row0 + i / p.width;
    let col = i % p.width;
    let x = (f32(col) - (f32(p.width) - 1.0) * 0.5) * p.step;
    let y = (f32(row) - (f32(p.height) - 1.0) * 0.5) * p.step;
    let r = sqrt(x * x + y * y);
    let n = UNITS;
    var h: array<f32, MAX_UNITS>;
    var next: array<f32, MAX_UNITS>;
    for (var u = 0u; u < n; u++) {
        let c = n + 3u * u;
        h[u] = softplus(w[u] + w[c] * x + w[c + 1u] * y + w[c + 2u] * r);
    }
    var at = 4u * n;
    for (var layer = 0u; layer < HIDDEN; layer++) {
        let bias = at + n * n;
        for (var u = 0u; u < n; u++) {
            var s = w[bias + u];
            let row_at = at + u * n;
            for (var v = 0u; v < n; v++) {
                s = fma(w[row_at + v], h[v], s);
            }
            next[u] = safe_tanh(s);
        }
        for (var u = 0u; u < n; u++) {
            h[u] = next[u];
        }
        at = bias + n;
    }
    var bytes = array<u32, 4>(0u, 0u, 0u, 255u);
    for (var c = 0u; c < CHANNELS; c++) {
        var s = w[at + CHANNELS * n + c];
        for (var v = 0u; v < n; v++) {
            s = fma(w[at + c * n + v], h[v], s);
        }
        bytes[c] = to_byte(s);
    }
    if CHANNELS == 1u {
        bytes[1] = bytes[0];
        bytes[2] = bytes[0];
    }
    out[i] = bytes[0] | (bytes[1] << 8u) | (bytes[2] << 16u) | (bytes[3] << 24u);
}
