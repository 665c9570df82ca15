// Appended to cppn_common.wgsl. Needs subgroup operations, one subgroup per workgroup.
//
// A workgroup is one subgroup of LANES invocations, a pixel each. Weights are read LANES at a
// time, lane l reading the l-th, and subgroupShuffle(value, j) hands lane j's to all: one
// storage load feeds LANES multiply-adds in every lane. The lanes of a tile's last, partial
// workgroup compute a clamped pixel and skip the store, so every lane takes part in every
// shuffle. Weights past a layer's width are loaded as 0, which the activations past it (0,
// never written) meet harmlessly.

override LANES: u32 = 8u;

// Lane `lane`'s share of the LANES values starting at `start` of a row ending at `end`.
fn lane_value(start: u32, lane: u32, end: u32) -> f32 {
    let at = start + lane;
    return select(0.0, w[min(at, end - 1u)], at < end);
}

@compute @workgroup_size(LANES)
fn cppn_render_lanes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lane: u32) {
    let i = (wid.x + wid.y * nwg.x) * LANES + lane;
    let pixels = p.rows * p.width;
    let xyr = coordinates_of(min(i, pixels - 1u));
    let n = UNITS;
    var h: array<f32, MAX_UNITS>;
    var next: array<f32, MAX_UNITS>;
    for (var u0 = 0u; u0 < n; u0 += LANES) {
        let from_z = lane_value(u0, lane, n);
        let wx = lane_value(n + 3u * u0, 3u * lane, 4u * n);
        let wy = lane_value(n + 3u * u0, 3u * lane + 1u, 4u * n);
        let wr = lane_value(n + 3u * u0, 3u * lane + 2u, 4u * n);
        for (var j = 0u; j < LANES; j++) {
            let pre = subgroupShuffle(from_z, j) + subgroupShuffle(wx, j) * xyr.x
                + subgroupShuffle(wy, j) * xyr.y + subgroupShuffle(wr, j) * xyr.z;
            if u0 + j < n {
                h[u0 + j] = softplus(pre);
            }
        }
    }
    var at = 4u * n;
    for (var layer = 0u; layer < HIDDEN; layer++) {
        let bias = at + n * n;
        for (var u = 0u; u < n; u++) {
            let row_at = at + u * n;
            var s = w[bias + u];
            for (var v0 = 0u; v0 < n; v0 += LANES) {
                let mine = lane_value(row_at + v0, lane, row_at + n);
                for (var j = 0u; j < LANES; j++) {
                    s = fma(subgroupShuffle(mine, j), h[min(v0 + j, MAX_UNITS - 1u)], s);
                }
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
        let row_at = at + c * n;
        var s = w[at + CHANNELS * n + c];
        for (var v0 = 0u; v0 < n; v0 += LANES) {
            let mine = lane_value(row_at + v0, lane, row_at + n);
            for (var j = 0u; j < LANES; j++) {
                s = fma(subgroupShuffle(mine, j), h[min(v0 + j, MAX_UNITS - 1u)], s);
            }
        }
        bytes[c] = to_byte(s);
    }
    if i < pixels {
        out[i] = pack_pixel(bytes);
    }
}
