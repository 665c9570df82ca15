// Block copy for concat and narrow: for o < outer and i < inner,
//   dst[o * dst_stride + dst_offset + i] = src[o * src_stride + src_offset + i].
//
// Bindings (group 0):
//   0  block  uniform BlockParams
//   1  src    storage read
//   2  dst    storage read_write   (elements outside the block are left as they are)
//
// Grid: ceil(outer * inner / 256) workgroups of 256 (2-D when large).

struct BlockParams {
    outer: u32,
    inner: u32,
    src_stride: u32,
    src_offset: u32,
    dst_stride: u32,
    dst_offset: u32,
}

@group(0) @binding(0) var<uniform> block: BlockParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn copy_block(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e >= block.outer * block.inner { return; }
    let o = e / block.inner;
    let i = e % block.inner;
    dst[o * block.dst_stride + block.dst_offset + i] = src[o * block.src_stride + block.src_offset + i];
}

// Rows by index (latent tables): rows[b] (as f32) names a row of `inner` values.
//   gather_rows:  dst[b, i] = src[rows[b], i]
//   project_rows: dst[rows[b], :] /= max(|dst[rows[b], :]|, eps), a thread per row, eps
//                 the f32 in src_stride (rows distinct)
// Bindings: 0 block (outer = rows named, inner = row length), 1 src, 2 dst, 3 rows.
@group(0) @binding(3) var<storage, read> rows: array<f32>;

@compute @workgroup_size(256)
fn gather_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e >= block.outer * block.inner { return; }
    let b = e / block.inner;
    dst[e] = src[u32(rows[b]) * block.inner + e % block.inner];
}

@compute @workgroup_size(64)
fn project_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
    let b = (wid.x + wid.y * nwg.x) * 64u + lid;
    if b >= block.outer { return; }
    let first = u32(rows[b]) * block.inner;
    var squares = 0.0;
    for (var i = 0u; i < block.inner; i++) {
        let v = dst[first + i];
        squares += v * v;
    }
    let norm = max(sqrt(squares), bitcast<f32>(block.src_stride));
    for (var i = 0u; i < block.inner; i++) {
        dst[first + i] = dst[first + i] / norm;
    }
}
