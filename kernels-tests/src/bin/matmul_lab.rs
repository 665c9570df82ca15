//! Kernel lab for matmul: runs every variant in kernels-tests/lab/matmul/ (or the files
//! given) through a correctness check on an odd shape (K and N multiples of 4, which the
//! variants reading vec4s need) and times 1024^3 and 2048^3.
//! A variant's first line declares its tiling: `// lab: tile_m=R tile_n=C workgroup=W`.
//!
//!     cargo run --release -p kernels-tests --bin matmul_lab [FILE.wgsl ...]

use std::time::Instant;

use pegasus::gpu::{Grid, Kernel, Shader};
use pegasus::{AdapterChoice, Gpu, Rng, Tensor};

fn header_value(source: &str, key: &str) -> usize {
    let line = source
        .lines()
        .find(|l| l.starts_with("// lab:"))
        .unwrap_or("");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("lab header needs {key}=N"))
}

fn main() {
    let mut files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/matmul");
        let mut entries: Vec<String> = std::fs::read_dir(dir)
            .expect("lab folder")
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| p.ends_with(".wgsl"))
            .collect();
        entries.sort();
        files = entries;
    }
    let gpu = Gpu::new(&AdapterChoice::from_flag_or_env(None)).expect("adapter");
    let mut rng = Rng::new(7);
    for file in files {
        let source: &'static str =
            Box::leak(std::fs::read_to_string(&file).unwrap().into_boxed_str());
        let name: &'static str = Box::leak(
            file.rsplit('/')
                .next()
                .unwrap()
                .to_string()
                .into_boxed_str(),
        );
        let shader: &'static Shader = Box::leak(Box::new(Shader { name, source }));
        let (tm, tn) = (
            header_value(source, "tile_m"),
            header_value(source, "tile_n"),
        );
        let run = |a: &Tensor, b: &Tensor, m: usize, n: usize, k: usize| -> Tensor {
            let c = Tensor::uninit(&gpu, &[m, n]);
            let grid = Grid([n.div_ceil(tn) as u32, m.div_ceil(tm) as u32, 1]);
            gpu.dispatch(
                &Kernel::new(shader, "matmul"),
                &[a.buffer(), b.buffer(), c.buffer()],
                &[m as u32, n as u32, k as u32, 0, 0],
                grid,
            );
            c
        };
        // Correctness on an awkward shape.
        let (m, n, k) = (67, 44, 48);
        let a = rng.uniform(&gpu, &[m, k], -1.0, 1.0);
        let b = rng.uniform(&gpu, &[k, n], -1.0, 1.0);
        let got = run(&a, &b, m, n, k).to_vec();
        let (av, bv) = (a.to_vec(), b.to_vec());
        let mut worst = 0f64;
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|t| f64::from(av[i * k + t]) * f64::from(bv[t * n + j]))
                    .sum();
                worst = worst.max((f64::from(got[i * n + j]) - want).abs());
            }
        }
        let mut line = format!("{name:<28} max err {worst:.1e}");
        for size in [1024usize, 2048] {
            let a = rng.uniform(&gpu, &[size, size], -1.0, 1.0);
            let b = rng.uniform(&gpu, &[size, size], -1.0, 1.0);
            run(&a, &b, size, size, size);
            gpu.sync();
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                run(&a, &b, size, size, size);
                gpu.sync();
                best = best.min(t.elapsed().as_secs_f64());
            }
            line += &format!(
                "  {size}^3 {:.1} GFLOP/s",
                2.0 * (size as f64).powi(3) / best / 1e9
            );
        }
        println!("{line}");
    }
}
