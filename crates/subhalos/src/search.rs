//! The dark-matter search: the profile likelihood in $\langle\sigma v\rangle$,
//! the best fit, the 95% upper limit, expected-limit bands from mock
//! catalogs, mock catalogs with subhalos, and class posteriors including the
//! dark-matter component.
//!
//! # Method
//! For a mass $m_\chi$ the DM component enters the mixture with the fixed
//! weight $\pi_\mathrm{DM} = N_\mathrm{DM}(\langle\sigma v\rangle)/N_\mathrm{unas}$
//! ([`crate::dm`]). The profile likelihood
//! $\ln L_p(\langle\sigma v\rangle) = \max_{\pi_k, \theta} \ln L$ maximises over
//! the class fractions and the six covariate-shift parameters (EM with the
//! DM component as a fixed-weight [`ExtraComponent`](crate::ExtraComponent), warm-started from the
//! astrophysical fit). It is scanned on a grid in
//! $\log_{10}\langle\sigma v\rangle$ between the values giving
//! $N_\mathrm{DM} = 0.01$ and $N_\mathrm{DM} = 0.9\,N_\mathrm{unas}$ (by default), and
//! the maximum is refined with Brent's method. With $\widehat{\langle\sigma v\rangle}$
//! the maximum ($0$ if no DM fits better than none),
//! $\Delta TS_0 = 2[\ln L_p(\widehat{\langle\sigma v\rangle}) - \ln L_p(0)]$ and the
//! upper limit solves
//! $2[\ln L_p(\widehat{\langle\sigma v\rangle}) - \ln L_p(\langle\sigma v\rangle_\mathrm{UL})] = 3.84$
//! above the best fit (Brent root in $\log_{10}\langle\sigma v\rangle$). The threshold
//! 3.84 is the paper's; for a one-sided limit it corresponds to 97.5%
//! confidence under Wilks' theorem (2.71 would give 95%), so the limits are
//! conservative. The expected numbers of subhalos at the best fit and at the
//! limit are given in the ROI ($N_\mathrm{DM}$) and in total
//! ($N^\mathrm{tot}_\mathrm{DM}$, all detected subhalos at $|b| > 10^\circ$),
//! the layout of the paper's table.
//!
//! **Bands** ([`limit_band`]): limits on mock catalogs of the same size drawn
//! from the astrophysical best fit (no DM), in parallel with one seed per
//! mock; the median and the 68% / 95% central intervals.

// `!(x > 0.0)` is meant: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use darkprobe_core::optimize::{brent_minimize, brent_root, MinimizeOptions1d, RootOptions};
use darkprobe_core::par::map_indices;
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::rng_for_index;
use darkprobe_core::Error;
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_distr::{Binomial, Distribution};

use crate::dm::DmComponent;
use crate::error::Result;
use crate::model::{
    EmOptions, MixtureFit, MixtureParams, MockCatalog, PreparedData, ShiftKind, ShiftMixture,
};

/// Settings of the dark-matter search.
#[derive(Debug, Clone, PartialEq)]
pub struct DmSearchOptions {
    /// The astrophysical model (default [`ShiftKind::PriorAndCovariate`]).
    pub kind: ShiftKind,
    /// EM settings of the astrophysical fit; the profile fits reuse them with
    /// the astrophysical shift as a single warm start.
    pub em: EmOptions,
    /// $\Delta TS$ of the upper limit (default 3.84, the paper's).
    pub ts_limit: f64,
    /// Grid points of the profile scan (default 12).
    pub n_scan: usize,
    /// $N_\mathrm{DM}$ at the low end of the scan (default 0.01).
    pub min_n_roi: f64,
    /// $\pi_\mathrm{DM}$ at the high end of the scan (default 0.9).
    pub max_weight: f64,
}

impl Default for DmSearchOptions {
    fn default() -> Self {
        Self {
            kind: ShiftKind::PriorAndCovariate,
            em: EmOptions::default(),
            ts_limit: 3.84,
            n_scan: 12,
            min_n_roi: 0.01,
            max_weight: 0.9,
        }
    }
}

impl DmSearchOptions {
    fn check(&self) -> Result<()> {
        if !(self.ts_limit.is_finite() && self.ts_limit > 0.0) {
            return Err(
                Error::invalid_param("DmSearchOptions::ts_limit", self.ts_limit, "> 0").into(),
            );
        }
        if self.n_scan < 3 {
            return Err(
                Error::invalid_param("DmSearchOptions::n_scan", self.n_scan, ">= 3").into(),
            );
        }
        if !(self.min_n_roi > 0.0 && self.min_n_roi.is_finite()) {
            return Err(
                Error::invalid_param("DmSearchOptions::min_n_roi", self.min_n_roi, "> 0").into(),
            );
        }
        if !(self.max_weight > 0.0 && self.max_weight < 1.0) {
            return Err(Error::invalid_param(
                "DmSearchOptions::max_weight",
                self.max_weight,
                "in (0, 1)",
            )
            .into());
        }
        Ok(())
    }
}

/// One point of the profile likelihood.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfilePoint {
    /// $\langle\sigma v\rangle$, cm$^3$ s$^{-1}$.
    pub sigma_v_cm3_s: f64,
    /// Profiled $\ln L$.
    pub ln_l: f64,
    /// $N_\mathrm{DM}$ in the ROI.
    pub n_roi: f64,
}

/// The result of the search at one mass.
#[derive(Debug, Clone)]
pub struct DmLimit {
    /// The mass, GeV.
    pub mass_gev: f64,
    /// Number of sources fitted.
    pub n_sources: usize,
    /// The astrophysical fit ($\langle\sigma v\rangle = 0$).
    pub null_fit: MixtureFit,
    /// The fit at the best $\langle\sigma v\rangle$ (the null fit if it is 0);
    /// its last component is the DM one when `sigma_v_best > 0`.
    pub best_fit: MixtureFit,
    /// Best-fit $\langle\sigma v\rangle$, cm$^3$ s$^{-1}$ (0 when no DM is preferred).
    pub sigma_v_best: f64,
    /// $2[\ln L_p(\hat\sigma) - \ln L_p(0)] \ge 0$.
    pub delta_ts0: f64,
    /// The upper limit, cm$^3$ s$^{-1}$.
    pub sigma_v_ul: f64,
    /// True when $\Delta TS$ stayed below the threshold up to the end of the
    /// scan; `sigma_v_ul` is then that end (a lower bound on the limit).
    pub ul_at_scan_edge: bool,
    /// $N_\mathrm{DM}$ in the ROI at the best fit.
    pub n_roi_best: f64,
    /// Detected subhalos in total at the best fit.
    pub n_total_best: f64,
    /// $N_\mathrm{DM}$ in the ROI at the limit.
    pub n_roi_ul: f64,
    /// Detected subhalos in total at the limit.
    pub n_total_ul: f64,
    /// The profile evaluations, sorted by $\langle\sigma v\rangle$.
    pub scan: Vec<ProfilePoint>,
}

impl DmLimit {
    /// The best-fit DM fraction of the unassociated sources in the ROI, percent.
    pub fn best_dm_percent(&self) -> f64 {
        100.0 * self.n_roi_best / self.n_sources as f64
    }
}

/// Profile likelihood machinery for one data set and one DM component.
struct Profile<'a> {
    model: &'a ShiftMixture,
    data: &'a PreparedData,
    dm: &'a DmComponent,
    kind: ShiftKind,
    em: EmOptions,
    points: Vec<ProfilePoint>,
}

impl Profile<'_> {
    fn fit_at(&mut self, log10_sv: f64) -> Result<(f64, MixtureFit)> {
        let sv = 10f64.powf(log10_sv);
        let extra = self.dm.extra_component(sv, self.data)?;
        let fit = self.model.fit(self.data, self.kind, &[extra], &self.em)?;
        self.points.push(ProfilePoint {
            sigma_v_cm3_s: sv,
            ln_l: fit.report.ln_l,
            n_roi: self.dm.n_roi(sv),
        });
        Ok((fit.report.ln_l, fit))
    }
}

/// Finds the $\log_{10}\langle\sigma v\rangle$ range where $N_\mathrm{DM}$ goes
/// from `lo_n` to `hi_n` (walking up in 0.05-dex steps, then bisection).
fn scan_range(dm: &DmComponent, lo_n: f64, hi_n: f64) -> Result<(f64, f64)> {
    let n_at = |s: f64| dm.n_roi(10f64.powf(s));
    let mut s = -35.0;
    let mut prev = s;
    let mut lo = None;
    while s < -10.0 {
        let n = n_at(s);
        if lo.is_none() && n >= lo_n {
            lo = Some(bisect(&n_at, prev, s, lo_n));
        }
        if n >= hi_n {
            let hi = bisect(&n_at, prev, s, hi_n);
            return Ok((lo.unwrap_or(prev), hi));
        }
        prev = s;
        s += 0.05;
    }
    Err(Error::invalid_param(
        format!("DM model at {} GeV", dm.mass_gev()),
        format!(
            "at most {:.3} subhalos in the ROI for any <sigma v>",
            n_at(prev)
        ),
        format!(
            "a population that can give {hi_n:.1} (check the J population and the detection table)"
        ),
    )
    .into())
}

fn bisect(f: &impl Fn(f64) -> f64, mut a: f64, mut b: f64, target: f64) -> f64 {
    for _ in 0..50 {
        let m = 0.5 * (a + b);
        if f(m) < target {
            a = m;
        } else {
            b = m;
        }
    }
    0.5 * (a + b)
}

/// The profile-likelihood search at one mass: best fit, $\Delta TS_0$ and the
/// upper limit (see the [module docs](self)).
///
/// # Errors
/// Invalid options, a population that cannot populate the ROI, or a failed fit.
pub fn dm_limit(
    model: &ShiftMixture,
    data: &PreparedData,
    dm: &DmComponent,
    opts: &DmSearchOptions,
) -> Result<DmLimit> {
    opts.check()?;
    let null_fit = model.fit(data, opts.kind, &[], &opts.em)?;
    let ln_l0 = null_fit.report.ln_l;
    let mut em = opts.em.clone();
    if opts.kind.covariate() {
        em.initial_shift = null_fit.params.shift;
    }
    if opts.kind.free_priors() {
        em.initial_class_weights = Some(null_fit.params.class_weights.clone());
    }
    let (s_lo, s_hi) = scan_range(dm, opts.min_n_roi, opts.max_weight * data.len() as f64)?;
    let mut prof = Profile {
        model,
        data,
        dm,
        kind: opts.kind,
        em,
        points: Vec::new(),
    };
    let n = opts.n_scan;
    let grid: Vec<f64> = (0..n)
        .map(|i| s_lo + (s_hi - s_lo) * i as f64 / (n - 1) as f64)
        .collect();
    let mut vals = Vec::with_capacity(n);
    for &s in &grid {
        vals.push(prof.fit_at(s)?.0);
    }
    let (i_best, &v_best) = vals
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .ok_or_else(|| Error::empty("profile scan", "no point"))?;
    // Refine an interior maximum.
    let (mut s_best, mut l_best) = (grid[i_best], v_best);
    if i_best > 0 && i_best + 1 < n && v_best > ln_l0 {
        let m = brent_minimize(
            |s| Ok(-prof.fit_at(s).map_err(darkprobe_core::Error::from)?.0),
            grid[i_best - 1],
            grid[i_best + 1],
            &MinimizeOptions1d {
                x_tol_abs: 1e-4,
                x_tol_rel: 1e-6,
                max_iter: 40,
                allow_unconverged: true,
            },
        )?;
        if -m.f_x > l_best {
            s_best = m.x;
            l_best = -m.f_x;
        }
    }
    let dm_preferred = l_best > ln_l0;
    let (sigma_v_best, l_hat, best_fit) = if dm_preferred {
        let (l, f) = prof.fit_at(s_best)?;
        (10f64.powf(s_best), l.max(l_best), f)
    } else {
        (0.0, ln_l0, null_fit.clone())
    };
    let delta_ts0 = (2.0 * (l_hat - ln_l0)).max(0.0);
    // Upper limit: first grid point above the best with Delta TS > threshold.
    let start = if dm_preferred {
        grid.partition_point(|&s| s <= s_best)
    } else {
        0
    };
    let ts_of = |l: f64| 2.0 * (l_hat - l);
    let mut ul = None;
    let mut left = if dm_preferred {
        s_best
    } else {
        f64::NEG_INFINITY
    };
    for i in start..n {
        if ts_of(vals[i]) > opts.ts_limit {
            let a = if left.is_finite() {
                left
            } else {
                grid[i].min(grid[0])
            };
            if i == 0 || a >= grid[i] {
                // Already excluded at the bottom of the scan.
                ul = Some(grid[i]);
            } else {
                let r = brent_root(
                    |s| {
                        let (l, _) = prof.fit_at(s).map_err(darkprobe_core::Error::from)?;
                        Ok(ts_of(l) - opts.ts_limit)
                    },
                    a,
                    grid[i],
                    &RootOptions {
                        x_tol_abs: 1e-4,
                        x_tol_rel: 1e-8,
                        f_tol: 1e-3,
                        max_iter: 60,
                    },
                );
                ul = Some(match r {
                    Ok(r) => r.x,
                    // No sign change (a noisy profile): keep the grid point.
                    Err(_) => grid[i],
                });
            }
            break;
        }
        left = grid[i];
    }
    let (s_ul, at_edge) = match ul {
        Some(s) => (s, false),
        None => (s_hi, true),
    };
    let sigma_v_ul = 10f64.powf(s_ul);
    let mut scan = prof.points;
    scan.sort_by(|a, b| a.sigma_v_cm3_s.total_cmp(&b.sigma_v_cm3_s));
    Ok(DmLimit {
        mass_gev: dm.mass_gev(),
        n_sources: data.len(),
        null_fit,
        best_fit,
        sigma_v_best,
        delta_ts0,
        sigma_v_ul,
        ul_at_scan_edge: at_edge,
        n_roi_best: dm.n_roi(sigma_v_best),
        n_total_best: dm.n_total(sigma_v_best),
        n_roi_ul: dm.n_roi(sigma_v_ul),
        n_total_ul: dm.n_total(sigma_v_ul),
        scan,
    })
}

/// Median and central 68% / 95% intervals of limits from mock catalogs.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitBand {
    /// The mass, GeV.
    pub mass_gev: f64,
    /// The limit of each mock, in mock order.
    pub limits: Vec<f64>,
    /// Median.
    pub median: f64,
    /// 16th and 84th percentiles.
    pub band68: (f64, f64),
    /// 2.5th and 97.5th percentiles.
    pub band95: (f64, f64),
    /// Mocks whose limit sat at the end of the scan.
    pub n_at_scan_edge: usize,
}

/// Linear-interpolation quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (pos - i as f64) * (sorted[j] - sorted[i])
}

/// Expected-limit band: `n_mocks` catalogs of `n_sources` drawn from the
/// astrophysical model `null_params` (no DM), each analysed with [`dm_limit`];
/// mock $i$ uses `rng_for_index(seed, i)`, so the band does not depend on the
/// thread count. One progress step per mock.
///
/// # Errors
/// `n_mocks` < 2, or any mock's sampling or search error.
#[allow(clippy::too_many_arguments)]
pub fn limit_band(
    model: &ShiftMixture,
    null_params: &MixtureParams,
    n_sources: usize,
    dm: &DmComponent,
    opts: &DmSearchOptions,
    n_mocks: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<LimitBand> {
    if n_mocks < 2 {
        return Err(Error::invalid_param("number of mock catalogs", n_mocks, ">= 2").into());
    }
    progress.start(
        &format!("limit band, {} GeV", dm.mass_gev()),
        n_mocks as u64,
    );
    let res = map_indices(n_mocks, |i| -> Result<(f64, bool)> {
        let mut rng = rng_for_index(seed, i as u64);
        let mock = model.sample(null_params, n_sources, &mut rng)?;
        let data = model.prepare(mock.points.view())?;
        let l = dm_limit(model, &data, dm, opts)?;
        progress.inc(1);
        Ok((l.sigma_v_ul, l.ul_at_scan_edge))
    });
    progress.finish();
    let mut limits = Vec::with_capacity(n_mocks);
    let mut n_edge = 0;
    for r in res {
        let (l, e) = r?;
        limits.push(l);
        n_edge += usize::from(e);
    }
    let mut sorted = limits.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(LimitBand {
        mass_gev: dm.mass_gev(),
        median: quantile(&sorted, 0.5),
        band68: (quantile(&sorted, 0.16), quantile(&sorted, 0.84)),
        band95: (quantile(&sorted, 0.025), quantile(&sorted, 0.975)),
        limits,
        n_at_scan_edge: n_edge,
    })
}

/// A mock catalog of `n` sources from the astrophysical model `astro` plus
/// subhalos at $\langle\sigma v\rangle$: the number of subhalos is binomial with
/// probability $N_\mathrm{DM}/n$, the rest are drawn by
/// [`ShiftMixture::sample`]. The astrophysical sources come first; DM sources
/// have the label $K$ (the number of classes). `proposals` and `accepted`
/// count the astrophysical classes only.
///
/// # Errors
/// $N_\mathrm{DM} \ge n$, or the sampling errors of either part.
pub fn sample_with_dm<R: Rng + ?Sized>(
    model: &ShiftMixture,
    astro: &MixtureParams,
    dm: &DmComponent,
    sigma_v_cm3_s: f64,
    n: usize,
    rng: &mut R,
) -> Result<MockCatalog> {
    let n_roi = dm.n_roi(sigma_v_cm3_s);
    let p = n_roi / n.max(1) as f64;
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid_param(
            "<sigma v> (cm3/s) of the mock",
            sigma_v_cm3_s,
            format!("fewer expected subhalos in the ROI ({n_roi:.1}) than sources ({n})"),
        )
        .into());
    }
    let n_dm = if p > 0.0 {
        Binomial::new(n as u64, p)
            .map_err(|e| Error::invalid_param("DM fraction", p, e.to_string()))?
            .sample(rng) as usize
    } else {
        0
    };
    let astro_only = MixtureParams {
        extra_weights: vec![0.0; astro.extra_weights.len()],
        ..astro.clone()
    };
    let mut mock = model.sample(&astro_only, n - n_dm, rng)?;
    if n_dm > 0 {
        let d = dm.sample(sigma_v_cm3_s, n_dm, rng)?;
        let k = model.classes().len();
        let mut points = Array2::zeros((n, 3));
        points
            .slice_mut(ndarray::s![..n - n_dm, ..])
            .assign(&mock.points);
        points.slice_mut(ndarray::s![n - n_dm.., ..]).assign(&d);
        mock.points = points;
        mock.labels.extend(std::iter::repeat_n(k, n_dm));
    }
    Ok(mock)
}

/// Posterior probabilities of each class and of the DM component for each row
/// of `points`, under the fit `fit` made with the DM component at
/// $\langle\sigma v\rangle$ (its last weight is $\pi_\mathrm{DM}$); columns are the
/// classes then DM. With `sigma_v_cm3_s = 0` (or a fit without extras) the DM
/// column is zero.
///
/// # Errors
/// As [`ShiftMixture::prepare`] and [`ShiftMixture::responsibilities`].
pub fn posteriors_with_dm(
    model: &ShiftMixture,
    fit: &MixtureFit,
    dm: &DmComponent,
    sigma_v_cm3_s: f64,
    points: ArrayView2<'_, f64>,
) -> Result<Array2<f64>> {
    let data = model.prepare(points)?;
    let k = model.classes().len();
    if sigma_v_cm3_s > 0.0 && !fit.params.extra_weights.is_empty() {
        let w = fit.params.extra_weights[fit.params.extra_weights.len() - 1];
        let ln_pdf = data
            .points()
            .iter()
            .map(|x| dm.ln_pdf(sigma_v_cm3_s, x))
            .collect::<Result<Vec<_>>>()?;
        let extra = crate::model::ExtraComponent {
            name: "DM".into(),
            ln_pdf,
            weight: crate::model::ExtraWeight::Fixed(w),
        };
        let params = MixtureParams {
            extra_weights: vec![w],
            ..fit.params.clone()
        };
        model.responsibilities(&data, &[extra], &params)
    } else {
        let params = MixtureParams {
            extra_weights: vec![],
            ..fit.params.clone()
        };
        let r = model.responsibilities(&data, &[], &params)?;
        let mut out = Array2::zeros((data.len(), k + 1));
        out.slice_mut(ndarray::s![.., ..k]).assign(&r);
        Ok(out)
    }
}
