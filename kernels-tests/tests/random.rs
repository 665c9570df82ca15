//! The Philox 4x32-10 generator: a host reference checked against the published known-answer
//! vectors, the GPU bit-for-bit against it, and the statistics of the normal samples.

use kernels_tests::{assert_close, gpu};
use pegasus::Rng;

/// Philox 4x32-10 from Salmon et al. (2011), written from the paper's round function.
fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    const M0: u64 = 0xD251_1F53;
    const M1: u64 = 0xCD9E_8D57;
    const W0: u32 = 0x9E37_79B9;
    const W1: u32 = 0xBB67_AE85;
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = M0 * u64::from(c[0]);
        let p1 = M1 * u64::from(c[2]);
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// The known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 R=10).
#[test]
fn reference_matches_the_known_answers() {
    assert_eq!(
        philox([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

/// The words of element i of a draw starting at `offset`.
fn words(seed: u64, offset: u64, n: usize) -> Vec<u32> {
    (0..n.div_ceil(4) as u64)
        .flat_map(|t| {
            let c = offset + t;
            philox(
                [c as u32, (c >> 32) as u32, 0, 0],
                [seed as u32, (seed >> 32) as u32],
            )
        })
        .take(n)
        .collect()
}

#[test]
fn gpu_uniforms_are_the_reference_bits() {
    let gpu = gpu();
    // An offset whose low word wraps inside the draw exercises the carry into the high word.
    let seed = 0x1234_5678_9abc_def0;
    let offset = (1u64 << 32) - 3;
    let n = 4099;
    let mut rng = Rng { seed, offset };
    let got = rng.uniform(&gpu, &[n], 0.0, 1.0).to_vec();
    let want: Vec<f64> = words(seed, offset, n)
        .iter()
        .map(|&w| f64::from(w >> 8) / f64::from(1u32 << 24))
        .collect();
    assert_close("uniform", &got, &want, 0.0, 0.0);
    assert_eq!(
        rng.offset,
        offset + (n as u64).div_ceil(4),
        "the stream advanced by the blocks used"
    );
    let scaled = Rng { seed, offset }.uniform(&gpu, &[n], -2.0, 3.0).to_vec();
    let want_scaled: Vec<f64> = want.iter().map(|u| -2.0 + 5.0 * u).collect();
    assert_close("uniform[-2, 3)", &scaled, &want_scaled, 1e-6, 0.0);
}

#[test]
fn gpu_normals_follow_box_muller_on_the_reference_bits() {
    let gpu = gpu();
    let n = 1001;
    let got = Rng::new(5).normal(&gpu, &[n], 0.5, 2.0).to_vec();
    let w = words(5, 0, n.div_ceil(4) * 4);
    let unit = |x: u32| f64::from(x >> 8) / f64::from(1u32 << 24);
    let mut want = Vec::new();
    for pair in w.chunks(2) {
        let r = (-2.0 * (unit(pair[0]) + 1.0 / f64::from(1u32 << 24)).ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * unit(pair[1]);
        want.push(0.5 + 2.0 * r * angle.cos());
        want.push(0.5 + 2.0 * r * angle.sin());
    }
    want.truncate(n);
    // GPU log/sin/cos are accurate to a few ulp of f32; radii reach about 5.8.
    assert_close("normal", &got, &want, 2e-5, 2e-5);
}

/// Standard normal CDF through erfc.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The Chebyshev fit of Numerical Recipes (erfcc): relative error below 1.2e-7, far finer
/// than the Kolmogorov-Smirnov threshold of 2e-3 it serves.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[test]
fn a_million_normals_pass_moment_and_kolmogorov_smirnov_tests() {
    let gpu = gpu();
    let n = 1 << 20;
    let mut samples: Vec<f64> = Rng::new(42)
        .normal(&gpu, &[n], 0.0, 1.0)
        .to_vec()
        .into_iter()
        .map(f64::from)
        .collect();
    let mean = samples.iter().sum::<f64>() / n as f64;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    // Standard errors: 1/sqrt(n) ~ 1e-3 for the mean, sqrt(2/n) ~ 1.4e-3 for the variance;
    // five of them is a 1-in-a-million false alarm.
    assert!(mean.abs() < 5e-3, "mean {mean}");
    assert!((var - 1.0).abs() < 7e-3, "variance {var}");
    samples.sort_by(f64::total_cmp);
    let d = samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = normal_cdf(x);
            (f - i as f64 / n as f64)
                .abs()
                .max((f - (i + 1) as f64 / n as f64).abs())
        })
        .fold(0.0, f64::max);
    // Critical value at significance 0.001: 1.95 / sqrt(n).
    assert!(d < 1.95 / (n as f64).sqrt(), "Kolmogorov-Smirnov D = {d}");
}

#[test]
fn same_seed_same_numbers_and_offsets_give_independent_streams() {
    let gpu = gpu();
    let n = 1 << 16;
    let a = Rng::new(9).normal(&gpu, &[n], 0.0, 1.0).to_vec();
    let b = Rng::new(9).normal(&gpu, &[n], 0.0, 1.0).to_vec();
    assert_eq!(a, b, "one seed, one stream");
    let mut rng = Rng::new(9);
    let _ = rng.normal(&gpu, &[n], 0.0, 1.0);
    let c = rng.normal(&gpu, &[n], 0.0, 1.0).to_vec();
    let other_seed = Rng::new(10).normal(&gpu, &[n], 0.0, 1.0).to_vec();
    for (what, other) in [("next offset", &c), ("other seed", &other_seed)] {
        let corr: f64 = a
            .iter()
            .zip(other.iter())
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum::<f64>()
            / n as f64;
        // Independent unit normals: the sample correlation has standard error 1/sqrt(n) = 0.004.
        assert!(corr.abs() < 0.02, "{what}: correlation {corr}");
        let same = a.iter().zip(other.iter()).filter(|(x, y)| x == y).count();
        assert!(same < 4, "{what}: {same} identical values");
    }
}
