// Matrix products, explicit or implicit: C = A B where A is M x K, B is K x N, and each
// MODE says how an element of A, B and C is found in memory. Convolutions are implicit GEMMs:
// their B is a window of an image gathered on the fly (no im2col buffer is ever written).
//
// MODE 0, matmul: C[z] = op(A[z]) op(B[z]), op = optional transpose (TRANS_A, TRANS_B); A
//   stored [M, K] or [K, M], B [K, N] or [N, K], C [M, N]; a batch stride of 0 broadcasts.
//   Grid z is the batch.
// MODE 1, convolution: out[b, co, oy, ox] = sum_{ci, ky, kx} w[co, ci, ky, kx]
//   * x[b, ci, oy*s - p + ky*d, ox*s - p + kx*d]. A = w as [Co, Ci*kh*kw], B = the windows of
//   x, N = batch * Ho * Wo. Also the data gradient of a transposed convolution.
// MODE 2, transposed convolution: out[b, oc, oy, ox] = sum_{ic, ky, kx} w[ic, oc, ky, kx]
//   * x[b, ic, iy, ix] over oy = iy*s - p + ky*d. One dispatch per class of outputs with the
//   same (oy mod s, ox mod s): inside a class the taps that reach it form an arithmetic
//   progression (the host computes it), so no multiply-add is spent on zeros. Also the data
//   gradient of a convolution (w [Co, Ci, kh, kw] is already [ic, oc, ...] for it).
// MODE 3, weight gradient: dw[co, ci, ky, kx] = sum_{b, oy, ox} dy[b, co, oy, ox]
//   * x[b, ci, oy*s - p + ky*d, ox*s - p + kx*d]. A = dy, B = windows of x, K = batch * Ho * Wo.
//   Grid z splits K: layer z sums the images from z * (K / (Ho Wo)) on, A, B and C offset by
//   their batch strides (the host adds the layers up).
//
// BIAS adds bias[row] (1) or bias[col] (2) to every result.
//
// Bindings (group 0):
//   0  p     uniform Params
//   1  a     storage read
//   2  b     storage read
//   3  bias  storage read        (any buffer when BIAS is 0)
//   4  c     storage read_write
//
// Kernels take an element through "contexts": per row of C, per column of C and per k, each
// computed once, so the inner loop does no integer division. Coordinates can be negative
// (padding), hence i32.
//   row context: x = offset of the row in A, y = offset of the row in C
//   col context: x = offset of the column in B (its image, for gathers), y, z = the window's
//                top-left corner in the gathered image, w = offset of the column in C
//   k context:   x = offset in B (channel, for gathers), y, z = tap offset in the window,
//                w = offset in A
// gemm_tiled.wgsl (workgroup-memory tiles, for GPUs) and gemm_lanes.wgsl (one subgroup per
// workgroup, for software rasterisers) are each appended to this file; the host picks one.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
    c_batch_stride: u32,
    // The gathered image (modes 1-3) and the output or dy grid.
    src_h: i32,
    src_w: i32,
    src_image: u32,        // elements per image of the gathered tensor
    dst_w: u32,            // width of the output (modes 1, 2)
    dst_image: u32,        // elements per image of the output (modes 1, 2) or of dy (mode 3)
    dst_channel: u32,      // elements per channel of the output (modes 1, 2) or of dy (mode 3)
    grid_h: u32,           // positions per image that columns (modes 1, 2) or k (mode 3) run over
    grid_w: u32,
    kh: u32,
    kw: u32,
    stride: i32,
    pad: i32,
    dilation: i32,
    out_c: u32,            // mode 2: channels of the output, for the weight index
    // Mode 2: the class of outputs and the taps that reach it.
    class_y: u32,
    class_x: u32,
    taps_y: u32,
    taps_x: u32,
    tap0_y: u32,
    tap0_x: u32,
    tap_step_y: u32,
    tap_step_x: u32,
    shift_y: i32,          // input row of the class's first position, first tap
    shift_x: i32,
    src_step_y: i32,       // input rows between consecutive taps
    src_step_x: i32,
    // Mode 1 with interleave s > 1: a transposed convolution of stride s run as one
    // convolution over its input grid, rows (class_y, class_x, channel) with out_c channels;
    // grid position (y, x) of a class lands on output pixel (y s + class_y, x s + class_x).
    interleave: u32,
}

override MODE: u32 = 0u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BIAS: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn row_context(z: u32, row: u32) -> vec4i {
    switch MODE {
        case 0u: {
            let a_off = z * p.a_batch_stride + select(row * p.k, row, TRANS_A);
            return vec4i(i32(a_off), i32(z * p.c_batch_stride + row * p.n), 0, 0);
        }
        case 1u: {
            if p.interleave > 1u {
                let channel = div_rem(row, p.out_c);
                let cell = div_rem(channel.x, p.interleave);
                let at = channel.y * p.dst_channel + cell.x * p.dst_w + cell.y;
                return vec4i(i32(row * p.k), i32(at), 0, 0);
            }
            return vec4i(i32(row * p.k), i32(row * p.dst_channel), 0, 0);
        }
        case 2u: { return vec4i(i32(row * p.kh * p.kw), i32(row * p.dst_channel), 0, 0); }
        default: {
            return vec4i(i32(z * p.a_batch_stride + row * p.dst_channel),
                         i32(z * p.c_batch_stride + row * p.n), 0, 0);
        }
    }
}

fn col_context(z: u32, col: u32) -> vec4i {
    switch MODE {
        case 0u: {
            let b_off = z * p.b_batch_stride + select(col, col * p.k, TRANS_B);
            return vec4i(i32(b_off), 0, 0, i32(col));
        }
        case 1u: {
            let img = div_rem(col, p.grid_h * p.grid_w);
            let yx = div_rem(img.y, p.grid_w);
            let oy = i32(yx.x);
            let ox = i32(yx.y);
            let spread = max(p.interleave, 1u);
            return vec4i(i32(img.x * p.src_image), oy * p.stride - p.pad, ox * p.stride - p.pad,
                         stored_at(img.x * p.dst_image + yx.x * spread * p.dst_w, yx.y * spread));
        }
        case 2u: {
            let img = div_rem(col, p.grid_h * p.grid_w);
            let q = div_rem(img.y, p.grid_w);
            let oy = q.x * u32(p.stride) + p.class_y;
            let ox = q.y * u32(p.stride) + p.class_x;
            return vec4i(i32(img.x * p.src_image), i32(q.x) + p.shift_y, i32(q.y) + p.shift_x,
                         stored_at(img.x * p.dst_image + oy * p.dst_w, ox));
        }
        default: {
            let ci = div_rem(col, p.kh * p.kw);
            let tap = div_rem(ci.y, p.kw);
            return vec4i(i32(z * p.b_batch_stride) + i32(ci.x) * p.src_h * p.src_w,
                         i32(tap.x) * p.dilation, i32(tap.y) * p.dilation, i32(col));
        }
    }
}

// Offset in C of output column ox of the output row at row_start; -1 (not stored) past the
// output's width, where gemm_window_rows pads a grid row to a multiple of 4 columns.
fn stored_at(row_start: u32, ox: u32) -> i32 {
    return select(-1, i32(row_start + ox), ox < p.dst_w);
}

fn k_context(kk: u32) -> vec4i {
    switch MODE {
        case 0u: {
            return vec4i(i32(select(kk * p.n, kk, TRANS_B)), 0, 0, i32(select(kk, kk * p.m, TRANS_A)));
        }
        case 1u: {
            let ci = div_rem(kk, p.kh * p.kw);
            let tap = div_rem(ci.y, p.kw);
            return vec4i(i32(ci.x) * p.src_h * p.src_w, i32(tap.x) * p.dilation,
                         i32(tap.y) * p.dilation, i32(kk));
        }
        case 2u: {
            let ic = div_rem(kk, p.taps_y * p.taps_x);
            let t = div_rem(ic.y, p.taps_x);
            let ky = p.tap0_y + t.x * p.tap_step_y;
            let kx = p.tap0_x + t.y * p.tap_step_x;
            return vec4i(i32(ic.x) * p.src_h * p.src_w, -i32(t.x) * p.src_step_y,
                         -i32(t.y) * p.src_step_x, i32(ic.x * p.out_c * p.kh * p.kw + ky * p.kw + kx));
        }
        default: {
            let img = div_rem(kk, p.grid_h * p.grid_w);
            let yx = div_rem(img.y, p.grid_w);
            return vec4i(i32(img.x * p.src_image), i32(yx.x) * p.stride - p.pad,
                         i32(yx.y) * p.stride - p.pad, i32(img.x * p.dst_image + img.y));
        }
    }
}

fn a_value(row: vec4i, kc: vec4i) -> f32 {
    return a[row.x + kc.w];
}

// Outside the gathered image the value is 0 (padding); the index is clamped so the read
// stays inside the buffer.
fn b_value(col: vec4i, kc: vec4i) -> f32 {
    if MODE == 0u {
        return b[col.x + kc.x];
    }
    let iy = col.y + kc.y;
    let ix = col.z + kc.z;
    let inside = iy >= 0 && iy < p.src_h && ix >= 0 && ix < p.src_w;
    let index = select(0, col.x + kc.x + iy * p.src_w + ix, inside);
    return select(0.0, b[index], inside);
}

fn c_index(row: vec4i, col: vec4i) -> i32 {
    return row.y + col.w;
}

fn with_bias(value: f32, row: u32, col: u32) -> f32 {
    switch BIAS {
        case 1u: { return value + bias[row]; }
        case 2u: { return value + bias[col]; }
        default: { return value; }
    }
}
