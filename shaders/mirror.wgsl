// Prepended to the shaders with the reflect border (see src/ops/mod.rs).

// Reflect-101 index into [0, n): mirror about the edge pixel, which is not repeated
// (... 2 1 | 0 1 2 ...), repeated for offsets past the image; a 1-pixel axis maps to 0.
fn mirror(k: i32, n: i32) -> i32 {
    if n == 1 { return 0; }
    let period = 2 * (n - 1);
    var m = k % period;
    if m < 0 { m += period; }
    return select(m, period - m, m >= n);
}
