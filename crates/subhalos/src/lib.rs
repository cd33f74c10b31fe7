//! # darkprobe-subhalos (planned)
//!
//! A search for dark-matter subhalos among unassociated Fermi-LAT sources that
//! models the unassociated population as a mixture of the astrophysical
//! classes learned from associated sources, corrected for covariate shift
//! (a product of sigmoids over the features) and prior shift, plus a
//! dark-matter component:
//! $p_\mathrm{unas}(x) = C(x) \sum_k \pi_k\, p(x\mid k) + \pi_\mathrm{DM}\, p_\mathrm{DM}(x)$,
//! fitted by EM, with profile-likelihood limits on $\langle\sigma v\rangle$.
//! This crate is not implemented yet.
//!
//! # Reference
//! D. Amerio, D. Malyshev, B. Zaldivar, V. Gammaldi, M. A. Sanchez-Conde,
//! *Search for dark matter subhalos among unassociated Fermi-LAT sources in
//! presence of dataset shift*, arXiv:2503.14584.
#![warn(missing_docs)]
