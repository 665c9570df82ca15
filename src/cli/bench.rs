//! `pegasus bench`: kernel speed on the chosen adapter, as rates and as a share of the
//! adapter's FMA peak measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::gpu::Gpu;
use crate::ops::cppn::{DenseLayer, PackedCppn, RenderKernel};
use crate::ops::peak::{fma_peak, median_seconds, timed_median};
use crate::ops::{HostRng, Rng};
use crate::tensor::Tensor;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// f32 FMA rate of a register-only kernel, the ceiling for every kernel on this adapter,
    /// and the bandwidth of a large copy: the ceiling for memory-bound kernels.
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
    /// Forward + backward time of each image loss, next to one DCGAN generator step.
    #[command(
        after_help = "Examples:\n  pegasus bench losses --size 64 --batch 64\n  PEGASUS_PROFILE=1 pegasus bench losses --size 32 --batch 8"
    )]
    Losses {
        /// Image height and width.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(11..=1024))]
        size: u32,
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
        batch: u32,
    },
    /// One training step of a model: forward, L1 loss against a fixed target, backward, Adam.
    #[command(
        name = "train-step",
        after_help = "The DCGAN generator: z [batch, nz] -> 3 x 64 x 64 through five 4x4 transposed\nconvolutions with BatchNorm and ReLU, tanh out; Adam (lr 2e-4, betas 0.5, 0.999).\n\nExamples:\n  pegasus bench train-step --batch 16 --ngf 32\n  pegasus bench train-step --model glo\n  pegasus bench train-step --model vaegan   (peer: python3 bench/vaegan_step.py --threads 2 --gamma 10 --pixel 1)\n  PEGASUS_PROFILE=1 pegasus bench train-step --batch 16 --ngf 32 --steps 5"
    )]
    TrainStep {
        /// dcgan64: the DCGAN generator below (--batch, --ngf, --nz); glo: one step of the
        /// README's `pegasus train glo` with every default (its own batch and sizes); vaegan:
        /// one step of the README's CIFAR-10 VAE-GAN (`--gamma 10 --pixel 1`, --nf 16, 128
        /// latents) on random 32 x 32 colour images (--batch), balance guard off so that every
        /// step updates all three networks.
        #[arg(long, default_value = "dcgan64", value_parser = ["dcgan64", "glo", "vaegan"])]
        model: String,
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
        batch: u32,
        /// Generator width (filters of the last hidden layer).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
        ngf: u32,
        /// Latent size.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=4096))]
        nz: u32,
        /// Timed steps after two warm-up steps.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
        steps: u32,
    },
    /// The fused CPPN renderer (`pegasus render`): one image of random weights, tile by tile.
    #[command(
        after_help = "Counts 2 FLOPs per multiply-add of the generator's layers (x, y, r in; every hidden\nlayer; out), none for the activations.\n\nExamples:\n  pegasus bench render --width 7680 --height 4320\n  pegasus bench render --width 1920 --height 1080 --units 32 --depth 3"
    )]
    Render {
        #[arg(long, default_value_t = 7680, value_parser = clap::value_parser!(u32).range(1..=65535))]
        width: u32,
        #[arg(long, default_value_t = 4320, value_parser = clap::value_parser!(u32).range(1..=65535))]
        height: u32,
        /// Units per generator layer (the reference's 128).
        #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=256))]
        units: u32,
        /// Generator layers (the first from x, y, r; the rest units x units).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
        depth: u32,
        /// 1 (grey) to 4.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
        channels: u32,
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
            let peaks = crate::ops::peak::measure(gpu);
            println!("f32 FMA peak: {:.1} GFLOP/s", peaks.flops / 1e9);
            println!(
                "copy bandwidth (read + write): {:.1} GB/s",
                peaks.bytes / 1e9
            );
            println!(
                "ridge point: {:.1} FLOP per byte (kernels below it are bound by memory)",
                peaks.flops / peaks.bytes
            );
        }
        BenchCommand::Losses { size, batch } => bench_losses(gpu, *size as usize, *batch as usize)?,
        BenchCommand::TrainStep {
            model,
            batch,
            ngf,
            nz,
            steps,
        } => {
            bench_train_step(
                gpu,
                model,
                (*batch as usize, *ngf as usize, *nz as usize),
                *steps as usize,
            )?;
        }
        BenchCommand::Render {
            width,
            height,
            units,
            depth,
            channels,
        } => bench_render(
            gpu,
            (*width as usize, *height as usize),
            *units as usize,
            *depth as usize,
            *channels as usize,
        ),
        BenchCommand::Matmul { size } => {
            let sizes = if size.is_empty() {
                vec![[256; 3], [512; 3], [1024; 3], [2048; 3]]
            } else {
                size.clone()
            };
            bench_matmul(gpu, &sizes)?;
        }
    }
    Ok(())
}

fn bench_matmul(gpu: &Arc<Gpu>, sizes: &[[usize; 3]]) -> anyhow::Result<()> {
    let peak = fma_peak(gpu);
    gpu.reset_profile();
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

fn bench_train_step(
    gpu: &Arc<Gpu>,
    model: &str,
    (batch, ngf, nz): (usize, usize, usize),
    steps: usize,
) -> anyhow::Result<()> {
    if model == "vaegan" {
        let median = vaegan_step_seconds(gpu, batch, steps)?;
        println!(
            "vaegan train step, batch {batch} (the README's CIFAR-10 run: --gamma 10 --pixel 1, --nf 16): median {:.1} ms over {steps} steps ({:.1} images/s)",
            median * 1e3,
            batch as f64 / median
        );
        // Its three objectives share one forward pass and part of their backward passes,
        // so the step's FLOPs are not a sum over layers: `pegasus profile` gives each
        // kernel's GFLOP/s instead.
        return Ok(());
    }
    let peak_before = fma_peak(gpu);
    let (what, batch, median, flops) = match model {
        "glo" => {
            let (median, flops, batch) = glo_step_seconds(gpu, steps)?;
            (
                "glo train step (the README's `pegasus train glo`, every default)".to_string(),
                batch,
                median,
                flops,
            )
        }
        _ => {
            let (median, flops) = dcgan_step_seconds(gpu, batch, ngf, nz, steps)?;
            (
                format!("dcgan64 train step, batch {batch}, ngf {ngf}, nz {nz}"),
                batch,
                median,
                flops,
            )
        }
    };
    // A shared host's speed drifts during a run: the higher of the peaks measured before and
    // after the steps keeps the share from flattering a slow moment of the peak kernel. (A
    // profiled run measures its peaks after the table's kernels instead.)
    let (peak, measured) = if gpu.profiling() {
        (peak_before, "measured before the steps")
    } else {
        (
            peak_before.max(fma_peak(gpu)),
            "the higher of two measurements, before and after the steps",
        )
    };
    println!(
        "{what}: median {:.1} ms over {steps} steps ({:.1} images/s)",
        median * 1e3,
        batch as f64 / median
    );
    println!(
        "about {:.2} GFLOP per step: {:.1} GFLOP/s, {:.1}% of this adapter's {:.1} GFLOP/s FMA peak ({measured})",
        flops / 1e9,
        flops / median / 1e9,
        100.0 * flops / median / peak,
        peak / 1e9
    );
    Ok(())
}

/// Median seconds of `step` (waited for) over `steps` runs after two warm-up runs. A
/// profile covers the timed runs only, not the model's set-up or the warm-up.
fn median_step(gpu: &Gpu, steps: usize, mut step: impl FnMut()) -> f64 {
    for _ in 0..2 {
        step();
    }
    gpu.reset_profile();
    timed_median(gpu, 0, |runs, _| runs >= steps, step)
}

/// Median seconds of one step of the default GLO run (its batches, loss, both optimisers; no
/// logging), its FLOPs (about: the generator's forward and backward) and its batch.
fn glo_step_seconds(gpu: &Arc<Gpu>, steps: usize) -> anyhow::Result<(f64, f64, usize)> {
    use crate::train::Model;
    let (mut glo, data) = super::train::glo::default_run(gpu)?;
    let batch = glo.batch_size();
    let flops = 3.0 * 2.0 * glo.generator.forward_macs(batch) as f64;
    let median = median_step(gpu, steps, || {
        glo.train_step(&data.train);
    });
    Ok((median, flops, batch))
}

/// Median seconds of one VAE-GAN step (all three networks' objectives, gradients, guard and
/// Adam steps) with the settings of the README's CIFAR-10 run, on random colour images.
fn vaegan_step_seconds(gpu: &Arc<Gpu>, batch: usize, steps: usize) -> anyhow::Result<f64> {
    use crate::data::Dataset;
    use crate::models::vaegan::{VaeGan, VaeGanConfig};

    anyhow::ensure!(
        batch >= 2,
        "--batch {batch}: the VAE-GAN's BatchNorm needs at least 2 images per step"
    );
    let (side, channels) = (32, 3);
    let images = batch.max(256);
    let mut rng = crate::ops::random::HostRng::new(0, 0);
    let pixels = (0..images * channels * side * side)
        .map(|_| (rng.next_u64() >> 56) as u8)
        .collect();
    let data = Dataset {
        name: "random".into(),
        channels,
        height: side,
        width: side,
        pixels,
        labels: None,
        class_names: Vec::new(),
    };
    let mut model = VaeGan::new(
        gpu,
        VaeGanConfig {
            image_size: side,
            channels,
            nz: 128,
            nf: 16,
            images,
            batch,
            lr: 3e-4,
            beta: 1.0,
            gamma: 10.0,
            dis_layer: 3,
            // Guard off: every step updates all three networks, as bench/vaegan_step.py does.
            margin: 0.0,
            equilibrium: 0.68,
            plain_vae: false,
            pixel: 1.0,
            // Two decoder batches, as bench/vaegan_step.py decodes (the same work as one).
            joint_decode: false,
            saturation_penalty: None,
            seed: 0,
        },
    )?;
    Ok(median_step(gpu, steps, || {
        model.fit_batch(&data);
    }))
}

/// Median seconds of one DCGAN generator training step (forward, L1 loss against a fixed
/// target, backward, Adam) after two warm-up steps, and its FLOPs (about).
fn dcgan_step_seconds(
    gpu: &Arc<Gpu>,
    batch: usize,
    ngf: usize,
    nz: usize,
    steps: usize,
) -> anyhow::Result<(f64, f64)> {
    use crate::models::generator::{Generator, GeneratorConfig};
    use crate::nn::{Module, loss};
    use crate::optim::Adam;

    let mut rng = Rng::new(0);
    let config = GeneratorConfig {
        image_size: 64,
        channels: 3,
        nz,
        ngf,
    };
    gpu.check_binding(config.largest_activation_bytes(batch))?;
    let generator = Generator::new(gpu, &mut rng, config);
    let z = rng.normal(gpu, &[batch, nz], 0.0, 1.0);
    let target = rng.uniform(gpu, &[batch, 3, 64, 64], -1.0, 1.0);
    let mut adam = Adam::single(generator.parameters(), 2e-4, 0.5, 0.999);
    let median = median_step(gpu, steps, || {
        let loss = loss::l1(&generator.forward(&z), &target);
        let grads = loss.backward();
        adam.step(&grads);
    });
    Ok((median, 3.0 * 2.0 * generator.forward_macs(batch) as f64))
}

fn bench_losses(gpu: &Arc<Gpu>, size: usize, batch: usize) -> anyhow::Result<()> {
    use crate::nn::loss;

    let dims = [batch, 3, size, size];
    // The SSIM moments hold five maps of the images.
    gpu.check_binding((5 * batch * 3 * size * size * 4) as u64)?;
    let mut rng = Rng::new(0);
    let target = rng.uniform(gpu, &dims, -1.0, 1.0);
    let pred = rng.uniform(gpu, &dims, -1.0, 1.0).track();
    type LossFn = fn(&Tensor, &Tensor) -> Tensor;
    let losses: [(&str, LossFn); 5] = [
        ("laplacian L1, 4 levels", |a, b| {
            loss::laplacian_l1(a, b, 4, None)
        }),
        ("1 - SSIM (11x11, sigma 1.5)", |a, b| loss::ssim(a, b, 2.0)),
        ("colour (3x3 means, MSE)", loss::colour),
        ("L1", loss::l1),
        ("MSE", loss::mse),
    ];
    println!("forward + backward on [{batch}, 3, {size}, {size}]:");
    let mut slowest: f64 = 0.0;
    for (name, f) in losses {
        let seconds = median_seconds(gpu, || {
            let _ = f(&pred, &target).backward();
        });
        if name.starts_with("laplacian") || name.starts_with("1 - SSIM") {
            slowest = slowest.max(seconds);
        }
        println!("  {name:<30} {:>9.2} ms", seconds * 1e3);
    }
    let (step, _) = dcgan_step_seconds(gpu, batch, 64, 100, 3)?;
    println!(
        "one DCGAN generator step (batch {batch}, ngf 64, nz 100): {:.1} ms; the slower of the Laplacian and SSIM losses takes {:.1}% of it",
        step * 1e3,
        100.0 * slowest / step
    );
    Ok(())
}

/// Times drawing one `width` x `height` image with a random generator of `units` x `depth`.
fn bench_render(
    gpu: &Arc<Gpu>,
    (width, height): (usize, usize),
    units: usize,
    depth: usize,
    channels: usize,
) {
    let mut rng = HostRng::new(7, 0);
    let mut random = |n: usize, fan_in: usize| -> Vec<f32> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        (0..n)
            .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * bound)
            .map(|v| v as f32)
            .collect()
    };
    let from_z = random(units, 1);
    let coord = random(3 * units, 3);
    let hidden: Vec<DenseLayer> = (1..depth)
        .map(|_| DenseLayer {
            weight: random(units * units, units),
            bias: random(units, units),
        })
        .collect();
    let out_layer = DenseLayer {
        weight: random(channels * units, units),
        bias: random(channels, units),
    };
    let net = PackedCppn::new(gpu, 8.0, &from_z, &coord, &hidden, &out_layer);
    let rows = PackedCppn::rows_per_tile(gpu, width, height);
    let tile = Tensor::uninit(gpu, &[rows * width]);
    let step = PackedCppn::step_for(width, height, 8.0);
    let draw = |rows_drawn: usize| {
        for row0 in (0..rows_drawn).step_by(rows) {
            net.render_into(
                &tile,
                (width, height),
                step,
                row0,
                rows.min(rows_drawn - row0),
                RenderKernel::Auto,
            );
        }
        gpu.sync();
    };
    // One tile builds the pipeline; then the whole image once, timed (an 8K image of the
    // reference's network takes minutes on a software driver).
    draw(rows.min(height));
    let started = Instant::now();
    draw(height);
    let seconds = started.elapsed().as_secs_f64();
    let pixels = (width * height) as f64;
    let flops = net.flops_per_pixel() as f64 * pixels;
    let peak = fma_peak(gpu);
    println!(
        "fused CPPN render {width} x {height} ({:.1} Mpx), {units} units x {depth} layers, {channels} channel(s), {} tile(s): {:.1} ms, {:.1} Mpx/s, {:.1} GFLOP/s, {:.1}% of this adapter's {:.1} GFLOP/s FMA peak",
        pixels / 1e6,
        height.div_ceil(rows),
        seconds * 1e3,
        pixels / seconds / 1e6,
        flops / seconds / 1e9,
        100.0 * flops / seconds / peak,
        peak / 1e9
    );
}
