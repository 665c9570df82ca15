// Batched matrix product C[b] = op(A[b]) op(B[b]), op = optional transpose.
//
// op(A) is M x K, op(B) is K x N, C is M x N, all row-major. A is stored [M, K] ([K, M] when
// TRANS_A), B is stored [K, N] ([N, K] when TRANS_B). A batch stride of 0 broadcasts an
// operand over the batch (a weight shared by every image). Grid z is the batch.
//
// Bindings (group 0):
//   0  p  uniform Params
//   1  a  storage read
//   2  b  storage read
//   3  c  storage read_write   batch * M * N
//
// This file holds what the two kernels share; matmul.wgsl (workgroup-memory tiles, for GPUs)
// and matmul_lanes.wgsl (one subgroup per workgroup, for software rasterisers) are each
// appended to it to make a shader module. The host picks one per adapter.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Element [row, kk] of op(A) / [kk, col] of op(B) relative to the batch base; the caller
// keeps indices inside the matrix.
fn a_at(base: u32, row: u32, kk: u32) -> f32 {
    if TRANS_A { return a[base + kk * p.m + row]; }
    return a[base + row * p.k + kk];
}

fn b_at(base: u32, kk: u32, col: u32) -> f32 {
    if TRANS_B { return b[base + col * p.k + kk]; }
    return b[base + kk * p.n + col];
}

