//! 2-D convolution and transposed convolution, forward and backward, as implicit GEMMs
//! (modes 1-3 of shaders/gemm_common.wgsl). Sizes follow PyTorch's Conv2d and
//! ConvTranspose2d exactly; weights use PyTorch's layouts ([Co, Ci, kh, kw] and
//! [Ci, Co, kh, kw]).

use crate::autograd::{no_grad, record_layer};
use crate::gpu::Kernel;
use crate::gpu::scope::weight_gradient;
use crate::ops::gemm::{BiasAlong, Gemm, GemmKernel, GemmParams, Mode};
use crate::ops::shaders::FOLD;
use crate::tensor::Tensor;

/// Output channels up to which a transposed convolution (or a convolution's data gradient)
/// runs as a product and a fold (`transposed_by_fold`) instead of a GEMM per stride class.
const FOLD_MAX_CHANNELS: usize = 4;

/// Rows (output channels x stride^2) up to which a strided transposed convolution with more
/// than FOLD_MAX_CHANNELS outputs runs as one convolution over its input grid
/// (`transposed_as_subpixel_conv`): `conv_lab` measured t:192,32,16,8,2 (the VAE-GAN
/// discriminator's second data gradient) at 53-60 ms as four GEMMs of 8 rows and 29-33 ms as
/// one of 32 rows, where with 16 outputs (64 rows) the four GEMMs were already the faster.
const SUBPIXEL_MAX_ROWS: usize = 32;

/// Stride, padding and dilation, the same along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl ConvGeometry {
    pub const fn new(stride: usize, padding: usize) -> Self {
        ConvGeometry {
            stride,
            padding,
            dilation: 1,
        }
    }

    /// Conv2d output size: floor((size + 2p - d (k - 1) - 1) / s) + 1, or None when the
    /// dilated kernel does not fit.
    pub fn conv_out(&self, size: usize, kernel: usize) -> Option<usize> {
        let span = self.dilation * (kernel - 1) + 1;
        let padded = size + 2 * self.padding;
        (padded >= span).then(|| (padded - span) / self.stride + 1)
    }

    /// ConvTranspose2d output size: (size - 1) s - 2p + d (k - 1) + output_padding + 1, or
    /// None when the padding removes everything.
    pub fn transposed_out(
        &self,
        size: usize,
        kernel: usize,
        output_padding: usize,
    ) -> Option<usize> {
        let full = (size - 1) * self.stride + self.dilation * (kernel - 1) + output_padding + 1;
        full.checked_sub(2 * self.padding).filter(|&s| s > 0)
    }
}

fn dims4(t: &Tensor, what: &str) -> [usize; 4] {
    match *t.dims() {
        [a, b, c, d] => [a, b, c, d],
        _ => panic!("{what} must be 4-D (NCHW), got {}", t.shape()),
    }
}

/// The dimensions of a convolution's input and weight, checked to agree on the input
/// channels, which the weight holds along `weight_input_axis`.
fn conv_operands(
    x: &Tensor,
    w: &Tensor,
    what: &str,
    weight_input_axis: usize,
) -> ([usize; 4], [usize; 4]) {
    let x_dims = dims4(x, &format!("{what} input"));
    let w_dims = dims4(w, &format!("{what} weight"));
    assert_eq!(
        x_dims[1], w_dims[weight_input_axis],
        "{what}: input has {} channels, weight expects {}",
        x_dims[1], w_dims[weight_input_axis]
    );
    (x_dims, w_dims)
}

/// The taps of a transposed convolution that reach outputs with coordinate = class (mod s):
/// (first tap, step between taps, count, input coordinate of the class's first output for
/// the first tap, input steps between taps).
fn class_taps(class: usize, g: ConvGeometry, kernel: usize) -> (u32, u32, u32, i32, i32) {
    let (s, p, d) = (g.stride as i64, g.padding as i64, g.dilation as i64);
    let reach = |k: i64| (class as i64 + p - k * d).rem_euclid(s) == 0;
    let taps: Vec<i64> = (0..kernel as i64).filter(|&k| reach(k)).collect();
    let Some(&first) = taps.first() else {
        return (0, 1, 0, 0, 0);
    };
    let step = if taps.len() > 1 { taps[1] - taps[0] } else { 1 };
    let shift = (class as i64 + p - first * d) / s;
    (
        first as u32,
        step as u32,
        taps.len() as u32,
        shift as i32,
        (step * d / s) as i32,
    )
}

/// The fields every convolution GEMM shares: an (m x k) (k x n) product over an image of
/// `channels` x h x w gathered in kh x kw windows at geometry g, against a grid of
/// `out_channels` x ho x wo.
fn window_params(
    (m, n, k): (usize, usize, usize),
    channels: usize,
    (h, w): (usize, usize),
    out_channels: usize,
    (ho, wo): (usize, usize),
    (kh, kw): (usize, usize),
    g: ConvGeometry,
) -> GemmParams {
    GemmParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        src_h: h as i32,
        src_w: w as i32,
        src_image: (channels * h * w) as u32,
        dst_w: wo as u32,
        dst_image: (out_channels * ho * wo) as u32,
        dst_channel: (ho * wo) as u32,
        grid_h: ho as u32,
        grid_w: wo as u32,
        kh: kh as u32,
        kw: kw as u32,
        stride: g.stride as i32,
        pad: g.padding as i32,
        dilation: g.dilation as i32,
        ..GemmParams::default()
    }
}

/// One GEMM over the windows of a convolution: a single batch, the bias along the rows.
fn launch_window_gemm(
    mode: Mode,
    params: GemmParams,
    (a, b, bias): (&Tensor, &Tensor, Option<&Tensor>),
    out: &Tensor,
    kernel: GemmKernel,
) {
    Gemm {
        mode,
        params,
        batch: 1,
        a,
        b,
        bias: bias.map(|bias| (bias, BiasAlong::Rows)),
        out,
        kernel,
    }
    .launch();
}

/// y = conv(x, w) + bias: x [B, Ci, H, W], w [Co, Ci, kh, kw] -> [B, Co, Ho, Wo].
fn conv_raw(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
    kernel: GemmKernel,
) -> Tensor {
    let ([batch, ci, h, wd], [co, _, kh, kw]) = conv_operands(x, w, "conv2d", 1);
    let ho = g
        .conv_out(h, kh)
        .unwrap_or_else(|| panic!("conv2d: kernel {kh} does not fit height {h}"));
    let wo = g
        .conv_out(wd, kw)
        .unwrap_or_else(|| panic!("conv2d: kernel {kw} does not fit width {wd}"));
    let out = Tensor::uninit(x.gpu(), &[batch, co, ho, wo]);
    launch_window_gemm(
        Mode::Conv,
        window_params(
            (co, (batch * ho * wo), (ci * kh * kw)),
            ci,
            (h, wd),
            co,
            (ho, wo),
            (kh, kw),
            g,
        ),
        (w, x, bias),
        &out,
        kernel,
    );
    out
}

/// out[b, oc, oy, ox] = sum w[ic, oc, ky, kx] x[b, ic, iy, ix] over oy = iy s - p + ky d:
/// x [B, IC, H, W], w [IC, OC, kh, kw] -> [B, OC, out_h, out_w]. One launch per class of
/// output coordinates modulo the stride.
#[allow(clippy::too_many_arguments)]
fn transposed_raw(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
    out_h: usize,
    out_w: usize,
    kernel: GemmKernel,
) -> Tensor {
    let ([batch, ic, h, wd], [_, oc, kh, kw]) = conv_operands(x, w, "transposed convolution", 0);
    if oc <= FOLD_MAX_CHANNELS && g.dilation == 1 {
        if let Some((turned, geometry)) = stride_one_as_conv(w, g) {
            return conv_raw(x, &turned, bias, geometry, kernel);
        }
        return transposed_by_fold(x, w, bias, g, (out_h, out_w), kernel);
    }
    if let Some(out) = transposed_as_subpixel_conv(x, w, bias, g, (out_h, out_w), kernel) {
        return out;
    }
    let out = Tensor::uninit(x.gpu(), &[batch, oc, out_h, out_w]);
    let s = g.stride;
    for class_y in 0..s.min(out_h) {
        for class_x in 0..s.min(out_w) {
            let (tap0_y, tap_step_y, taps_y, shift_y, src_step_y) = class_taps(class_y, g, kh);
            let (tap0_x, tap_step_x, taps_x, shift_x, src_step_x) = class_taps(class_x, g, kw);
            let grid_h = (out_h - class_y).div_ceil(s);
            let grid_w = (out_w - class_x).div_ceil(s);
            launch_window_gemm(
                Mode::Transposed,
                GemmParams {
                    grid_h: grid_h as u32,
                    grid_w: grid_w as u32,
                    out_c: oc as u32,
                    class_y: class_y as u32,
                    class_x: class_x as u32,
                    taps_y,
                    taps_x,
                    tap0_y,
                    tap0_x,
                    tap_step_y,
                    tap_step_x,
                    shift_y,
                    shift_x,
                    src_step_y,
                    src_step_x,
                    ..window_params(
                        (oc, batch * grid_h * grid_w, ic * (taps_y * taps_x) as usize),
                        ic,
                        (h, wd),
                        oc,
                        (out_h, out_w),
                        (kh, kw),
                        g,
                    )
                },
                (w, x, bias),
                &out,
                kernel,
            );
        }
    }
    out
}

/// The input offsets d (input row = output grid row + d) that some tap of a transposed
/// convolution reaches along an axis of `kernel` taps, over all stride classes, as
/// (lowest, count): class c's tap k reaches d = (c + p - k) / s where that divides.
fn subpixel_offsets(g: ConvGeometry, kernel: usize) -> (i64, usize) {
    let (s, p, k) = (g.stride as i64, g.padding as i64, kernel as i64);
    // ceil((p - k + 1) / s), the lowest over the classes (class 0's).
    let lowest = -(k - 1 - p).div_euclid(s);
    let highest = (s - 1 + p).div_euclid(s);
    (lowest, (highest - lowest + 1) as usize)
}

/// `transposed_raw` at stride s > 1 as one stride-1 convolution over the input grid with
/// s^2 OC outputs, one per (class_y, class_x, oc), each reading the taps of its class (zero
/// weights where its class has none), each stored straight to its pixel (`interleave` in
/// shaders/gemm_common.wgsl): a GEMM of s^2 times the rows, so each loaded image value feeds
/// that many more multiply-adds, for a few more of them (9 taps per class against 6.25 for
/// 5 x 5 at stride 2). None past SUBPIXEL_MAX_ROWS rows, past 1.5 times the multiply-adds,
/// or when the output is not whole grid cells or the padding differs between the axes.
fn transposed_as_subpixel_conv(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
    (out_h, out_w): (usize, usize),
    kernel: GemmKernel,
) -> Option<Tensor> {
    let ([batch, ic, h, wd], [_, oc, kh, kw]) = conv_operands(x, w, "transposed convolution", 0);
    let s = g.stride;
    let (low_y, taps_y) = subpixel_offsets(g, kh);
    let (low_x, taps_x) = subpixel_offsets(g, kw);
    let (grid_h, grid_w) = (out_h / s, out_w / s);
    let padding = usize::try_from(-low_y).ok()?;
    let geometry = ConvGeometry::new(1, padding);
    // 4 x 4 at stride 2 would do 36 multiply-adds for 16 and measured slower.
    let fits = s > 1
        && s * s * oc <= SUBPIXEL_MAX_ROWS
        && 2 * s * s * taps_y * taps_x <= 3 * kh * kw
        && g.dilation == 1
        && low_x == low_y
        && out_h % s == 0
        && out_w % s == 0
        && geometry.conv_out(h, taps_y) == Some(grid_h)
        && geometry.conv_out(wd, taps_x) == Some(grid_w);
    if !fits {
        return None;
    }
    // Each weight of the convolution is an index into w's values, or past them for a zero.
    let zero = ic * oc * kh * kw;
    let tap = |class: usize, j: usize, low: i64, k: usize| {
        let t = (class + g.padding) as i64 - (j as i64 + low) * s as i64;
        (0..k as i64).contains(&t).then_some(t as usize)
    };
    let mut picks = Vec::with_capacity(s * s * oc * ic * taps_y * taps_x);
    for class_y in 0..s {
        for class_x in 0..s {
            for o in 0..oc {
                for i in 0..ic {
                    for jy in 0..taps_y {
                        for jx in 0..taps_x {
                            let index =
                                match (tap(class_y, jy, low_y, kh), tap(class_x, jx, low_x, kw)) {
                                    (Some(ky), Some(kx)) => ((i * oc + o) * kh + ky) * kw + kx,
                                    _ => zero,
                                };
                            picks.push(index);
                        }
                    }
                }
            }
        }
    }
    let gpu = x.gpu();
    let table = Tensor::concat(
        &[
            &w.detach().reshape(&[zero, 1]),
            &Tensor::zeros(gpu, &[1, 1]),
        ],
        0,
    );
    let weights = table
        .gather_rows(&picks)
        .reshape(&[s * s * oc, ic, taps_y, taps_x]);
    let class_bias = bias.map(|b| {
        let repeated: Vec<usize> = (0..s * s).flat_map(|_| 0..oc).collect();
        b.detach()
            .reshape(&[oc, 1])
            .gather_rows(&repeated)
            .reshape(&[s * s * oc])
    });
    let out = Tensor::uninit(gpu, &[batch, oc, out_h, out_w]);
    launch_window_gemm(
        Mode::Conv,
        GemmParams {
            dst_w: out_w as u32,
            dst_channel: (out_h * out_w) as u32,
            dst_image: (oc * out_h * out_w) as u32,
            out_c: oc as u32,
            interleave: s as u32,
            ..window_params(
                (s * s * oc, batch * grid_h * grid_w, ic * taps_y * taps_x),
                ic,
                (h, wd),
                oc,
                (grid_h, grid_w),
                (taps_y, taps_x),
                geometry,
            )
        },
        (&weights, x, class_bias.as_ref()),
        &out,
        kernel,
    );
    Some(out)
}

/// A transposed convolution of stride 1 is the convolution with the kernel turned half a
/// turn, its in and out channels swapped and padding k - 1 - p: (w' [OC, IC, kh, kw], its
/// geometry), where that convolution beats the product and fold. With few input channels the
/// fold's product has a short sum (K = IC) and writes kh kw values per output: `conv_lab`
/// measured t:192,8,32,3,1 at 60 ms by the fold against 21 ms as a convolution, and 16 or 32
/// input channels at 2.3x and 1.5x; with 64 inputs to 1 output the fold ran 4x faster.
fn stride_one_as_conv(w: &Tensor, g: ConvGeometry) -> Option<(Tensor, ConvGeometry)> {
    let [ic, oc, kh, kw] = *w.dims() else {
        return None;
    };
    let fits = g.stride == 1 && g.dilation == 1 && kh == kw && g.padding < kh;
    if !fits || ic > 16 * oc {
        return None;
    }
    Some((
        turned(&w.detach()),
        ConvGeometry::new(1, kh - 1 - g.padding),
    ))
}

/// A kernel [A, B, kh, kw] turned half a turn with its two channel axes swapped:
/// [B, A, kh, kw] with tap (ky, kx) read from (kh - 1 - ky, kw - 1 - kx).
fn turned(w: &Tensor) -> Tensor {
    let [a, b, kh, kw] = *w.dims() else {
        panic!("turned: a kernel has 4 axes, got {}", w.shape());
    };
    let taps = kh * kw;
    let reversed: Vec<usize> = (0..taps).rev().collect();
    w.reshape(&[a * b, taps])
        .transpose(0, 1)
        .gather_rows(&reversed)
        .transpose(0, 1)
        .reshape(&[a, b, kh, kw])
        .permute(&[1, 0, 2, 3])
}

/// `transposed_raw` for few output channels (dilation 1): cols [B, OC kh kw, H W] = w^T x[b]
/// for each image (one product of [OC kh kw, IC] by [IC, H W]), then shaders/fold.wgsl adds
/// each column to the output pixel its tap lands on. A GEMM per stride class would take
/// blocks of 4 rows for 1 to 4 channels, each loaded image value feeding a few multiply-adds
/// of one channel; in the product it feeds every channel's every tap.
fn transposed_by_fold(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeometry,
    (out_h, out_w): (usize, usize),
    kernel: GemmKernel,
) -> Tensor {
    let ([batch, ic, h, wd], [_, oc, kh, kw]) = conv_operands(x, w, "transposed convolution", 0);
    let gpu = x.gpu();
    let (taps, pixels) = (oc * kh * kw, h * wd);
    let cols = Tensor::uninit(gpu, &[batch, taps, pixels]);
    Gemm {
        mode: Mode::Matmul {
            trans_a: true,
            trans_b: false,
        },
        params: GemmParams {
            m: taps as u32,
            n: pixels as u32,
            k: ic as u32,
            b_batch_stride: (ic * pixels) as u32,
            c_batch_stride: (taps * pixels) as u32,
            ..GemmParams::default()
        },
        batch,
        a: w,
        b: x,
        bias: None,
        out: &cols,
        kernel,
    }
    .launch();
    let out = Tensor::uninit(gpu, &[batch, oc, out_h, out_w]);
    let s = g.stride;
    let constants = [
        ("TAPS_Y", kh.div_ceil(s) as f64),
        ("TAPS_X", kw.div_ceil(s) as f64),
        ("BIAS", f64::from(u8::from(bias.is_some()))),
    ];
    // An add per column value read; each read once, each output written once.
    let (reads, writes) = (cols.numel(), out.numel());
    let params = [batch * oc, oc, h, wd, out_h, out_w, kh, kw, s, g.padding].map(|v| v as u32);
    gpu.dispatch_by_binding(
        &Kernel::new(&FOLD, "fold")
            .with(&constants)
            .doing(reads, reads + writes),
        &[
            (1, cols.buffer()),
            (2, bias.map_or(cols.buffer(), Tensor::buffer)),
            (3, out.buffer()),
        ],
        &params,
        gpu.linear_grid((writes as u64).div_ceil(256)),
    );
    out
}

/// dw[co, ci, ky, kx] = sum dy[b, co, oy, ox] x[b, ci, oy s - p + ky d, ox s - p + kx d]:
/// dy [B, Co, Ho, Wo], x [B, Ci, H, W] -> [Co, Ci, kh, kw].
///
/// At stride 1 with fewer than 16 output channels and more input channels (a decoder's last
/// layer, 16 to 3), it is the weight gradient of the convolution that maps dy onto x's grid
/// (padding k - 1 - p), turned back: that product has Ci rows instead of Co, so each value it
/// loads from the windows feeds Ci multiply-adds instead of Co (the roles swapped, that
/// product takes the plain path: its Co is this Ci, not below its Ci).
fn weight_grad_raw(
    dy: &Tensor,
    x: &Tensor,
    kh: usize,
    kw: usize,
    g: ConvGeometry,
    kernel: GemmKernel,
) -> Tensor {
    let [batch, co, ho, wo] = dims4(dy, "output gradient");
    let [_, ci, h, wd] = dims4(x, "input");
    let turnable = g.stride == 1 && g.dilation == 1 && kh == kw && g.padding < kh;
    if turnable && co < 16 && co < ci {
        let onto_input = ConvGeometry::new(1, kh - 1 - g.padding);
        return turned(&weight_grad_raw(x, dy, kh, kw, onto_input, kernel));
    }
    let n = ci * kh * kw;
    let splits = weight_grad_splits(co, n, batch, ho * wo);
    let images = batch / splits;
    let out = Tensor::uninit(x.gpu(), &[splits, co * n]);
    Gemm {
        mode: Mode::WeightGrad,
        params: GemmParams {
            a_batch_stride: (images * co * ho * wo) as u32,
            b_batch_stride: (images * ci * h * wd) as u32,
            c_batch_stride: (co * n) as u32,
            ..window_params(
                (co, n, (images * ho * wo)),
                ci,
                (h, wd),
                co,
                (ho, wo),
                (kh, kw),
                g,
            )
        },
        batch: splits,
        a: dy,
        b: x,
        bias: None,
        out: &out,
        kernel,
    }
    .launch();
    let out = if splits > 1 { out.sum_axes(&[0]) } else { out };
    out.reshape(&[co, ci, kh, kw])
}

/// Blocks of C a weight gradient should at least fill, and the fewest k a split should sum.
const SPLIT_BLOCKS: usize = 16;
const SPLIT_MIN_K: usize = 2048;

/// Into how many runs of images a weight gradient's sum over k is split (each a grid layer,
/// added up after): a gradient of few output values, such as the 32 x 16 of a 1-channel layer
/// with K in the tens of thousands, fills one or two 32 x 64 blocks, which a GPU runs on one
/// of its cores (llvmpipe on one thread). A divisor of the batch, each run summing at least
/// SPLIT_MIN_K k.
fn weight_grad_splits(m: usize, n: usize, batch: usize, positions: usize) -> usize {
    let blocks = m.div_ceil(32) * n.div_ceil(64);
    let most = SPLIT_BLOCKS
        .div_ceil(blocks)
        .min(batch * positions / SPLIT_MIN_K)
        .max(1);
    (1..=most.min(batch))
        .rev()
        .find(|s| batch.is_multiple_of(*s))
        .unwrap_or(1)
}

/// The gradient of a per-channel bias, when the layer has one and it is wanted.
fn bias_grad(dy: &Tensor, needs: &[bool]) -> Option<Tensor> {
    let wanted = needs.get(2).copied().unwrap_or(false);
    wanted.then(|| weight_gradient(|| dy.sum_axes(&[0, 2, 3])))
}

impl Tensor {
    /// PyTorch's conv2d: self [B, Ci, H, W], weight [Co, Ci, kh, kw], bias [Co].
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, g: ConvGeometry) -> Tensor {
        self.conv2d_with(weight, bias, g, GemmKernel::Auto)
    }

    /// `conv2d` with the GEMM kernel chosen by the caller.
    pub fn conv2d_with(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        g: ConvGeometry,
        kernel: GemmKernel,
    ) -> Tensor {
        let out = conv_raw(self, weight, bias, g, kernel);
        let (x, w) = (self.detach(), weight.detach());
        let [_, _, h, wd] = dims4(self, "conv2d input");
        let [_, _, kh, kw] = dims4(weight, "conv2d weight");
        let backward = move |dy: &Tensor, needs: &[bool]| {
            let dx = needs[0].then(|| transposed_raw(dy, &w, None, g, h, wd, kernel));
            let dw =
                needs[1].then(|| weight_gradient(|| weight_grad_raw(dy, &x, kh, kw, g, kernel)));
            vec![dx, dw, bias_grad(dy, needs)]
        };
        record_layer(self, weight, bias, out, Box::new(backward))
    }

    /// PyTorch's conv_transpose2d: self [B, Ci, H, W], weight [Ci, Co, kh, kw], bias [Co].
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        g: ConvGeometry,
        output_padding: usize,
    ) -> Tensor {
        self.conv_transpose2d_with(weight, bias, g, output_padding, GemmKernel::Auto)
    }

    /// `conv_transpose2d` with the GEMM kernel chosen by the caller.
    pub fn conv_transpose2d_with(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        g: ConvGeometry,
        output_padding: usize,
        kernel: GemmKernel,
    ) -> Tensor {
        let [_, _, h, wd] = dims4(self, "conv_transpose2d input");
        let [_, _, kh, kw] = dims4(weight, "conv_transpose2d weight");
        assert!(
            output_padding < g.stride,
            "output_padding {output_padding} must be smaller than the stride {}",
            g.stride
        );
        let size = |s: usize, k: usize| {
            g.transposed_out(s, k, output_padding).unwrap_or_else(|| {
                panic!("conv_transpose2d: padding {} leaves no output", g.padding)
            })
        };
        if (h, wd, g.padding, g.dilation, output_padding) == (1, 1, 0, 1, 0) {
            return self.transposed_from_point(weight, bias, kernel);
        }
        let (out_h, out_w) = (size(h, kh), size(wd, kw));
        let out = transposed_raw(self, weight, bias, g, out_h, out_w, kernel);
        let (x, w) = (self.detach(), weight.detach());
        let backward = move |dy: &Tensor, needs: &[bool]| {
            // The data gradient is a convolution of dy with the same weight read as
            // [Ci, Co, kh, kw] = [out channels, in channels] of that convolution.
            let dx = needs[0].then(|| conv_raw(dy, &w, None, g, kernel));
            let dw =
                needs[1].then(|| weight_gradient(|| weight_grad_raw(&x, dy, kh, kw, g, kernel)));
            vec![dx, dw, bias_grad(dy, needs)]
        };
        record_layer(self, weight, bias, out, Box::new(backward))
    }
}

impl Tensor {
    /// A transposed convolution of 1 x 1 inputs without padding (every DCGAN generator's first
    /// layer) is the product x [B, Ci] @ w [Ci, Co kh kw]: each output reads one tap, so the
    /// implicit GEMM would gather kh kw - 1 zeros for every useful term.
    fn transposed_from_point(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        kernel: GemmKernel,
    ) -> Tensor {
        let ([batch, ic, _, _], [_, oc, kh, kw]) =
            conv_operands(self, weight, "transposed convolution", 0);
        let columns = oc * kh * kw;
        let x = self.detach().reshape(&[batch, ic]);
        let w = weight.detach().reshape(&[ic, columns]);
        let out = no_grad(|| {
            let out = x
                .matmul_raw(&w, false, false, kernel)
                .reshape(&[batch, oc, kh, kw]);
            match bias {
                Some(b) => out.add(&b.reshape(&[1, oc, 1, 1])),
                None => out,
            }
        });
        let backward = move |dy: &Tensor, needs: &[bool]| {
            let dy_rows = dy.reshape(&[batch, columns]);
            let dx = needs[0].then(|| {
                dy_rows
                    .matmul_raw(&w, false, true, kernel)
                    .reshape(&[batch, ic, 1, 1])
            });
            let dw = needs[1].then(|| {
                weight_gradient(|| {
                    x.matmul_raw(&dy_rows, true, false, kernel)
                        .reshape(&[ic, oc, kh, kw])
                })
            });
            vec![dx, dw, bias_grad(dy, needs)]
        };
        record_layer(self, weight, bias, out, Box::new(backward))
    }
}
