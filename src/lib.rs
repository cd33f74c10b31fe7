//! # darkprobe
//!
//! Fast, tested dark-matter search analyses in Rust. This umbrella crate
//! re-exports each of the workspace's libraries as a module and ships the
//! `darkprobe` command-line program.
//!
//! | module | crate | what it does |
//! | --- | --- | --- |
//! | [`core`] | `darkprobe-core` | errors, log-space numerics, optimisation, quadrature, sky geometry, tables, RNG, units |
//! | [`kde`] | `darkprobe-kde` | kernel density estimation (dwarf background model, subhalo class densities) |
//! | [`limits`] | `darkprobe-limits` | spectra, Poisson/J-factor likelihoods, profile-likelihood limits |
//! | [`dwarfs`] | `darkprobe-dwarfs` | dwarf-spheroidal limits with a data-driven background (Calore+ 2018, Alvarez+ 2020) |
//! | [`subhalos`] | `darkprobe-subhalos` | subhalos among unassociated Fermi-LAT sources (Amerio+ 2025) |
//! | [`nn`] | `darkprobe-nn` | small dense networks with exact gradients |
//! | [`gasmap`] | `darkprobe-gasmap` | 13CO gas maps from 12CO (Shmakov+ 2020) |
//! | [`flows`] | `darkprobe-flows` | dark matter from stellar phase space with normalizing flows (Buckley+ 2022, Lim+ 2023) |
//!
//! The [`data`] module finds, fetches and verifies the public datasets the
//! analyses run on (`darkprobe data list|fetch|verify|path|info`).
//!
//! Each crate can also be used on its own; see its documentation.
#![warn(missing_docs)]

pub use darkprobe_core as core;
pub use darkprobe_dwarfs as dwarfs;
pub use darkprobe_flows as flows;
pub use darkprobe_gasmap as gasmap;
pub use darkprobe_kde as kde;
pub use darkprobe_limits as limits;
pub use darkprobe_nn as nn;
pub use darkprobe_subhalos as subhalos;

pub mod cli;
pub mod data;
pub mod plot;

/// The README's code examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The code in `docs/kde.md`, compiled and run as a doc test.
#[doc = include_str!("../docs/kde.md")]
#[cfg(doctest)]
pub struct KdeGuideDoctests;
