//! # darkprobe-nn (planned)
//!
//! Small dense networks (tens of thousands of parameters) with exact
//! parameter and input gradients, for the gas-map patch network and the
//! phase-space normalizing flows. This crate is not implemented yet; it will
//! hold dense and MADE-masked layers, activations (ReLU, PReLU, tanh, ELU,
//! softplus), batch normalisation, dropout, losses (MSE, weighted MAE, Poisson,
//! flow negative log-likelihood), optimisers (SGD, Adam/AdamW, LAMB) and
//! seeded, thread-count-independent training utilities.
//!
//! # References
//! - M. Germain, K. Gregor, I. Murray, H. Larochelle, *MADE: Masked
//!   Autoencoder for Distribution Estimation*, ICML 2015, arXiv:1502.03509.
//! - Y. You et al., *Large Batch Optimization for Deep Learning: Training BERT
//!   in 76 minutes* (LAMB), ICLR 2020, arXiv:1904.00962.
#![warn(missing_docs)]
