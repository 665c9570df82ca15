// Moves elements between layouts: permutation and broadcasting of up to four axes.
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  x    storage read        input, contiguous
//   2  out  storage read_write  output, contiguous in the permuted order
//
//   3  x4   storage read        x seen as vec4s (gather_wide)
//   4  out4 storage read_write  out seen as vec4s (gather_wide)
//
// Grid: ceil(n / 256) workgroups of 256 (2-D when large). Output element i has coordinates
// (c0, c1, c2, c3) in the output dims; its input offset is sum(c_k * in_stride[perm[k]]),
// which the host passes already permuted as `src_stride` (0 along a broadcast axis).

struct Params {
    n: u32,
    d1: u32,
    d2: u32,
    d3: u32,
    src_stride: vec4u,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> x4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out4: array<vec4f>;

fn source_offset(i: u32) -> u32 {
    let c3 = i % p.d3;
    let r3 = i / p.d3;
    let c2 = r3 % p.d2;
    let r2 = r3 / p.d2;
    let c1 = r2 % p.d1;
    let c0 = r2 / p.d1;
    return c0 * p.src_stride.x + c1 * p.src_stride.y + c2 * p.src_stride.z + c3 * p.src_stride.w;
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if i >= p.n { return; }
    out[i] = x[source_offset(i)];
}

// gather_wide: `gather` for an output whose last axis is a multiple of 4 long, four adjacent
// outputs per invocation written with one vec4 store: on a software rasteriser every storage
// access is a loop over the lanes, so this pays the store's loop once for four values. The
// four are read with one load where the source's last axis is broadcast (SOURCE_RUN 0) or
// contiguous from offsets that are multiples of 4 (SOURCE_RUN 2), else (1) one by one.
override SOURCE_RUN: u32 = 1u;

@compute @workgroup_size(256)
fn gather_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let q = (wid.x + wid.y * nwg.x) * 256u + lid;
    if q >= p.n / 4u { return; }
    let src = source_offset(4u * q);
    let step = p.src_stride.w;
    if SOURCE_RUN == 0u {
        out4[q] = vec4f(x[src]);
    } else if SOURCE_RUN == 2u {
        out4[q] = x4[src / 4u];
    } else {
        out4[q] = vec4f(x[src], x[src + step], x[src + 2u * step], x[src + 3u * step]);
    }
}

