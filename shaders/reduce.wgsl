// Reductions (sum, max, min; with MAGNITUDES the sum of |x|) of the middle axis of a
// [outer, R, inner] view.
//
// Each pass reduces chunks of the R axis and writes partials [outer, chunks, inner]; the host
// repeats passes until one chunk is left, so every result is a tree of short partial sums
// (at most CHUNK terms per thread per level) rather than one long serial loop.
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  x    storage read        outer * r * inner elements
//   2  out  storage read_write  outer * chunks * inner elements
//
// reduce_rows (inner == 1): one workgroup of GROUP per (o, chunk) (256 on GPUs, 64 on software
//   rasterisers, whose barriers each cost a pass over the workgroup's SIMD chunks); threads
//   stride over the chunk, then a tree in workgroup memory. Grid: outer * chunks workgroups (2-D if large).
// reduce_cols (inner > 1): one thread per (o, chunk, i) loops over the chunk; neighbouring
//   threads read neighbouring i. Grid: ceil(inner / 256) * outer * chunks workgroups.
// reduce_short_rows (inner == 1, r <= 64): one thread per row folds it alone; a workgroup
//   per row would leave most of its threads idle. Grid: ceil(outer / 256) workgroups.

struct Params {
    outer: u32,
    r: u32,
    inner: u32,
    chunk: u32,      // elements of R per (o, chunk)
    chunks: u32,
    scale: f32,      // applied to the result (1 / count for a mean on the last pass)
}

const SUM: u32 = 0u;
const MAX: u32 = 1u;
const MIN: u32 = 2u;

override OP: u32 = 0u;
override GROUP: u32 = 256u;   // threads of a reduce_rows workgroup, a power of two <= 256
override MAGNITUDES: bool = false; // fold |x| (a mean absolute value)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn identity() -> f32 {
    switch OP {
        case MAX: { return bitcast<f32>(0xff800000u); }  // -inf
        case MIN: { return bitcast<f32>(0x7f800000u); }  // +inf
        default: { return 0.0; }
    }
}

// The value folded for x.
fn term(v: f32) -> f32 {
    return select(v, abs(v), MAGNITUDES);
}

fn combine(acc: f32, v: f32) -> f32 {
    switch OP {
        case MAX: { return max(acc, v); }
        case MIN: { return min(acc, v); }
        default: { return acc + v; }
    }
}

fn finish(v: f32) -> f32 {
    if OP == SUM { return v * p.scale; }
    return v;
}

@compute @workgroup_size(GROUP)
fn reduce_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let w = wid.x + wid.y * nwg.x;
    let o = w / p.chunks;
    let c = w % p.chunks;
    if o >= p.outer { return; }
    let start = c * p.chunk;
    let end = min(start + p.chunk, p.r);
    var acc = identity();
    for (var r = start + lid; r < end; r += GROUP) {
        acc = combine(acc, term(x[o * p.r + r]));
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var half = GROUP / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            partial[lid] = combine(partial[lid], partial[lid + half]);
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[o * p.chunks + c] = finish(partial[0]);
    }
}

@compute @workgroup_size(256)
fn reduce_cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let w = wid.x + wid.y * nwg.x;
    let blocks = (p.inner + 255u) / 256u;
    let block = w % blocks;
    let oc = w / blocks;
    let o = oc / p.chunks;
    let c = oc % p.chunks;
    let i = block * 256u + lid;
    if o >= p.outer || i >= p.inner { return; }
    let start = c * p.chunk;
    let end = min(start + p.chunk, p.r);
    var acc = identity();
    for (var r = start; r < end; r++) {
        acc = combine(acc, term(x[(o * p.r + r) * p.inner + i]));
    }
    out[(o * p.chunks + c) * p.inner + i] = finish(acc);
}

@compute @workgroup_size(256)
fn reduce_short_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
    let o = (wid.x + wid.y * nwg.x) * 256u + lid;
    if o >= p.outer { return; }
    var acc = identity();
    for (var r = 0u; r < p.r; r++) {
        acc = combine(acc, term(x[o * p.r + r]));
    }
    out[o] = finish(acc);
}

// argmin_short_rows: as argmin_rows with one thread per row, for rows of at most 256.
@compute @workgroup_size(256)
fn argmin_short_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
    let o = (wid.x + wid.y * nwg.x) * 256u + lid;
    if o >= p.outer { return; }
    var value = x[o * p.r];
    var at = 0u;
    for (var c = 1u; c < p.r; c++) {
        let v = x[o * p.r + c];
        if v < value {
            value = v;
            at = c;
        }
    }
    out[o] = f32(at);
}

// argmin_rows: out[o] = the column of the smallest x[o, :] (first on ties), as f32; one
// workgroup of GROUP per row (as reduce_rows) (outer rows of r columns), then a tree over (value, column).
var<workgroup> best_index: array<u32, 256>;

@compute @workgroup_size(GROUP)
fn argmin_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let o = wid.x + wid.y * nwg.x;
    if o >= p.outer { return; }
    var value = bitcast<f32>(0x7f800000u);
    var at = 0xffffffffu;
    for (var c = lid; c < p.r; c += GROUP) {
        let v = x[o * p.r + c];
        if v < value || at == 0xffffffffu {
            value = v;
            at = c;
        }
    }
    partial[lid] = value;
    best_index[lid] = at;
    workgroupBarrier();
    for (var half = GROUP / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            let v = partial[lid + half];
            let i = best_index[lid + half];
            let take = i != 0xffffffffu && (best_index[lid] == 0xffffffffu || v < partial[lid]
                       || (v == partial[lid] && i < best_index[lid]));
            if take {
                partial[lid] = v;
                best_index[lid] = i;
            }
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[o] = f32(best_index[0]);
    }
}
