//! # darkprobe-limits (planned)
//!
//! The statistical engine shared by the dwarf and subhalo analyses. This crate
//! is not implemented yet; it will hold:
//!
//! - photon spectra per annihilation $dN/dE$ from user tables, PPPC4DMID and
//!   CosmiXs tables, integrated into energy bins;
//! - expected signal counts
//!   $\mu = \frac{\langle\sigma v\rangle}{8\pi m_\chi^2}\, J\, N_\gamma\, \mathcal{E}$
//!   (Majorana; a factor 1/2 for Dirac);
//! - binned Poisson likelihoods with J-factor nuisances (log-normal as in the
//!   Fermi-LAT dwarf analyses, or empirical from posterior samples) and
//!   background nuisances;
//! - profile-likelihood upper limits on $\langle\sigma v\rangle$ by root
//!   finding on $-2\Delta\ln L$, expected-limit bands from pseudo-experiments,
//!   and coverage checks by simulation.
//!
//! # References
//! - M. Ackermann et al. (Fermi-LAT), PRL 115 (2015) 231301, arXiv:1503.02641.
//! - F. Calore, P. D. Serpico, B. Zaldivar, JCAP 10 (2018) 029, arXiv:1803.05508.
//! - A. Alvarez et al., JCAP 09 (2020) 004, arXiv:2002.01229.
#![warn(missing_docs)]
