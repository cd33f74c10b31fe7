//! Expected limits: pseudo-experiments and the Asimov data set.
//!
//! **The model the pseudo-data come from.** The true nuisances $\theta^*$ are,
//! by default, the background-only fit to the observed data,
//! $\theta^* = \hat\theta(\langle\sigma v\rangle = 0)$ ([`TruthNuisances`]). A
//! pseudo-experiment draws, for every target and bin,
//! $n_b \sim \mathrm{Poisson}(\lambda_b(\langle\sigma v\rangle_\mathrm{true}, \theta^*))$
//! (with $\langle\sigma v\rangle_\mathrm{true} = 0$ for expected limits).
//!
//! **Auxiliary measurements** ([`AuxiliaryFluctuation`]). A nuisance prior
//! $p(x)$ is read as the outcome of an auxiliary measurement whose result
//! $a$ only translates it, $p(x \mid a) = p_0(x - a)$. With
//! [`AuxiliaryFluctuation::Fluctuate`] (default) each pseudo-experiment
//! redraws that outcome given the truth: the prior is translated by
//! $\delta = x^* - X$ with $X$ drawn from the observed prior. For the Gaussian
//! $\log_{10} J$ prior this is the usual $\bar t' \sim \mathcal N(t^*, \sigma)$;
//! the empirical J prior is sampled exactly (a sample plus $h\,\mathcal N(0,1)$);
//! a background prior is sampled by inverse transform of its table over the
//! bounds (plus margin). With [`AuxiliaryFluctuation::Fixed`] the priors
//! stay as observed. Fixed J-factors and fixed backgrounds have no auxiliary
//! measurement.
//!
//! **Bands.** The limits of $N$ pseudo-experiments give the median and the
//! 68% (16%–84%) and 95% (2.5%–97.5%) containment bands (quantiles with linear
//! interpolation). Pseudo-experiment $i$ draws from its own generator seeded
//! with `seed_for_index(seed, i)` and they run in parallel
//! (`darkprobe_core::par`), so the result does not depend on the number of
//! threads.
//!
//! **Asimov** (Cowan, Cranmer, Gross & Vitells 2011, arXiv:1007.1727): the
//! data set whose counts equal their expectations,
//! $n_b = \lambda_b(0, \theta^*)$ (real-valued), with every prior translated
//! so that its mode sits at the truth, $\delta = x^* - \mathrm{mode}(p)$. Its
//! limit approximates the median expected limit.
//!
//! ```
//! use darkprobe_limits::likelihood::{BackgroundModel, ExpectedLimitOptions, JFactorModel,
//!     LimitOptions, ProfileOptions, StackedLikelihood, Target, TruthNuisances};
//! use darkprobe_core::progress::NoProgress;
//! let t = Target::new("a", vec![40.0, 25.0], vec![4e26, 2e26],
//!                     JFactorModel::Fixed { log10_j: 18.0 },
//!                     BackgroundModel::Fixed(vec![40.0, 25.0]))?;
//! let s = StackedLikelihood::new(vec![t], ProfileOptions::default())?;
//! let opts = ExpectedLimitOptions { n_trials: 200, seed: 1, ..Default::default() };
//! let exp = s.expected_limits(&LimitOptions::default(), &opts, &NoProgress)?;
//! let asimov = s.asimov_expected_limit(&LimitOptions::default(), &TruthNuisances::BackgroundOnlyFit)?;
//! assert!(exp.band_68_cm3_s.0 < exp.median_cm3_s && exp.median_cm3_s < exp.band_68_cm3_s.1);
//! // The Asimov limit approximates the median.
//! assert!((asimov.sigma_v_ul_cm3_s / exp.median_cm3_s - 1.0).abs() < 0.15);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::Result;
use crate::likelihood::background::{BackgroundModel, TabulatedLnDensity};
use crate::likelihood::jfactor::JFactorModel;
use crate::likelihood::limit::{LimitOptions, UpperLimit};
use crate::likelihood::profile::StackedLikelihood;
use crate::likelihood::target::{check_sigma_v, Target, TargetNuisances};
use darkprobe_core::par::map_indices;
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::rng_for_index;
use darkprobe_core::Error;
use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson};
use std::sync::Arc;

/// How the auxiliary measurements behind the nuisance priors are treated in
/// pseudo-experiments (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuxiliaryFluctuation {
    /// Redraw each prior's location given the true nuisances (default).
    #[default]
    Fluctuate,
    /// Keep the priors as observed.
    Fixed,
}

/// The nuisances pseudo-data are generated from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum TruthNuisances {
    /// The background-only ($\langle\sigma v\rangle = 0$) profile fit to the
    /// observed data (default).
    #[default]
    BackgroundOnlyFit,
    /// Given values, one per target.
    Given(Vec<TargetNuisances>),
}

/// Settings of the pseudo-experiments.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedLimitOptions {
    /// Number of pseudo-experiments (default 500), $\ge 1$.
    pub n_trials: usize,
    /// Seed; trial $i$ uses `seed_for_index(seed, i)`.
    pub seed: u64,
    /// Treatment of the auxiliary measurements.
    pub auxiliary: AuxiliaryFluctuation,
    /// The true nuisances.
    pub truth: TruthNuisances,
}

impl Default for ExpectedLimitOptions {
    fn default() -> Self {
        Self {
            n_trials: 500,
            seed: 0,
            auxiliary: AuxiliaryFluctuation::Fluctuate,
            truth: TruthNuisances::BackgroundOnlyFit,
        }
    }
}

/// The distribution of upper limits under the background-only hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedLimits {
    /// Median limit, cm³ s⁻¹.
    pub median_cm3_s: f64,
    /// 16% and 84% quantiles.
    pub band_68_cm3_s: (f64, f64),
    /// 2.5% and 97.5% quantiles.
    pub band_95_cm3_s: (f64, f64),
    /// Every pseudo-experiment's limit, in trial order.
    pub limits_cm3_s: Vec<f64>,
    /// The true nuisances used.
    pub truth: Vec<TargetNuisances>,
}

/// Quantile $q$ of sorted data with linear interpolation between order statistics.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let pos = q * (n - 1) as f64;
    let i = (pos.floor() as usize).min(n - 2);
    let f = pos - i as f64;
    sorted[i] + f * (sorted[i + 1] - sorted[i])
}

/// Per-target samplers of the background prior (tables), built once.
type BackgroundSamplers = Vec<Option<Arc<TabulatedLnDensity>>>;

impl StackedLikelihood {
    /// Resolves [`TruthNuisances`] to one set of values per target.
    ///
    /// # Errors
    /// A `Given` list of the wrong length or missing a parameter a target
    /// needs; profile failures.
    pub fn truth_nuisances(&self, truth: &TruthNuisances) -> Result<Vec<TargetNuisances>> {
        match truth {
            TruthNuisances::BackgroundOnlyFit => Ok(self
                .profile(0.0)?
                .targets
                .iter()
                .map(|t| t.nuisances)
                .collect()),
            TruthNuisances::Given(v) => {
                if v.len() != self.targets().len() {
                    return Err(Error::shape(
                        "true nuisances vs targets",
                        self.targets().len(),
                        v.len(),
                    )
                    .into());
                }
                for (t, n) in self.targets().iter().zip(v) {
                    // Validates presence and finiteness.
                    t.expected_counts(0.0, n.log10_j, n.ln_b)?;
                }
                Ok(v.clone())
            }
        }
    }

    fn background_samplers(&self) -> Result<BackgroundSamplers> {
        let (lo, hi) = self.options().ln_b_bounds;
        self.targets()
            .iter()
            .zip(self.prepared())
            .map(|(t, p)| match (t.background(), p.background_table()) {
                (_, Some(table)) => Ok(Some(table)),
                (
                    BackgroundModel::Profiled {
                        prior: Some(prior), ..
                    },
                    None,
                ) => Ok(Some(Arc::new(TabulatedLnDensity::new(
                    prior.as_ref(),
                    lo - 1.0,
                    hi + 1.0,
                    0.02,
                )?))),
                _ => Ok(None),
            })
            .collect()
    }

    /// One pseudo-experiment: Poisson counts from the model at
    /// `sigma_v_true_cm3_s` and `truth`, and auxiliary measurements treated as
    /// `auxiliary` (see the [module docs](self)). The result shares the prior
    /// tables of `self`.
    ///
    /// # Errors
    /// A negative or non-finite cross-section, invalid `truth`.
    pub fn pseudo_experiment<R: Rng + ?Sized>(
        &self,
        sigma_v_true_cm3_s: f64,
        truth: &[TargetNuisances],
        auxiliary: AuxiliaryFluctuation,
        rng: &mut R,
    ) -> Result<StackedLikelihood> {
        let samplers = match auxiliary {
            AuxiliaryFluctuation::Fluctuate => self.background_samplers()?,
            AuxiliaryFluctuation::Fixed => vec![None; self.targets().len()],
        };
        self.pseudo_experiment_with(sigma_v_true_cm3_s, truth, auxiliary, &samplers, rng)
    }

    fn pseudo_experiment_with<R: Rng + ?Sized>(
        &self,
        sigma_v_true_cm3_s: f64,
        truth: &[TargetNuisances],
        auxiliary: AuxiliaryFluctuation,
        samplers: &BackgroundSamplers,
        rng: &mut R,
    ) -> Result<StackedLikelihood> {
        check_sigma_v(sigma_v_true_cm3_s)?;
        if truth.len() != self.targets().len() {
            return Err(Error::shape(
                "true nuisances vs targets",
                self.targets().len(),
                truth.len(),
            )
            .into());
        }
        let mut targets = Vec::with_capacity(truth.len());
        for ((t, tr), sampler) in self.targets().iter().zip(truth).zip(samplers) {
            let lam = t.expected_counts(sigma_v_true_cm3_s, tr.log10_j, tr.ln_b)?;
            let counts: Vec<f64> = lam
                .iter()
                .map(|&l| {
                    if l > 0.0 {
                        Poisson::new(l).map(|p| p.sample(rng)).unwrap_or(0.0)
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut new = t.with_counts(counts)?;
            if auxiliary == AuxiliaryFluctuation::Fluctuate {
                let (mut dj, mut db) = t.prior_shifts();
                if let Some(tj) = tr.log10_j {
                    let x0 = match t.j_factor() {
                        JFactorModel::Fixed { .. } => None,
                        JFactorModel::Gaussian(g) => Some(
                            Normal::new(g.log10_j_obs(), g.sigma_dex())
                                .map(|d| d.sample(rng))
                                .unwrap_or(g.log10_j_obs()),
                        ),
                        JFactorModel::Empirical(e) => Some(e.sample(rng)),
                    };
                    if let Some(x0) = x0 {
                        dj = tj - x0;
                    }
                }
                if let (Some(tb), Some(table)) = (tr.ln_b, sampler) {
                    db = tb - table.sample(rng);
                }
                new = new.with_prior_shifts(dj, db)?;
            }
            targets.push(new);
        }
        Ok(self.with_targets(targets))
    }

    /// The Asimov data set at `sigma_v_true_cm3_s` and `truth`: real-valued
    /// counts equal to their expectations, priors translated so that their
    /// modes sit at the truth.
    ///
    /// # Errors
    /// As [`pseudo_experiment`](Self::pseudo_experiment).
    pub fn asimov(
        &self,
        sigma_v_true_cm3_s: f64,
        truth: &[TargetNuisances],
    ) -> Result<StackedLikelihood> {
        check_sigma_v(sigma_v_true_cm3_s)?;
        if truth.len() != self.targets().len() {
            return Err(Error::shape(
                "true nuisances vs targets",
                self.targets().len(),
                truth.len(),
            )
            .into());
        }
        let mut targets: Vec<Target> = Vec::with_capacity(truth.len());
        for ((t, tr), p) in self.targets().iter().zip(truth).zip(self.prepared()) {
            let lam = t.expected_counts(sigma_v_true_cm3_s, tr.log10_j, tr.ln_b)?;
            let modes = p.prior_modes();
            let (mut dj, mut db) = t.prior_shifts();
            if let Some(tj) = tr.log10_j {
                if !modes[0].is_nan() {
                    dj = tj - modes[0];
                }
            }
            if let Some(tb) = tr.ln_b {
                if !modes[1].is_nan() {
                    db = tb - modes[1];
                }
            }
            targets.push(t.with_counts(lam)?.with_prior_shifts(dj, db)?);
        }
        Ok(self.with_targets(targets))
    }

    /// The Asimov approximation of the median expected limit: the limit on
    /// the background-only Asimov data set.
    ///
    /// # Errors
    /// As [`asimov`](Self::asimov) and [`upper_limit`](Self::upper_limit).
    pub fn asimov_expected_limit(
        &self,
        limit: &LimitOptions,
        truth: &TruthNuisances,
    ) -> Result<UpperLimit> {
        let truth = self.truth_nuisances(truth)?;
        self.asimov(0.0, &truth)?.upper_limit(limit)
    }

    /// Median and containment bands of the upper limit over background-only
    /// pseudo-experiments (see the [module docs](self)). `progress` receives
    /// one step per pseudo-experiment.
    ///
    /// # Errors
    /// `n_trials == 0`, invalid truth, or the first failing pseudo-experiment's error.
    pub fn expected_limits(
        &self,
        limit: &LimitOptions,
        options: &ExpectedLimitOptions,
        progress: &dyn Progress,
    ) -> Result<ExpectedLimits> {
        if options.n_trials == 0 {
            return Err(Error::invalid_param("ExpectedLimitOptions::n_trials", 0, ">= 1").into());
        }
        limit.threshold()?;
        let truth = self.truth_nuisances(&options.truth)?;
        let samplers = match options.auxiliary {
            AuxiliaryFluctuation::Fluctuate => self.background_samplers()?,
            AuxiliaryFluctuation::Fixed => vec![None; self.targets().len()],
        };
        progress.start("pseudo-experiments", options.n_trials as u64);
        let results = map_indices(options.n_trials, |i| {
            let mut rng = rng_for_index(options.seed, i as u64);
            let r = self
                .pseudo_experiment_with(0.0, &truth, options.auxiliary, &samplers, &mut rng)
                .and_then(|pe| pe.upper_limit(limit))
                .map(|ul| ul.sigma_v_ul_cm3_s);
            progress.inc(1);
            r
        });
        progress.finish();
        let limits = results.into_iter().collect::<Result<Vec<f64>>>()?;
        let mut sorted = limits.clone();
        sorted.sort_by(f64::total_cmp);
        Ok(ExpectedLimits {
            median_cm3_s: quantile_sorted(&sorted, 0.5),
            band_68_cm3_s: (
                quantile_sorted(&sorted, 0.16),
                quantile_sorted(&sorted, 0.84),
            ),
            band_95_cm3_s: (
                quantile_sorted(&sorted, 0.025),
                quantile_sorted(&sorted, 0.975),
            ),
            limits_cm3_s: limits,
            truth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_linearly() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&v, 0.5), 3.0);
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 5.0);
        assert!((quantile_sorted(&v, 0.16) - 1.64).abs() < 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.3), 7.0);
    }
}
