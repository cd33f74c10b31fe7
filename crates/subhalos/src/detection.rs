//! A simplified Fermi-LAT detection simulation for dark-matter subhalos
//! (after the appendix A of Amerio et al. 2025): expected counts in 16
//! logarithmic energy bins, a Poisson realisation, a log-parabola fit with a
//! Gaussian prior on the curvature, and the detection test statistic.
//!
//! # Model
//! The instrument ([`Instrument`]) has energy bins $[E_b, E_{b+1}]$, an exposure
//! $\mathcal E_b$ [cm$^2$ s] and a point-spread function whose 68% containment
//! radius $\theta_b$ defines, in each bin, an aperture of solid angle
//! $\Omega_b = 2\pi(1 - \cos\theta_b)$. A point source with photon flux
//! $\Phi_b$ in bin $b$ gives $s_b = 0.68\,\mathcal E_b\,\Phi_b$ expected counts
//! in the aperture, on top of the background
//! $B_b = \mathcal E_b\,\Omega_b \int_{E_b}^{E_{b+1}} I(E)\,dE$ of a diffuse
//! intensity $I(E)$ [ph cm$^{-2}$ s$^{-1}$ sr$^{-1}$ GeV$^{-1}$].
//!
//! The default ([`Instrument::fermi_lat_high_latitude`]) is a documented
//! approximation, not the LAT response:
//! - 16 bins, 4 per decade, from 100 MeV to 1 TeV;
//! - a flat exposure of $3\times10^{11}$ cm$^2$ s (about 12 years of survey at
//!   high latitude: $\approx 0.8$ m$^2$ on-axis area, $\approx 20\%$ of the
//!   time in the field of view);
//! - $\theta_{68}(E) = \sqrt{(5^\circ\,(E/100\,\mathrm{MeV})^{-0.8})^2 + (0.1^\circ)^2}$,
//!   close to the P8R3 SOURCE (all event types) curve: $5^\circ$ at 100 MeV,
//!   $0.8^\circ$ at 1 GeV, $0.18^\circ$ at 10 GeV, $0.1^\circ$ above 100 GeV;
//!   taken at the geometric centre of each bin;
//! - a diffuse background (Galactic diffuse plus isotropic at $|b| > 10^\circ$)
//!   $I(E) \propto E^{-2.4}$ with $\int_{0.1\,\mathrm{GeV}}^\infty I\,dE =
//!   2\times10^{-5}$ ph cm$^{-2}$ s$^{-1}$ sr$^{-1}$ (the isotropic background
//!   alone is about $1\times10^{-5}$ above 100 MeV, Ackermann et al. 2015).
//!
//! **Fit** ([`fit_log_parabola`]). The counts $n_b$ are fitted by
//! $\mu_b = B_b + 0.68\,\mathcal E_b \int_{E_b}^{E_{b+1}} K (E/E_0)^{-\alpha - \beta\ln(E/E_0)}\,dE$
//! (background fixed; the integral by 8-point Gauss-Legendre in $\ln E$ per
//! bin), maximising
//! $\ln L = \sum_b (n_b \ln\mu_b - \mu_b - \ln n_b!)$ plus the Gaussian prior
//! $\ln\pi(\beta) = -(\beta - 0.1)^2 / (2\cdot 0.3^2)$ over $(\ln K, \alpha, \beta)$.
//! The test statistic is $TS = 2[\ln L(\hat K, \hat\alpha, \hat\beta) - \ln L_0]$
//! with $L_0$ the background-only likelihood (the prior is not part of the TS);
//! a source is detected when $TS > 25$.
//!
//! # Reference
//! - A. Amerio et al. (2025), arXiv:2503.14584, appendix A.
//! - M. Ackermann et al. (Fermi-LAT), *The spectrum of isotropic diffuse
//!   gamma-ray emission between 100 MeV and 820 GeV*, ApJ 799, 86 (2015),
//!   arXiv:1410.3696.

// `!(x > 0.0)` is meant: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use darkprobe_core::numerics::ln_gamma;
use darkprobe_core::optimize::{minimize, Bound, MinimizeOptions, WithGradient};
use darkprobe_core::quad::GaussLegendre;
use darkprobe_core::Error;
use rand::Rng;
use rand_distr::{Distribution, Poisson};

use crate::error::Result;

/// Fraction of a point source's photons inside the 68% containment aperture.
pub const CONTAINMENT: f64 = 0.68;
/// Detection threshold on the test statistic.
pub const TS_DETECTION: f64 = 25.0;
/// Mean of the Gaussian prior on the log-parabola curvature $\beta$.
pub const BETA_PRIOR_MEAN: f64 = 0.1;
/// Standard deviation of the Gaussian prior on $\beta$.
pub const BETA_PRIOR_SIGMA: f64 = 0.3;
/// Gauss-Legendre nodes per energy bin for the log-parabola integral.
const NODES_PER_BIN: usize = 8;

/// The simplified instrument: energy bins, exposure, PSF apertures and
/// background counts per bin.
///
/// ```
/// use darkprobe_subhalos::detection::Instrument;
/// let lat = Instrument::fermi_lat_high_latitude();
/// assert_eq!(lat.n_bins(), 16);
/// // The aperture shrinks with energy, and so does the background.
/// let b = lat.background_counts();
/// assert!(b[0] > b[8] && b[8] > b[15]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    edges_gev: Vec<f64>,
    exposure_cm2_s: Vec<f64>,
    psf68_deg: Vec<f64>,
    background_counts: Vec<f64>,
}

/// $\theta_{68}(E)$ of the default instrument, degrees.
pub fn fermi_psf68_deg(energy_gev: f64) -> f64 {
    let core = 5.0 * (energy_gev / 0.1).powf(-0.8);
    (core * core + 0.01).sqrt()
}

impl Instrument {
    /// The default instrument described in the [module docs](self).
    pub fn fermi_lat_high_latitude() -> Self {
        let edges: Vec<f64> = (0..=16).map(|i| 0.1 * 10f64.powf(i as f64 / 4.0)).collect();
        let i_above_100mev = 2.0e-5;
        let gamma = 2.4;
        let bkg_intensity = |lo: f64, hi: f64| {
            i_above_100mev * ((lo / 0.1).powf(1.0 - gamma) - (hi / 0.1).powf(1.0 - gamma))
        };
        let psf: Vec<f64> = edges
            .windows(2)
            .map(|w| fermi_psf68_deg((w[0] * w[1]).sqrt()))
            .collect();
        let exposure = vec![3.0e11; 16];
        let background = edges
            .windows(2)
            .zip(&psf)
            .zip(&exposure)
            .map(|((w, th), e)| e * aperture_sr(*th) * bkg_intensity(w[0], w[1]))
            .collect();
        Self {
            edges_gev: edges,
            exposure_cm2_s: exposure,
            psf68_deg: psf,
            background_counts: background,
        }
    }

    /// An instrument from its bin edges (GeV, increasing, > 0), exposure per bin
    /// (cm$^2$ s), 68% PSF radius per bin (degrees) and expected background
    /// counts per bin inside the aperture.
    ///
    /// # Errors
    /// Fewer than two edges, edges not finite, positive and increasing, arrays
    /// of the wrong length, or non-positive / non-finite values.
    pub fn new(
        edges_gev: Vec<f64>,
        exposure_cm2_s: Vec<f64>,
        psf68_deg: Vec<f64>,
        background_counts: Vec<f64>,
    ) -> Result<Self> {
        if edges_gev.len() < 2 {
            return Err(Error::empty("energy bin edges", "give at least two edges").into());
        }
        for w in edges_gev.windows(2) {
            if !(w[0].is_finite() && w[0] > 0.0 && w[1] > w[0] && w[1].is_finite()) {
                return Err(Error::invalid_param(
                    "energy bin edges (GeV)",
                    format!("{edges_gev:?}"),
                    "finite, > 0 and strictly increasing",
                )
                .into());
            }
        }
        let nb = edges_gev.len() - 1;
        for (name, v) in [
            ("exposure_cm2_s", &exposure_cm2_s),
            ("psf68_deg", &psf68_deg),
            ("background_counts", &background_counts),
        ] {
            if v.len() != nb {
                return Err(Error::shape(name, nb, v.len()).into());
            }
            if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return Err(Error::invalid_param(name, x, "finite and > 0").into());
            }
        }
        Ok(Self {
            edges_gev,
            exposure_cm2_s,
            psf68_deg,
            background_counts,
        })
    }

    /// Number of energy bins.
    pub fn n_bins(&self) -> usize {
        self.edges_gev.len() - 1
    }
    /// Bin edges, GeV.
    pub fn edges_gev(&self) -> &[f64] {
        &self.edges_gev
    }
    /// Exposure per bin, cm$^2$ s.
    pub fn exposure_cm2_s(&self) -> &[f64] {
        &self.exposure_cm2_s
    }
    /// 68% containment radius per bin, degrees.
    pub fn psf68_deg(&self) -> &[f64] {
        &self.psf68_deg
    }
    /// Expected background counts per bin inside the aperture.
    pub fn background_counts(&self) -> &[f64] {
        &self.background_counts
    }

    /// Expected source counts in the aperture, $0.68\,\mathcal E_b \Phi_b$, for
    /// photon fluxes per bin `bin_flux_ph_cm2_s`.
    ///
    /// # Errors
    /// A flux array of the wrong length.
    pub fn signal_counts(&self, bin_flux_ph_cm2_s: &[f64]) -> Result<Vec<f64>> {
        if bin_flux_ph_cm2_s.len() != self.n_bins() {
            return Err(Error::shape("bin fluxes", self.n_bins(), bin_flux_ph_cm2_s.len()).into());
        }
        Ok(bin_flux_ph_cm2_s
            .iter()
            .zip(&self.exposure_cm2_s)
            .map(|(f, e)| CONTAINMENT * f * e)
            .collect())
    }

    /// A Poisson realisation of source plus background counts in each bin.
    ///
    /// # Errors
    /// As [`signal_counts`](Self::signal_counts), or negative / non-finite fluxes.
    pub fn simulate_counts<R: Rng + ?Sized>(
        &self,
        bin_flux_ph_cm2_s: &[f64],
        rng: &mut R,
    ) -> Result<Vec<u64>> {
        let s = self.signal_counts(bin_flux_ph_cm2_s)?;
        s.iter()
            .zip(&self.background_counts)
            .map(|(s, b)| {
                let mu = s + b;
                let p = Poisson::new(mu)
                    .map_err(|_| Error::invalid_param("expected counts", mu, "finite and > 0"))?;
                Ok(p.sample(rng) as u64)
            })
            .collect()
    }
}

/// Solid angle of a disc of radius `theta_deg`, sr.
pub fn aperture_sr(theta_deg: f64) -> f64 {
    2.0 * std::f64::consts::PI * (1.0 - theta_deg.to_radians().cos())
}

/// The result of a log-parabola fit to binned counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LpFit {
    /// $K$: differential flux at the pivot, ph cm$^{-2}$ s$^{-1}$ GeV$^{-1}$.
    pub norm_ph_cm2_s_gev: f64,
    /// Spectral index $\alpha$ at the pivot.
    pub alpha: f64,
    /// Curvature $\beta$.
    pub beta: f64,
    /// Pivot energy $E_0$, GeV.
    pub pivot_gev: f64,
    /// Test statistic against the background-only hypothesis.
    pub ts: f64,
    /// $\ln L$ at the fit (Poisson only, without the prior).
    pub ln_l: f64,
    /// Whether the optimiser met its stopping rule.
    pub converged: bool,
}

impl LpFit {
    /// Whether $TS >$ [`TS_DETECTION`].
    pub fn detected(&self) -> bool {
        self.ts > TS_DETECTION
    }

    /// Photon flux of the fitted shape between `e_min_gev` and `e_max_gev`
    /// (ph cm$^{-2}$ s$^{-1}$), by Gauss-Legendre quadrature in $\ln E$.
    /// Returns NaN only if the quadrature rule cannot be built (never for
    /// its fixed order).
    pub fn photon_flux(&self, e_min_gev: f64, e_max_gev: f64) -> f64 {
        let Ok(gl) = GaussLegendre::new(NODES_PER_BIN) else {
            return f64::NAN;
        };
        let n_panels = 32;
        let (a, b) = (e_min_gev.ln(), e_max_gev.ln());
        let h = (b - a) / n_panels as f64;
        let mut total = 0.0;
        for p in 0..n_panels {
            for (x, w) in gl.nodes().iter().zip(gl.weights()) {
                let t = a + h * (p as f64 + 0.5 * (x + 1.0));
                let u = t - self.pivot_gev.ln();
                total += 0.5 * h * w * t.exp() * (-self.alpha * u - self.beta * u * u).exp();
            }
        }
        self.norm_ph_cm2_s_gev * total
    }
}

/// Precomputed quadrature of the log-parabola over an instrument's bins.
#[derive(Debug, Clone)]
pub struct LpFitter {
    pivot_gev: f64,
    /// Per bin: (u_j, weight_j including E_j, 0.68 exposure).
    nodes: Vec<Vec<(f64, f64)>>,
    scale: Vec<f64>,
    background: Vec<f64>,
}

impl LpFitter {
    /// A fitter for `instrument` with pivot $E_0$ = `pivot_gev`.
    ///
    /// # Errors
    /// A pivot that is not finite and > 0.
    pub fn new(instrument: &Instrument, pivot_gev: f64) -> Result<Self> {
        darkprobe_core::error::check_positive("pivot_gev", pivot_gev)?;
        let gl = GaussLegendre::new(NODES_PER_BIN)?;
        let nodes = instrument
            .edges_gev
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0].ln(), w[1].ln());
                gl.nodes()
                    .iter()
                    .zip(gl.weights())
                    .map(|(x, wt)| {
                        let t = 0.5 * (a + b) + 0.5 * (b - a) * x;
                        ((t - pivot_gev.ln()), 0.5 * (b - a) * wt * t.exp())
                    })
                    .collect()
            })
            .collect();
        let scale = instrument
            .exposure_cm2_s
            .iter()
            .map(|e| CONTAINMENT * e)
            .collect();
        Ok(Self {
            pivot_gev,
            nodes,
            scale,
            background: instrument.background_counts.clone(),
        })
    }

    /// Expected source counts per bin for $(K, \alpha, \beta)$, and optionally
    /// their derivatives with respect to $(\ln K, \alpha, \beta)$.
    fn source_counts(&self, p: &[f64], mut grad: Option<&mut Vec<[f64; 3]>>) -> Vec<f64> {
        let k = p[0].exp();
        let (alpha, beta) = (p[1], p[2]);
        if let Some(g) = grad.as_deref_mut() {
            g.clear();
        }
        self.nodes
            .iter()
            .zip(&self.scale)
            .map(|(nodes, sc)| {
                let (mut s, mut su, mut su2) = (0.0, 0.0, 0.0);
                for &(u, w) in nodes {
                    let v = w * (-alpha * u - beta * u * u).exp();
                    s += v;
                    su += v * u;
                    su2 += v * u * u;
                }
                let c = sc * k;
                if let Some(g) = grad.as_deref_mut() {
                    g.push([c * s, -c * su, -c * su2]);
                }
                c * s
            })
            .collect()
    }

    /// Poisson $\ln L$ of `counts` for parameters `(ln K, alpha, beta)`.
    fn ln_l(&self, counts: &[f64], p: &[f64]) -> f64 {
        let s = self.source_counts(p, None);
        s.iter()
            .zip(&self.background)
            .zip(counts)
            .map(|((s, b), &n)| {
                let mu = s + b;
                n * mu.ln() - mu - ln_gamma(n + 1.0)
            })
            .sum()
    }

    /// Background-only $\ln L_0$.
    fn ln_l0(&self, counts: &[f64]) -> f64 {
        self.background
            .iter()
            .zip(counts)
            .map(|(b, &n)| n * b.ln() - b - ln_gamma(n + 1.0))
            .sum()
    }

    /// Fits the log-parabola to `counts` (see the [module docs](self)).
    ///
    /// # Errors
    /// Counts of the wrong length, or an optimiser failure.
    pub fn fit(&self, counts: &[u64]) -> Result<LpFit> {
        let c: Vec<f64> = counts.iter().map(|&n| n as f64).collect();
        self.fit_real(&c)
    }

    /// As [`fit`](Self::fit) for real-valued counts (e.g. the Asimov data set,
    /// the expected counts themselves); $\ln n!$ becomes $\ln\Gamma(n+1)$.
    ///
    /// # Errors
    /// Counts of the wrong length, negative or non-finite counts, or an
    /// optimiser failure.
    pub fn fit_real(&self, counts: &[f64]) -> Result<LpFit> {
        if counts.len() != self.background.len() {
            return Err(Error::shape("binned counts", self.background.len(), counts.len()).into());
        }
        if let Some(n) = counts.iter().find(|n| !(n.is_finite() && **n >= 0.0)) {
            return Err(Error::invalid_param("binned counts", n, "finite and >= 0").into());
        }
        let inv_var = 1.0 / (BETA_PRIOR_SIGMA * BETA_PRIOR_SIGMA);
        let objective = WithGradient(|p: &[f64], g: &mut [f64]| {
            let mut grads = Vec::with_capacity(self.background.len());
            let s = self.source_counts(p, Some(&mut grads));
            let mut nll = 0.0;
            g.iter_mut().for_each(|x| *x = 0.0);
            for b in 0..s.len() {
                let mu = s[b] + self.background[b];
                let n = counts[b];
                nll += mu - n * mu.ln();
                let f = 1.0 - n / mu;
                for j in 0..3 {
                    g[j] += f * grads[b][j];
                }
            }
            nll += 0.5 * (p[2] - BETA_PRIOR_MEAN).powi(2) * inv_var;
            g[2] += (p[2] - BETA_PRIOR_MEAN) * inv_var;
            Ok(nll)
        });
        // Starting norm: the background-subtracted counts for a shape with
        // alpha = 1.5, beta = 0.1.
        let excess: f64 = counts
            .iter()
            .zip(&self.background)
            .map(|(&n, b)| (n - b).max(0.0))
            .sum::<f64>()
            .max(1.0);
        let bounds = [
            Bound::between(-80.0, 10.0),
            Bound::between(-2.0, 6.0),
            Bound::between(-1.0, 3.0),
        ];
        let opts = MinimizeOptions {
            max_iter: 2000,
            grad_tol: 1e-7,
            allow_unconverged: true,
            ..MinimizeOptions::default()
        };
        let mut best: Option<(Vec<f64>, f64, bool)> = None;
        for alpha0 in [1.0, 2.2] {
            let unit = self.source_counts(&[0.0, alpha0, BETA_PRIOR_MEAN], None);
            let total_unit: f64 = unit.iter().sum();
            let p0 = [(excess / total_unit).ln(), alpha0, BETA_PRIOR_MEAN];
            let m = minimize(&objective, &p0, &bounds, &opts)?;
            if best.as_ref().is_none_or(|b| m.f_x < b.1) {
                best = Some((m.x, m.f_x, m.converged));
            }
        }
        let (p, _, converged) = best.ok_or_else(|| Error::empty("fit starts", "none"))?;
        let ln_l = self.ln_l(counts, &p);
        let ts = (2.0 * (ln_l - self.ln_l0(counts))).max(0.0);
        Ok(LpFit {
            norm_ph_cm2_s_gev: p[0].exp(),
            alpha: p[1],
            beta: p[2],
            pivot_gev: self.pivot_gev,
            ts,
            ln_l,
            converged,
        })
    }

    /// The Asimov test statistic of a source with expected counts `signal`:
    /// $TS_A = 2\sum_b [(s_b + B_b)\ln(1 + s_b/B_b) - s_b]$, the TS of the
    /// expected data when the fitted model can reproduce it exactly.
    pub fn asimov_ts(&self, signal: &[f64]) -> f64 {
        2.0 * signal
            .iter()
            .zip(&self.background)
            .map(|(s, b)| (s + b) * (s / b).ln_1p() - s)
            .sum::<f64>()
    }

    /// Expected source counts of a log-parabola $(K, \alpha, \beta)$ at this
    /// fitter's pivot.
    pub fn lp_counts(&self, norm_ph_cm2_s_gev: f64, alpha: f64, beta: f64) -> Vec<f64> {
        self.source_counts(&[norm_ph_cm2_s_gev.ln(), alpha, beta], None)
    }
}

/// Fits a log-parabola with pivot `pivot_gev` to `counts` observed with
/// `instrument` (see the [module docs](self)).
///
/// # Errors
/// As [`LpFitter::new`] and [`LpFitter::fit`].
///
/// ```
/// use darkprobe_subhalos::detection::{fit_log_parabola, Instrument, LpFitter};
/// use rand::SeedableRng;
/// let lat = Instrument::fermi_lat_high_latitude();
/// let fitter = LpFitter::new(&lat, 1.0)?;
/// // A bright source: K = 1e-9 ph/cm2/s/GeV at 1 GeV, alpha = 1.8, beta = 0.15.
/// let s = fitter.lp_counts(1e-9, 1.8, 0.15);
/// let flux: Vec<f64> = s.iter().zip(lat.exposure_cm2_s()).map(|(c, e)| c / (0.68 * e)).collect();
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let counts = lat.simulate_counts(&flux, &mut rng)?;
/// let fit = fit_log_parabola(&lat, &counts, 1.0)?;
/// assert!(fit.detected() && (fit.alpha - 1.8).abs() < 0.1);
/// # Ok::<(), darkprobe_subhalos::SubhaloError>(())
/// ```
pub fn fit_log_parabola(instrument: &Instrument, counts: &[u64], pivot_gev: f64) -> Result<LpFit> {
    LpFitter::new(instrument, pivot_gev)?.fit(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn flux_of(lat: &Instrument, s: &[f64]) -> Vec<f64> {
        s.iter()
            .zip(lat.exposure_cm2_s())
            .map(|(c, e)| c / (CONTAINMENT * e))
            .collect()
    }

    #[test]
    fn psf_and_aperture_match_documented_values() {
        assert!((fermi_psf68_deg(0.1) - (25.01f64).sqrt()).abs() < 1e-12);
        assert!((fermi_psf68_deg(1.0) - 0.798).abs() < 0.01);
        assert!((fermi_psf68_deg(1000.0) - 0.1).abs() < 1e-3);
        // Small-angle limit pi theta^2.
        let th = 0.5f64;
        assert!(
            (aperture_sr(th) / (std::f64::consts::PI * th.to_radians().powi(2)) - 1.0).abs() < 1e-4
        );
    }

    #[test]
    fn background_sums_to_the_documented_intensity() {
        let lat = Instrument::fermi_lat_high_latitude();
        // Undo the aperture and exposure; the per-bin intensities must add up
        // to 2e-5 (1 - 1e4^-1.4) over 0.1 GeV - 1 TeV.
        let total: f64 = lat
            .background_counts()
            .iter()
            .zip(lat.psf68_deg())
            .zip(lat.exposure_cm2_s())
            .map(|((b, th), e)| b / (aperture_sr(*th) * e))
            .sum();
        let expect = 2.0e-5 * (1.0 - 1e4f64.powf(-1.4));
        approx::assert_relative_eq!(total, expect, max_relative = 1e-12);
    }

    #[test]
    fn lp_quadrature_matches_power_law_closed_form() {
        let lat = Instrument::fermi_lat_high_latitude();
        let f = LpFitter::new(&lat, 1.0).unwrap();
        // beta = 0, alpha = 2: integral of K E^-2 over [a, b] is K (1/a - 1/b).
        let s = f.lp_counts(1e-9, 2.0, 0.0);
        for (b, w) in lat.edges_gev().windows(2).enumerate() {
            let exact = 1e-9 * (1.0 / w[0] - 1.0 / w[1]) * CONTAINMENT * 3.0e11;
            approx::assert_relative_eq!(s[b], exact, max_relative = 1e-12);
        }
        // The LpFit photon flux agrees with the bin sum.
        let fit = LpFit {
            norm_ph_cm2_s_gev: 1e-9,
            alpha: 1.7,
            beta: 0.2,
            pivot_gev: 1.0,
            ts: 0.0,
            ln_l: 0.0,
            converged: true,
        };
        let sum: f64 = f.lp_counts(1e-9, 1.7, 0.2).iter().sum::<f64>() / (CONTAINMENT * 3.0e11);
        approx::assert_relative_eq!(fit.photon_flux(0.1, 1000.0), sum, max_relative = 1e-10);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let lat = Instrument::fermi_lat_high_latitude();
        let f = LpFitter::new(&lat, 1.0).unwrap();
        let p = [(-21.0f64), 1.4, 0.25];
        let mut g = Vec::new();
        let s = f.source_counts(&p, Some(&mut g));
        for j in 0..3 {
            let h = 1e-6;
            let mut q = p;
            q[j] += h;
            let sp = f.source_counts(&q, None);
            q[j] -= 2.0 * h;
            let sm = f.source_counts(&q, None);
            for b in 0..s.len() {
                let fd = (sp[b] - sm[b]) / (2.0 * h);
                assert!(
                    (fd - g[b][j]).abs() <= 1e-6 * (1.0 + g[b][j].abs()),
                    "{j} {b}"
                );
            }
        }
    }

    #[test]
    fn asimov_fit_reproduces_the_analytic_ts() {
        // Data equal to the expectation of an LP with beta at the prior mean:
        // the fit reproduces it exactly and the TS equals the Asimov formula
        // (up to the rounding of counts, so use large counts and compare with
        // the TS of the rounded data computed directly).
        let lat = Instrument::fermi_lat_high_latitude();
        let f = LpFitter::new(&lat, 1.0).unwrap();
        let s = f.lp_counts(3e-10, 1.6, BETA_PRIOR_MEAN);
        let ts_a = f.asimov_ts(&s);
        let asimov: Vec<f64> = s
            .iter()
            .zip(lat.background_counts())
            .map(|(s, b)| s + b)
            .collect();
        let fit = f.fit_real(&asimov).unwrap();
        assert!(ts_a > 100.0);
        approx::assert_relative_eq!(fit.ts, ts_a, max_relative = 1e-6);
        assert!((fit.alpha - 1.6).abs() < 1e-4 && (fit.beta - 0.1).abs() < 1e-4);
        approx::assert_relative_eq!(fit.norm_ph_cm2_s_gev, 3e-10, max_relative = 1e-4);
    }

    #[test]
    fn mean_ts_of_a_bright_source_matches_asimov_plus_dof() {
        // For a bright source the TS is noncentral chi^2 with 3 dof and
        // noncentrality TS_A: mean TS_A + 3, standard deviation ~ 2 sqrt(TS_A).
        let lat = Instrument::fermi_lat_high_latitude();
        let f = LpFitter::new(&lat, 1.0).unwrap();
        let s = f.lp_counts(2.2e-10, 1.5, BETA_PRIOR_MEAN);
        let ts_a = f.asimov_ts(&s);
        assert!(ts_a > 80.0 && ts_a < 400.0, "{ts_a}");
        let flux = flux_of(&lat, &s);
        let n = 200;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut sum = 0.0;
        for _ in 0..n {
            let c = lat.simulate_counts(&flux, &mut rng).unwrap();
            sum += f.fit(&c).unwrap().ts;
        }
        let mean = sum / n as f64;
        let se = 2.0 * (ts_a + 3.0).sqrt() / (n as f64).sqrt();
        assert!(
            (mean - ts_a - 3.0).abs() < 4.0 * se,
            "mean {mean} vs {}",
            ts_a + 3.0
        );
    }

    #[test]
    fn recovers_injected_alpha_beta_on_high_count_spectra() {
        let lat = Instrument::fermi_lat_high_latitude();
        let f = LpFitter::new(&lat, 1.0).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for &(alpha, beta) in &[(1.2, 0.3), (1.9, 0.05), (1.5, 0.45)] {
            let s = f.lp_counts(2e-8, alpha, beta);
            let c = lat.simulate_counts(&flux_of(&lat, &s), &mut rng).unwrap();
            let fit = f.fit(&c).unwrap();
            assert!((fit.alpha - alpha).abs() < 0.02, "{alpha}: {}", fit.alpha);
            assert!((fit.beta - beta).abs() < 0.02, "{beta}: {}", fit.beta);
            assert!(fit.converged);
        }
    }

    #[test]
    fn background_only_gives_small_ts() {
        let lat = Instrument::fermi_lat_high_latitude();
        let f = LpFitter::new(&lat, 1.0).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let zero = vec![0.0; 16];
        let mut n_det = 0;
        for _ in 0..50 {
            let c = lat.simulate_counts(&zero, &mut rng).unwrap();
            let fit = f.fit(&c).unwrap();
            assert!(fit.ts >= 0.0);
            n_det += usize::from(fit.detected());
        }
        assert_eq!(n_det, 0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let lat = Instrument::fermi_lat_high_latitude();
        assert!(fit_log_parabola(&lat, &[1, 2, 3], 1.0).is_err());
        assert!(LpFitter::new(&lat, -1.0).is_err());
        assert!(Instrument::new(vec![1.0, 0.5], vec![1.0], vec![1.0], vec![1.0]).is_err());
        assert!(Instrument::new(vec![1.0, 2.0], vec![1.0, 2.0], vec![1.0], vec![1.0]).is_err());
        assert!(Instrument::new(vec![1.0, 2.0], vec![f64::NAN], vec![1.0], vec![1.0]).is_err());
        assert!(lat
            .simulate_counts(&[f64::NAN; 16], &mut rand::rngs::StdRng::seed_from_u64(0))
            .is_err());
    }
}
