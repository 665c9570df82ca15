//! The generative models.

pub mod generator;
pub mod glo;
