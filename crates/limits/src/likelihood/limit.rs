//! Best fit, detection test statistic, upper limits and profile curves in
//! $\langle\sigma v\rangle$.
//!
//! **Best fit.** $\widehat{\langle\sigma v\rangle} \ge 0$ minimises the profile
//! $P(\sigma) = -2\ln L_p(\sigma)$. Its derivative is known exactly at each
//! profiled point (envelope theorem, $P'(\sigma) = \partial_\sigma[-2\ln L]$ at
//! the profiled nuisances), so: if $P'(0) \ge 0$ the best fit is $0$;
//! otherwise the bracket $[0, \sigma_1]$ is grown by factors of 4 until
//! $P'(\sigma_1) > 0$, and Brent's method finds the root of $P'$. The
//! detection statistic is $\mathrm{TS} = P(0) - P(\widehat{\langle\sigma v\rangle}) \ge 0$.
//!
//! **Upper limit.** The root of $P(\sigma) - P(\widehat{\langle\sigma v\rangle}) - c$ above
//! the best fit, bracketed upwards and polished by Brent's method in
//! $\ln\sigma$ (`darkprobe_core::optimize::find_root_with`, relative precision
//! [`LimitOptions::rel_tol`]). The threshold $c$ is `ts_threshold(confidence_level,
//! sidedness)`: 3.84 for the default (0.95, two-sided; MLFermiLATDwarfs), 2.71
//! for (0.95, one-sided; Fermi-LAT 2015). See the [parent module](super) for
//! what coverage each gives.
//!
//! **MLFermiLATDwarfs compatibility** ([`LimitMethod::MlFermiLatDwarfsGrid`]):
//! profile on `n_profile` log-spaced points, a not-a-knot cubic spline in
//! *linear* $\langle\sigma v\rangle$ through them (as `scipy.interpolate.interp1d(kind='cubic')`),
//! evaluated on `n_fine` log-spaced points; from the smallest value, walk up
//! to the first point exceeding the minimum by $c$; if none, return the
//! upper end of the grid with [`UpperLimit::threshold_crossed`] false. The
//! result is quantised to the fine grid (biased high by up to one step), and
//! the reference is the minimum over the grid ($\langle\sigma v\rangle \ge$
//! `sigma_v_min_cm3_s` $> 0$): when the best fit lies below the grid, that
//! minimum is above $P(\widehat{\langle\sigma v\rangle})$ and the limit comes
//! out higher than the exact one (by 0.5% for the 8 real dwarfs, bb at
//! 100 GeV, J case).
//!
//! ```
//! use darkprobe_limits::likelihood::{BackgroundModel, JFactorModel, LimitOptions,
//!     ProfileOptions, StackedLikelihood, Target};
//! let t = Target::new("a", vec![12.0, 6.0], vec![2e26, 1e26],
//!                     JFactorModel::Fixed { log10_j: 18.0 },
//!                     BackgroundModel::Fixed(vec![10.0, 6.0]))?;
//! let s = StackedLikelihood::new(vec![t], ProfileOptions::default())?;
//! let two = s.upper_limit(&LimitOptions::default())?;
//! let one = s.upper_limit(&LimitOptions::fermi_lat_2015())?;
//! assert!(one.sigma_v_ul_cm3_s < two.sigma_v_ul_cm3_s);
//! assert!((two.threshold - 3.841458820694124).abs() < 1e-12);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::{LimitsError, Result};
use crate::likelihood::profile::{ProfileState, StackedLikelihood, StackedProfile};
use darkprobe_core::optimize::{
    brent_root, find_root_with, BracketOptions, Direction, RootOptions, Scale,
};
use darkprobe_core::stats::{ts_threshold, Sidedness};
use darkprobe_core::Error;

/// The package's grid for [`LimitMethod::MlFermiLatDwarfsGrid`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlFermiGrid {
    /// Lower end of the scan, cm³ s⁻¹ (package default $10^{-27}$).
    pub sigma_v_min_cm3_s: f64,
    /// Upper end of the scan, cm³ s⁻¹ (package default $10^{-22}$).
    pub sigma_v_max_cm3_s: f64,
    /// Profiled points, log-spaced (package default 100).
    pub n_profile: usize,
    /// Points of the spline evaluation, log-spaced (package default 10000).
    pub n_fine: usize,
}

impl Default for MlFermiGrid {
    fn default() -> Self {
        Self {
            sigma_v_min_cm3_s: 1e-27,
            sigma_v_max_cm3_s: 1e-22,
            n_profile: 100,
            n_fine: 10_000,
        }
    }
}

/// How the upper limit is read from the profile.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LimitMethod {
    /// The exact root of $-2\Delta\ln L_p = c$ (default).
    #[default]
    ExactRoot,
    /// MLFermiLATDwarfs' spline-on-a-grid reading (compatibility only).
    MlFermiLatDwarfsGrid(MlFermiGrid),
}

/// Settings of the upper limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitOptions {
    /// Confidence level (default 0.95).
    pub confidence_level: f64,
    /// Which $\chi^2$ quantile sets the threshold (default two-sided: 3.84 at 95%).
    pub sidedness: Sidedness,
    /// How the limit is read.
    pub method: LimitMethod,
    /// Relative precision of the exact limit and of the best fit (default $10^{-9}$).
    pub rel_tol: f64,
}

impl Default for LimitOptions {
    fn default() -> Self {
        Self {
            confidence_level: 0.95,
            sidedness: Sidedness::TwoSided,
            method: LimitMethod::ExactRoot,
            rel_tol: 1e-9,
        }
    }
}

impl LimitOptions {
    /// The one-sided 95% CL limit of the Fermi-LAT dwarf analyses
    /// ($-2\Delta\ln L = 2.71$).
    pub fn fermi_lat_2015() -> Self {
        Self {
            sidedness: Sidedness::OneSided,
            ..Self::default()
        }
    }

    /// MLFermiLATDwarfs: threshold 3.84 read with the package's grid procedure
    /// on its default grid.
    pub fn ml_fermi_lat_dwarfs() -> Self {
        Self {
            method: LimitMethod::MlFermiLatDwarfsGrid(MlFermiGrid::default()),
            ..Self::default()
        }
    }

    /// The threshold $c$ on $-2\Delta\ln L$.
    ///
    /// # Errors
    /// A confidence level outside the range allowed for the sidedness.
    pub fn threshold(&self) -> Result<f64> {
        Ok(ts_threshold(self.confidence_level, self.sidedness)?)
    }

    fn validate(&self) -> Result<f64> {
        if !(self.rel_tol.is_finite() && self.rel_tol > 0.0 && self.rel_tol < 0.1) {
            return Err(
                Error::invalid_param("LimitOptions::rel_tol", self.rel_tol, "in (0, 0.1)").into(),
            );
        }
        if let LimitMethod::MlFermiLatDwarfsGrid(g) = self.method {
            if !(g.sigma_v_min_cm3_s > 0.0
                && g.sigma_v_max_cm3_s > g.sigma_v_min_cm3_s
                && g.sigma_v_max_cm3_s.is_finite())
            {
                return Err(Error::invalid_param(
                    "MlFermiGrid sigma_v range",
                    format!("[{:e}, {:e}]", g.sigma_v_min_cm3_s, g.sigma_v_max_cm3_s),
                    "0 < min < max, finite",
                )
                .into());
            }
            if g.n_profile < 4 || g.n_fine < 2 {
                return Err(Error::invalid_param(
                    "MlFermiGrid sizes",
                    format!("n_profile {}, n_fine {}", g.n_profile, g.n_fine),
                    "n_profile >= 4 (cubic spline), n_fine >= 2",
                )
                .into());
            }
        }
        self.threshold()
    }
}

/// The constrained maximum-likelihood fit.
#[derive(Debug, Clone, PartialEq)]
pub struct BestFit {
    /// $\widehat{\langle\sigma v\rangle} \ge 0$, cm³ s⁻¹.
    pub sigma_v_cm3_s: f64,
    /// $-2\ln L_p$ at the best fit.
    pub neg2_ln_l: f64,
    /// $-2\ln L_p(0)$, the background-only fit.
    pub neg2_ln_l_null: f64,
    /// Detection statistic $\mathrm{TS} = -2\ln L_p(0) + 2\ln L_p(\widehat{\langle\sigma v\rangle}) \ge 0$.
    pub ts_detection: f64,
    /// The full profile at the best fit.
    pub profile: StackedProfile,
    /// The full profile at $\langle\sigma v\rangle = 0$.
    pub null_profile: StackedProfile,
}

/// An upper limit on $\langle\sigma v\rangle$.
#[derive(Debug, Clone, PartialEq)]
pub struct UpperLimit {
    /// The limit, cm³ s⁻¹.
    pub sigma_v_ul_cm3_s: f64,
    /// The threshold $c$ on $-2\Delta\ln L$ used.
    pub threshold: f64,
    /// The best fit the limit is measured from.
    pub best_fit: BestFit,
    /// The profile at the limit.
    pub profile_at_limit: StackedProfile,
    /// Whether the threshold was crossed (always true for the exact root,
    /// which errors otherwise; false when the grid method returned its upper end).
    pub threshold_crossed: bool,
    /// Stacked profile evaluations spent (best fit included).
    pub n_profiles: usize,
}

/// $-2\Delta\ln L_p$ on a grid of cross-sections, for plotting.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileCurve {
    /// The cross-sections, cm³ s⁻¹, as given.
    pub sigma_v_cm3_s: Vec<f64>,
    /// $-2\ln L_p(\sigma) - (-2\ln L_p(\widehat{\langle\sigma v\rangle}))$ at each.
    pub neg2_delta_ln_l: Vec<f64>,
    /// The best fit the differences refer to.
    pub best_fit: BestFit,
}

/// Keeps a derivative finite for Brent's method ($\pm\infty$ at a zero
/// expectation becomes $\pm$`f64::MAX`).
fn finite(x: f64) -> f64 {
    x.clamp(-f64::MAX, f64::MAX)
}

impl StackedLikelihood {
    /// The constrained best fit $\widehat{\langle\sigma v\rangle} \ge 0$ and the
    /// detection TS (see the [module docs](self)).
    ///
    /// # Errors
    /// Profile failures, or no minimum found (the derivative of the profile
    /// stays negative up to $10^{60}$ times the natural scale).
    pub fn best_fit(&self) -> Result<BestFit> {
        let mut state = self.new_state();
        self.best_fit_with(&mut state, 1e-9)
    }

    /// As [`best_fit`](Self::best_fit), with a warm-start state and a relative
    /// tolerance on $\widehat{\langle\sigma v\rangle}$.
    ///
    /// # Errors
    /// As [`best_fit`](Self::best_fit).
    pub fn best_fit_with(&self, state: &mut ProfileState, rel_tol: f64) -> Result<BestFit> {
        let f0 = self.profile_with(0.0, state)?;
        let null_profile = self.profile_from_state(state);
        let (d0, _) = self.profile_derivatives(state);
        if d0.is_nan() {
            return Err(Error::numerical(
                "best fit of sigma_v",
                0,
                d0,
                "NaN derivative of the profile at sigma_v = 0",
            )
            .into());
        }
        if d0 >= 0.0 {
            return Ok(BestFit {
                sigma_v_cm3_s: 0.0,
                neg2_ln_l: f0,
                neg2_ln_l_null: f0,
                ts_detection: 0.0,
                profile: null_profile.clone(),
                null_profile,
            });
        }
        let scale = 1.0 / self.counts_per_sigma_v(state);
        let (mut lo, mut hi) = (0.0, scale);
        // The derivative values that established the bracket. Brent's method
        // is given these at the end points instead of re-profiling there: a
        // warm-started profile may land in another local optimum of the
        // nuisances (e.g. a background at its bound), and an end point that
        // changed sign would break the bracket.
        let (mut d_lo, mut d_hi) = (d0, f64::NAN);
        let mut found = false;
        // The optimum at the largest cross-section known to lie below the
        // best fit: every later profile also starts from it (see
        // `profile_with_anchor`).
        let mut anchor = state.clone();
        for _ in 0..100 {
            self.profile_with_anchor(hi, state, &anchor)?;
            let (d, _) = self.profile_derivatives(state);
            if d > 0.0 {
                d_hi = d;
                found = true;
                break;
            }
            anchor.clone_from(state);
            lo = hi;
            d_lo = d;
            hi *= 4.0;
        }
        if !found {
            return Err(Error::numerical(
                "bracketing the best fit of sigma_v",
                100,
                hi,
                "the profile keeps decreasing; check the signal coefficients and counts",
            )
            .into());
        }
        let opts = RootOptions {
            x_tol_abs: rel_tol * lo.max(scale * 1e-12),
            x_tol_rel: rel_tol,
            f_tol: 0.0,
            max_iter: 200,
        };
        let root = brent_root(
            |sv: f64| {
                if sv == lo {
                    return Ok(finite(d_lo));
                }
                if sv == hi {
                    return Ok(finite(d_hi));
                }
                self.profile_with_anchor(sv, state, &anchor)?;
                let d = self.profile_derivatives(state).0;
                if d < 0.0 && sv > anchor.sigma_v {
                    anchor.clone_from(state);
                }
                Ok(finite(d))
            },
            lo,
            hi,
            &opts,
        )?;
        let f_best = self.profile_with_anchor(root.x, state, &anchor)?;
        let profile = self.profile_from_state(state);
        if f_best > f0 {
            // Rounding: the minimum is indistinguishable from sigma_v = 0.
            return Ok(BestFit {
                sigma_v_cm3_s: 0.0,
                neg2_ln_l: f0,
                neg2_ln_l_null: f0,
                ts_detection: 0.0,
                profile: null_profile.clone(),
                null_profile,
            });
        }
        Ok(BestFit {
            sigma_v_cm3_s: root.x,
            neg2_ln_l: f_best,
            neg2_ln_l_null: f0,
            ts_detection: (f0 - f_best).max(0.0),
            profile,
            null_profile,
        })
    }

    /// The upper limit on $\langle\sigma v\rangle$ (see the [module docs](self)).
    ///
    /// # Errors
    /// Invalid options; profile failures; [`LimitsError::LimitNotReached`]
    /// when $-2\Delta\ln L$ never reaches the threshold.
    pub fn upper_limit(&self, options: &LimitOptions) -> Result<UpperLimit> {
        options.validate()?;
        let mut state = self.new_state();
        let best = self.best_fit_with(&mut state, options.rel_tol)?;
        self.upper_limit_from(&best, options, &mut state)
    }

    /// The upper limit measured from a best fit already computed (e.g. to get
    /// limits at several thresholds from one fit), warm-starting from `state`.
    ///
    /// # Errors
    /// As [`upper_limit`](Self::upper_limit).
    pub fn upper_limit_from(
        &self,
        best: &BestFit,
        options: &LimitOptions,
        state: &mut ProfileState,
    ) -> Result<UpperLimit> {
        let c = options.validate()?;
        match options.method {
            LimitMethod::ExactRoot => self.exact_limit(best, c, options.rel_tol, state),
            LimitMethod::MlFermiLatDwarfsGrid(grid) => self.grid_limit(best, c, &grid, state),
        }
    }

    fn exact_limit(
        &self,
        best: &BestFit,
        c: f64,
        rel_tol: f64,
        state: &mut ProfileState,
    ) -> Result<UpperLimit> {
        let start_profiles = state.n_profiles;
        let target = best.neg2_ln_l + c;
        let mut lo = best.sigma_v_cm3_s;
        if lo <= 0.0 {
            self.profile_with(0.0, state)?;
            lo = 1e-3 / self.counts_per_sigma_v(state);
            let mut tries = 0;
            while self.profile_with(lo, state)? >= target {
                lo *= 1e-3;
                tries += 1;
                if tries > 30 {
                    return Err(Error::numerical(
                        "bracketing the upper limit",
                        tries,
                        lo,
                        "-2 delta ln L exceeds the threshold arbitrarily close to sigma_v = 0",
                    )
                    .into());
                }
            }
        }
        let mut reached = (lo, f64::NEG_INFINITY);
        let bracket = BracketOptions {
            factor: 2.0,
            max_expansions: 200,
            lower_limit: None,
            upper_limit: Some(lo * 1e60),
        };
        let root_opts = RootOptions {
            x_tol_abs: rel_tol,
            x_tol_rel: 0.0,
            f_tol: 0.0,
            max_iter: 200,
        };
        // A profile that fails inside the bracket search must surface as
        // itself: only the bracket running out is "limit not reached" (a
        // Newton failure used to be reported as a limit never reached).
        let mut profile_failed = false;
        // Every profile also starts from the optimum at the largest
        // cross-section known to lie below the limit (first the best fit):
        // the bracket search goes far above the limit, and a warm start
        // from there can land in another local minimum of the nuisances on
        // the way back (seen on the real dwarfs, case JB, 10 GeV: Sculptor's
        // ln b fell from 2.0 to 0.14 and the limit came out 2.1 times too low).
        let mut anchor = state.clone();
        let result = find_root_with(
            |sv: f64| {
                let v = match self.profile_with_anchor(sv, state, &anchor) {
                    Ok(f) => f - target,
                    Err(e) => {
                        profile_failed = true;
                        return Err(e.into());
                    }
                };
                if v < 0.0 && sv > anchor.sigma_v {
                    anchor.clone_from(state);
                }
                if sv > reached.0 {
                    reached = (sv, v + c);
                }
                Ok(v)
            },
            lo,
            2.0 * lo,
            Scale::Log,
            Direction::Up,
            &bracket,
            &root_opts,
        );
        let root = match result {
            Ok(r) => r,
            Err(Error::Numerical { .. }) if reached.1 < c && !profile_failed => {
                return Err(LimitsError::LimitNotReached {
                    sigma_v_max_cm3_s: reached.0,
                    reached: reached.1,
                    threshold: c,
                })
            }
            Err(e) => return Err(e.into()),
        };
        self.profile_with(root.x, state)?;
        Ok(UpperLimit {
            sigma_v_ul_cm3_s: root.x,
            threshold: c,
            best_fit: best.clone(),
            profile_at_limit: self.profile_from_state(state),
            threshold_crossed: true,
            n_profiles: state.n_profiles - start_profiles,
        })
    }

    fn grid_limit(
        &self,
        best: &BestFit,
        c: f64,
        grid: &MlFermiGrid,
        state: &mut ProfileState,
    ) -> Result<UpperLimit> {
        let start_profiles = state.n_profiles;
        let coarse = log_space(
            grid.sigma_v_min_cm3_s,
            grid.sigma_v_max_cm3_s,
            grid.n_profile,
        );
        let mut values = Vec::with_capacity(coarse.len());
        for &sv in &coarse {
            values.push(self.profile_with(sv, state)?);
        }
        let spline = NotAKnotSpline::new(&coarse, &values)?;
        let fine = log_space(grid.sigma_v_min_cm3_s, grid.sigma_v_max_cm3_s, grid.n_fine);
        let fine_values: Vec<f64> = fine.iter().map(|&x| spline.eval(x)).collect();
        let (kmin, fmin) =
            fine_values
                .iter()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |acc, (k, &v)| if v < acc.1 { (k, v) } else { acc },
                );
        let hit = (kmin..fine.len()).find(|&k| fine_values[k] - fmin > c);
        let (sv, crossed) = match hit {
            Some(k) => (fine[k], true),
            None => (grid.sigma_v_max_cm3_s, false),
        };
        self.profile_with(sv, state)?;
        Ok(UpperLimit {
            sigma_v_ul_cm3_s: sv,
            threshold: c,
            best_fit: best.clone(),
            profile_at_limit: self.profile_from_state(state),
            threshold_crossed: crossed,
            n_profiles: state.n_profiles - start_profiles,
        })
    }

    /// $-2\Delta\ln L_p$ relative to the constrained best fit on a user grid
    /// (each value $\ge 0$ up to the profile tolerance), warm-started along
    /// the grid.
    ///
    /// # Errors
    /// A negative or non-finite grid value; profile failures.
    pub fn profile_curve(&self, sigma_v_grid_cm3_s: &[f64]) -> Result<ProfileCurve> {
        let mut state = self.new_state();
        let best = self.best_fit_with(&mut state, 1e-9)?;
        let mut out = Vec::with_capacity(sigma_v_grid_cm3_s.len());
        for &sv in sigma_v_grid_cm3_s {
            out.push(self.profile_with(sv, &mut state)? - best.neg2_ln_l);
        }
        Ok(ProfileCurve {
            sigma_v_cm3_s: sigma_v_grid_cm3_s.to_vec(),
            neg2_delta_ln_l: out,
            best_fit: best,
        })
    }
}

/// `n` points log-spaced from `lo` to `hi` (ends exact), as `numpy.logspace`.
pub(crate) fn log_space(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (a, b) = (lo.log10(), hi.log10());
    (0..n)
        .map(|i| {
            if i == 0 {
                lo
            } else if i + 1 == n {
                hi
            } else {
                10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64)
            }
        })
        .collect()
}

/// A cubic spline with not-a-knot end conditions (the third derivative is
/// continuous at the second and second-to-last nodes), as
/// `scipy.interpolate.interp1d(kind='cubic')` builds it.
#[derive(Debug, Clone)]
pub(crate) struct NotAKnotSpline {
    x: Vec<f64>,
    y: Vec<f64>,
    /// Second derivatives at the nodes.
    m: Vec<f64>,
}

impl NotAKnotSpline {
    /// Needs at least 4 strictly increasing finite nodes and finite values.
    pub(crate) fn new(x: &[f64], y: &[f64]) -> Result<Self> {
        let n = x.len();
        if n != y.len() {
            return Err(Error::shape("spline nodes vs values", n, y.len()).into());
        }
        if n < 4 {
            return Err(Error::invalid_param("spline nodes", n, "at least 4").into());
        }
        for i in 0..n {
            if !(x[i].is_finite() && y[i].is_finite()) || (i > 0 && x[i] <= x[i - 1]) {
                return Err(Error::invalid_param(
                    format!("spline node {i}"),
                    format!("({}, {})", x[i], y[i]),
                    "finite, with strictly increasing x",
                )
                .into());
            }
        }
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let delta: Vec<f64> = (0..n - 1).map(|i| (y[i + 1] - y[i]) / h[i]).collect();
        // Unknowns M_1 .. M_{n-2}; tridiagonal rows (sub, diag, sup, rhs).
        let k = n - 2;
        let mut sub = vec![0.0; k];
        let mut diag = vec![0.0; k];
        let mut sup = vec![0.0; k];
        let mut rhs = vec![0.0; k];
        for j in 0..k {
            let i = j + 1;
            sub[j] = h[i - 1];
            diag[j] = 2.0 * (h[i - 1] + h[i]);
            sup[j] = h[i];
            rhs[j] = 6.0 * (delta[i] - delta[i - 1]);
        }
        // Not-a-knot: M_0 = ((h0 + h1) M_1 - h0 M_2) / h1, and its mirror.
        let (h0, h1) = (h[0], h[1]);
        diag[0] = (h0 + h1) * (h0 + 2.0 * h1) / h1;
        sup[0] = (h1 * h1 - h0 * h0) / h1;
        let (a, b) = (h[n - 3], h[n - 2]);
        diag[k - 1] = (a + b) * (2.0 * a + b) / a;
        sub[k - 1] = (a * a - b * b) / a;
        // Thomas algorithm.
        let mut c = vec![0.0; k];
        let mut d = vec![0.0; k];
        c[0] = sup[0] / diag[0];
        d[0] = rhs[0] / diag[0];
        for j in 1..k {
            let den = diag[j] - sub[j] * c[j - 1];
            c[j] = if j + 1 < k { sup[j] / den } else { 0.0 };
            d[j] = (rhs[j] - sub[j] * d[j - 1]) / den;
        }
        let mut mi = vec![0.0; k];
        mi[k - 1] = d[k - 1];
        for j in (0..k - 1).rev() {
            mi[j] = d[j] - c[j] * mi[j + 1];
        }
        let mut m = vec![0.0; n];
        m[1..n - 1].copy_from_slice(&mi);
        m[0] = ((h0 + h1) * m[1] - h0 * m[2]) / h1;
        m[n - 1] = ((a + b) * m[n - 2] - b * m[n - 3]) / a;
        if !m.iter().all(|v| v.is_finite()) {
            return Err(
                Error::numerical("not-a-knot spline", 0, f64::NAN, "singular system").into(),
            );
        }
        Ok(Self {
            x: x.to_vec(),
            y: y.to_vec(),
            m,
        })
    }

    /// The spline at `x` (clamped to the node range).
    pub(crate) fn eval(&self, x: f64) -> f64 {
        let n = self.x.len();
        let x = x.clamp(self.x[0], self.x[n - 1]);
        let i = (self.x.partition_point(|&v| v <= x).max(1) - 1).min(n - 2);
        let h = self.x[i + 1] - self.x[i];
        let (a, b) = (self.x[i + 1] - x, x - self.x[i]);
        self.m[i] * a * a * a / (6.0 * h)
            + self.m[i + 1] * b * b * b / (6.0 * h)
            + (self.y[i] / h - self.m[i] * h / 6.0) * a
            + (self.y[i + 1] / h - self.m[i + 1] * h / 6.0) * b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_knot_reproduces_cubics() {
        let x = [0.0, 0.3, 1.1, 1.5, 2.9, 3.0, 4.2];
        let f = |x: f64| 1.0 - 2.0 * x + 0.5 * x * x - 0.3 * x * x * x;
        let y: Vec<f64> = x.iter().map(|&v| f(v)).collect();
        let s = NotAKnotSpline::new(&x, &y).unwrap();
        for i in 0..=100 {
            let v = 4.2 * i as f64 / 100.0;
            assert!(
                (s.eval(v) - f(v)).abs() < 1e-11,
                "x {v}: {} vs {}",
                s.eval(v),
                f(v)
            );
        }
        // Four nodes: the single cubic through them.
        let x4 = [0.0, 1.0, 1.5, 3.0];
        let y4: Vec<f64> = x4.iter().map(|&v| f(v)).collect();
        let s4 = NotAKnotSpline::new(&x4, &y4).unwrap();
        assert!((s4.eval(2.2) - f(2.2)).abs() < 1e-12);
    }

    #[test]
    fn not_a_knot_matches_scipy() {
        // scipy 1.17.1: interp1d(x, y, kind='cubic') with
        // x = [1, 2, 4, 7, 11, 16], y = [0, 1, 0.5, 3, -1, 2], evaluated at
        // 1.5, 3, 5.5, 9, 13.7, 15.9.
        let x = [1.0, 2.0, 4.0, 7.0, 11.0, 16.0];
        let y = [0.0, 1.0, 0.5, 3.0, -1.0, 2.0];
        let want = [
            (1.5, 0.7334554416876423),
            (3.0, 0.7529425865995447),
            (5.5, 1.6849177454153181),
            (9.0, 1.8775020975668226),
            (13.7, -2.8446224919093837),
            (15.9, 1.6054623816373024),
        ];
        let s = NotAKnotSpline::new(&x, &y).unwrap();
        for (xv, yv) in want {
            assert!(
                (s.eval(xv) - yv).abs() < 1e-12,
                "x {xv}: {} vs {yv}",
                s.eval(xv)
            );
        }
    }

    #[test]
    fn spline_rejects_bad_nodes() {
        assert!(NotAKnotSpline::new(&[0.0, 1.0, 2.0], &[0.0, 1.0, 2.0]).is_err());
        assert!(NotAKnotSpline::new(&[0.0, 1.0, 1.0, 2.0], &[0.0; 4]).is_err());
        assert!(NotAKnotSpline::new(&[0.0, 1.0, 2.0, 3.0], &[0.0, f64::NAN, 0.0, 0.0]).is_err());
    }

    #[test]
    fn log_space_has_exact_ends() {
        let g = log_space(1e-27, 1e-22, 100);
        assert_eq!(g[0], 1e-27);
        assert_eq!(g[99], 1e-22);
        assert!((g[1] / g[0] - 10f64.powf(5.0 / 99.0)).abs() < 1e-12);
    }
}
