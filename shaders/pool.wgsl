// Average pooling over windows of NCHW planes: fixed windows (AvgPool2d: kernel k, stride s,
// no padding) or PyTorch's adaptive windows ([floor(o H / OH), ceil((o + 1) H / OH))).
//
// Bindings (group 0):
//   0  p    uniform Params
//   1  x    storage read        planes * in_h * in_w (forward) / planes * out_h * out_w (dy)
//   2  out  storage read_write  planes * out_h * out_w (forward) / planes * in_h * in_w (dx)
//
// avg_pool: one thread per output, the mean of its window.
// avg_pool_grad: one thread per input element, gathering dy / area from every window that
//   covers it (no atomics: each element is written once).
// Grid: ceil(elements / 256) workgroups of 256 (2-D when large).

struct Params {
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    kernel: u32,
    stride: u32,
}

override ADAPTIVE: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// [start, end) of output o's window along an axis of size `size` pooled to `outs`.
fn window(o: u32, size: u32, outs: u32) -> vec2u {
    if ADAPTIVE {
        return vec2u((o * size) / outs, ((o + 1u) * size + outs - 1u) / outs);
    }
    return vec2u(o * p.stride, o * p.stride + p.kernel);
}

// Outputs along an axis whose windows may cover input i: [first, last).
fn covering(i: u32, size: u32, outs: u32) -> vec2u {
    if ADAPTIVE {
        return vec2u((i * outs) / size, min(((i + 1u) * outs + size - 1u) / size, outs));
    }
    let first = select(0u, (i + p.stride - p.kernel) / p.stride, i + 1u > p.kernel);
    return vec2u(first, min(i / p.stride + 1u, outs));
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn avg_pool(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.out_h * p.out_w { return; }
    let plane = i / (p.out_h * p.out_w);
    let oy = (i / p.out_w) % p.out_h;
    let ox = i % p.out_w;
    let wy = window(oy, p.in_h, p.out_h);
    let wx = window(ox, p.in_w, p.out_w);
    var sum = 0.0;
    for (var y = wy.x; y < wy.y; y++) {
        for (var x_ = wx.x; x_ < wx.y; x_++) {
            sum += x[(plane * p.in_h + y) * p.in_w + x_];
        }
    }
    out[i] = sum / f32((wy.y - wy.x) * (wx.y - wx.x));
}

@compute @workgroup_size(256)
fn avg_pool_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p.planes * p.in_h * p.in_w { return; }
    let plane = i / (p.in_h * p.in_w);
    let iy = (i / p.in_w) % p.in_h;
    let ix = i % p.in_w;
    let ry = covering(iy, p.in_h, p.out_h);
    let rx = covering(ix, p.in_w, p.out_w);
    var sum = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        let wy = window(oy, p.in_h, p.out_h);
        if iy < wy.x || iy >= wy.y { continue; }
        for (var ox = rx.x; ox < rx.y; ox++) {
            let wx = window(ox, p.in_w, p.out_w);
            if ix < wx.x || ix >= wx.y { continue; }
            sum += x[(plane * p.out_h + oy) * p.out_w + ox] / f32((wy.y - wy.x) * (wx.y - wx.x));
        }
    }
    out[i] = sum;
}
