//! The data-driven background at a dwarf: the Nadaraya-Watson prediction of
//! $\ln B$ in each energy bin, the product-kernel pdf of the background
//! nuisance used by the JB likelihood, and the per-bin ratios.
//!
//! With voids $k$ at $x_k$ and counts $n_{kb}$ in bin $b$, a spatial kernel
//! $w_k(x) = \exp(-d(x, x_k)^2 / 2\sigma^2)$ ($d$ the flat $(l, b)$ distance of the package,
//! or the great-circle distance):
//!
//! - **Nadaraya-Watson** (the package's `bkg_data` column 2), over the voids with
//!   $n_{kb} > 0$:
//!   $$\ln\hat B_b(x) = \frac{\sum_k w_k(x) \ln n_{kb}}{\sum_k w_k(x)};$$
//! - **ratios** $r_b = \ln\hat B_b / \ln\hat B_0$: in the JB case the package writes the
//!   ln background of bin $b$ as $B\,r_b$ with one free $B$ per dwarf;
//! - **the background pdf** over the $N$ voids with counts $> 0$ in all bins and
//!   $y_k = n_{k0}$ (bin 0): the package's joint density
//!   $$p(x, B) = \frac{1}{(2\pi)^{3/2}\sigma^2\zeta N}\sum_k w_k(x)\, e^{-(B-\ln y_k)^2/2\zeta^2}$$
//!   and the conditional density
//!   $p(B \mid x) = \sum_k w_k(x)\,\mathcal N(B; \ln y_k, \zeta) / \sum_k w_k(x)$. At a fixed
//!   dwarf position they differ by the constant
//!   $\ln p(x, B) - \ln p(B\mid x) = \ln \sum_k w_k(x) - \ln(2\pi\sigma^2 N)$, so both give the
//!   same profile over $B$; [`DwarfBackground`] exposes both.
//!
//! [`BackgroundModel::at`] computes everything that depends only on the dwarf
//! position once (the spatial weights and their normalisation), so evaluating
//! the pdf during a profile costs one pass over the voids' $\ln y_k$.
//!
//! ```
//! use darkprobe_dwarfs::{BackgroundModel, BackgroundParams, VoidSample};
//! let voids = VoidSample::new(
//!     vec![10.0, 11.0, 12.0, 40.0],
//!     vec![30.0, 31.0, 30.0, -50.0],
//!     vec![vec![20, 10], vec![30, 12], vec![25, 0], vec![100, 50]],
//! ).unwrap();
//! let model = BackgroundModel::new(&voids, &BackgroundParams::package()).unwrap();
//! let at = model.at(11.0, 30.5).unwrap();
//! // Bin 1 drops the void with zero counts; the far void has no weight.
//! let w = |dl: f64, db: f64| (-(dl * dl + db * db) / (2.0 * 1.4 * 1.4)).exp();
//! let (w0, w1) = (w(1.0, 0.5), w(0.0, 0.5));
//! let expect = (w0 * 10f64.ln() + w1 * 12f64.ln()) / (w0 + w1);
//! assert!((at.ln_b_hat[1] - expect).abs() < 1e-12);
//! assert!((at.ratios[1] - at.ln_b_hat[1] / at.ln_b_hat[0]).abs() < 1e-15);
//! // Joint and conditional densities differ by a constant.
//! let d1 = at.ln_joint_pdf(3.0) - at.ln_conditional_pdf(3.0);
//! let d2 = at.ln_joint_pdf(3.4) - at.ln_conditional_pdf(3.4);
//! assert!((d1 - d2).abs() < 1e-12);
//! ```

use crate::dwarf::{DwarfTable, Selection};
use crate::error::Result;
use crate::voids::VoidSample;
use darkprobe_core::error::check_positive;
use darkprobe_core::numerics::log_sum_exp;
use darkprobe_core::{par, Error};
use darkprobe_kde::{BackgroundPdf, SkyProductKde, SpatialMetric};
use std::f64::consts::PI;

/// Parameters of the background model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundParams {
    /// Spatial smoothing $\sigma$, degrees (package: 1.4).
    pub sigma_deg: f64,
    /// Width $\zeta$ of the kernel in $\ln$ counts (package: 0.15).
    pub zeta: f64,
    /// Distance on the sky (package: [`SpatialMetric::FlatLb`]).
    pub metric: SpatialMetric,
    /// The energy bin whose $\ln$ counts form the background pdf (package: 0).
    pub pdf_bin: usize,
    /// Drop voids whose spatial weight at the dwarf is below $e^{-\text{drop}}$ of
    /// the largest from the pdf (0, the package's choice, keeps all; 50 changes
    /// nothing at double precision near the bulk of the pdf and is much faster).
    pub drop_below: f64,
}

impl BackgroundParams {
    /// The package's values: $\sigma = 1.4$ deg, $\zeta = 0.15$, flat $(l, b)$
    /// distance, pdf from bin 0, all voids kept.
    pub fn package() -> Self {
        Self {
            sigma_deg: 1.4,
            zeta: 0.15,
            metric: SpatialMetric::FlatLb,
            pdf_bin: 0,
            drop_below: 0.0,
        }
    }
    /// Sets $\sigma$ (degrees).
    #[must_use]
    pub fn with_sigma_deg(mut self, sigma_deg: f64) -> Self {
        self.sigma_deg = sigma_deg;
        self
    }
    /// Sets $\zeta$.
    #[must_use]
    pub fn with_zeta(mut self, zeta: f64) -> Self {
        self.zeta = zeta;
        self
    }
    /// Sets the metric.
    #[must_use]
    pub fn with_metric(mut self, metric: SpatialMetric) -> Self {
        self.metric = metric;
        self
    }
    /// Sets the bin of the pdf.
    #[must_use]
    pub fn with_pdf_bin(mut self, bin: usize) -> Self {
        self.pdf_bin = bin;
        self
    }
    /// Sets the weight cut of the pdf (see the field).
    #[must_use]
    pub fn with_drop_below(mut self, drop_below: f64) -> Self {
        self.drop_below = drop_below;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    /// $\sigma$ or $\zeta$ not finite and positive, `drop_below` negative or NaN.
    pub fn check(&self) -> Result<()> {
        check_positive("sigma_deg", self.sigma_deg)?;
        check_positive("zeta", self.zeta)?;
        if self.drop_below.is_nan() || self.drop_below < 0.0 {
            return Err(Error::invalid_param(
                "drop_below",
                self.drop_below,
                ">= 0 (0 keeps all voids)",
            )
            .into());
        }
        Ok(())
    }
}

impl Default for BackgroundParams {
    fn default() -> Self {
        Self::package()
    }
}

/// The background model built from a void sample.
#[derive(Debug, Clone)]
pub struct BackgroundModel {
    params: BackgroundParams,
    /// Per bin: the voids with counts > 0 in that bin and their ln counts.
    nw: Vec<SkyProductKde>,
    /// The voids with counts > 0 in all bins, ln counts of `pdf_bin`.
    pdf: SkyProductKde,
}

/// The background at one position, precomputed for repeated evaluation.
#[derive(Debug, Clone)]
pub struct DwarfBackground {
    /// Galactic longitude, degrees.
    pub l_deg: f64,
    /// Galactic latitude, degrees.
    pub b_deg: f64,
    /// $\ln\hat B_b$ in each bin (Nadaraya-Watson).
    pub ln_b_hat: Vec<f64>,
    /// $r_b = \ln\hat B_b / \ln\hat B_0$ (so $r_0 = 1$).
    pub ratios: Vec<f64>,
    pdf: BackgroundPdf,
    ln_joint_offset: f64,
}

impl DwarfBackground {
    /// $\ln p(B \mid x)$, the conditional density of the ln background at this position.
    pub fn ln_conditional_pdf(&self, ln_b: f64) -> f64 {
        self.pdf.ln_pdf(ln_b)
    }
    /// $\ln p(B\mid x)$ and its derivative in $B$.
    pub fn ln_conditional_pdf_and_derivative(&self, ln_b: f64) -> (f64, f64) {
        self.pdf.ln_pdf_and_derivative(ln_b)
    }
    /// $\ln p(x, B)$ with the package's normalisation (its `-2 ln L_B` is
    /// $-2$ times this).
    pub fn ln_joint_pdf(&self, ln_b: f64) -> f64 {
        self.pdf.ln_pdf(ln_b) + self.ln_joint_offset
    }
    /// $\ln p(x, B)$ and its derivative in $B$.
    pub fn ln_joint_pdf_and_derivative(&self, ln_b: f64) -> (f64, f64) {
        let (v, d) = self.pdf.ln_pdf_and_derivative(ln_b);
        (v + self.ln_joint_offset, d)
    }
    /// The constant $\ln p(x, B) - \ln p(B \mid x) = \ln\sum_k w_k(x) - \ln(2\pi\sigma^2 N)$.
    pub fn joint_minus_conditional(&self) -> f64 {
        self.ln_joint_offset
    }
    /// The conditional pdf itself (a mixture of normals in $B$).
    pub fn conditional(&self) -> &BackgroundPdf {
        &self.pdf
    }
    /// The ln background of each bin in the JB case, $B\,r_b$.
    pub fn ln_background_jb(&self, ln_b0: f64) -> Vec<f64> {
        self.ratios.iter().map(|r| ln_b0 * r).collect()
    }
}

impl BackgroundModel {
    /// Builds the model from the voids.
    ///
    /// # Errors
    /// Invalid parameters; `pdf_bin` not a bin of the voids; a bin where no
    /// void has counts; no void with counts in all bins.
    pub fn new(voids: &VoidSample, params: &BackgroundParams) -> Result<Self> {
        params.check()?;
        if params.pdf_bin >= voids.n_bins() {
            return Err(Error::invalid_param(
                "pdf_bin",
                params.pdf_bin,
                format!("< {} (bins of the voids)", voids.n_bins()),
            )
            .into());
        }
        let kde_for = |idx: &[usize], bin: usize| -> Result<SkyProductKde> {
            let lon = idx.iter().map(|&v| voids.l_deg()[v]).collect();
            let lat = idx.iter().map(|&v| voids.b_deg()[v]).collect();
            let ln_y = idx
                .iter()
                .map(|&v| voids.counts(v).map_or(f64::NAN, |c| (c[bin] as f64).ln()))
                .collect();
            Ok(SkyProductKde::new(
                lon,
                lat,
                ln_y,
                params.sigma_deg,
                params.zeta,
                params.metric,
            )?)
        };
        let mut nw = Vec::with_capacity(voids.n_bins());
        for bin in 0..voids.n_bins() {
            let idx = voids.positive_in_bin(bin)?;
            if idx.is_empty() {
                return Err(Error::empty(
                    format!("voids with counts > 0 in energy bin {bin}"),
                    "the Nadaraya-Watson background needs at least one",
                )
                .into());
            }
            nw.push(kde_for(&idx, bin)?);
        }
        let all = voids.positive_in_all_bins();
        if all.is_empty() {
            return Err(Error::empty(
                "voids with counts > 0 in all energy bins",
                "the background pdf needs at least one",
            )
            .into());
        }
        let pdf = kde_for(&all, params.pdf_bin)?;
        Ok(Self {
            params: *params,
            nw,
            pdf,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &BackgroundParams {
        &self.params
    }
    /// Number of energy bins.
    pub fn n_bins(&self) -> usize {
        self.nw.len()
    }
    /// The product kernel behind the pdf (voids with counts in all bins).
    pub fn pdf_kde(&self) -> &SkyProductKde {
        &self.pdf
    }
    /// The kernel behind the Nadaraya-Watson prediction of `bin`.
    pub fn nw_kde(&self, bin: usize) -> Option<&SkyProductKde> {
        self.nw.get(bin)
    }

    /// $\ln\hat B_b(x)$ for every bin at $(l, b)$ in degrees.
    pub fn ln_b_hat(&self, l_deg: f64, b_deg: f64) -> Vec<f64> {
        self.nw
            .iter()
            .map(|k| k.nadaraya_watson(l_deg, b_deg).mean_ln_y)
            .collect()
    }

    /// Precomputes the background at $(l, b)$ (degrees).
    ///
    /// # Errors
    /// A non-finite position or $|b| > 90$; $\ln\hat B_0 \le 0$ (ratios undefined).
    pub fn at(&self, l_deg: f64, b_deg: f64) -> Result<DwarfBackground> {
        if !(l_deg.is_finite() && b_deg.abs() <= 90.0) {
            return Err(Error::invalid_param(
                "position (l, b)",
                format!("({l_deg}, {b_deg})"),
                "finite, with |b| <= 90 deg",
            )
            .into());
        }
        let ln_b_hat = self.ln_b_hat(l_deg, b_deg);
        let b0 = ln_b_hat[0];
        if !(b0 > 0.0 && b0.is_finite()) {
            return Err(Error::numerical(
                format!("background ratios at (l, b) = ({l_deg}, {b_deg})"),
                0,
                b0,
                "ln B_hat of bin 0 must be > 0 to form r_b = ln B_hat_b / ln B_hat_0",
            )
            .into());
        }
        let ratios = ln_b_hat.iter().map(|x| x / b0).collect();
        let pdf = self
            .pdf
            .conditional_at(l_deg, b_deg, self.params.drop_below);
        let n = self.pdf.n_voids() as f64;
        let ln_sum_w = log_sum_exp(&self.pdf.ln_spatial_weights(l_deg, b_deg));
        let s = self.params.sigma_deg;
        let ln_joint_offset = ln_sum_w - (2.0 * PI * s * s * n).ln();
        Ok(DwarfBackground {
            l_deg,
            b_deg,
            ln_b_hat,
            ratios,
            pdf,
            ln_joint_offset,
        })
    }

    /// Precomputes the background at the selected dwarfs (in selection order,
    /// in parallel over dwarfs).
    ///
    /// # Errors
    /// As [`BackgroundModel::at`], for the first dwarf that fails.
    pub fn at_dwarfs(
        &self,
        table: &DwarfTable,
        selection: &Selection,
    ) -> Result<Vec<DwarfBackground>> {
        let dw = table.dwarfs();
        let out = par::map_indices(selection.len(), |i| {
            let d = &dw[selection.indices()[i]];
            self.at(d.l_deg, d.b_deg)
        });
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use rand::{Rng, SeedableRng};

    fn random_voids(n: usize, n_bins: usize, seed: u64) -> VoidSample {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let l: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..60.0)).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.random_range(20.0..60.0)).collect();
        let c = (0..n)
            .map(|_| (0..n_bins).map(|_| rng.random_range(0..40u64)).collect())
            .collect();
        VoidSample::new(l, b, c).unwrap()
    }

    /// Brute-force Nadaraya-Watson, written out directly.
    fn brute_nw(v: &VoidSample, bin: usize, l: f64, b: f64, s: f64) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for k in 0..v.n_voids() {
            let n = v.counts(k).unwrap()[bin];
            if n == 0 {
                continue;
            }
            let d2 = (l - v.l_deg()[k]).powi(2) + (b - v.b_deg()[k]).powi(2);
            let w = (-d2 / (2.0 * s * s)).exp();
            num += w * (n as f64).ln();
            den += w;
        }
        num / den
    }

    #[test]
    fn nw_matches_brute_force_with_per_bin_zero_dropping() {
        let v = random_voids(300, 3, 1);
        let m = BackgroundModel::new(&v, &BackgroundParams::package()).unwrap();
        for (l, b) in [(30.0, 40.0), (5.0, 25.0), (55.0, 58.0)] {
            let got = m.ln_b_hat(l, b);
            for (bin, g) in got.iter().enumerate() {
                assert_relative_eq!(*g, brute_nw(&v, bin, l, b, 1.4), max_relative = 1e-12);
            }
        }
    }

    #[test]
    fn joint_pdf_matches_the_package_formula() {
        let v = random_voids(200, 2, 2);
        let p = BackgroundParams::package();
        let m = BackgroundModel::new(&v, &p).unwrap();
        let (l, b) = (31.0, 41.0);
        let at = m.at(l, b).unwrap();
        let keep = v.positive_in_all_bins();
        let nv = keep.len() as f64;
        for big_b in [1.5, 2.8, 3.3, 4.0] {
            // The package's expression, term by term.
            let mut s = 0.0;
            for &k in &keep {
                let d2 = (l - v.l_deg()[k]).powi(2) + (b - v.b_deg()[k]).powi(2);
                let y = (v.counts(k).unwrap()[0] as f64).ln();
                s += (-d2 / (2.0 * 1.4 * 1.4)).exp()
                    * (-(big_b - y).powi(2) / (2.0 * 0.15 * 0.15)).exp();
            }
            let p_pkg = s / ((2.0 * PI).powf(1.5) * 1.4 * 1.4 * 0.15 * nv);
            assert_relative_eq!(at.ln_joint_pdf(big_b), p_pkg.ln(), max_relative = 1e-12);
            assert_relative_eq!(
                at.ln_joint_pdf(big_b),
                m.pdf_kde().ln_joint_pdf(l, b, big_b),
                max_relative = 1e-12
            );
            // Derivative by central differences.
            let h = 1e-5;
            let fd = (at.ln_joint_pdf(big_b + h) - at.ln_joint_pdf(big_b - h)) / (2.0 * h);
            assert_relative_eq!(
                at.ln_joint_pdf_and_derivative(big_b).1,
                fd,
                max_relative = 1e-5,
                epsilon = 1e-6
            );
        }
        // The conditional integrates to one over B (trapezoid on a fine grid).
        let (a, z, n) = (-2.0, 6.0, 8000);
        let hstep = (z - a) / n as f64;
        let integral: f64 = (0..=n)
            .map(|i| {
                let x = a + i as f64 * hstep;
                let w = if i == 0 || i == n { 0.5 } else { 1.0 };
                w * at.ln_conditional_pdf(x).exp()
            })
            .sum::<f64>()
            * hstep;
        assert_relative_eq!(integral, 1.0, max_relative = 1e-8);
        assert_eq!(at.ln_background_jb(2.0)[0], 2.0);
    }

    #[test]
    fn angular_metric_and_drop_below_options() {
        let v = random_voids(200, 2, 3);
        let p = BackgroundParams::package()
            .with_metric(SpatialMetric::Angular)
            .with_drop_below(50.0);
        let m = BackgroundModel::new(&v, &p).unwrap();
        let (l, b) = (30.0, 50.0);
        let got = m.ln_b_hat(l, b)[1];
        let (mut num, mut den) = (0.0, 0.0);
        for k in 0..v.n_voids() {
            let n = v.counts(k).unwrap()[1];
            if n == 0 {
                continue;
            }
            let d = darkprobe_core::sky::angular_separation_deg(l, b, v.l_deg()[k], v.b_deg()[k]);
            let w = (-d * d / (2.0 * 1.4 * 1.4)).exp();
            num += w * (n as f64).ln();
            den += w;
        }
        assert_relative_eq!(got, num / den, max_relative = 1e-12);
        // At high latitude the angular and flat predictions differ (cos b).
        let flat = BackgroundModel::new(&v, &BackgroundParams::package()).unwrap();
        assert!((flat.ln_b_hat(l, b)[1] - got).abs() > 1e-6);
        let full = BackgroundModel::new(
            &v,
            &BackgroundParams::package().with_metric(SpatialMetric::Angular),
        )
        .unwrap();
        let (a1, a2) = (m.at(l, b).unwrap(), full.at(l, b).unwrap());
        assert!(a1.conditional().n_components() < a2.conditional().n_components());
        assert_relative_eq!(
            a1.ln_joint_pdf(3.0),
            a2.ln_joint_pdf(3.0),
            max_relative = 1e-12
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let v = random_voids(20, 2, 4);
        assert!(
            BackgroundModel::new(&v, &BackgroundParams::package().with_sigma_deg(0.0)).is_err()
        );
        assert!(
            BackgroundModel::new(&v, &BackgroundParams::package().with_zeta(f64::NAN)).is_err()
        );
        assert!(BackgroundModel::new(&v, &BackgroundParams::package().with_pdf_bin(2)).is_err());
        assert!(
            BackgroundModel::new(&v, &BackgroundParams::package().with_drop_below(-1.0)).is_err()
        );
        let zero = VoidSample::new(
            vec![1.0, 2.0],
            vec![30.0, 31.0],
            vec![vec![1, 0], vec![2, 0]],
        )
        .unwrap();
        assert!(BackgroundModel::new(&zero, &BackgroundParams::package())
            .unwrap_err()
            .to_string()
            .contains("bin 1"));
        let m = BackgroundModel::new(&v, &BackgroundParams::package()).unwrap();
        assert!(m.at(f64::NAN, 30.0).is_err());
        assert!(m.at(10.0, 91.0).is_err());
        let ones = VoidSample::new(
            vec![1.0, 2.0],
            vec![30.0, 31.0],
            vec![vec![1, 3], vec![1, 2]],
        )
        .unwrap();
        let m1 = BackgroundModel::new(&ones, &BackgroundParams::package()).unwrap();
        assert!(m1
            .at(1.0, 30.0)
            .unwrap_err()
            .to_string()
            .contains("ln B_hat of bin 0"));
    }
}
