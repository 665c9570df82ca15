// lab: tile_m=32 tile_n=64 workgroup=8
// v21: v13 with each B quad read as two vec4 loads and a shift by (k mod 4), as a window row
// at an unaligned start would be; A read as vec4 along k, B as vec4 along n (needs K % 4 == 0 and N % 4 == 0); lane l
// owns columns col0 + 4 l + {0..3} and col0 + 32 + 4 l + {0..3}.
struct Params { m: u32, n: u32, k: u32, a_batch_stride: u32, b_batch_stride: u32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const RG: u32 = 4u;   // groups of 8 rows
const CV: u32 = 2u;   // vec4 columns per lane
const KB: u32 = 4u;   // k per step

@compute @workgroup_size(8)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.y * RG * 8u;
    let col0 = wid.x * CV * 32u;
    let n4 = p.n / 4u;
    var a_row: array<u32, RG>;
    for (var g = 0u; g < RG; g++) { a_row[g] = min(row0 + 8u * g + lane, p.m - 1u) * p.k / 4u; }
    var b_col: array<u32, CV>;
    for (var j = 0u; j < CV; j++) { b_col[j] = min((col0 + 32u * j) / 4u + lane, n4 - 1u); }
    var acc: array<array<vec4<f32>, CV>, 32>;
    for (var k0 = 0u; k0 < p.k; k0 += KB) {
        var av: array<vec4<f32>, RG>;
        var bv: array<array<vec4<f32>, KB>, CV>;
        for (var g = 0u; g < RG; g++) { av[g] = a[a_row[g] + k0 / 4u]; }
        for (var u = 0u; u < KB; u++) {
            for (var j = 0u; j < CV; j++) {
                let at = (k0 + u) * n4 + b_col[j];
                let v0 = b[at];
                let v1 = b[min(at + 1u, arrayLength(&b) - 1u)];
                let m = (k0 + u) & 3u;
                var w = v0;
                w = select(w, vec4f(v0.yzw, v1.x), m == 1u);
                w = select(w, vec4f(v0.zw, v1.xy), m == 2u);
                w = select(w, vec4f(v0.w, v1.xyz), m == 3u);
                bv[j][u] = w;   // wrong values (shifted): timing only
            }
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
    }
    for (var i = 0u; i < RG * 8u; i++) {
        for (var j = 0u; j < CV; j++) {
            let row = row0 + i;
            let col = col0 + 32u * j + 4u * lane;
            for (var q = 0u; q < 4u; q++) {
                if row < p.m && col + q < p.n { c[row * p.n + col + q] = acc[i][j][q]; }
            }
        }
    }
}
