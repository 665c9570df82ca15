// Counter-based random numbers: Philox 4x32-10 (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011), keyed by a 64-bit seed and a 64-bit block offset.
//
// Thread t computes one Philox block from counter (offset + t, 0, 0) and key (seed) and
// writes elements 4t .. 4t+3, so a call with n elements uses ceil(n / 4) counters and the same
// (seed, offset) always gives the same numbers.
//
// uniform: u = (bits >> 8) * 2^-24 in [0, 1), then low + (high - low) * u.
// normal:  Box-Muller on pairs of blocks' words, u1 = ((bits >> 8) + 1) * 2^-24 in (0, 1],
//          z = sqrt(-2 ln u1) * (cos, sin)(2 pi u2), then mean + std * z.
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  out  storage read_write  n elements
// Grid: ceil(n / 1024) workgroups of 256 (2-D when large).

struct Params {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    offset_lo: u32,
    offset_hi: u32,
    a: f32,          // low (uniform) or mean (normal)
    b: f32,          // high (uniform) or std (normal)
}

override NORMAL: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const M0: u32 = 0xD2511F53u;
const M1: u32 = 0xCD9E8D57u;
const W0: u32 = 0x9E3779B9u;
const W1: u32 = 0xBB67AE85u;
const TWO_PI: f32 = 6.283185307179586;
const INV_2_24: f32 = 5.9604644775390625e-8;

// (high word, low word) of the 64-bit product, from 16-bit halves.
fn mulhilo(a: u32, b: u32) -> vec2u {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let lh = al * bh;
    let hl = ah * bl;
    let carry = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = ah * bh + (lh >> 16u) + (hl >> 16u) + (carry >> 16u);
    return vec2u(hi, a * b);
}

fn philox(counter: vec4u, seed: vec2u) -> vec4u {
    var c = counter;
    var k = seed;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mulhilo(M0, c.x);
        let p1 = mulhilo(M1, c.z);
        c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2u(W0, W1);
    }
    return c;
}

fn store(i: u32, v: f32) {
    if i < p.n {
        out[i] = v;
    }
}

@compute @workgroup_size(256)
fn generate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
    let t = (wid.x + wid.y * nwg.x) * 256u + lid;
    if 4u * t >= p.n { return; }
    let lo = p.offset_lo + t;
    let hi = p.offset_hi + select(0u, 1u, lo < t);
    let bits = philox(vec4u(lo, hi, 0u, 0u), vec2u(p.seed_lo, p.seed_hi));
    var v: vec4f;
    if NORMAL {
        let r0 = sqrt(-2.0 * log(f32((bits.x >> 8u) + 1u) * INV_2_24));
        let a0 = TWO_PI * f32(bits.y >> 8u) * INV_2_24;
        let r1 = sqrt(-2.0 * log(f32((bits.z >> 8u) + 1u) * INV_2_24));
        let a1 = TWO_PI * f32(bits.w >> 8u) * INV_2_24;
        v = p.a + p.b * vec4f(r0 * cos(a0), r0 * sin(a0), r1 * cos(a1), r1 * sin(a1));
    } else {
        v = p.a + (p.b - p.a) * vec4f(bits >> vec4u(8u)) * INV_2_24;
    }
    store(4u * t, v.x);
    store(4u * t + 1u, v.y);
    store(4u * t + 2u, v.z);
    store(4u * t + 3u, v.w);
}
