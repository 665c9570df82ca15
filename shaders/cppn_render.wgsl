// Appended to cppn_common.wgsl: one invocation per pixel, every weight read by each.

@compute @workgroup_size(64)
fn cppn_render(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid;
    if i >= p.rows * p.width {
        return;
    }
    let xyr = coordinates_of(i);
    let n = UNITS;
    var h: array<f32, MAX_UNITS>;
    var next: array<f32, MAX_UNITS>;
    for (var u = 0u; u < n; u++) {
        let c = n + 3u * u;
        h[u] = softplus(w[u] + w[c] * xyr.x + w[c + 1u] * xyr.y + w[c + 2u] * xyr.z);
    }
    var at = 4u * n;
    for (var layer = 0u; layer < HIDDEN; layer++) {
        let bias = at + n * n;
        for (var u = 0u; u < n; u++) {
            var s = w[bias + u];
            let row_at = at + u * n;
            for (var v = 0u; v < n; v++) {
                s = fma(w[row_at + v], h[v], s);
            }
            next[u] = safe_tanh(s);
        }
        for (var u = 0u; u < n; u++) {
            h[u] = next[u];
        }
        at = bias + n;
    }
    var bytes = array<u32, 4>(0u, 0u, 0u, 255u);
    for (var c = 0u; c < CHANNELS; c++) {
        var s = w[at + CHANNELS * n + c];
        for (var v = 0u; v < n; v++) {
            s = fma(w[at + c * n + v], h[v], s);
        }
        bytes[c] = to_byte(s);
    }
    out[i] = pack_pixel(bytes);
}
