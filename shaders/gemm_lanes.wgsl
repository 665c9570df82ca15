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
//     B_WIDE 2: four columns of one k (matmul, N % 4 == 0);
//     B_WIDE 3: a weight gradient's window: four adjacent columns (kx) at four consecutive k
//       (ox) read image columns m = K_STEP u + COL_STEP q of one run of SPAN values, loaded
//       once (kw % 4 == 0, grid_w % 4 == 0).
//   a4 and b4 are the same buffers as a and b seen as vec4s.
//
//   Indices are clamped inside the matrices (no bounds tests in the loop); A's values past K
//   are multiplied by zero and rows or columns past the edge are not stored.
//   Grid: (ceil(N / (4 * QUADS * LANES)), ceil(M / ROWS), batch). kernels-tests/lab/README.md
//   has the variants this was chosen from and their speeds.

override LANES: u32 = 8u;
override ROWS: u32 = 32u;          // 4, 8, 16 (gemm_rows16), 32 or 64: the host fits it to M
override QUADS: u32 = 2u;          // 1 or 2
override A_WIDE: u32 = 0u;
override B_WIDE: u32 = 0u;

@group(0) @binding(5) var<storage, read> a4: array<vec4f>;
@group(0) @binding(6) var<storage, read> b4: array<vec4f>;
// C seen as vec4s (the same buffer as c): WIDE_STORE stores a quad of four adjacent columns
// in one access where the host found them adjacent and 16-byte aligned in C (a matmul with
// N and C's batch stride multiples of 4).
@group(0) @binding(7) var<storage, read_write> c4: array<vec4f>;
override WIDE_STORE: bool = false;

// MAX_ROWS, the rows of an accumulator array, comes from gemm_rows32.wgsl or gemm_rows16.wgsl.
const MAX_QUADS: u32 = 2u;
const STEP_K: u32 = 4u;

override ADJACENT: bool = false;   // quads of four adjacent columns (B_WIDE 2, gemm_window_rows)

fn lane_column(col0: u32, lane: u32, j: u32, q: u32) -> u32 {
    if ADJACENT {
        return col0 + 4u * (LANES * j + lane) + q;
    }
    return col0 + lane + LANES * (4u * j + q);
}

// The contexts of this lane's columns, clamped inside C.
fn lane_columns(z: u32, col0: u32, lane: u32) -> array<array<vec4i, 4>, MAX_QUADS> {
    var cols: array<array<vec4i, 4>, MAX_QUADS>;
    for (var j = 0u; j < QUADS; j++) {
        for (var q = 0u; q < 4u; q++) {
            cols[j][q] = col_context(z, min(lane_column(col0, lane, j, q), p.n - 1u));
        }
    }
    return cols;
}

// A block of up to 64 rows keeps two accumulator arrays of 32 rows: llvmpipe leaves a single
// array of 64 (or 48) rows in memory, 7x slower (kernels-tests/lab/README.md).
alias Block = array<array<vec4f, MAX_QUADS>, MAX_ROWS>;
override LOW_ROWS: u32 = min(ROWS, MAX_ROWS);
override HIGH_ROWS: u32 = ROWS - LOW_ROWS;

fn store_block(z: u32, row0: u32, rows: u32, col0: u32, lane: u32, acc: ptr<function, Block>,
               cols: array<array<vec4i, 4>, MAX_QUADS>) {
    for (var i = 0u; i < rows; i++) {
        let row = row0 + i;
        if row < p.m {
            let rc = row_context(z, row);
            for (var j = 0u; j < QUADS; j++) {
                let v = (*acc)[i][j];
                if WIDE_STORE {
                    let col = lane_column(col0, lane, j, 0u);
                    if col < p.n {
                        c4[(rc.y + cols[j][0].w) / 4] = vec4f(
                            with_bias(v.x, row, col), with_bias(v.y, row, col + 1u),
                            with_bias(v.z, row, col + 2u), with_bias(v.w, row, col + 3u));
                    }
                    continue;
                }
                store(rc, cols[j][0], row, lane_column(col0, lane, j, 0u), v.x);
                store(rc, cols[j][1], row, lane_column(col0, lane, j, 1u), v.y);
                store(rc, cols[j][2], row, lane_column(col0, lane, j, 2u), v.z);
                store(rc, cols[j][3], row, lane_column(col0, lane, j, 3u), v.w);
            }
        }
    }
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
    let b_cols = lane_columns(z, col0, lane);
    var b_quads: array<i32, MAX_QUADS>;   // B_WIDE 2: offset of the quad's first column
    for (var j = 0u; j < QUADS; j++) {
        if B_WIDE == 2u {
            b_quads[j] = col_context(z, min(lane_column(col0, lane, j, 0u), p.n - 4u)).x;
        }
    }
    var acc: Block;
    var acc_high: Block;
    for (var k0 = 0u; k0 < p.k; k0 += STEP_K) {
        var kc: array<vec4i, STEP_K>;
        var live: array<f32, STEP_K>;
        for (var u = 0u; u < STEP_K; u++) {
            if K_RUNS && u > 0u {
                // The next output column of the same row: no divisions.
                kc[u] = kc[0] + vec4i(0, 0, i32(u) * p.stride, i32(u));
                live[u] = 1.0;
            } else {
                kc[u] = k_context(min(k0 + u, p.k - 1u));
                live[u] = select(0.0, 1.0, k0 + u < p.k);
            }
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
            } else if B_WIDE == 3u {
                let first = b_cols[j][0];
                let win = window_run(first.x + kc[0].x, first.y + kc[0].y, first.z + kc[0].z);
                for (var u = 0u; u < STEP_K; u++) {
                    let at = u32(K_STEP) * u;
                    let step = u32(COL_STEP);
                    bv[j][u] = vec4f(win[at], win[at + step], win[at + 2u * step],
                                     win[at + 3u * step]);
                }
            } else {
                for (var u = 0u; u < STEP_K; u++) {
                    let col = b_cols[j];
                    bv[j][u] = vec4f(b_value(col[0], kc[u]), b_value(col[1], kc[u]),
                                     b_value(col[2], kc[u]), b_value(col[3], kc[u]));
                }
            }
        }
        lanes_update(&acc, 0u, LOW_ROWS, &held, &bv);
        lanes_update(&acc_high, LOW_ROWS, HIGH_ROWS, &held, &bv);
    }
    store_block(z, row0, LOW_ROWS, col0, lane, &acc, b_cols);
    store_block(z, row0 + LOW_ROWS, HIGH_ROWS, col0, lane, &acc_high, b_cols);
}

// One step's multiply-adds for the block's rows first .. first + rows, kept in acc. Components
// are named (.x for k0, .y for k0 + 1, ...), not indexed by loop variables, and the loop runs
// over rows as in the lab's v13: a loop over quads of rows with indexed components measured 9x
// slower on llvmpipe (kernels-tests/lab/README.md).
fn lanes_update(acc: ptr<function, Block>, first: u32, rows: u32,
                held: ptr<function, array<vec4f, 8>>,
                bv: ptr<function, array<array<vec4f, STEP_K>, MAX_QUADS>>) {
    for (var i = 0u; i < rows; i++) {
        let row = first + i;
        let v = subgroupShuffle((*held)[row / LANES], row % LANES);
        for (var j = 0u; j < QUADS; j++) {
            (*acc)[i][j] = fma(vec4f(v.x), (*bv)[j][0], (*acc)[i][j]);
            (*acc)[i][j] = fma(vec4f(v.y), (*bv)[j][1], (*acc)[i][j]);
            (*acc)[i][j] = fma(vec4f(v.z), (*bv)[j][2], (*acc)[i][j]);
            (*acc)[i][j] = fma(vec4f(v.w), (*bv)[j][3], (*acc)[i][j]);
        }
    }
}

fn store(rc: vec4i, cc: vec4i, row: u32, col: u32, value: f32) {
    if col < p.n && cc.w >= 0 {
        c[c_index(rc, cc)] = with_bias(value, row, col);
    }
}

// gemm_big_blocks: a matmul (MODE 0) whose operands both read four values per load (A_WIDE 1,
//   B_WIDE 2) with K % 8 == 0, big enough for blocks of 128 rows x 16 LANES columns. The
//   scheme of gemm_lanes with twice its reuse: 128 rows as four arrays of 32 (each with its
//   own row loop, which the driver unrolls), four quads of adjacent columns per lane and 8 k
//   per step, so each load feeds twice the multiply-adds of a 64-row block and each
//   accumulator is loaded and stored once per 8 k. On llvmpipe the loads, not the arithmetic,
//   set a matmul's speed (kernels-tests/lab/README.md, "Bigger blocks").
//   Grid: (ceil(N / (16 LANES)), ceil(M / 128), batch).
const BIG_QUADS: u32 = 4u;
const BIG_K: u32 = 8u;
const BIG_ARRAY_ROWS: u32 = 32u;
alias BigBlock = array<array<vec4f, BIG_QUADS>, BIG_ARRAY_ROWS>;
// held[g]: k0 .. k0 + 7 of this lane's row in group g of an array's rows.
alias BigHeld = array<array<vec4f, 2>, 8>;
alias BigColumns = array<array<vec4f, BIG_K>, BIG_QUADS>;

fn big_held(rows: array<i32, 8>, k0: u32) -> BigHeld {
    var held: BigHeld;
    for (var g = 0u; g < BIG_ARRAY_ROWS / LANES; g++) {
        held[g][0] = a4[(rows[g] + i32(k0)) / 4];
        held[g][1] = a4[(rows[g] + i32(k0)) / 4 + 1];
    }
    return held;
}

// One step's multiply-adds for one array of 32 rows, summed in a local per quad so each
// accumulator is read and written once per step.
fn big_update(acc: ptr<function, BigBlock>, held: ptr<function, BigHeld>,
              bv: ptr<function, BigColumns>) {
    for (var i = 0u; i < BIG_ARRAY_ROWS; i++) {
        let lo = subgroupShuffle((*held)[i / LANES][0], i % LANES);
        let hi = subgroupShuffle((*held)[i / LANES][1], i % LANES);
        for (var j = 0u; j < BIG_QUADS; j++) {
            var sum = (*acc)[i][j];
            sum = fma(vec4f(lo.x), (*bv)[j][0], sum);
            sum = fma(vec4f(lo.y), (*bv)[j][1], sum);
            sum = fma(vec4f(lo.z), (*bv)[j][2], sum);
            sum = fma(vec4f(lo.w), (*bv)[j][3], sum);
            sum = fma(vec4f(hi.x), (*bv)[j][4], sum);
            sum = fma(vec4f(hi.y), (*bv)[j][5], sum);
            sum = fma(vec4f(hi.z), (*bv)[j][6], sum);
            sum = fma(vec4f(hi.w), (*bv)[j][7], sum);
            (*acc)[i][j] = sum;
        }
    }
}

fn big_store(z: u32, row0: u32, col0: u32, lane: u32, acc: ptr<function, BigBlock>) {
    for (var i = 0u; i < BIG_ARRAY_ROWS; i++) {
        let row = row0 + i;
        if row < p.m {
            let rc = row_context(z, row);
            for (var j = 0u; j < BIG_QUADS; j++) {
                let first = col0 + 4u * (LANES * j + lane);
                let v = (*acc)[i][j];
                store(rc, col_context(z, first), row, first, v.x);
                store(rc, col_context(z, first + 1u), row, first + 1u, v.y);
                store(rc, col_context(z, first + 2u), row, first + 2u, v.z);
                store(rc, col_context(z, first + 3u), row, first + 3u, v.w);
            }
        }
    }
}

// This lane's row offsets in A for each group of LANES rows of the array from first on.
fn big_rows(z: u32, first: u32, lane: u32) -> array<i32, 8> {
    var rows: array<i32, 8>;
    for (var g = 0u; g < BIG_ARRAY_ROWS / LANES; g++) {
        rows[g] = row_context(z, min(first + LANES * g + lane, p.m - 1u)).x;
    }
    return rows;
}

@compute @workgroup_size(LANES)
fn gemm_big_blocks(@builtin(workgroup_id) wid: vec3u,
                   @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.y * 4u * BIG_ARRAY_ROWS;
    let col0 = wid.x * 4u * BIG_QUADS * LANES;
    let z = wid.z;
    let rows0 = big_rows(z, row0, lane);
    let rows1 = big_rows(z, row0 + BIG_ARRAY_ROWS, lane);
    let rows2 = big_rows(z, row0 + 2u * BIG_ARRAY_ROWS, lane);
    let rows3 = big_rows(z, row0 + 3u * BIG_ARRAY_ROWS, lane);
    // Offset in B of each quad's first column, clamped so a quad past N reads inside B.
    var quads: array<i32, BIG_QUADS>;
    for (var j = 0u; j < BIG_QUADS; j++) {
        quads[j] = col_context(z, min(col0 + 4u * (LANES * j + lane), p.n - 4u)).x;
    }
    var acc0: BigBlock;
    var acc1: BigBlock;
    var acc2: BigBlock;
    var acc3: BigBlock;
    for (var k0 = 0u; k0 < p.k; k0 += BIG_K) {
        var bv: BigColumns;
        for (var u = 0u; u < BIG_K; u++) {
            let along = i32((k0 + u) * p.n);
            for (var j = 0u; j < BIG_QUADS; j++) {
                bv[j][u] = b4[(quads[j] + along) / 4];
            }
        }
        var held = big_held(rows0, k0);
        big_update(&acc0, &held, &bv);
        held = big_held(rows1, k0);
        big_update(&acc1, &held, &bv);
        held = big_held(rows2, k0);
        big_update(&acc2, &held, &bv);
        held = big_held(rows3, k0);
        big_update(&acc3, &held, &bv);
    }
    big_store(z, row0, col0, lane, &acc0);
    big_store(z, row0 + BIG_ARRAY_ROWS, col0, lane, &acc1);
    big_store(z, row0 + 2u * BIG_ARRAY_ROWS, col0, lane, &acc2);
    big_store(z, row0 + 3u * BIG_ARRAY_ROWS, col0, lane, &acc3);
}

// gemm_window_rows: MODE 1 or 2 where a window row's taps read neighbouring image values. K
//   runs over window rows of TAPS taps (MODE 1: (ci, ky) with kx inside; MODE 2: (ic, ty) with
//   tx inside). Lane l holds quads of four adjacent columns of one output row (the host pads
//   grid rows to a multiple of 4 columns; col_context marks the padding not stored), and
//   column q of a quad at tap t reads image column x0 + q COL_STEP + t TAP_STEP, so a quad's
//   4 TAPS values are SPAN = 3 COL_STEP + (TAPS - 1) |TAP_STEP| + 1 loads (a 5-tap
//   stride-1 row: 8 loads for 20 values, where gemm_lanes gathers each). A is read a tap at a
//   time (TAPS loads per group of rows and window row), or with A_WIDE 1 a 4-tap row at once.
override TAPS: u32 = 5u;           // at most MAX_TAPS
override COL_STEP: i32 = 1;
override TAP_STEP: i32 = 1;
override SPAN: u32 = 8u;           // at most MAX_SPAN
override K_STEP: i32 = 1;          // B_WIDE 3: image columns between consecutive k
// A weight gradient whose output rows are a multiple of 4 wide: each step's four k are
// neighbouring output columns of one row.
override K_RUNS: bool = false;
// Window rows per step of gemm_window_rows: each accumulator is read and written once per
// STEP_TAPS multiply-adds (the driver keeps the accumulators in memory), so rows of few taps
// (a stride-2 transposed convolution's class has 2) are taken several at a time. The host
// checks that they divide K's window rows and that STEP_TAPS <= MAX_TAPS.
override WINDOW_ROWS_PER_STEP: u32 = 1u;
override STEP_TAPS: u32 = WINDOW_ROWS_PER_STEP * TAPS;

const MAX_TAPS: u32 = 8u;
const MAX_SPAN: u32 = 16u;

// SPAN values of image row iy from column ix0 on, in the plane at offset plane; 0 outside.
fn window_run(plane: i32, iy: i32, ix0: i32) -> array<f32, MAX_SPAN> {
    let row_inside = iy >= 0 && iy < p.src_h;
    let start = plane + iy * p.src_w;
    var win: array<f32, MAX_SPAN>;
    for (var m = 0u; m < SPAN; m++) {
        let ix = ix0 + i32(m);
        let inside = row_inside && ix >= 0 && ix < p.src_w;
        win[m] = select(0.0, b[select(0, start + ix, inside)], inside);
    }
    return win;
}

// k_context of a window row's first tap: image channel ci and kernel row ky (MODE 1), or
// input channel ic and tap row ty of the class (MODE 2).
fn window_row_context(channel: u32, row_tap: u32) -> vec4i {
    let plane = i32(channel) * p.src_h * p.src_w;
    if MODE == 1u {
        return vec4i(plane, i32(row_tap) * p.dilation, 0, i32((channel * p.kh + row_tap) * p.kw));
    }
    let ky = p.tap0_y + row_tap * p.tap_step_y;
    return vec4i(plane, -i32(row_tap) * p.src_step_y, 0,
                 i32(channel * p.out_c * p.kh * p.kw + ky * p.kw + p.tap0_x));
}

// Position in a quad's window of column q at tap t.
fn window_at(q: u32, t: u32) -> u32 {
    let lowest = min(0, i32(TAPS - 1u) * TAP_STEP);
    return u32(i32(q) * COL_STEP + i32(t) * TAP_STEP - lowest);
}

@compute @workgroup_size(LANES)
fn gemm_window_rows(@builtin(workgroup_id) wid: vec3u,
                    @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.y * ROWS;
    let col0 = wid.x * 4u * QUADS * LANES;
    let z = wid.z;
    let groups = (ROWS + LANES - 1u) / LANES;
    var a_rows: array<vec4i, 8>;
    for (var g = 0u; g < groups; g++) {
        a_rows[g] = row_context(z, min(row0 + LANES * g + lane, p.m - 1u));
    }
    // quads[j]: the context of quad j's first column, its window's first image column in .z.
    var quads: array<vec4i, MAX_QUADS>;
    for (var j = 0u; j < QUADS; j++) {
        let first = min(lane_column(col0, lane, j, 0u), p.n - 4u);
        quads[j] = col_context(z, first);
        quads[j].z += min(0, i32(TAPS - 1u) * TAP_STEP);
    }
    var acc: Block;
    var acc_high: Block;
    // The window row's channel and kernel row, stepped instead of divided out of r.
    var channel = 0u;
    var row_tap = 0u;
    let row_taps = select(p.taps_y, p.kh, MODE == 1u);
    for (var r = 0u; r < p.k / TAPS; r += WINDOW_ROWS_PER_STEP) {
        // held[g][s TAPS + t], bv[j][s TAPS + t]: tap t of the step's window row s.
        var held: array<array<f32, MAX_TAPS>, 8>;
        var bv: array<array<vec4f, MAX_TAPS>, MAX_QUADS>;
        for (var s = 0u; s < WINDOW_ROWS_PER_STEP; s++) {
            let kc0 = window_row_context(channel, row_tap);
            row_tap += 1u;
            if row_tap == row_taps {
                row_tap = 0u;
                channel += 1u;
            }
            let first = s * TAPS;
            if A_WIDE == 1u {
                // Four taps of a row in one load (the host checks TAPS == 4 and the alignment).
                for (var g = 0u; g < groups; g++) {
                    let four = a4[(a_rows[g].x + kc0.w) / 4];
                    held[g][first] = four.x;
                    held[g][first + 1u] = four.y;
                    held[g][first + 2u] = four.z;
                    held[g][first + 3u] = four.w;
                }
            } else {
                // A's taps of a window row: adjacent in a convolution's weights, tap_step_x
                // apart in a transposed convolution's.
                let a_step = select(i32(p.tap_step_x), 1, MODE == 1u);
                for (var t = 0u; t < TAPS; t++) {
                    for (var g = 0u; g < groups; g++) {
                        held[g][first + t] = a[a_rows[g].x + kc0.w + i32(t) * a_step];
                    }
                }
            }
            for (var j = 0u; j < QUADS; j++) {
                let win = window_run(quads[j].x + kc0.x, quads[j].y + kc0.y,
                                     quads[j].z + kc0.z);
                for (var t = 0u; t < TAPS; t++) {
                    bv[j][first + t] = vec4f(win[window_at(0u, t)], win[window_at(1u, t)],
                                             win[window_at(2u, t)], win[window_at(3u, t)]);
                }
            }
        }
        window_rows_update(&acc, 0u, LOW_ROWS, &held, &bv);
        window_rows_update(&acc_high, LOW_ROWS, HIGH_ROWS, &held, &bv);
    }
    let cols = lane_columns(z, col0, lane);
    store_block(z, row0, LOW_ROWS, col0, lane, &acc, cols);
    store_block(z, row0 + LOW_ROWS, HIGH_ROWS, col0, lane, &acc_high, cols);
}

// A step's multiply-adds for the block's rows first .. first + rows, kept in acc. Rows
// outermost and one running sum per quad: with taps outermost, or rows inside taps, the driver
// kept the accumulators in memory (2 to 3x slower).
fn window_rows_update(acc: ptr<function, Block>, first: u32, rows: u32,
                      held: ptr<function, array<array<f32, MAX_TAPS>, 8>>,
                      bv: ptr<function, array<array<vec4f, MAX_TAPS>, MAX_QUADS>>) {
    for (var i = 0u; i < rows; i++) {
        let row = first + i;
        var vs: array<f32, MAX_TAPS>;
        for (var t = 0u; t < STEP_TAPS; t++) {
            vs[t] = subgroupShuffle((*held)[row / LANES][t], row % LANES);
        }
        for (var j = 0u; j < QUADS; j++) {
            var sum = (*acc)[i][j];
            for (var t = 0u; t < STEP_TAPS; t++) {
                sum = fma(vec4f(vs[t]), (*bv)[j][t], sum);
            }
            (*acc)[i][j] = sum;
        }
    }
}
