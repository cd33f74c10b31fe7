//! Test-statistic thresholds and significances from $\chi^2$ and Normal quantiles.
//!
//! # The test statistic
//! darkprobe's likelihood-ratio test statistic is
//! $\mathrm{TS} = -2\,\Delta\ln L = -2\bigl[\ln L(\mu) - \ln L(\hat\mu)\bigr]$.
//! By Wilks' theorem (1938) it follows a $\chi^2$ law with one degree of freedom
//! when the parameter of interest $\mu$ is free on both sides
//! ([`Sidedness::TwoSided`]). When $\mu$ sits on the boundary of its allowed range
//! (a signal normalisation $\ge 0$), or when only one side of the fit is
//! tested, Chernoff's (1954) result gives the half-$\chi^2$ mixture
//! $\tfrac12\delta(\mathrm{TS}) + \tfrac12\chi^2_1$ ([`Sidedness::OneSided`];
//! see also Cowan, Cranmer, Gross & Vitells 2011, *Eur. Phys. J. C* 71, 1554).
//!
//! The threshold for confidence level $\mathrm{CL}$ is therefore
//! $$\mathrm{TS}_\mathrm{two} = F^{-1}_{\chi^2_1}(\mathrm{CL}), \qquad
//!   \mathrm{TS}_\mathrm{one} = F^{-1}_{\chi^2_1}(2\,\mathrm{CL} - 1)
//!   = \bigl[\Phi^{-1}(\mathrm{CL})\bigr]^2,$$
//! giving $3.841458820694124$ and $2.705543454095404$ at 95% CL.
//!
//! # Conventions in the dark-matter literature
//! - The Fermi-LAT dwarf-spheroidal analyses (Ackermann et al. 2015,
//!   *PRL* 115, 231301) quote one-sided 95% CL upper limits at
//!   $-2\Delta\ln L = 2.71$: `ts_threshold(0.95, OneSided)`.
//! - MLFermiDwarfs (Calore, Serpico & Zaldivar 2018, *JCAP* 10, 029;
//!   Alvarez et al. 2020, *JCAP* 09, 004) and the subhalo analysis of
//!   Amerio et al. (2025) use $3.84$, the two-sided 95% value, which equals the
//!   one-sided 97.5% value: `ts_threshold(0.95, TwoSided)` or
//!   `ts_threshold(0.975, OneSided)`.
//!
//! When comparing limits with published ones, use the convention of the paper:
//! at fixed data the 3.84 limit is weaker than the 2.71 one.
//!
//! # Significance
//! [`ts_to_p_value`] maps a TS to its asymptotic $p$-value,
//! $p = \Phi(-\sqrt{\mathrm{TS}})$ one-sided and $2\Phi(-\sqrt{\mathrm{TS}})$
//! two-sided, and [`ts_to_significance`] reports it as the Gaussian
//! significance $Z = \Phi^{-1}(1 - p)$ (Cowan et al. 2011, eq. 1), so that
//! one-sided $Z = \sqrt{\mathrm{TS}}$.
//!
//! The $\chi^2$ CDF and survival function come from `statrs` (regularised
//! incomplete gamma functions) for general degrees of freedom, and from the
//! Normal law (see [`numerics`](crate::numerics)) for one degree of freedom,
//! where $F_{\chi^2_1}(x) = \Phi(\sqrt x) - \Phi(-\sqrt x)$. Quantiles start from
//! `statrs` and are polished by Newton's method on the logarithm of the
//! relevant tail, so they are as accurate as the CDF.
//!
//! ```
//! use darkprobe_core::stats::{ts_threshold, Sidedness};
//! let two = ts_threshold(0.95, Sidedness::TwoSided)?;
//! let one = ts_threshold(0.95, Sidedness::OneSided)?;
//! assert!((two - 3.841458820694124).abs() < 1e-12);
//! assert!((one - 2.705543454095404).abs() < 1e-12);
//! # Ok::<(), darkprobe_core::Error>(())
//! ```

use crate::error::{check_positive, Error, Result};
use crate::numerics::{ln_gamma, ln_normal_cdf, ln_normal_cdf_diff, normal_cdf_centered};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::{erf, gamma};
use std::f64::consts::{LN_2, PI, SQRT_2};

/// Whether a test looks at one side of the parameter of interest or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sidedness {
    /// One-sided: upper limits on a non-negative signal, or a discovery test of
    /// an excess. The TS follows $\tfrac12\delta + \tfrac12\chi^2_1$ (Chernoff);
    /// 95% CL corresponds to $\mathrm{TS} = 2.71$.
    OneSided,
    /// Two-sided: intervals on a parameter free on both sides. The TS follows
    /// $\chi^2_1$ (Wilks); 95% CL corresponds to $\mathrm{TS} = 3.84$.
    TwoSided,
}

/// Validates a probability argument in $[0, 1]$.
fn check_probability(name: &str, p: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(Error::invalid_param(name, p, "in [0, 1]"))
    }
}

/// Validates a test statistic.
fn check_ts(ts: f64) -> Result<f64> {
    if ts >= 0.0 {
        Ok(ts)
    } else {
        Err(Error::invalid_param(
            "ts",
            ts,
            ">= 0 (clamp round-off negatives from a fit with ts.max(0.0))",
        ))
    }
}

/// Iterations allowed to the Newton refinements of the Normal quantile; they
/// start within ~1e-10 and converge quadratically, so a handful suffice.
const QUANTILE_MAX_ITER: usize = 50;

/// $\ln\varphi(z)$ of the standard Normal density.
#[inline]
fn ln_phi(z: f64) -> f64 {
    -0.5 * z * z - 0.5 * (2.0 * PI).ln()
}

/// The standard-Normal quantile $\Phi^{-1}(p)$ in the lower tail, $p \le 1/4$,
/// given $\ln p$: Newton's method on $\ln\Phi$, started from `statrs`' inverse
/// erfc or, when $p$ underflows, from the tail asymptotics
/// $z^2 \approx t - \ln t - \ln 2\pi$, $t = -2\ln p$.
fn lower_normal_quantile_ln(ln_p: f64) -> Result<f64> {
    let p = ln_p.exp();
    let mut z = if p > 1e-300 {
        -SQRT_2 * erf::erfc_inv(2.0 * p)
    } else {
        let t = -2.0 * ln_p;
        -(t - t.ln() - (2.0 * PI).ln()).sqrt()
    };
    if !z.is_finite() {
        z = -(-2.0 * ln_p).sqrt();
    }
    for _ in 0..QUANTILE_MAX_ITER {
        let ln_cdf = ln_normal_cdf(z);
        // d ln Phi / dz = phi(z) / Phi(z).
        let step = (ln_cdf - ln_p) / (ln_phi(z) - ln_cdf).exp();
        z -= step;
        if step.abs() <= 4.0 * f64::EPSILON * z.abs() {
            return Ok(z);
        }
    }
    Err(Error::numerical(
        "Newton iteration for the Normal quantile",
        QUANTILE_MAX_ITER,
        z,
        format!("no convergence for ln p = {ln_p}"),
    ))
}

/// The standard-Normal quantile for $1/4 < p < 3/4$: Newton's method on
/// $\Phi(z) - \tfrac12 = p - \tfrac12$, both sides exact to the last bit, so
/// that small quantiles keep their relative accuracy.
fn central_normal_quantile(p: f64) -> Result<f64> {
    let target = p - 0.5; // exact for p in [1/4, 1]
    let mut z = -SQRT_2 * erf::erfc_inv(2.0 * p);
    if !z.is_finite() {
        z = 0.0;
    }
    for _ in 0..QUANTILE_MAX_ITER {
        let step = (normal_cdf_centered(z) - target) / ln_phi(z).exp();
        z -= step;
        if step.abs() <= 4.0 * f64::EPSILON * z.abs() {
            return Ok(z);
        }
    }
    Err(Error::numerical(
        "Newton iteration for the Normal quantile",
        QUANTILE_MAX_ITER,
        z,
        format!("no convergence for p = {p}"),
    ))
}

/// The standard-Normal quantile $\Phi^{-1}(p)$, accurate to a few ulp also in
/// the far tails ($p = 10^{-300}$ gives $-37.047\ldots$) and near $p = 1/2$.
///
/// $p = 0$ gives $-\infty$, $p = 1$ gives $+\infty$.
///
/// # Errors
/// [`Error::InvalidParameter`] when `p` is outside $[0, 1]$ or `NaN`;
/// [`Error::Numerical`] if the Newton refinement fails (not expected).
///
/// ```
/// use darkprobe_core::stats::normal_quantile;
/// assert!((normal_quantile(0.975)? - 1.959963984540054).abs() < 1e-15);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn normal_quantile(p: f64) -> Result<f64> {
    check_probability("p", p)?;
    if p == 0.0 {
        Ok(f64::NEG_INFINITY)
    } else if p == 1.0 {
        Ok(f64::INFINITY)
    } else if p == 0.5 {
        Ok(0.0)
    } else if p <= 0.25 {
        lower_normal_quantile_ln(p.ln())
    } else if p < 0.75 {
        central_normal_quantile(p)
    } else {
        // 1 - p is exact for p >= 1/2.
        Ok(-lower_normal_quantile_ln((1.0 - p).ln())?)
    }
}

/// $\ln$ of the lower ($F$) or upper ($1 - F$) tail of $\chi^2_k$ at finite $x > 0$.
fn chi2_ln_tail(x: f64, dof: f64, upper: bool) -> Result<f64> {
    if dof == 1.0 {
        let s = x.sqrt();
        return Ok(if upper {
            LN_2 + ln_normal_cdf(-s)
        } else {
            ln_normal_cdf_diff(-s, s)
        });
    }
    if dof == 2.0 {
        // Exponential law: F = 1 - e^{-x/2}.
        return Ok(if upper {
            -0.5 * x
        } else {
            (-(-0.5 * x).exp_m1()).ln()
        });
    }
    let (a, y) = (0.5 * dof, 0.5 * x);
    let value = if upper {
        gamma::checked_gamma_ur(a, y)
    } else {
        gamma::checked_gamma_lr(a, y)
    };
    value
        .map(f64::ln)
        .map_err(|e| Error::numerical("chi-square incomplete gamma function", 0, x, e.to_string()))
}

/// $\ln$ of the $\chi^2_k$ density at $x > 0$.
fn chi2_ln_pdf(x: f64, dof: f64) -> f64 {
    let a = 0.5 * dof;
    (a - 1.0) * x.ln() - 0.5 * x - a * LN_2 - ln_gamma(a)
}

/// Survival function $P(X > x)$ of the $\chi^2$ law with `dof` degrees of freedom.
///
/// $x \le 0$ gives 1, $x = +\infty$ gives 0.
///
/// # Errors
/// [`Error::InvalidParameter`] when `x` is `NaN` or `dof` is not finite and
/// positive; [`Error::Numerical`] if `statrs`' incomplete gamma fails.
///
/// ```
/// use darkprobe_core::stats::chi2_sf;
/// assert!((chi2_sf(3.841458820694124, 1.0)? - 0.05).abs() < 1e-15);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn chi2_sf(x: f64, dof: f64) -> Result<f64> {
    check_positive("dof", dof)?;
    if x.is_nan() {
        return Err(Error::invalid_param("x", x, "a number (not NaN)"));
    }
    if x <= 0.0 {
        Ok(1.0)
    } else if x == f64::INFINITY {
        Ok(0.0)
    } else {
        Ok(chi2_ln_tail(x, dof, true)?.exp())
    }
}

/// The quantile $F^{-1}(p)$ of the $\chi^2$ law with `dof` degrees of freedom.
///
/// $p = 0$ gives 0, $p = 1$ gives $+\infty$. Starts from `statrs` and refines
/// with Newton steps in $\ln x$ on the log of the lower tail ($p < 1/2$) or of
/// the upper tail ($p \ge 1/2$, target $1 - p$), so the result is as accurate
/// as the CDF itself.
///
/// # Errors
/// [`Error::InvalidParameter`] when `p` is outside $[0, 1]$ or `NaN`, or `dof`
/// is not finite and positive; [`Error::Numerical`] if the refinement does
/// not converge.
///
/// ```
/// use darkprobe_core::stats::chi2_quantile;
/// assert!((chi2_quantile(0.95, 2.0)? - 5.991464547107980).abs() < 1e-13);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn chi2_quantile(p: f64, dof: f64) -> Result<f64> {
    const MAX_ITER: usize = 100;
    check_probability("p", p)?;
    check_positive("dof", dof)?;
    if p == 0.0 {
        return Ok(0.0);
    }
    if p == 1.0 {
        return Ok(f64::INFINITY);
    }
    let upper = p >= 0.5;
    let ln_target = if upper { (1.0 - p).ln() } else { p.ln() };

    let chi2 = ChiSquared::new(dof)
        .map_err(|e| Error::invalid_param("dof", dof, format!("finite and > 0 ({e})")))?;
    let mut x = chi2.inverse_cdf(p);
    if !upper && (!x.is_finite() || x <= 0.0 || p <= 1e-3) {
        // Small-x start: F(x) ~ (x/2)^{k/2} / Gamma(k/2 + 1).
        let a = 0.5 * dof;
        x = 2.0 * ((ln_target + ln_gamma(a + 1.0)) / a).exp();
    }
    if !(x.is_finite() && x > 0.0) {
        x = dof;
    }

    let mut u = x.ln();
    let mut previous_step = f64::INFINITY;
    for _ in 0..MAX_ITER {
        let x = u.exp();
        let ln_tail = chi2_ln_tail(x, dof, upper)?;
        // d ln T / d ln x = +- x f(x) / T(x).
        let slope = (x.ln() + chi2_ln_pdf(x, dof) - ln_tail).exp();
        let slope = if upper { -slope } else { slope };
        // Damped Newton: never move by more than a factor e at once.
        let step = ((ln_tail - ln_target) / slope).clamp(-1.0, 1.0);
        if !step.is_finite() {
            break;
        }
        u -= step;
        // Done at full precision, or once the steps stop shrinking at the
        // rounding-noise level of the incomplete gamma function.
        let at_noise_floor = step.abs() < 1e-10 && step.abs() >= 0.5 * previous_step;
        if step.abs() <= 4.0 * f64::EPSILON || at_noise_floor {
            return Ok(u.exp());
        }
        previous_step = step.abs();
    }
    Err(Error::numerical(
        "Newton refinement of the chi-square quantile",
        MAX_ITER,
        u.exp(),
        format!("no convergence for p = {p}, dof = {dof}"),
    ))
}

/// The TS threshold for confidence level `confidence_level`:
/// $F^{-1}_{\chi^2_1}(\mathrm{CL})$ two-sided, $F^{-1}_{\chi^2_1}(2\,\mathrm{CL}-1)$
/// one-sided (see the module docs for which papers use which).
///
/// # Errors
/// [`Error::InvalidParameter`] when `confidence_level` is outside $(0, 1)$
/// (two-sided) or $(1/2, 1)$ (one-sided), or `NaN`.
///
/// ```
/// use darkprobe_core::stats::{ts_threshold, Sidedness};
/// // MLFermiDwarfs / Amerio et al. 2025: 3.84; Fermi-LAT dwarfs 2015: 2.71.
/// assert!((ts_threshold(0.95, Sidedness::TwoSided)? - 3.84).abs() < 0.005);
/// assert!((ts_threshold(0.95, Sidedness::OneSided)? - 2.71).abs() < 0.005);
/// assert!(ts_threshold(0.4, Sidedness::OneSided).is_err());
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn ts_threshold(confidence_level: f64, sidedness: Sidedness) -> Result<f64> {
    let cl = confidence_level;
    match sidedness {
        Sidedness::TwoSided => {
            if !(cl > 0.0 && cl < 1.0) {
                return Err(Error::invalid_param(
                    "confidence_level",
                    cl,
                    "in (0, 1) for a two-sided test",
                ));
            }
            chi2_quantile(cl, 1.0)
        }
        Sidedness::OneSided => {
            if !(cl > 0.5 && cl < 1.0) {
                return Err(Error::invalid_param(
                    "confidence_level",
                    cl,
                    "in (0.5, 1) for a one-sided test",
                ));
            }
            // 2 cl - 1 is exact for cl in [1/2, 1].
            chi2_quantile(2.0 * cl - 1.0, 1.0)
        }
    }
}

/// The asymptotic $p$-value of a test statistic: $\Phi(-\sqrt{\mathrm{TS}})$
/// one-sided, $2\Phi(-\sqrt{\mathrm{TS}}) = P(\chi^2_1 > \mathrm{TS})$ two-sided.
///
/// # Errors
/// [`Error::InvalidParameter`] when `ts` is negative or `NaN`.
///
/// ```
/// use darkprobe_core::stats::{ts_to_p_value, Sidedness};
/// assert!((ts_to_p_value(2.705543454095404, Sidedness::OneSided)? - 0.05).abs() < 1e-15);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn ts_to_p_value(ts: f64, sidedness: Sidedness) -> Result<f64> {
    check_ts(ts)?;
    let ln_one_sided = ln_normal_cdf(-ts.sqrt());
    Ok(match sidedness {
        Sidedness::OneSided => ln_one_sided.exp(),
        Sidedness::TwoSided => (LN_2 + ln_one_sided).exp(),
    })
}

/// The Gaussian significance $Z = \Phi^{-1}(1 - p)$ of a test statistic, with
/// $p$ from [`ts_to_p_value`].
///
/// One-sided this is exactly $\sqrt{\mathrm{TS}}$ (TS = 25 is $5\sigma$).
/// Two-sided it is smaller (TS = 25 is $4.86\sigma$), and negative when
/// $p > 1/2$ ($\mathrm{TS} < 0.455$); TS = 0 gives $-\infty$. Accurate also
/// where $p$ underflows (two-sided TS = 2000 gives $44.7058\ldots$).
///
/// # Errors
/// [`Error::InvalidParameter`] when `ts` is negative or `NaN`;
/// [`Error::Numerical`] if the quantile refinement fails (not expected).
///
/// ```
/// use darkprobe_core::stats::{ts_to_significance, Sidedness};
/// assert_eq!(ts_to_significance(25.0, Sidedness::OneSided)?, 5.0);
/// let z = ts_to_significance(3.841458820694124, Sidedness::TwoSided)?;
/// assert!((z - 1.6448536269514722).abs() < 1e-13); // p = 0.05
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn ts_to_significance(ts: f64, sidedness: Sidedness) -> Result<f64> {
    check_ts(ts)?;
    let s = ts.sqrt();
    match sidedness {
        Sidedness::OneSided => Ok(s),
        Sidedness::TwoSided => {
            if s == f64::INFINITY {
                return Ok(f64::INFINITY);
            }
            let ln_p = LN_2 + ln_normal_cdf(-s);
            if ln_p <= -2.0 * LN_2 {
                // p <= 1/4, possibly below the f64 range: stay in log space.
                Ok(-lower_normal_quantile_ln(ln_p)?)
            } else {
                // 1 - p = Phi(s) - Phi(-s), computed without cancellation.
                normal_quantile(ln_normal_cdf_diff(-s, s).exp())
            }
        }
    }
}

#[cfg(test)]
// Reference values keep all the digits mpmath printed.
#[allow(clippy::excessive_precision, clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;
    use crate::numerics::normal_cdf;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    #[test]
    fn published_thresholds() {
        // Exact values: mpmath chi-square quantiles at 50 digits (the one-sided
        // one at the double 2 * 0.95 - 1 = 0.8999999999999999).
        let two = ts_threshold(0.95, Sidedness::TwoSided).unwrap();
        let one = ts_threshold(0.95, Sidedness::OneSided).unwrap();
        assert_relative_eq!(two, 3.841_458_820_694_124_469_1, max_relative = 1e-15);
        assert_relative_eq!(one, 2.705_543_454_095_413_150_6, max_relative = 1e-15);
        // The numbers in the brief / papers, to 1e-9.
        assert!((two - 3.841458820694124).abs() < 1e-9);
        assert!((one - 2.705543454095404).abs() < 1e-9);
        assert!((two - 3.84).abs() < 0.005 && (one - 2.71).abs() < 0.005);
        // Two-sided 95% equals one-sided 97.5%.
        let one_975 = ts_threshold(0.975, Sidedness::OneSided).unwrap();
        assert_relative_eq!(one_975, two, max_relative = 1e-14);
        // One-sided threshold = Phi^{-1}(CL)^2.
        let z = normal_quantile(0.95).unwrap();
        assert_relative_eq!(one, z * z, max_relative = 1e-14);
        // 68.27% two-sided is TS = 1 (1 sigma).
        let cl_1sigma = 0.682_689_492_137_085_9;
        assert_relative_eq!(
            ts_threshold(cl_1sigma, Sidedness::TwoSided).unwrap(),
            0.999_999_999_999_999_811_48,
            max_relative = 1e-14
        );
    }

    #[test]
    fn threshold_rejects_bad_confidence_levels() {
        for cl in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            assert!(ts_threshold(cl, Sidedness::TwoSided).is_err());
        }
        for cl in [0.5, 0.3, 1.0, f64::NAN] {
            assert!(ts_threshold(cl, Sidedness::OneSided).is_err());
        }
        let msg = ts_threshold(0.4, Sidedness::OneSided)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "invalid confidence_level = 0.4: allowed in (0.5, 1) for a one-sided test"
        );
        assert!(ts_threshold(0.4, Sidedness::TwoSided).is_ok());
    }

    #[test]
    fn chi2_quantile_against_mpmath() {
        // (p, dof, quantile): mpmath findroot on log gammainc at 50 digits.
        let cases = [
            (0.5, 100.0, 99.334_129_235_988_455_754),
            (1e-10, 1.0, 1.570_796_326_794_896_733_7e-20),
            (0.01, 0.5, 1.349_939_585_911_693_650_7e-8),
            (1e-8, 4.0, 2.828_560_466_722_576_762_4e-4),
            (0.3, 2.0, 0.713_349_887_877_464_726_1),
            (0.9, 1.0, 2.705_543_454_095_414_921_2),
            (0.95, 1.0, 3.841_458_820_694_124_469_1),
            (0.95, 2.0, 5.991_464_547_107_980_210_5),
            (0.999_999, 1.0, 23.928_126_976_879_469_057),
            (0.99, 5.0, 15.086_272_469_388_987_961),
            (0.5, 1.0, 0.454_936_423_119_572_751_94),
            (0.95, 3.0, 7.814_727_903_251_177_973_5),
            (0.95, 10.0, 18.307_038_053_275_144_003),
        ];
        for (p, dof, want) in cases {
            let got = chi2_quantile(p, dof).unwrap();
            let tol = if dof == 1.0 || dof == 2.0 {
                2e-15
            } else {
                1e-13
            };
            assert_relative_eq!(got, want, max_relative = tol);
        }
        assert_eq!(chi2_quantile(0.0, 3.0).unwrap(), 0.0);
        assert_eq!(chi2_quantile(1.0, 3.0).unwrap(), f64::INFINITY);
        assert!(chi2_quantile(1.1, 3.0).is_err());
        assert!(chi2_quantile(f64::NAN, 3.0).is_err());
        assert!(chi2_quantile(0.5, 0.0).is_err());
        assert!(chi2_quantile(0.5, f64::INFINITY).is_err());
    }

    #[test]
    fn chi2_sf_against_mpmath() {
        // (x, dof, P(X > x)): mpmath gammainc(k/2, x/2, inf, regularized) at 50 digits.
        let cases = [
            (3.84, 1.0, 0.050_043_521_248_705_103_189),
            (100.0, 1.0, 1.523_970_604_832_105_213_2e-23),
            (10.0, 3.0, 0.018_566_135_463_043_233_303),
            (0.5, 0.5, 0.256_322_055_268_538_958_33),
            (200.0, 50.0, 7.857_610_724_654_743_563_4e-20),
            (1e-3, 2.0, 0.999_500_124_979_169_270_56),
            (60.0, 10.0, 3.624_300_952_061_488_026_2e-9),
        ];
        for (x, dof, want) in cases {
            let tol = if dof == 1.0 || dof == 2.0 {
                3e-15
            } else {
                1e-12
            };
            assert_relative_eq!(chi2_sf(x, dof).unwrap(), want, max_relative = tol);
        }
        assert_eq!(chi2_sf(-1.0, 2.0).unwrap(), 1.0);
        assert_eq!(chi2_sf(f64::INFINITY, 2.0).unwrap(), 0.0);
        assert!(chi2_sf(f64::NAN, 2.0).is_err());
        assert!(chi2_sf(1.0, -2.0).is_err());
    }

    #[test]
    fn normal_quantile_against_mpmath() {
        // mpmath sqrt(2) erfinv(2p - 1) (or findroot on log ncdf), 50 digits.
        let cases = [
            (0.975, 1.959_963_984_540_053_855_6),
            (1e-300, -37.047_096_299_361_199_237),
            (0.3, -0.524_400_512_708_040_815_97),
            (0.999_999_999_999_999_9, 8.209_536_151_601_386_855_6),
            (0.84, 0.994_457_883_209_753_039_98),
            (1e-20, -9.262_340_089_798_407_579_6),
            (0.9999, 3.719_016_485_455_708_386_7),
        ];
        for (p, want) in cases {
            assert_relative_eq!(normal_quantile(p).unwrap(), want, max_relative = 3e-15);
        }
        assert_eq!(normal_quantile(0.5).unwrap(), 0.0);
        assert_eq!(normal_quantile(0.0).unwrap(), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0).unwrap(), f64::INFINITY);
        assert!(normal_quantile(-0.5).is_err() && normal_quantile(f64::NAN).is_err());
        // Subnormal p still inverts (through ln p).
        let z = normal_quantile(1e-310).unwrap();
        assert_relative_eq!(ln_normal_cdf(z), (1e-310f64).ln(), max_relative = 1e-14);
    }

    #[test]
    fn p_values_and_significances() {
        // (ts, two-sided Z) from mpmath: findroot of log ncdf(-Z) = log(2 ncdf(-sqrt ts)).
        let cases = [
            (3.841_458_820_694_124, 1.644_853_626_951_472_158),
            (25.0, 4.864_648_093_129_667_928_1),
            (1.0, 0.475_232_849_247_083_578_67),
            (2000.0, 44.705_865_364_495_848_404),
            (0.01, -1.407_391_436_510_386_873_4),
        ];
        for (ts, want) in cases {
            let z = ts_to_significance(ts, Sidedness::TwoSided).unwrap();
            assert_relative_eq!(z, want, max_relative = 5e-15);
        }
        assert_eq!(ts_to_significance(25.0, Sidedness::OneSided).unwrap(), 5.0);
        assert_eq!(ts_to_significance(0.0, Sidedness::OneSided).unwrap(), 0.0);
        assert_eq!(
            ts_to_significance(0.0, Sidedness::TwoSided).unwrap(),
            f64::NEG_INFINITY
        );
        assert_eq!(
            ts_to_significance(f64::INFINITY, Sidedness::TwoSided).unwrap(),
            f64::INFINITY
        );
        assert!(ts_to_significance(-1e-12, Sidedness::OneSided).is_err());
        assert!(ts_to_p_value(f64::NAN, Sidedness::TwoSided).is_err());

        // p-values invert the thresholds.
        for cl in [0.68, 0.9, 0.95, 0.99, 0.999_999] {
            for side in [Sidedness::OneSided, Sidedness::TwoSided] {
                let ts = ts_threshold(cl, side).unwrap();
                assert_relative_eq!(
                    ts_to_p_value(ts, side).unwrap(),
                    1.0 - cl,
                    max_relative = 1e-12
                );
            }
        }
        assert_eq!(ts_to_p_value(0.0, Sidedness::TwoSided).unwrap(), 1.0);
        assert_eq!(ts_to_p_value(0.0, Sidedness::OneSided).unwrap(), 0.5);
        // Two-sided p is the chi-square(1) survival function.
        assert_relative_eq!(
            ts_to_p_value(7.3, Sidedness::TwoSided).unwrap(),
            chi2_sf(7.3, 1.0).unwrap(),
            max_relative = 1e-15
        );
    }

    #[test]
    fn chi2_quantile_stops_at_the_noise_floor() {
        // Found by proptest: statrs' incomplete gamma is noisy at the 1e-15 level,
        // so a pure 4-ulp stopping rule never triggered here.
        let (p, dof) = (0.525_057_317_578_577_8, 0.3);
        let x = chi2_quantile(p, dof).unwrap();
        assert_relative_eq!(chi2_sf(x, dof).unwrap(), 1.0 - p, max_relative = 1e-13);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn chi2_quantile_inverts_sf(p in 1e-12f64..0.999_999, dof in 0.3f64..60.0) {
            let x = chi2_quantile(p, dof).unwrap();
            let sf = chi2_sf(x, dof).unwrap();
            prop_assert!((sf - (1.0 - p)).abs() <= 1e-11 * (1.0 - p).max(1e-3), "p {p} dof {dof} x {x} sf {sf}");
        }

        #[test]
        fn normal_quantile_inverts_cdf(p in 1e-300f64..1.0) {
            let z = normal_quantile(p).unwrap();
            if p < 0.5 {
                prop_assert!((ln_normal_cdf(z) - p.ln()).abs() <= 4e-15 * p.ln().abs());
            } else {
                prop_assert!((normal_cdf(z) - p).abs() <= 4e-16);
            }
        }

        #[test]
        fn significance_matches_p_value(ts in 0.0f64..600.0) {
            // Z = Phi^{-1}(1 - p): check Phi(-Z) = p in log space.
            for side in [Sidedness::OneSided, Sidedness::TwoSided] {
                let z = ts_to_significance(ts, side).unwrap();
                let p = ts_to_p_value(ts, side).unwrap();
                prop_assert!((ln_normal_cdf(-z) - p.ln()).abs() <= 1e-13 * p.ln().abs().max(1.0));
            }
        }
    }
}
