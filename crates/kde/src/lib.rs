//! # darkprobe-kde
//!
//! Kernel density estimation for the two darkprobe analyses that rest on it:
//! the data-driven background of the dwarf analysis and the class-conditional
//! source densities of the subhalo analysis.
//!
//! # Model
//!
//! A Gaussian kernel density estimate with weights $w_i$ ($\sum_i w_i = 1$) and
//! bandwidth matrix $H = LL^\top$ is
//! $$\hat p(x) = \sum_{i=1}^n w_i\, (2\pi)^{-d/2} |L|^{-1} \exp\left(-\tfrac12 |L^{-1}(x - x_i)|^2\right).$$
//! [`GaussianKde`] evaluates it in log space (a log-sum-exp over whitened
//! distances), so densities far from the data stay finite in $\ln$; its
//! leave-one-out version renormalises the remaining weights,
//! $\hat p_{-j}(x_j) = \sum_{i\ne j} w_i K_H(x_j - x_i) / (1 - w_j)$.
//!
//! **Bandwidths** ([`Bandwidth`]) are isotropic, diagonal or full; the rules of
//! Scott and Silverman ([`BandwidthRule`]) follow `scipy.stats.gaussian_kde`.
//! [`select_bandwidth_loo`] and [`select_bandwidth_kfold`] maximise the
//! leave-one-out or repeated $k$-fold held-out likelihood over a multiplier of a
//! base bandwidth, on a grid or by Brent's method, and return the score curve.
//!
//! **Box normalisation.** For diagonal $H = \mathrm{diag}(h_k^2)$ the mass in a box is exact:
//! $$M = \sum_i w_i \prod_k \left[\Phi\!\left(\tfrac{b_k - x_{ik}}{h_k}\right) - \Phi\!\left(\tfrac{a_k - x_{ik}}{h_k}\right)\right],$$
//! and [`TruncatedKde`] divides by it, so a density restricted to a region of
//! interest integrates to one there.
//!
//! **Fast path.** [`GaussianKde::ln_pdf_batch_tol`] sums kernels through a k-d
//! tree within a rigorous relative/absolute error bound ([`Tolerance`]), in the
//! spirit of scikit-learn's `KernelDensity(rtol, atol)`.
//!
//! **Sky product kernel** ([`SkyProductKde`]): the dwarf background model, a
//! Gaussian kernel in sky distance (flat $(l, b)$ as in the MLFermiDwarfs code,
//! or great-circle) times a Gaussian kernel in $\ln y$; joint and conditional
//! densities, Nadaraya-Watson moments, and the leave-one-out optimisation of
//! $(\sigma, \zeta)$.
//!
//! # References
//! - D. W. Scott, *Multivariate Density Estimation*, Wiley (1992); B. W.
//!   Silverman, *Density Estimation for Statistics and Data Analysis* (1986).
//! - F. Calore, P. D. Serpico, B. Zaldivar, *Dark matter constraints from dwarf
//!   galaxies: a data-driven analysis*, JCAP 10 (2018) 029, arXiv:1803.05508.
//! - D. F. Specht, *A general regression neural network*, IEEE Trans. Neural
//!   Networks 2 (1991) 568.
//! - D. Amerio et al., *Search for dark matter subhalos among unassociated
//!   Fermi-LAT sources in presence of dataset shift*, arXiv:2503.14584.
//!
//! # Parallelism
//! Evaluation over query points, folds and voids runs on rayon through
//! `darkprobe_core::par` (feature `rayon` of darkprobe-core, on by default).
//! Results do not depend on the number of threads.
//!
//! # Example
//! ```
//! use darkprobe_kde::{Bandwidth, BandwidthRule, BandwidthShape, GaussianKde};
//! use ndarray::Array2;
//! use rand::SeedableRng;
//! use rand_distr::{Distribution, StandardNormal};
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let x = Array2::from_shape_fn((2000, 2), |_| StandardNormal.sample(&mut rng));
//! let bw = BandwidthRule::Scott.bandwidth(x.view(), None, BandwidthShape::Diagonal).unwrap();
//! let kde = GaussianKde::new(x.view(), bw).unwrap();
//! // Near the mode of a standard 2-D normal, whose density there is 1/(2 pi) ~ 0.159.
//! let p = kde.pdf(&[0.0, 0.0]).unwrap();
//! assert!((p - 0.159).abs() < 0.03);
//! ```
#![warn(missing_docs)]

mod bandwidth;
pub mod error;
mod gaussian;
mod select;
mod sky;
mod tree;

pub use bandwidth::{Bandwidth, BandwidthRule, BandwidthShape};
pub use error::{KdeError, Result};
pub use gaussian::{AxisBox, GaussianKde, Tolerance, TruncatedKde};
pub use select::{
    kfold_score, loo_score, select_bandwidth_kfold, select_bandwidth_loo, BandwidthSelection,
    KFold, ScaleSearch,
};
pub use sky::{
    BackgroundPdf, LooOptimum, NwMoments, SkyProductKde, SpatialMetric, LOO_CUTOFF_SIGMAS,
};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
