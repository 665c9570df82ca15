// lab: tile_m=64 tile_n=64 workgroup=8
// v30: v13 with 64 rows as two 32-row halves (own accumulator arrays and loops), so
// each A/B load feeds twice the multiply-adds while each loop stays within what the driver unrolls.
struct Params { m: u32, n: u32, k: u32, a_batch_stride: u32, b_batch_stride: u32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const RG: u32 = 4u;   // groups of 8 rows per half
const CV: u32 = 2u;   // vec4 columns per lane
const KB: u32 = 4u;   // k per step

@compute @workgroup_size(8)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.y * RG * 16u;
    let col0 = wid.x * CV * 32u;
    let n4 = p.n / 4u;
    var a_row: array<u32, 8>;
    for (var g = 0u; g < 2u * RG; g++) { a_row[g] = min(row0 + 8u * g + lane, p.m - 1u) * p.k / 4u; }
    var b_col: array<u32, CV>;
    for (var j = 0u; j < CV; j++) { b_col[j] = min((col0 + 32u * j) / 4u + lane, n4 - 1u); }
    var acc: array<array<vec4<f32>, CV>, 32>;
    var acc2: array<array<vec4<f32>, CV>, 32>;
    for (var k0 = 0u; k0 < p.k; k0 += KB) {
        var av: array<vec4<f32>, RG>;
        var av2: array<vec4<f32>, RG>;
        var bv: array<array<vec4<f32>, KB>, CV>;
        for (var g = 0u; g < RG; g++) { av[g] = a[a_row[g] + k0 / 4u]; }
        for (var g = 0u; g < RG; g++) { av2[g] = a[a_row[RG + g] + k0 / 4u]; }
        for (var u = 0u; u < KB; u++) {
            for (var j = 0u; j < CV; j++) { bv[j][u] = b[(k0 + u) * n4 + b_col[j]]; }
        }
        for (var i = 0u; i < RG * 8u; i++) {
            let ai = subgroupShuffle(av[i / 8u], i % 8u);
            for (var j = 0u; j < CV; j++) {
                acc[i][j] = fma(vec4(ai.x), bv[j][0], acc[i][j]);
                acc[i][j] = fma(vec4(ai.y), bv[j][1], acc[i][j]);
                acc[i][j] = fma(vec4(ai.z), bv[j][2], acc[i][j]);
                acc[i][j] = fma(vec4(ai.w), bv[j][3], acc[i][j]);
            }
        }
        for (var i = 0u; i < RG * 8u; i++) {
            let ai = subgroupShuffle(av2[i / 8u], i % 8u);
            for (var j = 0u; j < CV; j++) {
                acc2[i][j] = fma(vec4(ai.x), bv[j][0], acc2[i][j]);
                acc2[i][j] = fma(vec4(ai.y), bv[j][1], acc2[i][j]);
                acc2[i][j] = fma(vec4(ai.z), bv[j][2], acc2[i][j]);
                acc2[i][j] = fma(vec4(ai.w), bv[j][3], acc2[i][j]);
            }
        }
    }
    for (var i = 0u; i < RG * 8u; i++) {
        for (var j = 0u; j < CV; j++) {
            let col = col0 + 32u * j + 4u * lane;
            for (var q = 0u; q < 4u; q++) {
                let row = row0 + i;
                if row < p.m && col + q < p.n { c[row * p.n + col + q] = acc[i][j][q]; }
                let row2 = row0 + 32u + i;
                if row2 < p.m && col + q < p.n { c[row2 * p.n + col + q] = acc2[i][j][q]; }
            }
        }
    }
}
