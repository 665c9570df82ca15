//! The fused CPPN renderer (shaders/cppn_render.wgsl): a whole inference MLP per pixel in
//! one kernel, a tile of rows per launch.

use std::sync::Arc;

use crate::gpu::{Gpu, Kernel};
use crate::ops::gemm::lanes;
use crate::ops::shaders::{CPPN_RENDER, CPPN_RENDER_LANES};
use crate::tensor::Tensor;

/// Pixels rendered per launch at most (16 MiB of packed pixels).
const TILE_PIXELS: usize = 1 << 22;

/// Widest layer the kernel holds in private memory.
pub const MAX_UNITS: usize = 256;

/// Which render kernel runs; `Auto` picks per adapter (see shaders/cppn_common.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderKernel {
    Auto,
    /// Every invocation reads every weight: for GPUs.
    Plain,
    /// Weights shared across a subgroup by shuffles: for software rasterisers.
    Lanes,
}

impl RenderKernel {
    /// The kernels this adapter can run (tests run each).
    pub fn available(gpu: &Gpu) -> Vec<RenderKernel> {
        let mut kernels = vec![RenderKernel::Plain];
        if lanes(gpu).is_some() {
            kernels.push(RenderKernel::Lanes);
        }
        kernels
    }

    fn resolve(self, gpu: &Gpu) -> RenderKernel {
        match self {
            RenderKernel::Auto if gpu.is_software() && lanes(gpu).is_some() => RenderKernel::Lanes,
            RenderKernel::Auto => RenderKernel::Plain,
            other => other,
        }
    }
}

/// The network as the kernel reads it, and its sizes.
pub struct PackedCppn {
    pub weights: Tensor,
    pub units: usize,
    pub hidden: usize,
    pub channels: usize,
    /// Coordinates span [-scale, scale] over the shorter side unless a render asks otherwise.
    pub scale: f32,
}

/// A layer's weight [outputs, inputs] (row-major) and bias [outputs].
pub struct DenseLayer {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl PackedCppn {
    /// Packs a generator for one latent: `from_z` is z's map already applied (with its bias),
    /// `coord` the [units, 3] weight of (x, y, r), `hidden` the tanh layers, `out` the
    /// output layer.
    pub fn new(
        gpu: &Arc<Gpu>,
        scale: f32,
        from_z: &[f32],
        coord: &[f32],
        hidden: &[DenseLayer],
        out: &DenseLayer,
    ) -> PackedCppn {
        let units = from_z.len();
        assert!(
            (1..=MAX_UNITS).contains(&units),
            "the fused renderer holds 1 to {MAX_UNITS} units, not {units}"
        );
        assert_eq!(coord.len(), 3 * units, "coordinate weight");
        let channels = out.bias.len();
        assert!(
            (1..=4).contains(&channels),
            "1 to 4 channels, not {channels}"
        );
        assert_eq!(out.weight.len(), channels * units, "output weight");
        let mut packed = from_z.to_vec();
        packed.extend_from_slice(coord);
        for layer in hidden {
            assert_eq!(layer.weight.len(), units * units, "hidden weight");
            assert_eq!(layer.bias.len(), units, "hidden bias");
            packed.extend_from_slice(&layer.weight);
            packed.extend_from_slice(&layer.bias);
        }
        packed.extend_from_slice(&out.weight);
        packed.extend_from_slice(&out.bias);
        PackedCppn {
            weights: Tensor::from_slice(gpu, &packed, &[packed.len()]),
            units,
            hidden: hidden.len(),
            channels,
            scale,
        }
    }

    /// Pixels of rows `row0 .. row0 + rows` of a `width` x `height` image whose neighbouring
    /// pixels lie `step` apart, centred on 0: one u32 per pixel, bytes R, G, B, A from the
    /// low one (grey in R, G and B).
    pub fn render_rows(
        &self,
        size: (usize, usize),
        step: f32,
        row0: usize,
        rows: usize,
    ) -> Vec<u32> {
        let out = Tensor::uninit(self.weights.gpu(), &[rows * size.0]);
        self.render_into(&out, size, step, row0, rows, RenderKernel::Auto);
        out.to_vec().into_iter().map(f32::to_bits).collect()
    }

    /// The whole `width` x `height` image, a tile of rows per launch, each tile's pixels
    /// handed to `each` in order as soon as they are read back.
    pub fn render_tiles<E>(
        &self,
        (width, height): (usize, usize),
        step: f32,
        mut each: impl FnMut(&[u32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let rows = Self::rows_per_tile(self.weights.gpu(), width, height);
        for row0 in (0..height).step_by(rows) {
            each(&self.render_rows((width, height), step, row0, rows.min(height - row0)))?;
        }
        Ok(())
    }

    /// The whole `width` x `height` image in memory.
    pub fn render_image(&self, size: (usize, usize), step: f32) -> Vec<u32> {
        let mut pixels = Vec::with_capacity(size.0 * size.1);
        let done: Result<(), std::convert::Infallible> = self.render_tiles(size, step, |tile| {
            pixels.extend_from_slice(tile);
            Ok(())
        });
        done.unwrap_or_else(|never| match never {});
        pixels
    }

    /// As `render_rows`, into the first rows x width values of `out` (a tensor whose bits
    /// are the packed pixels), with the kernel chosen, without waiting.
    pub fn render_into(
        &self,
        out: &Tensor,
        (width, height): (usize, usize),
        step: f32,
        row0: usize,
        rows: usize,
        kernel: RenderKernel,
    ) {
        let gpu = self.weights.gpu();
        let pixels = rows * width;
        assert!(
            out.numel() >= pixels && row0 + rows <= height,
            "rows {row0}..{} of {height} into {} values",
            row0 + rows,
            out.numel()
        );
        let params = [
            width as u32,
            height as u32,
            row0 as u32,
            rows as u32,
            step.to_bits(),
        ];
        let mut sizes = vec![
            ("UNITS", self.units as f64),
            ("HIDDEN", self.hidden as f64),
            ("CHANNELS", self.channels as f64),
        ];
        let (kernel, group) = match kernel.resolve(gpu) {
            RenderKernel::Lanes => {
                let lanes = lanes(gpu).unwrap_or_else(|| {
                    panic!(
                        "the lanes renderer needs subgroups of one size on {}",
                        gpu.info().name
                    )
                });
                sizes.push(("LANES", f64::from(lanes)));
                (
                    Kernel::new(&CPPN_RENDER_LANES, "cppn_render_lanes"),
                    u64::from(lanes),
                )
            }
            _ => (Kernel::new(&CPPN_RENDER, "cppn_render"), 64),
        };
        let flops = self.flops_per_pixel() as usize * pixels;
        gpu.dispatch(
            &kernel
                .with(&sizes)
                .doing(flops, self.weights.numel() + pixels * self.channels),
            &[self.weights.buffer(), out.buffer()],
            &params,
            gpu.linear_grid((pixels as u64).div_ceil(group)),
        );
    }

    /// Rows per tile for images `width` wide on this adapter: at most 4 Mpx, and within the
    /// largest buffer a kernel can bind.
    pub fn rows_per_tile(gpu: &Gpu, width: usize, height: usize) -> usize {
        let limits = gpu.limits();
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size) as usize;
        let pixels = TILE_PIXELS.min(binding / 4);
        (pixels / width.max(1)).clamp(1, height.max(1))
    }

    /// The distance between neighbouring pixels' coordinates when the shorter side of a
    /// `width` x `height` image spans [-scale, scale].
    pub fn step_for(width: usize, height: usize, scale: f32) -> f32 {
        2.0 * scale / (width.min(height).max(2) - 1) as f32
    }

    /// Useful floating-point operations per pixel (a multiply-add counts two).
    pub fn flops_per_pixel(&self) -> u64 {
        let (n, c) = (self.units as u64, self.channels as u64);
        2 * (3 * n + self.hidden as u64 * n * n + c * n)
    }
}
