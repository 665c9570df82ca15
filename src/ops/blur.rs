//! Gaussian blur (shaders/blur.wgsl) and Gaussian / Laplacian pyramids
//! (shaders/pyramid.wgsl) of NCHW tensors, with the reflect border throughout.

use crate::autograd::{no_grad, record};
use crate::gpu::{Grid, Kernel};
use crate::ops::shaders::{BLUR, PYRAMID};
use crate::tensor::Tensor;

/// Largest blur radius the tiled kernel stages (shaders/blur.wgsl).
pub const MAX_BLUR_RADIUS: usize = 32;

/// The 5-tap binomial kernel 1 4 6 4 1 / 16 of Burt and Adelson's pyramids.
pub const PYRAMID_TAPS: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];

/// Normalised Gaussian weights exp(-t^2 / (2 sigma^2)) for t = -radius ..= radius.
pub fn gaussian_taps(sigma: f32, radius: usize) -> Vec<f32> {
    assert!(sigma > 0.0, "Gaussian sigma must be positive, got {sigma}");
    let r = radius as i32;
    let raw: Vec<f64> = (-r..=r)
        .map(|t| (-f64::from(t * t) / (2.0 * f64::from(sigma) * f64::from(sigma))).exp())
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|w| (w / total) as f32).collect()
}

fn nchw(x: &Tensor, what: &str) -> [usize; 4] {
    match *x.dims() {
        [n, c, h, w] => [n, c, h, w],
        _ => panic!("{what} expects [N, C, H, W], got {}", x.shape()),
    }
}

/// One 1-D blur pass (or its transpose) along x or y.
fn blur_pass(x: &Tensor, taps: &Tensor, vertical: bool, transpose: bool) -> Tensor {
    let [n, c, h, w] = nchw(x, "blur");
    let radius = (taps.numel() - 1) / 2;
    let out = Tensor::uninit(x.gpu(), x.dims());
    let constants = [("VERTICAL", f64::from(u8::from(vertical)))];
    let entry = if transpose {
        "blur_pass_grad"
    } else {
        "blur_pass"
    };
    // Both passes tile the output the same way; only what a tile stages differs.
    x.gpu().dispatch(
        &Kernel::new(&BLUR, entry)
            .with(&constants)
            .doing(2 * taps.numel() * x.numel(), 2 * x.numel() + taps.numel()),
        &[x.buffer(), taps.buffer(), out.buffer()],
        &[h as u32, w as u32, radius as u32],
        Grid([w.div_ceil(16) as u32, h.div_ceil(16) as u32, (n * c) as u32]),
    );
    out
}

/// Largest radius of the pyramid kernels' 1-D weights (TAP0 ... TAP8 in shaders/pyramid.wgsl).
pub const MAX_PYRAMID_RADIUS: usize = 4;

/// Launches one pyramid kernel over `planes` of fine size h x w, with the 1-D `weights` as
/// pipeline constants.
fn pyramid_kernel(
    entry: &'static str,
    fine: &Tensor,
    coarse: &Tensor,
    weights: &[f32],
    out: &Tensor,
    fine_dims: [usize; 4],
) {
    launch_pyramid(
        entry,
        (fine, coarse),
        weights,
        out,
        fine_dims,
        Summing::default(),
    );
}

/// What a pyramid gradient kernel sums in (shaders/pyramid.wgsl).
#[derive(Clone, Copy, Default)]
struct Summing<'a> {
    /// ADD: the operand of the output's size is added.
    add: bool,
    /// The Laplacian loss's incoming gradient, and the scales (weight / count) with which the
    /// kernel takes the fine or the coarse operand as its level's signs (FINE_SIGNS,
    /// COARSE_SIGNS).
    signs: Option<(&'a Tensor, Option<f32>, Option<f32>)>,
}

/// `pyramid_kernel` with what a gradient kernel sums in.
fn launch_pyramid(
    entry: &'static str,
    (fine, coarse): (&Tensor, &Tensor),
    weights: &[f32],
    out: &Tensor,
    fine_dims: [usize; 4],
    summing: Summing,
) {
    let [n, c, h, w] = fine_dims;
    let gpu = out.gpu();
    let radius = (weights.len() - 1) / 2;
    let names = [
        "TAP0", "TAP1", "TAP2", "TAP3", "TAP4", "TAP5", "TAP6", "TAP7", "TAP8",
    ];
    // Every kernel's windows reach at most radius pixels past a pixel of the fine level.
    let one_reflection = h.min(w) > radius;
    let (upstream, fine_scale, coarse_scale) = summing.signs.unwrap_or((fine, None, None));
    let flag = |on: bool| f64::from(u8::from(on));
    let mut constants = vec![
        ("RADIUS", radius as f64),
        ("ADD", flag(summing.add)),
        ("ONE_REFLECTION", flag(one_reflection)),
        ("FINE_SIGNS", flag(fine_scale.is_some())),
        ("COARSE_SIGNS", flag(coarse_scale.is_some())),
    ];
    constants.extend(
        names
            .iter()
            .zip(weights)
            .map(|(&name, &w)| (name, f64::from(w))),
    );
    // About a multiply-add per tap along each axis for every value read or written.
    let values = fine.numel() + coarse.numel() + out.numel();
    gpu.dispatch_by_binding(
        &Kernel::new(&PYRAMID, entry)
            .with(&constants)
            .doing(4 * weights.len() * values, values),
        &[
            (1, fine.buffer()),
            (2, coarse.buffer()),
            (3, upstream.buffer()),
            (4, out.buffer()),
        ],
        &[
            (n * c) as u32,
            h as u32,
            w as u32,
            fine_scale.unwrap_or(0.0).to_bits(),
            coarse_scale.unwrap_or(0.0).to_bits(),
        ],
        gpu.linear_grid((out.numel() as u64).div_ceil(256)),
    );
}

/// The pyramid's 1-D weights, checked: an odd count of at most 2 MAX_PYRAMID_RADIUS + 1.
fn pyramid_weights(weights: &[f32]) -> Vec<f32> {
    assert!(
        weights.len() % 2 == 1 && weights.len() <= 2 * MAX_PYRAMID_RADIUS + 1,
        "pyramid weights need an odd count of at most {}, got {}",
        2 * MAX_PYRAMID_RADIUS + 1,
        weights.len()
    );
    weights.to_vec()
}

impl Tensor {
    /// Blurs each plane with a separable Gaussian of `sigma`, `radius` taps on each side
    /// (at most 32), reflect border.
    pub fn gaussian_blur(&self, sigma: f32, radius: usize) -> Tensor {
        assert!(
            radius <= MAX_BLUR_RADIUS,
            "blur radius {radius} is over the maximum of {MAX_BLUR_RADIUS}"
        );
        self.blur_with(&gaussian_taps(sigma, radius))
    }

    /// Separable blur with the symmetric 1-D kernel `weights` (odd length) in both axes.
    pub fn blur_with(&self, weights: &[f32]) -> Tensor {
        assert!(weights.len() % 2 == 1, "blur weights need an odd length");
        let taps = Tensor::from_slice(self.gpu(), weights, &[weights.len()]);
        let out = blur_pass(&blur_pass(self, &taps, false, false), &taps, true, false);
        let backward = move |g: &Tensor, _: &[bool]| {
            vec![Some(blur_pass(
                &blur_pass(g, &taps, true, true),
                &taps,
                false,
                true,
            ))]
        };
        record(&[self], out, Box::new(backward))
    }

    /// One level down a Gaussian pyramid: blur with `weights` (an odd count, at most
    /// 2 MAX_PYRAMID_RADIUS + 1), keep the even pixels.
    pub fn pyramid_down(&self, weights: &[f32]) -> Tensor {
        let dims = nchw(self, "pyramid_down");
        let [n, c, h, w] = dims;
        let taps = pyramid_weights(weights);
        let out = Tensor::uninit(self.gpu(), &[n, c, h.div_ceil(2), w.div_ceil(2)]);
        pyramid_kernel("pyramid_down", self, &out, &taps, &out, dims);
        let backward = move |g: &Tensor, _: &[bool]| {
            let dx = Tensor::uninit(g.gpu(), &dims);
            pyramid_kernel("pyramid_down_grad", g, g, &taps, &dx, dims);
            vec![Some(dx)]
        };
        record(&[self], out, Box::new(backward))
    }

    /// One Laplacian level: self - expand(coarse), coarse being the next Gaussian level.
    pub fn pyramid_laplace(&self, coarse: &Tensor, weights: &[f32]) -> Tensor {
        let dims = nchw(self, "pyramid_laplace");
        let [n, c, h, w] = dims;
        assert_eq!(
            coarse.dims(),
            &[n, c, h.div_ceil(2), w.div_ceil(2)],
            "pyramid_laplace: the coarse level of {} must be half its size",
            self.shape()
        );
        let taps = pyramid_weights(weights);
        let out = Tensor::uninit(self.gpu(), &dims);
        pyramid_kernel("pyramid_laplace", self, coarse, &taps, &out, dims);
        let coarse_dims = coarse.dims().to_vec();
        let backward = move |g: &Tensor, needs: &[bool]| {
            // The kernel negates: d(self - expand(coarse)) / d coarse = -expand^T.
            let dcoarse = needs[1].then(|| {
                let d = Tensor::uninit(g.gpu(), &coarse_dims);
                pyramid_kernel("pyramid_expand_grad", g, g, &taps, &d, dims);
                d
            });
            vec![needs[0].then(|| g.clone()), dcoarse]
        };
        record(&[self, coarse], out, Box::new(backward))
    }

    /// Gaussian pyramid G^0 = self, G^{j+1} = down(G^j): `levels` tensors.
    pub fn gaussian_pyramid(&self, levels: usize, weights: &[f32]) -> Vec<Tensor> {
        let mut out = vec![self.clone()];
        while out.len() < levels {
            let next = out.last().unwrap().pyramid_down(weights);
            out.push(next);
        }
        out
    }

    /// The Laplacian L1 loss sum_j weights[j] mean |L^j(self - target)| over the `levels`
    /// levels of `laplacian_pyramid` with `taps`, as one op. Its backward runs the pyramid's
    /// transposes from the coarsest level up, each level's gradient summed in the kernel that
    /// makes it: with s_j = weights[j] g sign(L^j) / |L^j| and g_last = s_last,
    /// g_j = s_j + down^T(g_{j+1} - expand^T(s_j)), and d / d self = g_0.
    pub fn laplacian_l1(
        &self,
        target: &Tensor,
        levels: usize,
        weights: &[f32],
        taps: &[f32],
    ) -> Tensor {
        assert_eq!(
            weights.len(),
            levels,
            "{} Laplacian weights for {levels} levels",
            weights.len()
        );
        let taps = pyramid_weights(taps);
        // The difference may broadcast one operand: each gradient is summed back to its shape.
        let shapes = (self.shape(), target.shape());
        let pyramid = no_grad(|| self.sub(target).laplacian_pyramid(levels, &taps));
        let loss = no_grad(|| {
            let terms = pyramid.iter().zip(weights).map(|(level, &w)| {
                let mean = level.mean_of_magnitudes();
                if w == 1.0 { mean } else { mean.scale(w) }
            });
            terms.reduce(|a, b| a.add(&b)).expect("at least one level")
        });
        let weights = weights.to_vec();
        let backward = move |g: &Tensor, needs: &[bool]| {
            // Level j's gradient s_j = weights[j] g sign(L^j) / |L^j| is taken from L^j by the
            // kernels that read it (FINE_SIGNS, COARSE_SIGNS): no tensor of signs is written.
            let scale = |j: usize| weights[j] / pyramid[j].numel() as f32;
            let last = pyramid.len() - 1;
            let mut grad = (last == 0).then(|| pyramid[0].scaled_signs(g, scale(0)));
            for j in (0..last).rev() {
                let level = &pyramid[j];
                let level_dims = nchw(level, "laplacian level");
                // g_{j+1} - expand^T(s_j): g_last is the coarsest level's signs.
                let through = Tensor::uninit(g.gpu(), pyramid[j + 1].dims());
                let coarser = grad.as_ref().unwrap_or(&pyramid[last]);
                let coarse_scale = grad.is_none().then(|| scale(last));
                launch_pyramid(
                    "pyramid_expand_grad",
                    (level, coarser),
                    &taps,
                    &through,
                    level_dims,
                    Summing {
                        add: true,
                        signs: Some((g, Some(scale(j)), coarse_scale)),
                    },
                );
                // s_j + down^T(that).
                let finer_grad = Tensor::uninit(g.gpu(), &level_dims);
                launch_pyramid(
                    "pyramid_down_grad",
                    (level, &through),
                    &taps,
                    &finer_grad,
                    level_dims,
                    Summing {
                        add: true,
                        signs: Some((g, Some(scale(j)), None)),
                    },
                );
                grad = Some(finer_grad);
            }
            let grad = grad.expect("level 0's gradient");
            let dtarget = needs[1].then(|| grad.neg().sum_to(shapes.1));
            vec![needs[0].then(|| grad.sum_to(shapes.0)), dtarget]
        };
        record(&[self, target], loss, Box::new(backward))
    }

    /// Laplacian pyramid L^j = G^j - expand(G^{j+1}) for j < levels - 1, and the Gaussian
    /// residual G^{levels-1} last.
    pub fn laplacian_pyramid(&self, levels: usize, weights: &[f32]) -> Vec<Tensor> {
        assert!(levels >= 1, "a pyramid has at least one level");
        let gaussians = self.gaussian_pyramid(levels, weights);
        let mut out: Vec<Tensor> = gaussians
            .windows(2)
            .map(|pair| pair[0].pyramid_laplace(&pair[1], weights))
            .collect();
        out.push(gaussians.last().unwrap().clone());
        out
    }
}
