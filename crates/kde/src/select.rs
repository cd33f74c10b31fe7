//! Bandwidth selection by leave-one-out likelihood and repeated k-fold
//! cross-validation.
//!
//! Both search a scalar multiplier $s$ of a base bandwidth $H_0$ (the candidate
//! is $H = s^2 H_0$; with `Bandwidth::Isotropic(1.0)` as base, $s$ is the
//! bandwidth itself) and maximise a held-out log-likelihood score:
//! - leave-one-out: $\mathrm{LOO}(s) = \sum_j \tilde w_j \ln \hat p_{-j}(x_j)$, with
//!   $\tilde w$ the normalised weights (the mean for unweighted data);
//! - repeated $k$-fold: for each of $R$ repetitions, shuffle the points (seeded by
//!   [`seed_for_index`](darkprobe_core::rng::seed_for_index)`(seed, r)`), split into
//!   $k$ folds, fit on $k-1$ and average $\ln \hat p$ over the held-out fold;
//!   the score is the mean over the $kR$ evaluations (Amerio et al. 2025 use
//!   $k = 5$, $R = 20$). The same folds are used for every candidate $s$.
//!
//! Each search returns the whole score curve for plotting. The grid search
//! evaluates given multipliers; the continuous search runs Brent's method on
//! $\ln s$ inside a bracket.

use crate::bandwidth::Bandwidth;
use crate::error::Result;
use crate::gaussian::GaussianKde;
use darkprobe_core::par;
use darkprobe_core::optimize::{brent_minimize, MinimizeOptions1d};
use darkprobe_core::rng::rng_for_index;
use darkprobe_core::Error;
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;

/// How to search the bandwidth multiplier $s$.
#[derive(Debug, Clone, PartialEq)]
pub enum ScaleSearch {
    /// Evaluate each given multiplier (all > 0).
    Grid(Vec<f64>),
    /// Maximise by Brent's method over $\ln s$ in `[lo, hi]` (0 < lo < hi).
    Continuous {
        /// Smallest multiplier.
        lo: f64,
        /// Largest multiplier.
        hi: f64,
        /// Relative tolerance on $s$.
        rel_tol: f64,
    },
}

impl ScaleSearch {
    /// `n` log-spaced multipliers from `lo` to `hi`.
    ///
    /// # Errors
    /// `n < 2`, or not `0 < lo < hi`.
    pub fn log_grid(lo: f64, hi: f64, n: usize) -> darkprobe_core::Result<Self> {
        if !(lo > 0.0 && hi > lo && hi.is_finite()) {
            return Err(Error::invalid_param(
                "bandwidth grid",
                format!("[{lo}, {hi}]"),
                "0 < lo < hi, finite",
            ));
        }
        if n < 2 {
            return Err(Error::invalid_param("grid size", n, ">= 2"));
        }
        let (a, b) = (lo.ln(), hi.ln());
        Ok(ScaleSearch::Grid(
            (0..n)
                .map(|i| (a + (b - a) * i as f64 / (n - 1) as f64).exp())
                .collect(),
        ))
    }
}

/// Repeated k-fold cross-validation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KFold {
    /// Number of folds $k$ (>= 2).
    pub folds: usize,
    /// Number of repetitions $R$ (>= 1).
    pub repeats: usize,
    /// Seed of the shuffles.
    pub seed: u64,
}

impl KFold {
    /// The subhalo paper's setting: 5 folds x 20 repetitions.
    pub fn paper(seed: u64) -> Self {
        Self {
            folds: 5,
            repeats: 20,
            seed,
        }
    }
}

/// The result of a bandwidth search.
#[derive(Debug, Clone, PartialEq)]
pub struct BandwidthSelection {
    /// The best multiplier $s$.
    pub best_scale: f64,
    /// The best bandwidth, $s$ applied to the base.
    pub best_bandwidth: Bandwidth,
    /// Its score (mean held-out log-likelihood per point).
    pub best_score: f64,
    /// Every evaluated `(s, score)`, sorted by `s`.
    pub curve: Vec<(f64, f64)>,
}

/// Mean leave-one-out log-likelihood of the KDE with bandwidth `bw`.
///
/// # Errors
/// As [`GaussianKde::new_weighted`] and [`GaussianKde::ln_pdf_loo`].
pub fn loo_score(
    data: ArrayView2<'_, f64>,
    weights: Option<&[f64]>,
    bw: &Bandwidth,
) -> Result<f64> {
    let kde = match weights {
        Some(w) => GaussianKde::new_weighted(data, w, bw.clone())?,
        None => GaussianKde::new(data, bw.clone())?,
    };
    let loo = kde.ln_pdf_loo()?;
    Ok(loo.iter().zip(kde.weights()).map(|(l, w)| l * w).sum())
}

/// Mean held-out log-likelihood over repeated k-fold splits, for bandwidth `bw`.
///
/// # Errors
/// Too few points for the folds, invalid settings, or KDE construction errors.
pub fn kfold_score(data: ArrayView2<'_, f64>, bw: &Bandwidth, kfold: &KFold) -> Result<f64> {
    let folds = make_folds(data.nrows(), kfold)?;
    kfold_score_with(data, bw, &folds)
}

fn make_folds(n: usize, kfold: &KFold) -> Result<Vec<Vec<usize>>> {
    if kfold.folds < 2 {
        return Err(Error::invalid_param("folds", kfold.folds, ">= 2").into());
    }
    if kfold.repeats < 1 {
        return Err(Error::invalid_param("repeats", kfold.repeats, ">= 1").into());
    }
    if n < kfold.folds {
        return Err(Error::invalid_param(
            "number of points",
            n,
            format!("at least the number of folds ({})", kfold.folds),
        )
        .into());
    }
    // One permutation per repetition; fold f takes positions f, f + k, f + 2k, ...
    let mut held_out = Vec::with_capacity(kfold.folds * kfold.repeats);
    for r in 0..kfold.repeats {
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng_for_index(kfold.seed, r as u64));
        for f in 0..kfold.folds {
            held_out.push(perm.iter().skip(f).step_by(kfold.folds).copied().collect());
        }
    }
    Ok(held_out)
}

fn kfold_score_with(
    data: ArrayView2<'_, f64>,
    bw: &Bandwidth,
    folds: &[Vec<usize>],
) -> Result<f64> {
    let n = data.nrows();
    let scores = par::map_indices(folds.len(), |e| -> Result<f64> {
        let test = &folds[e];
        let mut is_test = vec![false; n];
        for &i in test {
            is_test[i] = true;
        }
        let train_idx: Vec<usize> = (0..n).filter(|i| !is_test[*i]).collect();
        let train: Array2<f64> = data.select(Axis(0), &train_idx);
        let held: Array2<f64> = data.select(Axis(0), test);
        let kde = GaussianKde::new(train.view(), bw.clone())?;
        let lp = kde.ln_pdf_batch(held.view())?;
        Ok(lp.mean().unwrap_or(f64::NAN))
    });
    let mut total = 0.0;
    for s in scores {
        total += s?;
    }
    Ok(total / folds.len() as f64)
}

/// Chooses the bandwidth multiplier maximising the leave-one-out likelihood.
///
/// # Errors
/// Invalid search settings, or errors of [`loo_score`].
///
/// ```
/// use darkprobe_kde::{select_bandwidth_loo, Bandwidth, ScaleSearch};
/// use ndarray::Array2;
/// use rand::SeedableRng;
/// use rand_distr::{Distribution, StandardNormal};
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let x = Array2::from_shape_fn((400, 1), |_| StandardNormal.sample(&mut rng));
/// let sel = select_bandwidth_loo(
///     x.view(), None, &Bandwidth::Isotropic(1.0),
///     &ScaleSearch::Continuous { lo: 0.05, hi: 2.0, rel_tol: 1e-4 },
/// ).unwrap();
/// // For 400 standard-normal points the optimum lies near Silverman's 0.9 * 400^(-1/5) ~ 0.27.
/// assert!(sel.best_scale > 0.15 && sel.best_scale < 0.5);
/// ```
pub fn select_bandwidth_loo(
    data: ArrayView2<'_, f64>,
    weights: Option<&[f64]>,
    base: &Bandwidth,
    search: &ScaleSearch,
) -> Result<BandwidthSelection> {
    search_scale(base, search, |bw| loo_score(data, weights, bw))
}

/// Chooses the bandwidth multiplier maximising the repeated k-fold score.
///
/// # Errors
/// Invalid search or fold settings, or KDE construction errors.
pub fn select_bandwidth_kfold(
    data: ArrayView2<'_, f64>,
    base: &Bandwidth,
    search: &ScaleSearch,
    kfold: &KFold,
) -> Result<BandwidthSelection> {
    let folds = make_folds(data.nrows(), kfold)?;
    search_scale(base, search, |bw| kfold_score_with(data, bw, &folds))
}

fn search_scale<F>(base: &Bandwidth, search: &ScaleSearch, score: F) -> Result<BandwidthSelection>
where
    F: Fn(&Bandwidth) -> Result<f64>,
{
    let mut curve: Vec<(f64, f64)> = Vec::new();
    match search {
        ScaleSearch::Grid(scales) => {
            if scales.is_empty() {
                return Err(Error::empty("bandwidth grid", "give at least one multiplier").into());
            }
            for &s in scales {
                if !(s.is_finite() && s > 0.0) {
                    return Err(
                        Error::invalid_param("bandwidth multiplier", s, "finite and > 0").into(),
                    );
                }
                curve.push((s, score(&base.scaled(s))?));
            }
        }
        ScaleSearch::Continuous { lo, hi, rel_tol } => {
            if !(*lo > 0.0 && hi > lo && hi.is_finite()) {
                return Err(Error::invalid_param(
                    "bandwidth bracket",
                    format!("[{lo}, {hi}]"),
                    "0 < lo < hi, finite",
                )
                .into());
            }
            let evals = std::cell::RefCell::new(Vec::new());
            let opts = MinimizeOptions1d {
                x_tol_abs: rel_tol.max(1e-10),
                ..MinimizeOptions1d::default()
            };
            brent_minimize(
                |ln_s: f64| -> darkprobe_core::Result<f64> {
                    let s = ln_s.exp();
                    let v = score(&base.scaled(s)).map_err(darkprobe_core::Error::from)?;
                    evals.borrow_mut().push((s, v));
                    Ok(-v)
                },
                lo.ln(),
                hi.ln(),
                &opts,
            )
            .map_err(crate::KdeError::from)?;
            curve = evals.into_inner();
        }
    }
    curve.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (best_scale, best_score) = curve.iter().copied().filter(|(_, v)| v.is_finite()).fold(
        (f64::NAN, f64::NEG_INFINITY),
        |a, b| if b.1 > a.1 { b } else { a },
    );
    if !best_scale.is_finite() {
        return Err(Error::numerical(
            "bandwidth selection",
            curve.len(),
            best_score,
            "no candidate gave a finite score",
        )
        .into());
    }
    Ok(BandwidthSelection {
        best_scale,
        best_bandwidth: base.scaled(best_scale),
        best_score,
        curve,
    })
}
