// Moves elements between layouts: permutation and broadcasting of up to four axes.
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  x    storage read        input, contiguous
//   2  out  storage read_write  output, contiguous in the permuted order
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

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    if i >= p.n { return; }
    let c3 = i % p.d3;
    let r3 = i / p.d3;
    let c2 = r3 % p.d2;
    let r2 = r3 / p.d2;
    let c1 = r2 % p.d1;
    let c0 = r2 / p.d1;
    let src = c0 * p.src_stride.x + c1 * p.src_stride.y + c2 * p.src_stride.z + c3 * p.src_stride.w;
    out[i] = x[src];
}

