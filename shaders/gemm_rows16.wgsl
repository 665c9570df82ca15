// Prepended to gemm_lanes.wgsl: accumulator arrays of 16 rows, for blocks of 9 to 16 rows.
// llvmpipe unrolls a row loop that covers its whole array and keeps the accumulators out of
// memory; 16 rows of a 32-row array left them in memory (kernels-tests/lab/README.md).
const MAX_ROWS: u32 = 16u;
