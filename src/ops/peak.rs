//! The adapter's ceilings, measured in the run that reports against them: the FMA rate of a
//! register-only kernel and the bandwidth of a large copy (shaders/bench.wgsl).

use std::sync::Arc;
use std::time::Instant;

use crate::gpu::{Gpu, Grid, Kernel, Peaks};
use crate::ops::shaders::BENCH;
use crate::tensor::Tensor;

/// Median seconds of `run` (waited for each time) after `warm_up` untimed runs, timing runs
/// until `enough(runs so far, seconds since the first)`.
pub fn timed_median(
    gpu: &Gpu,
    warm_up: usize,
    enough: impl Fn(usize, f64) -> bool,
    mut run: impl FnMut(),
) -> f64 {
    for _ in 0..warm_up {
        run();
    }
    gpu.sync();
    let mut times = Vec::new();
    let started = Instant::now();
    while !enough(times.len(), started.elapsed().as_secs_f64()) {
        let t = Instant::now();
        run();
        gpu.sync();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Median seconds of `run` over enough repetitions to fill about a second (at least 3, at
/// most 50), after one warm-up that also builds the pipelines.
pub fn median_seconds(gpu: &Gpu, run: impl FnMut()) -> f64 {
    timed_median(
        gpu,
        1,
        |runs, seconds| runs >= 50 || (runs >= 3 && seconds >= 1.0),
        run,
    )
}

/// FLOP/s of the register-only FMA kernel.
pub fn fma_peak(gpu: &Arc<Gpu>) -> f64 {
    let threads: u32 = if gpu.is_software() {
        256 * 16
    } else {
        256 * 4096
    };
    let iterations: u32 = 16384;
    let flops = f64::from(threads) * f64::from(iterations) * 8.0 * 4.0 * 2.0;
    let out = Tensor::uninit(gpu, &[threads as usize]);
    let kernel = Kernel::new(&BENCH, "fma_peak").doing(flops as usize, threads as usize);
    let seconds = median_seconds(gpu, || {
        gpu.dispatch(
            &kernel,
            &[out.buffer()],
            &[iterations],
            Grid([threads / 64, 1, 1]),
        );
    });
    flops / seconds
}

/// Bytes/s (read + written) of a copy of 64 MiB (256 MiB on a GPU).
pub fn copy_bandwidth(gpu: &Arc<Gpu>) -> f64 {
    let bytes: usize = if gpu.is_software() {
        64 << 20
    } else {
        256 << 20
    };
    let bytes = bytes.min(gpu.limits().max_storage_buffer_binding_size as usize / 2 * 2);
    let floats = bytes / 4;
    let (src, dst) = (
        Tensor::zeros(gpu, &[floats]),
        Tensor::uninit(gpu, &[floats]),
    );
    let vectors = floats / 4;
    let kernel = Kernel::new(&BENCH, "copy_bandwidth").doing(0, 2 * floats);
    let grid = gpu.linear_grid((vectors as u64).div_ceil(64));
    let seconds = median_seconds(gpu, || {
        gpu.dispatch(
            &kernel,
            &[src.buffer(), dst.buffer()],
            &[vectors as u32],
            grid,
        );
    });
    2.0 * (4 * floats) as f64 / seconds
}

pub fn measure(gpu: &Arc<Gpu>) -> Peaks {
    Peaks {
        flops: fma_peak(gpu),
        bytes: copy_bandwidth(gpu),
    }
}
