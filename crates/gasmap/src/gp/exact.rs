//! The exact Gaussian process: dense Cholesky factorisation with faer, the
//! log marginal likelihood and its analytic gradient, and multi-start L-BFGS
//! over the log hyperparameters.

use std::sync::OnceLock;

use darkprobe_core::optimize::{minimize, Bound, Method, MinimizeOptions, WithGradient};
use darkprobe_core::rng::rng_from_seed;
use darkprobe_core::Error;
use faer::linalg::solvers::Llt;
use faer::{Mat, MatRef, Side};
use ndarray::{Array1, ArrayView1, ArrayView2};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::kernel::Matern32Kernel;
use crate::model::Result;

/// $\sqrt 3$.
const SQRT3: f64 = 1.732_050_807_568_877_2;

/// $\ln 2\pi$.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Jitter levels tried, relative to the mean diagonal of the matrix, when a
/// Cholesky factorisation fails: none first, then $10^{-10}, \dots, 10^{-4}$.
pub const JITTER_LEVELS: [f64; 8] = [0.0, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4];

/// Query points are processed in blocks of this many for predictive variances
/// (bounds the memory of the $n \times$ block cross-covariance).
const VARIANCE_BLOCK: usize = 1024;

/// The affine maps applied to inputs and targets before the GP sees them:
/// $\tilde x_j = (x_j - \bar x_j)/s_x$ with **one** scale $s_x$ shared by all
/// features (the root mean square of the per-feature standard deviations, so
/// an isotropic kernel stays isotropic), and $\tilde y = (y - \bar y)/s_y$.
///
/// Hyperparameters, bounds and the log marginal likelihood of a fitted model
/// refer to the transformed data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Per-feature input means $\bar x_j$.
    pub x_mean: Vec<f64>,
    /// Shared input scale $s_x > 0$.
    pub x_scale: f64,
    /// Target mean $\bar y$.
    pub y_mean: f64,
    /// Target scale $s_y > 0$.
    pub y_scale: f64,
}

impl Standardizer {
    /// The identity map for `n_features` inputs.
    pub fn identity(n_features: usize) -> Self {
        Self {
            x_mean: vec![0.0; n_features],
            x_scale: 1.0,
            y_mean: 0.0,
            y_scale: 1.0,
        }
    }

    /// Means and scales of the data (a zero spread is replaced by 1).
    pub fn from_data(x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Self {
        let (n, d) = x.dim();
        let nf = n.max(1) as f64;
        let x_mean: Vec<f64> = (0..d).map(|j| x.column(j).sum() / nf).collect();
        let mut var_sum = 0.0;
        for (j, m) in x_mean.iter().enumerate() {
            var_sum += x.column(j).iter().map(|v| (v - m) * (v - m)).sum::<f64>() / nf;
        }
        let x_scale = (var_sum / d.max(1) as f64).sqrt();
        let y_mean = y.sum() / nf;
        let y_scale = (y.iter().map(|v| (v - y_mean) * (v - y_mean)).sum::<f64>() / nf).sqrt();
        let fix = |s: f64| if s.is_finite() && s > 0.0 { s } else { 1.0 };
        Self {
            x_mean,
            x_scale: fix(x_scale),
            y_mean,
            y_scale: fix(y_scale),
        }
    }

    /// Transformed inputs, row-major `n × d`.
    pub fn transform_x(&self, x: ArrayView2<'_, f64>) -> Vec<f64> {
        let mut out = Vec::with_capacity(x.len());
        for row in x.rows() {
            for (v, m) in row.iter().zip(&self.x_mean) {
                out.push((v - m) / self.x_scale);
            }
        }
        out
    }

    /// Transformed targets.
    pub fn transform_y(&self, y: ArrayView1<'_, f64>) -> Vec<f64> {
        y.iter().map(|v| (v - self.y_mean) / self.y_scale).collect()
    }
}

/// Box bounds on the hyperparameters, `(lower, upper)` in the units of the
/// (standardised, when [`GpParams::standardize`] is on) data. The optimiser
/// works on their logarithms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HyperBounds {
    /// Bounds on $A$ (default $10^{-3}$ to $10^{3}$).
    pub amplitude: (f64, f64),
    /// Bounds on every length scale (default $10^{-2}$ to $10^{3}$).
    pub length_scale: (f64, f64),
    /// Bounds on $\nu_1$ (default $10^{-4}$ to $10^{2}$).
    pub constant: (f64, f64),
    /// Bounds on $\nu_2$ (default $10^{-6}$ to $10$).
    pub noise: (f64, f64),
}

impl Default for HyperBounds {
    fn default() -> Self {
        Self {
            amplitude: (1e-3, 1e3),
            length_scale: (1e-2, 1e3),
            constant: (1e-4, 1e2),
            noise: (1e-6, 1e1),
        }
    }
}

impl HyperBounds {
    /// Checks that every pair is finite with `0 < lower < upper`.
    ///
    /// # Errors
    /// The first offending pair, by name.
    pub fn validate(&self) -> Result<()> {
        let k = Matern32Kernel {
            amplitude: 1.0,
            length_scales: vec![1.0],
            constant: Some(1.0),
            noise: 1.0,
        };
        self.log_bounds(&k).map(|_| ())
    }

    fn log_bounds(&self, kernel: &Matern32Kernel) -> Result<Vec<Bound>> {
        let one = |name: &str, (lo, hi): (f64, f64)| {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo) {
                return Err(Error::invalid_param(
                    format!("hyperparameter bounds for {name}"),
                    format!("({lo}, {hi})"),
                    "finite with 0 < lower < upper",
                ));
            }
            Ok(Bound::between(lo.ln(), hi.ln()))
        };
        let mut b = vec![one("amplitude", self.amplitude)?];
        for _ in &kernel.length_scales {
            b.push(one("length_scale", self.length_scale)?);
        }
        if kernel.constant.is_some() {
            b.push(one("constant", self.constant)?);
        }
        b.push(one("noise", self.noise)?);
        Ok(b)
    }
}

/// Settings for [`ExactGp::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpParams {
    /// Starting kernel (the structure, ARD or not, constant term or not, is
    /// taken from it). `None`: built from [`ard`](Self::ard) and
    /// [`constant_term`](Self::constant_term) with $A = \mathrm{var}(y)$,
    /// $l = s\sqrt{d}$ ($s$ the input spread, $d$ the number of features),
    /// $\nu_1 = \nu_2 = 0.1\,\mathrm{var}(y)$, clamped into the bounds.
    pub initial: Option<Matern32Kernel>,
    /// One length scale per feature when `initial` is `None` (default `false`).
    pub ard: bool,
    /// Include the constant term $\nu_1$ when `initial` is `None` (default `true`).
    pub constant_term: bool,
    /// Standardise inputs and targets first ([`Standardizer`], default `true`).
    /// Off: a zero-mean GP on the raw data.
    pub standardize: bool,
    /// Maximise the log marginal likelihood (default `true`); otherwise the
    /// starting kernel is used as is.
    pub optimize: bool,
    /// Extra optimiser starts drawn log-uniformly inside the bounds, after the
    /// one from the starting kernel (default 2, as scikit-learn's
    /// `n_restarts_optimizer`).
    pub n_restarts: usize,
    /// Seed of the restart draws.
    pub seed: u64,
    /// Hyperparameter bounds.
    pub bounds: HyperBounds,
    /// L-BFGS iteration budget per start (default 200).
    pub max_iter: usize,
}

impl Default for GpParams {
    fn default() -> Self {
        Self {
            initial: None,
            ard: false,
            constant_term: true,
            standardize: true,
            optimize: true,
            n_restarts: 2,
            seed: 0,
            bounds: HyperBounds::default(),
            max_iter: 200,
        }
    }
}

/// How the hyperparameter search went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Best log marginal likelihood of each start (`NaN` for a start that failed).
    pub start_ln_ml: Vec<f64>,
    /// Total log-marginal-likelihood evaluations.
    pub n_eval: usize,
    /// Whether the best start met the optimiser's stopping rule.
    pub converged: bool,
}

/// The result of one evaluation of the log marginal likelihood.
#[derive(Debug, Clone)]
pub struct LmlEvaluation {
    /// $\ln p(y \mid X, \theta)$.
    pub ln_ml: f64,
    /// $\partial \ln p / \partial \theta_p$ (empty when not requested).
    pub gradient: Vec<f64>,
    /// Jitter added to the diagonal, absolute.
    pub jitter: f64,
    /// $\alpha = K^{-1} y$.
    pub alpha: Vec<f64>,
    /// Lower Cholesky factor of $K$ (+ jitter).
    pub factor: Mat<f64>,
}

/// Row `i` of a row-major `n × d` buffer.
#[inline]
pub(crate) fn row(x: &[f64], d: usize, i: usize) -> &[f64] {
    &x[i * d..(i + 1) * d]
}

/// The Gram matrix $K_{ij} = k(x_i, x_j) + \nu_2\delta_{ij}$ (or without the
/// noise), column-major, built in parallel over columns.
pub(crate) fn gram(kernel: &Matern32Kernel, x: &[f64], d: usize, with_noise: bool) -> Vec<f64> {
    let n = x.len().checked_div(d).unwrap_or(0);
    let mut k = vec![0.0; n * n];
    k.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, col)| {
        let xj = row(x, d, j);
        for (i, v) in col.iter_mut().enumerate() {
            *v = kernel.signal(row(x, d, i), xj);
        }
        if with_noise {
            col[j] += kernel.noise;
        }
    });
    k
}

/// The lower triangle (diagonal included) of the Gram matrix with noise,
/// column-major, strict upper triangle zero: all that a lower Cholesky
/// factorisation reads. Half the kernel evaluations of [`gram`].
pub(crate) fn gram_lower(kernel: &Matern32Kernel, x: &[f64], d: usize) -> Vec<f64> {
    let n = x.len().checked_div(d).unwrap_or(0);
    let mut k = vec![0.0; n * n];
    k.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, col)| {
        let xj = row(x, d, j);
        for (i, v) in col.iter_mut().enumerate().skip(j) {
            *v = kernel.signal(row(x, d, i), xj);
        }
        col[j] += kernel.noise;
    });
    k
}

/// Cross-covariance $k(a_i, b_j)$ (noise-free), column-major `n_a × n_b`,
/// in parallel over columns.
pub(crate) fn cross(kernel: &Matern32Kernel, a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let na = a.len() / d.max(1);
    let nb = b.len() / d.max(1);
    let mut k = vec![0.0; na * nb];
    if na == 0 {
        return k;
    }
    k.par_chunks_mut(na).enumerate().for_each(|(j, col)| {
        let bj = row(b, d, j);
        for (i, v) in col.iter_mut().enumerate() {
            *v = kernel.signal(row(a, d, i), bj);
        }
    });
    k
}

/// Cholesky factor of the column-major symmetric `k` (`n × n`), adding the
/// jitter levels of [`JITTER_LEVELS`] × mean diagonal until it succeeds.
/// Returns the lower factor and the absolute jitter added.
///
/// # Errors
/// The matrix is not positive definite even with the largest jitter.
pub(crate) fn cholesky_with_jitter(
    mut k: Vec<f64>,
    n: usize,
    what: &str,
) -> Result<(Mat<f64>, f64)> {
    let mean_diag = (0..n).map(|i| k[i * n + i]).sum::<f64>() / n.max(1) as f64;
    if !mean_diag.is_finite() {
        return Err(Error::numerical(
            format!("Cholesky factorisation of {what}"),
            0,
            mean_diag,
            "non-finite diagonal",
        ));
    }
    let mut added = 0.0;
    for level in JITTER_LEVELS {
        let jitter = level * mean_diag;
        let delta = jitter - added;
        if delta != 0.0 {
            for i in 0..n {
                k[i * n + i] += delta;
            }
            added = jitter;
        }
        if let Ok(llt) = Llt::new(MatRef::from_column_major_slice(&k, n, n), Side::Lower) {
            return Ok((llt.L().to_owned(), jitter));
        }
    }
    Err(Error::numerical(
        format!("Cholesky factorisation of {what}"),
        JITTER_LEVELS.len(),
        added,
        "not positive definite even with jitter 1e-4 x mean diagonal; \
         check for duplicated inputs or widen the noise bounds",
    ))
}

/// Solves $L L^T x = b$ in place for a lower Cholesky factor `l`.
pub(crate) fn chol_solve_in_place(l: MatRef<'_, f64>, rhs: faer::MatMut<'_, f64>) {
    let par = faer::get_global_parallelism();
    let mut rhs = rhs;
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, rhs.as_mut(), par);
    faer::linalg::triangular_solve::solve_upper_triangular_in_place(l.transpose(), rhs, par);
}

/// Log marginal likelihood $\ln p(y\mid X,\theta) = -\tfrac12 y^T K^{-1} y -
/// \sum_i \ln L_{ii} - \tfrac n2 \ln 2\pi$ of a zero-mean GP on row-major
/// inputs `x` (`n × d`) and targets `y`, and optionally its gradient
/// $\partial/\partial\theta_p = \tfrac12 \mathrm{tr}\big((\alpha\alpha^T -
/// K^{-1})\,\partial K/\partial\theta_p\big)$ with respect to the log
/// hyperparameters ([`Matern32Kernel::log_params`]). Only the lower triangle of
/// the Gram matrix is built; $K^{-1}$ comes from the Cholesky factor (faer);
/// the traces of all hyperparameters are accumulated in one pass over the
/// lower triangle in
/// parallel over columns, the column sums added in a fixed order.
///
/// # Errors
/// Shape mismatches, or a Gram matrix that cannot be factorised.
pub fn ln_marginal_likelihood(
    kernel: &Matern32Kernel,
    x: &[f64],
    d: usize,
    y: &[f64],
    with_gradient: bool,
) -> Result<LmlEvaluation> {
    let n = y.len();
    if d == 0 || x.len() != n * d {
        return Err(Error::shape(
            "GP inputs",
            format!("{n} x {d} values"),
            x.len(),
        ));
    }
    if n == 0 {
        return Err(Error::empty("GP training set", "give at least one point"));
    }
    kernel.check_features(d)?;
    let k = gram_lower(kernel, x, d);
    let (l, jitter) = cholesky_with_jitter(k, n, "the GP Gram matrix")?;
    let mut a = Mat::<f64>::from_fn(n, 1, |i, _| y[i]);
    chol_solve_in_place(l.as_ref(), a.as_mut());
    let alpha: Vec<f64> = (0..n).map(|i| a[(i, 0)]).collect();
    let quad: f64 = alpha.iter().zip(y).map(|(a, b)| a * b).sum();
    let ln_det_half: f64 = (0..n).map(|i| l[(i, i)].ln()).sum();
    let ln_ml = -0.5 * quad - ln_det_half - 0.5 * n as f64 * LN_2PI;
    if !ln_ml.is_finite() {
        return Err(Error::numerical(
            "GP log marginal likelihood",
            0,
            ln_ml,
            "not finite",
        ));
    }
    let gradient = if with_gradient {
        let kinv = inverse_from_factor(l.as_ref());
        lml_gradient(kernel, x, d, &alpha, &kinv)
    } else {
        Vec::new()
    };
    Ok(LmlEvaluation {
        ln_ml,
        gradient,
        jitter,
        alpha,
        factor: l,
    })
}

/// The lower triangle (diagonal included) of $K^{-1} = L^{-T} L^{-1}$ from a
/// lower Cholesky factor, with faer's triangular inverse and triangular
/// product (parallel on the global faer pool). The strict upper triangle is
/// left at zero: [`lml_gradient`] reads only the lower one.
pub(super) fn inverse_from_factor(l: MatRef<'_, f64>) -> Mat<f64> {
    let n = l.nrows();
    let par = faer::get_global_parallelism();
    let mut out = Mat::<f64>::zeros(n, n);
    let mut mem = faer::dyn_stack::MemBuffer::new(
        faer::linalg::cholesky::llt::inverse::inverse_scratch::<f64>(n, par),
    );
    let stack = faer::dyn_stack::MemStack::new(&mut mem);
    faer::linalg::cholesky::llt::inverse::inverse(out.as_mut(), l, par, stack);
    out
}

/// The gradient $\tfrac12\mathrm{tr}\big(W\,\partial K/\partial\theta_p\big)$,
/// $W = \alpha\alpha^T - K^{-1}$, for all log hyperparameters in one pass
/// over the lower triangle of $K^{-1}$ (`kinv`, column-major; its strict upper
/// triangle is not read).
///
/// The derivatives are closed-form functions of the pair's scaled distance,
/// recomputed from the inputs, so no $n \times n$ derivative matrix is ever
/// formed. With $s = \sqrt3 r$, $e = e^{-s}$ and $M = (1+s)e$:
/// $\partial K/\partial\ln A = A M$,
/// $\partial K/\partial\ln l_k = 3 A e\,(x_k - x'_k)^2/l_k^2$ (isotropic: $3Ae\,r^2$),
/// $\partial K/\partial\ln\nu_1 = \nu_1$ and
/// $\partial K/\partial\ln\nu_2 = \nu_2\delta_{ij}$. Per column the pass
/// accumulates the weighted sums $\sum_i W_{ij} M_{ij}$,
/// $\sum_i W_{ij} e_{ij} r^2_{ij,k}$, $\sum_i W_{ij}$ and $W_{jj}$ (off-diagonal
/// entries counted twice, for the upper triangle); columns run in parallel
/// (rayon) and their sums are added in column order, so the result does not
/// depend on the number of threads.
pub(super) fn lml_gradient(
    kernel: &Matern32Kernel,
    x: &[f64],
    d: usize,
    alpha: &[f64],
    kinv: &Mat<f64>,
) -> Vec<f64> {
    let n = alpha.len();
    let nl = kernel.length_scales.len();
    let ard = nl > 1;
    let inv_l2: Vec<f64> = kernel.length_scales.iter().map(|l| 1.0 / (l * l)).collect();
    // Per column: [sum W M, sum W e r2_k (nl), sum W, W_jj].
    let width = nl + 3;
    let mut cols = vec![0.0; n * width];
    cols.par_chunks_mut(width).enumerate().for_each(|(j, acc)| {
        let kc = kinv.col_as_slice(j);
        let xj = row(x, d, j);
        let aj = alpha[j];
        // Diagonal: M = 1, r = 0.
        let w = aj * aj - kc[j];
        let (mut s_m, mut s_w) = (w, w);
        let len_acc = &mut acc[1..=nl];
        for i in j + 1..n {
            let wt = 2.0 * (alpha[i] * aj - kc[i]);
            let xi = row(x, d, i);
            let mut r2 = 0.0;
            if ard {
                for ((a, b), il) in xi.iter().zip(xj).zip(&inv_l2) {
                    let t = a - b;
                    r2 += t * t * il;
                }
            } else {
                for (a, b) in xi.iter().zip(xj) {
                    let t = a - b;
                    r2 += t * t;
                }
                r2 *= inv_l2[0];
            }
            let s = SQRT3 * r2.sqrt();
            let e = (-s).exp();
            s_m += wt * (1.0 + s) * e;
            s_w += wt;
            let we = wt * e;
            if ard {
                for (((la, a), b), il) in len_acc.iter_mut().zip(xi).zip(xj).zip(&inv_l2) {
                    let t = a - b;
                    *la += we * t * t * il;
                }
            } else {
                len_acc[0] += we * r2;
            }
        }
        acc[0] = s_m;
        acc[nl + 1] = s_w;
        acc[nl + 2] = w;
    });
    let mut tot = vec![0.0; width];
    for c in cols.chunks_exact(width) {
        for (t, v) in tot.iter_mut().zip(c) {
            *t += v;
        }
    }
    let a = kernel.amplitude;
    let mut grad = Vec::with_capacity(kernel.n_params());
    grad.push(0.5 * a * tot[0]);
    grad.extend(tot[1..=nl].iter().map(|v| 1.5 * a * v));
    if let Some(c) = kernel.constant {
        grad.push(0.5 * c * tot[nl + 1]);
    }
    grad.push(0.5 * kernel.noise * tot[nl + 2]);
    grad
}

/// An exact Gaussian-process regressor with a [`Matern32Kernel`].
///
/// Fitting standardises the data (optional), picks the hyperparameters that
/// maximise the log marginal likelihood over several seeded L-BFGS starts,
/// then stores what prediction needs: the kernel, the standardised training
/// inputs and $\alpha = K^{-1} y$. The Cholesky factor, needed only for
/// predictive variances, is not serialised; it is recomputed (and cached) on
/// first use.
///
/// ```
/// use darkprobe_gasmap::gp::{ExactGp, GpParams};
/// use ndarray::{Array1, Array2};
/// let x = Array2::from_shape_fn((40, 1), |(i, _)| i as f64 / 8.0);
/// let y: Array1<f64> = x.column(0).mapv(f64::sin);
/// let gp = ExactGp::fit(x.view(), y.view(), &GpParams::default()).unwrap();
/// let pred = gp.predict(x.view()).unwrap();
/// let max_err = (&pred - &y).iter().fold(0.0f64, |m, e| m.max(e.abs()));
/// assert!(max_err < 0.05);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExactGp {
    kernel: Matern32Kernel,
    standardizer: Standardizer,
    n_features: usize,
    /// Standardised training inputs, row-major `n × d`.
    x_train: Vec<f64>,
    alpha: Vec<f64>,
    ln_ml: f64,
    jitter: f64,
    report: FitReport,
    #[serde(skip)]
    factor: OnceLock<Mat<f64>>,
}

/// Checks an `n × d` input matrix and `n` targets.
pub(crate) fn check_xy(x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>) -> Result<()> {
    let (n, d) = x.dim();
    if n == 0 {
        return Err(Error::empty("GP training set", "give at least one point"));
    }
    if d == 0 {
        return Err(Error::empty(
            "GP input features",
            "give at least one feature",
        ));
    }
    if y.len() != n {
        return Err(Error::shape("GP targets vs inputs", n, y.len()));
    }
    check_finite_x(x, "GP training inputs")?;
    if let Some((i, v)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_param(
            format!("GP training target {i}"),
            v,
            "finite",
        ));
    }
    Ok(())
}

/// Standardised, checked query inputs (row-major) for a GP trained on
/// `n_features` features.
pub(crate) fn standardised_query(
    x: ArrayView2<'_, f64>,
    n_features: usize,
    standardizer: &Standardizer,
) -> Result<Vec<f64>> {
    if x.ncols() != n_features {
        return Err(Error::shape("GP query features", n_features, x.ncols()));
    }
    check_finite_x(x, "GP query inputs")?;
    Ok(standardizer.transform_x(x))
}

/// Posterior-type mean $\bar y + s_y\sum_j k(x_i, b_j)\,w_j$ at each of the
/// `n` standardised query rows `q`, over basis points `basis` (training inputs
/// or inducing points) with weights `w`.
pub(crate) fn kernel_mean(
    kernel: &Matern32Kernel,
    standardizer: &Standardizer,
    q: &[f64],
    n: usize,
    d: usize,
    basis: &[f64],
    w: &[f64],
) -> Array1<f64> {
    let out: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let xi = row(q, d, i);
            let mut m = 0.0;
            for (j, a) in w.iter().enumerate() {
                m += kernel.signal(xi, row(basis, d, j)) * a;
            }
            standardizer.y_mean + standardizer.y_scale * m
        })
        .collect();
    Array1::from(out)
}

pub(crate) fn check_finite_x(x: ArrayView2<'_, f64>, what: &str) -> Result<()> {
    if let Some(((i, j), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_param(
            format!("{what} [{i}, {j}]"),
            v,
            "finite",
        ));
    }
    Ok(())
}

fn default_kernel(params: &GpParams, xs: &[f64], d: usize, ys: &[f64]) -> Result<Matern32Kernel> {
    let n = ys.len() as f64;
    let var_y = {
        let m = ys.iter().sum::<f64>() / n;
        let v = ys.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
        if v > 0.0 && v.is_finite() {
            v
        } else {
            1.0
        }
    };
    let spread = {
        let mut s = 0.0;
        let rows = xs.len() / d;
        for j in 0..d {
            let m = (0..rows).map(|i| xs[i * d + j]).sum::<f64>() / rows as f64;
            s += (0..rows).map(|i| (xs[i * d + j] - m).powi(2)).sum::<f64>() / rows as f64;
        }
        let s = (s / d as f64).sqrt();
        if s > 0.0 && s.is_finite() {
            s
        } else {
            1.0
        }
    };
    let b = &params.bounds;
    let clamp = |v: f64, (lo, hi): (f64, f64)| v.clamp(lo, hi);
    let l = clamp(spread * (d as f64).sqrt(), b.length_scale);
    let k = Matern32Kernel {
        amplitude: clamp(var_y, b.amplitude),
        length_scales: if params.ard { vec![l; d] } else { vec![l] },
        constant: params.constant_term.then(|| clamp(0.1 * var_y, b.constant)),
        noise: clamp(0.1 * var_y, b.noise),
    };
    k.validate()?;
    Ok(k)
}

impl ExactGp {
    /// Fits the GP to inputs `x` (`n × d`) and targets `y`.
    ///
    /// # Errors
    /// Empty or non-finite data, mismatched shapes, invalid bounds or starting
    /// kernel, or every optimiser start failing.
    pub fn fit(x: ArrayView2<'_, f64>, y: ArrayView1<'_, f64>, params: &GpParams) -> Result<Self> {
        check_xy(x, y)?;
        params.bounds.validate()?;
        if params.max_iter == 0 {
            return Err(Error::invalid_param("GpParams::max_iter", 0, ">= 1"));
        }
        let d = x.ncols();
        let standardizer = if params.standardize {
            Standardizer::from_data(x, y)
        } else {
            Standardizer::identity(d)
        };
        let xs = standardizer.transform_x(x);
        let ys = standardizer.transform_y(y);
        let init = match &params.initial {
            Some(k) => {
                k.validate()?;
                k.clone()
            }
            None => default_kernel(params, &xs, d, &ys)?,
        };
        init.check_features(d)?;
        let (kernel, report) = if params.optimize {
            optimise(&init, &xs, d, &ys, params)?
        } else {
            (
                init,
                FitReport {
                    start_ln_ml: vec![],
                    n_eval: 0,
                    converged: true,
                },
            )
        };
        let ev = ln_marginal_likelihood(&kernel, &xs, d, &ys, false)?;
        let factor = OnceLock::new();
        let _ = factor.set(ev.factor);
        Ok(Self {
            kernel,
            standardizer,
            n_features: d,
            x_train: xs,
            alpha: ev.alpha,
            ln_ml: ev.ln_ml,
            jitter: ev.jitter,
            report,
            factor,
        })
    }

    /// The fitted kernel (in standardised units).
    pub fn kernel(&self) -> &Matern32Kernel {
        &self.kernel
    }

    /// The data standardisation.
    pub fn standardizer(&self) -> &Standardizer {
        &self.standardizer
    }

    /// Number of training points.
    pub fn n_train(&self) -> usize {
        self.alpha.len()
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Log marginal likelihood of the standardised targets at the fitted
    /// hyperparameters. For the raw targets subtract $n \ln s_y$.
    pub fn ln_marginal_likelihood(&self) -> f64 {
        self.ln_ml
    }

    /// Jitter added to the diagonal of the final Gram matrix (absolute, in
    /// standardised units; 0 when none was needed).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// How the hyperparameter search went.
    pub fn report(&self) -> &FitReport {
        &self.report
    }

    fn query(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        standardised_query(x, self.n_features, &self.standardizer)
    }

    /// Posterior mean $\bar y + s_y\,k_*^T \alpha$ at each row of `x`.
    ///
    /// # Errors
    /// Wrong number of features or non-finite inputs.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let q = self.query(x)?;
        Ok(kernel_mean(
            &self.kernel,
            &self.standardizer,
            &q,
            x.nrows(),
            self.n_features,
            &self.x_train,
            &self.alpha,
        ))
    }

    fn factor(&self) -> Result<&Mat<f64>> {
        if let Some(l) = self.factor.get() {
            return Ok(l);
        }
        let n = self.n_train();
        let mut k = gram(&self.kernel, &self.x_train, self.n_features, true);
        for i in 0..n {
            k[i * n + i] += self.jitter;
        }
        let l = Llt::new(MatRef::from_column_major_slice(&k, n, n), Side::Lower)
            .map_err(|e| {
                Error::numerical(
                    "Cholesky factorisation of the stored GP",
                    0,
                    self.jitter,
                    e.to_string(),
                )
            })?
            .L()
            .to_owned();
        let _ = self.factor.set(l);
        self.factor
            .get()
            .ok_or_else(|| Error::numerical("GP factor cache", 0, f64::NAN, "not set"))
    }

    /// Posterior mean and variance at each row of `x`. The variance is that of
    /// the latent function, $s_y^2\,(k_{**} - v^T v)$ with $v = L^{-1}k_*$,
    /// plus the noise variance $s_y^2\nu_2$ when `include_noise`.
    ///
    /// # Errors
    /// As [`predict`](Self::predict); a stored model whose Gram matrix no
    /// longer factorises.
    pub fn predict_with_variance(
        &self,
        x: ArrayView2<'_, f64>,
        include_noise: bool,
    ) -> Result<(Array1<f64>, Array1<f64>)> {
        let mean = self.predict(x)?;
        let q = self.query(x)?;
        let d = self.n_features;
        let n = self.n_train();
        let l = self.factor()?;
        let par = faer::get_global_parallelism();
        let s2 = self.standardizer.y_scale * self.standardizer.y_scale;
        let noise = if include_noise {
            self.kernel.noise
        } else {
            0.0
        };
        let mut var = Vec::with_capacity(x.nrows());
        for block in q.chunks(VARIANCE_BLOCK * d) {
            let m = block.len() / d;
            let mut ks = cross(&self.kernel, &self.x_train, block, d);
            let mut ks_mat = faer::MatMut::from_column_major_slice_mut(&mut ks, n, m);
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                l.as_ref(),
                ks_mat.as_mut(),
                par,
            );
            for j in 0..m {
                let v2: f64 = ks[j * n..(j + 1) * n].iter().map(|v| v * v).sum();
                var.push(s2 * ((self.kernel.signal_variance() - v2).max(0.0) + noise));
            }
        }
        Ok((mean, Array1::from(var)))
    }
}

fn optimise(
    init: &Matern32Kernel,
    xs: &[f64],
    d: usize,
    ys: &[f64],
    params: &GpParams,
) -> Result<(Matern32Kernel, FitReport)> {
    let bounds = params.bounds.log_bounds(init)?;
    let mut starts = vec![init
        .log_params()
        .iter()
        .zip(&bounds)
        .map(|(t, b)| t.clamp(b.lower.unwrap_or(f64::MIN), b.upper.unwrap_or(f64::MAX)))
        .collect::<Vec<f64>>()];
    let mut rng = rng_from_seed(params.seed);
    for _ in 0..params.n_restarts {
        starts.push(
            bounds
                .iter()
                .map(|b| {
                    let (lo, hi) = (b.lower.unwrap_or(-5.0), b.upper.unwrap_or(5.0));
                    lo + (hi - lo) * rng.random::<f64>()
                })
                .collect(),
        );
    }
    // The box is handled by the projected L-BFGS of `Method::LbfgsB`
    // (bounds enforced directly, as L-BFGS-B does): the amplitude typically
    // ends on its upper bound (a ridge A -> infinity with A / l^2 fixed, the
    // near-polynomial limit of the Matern kernel). The projected line search
    // stops exactly on the bound and the amplitude then stays there, held by
    // the active set, while the other hyperparameters converge. Measured on
    // the peer bench at n = 2000 (docs/gasmap.md): 21 evaluations, against
    // 44 with an unconstrained L-BFGS on a sine map of the box (which
    // reaches a bound only at the end of a slow approach, and before that
    // 601 with the optimiser's logistic map) and 21 for scikit-learn's
    // L-BFGS-B.
    //
    // The objective is the negative LML per training point: its gradient
    // tolerance is then per point (independent of n).
    let per_point = 1.0 / ys.len().max(1) as f64;
    let objective = WithGradient(|theta: &[f64], grad: &mut [f64]| -> Result<f64> {
        let k = init.with_log_params(theta)?;
        let ev = ln_marginal_likelihood(&k, xs, d, ys, true)?;
        for (g, v) in grad.iter_mut().zip(&ev.gradient) {
            *g = -v * per_point;
        }
        Ok(-ev.ln_ml * per_point)
    });
    // Tolerances at the LML's rounding floor, not below it: with the
    // amplitude at its bound and a noise of ~1e-3 (condition numbers ~1e6),
    // the LML of n = 2000 points varies by ~3e-7 between evaluations at
    // hyperparameters equal to 1e-12, so a relative f_tol of 1e-10 (2.9e-7
    // there) made L-BFGS spend most of its evaluations on rounding noise
    // after reaching the optimum. 2.2e-9 is scikit-learn's effective
    // tolerance (L-BFGS-B factr 1e7 x machine epsilon).
    let opts = MinimizeOptions {
        max_iter: params.max_iter,
        grad_tol: 1e-5,
        f_tol: 2.2e-9,
        method: Method::LbfgsB,
        allow_unconverged: true,
        ..MinimizeOptions::default()
    };
    let mut best: Option<(f64, Vec<f64>, bool)> = None;
    let mut start_ln_ml = Vec::with_capacity(starts.len());
    let mut n_eval = 0;
    let mut last_err = None;
    for s in &starts {
        match minimize(&objective, s, &bounds, &opts) {
            Ok(m) if m.f_x.is_finite() => {
                n_eval += m.n_eval;
                start_ln_ml.push(-m.f_x / per_point);
                if best.as_ref().is_none_or(|b| m.f_x < b.0) {
                    best = Some((m.f_x, m.x, m.converged));
                }
            }
            Ok(m) => {
                n_eval += m.n_eval;
                start_ln_ml.push(f64::NAN);
            }
            Err(e) => {
                start_ln_ml.push(f64::NAN);
                last_err = Some(e);
            }
        }
    }
    match best {
        Some((_, theta, converged)) => Ok((
            init.with_log_params(&theta)?,
            FitReport {
                start_ln_ml,
                n_eval,
                converged,
            },
        )),
        None => Err(last_err.unwrap_or_else(|| {
            Error::numerical(
                "GP hyperparameter optimisation",
                starts.len(),
                f64::NAN,
                "no start gave a finite log marginal likelihood",
            )
        })),
    }
}
