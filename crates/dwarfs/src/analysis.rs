//! The limit analysis: per-dwarf and stacked upper limits on
//! $\langle\sigma v\rangle$, cases J and JB, on top of `darkprobe-limits`.
//!
//! # Model
//!
//! Dwarf $i$ has observed counts $n_{ib}$ in the macro bins $b$, exposure
//! $\mathcal E_{ib}$ and the Nadaraya-Watson prediction $\ln\hat B_{ib}$ of the
//! background ([`crate::background`]). For a mass $m$ and a spectrum with
//! $N_b$ photons per annihilation in bin $b$, the signal is
//! $\mu_{ib} = \langle\sigma v\rangle\,J_i\,k_{ib}$ with
//! $k_{ib} = N_b\,\mathcal E_{ib}/(8\pi m^2)$ (Majorana). The stacked likelihood is
//! $$-2\ln L = \sum_i\Big[\sum_b -2\ln\mathrm{Pois}\big(n_{ib}\,\big|\,\mu_{ib} + e^{\beta_{ib}}\big)
//!   -2\ln p_J(\log_{10}J_i) -2\ln p_B(B_i)\Big],$$
//! profiled over the nuisances of each dwarf:
//! - **case J** ([`Case::J`]): $\beta_{ib} = \ln\hat B_{ib}$ fixed, only $\log_{10}J_i$ profiled;
//! - **case JB** ([`Case::JB`]): $\beta_{ib} = B_i\,r_{ib}$ with
//!   $r_{ib} = \ln\hat B_{ib}/\ln\hat B_{i0}$ and one free $B_i$ per dwarf whose
//!   prior $p_B$ is the conditional density of the void KDE at the dwarf,
//!   $p(B\mid x_i)$ (its normalisation does not matter: it cancels in
//!   $-2\Delta\ln L$).
//!
//! The J prior $p_J$ is Gaussian in $\log_{10}J$ with the table's mean and
//! width ([`JFactorPrior::Gaussian`], the package's normalisation), or a
//! Gaussian KDE of the $\log_{10}J$ samples ([`JFactorPrior::Empirical`]) with
//! the package's bandwidths $2\times0.011045$ dex ($2\times0.021090$ for
//! Sextans) or a leave-one-out choice.
//!
//! The upper limit is the $\langle\sigma v\rangle > \widehat{\langle\sigma v\rangle}$ where
//! $-2\ln L_p(\langle\sigma v\rangle) + 2\ln L_p(\widehat{\langle\sigma v\rangle}) = c$,
//! $c = 3.84$ by default ([`AnalysisOptions::ts_threshold`]); the best fit is
//! constrained to $\widehat{\langle\sigma v\rangle}\ge 0$ and
//! $\mathrm{TS} = -2\ln L_p(0) + 2\ln L_p(\widehat{\langle\sigma v\rangle})$.
//!
//! # Conventions
//! By default the photon yields follow the package: the spectrum is integrated
//! over the rounded edges [`MLFERMILATDWARFS_EDGES_GEV`] with the trapezoid
//! rule on 500 log-spaced points ([`BinIntegration::MLFERMILATDWARFS`]); pair it
//! with `TabulatedSpectrum::with_mlfermilatdwarfs_convention` (linear
//! interpolation in $E$) to reproduce the package. Exact integration
//! (`BinIntegration::default()`) and log-log interpolation are the better
//! choices offered as options. The limit is the exact root of the profile
//! (the package reads it from a spline on a grid,
//! [`LimitMethod::MlFermiLatDwarfsGrid`], also available).
//!
//! # Example
//! ```
//! use darkprobe_dwarfs::analysis::{AnalysisOptions, Case, DwarfAnalysis, DwarfInput};
//! use darkprobe_limits::spectrum::FnSpectrum;
//! // One mock dwarf: 6 bins, background exactly as predicted, no signal.
//! let b = [40.0f64, 30.0, 25.0, 20.0, 18.0, 10.0];
//! let dwarf = DwarfInput {
//!     name: "Mock".into(),
//!     counts: b.iter().map(|x| *x as u64).collect(),
//!     exposure_cm2_s: vec![3e11; 6],
//!     ln_b_hat: b.iter().map(|x| x.ln()).collect(),
//!     log10_j: 18.5,
//!     log10_j_sigma: 0.1,
//!     log10_j_samples: None,
//!     background_prior: None,
//! };
//! let options = AnalysisOptions { case: Case::J, ..AnalysisOptions::default() };
//! let analysis = DwarfAnalysis::new(vec![dwarf], options)?;
//! // A flat spectrum: 1/m photons per GeV below the mass.
//! let flat = FnSpectrum::new("flat", (1.0, 1e4), |m: f64, _e: f64| 1.0 / m)?;
//! let scan = analysis.scan(&flat, &[10.0, 100.0])?;
//! let (l10, l100) = (scan.rows[0].sigma_v_ul_cm3_s, scan.rows[1].sigma_v_ul_cm3_s);
//! assert!(l10 > 0.0 && l100 > l10);
//! # Ok::<(), darkprobe_dwarfs::DwarfsError>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use darkprobe_core::stats::{chi2_sf, Sidedness};
use darkprobe_core::table::CsvWriter;
use darkprobe_core::{par, Error};
use darkprobe_kde::ScaleSearch;
use darkprobe_limits::likelihood::{
    BackgroundModel as LikBackground, BackgroundScaling, EmpiricalLogJ, GaussianLogJ, JFactorModel,
    JNormalisation, LimitMethod, LimitOptions, LnDensity1d, ProfileCurve, ProfileOptions,
    StackedLikelihood, Target, UpperLimit,
};
use darkprobe_limits::spectrum::{
    photon_yields, signal_coefficients, BinIntegration, Particle, Spectrum,
    MLFERMILATDWARFS_EDGES_GEV,
};

use crate::background::{BackgroundModel, BackgroundParams};
use crate::binning::EnergyBinning;
use crate::error::Result;
use crate::package::{package_jfactor_kde_bandwidth, PackageData};

/// Which nuisance parameters are profiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// J-factors profiled; the background fixed at $\hat B_{ib}$.
    J,
    /// J-factors and one background normalisation $B_i$ per dwarf profiled,
    /// with the void-KDE prior on $B_i$.
    JB,
}

impl Case {
    /// `"J"` or `"JB"`.
    pub fn label(self) -> &'static str {
        match self {
            Case::J => "J",
            Case::JB => "JB",
        }
    }
}

/// How the bandwidth of an empirical J prior is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JBandwidth {
    /// The package's: $2\times0.011045$ dex, $2\times0.021090$ dex for Sextans
    /// (dwarfs without a package value fall back to leave-one-out).
    Package,
    /// This bandwidth (dex) for every dwarf.
    FixedDex(f64),
    /// Maximise the leave-one-out likelihood of each dwarf's samples over
    /// 0.002-0.2 dex.
    LeaveOneOut,
}

/// The prior on $\log_{10} J$.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JFactorPrior {
    /// Gaussian in $\log_{10} J$ with the table's mean and width (package normalisation).
    Gaussian,
    /// Gaussian KDE of the $\log_{10} J$ samples.
    Empirical(JBandwidth),
}

/// Settings of the limit analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Case J or JB (default JB).
    pub case: Case,
    /// The J prior (default Gaussian).
    pub j_prior: JFactorPrior,
    /// The threshold $c$ on $-2\Delta\ln L$ (default 3.84).
    pub ts_threshold: f64,
    /// How the limit is read (default the exact root).
    pub limit_method: LimitMethod,
    /// Bounds and tolerances of the profile (default: the package's bounds).
    pub profile: ProfileOptions,
    /// Smoothing of the void KDE used for the JB prior (default the package's
    /// $\sigma = 1.4$ deg, $\zeta = 0.15$, with voids whose kernel weight is
    /// below $e^{-45}$ of the largest dropped: a change below $10^{-13}$).
    pub background: BackgroundParams,
    /// Energy edges of the bins (GeV) for the photon yields (default the
    /// package's rounded edges).
    pub edges_gev: Vec<f64>,
    /// Integration rule of the photon yields (default the package's).
    pub integration: BinIntegration,
    /// Majorana (default) or Dirac dark matter.
    pub particle: Particle,
    /// Also compute the limit of each dwarf alone (default false).
    pub per_dwarf: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            case: Case::JB,
            j_prior: JFactorPrior::Gaussian,
            ts_threshold: 3.84,
            limit_method: LimitMethod::ExactRoot,
            profile: ProfileOptions::default(),
            background: BackgroundParams::package().with_drop_below(45.0),
            edges_gev: MLFERMILATDWARFS_EDGES_GEV.to_vec(),
            integration: BinIntegration::MLFERMILATDWARFS,
            particle: Particle::Majorana,
            per_dwarf: false,
        }
    }
}

impl AnalysisOptions {
    /// The limit options with the threshold [`ts_threshold`](Self::ts_threshold)
    /// (a two-sided confidence level $P(\chi^2_1 < c)$).
    ///
    /// # Errors
    /// A threshold that is not finite and > 0.
    pub fn limit_options(&self) -> Result<LimitOptions> {
        let c = self.ts_threshold;
        if !(c.is_finite() && c > 0.0 && c < 100.0) {
            return Err(Error::invalid_param("ts threshold", c, "finite, in (0, 100)").into());
        }
        let cl = 1.0 - chi2_sf(c, 1.0)?;
        Ok(LimitOptions {
            confidence_level: cl,
            sidedness: Sidedness::TwoSided,
            method: self.limit_method,
            ..LimitOptions::default()
        })
    }
}

/// The inputs of one dwarf.
#[derive(Clone)]
pub struct DwarfInput {
    /// Name.
    pub name: String,
    /// Observed counts per bin.
    pub counts: Vec<u64>,
    /// Exposure per bin, cm² s.
    pub exposure_cm2_s: Vec<f64>,
    /// Predicted $\ln\hat B$ per bin (bin 0 must be > 0 for case JB).
    pub ln_b_hat: Vec<f64>,
    /// Mean $\log_{10} J$ (J in GeV² cm⁻⁵).
    pub log10_j: f64,
    /// Width of $\log_{10} J$, dex.
    pub log10_j_sigma: f64,
    /// Samples of $\log_{10} J$ (needed by [`JFactorPrior::Empirical`]).
    pub log10_j_samples: Option<Vec<f64>>,
    /// Prior density of $B$ (case JB); `None` leaves $B$ free within the bounds.
    pub background_prior: Option<Arc<dyn LnDensity1d>>,
}

impl std::fmt::Debug for DwarfInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DwarfInput")
            .field("name", &self.name)
            .field("counts", &self.counts)
            .field("exposure_cm2_s", &self.exposure_cm2_s)
            .field("ln_b_hat", &self.ln_b_hat)
            .field("log10_j", &self.log10_j)
            .field("log10_j_sigma", &self.log10_j_sigma)
            .field(
                "log10_j_samples",
                &self.log10_j_samples.as_ref().map(Vec::len),
            )
            .field("background_prior", &self.background_prior.is_some())
            .finish()
    }
}

/// Reads the selected dwarfs of the package (`"Draco+UrsaMinor"`): counts and
/// $\ln\hat B$ from `bkg_data`, macro-bin exposures, J from the table, the J
/// samples when `with_samples`, and, when `jb_background` is given, the
/// conditional void-KDE prior $p(B\mid x_i)$ of that model at each dwarf.
///
/// # Errors
/// Unknown dwarf names, unreadable J samples, background-model failures.
pub fn package_inputs(
    pkg: &PackageData,
    dwarfs: &str,
    with_samples: bool,
    jb_background: Option<&BackgroundModel>,
) -> Result<Vec<DwarfInput>> {
    let sel = pkg.dwarfs.select(dwarfs)?;
    let binning = EnergyBinning::package();
    let bkgs = match jb_background {
        Some(m) => Some(m.at_dwarfs(&pkg.dwarfs, &sel)?),
        None => None,
    };
    let mut out = Vec::with_capacity(sel.len());
    for (k, &i) in sel.indices().iter().enumerate() {
        let d = &pkg.dwarfs.dwarfs()[i];
        let samples = if with_samples {
            Some(pkg.jfactor_samples(&d.name)?.log10_j)
        } else {
            None
        };
        let prior = bkgs.as_ref().map(|b| {
            let p: Arc<dyn LnDensity1d> = Arc::new(b[k].conditional().clone());
            p
        });
        out.push(DwarfInput {
            name: d.name.clone(),
            counts: pkg.background.observed_counts[i].clone(),
            exposure_cm2_s: d.macro_exposure_cm2_s(&binning)?,
            ln_b_hat: pkg.background.ln_b_hat[i].clone(),
            log10_j: d.log10_j,
            log10_j_sigma: d.log10_j_sigma,
            log10_j_samples: samples,
            background_prior: prior,
        });
    }
    Ok(out)
}

/// The limit at one mass.
#[derive(Debug, Clone, PartialEq)]
pub struct MassLimit {
    /// Dark-matter mass, GeV.
    pub mass_gev: f64,
    /// Stacked upper limit, cm³ s⁻¹.
    pub sigma_v_ul_cm3_s: f64,
    /// Stacked best fit $\widehat{\langle\sigma v\rangle}\ge0$, cm³ s⁻¹.
    pub best_fit_sigma_v_cm3_s: f64,
    /// Stacked detection TS.
    pub ts: f64,
    /// Whether the threshold was crossed (false only for the grid method at its upper end).
    pub threshold_crossed: bool,
    /// Limit of each dwarf alone (empty unless [`AnalysisOptions::per_dwarf`]).
    pub per_dwarf_ul_cm3_s: Vec<f64>,
}

/// Limits over a list of masses.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitScan {
    /// The dwarfs, in order.
    pub dwarfs: Vec<String>,
    /// The case.
    pub case: Case,
    /// The threshold used.
    pub threshold: f64,
    /// One row per mass, in the order given.
    pub rows: Vec<MassLimit>,
}

impl LimitScan {
    /// Writes `mass_gev,sigma_v_ul_cm3_s,best_fit_sigma_v_cm3_s,ts` and, when
    /// per-dwarf limits were computed, one column `sigma_v_ul_cm3_s_<dwarf>`
    /// each (atomically).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let per = self
            .rows
            .first()
            .is_some_and(|r| !r.per_dwarf_ul_cm3_s.is_empty());
        let mut header: Vec<String> = [
            "mass_gev",
            "sigma_v_ul_cm3_s",
            "best_fit_sigma_v_cm3_s",
            "ts",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if per {
            header.extend(self.dwarfs.iter().map(|d| format!("sigma_v_ul_cm3_s_{d}")));
        }
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut w = CsvWriter::create(path, &h)?;
        for r in &self.rows {
            let mut row = vec![
                r.mass_gev,
                r.sigma_v_ul_cm3_s,
                r.best_fit_sigma_v_cm3_s,
                r.ts,
            ];
            if per {
                row.extend_from_slice(&r.per_dwarf_ul_cm3_s);
            }
            w.write_row_f64(&row)?;
        }
        w.finish()?;
        Ok(())
    }
}

/// The limit analysis of a set of dwarfs (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DwarfAnalysis {
    inputs: Vec<DwarfInput>,
    options: AnalysisOptions,
    limit: LimitOptions,
    stacked: StackedLikelihood,
    singles: Vec<StackedLikelihood>,
}

impl DwarfAnalysis {
    /// Builds the likelihood of the dwarfs (signal coefficients are set per mass).
    ///
    /// # Errors
    /// No dwarfs; inconsistent bins; invalid counts, exposures or J values
    /// (messages name the dwarf); $\ln\hat B_0 \le 0$ in case JB; missing J
    /// samples for an empirical prior; an invalid threshold.
    pub fn new(inputs: Vec<DwarfInput>, options: AnalysisOptions) -> Result<Self> {
        if inputs.is_empty() {
            return Err(Error::empty("dwarfs", "select at least one dwarf").into());
        }
        let limit = options.limit_options()?;
        let n_bins = options.edges_gev.len().saturating_sub(1);
        let mut targets = Vec::with_capacity(inputs.len());
        for d in &inputs {
            targets.push(target(d, &options, n_bins)?);
        }
        let stacked = StackedLikelihood::new(targets.clone(), options.profile)?;
        let singles = if options.per_dwarf {
            targets
                .into_iter()
                .map(|t| StackedLikelihood::new(vec![t], options.profile))
                .collect::<darkprobe_limits::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(Self {
            inputs,
            options,
            limit,
            stacked,
            singles,
        })
    }

    /// Builds the analysis of the package's dwarfs `dwarfs` (`"Draco+UrsaMinor"`):
    /// for case JB the void KDE of `options.background` is built from the
    /// package's voids.
    ///
    /// # Errors
    /// As [`package_inputs`] and [`DwarfAnalysis::new`].
    pub fn from_package(pkg: &PackageData, dwarfs: &str, options: AnalysisOptions) -> Result<Self> {
        let model = match options.case {
            Case::JB => Some(BackgroundModel::new(&pkg.voids, &options.background)?),
            Case::J => None,
        };
        let samples = matches!(options.j_prior, JFactorPrior::Empirical(_));
        let inputs = package_inputs(pkg, dwarfs, samples, model.as_ref())?;
        Self::new(inputs, options)
    }

    /// The dwarfs' names.
    pub fn names(&self) -> Vec<String> {
        self.inputs.iter().map(|d| d.name.clone()).collect()
    }

    /// The inputs.
    pub fn inputs(&self) -> &[DwarfInput] {
        &self.inputs
    }

    /// The options.
    pub fn options(&self) -> &AnalysisOptions {
        &self.options
    }

    /// The signal coefficients $k_{ib}$ of each dwarf at `mass_gev`.
    ///
    /// # Errors
    /// The spectrum's errors (mass out of range ...).
    pub fn signal_coefficients<S: Spectrum + ?Sized>(
        &self,
        spectrum: &S,
        mass_gev: f64,
    ) -> Result<Vec<Vec<f64>>> {
        let n = photon_yields(
            spectrum,
            mass_gev,
            &self.options.edges_gev,
            self.options.integration,
        )?;
        if n.iter().all(|&x| x == 0.0) {
            return Err(Error::invalid_param(
                "mass_gev",
                mass_gev,
                format!(
                    "a mass whose spectrum has photons between {} and {} GeV",
                    self.options.edges_gev[0],
                    self.options.edges_gev[self.options.edges_gev.len() - 1]
                ),
            )
            .into());
        }
        self.inputs
            .iter()
            .map(|d| {
                Ok(signal_coefficients(
                    mass_gev,
                    &n,
                    &d.exposure_cm2_s,
                    self.options.particle,
                )?)
            })
            .collect()
    }

    /// The stacked likelihood at one mass.
    ///
    /// # Errors
    /// As [`signal_coefficients`](Self::signal_coefficients).
    pub fn likelihood_at<S: Spectrum + ?Sized>(
        &self,
        spectrum: &S,
        mass_gev: f64,
    ) -> Result<StackedLikelihood> {
        let k = self.signal_coefficients(spectrum, mass_gev)?;
        Ok(self.stacked.with_signal_coefficients(&k)?)
    }

    /// The stacked upper limit at one mass (with its best fit and profile).
    ///
    /// # Errors
    /// As [`likelihood_at`](Self::likelihood_at), and profile or root failures.
    pub fn upper_limit_at<S: Spectrum + ?Sized>(
        &self,
        spectrum: &S,
        mass_gev: f64,
    ) -> Result<UpperLimit> {
        Ok(self
            .likelihood_at(spectrum, mass_gev)?
            .upper_limit(&self.limit)?)
    }

    /// The limit at one mass, stacked and (if asked) per dwarf.
    ///
    /// # Errors
    /// As [`upper_limit_at`](Self::upper_limit_at).
    pub fn limit_at<S: Spectrum + ?Sized>(&self, spectrum: &S, mass_gev: f64) -> Result<MassLimit> {
        let k = self.signal_coefficients(spectrum, mass_gev)?;
        let ul = self
            .stacked
            .with_signal_coefficients(&k)?
            .upper_limit(&self.limit)?;
        let per_dwarf_ul_cm3_s = self
            .singles
            .iter()
            .zip(&k)
            .map(|(s, ki)| {
                Ok(s.with_signal_coefficients(std::slice::from_ref(ki))?
                    .upper_limit(&self.limit)?
                    .sigma_v_ul_cm3_s)
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(MassLimit {
            mass_gev,
            sigma_v_ul_cm3_s: ul.sigma_v_ul_cm3_s,
            best_fit_sigma_v_cm3_s: ul.best_fit.sigma_v_cm3_s,
            ts: ul.best_fit.ts_detection,
            threshold_crossed: ul.threshold_crossed,
            per_dwarf_ul_cm3_s,
        })
    }

    /// Limits at every mass (in parallel over masses; the result does not
    /// depend on the thread count).
    ///
    /// # Errors
    /// The first failing mass's error, naming the mass.
    pub fn scan<S: Spectrum + Sync + ?Sized>(
        &self,
        spectrum: &S,
        masses_gev: &[f64],
    ) -> Result<LimitScan> {
        if masses_gev.is_empty() {
            return Err(Error::empty("masses", "give at least one mass").into());
        }
        let rows = par::map_indices(masses_gev.len(), |i| self.limit_at(spectrum, masses_gev[i]));
        let rows = rows.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(LimitScan {
            dwarfs: self.names(),
            case: self.options.case,
            threshold: self.limit.threshold()?,
            rows,
        })
    }

    /// $-2\Delta\ln L_p$ of the stack on a grid of cross-sections at one mass.
    ///
    /// # Errors
    /// As [`likelihood_at`](Self::likelihood_at), and invalid grid values.
    pub fn profile_curve<S: Spectrum + ?Sized>(
        &self,
        spectrum: &S,
        mass_gev: f64,
        sigma_v_grid_cm3_s: &[f64],
    ) -> Result<ProfileCurve> {
        Ok(self
            .likelihood_at(spectrum, mass_gev)?
            .profile_curve(sigma_v_grid_cm3_s)?)
    }
}

fn target(d: &DwarfInput, options: &AnalysisOptions, n_bins: usize) -> Result<Target> {
    let name = d.name.as_str();
    for (what, len) in [
        ("counts", d.counts.len()),
        ("exposures", d.exposure_cm2_s.len()),
        ("ln B_hat values", d.ln_b_hat.len()),
    ] {
        if len != n_bins {
            return Err(Error::shape(
                format!("{what} of dwarf '{name}' (one per energy bin)"),
                n_bins,
                len,
            )
            .into());
        }
    }
    for (b, &x) in d.ln_b_hat.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::invalid_param(
                format!("ln B_hat[{b}] of dwarf '{name}'"),
                x,
                "a finite number",
            )
            .into());
        }
    }
    let j_factor = match options.j_prior {
        JFactorPrior::Gaussian => JFactorModel::Gaussian(GaussianLogJ::new(
            d.log10_j,
            d.log10_j_sigma,
            JNormalisation::MlFermiLatDwarfs,
        )?),
        JFactorPrior::Empirical(bw) => {
            let s = d.log10_j_samples.as_deref().ok_or_else(|| {
                Error::invalid_param(
                    format!("J-factor prior of dwarf '{name}'"),
                    "empirical",
                    "Gaussian, or give log10 J samples for this dwarf",
                )
            })?;
            let kde = match (bw, package_jfactor_kde_bandwidth(name)) {
                (JBandwidth::Package, Some(h)) => EmpiricalLogJ::from_log10_samples(s, h)?,
                (JBandwidth::FixedDex(h), _) => EmpiricalLogJ::from_log10_samples(s, h)?,
                _ => {
                    let search = ScaleSearch::Continuous {
                        lo: 0.002,
                        hi: 0.2,
                        rel_tol: 1e-4,
                    };
                    EmpiricalLogJ::with_loo_bandwidth(s, &search)?.0
                }
            };
            JFactorModel::Empirical(Arc::new(kde))
        }
    };
    let background = match options.case {
        Case::J => LikBackground::Fixed(d.ln_b_hat.iter().map(|x| x.exp()).collect()),
        Case::JB => {
            let b0 = d.ln_b_hat[0];
            if b0.is_nan() || b0 <= 0.0 {
                return Err(Error::invalid_param(
                    format!("ln B_hat[0] of dwarf '{name}'"),
                    b0,
                    "> 0 (case JB scales the bins by r_b = ln B_hat_b / ln B_hat_0)",
                )
                .into());
            }
            LikBackground::Profiled {
                scaling: BackgroundScaling::LogRatios(d.ln_b_hat.iter().map(|x| x / b0).collect()),
                prior: d.background_prior.clone(),
            }
        }
    };
    // Placeholder coefficients (the exposures): replaced at each mass.
    let counts = d.counts.iter().map(|&c| c as f64).collect();
    Ok(Target::new(
        name,
        counts,
        d.exposure_cm2_s.clone(),
        j_factor,
        background,
    )?)
}

/// Mock dwarfs for tests and demonstrations: `n` dwarfs with 6 bins (the
/// package's edges), background counts $\hat B_{ib} = a_i\,(60, 45, 38, 30, 40, 20)$
/// with $a_i$ between 0.6 and 1.6, exposures $(2.5\text{-}4)\times10^{11}$ cm² s,
/// $\log_{10}J_i$ between 17.6 and 19.0 with width 0.15 dex, a Gaussian prior of
/// width 0.15 on $B_i$ at $\ln\hat B_{i0}$, and counts drawn from
/// $\mathrm{Pois}(\hat B_{ib} + \langle\sigma v\rangle_\mathrm{true} J_i k_{ib})$ with the
/// spectrum at `mass_gev` (the true $J_i$ is the table value). The bins are
/// those of `options` (6 edges expected).
///
/// # Errors
/// `n == 0`, a negative or non-finite cross-section, edges other than 7,
/// the spectrum's errors.
pub fn mock_dwarfs<S: Spectrum + ?Sized, R: rand::Rng + ?Sized>(
    n: usize,
    spectrum: &S,
    mass_gev: f64,
    sigma_v_true_cm3_s: f64,
    options: &AnalysisOptions,
    rng: &mut R,
) -> Result<Vec<DwarfInput>> {
    use darkprobe_limits::likelihood::NormalLnDensity;
    use rand_distr::{Distribution, Poisson};
    if n == 0 {
        return Err(Error::empty("mock dwarfs", "ask for at least one").into());
    }
    if !(sigma_v_true_cm3_s.is_finite() && sigma_v_true_cm3_s >= 0.0) {
        return Err(Error::invalid_param("sigma_v_true_cm3_s", sigma_v_true_cm3_s, ">= 0").into());
    }
    if options.edges_gev.len() != 7 {
        return Err(Error::shape("mock dwarf energy edges", 7, options.edges_gev.len()).into());
    }
    let shape = [60.0, 45.0, 38.0, 30.0, 40.0, 20.0];
    let n_gamma = photon_yields(spectrum, mass_gev, &options.edges_gev, options.integration)?;
    (0..n)
        .map(|i| {
            let t = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.5
            };
            let a = 0.6 + 1.0 * ((i * 7) % n.max(1)) as f64 / n.max(1) as f64;
            let exposure = vec![2.5e11 + 1.5e11 * t; 6];
            let log10_j = 17.6 + 1.4 * ((i * 3) % n.max(1)) as f64 / n.max(1) as f64;
            let k = signal_coefficients(mass_gev, &n_gamma, &exposure, options.particle)?;
            let ln_b_hat: Vec<f64> = shape.iter().map(|s| (a * s).ln()).collect();
            let counts = (0..6)
                .map(|b| {
                    let mu = a * shape[b] + sigma_v_true_cm3_s * 10f64.powf(log10_j) * k[b];
                    let p = Poisson::new(mu).map_err(|e| {
                        Error::numerical("mock counts", 0, mu, format!("Poisson mean: {e}"))
                    })?;
                    Ok(p.sample(rng) as u64)
                })
                .collect::<Result<Vec<u64>>>()?;
            let prior: Arc<dyn LnDensity1d> = Arc::new(NormalLnDensity::new(ln_b_hat[0], 0.15)?);
            Ok(DwarfInput {
                name: format!("Mock{}", i + 1),
                counts,
                exposure_cm2_s: exposure,
                ln_b_hat,
                log10_j,
                log10_j_sigma: 0.15,
                log10_j_samples: None,
                background_prior: Some(prior),
            })
        })
        .collect()
}
