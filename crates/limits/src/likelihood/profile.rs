//! The stacked likelihood and its profile over the nuisance parameters.
//!
//! For a fixed $\langle\sigma v\rangle$ the targets share nothing else, so
//! $$-2\ln L_p(\langle\sigma v\rangle) = \sum_i \min_{t_i, \beta_i} \left[-2\ln L_i(\langle\sigma v\rangle, t_i, \beta_i)\right]$$
//! is a sum of independent one- or two-parameter minimisations. Each is solved
//! by a safeguarded Newton method with the analytic gradient and Hessian:
//! with $\lambda_b = s_b + B_b$, $s_b = \langle\sigma v\rangle 10^{t} k_b$,
//! $B_b = e^{\alpha_b + r_b\beta}$ and the Poisson deviance $d_b$,
//! $$\frac{\partial d_b}{\partial\theta} = \Big(1 - \frac{n_b}{\lambda_b}\Big)\frac{\partial\lambda_b}{\partial\theta},\qquad
//! \frac{\partial^2 d_b}{\partial\theta\,\partial\phi} = \frac{n_b}{\lambda_b^2}\frac{\partial\lambda_b}{\partial\theta}\frac{\partial\lambda_b}{\partial\phi} + \Big(1 - \frac{n_b}{\lambda_b}\Big)\frac{\partial^2\lambda_b}{\partial\theta\,\partial\phi},$$
//! $\partial_t\lambda_b = \ln(10)\,s_b$, $\partial_t^2\lambda_b = \ln(10)^2 s_b$,
//! $\partial_\beta\lambda_b = r_b B_b$, $\partial_\beta^2\lambda_b = r_b^2 B_b$, plus the
//! derivatives of the priors.
//!
//! **The Newton method.** Bounds are boxes (defaults as MLFermiLATDwarfs:
//! $\log_{10} J \in [10, 22]$, $\ln b \in [0, 7]$, [`ProfileOptions`]). At each
//! step a parameter sitting on a bound with its gradient pointing outwards is
//! held there; the others take the Newton step $-H^{-1}g$, or, where $H$ is not
//! positive definite, the step of $\hat H + \tau I$ in the parameters scaled
//! to a unit Hessian diagonal ($\hat H = D^{-1}HD^{-1}$, $D_{ii} = \sqrt{|H_{ii}|}$),
//! with $\tau$ lifting the smallest eigenvalue of $\hat H$ to $10^{-3}$, so the
//! step does not depend on the units of the parameters. Steps are capped at 2
//! units per parameter, projected onto the box, and halved until the Armijo
//! condition holds. Iterations stop when the predicted decrease
//! $\tfrac12 g^\top H^{-1} g$ of $-2\ln L$ falls below
//! [`ProfileOptions::tolerance`] or below the rounding error of $-2\ln L$
//! (about $\varepsilon\sum_b|\lambda_b - n_b|$), or when each free gradient
//! component is below its own rounding error (about $\varepsilon n$ per bin): with
//! $10^{12}$ to $10^{20}$ counts per bin a fixed tolerance of $10^{-10}$ cannot be
//! met in `f64` ([`MAX_COUNTS_PER_BIN`](crate::likelihood::poisson::MAX_COUNTS_PER_BIN)).
//!
//! **Starts.** A first evaluation (a "cold start") takes the best of a coarse
//! grid over the box plus the priors' modes; later evaluations through a
//! [`ProfileState`] start from the previous optimum (warm starts), which is
//! what makes a scan in $\langle\sigma v\rangle$ cost a few Newton steps per target.
//!
//! **Priors in the inner loop.** Closed-form priors (Gaussian $\log_{10} J$) are
//! evaluated directly. Others (empirical J, the void KDE on $\ln b$) are
//! tabulated once over the bounds plus a margin ([`PriorEvaluation::Tabulated`],
//! quintic Hermite, see [`TabulatedLnDensity`]); outside the table, and
//! always with [`PriorEvaluation::Exact`], the exact density is called.
//!
//! ```
//! use darkprobe_limits::likelihood::{BackgroundModel, JFactorModel, GaussianLogJ,
//!     JNormalisation, ProfileOptions, StackedLikelihood, Target};
//! let j = GaussianLogJ::new(18.0, 0.2, JNormalisation::MlFermiLatDwarfs)?;
//! let t = Target::new("a", vec![12.0, 7.0], vec![1e26, 1e26],
//!                     JFactorModel::Gaussian(j), BackgroundModel::Fixed(vec![8.0, 5.0]))?;
//! let stacked = StackedLikelihood::new(vec![t], ProfileOptions::default())?;
//! let p = stacked.profile(1e-44)?;
//! // At sigma_v = 1e-44 the signal is 1 count per bin at J = 1e18; both bins
//! // hold an excess over 8 + 1 and 5 + 1, so the fit pulls log10 J up a little
//! // (by about g / H = 2.3 / 54 ~ 0.04), against its prior of width 0.2.
//! let lj = p.targets[0].nuisances.log10_j.unwrap();
//! assert!(lj > 18.02 && lj < 18.08);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::Result;
use crate::likelihood::background::{BackgroundModel, LnDensity1d, TabulatedLnDensity};
use crate::likelihood::jfactor::JFactorModel;
use crate::likelihood::poisson::{poisson_deviance, saturated_ln_likelihood};
use crate::likelihood::target::{check_sigma_v, Target, TargetNuisances};
use darkprobe_core::Error;
use std::f64::consts::LN_10;
use std::sync::Arc;

/// How non-closed-form priors are evaluated inside the profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriorEvaluation {
    /// Tabulate once (quintic Hermite) over the bounds widened by `margin`
    /// on each side, and call the exact density only outside the table.
    Tabulated {
        /// Node spacing for an empirical J prior, dex; `None` uses a quarter
        /// of the KDE bandwidth.
        j_step_dex: Option<f64>,
        /// Node spacing for a background prior on $\ln b$ (default 0.01).
        ln_b_step: f64,
        /// Extra range on each side of the bounds (default 1.0), so that
        /// shifted priors (pseudo-experiments) stay inside the table.
        margin: f64,
    },
    /// Always call the exact densities (slow for KDE priors; for checks).
    Exact,
}

impl Default for PriorEvaluation {
    fn default() -> Self {
        PriorEvaluation::Tabulated {
            j_step_dex: None,
            ln_b_step: 0.01,
            margin: 1.0,
        }
    }
}

/// Settings of the profile over nuisance parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileOptions {
    /// Bounds on $\log_{10} J$ (default $[10, 22]$, as MLFermiLATDwarfs).
    pub log10_j_bounds: (f64, f64),
    /// Bounds on $\ln b$ (default $[0, 7]$, as MLFermiLATDwarfs).
    pub ln_b_bounds: (f64, f64),
    /// Newton stops when the predicted decrease of $-2\ln L$ of a target is
    /// below this (default $10^{-10}$).
    pub tolerance: f64,
    /// Maximum Newton iterations per target and evaluation (default 200).
    pub max_iter: usize,
    /// Grid points per free parameter of a cold start, $(\log_{10} J, \ln b)$
    /// (default $(13, 15)$); the priors' modes are always tried as well.
    pub cold_start_grid: (usize, usize),
    /// How priors without a closed form are evaluated.
    pub priors: PriorEvaluation,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self {
            log10_j_bounds: (10.0, 22.0),
            ln_b_bounds: (0.0, 7.0),
            tolerance: 1e-10,
            max_iter: 200,
            cold_start_grid: (13, 15),
            priors: PriorEvaluation::default(),
        }
    }
}

impl ProfileOptions {
    fn validate(&self) -> Result<()> {
        for (name, (lo, hi)) in [
            ("log10_j_bounds", self.log10_j_bounds),
            ("ln_b_bounds", self.ln_b_bounds),
        ] {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(Error::invalid_param(
                    format!("ProfileOptions::{name}"),
                    format!("({lo}, {hi})"),
                    "finite with lower < upper",
                )
                .into());
            }
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(Error::invalid_param(
                "ProfileOptions::tolerance",
                self.tolerance,
                "finite and > 0",
            )
            .into());
        }
        if self.max_iter == 0 {
            return Err(Error::invalid_param("ProfileOptions::max_iter", 0, ">= 1").into());
        }
        if self.cold_start_grid.0 < 2 || self.cold_start_grid.1 < 2 {
            return Err(Error::invalid_param(
                "ProfileOptions::cold_start_grid",
                format!("{:?}", self.cold_start_grid),
                "at least 2 points per parameter",
            )
            .into());
        }
        if let PriorEvaluation::Tabulated {
            j_step_dex,
            ln_b_step,
            margin,
        } = self.priors
        {
            if let Some(s) = j_step_dex {
                darkprobe_core::error::check_positive("PriorEvaluation::j_step_dex", s)?;
            }
            darkprobe_core::error::check_positive("PriorEvaluation::ln_b_step", ln_b_step)?;
            if !(margin.is_finite() && margin >= 0.0) {
                return Err(Error::invalid_param(
                    "PriorEvaluation::margin",
                    margin,
                    "finite and >= 0",
                )
                .into());
            }
        }
        Ok(())
    }
}

/// A prior as evaluated in the inner loop: $\ln p$ and two derivatives.
#[derive(Debug, Clone)]
enum PriorEval {
    /// No prior term (fixed or flat parameter).
    Flat,
    /// $\ln p = c - \tfrac12 (x - \mu)^2 / \sigma^2$.
    Gaussian {
        mean: f64,
        inv_var: f64,
        ln_norm: f64,
    },
    /// Tabulated, with the exact density as fallback; evaluated at $x - $ `shift`.
    Table {
        table: Arc<TabulatedLnDensity>,
        exact: Arc<dyn LnDensity1d>,
        shift: f64,
    },
    /// The exact density at $x - $ `shift`.
    Exact {
        exact: Arc<dyn LnDensity1d>,
        shift: f64,
    },
}

impl PriorEval {
    #[inline]
    fn eval(&self, x: f64) -> (f64, f64, f64) {
        match self {
            PriorEval::Flat => (0.0, 0.0, 0.0),
            PriorEval::Gaussian {
                mean,
                inv_var,
                ln_norm,
            } => {
                let d = x - mean;
                (ln_norm - 0.5 * d * d * inv_var, -d * inv_var, -inv_var)
            }
            PriorEval::Table {
                table,
                exact,
                shift,
            } => {
                let y = x - shift;
                table.eval(y).unwrap_or_else(|| exact.ln_pdf_derivatives(y))
            }
            PriorEval::Exact { exact, shift } => exact.ln_pdf_derivatives(x - shift),
        }
    }

    /// The shift of a tabulated or exact prior (0 otherwise; a Gaussian's
    /// shift is folded into its mean).
    fn shift(&self) -> f64 {
        match self {
            PriorEval::Table { shift, .. } | PriorEval::Exact { shift, .. } => *shift,
            _ => 0.0,
        }
    }

    /// The same prior with another shift; a Gaussian is returned unchanged
    /// (its mean is rebuilt by the caller).
    fn with_shift(&self, new_shift: f64) -> Self {
        match self {
            PriorEval::Flat => PriorEval::Flat,
            PriorEval::Gaussian { .. } => self.clone(),
            PriorEval::Table { table, exact, .. } => PriorEval::Table {
                table: table.clone(),
                exact: exact.clone(),
                shift: new_shift,
            },
            PriorEval::Exact { exact, .. } => PriorEval::Exact {
                exact: exact.clone(),
                shift: new_shift,
            },
        }
    }

    /// The mode of the unshifted prior, if known cheaply.
    fn unshifted_mode(&self, bounds: (f64, f64)) -> Option<f64> {
        match self {
            PriorEval::Flat => None,
            PriorEval::Gaussian { .. } => None,
            PriorEval::Table { table, .. } => Some(table.mode()),
            PriorEval::Exact { exact, .. } => {
                // A scan of the exact density over the bounds.
                let n = 200;
                let (lo, hi) = bounds;
                (0..=n)
                    .map(|i| lo + (hi - lo) * i as f64 / n as f64)
                    .map(|x| (x, exact.ln_pdf_and_derivative(x).0))
                    .filter(|(_, v)| v.is_finite())
                    .fold(None, |acc: Option<(f64, f64)>, (x, v)| match acc {
                        Some((_, best)) if best >= v => acc,
                        _ => Some((x, v)),
                    })
                    .map(|(x, v)| {
                        // Newton refinement within one scan step.
                        let step = (hi - lo) / n as f64;
                        let (a, b) = (x - step, x + step);
                        let mut best = (x, v);
                        let mut y = x;
                        for _ in 0..60 {
                            let (f, d1, d2) = exact.ln_pdf_derivatives(y);
                            if f > best.1 {
                                best = (y, f);
                            }
                            if d2 >= 0.0 || d2.is_nan() || d1 == 0.0 {
                                break;
                            }
                            let next = (y - d1 / d2).clamp(a, b);
                            if (next - y).abs() <= 1e-14 * (1.0 + y.abs()) {
                                break;
                            }
                            y = next;
                        }
                        best.0
                    })
            }
        }
    }
}

/// A target's background as evaluated in the inner loop.
#[derive(Debug, Clone)]
enum PreparedBackground {
    Fixed(Vec<f64>),
    /// $B_b = \exp(\alpha_b + r_b \beta)$.
    Exp {
        alpha: Vec<f64>,
        r: Vec<f64>,
    },
}

/// Value, gradient and Hessian (tt, tb, bb) of a target's $-2\ln L$ minus its
/// saturated constant, and the rounding error of the gradient.
#[derive(Debug, Clone, Copy)]
struct Eval {
    f: f64,
    g: [f64; 2],
    h: [f64; 3],
    /// An estimate of the rounding error of each gradient component: a
    /// gradient this small is zero to working precision (see
    /// [`Prepared::minimise`]).
    g_noise: [f64; 2],
    /// An estimate of the rounding error of `f`.
    f_noise: f64,
}

/// One target, precomputed for fast evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    n: Vec<f64>,
    k: Vec<f64>,
    bkg: PreparedBackground,
    free: [bool; 2],
    fixed_log10_j: f64,
    j_prior: PriorEval,
    b_prior: PriorEval,
    /// $-2\sum_b \ln P(n_b \mid n_b)$.
    constant: f64,
    lo: [f64; 2],
    hi: [f64; 2],
    /// Starting point for cold starts besides the grid.
    guess: [f64; 2],
    /// Modes of the unshifted priors (`NaN` without a prior).
    mode0: [f64; 2],
}

/// Maximum Newton step per parameter.
const MAX_STEP: f64 = 2.0;

impl Prepared {
    fn new(target: &Target, options: &ProfileOptions) -> Result<Self> {
        let (shift_j, shift_b) = target.prior_shifts();
        let n = target.counts().to_vec();
        let k = target.signal_coefficients().to_vec();
        let constant = -2.0 * n.iter().map(|&x| saturated_ln_likelihood(x)).sum::<f64>();
        let (jlo, jhi) = options.log10_j_bounds;
        let (blo, bhi) = options.ln_b_bounds;
        let (fixed_log10_j, j_prior, j_free) = match target.j_factor() {
            JFactorModel::Fixed { log10_j } => (*log10_j, PriorEval::Flat, false),
            JFactorModel::Gaussian(g) => {
                let (ln_norm, _, minus_inv_var) = g.ln_likelihood_derivatives(g.log10_j_obs());
                (
                    g.log10_j_obs(),
                    PriorEval::Gaussian {
                        mean: g.log10_j_obs() + shift_j,
                        inv_var: -minus_inv_var,
                        ln_norm,
                    },
                    true,
                )
            }
            JFactorModel::Empirical(e) => {
                let exact: Arc<dyn LnDensity1d> = e.clone();
                let prior = match options.priors {
                    PriorEvaluation::Exact => PriorEval::Exact {
                        exact,
                        shift: shift_j,
                    },
                    PriorEvaluation::Tabulated {
                        j_step_dex, margin, ..
                    } => {
                        let step = j_step_dex.unwrap_or(0.25 * e.bandwidth_dex());
                        let table =
                            TabulatedLnDensity::new(e.as_ref(), jlo - margin, jhi + margin, step)?;
                        PriorEval::Table {
                            table: Arc::new(table),
                            exact,
                            shift: shift_j,
                        }
                    }
                };
                (e.mean(), prior, true)
            }
        };
        let (bkg, b_prior, b_free) = match target.background() {
            BackgroundModel::Fixed(b) => {
                (PreparedBackground::Fixed(b.clone()), PriorEval::Flat, false)
            }
            BackgroundModel::Profiled { scaling, prior } => {
                let (alpha, r) = scaling.exponents();
                let p = match prior {
                    None => PriorEval::Flat,
                    Some(d) => match options.priors {
                        PriorEvaluation::Exact => PriorEval::Exact {
                            exact: d.clone(),
                            shift: shift_b,
                        },
                        PriorEvaluation::Tabulated {
                            ln_b_step, margin, ..
                        } => PriorEval::Table {
                            table: Arc::new(TabulatedLnDensity::new(
                                d.as_ref(),
                                blo - margin,
                                bhi + margin,
                                ln_b_step,
                            )?),
                            exact: d.clone(),
                            shift: shift_b,
                        },
                    },
                };
                (PreparedBackground::Exp { alpha, r }, p, true)
            }
        };
        let mut p = Self {
            n,
            k,
            bkg,
            free: [j_free, b_free],
            fixed_log10_j,
            j_prior,
            b_prior,
            constant,
            lo: [jlo, blo],
            hi: [jhi, bhi],
            guess: [0.0, 0.0],
            mode0: [f64::NAN, f64::NAN],
        };
        let j_mode = match target.j_factor() {
            JFactorModel::Fixed { .. } => f64::NAN,
            JFactorModel::Gaussian(g) => g.log10_j_obs(),
            JFactorModel::Empirical(e) => p
                .j_prior
                .unshifted_mode((jlo - 1.0, jhi + 1.0))
                .unwrap_or_else(|| e.mean()),
        };
        let b_mode = p
            .b_prior
            .unshifted_mode((blo - 1.0, bhi + 1.0))
            .unwrap_or(f64::NAN);
        p.mode0 = [j_mode, b_mode];
        p.guess = p.compute_guess();
        Ok(p)
    }

    fn compute_guess(&self) -> [f64; 2] {
        let shift_j = self.j_prior.shift();
        let shift_b = self.b_prior.shift();
        let j = match &self.j_prior {
            PriorEval::Gaussian { mean, .. } => *mean,
            _ if self.mode0[0].is_nan() => self.fixed_log10_j,
            _ => self.mode0[0] + shift_j,
        };
        let b = if self.mode0[1].is_nan() {
            0.5 * (self.lo[1] + self.hi[1])
        } else {
            self.mode0[1] + shift_b
        };
        [
            if self.free[0] {
                j.clamp(self.lo[0], self.hi[0])
            } else {
                self.fixed_log10_j
            },
            if self.free[1] {
                b.clamp(self.lo[1], self.hi[1])
            } else {
                0.0
            },
        ]
    }

    /// The background prior's table, when it was tabulated.
    pub(crate) fn background_table(&self) -> Option<Arc<TabulatedLnDensity>> {
        match &self.b_prior {
            PriorEval::Table { table, .. } => Some(table.clone()),
            _ => None,
        }
    }

    /// The modes of the unshifted priors ($\log_{10} J$, $\ln b$); `NaN` where
    /// there is no prior.
    pub(crate) fn prior_modes(&self) -> [f64; 2] {
        self.mode0
    }

    /// The same target with other counts and prior shifts (tables shared).
    pub(crate) fn with_counts_and_shifts(&self, target: &Target) -> Self {
        let (shift_j, shift_b) = target.prior_shifts();
        let n = target.counts().to_vec();
        let constant = -2.0 * n.iter().map(|&x| saturated_ln_likelihood(x)).sum::<f64>();
        let j_prior = match (&self.j_prior, target.j_factor()) {
            (
                PriorEval::Gaussian {
                    inv_var, ln_norm, ..
                },
                JFactorModel::Gaussian(g),
            ) => PriorEval::Gaussian {
                mean: g.log10_j_obs() + shift_j,
                inv_var: *inv_var,
                ln_norm: *ln_norm,
            },
            (other, _) => other.with_shift(shift_j),
        };
        let mut p = Self {
            n,
            k: target.signal_coefficients().to_vec(),
            constant,
            j_prior,
            b_prior: self.b_prior.with_shift(shift_b),
            ..self.clone()
        };
        p.guess = p.compute_guess();
        p
    }

    fn clamp(&self, x: [f64; 2]) -> [f64; 2] {
        [
            if self.free[0] {
                x[0].clamp(self.lo[0], self.hi[0])
            } else {
                self.fixed_log10_j
            },
            if self.free[1] {
                x[1].clamp(self.lo[1], self.hi[1])
            } else {
                0.0
            },
        ]
    }

    /// $-2\ln L$ minus the constant, with gradient and Hessian in $(t, \beta)$.
    #[inline]
    fn eval(&self, sv: f64, x: [f64; 2]) -> Eval {
        let (t, u) = (x[0], x[1]);
        let a = sv * (LN_10 * t).exp();
        let (mut f, mut g0, mut g1, mut h00, mut h01, mut h11) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        // Rounding: s and B carry a relative error of a few ulps times the
        // size of their exponent; an error delta * lambda in lambda moves
        // the gradient term w1 * dlambda by (n / lambda + |w1|) |dlambda| delta.
        let (mut n0, mut n1, mut nf) = (0.0, 0.0, 0.0);
        let delta_s = f64::EPSILON * (4.0 + (LN_10 * t).abs());
        match &self.bkg {
            PreparedBackground::Fixed(bk) => {
                for ((&n, &k), &bb) in self.n.iter().zip(&self.k).zip(bk) {
                    let s = a * k;
                    let lam = s + bb;
                    let d = poisson_deviance(n, lam);
                    f += d;
                    let (w1, w2) = dev_weights(n, lam);
                    let lt = LN_10 * s;
                    g0 += w1 * lt;
                    h00 += w2 * lt * lt + w1 * LN_10 * lt;
                    n0 += (w2 * lam + w1.abs()) * lt * delta_s;
                    nf += 2.0 * (lam - n).abs() + d;
                }
            }
            PreparedBackground::Exp { alpha, r } => {
                for (((&n, &k), &al), &rb) in self.n.iter().zip(&self.k).zip(alpha).zip(r) {
                    let s = a * k;
                    let arg = al + rb * u;
                    let bb = arg.exp();
                    let lam = s + bb;
                    let d = poisson_deviance(n, lam);
                    f += d;
                    let (w1, w2) = dev_weights(n, lam);
                    let lt = LN_10 * s;
                    let lu = rb * bb;
                    nf += 2.0 * (lam - n).abs() + d;
                    g0 += w1 * lt;
                    g1 += w1 * lu;
                    h00 += w2 * lt * lt + w1 * LN_10 * lt;
                    h01 += w2 * lt * lu;
                    h11 += w2 * lu * lu + w1 * rb * lu;
                    let delta = delta_s.max(f64::EPSILON * (4.0 + arg.abs()));
                    let amp = w2 * lam + w1.abs();
                    n0 += amp * lt * delta;
                    n1 += amp * lu.abs() * delta;
                }
            }
        }
        let (pj, dj, ddj) = if self.free[0] {
            self.j_prior.eval(t)
        } else {
            (0.0, 0.0, 0.0)
        };
        let (pb, db, ddb) = if self.free[1] {
            self.b_prior.eval(u)
        } else {
            (0.0, 0.0, 0.0)
        };
        let eps4 = 4.0 * f64::EPSILON;
        Eval {
            f: 2.0 * f - 2.0 * (pj + pb),
            g: [2.0 * g0 - 2.0 * dj, 2.0 * g1 - 2.0 * db],
            h: [2.0 * h00 - 2.0 * ddj, 2.0 * h01, 2.0 * h11 - 2.0 * ddb],
            g_noise: [
                2.0 * n0 + eps4 * (g0.abs() + dj.abs()),
                2.0 * n1 + eps4 * (g1.abs() + db.abs()),
            ],
            f_noise: eps4 * (2.0 * nf + pj.abs() + pb.abs()),
        }
    }

    /// $\partial f/\partial\langle\sigma v\rangle$ and the profile's second
    /// derivative $f_{ss} - f_{s\theta} H^{-1} f_{\theta s}$ at an optimum.
    fn sv_derivatives(&self, sv: f64, x: [f64; 2], free: [bool; 2]) -> (f64, f64) {
        let (t, u) = (x[0], x[1]);
        let j = (LN_10 * t).exp();
        let a = sv * j;
        let (mut fs, mut fss, mut fst, mut fsu) = (0.0, 0.0, 0.0, 0.0);
        for b in 0..self.n.len() {
            let (n, k) = (self.n[b], self.k[b]);
            let s = a * k;
            let (bb, rb) = match &self.bkg {
                PreparedBackground::Fixed(v) => (v[b], 0.0),
                PreparedBackground::Exp { alpha, r } => ((alpha[b] + r[b] * u).exp(), r[b]),
            };
            let lam = s + bb;
            let (w1, w2) = dev_weights(n, lam);
            let ls = j * k;
            fs += w1 * ls;
            fss += w2 * ls * ls;
            fst += w2 * ls * LN_10 * s + w1 * LN_10 * ls;
            fsu += w2 * ls * rb * bb;
        }
        let e = self.eval(sv, x);
        let (fst, fsu) = (2.0 * fst, 2.0 * fsu);
        let fss = 2.0 * fss;
        let correction = match (free[0], free[1]) {
            (true, true) => {
                let det = e.h[0] * e.h[2] - e.h[1] * e.h[1];
                if det > 0.0 && e.h[0] > 0.0 {
                    (fst * fst * e.h[2] - 2.0 * fst * fsu * e.h[1] + fsu * fsu * e.h[0]) / det
                } else {
                    0.0
                }
            }
            (true, false) if e.h[0] > 0.0 => fst * fst / e.h[0],
            (false, true) if e.h[2] > 0.0 => fsu * fsu / e.h[2],
            _ => 0.0,
        };
        (2.0 * fs, fss - correction)
    }

    /// Which parameters may move at `x` given the gradient (bound-active
    /// parameters are held).
    fn free_set(&self, x: [f64; 2], g: [f64; 2]) -> [bool; 2] {
        let mut free = self.free;
        for i in 0..2 {
            if free[i] && ((x[i] <= self.lo[i] && g[i] > 0.0) || (x[i] >= self.hi[i] && g[i] < 0.0))
            {
                free[i] = false;
            }
        }
        free
    }

    /// Minimises over the nuisances from `x0`; returns the fit.
    fn minimise(&self, sv: f64, x0: [f64; 2], options: &ProfileOptions) -> Result<Fit> {
        let mut x = self.clamp(x0);
        let mut e = self.eval(sv, x);
        if e.f.is_nan() {
            return Err(Error::numerical(
                "profile likelihood (Newton)",
                0,
                e.f,
                format!("-2 ln L is NaN at sigma_v = {sv:e}, nuisances {x:?}"),
            )
            .into());
        }
        if e.f == f64::INFINITY || !(self.free[0] || self.free[1]) {
            return Ok(Fit {
                x,
                f: e.f,
                n_iter: 0,
            });
        }
        for iter in 1..=options.max_iter {
            let free = self.free_set(x, e.g);
            let (p, positive_definite) = newton_direction(e.g, e.h, free);
            let decrease = -(e.g[0] * p[0] + e.g[1] * p[1]);
            // Converged when the predicted decrease is below the tolerance or
            // below the rounding error of f (with n ~ 1e12 counts per bin,
            // f = sum of (lambda - n) - n ln(lambda / n) carries an error of
            // ~eps |lambda - n| ~ 1e-10, and no step can show a smaller
            // decrease), or when every free gradient component is below its
            // rounding error (with n ~ 1e17 and more, exp() quantises the
            // background to ~eps n counts, and the gradient of a point that
            // is optimal to working precision is ~eps n, not 0).
            let at_rounding_floor = (0..2).all(|i| !free[i] || e.g[i].abs() <= e.g_noise[i]);
            let resolution = options.tolerance.max(e.f_noise);
            if positive_definite && (0.5 * decrease <= resolution || at_rounding_floor) {
                return Ok(Fit {
                    x,
                    f: e.f,
                    n_iter: iter - 1,
                });
            }
            if !(free[0] || free[1]) || !decrease.is_finite() {
                return Ok(Fit {
                    x,
                    f: e.f,
                    n_iter: iter - 1,
                });
            }
            let biggest = p[0].abs().max(p[1].abs());
            let mut alpha = if biggest > MAX_STEP {
                MAX_STEP / biggest
            } else {
                1.0
            };
            let mut accepted = None;
            for _ in 0..60 {
                let xn = self.clamp([x[0] + alpha * p[0], x[1] + alpha * p[1]]);
                let en = self.eval(sv, xn);
                let slope = e.g[0] * (xn[0] - x[0]) + e.g[1] * (xn[1] - x[1]);
                if en.f.is_finite() && en.f <= e.f + 1e-4 * slope {
                    accepted = Some((xn, en));
                    break;
                }
                alpha *= 0.5;
            }
            match accepted {
                Some((xn, en)) => {
                    let moved = xn != x;
                    x = xn;
                    e = en;
                    if !moved {
                        return Ok(Fit {
                            x,
                            f: e.f,
                            n_iter: iter,
                        });
                    }
                }
                // No decrease along a descent direction: f is at its rounding floor.
                None => {
                    return Ok(Fit {
                        x,
                        f: e.f,
                        n_iter: iter,
                    })
                }
            }
        }
        Err(Error::numerical(
            "profile likelihood (Newton)",
            options.max_iter,
            e.f,
            format!(
                "no convergence at sigma_v = {sv:e}; last nuisances {x:?}, gradient {:?}",
                e.g
            ),
        )
        .into())
    }

    /// The best start among a coarse grid over the box and the guess.
    fn cold_start(&self, sv: f64, options: &ProfileOptions) -> [f64; 2] {
        let mut best = (self.guess, self.eval(sv, self.guess).f);
        let nj = if self.free[0] {
            options.cold_start_grid.0
        } else {
            1
        };
        let nb = if self.free[1] {
            options.cold_start_grid.1
        } else {
            1
        };
        let at = |i: usize, n: usize, d: usize| {
            if n == 1 {
                self.guess[d]
            } else {
                self.lo[d] + (self.hi[d] - self.lo[d]) * i as f64 / (n - 1) as f64
            }
        };
        for i in 0..nj {
            for j in 0..nb {
                let x = [at(i, nj, 0), at(j, nb, 1)];
                let f = self.eval(sv, x).f;
                if f < best.1 || best.1.is_nan() {
                    best = (x, f);
                }
            }
        }
        best.0
    }

    fn nuisances(&self, x: [f64; 2]) -> TargetNuisances {
        TargetNuisances {
            log10_j: self.free[0].then_some(x[0]),
            ln_b: self.free[1].then_some(x[1]),
        }
    }

    fn at_bound(&self, x: [f64; 2]) -> [bool; 2] {
        [
            self.free[0] && (x[0] <= self.lo[0] || x[0] >= self.hi[0]),
            self.free[1] && (x[1] <= self.lo[1] || x[1] >= self.hi[1]),
        ]
    }

    /// $\sum_b k_b\,10^{t}$: signal counts per unit cross-section.
    fn counts_per_sigma_v(&self, x: [f64; 2]) -> f64 {
        self.k.iter().sum::<f64>() * (LN_10 * x[0]).exp()
    }

    pub(crate) fn start_values(&self) -> [f64; 2] {
        self.guess
    }
}

/// $(\partial d/\partial\lambda, \partial^2 d/\partial\lambda^2) = (1 - n/\lambda, n/\lambda^2)$,
/// with $n = 0$ handled exactly.
#[inline]
fn dev_weights(n: f64, lam: f64) -> (f64, f64) {
    if n == 0.0 {
        (1.0, 0.0)
    } else {
        let q = n / lam;
        (1.0 - q, q / lam)
    }
}

/// The (modified) Newton direction on the free parameters, and whether the
/// free Hessian was positive definite.
///
/// Where the 2x2 Hessian is not positive definite, it is first scaled to a
/// unit diagonal, $\hat H = D^{-1} H D^{-1}$ with $D = \mathrm{diag}(\sqrt{|h_{ii}|})$,
/// and the shift $\tau I$ lifting its smallest eigenvalue is applied to
/// $\hat H$. Shifting $H$ itself by a multiple of its largest diagonal entry
/// (as this function did before) is not invariant to the scales of the two
/// parameters: with huge counts the curvature in $\log_{10} J$ is ~$10^8$
/// while the background direction has a curvature ~$-10^2$ (the Poisson term
/// is concave in $\ln b$ when the counts exceed the prediction), and the
/// step in $\ln b$ shrank to ~$10^{-4}$ per iteration.
#[inline]
fn newton_direction(g: [f64; 2], h: [f64; 3], free: [bool; 2]) -> ([f64; 2], bool) {
    match free {
        [false, false] => ([0.0, 0.0], true),
        [true, false] | [false, true] => {
            let i = if free[0] { 0 } else { 1 };
            let a = if i == 0 { h[0] } else { h[2] };
            let mut p = [0.0, 0.0];
            if a > 0.0 {
                p[i] = -g[i] / a;
                (p, true)
            } else {
                p[i] = -g[i].signum() * MAX_STEP;
                (p, false)
            }
        }
        [true, true] => {
            let (a, b, c) = (h[0], h[1], h[2]);
            let det = a * c - b * b;
            if a > 0.0 && c > 0.0 && det > 1e-12 * a * c {
                return (
                    [-(c * g[0] - b * g[1]) / det, -(a * g[1] - b * g[0]) / det],
                    true,
                );
            }
            // Scale to a unit diagonal (a zero diagonal stays zero).
            let floor = f64::MIN_POSITIVE;
            let (da, dc) = (a.abs().max(floor).sqrt(), c.abs().max(floor).sqrt());
            let (sa, sb, sc) = (a / (da * da), b / (da * dc), c / (dc * dc));
            let (ga, gc) = (g[0] / da, g[1] / dc);
            // Lift the smallest eigenvalue of the scaled matrix to 1e-3.
            let m = 0.5 * (sa + sc);
            let r = (0.25 * (sa - sc) * (sa - sc) + sb * sb).sqrt();
            let tau = (1e-3 - (m - r)).max(0.0);
            let (a2, c2) = (sa + tau, sc + tau);
            let det2 = a2 * c2 - sb * sb;
            let p = [
                -(c2 * ga - sb * gc) / det2 / da,
                -(a2 * gc - sb * ga) / det2 / dc,
            ];
            if det2 > 0.0 && p[0].is_finite() && p[1].is_finite() {
                (p, false)
            } else {
                (
                    [-g[0].signum() * MAX_STEP, -g[1].signum() * MAX_STEP],
                    false,
                )
            }
        }
    }
}

/// The result of one target's minimisation.
#[derive(Debug, Clone, Copy)]
struct Fit {
    x: [f64; 2],
    f: f64,
    n_iter: usize,
}

/// One target at the profile's optimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetFit {
    /// The profiled nuisances (`None` for parameters the target does not have).
    pub nuisances: TargetNuisances,
    /// The target's $-2\ln L$ there (Poisson terms with $\ln n!$, priors with
    /// their normalisations).
    pub neg2_ln_l: f64,
    /// Newton iterations used.
    pub n_iter: usize,
    /// Whether $\log_{10} J$ / $\ln b$ ended on a bound.
    pub at_bound: [bool; 2],
}

/// The profile of the stacked likelihood at one cross-section.
#[derive(Debug, Clone, PartialEq)]
pub struct StackedProfile {
    /// The cross-section, cm³ s⁻¹.
    pub sigma_v_cm3_s: f64,
    /// $-2\ln L_p$, the sum over targets.
    pub neg2_ln_l: f64,
    /// Each target's fit, in the order of the targets.
    pub targets: Vec<TargetFit>,
}

/// Warm-start memory for repeated profiles (a scan or a root search): the
/// last optimum of every target. Create it with
/// [`StackedLikelihood::new_state`]; reuse it across calls to
/// [`StackedLikelihood::profile_with`] to avoid allocation and cold starts.
#[derive(Debug, Clone)]
pub struct ProfileState {
    x: Vec<[f64; 2]>,
    f: Vec<f64>,
    n_iter: Vec<usize>,
    started: bool,
    pub(crate) sigma_v: f64,
    /// Total Newton iterations over the state's life.
    pub total_iterations: usize,
    /// Number of stacked profile evaluations over the state's life.
    pub n_profiles: usize,
}

impl ProfileState {
    /// Stores target `i`'s optimum and returns its $-2\ln L$.
    fn record(&mut self, i: usize, fit: &Fit) -> f64 {
        self.x[i] = fit.x;
        self.f[i] = fit.f;
        self.n_iter[i] = fit.n_iter;
        self.total_iterations += fit.n_iter;
        fit.f
    }
}

/// The stacked likelihood of several targets sharing $\langle\sigma v\rangle$,
/// ready for fast profiling; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct StackedLikelihood {
    targets: Vec<Target>,
    prepared: Vec<Prepared>,
    options: ProfileOptions,
    constant: f64,
}

/// A J prior centred outside the profile bounds is cut at the bound: the
/// fit holds $\log_{10} J$ there, many prior widths away from its centre, and
/// the limit silently corresponds to the bound's J-factor (a dwarf with
/// $\log_{10} J = 24 \pm 0.15$ and the default bounds $[10, 22]$ got the limit
/// of $J = 10^{22}$, 100 times weaker). That is an error.
fn check_j_prior_inside_bounds(target: &Target, options: &ProfileOptions) -> Result<()> {
    let (lo, hi) = options.log10_j_bounds;
    let centre = match target.j_factor() {
        JFactorModel::Fixed { .. } => return Ok(()),
        JFactorModel::Gaussian(g) => g.log10_j_obs() + target.prior_shifts().0,
        JFactorModel::Empirical(e) => e.mean() + target.prior_shifts().0,
    };
    if (lo..=hi).contains(&centre) {
        Ok(())
    } else {
        Err(Error::invalid_param(
            format!("J prior of target '{}': its centre log10 J", target.name()),
            centre,
            format!(
                "inside the profile bounds [{lo}, {hi}] (ProfileOptions::log10_j_bounds; \
                 widen them, a prior centred outside is cut at the bound)"
            ),
        )
        .into())
    }
}

impl StackedLikelihood {
    /// Prepares `targets` for profiling (validates the options, tabulates the
    /// priors that need it).
    ///
    /// # Errors
    /// No targets, invalid options, a J prior centred outside
    /// [`ProfileOptions::log10_j_bounds`], or a prior that cannot be tabulated
    /// over the bounds (non-finite there).
    pub fn new(targets: Vec<Target>, options: ProfileOptions) -> Result<Self> {
        options.validate()?;
        if targets.is_empty() {
            return Err(Error::empty("stacked likelihood", "give at least one target").into());
        }
        for t in &targets {
            check_j_prior_inside_bounds(t, &options)?;
        }
        // Tabulating the priors is the expensive part: one target per task.
        let prepared = darkprobe_core::par::map_indices(targets.len(), |i| {
            Prepared::new(&targets[i], &options)
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let constant = prepared.iter().map(|p| p.constant).sum();
        Ok(Self {
            targets,
            prepared,
            options,
            constant,
        })
    }

    /// The same likelihood with other targets of identical structure (new
    /// counts or prior shifts), reusing the prior tables.
    pub(crate) fn with_targets(&self, targets: Vec<Target>) -> Self {
        let prepared: Vec<Prepared> = self
            .prepared
            .iter()
            .zip(&targets)
            .map(|(p, t)| p.with_counts_and_shifts(t))
            .collect();
        let constant = prepared.iter().map(|p| p.constant).sum();
        Self {
            targets,
            prepared,
            options: self.options,
            constant,
        }
    }

    /// The same likelihood with new signal coefficients, one vector per
    /// target (e.g. the next mass of a scan), reusing the prior tables, so
    /// that a mass scan pays for the tabulation once.
    ///
    /// # Errors
    /// Wrong number of vectors, or as [`Target::with_signal_coefficients`].
    ///
    /// ```
    /// use darkprobe_limits::likelihood::{BackgroundModel, JFactorModel, ProfileOptions,
    ///     StackedLikelihood, Target, LimitOptions};
    /// let t = Target::new("a", vec![3.0], vec![1e26], JFactorModel::Fixed { log10_j: 18.0 },
    ///                     BackgroundModel::Fixed(vec![3.0]))?;
    /// let s = StackedLikelihood::new(vec![t], ProfileOptions::default())?;
    /// let heavier = s.with_signal_coefficients(&[vec![0.25e26]])?;
    /// let (a, b) = (s.upper_limit(&LimitOptions::default())?, heavier.upper_limit(&LimitOptions::default())?);
    /// // A quarter of the signal per unit cross-section: four times the limit.
    /// assert!((b.sigma_v_ul_cm3_s / a.sigma_v_ul_cm3_s - 4.0).abs() < 1e-6);
    /// # Ok::<(), darkprobe_limits::LimitsError>(())
    /// ```
    pub fn with_signal_coefficients(&self, per_target: &[Vec<f64>]) -> Result<Self> {
        if per_target.len() != self.targets.len() {
            return Err(Error::shape(
                "signal coefficients vs targets",
                self.targets.len(),
                per_target.len(),
            )
            .into());
        }
        let targets = self
            .targets
            .iter()
            .zip(per_target)
            .map(|(t, k)| t.with_signal_coefficients(k.clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.with_targets(targets))
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The profile options.
    pub fn options(&self) -> &ProfileOptions {
        &self.options
    }

    pub(crate) fn prepared(&self) -> &[Prepared] {
        &self.prepared
    }

    /// $-2\ln L$ at given cross-section and nuisances (one entry per target),
    /// with exact priors (no tables): the reference the profile is tested against.
    ///
    /// # Errors
    /// Wrong number of entries, or as [`Target::neg2_ln_likelihood`].
    pub fn neg2_ln_likelihood(
        &self,
        sigma_v_cm3_s: f64,
        nuisances: &[TargetNuisances],
    ) -> Result<f64> {
        if nuisances.len() != self.targets.len() {
            return Err(
                Error::shape("nuisances vs targets", self.targets.len(), nuisances.len()).into(),
            );
        }
        let mut total = 0.0;
        for (t, n) in self.targets.iter().zip(nuisances) {
            total += t.neg2_ln_likelihood(sigma_v_cm3_s, *n)?;
        }
        Ok(total)
    }

    /// A state of another likelihood (other number of targets) is an error.
    fn check_state(&self, state: &ProfileState) -> Result<()> {
        if state.x.len() != self.prepared.len() {
            return Err(Error::shape(
                "profile state vs targets",
                self.prepared.len(),
                state.x.len(),
            )
            .into());
        }
        Ok(())
    }

    /// A fresh warm-start state (the first profile through it cold-starts).
    pub fn new_state(&self) -> ProfileState {
        ProfileState {
            x: self.prepared.iter().map(|p| p.guess).collect(),
            f: vec![0.0; self.prepared.len()],
            n_iter: vec![0; self.prepared.len()],
            started: false,
            sigma_v: 0.0,
            total_iterations: 0,
            n_profiles: 0,
        }
    }

    /// $-2\ln L_p(\langle\sigma v\rangle)$, warm-started from `state` (cold
    /// start on its first use), leaving the optimum in `state`. Allocation-free.
    ///
    /// # Errors
    /// A negative or non-finite cross-section; a state made for another
    /// likelihood; Newton non-convergence or a `NaN` likelihood.
    pub fn profile_with(&self, sigma_v_cm3_s: f64, state: &mut ProfileState) -> Result<f64> {
        check_sigma_v(sigma_v_cm3_s)?;
        self.check_state(state)?;
        let mut total = self.constant;
        for (i, p) in self.prepared.iter().enumerate() {
            let x0 = if state.started {
                state.x[i]
            } else {
                p.cold_start(sigma_v_cm3_s, &self.options)
            };
            let fit = p.minimise(sigma_v_cm3_s, x0, &self.options)?;
            total += state.record(i, &fit);
        }
        state.started = true;
        state.sigma_v = sigma_v_cm3_s;
        state.n_profiles += 1;
        Ok(total)
    }

    /// As [`profile_with`](Self::profile_with), but each target is also
    /// minimised from its optimum in `anchor` (another state of this
    /// likelihood, e.g. the best fit), and the lower of the two minima is
    /// kept. A warm start from a distant cross-section can fall into another
    /// local minimum of the nuisances (a multimodal void-KDE prior on ln b
    /// has several); the anchor keeps the search on the branch it came from.
    ///
    /// # Errors
    /// As [`profile_with`](Self::profile_with); a Newton failure from one
    /// start is an error only if the other start fails too.
    pub(crate) fn profile_with_anchor(
        &self,
        sigma_v_cm3_s: f64,
        state: &mut ProfileState,
        anchor: &ProfileState,
    ) -> Result<f64> {
        if !(state.started && anchor.started) || anchor.x.len() != state.x.len() {
            return self.profile_with(sigma_v_cm3_s, state);
        }
        check_sigma_v(sigma_v_cm3_s)?;
        self.check_state(state)?;
        let mut total = self.constant;
        for (i, p) in self.prepared.iter().enumerate() {
            let warm = p.minimise(sigma_v_cm3_s, state.x[i], &self.options);
            let fit = if anchor.x[i] == state.x[i] {
                warm?
            } else {
                let other = p.minimise(sigma_v_cm3_s, anchor.x[i], &self.options);
                match (warm, other) {
                    (Ok(a), Ok(b)) => {
                        if b.f < a.f {
                            b
                        } else {
                            a
                        }
                    }
                    (Ok(a), Err(_)) | (Err(_), Ok(a)) => a,
                    (Err(e), Err(_)) => return Err(e),
                }
            };
            total += state.record(i, &fit);
        }
        state.sigma_v = sigma_v_cm3_s;
        state.n_profiles += 1;
        Ok(total)
    }

    /// The full profile at `sigma_v_cm3_s`, cold-started.
    ///
    /// # Errors
    /// As [`profile_with`](Self::profile_with).
    pub fn profile(&self, sigma_v_cm3_s: f64) -> Result<StackedProfile> {
        let mut state = self.new_state();
        self.profile_with(sigma_v_cm3_s, &mut state)?;
        Ok(self.profile_from_state(&state))
    }

    /// The profile stored in `state` by the last [`profile_with`](Self::profile_with).
    pub fn profile_from_state(&self, state: &ProfileState) -> StackedProfile {
        let targets: Vec<TargetFit> = self
            .prepared
            .iter()
            .enumerate()
            .map(|(i, p)| TargetFit {
                nuisances: p.nuisances(state.x[i]),
                neg2_ln_l: state.f[i] + p.constant,
                n_iter: state.n_iter[i],
                at_bound: p.at_bound(state.x[i]),
            })
            .collect();
        StackedProfile {
            sigma_v_cm3_s: state.sigma_v,
            neg2_ln_l: self.constant + state.f.iter().sum::<f64>(),
            targets,
        }
    }

    /// First and second derivatives of $-2\ln L_p$ in $\langle\sigma v\rangle$
    /// at the optimum stored in `state` (envelope theorem; the second
    /// derivative accounts for the nuisances' response, with parameters on a
    /// bound held fixed).
    pub fn profile_derivatives(&self, state: &ProfileState) -> (f64, f64) {
        let sv = state.sigma_v;
        let mut d1 = 0.0;
        let mut d2 = 0.0;
        for (i, p) in self.prepared.iter().enumerate() {
            let x = state.x[i];
            let g = p.eval(sv, x).g;
            let free = p.free_set(x, g);
            let (a, b) = p.sv_derivatives(sv, x, free);
            d1 += a;
            d2 += b;
        }
        (d1, d2)
    }

    /// Signal counts per unit cross-section summed over targets at the
    /// nuisances in `state`, $\sum_i 10^{t_i}\sum_b k_{ib}$ (sets the natural
    /// scale of $\langle\sigma v\rangle$).
    pub fn counts_per_sigma_v(&self, state: &ProfileState) -> f64 {
        self.prepared
            .iter()
            .zip(&state.x)
            .map(|(p, x)| p.counts_per_sigma_v(*x))
            .sum()
    }

    /// The cold-start guesses of the nuisances, one per target (prior modes,
    /// fixed values or mid-bounds).
    pub fn nominal_nuisances(&self) -> Vec<TargetNuisances> {
        self.prepared
            .iter()
            .map(|p| p.nuisances(p.start_values()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likelihood::background::{BackgroundScaling, NormalLnDensity};
    use crate::likelihood::jfactor::{GaussianLogJ, JNormalisation};

    fn two_param_target() -> Target {
        Target::new(
            "t",
            vec![30.0, 22.0, 9.0, 4.0],
            vec![2e26, 1.5e26, 1e26, 0.8e26],
            JFactorModel::Gaussian(
                GaussianLogJ::new(18.3, 0.25, JNormalisation::FermiLat2015).unwrap(),
            ),
            BackgroundModel::Profiled {
                scaling: BackgroundScaling::LogRatios(vec![1.0, 0.92, 0.7, 0.45]),
                prior: Some(Arc::new(NormalLnDensity::new(3.2, 0.3).unwrap())),
            },
        )
        .unwrap()
    }

    #[test]
    fn analytic_gradient_and_hessian_match_finite_differences() {
        let s =
            StackedLikelihood::new(vec![two_param_target()], ProfileOptions::default()).unwrap();
        let p = &s.prepared()[0];
        for &(sv, t, u) in &[(1e-45, 18.1, 3.0), (3e-44, 18.9, 2.5), (0.0, 17.0, 4.0)] {
            let e = p.eval(sv, [t, u]);
            let h = 1e-5;
            let f = |a: f64, b: f64| p.eval(sv, [a, b]).f;
            let g0 = (f(t + h, u) - f(t - h, u)) / (2.0 * h);
            let g1 = (f(t, u + h) - f(t, u - h)) / (2.0 * h);
            assert!(
                (e.g[0] - g0).abs() < 1e-5 * g0.abs().max(1.0),
                "{} vs {g0}",
                e.g[0]
            );
            assert!(
                (e.g[1] - g1).abs() < 1e-5 * g1.abs().max(1.0),
                "{} vs {g1}",
                e.g[1]
            );
            let gr = |a: f64, b: f64| p.eval(sv, [a, b]).g;
            let h00 = (gr(t + h, u)[0] - gr(t - h, u)[0]) / (2.0 * h);
            let h01 = (gr(t, u + h)[0] - gr(t, u - h)[0]) / (2.0 * h);
            let h11 = (gr(t, u + h)[1] - gr(t, u - h)[1]) / (2.0 * h);
            assert!((e.h[0] - h00).abs() < 1e-5 * h00.abs().max(1.0));
            assert!((e.h[1] - h01).abs() < 1e-5 * h01.abs().max(1.0));
            assert!((e.h[2] - h11).abs() < 1e-5 * h11.abs().max(1.0));
            // And the value against the target's exact likelihood.
            let exact = s.targets()[0]
                .neg2_ln_likelihood(
                    sv,
                    TargetNuisances {
                        log10_j: Some(t),
                        ln_b: Some(u),
                    },
                )
                .unwrap();
            assert!((e.f + p.constant - exact).abs() < 1e-9 * exact.abs());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn gradient_matches_finite_differences_everywhere(
            log_sv in -46.0f64..-42.0, t in 16.5f64..19.5, u in 0.5f64..5.0
        ) {
            let s = StackedLikelihood::new(vec![two_param_target()], ProfileOptions::default()).unwrap();
            let p = &s.prepared()[0];
            let sv = 10f64.powf(log_sv);
            let e = p.eval(sv, [t, u]);
            let h = 1e-6;
            let g0 = (p.eval(sv, [t + h, u]).f - p.eval(sv, [t - h, u]).f) / (2.0 * h);
            let g1 = (p.eval(sv, [t, u + h]).f - p.eval(sv, [t, u - h]).f) / (2.0 * h);
            let tol = |g: f64| 1e-5 * g.abs().max(1.0) + 1e-7 * e.f.abs();
            proptest::prop_assert!((e.g[0] - g0).abs() < tol(g0), "{} vs {}", e.g[0], g0);
            proptest::prop_assert!((e.g[1] - g1).abs() < tol(g1), "{} vs {}", e.g[1], g1);
            let h01 = (p.eval(sv, [t, u + h]).g[0] - p.eval(sv, [t, u - h]).g[0]) / (2.0 * h);
            proptest::prop_assert!((e.h[1] - h01).abs() < 1e-4 * h01.abs().max(1.0));
        }
    }

    #[test]
    fn profile_sv_derivatives_match_finite_differences() {
        let s =
            StackedLikelihood::new(vec![two_param_target()], ProfileOptions::default()).unwrap();
        let mut st = s.new_state();
        for sv in [2e-45, 1e-44, 5e-44] {
            s.profile_with(sv, &mut st).unwrap();
            let (d1, d2) = s.profile_derivatives(&st);
            let h = sv * 1e-4;
            let mut a = s.new_state();
            let fp = s.profile_with(sv + h, &mut a).unwrap();
            let fm = s.profile_with(sv - h, &mut a).unwrap();
            let f0 = s.profile_with(sv, &mut a).unwrap();
            let fd1 = (fp - fm) / (2.0 * h);
            let fd2 = (fp - 2.0 * f0 + fm) / (h * h);
            assert!(
                (d1 - fd1).abs() < 1e-4 * d1.abs().max(1e40),
                "{d1} vs {fd1}"
            );
            assert!((d2 - fd2).abs() < 1e-2 * d2.abs(), "{d2} vs {fd2}");
        }
    }

    #[test]
    fn modified_newton_step_does_not_depend_on_the_parameter_scales() {
        // An indefinite Hessian as with 1e7 counts in case JB: stiff in
        // log10 J, concave in ln b. Rescaling a parameter by d must rescale
        // the step by 1/d, and the concave direction must take a step of
        // order 1 (capped later at MAX_STEP), not 1e-4 as when the shift
        // was a multiple of the stiff curvature.
        let g = [1e-4, -122.0];
        let h = [6.4e8, 2115.0, -82.0];
        let (p, pd) = newton_direction(g, h, [true, true]);
        assert!(!pd);
        assert!(p[1] > 0.5, "step in ln b {p:?}");
        for d in [1e-3, 1e4] {
            let gs = [g[0] / d, g[1]];
            let hs = [h[0] / (d * d), h[1] / d, h[2]];
            let (q, _) = newton_direction(gs, hs, [true, true]);
            assert!(
                (q[0] - p[0] * d).abs() <= 1e-9 * (p[0] * d).abs(),
                "{q:?} vs {p:?}"
            );
            assert!((q[1] - p[1]).abs() <= 1e-9 * p[1].abs(), "{q:?} vs {p:?}");
        }
        // A positive definite Hessian still gets the exact Newton step.
        let (p, pd) = newton_direction([1.0, 2.0], [4.0, 1.0, 3.0], [true, true]);
        assert!(pd);
        assert!((4.0 * p[0] + p[1] + 1.0).abs() < 1e-14 && (p[0] + 3.0 * p[1] + 2.0).abs() < 1e-14);
    }

    #[test]
    fn options_are_validated() {
        let t = two_param_target();
        let o = ProfileOptions {
            ln_b_bounds: (3.0, 1.0),
            ..Default::default()
        };
        assert!(StackedLikelihood::new(vec![t.clone()], o).is_err());
        let o = ProfileOptions {
            tolerance: 0.0,
            ..Default::default()
        };
        assert!(StackedLikelihood::new(vec![t.clone()], o).is_err());
        assert!(StackedLikelihood::new(vec![], ProfileOptions::default()).is_err());
        let s = StackedLikelihood::new(vec![t], ProfileOptions::default()).unwrap();
        assert!(s.profile(-1.0).is_err());
        assert!(s.profile(f64::NAN).is_err());
    }
}
