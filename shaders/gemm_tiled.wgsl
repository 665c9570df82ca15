// Appended to gemm_common.wgsl.
//
// gemm_tiled (GPUs): a workgroup of 16 x 16 threads computes a 64 x 64 block of C. Each step
// stages a 64 x 16 slice of A and a 16 x 64 slice of B in workgroup memory (k-major, so the
// inner loop reads four consecutive rows or columns as one vec4) and each thread accumulates a
// 4 x 4 register block. Grid: (ceil(N / 64), ceil(M / 64), batch).

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;

var<workgroup> a_tile: array<vec4f, 256>;   // [TILE_K][TILE / 4]
var<workgroup> b_tile: array<vec4f, 256>;   // [TILE_K][TILE / 4]

fn a_or_zero(z: u32, row: u32, kk: u32) -> f32 {
    if row >= p.m || kk >= p.k { return 0.0; }
    return a_value(row_context(z, row), k_context(kk));
}

fn b_or_zero(z: u32, kk: u32, col: u32) -> f32 {
    if kk >= p.k || col >= p.n { return 0.0; }
    return b_value(col_context(z, col), k_context(kk));
}

@compute @workgroup_size(256)
fn gemm_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let z = wid.z;
    let tr = lid / 16u;
    let tc = lid % 16u;
    // This thread stages rows (or columns) q .. q + 3 at k offset kk of each tile.
    let kk = lid / 16u;
    let q = (lid % 16u) * 4u;
    var acc: array<vec4f, 4>;
    for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
        a_tile[lid] = vec4f(a_or_zero(z, row0 + q, k0 + kk), a_or_zero(z, row0 + q + 1u, k0 + kk),
                            a_or_zero(z, row0 + q + 2u, k0 + kk), a_or_zero(z, row0 + q + 3u, k0 + kk));
        b_tile[lid] = vec4f(b_or_zero(z, k0 + kk, col0 + q), b_or_zero(z, k0 + kk, col0 + q + 1u),
                            b_or_zero(z, k0 + kk, col0 + q + 2u), b_or_zero(z, k0 + kk, col0 + q + 3u));
        workgroupBarrier();
        for (var s = 0u; s < TILE_K; s++) {
            let av = a_tile[s * 16u + tr];
            let bv = b_tile[s * 16u + tc];
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + tr * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tc * 4u + j;
            if row < p.m && col < p.n {
                let at = c_index(row_context(z, row), col_context(z, col));
                c[at] = with_bias(acc[i][j], row, col);
            }
        }
    }
}
