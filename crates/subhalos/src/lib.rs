//! # darkprobe-subhalos
//!
//! A search for dark-matter subhalos among the unassociated sources of the
//! Fermi-LAT 4FGL catalog, following Amerio et al. (2025). The unassociated
//! sources inside a region of interest (ROI) of the feature space are modelled
//! as a mixture of the astrophysical classes learned from associated sources,
//! corrected for *dataset shift*, plus a dark-matter subhalo component
//! ([`ExtraComponent`]) whose density and weight come from a J-factor
//! population ([`population`]), a simplified LAT detection simulation
//! ([`detection`], [`dm`]) and $\langle\sigma v\rangle$; [`search`] sets the
//! upper limits.
//!
//! # Model
//! Each source is a point $x = (\log_{10} F, \alpha(E_0), \beta)$: the photon
//! flux from 100 MeV to 1 TeV, the log-parabola index re-pivoted to
//! $E_0 = 1$ GeV (or 100 MeV) and the curvature ([`features`]). The ROI is the
//! box $\log_{10} F \in [-10.3, -8.2]$, $\alpha(1\,\mathrm{GeV}) \in [0.8, 1.7]$,
//! $\beta \in [0.1, 0.55]$ at $|b| > 10°$ ([`Roi::paper`]).
//!
//! The class densities $p(x \mid k)$ (Galactic, extragalactic) are Gaussian
//! kernel density estimates of the associated sources of each class, with a
//! bandwidth chosen by 5-fold cross-validation repeated 20 times, truncated to
//! the ROI and renormalised there ([`ClassDensity`]). The unassociated sources
//! follow
//! $$p_\mathrm{unas}(x) = \sum_k \pi_k\, \frac{C(x)\, p(x\mid k)}{Z_k}
//!   \;\left[+\ \pi_\mathrm{DM}\, p_\mathrm{DM}(x)\right], \qquad
//!   Z_k = \int_\mathrm{ROI} C(x)\, p(x \mid k)\, dx,$$
//! where the *prior shift* lets the class fractions $\pi_k$ differ from those
//! of the associated sources, $\pi^\mathrm{a}_k$, and the *covariate shift*
//! $$C(x) = \prod_{d=1}^{3} \frac{1}{1 + e^{-b_d (x_d - c_d)}}$$
//! (six parameters) describes how association selects sources in feature
//! space ([`SigmoidShift`]). Dividing by $Z_k$ keeps each modulated component a
//! density on the ROI, so $\pi_k$ is the fraction of unassociated sources of
//! class $k$. The $Z_k$ are computed by exact-structure quadrature (product
//! kernel times product modulation, see [`shift`]), accurate to about
//! $10^{-12}$ and differentiable. The four models of the paper's comparison
//! table ([`ShiftKind`]) are: no shift ($\pi = \pi^\mathrm{a}$, $C \equiv 1$),
//! prior shift, covariate shift ($p \propto C \sum_k \pi^\mathrm{a}_k p_k$) and both.
//!
//! # Fitting
//! [`ShiftMixture::fit`] maximises
//! $\ln L = \sum_i \ln p_\mathrm{unas}(x_i)$ by expectation-maximisation:
//! responsibilities in log space, closed-form weights, and an L-BFGS M-step
//! for the shift parameters with the analytic gradient
//! $\partial_\theta Q = \sum_i R_i\, \partial_\theta \ln C(x_i) - \sum_k n_k\, \partial_\theta \ln Z_k$.
//! [`ShiftMixture::fit_direct`] maximises $\ln L$ directly as a check. Models
//! are compared by likelihood ratio (Wilks) and AIC $= 2k - 2\ln L$
//! ([`compare_shift_models`], [`LrTest`]). [`ShiftMixture::posteriors`] gives
//! per-source class probabilities and [`ShiftMixture::sample`] exact mock
//! catalogs (draw a class, draw from its truncated KDE, accept with
//! probability $C(x) \le 1$).
//!
//! # Dark matter
//! A subhalo of J-factor $J$ has the flux
//! $\Phi = \langle\sigma v\rangle J N_\gamma / (8\pi m_\chi^2)$; with the
//! population $n_J = dN/d\log_{10}J$, the detection efficiency $\epsilon(\Phi)$
//! and the density $p(\alpha, \beta \mid \Phi)$ of the fitted spectral
//! features of detected subhalos, the detected subhalos have the density
//! $\rho_\mathrm{DM}(x) = n_J\,\epsilon\,p(\alpha,\beta\mid\Phi)$; the mixture
//! uses $p_\mathrm{DM} = \rho_\mathrm{DM}/N_\mathrm{DM}$ with the fixed weight
//! $\pi_\mathrm{DM} = N_\mathrm{DM}(\langle\sigma v\rangle)/N_\mathrm{unas}$,
//! $N_\mathrm{DM} = \int_\mathrm{ROI}\rho_\mathrm{DM}$ ([`dm`]). The profile
//! likelihood in $\langle\sigma v\rangle$ gives the best fit, $\Delta TS_0$ and the
//! 95% upper limit at $\Delta TS = 3.84$ ([`dm_limit`]), with expected-limit
//! bands from mock catalogs ([`limit_band`]).
//!
//! # Reference
//! - D. Amerio, D. Malyshev, B. Zaldivar, V. Gammaldi, M. A. Sanchez-Conde,
//!   *Search for dark matter subhalos among unassociated Fermi-LAT sources in
//!   presence of dataset shift* (2025), arXiv:2503.14584.
//! - A. Bhat, D. Malyshev, *Machine learning methods for constructing
//!   probabilistic Fermi-LAT catalogs*, A&A 660, A87 (2022), arXiv:2102.07642
//!   (the labelled 4FGL-DR2 table read by [`read_probcat_dr2`]).
//! - J. Coronado-Blázquez et al., JCAP 07 (2019) 020, arXiv:1906.11896 (subhalo
//!   J-factors from repopulated Via Lactea II).
//! - V. Gammaldi et al., MNRAS 520, 1348 (2023), arXiv:2207.09307 (simulated DM
//!   spectra in log-parabola space).
//! - C. Arina et al., *CosmiXs*, JCAP 03 (2024) 035, arXiv:2312.01153.
//! - S. Abdollahi et al., *Incremental Fermi Large Area Telescope Fourth Source
//!   Catalog*, ApJS 260, 53 (2022), arXiv:2201.11184; J. Ballet et al., 4FGL-DR4,
//!   arXiv:2307.12546.
//! - T. Burnett et al., srcpop (github.com/tburnett/srcpop, 2023): 4FGL-DR4
//!   sources with their CLASS1 labels and uw1410 pointlike LP fits, read by
//!   [`read_srcpop_uw1410`].
//!
//! # Features
//! - `fits`: read the 4FGL catalog from its FITS file (`read_4fgl_fits`),
//!   through the `fitsio` crate with cfitsio built from source (needs a C
//!   compiler and `make`). The `darkprobe` umbrella package enables it.
//!
//! # Example
//! ```
//! use darkprobe_kde::Bandwidth;
//! use darkprobe_subhalos::*;
//! use ndarray::Array2;
//! use rand::{Rng, SeedableRng};
//!
//! let roi = Roi::paper(ReferenceEnergy::OneGeV);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(11);
//! let cloud = |rng: &mut rand::rngs::StdRng, centre: [f64; 3]| {
//!     Array2::from_shape_fn((80, 3), |(_, d)| centre[d] + [0.5, 0.2, 0.08][d] * (rng.random::<f64>() - 0.5))
//! };
//! let bw = BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![0.2, 0.08, 0.03]));
//! let ext = ClassDensity::fit("extragalactic", cloud(&mut rng, [-9.0, 1.5, 0.15]).view(), &roi, &bw)?;
//! let gal = ClassDensity::fit("galactic", cloud(&mut rng, [-9.0, 1.1, 0.4]).view(), &roi, &bw)?;
//! let model = ShiftMixture::new(roi, vec![ext, gal], vec![0.9, 0.1])?;
//! // A mock catalog with a prior shift towards the Galactic class, and its fit.
//! let truth = MixtureParams { class_weights: vec![0.6, 0.4], extra_weights: vec![], shift: None };
//! let mock = model.sample(&truth, 200, &mut rng)?;
//! let data = model.prepare(mock.points.view())?;
//! let cmp = compare_shift_models(&model, &data, &EmOptions::default())?;
//! let prior = cmp.get(ShiftKind::Prior).unwrap();
//! assert!((prior.params.class_weights[1] - 0.4).abs() < 0.12);
//! assert!(cmp.lr_test(ShiftKind::None, ShiftKind::Prior)?.significance_sigma > 3.0);
//! # Ok::<(), SubhaloError>(())
//! ```
#![warn(missing_docs)]

pub mod catalog;
pub mod compare;
pub mod density;
pub mod detection;
pub mod dm;
pub mod error;
pub mod features;
#[cfg(feature = "fits")]
pub mod fits;
pub mod model;
pub mod population;
pub mod search;
pub mod shift;
pub mod uncertainty;

pub use catalog::{
    read_feature_table, read_probcat_dr2, read_srcpop_uw1410, Catalog, CurvatureConvention, Source,
    SrcpopTable, PAPER_MIN_ABS_GLAT_DEG, SRCPOP_EFLUX_E_MAX_MEV,
};
pub use compare::{compare_shift_models, LrTest, ModelComparison};
pub use density::{BandwidthChoice, ClassDensity};
pub use detection::{fit_log_parabola, Instrument, LpFit, LpFitter};
pub use dm::{simulate_detection, DetectionOptions, DetectionTable, DmComponent};
pub use error::{Result, SubhaloError};
pub use features::{ClassGroup, Features, LogParabola, ReferenceEnergy, Roi};
#[cfg(feature = "fits")]
pub use fits::read_4fgl_fits;
pub use model::{
    EmOptions, ExtraComponent, ExtraWeight, MixtureFit, MixtureParams, MockCatalog, PreparedData,
    ShiftKind, ShiftMixture,
};
pub use population::{bergstrom_bb_spectrum, AnalyticSpectrum, DmSpectrumBins, JPopulation};
pub use search::{
    dm_limit, limit_band, posteriors_with_dm, sample_with_dm, DmLimit, DmSearchOptions, LimitBand,
    ProfilePoint,
};
pub use shift::{ModulationQuadrature, SigmoidShift};
pub use uncertainty::{ParameterErrors, ProfileInterval};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
