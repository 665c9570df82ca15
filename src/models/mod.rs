//! The generative models.

pub mod dcgan;
