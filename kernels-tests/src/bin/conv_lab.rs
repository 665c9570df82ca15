//! Kernel lab for the convolution GEMMs: times each given 5x5 convolution shape (best of 5,
//! host clock around a finished queue) in one of the three implicit-GEMM modes.
//! Each argument is MODE:BATCH,CI,SIDE,CO,STRIDE with MODE c (convolution forward),
//! t (transposed convolution forward, CI input channels to CO) or w (convolution forward
//! and its weight gradient). Padding is 2.
//!
//!     cargo run --release -p kernels-tests --bin conv_lab c:64,8,32,16,2 t:64,8,32,3,1
use pegasus::ops::conv::ConvGeometry;
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
    for spec in std::env::args().skip(1) {
        let parts: Vec<&str> = spec.split(':').collect();
        let v: Vec<usize> = parts[1].split(',').map(|x| x.parse().unwrap()).collect();
        let (b, ci, side, co, s) = (v[0], v[1], v[2], v[3], v[4]);
        let g = ConvGeometry::new(s, 2);
        let x = rng.uniform(&gpu, &[b, ci, side, side], -1.0, 1.0);
        let (secs, flops) = match parts[0] {
            "c" | "w" => {
                let w = rng.uniform(&gpu, &[co, ci, 5, 5], -1.0, 1.0);
                let ho = g.conv_out(side, 5).unwrap();
                let flops = 2.0 * (b * co * ho * ho * ci * 25) as f64;
                if parts[0] == "c" {
                    (best(&gpu, || x.conv2d(&w, None, g)), flops)
                } else {
                    let wt = w.track();
                    let dy = rng.uniform(&gpu, &[b, co, ho, ho], -1.0, 1.0);
                    (
                        best(&gpu, || {
                            let y = x.conv2d(&wt, None, g);
                            let grads = y.backward_with(dy.clone());
                            grads.get(&wt).unwrap().clone()
                        }),
                        2.0 * flops,
                    )
                }
            }
            _ => {
                let w = rng.uniform(&gpu, &[ci, co, 5, 5], -1.0, 1.0);
                let y = x.conv_transpose2d(&w, None, g, s - 1);
                let ho = y.dims()[2];
                let flops = 2.0 * (b * co * ho * ho * ci * 25) as f64 / (s * s) as f64;
                (best(&gpu, || x.conv_transpose2d(&w, None, g, s - 1)), flops)
            }
        };
        println!(
            "{spec}: {:.2} ms {:.1} GFLOP/s",
            secs * 1e3,
            flops / secs / 1e9
        );
    }
}
