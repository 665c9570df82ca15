//! Convolution and transposed convolution: forward and all gradients against direct f64
//! loops written from the definitions, for every GEMM kernel the adapter runs.

use kernels_tests::{OpCheck, gpu};
use pegasus::ops::{ConvGeometry, GemmKernel};

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    g: ConvGeometry,
    output_padding: usize,
}

fn geometry(stride: usize, padding: usize, dilation: usize) -> ConvGeometry {
    ConvGeometry {
        stride,
        padding,
        dilation,
    }
}

fn out_size(size: usize, k: usize, g: ConvGeometry) -> usize {
    (size + 2 * g.padding - g.dilation * (k - 1) - 1) / g.stride + 1
}

/// Calls f([b, oc, oy, ox, ic, ky, kx, iy, ix]) for every term of a convolution from an
/// image of `inputs` = (channels, (h, w)) to a grid of `outputs` = (channels, (h, w)), where
/// iy = oy s - p + ky d lands inside the image.
fn window_terms(
    batch: usize,
    inputs: (usize, (usize, usize)),
    outputs: (usize, (usize, usize)),
    (kh, kw): (usize, usize),
    g: ConvGeometry,
    f: &mut dyn FnMut([usize; 9]),
) {
    let (ic_count, (h, w)) = inputs;
    let (oc_count, (ho, wo)) = outputs;
    let source = |o: usize, k: usize, size: usize| {
        let i = (o * g.stride + k * g.dilation) as isize - g.padding as isize;
        (i >= 0 && (i as usize) < size).then_some(i as usize)
    };
    for b in 0..batch {
        for oc in 0..oc_count {
            for oy in 0..ho {
                for ox in 0..wo {
                    for ic in 0..ic_count {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let (Some(iy), Some(ix)) = (source(oy, ky, h), source(ox, kx, w))
                                {
                                    f([b, oc, oy, ox, ic, ky, kx, iy, ix]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every term of a convolution-like sum, as [b, co, oy, ox, ci, ky, kx, iy, ix].
type Terms<'a> = &'a dyn Fn(&mut dyn FnMut([usize; 9]));

/// Checks y[b, co, oy, ox] = bias[co] + sum over `terms` of x[b, ci, iy, ix] w[ky, kx] with
/// the weight of shape `weight_dims` indexed by `weight_index(co, ci, ky, kx)`, forward and
/// gradients, against direct f64 loops.
struct WindowOp<'a> {
    name: String,
    case: Case,
    out_hw: (usize, usize),
    weight_dims: Vec<usize>,
    weight_index: &'a dyn Fn(usize, usize, usize, usize) -> usize,
    terms: Terms<'a>,
    gpu: &'a dyn Fn(&[pegasus::tensor::Tensor]) -> pegasus::tensor::Tensor,
}

impl WindowOp<'_> {
    fn check(&self, seed: u64) {
        let c = self.case;
        let (oh, ow) = self.out_hw;
        let xi = |b: usize, ci: usize, y: usize, x: usize| ((b * c.cin + ci) * c.h + y) * c.w + x;
        let yi = |b: usize, co: usize, y: usize, x: usize| ((b * c.cout + co) * oh + y) * ow + x;
        let wi = self.weight_index;
        let forward = |v: &[Vec<f64>]| {
            let mut y: Vec<f64> = (0..c.batch * c.cout * oh * ow)
                .map(|i| v[2][(i / (oh * ow)) % c.cout])
                .collect();
            (self.terms)(&mut |[b, co, oy, ox, ci, ky, kx, iy, ix]| {
                y[yi(b, co, oy, ox)] += v[0][xi(b, ci, iy, ix)] * v[1][wi(co, ci, ky, kx)];
            });
            y
        };
        let backward = |v: &[Vec<f64>], up: &[f64]| {
            let mut dx = vec![0.0; v[0].len()];
            let mut dw = vec![0.0; v[1].len()];
            let mut db = vec![0.0; c.cout];
            for (i, u) in up.iter().enumerate() {
                db[(i / (oh * ow)) % c.cout] += u;
            }
            (self.terms)(&mut |[b, co, oy, ox, ci, ky, kx, iy, ix]| {
                let g = up[yi(b, co, oy, ox)];
                dx[xi(b, ci, iy, ix)] += g * v[1][wi(co, ci, ky, kx)];
                dw[wi(co, ci, ky, kx)] += g * v[0][xi(b, ci, iy, ix)];
            });
            vec![dx, dw, db]
        };
        OpCheck {
            name: self.name.clone(),
            inputs: vec![
                (vec![c.batch, c.cin, c.h, c.w], -1.0, 1.0),
                (self.weight_dims.clone(), -1.0, 1.0),
                (vec![c.cout], -1.0, 1.0),
            ],
            gpu: self.gpu,
            forward: &forward,
            backward: &backward,
            // Sums of at most a few hundred products of values in [-1, 1].
            forward_tol: (2e-5, 1e-5),
            grad_tol: (5e-5, 1e-5),
            seed,
        }
        .run();
    }
}

fn conv_check(c: Case, kernel: GemmKernel, seed: u64) {
    let out_hw = (out_size(c.h, c.kh, c.g), out_size(c.w, c.kw, c.g));
    WindowOp {
        name: format!("conv2d {c:?} {kernel:?}"),
        case: c,
        out_hw,
        weight_dims: vec![c.cout, c.cin, c.kh, c.kw],
        weight_index: &|co, ci, ky, kx| ((co * c.cin + ci) * c.kh + ky) * c.kw + kx,
        terms: &|f| {
            window_terms(
                c.batch,
                (c.cin, (c.h, c.w)),
                (c.cout, out_hw),
                (c.kh, c.kw),
                c.g,
                f,
            )
        },
        gpu: &|t| t[0].conv2d_with(&t[1], Some(&t[2]), c.g, kernel),
    }
    .check(seed);
}

/// The transposed convolution is the adjoint of the convolution: out[b, co, oy, ox] gets
/// x[b, ci, iy, ix] w[ci, co, ky, kx] wherever oy = iy s - p + ky d.
fn transposed_check(c: Case, kernel: GemmKernel, seed: u64) {
    let g = c.g;
    let oh = (c.h - 1) * g.stride + g.dilation * (c.kh - 1) + c.output_padding + 1 - 2 * g.padding;
    let ow = (c.w - 1) * g.stride + g.dilation * (c.kw - 1) + c.output_padding + 1 - 2 * g.padding;
    // Its terms are the convolution's from its output back to its input, roles swapped.
    let terms = |f: &mut dyn FnMut([usize; 9])| {
        window_terms(
            c.batch,
            (c.cout, (oh, ow)),
            (c.cin, (c.h, c.w)),
            (c.kh, c.kw),
            g,
            &mut |[b, ci, iy, ix, co, ky, kx, oy, ox]| f([b, co, oy, ox, ci, ky, kx, iy, ix]),
        )
    };
    WindowOp {
        name: format!("conv_transpose2d {c:?} {kernel:?}"),
        case: c,
        out_hw: (oh, ow),
        weight_dims: vec![c.cin, c.cout, c.kh, c.kw],
        weight_index: &|co, ci, ky, kx| ((ci * c.cout + co) * c.kh + ky) * c.kw + kx,
        terms: &terms,
        gpu: &|t| t[0].conv_transpose2d_with(&t[1], Some(&t[2]), g, c.output_padding, kernel),
    }
    .check(seed);
}

fn case(
    batch: usize,
    cin: usize,
    cout: usize,
    hw: (usize, usize),
    k: (usize, usize),
    g: ConvGeometry,
) -> Case {
    Case {
        batch,
        cin,
        cout,
        h: hw.0,
        w: hw.1,
        kh: k.0,
        kw: k.1,
        g,
        output_padding: 0,
    }
}

#[test]
fn convolutions_on_awkward_shapes() {
    let cases = [
        case(1, 1, 1, (1, 1), (1, 1), geometry(1, 0, 1)),
        case(2, 3, 5, (7, 9), (3, 3), geometry(1, 1, 1)),
        case(1, 2, 3, (11, 10), (3, 2), geometry(3, 0, 1)), // stride 3, batch 1
        case(2, 3, 4, (9, 7), (4, 4), geometry(2, 0, 1)),   // seed 002's encoder on odd sizes
        case(1, 2, 2, (9, 8), (3, 3), geometry(2, 2, 2)),   // dilation and stride together
        case(3, 5, 37, (5, 6), (1, 1), geometry(1, 0, 1)),  // more channels than one block
        // Ci kh kw and Ho Wo multiples of 4: the lanes kernel reads weights and dy four at a time
        case(2, 4, 40, (8, 8), (3, 3), geometry(2, 1, 1)),
        case(1, 4, 6, (12, 12), (3, 3), geometry(1, 1, 1)),
        // Output rows a multiple of 4 wide and more than 8 channels: gemm_window_rows
        case(2, 3, 12, (12, 12), (5, 5), geometry(1, 2, 1)),
        case(1, 5, 10, (16, 16), (4, 4), geometry(2, 1, 1)),
        case(1, 2, 9, (12, 12), (3, 3), geometry(1, 2, 2)),
        // Kernel rows a multiple of 4 wide too: the weight gradient reads windows (B_WIDE 3)
        case(1, 2, 9, (12, 12), (4, 4), geometry(1, 3, 2)),
        // Few weights and thousands of k: the weight gradient split into 3 and 4 runs of
        // images (the second through windows, B_WIDE 3)
        case(6, 2, 3, (32, 32), (3, 3), geometry(1, 1, 1)),
        case(8, 2, 3, (64, 64), (4, 4), geometry(2, 1, 1)),
        // 9 to 16 output channels: blocks of 16 rows (gemm_rows16.wgsl), a whole block and
        // part of one, on rows of 12 and of 7
        case(2, 3, 16, (12, 12), (3, 3), geometry(1, 1, 1)),
        case(2, 4, 13, (14, 14), (4, 4), geometry(2, 1, 1)),
        // More than 32 output channels over many columns: blocks of 64 rows, through
        // gemm_lanes (7-wide rows) and gemm_window_rows
        case(2, 3, 70, (14, 14), (3, 3), geometry(2, 1, 1)),
        case(2, 3, 45, (16, 16), (3, 3), geometry(1, 1, 1)),
        // 5 to 8 input channels at stride 2: the data gradient as one convolution whose rows
        // are (class, channel), stored interleaved (the VAE-GAN discriminator's second layer)
        case(2, 6, 9, (8, 8), (5, 5), geometry(2, 2, 1)),
        case(1, 5, 4, (10, 6), (5, 5), geometry(2, 2, 1)),
        // stride 1 to fewer output than input channels: the weight gradient as that of the
        // convolution from dy onto x's grid, turned back (a decoder's last layer), also
        // without padding and with more than half the kernel's
        case(2, 16, 3, (9, 7), (5, 5), geometry(1, 2, 1)),
        case(1, 6, 1, (6, 5), (3, 3), geometry(1, 0, 1)),
        case(2, 5, 2, (7, 6), (3, 3), geometry(1, 2, 1)),
    ];
    for kernel in GemmKernel::available(&gpu()) {
        for (i, &c) in cases.iter().enumerate() {
            conv_check(c, kernel, i as u64);
        }
    }
}

#[test]
fn transposed_convolutions_on_awkward_shapes() {
    let mut cases = vec![
        case(1, 1, 1, (1, 1), (1, 1), geometry(1, 0, 1)),
        case(2, 4, 3, (4, 4), (4, 4), geometry(2, 1, 1)), // DCGAN's doubling layer
        case(1, 3, 2, (1, 1), (4, 4), geometry(1, 0, 1)), // DCGAN's first layer
        case(3, 5, 6, (1, 1), (3, 4), geometry(2, 0, 1)), // a point input as a product
        case(2, 3, 2, (1, 1), (4, 4), geometry(1, 1, 1)), // a padded point input
        case(1, 2, 3, (5, 4), (5, 5), geometry(3, 1, 1)), // seed 000's last layer
        case(2, 3, 2, (3, 5), (3, 2), geometry(2, 0, 2)), // dilation with stride
        case(1, 2, 35, (3, 3), (3, 3), geometry(3, 2, 1)), // padding past the first taps
        // At most 4 output channels: a product and a fold, on rows of 7 (the GLO's last
        // layer), of a multiple of 4 (B read four columns at a time), at stride 1 from many
        // input channels, with a kernel that is not square and with padding past the kernel
        case(2, 5, 1, (7, 7), (4, 4), geometry(2, 1, 1)),
        case(2, 3, 1, (4, 4), (4, 4), geometry(2, 1, 1)),
        case(1, 20, 1, (5, 6), (3, 3), geometry(1, 1, 1)),
        case(1, 3, 2, (5, 5), (3, 2), geometry(1, 1, 1)),
        case(1, 2, 2, (6, 6), (2, 2), geometry(1, 2, 1)),
        // and at stride 1 from few input channels: a convolution with the kernel turned
        // (the VAE-GAN discriminator's first layer's data gradient; no padding)
        case(1, 3, 4, (5, 6), (3, 3), geometry(1, 1, 1)),
        case(2, 8, 3, (9, 8), (5, 5), geometry(1, 2, 1)),
        case(1, 2, 2, (4, 5), (3, 3), geometry(1, 0, 1)),
        // and its weight gradient split into 2 runs of images
        case(16, 2, 1, (16, 16), (4, 4), geometry(2, 1, 1)),
        // Class rows a multiple of 4 wide and more than 8 channels: gemm_window_rows
        case(2, 6, 10, (4, 4), (4, 4), geometry(2, 1, 1)),
        case(1, 4, 11, (8, 8), (5, 5), geometry(1, 2, 1)),
        // 9 to 16 output channels: blocks of 16 rows, a whole block (two window rows per step)
        // and part of one
        case(2, 6, 16, (4, 4), (4, 4), geometry(2, 1, 1)),
        case(2, 5, 13, (7, 7), (4, 4), geometry(2, 1, 1)),
        // More than 32 output channels over many columns: blocks of 64 rows
        case(4, 5, 40, (16, 16), (4, 4), geometry(2, 1, 1)),
        case(2, 3, 37, (7, 7), (4, 4), geometry(2, 1, 1)),
    ];
    cases.push(Case {
        output_padding: 1,
        ..case(1, 3, 9, (8, 8), (5, 5), geometry(2, 2, 1)) // the VAE-GAN decoder's stages
    });
    cases.push(Case {
        output_padding: 1,
        ..case(1, 2, 2, (4, 3), (3, 3), geometry(2, 1, 1))
    });
    // 5 to 8 output channels at stride 2 onto whole 2 x 2 cells: one convolution over the
    // input grid with rows (class, channel), stored interleaved; rows of 8 (the VAE-GAN
    // decoder's last stage) and of 5 on a grid that is not square. Not for a 4 x 4 kernel
    // (too many zero taps) or a 3 x 3 one whose offsets are not symmetric: per-class GEMMs
    cases.push(Case {
        output_padding: 1,
        ..case(2, 5, 8, (8, 8), (5, 5), geometry(2, 2, 1))
    });
    cases.push(Case {
        output_padding: 1,
        ..case(1, 3, 5, (5, 7), (5, 5), geometry(2, 2, 1))
    });
    cases.push(case(1, 3, 6, (5, 7), (4, 4), geometry(2, 1, 1)));
    cases.push(Case {
        output_padding: 1,
        ..case(1, 4, 7, (6, 6), (3, 3), geometry(2, 1, 1))
    });
    for kernel in GemmKernel::available(&gpu()) {
        for (i, &c) in cases.iter().enumerate() {
            transposed_check(c, kernel, 100 + i as u64);
        }
    }
}

#[test]
fn output_sizes_follow_pytorch() {
    let g = geometry(3, 1, 1);
    // Seed 000: 5x5, stride 3, padding 1 takes 32 to 96.
    assert_eq!(g.transposed_out(32, 5, 0), Some(96));
    // Seed 002's encoder: 4x4, stride 2, no padding: 96 -> 47 -> 22 -> 10 -> 4.
    let enc = geometry(2, 0, 1);
    assert_eq!(enc.conv_out(96, 4), Some(47));
    assert_eq!(enc.conv_out(47, 4), Some(22));
    assert_eq!(enc.conv_out(22, 4), Some(10));
    assert_eq!(enc.conv_out(10, 4), Some(4));
    assert_eq!(
        geometry(1, 0, 1).conv_out(3, 5),
        None,
        "a kernel larger than the input"
    );
    assert_eq!(
        geometry(1, 3, 1).transposed_out(1, 3, 0),
        None,
        "padding that removes everything"
    );
}

/// The seed 000 generator's last layer at full size, against the reference at sampled
/// outputs: [2, 8, 32, 32] -> [2, 3, 96, 96].
#[test]
fn seed_000_last_layer_at_full_size() {
    use kernels_tests::{Inputs, assert_close};
    let gpu = gpu();
    let g = geometry(3, 1, 1);
    let mut inputs = Inputs::new(77);
    let (x, xh) = inputs.tensor(&[2, 8, 32, 32], -1.0, 1.0);
    let (w, wh) = inputs.tensor(&[8, 3, 5, 5], -1.0, 1.0);
    for kernel in GemmKernel::available(&gpu) {
        let y = x.conv_transpose2d_with(&w, None, g, 0, kernel);
        assert_eq!(y.dims(), &[2, 3, 96, 96]);
        let got = y.to_vec();
        let mut want = Vec::new();
        let mut picked = Vec::new();
        for i in (0..got.len()).step_by(97) {
            let (b, co, oy, ox) = (
                i / (3 * 96 * 96),
                (i / (96 * 96)) % 3,
                (i / 96) % 96,
                i % 96,
            );
            let mut s = 0.0;
            for ci in 0..8 {
                for ky in 0..5 {
                    for kx in 0..5 {
                        let (ny, nx) =
                            (oy as isize + 1 - ky as isize, ox as isize + 1 - kx as isize);
                        if ny % 3 == 0
                            && nx % 3 == 0
                            && (0..96).contains(&ny)
                            && (0..96).contains(&nx)
                        {
                            let (iy, ix) = ((ny / 3) as usize, (nx / 3) as usize);
                            if iy < 32 && ix < 32 {
                                s += f64::from(xh[((b * 8 + ci) * 32 + iy) * 32 + ix])
                                    * f64::from(wh[((ci * 3 + co) * 5 + ky) * 5 + kx]);
                            }
                        }
                    }
                }
            }
            want.push(s);
            picked.push(got[i]);
        }
        assert_close(
            &format!("seed 000 last layer {kernel:?}"),
            &picked,
            &want,
            2e-5,
            1e-5,
        );
    }
}
