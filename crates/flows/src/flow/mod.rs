//! Normalizing flows: masked autoregressive flows ([`Maf`]) with affine
//! transforms, optional conditioning on a context vector, whitening, exact
//! log-densities and their gradients, sampling, maximum-likelihood training
//! ([`Maf::fit`]) and ensembles ([`MafEnsemble`]). The maths is in the crate
//! documentation.

pub(crate) mod ensemble;
pub(crate) mod maf;
mod spline;
mod train;

pub use ensemble::MafEnsemble;
pub use maf::{LnProbGrad, Maf, MafConfig, Transform, Whitening};
pub use train::{TrainOptions, TrainReport};

#[cfg(test)]
pub(crate) mod tests;
