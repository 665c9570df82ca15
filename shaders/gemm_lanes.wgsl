// Appended to gemm_common.wgsl. Needs subgroup operations.
//
// gemm_lanes (software rasterisers such as llvmpipe, where a workgroup of LANES invocations is
//   one SIMD register and every storage load, whatever its width, costs a loop over the
//   lanes): a workgroup is one subgroup and computes a ROWS x (6 * LANES) block. Lane l owns
//   columns col0 + l + LANES * j (j < 6). For the block's rows the lanes load one value each
//   per group of LANES rows and subgroupShuffle hands every lane all of them, so each loaded
//   scalar feeds 6 * LANES multiply-adds. Operands are read in steps of 4 k before the
//   accumulators are updated, so accumulators the compiler keeps in memory are touched once
//   per 4 k. Indices are clamped inside the matrices (no bounds tests in the loop); values
//   past K are multiplied by zero and rows or columns past the edge are not stored.
//   Grid: (ceil(N / (6 * LANES)), ceil(M / ROWS), batch). kernels-tests/lab/README.md has
//   the variants this was chosen from and their speeds.

override LANES: u32 = 8u;
override ROWS: u32 = 32u;          // a multiple of 4, at most 32; the host fits it to M

const MAX_ROWS: u32 = 32u;
const COLS_PER_LANE: u32 = 6u;
const STEP_K: u32 = 4u;

@compute @workgroup_size(LANES)
fn gemm_lanes(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
    let groups = (ROWS + LANES - 1u) / LANES;
    let row0 = wid.y * ROWS;
    let col0 = wid.x * COLS_PER_LANE * LANES;
    let z = wid.z;
    var a_rows: array<vec4i, 8>;       // this lane's row in each group of LANES rows
    for (var g = 0u; g < groups; g++) {
        a_rows[g] = row_context(z, min(row0 + LANES * g + lane, p.m - 1u));
    }
    var b_cols: array<vec4i, COLS_PER_LANE>;
    for (var j = 0u; j < COLS_PER_LANE; j++) {
        b_cols[j] = col_context(z, min(col0 + lane + LANES * j, p.n - 1u));
    }
    var acc: array<array<f32, COLS_PER_LANE>, MAX_ROWS>;
    for (var k0 = 0u; k0 < p.k; k0 += STEP_K) {
        var av: array<array<f32, STEP_K>, 8>;
        var bv: array<array<f32, STEP_K>, COLS_PER_LANE>;
        for (var u = 0u; u < STEP_K; u++) {
            let kc = k_context(min(k0 + u, p.k - 1u));
            let live = select(0.0, 1.0, k0 + u < p.k);
            for (var g = 0u; g < groups; g++) {
                av[g][u] = a_value(a_rows[g], kc) * live;
            }
            for (var j = 0u; j < COLS_PER_LANE; j++) {
                bv[j][u] = b_value(b_cols[j], kc);
            }
        }
        for (var i = 0u; i < ROWS; i++) {
            for (var u = 0u; u < STEP_K; u++) {
                let ai = subgroupShuffle(av[i / LANES][u], i % LANES);
                for (var j = 0u; j < COLS_PER_LANE; j++) {
                    acc[i][j] = fma(ai, bv[j][u], acc[i][j]);
                }
            }
        }
    }
    for (var i = 0u; i < ROWS; i++) {
        let row = row0 + i;
        if row < p.m {
            let rc = row_context(z, row);
            for (var j = 0u; j < COLS_PER_LANE; j++) {
                let col = col0 + lane + LANES * j;
                if col < p.n {
                    c[c_index(rc, b_cols[j])] = with_bias(acc[i][j], row, col);
                }
            }
        }
    }
}
