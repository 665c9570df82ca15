// SSIM (Wang et al. 2004) between planes x and y with a Gaussian window w of radius r
// (11 x 11, sigma 1.5 by default), over the valid area (no padding: the map is
// (h - 2r) x (w - 2r)), as scikit-image's structural_similarity with gaussian_weights=True
// and use_sample_covariance=False:
//   mu_x = w * x,  E_xx = w * x^2,  E_xy = w * xy  (likewise for y), windows applied
//   separably; s_x^2 = E_xx - mu_x^2, s_xy = E_xy - mu_x mu_y;
//   S = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
//   C1 = (0.01 L)^2, C2 = (0.03 L)^2 for data range L.
// The five windowed moments are computed once (two separable passes), not per pixel from
// scratch; the backward runs the same passes transposed.
//
// Bindings (group 0):
//   0  p       uniform Params
//   1  x       storage read        planes * h * w
//   2  y       storage read        planes * h * w
//   3  taps    storage read        2r + 1 weights
//   4  src     storage read        moments or their gradients (5 maps), or dS
//   5  out     storage read_write
//   6  out2    storage read_write  (ssim_grad_h: dy)
//
// ssim_moments_h: out[k, p, i, j] = sum_t w[t] f_k[p, i, j + t], f = (x, y, x^2, y^2, xy);
//                 5 maps of planes * h * ow.
// ssim_moments_v: out[k, p, i, j] = sum_t w[t] src[k, p, i + t, j]; 5 maps of planes * oh * ow.
// ssim_map:       out = S from the 5 moment maps in src.
// ssim_map_grad:  out[k] = dS/d(moment k) * dS (src holds the moments, x holds dS here).
// ssim_grad_v:    out[k, p, i, j] = sum_t w[t] src[k, p, i - t, j] (transposed vertical).
// ssim_grad_h:    dx = H(G0) + 2x H(G2) + y H(G4), dy = H(G1) + 2y H(G3) + x H(G4), with
//                 H(G)[i, j] = sum_t w[t] G[i, j - t] the transposed horizontal pass.
// Grid: ceil(elements / 256) workgroups of 256 (2-D when large).

struct Params {
    planes: u32,
    h: u32,
    w: u32,
    radius: u32,
    c1: f32,
    c2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> taps: array<f32>;
@group(0) @binding(4) var<storage, read> src: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> out2: array<f32>;

fn oh() -> u32 { return p.h - 2u * p.radius; }
fn ow() -> u32 { return p.w - 2u * p.radius; }

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn ssim_moments_h(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    let map = p.planes * p.h * ow();
    if i >= map { return; }
    let row = i / ow();            // plane * h + image row
    let col = i % ow();
    var m = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
    for (var t = 0u; t <= 2u * p.radius; t++) {
        let at = row * p.w + col + t;
        let a = x[at];
        let b = y[at];
        let wt = taps[t];
        m[0] += wt * a;
        m[1] += wt * b;
        m[2] += wt * a * a;
        m[3] += wt * b * b;
        m[4] += wt * a * b;
    }
    for (var k = 0u; k < 5u; k++) {
        out[k * map + i] = m[k];
    }
}

@compute @workgroup_size(256)
fn ssim_moments_v(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    let map = p.planes * oh() * ow();
    if i >= 5u * map { return; }
    let k = i / map;
    let e = i % map;
    let plane = e / (oh() * ow());
    let r = (e / ow()) % oh();
    let c = e % ow();
    let base = k * p.planes * p.h * ow() + (plane * p.h + r) * ow() + c;
    var sum = 0.0;
    for (var t = 0u; t <= 2u * p.radius; t++) {
        sum += taps[t] * src[base + t * ow()];
    }
    out[i] = sum;
}

struct Terms {
    a1: f32,
    a2: f32,
    b1: f32,
    b2: f32,
}

fn terms(e: u32, map: u32) -> Terms {
    let mx = src[e];
    let my = src[map + e];
    let sxx = src[2u * map + e] - mx * mx;
    let syy = src[3u * map + e] - my * my;
    let sxy = src[4u * map + e] - mx * my;
    return Terms(2.0 * mx * my + p.c1, 2.0 * sxy + p.c2, mx * mx + my * my + p.c1, sxx + syy + p.c2);
}

@compute @workgroup_size(256)
fn ssim_map(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let map = p.planes * oh() * ow();
    if e >= map { return; }
    let t = terms(e, map);
    out[e] = t.a1 * t.a2 / (t.b1 * t.b2);
}

@compute @workgroup_size(256)
fn ssim_map_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let map = p.planes * oh() * ow();
    if e >= map { return; }
    let t = terms(e, map);
    let mx = src[e];
    let my = src[map + e];
    let b = t.b1 * t.b2;
    let s = t.a1 * t.a2 / b;
    let g = x[e];                  // dS for this pixel
    let shared_term = (t.a2 - t.a1) / b;
    let edge = s * (1.0 / t.b1 - 1.0 / t.b2);
    out[e] = g * 2.0 * (my * shared_term - mx * edge);
    out[map + e] = g * 2.0 * (mx * shared_term - my * edge);
    out[2u * map + e] = -g * s / t.b2;
    out[3u * map + e] = -g * s / t.b2;
    out[4u * map + e] = g * 2.0 * t.a1 / b;
}

@compute @workgroup_size(256)
fn ssim_grad_v(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    let map = p.planes * p.h * ow();
    if i >= 5u * map { return; }
    let k = i / map;
    let e = i % map;
    let plane = e / (p.h * ow());
    let r = i32((e / ow()) % p.h);
    let c = e % ow();
    let base = k * p.planes * oh() * ow() + plane * oh() * ow() + c;
    var sum = 0.0;
    for (var t = 0; t <= 2 * i32(p.radius); t++) {
        let row = r - t;
        if row >= 0 && row < i32(oh()) {
            sum += taps[u32(t)] * src[base + u32(row) * ow()];
        }
    }
    out[i] = sum;
}

@compute @workgroup_size(256)
fn ssim_grad_h(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.h * p.w { return; }
    let row = i / p.w;             // plane * h + image row
    let col = i32(i % p.w);
    let map = p.planes * p.h * ow();
    var g = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
    for (var t = 0; t <= 2 * i32(p.radius); t++) {
        let c = col - t;
        if c >= 0 && c < i32(ow()) {
            let at = row * ow() + u32(c);
            for (var k = 0u; k < 5u; k++) {
                g[k] += taps[u32(t)] * src[k * map + at];
            }
        }
    }
    let a = x[i];
    let b = y[i];
    out[i] = g[0] + 2.0 * a * g[2] + b * g[4];
    out2[i] = g[1] + 2.0 * b * g[3] + a * g[4];
}
