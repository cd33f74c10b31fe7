//! Log-space numerics: the building blocks of every likelihood in darkprobe.
//!
//! Probabilities are handled as logarithms so that products of many small
//! numbers neither underflow nor lose digits. The functions here are on hot
//! paths, so they return `f64` (no [`Result`]): invalid input gives `NaN`
//! (documented per function) rather than an error. Where a checked variant is
//! useful it is provided with a `_checked` suffix.
//!
//! # Sums of exponentials
//! $\operatorname{LSE}(x_1,\dots,x_n) = \ln\sum_i e^{x_i}
//!  = m + \ln\bigl(1 + \sum_{i \ne i^*} e^{x_i - m}\bigr)$ with $m = x_{i^*} = \max_i x_i$,
//! so that no exponential overflows and the dominant term contributes exactly.
//! [`log_diff_exp`] evaluates $\ln(e^a - e^b) = a + \ln(1 - e^{-(a-b)})$ with the
//! two-branch rule of Mächler (2012, *Accurately computing*
//! $\log(1-\exp(-|a|))$, Rmpfr vignette): `ln(-expm1(-d))` for $d \le \ln 2$,
//! `ln_1p(-exp(-d))` otherwise. [`ln_1p_exp`] uses the thresholds of the same note.
//!
//! # Factorials and the Poisson law
//! $\ln n!$ is read from a table of factorials for $n \le 170$ (running products,
//! exact up to $22!$)
//! and from Stirling's series
//! $\ln n! = (n+\tfrac12)\ln n - n + \tfrac12\ln 2\pi + \delta(n)$,
//! $\delta(n) = \sum_{k\ge1} \frac{B_{2k}}{2k(2k-1)\,n^{2k-1}}
//!  = \frac1{12n} - \frac1{360n^3} + \frac1{1260n^5} - \dots$ beyond.
//!
//! The Poisson log-probability
//! $\ln P(n\mid\lambda) = n\ln\lambda - \lambda - \ln n!$ suffers catastrophic
//! cancellation for large $n$ (at $n=\lambda=10^9$ three terms of size $10^{10}$
//! cancel to $-11.28$). Following Loader (2000, *Fast and accurate computation
//! of binomial probabilities*) it is evaluated as
//! $$\ln P(n\mid\lambda) = -\tfrac12\ln(2\pi n) - \delta(n) - D(n,\lambda),\qquad
//!   D(n,\lambda) = n\ln\frac{n}{\lambda} + \lambda - n \ge 0,$$
//! where the deviance term $D$ is summed, for $|n-\lambda| < 0.1\,(n+\lambda)$, as
//! $D = (n-\lambda)v + 2n\sum_{j\ge1} \frac{v^{2j+1}}{2j+1}$ with
//! $v = \frac{n-\lambda}{n+\lambda}$ (no cancellation), and $\delta(n)$ comes from
//! a table for $n \le 15$ (values computed with mpmath at 60 digits) and from
//! the Stirling series above otherwise.
//!
//! # The Normal law in the tails
//! $\Phi(x)$ uses the rational Chebyshev approximations of W. J. Cody
//! (1969, *Math. Comp.* 23, 631; coefficients as in his ANORM routine, ACM TOMS
//! Algorithm 715, 1993), accurate to about $10^{-16}$ relative. In the tails
//! they have the form $\Phi(-y) = e^{-y^2/2} R(y)$, so
//! $\ln\Phi(-y) = -\tfrac{y^2}{2} + \ln R(y)$ is evaluated without ever forming
//! $\Phi$ and stays finite where $\Phi$ underflows ($x < -38.5$); for $y > \sqrt{32}$,
//! $R(y) = \bigl(\tfrac{1}{\sqrt{2\pi}} - y^{-2}P(y^{-2})/Q(y^{-2})\bigr)/y$ is the
//! Mills-ratio asymptotics. (`statrs`' `erfc` is not used for $\Phi$: in our
//! tests it was off by $4\cdot10^{-11}$ relative at $x = -1.5$.)
//! [`ln_normal_cdf_diff`] gives $\ln(\Phi(b) - \Phi(a))$: narrow intervals
//! ($|b-a|\max(|m|,3) \le 0.3$, $m$ the midpoint) are integrated with 5-point
//! Gauss–Legendre around $\ln\varphi(m)$, intervals in the upper tail are mirrored
//! into the lower tail, and the rest use [`log_diff_exp`] of the two $\ln\Phi$.
//!
//! # Compensated summation
//! [`NeumaierSum`] is Neumaier's (1974, *ZAMM* 54, 39) improvement of Kahan
//! summation: the error of each addition is recovered exactly by
//! `(s - t) + x` or `(x - t) + s`, whichever operand is larger, and
//! accumulated separately. The error bound is
//! $|\hat S - S| \le \varepsilon|S| + O(n\varepsilon^2)\sum|x_i|$.
//!
//! ```
//! use darkprobe_core::numerics::{compensated_sum, log_sum_exp, poisson_ln_pmf};
//! // ln(e^-1000 + e^-1000) = -1000 + ln 2, far below the f64 underflow.
//! assert!((log_sum_exp(&[-1000.0, -1000.0]) - (-1000.0 + 2f64.ln())).abs() < 1e-12);
//! // n = lambda = 1e9: -0.5 ln(2 pi 1e9) - 1/(12e9) + ...
//! let lp = poisson_ln_pmf(1_000_000_000, 1e9);
//! assert!((lp + 11.280571451761211653).abs() < 1e-12);
//! assert_eq!(compensated_sum(&[1e16, 1.0, -1e16]), 1.0);
//! ```

use crate::error::{Error, Result};
use statrs::function::gamma;
use std::f64::consts::LN_2;

/// $\ln 2\pi$.
const LN_2PI: f64 = 1.837_877_066_409_345_5;
/// $\tfrac12 \ln 2\pi$.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

// ---------------------------------------------------------------------------
// Sums of exponentials
// ---------------------------------------------------------------------------

/// $\ln\sum_i e^{x_i}$ without overflow or underflow.
///
/// Conventions: an empty slice gives $-\infty$ (the log of an empty sum), all
/// $-\infty$ gives $-\infty$, any `NaN` gives `NaN`, otherwise any $+\infty$
/// gives $+\infty$.
///
/// ```
/// use darkprobe_core::numerics::log_sum_exp;
/// assert!((log_sum_exp(&[0.0, 0.0, 0.0]) - 3f64.ln()).abs() < 1e-15);
/// assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
/// ```
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let mut imax = None;
    let mut m = f64::NEG_INFINITY;
    for (i, &x) in xs.iter().enumerate() {
        if x.is_nan() {
            return f64::NAN;
        }
        if imax.is_none() || x > m {
            m = x;
            imax = Some(i);
        }
    }
    let Some(imax) = imax else {
        return f64::NEG_INFINITY;
    };
    if m.is_infinite() {
        // +inf dominates; all -inf sums to zero.
        return m;
    }
    let rest: f64 = xs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != imax)
        .map(|(_, &x)| (x - m).exp())
        .sum();
    m + rest.ln_1p()
}

/// $\ln(e^a + e^b)$, stable for any magnitudes.
///
/// `NaN` in either argument gives `NaN`; $-\infty$ is the neutral element.
#[inline]
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi.is_infinite() {
        // both -inf -> -inf; hi = +inf -> +inf.
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// $\ln(e^a - e^b)$ for $a \ge b$.
///
/// $a = b$ gives $-\infty$ (a zero difference), $b = -\infty$ gives $a$.
/// $a < b$, `NaN` input, or $a = b = +\infty$ give `NaN`.
///
/// ```
/// use darkprobe_core::numerics::log_diff_exp;
/// // ln(e^1 - e^0) = ln(e - 1)
/// assert!((log_diff_exp(1.0, 0.0) - (std::f64::consts::E - 1.0).ln()).abs() < 1e-15);
/// ```
#[inline]
pub fn log_diff_exp(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() || a < b {
        return f64::NAN;
    }
    if a == b {
        return if a == f64::INFINITY {
            f64::NAN
        } else {
            f64::NEG_INFINITY
        };
    }
    if b == f64::NEG_INFINITY || a == f64::INFINITY {
        return a;
    }
    let d = b - a; // < 0
    if d > -LN_2 {
        a + (-d.exp_m1()).ln()
    } else {
        a + (-d.exp()).ln_1p()
    }
}

/// One-pass, streaming $\ln\sum_i e^{x_i}$.
///
/// Keeps the running maximum $m$ and $s = \sum_{i \ne i^*} e^{x_i - m}$; when a
/// new maximum arrives, $s$ is rescaled. The value is $m + \ln(1 + s)$ and has the
/// same conventions as [`log_sum_exp`] (empty: $-\infty$, any `NaN`: `NaN`,
/// otherwise any $+\infty$: $+\infty$).
///
/// ```
/// use darkprobe_core::numerics::LogSumExp;
/// let acc: LogSumExp = [-1e3, 2.0, -1e3, 2.0].into_iter().collect();
/// assert!((acc.value() - (2.0 + 2f64.ln())).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSumExp {
    max: f64,
    rest: f64,
    nan: bool,
}

impl LogSumExp {
    /// An empty accumulator (value $-\infty$).
    pub fn new() -> Self {
        Self {
            max: f64::NEG_INFINITY,
            rest: 0.0,
            nan: false,
        }
    }

    /// Adds the term $e^{x}$.
    #[inline]
    pub fn add(&mut self, x: f64) {
        if x.is_nan() {
            self.nan = true;
        } else if x > self.max {
            // Rescale the sum of the previous terms to the new maximum
            // (exp(-inf) = 0 handles the first finite term and x = +inf).
            self.rest = (self.rest + 1.0) * (self.max - x).exp();
            self.max = x;
        } else if self.max.is_finite() {
            self.rest += (x - self.max).exp();
        }
    }

    /// The current value of $\ln\sum_i e^{x_i}$.
    #[inline]
    pub fn value(&self) -> f64 {
        if self.nan {
            f64::NAN
        } else if self.max.is_infinite() {
            self.max
        } else {
            self.max + self.rest.ln_1p()
        }
    }
}

impl Default for LogSumExp {
    fn default() -> Self {
        Self::new()
    }
}

impl Extend<f64> for LogSumExp {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

impl FromIterator<f64> for LogSumExp {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut acc = Self::new();
        acc.extend(iter);
        acc
    }
}

// ---------------------------------------------------------------------------
// Softplus and sigmoids
// ---------------------------------------------------------------------------

/// $\ln(1 + e^x)$, accurate for all $x$ (thresholds of Mächler 2012):
/// $e^x$ for $x \le -37$, `ln_1p(exp(x))` up to 18, $x + e^{-x}$ up to 33.3,
/// $x$ beyond. `NaN` gives `NaN`.
///
/// ```
/// use darkprobe_core::numerics::ln_1p_exp;
/// assert_eq!(ln_1p_exp(800.0), 800.0);
/// assert!((ln_1p_exp(0.0) - 2f64.ln()).abs() < 1e-16);
/// assert_eq!(ln_1p_exp(-800.0), 0.0);
/// ```
#[inline]
pub fn ln_1p_exp(x: f64) -> f64 {
    if x <= -37.0 {
        x.exp()
    } else if x <= 18.0 {
        x.exp().ln_1p()
    } else if x <= 33.3 {
        x + (-x).exp()
    } else {
        x
    }
}

/// The softplus function $\ln(1 + e^x)$; the same as [`ln_1p_exp`].
#[inline]
pub fn softplus(x: f64) -> f64 {
    ln_1p_exp(x)
}

/// The logistic sigmoid $1/(1 + e^{-x})$, without overflow for large $|x|$
/// and with full relative accuracy for large negative $x$.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// $\ln\sigma(x) = -\ln(1 + e^{-x})$, finite for all finite $x$.
#[inline]
pub fn ln_sigmoid(x: f64) -> f64 {
    -ln_1p_exp(-x)
}

/// The logit $\ln\frac{p}{1-p}$, the inverse of [`sigmoid`].
///
/// $p = 0$ gives $-\infty$, $p = 1$ gives $+\infty$; $p$ outside $[0, 1]$ or
/// `NaN` gives `NaN`.
#[inline]
pub fn logit(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        f64::NAN
    } else if (0.25..=0.75).contains(&p) {
        // 2p - 1 and 1 - p are exact here; ln_1p keeps digits near p = 1/2.
        ((2.0 * p - 1.0) / (1.0 - p)).ln_1p()
    } else {
        (p / (1.0 - p)).ln()
    }
}

// ---------------------------------------------------------------------------
// Gamma, factorials, binomials
// ---------------------------------------------------------------------------

/// $\ln\Gamma(x)$ for $x > 0$ (Lanczos approximation from `statrs`; about
/// $10^{-14}$ relative, $2\cdot10^{-15}$ absolute near the zeros at $x = 1, 2$).
///
/// $x = 0$ gives $+\infty$; $x < 0$ or `NaN` gives `NaN` (use a dedicated
/// routine for the sign-alternating negative axis).
#[inline]
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        f64::NAN
    } else if x == 0.0 || x == f64::INFINITY {
        f64::INFINITY
    } else {
        gamma::ln_gamma(x)
    }
}

/// Number of entries in the factorial table ($170!$ is the largest finite `f64`).
const FACTORIAL_TABLE_LEN: usize = 171;

/// $n!$ for $n = 0, \dots, 170$, each entry the rounded product of the
/// previous entry and $n$ (exact up to $22!$, then within $(n-22)$ ulp-halves).
const FACTORIALS: [f64; FACTORIAL_TABLE_LEN] = {
    let mut t = [1.0; FACTORIAL_TABLE_LEN];
    let mut i = 1;
    while i < FACTORIAL_TABLE_LEN {
        t[i] = t[i - 1] * i as f64;
        i += 1;
    }
    t
};

/// $\delta(n) = \ln n! - (n+\tfrac12)\ln n + n - \tfrac12\ln 2\pi$ for
/// $n = 1,\dots,15$, computed with mpmath (`loggamma`, 60 digits).
#[allow(clippy::excessive_precision)] // 20 digits as computed
const STIRLING_ERROR_TABLE: [f64; 16] = [
    f64::INFINITY, // n = 0: unused (ln 0 diverges)
    0.081_061_466_795_327_258_22,
    0.041_340_695_955_409_294_09,
    0.027_677_925_684_998_339_15,
    0.020_790_672_103_765_093_11,
    0.016_644_691_189_821_192_16,
    0.013_876_128_823_070_748_00,
    0.011_896_709_945_891_770_10,
    0.010_411_265_261_972_096_50,
    0.009_255_462_182_712_732_918,
    0.008_330_563_433_362_871_257,
    0.007_573_675_487_951_840_795,
    0.006_942_840_107_209_529_866,
    0.006_408_994_188_004_207_068,
    0.005_951_370_112_758_847_736,
    0.005_554_733_551_962_801_371,
];

/// Stirling-series remainder $\delta(x)$ for real $x > 15$: the first seven terms
/// $B_{2k}/(2k(2k-1)x^{2k-1})$; the first omitted term is below $3\cdot10^{-20}$.
#[inline]
fn stirling_error_series(x: f64) -> f64 {
    const C: [f64; 7] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360_360.0,
        1.0 / 156.0,
    ];
    let r2 = 1.0 / (x * x);
    let mut acc = 0.0;
    for c in C.iter().rev() {
        acc = acc * r2 + c;
    }
    acc / x
}

/// Stirling remainder $\delta(n)$ for an integer $n \ge 1$.
#[inline]
fn stirling_error(n: u64) -> f64 {
    match usize::try_from(n)
        .ok()
        .and_then(|i| STIRLING_ERROR_TABLE.get(i))
    {
        Some(&d) => d,
        None => stirling_error_series(n as f64),
    }
}

/// $\ln n!$, to within a couple of ulp.
///
/// Read from a table of factorials for $n \le 170$; beyond, from Stirling's
/// series with its remainder (see the module docs).
///
/// ```
/// use darkprobe_core::numerics::ln_factorial;
/// assert!((ln_factorial(10) - 3_628_800f64.ln()).abs() < 1e-14);
/// ```
#[inline]
pub fn ln_factorial(n: u64) -> f64 {
    match usize::try_from(n).ok().and_then(|i| FACTORIALS.get(i)) {
        Some(f) => f.ln(),
        None => {
            let x = n as f64;
            (x + 0.5) * x.ln() - x + HALF_LN_2PI + stirling_error_series(x)
        }
    }
}

/// $\ln\binom{n}{k}$; $k > n$ gives $-\infty$.
///
/// Uses the Stirling remainders of $n$, $k$ and $n-k$ so that there is no
/// cancellation between three huge $\ln n!$ terms:
/// $\ln\binom nk = k\ln\frac nk - (n-k)\ln\bigl(1-\frac kn\bigr)
/// + \tfrac12\ln\frac{n}{2\pi k(n-k)} + \delta(n) - \delta(k) - \delta(n-k)$.
///
/// ```
/// use darkprobe_core::numerics::ln_binomial;
/// assert!((ln_binomial(10, 3) - 120f64.ln()).abs() < 1e-14);
/// ```
pub fn ln_binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let k = k.min(n - k);
    if k == 0 {
        return 0.0;
    }
    let (nf, kf) = (n as f64, k as f64);
    let nk = (n - k) as f64;
    kf * (nf / kf).ln() - nk * (-kf / nf).ln_1p() + 0.5 * (nf / (kf * nk)).ln() - HALF_LN_2PI
        + stirling_error(n)
        - stirling_error(k)
        - stirling_error(n - k)
}

// ---------------------------------------------------------------------------
// Poisson
// ---------------------------------------------------------------------------

/// Loader's deviance term $D(x, \lambda) = x\ln(x/\lambda) + \lambda - x$ for
/// finite $x > 0$, $\lambda > 0$.
#[inline]
fn poisson_deviance(x: f64, lambda: f64) -> f64 {
    let diff = x - lambda;
    let sum = x + lambda;
    if diff.abs() < 0.1 * sum {
        let v = diff / sum;
        let v2 = v * v;
        let mut s = diff * v;
        let mut term = 2.0 * x * v;
        // |v| < 0.1: each term shrinks by > 100; 30 terms exceed f64 precision.
        for j in 1..30 {
            term *= v2;
            let next = s + term / f64::from(2 * j + 1);
            if next == s {
                break;
            }
            s = next;
        }
        s
    } else {
        let r = x / lambda;
        let ln_r = if r.is_finite() && r > 0.0 {
            r.ln()
        } else {
            x.ln() - lambda.ln()
        };
        x * ln_r - diff
    }
}

/// $\ln P(n\mid\lambda)$ for real $n > 0$ through the Loader decomposition.
#[inline]
fn poisson_ln_pmf_loader(x: f64, stirling: f64, lambda: f64) -> f64 {
    -0.5 * (LN_2PI + x.ln()) - stirling - poisson_deviance(x, lambda)
}

/// Poisson log-probability $\ln P(n\mid\lambda) = n\ln\lambda - \lambda - \ln n!$.
///
/// Accurate to a few ulp of the result for all $n$ (tested up to $10^9$) and
/// $\lambda$ down to $10^{-300}$ (Loader 2000, see the module docs).
///
/// Conventions: $n = 0, \lambda = 0$ gives $0$; $n > 0, \lambda = 0$ gives
/// $-\infty$; $\lambda = +\infty$ gives $-\infty$; negative or `NaN` $\lambda$
/// gives `NaN`. Use [`poisson_ln_pmf_checked`] for an error instead.
///
/// ```
/// use darkprobe_core::numerics::poisson_ln_pmf;
/// assert!((poisson_ln_pmf(3, 2.5) - (3.0 * 2.5f64.ln() - 2.5 - 6f64.ln())).abs() < 1e-14);
/// assert_eq!(poisson_ln_pmf(0, 0.0), 0.0);
/// assert_eq!(poisson_ln_pmf(2, 0.0), f64::NEG_INFINITY);
/// assert!(poisson_ln_pmf(2, -1.0).is_nan());
/// ```
#[inline]
pub fn poisson_ln_pmf(n: u64, lambda: f64) -> f64 {
    if lambda.is_nan() || lambda < 0.0 {
        return f64::NAN;
    }
    if lambda == f64::INFINITY {
        return f64::NEG_INFINITY;
    }
    if n == 0 {
        return -lambda;
    }
    if lambda == 0.0 {
        return f64::NEG_INFINITY;
    }
    poisson_ln_pmf_loader(n as f64, stirling_error(n), lambda)
}

/// Poisson log-"probability" for a real, non-negative count $n$:
/// $n\ln\lambda - \lambda - \ln\Gamma(n+1)$.
///
/// Used for Asimov data sets, where the "observed" counts equal the expected
/// ones. Integer $n < 2^{53}$ give exactly [`poisson_ln_pmf`]; non-integer
/// $n > 15$ use the Loader decomposition with the real Stirling series, smaller
/// ones the direct formula with [`ln_gamma`].
///
/// Conventions as [`poisson_ln_pmf`]; in addition negative, infinite or `NaN`
/// $n$ gives `NaN`.
#[inline]
pub fn poisson_ln_pmf_real(n: f64, lambda: f64) -> f64 {
    if !n.is_finite() || n < 0.0 {
        return f64::NAN;
    }
    if n.fract() == 0.0 && n < 9_007_199_254_740_992.0 {
        return poisson_ln_pmf(n as u64, lambda);
    }
    if lambda.is_nan() || lambda < 0.0 {
        return f64::NAN;
    }
    if lambda == f64::INFINITY || lambda == 0.0 {
        // n > 0 here (n = 0 is an integer).
        return f64::NEG_INFINITY;
    }
    if n > 15.0 {
        poisson_ln_pmf_loader(n, stirling_error_series(n), lambda)
    } else {
        n * lambda.ln() - lambda - ln_gamma(n + 1.0)
    }
}

/// Checked [`poisson_ln_pmf_real`].
///
/// # Errors
/// [`Error::InvalidParameter`] when `n` or `lambda` is negative, infinite or `NaN`.
///
/// ```
/// use darkprobe_core::numerics::poisson_ln_pmf_checked;
/// assert!(poisson_ln_pmf_checked(2.0, -1.0).is_err());
/// assert!((poisson_ln_pmf_checked(0.0, 1.5).unwrap() + 1.5).abs() < 1e-15);
/// ```
pub fn poisson_ln_pmf_checked(n: f64, lambda: f64) -> Result<f64> {
    for (name, v) in [("n", n), ("lambda", lambda)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::invalid_param(name, v, "finite and >= 0"));
        }
    }
    Ok(poisson_ln_pmf_real(n, lambda))
}

// ---------------------------------------------------------------------------
// Normal and log-normal
// ---------------------------------------------------------------------------

/// Log-density of $\mathcal N(\mu, \sigma^2)$ at $x$:
/// $-\tfrac12\bigl(\frac{x-\mu}{\sigma}\bigr)^2 - \ln\sigma - \tfrac12\ln 2\pi$.
///
/// $\sigma \le 0$ or `NaN` input gives `NaN`.
#[inline]
pub fn normal_ln_pdf(x: f64, mu: f64, sigma: f64) -> f64 {
    if sigma.is_nan() || sigma <= 0.0 {
        return f64::NAN;
    }
    let z = (x - mu) / sigma;
    -0.5 * z * z - sigma.ln() - HALF_LN_2PI
}

/// Log-density in $y$ of the log-normal law with $\ln y \sim \mathcal N(\mu, \sigma^2)$:
/// $\ln\varphi\bigl(\frac{\ln y-\mu}{\sigma}\bigr) - \ln\sigma - \ln y$.
///
/// $y \le 0$ or $y = +\infty$ gives $-\infty$; $\sigma \le 0$ or `NaN` input gives `NaN`.
#[inline]
pub fn lognormal_ln_pdf(y: f64, mu: f64, sigma: f64) -> f64 {
    if y.is_nan() || mu.is_nan() || sigma.is_nan() || sigma <= 0.0 {
        return f64::NAN;
    }
    if y <= 0.0 || y == f64::INFINITY {
        return f64::NEG_INFINITY;
    }
    let ln_y = y.ln();
    normal_ln_pdf(ln_y, mu, sigma) - ln_y
}

// Coefficients of Cody's rational Chebyshev approximations of the Normal CDF
// (W. J. Cody 1969, Math. Comp. 23, 631; as tabulated in his ANORM routine,
// ACM TOMS Algorithm 715, 1993). Central region |x| <= 0.66291:
#[allow(clippy::excessive_precision)] // digits as published
const CODY_A: [f64; 5] = [
    2.235_252_035_460_683_928_7,
    161.028_231_068_555_878_81,
    1_067.689_485_460_370_958_2,
    18_154.981_253_343_561_249,
    0.065_682_337_918_207_449_113,
];
#[allow(clippy::excessive_precision)] // digits as published
const CODY_B: [f64; 4] = [
    47.202_581_904_688_241_87,
    976.098_551_737_776_693_22,
    10_260.932_208_618_978_205,
    45_507.789_335_026_729_956,
];
// 0.66291 < |x| <= sqrt(32):
#[allow(clippy::excessive_precision)] // digits as published
const CODY_C: [f64; 9] = [
    0.398_941_512_088_134_667_64,
    8.883_149_794_388_375_941_2,
    93.506_656_132_177_855_979,
    597.270_276_394_802_262_26,
    2_494.537_585_290_372_671_1,
    6_848.190_450_536_282_332_6,
    11_602.651_437_647_350_124,
    9_842.714_838_383_978_021_8,
    1.076_557_677_372_019_231_7e-8,
];
#[allow(clippy::excessive_precision)] // digits as published
const CODY_D: [f64; 8] = [
    22.266_688_044_328_115_691,
    235.387_901_782_624_998_61,
    1_519.377_599_407_554_805,
    6_485.558_298_266_760_755,
    18_615.571_640_885_098_091,
    34_900.952_721_145_977_266,
    38_912.003_286_093_271_411,
    19_685.429_676_859_990_727,
];
// |x| > sqrt(32), in powers of 1/x^2:
#[allow(clippy::excessive_precision)] // digits as published
const CODY_P: [f64; 6] = [
    0.215_898_534_057_956_99,
    0.127_401_161_160_247_363_9,
    0.022_235_277_870_649_807,
    0.001_421_619_193_227_893_466,
    2.911_287_495_116_879_2e-5,
    0.023_073_441_764_940_173_03,
];
#[allow(clippy::excessive_precision)] // digits as published
const CODY_Q: [f64; 5] = [
    1.284_260_096_144_911_21,
    0.468_238_212_480_865_118,
    0.065_988_137_868_928_551_5,
    0.003_782_396_332_027_582_44,
    7.297_515_550_839_662_05e-5,
];
/// Boundary of Cody's central region.
const CODY_CENTRAL: f64 = 0.66291;
/// $\sqrt{32}$, boundary between Cody's middle and tail regions.
const CODY_SQRT_32: f64 = 5.656_854_249_492_381;
/// $1/\sqrt{2\pi}$.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// $\Phi(x) - \tfrac12$ for $|x| \le 0.66291$ (Cody's central approximation).
#[inline]
fn cody_central(x: f64) -> f64 {
    let z = x * x;
    let mut num = CODY_A[4] * z;
    let mut den = z;
    for (a, b) in CODY_A.iter().zip(&CODY_B).take(3) {
        num = (num + a) * z;
        den = (den + b) * z;
    }
    x * (num + CODY_A[3]) / (den + CODY_B[3])
}

/// The lower tail $\Phi(-y)$ for finite $y > 0.66291$, as $(e_1, e_2, r)$ with
/// $\Phi(-y) = e^{e_1} e^{e_2} r$. Splitting $y^2/2$ into the exactly
/// representable $-\lfloor 16y\rfloor^2/512$ and a small remainder keeps the full
/// relative accuracy of $e^{-y^2/2}$ (Cody's device).
#[inline]
fn cody_lower_tail(y: f64) -> (f64, f64, f64) {
    let r = if y <= CODY_SQRT_32 {
        let mut num = CODY_C[8] * y;
        let mut den = y;
        for (c, d) in CODY_C.iter().zip(&CODY_D).take(7) {
            num = (num + c) * y;
            den = (den + d) * y;
        }
        (num + CODY_C[7]) / (den + CODY_D[7])
    } else {
        let z = 1.0 / (y * y);
        let mut num = CODY_P[5] * z;
        let mut den = z;
        for (p, q) in CODY_P.iter().zip(&CODY_Q).take(4) {
            num = (num + p) * z;
            den = (den + q) * z;
        }
        (FRAC_1_SQRT_2PI - z * (num + CODY_P[4]) / (den + CODY_Q[4])) / y
    };
    let ys = (16.0 * y).trunc() / 16.0;
    let rem = (y - ys) * (y + ys);
    (-0.5 * ys * ys, -0.5 * rem, r)
}

/// Standard Normal CDF $\Phi(x)$, with full relative accuracy in the lower
/// tail until it underflows below $x \approx -38.5$ (use [`ln_normal_cdf`]
/// there). Cody's rational approximations, see the module docs.
///
/// `NaN` gives `NaN`.
///
/// ```
/// use darkprobe_core::numerics::{normal_cdf, normal_sf};
/// assert!((normal_cdf(1.959963984540054) - 0.975).abs() < 1e-15);
/// assert_eq!(normal_cdf(0.7), 1.0 - normal_sf(0.7));
/// ```
#[inline]
pub fn normal_cdf(x: f64) -> f64 {
    let y = x.abs();
    if x.is_nan() {
        f64::NAN
    } else if y <= CODY_CENTRAL {
        0.5 + cody_central(x)
    } else if y == f64::INFINITY {
        if x > 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        let (e1, e2, r) = cody_lower_tail(y);
        let lower = e1.exp() * e2.exp() * r;
        if x < 0.0 {
            lower
        } else {
            1.0 - lower
        }
    }
}

/// $\Phi(x) - \tfrac12$, with full relative accuracy also near $x = 0$ (used by
/// the Normal quantile in [`crate::stats`]).
#[inline]
pub(crate) fn normal_cdf_centered(x: f64) -> f64 {
    if x.abs() <= CODY_CENTRAL {
        cody_central(x)
    } else if x > 0.0 {
        0.5 - normal_sf(x)
    } else {
        normal_cdf(x) - 0.5
    }
}

/// Standard Normal survival function $1 - \Phi(x) = \Phi(-x)$, with full
/// relative accuracy in the upper tail.
#[inline]
pub fn normal_sf(x: f64) -> f64 {
    normal_cdf(-x)
}

/// $\ln\Phi(x)$, finite and accurate for every finite $x$ (at $x = -40$,
/// $\ln\Phi = -804.608\ldots$ although $\Phi$ underflows).
///
/// `NaN` gives `NaN`, $-\infty$ gives $-\infty$, $+\infty$ gives $0$.
///
/// ```
/// use darkprobe_core::numerics::ln_normal_cdf;
/// // Reference value from mpmath: log(ncdf(-40)).
/// assert!((ln_normal_cdf(-40.0) + 804.60844201375378817).abs() < 1e-11);
/// ```
pub fn ln_normal_cdf(x: f64) -> f64 {
    let y = x.abs();
    if x.is_nan() {
        f64::NAN
    } else if y <= CODY_CENTRAL {
        (0.5 + cody_central(x)).ln()
    } else if y == f64::INFINITY {
        if x > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        }
    } else if x < 0.0 {
        let (e1, e2, r) = cody_lower_tail(y);
        e1 + e2 + r.ln()
    } else {
        (-normal_sf(x)).ln_1p()
    }
}

/// 5-point Gauss–Legendre nodes on $[-1, 1]$ (closed forms
/// $\tfrac13\sqrt{5 \mp 2\sqrt{10/7}}$) and weights ($128/225$,
/// $(322 \pm 13\sqrt{70})/900$), evaluated with mpmath.
const GL5_NODES: [f64; 5] = [
    -0.906_179_845_938_664,
    -0.538_469_310_105_683_1,
    0.0,
    0.538_469_310_105_683_1,
    0.906_179_845_938_664,
];
const GL5_WEIGHTS: [f64; 5] = [
    0.236_926_885_056_189_1,
    0.478_628_670_499_366_5,
    0.568_888_888_888_888_9,
    0.478_628_670_499_366_5,
    0.236_926_885_056_189_1,
];

/// $\ln(\Phi(b) - \Phi(a))$ for $a \le b$: the log of the standard-Normal mass
/// in $[a, b]$, accurate in both tails and for very narrow intervals.
///
/// $a = b$ gives $-\infty$; $a > b$ or `NaN` gives `NaN`. Infinite ends are
/// allowed ($a = -\infty$ gives [`ln_normal_cdf`]`(b)`).
///
/// ```
/// use darkprobe_core::numerics::ln_normal_cdf_diff;
/// // Mass of [30, 31]: 1 - Phi(30) is 5e-198, far below the f64 resolution of 1.
/// // Reference value from mpmath at 400 digits.
/// assert!((ln_normal_cdf_diff(30.0, 31.0) + 454.32124395634325204).abs() < 1e-10);
/// ```
pub fn ln_normal_cdf_diff(lo: f64, hi: f64) -> f64 {
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return f64::NAN;
    }
    if lo == hi {
        return f64::NEG_INFINITY;
    }
    let width = hi - lo;
    let mid = 0.5 * lo + 0.5 * hi;
    if width * mid.abs().max(3.0) <= 0.3 {
        // phi(mid + u) = phi(mid) exp(-mid u - u^2/2): integrate the smooth
        // factor with Gauss-Legendre; relative error < 1e-17 under this bound.
        let half = 0.5 * width;
        let s: f64 = GL5_NODES
            .iter()
            .zip(GL5_WEIGHTS)
            .map(|(&t, w)| {
                let u = half * t;
                w * (-(mid * u) - 0.5 * u * u).exp()
            })
            .sum();
        return half.ln() - 0.5 * mid * mid - HALF_LN_2PI + s.ln();
    }
    // Mirror the upper tail into the lower tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b).
    let (lo, hi) = if lo >= 0.0 { (-hi, -lo) } else { (lo, hi) };
    if hi <= 0.0 {
        log_diff_exp(ln_normal_cdf(hi), ln_normal_cdf(lo))
    } else {
        // lo < 0 < hi: one minus two (small) tails.
        (-(normal_cdf(lo) + normal_cdf(-hi))).ln_1p()
    }
}

// ---------------------------------------------------------------------------
// Compensated summation
// ---------------------------------------------------------------------------

/// Neumaier (improved Kahan–Babuška) compensated sum.
///
/// Non-finite terms are summed naively (the result is then $\pm\infty$ or `NaN`
/// as for plain addition).
///
/// ```
/// use darkprobe_core::numerics::NeumaierSum;
/// let s: NeumaierSum = [1.0, 1e100, 1.0, -1e100].into_iter().collect();
/// assert_eq!(s.value(), 2.0); // naive and Kahan summation give 0
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NeumaierSum {
    sum: f64,
    compensation: f64,
}

impl NeumaierSum {
    /// An empty sum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `x`.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated sum of the terms added so far.
    #[inline]
    pub fn value(&self) -> f64 {
        if self.sum.is_finite() {
            self.sum + self.compensation
        } else {
            self.sum
        }
    }
}

impl Extend<f64> for NeumaierSum {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

impl FromIterator<f64> for NeumaierSum {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = Self::new();
        s.extend(iter);
        s
    }
}

/// The Neumaier-compensated sum of `xs` (0 for an empty slice).
#[inline]
pub fn compensated_sum(xs: &[f64]) -> f64 {
    xs.iter().copied().collect::<NeumaierSum>().value()
}

#[cfg(test)]
// Reference values keep all the digits mpmath printed.
#[allow(
    clippy::excessive_precision,
    clippy::inconsistent_digit_grouping,
    clippy::approx_constant
)]
mod tests {
    use super::*;
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use proptest::prelude::*;
    use std::f64::consts::PI;

    #[test]
    fn constants_are_right() {
        assert_relative_eq!(LN_2PI, (2.0 * PI).ln(), max_relative = 1e-16);
        assert_relative_eq!(HALF_LN_2PI, 0.5 * (2.0 * PI).ln(), max_relative = 1e-16);
        // Gauss-Legendre: weights sum to 2 and the rule integrates t^8 exactly.
        assert_relative_eq!(GL5_WEIGHTS.iter().sum::<f64>(), 2.0, max_relative = 1e-15);
        let m8: f64 = GL5_NODES
            .iter()
            .zip(GL5_WEIGHTS)
            .map(|(t, w)| w * t.powi(8))
            .sum();
        assert_relative_eq!(m8, 2.0 / 9.0, max_relative = 1e-14);
        let m10: f64 = GL5_NODES
            .iter()
            .zip(GL5_WEIGHTS)
            .map(|(t, w)| w * t.powi(10))
            .sum();
        // Not exact for degree 10: the rule really has 5 points.
        assert!((m10 - 2.0 / 11.0).abs() > 1e-4);
    }

    // ---- log-sum-exp -------------------------------------------------------

    #[test]
    fn log_sum_exp_matches_direct_sum_and_edge_cases() {
        let xs = [0.3, -1.2, 2.5, 0.0];
        let direct: f64 = xs.iter().map(|x: &f64| x.exp()).sum::<f64>().ln();
        assert_relative_eq!(log_sum_exp(&xs), direct, max_relative = 1e-15);
        // Shift invariance far outside the exp range.
        let shifted: Vec<f64> = xs.iter().map(|x| x - 2000.0).collect();
        assert_relative_eq!(log_sum_exp(&shifted), direct - 2000.0, max_relative = 1e-15);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(log_sum_exp(&[1.0, f64::NAN, f64::INFINITY]).is_nan());
        assert!(log_sum_exp(&[f64::INFINITY, f64::NAN]).is_nan());
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY, 1.5]), 1.5);
        // A tiny term next to a dominant one is kept (ln_1p path): 1e-20 relative.
        assert_abs_diff_eq!(log_sum_exp(&[0.0, -46.0]), (-46f64).exp(), epsilon = 1e-35);
    }

    #[test]
    fn log_add_and_diff_exp() {
        assert_relative_eq!(
            log_add_exp(1.0, 2.0),
            (1f64.exp() + 2f64.exp()).ln(),
            max_relative = 1e-15
        );
        assert_relative_eq!(
            log_add_exp(-800.0, -800.0),
            -800.0 + LN_2,
            max_relative = 1e-15
        );
        assert_eq!(
            log_add_exp(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        assert_eq!(log_add_exp(3.0, f64::NEG_INFINITY), 3.0);
        assert_eq!(log_add_exp(f64::INFINITY, 3.0), f64::INFINITY);
        assert!(log_add_exp(f64::NAN, 3.0).is_nan());

        assert_relative_eq!(
            log_diff_exp(2.0, 1.0),
            (2f64.exp() - 1f64.exp()).ln(),
            max_relative = 1e-15
        );
        // Both branches near d = ln 2, and a tiny gap: ln(e^a - e^(a - 1e-10)) = a + ln(1e-10) + O(1e-10).
        assert_relative_eq!(
            log_diff_exp(0.0, -0.69),
            (1.0 - (-0.69f64).exp()).ln(),
            max_relative = 1e-15
        );
        assert_relative_eq!(
            log_diff_exp(0.0, -0.70),
            (1.0 - (-0.70f64).exp()).ln(),
            max_relative = 1e-15
        );
        // d = 2^-33 is exactly representable next to 700; ln(1 - e^-d) = ln d - d/2 + d^2/24.
        let d = 2f64.powi(-33);
        assert_relative_eq!(
            log_diff_exp(-700.0, -700.0 - d),
            -700.0 + d.ln() - 0.5 * d,
            max_relative = 1e-15
        );
        // Large gap: e^b negligible to 1e-300 relative.
        assert_eq!(log_diff_exp(5.0, -1000.0), 5.0);
        assert_eq!(log_diff_exp(1.0, 1.0), f64::NEG_INFINITY);
        assert_eq!(
            log_diff_exp(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        assert_eq!(log_diff_exp(1.0, f64::NEG_INFINITY), 1.0);
        assert_eq!(log_diff_exp(f64::INFINITY, 1.0), f64::INFINITY);
        assert!(log_diff_exp(f64::INFINITY, f64::INFINITY).is_nan());
        assert!(log_diff_exp(0.0, 1.0).is_nan());
        assert!(log_diff_exp(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn streaming_log_sum_exp_rescales_and_handles_edges() {
        // Increasing maxima force rescaling at every step.
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i) * 5.0 - 700.0).collect();
        let acc: LogSumExp = xs.iter().copied().collect();
        assert_relative_eq!(acc.value(), log_sum_exp(&xs), max_relative = 1e-14);
        let mut rev = LogSumExp::default();
        rev.extend(xs.iter().rev().copied());
        assert_relative_eq!(rev.value(), log_sum_exp(&xs), max_relative = 1e-14);

        assert_eq!(LogSumExp::new().value(), f64::NEG_INFINITY);
        let mut a = LogSumExp::new();
        a.add(f64::NEG_INFINITY);
        assert_eq!(a.value(), f64::NEG_INFINITY);
        a.add(-3.0);
        assert_eq!(a.value(), -3.0);
        a.add(f64::NEG_INFINITY);
        assert_eq!(a.value(), -3.0);
        a.add(f64::INFINITY);
        assert_eq!(a.value(), f64::INFINITY);
        a.add(1.0);
        a.add(f64::INFINITY);
        assert_eq!(a.value(), f64::INFINITY);
        a.add(f64::NAN);
        assert!(a.value().is_nan());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn streaming_equals_two_pass(xs in prop::collection::vec(-800.0f64..800.0, 1..40)) {
            let acc: LogSumExp = xs.iter().copied().collect();
            let two_pass = log_sum_exp(&xs);
            prop_assert!((acc.value() - two_pass).abs() <= 1e-13 * two_pass.abs().max(1.0));
            // LSE lies between max and max + ln n.
            let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(two_pass >= m && two_pass <= m + (xs.len() as f64).ln() + 1e-12);
        }

        #[test]
        fn log_add_and_diff_are_inverse(a in -700.0f64..700.0, d in 1e-6f64..50.0) {
            let b = a - d;
            let s = log_add_exp(a, b);
            prop_assert!((log_diff_exp(s, b) - a).abs() <= 1e-12 * a.abs().max(1.0));
            prop_assert!((log_sum_exp(&[a, b]) - s).abs() <= 1e-14 * s.abs().max(1.0));
        }
    }

    // ---- softplus & sigmoids -------------------------------------------------

    #[test]
    fn ln_1p_exp_regions_and_sigmoids() {
        // Each branch against an independent expression evaluated where it is exact enough.
        assert_relative_eq!(ln_1p_exp(-40.0), (-40f64).exp(), max_relative = 1e-16);
        assert_relative_eq!(
            ln_1p_exp(-36.0),
            (-36f64).exp() * (1.0 - 0.5 * (-36f64).exp()),
            max_relative = 1e-15
        );
        assert_relative_eq!(
            ln_1p_exp(1.0),
            (1.0 + 1f64.exp()).ln(),
            max_relative = 1e-15
        );
        assert_relative_eq!(ln_1p_exp(25.0), 25.0 + (-25f64).exp(), max_relative = 1e-16);
        assert_relative_eq!(
            ln_1p_exp(18.0),
            (1.0 + 18f64.exp()).ln(),
            max_relative = 1e-15
        );
        assert_eq!(ln_1p_exp(1e6), 1e6);
        assert!(ln_1p_exp(f64::NAN).is_nan());
        assert_eq!(softplus(3.0), ln_1p_exp(3.0));

        assert_eq!(sigmoid(0.0), 0.5);
        assert_relative_eq!(sigmoid(-700.0), (-700f64).exp(), max_relative = 1e-15);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_relative_eq!(
            sigmoid(2.0),
            1.0 / (1.0 + (-2f64).exp()),
            max_relative = 1e-16
        );
        assert_relative_eq!(ln_sigmoid(-800.0), -800.0, max_relative = 1e-16);
        assert_relative_eq!(ln_sigmoid(40.0), -(-40f64).exp(), max_relative = 1e-15);
        assert_relative_eq!(ln_sigmoid(0.3), sigmoid(0.3).ln(), max_relative = 1e-15);

        assert_eq!(logit(0.5), 0.0);
        assert_eq!(logit(0.0), f64::NEG_INFINITY);
        assert_eq!(logit(1.0), f64::INFINITY);
        assert!(logit(1.5).is_nan() && logit(-0.1).is_nan() && logit(f64::NAN).is_nan());
        // logit(0.5 + e) = ln((1+2e)/(1-2e)) = 4e + (4/3)(2e)^3 ...: 1e-12 relative near 1/2.
        let e = 1e-9;
        assert_relative_eq!(logit(0.5 + e), 4.0 * e, max_relative = 1e-12);
        assert_relative_eq!(logit(1e-300), (1e-300f64).ln(), max_relative = 1e-16);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn logit_inverts_sigmoid(x in -30.0f64..30.0) {
            // For x > 0, 1 - sigmoid(x) ~ e^-x carries a rounding error of ~eps e^x.
            let tol = 1e-14 * x.abs().max(1.0) + 2.0 * f64::EPSILON * x.max(0.0).exp();
            prop_assert!((logit(sigmoid(x)) - x).abs() <= tol);
            prop_assert!((sigmoid(x) + sigmoid(-x) - 1.0).abs() <= 1e-15);
            // ln sigma(x) - ln sigma(-x) = x.
            prop_assert!((ln_sigmoid(x) - ln_sigmoid(-x) - x).abs() <= 1e-13 * x.abs().max(1.0));
        }
    }

    // ---- gamma, factorials, binomials ---------------------------------------

    #[test]
    fn ln_gamma_against_mpmath() {
        // mpmath loggamma at 30 digits.
        let cases = [
            (1e-300, 690.775_527_898_213_705_18),
            (1e-5, 11.512_919_692_895_825_626),
            (0.5, 0.572_364_942_924_700_087_07),
            (1.5, -0.120_782_237_635_245_222_35),
            (3.7, 1.428_072_326_665_388_129_2),
            (10.25, 13.368_023_671_476_046_295),
            (171.5, 709.143_163_030_928_242_27),
            (1e6 + 0.5, 12_815_511.476_902_765_642),
            (1e15, 33_538_776_394_910_668.91),
        ];
        for (x, want) in cases {
            // statrs' Lanczos sum: ~2e-15 absolute near the zeros at x = 1, 2.
            assert_relative_eq!(ln_gamma(x), want, max_relative = 1e-14, epsilon = 3e-15);
        }
        assert_eq!(ln_gamma(0.0), f64::INFINITY);
        assert!(ln_gamma(-1.5).is_nan() && ln_gamma(f64::NAN).is_nan());
    }

    #[test]
    fn ln_factorial_against_mpmath() {
        // mpmath loggamma(n + 1) at 60 digits.
        let cases: [(u64, f64); 20] = [
            (0, 0.0),
            (1, 0.0),
            (2, 0.693_147_180_559_945_309_42),
            (10, 15.104_412_573_075_515_295),
            (20, 42.335_616_460_753_485_03),
            (21, 45.380_138_898_476_908_026),
            (22, 48.471_181_351_835_223_88),
            (23, 51.606_675_567_764_373_57),
            (25, 58.003_605_222_980_519_939),
            (50, 148.477_766_951_773_032_07),
            (100, 363.739_375_555_563_490_14),
            (169, 701.437_263_808_737_085_35),
            (170, 706.573_062_245_787_347_11),
            (171, 711.714_725_802_290_006_95),
            (172, 716.862_220_279_103_46),
            (200, 863.231_987_192_405_473_5),
            (1000, 5912.128_178_488_163_348_9),
            (1_000_000, 12_815_518.384_658_169_624),
            (1_000_000_000, 19_723_265_848.226_982_608),
            (u64::MAX, 7.998_770_092_192_604_105_9e20),
        ];
        for (n, want) in cases {
            if want == 0.0 {
                assert_eq!(ln_factorial(n), 0.0);
            } else {
                assert_relative_eq!(ln_factorial(n), want, max_relative = 4e-16);
            }
        }
        assert_relative_eq!(
            ln_factorial(1 << 53),
            321_888_483_458_023_065.36,
            max_relative = 4e-16
        );
    }

    #[test]
    fn stirling_table_matches_table_of_factorials() {
        // Independent: the table entries against ln n! from exact small factorials.
        for n in 1..=15u64 {
            let x = n as f64;
            let direct = FACTORIALS[n as usize].ln() - (x + 0.5) * x.ln() + x - HALF_LN_2PI;
            assert_abs_diff_eq!(STIRLING_ERROR_TABLE[n as usize], direct, epsilon = 2e-14);
        }
        // The series joins the table continuously: delta(15) from the series.
        assert_relative_eq!(
            stirling_error_series(15.0),
            STIRLING_ERROR_TABLE[15],
            max_relative = 1e-14
        );
        assert_relative_eq!(stirling_error_series(1e9), 1.0 / 12e9, max_relative = 1e-15);
    }

    #[test]
    fn ln_binomial_against_mpmath_and_exact_integers() {
        let cases: [(u64, u64, f64); 11] = [
            (10, 3, 4.787_491_742_782_045_994_2),
            (50, 25, 32.470_556_505_811_992_189),
            (1_000_000_000, 1, 20.723_265_836_946_411_156),
            (1_000_000_000, 500_000_000, 693_147_169.972_521_038_05),
            (170, 1, 5.135_798_437_050_261_761_7),
            (200, 100, 135.753_236_081_278_493_21),
            (1_000_000_000_000_000_000, 3, 122.547_835_552_450_411_93),
            (30, 0, 0.0),
            (30, 30, 0.0),
            (100_000, 99_990, 100.024_392_062_376_093_87),
            (17, 8, 10.098_643_067_310_169_044),
        ];
        for (n, k, want) in cases {
            if want == 0.0 {
                assert_eq!(ln_binomial(n, k), 0.0);
            } else {
                assert_relative_eq!(ln_binomial(n, k), want, max_relative = 2e-15);
            }
        }
        assert_eq!(ln_binomial(3, 4), f64::NEG_INFINITY);
        // Pascal's triangle in u128 up to n = 120.
        let mut row: Vec<u128> = vec![1];
        for n in 1..=120u64 {
            let mut next = vec![1u128; row.len() + 1];
            for k in 1..row.len() {
                next[k] = row[k - 1] + row[k];
            }
            row = next;
            for (k, &c) in row.iter().enumerate() {
                assert_relative_eq!(
                    ln_binomial(n, k as u64),
                    (c as f64).ln(),
                    max_relative = 1e-14,
                    epsilon = 1e-14
                );
            }
        }
    }

    // ---- Poisson -----------------------------------------------------------

    /// (n, lambda, mpmath n*log(lambda) - lambda - loggamma(n+1) at 60 digits).
    const POISSON_INT_REF: [(u64, f64, f64); 16] = [
        (3, 2.5, -1.542_887_273_605_589_805_3),
        (10, 1e-300, -6922.859_691_555_212_567_1),
        (1, 1e-300, -690.775_527_898_213_705_18),
        (1_000_000_000, 1e9, -11.280_571_451_761_211_653),
        (1_000_000_000, 1_000_030_000.0, -11.730_562_451_963_706_793),
        (1_000_000_000, 5e8, -193_147_191.840_516_761_18),
        (100, 1e9, -999_998_291.412_791_860_92),
        (1_000_000, 999_000.0, -8.327_027_479_053_643_270_1),
        (16, 16.5, -2.318_094_011_576_113_987_1),
        (15, 14.0, -2.313_411_439_612_012_348_3),
        (5000, 5000.5, -5.177_576_793_912_894_222_9),
        (1, 1.0, -1.0),
        (7, 1e5, -99_927.934_683_106_273_815),
        (123_456_789, 129_629_628.45, -149_372.681_498_490_053_31),
        (1_000_000_000, 1e-300, -710_498_793_746.440_687_79),
        (40, 1e-5, -570.837_668_313_566_528_96),
    ];

    #[test]
    fn poisson_against_mpmath() {
        for (n, lambda, want) in POISSON_INT_REF {
            assert_relative_eq!(poisson_ln_pmf(n, lambda), want, max_relative = 3e-15);
        }
    }

    #[test]
    fn poisson_large_count_beats_naive_formula() {
        // Independent closed form at n = lambda: -0.5 ln(2 pi n) - delta(n), with
        // delta(n) = 1/(12n) - 1/(360 n^3) + ...
        let n = 1e9;
        let exact = -0.5 * (2.0 * PI * n).ln() - 1.0 / (12.0 * n);
        assert_abs_diff_eq!(poisson_ln_pmf(1_000_000_000, n), exact, epsilon = 1e-14);
        // The naive formula is off by ~1e-6 here; document why we do not use it.
        let naive = n * n.ln() - n - ln_factorial(1_000_000_000);
        assert!((naive - exact).abs() > 1e-9);
    }

    #[test]
    fn poisson_edge_conventions() {
        assert_eq!(poisson_ln_pmf(0, 0.0), 0.0);
        assert_eq!(poisson_ln_pmf(0, 2.5), -2.5);
        assert_eq!(poisson_ln_pmf(3, 0.0), f64::NEG_INFINITY);
        assert_eq!(poisson_ln_pmf(3, f64::INFINITY), f64::NEG_INFINITY);
        assert!(poisson_ln_pmf(3, -1.0).is_nan());
        assert!(poisson_ln_pmf(0, f64::NAN).is_nan());
        assert_eq!(poisson_ln_pmf_real(0.0, 0.0), 0.0);
        assert_eq!(poisson_ln_pmf_real(0.5, 0.0), f64::NEG_INFINITY);
        assert!(poisson_ln_pmf_real(-0.5, 1.0).is_nan());
        assert!(poisson_ln_pmf_real(f64::NAN, 1.0).is_nan());
        assert!(poisson_ln_pmf_real(2.5, -1.0).is_nan());
        assert!(poisson_ln_pmf_real(f64::INFINITY, 1.0).is_nan());

        let err = poisson_ln_pmf_checked(-1.0, 2.0).unwrap_err();
        assert_eq!(err.to_string(), "invalid n = -1: allowed finite and >= 0");
        let err = poisson_ln_pmf_checked(1.0, f64::NAN).unwrap_err();
        assert!(err.to_string().contains("lambda = NaN"));
        assert!(poisson_ln_pmf_checked(1.0, f64::INFINITY).is_err());
        assert_relative_eq!(
            poisson_ln_pmf_checked(2.5, 3.7).unwrap(),
            -1.630_141_553_221_627_381_6,
            max_relative = 1e-14
        );
    }

    #[test]
    fn poisson_real_against_mpmath() {
        let cases = [
            (2.5, 3.7, -1.630_141_553_221_627_381_6),
            (0.5, 1e-3, -3.334_095_401_855_823_293_2),
            (1e9 + 0.5, 1e9, -11.280_571_452_136_211_653),
            (20.25, 19.0, -2.467_376_063_349_477_815_5),
            (1e-3, 1e-3, -0.007_331_361_680_698_767_642_2),
            (15.5, 15.5, -2.294_734_144_200_200_044_5),
            (16.5, 16.0, -2.333_400_978_990_959_065),
            (7.25, 1e-200, -3347.781_571_760_971_364_8),
            (1e6 + 0.25, 2e6, -306_860.472_847_311_320_7),
        ];
        for (n, lambda, want) in cases {
            // Small non-integer n go through statrs' ln_gamma (~2e-15 absolute near 1, 2).
            assert_relative_eq!(
                poisson_ln_pmf_real(n, lambda),
                want,
                max_relative = 2e-14,
                epsilon = 1e-15
            );
        }
        for (n, lambda, _) in POISSON_INT_REF {
            assert_eq!(
                poisson_ln_pmf_real(n as f64, lambda),
                poisson_ln_pmf(n, lambda)
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn poisson_ratio_recurrence(n in 0u64..5_000_000, lambda in 1e-3f64..1e7) {
            // P(n+1)/P(n) = lambda/(n+1), an identity independent of ln n!.
            let d = poisson_ln_pmf(n + 1, lambda) - poisson_ln_pmf(n, lambda);
            let want = (lambda / (n as f64 + 1.0)).ln();
            let scale = poisson_ln_pmf(n, lambda).abs().max(1.0);
            prop_assert!((d - want).abs() <= 1e-14 * scale, "d {d} want {want}");
        }

        #[test]
        fn poisson_real_is_continuous_in_n(n in 0.0f64..200.0, lambda in 0.01f64..300.0) {
            // Across the n = 15 switch and integer n, the real version moves smoothly:
            // the derivative is ln(lambda) - digamma(n + 1), bounded by |ln lambda| + ln(n+2) + 1.
            let h = 1e-7;
            let a = poisson_ln_pmf_real(n, lambda);
            let b = poisson_ln_pmf_real(n + h, lambda);
            let slope = lambda.ln().abs() + (n + 2.0).ln() + 1.0;
            prop_assert!((b - a).abs() <= slope * h + 1e-12 * a.abs().max(1.0));
        }

        #[test]
        fn poisson_normalised(lambda in 0.1f64..60.0) {
            let total: f64 = (0..400u64).map(|n| poisson_ln_pmf(n, lambda).exp()).sum();
            prop_assert!((total - 1.0).abs() < 1e-13);
            let mean: f64 = (0..400u64).map(|n| n as f64 * poisson_ln_pmf(n, lambda).exp()).sum();
            prop_assert!((mean - lambda).abs() < 1e-12 * lambda.max(1.0));
        }
    }

    // ---- Normal ------------------------------------------------------------

    #[test]
    fn normal_and_lognormal_densities() {
        assert_relative_eq!(
            normal_ln_pdf(0.0, 0.0, 1.0),
            -HALF_LN_2PI,
            max_relative = 1e-16
        );
        let (x, mu, s): (f64, f64, f64) = (1.3, -0.4, 2.2);
        let direct = ((-0.5 * ((x - mu) / s).powi(2)).exp() / (s * (2.0 * PI).sqrt())).ln();
        assert_relative_eq!(normal_ln_pdf(x, mu, s), direct, max_relative = 1e-15);
        assert!(normal_ln_pdf(0.0, 0.0, 0.0).is_nan() && normal_ln_pdf(0.0, 0.0, -1.0).is_nan());
        assert!(normal_ln_pdf(f64::NAN, 0.0, 1.0).is_nan());

        // Log-normal: density of y = e^x is the Normal density over y.
        let y: f64 = 3.5;
        let want = normal_ln_pdf(y.ln(), 0.2, 0.7) - y.ln();
        assert_relative_eq!(lognormal_ln_pdf(y, 0.2, 0.7), want, max_relative = 1e-15);
        assert_eq!(lognormal_ln_pdf(0.0, 0.2, 0.7), f64::NEG_INFINITY);
        assert_eq!(lognormal_ln_pdf(-2.0, 0.2, 0.7), f64::NEG_INFINITY);
        assert!(lognormal_ln_pdf(1.0, 0.2, 0.0).is_nan());
        // Normalisation by the trapezoid rule in ln y (integrand y p(y) d ln y).
        let (mut total, h) = (0.0, 1e-3);
        for i in -10_000..=10_000 {
            let t = 0.2 + f64::from(i) * h;
            total += (lognormal_ln_pdf(t.exp(), 0.2, 0.7) + t).exp() * h;
        }
        assert_relative_eq!(total, 1.0, max_relative = 1e-12);
    }

    #[test]
    fn normal_cdf_and_sf_against_mpmath() {
        // (x, Phi(x), 1 - Phi(x)) from mpmath ncdf at 400 digits.
        let cases = [
            (-30.0, 4.906_713_927_148_187_059_5e-198, 1.0),
            (
                -8.0,
                6.220_960_574_271_784_123_5e-16,
                0.999_999_999_999_999_377_9,
            ),
            (
                -1.5,
                0.066_807_201_268_858_066_004,
                0.933_192_798_731_141_934,
            ),
            (
                0.3,
                0.617_911_422_188_952_633_07,
                0.382_088_577_811_047_366_93,
            ),
            (
                1.96,
                0.975_002_104_851_779_563_79,
                0.024_997_895_148_220_436_213,
            ),
            (
                8.0,
                0.999_999_999_999_999_377_9,
                6.220_960_574_271_784_123_5e-16,
            ),
        ];
        for (x, cdf, sf) in cases {
            assert_relative_eq!(normal_cdf(x), cdf, max_relative = 3e-15);
            assert_relative_eq!(normal_sf(x), sf, max_relative = 3e-15);
        }
    }

    /// (x, Phi(x), ln Phi(x)) from mpmath ncdf at 400 digits, dense over all
    /// three of Cody's regions and both of their boundaries.
    const NORMAL_CDF_REF: [(f64, f64, f64); 31] = [
        (
            -38.4,
            6.601_599_854_326_768_024_2e-323,
            -741.847_673_015_248_312_94,
        ),
        (
            -37.0,
            5.725_571_222_524_576_822_7e-300,
            -689.030_585_576_890_593_6,
        ),
        (
            -33.3,
            1.930_505_505_927_839_976_1e-243,
            -558.870_395_708_761_541_2,
        ),
        (
            -27.7,
            3.491_078_452_819_523_848_4e-169,
            -387.886_670_015_244_638_09,
        ),
        (
            -15.2,
            1.768_105_234_122_234_751_8e-52,
            -119.164_516_351_683_911_81,
        ),
        (
            -9.9,
            2.081_375_219_493_206_124_7e-23,
            -52.226_428_300_404_045_066,
        ),
        (
            -6.1,
            5.303_423_262_948_841_524_8e-10,
            -21.357_498_419_215_557_364,
        ),
        (
            -5.6568,
            7.711_064_856_975_553_565_1e-9,
            -18.680_609_545_162_790_256,
        ),
        (
            -5.66,
            7.568_649_751_997_713_714_3e-9,
            -18.699_251_153_702_777_064,
        ),
        (
            -4.2,
            1.334_574_901_590_632_788_3e-5,
            -11.224_312_649_601_074_327,
        ),
        (
            -3.3,
            4.834_241_423_837_775_071e-4,
            -7.634_616_148_071_127_293_8,
        ),
        (
            -2.5,
            6.209_665_325_776_135_167e-3,
            -5.081_648_277_278_690_498_4,
        ),
        (
            -1.9,
            0.028_716_559_816_001_805_229,
            -3.550_281_325_542_134_582_7,
        ),
        (
            -1.2,
            0.115_069_670_221_708_276_65,
            -2.162_217_506_043_739_328_6,
        ),
        (
            -0.9,
            0.184_060_125_346_759_482_65,
            -1.692_492_806_561_338_201_4,
        ),
        (
            -0.66291,
            0.253_694_098_389_739_939_83,
            -1.371_626_074_808_525_729_4,
        ),
        (
            -0.663,
            0.253_665_277_038_616_497_95,
            -1.371_739_687_969_335_502_5,
        ),
        (
            -0.5,
            0.308_537_538_725_986_896_36,
            -1.175_911_761_593_618_608_9,
        ),
        (
            -0.2,
            0.420_740_290_560_896_972_62,
            -0.865_739_522_681_595_297_99,
        ),
        (
            -1e-5,
            0.499_996_010_577_196_052_16,
            -0.693_155_159_437_384_363_03,
        ),
        (
            0.1,
            0.539_827_837_277_028_983_67,
            -0.616_505_010_115_026_288_74,
        ),
        (
            0.4,
            0.655_421_741_610_324_174_91,
            -0.422_476_370_227_776_054_95,
        ),
        (
            0.66,
            0.745_373_085_328_663_862_36,
            -0.293_870_400_277_817_656_34,
        ),
        (
            0.7,
            0.758_036_347_776_926_971_38,
            -0.277_023_942_277_131_263,
        ),
        (
            1.1,
            0.864_333_939_053_617_344_18,
            -0.145_796_081_317_052_738_52,
        ),
        (
            2.2,
            0.986_096_552_486_501_395_69,
            -0.014_001_005_759_384_578_377,
        ),
        (
            3.5,
            0.999_767_370_920_964_474_96,
            -2.326_561_413_768_045_521_8e-4,
        ),
        (
            5.0,
            0.999_999_713_348_428_120_81,
            -2.866_516_129_637_635_933_8e-7,
        ),
        (
            5.7,
            0.999_999_994_009_628_598_94,
            -5.990_371_419_005_803_020_8e-9,
        ),
        (
            7.5,
            0.999_999_999_999_968_091_08,
            -3.190_891_672_910_947_136_7e-14,
        ),
        (
            9.0,
            0.999_999_999_999_999_999_89,
            -1.128_588_405_953_840_647_8e-19,
        ),
    ];

    #[test]
    fn normal_cdf_dense_against_mpmath() {
        let (mut worst_cdf, mut worst_ln) = (0f64, 0f64);
        for (x, cdf, ln_cdf) in NORMAL_CDF_REF {
            let rel = |a: f64, b: f64| ((a - b) / b).abs();
            worst_ln = worst_ln.max(rel(ln_normal_cdf(x), ln_cdf));
            // The subnormal Phi(-38.4) = 6.6e-323 only has 4 significant bits.
            if cdf > 1e-300 {
                worst_cdf = worst_cdf.max(rel(normal_cdf(x), cdf));
                // The upper tail through the symmetry: sf(-x) = Phi(x).
                worst_cdf = worst_cdf.max(rel(normal_sf(-x), cdf));
            }
        }
        assert!(worst_cdf < 3e-15, "{worst_cdf:e}");
        assert!(worst_ln < 3e-15, "{worst_ln:e}");
    }

    #[test]
    fn ln_normal_cdf_against_mpmath() {
        // mpmath: log(ncdf(x)) for x <= 0, log1p(-ncdf(-x)) for x > 0, 400 digits.
        let cases = [
            (-40.0, -804.608_442_013_753_788_17),
            (-38.0, -726.557_216_018_820_130_1),
            (-37.5, -707.668_989_317_507_191_07),
            (-30.0, -454.321_243_956_343_197_11),
            (-20.5, -214.066_728_963_263_800_17),
            (-20.0, -203.917_155_371_097_263_94),
            (-19.9, -201.917_167_707_332_597_57),
            (-10.0, -53.231_285_150_512_470_578),
            (-5.0, -15.064_998_393_988_725_736),
            (-1.0, -1.841_021_645_009_263_505_8),
            (-1e-3, -0.693_945_383_466_965_178_79),
            (0.0, -0.693_147_180_559_945_309_42),
            (1.0, -0.172_753_779_023_449_889_53),
            (5.0, -2.866_516_129_637_635_933_8e-7),
            (10.0, -7.619_853_024_160_526_066e-24),
            (20.0, -2.753_624_118_606_233_695_1e-89),
        ];
        for (x, want) in cases {
            assert_relative_eq!(ln_normal_cdf(x), want, max_relative = 3e-15);
        }
        assert_eq!(ln_normal_cdf(f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(ln_normal_cdf(f64::INFINITY), 0.0);
        assert!(ln_normal_cdf(f64::NAN).is_nan());
        // Very deep: Mills-ratio bounds phi(x)/|x| (1 - 1/x^2) < Phi(x) < phi(x)/|x|.
        for x in [-100.0, -1e3, -1e5] {
            let ln_upper = -0.5 * x * x - HALF_LN_2PI - f64::ln(-x);
            let ln_lower = ln_upper + (1.0 - 1.0 / (x * x)).ln();
            let v = ln_normal_cdf(x);
            assert!(v.is_finite() && v <= ln_upper && v >= ln_lower - 1e-16 * v.abs());
        }
    }

    #[test]
    fn ln_normal_cdf_diff_against_mpmath() {
        // log(ncdf(hi) - ncdf(lo)) from mpmath at 400 digits (mirrored for lo >= 0).
        let cases = [
            (-40.0, -39.0, -765.083_156_564_377_544_41),
            (-40.0, -39.999_999_99, -819.339_618_994_416_647_44),
            (30.0, 31.0, -454.321_243_956_343_252_04),
            (-1.0, 2.0, -0.200_166_294_324_462_579_95),
            (-0.1, 0.1, -2.530_042_001_547_238_455_7),
            (5.0, 5.000_000_001, -34.142_204_289_910_716_528),
            (-40.0, -30.0, -454.321_243_956_343_197_11),
            (10.0, 10.3, -53.278_623_477_839_429_9),
            (-0.001, 0.001, -7.133_546_798_293_520_019_2),
            (-3.0, -2.9, -7.569_568_013_807_488_909_6),
            (2.0, 3.0, -3.844_353_426_334_205_621),
            (-5.0, 30.0, -2.866_516_129_637_635_933_8e-7),
            (-7.0, -0.5, -1.175_911_761_597_766_605_1),
            (0.5, 7.0, -1.175_911_761_597_766_605_1),
            (-25.0, -24.8, -311.658_244_142_963_794_96),
            (1e-9, 2e-9, -21.642_204_370_151_083_837),
            (20.0, 20.1, -204.061_018_383_816_145_83),
            (-2.0, 0.0, -0.739_715_092_852_335_472_96),
            (0.0, 3.0, -0.695_850_627_645_421_272_57),
            (-30.0, -29.9999, -460.127_778_531_851_134_47),
            (-8.0, -7.6, -31.886_630_704_751_867_379),
            (-50.0, -49.5, -1229.946_318_908_842_954_8),
            (0.7, 0.8, -3.502_955_937_517_039_298_1),
            (-0.8, -0.7, -3.502_955_937_517_039_298_1),
            (3.0, 3.1, -7.869_318_471_076_652_740_6),
            (-1000.0, -999.9, -499_907.831_594_807_361_27),
        ];
        for (lo, hi, want) in cases {
            let got = ln_normal_cdf_diff(lo, hi);
            assert_relative_eq!(got, want, max_relative = 4e-15);
        }
        assert_eq!(ln_normal_cdf_diff(1.0, 1.0), f64::NEG_INFINITY);
        assert!(ln_normal_cdf_diff(2.0, 1.0).is_nan());
        assert!(ln_normal_cdf_diff(f64::NAN, 1.0).is_nan());
        assert_eq!(ln_normal_cdf_diff(f64::NEG_INFINITY, f64::INFINITY), 0.0);
        assert_relative_eq!(
            ln_normal_cdf_diff(f64::NEG_INFINITY, -40.0),
            ln_normal_cdf(-40.0),
            max_relative = 1e-16
        );
        assert_relative_eq!(
            ln_normal_cdf_diff(40.0, f64::INFINITY),
            ln_normal_cdf(-40.0),
            max_relative = 1e-16
        );
        assert_eq!(
            ln_normal_cdf_diff(f64::INFINITY, f64::INFINITY),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn cdf_diff_additivity_regression() {
        // A case found by proptest while Phi still came from statrs' erfc (4e-12 off).
        let (a, b, c) = (
            1.356_038_620_616_896,
            1.400_055_614_895_965_9,
            4.691_010_932_089_217,
        );
        let whole = ln_normal_cdf_diff(a, c);
        let parts = log_add_exp(ln_normal_cdf_diff(a, b), ln_normal_cdf_diff(b, c));
        assert_relative_eq!(whole, parts, max_relative = 1e-15);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn cdf_diff_is_additive(a in -45.0f64..45.0, w1 in 1e-6f64..5.0, w2 in 1e-6f64..5.0) {
            // Mass of [a, c] = mass of [a, b] + mass of [b, c]: ties the branches together.
            let (b, c) = (a + w1, a + w1 + w2);
            let whole = ln_normal_cdf_diff(a, c);
            let parts = log_add_exp(ln_normal_cdf_diff(a, b), ln_normal_cdf_diff(b, c));
            prop_assert!((whole - parts).abs() <= 1e-14 * whole.abs().max(1.0), "{whole} vs {parts}");
        }

        #[test]
        fn cdf_diff_symmetry_and_bounds(a in -40.0f64..40.0, w in 1e-9f64..10.0) {
            let b = a + w;
            let m = ln_normal_cdf_diff(a, b);
            prop_assert!((m - ln_normal_cdf_diff(-b, -a)).abs() <= 1e-15 * m.abs().max(1.0));
            // The mass is at most w times the largest density on [a, b] and at least w times the smallest.
            let ln_phi = |x: f64| -0.5 * x * x - HALF_LN_2PI;
            let (near, far) = if a > 0.0 { (a, b) } else if b < 0.0 { (b, a) } else { (0.0, if -a > b { a } else { b }) };
            let tol = 1e-13 * m.abs().max(1.0);
            prop_assert!(m <= w.ln() + ln_phi(near) + tol);
            prop_assert!(m >= w.ln() + ln_phi(far) - tol);
        }
    }

    // ---- compensated sums -------------------------------------------------

    #[test]
    fn neumaier_recovers_cancelled_terms() {
        let xs = [1e16, 1.0, -1e16];
        assert_eq!(xs.iter().sum::<f64>(), 0.0); // naive summation loses the 1
        assert_eq!(compensated_sum(&xs), 1.0);
        assert_eq!(compensated_sum(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        assert_eq!(compensated_sum(&[]), 0.0);
        // 0.1 ten million times: naive error ~1e-9 relative, compensated 1 ulp.
        let tenth = vec![0.1; 10_000_000];
        let naive: f64 = tenth.iter().sum();
        let comp = compensated_sum(&tenth);
        assert!((naive - 1e6).abs() > 1e-6);
        // Exact sum of the double 0.1 times 1e7 is 1e6 + 5.55e-11 (0.1 = 0.1 + 5.55e-18).
        assert_abs_diff_eq!(comp, 1e6, epsilon = 2.0e-10);
        assert_eq!(compensated_sum(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(compensated_sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        let mut s = NeumaierSum::new();
        s.extend([3.0, 4.0]);
        assert_eq!(s.value(), 7.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn neumaier_against_exact_integer_sum(
            terms in prop::collection::vec((-(1i64 << 20)..(1i64 << 20), -40i32..40), 1..200)
        ) {
            // Each term is m * 2^e, exactly representable; the exact sum in units
            // of 2^-40 fits an i128.
            let xs: Vec<f64> = terms.iter().map(|&(m, e)| m as f64 * 2f64.powi(e)).collect();
            let exact_units: i128 = terms.iter().map(|&(m, e)| i128::from(m) << (e + 40)).sum();
            let exact = exact_units as f64 * 2f64.powi(-40);
            let abs_sum: f64 = xs.iter().map(|x| x.abs()).sum();
            let eps = f64::EPSILON;
            let bound = 2.0 * eps * exact.abs() + 4.0 * xs.len() as f64 * eps * eps * abs_sum;
            prop_assert!((compensated_sum(&xs) - exact).abs() <= bound);
        }
    }
}
