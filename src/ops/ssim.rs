//! SSIM maps between two batches of images (shaders/ssim.wgsl), differentiable in both.

use crate::autograd::record;
use crate::error::{Error, Result};
use crate::gpu::Kernel;
use crate::ops::blur::gaussian_taps;
use crate::ops::shaders::SSIM;
use crate::tensor::Tensor;

/// The standard window: 11 x 11 Gaussian with sigma 1.5 (radius 5).
pub const SSIM_SIGMA: f32 = 1.5;
pub const SSIM_RADIUS: usize = 5;

/// Whether an image of h x w pixels is large enough for a window of `radius`.
pub fn ssim_fits(h: usize, w: usize, radius: usize) -> Result<()> {
    let window = 2 * radius + 1;
    if h < window || w < window {
        return Err(Error::Invalid(format!(
            "SSIM needs images of at least {window} x {window} pixels (its window); these are {h} x {w}. \
             Use larger images or a loss without a window (l1, laplacian)"
        )));
    }
    Ok(())
}

struct Launch<'a> {
    x: &'a Tensor,
    y: &'a Tensor,
    taps: &'a Tensor,
    words: [u32; 6],
}

impl Launch<'_> {
    fn run(&self, entry: &'static str, src: &Tensor, out: &Tensor, out2: &Tensor, elements: usize) {
        let gpu = out.gpu();
        let buffers = [self.x, self.y, self.taps, src, out, out2];
        let numbered: Vec<(u32, &wgpu::Buffer)> = buffers
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u32 + 1, t.buffer()))
            .collect();
        // Each value: five windowed moments (or their transposes), a multiply-add per tap.
        let flops = 10 * self.taps.numel() * elements;
        let floats = self.x.numel() + self.y.numel() + src.numel() + out.numel() + out2.numel();
        gpu.dispatch_by_binding(
            &Kernel::new(&SSIM, entry).doing(flops, floats),
            &numbered,
            &self.words,
            gpu.linear_grid((elements as u64).div_ceil(256)),
        );
    }
}

impl Tensor {
    /// The SSIM map between self and other ([N, C, H, W] each) over the valid area:
    /// [N, C, H - 2r, W - 2r]. `data_range` is L (2 for images in [-1, 1]).
    pub fn ssim_map(&self, other: &Tensor, data_range: f32, sigma: f32, radius: usize) -> Tensor {
        let [n, c, h, w] = *self.dims() else {
            panic!("ssim expects [N, C, H, W], got {}", self.shape());
        };
        assert_eq!(
            self.dims(),
            other.dims(),
            "ssim between {} and {}",
            self.shape(),
            other.shape()
        );
        if let Err(e) = ssim_fits(h, w, radius) {
            panic!("{e}");
        }
        let gpu = self.gpu();
        let (planes, oh, ow) = (n * c, h - 2 * radius, w - 2 * radius);
        let c1 = (0.01 * data_range).powi(2);
        let c2 = (0.03 * data_range).powi(2);
        let taps = Tensor::from_slice(gpu, &gaussian_taps(sigma, radius), &[2 * radius + 1]);
        let words = [
            planes as u32,
            h as u32,
            w as u32,
            radius as u32,
            c1.to_bits(),
            c2.to_bits(),
        ];
        let (x, y) = (self.detach(), other.detach());
        let launch = Launch {
            x: &x,
            y: &y,
            taps: &taps,
            words,
        };
        let horizontal = Tensor::uninit(gpu, &[5, planes, h, ow]);
        launch.run(
            "ssim_moments_h",
            &x,
            &horizontal,
            &horizontal,
            planes * h * ow,
        );
        let moments = Tensor::uninit(gpu, &[5, planes, oh, ow]);
        launch.run(
            "ssim_moments_v",
            &horizontal,
            &moments,
            &moments,
            5 * planes * oh * ow,
        );
        drop(horizontal);
        let map = Tensor::uninit(gpu, &[n, c, oh, ow]);
        launch.run("ssim_map", &moments, &map, &map, planes * oh * ow);
        let backward = move |ds: &Tensor, _: &[bool]| {
            let gpu = x.gpu();
            let launch = Launch {
                x: ds,
                y: &y,
                taps: &taps,
                words,
            };
            let d_moments = Tensor::uninit(gpu, &[5, planes, oh, ow]);
            launch.run(
                "ssim_map_grad",
                &moments,
                &d_moments,
                &d_moments,
                planes * oh * ow,
            );
            let d_horizontal = Tensor::uninit(gpu, &[5, planes, h, ow]);
            launch.run(
                "ssim_grad_v",
                &d_moments,
                &d_horizontal,
                &d_horizontal,
                5 * planes * h * ow,
            );
            let (dx, dy) = (Tensor::uninit(gpu, x.dims()), Tensor::uninit(gpu, x.dims()));
            let launch = Launch {
                x: &x,
                y: &y,
                taps: &taps,
                words,
            };
            launch.run("ssim_grad_h", &d_horizontal, &dx, &dy, planes * h * w);
            vec![Some(dx), Some(dy)]
        };
        record(&[self, other], map, Box::new(backward))
    }
}
