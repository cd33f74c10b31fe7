//! One target (e.g. a dwarf galaxy): counts per energy bin, the signal
//! coefficients $k_b$, a J-factor model and a background model.
//!
//! The expected counts in bin $b$ are
//! $$\lambda_b(\langle\sigma v\rangle, t, \beta) = \langle\sigma v\rangle\, 10^{t}\, k_b + B_b(\beta),$$
//! with $t = \log_{10} J$ and $k_b = N_{\gamma,b}\,\mathcal E_b / (8\pi m_\chi^2)$
//! computed by the spectrum module (units: counts per cm³ s⁻¹ per GeV² cm⁻⁵).
//! The target's log-likelihood is
//! $$\ln L = \sum_b \ln P(n_b \mid \lambda_b) + \ln\mathcal L_J(t) + \ln p(\beta).$$
//!
//! ```
//! use darkprobe_limits::likelihood::{BackgroundModel, JFactorModel, Target};
//! let t = Target::new(
//!     "toy",
//!     vec![3.0, 1.0],
//!     vec![1e25, 5e24],
//!     JFactorModel::Fixed { log10_j: 18.0 },
//!     BackgroundModel::Fixed(vec![2.0, 1.0]),
//! )?;
//! // sigma_v = 1e-43 cm^3/s with J = 1e18 gives 1 and 0.5 signal counts.
//! let lam = t.expected_counts(1e-43, None, None)?;
//! assert!((lam[0] - 3.0).abs() < 1e-12 && (lam[1] - 1.5).abs() < 1e-12);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::Result;
use crate::likelihood::background::BackgroundModel;
use crate::likelihood::jfactor::JFactorModel;
use crate::likelihood::poisson::{
    check_count, check_observed_count, poisson_deviance, saturated_ln_likelihood,
};
use darkprobe_core::Error;
use std::f64::consts::LN_10;

/// The nuisance parameters of one target; `None` for a parameter the target
/// does not have (fixed J-factor or fixed background).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TargetNuisances {
    /// $\log_{10} J$, J in GeV² cm⁻⁵.
    pub log10_j: Option<f64>,
    /// $\beta = \ln b$.
    pub ln_b: Option<f64>,
}

/// One target of a (stacked) likelihood; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Target {
    name: String,
    counts: Vec<f64>,
    signal_coefficients: Vec<f64>,
    j_factor: JFactorModel,
    background: BackgroundModel,
    /// Prior shifts $(\delta_J, \delta_\beta)$: priors are evaluated at $x - \delta$.
    shifts: (f64, f64),
}

impl Target {
    /// A target named `name` with observed `counts` per bin (real values
    /// $\ge 0$ allowed, for Asimov data), signal coefficients $k_b \ge 0$
    /// (`signal_coefficients`, one per bin, at least one $> 0$), a J-factor
    /// model and a background model.
    ///
    /// # Errors
    /// Empty bins, lengths that disagree, negative/`NaN`/infinite counts,
    /// counts above [`MAX_COUNTS_PER_BIN`](crate::likelihood::poisson::MAX_COUNTS_PER_BIN),
    /// coefficients or fixed backgrounds, all-zero coefficients, a non-finite
    /// fixed $\log_{10} J$, invalid background scalings. Messages name the
    /// target and the bin.
    pub fn new(
        name: impl Into<String>,
        counts: Vec<f64>,
        signal_coefficients: Vec<f64>,
        j_factor: JFactorModel,
        background: BackgroundModel,
    ) -> Result<Self> {
        let name = name.into();
        if counts.is_empty() {
            return Err(Error::empty(
                format!("target '{name}' counts"),
                "give at least one energy bin",
            )
            .into());
        }
        let nb = counts.len();
        for (what, len) in [
            ("signal coefficients", signal_coefficients.len()),
            ("background bins", background.len()),
        ] {
            if len != nb {
                return Err(
                    Error::shape(format!("target '{name}' {what} vs counts"), nb, len).into(),
                );
            }
        }
        for (b, &n) in counts.iter().enumerate() {
            check_observed_count(&format!("target '{name}' counts"), b, n)?;
        }
        for (b, &k) in signal_coefficients.iter().enumerate() {
            check_count(&format!("target '{name}' signal coefficients"), b, k)?;
        }
        if signal_coefficients.iter().all(|&k| k == 0.0) {
            return Err(Error::invalid_param(
                format!("target '{name}' signal coefficients"),
                "all zero",
                "at least one bin with k_b > 0 (the target has no sensitivity otherwise)",
            )
            .into());
        }
        if let JFactorModel::Fixed { log10_j } = j_factor {
            if !log10_j.is_finite() {
                return Err(Error::invalid_param(
                    format!("target '{name}' log10_j"),
                    log10_j,
                    "a finite number",
                )
                .into());
            }
        }
        match &background {
            BackgroundModel::Fixed(b) => {
                for (i, &x) in b.iter().enumerate() {
                    check_count(&format!("target '{name}' background"), i, x)?;
                }
            }
            BackgroundModel::Profiled { scaling, .. } => scaling.validate(&name)?,
        }
        Ok(Self {
            name,
            counts,
            signal_coefficients,
            j_factor,
            background,
            shifts: (0.0, 0.0),
        })
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Observed counts per bin.
    pub fn counts(&self) -> &[f64] {
        &self.counts
    }

    /// The signal coefficients $k_b$.
    pub fn signal_coefficients(&self) -> &[f64] {
        &self.signal_coefficients
    }

    /// The J-factor model.
    pub fn j_factor(&self) -> &JFactorModel {
        &self.j_factor
    }

    /// The background model.
    pub fn background(&self) -> &BackgroundModel {
        &self.background
    }

    /// Number of energy bins.
    pub fn n_bins(&self) -> usize {
        self.counts.len()
    }

    /// The prior shifts $(\delta_J, \delta_\beta)$ (see [`with_prior_shifts`](Self::with_prior_shifts)).
    pub fn prior_shifts(&self) -> (f64, f64) {
        self.shifts
    }

    /// The same target with other observed counts.
    ///
    /// # Errors
    /// Wrong length, or a count that is not finite and $\ge 0$, or above
    /// [`MAX_COUNTS_PER_BIN`](crate::likelihood::poisson::MAX_COUNTS_PER_BIN).
    pub fn with_counts(&self, counts: Vec<f64>) -> Result<Self> {
        if counts.len() != self.counts.len() {
            return Err(Error::shape(
                format!("target '{}' new counts", self.name),
                self.counts.len(),
                counts.len(),
            )
            .into());
        }
        for (b, &n) in counts.iter().enumerate() {
            check_observed_count(&format!("target '{}' counts", self.name), b, n)?;
        }
        Ok(Self {
            counts,
            ..self.clone()
        })
    }

    /// The same target with other signal coefficients $k_b$ (another mass or
    /// spectrum).
    ///
    /// # Errors
    /// Wrong length, a coefficient that is not finite and $\ge 0$, or all zero.
    pub fn with_signal_coefficients(&self, signal_coefficients: Vec<f64>) -> Result<Self> {
        if signal_coefficients.len() != self.counts.len() {
            return Err(Error::shape(
                format!("target '{}' new signal coefficients", self.name),
                self.counts.len(),
                signal_coefficients.len(),
            )
            .into());
        }
        Self::new(
            self.name.clone(),
            self.counts.clone(),
            signal_coefficients,
            self.j_factor.clone(),
            self.background.clone(),
        )
        .map(|t| Self {
            shifts: self.shifts,
            ..t
        })
    }

    /// The same target with its nuisance priors translated: the J prior is
    /// evaluated at $t - \delta_J$ and the background prior at
    /// $\beta - \delta_\beta$. This models a different outcome of the
    /// auxiliary measurement (pseudo-experiments, Asimov data); the Gaussian
    /// J prior simply has its mean moved by $\delta_J$.
    ///
    /// # Errors
    /// Non-finite shifts.
    pub fn with_prior_shifts(&self, delta_log10_j: f64, delta_ln_b: f64) -> Result<Self> {
        darkprobe_core::error::check_finite("delta_log10_j", delta_log10_j)?;
        darkprobe_core::error::check_finite("delta_ln_b", delta_ln_b)?;
        Ok(Self {
            shifts: (delta_log10_j, delta_ln_b),
            ..self.clone()
        })
    }

    fn nuisance_values(&self, nuisances: TargetNuisances) -> Result<(f64, f64)> {
        let t = match (&self.j_factor, nuisances.log10_j) {
            (JFactorModel::Fixed { log10_j }, _) => *log10_j,
            (_, Some(t)) if t.is_finite() => t,
            (_, v) => {
                return Err(Error::invalid_param(
                    format!("target '{}' log10_j", self.name),
                    format!("{v:?}"),
                    "a finite value (the J-factor is a nuisance parameter of this target)",
                )
                .into())
            }
        };
        let u = match (&self.background, nuisances.ln_b) {
            (BackgroundModel::Fixed(_), _) => 0.0,
            (_, Some(u)) if u.is_finite() => u,
            (_, v) => {
                return Err(Error::invalid_param(
                    format!("target '{}' ln_b", self.name),
                    format!("{v:?}"),
                    "a finite value (the background is a nuisance parameter of this target)",
                )
                .into())
            }
        };
        Ok((t, u))
    }

    /// The background counts per bin at the given nuisances.
    ///
    /// # Errors
    /// A missing or non-finite `ln_b` when the background is profiled.
    pub fn background_counts(&self, ln_b: Option<f64>) -> Result<Vec<f64>> {
        let (_, u) = self.nuisance_values(TargetNuisances {
            log10_j: Some(0.0),
            ln_b,
        })?;
        Ok(match &self.background {
            BackgroundModel::Fixed(b) => b.clone(),
            BackgroundModel::Profiled { scaling, .. } => scaling.counts_at(u),
        })
    }

    /// Expected counts $\lambda_b$ at `sigma_v_cm3_s` and the given nuisances
    /// (`None` for those the target does not have).
    ///
    /// # Errors
    /// A negative or non-finite cross-section; a missing or non-finite
    /// nuisance the target needs.
    pub fn expected_counts(
        &self,
        sigma_v_cm3_s: f64,
        log10_j: Option<f64>,
        ln_b: Option<f64>,
    ) -> Result<Vec<f64>> {
        check_sigma_v(sigma_v_cm3_s)?;
        let (t, _) = self.nuisance_values(TargetNuisances { log10_j, ln_b })?;
        let bkg = self.background_counts(ln_b)?;
        let scale = sigma_v_cm3_s * (LN_10 * t).exp();
        Ok(self
            .signal_coefficients
            .iter()
            .zip(&bkg)
            .map(|(k, b)| scale * k + b)
            .collect())
    }

    /// $-2\ln L$ of this target at `sigma_v_cm3_s` and the given nuisances,
    /// with the Poisson terms (including $\ln n_b!$) and the exact (never
    /// tabulated) nuisance priors, shifts included.
    ///
    /// # Errors
    /// As [`expected_counts`](Self::expected_counts).
    pub fn neg2_ln_likelihood(
        &self,
        sigma_v_cm3_s: f64,
        nuisances: TargetNuisances,
    ) -> Result<f64> {
        let lam = self.expected_counts(sigma_v_cm3_s, nuisances.log10_j, nuisances.ln_b)?;
        let (t, u) = self.nuisance_values(nuisances)?;
        let mut total = 0.0;
        for (&n, &l) in self.counts.iter().zip(&lam) {
            total += -2.0 * (saturated_ln_likelihood(n) - poisson_deviance(n, l));
        }
        total -= 2.0 * self.j_factor.ln_likelihood_derivatives(t, self.shifts.0).0;
        if let BackgroundModel::Profiled {
            prior: Some(prior), ..
        } = &self.background
        {
            total -= 2.0 * prior.ln_pdf_and_derivative(u - self.shifts.1).0;
        }
        Ok(total)
    }
}

/// Checks a cross-section: finite and $\ge 0$.
pub(crate) fn check_sigma_v(sigma_v_cm3_s: f64) -> Result<()> {
    if sigma_v_cm3_s.is_finite() && sigma_v_cm3_s >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid_param("sigma_v_cm3_s", sigma_v_cm3_s, "finite and >= 0").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::likelihood::background::{BackgroundScaling, NormalLnDensity};
    use crate::likelihood::jfactor::{GaussianLogJ, JNormalisation};
    use darkprobe_core::numerics::poisson_ln_pmf;
    use std::sync::Arc;

    fn target() -> Target {
        Target::new(
            "Draco",
            vec![76.0, 50.0, 0.0],
            vec![1e26, 8e25, 3e25],
            JFactorModel::Gaussian(
                GaussianLogJ::new(18.8, 0.16, JNormalisation::MlFermiLatDwarfs).unwrap(),
            ),
            BackgroundModel::Profiled {
                scaling: BackgroundScaling::LogRatios(vec![1.0, 0.9, 0.5]),
                prior: Some(Arc::new(NormalLnDensity::new(4.3, 0.2).unwrap())),
            },
        )
        .unwrap()
    }

    #[test]
    fn likelihood_is_the_sum_of_its_terms() {
        let t = target();
        let (sv, lj, lb) = (2e-45, 18.6, 4.2);
        let got = t
            .neg2_ln_likelihood(
                sv,
                TargetNuisances {
                    log10_j: Some(lj),
                    ln_b: Some(lb),
                },
            )
            .unwrap();
        let mut want = 0.0;
        let r = [1.0, 0.9, 0.5];
        let k = [1e26, 8e25, 3e25];
        let n = [76u64, 50, 0];
        for b in 0..3 {
            let lam = sv * 10f64.powf(lj) * k[b] + (lb * r[b]).exp();
            want -= 2.0 * poisson_ln_pmf(n[b], lam);
        }
        want += (lj - 18.8f64).powi(2) / 0.16f64.powi(2)
            + 2.0 * (std::f64::consts::LN_10 * (2.0 * std::f64::consts::PI).sqrt() * 0.16).ln();
        want -= 2.0 * darkprobe_core::numerics::normal_ln_pdf(lb, 4.3, 0.2);
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }

    #[test]
    fn shifts_move_the_priors() {
        let t = target().with_prior_shifts(0.1, -0.2).unwrap();
        let a = t
            .neg2_ln_likelihood(
                0.0,
                TargetNuisances {
                    log10_j: Some(18.9),
                    ln_b: Some(4.1),
                },
            )
            .unwrap();
        let b = target()
            .neg2_ln_likelihood(
                0.0,
                TargetNuisances {
                    log10_j: Some(18.8),
                    ln_b: Some(4.3),
                },
            )
            .unwrap();
        // Same prior terms; the Poisson part differs through ln_b only.
        let lam_a = t.expected_counts(0.0, Some(18.9), Some(4.1)).unwrap();
        let lam_b = target()
            .expected_counts(0.0, Some(18.8), Some(4.3))
            .unwrap();
        let pa: f64 = [76u64, 50, 0]
            .iter()
            .zip(&lam_a)
            .map(|(&n, &l)| -2.0 * poisson_ln_pmf(n, l))
            .sum();
        let pb: f64 = [76u64, 50, 0]
            .iter()
            .zip(&lam_b)
            .map(|(&n, &l)| -2.0 * poisson_ln_pmf(n, l))
            .sum();
        assert!(((a - pa) - (b - pb)).abs() < 1e-9);
    }

    #[test]
    fn invalid_targets_are_errors_naming_the_target() {
        let j = JFactorModel::Fixed { log10_j: 18.0 };
        let bk = BackgroundModel::Fixed(vec![1.0, 1.0]);
        let e = Target::new(
            "Leo",
            vec![1.0, -1.0],
            vec![1.0, 1.0],
            j.clone(),
            bk.clone(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("target 'Leo' counts[1]"), "{e}");
        let e = Target::new("Leo", vec![1.0, 1.0], vec![1.0], j.clone(), bk.clone()).unwrap_err();
        assert!(e.to_string().contains("signal coefficients"), "{e}");
        let e =
            Target::new("Leo", vec![1.0, 1.0], vec![0.0, 0.0], j.clone(), bk.clone()).unwrap_err();
        assert!(e.to_string().contains("all zero"), "{e}");
        let e = Target::new(
            "Leo",
            vec![],
            vec![],
            j.clone(),
            BackgroundModel::Fixed(vec![]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = Target::new(
            "Leo",
            vec![1.0, 1.0],
            vec![1.0, 1.0],
            j.clone(),
            BackgroundModel::Fixed(vec![1.0, f64::NAN]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("background[1]"), "{e}");
        let t = target();
        assert!(t.expected_counts(-1.0, Some(18.0), Some(4.0)).is_err());
        assert!(t.expected_counts(1e-26, None, Some(4.0)).is_err());
        assert!(t.with_counts(vec![1.0]).is_err());
    }
}
