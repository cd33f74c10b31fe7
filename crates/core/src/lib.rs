//! # darkprobe-core
//!
//! The shared statistics core of [darkprobe](https://github.com/darkprobe/darkprobe):
//! everything that at least two of the analysis crates need.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`error`] | the [`Error`] enum with file/line/parameter context, and [`Result`] |
//! | [`numerics`] | log-space arithmetic: log-sum-exp, softplus, sigmoids, $\ln\Gamma$, Poisson, Normal and log-normal log-densities, compensated sums |
//! | [`stats`] | test-statistic thresholds from $\chi^2$ quantiles |
//! | [`optimize`] | Brent root finding with bracket expansion, Brent 1-D minimisation, bounded N-D minimisation (L-BFGS, Nelder-Mead) |
//! | [`grid`], [`interp`], [`quad`] | grids, interpolation with explicit out-of-range policy, quadrature |
//! | [`sky`] | Galactic/equatorial geometry, angular separations, caps, sampling on the sphere |
//! | [`table`] | reading whitespace/comma-separated tables with precise errors; writing CSV |
//! | [`rng`] | seeding conventions that make parallel results independent of the thread count |
//! | [`units`] | units and physical constants with their sources |
//! | [`traits`] | the [`Fit`](traits::Fit) / [`Predict`](traits::Predict) conventions |
//! | [`par`] | parallel maps over indices whose results do not depend on the thread count |
//! | [`progress`] | a progress-reporting trait that libraries call and the CLI draws |
//!
//! # Conventions
//! - Public APIs use `f64`; probabilities stay in log space (`ln_*`).
//! - Every random API takes `&mut R` with `R: rand::Rng + ?Sized`; there is no hidden seed.
//! - Fallible functions return [`Result`]; nothing panics on user input.
//!
//! # Example
//! ```
//! use darkprobe_core::prelude::*;
//! // Poisson log-probability of observing 3 counts when 2.5 are expected.
//! let lp = numerics::poisson_ln_pmf(3, 2.5);
//! assert!((lp - (3.0 * 2.5f64.ln() - 2.5 - 6.0f64.ln())).abs() < 1e-12);
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod fitscheck;
pub mod grid;
pub mod interp;
pub mod numerics;
pub mod optimize;
pub mod par;
pub mod progress;
pub mod quad;
pub mod rng;
pub mod sky;
pub mod stats;
pub mod table;
pub mod traits;
pub mod units;

pub use error::{Error, Location, Result};

/// The items most programs need, in one import.
pub mod prelude {
    pub use crate::error::{Error, Location, Result};
    pub use crate::numerics;
    pub use crate::progress::{NoProgress, Progress};
    pub use crate::rng::{rng_for_index, seed_for_index};
    pub use crate::traits::{Fit, FitWithRng, Predict};
}

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
