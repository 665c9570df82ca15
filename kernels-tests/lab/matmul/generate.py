#!/usr/bin/env python3
"""Writes the generated matmul lab variants (v3-v9 of README.md) into a folder, fully
unrolled, for kernels-tests/src/bin/matmul_lab.rs to time:

    python3 kernels-tests/lab/matmul/generate.py /tmp/variants
    cargo run --release -p kernels-tests --bin matmul_lab /tmp/variants/*.wgsl

Every variant: one subgroup (8 lanes on llvmpipe) per workgroup, lane l owns columns
col0 + l + 8j (j < C); A values for R rows come from R/8 loads (lane l loads row l of each
group) spread with subgroupShuffle; k tail values past K are multiplied by zero.
  broadcast R C      one k per loop step
  unrolled R C U     U k per loop step, accumulators updated once per k
  kblock R C U       U k of every operand loaded first, then each accumulator updated U
                     times in a row (what shaders/matmul_lanes.wgsl does with loops)
"""
import os
import sys

HEADER = """struct Params {{ m: u32, n: u32, k: u32, a_batch_stride: u32, b_batch_stride: u32, }}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@compute @workgroup_size(8)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {{
    let row0 = wid.y * {R}u;
    let col0 = wid.x * {N}u;"""


def variant(kind, R, C, U):
    out = [f"// lab: tile_m={R} tile_n={8 * C} workgroup=8", f"// {kind} R={R} C={C} U={U}",
           HEADER.format(R=R, N=8 * C)]
    out += [f"    let ar{g} = min(row0 + {8 * g}u + lane, p.m - 1u) * p.k;" for g in range(R // 8)]
    out += [f"    let bc{j} = min(col0 + lane + {8 * j}u, p.n - 1u);" for j in range(C)]
    out += [f"    var acc{i}_{j} = 0.0;" for i in range(R) for j in range(C)]
    out.append(f"    for (var k0 = 0u; k0 < p.k; k0 += {U}u) {{")
    for u in range(U):
        out.append(f"        let k{u} = min(k0 + {u}u, p.k - 1u);")
        live = "" if u == 0 else f" * select(0.0, 1.0, k0 + {u}u < p.k)"
        out += [f"        let av{g}_{u} = a[ar{g} + k{u}]{live};" for g in range(R // 8)]
        out += [f"        let bv{j}_{u} = b[k{u} * p.n + bc{j}];" for j in range(C)]
        if kind != "kblock":
            for i in range(R):
                out.append(f"        let a{i}_{u} = subgroupShuffle(av{i // 8}_{u}, {i % 8}u);")
                out += [f"        acc{i}_{j} = fma(a{i}_{u}, bv{j}_{u}, acc{i}_{j});" for j in range(C)]
    if kind == "kblock":
        for i in range(R):
            out += [f"        let a{i}_{u} = subgroupShuffle(av{i // 8}_{u}, {i % 8}u);" for u in range(U)]
            for j in range(C):
                expr = f"acc{i}_{j}"
                for u in range(U):
                    expr = f"fma(a{i}_{u}, bv{j}_{u}, {expr})"
                out.append(f"        acc{i}_{j} = {expr};")
    out.append("    }")
    for i in range(R):
        for j in range(C):
            out.append(f"    if row0 + {i}u < p.m && col0 + lane + {8 * j}u < p.n "
                       f"{{ c[(row0 + {i}u) * p.n + col0 + lane + {8 * j}u] = acc{i}_{j}; }}")
    out.append("}")
    return "\n".join(out) + "\n"


VARIANTS = [("broadcast", 16, 1, 1), ("broadcast", 16, 2, 1), ("broadcast", 8, 3, 1),
            ("unrolled", 16, 2, 4), ("unrolled", 24, 3, 2), ("unrolled", 32, 6, 1),
            ("unrolled", 48, 4, 1), ("kblock", 32, 4, 4), ("kblock", 32, 6, 2),
            ("kblock", 32, 6, 3), ("kblock", 32, 6, 4), ("kblock", 24, 8, 4)]

if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "variants"
    os.makedirs(folder, exist_ok=True)
    for kind, R, C, U in VARIANTS:
        with open(os.path.join(folder, f"{kind}_{R}x{C}_u{U}.wgsl"), "w") as f:
            f.write(variant(kind, R, C, U))
