// Resizing NCHW planes: nearest (source index floor(o * in / out)) and bilinear with
// PyTorch's align_corners=False (source coordinate (o + 0.5) in / out - 0.5, clamped at 0).
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  x    storage read        planes * in_h * in_w (forward) / planes * out_h * out_w (dy)
//   2  out  storage read_write  planes * out_h * out_w (forward) / planes * in_h * in_w (dx)
//
// resample: one thread per output. resample_grad: one thread per input element, gathering
// dy times the weight it had in every output that read it.
// Grid: ceil(elements / 256) workgroups of 256 (2-D when large).

struct Params {
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
}

override BILINEAR: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Output o's two source indices along an axis and the weight of the second.
fn taps(o: u32, size: u32, outs: u32) -> vec3f {
    if !BILINEAR {
        let i = f32((o * size) / outs);
        return vec3f(i, i, 0.0);
    }
    let src = max((f32(o) + 0.5) * f32(size) / f32(outs) - 0.5, 0.0);
    let i0 = min(floor(src), f32(size - 1u));
    let i1 = min(i0 + 1.0, f32(size - 1u));
    return vec3f(i0, i1, src - i0);
}

// Weight of input i in output o along an axis.
fn weight(i: u32, o: u32, size: u32, outs: u32) -> f32 {
    let t = taps(o, size, outs);
    var w = 0.0;
    if u32(t.x) == i { w += 1.0 - t.z; }
    if u32(t.y) == i { w += t.z; }
    return w;
}

// Outputs along an axis that may read input i: [first, last).
fn readers(i: u32, size: u32, outs: u32) -> vec2u {
    let first = (max(i, 1u) - 1u) * outs / size;
    return vec2u(select(first - 1u, 0u, first == 0u), min((i + 2u) * outs / size + 2u, outs));
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn resample(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.out_h * p.out_w { return; }
    let plane = i / (p.out_h * p.out_w);
    let ty = taps((i / p.out_w) % p.out_h, p.in_h, p.out_h);
    let tx = taps(i % p.out_w, p.in_w, p.out_w);
    let base = plane * p.in_h;
    let v00 = x[(base + u32(ty.x)) * p.in_w + u32(tx.x)];
    let v01 = x[(base + u32(ty.x)) * p.in_w + u32(tx.y)];
    let v10 = x[(base + u32(ty.y)) * p.in_w + u32(tx.x)];
    let v11 = x[(base + u32(ty.y)) * p.in_w + u32(tx.y)];
    let top = v00 * (1.0 - tx.z) + v01 * tx.z;
    let bottom = v10 * (1.0 - tx.z) + v11 * tx.z;
    out[i] = top * (1.0 - ty.z) + bottom * ty.z;
}

@compute @workgroup_size(256)
fn resample_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
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
