//! The $d$-dimensional Gaussian kernel density estimate.

use crate::bandwidth::{normalised_weights, Bandwidth, Whitening};
use crate::error::{KdeError, Result};
use crate::tree::KdTree;
use darkprobe_core::numerics::{ln_normal_cdf_diff, log_sum_exp};
use darkprobe_core::par;
use darkprobe_core::Error;
use ndarray::{Array1, Array2, ArrayView2};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;
use std::sync::OnceLock;

/// Accuracy asked of the fast (tree) evaluation path.
///
/// The returned density $\hat p$ satisfies
/// $p - \max(\mathrm{rtol}\,p,\ \mathrm{atol}) \le \hat p \le p$: it is the exact
/// sum over every training point within a search radius that is grown until
/// the total weight outside the radius, times the largest kernel value it can
/// have there, is below the allowed error. The bound is rigorous, not
/// probabilistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance on the density (e.g. `1e-6`).
    pub rtol: f64,
    /// Absolute tolerance on the density (e.g. `0.0`).
    pub atol: f64,
}

impl Tolerance {
    /// A relative tolerance only.
    pub fn rtol(rtol: f64) -> Self {
        Self { rtol, atol: 0.0 }
    }

    fn check(&self) -> Result<()> {
        if !(self.rtol.is_finite() && self.rtol >= 0.0 && self.rtol < 1.0) {
            return Err(Error::invalid_param("rtol", self.rtol, "in [0, 1)").into());
        }
        if !(self.atol.is_finite() && self.atol >= 0.0) {
            return Err(Error::invalid_param("atol", self.atol, "finite and >= 0").into());
        }
        if self.rtol == 0.0 && self.atol == 0.0 {
            return Err(Error::invalid_param(
                "tolerance",
                "rtol = atol = 0",
                "rtol > 0 or atol > 0 (use the exact methods for zero tolerance)",
            )
            .into());
        }
        Ok(())
    }
}

/// An axis-aligned box $\prod_k [\mathrm{lo}_k, \mathrm{hi}_k]$, e.g. a region of interest.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisBox {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl AxisBox {
    /// A box with lower corner `lo` and upper corner `hi`.
    ///
    /// # Errors
    /// Corners of different lengths, empty, non-finite, or `lo >= hi` in some dimension.
    pub fn new(lo: Vec<f64>, hi: Vec<f64>) -> darkprobe_core::Result<Self> {
        if lo.len() != hi.len() {
            return Err(Error::shape("box corners", lo.len(), hi.len()));
        }
        if lo.is_empty() {
            return Err(Error::empty("box", "give at least one dimension"));
        }
        for k in 0..lo.len() {
            if !(lo[k].is_finite() && hi[k].is_finite() && lo[k] < hi[k]) {
                return Err(Error::invalid_param(
                    format!("box dimension {k}"),
                    format!("[{}, {}]", lo[k], hi[k]),
                    "finite with lo < hi",
                ));
            }
        }
        Ok(Self { lo, hi })
    }

    /// Lower corner.
    pub fn lo(&self) -> &[f64] {
        &self.lo
    }
    /// Upper corner.
    pub fn hi(&self) -> &[f64] {
        &self.hi
    }
    /// Whether `x` lies in the closed box.
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.lo.len()
            && x.iter()
                .zip(self.lo.iter().zip(&self.hi))
                .all(|(v, (a, b))| *v >= *a && *v <= *b)
    }
    /// The box's volume.
    pub fn volume(&self) -> f64 {
        self.lo.iter().zip(&self.hi).map(|(a, b)| b - a).product()
    }
}

/// A Gaussian kernel density estimate
/// $\hat p(x) = \sum_i w_i\, \mathcal N(x;\, x_i,\, H)$ in $d$ dimensions.
///
/// Weights are normalised to sum to one. Everything is computed in log space
/// from whitened coordinates $z = L^{-1}x$ ($H = LL^\top$):
/// $\ln \hat p(x) = -\tfrac d2 \ln 2\pi - \ln\det L + \operatorname{LSE}_i\left(\ln w_i - \tfrac12 |z - z_i|^2\right)$,
/// so a query far from every training point returns a finite, correct log
/// density instead of $-\infty$.
///
/// ```
/// use darkprobe_kde::{Bandwidth, GaussianKde};
/// use ndarray::array;
/// let x = array![[0.0, 0.0], [1.0, 0.5], [-0.5, 2.0]];
/// let kde = GaussianKde::new(x.view(), Bandwidth::Isotropic(0.7)).unwrap();
/// // Far queries stay finite in log space.
/// let lp = kde.ln_pdf(&[300.0, -300.0]).unwrap();
/// assert!(lp.is_finite() && lp < -1e5);
/// // A single kernel: the density at its centre is 1/(2 pi h^2)/3 ... plus the others.
/// let p0 = kde.pdf(&[0.0, 0.0]).unwrap();
/// assert!(p0 > 1.0 / (2.0 * std::f64::consts::PI * 0.49) / 3.0);
/// ```
#[derive(Debug)]
pub struct GaussianKde {
    d: usize,
    n: usize,
    data: Vec<f64>,
    white: Vec<f64>,
    w: Vec<f64>,
    ln_w: Vec<f64>,
    bandwidth: Bandwidth,
    whitening: Whitening,
    ln_norm: f64,
    tree: OnceLock<KdTree>,
}

impl Clone for GaussianKde {
    fn clone(&self) -> Self {
        Self {
            d: self.d,
            n: self.n,
            data: self.data.clone(),
            white: self.white.clone(),
            w: self.w.clone(),
            ln_w: self.ln_w.clone(),
            bandwidth: self.bandwidth.clone(),
            whitening: self.whitening.clone(),
            ln_norm: self.ln_norm,
            tree: OnceLock::new(),
        }
    }
}

impl GaussianKde {
    /// An unweighted estimate from `data` (rows are points) with bandwidth `bandwidth`.
    ///
    /// # Errors
    /// Empty data, non-finite values, or an invalid bandwidth.
    pub fn new(data: ArrayView2<'_, f64>, bandwidth: Bandwidth) -> Result<Self> {
        Self::build(data, None, bandwidth)
    }

    /// A weighted estimate; `weights` (one per row, finite, >= 0, positive sum)
    /// are normalised to sum to one.
    ///
    /// # Errors
    /// As [`new`](Self::new), plus invalid weights.
    pub fn new_weighted(
        data: ArrayView2<'_, f64>,
        weights: &[f64],
        bandwidth: Bandwidth,
    ) -> Result<Self> {
        Self::build(data, Some(weights), bandwidth)
    }

    fn build(
        data: ArrayView2<'_, f64>,
        weights: Option<&[f64]>,
        bandwidth: Bandwidth,
    ) -> Result<Self> {
        let (n, d) = data.dim();
        if n == 0 || d == 0 {
            return Err(Error::empty(
                "KDE training sample",
                "give at least one point with at least one coordinate",
            )
            .into());
        }
        let mut flat = Vec::with_capacity(n * d);
        for (i, row) in data.outer_iter().enumerate() {
            for (k, &x) in row.iter().enumerate() {
                if !x.is_finite() {
                    return Err(Error::invalid_param(
                        format!("data[{i}][{k}]"),
                        x,
                        "a finite number",
                    )
                    .into());
                }
                flat.push(x);
            }
        }
        let w = normalised_weights(weights, n)?;
        let (whitening, ln_det) = Whitening::new(&bandwidth, d)?;
        let mut white = vec![0.0; n * d];
        for (x, z) in flat.chunks_exact(d).zip(white.chunks_exact_mut(d)) {
            whitening.whiten(x, z);
        }
        let ln_w = w.iter().map(|x| x.ln()).collect();
        Ok(Self {
            d,
            n,
            data: flat,
            white,
            w,
            ln_w,
            bandwidth,
            whitening,
            ln_norm: -0.5 * d as f64 * (2.0 * PI).ln() - ln_det,
            tree: OnceLock::new(),
        })
    }

    /// Dimension $d$.
    pub fn dim(&self) -> usize {
        self.d
    }
    /// Number of training points.
    pub fn n_points(&self) -> usize {
        self.n
    }
    /// The bandwidth.
    pub fn bandwidth(&self) -> &Bandwidth {
        &self.bandwidth
    }
    /// Normalised weights (sum to one).
    pub fn weights(&self) -> &[f64] {
        &self.w
    }
    /// Training point `i` (None when out of range).
    pub fn point(&self, i: usize) -> Option<&[f64]> {
        self.data.get(i * self.d..(i + 1) * self.d)
    }
    /// Effective sample size $(\sum w)^2/\sum w^2$.
    pub fn n_eff(&self) -> f64 {
        1.0 / self.w.iter().map(|x| x * x).sum::<f64>()
    }

    fn check_dim(&self, found: usize) -> Result<()> {
        if found != self.d {
            return Err(KdeError::Dimension {
                expected: self.d,
                found,
            });
        }
        Ok(())
    }

    /// $\operatorname{LSE}_i(\ln w_i - |z - z_i|^2/2)$ over all points except `skip`.
    fn ln_kernel_sum(&self, z: &[f64], skip: Option<usize>, buf: &mut Vec<f64>) -> f64 {
        buf.clear();
        for (i, (p, lw)) in self.white.chunks_exact(self.d).zip(&self.ln_w).enumerate() {
            if Some(i) == skip {
                continue;
            }
            let d2: f64 = z.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
            buf.push(lw - 0.5 * d2);
        }
        log_sum_exp(buf)
    }

    /// $\ln \hat p(x)$ at one point.
    ///
    /// # Errors
    /// `x` of the wrong length or with non-finite values.
    pub fn ln_pdf(&self, x: &[f64]) -> Result<f64> {
        self.check_dim(x.len())?;
        check_finite_point(x, 0)?;
        let mut z = vec![0.0; self.d];
        self.whitening.whiten(x, &mut z);
        let mut buf = Vec::with_capacity(self.n);
        Ok(self.ln_norm + self.ln_kernel_sum(&z, None, &mut buf))
    }

    /// $\hat p(x)$ at one point (may underflow to 0 far from the data; use
    /// [`ln_pdf`](Self::ln_pdf) there).
    ///
    /// # Errors
    /// As [`ln_pdf`](Self::ln_pdf).
    pub fn pdf(&self, x: &[f64]) -> Result<f64> {
        Ok(self.ln_pdf(x)?.exp())
    }

    /// $\ln \hat p$ at every row of `points`, exactly; parallel over rows.
    ///
    /// # Errors
    /// Wrong number of columns or non-finite values.
    pub fn ln_pdf_batch(&self, points: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let rows = self.whiten_rows(points)?;
        let d = self.d;
        let out = par::map_indices_with(
            points.nrows(),
            || Vec::with_capacity(self.n),
            |buf, i| self.ln_norm + self.ln_kernel_sum(&rows[i * d..(i + 1) * d], None, buf),
        );
        Ok(Array1::from(out))
    }

    /// $\ln \hat p$ at every row of `points` through a k-d tree, within
    /// `tol` (see [`Tolerance`]). The tree is built on first use and kept.
    ///
    /// # Errors
    /// Wrong number of columns, non-finite values, or an invalid tolerance.
    pub fn ln_pdf_batch_tol(
        &self,
        points: ArrayView2<'_, f64>,
        tol: Tolerance,
    ) -> Result<Array1<f64>> {
        tol.check()?;
        let rows = self.whiten_rows(points)?;
        let tree = self
            .tree
            .get_or_init(|| KdTree::build(&self.white, &self.w, self.d));
        let d = self.d;
        let ln_rtol = tol.rtol.ln();
        // The absolute tolerance on the density, expressed on the kernel sum.
        let ln_atol = tol.atol.ln() - self.ln_norm;
        let out = par::map_indices(points.nrows(), |i| {
            self.ln_norm + tree.ln_sum_bounded(&rows[i * d..(i + 1) * d], ln_rtol, ln_atol)
        });
        Ok(Array1::from(out))
    }

    fn whiten_rows(&self, points: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let (m, d) = points.dim();
        self.check_dim(d)?;
        let mut rows = vec![0.0; m * d];
        let mut x = vec![0.0; d];
        for (i, row) in points.outer_iter().enumerate() {
            for (k, v) in row.iter().enumerate() {
                x[k] = *v;
            }
            check_finite_point(&x, i)?;
            self.whitening.whiten(&x, &mut rows[i * d..(i + 1) * d]);
        }
        Ok(rows)
    }

    /// Leave-one-out log densities of the training points:
    /// $\ln \hat p_{-j}(x_j) = \ln\left[\sum_{i \ne j} w_i \mathcal N(x_j; x_i, H) / (1 - w_j)\right]$.
    ///
    /// # Errors
    /// Fewer than two training points (the estimate without the point is undefined),
    /// or a point carrying all the weight.
    pub fn ln_pdf_loo(&self) -> Result<Array1<f64>> {
        if self.n < 2 {
            return Err(
                Error::empty("leave-one-out KDE", "give at least two training points").into(),
            );
        }
        if let Some(j) = self.w.iter().position(|w| *w >= 1.0) {
            return Err(Error::invalid_param(
                format!("weight[{j}]"),
                "all of the total weight",
                "less than the total weight (leave-one-out needs other points)",
            )
            .into());
        }
        let d = self.d;
        let out = par::map_indices_with(
            self.n,
            || Vec::with_capacity(self.n),
            |buf, j| {
                let z = &self.white[j * d..(j + 1) * d];
                self.ln_norm + self.ln_kernel_sum(z, Some(j), buf) - (-self.w[j]).ln_1p()
            },
        );
        Ok(Array1::from(out))
    }

    /// Draws `n` points from $\hat p$ (pick a training point by weight, add
    /// $L\,\varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$). Rows are points.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Array2<f64> {
        let d = self.d;
        let mut out = Array2::zeros((n, d));
        let mut eps = vec![0.0; d];
        let mut step = vec![0.0; d];
        // Weights are validated at construction, so the index distribution exists;
        // fall back to uniform picks if it somehow does not.
        let pick = WeightedIndex::new(&self.w).ok();
        for mut row in out.outer_iter_mut() {
            let i = match &pick {
                Some(dist) => dist.sample(rng),
                None => rng.random_range(0..self.n),
            };
            for e in eps.iter_mut() {
                *e = rng.sample(StandardNormal);
            }
            self.whitening.colour(&eps, &mut step);
            for k in 0..d {
                row[k] = self.data[i * d + k] + step[k];
            }
        }
        out
    }

    /// The natural log of the probability mass of $\hat p$ inside `region`:
    /// $\ln \sum_i w_i \prod_k \left[\Phi\!\left(\frac{\mathrm{hi}_k - x_{ik}}{h_k}\right) - \Phi\!\left(\frac{\mathrm{lo}_k - x_{ik}}{h_k}\right)\right]$,
    /// exact for diagonal bandwidths and stable when the mass is tiny.
    ///
    /// # Errors
    /// A full bandwidth matrix (no closed form), or a box of the wrong dimension.
    pub fn ln_mass_in_box(&self, region: &AxisBox) -> Result<f64> {
        self.check_dim(region.lo.len())?;
        let h = self.bandwidth.diagonal(self.d).ok_or_else(|| {
            KdeError::InvalidBandwidth(
                "the mass inside a box has a closed form only for diagonal bandwidths".into(),
            )
        })?;
        let terms: Vec<f64> = (0..self.n)
            .map(|i| {
                let x = &self.data[i * self.d..(i + 1) * self.d];
                self.ln_w[i]
                    + (0..self.d)
                        .map(|k| {
                            ln_normal_cdf_diff(
                                (region.lo[k] - x[k]) / h[k],
                                (region.hi[k] - x[k]) / h[k],
                            )
                        })
                        .sum::<f64>()
            })
            .collect();
        Ok(log_sum_exp(&terms))
    }

    /// The log density truncated to `region` and renormalised to integrate to
    /// one there: $\ln \hat p(x) - \ln M(\mathrm{region})$ inside, $-\infty$ outside.
    /// For many points, build a [`TruncatedKde`] once instead.
    ///
    /// # Errors
    /// As [`ln_mass_in_box`](Self::ln_mass_in_box) and [`ln_pdf`](Self::ln_pdf).
    pub fn ln_pdf_in_box(&self, x: &[f64], region: &AxisBox) -> Result<f64> {
        self.check_dim(x.len())?;
        if !region.contains(x) {
            return Ok(f64::NEG_INFINITY);
        }
        Ok(self.ln_pdf(x)? - self.ln_mass_in_box(region)?)
    }

    /// This estimate truncated to `region`, with the normalising mass computed once.
    ///
    /// # Errors
    /// As [`ln_mass_in_box`](Self::ln_mass_in_box), or no mass inside the box.
    pub fn truncate(self, region: AxisBox) -> Result<TruncatedKde> {
        let ln_mass = self.ln_mass_in_box(&region)?;
        if !ln_mass.is_finite() {
            return Err(Error::numerical(
                "KDE mass inside the box",
                0,
                ln_mass,
                "the estimate has no probability mass inside the box",
            )
            .into());
        }
        Ok(TruncatedKde {
            kde: self,
            region,
            ln_mass,
        })
    }
}

fn check_finite_point(x: &[f64], row: usize) -> Result<()> {
    if let Some((k, v)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(
            Error::invalid_param(format!("query[{row}][{k}]"), v, "a finite number").into(),
        );
    }
    Ok(())
}

/// A [`GaussianKde`] truncated to an axis-aligned box and renormalised there.
///
/// ```
/// use darkprobe_kde::{AxisBox, Bandwidth, GaussianKde};
/// use ndarray::array;
/// let kde = GaussianKde::new(array![[0.0], [0.5]].view(), Bandwidth::Isotropic(1.0)).unwrap();
/// let t = kde.truncate(AxisBox::new(vec![0.0], vec![1.0]).unwrap()).unwrap();
/// // The truncated density integrates to one over [0, 1] (midpoint rule).
/// let m = 2000;
/// let integral: f64 = (0..m)
///     .map(|i| t.ln_pdf(&[(i as f64 + 0.5) / m as f64]).unwrap().exp() / m as f64)
///     .sum();
/// assert!((integral - 1.0).abs() < 1e-6);
/// assert_eq!(t.ln_pdf(&[1.5]).unwrap(), f64::NEG_INFINITY);
/// ```
#[derive(Debug, Clone)]
pub struct TruncatedKde {
    kde: GaussianKde,
    region: AxisBox,
    ln_mass: f64,
}

impl TruncatedKde {
    /// The untruncated estimate.
    pub fn kde(&self) -> &GaussianKde {
        &self.kde
    }
    /// The box.
    pub fn region(&self) -> &AxisBox {
        &self.region
    }
    /// $\ln$ of the untruncated mass inside the box.
    pub fn ln_mass(&self) -> f64 {
        self.ln_mass
    }
    /// The truncated, renormalised log density ($-\infty$ outside the box).
    ///
    /// # Errors
    /// As [`GaussianKde::ln_pdf`].
    pub fn ln_pdf(&self, x: &[f64]) -> Result<f64> {
        self.kde.check_dim(x.len())?;
        if !self.region.contains(x) {
            return Ok(f64::NEG_INFINITY);
        }
        Ok(self.kde.ln_pdf(x)? - self.ln_mass)
    }
    /// Batch version of [`ln_pdf`](Self::ln_pdf).
    ///
    /// # Errors
    /// As [`GaussianKde::ln_pdf_batch`].
    pub fn ln_pdf_batch(&self, points: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let mut out = self.kde.ln_pdf_batch(points)?;
        for (v, row) in out.iter_mut().zip(points.outer_iter()) {
            let x: Vec<f64> = row.to_vec();
            *v = if self.region.contains(&x) {
                *v - self.ln_mass
            } else {
                f64::NEG_INFINITY
            };
        }
        Ok(out)
    }
    /// Draws `n` points from the truncated density by rejection (exact).
    ///
    /// # Errors
    /// When the acceptance rate is so low (mass below 1e-6) that sampling would not end.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Result<Array2<f64>> {
        if self.ln_mass < (1e-6f64).ln() {
            return Err(Error::numerical(
                "rejection sampling of a truncated KDE",
                0,
                self.ln_mass.exp(),
                "less than 1e-6 of the mass lies inside the box",
            )
            .into());
        }
        let d = self.kde.d;
        let mut out = Array2::zeros((n, d));
        let mut filled = 0;
        while filled < n {
            let batch = self.kde.sample(rng, (n - filled).max(16));
            for row in batch.outer_iter() {
                if filled == n {
                    break;
                }
                let x: Vec<f64> = row.to_vec();
                if self.region.contains(&x) {
                    out.row_mut(filled).assign(&row);
                    filled += 1;
                }
            }
        }
        Ok(out)
    }
}
