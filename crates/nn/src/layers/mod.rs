//! The built-in layers.

pub(crate) mod activation;
mod dense;
mod norm;

pub use activation::{Activation, Elu, PRelu, Relu, Softplus, Tanh};
pub use dense::{Dense, Init, MaskedDense};
pub use norm::{BatchNorm, Dropout};
