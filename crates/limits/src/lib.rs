//! # darkprobe-limits
//!
//! The statistical engine shared by the dwarf and subhalo analyses: from a
//! dark-matter model (mass, annihilation channel or user spectrum,
//! $\langle\sigma v\rangle$) to expected photon counts, to a profile likelihood
//! with nuisance parameters, to an upper limit on $\langle\sigma v\rangle$ with
//! expected-limit bands.
//!
//! # Model
//!
//! For a target with J-factor $J$ [GeV$^2$ cm$^{-5}$] and exposure
//! $\mathcal E_b$ [cm$^2$ s] in energy bin $b$, a self-conjugate (Majorana)
//! particle of mass $m_\chi$ annihilating with cross-section
//! $\langle\sigma v\rangle$ gives
//! $$\mu_b = \frac{\langle\sigma v\rangle}{8\pi m_\chi^2}\, J\, N_{\gamma,b}\, \mathcal E_b,
//! \qquad N_{\gamma,b} = \int_{E_b}^{E_{b+1}} \frac{dN_\gamma}{dE}\, dE$$
//! expected signal photons (a factor 1/2 more for a Dirac particle,
//! [`spectrum::Particle`]). The [`spectrum`] module reads photon spectra
//! (PPPC4DMID, CosmiXs, user tables) and integrates them into bins; it hands
//! the likelihood the coefficients $k_b = N_{\gamma,b}\mathcal E_b / (8\pi m_\chi^2)$
//! with $\mu_b = \langle\sigma v\rangle J k_b$.
//!
//! The [`likelihood`] module builds the binned Poisson likelihood of each
//! target with J-factor and background nuisance parameters, profiles them,
//! stacks targets, and sets upper limits by root finding on
//! $-2\Delta\ln L$, with expected limits from pseudo-experiments or the Asimov
//! data set. Each module's documentation states its formulas in full.
//!
//! # References
//! - M. Cirelli et al., *PPPC 4 DM ID*, JCAP 03 (2011) 051, arXiv:1012.4515.
//! - C. Arina et al., *CosmiXs*, JCAP 03 (2024) 035, arXiv:2312.01153.
//! - M. Ackermann et al. (Fermi-LAT), PRL 115 (2015) 231301, arXiv:1503.02641.
//! - F. Calore, P. D. Serpico, B. Zaldivar, JCAP 10 (2018) 029, arXiv:1803.05508.
//! - A. Alvarez et al., JCAP 09 (2020) 004, arXiv:2002.01229.
//! - G. Cowan, K. Cranmer, E. Gross, O. Vitells, EPJC 71 (2011) 1554, arXiv:1007.1727.
#![warn(missing_docs)]

pub mod error;
pub mod likelihood;
pub mod spectrum;

pub use error::{LimitsError, Result};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
