//! # darkprobe-gasmap
//!
//! Reconstruction of optically thin $^{13}$CO sky maps from $^{12}$CO, for the
//! gamma-ray foreground toward the inner Galaxy (Shmakov et al. 2020).
//!
//! | module | contents |
//! |---|---|
//! | [`cube`] | [`MapCube`]: maps in velocity bins with a linear WCS, longitude ranges, channel binning |
//! | `fits` (feature `fits`) | FITS cube reading and writing |
//! | [`synth`] | synthetic $^{12}$CO/$^{13}$CO cubes from LTE radiative transfer |
//! | [`preprocess`] | Gaussian smoothing, noise threshold, training features |
//! | [`model`] | plane conventions, neighbourhoods, [`PlaneRegressor`], [`PlanePair`] |
//! | [`baseline`] | [`LinearBaseline`], the per-bin straight line to beat |
//! | [`gp`] | [`StripGp`]: exact and inducing-point (VFE) Gaussian-process regression on strips |
//! | [`net`] | [`PatchNet`], the paper's patch network (WMAE or Poisson loss) |
//! | [`pipeline`] | training pairs, whole-cube prediction, evaluation |
//! | [`metrics`] | correlation, scaled absolute and hot-spot errors, comparison tables |
//!
//! # Model
//! A regressor predicts the $^{13}$CO brightness of each pixel of velocity bin
//! $v$ from a neighbourhood $x$ of $^{12}$CO pixels around it,
//! $\hat T_{13} = f_v(x)$. The maps follow LTE radiative transfer,
//! $T_B = [J_\nu(T_{\mathrm{ex}}) - J_\nu(T_{\mathrm{CMB}})](1 - e^{-\tau})$,
//! with $\tau_{12} = R\,\tau_{13}$ and $R = {}^{12}\mathrm{C}/{}^{13}\mathrm{C}$
//! of order 50: the $^{12}$CO line saturates where $^{13}$CO keeps tracing the
//! column, so $f_v$ is non-linear. Predictions $f$ are scored against the
//! target $T$ on held-out longitudes by Pearson's $r$, the scaled absolute
//! error $\overline{|f - T|}/\max T$ and the same error on hot spots
//! ($T > \bar T + s_T$); medians over velocity bins form the comparison table.
//!
//! ```
//! use darkprobe_gasmap::pipeline::{evaluate, predict_cube, training_pairs, TrainingOptions};
//! use darkprobe_gasmap::{preprocess::Preprocess, synth, LinearBaseline, LonRange};
//! let p = synth::SynthParams { lon_min_deg: 340.0, pixel_deg: 0.1, n_vel: 2,
//!     ..synth::SynthParams::default() };
//! let cubes = synth::generate(&p, 42).unwrap();
//! let opts = TrainingOptions::new(LonRange::parse("340:347").unwrap());
//! let set = training_pairs(&cubes.co12, &cubes.co13, &Preprocess::default(), &opts).unwrap();
//! let model = LinearBaseline::fit(&set.pairs()).unwrap();
//! let pred = predict_cube(&model, set.source()).unwrap();
//! let eval = evaluate("linear", &pred, set.target(), &LonRange::parse("347:350").unwrap()).unwrap();
//! assert!(eval.summary.correlation.is_finite());
//! ```
//!
//! # References
//! - A. Shmakov, C. Karwin, M. Tavakoli, S. Murgia, P. Baldi, *Deep Learning to
//!   Reconstruct Gas Skymaps for Dark Matter Detection*, NeurIPS 2020 Machine
//!   Learning and the Physical Sciences workshop.
//! - C. Braiding et al. 2018, *The Mopra Southern Galactic Plane CO Survey —
//!   Data Release 3*, PASA 35, e029, arXiv:1803.06246.
//! - J. G. Mangum, Y. L. Shirley 2015, *How to Calculate Molecular Column
//!   Density*, PASP 127, 266, arXiv:1501.01703.
//! - S. N. Milam, C. Savage, M. A. Brewster, L. M. Ziurys, S. Wyckoff 2005,
//!   *The 12C/13C Isotope Gradient Derived from Millimeter Transitions of CN*,
//!   ApJ 634, 1126.
//!
//! # Features
//! - `fits` (off by default; on in the `darkprobe` umbrella): FITS I/O through
//!   the `fitsio` crate, with cfitsio built from source (needs a C compiler).
#![warn(missing_docs)]

pub mod baseline;
pub mod cube;
#[cfg(feature = "fits")]
pub mod fits;
pub mod gp;
pub mod metrics;
pub mod model;
pub mod net;
pub mod pipeline;
pub mod preprocess;
pub mod synth;

pub use baseline::LinearBaseline;
pub use cube::{LinearAxis, LonRange, MapCube};
pub use gp::StripGp;
pub use model::{Neighbourhood, Orientation, PlanePair, PlaneRegressor, Result};
pub use net::{NetLayout, NetLoss, NetOptions, PatchNet};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
