//! # darkprobe-flows (planned)
//!
//! Measures accelerations and mass densities from the phase-space
//! distribution of an equilibrium tracer population. This crate is not
//! implemented yet; it will learn $f(\mathbf{x}, \mathbf{v}) = n(\mathbf{x})\,
//! p(\mathbf{v}\mid\mathbf{x})$ with normalizing flows, solve the steady-state
//! collisionless Boltzmann equation
//! $\mathbf{v}\cdot\nabla_x f + \mathbf{a}\cdot\nabla_v f = 0$ for
//! $\mathbf{a}(\mathbf{x})$ by least squares, and obtain the density from
//! Gauss's law in kernel-smoothed form, using first derivatives only; with
//! exact Hernquist and Plummer mocks for validation.
//!
//! # Dynamical estimators and mocks
//! These modules work with any [`PhaseSpaceModel`] (a trained flow or an exact
//! distribution function) and any acceleration field.
//!
//! * [`mock`]: isotropic Hernquist and Plummer spheres with closed-form
//!   $f(E)$, e.g. Plummer $f\propto\varepsilon^{7/2}$ with $\varepsilon = -\Phi - v^2/2$,
//!   sampled exactly (inverse-CDF radii, rejection-sampled speeds), with
//!   $\nabla_x\ln f = \frac{d\ln f}{dE}\nabla\Phi$ and $\nabla_v\ln f = \frac{d\ln f}{dE}\mathbf v$;
//!   survey selections and star/point CSV files.
//! * [`accel`]: the steady-state collisionless Boltzmann equation
//!   $\mathbf v\cdot\nabla_x\ln f + \mathbf a\cdot\nabla_v\ln f = 0$ holds for every
//!   velocity at a position, so $\hat{\mathbf a} = \arg\min_{\mathbf a}\sum_i(\mathbf v_i\cdot\nabla_x\ln f_i +
//!   \mathbf a\cdot\nabla_v\ln f_i)^2$ over velocities drawn from $p(\mathbf v\mid\mathbf x)$,
//!   with a normalised residual measuring the departure from equilibrium.
//! * [`gauss`]: the kernel-smoothed Gauss law with the divergence moved onto
//!   the kernel, $-4\pi G\langle\rho\rangle_K(\mathbf x_0) = \oint K_h\,\mathbf a\cdot\hat{\mathbf n}\,dS -
//!   \int\mathbf a\cdot\nabla K_h\,d^3x$, so that only accelerations (no derivatives)
//!   enter; Gaussian, Epanechnikov and top-hat kernels, optional subtraction
//!   of a smoothed baryonic density.
//! * [`gaia`]: Gaia-like astrometry (ICRS positions, parallaxes, proper
//!   motions, radial velocities) to Galactocentric Cartesian phase space in
//!   astropy's v4.0 `Galactocentric` frame, quality cuts, and synthetic
//!   catalogues made from mocks.
//!
//! # References
//! - L. Hernquist, *An analytical model for spherical galaxies and bulges*,
//!   ApJ 356, 359 (1990).
//! - H. C. Plummer, *On the problem of distribution in globular star
//!   clusters*, MNRAS 71, 460 (1911).
//! - J. An, A. P. Naik, N. W. Evans, C. Burrage, MNRAS (2021),
//!   arXiv:2106.05981: normalizing-flow distribution functions to
//!   accelerations on Hernquist mocks (the HernquistFlows reference results).
//! - H. White, *A heteroskedasticity-consistent covariance matrix estimator*,
//!   Econometrica 48, 817 (1980) (the robust acceleration errors).
//! - M. R. Buckley, S. H. Lim, E. Putney, D. Shih, *Measuring the Local Dark
//!   Matter Density in the Laboratory of the Milky Way*, MNRAS, arXiv:2205.01129.
//! - S. H. Lim, E. Putney, M. R. Buckley, D. Shih, *Mapping Dark Matter in the
//!   Milky Way using Normalizing Flows and Gaia DR3*, arXiv:2305.13358.
#![warn(missing_docs)]

pub mod accel;
pub mod gaia;
pub mod gauss;
pub mod mock;
pub mod model;

pub use model::{LnFGrad, PhaseSpaceModel, Result, Vec3, G_KPC_KM2_S2_MSUN};
