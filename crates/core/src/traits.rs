//! The fitting conventions shared by darkprobe's estimators.
//!
//! A model is configured by a parameter struct (`XParams`, validated before
//! use) and fitted to data with [`Fit::fit`]; randomised fits take the
//! generator explicitly through [`FitWithRng`]. Fitted models answer queries
//! through [`Predict`]. All three return `Result`: a fit that does not
//! converge is an error value, never a panic.
//!
//! ```
//! use darkprobe_core::prelude::*;
//!
//! /// Estimates the mean of a sample.
//! struct MeanParams;
//! struct MeanModel(f64);
//!
//! impl Fit<[f64]> for MeanParams {
//!     type Model = MeanModel;
//!     type Error = Error;
//!     fn fit(&self, data: &[f64]) -> Result<MeanModel> {
//!         if data.is_empty() {
//!             return Err(Error::empty("sample", "give at least one value"));
//!         }
//!         Ok(MeanModel(data.iter().sum::<f64>() / data.len() as f64))
//!     }
//! }
//! impl Predict<(), f64> for MeanModel {
//!     type Error = Error;
//!     fn predict(&self, _: &()) -> Result<f64> { Ok(self.0) }
//! }
//!
//! let m = MeanParams.fit(&[1.0, 2.0, 6.0]).unwrap();
//! assert_eq!(m.predict(&()).unwrap(), 3.0);
//! assert!(MeanParams.fit(&[]).is_err());
//! ```

use rand::Rng;

/// Fits a model to data of type `D`.
pub trait Fit<D: ?Sized> {
    /// The fitted model.
    type Model;
    /// The error type; every crate's error converts from the core error.
    type Error: From<crate::Error>;
    /// Validates the parameters, then fits.
    ///
    /// # Errors
    /// Invalid parameters, unusable data, or a fit that did not converge.
    fn fit(&self, data: &D) -> Result<Self::Model, Self::Error>;
}

/// Fits a model whose fitting procedure is random (cross-validation folds,
/// random restarts, stochastic optimisers).
pub trait FitWithRng<D: ?Sized>: Fit<D> {
    /// As [`Fit::fit`], drawing all randomness from `rng`.
    ///
    /// # Errors
    /// As [`Fit::fit`].
    fn fit_with_rng<R: Rng + ?Sized>(
        &self,
        data: &D,
        rng: &mut R,
    ) -> Result<Self::Model, Self::Error>;
}

/// Answers queries of type `Q` with values of type `T`.
pub trait Predict<Q: ?Sized, T> {
    /// The error type.
    type Error: From<crate::Error>;
    /// Evaluates the model at `query`.
    ///
    /// # Errors
    /// Queries of the wrong shape or outside the model's domain.
    fn predict(&self, query: &Q) -> Result<T, Self::Error>;
}

/// The outcome of an iterative fit, reported alongside the fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// Iterations performed.
    pub n_iter: usize,
    /// Whether the convergence criterion was met.
    pub converged: bool,
    /// The final log-likelihood (or negative objective).
    pub ln_l: f64,
}
