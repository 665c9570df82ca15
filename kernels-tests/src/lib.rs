//! Shared helpers of the kernel tests: the one GPU context of a test binary, seeded random
//! inputs, and a comparison that names the tensor and index that failed.
//!
//! References live in the test files, in f64, written from the math.

use std::sync::{Arc, OnceLock};

use pegasus::{AdapterChoice, Gpu, Tensor};

/// The test binary's GPU, with every new tensor's storage filled with NaN so an element a
/// kernel forgets to write fails the comparison. No adapter is a failure, never a skip.
pub fn gpu() -> Arc<Gpu> {
    static GPU: OnceLock<Arc<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(&AdapterChoice::from_flag_or_env(None))
            .unwrap_or_else(|e| panic!("kernel tests need a GPU adapter: {e}"));
        gpu.poison_new_tensors(true);
        gpu
    })
    .clone()
}

/// SplitMix64: a small, seedable, well-mixed generator for test inputs.
pub struct Inputs(u64);

impl Inputs {
    pub fn new(seed: u64) -> Inputs {
        Inputs(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [low, high).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        low + (high - low) * unit
    }

    pub fn vec(&mut self, n: usize, low: f64, high: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(low, high) as f32).collect()
    }

    /// A GPU tensor of uniform values, with its host copy.
    pub fn tensor(&mut self, dims: &[usize], low: f64, high: f64) -> (Tensor, Vec<f32>) {
        let n = dims.iter().product();
        let host = self.vec(n, low, high);
        (Tensor::from_slice(&gpu(), &host, dims), host)
    }
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Fails unless |got - want| <= atol + rtol |want| everywhere, naming `what` and the first
/// index that is off (NaN counts as off unless both are NaN).
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} values, expected {}",
        got.len(),
        want.len()
    );
    let mut worst = (0usize, 0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        if g.is_nan() && w.is_nan() {
            continue;
        }
        if g.is_infinite() && w.is_infinite() && g.signum() == w.signum() {
            continue;
        }
        let err = (g - w).abs();
        let allowed = atol + rtol * w.abs();
        assert!(
            err <= allowed,
            "{what}[{i}] = {g}, expected {w} (error {err:.3e} > {allowed:.3e})"
        );
        if err > worst.1 {
            worst = (i, err);
        }
    }
}
