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
//! # References
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
