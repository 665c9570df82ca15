// The second half of a transposed convolution computed as a product (src/ops/conv.rs,
// transposed_by_fold): cols[b, oc, ky, kx, iy, ix] = sum over ic of w[ic, oc, ky, kx]
// x[b, ic, iy, ix], and fold adds each to the output pixel its tap lands on (col2im):
//
//   out[b, oc, oy, ox] = bias[oc] + sum cols[b, oc, ky, kx, iy, ix]
//                        over oy = iy s - p + ky, ox = ix s - p + kx (dilation 1).
//
// The taps that reach oy are ky = (oy + p) mod s + s t for t = 0, 1, ..., at iy = (oy + p) / s
// - t; the loops run over t to constant bounds (TAPS_Y = ceil(kh / s), TAPS_X), a tap past the
// kernel or the input adding 0 through a clamped read, so no lane branches.
//
// Bindings (group 0):
//   0  p     uniform Params
//   1  cols  storage read        B * OC * kh * kw * H * W
//   2  bias  storage read        OC (any buffer when BIAS is false)
//   3  out   storage read_write  B * OC * out_h * out_w
// One thread per output value; grid: ceil(values / 256) workgroups of 256 (2-D when large).

struct Params {
    planes: u32,   // B * OC
    channels: u32, // OC
    h: u32,        // input size
    w: u32,
    out_h: u32,
    out_w: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
}

override TAPS_Y: u32 = 2u;
override TAPS_X: u32 = 2u;
override BIAS: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cols: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn fold(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * 256u + lid;
    let pixels = p.out_h * p.out_w;
    if i >= p.planes * pixels { return; }
    let plane = div_rem(i, pixels);
    let yx = div_rem(plane.y, p.out_w);
    let from_y = div_rem(yx.x + p.pad, p.stride);
    let from_x = div_rem(yx.y + p.pad, p.stride);
    let image = p.h * p.w;
    let plane_start = plane.x * p.kh * p.kw * image;
    var sum = 0.0;
    for (var ty = 0u; ty < TAPS_Y; ty++) {
        let ky = from_y.y + p.stride * ty;
        let iy = i32(from_y.x) - i32(ty);
        let row_valid = ky < p.kh && iy >= 0 && iy < i32(p.h);
        for (var tx = 0u; tx < TAPS_X; tx++) {
            let kx = from_x.y + p.stride * tx;
            let ix = i32(from_x.x) - i32(tx);
            let valid = row_valid && kx < p.kw && ix >= 0 && ix < i32(p.w);
            let at = plane_start + (ky * p.kw + kx) * image + u32(iy) * p.w + u32(ix);
            sum += select(0.0, cols[select(0u, at, valid)], valid);
        }
    }
    if BIAS {
        sum += bias[plane.x % p.channels];
    }
    out[i] = sum;
}
