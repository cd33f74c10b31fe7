//! # darkprobe-dwarfs (planned)
//!
//! Dark-matter annihilation limits from Fermi-LAT observations of Milky Way
//! dwarf spheroidal galaxies, with the background at each dwarf estimated from
//! ~13,000 "void" regions of the high-latitude sky by kernel methods, as in the
//! MLFermiLATDwarfs package. This crate is not implemented yet; it will hold
//! readers for the package's inputs, the Nadaraya-Watson background and its
//! product-kernel pdf, void selection from a user's own counts cube, and the
//! stacked limits (cases J and JB) for any spectrum, matching the package's
//! numbers and conventions.
//!
//! # References
//! - F. Calore, P. D. Serpico, B. Zaldivar, *Dark matter constraints from
//!   dwarf galaxies: a data-driven analysis*, JCAP 10 (2018) 029, arXiv:1803.05508.
//! - A. Alvarez, F. Calore, A. Genina, J. Read, P. D. Serpico, B. Zaldivar,
//!   *Dark matter constraints from dwarf galaxies with data-driven J-factors*,
//!   JCAP 09 (2020) 004, arXiv:2002.01229.
#![warn(missing_docs)]
