// lab: tile_m=32 tile_n=48 workgroup=8
// v11: v10 with A read at addresses uniform across the subgroup (no shuffle).
struct Params { m: u32, n: u32, k: u32, a_batch_stride: u32, b_batch_stride: u32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const RG: u32 = 4u;   // groups of 8 rows
const CL: u32 = 6u;   // columns per lane
const KB: u32 = 4u;   // k per step

@compute @workgroup_size(8)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.y * RG * 8u;
    let col0 = wid.x * CL * 8u;
    var a_row: array<u32, 32>;
    for (var i = 0u; i < 32u; i++) { a_row[i] = min(row0 + i, p.m - 1u) * p.k; }
    var b_col: array<u32, CL>;
    for (var j = 0u; j < CL; j++) { b_col[j] = min(col0 + lane + 8u * j, p.n - 1u); }
    var acc: array<array<f32, CL>, 32>;
    for (var k0 = 0u; k0 < p.k; k0 += KB) {
        var av: array<array<f32, KB>, 32>;
        var bv: array<array<f32, KB>, CL>;
        for (var u = 0u; u < KB; u++) {
            let k = min(k0 + u, p.k - 1u);
            let live = select(0.0, 1.0, k0 + u < p.k);
            for (var i = 0u; i < 32u; i++) { av[i][u] = a[a_row[i] + k] * live; }
            for (var j = 0u; j < CL; j++) { bv[j][u] = b[k * p.n + b_col[j]]; }
        }
        for (var i = 0u; i < RG * 8u; i++) {
            for (var u = 0u; u < KB; u++) {
                let ai = av[i][u];
                for (var j = 0u; j < CL; j++) {
                    acc[i][j] = fma(ai, bv[j][u], acc[i][j]);
                }
            }
        }
    }
    for (var i = 0u; i < RG * 8u; i++) {
        for (var j = 0u; j < CL; j++) {
            let row = row0 + i;
            let col = col0 + lane + 8u * j;
            if row < p.m && col < p.n { c[row * p.n + col] = acc[i][j]; }
        }
    }
}
