//! J-factor nuisance terms, all in $t = \log_{10} J$ with $J$ in GeV² cm⁻⁵.
//!
//! **Gaussian in $\log_{10} J$** ([`GaussianLogJ`]), with observed mean
//! $\bar t$ and width $\sigma$ (dex). Two normalisations are in use and the
//! caller picks one ([`JNormalisation`]); they differ by a constant, so limits
//! and test statistics agree, only the absolute $-2\ln L$ differs:
//! - Ackermann et al. 2015 (PRL 115, 231301, eq. 3), the likelihood of the
//!   measured $J_\mathrm{obs}$ given the true $J$:
//!   $$\mathcal L_J = \frac{1}{\ln(10)\, J_\mathrm{obs}\sqrt{2\pi}\,\sigma} \exp\!\left[-\frac{(t - \bar t)^2}{2\sigma^2}\right], \qquad J_\mathrm{obs} = 10^{\bar t};$$
//! - MLFermiLATDwarfs, which drops the $1/J_\mathrm{obs}$ Jacobian:
//!   $$-2\ln\mathcal L_J = \frac{(t - \bar t)^2}{\sigma^2} + 2\ln\!\left(\ln(10)\sqrt{2\pi}\,\sigma\right).$$
//!
//! **Empirical** ([`EmpiricalLogJ`]): a one-dimensional Gaussian kernel density
//! estimate over $l_k = \log_{10} J_k$ of posterior samples (Alvarez et al. 2020),
//! $$p(t) = \frac1N\sum_{k=1}^N \frac{1}{h\sqrt{2\pi}} \exp\!\left[-\frac{(t - l_k)^2}{2h^2}\right],$$
//! with bandwidth $h$ given (the package uses $h = 2\times0.011045$, see
//! [`MLFERMI_J_BANDWIDTH_DEX`]) or chosen by leave-one-out cross-validation
//! through darkprobe-kde. It is evaluated exactly, with first and second
//! derivatives: the samples are sorted and only those whose kernel is within
//! $e^{-60}$ of the largest one are summed, which changes the result by less
//! than $N e^{-60}$ relative (below rounding).
//!
//! ```
//! use darkprobe_limits::likelihood::jfactor::{GaussianLogJ, JNormalisation};
//! let fermi = GaussianLogJ::new(18.8, 0.16, JNormalisation::FermiLat2015)?;
//! let ml = GaussianLogJ::new(18.8, 0.16, JNormalisation::MlFermiLatDwarfs)?;
//! // The two differ by the constant ln(J_obs) = 18.8 ln 10 at every log10 J.
//! for t in [18.0, 18.8, 19.5] {
//!     let diff = ml.ln_likelihood(t) - fermi.ln_likelihood(t);
//!     assert!((diff - 18.8 * std::f64::consts::LN_10).abs() < 1e-12);
//! }
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::Result;
use darkprobe_core::error::{check_finite, check_positive};
use darkprobe_core::Error;
use darkprobe_kde::{
    select_bandwidth_loo, Bandwidth, BandwidthSelection, GaussianKde, ScaleSearch,
};
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::LN_10;
use std::sync::Arc;

/// The empirical-J bandwidth of MLFermiLATDwarfs for every dwarf except
/// Sextans: $h = 2 \times 0.011045$ dex.
pub const MLFERMI_J_BANDWIDTH_DEX: f64 = 2.0 * 0.011045;
/// The empirical-J bandwidth of MLFermiLATDwarfs for Sextans:
/// $h = 2 \times 0.021090$ dex.
pub const MLFERMI_J_BANDWIDTH_SEXTANS_DEX: f64 = 2.0 * 0.021090;

/// $\frac12 \ln 2\pi$.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Which normalisation of the Gaussian $\log_{10} J$ likelihood to use (they
/// differ by the constant $\ln J_\mathrm{obs}$; see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JNormalisation {
    /// Ackermann et al. 2015, PRL 115, 231301, eq. 3, with the
    /// $1/(\ln(10) J_\mathrm{obs})$ Jacobian.
    FermiLat2015,
    /// MLFermiLATDwarfs: $\ln(10)\sqrt{2\pi}\sigma$ without $1/J_\mathrm{obs}$.
    MlFermiLatDwarfs,
}

/// A Gaussian likelihood in $\log_{10} J$ (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianLogJ {
    log10_j_obs: f64,
    sigma_dex: f64,
    normalisation: JNormalisation,
    ln_norm: f64,
}

impl GaussianLogJ {
    /// A Gaussian in $\log_{10} J$ with mean `log10_j_obs` (GeV² cm⁻⁵) and
    /// width `sigma_dex`.
    ///
    /// # Errors
    /// Non-finite mean, or a width that is not finite and $> 0$.
    pub fn new(log10_j_obs: f64, sigma_dex: f64, normalisation: JNormalisation) -> Result<Self> {
        check_finite("log10_j_obs", log10_j_obs)?;
        check_positive("sigma_dex", sigma_dex)?;
        let mut ln_norm = -(LN_10.ln() + HALF_LN_2PI + sigma_dex.ln());
        if normalisation == JNormalisation::FermiLat2015 {
            ln_norm -= LN_10 * log10_j_obs;
        }
        Ok(Self {
            log10_j_obs,
            sigma_dex,
            normalisation,
            ln_norm,
        })
    }

    /// The observed mean $\bar t$.
    pub fn log10_j_obs(&self) -> f64 {
        self.log10_j_obs
    }

    /// The width $\sigma$ in dex.
    pub fn sigma_dex(&self) -> f64 {
        self.sigma_dex
    }

    /// The normalisation convention.
    pub fn normalisation(&self) -> JNormalisation {
        self.normalisation
    }

    /// The same likelihood with the observed mean moved to `log10_j_obs`
    /// (normalisation recomputed).
    ///
    /// # Errors
    /// A non-finite mean.
    pub fn with_mean(&self, log10_j_obs: f64) -> Result<Self> {
        Self::new(log10_j_obs, self.sigma_dex, self.normalisation)
    }

    /// $\ln \mathcal L_J(t)$ at $t = \log_{10} J$.
    pub fn ln_likelihood(&self, log10_j: f64) -> f64 {
        self.ln_likelihood_derivatives(log10_j).0
    }

    /// $\ln \mathcal L_J$ and its first and second derivatives in $t$.
    pub fn ln_likelihood_derivatives(&self, log10_j: f64) -> (f64, f64, f64) {
        let inv_var = 1.0 / (self.sigma_dex * self.sigma_dex);
        let d = log10_j - self.log10_j_obs;
        (self.ln_norm - 0.5 * d * d * inv_var, -d * inv_var, -inv_var)
    }
}

/// An empirical $\log_{10} J$ density: a Gaussian KDE over the $\log_{10}$ of
/// posterior samples, evaluated exactly with derivatives (see the
/// [module docs](self)).
///
/// ```
/// use darkprobe_limits::likelihood::jfactor::EmpiricalLogJ;
/// let samples: Vec<f64> = (0..200).map(|i| 18.0 + 0.1 * ((i as f64) / 199.0 - 0.5)).collect();
/// let kde = EmpiricalLogJ::from_log10_samples(&samples, 0.02)?;
/// let (f, d1, _d2) = kde.ln_pdf_derivatives(18.0);
/// // Symmetric samples: the density peaks at 18 with zero slope, near 1/0.1 = 10.
/// assert!(d1.abs() < 1e-8 && (f.exp() - 10.0).abs() < 1.0);
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EmpiricalLogJ {
    /// Sorted $\log_{10} J$ samples.
    samples: Vec<f64>,
    bandwidth_dex: f64,
    /// $-\ln(N h \sqrt{2\pi})$.
    ln_norm: f64,
}

/// Kernels smaller than $e^{-\mathrm{CUT}}$ times the largest one are skipped.
const WINDOW_CUT: f64 = 60.0;

impl EmpiricalLogJ {
    /// A KDE over samples already in $\log_{10} J$, with bandwidth `bandwidth_dex`.
    ///
    /// # Errors
    /// No samples, a non-finite sample (named by index), or a bandwidth that
    /// is not finite and $> 0$.
    pub fn from_log10_samples(log10_samples: &[f64], bandwidth_dex: f64) -> Result<Self> {
        check_positive("J-factor KDE bandwidth_dex", bandwidth_dex)?;
        if log10_samples.is_empty() {
            return Err(Error::empty("J-factor sample", "give at least one sample").into());
        }
        for (i, &x) in log10_samples.iter().enumerate() {
            if !x.is_finite() {
                return Err(Error::invalid_param(
                    format!("log10 J sample {i}"),
                    x,
                    "a finite number",
                )
                .into());
            }
        }
        let mut samples = log10_samples.to_vec();
        samples.sort_by(f64::total_cmp);
        let n = samples.len() as f64;
        Ok(Self {
            samples,
            bandwidth_dex,
            ln_norm: -(n.ln() + bandwidth_dex.ln() + HALF_LN_2PI),
        })
    }

    /// A KDE over $\log_{10}$ of linear J-factor samples (GeV² cm⁻⁵), as
    /// MLFermiLATDwarfs builds it from `Jfac_<dwarf>.txt`.
    ///
    /// # Errors
    /// A sample that is not finite and $> 0$ (named by index), or as
    /// [`from_log10_samples`](Self::from_log10_samples).
    pub fn from_j_samples(j_gev2_cm5: &[f64], bandwidth_dex: f64) -> Result<Self> {
        let mut logs = Vec::with_capacity(j_gev2_cm5.len());
        for (i, &j) in j_gev2_cm5.iter().enumerate() {
            if !(j.is_finite() && j > 0.0) {
                return Err(Error::invalid_param(
                    format!("J-factor sample {i}"),
                    j,
                    "finite and > 0",
                )
                .into());
            }
            logs.push(j.log10());
        }
        Self::from_log10_samples(&logs, bandwidth_dex)
    }

    /// Chooses the bandwidth by maximising the leave-one-out likelihood of the
    /// $\log_{10} J$ samples over `search` (bandwidths in dex; darkprobe-kde's
    /// [`select_bandwidth_loo`] with base bandwidth 1), and builds the KDE.
    ///
    /// # Errors
    /// As [`from_log10_samples`](Self::from_log10_samples), and the search's errors.
    pub fn with_loo_bandwidth(
        log10_samples: &[f64],
        search: &ScaleSearch,
    ) -> Result<(Self, BandwidthSelection)> {
        let data = Array2::from_shape_vec((log10_samples.len(), 1), log10_samples.to_vec())
            .map_err(|e| Error::shape("log10 J samples", log10_samples.len(), e.to_string()))?;
        let sel = select_bandwidth_loo(data.view(), None, &Bandwidth::Isotropic(1.0), search)?;
        let kde = Self::from_log10_samples(log10_samples, sel.best_scale)?;
        Ok((kde, sel))
    }

    /// The sorted $\log_{10} J$ samples.
    pub fn samples(&self) -> &[f64] {
        &self.samples
    }

    /// The bandwidth $h$ in dex.
    pub fn bandwidth_dex(&self) -> f64 {
        self.bandwidth_dex
    }

    /// Mean of the samples (the KDE's mean).
    pub fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }

    /// The same estimate as a darkprobe-kde [`GaussianKde`] (for cross-checks
    /// and for its batch and tree evaluations).
    ///
    /// # Errors
    /// Not expected (the samples were validated); propagated from darkprobe-kde.
    pub fn to_gaussian_kde(&self) -> Result<GaussianKde> {
        let data = Array2::from_shape_vec((self.samples.len(), 1), self.samples.clone())
            .map_err(|e| Error::shape("log10 J samples", self.samples.len(), e.to_string()))?;
        Ok(GaussianKde::new(
            data.view(),
            Bandwidth::Isotropic(self.bandwidth_dex),
        )?)
    }

    /// $\ln p(t)$.
    pub fn ln_pdf(&self, log10_j: f64) -> f64 {
        self.ln_pdf_derivatives(log10_j).0
    }

    /// $\ln p(t)$ and its first and second derivatives, exact to rounding.
    ///
    /// `NaN` input gives `NaN`s.
    pub fn ln_pdf_derivatives(&self, log10_j: f64) -> (f64, f64, f64) {
        let t = log10_j;
        if t.is_nan() {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let h = self.bandwidth_dex;
        let s = &self.samples;
        // Nearest sample: the largest kernel.
        let i = s.partition_point(|&x| x < t);
        let d0 = match (i.checked_sub(1).map(|j| t - s[j]), s.get(i).map(|x| x - t)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return (f64::NAN, f64::NAN, f64::NAN),
        };
        let u0 = d0 / h;
        let radius = h * (u0 * u0 + 2.0 * WINDOW_CUT).sqrt();
        let lo = s.partition_point(|&x| x < t - radius);
        let hi = s.partition_point(|&x| x <= t + radius);
        // Sums relative to the largest kernel, in v = u - u_ref with u = (t - l)/h,
        // taking u_ref of the nearest sample on the same side as most of the mass.
        let u_ref = (t - s[if i < s.len() { i } else { i - 1 }]) / h;
        let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
        let half_u0_sq = 0.5 * u0 * u0;
        for &l in &s[lo..hi] {
            let u = (t - l) / h;
            let w = (half_u0_sq - 0.5 * u * u).exp();
            let v = u - u_ref;
            s0 += w;
            s1 += w * v;
            s2 += w * v * v;
        }
        let mean_v = s1 / s0;
        let var_u = (s2 / s0 - mean_v * mean_v).max(0.0);
        let mean_u = u_ref + mean_v;
        let ln_p = self.ln_norm + s0.ln() - half_u0_sq;
        let d1 = -mean_u / h;
        let d2 = (var_u - 1.0) / (h * h);
        (ln_p, d1, d2)
    }

    /// One draw from the KDE: a random sample plus $h\,\mathcal N(0, 1)$.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let k = rng.random_range(0..self.samples.len());
        let z: f64 = StandardNormal.sample(rng);
        self.samples[k] + self.bandwidth_dex * z
    }
}

/// How a target's J-factor enters its likelihood.
#[derive(Debug, Clone, PartialEq)]
pub enum JFactorModel {
    /// Known exactly: no nuisance parameter.
    Fixed {
        /// $\log_{10} J$, J in GeV² cm⁻⁵.
        log10_j: f64,
    },
    /// Profiled, with a Gaussian likelihood in $\log_{10} J$.
    Gaussian(GaussianLogJ),
    /// Profiled, with an empirical KDE likelihood in $\log_{10} J$.
    Empirical(Arc<EmpiricalLogJ>),
}

impl JFactorModel {
    /// Whether $\log_{10} J$ is a nuisance parameter.
    pub fn is_profiled(&self) -> bool {
        !matches!(self, JFactorModel::Fixed { .. })
    }

    /// $\ln \mathcal L_J$ and its first two derivatives at $t$, with the
    /// prior moved by `shift` (evaluated at $t - \mathrm{shift}$);
    /// `(0, 0, 0)` for a fixed J-factor.
    pub fn ln_likelihood_derivatives(&self, log10_j: f64, shift: f64) -> (f64, f64, f64) {
        match self {
            JFactorModel::Fixed { .. } => (0.0, 0.0, 0.0),
            JFactorModel::Gaussian(g) => g.ln_likelihood_derivatives(log10_j - shift),
            JFactorModel::Empirical(e) => e.ln_pdf_derivatives(log10_j - shift),
        }
    }

    /// A representative $\log_{10} J$: the fixed value, the Gaussian mean or
    /// the samples' mean.
    pub fn central_log10_j(&self) -> f64 {
        match self {
            JFactorModel::Fixed { log10_j } => *log10_j,
            JFactorModel::Gaussian(g) => g.log10_j_obs(),
            JFactorModel::Empirical(e) => e.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use darkprobe_core::rng::rng_from_seed;
    use std::f64::consts::PI;

    fn brute_ln_pdf(samples: &[f64], h: f64, t: f64) -> f64 {
        let n = samples.len() as f64;
        let s: f64 = samples
            .iter()
            .map(|l| (-(t - l) * (t - l) / (2.0 * h * h)).exp() / (h * (2.0 * PI).sqrt()))
            .sum();
        (s / n).ln()
    }

    fn skewed_samples(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rng_from_seed(seed);
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                18.4 + 0.06 * z + 0.03 * z * z
            })
            .collect()
    }

    #[test]
    fn gaussian_matches_the_closed_forms() {
        let g = GaussianLogJ::new(18.8, 0.16, JNormalisation::FermiLat2015).unwrap();
        let t = 18.5;
        // Eq. 3 of Ackermann et al. 2015 written out directly.
        let j_obs = 10f64.powf(18.8);
        let direct = (1.0 / (LN_10 * j_obs * (2.0 * PI).sqrt() * 0.16)).ln()
            - (t - 18.8f64).powi(2) / (2.0 * 0.16 * 0.16);
        assert!((g.ln_likelihood(t) - direct).abs() < 1e-12);
        let m = GaussianLogJ::new(18.8, 0.16, JNormalisation::MlFermiLatDwarfs).unwrap();
        // The package's -2 ln L_J.
        let neg2 =
            (t - 18.8f64).powi(2) / 0.16f64.powi(2) + 2.0 * (LN_10 * (2.0 * PI).sqrt() * 0.16).ln();
        assert!((-2.0 * m.ln_likelihood(t) - neg2).abs() < 1e-12);
        assert!(GaussianLogJ::new(18.0, 0.0, JNormalisation::FermiLat2015).is_err());
        assert!(GaussianLogJ::new(f64::NAN, 0.1, JNormalisation::FermiLat2015).is_err());
    }

    #[test]
    fn gaussian_derivatives_match_finite_differences() {
        let g = GaussianLogJ::new(17.9, 0.2, JNormalisation::MlFermiLatDwarfs).unwrap();
        let e = 1e-5;
        for t in [16.0, 17.9, 18.6] {
            let (_, d1, d2) = g.ln_likelihood_derivatives(t);
            let fd1 = (g.ln_likelihood(t + e) - g.ln_likelihood(t - e)) / (2.0 * e);
            let fd2 = (g.ln_likelihood(t + e) - 2.0 * g.ln_likelihood(t) + g.ln_likelihood(t - e))
                / (e * e);
            assert!((d1 - fd1).abs() < 1e-6 * d1.abs().max(1.0));
            assert!((d2 - fd2).abs() < 1e-3 * d2.abs());
        }
    }

    #[test]
    fn empirical_matches_brute_force_sum_and_darkprobe_kde() {
        let samples = skewed_samples(1500, 3);
        let h = MLFERMI_J_BANDWIDTH_DEX;
        let kde = EmpiricalLogJ::from_log10_samples(&samples, h).unwrap();
        let gk = kde.to_gaussian_kde().unwrap();
        for t in [18.0, 18.3, 18.4, 18.45, 18.7, 19.5] {
            let got = kde.ln_pdf(t);
            let brute = brute_ln_pdf(&samples, h, t);
            assert!(
                (got - brute).abs() < 1e-12 * brute.abs().max(1.0),
                "t {t}: {got} vs {brute}"
            );
            let other = gk.ln_pdf(&[t]).unwrap();
            assert!((got - other).abs() < 1e-11 * other.abs().max(1.0));
        }
        // Far from every sample the brute-force sum underflows, darkprobe-kde's log-sum-exp does not.
        for t in [10.0, 22.0] {
            let got = kde.ln_pdf(t);
            let other = gk.ln_pdf(&[t]).unwrap();
            assert!(got.is_finite() && got < -1e3);
            assert!(
                (got - other).abs() < 1e-12 * other.abs(),
                "t {t}: {got} vs {other}"
            );
        }
    }

    #[test]
    fn empirical_derivatives_match_finite_differences() {
        let samples = skewed_samples(800, 4);
        let kde = EmpiricalLogJ::from_log10_samples(&samples, 0.03).unwrap();
        for t in [17.5, 18.2, 18.41, 18.9, 12.0, 23.0] {
            let (f, d1, d2) = kde.ln_pdf_derivatives(t);
            let e = 1e-5;
            let (fp, d1p, _) = kde.ln_pdf_derivatives(t + e);
            let (fm, d1m, _) = kde.ln_pdf_derivatives(t - e);
            let fd1 = (fp - fm) / (2.0 * e);
            let fd2 = (d1p - d1m) / (2.0 * e);
            assert!(f.is_finite());
            assert!(
                (d1 - fd1).abs() < 1e-6 * d1.abs().max(1.0),
                "t {t}: d1 {d1} vs {fd1}"
            );
            assert!(
                (d2 - fd2).abs() < 1e-5 * d2.abs().max(1.0),
                "t {t}: d2 {d2} vs {fd2}"
            );
        }
    }

    #[test]
    fn linear_samples_are_logged_and_validated() {
        let j = [1e18, 2e18, 5e18];
        let kde = EmpiricalLogJ::from_j_samples(&j, 0.05).unwrap();
        assert!((kde.samples()[1] - 2e18f64.log10()).abs() < 1e-14);
        let e = EmpiricalLogJ::from_j_samples(&[1e18, -3.0], 0.05).unwrap_err();
        assert!(e.to_string().contains("J-factor sample 1"), "{e}");
        assert!(EmpiricalLogJ::from_log10_samples(&[], 0.05).is_err());
        assert!(EmpiricalLogJ::from_log10_samples(&[18.0], -0.05).is_err());
    }

    #[test]
    fn loo_bandwidth_is_sensible() {
        // For normal samples the LOO optimum sits near Silverman's rule.
        let mut rng = rng_from_seed(11);
        let samples: Vec<f64> = (0..400)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                18.0 + 0.1 * z
            })
            .collect();
        let search = ScaleSearch::Continuous {
            lo: 0.005,
            hi: 0.2,
            rel_tol: 1e-4,
        };
        let (kde, sel) = EmpiricalLogJ::with_loo_bandwidth(&samples, &search).unwrap();
        let silverman = 0.9 * 0.1 * 400f64.powf(-0.2);
        assert!(
            kde.bandwidth_dex() > 0.5 * silverman && kde.bandwidth_dex() < 2.0 * silverman,
            "{} vs {silverman}",
            kde.bandwidth_dex()
        );
        assert_eq!(kde.bandwidth_dex(), sel.best_scale);
    }

    #[test]
    fn sampling_reproduces_mean_and_spread() {
        let samples = skewed_samples(2000, 5);
        let kde = EmpiricalLogJ::from_log10_samples(&samples, 0.02).unwrap();
        let mut rng = rng_from_seed(6);
        let draws: Vec<f64> = (0..20000).map(|_| kde.sample(&mut rng)).collect();
        let m = draws.iter().sum::<f64>() / draws.len() as f64;
        let var_s = samples
            .iter()
            .map(|x| (x - kde.mean()).powi(2))
            .sum::<f64>()
            / samples.len() as f64;
        let var_d = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!((m - kde.mean()).abs() < 5.0 * (var_d / 20000.0).sqrt());
        // KDE variance = sample variance + h^2.
        assert!((var_d / (var_s + 0.02 * 0.02) - 1.0).abs() < 0.05);
    }
}
