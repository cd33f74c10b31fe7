//! # darkprobe-gasmap (planned)
//!
//! Reconstruction of optically thin $^{13}$CO sky maps from $^{12}$CO, for the
//! gamma-ray foreground toward the Galactic centre. This crate is not
//! implemented yet; it will hold map cubes with FITS I/O, a synthetic
//! generator grounded in radiative transfer, Gaussian-process regression
//! (Matern-3/2 plus white noise, per velocity bin, on 9-pixel strips), the
//! paper's patch network, and its correlation / scaled-absolute-error /
//! hot-spot metrics.
//!
//! # Reference
//! A. Shmakov, C. Karwin, M. Tavakoli, S. Murgia, P. Baldi, *Deep Learning to
//! Reconstruct Gas Skymaps for Dark Matter Detection*, NeurIPS 2020 Machine
//! Learning and the Physical Sciences workshop.
#![warn(missing_docs)]

pub mod gp;
pub mod model;

pub use model::{Neighbourhood, Orientation, PlanePair, PlaneRegressor, Result};
