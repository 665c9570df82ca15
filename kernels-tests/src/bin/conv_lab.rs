//! Kernel lab for the convolution GEMMs: times each given convolution shape (best of 5, host
//! clock around a finished queue) in one of the implicit-GEMM modes, with every GEMM kernel
//! this adapter can run. Each argument is MODE:BATCH,CI,SIDE,CO,STRIDE[,KERNEL,PADDING] with
//! MODE c (convolution forward), t (transposed convolution forward, CI input channels to CO,
//! output padding STRIDE - 1) or w (convolution forward and its weight gradient); the kernel
//! is 5 x 5 with padding 2 unless given.
//!
//!     cargo run --release -p kernels-tests --bin conv_lab c:64,8,32,16,2 t:16,64,16,32,2,4,1
//!
//! LAB_KERNEL=WindowRows (or Lanes, Tiled) times that kernel alone.

use pegasus::ops::conv::ConvGeometry;
use pegasus::ops::gemm::GemmKernel;
use pegasus::{AdapterChoice, Gpu, Rng, Tensor};
use std::time::Instant;

fn best(gpu: &Gpu, mut f: impl FnMut() -> Tensor) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        gpu.sync();
        let t = Instant::now();
        let y = f();
        gpu.sync();
        best = best.min(t.elapsed().as_secs_f64());
        drop(y);
    }
    best
}

fn main() {
    let gpu = Gpu::new(&AdapterChoice::from_flag_or_env(None)).expect("adapter");
    let mut rng = Rng::new(7);
    let mut kernels = GemmKernel::available(&gpu);
    if let Ok(only) = std::env::var("LAB_KERNEL") {
        kernels.retain(|k| format!("{k:?}") == only);
        assert!(
            !kernels.is_empty(),
            "LAB_KERNEL={only}: not a GEMM kernel this adapter runs ({:?})",
            GemmKernel::available(&gpu)
        );
    }
    for spec in std::env::args().skip(1) {
        let (mode, sizes) = spec
            .split_once(':')
            .unwrap_or_else(|| panic!("{spec}: expected MODE:BATCH,CI,SIDE,CO,STRIDE"));
        let v: Vec<usize> = sizes
            .split(',')
            .map(|x| x.parse().expect("sizes are integers"))
            .collect();
        let (b, ci, side, co, s) = (v[0], v[1], v[2], v[3], v[4]);
        let (k, pad) = (
            v.get(5).copied().unwrap_or(5),
            v.get(6).copied().unwrap_or(2),
        );
        let g = ConvGeometry::new(s, pad);
        let x = rng.uniform(&gpu, &[b, ci, side, side], -1.0, 1.0);
        let mut line = format!("{spec:<24}");
        for &kernel in &kernels {
            let (secs, flops) = match mode {
                "c" | "w" => {
                    let w = rng.uniform(&gpu, &[co, ci, k, k], -1.0, 1.0);
                    let ho = g.conv_out(side, k).expect("the kernel fits");
                    let flops = 2.0 * (b * co * ho * ho * ci * k * k) as f64;
                    if mode == "c" {
                        (best(&gpu, || x.conv2d_with(&w, None, g, kernel)), flops)
                    } else {
                        let wt = w.track();
                        let dy = rng.uniform(&gpu, &[b, co, ho, ho], -1.0, 1.0);
                        let step = || {
                            let y = x.conv2d_with(&wt, None, g, kernel);
                            let grads = y.backward_with(dy.clone());
                            grads.get(&wt).expect("weight gradient").clone()
                        };
                        (best(&gpu, step), 2.0 * flops)
                    }
                }
                _ => {
                    let w = rng.uniform(&gpu, &[ci, co, k, k], -1.0, 1.0);
                    let run = || x.conv_transpose2d_with(&w, None, g, s - 1, kernel);
                    let ho = run().dims()[2];
                    let flops = 2.0 * (b * co * ho * ho * ci * k * k) as f64 / (s * s) as f64;
                    (best(&gpu, run), flops)
                }
            };
            line += &format!(
                "  {kernel:?} {:.2} ms {:.1} GFLOP/s",
                secs * 1e3,
                flops / secs / 1e9
            );
        }
        println!("{line}");
    }
}
