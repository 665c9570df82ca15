// Gaussian and Laplacian pyramids of NCHW planes (Burt and Adelson), with a 1-D kernel w of
// radius r (the binomial 1 4 6 4 1 / 16 by default) applied in both directions and the
// reflect border of blur.wgsl (mirror(k): ... 2 1 | 0 1 2 ...). r and w are pipeline
// constants (RADIUS, TAP0 ... TAP8), so the tap loops unroll into constants: read from a
// buffer, the weights cost a load each, and on software rasterisers a load is a loop over the
// SIMD lanes.
//
//   down(x)[y, x']   = sum_{a,b} w[a] w[b] x[mirror(2y + a), mirror(2x' + b)]
//                      (blur, then keep the even pixels: size ceil(h / 2) x ceil(w / 2))
//   expand(g)[y, x'] = 4 sum_{a,b} w[a] w[b] z(y + a, x' + b) at the finer size, where the
//                      zero-inserted z(k, l) = g[mirror(k) / 2, mirror(l) / 2] when k and l
//                      are even and 0 otherwise (Burt-Adelson's expand). The mirror keeps
//                      parity, so expand(constant) = constant up to the edges, and a
//                      1-pixel level expands to itself.
//   laplace(f, g)    = f - expand(g)          (one level: f fine, g = down(f))
//
// Bindings (group 0):
//   0  p       uniform Params
//   1  fine    storage read        planes * h * w (input of down; f of laplace; dL of expand_grad)
//   2  coarse  storage read        planes * ceil(h/2) * ceil(w/2) (g of laplace; dy of down_grad)
//   4  out     storage read_write
//
// pyramid_down:        out = down(fine), one thread per coarse pixel.
// pyramid_down_grad:   out = down^T(coarse) at the fine size, one thread per fine pixel.
// pyramid_laplace:     out = fine - expand(coarse), one thread per fine pixel.
// pyramid_expand_grad: out = -expand^T(fine) at the coarse size (laplace's gradient with
//                      respect to g), one thread per coarse pixel; with ADD, coarse[i] added.
// pyramid_down_grad adds fine[i] with ADD likewise: the Laplacian loss's backward sums each
// level's gradients in the kernels that make them. It also takes the gradient of each level's
// mean |L| where it is read, not from a tensor of its own: with FINE_SIGNS a value v of
// `fine` stands for upstream[0] fine_scale sign(v), with COARSE_SIGNS one of `coarse` for
// upstream[0] coarse_scale sign(v) (binding 3, upstream: the loss's incoming gradient).
// Grid: ceil(pixels / 256) workgroups of 256 (2-D when large).

struct Params {
    planes: u32,
    h: u32,          // fine size
    w: u32,
    fine_scale: f32,
    coarse_scale: f32,
}

override RADIUS: u32 = 2u;         // at most 4
override TAP0: f32 = 0.0;
override TAP1: f32 = 0.0;
override TAP2: f32 = 0.0;
override TAP3: f32 = 0.0;
override TAP4: f32 = 0.0;
override TAP5: f32 = 0.0;
override TAP6: f32 = 0.0;
override TAP7: f32 = 0.0;
override TAP8: f32 = 0.0;
override ADD: bool = false;
override FINE_SIGNS: bool = false;
override COARSE_SIGNS: bool = false;

// The weight of offset i - RADIUS (i = 0 ..= 2 RADIUS).
fn tap(i: i32) -> f32 {
    let w = array<f32, 9>(TAP0, TAP1, TAP2, TAP3, TAP4, TAP5, TAP6, TAP7, TAP8);
    return w[i];
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> fine: array<f32>;
@group(0) @binding(2) var<storage, read> coarse: array<f32>;
@group(0) @binding(3) var<storage, read> upstream: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// upstream[0], loaded once per thread by load_upstream (a load is a loop over the lanes on
// software rasterisers).
var<private> upstream_gradient: f32;

fn load_upstream() {
    if FINE_SIGNS || COARSE_SIGNS {
        upstream_gradient = upstream[0];
    }
}

// The gradient of a level's mean |L| at a value v of it, for `scale` = weight / count.
fn signed(v: f32, scale: f32) -> f32 {
    return upstream_gradient * scale * sign(v);
}

fn fine_value(i: u32) -> f32 {
    if FINE_SIGNS {
        return signed(fine[i], p.fine_scale);
    }
    return fine[i];
}

fn coarse_value(i: u32) -> f32 {
    if COARSE_SIGNS {
        return signed(coarse[i], p.coarse_scale);
    }
    return coarse[i];
}

fn ch() -> u32 { return (p.h + 1u) / 2u; }
fn cw() -> u32 { return (p.w + 1u) / 2u; }

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Sum of the taps t with mirror(centre + t) == to (and centre + t even when `even_only`): the
// weight pixel `to` has in the window centred at `centre`.
fn reach(centre: i32, to: i32, n: i32, even_only: bool) -> f32 {
    let r = i32(RADIUS);
    var sum = 0.0;
    for (var t = -r; t <= r; t++) {
        let k = centre + t;
        if mirror(k, n) == to && (!even_only || k % 2 == 0) { sum += tap(t + r); }
    }
    return sum;
}

@compute @workgroup_size(256)
fn pyramid_down(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * ch() * cw() { return; }
    let plane = i / (ch() * cw());
    let y = i32((i / cw()) % ch());
    let x_ = i32(i % cw());
    let r = i32(RADIUS);
    var sum = 0.0;
    for (var a = -r; a <= r; a++) {
        let row = (plane * p.h + u32(mirror(2 * y + a, i32(p.h)))) * p.w;
        var line = 0.0;
        for (var b = -r; b <= r; b++) {
            line += tap(b + r) * fine[row + u32(mirror(2 * x_ + b, i32(p.w)))];
        }
        sum += tap(a + r) * line;
    }
    out[i] = sum;
}

@compute @workgroup_size(256)
fn pyramid_down_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.h * p.w { return; }
    load_upstream();
    let plane = i / (p.h * p.w);
    let j = i32((i / p.w) % p.h);
    let k = i32(i % p.w);
    let r = i32(RADIUS);
    // Coarse pixels y whose window 2y - r .. 2y + r can reach j, also through the mirror
    // (then j is within r of the window centre's mirror image: |2y - j| <= r still holds): at
    // most r + 1 rows and columns from (y0, x0). The weights are separable, so each column's
    // is found once; the loops have constant bounds, past the last row or column weight 0.
    let y0 = max((j - r + 1) / 2, 0);
    let y1 = min((j + r) / 2, i32(ch()) - 1);
    let x0 = max((k - r + 1) / 2, 0);
    let x1 = min((k + r) / 2, i32(cw()) - 1);
    var wx: array<f32, 5>;
    for (var d = 0; d <= r; d++) {
        wx[d] = select(0.0, reach(2 * (x0 + d), k, i32(p.w), false), x0 + d <= x1);
    }
    var sum = 0.0;
    for (var e = 0; e <= r; e++) {
        let y = min(y0 + e, y1);
        let wy = select(0.0, reach(2 * y, j, i32(p.h), false), y0 + e <= y1);
        let row = (plane * ch() + u32(y)) * cw();
        var line = 0.0;
        for (var d = 0; d <= r; d++) {
            line += wx[d] * coarse[row + u32(min(x0 + d, x1))];
        }
        sum += wy * line;
    }
    out[i] = select(0.0, fine_value(i), ADD) + sum;
}

@compute @workgroup_size(256)
fn pyramid_laplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.h * p.w { return; }
    let plane = i / (p.h * p.w);
    let y = i32((i / p.w) % p.h);
    let x_ = i32(i % p.w);
    let r = i32(RADIUS);
    // Only offsets with y + a (and x + b) even reach a coarse pixel: a = first_y + 2 s. The
    // loops run over s, so their bounds and weight indices are constants (the weight of a is
    // tap(2 s) or tap(2 s + 1) by parity); a past r gets weight 0.
    let first_y = -r + ((y + r) & 1);
    let first_x = -r + ((x_ + r) & 1);
    var expanded = 0.0;
    for (var sy = 0; sy <= r; sy++) {
        let a = min(first_y + 2 * sy, r);
        let wy = select(0.0, select(tap(min(2 * sy + 1, 2 * r)), tap(2 * sy), first_y == -r),
                        first_y + 2 * sy <= r);
        let row = (plane * ch() + u32(mirror(y + a, i32(p.h)) / 2)) * cw();
        var line = 0.0;
        for (var sx = 0; sx <= r; sx++) {
            let b = min(first_x + 2 * sx, r);
            let wx = select(0.0, select(tap(min(2 * sx + 1, 2 * r)), tap(2 * sx), first_x == -r),
                            first_x + 2 * sx <= r);
            line += wx * coarse[row + u32(mirror(x_ + b, i32(p.w)) / 2)];
        }
        expanded += wy * line;
    }
    out[i] = fine[i] - 4.0 * expanded;
}

@compute @workgroup_size(256)
fn pyramid_expand_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * ch() * cw() { return; }
    load_upstream();
    let plane = i / (ch() * cw());
    let py = i32((i / cw()) % ch());
    let px = i32(i % cw());
    let r = i32(RADIUS);
    // Fine pixels y whose window y - r .. y + r can reach the zero-inserted pixel 2 py: 2 r + 1
    // rows and columns from (y0, x0), with separable weights found once per column, as in
    // pyramid_down_grad.
    let y0 = max(2 * py - r, 0);
    let y1 = min(2 * py + r, i32(p.h) - 1);
    let x0 = max(2 * px - r, 0);
    let x1 = min(2 * px + r, i32(p.w) - 1);
    var wx: array<f32, 9>;
    for (var d = 0; d <= 2 * r; d++) {
        wx[d] = select(0.0, reach(x0 + d, 2 * px, i32(p.w), true), x0 + d <= x1);
    }
    var sum = 0.0;
    for (var e = 0; e <= 2 * r; e++) {
        let y = min(y0 + e, y1);
        let wy = select(0.0, reach(y, 2 * py, i32(p.h), true), y0 + e <= y1);
        let row = (plane * p.h + u32(y)) * p.w;
        var line = 0.0;
        for (var d = 0; d <= 2 * r; d++) {
            line += wx[d] * fine_value(row + u32(min(x0 + d, x1)));
        }
        sum += wy * line;
    }
    out[i] = select(0.0, coarse_value(i), ADD) - 4.0 * sum;
}
