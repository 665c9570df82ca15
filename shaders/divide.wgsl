// Prepended to shaders that divide in their inner loops (see src/ops/mod.rs).

// (q, r) of x / y for x < 2^25, through f32 with an exact integer correction: software
// rasterisers have no vector integer division and would divide lane by lane.
fn div_rem(x: u32, y: u32) -> vec2u {
    var q = u32(f32(x) / f32(y));
    for (var i = 0u; i < 2u; i++) {
        q = select(q, q - 1u, q * y > x);
        q = select(q, q + 1u, (q + 1u) * y <= x);
    }
    return vec2u(q, x - q * y);
}
