//! Average pooling (fixed and adaptive windows) and resizing (nearest, bilinear) of NCHW
//! tensors: shaders/planes.wgsl.

use crate::autograd::record;
use crate::gpu::Kernel;
use crate::ops::shaders::PLANES;
use crate::tensor::Tensor;

fn nchw(x: &Tensor, what: &str) -> [usize; 4] {
    match *x.dims() {
        [n, c, h, w] => [n, c, h, w],
        _ => panic!("{what} expects [N, C, H, W], got {}", x.shape()),
    }
}

/// The per-axis weights of shaders/planes.wgsl (its MODE).
#[derive(Clone, Copy)]
enum Weights {
    FixedWindows = 0,
    AdaptiveWindows = 1,
    Nearest = 2,
    Bilinear = 3,
}

/// One plane map: [N, C, H, W] to [N, C, out_h, out_w] with `weights` (kernel and stride for
/// fixed windows), differentiable.
struct PlaneOp {
    weights: Weights,
    extra: [u32; 2],
}

impl PlaneOp {
    fn run(&self, x: &Tensor, out_h: usize, out_w: usize) -> Tensor {
        let [n, c, h, w] = nchw(x, "pooling and resizing");
        let constants = [("MODE", f64::from(self.weights as u32))];
        let words = [
            (n * c) as u32,
            h as u32,
            w as u32,
            out_h as u32,
            out_w as u32,
            self.extra[0],
            self.extra[1],
        ];
        let out = Tensor::uninit(x.gpu(), &[n, c, out_h, out_w]);
        let gpu = x.gpu();
        gpu.dispatch(
            // One operation per value read and per value written (the weights' few taps).
            &Kernel::new(&PLANES, "plane_map")
                .with(&constants)
                .doing(x.numel() + out.numel(), x.numel() + out.numel()),
            &[x.buffer(), out.buffer()],
            &words,
            gpu.linear_grid((out.numel() as u64).div_ceil(256)),
        );
        let backward = move |dy: &Tensor, _: &[bool]| {
            let dx = Tensor::uninit(dy.gpu(), &[n, c, h, w]);
            dy.gpu().dispatch(
                &Kernel::new(&PLANES, "plane_map_grad")
                    .with(&constants)
                    .doing(dy.numel() + dx.numel(), dy.numel() + dx.numel()),
                &[dy.buffer(), dx.buffer()],
                &words,
                dy.gpu().linear_grid((dx.numel() as u64).div_ceil(256)),
            );
            vec![Some(dx)]
        };
        record(&[x], out, Box::new(backward))
    }
}

impl Tensor {
    /// AvgPool2d(kernel, stride) without padding; windows that do not fit are dropped.
    pub fn avg_pool2d(&self, kernel: usize, stride: usize) -> Tensor {
        let [_, _, h, w] = nchw(self, "avg_pool2d");
        assert!(
            kernel >= 1 && stride >= 1 && kernel <= h && kernel <= w,
            "avg_pool2d: kernel {kernel} does not fit {}",
            self.shape()
        );
        let op = PlaneOp {
            weights: Weights::FixedWindows,
            extra: [kernel as u32, stride as u32],
        };
        op.run(self, (h - kernel) / stride + 1, (w - kernel) / stride + 1)
    }

    /// AdaptiveAvgPool2d((out_h, out_w)): PyTorch's windows [floor(o H / OH), ceil((o+1) H / OH)).
    pub fn adaptive_avg_pool2d(&self, out_h: usize, out_w: usize) -> Tensor {
        assert!(
            out_h > 0 && out_w > 0,
            "adaptive_avg_pool2d to an empty size"
        );
        let op = PlaneOp {
            weights: Weights::AdaptiveWindows,
            extra: [0, 0],
        };
        op.run(self, out_h, out_w)
    }

    /// Nearest-neighbour resize to (out_h, out_w) (source index floor(o * in / out)).
    pub fn upsample_nearest(&self, out_h: usize, out_w: usize) -> Tensor {
        self.resample(out_h, out_w, false)
    }

    /// Bilinear resize to (out_h, out_w) with align_corners=False, as PyTorch's default.
    pub fn upsample_bilinear(&self, out_h: usize, out_w: usize) -> Tensor {
        self.resample(out_h, out_w, true)
    }

    fn resample(&self, out_h: usize, out_w: usize, bilinear: bool) -> Tensor {
        assert!(out_h > 0 && out_w > 0, "resize to an empty size");
        let op = PlaneOp {
            weights: if bilinear {
                Weights::Bilinear
            } else {
                Weights::Nearest
            },
            extra: [0, 0],
        };
        op.run(self, out_h, out_w)
    }
}
