//! Image kernels: Gaussian blur, pyramids, the Laplacian L1 loss, SSIM, the colour loss.

use kernels_tests::{
    Inputs, OpCheck, assert_close, gpu, linear_backward, mirror, numeric_backward,
};
use pegasus::Tensor;
use pegasus::nn::loss;
use pegasus::ops::blur::{PYRAMID_TAPS, gaussian_taps};
use pegasus::ops::ssim::ssim_fits;
use serde_json::Value;

/// Separable blur of [planes, h, w] with `taps` (radius r), reflect border.
fn blur_ref(x: &[f64], planes: usize, h: usize, w: usize, taps: &[f64]) -> Vec<f64> {
    let r = (taps.len() / 2) as i64;
    let mut tmp = vec![0.0; x.len()];
    for p in 0..planes {
        for y in 0..h {
            for c in 0..w {
                tmp[(p * h + y) * w + c] = (-r..=r)
                    .map(|t| {
                        taps[(t + r) as usize] * x[(p * h + y) * w + mirror(c as i64 + t, w as i64)]
                    })
                    .sum();
            }
        }
    }
    let mut out = vec![0.0; x.len()];
    for p in 0..planes {
        for y in 0..h {
            for c in 0..w {
                out[(p * h + y) * w + c] = (-r..=r)
                    .map(|t| {
                        taps[(t + r) as usize]
                            * tmp[(p * h + mirror(y as i64 + t, h as i64)) * w + c]
                    })
                    .sum();
            }
        }
    }
    out
}

#[test]
fn gaussian_blur_on_odd_tiny_and_wide_cases() {
    for (dims, sigma, radius) in [
        ([2, 3, 7, 9], 1.0f32, 2usize),
        ([1, 1, 1, 1], 1.5, 5),
        ([1, 2, 3, 19], 2.0, 6),
        ([1, 1, 33, 18], 0.8, 3),
    ] {
        let taps: Vec<f64> = gaussian_taps(sigma, radius)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let planes = dims[0] * dims[1];
        let forward = |v: &[Vec<f64>]| blur_ref(&v[0], planes, dims[2], dims[3], &taps);
        OpCheck {
            name: format!("blur {dims:?} sigma {sigma} radius {radius}"),
            inputs: vec![(dims.to_vec(), -1.0, 1.0)],
            gpu: &|t| t[0].gaussian_blur(sigma, radius),
            forward: &forward,
            backward: &|v, up| linear_backward(&forward, v, up),
            forward_tol: (1e-6, 1e-5),
            grad_tol: (1e-6, 1e-5),
            seed: 1,
        }
        .run();
    }
}

#[test]
fn gaussian_taps_are_normalised() {
    let t = gaussian_taps(1.5, 5);
    assert_eq!(t.len(), 11);
    assert!((t.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-6);
    assert!(t[5] > t[4] && t[4] == t[6], "peaked and symmetric");
}

/// The binomial 1 4 6 4 1 / 16, written out here rather than taken from pegasus.
const W: [f64; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];

fn down_ref(x: &[f64], taps: &[f64], planes: usize, h: usize, w: usize) -> Vec<f64> {
    let r = (taps.len() / 2) as i64;
    let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = vec![0.0; planes * ch * cw];
    for p in 0..planes {
        for y in 0..ch {
            for c in 0..cw {
                let mut s = 0.0;
                for a in -r..=r {
                    for b in -r..=r {
                        s += taps[(a + r) as usize]
                            * taps[(b + r) as usize]
                            * x[(p * h + mirror(2 * y as i64 + a, h as i64)) * w
                                + mirror(2 * c as i64 + b, w as i64)];
                    }
                }
                out[(p * ch + y) * cw + c] = s;
            }
        }
    }
    out
}

/// fine - expand(coarse), expand from the zero-inserted image (even positions).
fn laplace_ref(
    fine: &[f64],
    coarse: &[f64],
    taps: &[f64],
    planes: usize,
    h: usize,
    w: usize,
) -> Vec<f64> {
    let r = (taps.len() / 2) as i64;
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let mut out = vec![0.0; fine.len()];
    for p in 0..planes {
        for y in 0..h as i64 {
            for c in 0..w as i64 {
                let mut s = 0.0;
                for a in -r..=r {
                    for b in -r..=r {
                        if (y + a).rem_euclid(2) == 0 && (c + b).rem_euclid(2) == 0 {
                            let (sy, sx) =
                                (mirror(y + a, h as i64) / 2, mirror(c + b, w as i64) / 2);
                            s += taps[(a + r) as usize]
                                * taps[(b + r) as usize]
                                * coarse[(p * ch + sy) * cw + sx];
                        }
                    }
                }
                let i = (p * h + y as usize) * w + c as usize;
                out[i] = fine[i] - 4.0 * s;
            }
        }
    }
    out
}

#[test]
fn pyramid_steps_on_odd_and_one_pixel_levels() {
    // The binomial default (radius 2) and Gaussians of radius 1 and of the largest radius, 4.
    let radius_1 = gaussian_taps(0.8, 1);
    let radius_4 = gaussian_taps(1.7, 4);
    let weights: [(&[f32], Vec<f64>); 3] = [
        (&PYRAMID_TAPS, W.to_vec()),
        (&radius_1, radius_1.iter().map(|&v| f64::from(v)).collect()),
        (&radius_4, radius_4.iter().map(|&v| f64::from(v)).collect()),
    ];
    for (taps, exact) in &weights {
        for dims in [[2usize, 2, 9, 7], [1, 1, 1, 1], [1, 3, 2, 5], [1, 1, 12, 3]] {
            let [n, c, h, w] = dims;
            let planes = n * c;
            let down = |v: &[Vec<f64>]| down_ref(&v[0], exact, planes, h, w);
            OpCheck {
                name: format!("pyramid_down {dims:?} radius {}", taps.len() / 2),
                inputs: vec![(dims.to_vec(), -1.0, 1.0)],
                gpu: &|t| t[0].pyramid_down(taps),
                forward: &down,
                backward: &|v, up| linear_backward(&down, v, up),
                forward_tol: (1e-6, 1e-5),
                grad_tol: (1e-6, 1e-5),
                seed: 2,
            }
            .run();
            let coarse_dims = vec![n, c, h.div_ceil(2), w.div_ceil(2)];
            let laplace = |v: &[Vec<f64>]| laplace_ref(&v[0], &v[1], exact, planes, h, w);
            OpCheck {
                name: format!("pyramid_laplace {dims:?} radius {}", taps.len() / 2),
                inputs: vec![(dims.to_vec(), -1.0, 1.0), (coarse_dims, -1.0, 1.0)],
                gpu: &|t| t[0].pyramid_laplace(&t[1], taps),
                forward: &laplace,
                backward: &|v, up| linear_backward(&laplace, v, up),
                forward_tol: (1e-6, 1e-5),
                grad_tol: (1e-6, 1e-5),
                seed: 3,
            }
            .run();
        }
    }
}

#[test]
fn a_constant_image_has_zero_laplacian_levels() {
    let x = Tensor::full(&gpu(), &[1, 2, 13, 10], 0.7);
    let levels = x.laplacian_pyramid(4, &PYRAMID_TAPS);
    for (j, level) in levels.iter().take(3).enumerate() {
        assert_close(
            &format!("L{j}"),
            &level.to_vec(),
            &vec![0.0; level.numel()],
            1e-6,
            0.0,
        );
    }
    assert_close(
        "residual",
        &levels[3].to_vec(),
        &vec![0.7; levels[3].numel()],
        1e-6,
        0.0,
    );
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn numbers(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn laplacian_pyramid_and_loss_match_the_reference_script() {
    let gpu = gpu();
    for (i, case) in fixture("laplacian")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let dims = shape(&case["shape"]);
        let levels = case["levels"].as_u64().unwrap() as usize;
        let a = Tensor::from_slice(&gpu, &numbers(&case["a"]), &dims);
        let b = Tensor::from_slice(&gpu, &numbers(&case["b"]), &dims);
        let pyramid = a.laplacian_pyramid(levels, &PYRAMID_TAPS);
        for (j, level) in pyramid.iter().enumerate() {
            assert_eq!(
                level.dims(),
                shape(&case["level_shapes"][j]).as_slice(),
                "case {i} level {j} size"
            );
            let want: Vec<f64> = numbers(&case["pyramid_a"][j])
                .into_iter()
                .map(f64::from)
                .collect();
            assert_close(
                &format!("case {i} level {j}"),
                &level.to_vec(),
                &want,
                1e-5,
                0.0,
            );
        }
        let l = loss::laplacian_l1(&a, &b, levels, None).item();
        let want = case["loss"].as_f64().unwrap();
        assert!(
            (f64::from(l) - want).abs() <= 1e-5,
            "case {i}: loss {l}, reference {want}"
        );
    }
}

#[test]
fn laplacian_loss_weights_and_gradient() {
    // Loss of the difference's pyramid, each level's mean |.| weighted; d = a - b. Odd
    // sizes, levels down to one pixel (and past it), planes of whole vec4s, one target
    // broadcast over a batch of two (its gradient summed back), and a single level.
    for (dims, images_b, weights, seed) in [
        ([1usize, 2, 11, 9], 1usize, vec![1.0f32, 0.25, 0.0625], 4u64),
        ([2, 1, 3, 2], 2, vec![1.0, 0.5, 2.0, 1.0], 5),
        ([1, 3, 16, 12], 1, vec![1.0, 1.0, 1.0, 1.0], 6),
        ([2, 1, 9, 7], 1, vec![1.0, 0.5, 0.25], 7),
        ([1, 2, 5, 6], 1, vec![0.5], 8),
    ] {
        let [n, c, h0, w0] = dims;
        let forward = |v: &[Vec<f64>]| {
            let d: Vec<f64> = (0..v[0].len())
                .map(|i| v[0][i] - v[1][i % v[1].len()])
                .collect();
            let mut g = d;
            let (mut h, mut w) = (h0, w0);
            let mut total = 0.0;
            for (j, &wt) in weights.iter().enumerate() {
                let level = if j + 1 < weights.len() {
                    let next = down_ref(&g, &W, n * c, h, w);
                    let l = laplace_ref(&g, &next, &W, n * c, h, w);
                    g = next;
                    h = h.div_ceil(2);
                    w = w.div_ceil(2);
                    l
                } else {
                    g.clone()
                };
                total +=
                    f64::from(wt) * level.iter().map(|x| x.abs()).sum::<f64>() / level.len() as f64;
            }
            vec![total]
        };
        OpCheck {
            name: format!("laplacian_l1 {dims:?}"),
            inputs: vec![
                (dims.to_vec(), -1.0, 1.0),
                (vec![images_b, c, h0, w0], -1.0, 1.0),
            ],
            gpu: &|t| loss::laplacian_l1(&t[0], &t[1], weights.len(), Some(&weights)),
            forward: &forward,
            backward: &|v, up| numeric_backward(&forward, v, up),
            forward_tol: (1e-6, 1e-5),
            grad_tol: (1e-6, 1e-4),
            seed,
        }
        .run();
    }
}

/// SSIM map over the valid area, from the definition, in f64.
fn ssim_map_ref(
    a: &[f64],
    b: &[f64],
    planes: usize,
    h: usize,
    w: usize,
    data_range: f64,
) -> Vec<f64> {
    let taps: Vec<f64> = gaussian_taps(1.5, 5)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let (c1, c2) = ((0.01 * data_range).powi(2), (0.03 * data_range).powi(2));
    let (oh, ow) = (h - 10, w - 10);
    let mut out = Vec::with_capacity(planes * oh * ow);
    for p in 0..planes {
        for y in 0..oh {
            for x in 0..ow {
                let mut m = [0.0; 5];
                for dy in 0..11 {
                    for dx in 0..11 {
                        let wt = taps[dy] * taps[dx];
                        let i = (p * h + y + dy) * w + x + dx;
                        let (u, v) = (a[i], b[i]);
                        m[0] += wt * u;
                        m[1] += wt * v;
                        m[2] += wt * u * u;
                        m[3] += wt * v * v;
                        m[4] += wt * u * v;
                    }
                }
                let (mx, my) = (m[0], m[1]);
                let (sxx, syy, sxy) = (m[2] - mx * mx, m[3] - my * my, m[4] - mx * my);
                out.push(
                    (2.0 * mx * my + c1) * (2.0 * sxy + c2)
                        / ((mx * mx + my * my + c1) * (sxx + syy + c2)),
                );
            }
        }
    }
    out
}

#[test]
fn ssim_map_and_gradients() {
    let dims = [2usize, 1, 13, 12];
    let forward = |v: &[Vec<f64>]| ssim_map_ref(&v[0], &v[1], 2, 13, 12, 2.0);
    OpCheck {
        name: "ssim_map".into(),
        inputs: vec![(dims.to_vec(), -1.0, 1.0), (dims.to_vec(), -1.0, 1.0)],
        gpu: &|t| t[0].ssim_map(&t[1], 2.0, 1.5, 5),
        forward: &forward,
        backward: &|v, up| numeric_backward(&forward, v, up),
        forward_tol: (2e-5, 1e-4),
        grad_tol: (2e-5, 1e-3),
        seed: 5,
    }
    .run();
}

#[test]
fn ssim_matches_scikit_image() {
    let gpu = gpu();
    for (i, pair) in fixture("ssim")["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let dims = shape(&pair["shape"]);
        let a = Tensor::from_slice(&gpu, &numbers(&pair["a"]), &dims);
        let b = Tensor::from_slice(&gpu, &numbers(&pair["b"]), &dims);
        let l = pair["data_range"].as_f64().unwrap() as f32;
        let ssim = 1.0 - loss::ssim(&a, &b, l).item();
        let want = pair["ssim"].as_f64().unwrap();
        assert!(
            (f64::from(ssim) - want).abs() <= 1e-5,
            "pair {i}: SSIM {ssim}, scikit-image {want}"
        );
    }
}

#[test]
fn images_smaller_than_the_window_are_refused() {
    let message = ssim_fits(7, 20, 5).unwrap_err().to_string();
    assert!(
        message.contains("at least 11 x 11") && message.contains("7 x 20"),
        "{message}"
    );
    assert!(ssim_fits(11, 11, 5).is_ok());
}

/// Means over PyTorch's adaptive 3 x 3 windows of each [h, w] plane.
fn mean3x3(x: &[f64], planes: usize, h: usize, w: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for p in 0..planes {
        for oy in 0..3 {
            for ox in 0..3 {
                let (y0, y1) = (oy * h / 3, ((oy + 1) * h).div_ceil(3));
                let (x0, x1) = (ox * w / 3, ((ox + 1) * w).div_ceil(3));
                let mut s = 0.0;
                for y in y0..y1 {
                    for c in x0..x1 {
                        s += x[(p * h + y) * w + c];
                    }
                }
                out.push(s / ((y1 - y0) * (x1 - x0)) as f64);
            }
        }
    }
    out
}

#[test]
fn colour_loss_is_the_mse_of_three_by_three_means() {
    let forward = |v: &[Vec<f64>]| {
        let (a, b) = (mean3x3(&v[0], 6, 7, 8), mean3x3(&v[1], 6, 7, 8));
        vec![a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64]
    };
    OpCheck {
        name: "colour loss".into(),
        inputs: vec![(vec![2, 3, 7, 8], -1.0, 1.0), (vec![2, 3, 7, 8], -1.0, 1.0)],
        gpu: &|t| loss::colour(&t[0], &t[1]),
        forward: &forward,
        backward: &|v, up| numeric_backward(&forward, v, up),
        forward_tol: (1e-6, 1e-5),
        grad_tol: (1e-7, 1e-4),
        seed: 6,
    }
    .run();
}

#[test]
fn optimising_an_image_with_each_loss_lowers_it() {
    use pegasus::optim::Adam;
    let mut inputs = Inputs::new(8);
    let (target, _) = inputs.tensor(&[2, 3, 24, 24], -1.0, 1.0);
    let target = target.gaussian_blur(1.0, 2);
    type LossFn = fn(&Tensor, &Tensor) -> Tensor;
    // From noise towards blurred noise in 100 Adam steps. 1 - SSIM falls least: its gradient
    // fades as the local statistics start to agree.
    let losses: [(&str, LossFn, f32); 3] = [
        (
            "laplacian L1",
            |a, b| loss::laplacian_l1(a, b, 4, None),
            10.0,
        ),
        ("1 - SSIM", |a, b| loss::ssim(a, b, 2.0), 4.0),
        ("colour", loss::colour, 100.0),
    ];
    for (name, f, factor) in losses {
        let image = Inputs::new(9).tensor(&[2, 3, 24, 24], -1.0, 1.0).0.track();
        let mut adam = Adam::single(vec![("image".into(), image.clone())], 0.05, 0.9, 0.999);
        let start = pegasus::autograd::no_grad(|| f(&image, &target).item());
        for _ in 0..100 {
            adam.step(&f(&image, &target).backward());
        }
        let end = pegasus::autograd::no_grad(|| f(&image, &target).item());
        assert!(
            end * factor < start,
            "{name}: {start} -> {end}, expected a fall by {factor}x"
        );
    }
}
