//! # darkprobe-dwarfs
//!
//! The inputs and the data-driven background of the MLFermiLATDwarfs analysis:
//! dark-matter annihilation searches in Fermi-LAT observations of Milky Way
//! dwarf spheroidal galaxies (dSphs), where the background at each dwarf is
//! learned from thousands of "void" regions of the high-latitude sky. The
//! likelihood and the limits (cases J and JB) build on this crate and on
//! `darkprobe-limits`.
//!
//! | module | what |
//! | --- | --- |
//! | [`dwarf`], [`voids`], [`package`], [`masses`] | readers for every file of the package, with errors naming file, line and value; dwarf selections such as `"Draco+UrsaMinor"` |
//! | [`binning`] | 24 logarithmic bins (0.5-500 GeV) merged into 6 macro bins |
//! | [`background`] | Nadaraya-Watson $\ln\hat B$, the JB background pdf (joint and conditional), the ratios $r_b$ |
//! | [`loo`] | leave-one-out choice of $(\sigma, \zeta)$: bin 0 (package), per bin, all bins jointly |
//! | [`healpix`], [`skymap`], [`voidgen`], [`sim`] | void selection and measurement on your own counts and exposure cubes (CAR or HEALPix), and a simulated sky to test it |
//! | `fits` (feature `fits`) | FITS reading and writing of CAR and HEALPix cubes |
//!
//! # Model
//!
//! **Data.** Dwarf $i$ at sky position $x_i$ has observed counts $n_{ib}$ in macro
//! bin $b$ (the sum of its fine bins) and exposure $\mathcal E_{ib}$ (the mean of its
//! fine bins). The voids $k = 1..N$ at $x_k$ have counts $n_{kb}$ in regions of the
//! same size (0.5 deg radius).
//!
//! **Background prediction.** With the spatial kernel
//! $w_k(x) = \exp\left(-d(x, x_k)^2/2\sigma^2\right)$, where $d$ is the flat distance
//! $\sqrt{\Delta l^2 + \Delta b^2}$ of the package (or the great-circle distance),
//! $$\ln\hat B_b(x) = \frac{\sum_{k:\,n_{kb}>0} w_k(x)\ln n_{kb}}{\sum_{k:\,n_{kb}>0} w_k(x)},$$
//! the Nadaraya-Watson regression of $\ln n$ on position (the package's
//! `bkg_data`, reproduced to $4\times10^{-15}$ with $\sigma = 1.4$ deg).
//!
//! **Background nuisance (case JB).** The ln background of dwarf $i$ in bin $b$ is
//! $B_i r_{ib}$ with $r_{ib} = \ln\hat B_b(x_i)/\ln\hat B_0(x_i)$ and one free $B_i$, constrained by
//! the product-kernel density over the voids with counts in all bins ($y_k = n_{k0}$):
//! $$p(x, B) = \frac{1}{(2\pi)^{3/2}\sigma^2\zeta N}\sum_k w_k(x)\,e^{-(B - \ln y_k)^2/2\zeta^2},$$
//! with $\sigma = 1.4$ deg and $\zeta = 0.15$ in the package. At a fixed $x_i$ it equals the
//! conditional density $p(B\mid x_i)$ times a constant.
//!
//! **Smoothing.** $(\sigma, \zeta)$ can be chosen by maximising the leave-one-out
//! log-likelihood $\sum_j \ln p_{-j}(x_j, \ln y_j)$ over the voids ([`loo`]).
//!
//! **Void selection** ([`voidgen`]): random centres with $|b| > 20$ deg, at least
//! 1 deg from the dwarfs and from each other, 2.5 deg from catalogued sources and
//! clear of extended sources; counts summed and exposure averaged over the pixels
//! within 0.5 deg ([`skymap`]), on CAR grids or HEALPix (Górski et al. 2005).
//!
//! # References
//! - F. Calore, P. D. Serpico, B. Zaldivar, *Dark matter constraints from
//!   dwarf galaxies: a data-driven analysis*, JCAP 10 (2018) 029, arXiv:1803.05508.
//! - A. Alvarez, F. Calore, A. Genina, J. Read, P. D. Serpico, B. Zaldivar,
//!   *Dark matter constraints from dwarf galaxies with data-driven J-factors*,
//!   JCAP 09 (2020) 004, arXiv:2002.01229.
//! - K. M. Górski, E. Hivon, A. J. Banday et al., *HEALPix: a framework for
//!   high-resolution discretization and fast analysis of data distributed on the
//!   sphere*, ApJ 622 (2005) 759, arXiv:astro-ph/0409513.
//! - M. R. Calabretta, E. W. Greisen, *Representations of celestial coordinates
//!   in FITS*, A&A 395 (2002) 1077 (the CAR projection).
//! - E. A. Nadaraya, Theory Probab. Appl. 9 (1964) 141; G. S. Watson, Sankhyā A 26
//!   (1964) 359.
//!
//! # Features
//! - `fits` (off by default; on in the `darkprobe` umbrella): FITS I/O through
//!   the `fitsio` crate, with cfitsio built from source (needs a C compiler).
//!
//! # Example
//! ```
//! use darkprobe_dwarfs::{BackgroundModel, BackgroundParams, DwarfTable, VoidSample};
//! let table = DwarfTable::parse_str(
//!     "Draco 86.37 34.72 18.83 0.12 1e11 1.1e11\nUMi 104.97 44.80 18.93 0.19 1e11 1e11\n",
//!     "dwarfs.dat",
//! ).unwrap();
//! let voids = VoidSample::new(
//!     vec![85.0, 88.0, 104.0, 106.0],
//!     vec![35.0, 34.0, 45.0, 44.0],
//!     vec![vec![60, 40], vec![70, 45], vec![50, 30], vec![55, 35]],
//! ).unwrap();
//! let model = BackgroundModel::new(&voids, &BackgroundParams::package()).unwrap();
//! let sel = table.select("draco+umi").unwrap();
//! let bkg = model.at_dwarfs(&table, &sel).unwrap();
//! // Near Draco the prediction lies between the ln counts of its two voids.
//! assert!(bkg[0].ln_b_hat[0] > 60f64.ln() && bkg[0].ln_b_hat[0] < 70f64.ln());
//! assert_eq!(bkg[1].ratios[0], 1.0);
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod background;
pub mod binning;
pub mod dwarf;
pub mod error;
#[cfg(feature = "fits")]
pub mod fits;
pub mod healpix;
pub mod loo;
pub mod masses;
pub mod package;
pub mod sim;
pub mod skymap;
pub mod voidgen;
pub mod voids;

pub use analysis::{
    AnalysisOptions, Case, DwarfAnalysis, DwarfInput, JBandwidth, JFactorPrior, LimitScan,
    MassLimit,
};
pub use background::{BackgroundModel, BackgroundParams, DwarfBackground};
pub use binning::EnergyBinning;
pub use darkprobe_kde::SpatialMetric;
pub use dwarf::{Dwarf, DwarfTable, Selection};
pub use error::{DwarfsError, Result};
pub use package::{JFactorSamples, PackageBackground, PackageData};
pub use voids::VoidSample;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
