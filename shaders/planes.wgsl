// Maps between NCHW planes of two sizes where every output is a separable weighted sum of
// input pixels, out[oy, ox] = sum_{i, j} w(i, oy) w(j, ox) x[i, j], and the transposes for
// the gradients. MODE picks the per-axis weights w(i, o) and the inputs output o reads:
//   0  average pooling, fixed windows (AvgPool2d: kernel k, stride s, no padding): 1 / k on
//      [o s, o s + k)
//   1  average pooling, PyTorch's adaptive windows [floor(o H / OH), ceil((o + 1) H / OH)):
//      1 / window length
//   2  nearest resize: 1 at floor(o * in / out)
//   3  bilinear resize, PyTorch's align_corners=False: source (o + 0.5) in / out - 0.5
//      clamped at 0, weights 1 - f and f on its two neighbours
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  x    storage read        planes * in_h * in_w (forward) / planes * out_h * out_w (dy)
//   2  out  storage read_write  planes * out_h * out_w (forward) / planes * in_h * in_w (dx)
//
// plane_map: one thread per output. plane_map_grad: one thread per input element, gathering
// dy times its weight from every output that read it (no atomics: each element is written
// once). Grid: ceil(elements / 256) workgroups of 256 (2-D when large).

struct Params {
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel: u32,
    stride: u32,
}

override MODE: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const FIXED: u32 = 0u;
const ADAPTIVE: u32 = 1u;
const NEAREST: u32 = 2u;

// Bilinear: (first source, second source, weight of the second).
fn bilinear(o: u32, size: u32, outs: u32) -> vec3f {
    let src = max((f32(o) + 0.5) * f32(size) / f32(outs) - 0.5, 0.0);
    let i0 = min(floor(src), f32(size - 1u));
    return vec3f(i0, min(i0 + 1.0, f32(size - 1u)), src - i0);
}

// The inputs [first, last) that output o reads along an axis of `size` mapped to `outs`.
fn support(o: u32, size: u32, outs: u32) -> vec2u {
    switch MODE {
        case FIXED: { return vec2u(o * p.stride, o * p.stride + p.kernel); }
        case ADAPTIVE: { return vec2u((o * size) / outs, ((o + 1u) * size + outs - 1u) / outs); }
        case NEAREST: { let i = (o * size) / outs; return vec2u(i, i + 1u); }
        default: { let t = bilinear(o, size, outs); return vec2u(u32(t.x), u32(t.y) + 1u); }
    }
}

// Weight of input i in output o along an axis.
fn weight(i: u32, o: u32, size: u32, outs: u32) -> f32 {
    let s = support(o, size, outs);
    if i < s.x || i >= s.y { return 0.0; }
    switch MODE {
        case FIXED, ADAPTIVE: { return 1.0 / f32(s.y - s.x); }
        case NEAREST: { return 1.0; }
        default: {
            let t = bilinear(o, size, outs);
            return select(0.0, 1.0 - t.z, u32(t.x) == i) + select(0.0, t.z, u32(t.y) == i);
        }
    }
}

// Outputs along an axis that may read input i: [first, last), a superset for every mode.
fn readers(i: u32, size: u32, outs: u32) -> vec2u {
    if MODE == FIXED {
        let first = select(0u, (i + p.stride - p.kernel) / p.stride, i + 1u > p.kernel);
        return vec2u(first, min(i / p.stride + 1u, outs));
    }
    let first = (max(i, 1u) - 1u) * outs / size;
    return vec2u(select(first - 1u, 0u, first == 0u), min((i + 2u) * outs / size + 2u, outs));
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn plane_map(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.out_h * p.out_w { return; }
    let plane = i / (p.out_h * p.out_w);
    let oy = (i / p.out_w) % p.out_h;
    let ox = i % p.out_w;
    let sy = support(oy, p.in_h, p.out_h);
    let sx = support(ox, p.in_w, p.out_w);
    var sum = 0.0;
    for (var y = sy.x; y < sy.y; y++) {
        let wy = weight(y, oy, p.in_h, p.out_h);
        for (var x_ = sx.x; x_ < sx.y; x_++) {
            sum += wy * weight(x_, ox, p.in_w, p.out_w) * x[(plane * p.in_h + y) * p.in_w + x_];
        }
    }
    out[i] = sum;
}

@compute @workgroup_size(256)
fn plane_map_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.in_h * p.in_w { return; }
    let plane = i / (p.in_h * p.in_w);
    let iy = (i / p.in_w) % p.in_h;
    let ix = i % p.in_w;
    let ry = readers(iy, p.in_h, p.out_h);
    let rx = readers(ix, p.in_w, p.out_w);
    var sum = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        let wy = weight(iy, oy, p.in_h, p.out_h);
        if wy == 0.0 { continue; }
        for (var ox = rx.x; ox < rx.y; ox++) {
            sum += wy * weight(ix, ox, p.in_w, p.out_w) * x[(plane * p.out_h + oy) * p.out_w + ox];
        }
    }
    out[i] = sum;
}
