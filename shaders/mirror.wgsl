// Prepended to the shaders with the reflect border (see src/ops/mod.rs).

// Set by the host where every index k given to mirror lies within one reflection of the axis,
// -(n - 1) <= k <= 2 (n - 1) (for a window of radius r around a pixel: n >= r + 1).
override ONE_REFLECTION: bool = false;

// Reflect-101 index into [0, n): mirror about the edge pixel, which is not repeated
// (... 2 1 | 0 1 2 ...), repeated for offsets past the image; a 1-pixel axis maps to 0.
fn mirror(k: i32, n: i32) -> i32 {
    if ONE_REFLECTION {
        let m = abs(k);
        return select(m, 2 * (n - 1) - m, m >= n);
    }
    if n == 1 { return 0; }
    let period = 2 * (n - 1);
    // k mod period through a float quotient: a vector integer remainder is a scalar division
    // per lane on software rasterisers, which made the Laplacian loss's kernels 2 to 3 times
    // slower. The floor is exact for |k| < 2^24: k / period is at least 1 / period from the
    // next integer up, more than the quotient's rounding error |k / period| 2^-24.
    let m = k - period * i32(floor(f32(k) / f32(period)));
    return select(m, period - m, m >= n);
}
