//! `pegasus render`, `pegasus morph` and `pegasus encode`: a run's latents as pictures of
//! any size (CPPN runs, through the fused renderer), animations between latents, and the
//! latents of image files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::explore::{Opened, latent_for, open_run};
use crate::gpu::Gpu;
use crate::io::gif::{GifWriter, Palette};
use crate::ops::cppn::PackedCppn;
use crate::tensor::Tensor;

/// The largest side accepted (PNG allows more; this keeps a typo from running for hours).
const MAX_SIDE: usize = 65_535;

#[derive(Args)]
#[command(
    after_help = "Draws one latent of a CPPN run at any size: the generator is evaluated at every pixel's
coordinates by one fused kernel, a tile of rows at a time, and the rows stream into the PNG,
so images larger than the adapter's largest buffer (7680 x 4320 and beyond) need little memory.
The shorter side spans [-scale, scale] of the coordinates the run trained on (default: the
run's --scale, the whole training crop); a larger --scale zooms out.

The latent is --z (a latent expression: a training-image index, an image file, seed(S), or a
weighted sum such as \"enc(a.png) - enc(b.png) + enc(c.png)\"), else --image FILE, else a draw
from the prior with --seed.

Examples:
  pegasus render --run runs/cppn --width 1920 --height 1080
  pegasus render --run runs/cppn --z 17 --width 7680 --height 4320 --out digit-8k.png
  pegasus render --run runs/cppn --image three.png --width 1024 --height 1024 --scale 12
  pegasus render --run runs/cppn --z \"enc(a.png) - enc(b.png) + enc(c.png)\""
)]
pub struct RenderArgs {
    /// Run folder of a CPPN run (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// The latent, as a latent expression.
    #[arg(long, conflicts_with = "image")]
    z: Option<String>,
    /// Encode this image file for the latent.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Seed of the prior draw when neither --z nor --image is given.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1920)]
    width: usize,
    /// Image height in pixels.
    #[arg(long, default_value_t = 1080)]
    height: usize,
    /// Half-extent of the shorter side in the coordinates [default: the run's scale].
    #[arg(long)]
    scale: Option<f32>,
    /// Output PNG [default: RUN/render_WIDTHxHEIGHT.png].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Checks a render size and scale.
fn check_size(width: usize, height: usize, scale: Option<f32>) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_SIDE).contains(&width) && (1..=MAX_SIDE).contains(&height),
        "{width} x {height}: give --width and --height of 1 to {MAX_SIDE}"
    );
    if let Some(s) = scale {
        anyhow::ensure!(
            s.is_finite() && s > 0.0,
            "--scale {s}: give a positive number"
        );
    }
    Ok(())
}

/// The fused renderer of a run for latent z, or why the run cannot draw at any size.
fn renderer_of(run: &Opened, z: &[f32], command: &str) -> anyhow::Result<PackedCppn> {
    run.model.renderer(z).with_context(|| {
        format!(
            "{} is not a CPPN run: `pegasus {command}` draws at any size only CPPN runs (train one with `pegasus train cppn`); `pegasus sample` and `pegasus interpolate` draw the others",
            run.dir.display()
        )
    })
}

/// Packed pixels as a PNG's or GIF's bytes: grey for a one-channel network, RGB otherwise.
fn pixel_bytes(pixels: &[u32], channels: usize) -> Vec<u8> {
    let keep = if channels == 1 { 1 } else { 3 };
    pixels
        .iter()
        .flat_map(|p| p.to_le_bytes().into_iter().take(keep))
        .collect()
}

/// Streams a `width` x `height` render of `net` into the PNG `out` (written beside it, then
/// renamed, so a failure leaves no half file). Returns the seconds spent rendering.
fn render_png(
    net: &PackedCppn,
    (width, height): (usize, usize),
    scale: f32,
    out: &Path,
) -> anyhow::Result<f64> {
    let step = PackedCppn::step_for(width, height, scale);
    let temp = out.with_extension("png.partial");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder of {}", out.display()))?;
    }
    let file =
        std::fs::File::create(&temp).with_context(|| format!("cannot write {}", temp.display()))?;
    let result = (|| -> anyhow::Result<f64> {
        let mut encoder =
            png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
        encoder.set_color(if net.channels == 1 {
            png::ColorType::Grayscale
        } else {
            png::ColorType::Rgb
        });
        encoder.set_depth(png::BitDepth::Eight);
        let mut stream = encoder.write_header()?.into_stream_writer()?;
        // The time spent writing the PNG is taken out, so the figure is the renderer's.
        let started = Instant::now();
        let mut writing = 0.0;
        net.render_tiles((width, height), step, |tile| {
            let written = Instant::now();
            stream.write_all(&pixel_bytes(tile, net.channels))?;
            writing += written.elapsed().as_secs_f64();
            anyhow::Ok(())
        })?;
        let seconds = started.elapsed().as_secs_f64() - writing;
        stream.finish()?;
        Ok(seconds)
    })();
    match result {
        Ok(seconds) => {
            std::fs::rename(&temp, out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            Ok(seconds)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e.context(format!("writing {}", out.display())))
        }
    }
}

pub fn render(gpu: &Arc<Gpu>, args: &RenderArgs) -> anyhow::Result<()> {
    check_size(args.width, args.height, args.scale)?;
    let run = open_run(gpu, &args.run, "render")?;
    let spec = match (&args.z, &args.image) {
        (Some(z), _) => z.clone(),
        (None, Some(image)) => format!("enc({})", image.display()),
        (None, None) => format!("seed({})", args.seed),
    };
    let z = latent_for(gpu, &run, &mut None, &spec, 0)?;
    let net = renderer_of(&run, &z, "render")?;
    let out = args.out.clone().unwrap_or_else(|| {
        run.dir
            .join(format!("render_{}x{}.png", args.width, args.height))
    });
    let scale = args.scale.unwrap_or(net.scale);
    let seconds = render_png(&net, (args.width, args.height), scale, &out)?;
    let megapixels = (args.width * args.height) as f64 / 1e6;
    println!(
        "{} x {} ({megapixels:.1} Mpx) of `{spec}` in {seconds:.2} s on the GPU ({:.1} Mpx/s): {}",
        args.width,
        args.height,
        megapixels / seconds.max(1e-9),
        out.display()
    );
    Ok(())
}

#[derive(Args)]
#[command(
    after_help = "An animation through the latents of the keys given, back to the first (a loop). Keys are
latent expressions: training-image indices, image files, seed(S), or sums. A CPPN run draws
every frame at --width x --height through the fused renderer; other runs at their own size.

Examples:
  pegasus morph --run runs/cppn 3 17 42 --frames 30 --gif morph.gif
  pegasus morph --run runs/cppn seed(1) seed(2) seed(3) --sinusoid --width 256 --height 256
  pegasus morph --run runs/vae 0 100 --frames 20 --gif vae.gif"
)]
pub struct MorphArgs {
    /// Run folder (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// The key latents, two or more.
    #[arg(required = true, num_args = 2..)]
    keys: Vec<String>,
    /// Frames from one key to the next.
    #[arg(long, default_value_t = 30)]
    frames: usize,
    /// Ease in and out of each key (t = (1 - cos(pi s)) / 2) instead of moving at a constant pace.
    #[arg(long)]
    sinusoid: bool,
    /// Frame width for CPPN runs.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Frame height for CPPN runs.
    #[arg(long, default_value_t = 256)]
    height: usize,
    /// Half-extent of the shorter side for CPPN runs [default: the run's scale].
    #[arg(long)]
    scale: Option<f32>,
    /// Hundredths of a second per frame.
    #[arg(long, default_value_t = 4)]
    delay: u16,
    /// Output GIF [default: RUN/morph.gif].
    #[arg(long)]
    gif: Option<PathBuf>,
}

/// The latents of a looping morph through `keys`, `frames` per leg.
pub fn morph_path(keys: &[Vec<f32>], frames: usize, sinusoid: bool) -> Vec<Vec<f32>> {
    let mut path = Vec::with_capacity(keys.len() * frames);
    for (i, a) in keys.iter().enumerate() {
        let b = &keys[(i + 1) % keys.len()];
        for f in 0..frames {
            let s = f as f32 / frames as f32;
            let t = if sinusoid {
                (1.0 - (std::f32::consts::PI * s).cos()) / 2.0
            } else {
                s
            };
            path.push(a.iter().zip(b).map(|(x, y)| x + (y - x) * t).collect());
        }
    }
    path
}

pub fn morph(gpu: &Arc<Gpu>, args: &MorphArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=600).contains(&args.frames),
        "--frames {}: give 1 to 600",
        args.frames
    );
    check_size(args.width, args.height, args.scale)?;
    anyhow::ensure!(
        args.width * args.height * args.frames * args.keys.len() <= 1 << 30,
        "{} frames of {} x {} is over a gigapixel of GIF: fewer frames or a smaller size",
        args.frames * args.keys.len(),
        args.width,
        args.height
    );
    let run = open_run(gpu, &args.run, "morph")?;
    let mut data = None;
    let keys = args
        .keys
        .iter()
        .map(|k| latent_for(gpu, &run, &mut data, k, 300))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let path: Vec<Vec<f32>> = morph_path(&keys, args.frames, args.sinusoid)
        .into_iter()
        .map(|z| run.placed(z))
        .collect();
    let any_size = run.model.renderer(&path[0]).is_some();
    let (channels, side) = run.model.image_shape();
    let (width, height) = if any_size {
        (args.width, args.height)
    } else {
        (side, side)
    };
    let palette = if channels == 1 {
        Palette::Grey
    } else {
        Palette::Colour
    };
    let mut gif = GifWriter::new(width as u16, height as u16, palette, args.delay);
    let started = Instant::now();
    for z in &path {
        let frame: Vec<u8> = match run.model.renderer(z) {
            Some(net) => {
                let step = PackedCppn::step_for(width, height, args.scale.unwrap_or(net.scale));
                pixel_bytes(&net.render_image((width, height), step), net.channels)
            }
            None => {
                let image = run.model.decode(&Tensor::from_slice(gpu, z, &[1, z.len()]));
                interleaved_bytes(&image.to_vec(), channels, side * side)
            }
        };
        gif.add_frame(&frame);
    }
    let out = args
        .gif
        .clone()
        .unwrap_or_else(|| run.dir.join("morph.gif"));
    crate::io::write_atomically(&out, &gif.finish())?;
    println!(
        "{} frames of {width} x {height} through {} keys in {:.1} s: {}",
        path.len(),
        keys.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// One image's planes [C, H, W] in [-1, 1] as interleaved 8-bit pixels: grey for one
/// channel, RGB (the first three) otherwise.
fn interleaved_bytes(values: &[f32], channels: usize, plane: usize) -> Vec<u8> {
    let keep = if channels == 1 { 1 } else { 3 };
    (0..plane)
        .flat_map(|p| {
            (0..keep).map(move |ch| {
                let v = values[ch.min(channels - 1) * plane + p];
                ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
            })
        })
        .collect()
}

#[derive(Args)]
#[command(
    after_help = "Prints each image's latent (the encoder's mean; for GLO a latent optimised with the
generator frozen), or writes them all to --json.

Examples:
  pegasus encode --run runs/cppn three.png eight.png
  pegasus encode --run runs/vae horse.png --json horse.json"
)]
pub struct EncodeArgs {
    /// Run folder (runs/NAME).
    #[arg(long)]
    run: PathBuf,
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Optimisation steps for a run without an encoder (GLO).
    #[arg(long, default_value_t = 300)]
    encode_steps: usize,
    /// Write {"FILE": [latent...], ...} here instead of printing.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn encode(gpu: &Arc<Gpu>, args: &EncodeArgs) -> anyhow::Result<()> {
    let run = open_run(gpu, &args.run, "encode")?;
    let mut all = serde_json::Map::new();
    for image in &args.images {
        let spec = format!("enc({})", image.display());
        let z = latent_for(gpu, &run, &mut None, &spec, args.encode_steps)?;
        match &args.json {
            Some(_) => {
                all.insert(image.display().to_string(), serde_json::json!(z));
            }
            None => {
                let values: Vec<String> = z.iter().map(|v| format!("{v:.4}")).collect();
                println!("{}: {}", image.display(), values.join(" "));
            }
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&all)?;
        crate::io::write_atomically(path, text.as_bytes())?;
        println!(
            "{} latents of {} values: {}",
            args.images.len(),
            run.model.nz(),
            path.display()
        );
    }
    Ok(())
}
