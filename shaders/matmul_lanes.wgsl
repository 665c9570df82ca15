// Appended to matmul_common.wgsl. Needs subgroup operations.
//
// matmul_lanes (software rasterisers such as llvmpipe, where a workgroup of LANES
//   invocations is one SIMD register and every storage load, whatever its width, costs a
//   loop over the lanes): a workgroup is one subgroup and computes a 32 x (6 * LANES) block.
//   Lane l owns columns col0 + l + LANES * j (j < 6). For 32 rows the lanes load one value
//   each per row group and subgroupShuffle hands every lane all 32, so each loaded scalar
//   feeds 6 * LANES multiply-adds. Operands are read in steps of 4 k before the 192
//   accumulators are updated, so accumulators the compiler keeps in memory are touched once
//   per 4 k. Indices are clamped inside the matrices (no bounds tests in the loop); values
//   past K are multiplied by zero and rows or columns past the edge are not stored.
//   Grid: (ceil(N / (6 * LANES)), ceil(M / 32), batch). kernels-tests/lab/matmul has the
//   variants this was chosen from and their speeds.


override LANES: u32 = 8u;

const ROWS: u32 = 32u;
const COLS_PER_LANE: u32 = 6u;
const STEP_K: u32 = 4u;

@compute @workgroup_size(LANES)
fn matmul_lanes(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
    let groups = ROWS / LANES;
    let row0 = wid.y * ROWS;
    let col0 = wid.x * COLS_PER_LANE * LANES;
    let a_base = wid.z * p.a_batch_stride;
    let b_base = wid.z * p.b_batch_stride;
    var a_row: array<u32, 8>;          // this lane's row in each row group (groups <= 8)
    for (var g = 0u; g < groups; g++) {
        a_row[g] = min(row0 + LANES * g + lane, p.m - 1u);
    }
    var b_col: array<u32, COLS_PER_LANE>;
    for (var j = 0u; j < COLS_PER_LANE; j++) {
        b_col[j] = min(col0 + lane + LANES * j, p.n - 1u);
    }
    var acc: array<array<f32, COLS_PER_LANE>, ROWS>;
    for (var k0 = 0u; k0 < p.k; k0 += STEP_K) {
        var av: array<array<f32, STEP_K>, 8>;
        var bv: array<array<f32, STEP_K>, COLS_PER_LANE>;
        for (var u = 0u; u < STEP_K; u++) {
            let kk = min(k0 + u, p.k - 1u);
            let live = select(0.0, 1.0, k0 + u < p.k);
            for (var g = 0u; g < groups; g++) {
                av[g][u] = a_at(a_base, a_row[g], kk) * live;
            }
            for (var j = 0u; j < COLS_PER_LANE; j++) {
                bv[j][u] = b_at(b_base, kk, b_col[j]);
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
    let c_base = wid.z * p.m * p.n;
    for (var i = 0u; i < ROWS; i++) {
        let row = row0 + i;
        for (var j = 0u; j < COLS_PER_LANE; j++) {
            let col = col0 + lane + LANES * j;
            if row < p.m && col < p.n {
                c[c_base + row * p.n + col] = acc[i][j];
            }
        }
    }
}
