// Appended to gemm_common.wgsl. Needs subgroup operations.
//
// gemm_lanes (software rasterisers such as llvmpipe, where a workgroup of LANES invocations is
//   one SIMD register and every storage load costs a loop over the lanes, with a bounds test
//   per value): a workgroup is one subgroup and computes a ROWS x (4 * QUADS * LANES) block.
//   Lane l holds QUADS quads of four columns: columns col0 + l + LANES * (4 j + q), or, when B
//   is read four columns at a time, the four adjacent columns col0 + 4 (LANES j + l) + q. For
//   the block's rows the lanes load one value each per group of LANES rows and subgroupShuffle
//   hands every lane all of them, so each loaded value feeds 4 * QUADS * LANES multiply-adds.
//   Operands are read in steps of 4 k before the accumulators are updated, so accumulators the
//   compiler keeps in memory are touched once per 4 k.
//
//   A vec4 load costs much less than four scalar ones (the lane loop is paid once), so where an
//   operand's layout allows it (the host checks sizes and alignment) it is read four at a time:
//     A_WIDE 1: four k of a row (A's k run contiguous, K % 4 == 0, rows 16-byte aligned);
//     B_WIDE 1: four k of a column (matmul with TRANS_B, K % 4 == 0);
//     B_WIDE 2: four columns of one k (matmul, N % 4 == 0).
//   a4 and b4 are the same buffers as a and b seen as vec4s.
//
//   Indices are clamped inside the matrices (no bounds tests in the loop); A's values past K
//   are multiplied by zero and rows or columns past the edge are not stored.
//   Grid: (ceil(N / (4 * QUADS * LANES)), ceil(M / ROWS), batch). kernels-tests/lab/README.md
//   has the variants this was chosen from and their speeds.

override LANES: u32 = 8u;
override ROWS: u32 = 32u;          // 4, 8 or 32: the host fits it to M
override QUADS: u32 = 2u;          // 1 or 2
override A_WIDE: u32 = 0u;
override B_WIDE: u32 = 0u;

@group(0) @binding(5) var<storage, read> a4: array<vec4f>;
@group(0) @binding(6) var<storage, read> b4: array<vec4f>;

const MAX_ROWS: u32 = 32u;
const MAX_QUADS: u32 = 2u;
const STEP_K: u32 = 4u;

fn lane_column(col0: u32, lane: u32, j: u32, q: u32) -> u32 {
    if B_WIDE == 2u {
        return col0 + 4u * (LANES * j + lane) + q;
    }
    return col0 + lane + LANES * (4u * j + q);
}

@compute @workgroup_size(LANES)
fn gemm_lanes(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.y * ROWS;
    let col0 = wid.x * 4u * QUADS * LANES;
    let z = wid.z;
    let groups = (ROWS + LANES - 1u) / LANES;
    var a_rows: array<vec4i, 8>;       // this lane's row in each group of LANES rows
    for (var g = 0u; g < groups; g++) {
        a_rows[g] = row_context(z, min(row0 + LANES * g + lane, p.m - 1u));
    }
    var b_cols: array<array<vec4i, 4>, MAX_QUADS>;
    var b_quads: array<i32, MAX_QUADS>;   // B_WIDE 2: offset of the quad's first column
    for (var j = 0u; j < QUADS; j++) {
        for (var q = 0u; q < 4u; q++) {
            b_cols[j][q] = col_context(z, min(lane_column(col0, lane, j, q), p.n - 1u));
        }
        if B_WIDE == 2u {
            b_quads[j] = col_context(z, min(lane_column(col0, lane, j, 0u), p.n - 4u)).x;
        }
    }
    var acc: array<array<vec4f, MAX_QUADS>, MAX_ROWS>;
    // Components are named (.x for k0, .y for k0 + 1, ...), not indexed by loop variables,
    // and the update loop runs over rows as in the lab's v13: a loop over quads of rows with
    // indexed components measured 9x slower on llvmpipe (kernels-tests/lab/README.md).
    for (var k0 = 0u; k0 < p.k; k0 += STEP_K) {
        var kc: array<vec4i, STEP_K>;
        var live: array<f32, STEP_K>;
        for (var u = 0u; u < STEP_K; u++) {
            kc[u] = k_context(min(k0 + u, p.k - 1u));
            live[u] = select(0.0, 1.0, k0 + u < p.k);
        }
        // held[g]: four k of this lane's row in group g.
        var held: array<vec4f, 8>;
        for (var g = 0u; g < groups; g++) {
            if A_WIDE == 1u {
                held[g] = a4[(a_rows[g].x + kc[0].w) / 4];
            } else {
                let row = a_rows[g];
                held[g] = vec4f(a_value(row, kc[0]) * live[0], a_value(row, kc[1]) * live[1],
                                a_value(row, kc[2]) * live[2], a_value(row, kc[3]) * live[3]);
            }
        }
        // bv[j][u]: this lane's quad j at k0 + u.
        var bv: array<array<vec4f, STEP_K>, MAX_QUADS>;
        for (var j = 0u; j < QUADS; j++) {
            if B_WIDE == 1u {
                var runs: array<vec4f, 4>;
                for (var q = 0u; q < 4u; q++) {
                    runs[q] = b4[(b_cols[j][q].x + kc[0].x) / 4];
                }
                bv[j][0] = vec4f(runs[0].x, runs[1].x, runs[2].x, runs[3].x);
                bv[j][1] = vec4f(runs[0].y, runs[1].y, runs[2].y, runs[3].y);
                bv[j][2] = vec4f(runs[0].z, runs[1].z, runs[2].z, runs[3].z);
                bv[j][3] = vec4f(runs[0].w, runs[1].w, runs[2].w, runs[3].w);
            } else if B_WIDE == 2u {
                for (var u = 0u; u < STEP_K; u++) {
                    bv[j][u] = b4[(b_quads[j] + kc[u].x) / 4];
                }
            } else {
                for (var u = 0u; u < STEP_K; u++) {
                    let col = b_cols[j];
                    bv[j][u] = vec4f(b_value(col[0], kc[u]), b_value(col[1], kc[u]),
                                     b_value(col[2], kc[u]), b_value(col[3], kc[u]));
                }
            }
        }
        for (var i = 0u; i < ROWS; i++) {
            let v = subgroupShuffle(held[i / LANES], i % LANES);
            for (var j = 0u; j < QUADS; j++) {
                acc[i][j] = fma(vec4f(v.x), bv[j][0], acc[i][j]);
                acc[i][j] = fma(vec4f(v.y), bv[j][1], acc[i][j]);
                acc[i][j] = fma(vec4f(v.z), bv[j][2], acc[i][j]);
                acc[i][j] = fma(vec4f(v.w), bv[j][3], acc[i][j]);
            }
        }
    }
    for (var i = 0u; i < ROWS; i++) {
        let row = row0 + i;
        if row < p.m {
            let rc = row_context(z, row);
            for (var j = 0u; j < QUADS; j++) {
                let v = acc[i][j];
                store(rc, b_cols[j][0], row, lane_column(col0, lane, j, 0u), v.x);
                store(rc, b_cols[j][1], row, lane_column(col0, lane, j, 1u), v.y);
                store(rc, b_cols[j][2], row, lane_column(col0, lane, j, 2u), v.z);
                store(rc, b_cols[j][3], row, lane_column(col0, lane, j, 3u), v.w);
            }
        }
    }
}

fn store(rc: vec4i, cc: vec4i, row: u32, col: u32, value: f32) {
    if col < p.n {
        c[c_index(rc, cc)] = with_bias(value, row, col);
    }
}
