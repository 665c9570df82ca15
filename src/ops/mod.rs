//! Ops: one file per family, each with its kernels' host launches.

pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod random;
pub mod reduce;

pub use elementwise::{Binary, Broadcast, Unary, broadcast_layout, broadcast_shape};
pub use matmul::MatmulKernel;
pub use random::Rng;
pub use reduce::Reduce;

/// Every WGSL source, embedded at build time. A shader may be made of several files
/// (shared declarations first), concatenated into one module.
pub mod shaders {
    use crate::gpu::Shader;

    macro_rules! shaders {
        ($($name:ident => $label:literal: [$($file:literal),+]),* $(,)?) => {
            $(pub static $name: Shader = Shader {
                name: $label,
                source: concat!($(include_str!(concat!("../../shaders/", $file, ".wgsl"))),+),
            };)*
            /// All shaders, for validation.
            pub static ALL: &[&Shader] = &[$(&$name),*];
            /// Every file under shaders/ that some shader uses.
            pub static FILES: &[&str] = &[$($($file),+),*];
        };
    }

    shaders! {
        BENCH => "bench": ["bench"],
        ELEMENTWISE => "elementwise": ["elementwise"],
        LAYOUT => "layout": ["layout"],
        MATMUL => "matmul": ["matmul_common", "matmul"],
        MATMUL_LANES => "matmul_lanes": ["matmul_common", "matmul_lanes"],
        RANDOM => "random": ["random"],
        REDUCE => "reduce": ["reduce"],
    }
}
