//! Launches of the explicit and implicit matrix products in shaders/gemm_*.wgsl: matmul and
//! the three convolution GEMMs.

use crate::gpu::{Gpu, Grid, Kernel};
use crate::ops::shaders::{GEMM_LANES, GEMM_LANES_16, GEMM_TILED};
use crate::tensor::Tensor;

/// Which GEMM kernel runs; `Auto` picks per adapter (see shaders/gemm_common.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    Auto,
    /// Workgroup-memory tiles: for GPUs.
    Tiled,
    /// One subgroup per workgroup: for software rasterisers; needs subgroups.
    Lanes,
    /// `Lanes`, with a convolution's windows read a run of an image row at a time where their
    /// layout allows (gemm_window_rows, and B_WIDE 3 for weight gradients); the rest as
    /// `Lanes`.
    WindowRows,
}

/// Subgroup size the lanes kernel runs with, if this adapter can run it: every subgroup the
/// same size (the kernel shuffles across exactly one).
pub(crate) fn lanes(gpu: &Gpu) -> Option<u32> {
    let info = gpu.info();
    let size = info.subgroup_min_size;
    (gpu.has_subgroups() && size == info.subgroup_max_size && [4, 8, 16, 32].contains(&size))
        .then_some(size)
}

impl GemmKernel {
    /// The kernels this adapter can run (tests run each).
    pub fn available(gpu: &Gpu) -> Vec<GemmKernel> {
        let mut kernels = vec![GemmKernel::Tiled];
        if lanes(gpu).is_some() {
            kernels.extend([GemmKernel::Lanes, GemmKernel::WindowRows]);
        }
        kernels
    }

    fn resolve(self, gpu: &Gpu) -> GemmKernel {
        match self {
            GemmKernel::Auto if gpu.is_software() && lanes(gpu).is_some() => GemmKernel::WindowRows,
            GemmKernel::Auto => GemmKernel::Tiled,
            other => other,
        }
    }
}

/// How elements of A, B and C are found (MODE in the shader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Matmul { trans_a: bool, trans_b: bool },
    Conv,
    Transposed,
    WeightGrad,
}

/// Mirrors `Params` in shaders/gemm_common.wgsl field for field.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GemmParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub a_batch_stride: u32,
    pub b_batch_stride: u32,
    pub c_batch_stride: u32,
    pub src_h: i32,
    pub src_w: i32,
    pub src_image: u32,
    pub dst_w: u32,
    pub dst_image: u32,
    pub dst_channel: u32,
    pub grid_h: u32,
    pub grid_w: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride: i32,
    pub pad: i32,
    pub dilation: i32,
    pub out_c: u32,
    pub class_y: u32,
    pub class_x: u32,
    pub taps_y: u32,
    pub taps_x: u32,
    pub tap0_y: u32,
    pub tap0_x: u32,
    pub tap_step_y: u32,
    pub tap_step_x: u32,
    pub shift_y: i32,
    pub shift_x: i32,
    pub src_step_y: i32,
    pub src_step_x: i32,
    pub interleave: u32,
}

/// Where a bias is added: per row of C (an output channel) or per column (a feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BiasAlong {
    Rows = 1,
    Columns = 2,
}

/// Blocks a dispatch must keep to take blocks of 64 rows or more: enough for every core of a
/// software rasteriser to get several, so the last ones do not leave cores idle.
const MIN_BLOCKS_FOR_TALL_BLOCKS: usize = 8;

/// gemm_big_blocks' block: 128 rows by 16 columns per lane (four quads).
const BIG_BLOCK_ROWS: usize = 128;
const BIG_BLOCK_COLUMNS_PER_LANE: usize = 16;

/// Array sizes of gemm_window_rows.
const MAX_TAPS: u32 = 8;
const MAX_SPAN: i32 = 16;

/// Override constants of gemm_window_rows.
#[derive(Clone, Copy)]
struct WindowRows {
    taps: u32,
    col_step: i32,
    tap_step: i32,
    span: u32,
    /// Rows have at most 4 taps and K has an even count of them: blocks of up to 32 rows take
    /// two window rows per step (WINDOW_ROWS_PER_STEP).
    pairable: bool,
}

/// A convolution GEMM's columns with every output row padded to a multiple of 4 columns, for
/// gemm_window_rows (the padding columns are computed but not stored).
fn padded_rows(p: &GemmParams) -> GemmParams {
    let grid = p.grid_h * p.grid_w;
    let grid_w = p.grid_w.next_multiple_of(4);
    GemmParams {
        n: p.n / grid * p.grid_h * grid_w,
        grid_w,
        ..*p
    }
}

/// One GEMM launch: C (`out`) = A B under `mode`, over `batch` grid layers.
pub(crate) struct Gemm<'a> {
    pub mode: Mode,
    pub params: GemmParams,
    pub batch: usize,
    pub a: &'a Tensor,
    pub b: &'a Tensor,
    pub bias: Option<(&'a Tensor, BiasAlong)>,
    pub out: &'a Tensor,
    pub kernel: GemmKernel,
}

impl Gemm<'_> {
    pub(crate) fn launch(&self) {
        let gpu = self.out.gpu();
        let p = &self.params;
        let (m, n) = (p.m as usize, p.n as usize);
        if m == 0 || n == 0 || self.batch == 0 {
            return;
        }
        let flag = |on: bool| f64::from(u8::from(on));
        let (mode, ta, tb) = match self.mode {
            Mode::Matmul { trans_a, trans_b } => (0, trans_a, trans_b),
            Mode::Conv => (1, false, false),
            Mode::Transposed => (2, false, false),
            Mode::WeightGrad => (3, false, false),
        };
        let bias_kind = self.bias.map_or(0, |(_, along)| along as u32);
        let bias_buffer = self.bias.map_or(self.a.buffer(), |(t, _)| t.buffer());
        let storage = [
            self.a.buffer(),
            self.b.buffer(),
            bias_buffer,
            self.out.buffer(),
        ];
        // Useful work: a multiply-add per (row, column, k), each operand read once and the
        // result written once (a convolution's image, not its windows).
        let flops = 2 * m * n * p.k as usize * self.batch;
        let floats = self.a.numel()
            + self.b.numel()
            + m * n * self.batch
            + self.bias.map_or(0, |(t, _)| t.numel());
        let mut constants = vec![
            ("MODE", f64::from(mode)),
            ("TRANS_A", flag(ta)),
            ("TRANS_B", flag(tb)),
            ("BIAS", f64::from(bias_kind)),
        ];
        match self.kernel.resolve(gpu) {
            resolved @ (GemmKernel::Lanes | GemmKernel::WindowRows) => {
                let lanes = lanes(gpu).unwrap_or_else(|| {
                    panic!(
                        "the lanes GEMM needs subgroups of one size on {}",
                        gpu.info().name
                    )
                });
                let lanes = lanes as usize;
                if self.fits_big_blocks(lanes) {
                    constants.push(("LANES", lanes as f64));
                    let grid = Grid([
                        n.div_ceil(BIG_BLOCK_COLUMNS_PER_LANE * lanes) as u32,
                        m.div_ceil(BIG_BLOCK_ROWS) as u32,
                        self.batch as u32,
                    ]);
                    let kernel = Kernel::new(&GEMM_LANES, "gemm_big_blocks")
                        .with(&constants)
                        .tagged(self.tag())
                        .doing(flops, floats);
                    let words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(p));
                    // It reads A and B only as vec4s (bindings 5 and 6).
                    let [_, _, bias, c] = storage;
                    let bound = [
                        (3, bias),
                        (4, c),
                        (5, self.a.buffer()),
                        (6, self.b.buffer()),
                    ];
                    gpu.dispatch_by_binding(&kernel, &bound, words, grid);
                    return;
                }
                // One quad of columns per lane where two would mostly cover nothing.
                let quads: u32 = if n <= 4 * lanes { 1 } else { 2 };
                // Rows per block: 4, 8 or 16 for narrow M, else the full 32 even where M needs
                // fewer. A block of 16 rows takes arrays of 16 (gemm_rows16.wgsl): with 12 to 28
                // rows of a 32-row array llvmpipe keeps the accumulators in memory (the row loop
                // neither covers the array nor is short enough to unroll), 3 to 10 times slower
                // than 32 rows in kernels-tests/lab/README.md's measurements. Past 32, 64 rows
                // (two arrays of 32) halve the loads per multiply-add, where the shader's 8
                // groups of lanes hold them, the grid keeps every core busy and each lane has
                // two quads of columns (with one, 64 rows measured slower than 32).
                let column_blocks = n.div_ceil(4 * quads as usize * lanes) * self.batch;
                let rows = match m {
                    0..=4 => 4,
                    5..=8 => 8,
                    9..=16 => 16,
                    _ if m > 32
                        && quads == 2
                        && 64 <= 8 * lanes
                        && m.div_ceil(64) * column_blocks >= MIN_BLOCKS_FOR_TALL_BLOCKS =>
                    {
                        64
                    }
                    _ => 32,
                };
                constants.extend([
                    ("LANES", lanes as f64),
                    ("ROWS", rows as f64),
                    ("QUADS", f64::from(quads)),
                ]);
                let window = self
                    .window_rows()
                    .filter(|_| resolved == GemmKernel::WindowRows);
                let entry = match window {
                    Some(w) => {
                        constants.extend([
                            ("TAPS", f64::from(w.taps)),
                            ("COL_STEP", f64::from(w.col_step)),
                            ("TAP_STEP", f64::from(w.tap_step)),
                            ("SPAN", f64::from(w.span)),
                            (
                                "WINDOW_ROWS_PER_STEP",
                                if w.pairable && rows <= 32 { 2.0 } else { 1.0 },
                            ),
                        ]);
                        // A's rows hold each window row's 4 taps at a multiple of 4 in a
                        // convolution with 4-wide kernels (K = Ci kh 4).
                        let a_wide = self.mode == Mode::Conv && w.taps == 4;
                        constants
                            .extend([("ADJACENT", 1.0), ("A_WIDE", f64::from(u8::from(a_wide)))]);
                        "gemm_window_rows"
                    }
                    None => {
                        let (a_wide, b_wide) = self.wide_reads();
                        let gradient_window = self
                            .gradient_window()
                            .filter(|_| resolved == GemmKernel::WindowRows);
                        let b_wide = match gradient_window {
                            Some((k_step, col_step, span)) => {
                                constants.extend([
                                    ("K_STEP", f64::from(k_step)),
                                    ("COL_STEP", f64::from(col_step)),
                                    ("SPAN", f64::from(span)),
                                ]);
                                3
                            }
                            None => b_wide,
                        };
                        let k_runs =
                            self.mode == Mode::WeightGrad && self.params.grid_w.is_multiple_of(4);
                        let wide_store = matches!(self.mode, Mode::Matmul { .. })
                            && b_wide == 2
                            && self.params.n.is_multiple_of(4)
                            && self.params.c_batch_stride.is_multiple_of(4);
                        constants.push(("WIDE_STORE", f64::from(u8::from(wide_store))));
                        constants.extend([
                            ("A_WIDE", f64::from(a_wide)),
                            ("B_WIDE", f64::from(b_wide)),
                            ("ADJACENT", f64::from(u8::from(b_wide >= 2))),
                            ("K_RUNS", f64::from(u8::from(k_runs))),
                        ]);
                        "gemm_lanes"
                    }
                };
                let params = match window {
                    Some(_) => padded_rows(p),
                    None => *p,
                };
                let grid = Grid([
                    (params.n as usize).div_ceil(4 * quads as usize * lanes) as u32,
                    m.div_ceil(rows) as u32,
                    self.batch as u32,
                ]);
                let shader = if rows == 16 {
                    &GEMM_LANES_16
                } else {
                    &GEMM_LANES
                };
                let kernel = Kernel::new(shader, entry)
                    .with(&constants)
                    .tagged(self.tag())
                    .doing(flops, floats);
                // gemm_lanes also sees A, B and C as vec4s, gemm_window_rows A and C.
                let (a4, b4, c4) = (self.a.buffer(), self.b.buffer(), self.out.buffer());
                let wide: &[&wgpu::Buffer] = if window.is_some() {
                    &[a4, c4]
                } else {
                    &[a4, b4, c4]
                };
                let words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&params));
                gpu.dispatch(&kernel, &[&storage[..], wide].concat(), words, grid);
            }
            _ => {
                let grid = Grid([
                    n.div_ceil(64) as u32,
                    m.div_ceil(64) as u32,
                    self.batch as u32,
                ]);
                let kernel = Kernel::new(&GEMM_TILED, "gemm_tiled")
                    .with(&constants)
                    .tagged(self.tag())
                    .doing(flops, floats);
                gpu.dispatch(
                    &kernel,
                    &storage,
                    bytemuck::cast_slice(std::slice::from_ref(p)),
                    grid,
                );
            }
        }
    }

    /// Whether gemm_big_blocks takes this product: a matmul reading both operands four values
    /// at a time, K a multiple of its 8 k per step, M past one 64-row block and enough
    /// 128-row blocks to keep every core busy.
    fn fits_big_blocks(&self, lanes: usize) -> bool {
        let p = &self.params;
        let (m, n) = (p.m as usize, p.n as usize);
        matches!(self.mode, Mode::Matmul { .. })
            && self.wide_reads() == (1, 2)
            && p.k.is_multiple_of(8)
            && m > 64
            && (4..=32).contains(&lanes)
            && m.div_ceil(BIG_BLOCK_ROWS)
                * n.div_ceil(BIG_BLOCK_COLUMNS_PER_LANE * lanes)
                * self.batch
                >= MIN_BLOCKS_FOR_TALL_BLOCKS
    }

    /// A_WIDE and B_WIDE of shaders/gemm_lanes.wgsl: which operands can be read four values
    /// per load, given where their runs of adjacent values lie and whether those runs start on
    /// 16-byte boundaries at every row, column, k step and batch layer.
    fn wide_reads(&self) -> (u32, u32) {
        let p = &self.params;
        let fours = |values: &[u32]| values.iter().all(|v| v % 4 == 0);
        match self.mode {
            Mode::Matmul { trans_a, trans_b } => {
                let a = u32::from(!trans_a && fours(&[p.k, p.a_batch_stride]));
                let b = match trans_b {
                    true if fours(&[p.k, p.b_batch_stride]) => 1,
                    false if fours(&[p.n, p.b_batch_stride]) => 2,
                    _ => 0,
                };
                (a, b)
            }
            // A is the weights [Co, Ci kh kw], a row per output channel.
            Mode::Conv => (u32::from(fours(&[p.k])), 0),
            // A is dy, k running over (image, position): runs of four stay inside an image.
            Mode::WeightGrad => (u32::from(fours(&[p.grid_h * p.grid_w])), 0),
            Mode::Transposed => (0, 0),
        }
    }

    /// The window-row layout of a convolution GEMM (shaders/gemm_lanes.wgsl,
    /// gemm_window_rows), if it has one: quads of four columns inside one output row, at most
    /// MAX_TAPS taps per window row reading at most MAX_SPAN image values per quad, and output
    /// rows that `padded_rows` widens by at most a third.
    fn window_rows(&self) -> Option<WindowRows> {
        let p = &self.params;
        let (taps, col_step, tap_step) = match self.mode {
            Mode::Conv => (p.kw, p.stride, p.dilation),
            Mode::Transposed => (p.taps_x, 1, -p.src_step_x),
            _ => return None,
        };
        let span = 3 * col_step + (taps.max(1) as i32 - 1) * tap_step.abs() + 1;
        let padding = p.grid_w.next_multiple_of(4) - p.grid_w;
        let fits = (1..=MAX_TAPS).contains(&taps) && span <= MAX_SPAN && 3 * padding <= p.grid_w;
        // Two window rows per step measured up to 10% faster for the 2 taps of a stride-2
        // transposed convolution's class in blocks of 32 rows, but slower in blocks of 64 (two
        // accumulator arrays), and four rows slower than two (kernels-tests/lab/README.md).
        let pairable = 2 * taps <= MAX_TAPS && (p.k / taps.max(1)).is_multiple_of(2);
        fits.then_some(WindowRows {
            taps,
            col_step,
            tap_step,
            span: span as u32,
            pairable,
        })
    }

    /// B_WIDE 3 of gemm_lanes for a weight gradient, if its layout allows: (K_STEP,
    /// COL_STEP, SPAN), quads of four kernel columns inside one kernel row and steps of four k
    /// inside one output row.
    fn gradient_window(&self) -> Option<(i32, i32, u32)> {
        let p = &self.params;
        let span = 3 * p.stride + 3 * p.dilation + 1;
        let fits = self.mode == Mode::WeightGrad
            && p.kw.is_multiple_of(4)
            && p.grid_w.is_multiple_of(4)
            && span <= MAX_SPAN;
        fits.then_some((p.stride, p.dilation, span as u32))
    }

    fn tag(&self) -> &'static str {
        match self.mode {
            Mode::Matmul { .. } => "matmul",
            Mode::Conv => "conv",
            Mode::Transposed => "conv_transposed",
            Mode::WeightGrad => "conv_weight_grad",
        }
    }
}
