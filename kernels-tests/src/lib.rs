//! Shared helpers of the kernel tests: the one GPU context of a test binary, seeded random
//! inputs, and a comparison that names the tensor and index that failed.
//!
//! References live in the test files, in f64, written from the math.

use std::sync::{Arc, OnceLock};

use pegasus::ops::HostRng;
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

/// Seedable test inputs from the engine's host SplitMix64 stream.
pub struct Inputs(HostRng);

impl Inputs {
    pub fn new(seed: u64) -> Inputs {
        Inputs(HostRng::new(seed, 0))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
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

/// Index into a right-aligned broadcast operand of shape `small` for output index `i`.
pub fn broadcast_index(out: &[usize], small: &[usize], i: usize) -> usize {
    let offset = out.len() - small.len();
    let mut rest = i;
    let mut coords = vec![0; out.len()];
    for d in (0..out.len()).rev() {
        coords[d] = rest % out[d];
        rest /= out[d];
    }
    let mut index = 0;
    for (d, &size) in small.iter().enumerate() {
        let c = if size == 1 { 0 } else { coords[d + offset] };
        index = index * size + c;
    }
    index
}

/// The logistic function in f64, for references.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
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

/// f64 function of the inputs (each a flat vector), giving a flat output.
pub type Forward<'a> = &'a dyn Fn(&[Vec<f64>]) -> Vec<f64>;
/// f64 gradients of sum(output * upstream) with respect to each input.
pub type BackwardRef<'a> = &'a dyn Fn(&[Vec<f64>], &[f64]) -> Vec<Vec<f64>>;

/// One differentiable op under test: GPU forward and backward against f64 references, and
/// the reference backward against central finite differences of the reference forward.
pub struct OpCheck<'a> {
    pub name: String,
    /// Input shapes and the range their uniform random values come from.
    pub inputs: Vec<(Vec<usize>, f64, f64)>,
    pub gpu: &'a dyn Fn(&[Tensor]) -> Tensor,
    pub forward: Forward<'a>,
    pub backward: BackwardRef<'a>,
    /// (atol, rtol) for the GPU forward and for the GPU gradients.
    pub forward_tol: (f64, f64),
    pub grad_tol: (f64, f64),
    pub seed: u64,
}

impl OpCheck<'_> {
    #[track_caller]
    pub fn run(&self) {
        let mut inputs = Inputs::new(self.seed);
        let (tensors, hosts): (Vec<Tensor>, Vec<Vec<f32>>) = self
            .inputs
            .iter()
            .map(|(dims, low, high)| inputs.tensor(dims, *low, *high))
            .unzip();
        let xs: Vec<Vec<f64>> = hosts.iter().map(|h| to_f64(h)).collect();
        let tracked: Vec<Tensor> = tensors.iter().map(Tensor::track).collect();
        let y = (self.gpu)(&tracked);
        let want = (self.forward)(&xs);
        let (fa, fr) = self.forward_tol;
        assert_close(
            &format!("{} forward", self.name),
            &y.to_vec(),
            &want,
            fa,
            fr,
        );

        let upstream_host = inputs.vec(y.numel(), -1.0, 1.0);
        let upstream = Tensor::from_slice(&gpu(), &upstream_host, y.dims());
        let up = to_f64(&upstream_host);
        let grads = y.backward_with(upstream);
        let want_grads = (self.backward)(&xs, &up);
        let (ga, gr) = self.grad_tol;
        for (i, t) in tracked.iter().enumerate() {
            let got = grads
                .get(t)
                .unwrap_or_else(|| panic!("{}: no gradient for input {i}", self.name))
                .to_vec();
            assert_close(
                &format!("{} d/dinput{i}", self.name),
                &got,
                &want_grads[i],
                ga,
                gr,
            );
        }
        self.check_reference_backward(&xs, &up, &want_grads, &mut inputs);
    }

    /// The analytic f64 backward against central differences of sum(forward * upstream),
    /// at up to 24 positions per input.
    fn check_reference_backward(
        &self,
        xs: &[Vec<f64>],
        up: &[f64],
        grads: &[Vec<f64>],
        rng: &mut Inputs,
    ) {
        let loss =
            |x: &[Vec<f64>]| -> f64 { (self.forward)(x).iter().zip(up).map(|(a, b)| a * b).sum() };
        for (i, x) in xs.iter().enumerate() {
            let picks: Vec<usize> = if x.len() <= 24 {
                (0..x.len()).collect()
            } else {
                (0..24)
                    .map(|_| (rng.next_u64() % x.len() as u64) as usize)
                    .collect()
            };
            for j in picks {
                let h = 1e-6 * x[j].abs().max(1.0);
                let mut plus = xs.to_vec();
                plus[i][j] += h;
                let mut minus = xs.to_vec();
                minus[i][j] -= h;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
                let analytic = grads[i][j];
                assert!(
                    (numeric - analytic).abs() <= 1e-5 + 1e-5 * analytic.abs(),
                    "{}: reference d/dinput{i}[{j}] = {analytic}, finite differences give {numeric}",
                    self.name
                );
            }
        }
    }
}

/// The backward of a linear f64 function, exactly: gradient_i = sum_o upstream_o f(e_i)_o,
/// one evaluation per input element (for blur, pyramid and other linear ops).
pub fn linear_backward(
    forward: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    x: &[Vec<f64>],
    upstream: &[f64],
) -> Vec<Vec<f64>> {
    let zero: Vec<Vec<f64>> = x.iter().map(|v| vec![0.0; v.len()]).collect();
    (0..x.len())
        .map(|i| {
            (0..x[i].len())
                .map(|j| {
                    let mut unit = zero.clone();
                    unit[i][j] = 1.0;
                    forward(&unit)
                        .iter()
                        .zip(upstream)
                        .map(|(a, b)| a * b)
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// The backward of a smooth f64 function by central differences with step 1e-6: accurate
/// to about 1e-9, used where writing the derivative out would only repeat the kernel's own
/// algebra (SSIM).
pub fn numeric_backward(
    forward: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    x: &[Vec<f64>],
    upstream: &[f64],
) -> Vec<Vec<f64>> {
    let loss =
        |v: &[Vec<f64>]| -> f64 { forward(v).iter().zip(upstream).map(|(a, b)| a * b).sum() };
    (0..x.len())
        .map(|i| {
            (0..x[i].len())
                .map(|j| {
                    let h = 1e-6 * x[i][j].abs().max(1.0);
                    let mut plus = x.to_vec();
                    plus[i][j] += h;
                    let mut minus = x.to_vec();
                    minus[i][j] -= h;
                    (loss(&plus) - loss(&minus)) / (2.0 * h)
                })
                .collect()
        })
        .collect()
}

/// Reflect-101 index into [0, n) (mirror about the edge pixel, repeated; n = 1 maps to 0).
pub fn mirror(k: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = k.rem_euclid(period);
    (if m >= n { period - m } else { m }) as usize
}

/// A fresh, empty folder under the system temp dir for one test, removed when the test ends
/// (passed or failed: test files such as the VGG16 weights run to tens of megabytes, and
/// every `cargo test` would otherwise leave them behind).
pub struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("pegasus-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// A random direction of unit length in the space of `params`, one vector per parameter:
/// for checking a gradient against finite differences along it.
pub fn unit_direction(inputs: &mut Inputs, params: &[(String, Tensor)]) -> Vec<Vec<f32>> {
    let raw: Vec<Vec<f32>> = params
        .iter()
        .map(|(_, p)| inputs.vec(p.numel(), -1.0, 1.0))
        .collect();
    let norm = raw
        .iter()
        .flatten()
        .map(|v| f64::from(*v).powi(2))
        .sum::<f64>()
        .sqrt() as f32;
    raw.iter()
        .map(|d| d.iter().map(|v| v / norm).collect())
        .collect()
}

/// The sum over `params` of their gradient in `grads` dotted with `direction`.
pub fn gradient_along(
    grads: &pegasus::autograd::Grads,
    params: &[(String, Tensor)],
    direction: &[Vec<f32>],
) -> f64 {
    params
        .iter()
        .zip(direction)
        .map(|((name, p), d)| {
            let g = grads
                .get(p)
                .unwrap_or_else(|| panic!("no gradient for {name}"))
                .to_vec();
            g.iter()
                .zip(d)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum::<f64>()
        })
        .sum()
}
