// Measures the adapter's f32 FMA rate with a register-only loop: eight independent vec4
// chains per thread so the FMA latency is hidden, four steps per loop iteration (the driver
// unrolls the inner loop) so loop control is negligible, and one store at the end so the
// compiler cannot drop the work. Each step is x = x * x + c, which no algebraic rewrite can
// merge across steps (x * m + c could be).
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  out  storage read_write   one f32 per thread
// Grid: threads / 64 workgroups of 64. FLOPs = threads * iterations * 8 * 4 * 2.

struct Params {
    iterations: u32,   // a multiple of 4
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn fma_peak(@builtin(global_invocation_id) gid: vec3u) {
    let seed = f32(gid.x % 64u) * 1e-3;
    var x0 = vec4f(seed, seed + 0.1, seed + 0.2, seed + 0.3);
    var x1 = x0 + 0.01;
    var x2 = x0 + 0.02;
    var x3 = x0 + 0.03;
    var x4 = x0 + 0.04;
    var x5 = x0 + 0.05;
    var x6 = x0 + 0.06;
    var x7 = x0 + 0.07;
    let c = vec4f(0.01);
    for (var i = 0u; i < p.iterations; i += 4u) {
        for (var u = 0u; u < 4u; u++) {
            x0 = fma(x0, x0, c);
            x1 = fma(x1, x1, c);
            x2 = fma(x2, x2, c);
            x3 = fma(x3, x3, c);
            x4 = fma(x4, x4, c);
            x5 = fma(x5, x5, c);
            x6 = fma(x6, x6, c);
            x7 = fma(x7, x7, c);
        }
    }
    let s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    out[gid.x] = s.x + s.y + s.z + s.w;
}

// Measures how fast the adapter moves memory: each thread copies one vec4 from src to dst,
// so a launch reads and writes 16 bytes per thread. The grid is linear
// (wid.x + wid.y * num_workgroups.x); p.iterations is the number of vec4s.
//
// Bindings (group 0): 0 p uniform; 2 src storage read; 3 dst storage read_write.

@group(0) @binding(2) var<storage, read> src: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4f>;

@compute @workgroup_size(64)
fn copy_bandwidth(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u,
                  @builtin(local_invocation_index) lane: u32) {
    let i = (wid.x + wid.y * groups.x) * 64u + lane;
    if i < p.iterations {
        dst[i] = src[i];
    }
}
