//! Batch normalisation (shaders/norm.wgsl): training statistics in one pass per channel,
//! running estimates updated on the GPU, and the fused backward.

use crate::autograd::record;
use crate::gpu::{Gpu, Grid, Kernel};
use crate::ops::shaders::NORM;
use crate::tensor::Tensor;
use std::cell::Cell;

/// Running estimates of a BatchNorm layer, updated in place in training mode.
pub struct RunningStats<'a> {
    pub mean: &'a Tensor,
    pub var: &'a Tensor,
}

impl<'a> RunningStats<'a> {
    pub fn new(mean: &'a Tensor, var: &'a Tensor) -> Self {
        RunningStats { mean, var }
    }
}

/// (N, C, S) of an [N, C] or [N, C, H, W] tensor.
fn ncs(x: &Tensor) -> (usize, usize, usize) {
    match *x.dims() {
        [n, c] => (n, c, 1),
        [n, c, h, w] => (n, c, h * w),
        _ => panic!(
            "batch norm expects [N, C] or [N, C, H, W], got {}",
            x.shape()
        ),
    }
}

thread_local! {
    static SEPARATE_PASSES: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with BatchNorm's separate passes on this thread even where the fused per-channel
/// kernels would run (software rasterisers): for tests of the passes a GPU takes.
pub fn with_separate_norm_passes<T>(f: impl FnOnce() -> T) -> T {
    let before = SEPARATE_PASSES.replace(true);
    let out = f();
    SEPARATE_PASSES.set(before);
    out
}

/// Planes of at least this many values get a workgroup each in the per-element passes.
const PLANE_MIN: usize = 64;

/// PACKED of shaders/norm.wgsl: training mode's statistics and sums also go to one buffer of
/// packed per-channel constants, which the per-element passes read.
fn packed_constants(training: bool) -> (&'static str, f64) {
    ("PACKED", f64::from(u8::from(training)))
}

/// How the kernels of shaders/norm.wgsl walk x [N, C, S].
struct Launch {
    /// S == 1: the reductions run a thread per channel instead of a workgroup.
    columns: bool,
    /// Planes are whole vec4s (S % 4 == 0): every kernel reads and writes four values per
    /// access (the _wide entry points).
    wide: bool,
    /// Small planes that are not whole vec4s (4 <= S < PLANE_MIN) in a tensor that is: the
    /// passes still read vec4s, one spanning two planes taking each plane's constants for its
    /// values in the per-element passes, and its own plane's values only in the reductions
    /// (STRADDLE).
    straddle: bool,
    /// Training mode on a software rasteriser with vec4 passes (planes of whole vec4s, or
    /// straddling): each pair of passes runs as one kernel with a workgroup per channel
    /// (batch_norm_train_wide, batch_norm_grad_wide).
    fused: bool,
    /// Constants and grid of batch_normalize and batch_norm_input_grad: a workgroup of 64 per
    /// plane where planes are large, else 256 threads, one per value (or vec4); and the
    /// rectifier, the straddling and whether the constants are packed (training mode).
    per_element: [(&'static str, f64); 5],
    grid: Grid,
}

impl Launch {
    fn new(gpu: &Gpu, (n, c, s): (usize, usize, usize), slope: f32, training: bool) -> Launch {
        let wide = s.is_multiple_of(4);
        let straddle = !wide && (4..PLANE_MIN).contains(&s) && (n * c * s).is_multiple_of(4);
        let slope = ("SLOPE", f64::from(slope));
        let (per_element, grid) = if s >= PLANE_MIN {
            let grid = gpu.linear_grid((n * c) as u64);
            ([("THREADS", 64.0), ("PER_PLANE", 1.0), slope], grid)
        } else {
            let units = if wide || straddle {
                n * c * s / 4
            } else {
                n * c * s
            };
            let grid = gpu.linear_grid((units as u64).div_ceil(256));
            ([("THREADS", 256.0), ("PER_PLANE", 0.0), slope], grid)
        };
        let [threads, per_plane, slope] = per_element;
        Launch {
            columns: s == 1,
            wide,
            straddle,
            fused: training && (wide || straddle) && gpu.is_software() && !SEPARATE_PASSES.get(),
            per_element: [
                threads,
                per_plane,
                slope,
                ("STRADDLE", f64::from(u8::from(straddle))),
                packed_constants(training),
            ],
            grid,
        }
    }

    /// Grid of batch_stats and batch_norm_sums over c channels: a workgroup per channel, or a
    /// thread per channel in workgroups of 64.
    fn reduction_grid(&self, c: usize) -> Grid {
        Grid([if self.columns { c.div_ceil(64) } else { c } as u32, 1, 1])
    }

    /// The entry point to run for one of the four passes, and the binding numbers of x, dy
    /// and out in it.
    fn entry(&self, pass: Pass) -> (&'static str, [u32; 3]) {
        const SCALAR: [u32; 3] = [1, 6, 11];
        let (scalar, wide, columns) = pass.entries();
        if let Some(columns) = columns.filter(|_| self.columns) {
            return (columns, SCALAR);
        }
        if self.wide || self.straddle {
            (wide, [12, 13, 14])
        } else {
            (scalar, SCALAR)
        }
    }
}

/// One of the fused per-channel kernels (batch_norm_train_wide, batch_norm_grad_wide): x, dy
/// and out by their vec4 bindings, out also by its scalar one (the planes' edges with
/// STRADDLE), and the per-channel buffers.
fn fused_pass(
    kernel: &Kernel,
    [x, dy, out]: [&Tensor; 3],
    per_channel: &[(u32, &wgpu::Buffer)],
    params: &[u32],
    grid: Grid,
) {
    let tensors = [
        (12, x.buffer()),
        (13, dy.buffer()),
        (11, out.buffer()),
        (14, out.buffer()),
    ];
    out.gpu()
        .dispatch_by_binding(kernel, &[&tensors[..], per_channel].concat(), params, grid);
}

/// The four passes of shaders/norm.wgsl.
#[derive(Clone, Copy)]
enum Pass {
    Stats,
    Sums,
    Normalize,
    InputGrad,
}

impl Pass {
    /// Its entry points: per value, four values per access, and for the reductions a thread
    /// per channel.
    fn entries(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Pass::Stats => (
                "batch_stats",
                "batch_stats_wide",
                Some("batch_stats_columns"),
            ),
            Pass::Sums => (
                "batch_norm_sums",
                "batch_norm_sums_wide",
                Some("batch_norm_sums_columns"),
            ),
            Pass::Normalize => ("batch_normalize", "batch_normalize_wide", None),
            Pass::InputGrad => ("batch_norm_input_grad", "batch_norm_input_grad_wide", None),
        }
    }
}

impl Tensor {
    /// PyTorch's batch_norm: in training mode normalise with the batch's statistics (biased
    /// variance) and move `running` towards them (unbiased variance) by `momentum`; in eval
    /// mode normalise with `running`.
    pub fn batch_norm(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        running: RunningStats,
        training: bool,
        momentum: f32,
        eps: f32,
    ) -> Tensor {
        self.batch_norm_rectified(gamma, beta, running, (training, momentum, eps), 1.0)
    }

    /// batch_norm followed by a leaky rectifier of `slope` (0: ReLU) with (training,
    /// momentum, eps) as batch_norm's. In training mode the rectifier runs inside batch
    /// norm's passes, forward and backward: two passes over the activations fewer.
    pub fn batch_norm_rectified(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        running: RunningStats,
        (training, momentum, eps): (bool, f32, f32),
        slope: f32,
    ) -> Tensor {
        if !training && slope != 1.0 {
            // Eval mode's backward is a per-channel scale that does not see the rectifier.
            return self
                .batch_norm(gamma, beta, running, false, momentum, eps)
                .leaky_relu(slope);
        }
        let (n, c, s) = ncs(self);
        assert!(
            gamma.numel() == c && beta.numel() == c,
            "batch norm over {c} channels got gamma {} and beta {}",
            gamma.shape(),
            beta.shape()
        );
        let gpu = self.gpu();
        let params = [
            n as u32,
            c as u32,
            s as u32,
            eps.to_bits(),
            momentum.to_bits(),
        ];
        let packed = Tensor::uninit(gpu, &[2 * c, 4]);
        let out = Tensor::uninit(gpu, self.dims());
        // Threads per channel of the two reductions (see shaders/norm.wgsl).
        let launch = Launch::new(gpu, (n, c, s), slope, training);
        let group = [
            ("GROUP", crate::ops::reduce::tree_threads(gpu)),
            ("SLOPE", f64::from(slope)),
            packed_constants(training),
            ("STRADDLE", f64::from(u8::from(launch.straddle))),
        ];
        let (mean, var) = if training {
            assert!(
                n * s > 1,
                "batch norm in training mode needs more than one value per channel"
            );
            let (mean, var) = (Tensor::uninit(gpu, &[c]), Tensor::uninit(gpu, &[c]));
            let per_channel = [
                (2, mean.buffer()),
                (3, var.buffer()),
                (4, gamma.buffer()),
                (5, beta.buffer()),
                (7, running.mean.buffer()),
                (8, running.var.buffer()),
                (15, packed.buffer()),
            ];
            if launch.fused {
                // dy is not read here: the kernel shares its writer with the gradient's.
                fused_pass(
                    &Kernel::new(&NORM, "batch_norm_train_wide")
                        .with(&group)
                        .doing(5 * self.numel(), 3 * self.numel() + 6 * c),
                    [self, self, &out],
                    &per_channel,
                    &params,
                    launch.reduction_grid(c),
                );
            } else {
                let (entry, [x_at, ..]) = launch.entry(Pass::Stats);
                gpu.dispatch_by_binding(
                    // A sum and a sum of squares per value; the running averages are per
                    // channel.
                    &Kernel::new(&NORM, entry)
                        .with(&group)
                        .doing(3 * self.numel(), self.numel() + 6 * c),
                    &[&[(x_at, self.buffer())], &per_channel[..]].concat(),
                    &params,
                    launch.reduction_grid(c),
                );
            }
            (mean, var)
        } else {
            (running.mean.detach(), running.var.detach())
        };
        if !launch.fused {
            let (entry, [x_at, _, out_at]) = launch.entry(Pass::Normalize);
            gpu.dispatch_by_binding(
                &Kernel::new(&NORM, entry)
                    .with(&launch.per_element)
                    .doing(2 * self.numel(), 2 * self.numel() + 4 * c),
                &[
                    (x_at, self.buffer()),
                    (2, mean.buffer()),
                    (3, var.buffer()),
                    (4, gamma.buffer()),
                    (5, beta.buffer()),
                    (out_at, out.buffer()),
                    (15, packed.buffer()),
                ],
                &params,
                launch.grid,
            );
        }
        let (x, g, b) = (self.detach(), gamma.detach(), beta.detach());
        let backward = move |dy: &Tensor, needs: &[bool]| {
            let gpu = x.gpu();
            let (sum_dy, sum_dy_xhat) = (Tensor::uninit(gpu, &[c]), Tensor::uninit(gpu, &[c]));
            // Per channel: the statistics, gamma and beta (for the rectifier's side) and the
            // sums, which the first kernel writes and the second reads.
            let per_channel = [
                (2, mean.buffer()),
                (3, var.buffer()),
                (4, g.buffer()),
                (5, b.buffer()),
                (9, sum_dy.buffer()),
                (10, sum_dy_xhat.buffer()),
                (15, packed.buffer()),
            ];
            if launch.fused && needs[0] {
                let dx = Tensor::uninit(gpu, x.dims());
                fused_pass(
                    &Kernel::new(&NORM, "batch_norm_grad_wide")
                        .with(&[&group[..], &[("GRADIENT", 1.0)]].concat())
                        .doing(9 * x.numel(), 5 * x.numel() + 9 * c),
                    [&x, dy, &dx],
                    &per_channel,
                    &params,
                    launch.reduction_grid(c),
                );
                return vec![
                    Some(dx),
                    needs[1].then(|| sum_dy_xhat.reshape(g.dims())),
                    needs[2].then(|| sum_dy.reshape(g.dims())),
                ];
            }
            let (entry, [x_at, dy_at, _]) = launch.entry(Pass::Sums);
            gpu.dispatch_by_binding(
                &Kernel::new(&NORM, entry)
                    .with(&group)
                    .doing(4 * x.numel(), 2 * x.numel() + 4 * c),
                &[
                    &[(x_at, x.buffer()), (dy_at, dy.buffer())],
                    &per_channel[..],
                ]
                .concat(),
                &params,
                launch.reduction_grid(c),
            );
            let dx = needs[0].then(|| {
                if training {
                    let dx = Tensor::uninit(gpu, x.dims());
                    let (entry, [x_at, dy_at, out_at]) = launch.entry(Pass::InputGrad);
                    gpu.dispatch_by_binding(
                        &Kernel::new(&NORM, entry)
                            .with(&launch.per_element)
                            .doing(5 * x.numel(), 3 * x.numel() + 5 * c),
                        &[
                            &[
                                (x_at, x.buffer()),
                                (dy_at, dy.buffer()),
                                (out_at, dx.buffer()),
                            ],
                            &per_channel[..],
                        ]
                        .concat(),
                        &params,
                        launch.grid,
                    );
                    dx
                } else {
                    // Fixed statistics: only the per-channel scale gamma / sqrt(var + eps).
                    let scale = var.add_scalar(eps).sqrt().reciprocal().mul(&g);
                    let shape: Vec<usize> = if s == 1 { vec![1, c] } else { vec![1, c, 1, 1] };
                    dy.mul(&scale.reshape(&shape))
                }
            });
            vec![
                dx,
                needs[1].then(|| sum_dy_xhat.reshape(g.dims())),
                needs[2].then(|| sum_dy.reshape(g.dims())),
            ]
        };
        record(&[self, gamma, beta], out, Box::new(backward))
    }
}
