//! `pegasus bench`: kernel speed on the chosen adapter, as rates and as a share of the
//! adapter's FMA peak measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::gpu::{Gpu, Grid, Kernel};
use crate::ops::Rng;
use crate::ops::shaders::BENCH;
use crate::tensor::Tensor;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// f32 FMA rate of a register-only kernel: the ceiling for every kernel on this adapter.
    #[command(after_help = "Example:\n  pegasus bench peak")]
    Peak,
    /// Matrix product GFLOP/s for square sizes 256..2048, or the sizes given.
    #[command(
        after_help = "Examples:\n  pegasus bench matmul\n  pegasus bench matmul --size 1024,1024,1024 --size 4096,64,4096\n  PEGASUS_PROFILE=1 pegasus bench matmul --size 512,512,512"
    )]
    Matmul {
        /// M,N,K of C[M,N] = A[M,K] B[K,N]; repeat the flag for several sizes.
        #[arg(long, value_name = "M,N,K", value_parser = parse_size)]
        size: Vec<[usize; 3]>,
    },
}

fn parse_size(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let numbers: Result<Vec<usize>, _> = parts.iter().map(|p| p.parse::<usize>()).collect();
    match numbers {
        Ok(v) if v.len() == 3 && v.iter().all(|&x| x > 0) => Ok([v[0], v[1], v[2]]),
        _ => Err(format!(
            "`{s}` is not a size: give three positive integers M,N,K, e.g. 1024,1024,1024"
        )),
    }
}

pub fn run(gpu: &Arc<Gpu>, args: &BenchArgs) -> anyhow::Result<()> {
    match &args.what {
        BenchCommand::Peak => {
            let peak = fma_peak(gpu);
            println!("f32 FMA peak: {:.1} GFLOP/s", peak / 1e9);
        }
        BenchCommand::Matmul { size } => {
            let sizes = if size.is_empty() {
                vec![[256; 3], [512; 3], [1024; 3], [2048; 3]]
            } else {
                size.clone()
            };
            bench_matmul(gpu, &sizes)?;
        }
    }
    super::print_profile(gpu);
    Ok(())
}

/// Median seconds of `run` over enough repetitions to fill about a second (at least 3),
/// after one warm-up that also builds the pipelines.
pub(crate) fn median_seconds(gpu: &Gpu, mut run: impl FnMut()) -> f64 {
    run();
    gpu.sync();
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 3 || (started.elapsed().as_secs_f64() < 1.0 && times.len() < 50) {
        let t = Instant::now();
        run();
        gpu.sync();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// FLOP/s of the register-only FMA kernel.
pub(crate) fn fma_peak(gpu: &Arc<Gpu>) -> f64 {
    let threads: u32 = if gpu.is_software() {
        256 * 16
    } else {
        256 * 4096
    };
    let iterations: u32 = 16384;
    let out = Tensor::uninit(gpu, &[threads as usize]);
    let seconds = median_seconds(gpu, || {
        gpu.dispatch(
            &Kernel::new(&BENCH, "fma_peak"),
            &[out.buffer()],
            &[iterations],
            Grid([threads / 64, 1, 1]),
        );
    });
    f64::from(threads) * f64::from(iterations) * 8.0 * 4.0 * 2.0 / seconds
}

fn bench_matmul(gpu: &Arc<Gpu>, sizes: &[[usize; 3]]) -> anyhow::Result<()> {
    let peak = fma_peak(gpu);
    println!(
        "adapter f32 FMA peak (register-only kernel): {:.1} GFLOP/s",
        peak / 1e9
    );
    println!(
        "{:>16} {:>10} {:>10} {:>8}",
        "M x N x K", "ms", "GFLOP/s", "of peak"
    );
    let mut rng = Rng::new(1);
    for &[m, n, k] in sizes {
        gpu.check_binding((m.max(n) * k.max(n)) as u64 * 4)?;
        let a = rng.uniform(gpu, &[m, k], -1.0, 1.0);
        let b = rng.uniform(gpu, &[k, n], -1.0, 1.0);
        let seconds = median_seconds(gpu, || {
            a.matmul(&b);
        });
        let flops = 2.0 * (m * n * k) as f64 / seconds;
        println!(
            "{:>16} {:>10.3} {:>10.1} {:>7.1}%",
            format!("{m}x{n}x{k}"),
            seconds * 1e3,
            flops / 1e9,
            100.0 * flops / peak
        );
    }
    Ok(())
}
