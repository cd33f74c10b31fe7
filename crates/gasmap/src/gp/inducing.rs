//! The variational inducing-point approximation of Titsias (2009) for large
//! training sets.
//!
//! With $m$ inducing inputs $Z$, $Q_{nn} = K_{nm} K_{mm}^{-1} K_{mn}$ and
//! noise variance $\sigma^2 = \nu_2$, the collapsed evidence lower bound is
//! $$F = \ln \mathcal N(y \mid 0, Q_{nn} + \sigma^2 I) - \frac{1}{2\sigma^2}
//! \mathrm{tr}(K_{nn} - Q_{nn}) \le \ln p(y),$$
//! with equality when $Z = X$. The predictive distribution is
//! $\mu_* = \sigma^{-2} k_{*m} \Sigma K_{mn} y$,
//! $\mathrm{var}_* = k_{**} - k_{*m}K_{mm}^{-1}k_{m*} + k_{*m}\Sigma k_{m*}$,
//! $\Sigma = (K_{mm} + \sigma^{-2}K_{mn}K_{nm})^{-1}$, computed through the
//! factors $K_{mm} = L L^T$ and $I + A A^T = L_B L_B^T$ with
//! $A = L^{-1}K_{mn}/\sigma$. Cost $O(n m^2)$ instead of $O(n^3)$.
//!
//! Accuracy against the exact GP (test `inducing_approximation_converges_to_exact`:
//! n = 150 points drawn from a 2-D Matérn prior, A = 1, l = 0.8, ν₂ = 0.05,
//! 50 query points, k-means++ selection): mean |μ_sparse − μ_exact| = 0.48,
//! 0.17 and 5e-15 for m = 8, 40 and 150, and ln p(y) − F = 1414, 197 and
//! 1e-11 (random subsets: 0.35, 0.13, 5e-15 and 1303, 279, 1e-11).
//!
//! The hyperparameters are not optimised here: they are taken from an exact
//! fit (typically on a subsample), see [`SparseGp::fit`].

use darkprobe_core::rng::rng_from_seed;
use darkprobe_core::Error;
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::{Accum, Mat, MatMut, MatRef};
use ndarray::{Array1, ArrayView1, ArrayView2};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::exact::{
    check_xy, cholesky_with_jitter, cross, kernel_mean, row, standardised_query, Standardizer,
};
use super::kernel::Matern32Kernel;
use crate::model::Result;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// How the inducing inputs are chosen among the training inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum InducingSelection {
    /// k-means++ seeding (Arthur & Vassilvitskii 2007) in the kernel's scaled
    /// distance: each new point drawn with probability proportional to its
    /// squared distance to the nearest point already chosen.
    #[default]
    KMeansPlusPlus,
    /// A uniform random subset.
    RandomSubset,
}

/// Settings of [`SparseGp::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InducingParams {
    /// Number of inducing points $m \ge 1$ (all training points when $m \ge n$).
    pub n_inducing: usize,
    /// Selection rule.
    pub selection: InducingSelection,
    /// Seed of the selection.
    pub seed: u64,
}

impl Default for InducingParams {
    fn default() -> Self {
        Self {
            n_inducing: 500,
            selection: InducingSelection::KMeansPlusPlus,
            seed: 0,
        }
    }
}

/// Indices of `m` inducing points among the `n` rows of `x` (row-major, `d`
/// columns). With `m >= n` every row, in order.
pub fn select_inducing(
    kernel: &Matern32Kernel,
    x: &[f64],
    d: usize,
    params: &InducingParams,
) -> Vec<usize> {
    let n = x.len() / d.max(1);
    let m = params.n_inducing;
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = rng_from_seed(params.seed);
    match params.selection {
        InducingSelection::RandomSubset => {
            let mut idx = rand::seq::index::sample(&mut rng, n, m).into_vec();
            idx.sort_unstable();
            idx
        }
        InducingSelection::KMeansPlusPlus => {
            let mut chosen = Vec::with_capacity(m);
            let mut taken = vec![false; n];
            let first = rng.random_range(0..n);
            chosen.push(first);
            taken[first] = true;
            let mut d2: Vec<f64> = (0..n)
                .map(|i| {
                    kernel
                        .scaled_distance(row(x, d, i), row(x, d, first))
                        .powi(2)
                })
                .collect();
            while chosen.len() < m {
                let total: f64 = d2.iter().sum();
                let next = if total > 0.0 && total.is_finite() {
                    let mut u = rng.random::<f64>() * total;
                    let mut pick = None;
                    for (i, &w) in d2.iter().enumerate() {
                        if w > 0.0 {
                            pick = Some(i);
                            if u < w {
                                break;
                            }
                            u -= w;
                        }
                    }
                    pick.unwrap_or(0)
                } else {
                    // Every remaining point duplicates a chosen one.
                    let free: Vec<usize> = (0..n).filter(|&i| !taken[i]).collect();
                    free[rng.random_range(0..free.len())]
                };
                taken[next] = true;
                chosen.push(next);
                let xn = row(x, d, next).to_vec();
                d2.par_iter_mut().enumerate().for_each(|(i, v)| {
                    let r = kernel.scaled_distance(row(x, d, i), &xn);
                    *v = v.min(r * r);
                });
                d2[next] = 0.0;
            }
            chosen
        }
    }
}

/// A Gaussian process with the variational inducing-point approximation
/// (Titsias 2009), fixed hyperparameters.
///
/// ```
/// use darkprobe_gasmap::gp::{ExactGp, GpParams, InducingParams, SparseGp};
/// use ndarray::{Array1, Array2};
/// let x = Array2::from_shape_fn((60, 1), |(i, _)| i as f64 / 10.0);
/// let y: Array1<f64> = x.column(0).mapv(f64::sin);
/// let exact = ExactGp::fit(x.view(), y.view(), &GpParams::default()).unwrap();
/// let sparse = SparseGp::fit(
///     x.view(), y.view(), exact.kernel(), exact.standardizer(),
///     &InducingParams { n_inducing: 20, ..Default::default() },
/// ).unwrap();
/// let diff = (&sparse.predict(x.view()).unwrap() - &exact.predict(x.view()).unwrap())
///     .iter().fold(0.0f64, |m, e| m.max(e.abs()));
/// assert!(diff < 0.05);
/// assert!(sparse.ln_evidence_bound() <= exact.ln_marginal_likelihood() + 1e-6);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SparseGp {
    kernel: Matern32Kernel,
    standardizer: Standardizer,
    n_features: usize,
    n_train: usize,
    /// Standardised inducing inputs, row-major `m × d`.
    z: Vec<f64>,
    /// $L^{-T} L_B^{-T} c$: the posterior mean is $k_{*m}^T w$.
    weights: Vec<f64>,
    /// Lower factor of $K_{mm}$ (+ jitter), column-major.
    l_mm: Vec<f64>,
    /// Lower factor of $I + A A^T$, column-major.
    l_b: Vec<f64>,
    ln_bound: f64,
    jitter: f64,
}

impl SparseGp {
    /// Fits the approximation to `x` (`n × d`), `y` with the given kernel and
    /// standardisation (both from an [`ExactGp`](super::ExactGp) fit, say:
    /// [`ExactGp::kernel`](super::ExactGp::kernel),
    /// [`ExactGp::standardizer`](super::ExactGp::standardizer)).
    ///
    /// # Errors
    /// Empty or non-finite data, shape mismatches, `n_inducing == 0`, an
    /// invalid kernel, or a $K_{mm}$ that does not factorise with jitter.
    pub fn fit(
        x: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        kernel: &Matern32Kernel,
        standardizer: &Standardizer,
        params: &InducingParams,
    ) -> Result<Self> {
        check_xy(x, y)?;
        kernel.validate()?;
        let (n, d) = x.dim();
        kernel.check_features(d)?;
        if standardizer.x_mean.len() != d {
            return Err(Error::shape(
                "standardizer features",
                d,
                standardizer.x_mean.len(),
            ));
        }
        if params.n_inducing == 0 {
            return Err(Error::invalid_param(
                "InducingParams::n_inducing",
                0,
                ">= 1",
            ));
        }
        let xs = standardizer.transform_x(x);
        let ys = standardizer.transform_y(y);
        let idx = select_inducing(kernel, &xs, d, params);
        let m = idx.len();
        let z: Vec<f64> = idx.iter().flat_map(|&i| row(&xs, d, i).to_vec()).collect();
        let par = faer::get_global_parallelism();
        let sigma2 = kernel.noise;
        let sigma = sigma2.sqrt();

        let kmm = cross(kernel, &z, &z, d);
        let (l_mm, jitter) = cholesky_with_jitter(kmm, m, "the inducing-point covariance K_mm")?;
        // A = L^{-1} K_mn / sigma, m x n.
        let mut a_buf = cross(kernel, &z, &xs, d);
        {
            let a = MatMut::from_column_major_slice_mut(&mut a_buf, m, n);
            solve_lower_triangular_in_place(l_mm.as_ref(), a, par);
        }
        a_buf.par_iter_mut().for_each(|v| *v /= sigma);
        let a = MatRef::from_column_major_slice(&a_buf, m, n);
        let mut b = Mat::<f64>::identity(m, m);
        matmul(b.as_mut(), Accum::Add, a, a.transpose(), 1.0, par);
        let b_buf: Vec<f64> = (0..m).flat_map(|j| b.col_as_slice(j).to_vec()).collect();
        let (l_b, _) = cholesky_with_jitter(b_buf, m, "the inducing-point matrix I + A A^T")?;
        let y_mat = MatRef::from_column_major_slice(&ys, n, 1);
        let mut c = Mat::<f64>::zeros(m, 1);
        matmul(c.as_mut(), Accum::Replace, a, y_mat, 1.0 / sigma, par);
        solve_lower_triangular_in_place(l_b.as_ref(), c.as_mut(), par);

        let yy: f64 = ys.iter().map(|v| v * v).sum();
        let cc: f64 = (0..m).map(|i| c[(i, 0)] * c[(i, 0)]).sum();
        let ln_det_b: f64 = (0..m).map(|i| l_b[(i, i)].ln()).sum();
        let trace_knn = n as f64 * kernel.signal_variance();
        let trace_aat: f64 = a_buf.iter().map(|v| v * v).sum();
        let nf = n as f64;
        let ln_bound = -0.5 * nf * LN_2PI - ln_det_b - 0.5 * nf * sigma2.ln() - 0.5 * yy / sigma2
            + 0.5 * cc
            - 0.5 * trace_knn / sigma2
            + 0.5 * trace_aat;

        let mut w = c;
        solve_upper_triangular_in_place(l_b.transpose(), w.as_mut(), par);
        solve_upper_triangular_in_place(l_mm.transpose(), w.as_mut(), par);
        let weights: Vec<f64> = (0..m).map(|i| w[(i, 0)]).collect();
        let flat = |l: &Mat<f64>| {
            (0..m)
                .flat_map(|j| l.col_as_slice(j).to_vec())
                .collect::<Vec<f64>>()
        };
        Ok(Self {
            kernel: kernel.clone(),
            standardizer: standardizer.clone(),
            n_features: d,
            n_train: n,
            z,
            weights,
            l_mm: flat(&l_mm),
            l_b: flat(&l_b),
            ln_bound,
            jitter,
        })
    }

    /// Number of inducing points.
    pub fn n_inducing(&self) -> usize {
        self.weights.len()
    }

    /// Number of training points the approximation was fitted to.
    pub fn n_train(&self) -> usize {
        self.n_train
    }

    /// The kernel (standardised units).
    pub fn kernel(&self) -> &Matern32Kernel {
        &self.kernel
    }

    /// Collapsed evidence lower bound $F$ of the standardised targets.
    pub fn ln_evidence_bound(&self) -> f64 {
        self.ln_bound
    }

    /// Jitter added to $K_{mm}$ (absolute, standardised units).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    fn query(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        standardised_query(x, self.n_features, &self.standardizer)
    }

    /// Approximate posterior mean at each row of `x`.
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
            &self.z,
            &self.weights,
        ))
    }

    /// Approximate posterior mean and latent variance (plus $s_y^2\nu_2$ when
    /// `include_noise`) at each row of `x`.
    ///
    /// # Errors
    /// As [`predict`](Self::predict).
    pub fn predict_with_variance(
        &self,
        x: ArrayView2<'_, f64>,
        include_noise: bool,
    ) -> Result<(Array1<f64>, Array1<f64>)> {
        let mean = self.predict(x)?;
        let q = self.query(x)?;
        let d = self.n_features;
        let m = self.n_inducing();
        let nq = x.nrows();
        let par = faer::get_global_parallelism();
        let mut t1 = cross(&self.kernel, &self.z, &q, d);
        let l_mm = MatRef::from_column_major_slice(&self.l_mm, m, m);
        let l_b = MatRef::from_column_major_slice(&self.l_b, m, m);
        solve_lower_triangular_in_place(
            l_mm,
            MatMut::from_column_major_slice_mut(&mut t1, m, nq),
            par,
        );
        let mut t2 = t1.clone();
        solve_lower_triangular_in_place(
            l_b,
            MatMut::from_column_major_slice_mut(&mut t2, m, nq),
            par,
        );
        let s2 = self.standardizer.y_scale * self.standardizer.y_scale;
        let noise = if include_noise {
            self.kernel.noise
        } else {
            0.0
        };
        let var: Vec<f64> = (0..nq)
            .map(|j| {
                let q1: f64 = t1[j * m..(j + 1) * m].iter().map(|v| v * v).sum();
                let q2: f64 = t2[j * m..(j + 1) * m].iter().map(|v| v * v).sum();
                s2 * ((self.kernel.signal_variance() - q1 + q2).max(0.0) + noise)
            })
            .collect();
        Ok((mean, Array1::from(var)))
    }
}
