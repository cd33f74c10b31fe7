//! The binned Poisson log-likelihood, written through the Poisson deviance so
//! that it stays accurate for zero counts, tiny expectations and large counts,
//! and accepts real-valued counts (Asimov data sets).
//!
//! For one bin with $n$ counts and expectation $\lambda$,
//! $$\ln P(n \mid \lambda) = \underbrace{\ln P(n \mid n)}_{\text{saturated}} - d(n, \lambda),
//! \qquad d(n, \lambda) = \lambda - n - n \ln\frac{\lambda}{n} \;\ge 0,$$
//! with $d(0, \lambda) = \lambda$. The saturated term does not depend on the
//! model, so likelihood ratios only ever see the small, non-negative
//! deviances $d$; near $\lambda = n$ the logarithm is taken as
//! $\ln(1 + (\lambda - n)/n)$ so that $d$ keeps its relative precision.
//!
//! ```
//! use darkprobe_limits::likelihood::poisson::{binned_poisson_ln_likelihood, poisson_deviance};
//! // d(n, n) = 0 and d(0, lambda) = lambda.
//! assert_eq!(poisson_deviance(7.0, 7.0), 0.0);
//! assert_eq!(poisson_deviance(0.0, 1e-300), 1e-300);
//! let ln_l = binned_poisson_ln_likelihood(&[3.0, 0.0], &[2.5, 0.1])?;
//! let direct = 3.0 * 2.5f64.ln() - 2.5 - 6f64.ln() - 0.1;
//! assert!((ln_l - direct).abs() < 1e-14);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::Result;
use darkprobe_core::numerics::poisson_ln_pmf_real;
use darkprobe_core::Error;

/// The Poisson deviance term $d(n, \lambda) = \lambda - n - n\ln(\lambda/n)$
/// ($= \lambda$ for $n = 0$), so that
/// $\ln P(n\mid\lambda) = \ln P(n\mid n) - d(n, \lambda)$.
///
/// Non-negative for $n \ge 0$, $\lambda \ge 0$; $+\infty$ for $\lambda = 0 < n$.
/// No checks are made (this is the inner loop of every profile); use
/// [`binned_poisson_ln_likelihood`] for validated input.
#[inline]
pub fn poisson_deviance(n: f64, lambda: f64) -> f64 {
    if n == 0.0 {
        return lambda;
    }
    let diff = lambda - n;
    let x = diff / n;
    let ln_ratio = if x.abs() < 0.5 {
        x.ln_1p()
    } else {
        (lambda / n).ln()
    };
    diff - n * ln_ratio
}

/// $\ln P(n \mid n)$, the log-likelihood of the saturated model for one bin
/// (real $n \ge 0$; $0$ for $n = 0$).
#[inline]
pub fn saturated_ln_likelihood(n: f64) -> f64 {
    if n == 0.0 {
        0.0
    } else {
        poisson_ln_pmf_real(n, n)
    }
}

/// Checks one count: finite and $\ge 0$ (real values allowed for Asimov data).
pub(crate) fn check_count(what: &str, index: usize, n: f64) -> Result<()> {
    if n.is_finite() && n >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid_param(format!("{what}[{index}]"), n, "finite and >= 0").into())
    }
}

/// The largest observed count per bin a [`Target`](crate::likelihood::Target)
/// accepts, $10^{20}$.
///
/// The profile works with the deviances $\lambda - n - n\ln(\lambda/n)$,
/// which are $O(1)$ near a limit while $\lambda$ and $n$ are only known to
/// $\varepsilon n$ in `f64`; the relative error of $-2\Delta\ln L$ at the
/// limit grows as $\varepsilon\sqrt n$ per bin. Measured on a three-bin
/// target with the counts at the background (`tests/huge_counts.rs`): the
/// limit agrees with its asymptotic value to $10^{-6}$ at $n = 10^{20}$, to
/// $10^{-5}$ at $10^{22}$ and only to $10^{-3}$ at $10^{24}$. Larger counts are
/// refused rather than answered with a limit of unknown accuracy.
pub const MAX_COUNTS_PER_BIN: f64 = 1e20;

/// Checks one observed count: finite, $\ge 0$ and at most [`MAX_COUNTS_PER_BIN`].
pub(crate) fn check_observed_count(what: &str, index: usize, n: f64) -> Result<()> {
    check_count(what, index, n)?;
    if n > MAX_COUNTS_PER_BIN {
        return Err(Error::invalid_param(
            format!("{what}[{index}]"),
            format!("{n:e}"),
            format!(
                "at most {MAX_COUNTS_PER_BIN:e} counts per bin (beyond, the Poisson \
                 likelihood ratio is not resolved in double precision)"
            ),
        )
        .into());
    }
    Ok(())
}

/// $\sum_b \ln P(n_b \mid \lambda_b)$ for real-valued counts $n_b \ge 0$ and
/// expectations $\lambda_b \ge 0$, including the $\ln\Gamma(n_b + 1)$ terms.
///
/// A bin with $\lambda_b = 0$ and $n_b > 0$ gives $-\infty$ (a valid answer,
/// not an error).
///
/// # Errors
/// Slices of different lengths, a negative, infinite or `NaN` count or
/// expectation (the message names the bin).
pub fn binned_poisson_ln_likelihood(counts: &[f64], expected: &[f64]) -> Result<f64> {
    if counts.len() != expected.len() {
        return Err(Error::shape(
            "binned Poisson likelihood (counts vs expected)",
            counts.len(),
            expected.len(),
        )
        .into());
    }
    let mut total = 0.0;
    for (b, (&n, &lambda)) in counts.iter().zip(expected).enumerate() {
        check_count("counts", b, n)?;
        check_count("expected", b, lambda)?;
        total += saturated_ln_likelihood(n) - poisson_deviance(n, lambda);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use darkprobe_core::numerics::{ln_gamma, poisson_ln_pmf};
    use proptest::prelude::*;

    #[test]
    fn matches_direct_formula_for_integer_counts() {
        for &n in &[0u64, 1, 2, 5, 17, 100, 12345] {
            for &lambda in &[1e-12, 0.3, 1.0, 4.9, 17.0, 99.0, 12000.0] {
                let got = saturated_ln_likelihood(n as f64) - poisson_deviance(n as f64, lambda);
                let want = poisson_ln_pmf(n, lambda);
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "n {n} lambda {lambda}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn real_counts_use_ln_gamma() {
        let (n, lambda) = (3.7f64, 2.2f64);
        let direct = n * lambda.ln() - lambda - ln_gamma(n + 1.0);
        let got = saturated_ln_likelihood(n) - poisson_deviance(n, lambda);
        assert!((got - direct).abs() < 1e-13);
    }

    #[test]
    fn zero_and_tiny_expectations() {
        assert_eq!(poisson_deviance(0.0, 0.0), 0.0);
        assert_eq!(poisson_deviance(2.0, 0.0), f64::INFINITY);
        // n ln(lambda / n) stays finite for lambda = 1e-300.
        let d = poisson_deviance(1.0, 1e-300);
        assert!((d - (1e-300 - 1.0 + 300.0 * 10f64.ln())).abs() < 1e-12);
        assert_eq!(
            binned_poisson_ln_likelihood(&[1.0], &[0.0]).unwrap(),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn deviance_keeps_relative_precision_near_the_data() {
        // d(n, n(1+e)) = n (e - ln(1+e)) ~ n e^2 / 2 for small e.
        let n = 1e6;
        let e = 1e-6;
        let d = poisson_deviance(n, n * (1.0 + e));
        let series = n * (e * e / 2.0 - e * e * e / 3.0);
        assert!((d - series).abs() < 1e-9 * series, "{d} vs {series}");
    }

    #[test]
    fn bad_input_names_the_bin() {
        let e = binned_poisson_ln_likelihood(&[1.0, -2.0], &[1.0, 1.0]).unwrap_err();
        assert!(e.to_string().contains("counts[1]"), "{e}");
        let e = binned_poisson_ln_likelihood(&[1.0, 2.0], &[1.0, f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("expected[1]"), "{e}");
        assert!(binned_poisson_ln_likelihood(&[1.0], &[1.0, 2.0]).is_err());
    }

    proptest! {
        #[test]
        fn deviance_is_non_negative_and_minimal_at_n(n in 0.0f64..1e4, r in 1e-6f64..1e3) {
            let d = poisson_deviance(n, n * r + 1e-12);
            prop_assert!(d >= -1e-9 * n.max(1.0));
            prop_assert!(poisson_deviance(n, n) <= 1e-12 * n.max(1.0));
        }
    }
}
