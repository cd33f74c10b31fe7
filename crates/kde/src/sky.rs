//! The product kernel of the dwarf background model: a Gaussian kernel on
//! the sky times a Gaussian kernel in $\ln y$ (log-normal in the counts $y$).
//!
//! Given $N$ control ("void") regions at sky positions $x_k$ with counts $y_k$,
//! a smoothing length $\sigma$ on the sky (degrees) and a width $\zeta$ in $\ln y$:
//!
//! - spatial weights $w_k(x) = \exp\left(-d(x, x_k)^2 / 2\sigma^2\right)$, where $d$ is
//!   either the flat $(l, b)$ distance $\sqrt{\Delta l^2 + \Delta b^2}$ of the
//!   MLFermiDwarfs code (no $\cos b$, no wrap-around) or the great-circle distance;
//! - the joint density (per deg$^2$ per unit $\ln y$), as MLFermiDwarfs normalises it:
//!   $p(x, \ln y) = \frac{1}{(2\pi)^{3/2}\sigma^2\zeta N}\sum_k w_k(x)\, e^{-(\ln y - \ln y_k)^2/2\zeta^2}$;
//! - the conditional density $p(\ln y \mid x) = \sum_k w_k(x)\,\mathcal N(\ln y; \ln y_k, \zeta) / \sum_k w_k(x)$;
//! - the Nadaraya-Watson (Specht GRNN) moments at $x$:
//!   $\mu(x) = \sum_k w_k \ln y_k / \sum_k w_k$ and
//!   $\mathrm{Var}(\ln y \mid x) = \zeta^2 + \sum_k w_k (\ln y_k - \mu)^2 / \sum_k w_k$;
//! - the leave-one-out log-likelihood
//!   $\mathcal L(\sigma, \zeta) = \sum_j \ln p_{-j}(x_j, \ln y_j)$ (each term with $N-1$
//!   in the normalisation), maximised over $(\sigma, \zeta)$.
//!
//! Reference: F. Calore, P. D. Serpico, B. Zaldivar, JCAP 10 (2018) 029
//! (arXiv:1803.05508), and the MLFermiLATDwarfs package conventions.

use crate::error::Result;
use darkprobe_core::numerics::log_sum_exp;
use darkprobe_core::optimize::{minimize, Bound, MinimizeOptions, Objective};
use darkprobe_core::par;
use darkprobe_core::sky::lb_to_unit;
use darkprobe_core::Error;
use std::f64::consts::PI;

/// How distances on the sky are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialMetric {
    /// $\sqrt{(l_1 - l_2)^2 + (b_1 - b_2)^2}$ in degrees, as the MLFermiDwarfs code does
    /// (no $\cos b$ factor, no wrap-around at $l = 0/360$).
    FlatLb,
    /// Great-circle distance in degrees.
    Angular,
}

/// Pairs farther apart than this many $\sigma$ are skipped in the
/// leave-one-out sums (their weight is below $e^{-32} \approx 10^{-14}$ of a
/// coincident pair); a point with no neighbour inside the cut-off falls back to the full sum.
pub const LOO_CUTOFF_SIGMAS: f64 = 8.0;

/// A product-kernel density over sky position and $\ln$ counts.
///
/// ```
/// use darkprobe_kde::{SkyProductKde, SpatialMetric};
/// // Three voids; the background at (10, 30) is dominated by the nearest one.
/// let kde = SkyProductKde::new(
///     vec![10.0, 11.0, 40.0], vec![30.0, 30.0, -50.0],
///     vec![2.0f64.ln(), 8.0f64.ln(), 100.0f64.ln()],
///     1.4, 0.15, SpatialMetric::FlatLb,
/// ).unwrap();
/// let m = kde.nadaraya_watson(10.0, 30.0);
/// let w1 = (-1.0f64 / (2.0 * 1.4 * 1.4)).exp();
/// let expect = (2.0f64.ln() + w1 * 8.0f64.ln()) / (1.0 + w1);
/// assert!((m.mean_ln_y - expect).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct SkyProductKde {
    lon: Vec<f64>,
    lat: Vec<f64>,
    /// Unit vectors of the voids (for great-circle distances).
    units: Vec<[f64; 3]>,
    ln_y: Vec<f64>,
    sigma_deg: f64,
    zeta: f64,
    metric: SpatialMetric,
}

/// Nadaraya-Watson moments of $\ln y$ at a sky position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NwMoments {
    /// Kernel-weighted mean of $\ln y$.
    pub mean_ln_y: f64,
    /// $\zeta^2$ plus the kernel-weighted variance of $\ln y$.
    pub var_ln_y: f64,
    /// Effective number of contributing voids, $(\sum w)^2 / \sum w^2$.
    pub n_eff: f64,
}

impl SkyProductKde {
    /// A product-kernel estimate over voids at (`lon_deg`, `lat_deg`) with log counts `ln_y`.
    ///
    /// # Errors
    /// Columns of different lengths, no voids, non-finite values, $|b| > 90$,
    /// or $\sigma$, $\zeta$ not finite and positive.
    pub fn new(
        lon_deg: Vec<f64>,
        lat_deg: Vec<f64>,
        ln_y: Vec<f64>,
        sigma_deg: f64,
        zeta: f64,
        metric: SpatialMetric,
    ) -> Result<Self> {
        if lon_deg.len() != lat_deg.len() || lon_deg.len() != ln_y.len() {
            return Err(Error::shape(
                "void columns (lon, lat, ln y)",
                lon_deg.len(),
                format!("{} and {}", lat_deg.len(), ln_y.len()),
            )
            .into());
        }
        if lon_deg.is_empty() {
            return Err(Error::empty("void sample", "give at least one void region").into());
        }
        for (i, ((l, b), y)) in lon_deg.iter().zip(&lat_deg).zip(&ln_y).enumerate() {
            if !(l.is_finite() && b.is_finite() && b.abs() <= 90.0) {
                return Err(Error::invalid_param(
                    format!("void {i} position"),
                    format!("({l}, {b})"),
                    "finite, with |b| <= 90 deg",
                )
                .into());
            }
            if !y.is_finite() {
                return Err(Error::invalid_param(
                    format!("void {i} ln counts"),
                    y,
                    "finite (drop voids with zero counts before taking the log)",
                )
                .into());
            }
        }
        darkprobe_core::error::check_positive("sigma_deg", sigma_deg)?;
        darkprobe_core::error::check_positive("zeta", zeta)?;
        let units = lon_deg
            .iter()
            .zip(&lat_deg)
            .map(|(l, b)| lb_to_unit(*l, *b))
            .collect();
        Ok(Self {
            units,
            lon: lon_deg,
            lat: lat_deg,
            ln_y,
            sigma_deg,
            zeta,
            metric,
        })
    }

    /// Number of voids.
    pub fn n_voids(&self) -> usize {
        self.ln_y.len()
    }
    /// Spatial smoothing $\sigma$ in degrees.
    pub fn sigma_deg(&self) -> f64 {
        self.sigma_deg
    }
    /// Width $\zeta$ in $\ln y$.
    pub fn zeta(&self) -> f64 {
        self.zeta
    }
    /// The metric.
    pub fn metric(&self) -> SpatialMetric {
        self.metric
    }
    /// The same voids with other smoothing parameters.
    ///
    /// # Errors
    /// $\sigma$ or $\zeta$ not finite and positive.
    pub fn with_smoothing(&self, sigma_deg: f64, zeta: f64) -> Result<Self> {
        darkprobe_core::error::check_positive("sigma_deg", sigma_deg)?;
        darkprobe_core::error::check_positive("zeta", zeta)?;
        Ok(Self {
            sigma_deg,
            zeta,
            ..self.clone()
        })
    }

    #[inline]
    fn dist2(&self, l: f64, b: f64, k: usize) -> f64 {
        match self.metric {
            SpatialMetric::FlatLb => {
                let dl = l - self.lon[k];
                let db = b - self.lat[k];
                dl * dl + db * db
            }
            SpatialMetric::Angular => self.angular_dist2(&lb_to_unit(l, b), k),
        }
    }

    /// Squared great-circle distance in deg^2 from unit vector `u` to void `k`,
    /// via the chord: $\theta = 2 \arcsin(|u - v| / 2)$ (accurate at all angles
    /// below 180 deg, including tiny ones).
    #[inline]
    fn angular_dist2(&self, u: &[f64; 3], k: usize) -> f64 {
        let v = &self.units[k];
        let c2 = (u[0] - v[0]).powi(2) + (u[1] - v[1]).powi(2) + (u[2] - v[2]).powi(2);
        let theta = 2.0 * (0.5 * c2.sqrt()).min(1.0).asin();
        let d = theta.to_degrees();
        d * d
    }

    /// Squared distance between voids `j` and `k`.
    #[inline]
    fn void_dist2(&self, j: usize, k: usize) -> f64 {
        match self.metric {
            SpatialMetric::FlatLb => self.dist2(self.lon[j], self.lat[j], k),
            SpatialMetric::Angular => self.angular_dist2(&self.units[j], k),
        }
    }

    /// $\ln w_k(x)$ for every void.
    pub fn ln_spatial_weights(&self, lon_deg: f64, lat_deg: f64) -> Vec<f64> {
        let c = 0.5 / (self.sigma_deg * self.sigma_deg);
        let u = lb_to_unit(lon_deg, lat_deg);
        (0..self.n_voids())
            .map(|k| match self.metric {
                SpatialMetric::FlatLb => -c * self.dist2(lon_deg, lat_deg, k),
                SpatialMetric::Angular => -c * self.angular_dist2(&u, k),
            })
            .collect()
    }

    /// The Nadaraya-Watson moments of $\ln y$ at $(l, b)$.
    pub fn nadaraya_watson(&self, lon_deg: f64, lat_deg: f64) -> NwMoments {
        let lw = self.ln_spatial_weights(lon_deg, lat_deg);
        let m = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Weights relative to the largest, so nothing underflows for far positions.
        let w: Vec<f64> = lw.iter().map(|x| (x - m).exp()).collect();
        let sw: f64 = w.iter().sum();
        let sw2: f64 = w.iter().map(|x| x * x).sum();
        let mean = w.iter().zip(&self.ln_y).map(|(a, y)| a * y).sum::<f64>() / sw;
        let var = w
            .iter()
            .zip(&self.ln_y)
            .map(|(a, y)| a * (y - mean) * (y - mean))
            .sum::<f64>()
            / sw;
        NwMoments {
            mean_ln_y: mean,
            var_ln_y: self.zeta * self.zeta + var,
            n_eff: sw * sw / sw2,
        }
    }

    /// $\ln p(x, \ln y)$, the joint density with the MLFermiDwarfs normalisation.
    pub fn ln_joint_pdf(&self, lon_deg: f64, lat_deg: f64, ln_y: f64) -> f64 {
        let n = self.n_voids() as f64;
        self.ln_kernel_sum(lon_deg, lat_deg, ln_y)
            - n.ln()
            - 1.5 * (2.0 * PI).ln()
            - 2.0 * self.sigma_deg.ln()
            - self.zeta.ln()
    }

    fn ln_kernel_sum(&self, lon_deg: f64, lat_deg: f64, ln_y: f64) -> f64 {
        let cz = 0.5 / (self.zeta * self.zeta);
        let terms: Vec<f64> = self
            .ln_spatial_weights(lon_deg, lat_deg)
            .iter()
            .zip(&self.ln_y)
            .map(|(lw, y)| lw - cz * (ln_y - y) * (ln_y - y))
            .collect();
        log_sum_exp(&terms)
    }

    /// $\ln p(\ln y \mid x)$, the conditional density of $\ln y$ at $x$.
    pub fn ln_conditional_pdf(&self, lon_deg: f64, lat_deg: f64, ln_y: f64) -> f64 {
        self.conditional_at(lon_deg, lat_deg, 0.0).ln_pdf(ln_y)
    }

    /// The conditional density $p(\ln y \mid x)$ at a fixed position, with the
    /// spatial weights computed once; voids whose weight is below
    /// `e^{-drop_below}` of the largest are dropped (`drop_below = 0` keeps all).
    /// Evaluating it is then $O(\text{kept voids})$, which makes profiling the
    /// background nuisance cheap.
    pub fn conditional_at(&self, lon_deg: f64, lat_deg: f64, drop_below: f64) -> BackgroundPdf {
        let lw = self.ln_spatial_weights(lon_deg, lat_deg);
        let m = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let keep = |x: f64| drop_below <= 0.0 || x >= m - drop_below;
        let (ln_w, ln_y): (Vec<f64>, Vec<f64>) = lw
            .iter()
            .zip(&self.ln_y)
            .filter(|(w, _)| keep(**w))
            .map(|(w, y)| (*w, *y))
            .unzip();
        let ln_norm = log_sum_exp(&ln_w);
        BackgroundPdf {
            ln_w: ln_w.iter().map(|w| w - ln_norm).collect(),
            ln_y,
            zeta: self.zeta,
        }
    }

    /// The leave-one-out log-likelihood $\mathcal L(\sigma, \zeta)$ of the joint
    /// density over the voids themselves, at this estimate's $(\sigma, \zeta)$.
    ///
    /// # Errors
    /// Fewer than two voids.
    pub fn loo_ln_likelihood(&self) -> Result<f64> {
        Ok(self.loo_with_gradient()?.0)
    }

    /// $\mathcal L$ and its gradient with respect to $(\ln\sigma, \ln\zeta)$.
    fn loo_with_gradient(&self) -> Result<(f64, [f64; 2])> {
        let n = self.n_voids();
        if n < 2 {
            return Err(
                Error::empty("leave-one-out void sample", "give at least two voids").into(),
            );
        }
        let s2 = self.sigma_deg * self.sigma_deg;
        let z2 = self.zeta * self.zeta;
        let cut = LOO_CUTOFF_SIGMAS * self.sigma_deg;
        // Sort by latitude so the neighbours within the cut-off form a window.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| self.lat[*a].total_cmp(&self.lat[*b]));
        let lat_sorted: Vec<f64> = order.iter().map(|&i| self.lat[i]).collect();
        let ln_const = -((n - 1) as f64).ln()
            - 1.5 * (2.0 * PI).ln()
            - 2.0 * self.sigma_deg.ln()
            - self.zeta.ln();
        let per_point = par::map_indices_with(n, Vec::new, |buf: &mut Vec<(f64, f64, f64)>, jj| {
            let j = order[jj];
            let (b, y) = (self.lat[j], self.ln_y[j]);
            buf.clear();
            let lo = lat_sorted.partition_point(|x| *x < b - cut);
            let hi = lat_sorted.partition_point(|x| *x <= b + cut);
            for &k in &order[lo..hi] {
                if k == j {
                    continue;
                }
                let d2 = self.void_dist2(j, k);
                if d2 <= cut * cut {
                    let dy = y - self.ln_y[k];
                    buf.push((d2, dy * dy, -0.5 * d2 / s2 - 0.5 * dy * dy / z2));
                }
            }
            if buf.is_empty() {
                for k in (0..n).filter(|k| *k != j) {
                    let d2 = self.void_dist2(j, k);
                    let dy = y - self.ln_y[k];
                    buf.push((d2, dy * dy, -0.5 * d2 / s2 - 0.5 * dy * dy / z2));
                }
            }
            let m = buf.iter().map(|t| t.2).fold(f64::NEG_INFINITY, f64::max);
            let (mut s, mut sd, mut sy) = (0.0, 0.0, 0.0);
            for &(d2, dy2, e) in buf.iter() {
                let r = (e - m).exp();
                s += r;
                sd += r * d2;
                sy += r * dy2;
            }
            let ln_p = m + s.ln() + ln_const;
            // d ln p / d ln sigma = <d2>/sigma^2 - 2;  d ln p / d ln zeta = <dy2>/zeta^2 - 1
            (ln_p, sd / s / s2 - 2.0, sy / s / z2 - 1.0)
        });
        let mut total = 0.0;
        let mut g = [0.0; 2];
        for (lp, gs, gz) in per_point {
            total += lp;
            g[0] += gs;
            g[1] += gz;
        }
        Ok((total, g))
    }

    /// Maximises the leave-one-out log-likelihood over $(\sigma, \zeta)$ within
    /// the given ranges (L-BFGS in $(\ln\sigma, \ln\zeta)$ with the analytic
    /// gradient), starting from this estimate's values.
    ///
    /// # Errors
    /// Invalid ranges, a start outside them, or an optimiser failure.
    pub fn optimise_loo(
        &self,
        sigma_range_deg: (f64, f64),
        zeta_range: (f64, f64),
    ) -> Result<LooOptimum> {
        struct Obj<'a>(&'a SkyProductKde);
        impl Objective for Obj<'_> {
            fn value(&self, p: &[f64]) -> darkprobe_core::Result<f64> {
                let k = self.0.with_smoothing(p[0].exp(), p[1].exp())?;
                Ok(-k.loo_with_gradient()?.0)
            }
            fn value_and_gradient(
                &self,
                p: &[f64],
                grad: &mut [f64],
            ) -> darkprobe_core::Result<f64> {
                let k = self.0.with_smoothing(p[0].exp(), p[1].exp())?;
                let (v, g) = k.loo_with_gradient()?;
                grad[0] = -g[0];
                grad[1] = -g[1];
                Ok(-v)
            }
            fn has_gradient(&self) -> bool {
                true
            }
        }
        for (name, (lo, hi)) in [("sigma range", sigma_range_deg), ("zeta range", zeta_range)] {
            if !(lo > 0.0 && hi > lo && hi.is_finite()) {
                return Err(Error::invalid_param(
                    name,
                    format!("[{lo}, {hi}]"),
                    "0 < lo < hi, finite",
                )
                .into());
            }
        }
        let start = [
            self.sigma_deg
                .clamp(sigma_range_deg.0, sigma_range_deg.1)
                .ln(),
            self.zeta.clamp(zeta_range.0, zeta_range.1).ln(),
        ];
        let bounds = [
            Bound::between(sigma_range_deg.0.ln(), sigma_range_deg.1.ln()),
            Bound::between(zeta_range.0.ln(), zeta_range.1.ln()),
        ];
        let res = minimize(&Obj(self), &start, &bounds, &MinimizeOptions::default())?;
        Ok(LooOptimum {
            sigma_deg: res.x[0].exp(),
            zeta: res.x[1].exp(),
            loo_ln_likelihood: -res.f_x,
            n_iter: res.n_iter,
        })
    }
}

/// The result of [`SkyProductKde::optimise_loo`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LooOptimum {
    /// Best spatial smoothing, degrees.
    pub sigma_deg: f64,
    /// Best width in $\ln y$.
    pub zeta: f64,
    /// The maximised leave-one-out log-likelihood.
    pub loo_ln_likelihood: f64,
    /// Optimiser iterations.
    pub n_iter: usize,
}

/// $p(\ln y \mid x)$ at a fixed position: a weighted mixture of normals in $\ln y$.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundPdf {
    ln_w: Vec<f64>,
    ln_y: Vec<f64>,
    zeta: f64,
}

impl BackgroundPdf {
    /// Number of voids kept.
    pub fn n_components(&self) -> usize {
        self.ln_w.len()
    }

    /// $\ln p(\ln y \mid x)$.
    pub fn ln_pdf(&self, ln_y: f64) -> f64 {
        self.ln_pdf_and_derivative(ln_y).0
    }

    /// $\ln p$ and $\frac{d}{d \ln y} \ln p$ (for Newton steps when profiling).
    pub fn ln_pdf_and_derivative(&self, ln_y: f64) -> (f64, f64) {
        // Two passes without allocation: the largest exponent, then the
        // rescaled sums of the mixture and of its derivative.
        let cz = 0.5 / (self.zeta * self.zeta);
        let exponent = |w: f64, y: f64| w - cz * (ln_y - y) * (ln_y - y);
        let m = self
            .ln_w
            .iter()
            .zip(&self.ln_y)
            .map(|(w, y)| exponent(*w, *y))
            .fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            return (f64::NEG_INFINITY, 0.0);
        }
        let (mut s, mut ds) = (0.0, 0.0);
        for (w, y) in self.ln_w.iter().zip(&self.ln_y) {
            let r = (exponent(*w, *y) - m).exp();
            s += r;
            ds += r * (y - ln_y);
        }
        let ln_p = m + s.ln() - self.zeta.ln() - 0.5 * (2.0 * PI).ln();
        (ln_p, ds / s / (self.zeta * self.zeta))
    }

    /// Mean of $\ln y$ under this density.
    pub fn mean(&self) -> f64 {
        self.ln_w
            .iter()
            .zip(&self.ln_y)
            .map(|(w, y)| w.exp() * y)
            .sum()
    }
}
