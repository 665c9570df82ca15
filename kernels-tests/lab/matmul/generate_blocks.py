#!/usr/bin/env python3
"""Writes the block-size sweep of README.md ("Bigger blocks") into a folder, for
kernels-tests/src/bin/matmul_lab.rs to time:

    python3 kernels-tests/lab/matmul/generate_blocks.py /tmp/blocks 2,2,4 4,4,8,local
    cargo run --release -p kernels-tests --bin matmul_lab /tmp/blocks/*.wgsl

Each variant is ARRAYS,QUADS,K[,local]: ARRAYS arrays of 32 rows (each with its own row loop,
which the driver unrolls), QUADS quads of four adjacent columns per lane, K values of k per
step (a multiple of 4, read as K / 4 vec4s of each A row), and with `local` each quad's K
multiply-adds summed in a local before its accumulator is written back. 8 lanes; A and B
are read four values per load, so M, N and K must be multiples of 4. 2,2,4 is v30 and
4,4,8,local is v40, now gemm_big_blocks in shaders/gemm_lanes.wgsl.
"""
import os
import sys

HEADER = """// lab: tile_m={rows} tile_n={cols} workgroup=8
// arrays={arrays} quads={quads} k={k} local={local}
struct Params {{ m: u32, n: u32, k: u32, a_batch_stride: u32, b_batch_stride: u32, }}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
const QUADS: u32 = {quads}u;
const KB: u32 = {k}u;
const VECS: u32 = {vecs}u;
@compute @workgroup_size(8)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {{
    let row0 = wid.y * {rows}u;
    let col0 = wid.x * QUADS * 32u;
    let n4 = p.n / 4u;
    var a_row: array<u32, {groups}>;
    for (var g = 0u; g < {groups}u; g++) {{
        a_row[g] = min(row0 + 8u * g + lane, p.m - 1u) * p.k / 4u;
    }}
    var b_col: array<u32, QUADS>;
    for (var j = 0u; j < QUADS; j++) {{ b_col[j] = min((col0 + 32u * j) / 4u + lane, n4 - 1u); }}
"""


def update(h, k, local):
    """The multiply-adds of one array of 32 rows for one step."""
    lines = ["        for (var i = 0u; i < 32u; i++) {"]
    lines += [f"            let a{e} = subgroupShuffle(av{h}[i / 8u][{e}], i % 8u);"
              for e in range(k // 4)]
    lines.append("            for (var j = 0u; j < QUADS; j++) {")
    target = "s" if local else f"acc{h}[i][j]"
    if local:
        lines.append(f"                var s = acc{h}[i][j];")
    for u in range(k):
        lines.append(f"                {target} = fma(vec4(a{u // 4}.{'xyzw'[u % 4]}), "
                     f"bv[j][{u}], {target});")
    if local:
        lines.append(f"                acc{h}[i][j] = s;")
    lines += ["            }", "        }"]
    return lines


def variant(arrays, quads, k, local):
    out = [HEADER.format(rows=32 * arrays, cols=32 * quads, arrays=arrays, quads=quads, k=k,
                         local=local, vecs=k // 4, groups=4 * arrays)]
    out += [f"    var acc{h}: array<array<vec4<f32>, QUADS>, 32>;" for h in range(arrays)]
    out += ["    for (var k0 = 0u; k0 < p.k; k0 += KB) {",
            "        var bv: array<array<vec4<f32>, KB>, QUADS>;"]
    for h in range(arrays):
        out += [f"        var av{h}: array<array<vec4<f32>, VECS>, 4>;",
                "        for (var g = 0u; g < 4u; g++) {",
                f"            for (var e = 0u; e < VECS; e++) {{ "
                f"av{h}[g][e] = a[a_row[{4 * h}u + g] + k0 / 4u + e]; }}",
                "        }"]
    out += ["        for (var u = 0u; u < KB; u++) {",
            "            for (var j = 0u; j < QUADS; j++) {",
            "                bv[j][u] = b[(k0 + u) * n4 + b_col[j]];",
            "            }",
            "        }"]
    for h in range(arrays):
        out += update(h, k, local)
    out.append("    }")
    for h in range(arrays):
        out += ["    for (var i = 0u; i < 32u; i++) {",
                f"        let row = row0 + {32 * h}u + i;",
                "        for (var j = 0u; j < QUADS; j++) {",
                "            let col = col0 + 32u * j + 4u * lane;",
                "            for (var q = 0u; q < 4u; q++) {",
                f"                if row < p.m && col + q < p.n {{ "
                f"c[row * p.n + col + q] = acc{h}[i][j][q]; }}",
                "            }", "        }", "    }"]
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    for spec in sys.argv[2:]:
        fields = spec.split(",")
        local = fields[3:] == ["local"]
        if len(fields) not in (3, 4) or (len(fields) == 4 and not local):
            sys.exit(f"variant {spec!r}: write ARRAYS,QUADS,K or ARRAYS,QUADS,K,local")
        arrays, quads, k = map(int, fields[:3])
        if k % 4:
            sys.exit(f"variant {spec!r}: K must be a multiple of 4")
        name = f"rows{32 * arrays}_quads{quads}_k{k}{'_local' if local else ''}.wgsl"
        with open(os.path.join(folder, name), "w") as f:
            f.write(variant(arrays, quads, k, local))


main()
