//! pegasus: generative image models on a deep-learning engine whose every kernel is
//! hand-written WGSL, running on any Vulkan, Metal or DX12 adapter through wgpu.

pub mod autograd;
pub mod cli;
pub mod data;
pub mod error;
pub mod eval;
pub mod gpu;
pub mod io;
pub mod latent;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use gpu::{AdapterChoice, Gpu};
pub use ops::Rng;
pub use tensor::{Shape, Tensor};
