//! The CPPN of seed 003: the fused render kernel against an f64 reference and against the
//! layer-by-layer forward on odd sizes, tiles that stitch without seams, the training
//! objectives' gradients against finite differences, the discriminator's gate, and the GIF
//! and latent-expression parsers the exploring commands use.

use kernels_tests::{Inputs, gpu, gradient_along, unit_direction};
use pegasus::Tensor;
use pegasus::autograd::{clear, no_grad};
use pegasus::data::Dataset;
use pegasus::io::gif::{GifWriter, Palette};
use pegasus::latent::expr::{Atom, Term, parse};
use pegasus::models::cppn::{Cppn, CppnConfig, coordinates};
use pegasus::nn::Module;
use pegasus::ops::cppn::{PackedCppn, RenderKernel};

fn config(side: usize, channels: usize, width: usize, depth: usize) -> CppnConfig {
    CppnConfig {
        data_side: side + 2,
        side,
        channels,
        nz: 5,
        width,
        depth,
        scale: 3.0,
        q_width: 16,
        df: 4,
        batch: 4,
        images: 100,
        lr_g: 1e-2,
        lr_d: 1e-3,
        lr_vae: 1e-3,
        beta1: 0.9,
        vae_steps: 1,
        g_steps: 1,
        th_high: 0.8,
        th_low: 0.45,
        curriculum: Vec::new(),
        stage_steps: 10,
        seed: 3,
    }
}

/// Every pixel of a render in f64 from the generator's own weights: (x, y, r) centred with
/// `step` between pixels, softplus, tanh layers, sigmoid, rounded to 8 bits.
fn reference_pixels(
    model: &Cppn,
    z: &[f32],
    (width, height): (usize, usize),
    step: f64,
) -> Vec<[u8; 4]> {
    let g = &model.generator;
    let read = |t: &Tensor| kernels_tests::to_f64(&t.to_vec());
    let (wz, bz) = (read(&g.z_in.weight), read(g.z_in.bias.as_ref().unwrap()));
    let wc = read(&g.coord_in.weight);
    let hidden: Vec<(Vec<f64>, Vec<f64>)> = g
        .hidden
        .iter()
        .map(|l| (read(&l.weight), read(l.bias.as_ref().unwrap())))
        .collect();
    let (wo, bo) = (read(&g.out.weight), read(g.out.bias.as_ref().unwrap()));
    let units = bz.len();
    let channels = bo.len();
    let scale = f64::from(g.scale);
    let mut out = Vec::new();
    for row in 0..height {
        for col in 0..width {
            let x = (col as f64 - (width as f64 - 1.0) / 2.0) * step;
            let y = (row as f64 - (height as f64 - 1.0) / 2.0) * step;
            let r = (x * x + y * y).sqrt();
            let mut h: Vec<f64> = (0..units)
                .map(|u| {
                    let from_z: f64 = (0..z.len())
                        .map(|k| wz[u * z.len() + k] * scale * f64::from(z[k]))
                        .sum();
                    let pre =
                        from_z + bz[u] + wc[3 * u] * x + wc[3 * u + 1] * y + wc[3 * u + 2] * r;
                    pre.max(0.0) + (-pre.abs()).exp().ln_1p()
                })
                .collect();
            for (w, b) in &hidden {
                h = (0..units)
                    .map(|u| {
                        (b[u] + (0..units).map(|v| w[u * units + v] * h[v]).sum::<f64>()).tanh()
                    })
                    .collect();
            }
            let mut pixel = [0u8, 0, 0, 255];
            for c in 0..channels {
                let logit = bo[c] + (0..units).map(|v| wo[c * units + v] * h[v]).sum::<f64>();
                pixel[c] = (kernels_tests::sigmoid(logit) * 255.0).round() as u8;
            }
            if channels == 1 {
                pixel[1] = pixel[0];
                pixel[2] = pixel[0];
            }
            out.push(pixel);
        }
    }
    out
}

#[track_caller]
fn assert_pixels_close(what: &str, got: &[u32], want: &[[u8; 4]]) {
    assert_eq!(got.len(), want.len(), "{what}: pixel count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = g.to_le_bytes();
        for c in 0..4 {
            assert!(
                g[c].abs_diff(w[c]) <= 1,
                "{what}: pixel {i} channel {c} is {} (bytes {g:?}), want {} ({w:?})",
                g[c],
                w[c]
            );
        }
    }
}

#[test]
fn the_fused_render_kernel_matches_an_f64_reference_and_the_layer_forward() {
    let gpu = gpu();
    // (width, height, units, depth, channels): odd sizes, a one-layer net, colour.
    for (width, height, units, depth, channels) in [
        (37, 23, 13, 3, 1),
        (5, 64, 7, 1, 3),
        (1, 1, 1, 2, 1),
        (19, 19, 32, 4, 4),
    ] {
        let model = Cppn::new(&gpu, config(8, channels, units, depth)).unwrap();
        let mut inputs = Inputs::new((width * height) as u64);
        let z = inputs.vec(5, -2.0, 2.0);
        let net = model.generator.pack(&z);
        let step = PackedCppn::step_for(width, height, 3.0);
        let reference = reference_pixels(&model, &z, (width, height), f64::from(step));
        let mut renders = Vec::new();
        for kernel in RenderKernel::available(&gpu) {
            // NaN bits in every output: a pixel the kernel skips keeps alpha 0x7f, not 0xff.
            let out = Tensor::full(&gpu, &[width * height], f32::NAN);
            net.render_into(&out, (width, height), step, 0, height, kernel);
            let got: Vec<u32> = out.to_vec().into_iter().map(f32::to_bits).collect();
            let what = format!(
                "{kernel:?}: {width} x {height}, {units} units, depth {depth}, {channels} ch"
            );
            assert_pixels_close(&what, &got, &reference);
            renders.push((what, got));
        }
        let (what, got) = &renders[0];
        // The tape's layer-by-layer forward on the same grid.
        let layered = no_grad(|| {
            let coords = Tensor::from_slice(
                &gpu,
                &coordinates(width, height, step, 0..height),
                &[width * height, 3],
            );
            let zt = Tensor::from_slice(&gpu, &z, &[1, 5]);
            model
                .generator
                .logits(&zt, &coords, (height, width))
                .sigmoid()
                .to_vec()
        });
        let plane = width * height;
        let from_tape: Vec<[u8; 4]> = (0..plane)
            .map(|p| {
                let byte =
                    |c: usize| (layered[c.min(channels - 1) * plane + p] * 255.0).round() as u8;
                let alpha = if channels == 4 { byte(3) } else { 255 };
                if channels == 1 {
                    [byte(0), byte(0), byte(0), 255]
                } else {
                    [byte(0), byte(1), byte(2), alpha]
                }
            })
            .collect();
        assert_pixels_close(&format!("{what} against the tape"), got, &from_tape);
        clear();
    }
}

#[test]
fn a_render_in_tiles_equals_the_render_in_one_piece() {
    let gpu = gpu();
    let model = Cppn::new(&gpu, config(8, 3, 24, 3)).unwrap();
    let z = Inputs::new(4).vec(5, -1.0, 1.0);
    let net = model.generator.pack(&z);
    let (width, height) = (41, 29);
    let step = PackedCppn::step_for(width, height, 5.0);
    let whole = net.render_rows((width, height), step, 0, height);
    assert_eq!(
        net.render_image((width, height), step),
        whole,
        "render_image"
    );
    for rows in [1, 7, 13] {
        let mut tiled = Vec::new();
        for row0 in (0..height).step_by(rows) {
            tiled.extend(net.render_rows((width, height), step, row0, rows.min(height - row0)));
        }
        assert_eq!(tiled, whole, "tiles of {rows} rows");
    }
    // Rows per tile stay within the adapter's largest binding.
    let rows = PackedCppn::rows_per_tile(&gpu, 100_000, 50_000);
    let binding = gpu.limits().max_storage_buffer_binding_size as usize;
    assert!(
        rows >= 1 && rows * 100_000 * 4 <= binding.max(400_000),
        "{rows} rows"
    );
}

#[test]
fn the_training_objectives_gradients_match_finite_differences() {
    let gpu = gpu();
    let mut c = config(8, 1, 6, 3);
    c.data_side = 8;
    let mut model = Cppn::new(&gpu, c).unwrap();
    let x = Inputs::new(31).tensor(&[4, 1, 8, 8], -1.0, 1.0).0;
    let offset = model.rng.offset;
    // (objective, which networks it trains): the VAE loss and the generator's GAN + VAE
    // loss into the encoder and generator, the discriminator's loss into the discriminator.
    for objective in ["vae", "generator", "discriminator"] {
        let value = |m: &mut Cppn| -> Tensor {
            m.rng.offset = offset;
            match objective {
                "vae" => m.reconstruct(&x).vae_loss,
                "generator" => m.generator_objective(&x).0,
                _ => m.judge(&x).loss,
            }
        };
        let grads = value(&mut model).backward();
        let params: Vec<(String, Tensor)> = match objective {
            "discriminator" => model.discriminator.parameters(),
            _ => [model.generator.parameters(), model.encoder.parameters()].concat(),
        };
        let mut inputs = Inputs::new(objective.len() as u64);
        let direction = unit_direction(&mut inputs, &params);
        let analytic = gradient_along(&grads, &params, &direction);
        clear();
        let eps = 4e-3f32;
        let originals: Vec<Vec<f32>> = params.iter().map(|(_, p)| p.to_vec()).collect();
        let at = |sign: f32, m: &mut Cppn| {
            for (((_, p), w), d) in params.iter().zip(&originals).zip(&direction) {
                let v: Vec<f32> = w.iter().zip(d).map(|(a, b)| a + sign * eps * b).collect();
                p.write(&v);
            }
            let v = f64::from(no_grad(|| value(m)).item());
            clear();
            v
        };
        let plus = at(1.0, &mut model);
        let minus = at(-1.0, &mut model);
        for ((_, p), w) in params.iter().zip(&originals) {
            p.write(w);
        }
        let numeric = (plus - minus) / (2.0 * f64::from(eps));
        assert!(
            (numeric - analytic).abs() <= 1e-3 + 3e-2 * analytic.abs(),
            "{objective}: gradient along a direction {analytic}, finite differences {numeric}"
        );
    }
}

#[test]
fn the_discriminator_updates_only_inside_the_seeds_thresholds() {
    let gpu = gpu();
    let digits = Dataset::embedded().unwrap();
    // (th_high, th_low, whether it may update): the generator's loss is never under -1, the
    // discriminator's never over 10; with -1 and 100 nothing holds it back.
    for (th_high, th_low, updates) in [
        (-1.0, -1.0, false),
        (100.0, 10.0, false),
        (100.0, -1.0, true),
    ] {
        let mut c = config(26, 1, 8, 2);
        c.images = 64;
        c.th_high = th_high;
        c.th_low = th_low;
        let mut model = Cppn::new(&gpu, c).unwrap();
        let before: Vec<Vec<f32>> = model
            .discriminator
            .parameters()
            .iter()
            .map(|(_, p)| p.to_vec())
            .collect();
        let scalars = model.fit_batch(&digits);
        assert_eq!(
            pegasus::autograd::len(),
            0,
            "a step leaves nothing on the tape, whether the discriminator updates or not"
        );
        let after: Vec<Vec<f32>> = model
            .discriminator
            .parameters()
            .iter()
            .map(|(_, p)| p.to_vec())
            .collect();
        let g_loss = scalars[1].1.item();
        let d_loss = scalars[2].1.item();
        assert_eq!(
            model.discriminator_may_update(g_loss, d_loss),
            updates,
            "gate at g {g_loss}, d {d_loss} with thresholds {th_high} / {th_low}"
        );
        assert_eq!(
            before != after,
            updates,
            "discriminator weights with thresholds {th_high} / {th_low}"
        );
        assert_eq!(model.discriminator_updates, u64::from(updates));
        clear();
    }
}

#[test]
fn a_curriculum_moves_through_its_sides_and_the_last_one_stays() {
    let mut c = config(26, 1, 8, 2);
    c.curriculum = vec![2, 4, 8, 16, 26];
    c.stage_steps = 10;
    let sides: Vec<usize> = [0, 9, 10, 25, 39, 40, 49, 50, 1000]
        .iter()
        .map(|&s| c.stage_side(s))
        .collect();
    assert_eq!(sides, [2, 2, 4, 8, 16, 26, 26, 26, 26]);
    c.curriculum = vec![2, 28];
    assert!(c.check().is_err(), "a side over the crop is refused");
    // A curriculum batch trains at every stage.
    let gpu = gpu();
    let digits = Dataset::embedded().unwrap();
    let mut c = config(26, 1, 8, 2);
    c.curriculum = vec![4, 13];
    c.stage_steps = 1;
    let mut model = Cppn::new(&gpu, c).unwrap();
    for _ in 0..2 {
        let scalars = model.fit_batch(&digits);
        assert!(scalars.iter().all(|(_, t)| t.item().is_finite()));
        clear();
    }
}

/// GIF's LZW, decoded independently of the writer: the code width grows when the table
/// reaches a power of two, codes past 4095 wait for a clear.
fn lzw_decode(data: &[u8], min_code_size: u32) -> Vec<u8> {
    let clear = 1u32 << min_code_size;
    let end = clear + 1;
    let (mut width, mut bit, mut out) = (min_code_size + 1, 0usize, Vec::new());
    let mut table: Vec<Vec<u8>> = Vec::new();
    let reset = |table: &mut Vec<Vec<u8>>| {
        table.clear();
        table.extend((0..clear).map(|i| vec![i as u8]));
        table.push(Vec::new());
        table.push(Vec::new());
    };
    reset(&mut table);
    let mut previous: Option<Vec<u8>> = None;
    loop {
        let mut code = 0u32;
        for i in 0..width {
            let at = bit + i as usize;
            assert!(at / 8 < data.len(), "the LZW data ends without an end code");
            code |= u32::from((data[at / 8] >> (at % 8)) & 1) << i;
        }
        bit += width as usize;
        if code == clear {
            reset(&mut table);
            width = min_code_size + 1;
            previous = None;
            continue;
        }
        if code == end {
            return out;
        }
        let entry = match (table.get(code as usize), &previous) {
            (Some(e), _) if !e.is_empty() || code < clear => e.clone(),
            (_, Some(p)) => {
                let mut e = p.clone();
                e.push(p[0]);
                e
            }
            _ => panic!("code {code} before any entry"),
        };
        out.extend(&entry);
        if let Some(p) = previous
            && table.len() < 4096
        {
            let mut e = p;
            e.push(entry[0]);
            table.push(e);
            if table.len() == 1 << width && width < 12 {
                width += 1;
            }
        }
        previous = Some(entry);
    }
}

/// (palette, frames of indices) of a GIF written by pegasus.
fn decode_gif(bytes: &[u8]) -> (Vec<u8>, usize, usize, Vec<Vec<u8>>) {
    assert_eq!(&bytes[..6], b"GIF89a");
    let le = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let (width, height) = (le(6), le(8));
    assert_eq!(bytes[10], 0xf7, "a global table of 256 colours");
    let palette = bytes[13..13 + 768].to_vec();
    let mut at = 13 + 768;
    let mut frames = Vec::new();
    loop {
        match bytes[at] {
            0x3b => return (palette, width, height, frames),
            0x21 => {
                at += 2;
                while bytes[at] != 0 {
                    at += 1 + usize::from(bytes[at]);
                }
                at += 1;
            }
            0x2c => {
                assert_eq!((le(at + 5), le(at + 7)), (width, height), "frame size");
                at += 10;
                let min_code_size = u32::from(bytes[at]);
                at += 1;
                let mut data = Vec::new();
                while bytes[at] != 0 {
                    let n = usize::from(bytes[at]);
                    data.extend(&bytes[at + 1..at + 1 + n]);
                    at += 1 + n;
                }
                at += 1;
                frames.push(lzw_decode(&data, min_code_size));
            }
            other => panic!("unexpected block {other:#x} at {at}"),
        }
    }
}

#[test]
fn gif_frames_decode_to_what_was_written() {
    let mut inputs = Inputs::new(77);
    // Noise fills the 4096-code table several times over (clears); flat frames make long runs.
    let (width, height) = (97, 61);
    let frames: Vec<Vec<u8>> = (0..4)
        .map(|f| match f {
            0 => vec![0; width * height],
            1 => (0..width * height).map(|i| (i % 7) as u8 * 30).collect(),
            _ => inputs
                .vec(width * height, 0.0, 255.99)
                .iter()
                .map(|v| *v as u8)
                .collect(),
        })
        .collect();
    let mut gif = GifWriter::new(width as u16, height as u16, Palette::Grey, 5);
    for frame in &frames {
        gif.add_frame(frame);
    }
    let (palette, w, h, decoded) = decode_gif(&gif.finish());
    assert_eq!((w, h), (width, height));
    assert_eq!(decoded.len(), frames.len(), "frame count");
    for (i, (got, want)) in decoded.iter().zip(&frames).enumerate() {
        let grey: Vec<u8> = got.iter().map(|&k| palette[3 * usize::from(k)]).collect();
        assert_eq!(&grey, want, "grey frame {i}");
    }
    // Colour: every pixel comes back within half a step of the 6 x 7 x 6 cube.
    let rgb: Vec<u8> = inputs
        .vec(3 * 31 * 17, 0.0, 255.99)
        .iter()
        .map(|v| *v as u8)
        .collect();
    let mut gif = GifWriter::new(31, 17, Palette::Colour, 5);
    gif.add_frame(&rgb);
    let (palette, _, _, decoded) = decode_gif(&gif.finish());
    for (p, &k) in decoded[0].iter().enumerate() {
        for c in 0..3 {
            let back = palette[3 * usize::from(k) + c];
            let half_step = 255 / (if c == 1 { 6 } else { 5 }) / 2 + 1;
            assert!(
                back.abs_diff(rgb[3 * p + c]) <= half_step,
                "pixel {p} channel {c}: {} came back as {back}",
                rgb[3 * p + c]
            );
        }
    }
    // A single pixel and an image of one colour.
    for (w, h) in [(1, 1), (300, 1)] {
        let mut gif = GifWriter::new(w, h, Palette::Grey, 1);
        gif.add_frame(&vec![200; usize::from(w) * usize::from(h)]);
        let (_, _, _, decoded) = decode_gif(&gif.finish());
        assert_eq!(decoded, [vec![200; usize::from(w) * usize::from(h)]]);
    }
}

#[test]
fn latent_expressions_parse_into_weighted_terms_or_a_sentence() {
    let term = |weight: f32, atom: Atom| Term { weight, atom };
    let file = |s: &str| Atom::File(s.into());
    assert_eq!(
        parse("enc(a.png) - enc(my horse.png) + enc(c.png)").unwrap(),
        [
            term(1.0, file("a.png")),
            term(-1.0, file("my horse.png")),
            term(1.0, file("c.png"))
        ]
    );
    assert_eq!(
        parse("0.65*train(3) + 0.35*4010").unwrap(),
        [term(0.65, Atom::Train(3)), term(0.35, Atom::Train(4010))]
    );
    assert_eq!(
        parse("- seed(7) + wing-horse.png").unwrap(),
        [term(-1.0, Atom::Seed(7)), term(1.0, file("wing-horse.png"))]
    );
    assert_eq!(parse("12").unwrap(), [term(1.0, Atom::Train(12))]);
    for bad in [
        "",
        "   ",
        "enc(a.png) +",
        "enc(a.png",
        "train(x)",
        "seed(-1)",
        "x*train(1)",
        "1 +enc(a)",
        "enc(a) enc(b)",
        "2*",
        "enc()",
        "nan*train(1)",
    ] {
        let error = parse(bad).expect_err(bad);
        assert!(!error.is_empty(), "`{bad}` gave an empty error");
    }
}
