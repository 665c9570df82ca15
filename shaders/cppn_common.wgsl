// The whole CPPN generator for inference in one kernel: an invocation takes one pixel of a
// tile of rows, computes its coordinates, runs every layer in private memory and writes the
// pixel as 8-bit channels packed in a u32 (R, G, B, A from the low byte; grey in R, G and B).
// No activation ever goes to memory, so the cost is the multiply-adds alone. Two entry
// points share this file: cppn_render (cppn_render.wgsl) reads every weight in every
// invocation, which GPUs serve from cache; cppn_render_lanes (cppn_render_lanes.wgsl), for
// software rasterisers where each storage load is a loop over the SIMD lanes, has each lane
// of a subgroup load a different weight and hands it to the others by subgroupShuffle.
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
// Grid: ceil(rows * width / G) workgroups of G (64, or LANES), 2-D when over the
// per-dimension limit; pixel i = (wid.x + wid.y * nwg.x) * G + lid.

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


// The pixel's coordinates (x, y, r) for pixel index i of the tile.
fn coordinates_of(i: u32) -> vec3f {
    let row = p.row0 + i / p.width;
    let col = i % p.width;
    let x = (f32(col) - (f32(p.width) - 1.0) * 0.5) * p.step;
    let y = (f32(row) - (f32(p.height) - 1.0) * 0.5) * p.step;
    return vec3f(x, y, sqrt(x * x + y * y));
}

fn pack_pixel(channel_bytes: array<u32, 4>) -> u32 {
    var bytes = channel_bytes;
    if CHANNELS == 1u {
        bytes[1] = bytes[0];
        bytes[2] = bytes[0];
    }
    return bytes[0] | (bytes[1] << 8u) | (bytes[2] << 16u) | (bytes[3] << 24u);
}
