// Prepended to gemm_lanes.wgsl: accumulator arrays of 32 rows (blocks of 4, 8, 32 and 64 rows).
const MAX_ROWS: u32 = 32u;
