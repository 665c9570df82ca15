//! Ops: one file per family, each with its kernels' host launches.

pub mod blur;
pub mod conv;
pub mod cppn;
pub mod elementwise;
pub mod gemm;
pub mod latent;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod peak;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod ssim;

pub use conv::ConvGeometry;
pub use elementwise::{Binary, Broadcast, Unary, broadcast_layout, broadcast_shape};
pub use gemm::GemmKernel;
pub use norm::{RunningStats, with_separate_norm_passes};
pub use random::{HostRng, Rng};
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
        BLOCK => "block": ["block"],
        BLUR => "blur": ["mirror", "blur"],
        CPPN_RENDER => "cppn_render": ["cppn_common", "cppn_render"],
        CPPN_RENDER_LANES => "cppn_render_lanes": ["cppn_common", "cppn_render_lanes"],
        ELEMENTWISE => "elementwise": ["elementwise"],
        FOLD => "fold": ["divide", "fold"],
        LAYOUT => "layout": ["layout"],
        GEMM_LANES => "gemm_lanes": ["divide", "gemm_common", "gemm_rows32", "gemm_lanes"],
        GEMM_LANES_16 => "gemm_lanes_16": ["divide", "gemm_common", "gemm_rows16", "gemm_lanes"],
        GEMM_TILED => "gemm_tiled": ["divide", "gemm_common", "gemm_tiled"],
        NORM => "norm": ["divide", "norm"],
        OPTIM => "optim": ["optim"],
        PLANES => "planes": ["planes"],
        PYRAMID => "pyramid": ["mirror", "pyramid"],
        RANDOM => "random": ["random"],
        REDUCE => "reduce": ["reduce"],
        SSIM => "ssim": ["ssim"],
    }
}
