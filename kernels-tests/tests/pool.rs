//! Average pooling (fixed and adaptive windows) and resizing, against f64 references.

use kernels_tests::OpCheck;

/// PyTorch's adaptive window along an axis.
fn adaptive(o: usize, size: usize, outs: usize) -> (usize, usize) {
    (o * size / outs, ((o + 1) * size).div_ceil(outs))
}

/// Output = sum over windows; `window(oy, ox)` gives ((y0, y1), (x0, x1)).
fn pool_check(
    name: &str,
    dims: [usize; 4],
    out: (usize, usize),
    window: &dyn Fn(usize, usize) -> ((usize, usize), (usize, usize)),
    gpu: &dyn Fn(&pegasus::Tensor) -> pegasus::Tensor,
) {
    let [n, c, h, w] = dims;
    let (oh, ow) = out;
    let planes = n * c;
    let terms = |f: &mut dyn FnMut(usize, usize, f64)| {
        for pl in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let ((y0, y1), (x0, x1)) = window(oy, ox);
                    let area = ((y1 - y0) * (x1 - x0)) as f64;
                    for y in y0..y1 {
                        for x in x0..x1 {
                            f((pl * oh + oy) * ow + ox, (pl * h + y) * w + x, 1.0 / area);
                        }
                    }
                }
            }
        }
    };
    linear_map_check(
        name.into(),
        dims,
        planes * oh * ow,
        &terms,
        gpu,
        (1e-6, 1e-5),
    );
}

/// Calls f(output index, input index, weight) for every term of a linear map.
type WeightedTerms<'a> = &'a dyn Fn(&mut dyn FnMut(usize, usize, f64));

/// Checks an op that is linear in its input, y[o] = sum of weight x[i] over the (o, i, weight)
/// triples `terms` lists, forward and gradient.
fn linear_map_check(
    name: String,
    dims: [usize; 4],
    outputs: usize,
    terms: WeightedTerms,
    gpu: &dyn Fn(&pegasus::Tensor) -> pegasus::Tensor,
    grad_tol: (f64, f64),
) {
    OpCheck {
        name,
        inputs: vec![(dims.to_vec(), -1.0, 1.0)],
        gpu: &|t| gpu(&t[0]),
        forward: &|v| {
            let mut y = vec![0.0; outputs];
            terms(&mut |o, i, wt| y[o] += wt * v[0][i]);
            y
        },
        backward: &|v, up| {
            let mut dx = vec![0.0; v[0].len()];
            terms(&mut |o, i, wt| dx[i] += wt * up[o]);
            vec![dx]
        },
        forward_tol: (1e-6, 1e-5),
        grad_tol,
        seed: 5,
    }
    .run();
}

#[test]
fn fixed_windows() {
    for (dims, k, s) in [
        ([2, 3, 8, 8], 2, 2),
        ([1, 2, 7, 9], 3, 2),
        ([2, 1, 5, 5], 5, 1),
        ([1, 1, 6, 7], 2, 3),
    ] {
        let out = ((dims[2] - k) / s + 1, (dims[3] - k) / s + 1);
        pool_check(
            &format!("avg_pool2d {dims:?} k{k} s{s}"),
            dims,
            out,
            &|oy, ox| ((oy * s, oy * s + k), (ox * s, ox * s + k)),
            &|t| t.avg_pool2d(k, s),
        );
    }
}

#[test]
fn adaptive_windows_including_to_three_by_three() {
    for (dims, out) in [
        ([2, 3, 64, 64], (3, 3)),
        ([1, 2, 7, 5], (3, 3)),
        ([1, 1, 5, 4], (7, 6)),
        ([2, 2, 9, 10], (1, 1)),
    ] {
        let (h, w) = (dims[2], dims[3]);
        pool_check(
            &format!("adaptive_avg_pool2d {dims:?} -> {out:?}"),
            dims,
            out,
            &|oy, ox| (adaptive(oy, h, out.0), adaptive(ox, w, out.1)),
            &|t| t.adaptive_avg_pool2d(out.0, out.1),
        );
    }
}

/// (first index, second index, weight of the second) of output o along an axis.
fn bilinear_taps(o: usize, size: usize, outs: usize) -> (usize, usize, f64) {
    let src = ((o as f64 + 0.5) * size as f64 / outs as f64 - 0.5).max(0.0);
    let i0 = (src.floor() as usize).min(size - 1);
    let i1 = (i0 + 1).min(size - 1);
    (i0, i1, src - i0 as f64)
}

fn resize_check(dims: [usize; 4], out: (usize, usize), bilinear: bool) {
    let [n, c, h, w] = dims;
    let (oh, ow) = out;
    let taps = move |o: usize, size: usize, outs: usize| {
        if bilinear {
            bilinear_taps(o, size, outs)
        } else {
            (o * size / outs, o * size / outs, 0.0)
        }
    };
    let terms = |f: &mut dyn FnMut(usize, usize, f64)| {
        for pl in 0..n * c {
            for oy in 0..oh {
                let (y0, y1, ly) = taps(oy, h, oh);
                for ox in 0..ow {
                    let (x0, x1, lx) = taps(ox, w, ow);
                    let o = (pl * oh + oy) * ow + ox;
                    for (y, wy) in [(y0, 1.0 - ly), (y1, ly)] {
                        for (x, wx) in [(x0, 1.0 - lx), (x1, lx)] {
                            f(o, (pl * h + y) * w + x, wy * wx);
                        }
                    }
                }
            }
        }
    };
    linear_map_check(
        format!(
            "{} {dims:?} -> {out:?}",
            if bilinear { "bilinear" } else { "nearest" }
        ),
        dims,
        n * c * oh * ow,
        &terms,
        &|t| {
            if bilinear {
                t.upsample_bilinear(oh, ow)
            } else {
                t.upsample_nearest(oh, ow)
            }
        },
        (1e-5, 1e-5),
    );
}

#[test]
fn nearest_and_bilinear_resizing() {
    for bilinear in [false, true] {
        resize_check([2, 3, 4, 5], (8, 10), bilinear);
        resize_check([1, 2, 5, 3], (7, 11), bilinear);
        resize_check([1, 1, 8, 6], (3, 4), bilinear);
        resize_check([1, 1, 1, 1], (3, 2), bilinear);
    }
}
