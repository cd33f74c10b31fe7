//! Leave-one-out choice of the smoothing $(\sigma, \zeta)$ of the background pdf.
//!
//! For the voids of energy bin $b$ (positions $x_k$, $\ln$ counts $u_k = \ln n_{kb}$,
//! $N_b$ of them) the leave-one-out log-likelihood of the product-kernel joint
//! density is
//! $$\mathcal L_b(\sigma, \zeta) = \sum_j \ln\left[\frac{1}{(2\pi)^{3/2}\sigma^2\zeta (N_b-1)}
//! \sum_{k\ne j} e^{-d(x_j, x_k)^2/2\sigma^2 - (u_j - u_k)^2/2\zeta^2}\right].$$
//! Three choices ([`LooBins`]):
//! - [`LooBins::Package`]: bin 0 only, as the package (which fixes $\sigma = 1.4$ deg,
//!   $\zeta = 0.15$) builds its pdf from bin 0;
//! - [`LooBins::PerBin`]: $\mathcal L_b$ maximised separately in each bin;
//! - [`LooBins::Joint`]: $\sum_b \mathcal L_b$ maximised with one shared $(\sigma, \zeta)$.
//!
//! The first two use [`darkprobe_kde::SkyProductKde::optimise_loo`]. The joint
//! objective is evaluated here in one pass over the pairs for all bins, with its
//! gradient
//! $\partial \ln p_j / \partial \ln\sigma = \langle d^2\rangle_j/\sigma^2 - 2$ and
//! $\partial \ln p_j / \partial \ln\zeta = \langle \Delta u^2\rangle_j/\zeta^2 - 1$ (averages
//! under the kernel weights of the pairs), and maximised by bounded L-BFGS in
//! $(\ln\sigma, \ln\zeta)$. Pairs farther apart than
//! [`darkprobe_kde::LOO_CUTOFF_SIGMAS`] $\sigma$ are skipped, as in the KDE crate (a
//! relative weight below $e^{-32}$).
//!
//! **Ties.** The counts are integers, so many voids share the same $\ln n$. As
//! $\zeta \to 0$ a void whose neighbours within a few $\sigma$ include one with the same
//! count gets $\ln p_{-j} \approx -\ln\zeta + \text{const} \to +\infty$, so once $\sigma$ is large
//! enough for every void to have such a twin, $\mathcal L$ is unbounded. The maxima
//! reported are therefore local ones: on the real voids they are interior for
//! bins 0, 1, 2, 4, 5 and for the joint fit, while in bin 3 the optimiser runs to
//! the lower end of the $\zeta$ range (with $\sigma \approx 3.4$ deg). The default range starts at
//! $\zeta = 0.05$, about the spacing of $\ln n$ for the counts of a void; check
//! [`LooFit::at_bound`].
//!
//! ```
//! use darkprobe_dwarfs::loo::{optimise_loo, LooBins, LooParams};
//! use darkprobe_dwarfs::VoidSample;
//! use rand::{Rng, SeedableRng};
//! let mut rng = rand::rngs::StdRng::seed_from_u64(3);
//! let n = 150;
//! let l: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..30.0)).collect();
//! let b: Vec<f64> = (0..n).map(|_| rng.random_range(30.0..50.0)).collect();
//! let c = (0..n).map(|_| vec![rng.random_range(20..40u64), rng.random_range(10..20u64)]).collect();
//! let voids = VoidSample::new(l, b, c).unwrap();
//! let fits = optimise_loo(&voids, &LooParams::new(LooBins::PerBin)).unwrap();
//! assert_eq!(fits.len(), 2);
//! assert!(fits.iter().all(|f| f.sigma_deg > 0.0 && f.zeta > 0.0));
//! ```

use crate::error::Result;
use crate::voids::VoidSample;
use darkprobe_core::optimize::{minimize, Bound, MinimizeOptions, Objective};
use darkprobe_core::sky::lb_to_unit;
use darkprobe_core::{par, Error};
use darkprobe_kde::{SkyProductKde, SpatialMetric, LOO_CUTOFF_SIGMAS};
use std::f64::consts::PI;

/// Which energy bins enter the leave-one-out optimisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LooBins {
    /// Bin 0 only (the package's pdf).
    Package,
    /// Each bin on its own.
    PerBin,
    /// All bins together, one shared $(\sigma, \zeta)$.
    Joint,
}

/// Which voids enter a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoidFilter {
    /// Voids with counts $> 0$ in all bins (the package's pdf set).
    PositiveInAllBins,
    /// Voids with counts $> 0$ in the bin at hand.
    PositiveInBin,
}

/// Settings of [`optimise_loo`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LooParams {
    /// Which bins.
    pub bins: LooBins,
    /// Which voids.
    pub filter: VoidFilter,
    /// Distance on the sky.
    pub metric: SpatialMetric,
    /// Search range of $\sigma$, degrees.
    pub sigma_range_deg: (f64, f64),
    /// Search range of $\zeta$.
    pub zeta_range: (f64, f64),
    /// Starting point $(\sigma, \zeta)$.
    pub start: (f64, f64),
}

impl LooParams {
    /// Defaults: voids positive in all bins, flat $(l, b)$ metric, $\sigma \in [0.2, 6]$
    /// deg, $\zeta \in [0.05, 2]$ (see "Ties" in the module docs), start at the
    /// package's $(1.4, 0.15)$.
    pub fn new(bins: LooBins) -> Self {
        Self {
            bins,
            filter: VoidFilter::PositiveInAllBins,
            metric: SpatialMetric::FlatLb,
            sigma_range_deg: (0.2, 6.0),
            zeta_range: (0.05, 2.0),
            start: (1.4, 0.15),
        }
    }
    /// Sets the void filter.
    #[must_use]
    pub fn with_filter(mut self, filter: VoidFilter) -> Self {
        self.filter = filter;
        self
    }
    /// Sets the metric.
    #[must_use]
    pub fn with_metric(mut self, metric: SpatialMetric) -> Self {
        self.metric = metric;
        self
    }
    /// Sets the search ranges.
    #[must_use]
    pub fn with_ranges(mut self, sigma_range_deg: (f64, f64), zeta_range: (f64, f64)) -> Self {
        self.sigma_range_deg = sigma_range_deg;
        self.zeta_range = zeta_range;
        self
    }
    /// Sets the starting point.
    #[must_use]
    pub fn with_start(mut self, sigma_deg: f64, zeta: f64) -> Self {
        self.start = (sigma_deg, zeta);
        self
    }

    fn check(&self) -> Result<()> {
        for (name, (lo, hi)) in [
            ("sigma_range_deg", self.sigma_range_deg),
            ("zeta_range", self.zeta_range),
        ] {
            if !(lo > 0.0 && hi > lo && hi.is_finite()) {
                return Err(Error::invalid_param(
                    name,
                    format!("[{lo}, {hi}]"),
                    "0 < lo < hi, finite",
                )
                .into());
            }
        }
        let (s, z) = self.start;
        if !(s >= self.sigma_range_deg.0
            && s <= self.sigma_range_deg.1
            && z >= self.zeta_range.0
            && z <= self.zeta_range.1)
        {
            return Err(Error::invalid_param(
                "LOO start (sigma, zeta)",
                format!("({s}, {z})"),
                "inside the search ranges",
            )
            .into());
        }
        Ok(())
    }
}

/// One optimised $(\sigma, \zeta)$.
#[derive(Debug, Clone, PartialEq)]
pub struct LooFit {
    /// The bins that entered.
    pub bins: Vec<usize>,
    /// Number of voids in each of those bins.
    pub n_voids: Vec<usize>,
    /// The best $\sigma$, degrees.
    pub sigma_deg: f64,
    /// The best $\zeta$.
    pub zeta: f64,
    /// The maximised leave-one-out log-likelihood (summed over the bins).
    pub loo_ln_likelihood: f64,
    /// Optimiser iterations.
    pub n_iter: usize,
    /// Whether $\sigma$ or $\zeta$ ended on a bound of its range.
    pub at_bound: bool,
}

fn voids_of_bin(voids: &VoidSample, filter: VoidFilter, bin: usize) -> Result<Vec<usize>> {
    match filter {
        VoidFilter::PositiveInAllBins => Ok(voids.positive_in_all_bins()),
        VoidFilter::PositiveInBin => voids.positive_in_bin(bin),
    }
}

fn kde_of_bin(
    voids: &VoidSample,
    idx: &[usize],
    bin: usize,
    p: &LooParams,
) -> Result<SkyProductKde> {
    Ok(SkyProductKde::new(
        idx.iter().map(|&v| voids.l_deg()[v]).collect(),
        idx.iter().map(|&v| voids.b_deg()[v]).collect(),
        idx.iter()
            .map(|&v| voids.counts(v).map_or(f64::NAN, |c| (c[bin] as f64).ln()))
            .collect(),
        p.start.0,
        p.start.1,
        p.metric,
    )?)
}

fn near_bound(x: f64, (lo, hi): (f64, f64)) -> bool {
    (x / lo).ln() < 1e-3 || (hi / x).ln() < 1e-3
}

/// Maximises the leave-one-out log-likelihood of one energy bin (the voids that
/// `params.filter` keeps in it); `params.bins` is ignored.
///
/// # Errors
/// Invalid ranges or start; `bin` out of range or with fewer than 2 voids; an
/// optimiser failure.
pub fn optimise_loo_bin(voids: &VoidSample, bin: usize, params: &LooParams) -> Result<LooFit> {
    params.check()?;
    let idx = voids_of_bin(voids, params.filter, bin)?;
    if idx.len() < 2 {
        return Err(Error::empty(
            format!("voids of energy bin {bin}"),
            "leave-one-out needs at least two",
        )
        .into());
    }
    let kde = kde_of_bin(voids, &idx, bin, params)?;
    let opt = kde.optimise_loo(params.sigma_range_deg, params.zeta_range)?;
    Ok(LooFit {
        bins: vec![bin],
        n_voids: vec![idx.len()],
        sigma_deg: opt.sigma_deg,
        zeta: opt.zeta,
        loo_ln_likelihood: opt.loo_ln_likelihood,
        n_iter: opt.n_iter,
        at_bound: near_bound(opt.sigma_deg, params.sigma_range_deg)
            || near_bound(opt.zeta, params.zeta_range),
    })
}

/// Maximises the leave-one-out log-likelihood over $(\sigma, \zeta)$ as chosen by
/// `params.bins`: one [`LooFit`] for [`LooBins::Package`] and [`LooBins::Joint`],
/// one per bin for [`LooBins::PerBin`].
///
/// # Errors
/// Invalid ranges or start; a bin with fewer than 2 voids; an optimiser failure.
pub fn optimise_loo(voids: &VoidSample, params: &LooParams) -> Result<Vec<LooFit>> {
    params.check()?;
    let single = |bin: usize| optimise_loo_bin(voids, bin, params);
    match params.bins {
        LooBins::Package => Ok(vec![single(0)?]),
        LooBins::PerBin => (0..voids.n_bins()).map(single).collect(),
        LooBins::Joint => {
            let bins: Vec<usize> = (0..voids.n_bins()).collect();
            let obj = MultiBinLoo::new(voids, &bins, params.filter, params.metric)?;
            obj.optimise(params)
        }
    }
}

/// The summed leave-one-out log-likelihood of several bins, evaluated in one
/// pass over the void pairs.
#[derive(Debug, Clone)]
pub struct MultiBinLoo {
    l: Vec<f64>,
    b: Vec<f64>,
    unit: Vec<[f64; 3]>,
    /// `[void][bin]`: ln counts, NaN where the void is not used in that bin.
    ln_y: Vec<Vec<f64>>,
    n_per_bin: Vec<usize>,
    bins: Vec<usize>,
    metric: SpatialMetric,
    order: Vec<usize>,
    lat_sorted: Vec<f64>,
}

impl MultiBinLoo {
    /// The objective for `bins` of `voids`, each bin with the voids `filter` keeps.
    ///
    /// # Errors
    /// No bin, a bin out of range, or a bin with fewer than 2 voids.
    pub fn new(
        voids: &VoidSample,
        bins: &[usize],
        filter: VoidFilter,
        metric: SpatialMetric,
    ) -> Result<Self> {
        if bins.is_empty() {
            return Err(Error::empty("LOO energy bins", "give at least one bin").into());
        }
        let n = voids.n_voids();
        let mut ln_y = vec![vec![f64::NAN; bins.len()]; n];
        let mut n_per_bin = Vec::with_capacity(bins.len());
        for (bi, &bin) in bins.iter().enumerate() {
            let idx = voids_of_bin(voids, filter, bin)?;
            if idx.len() < 2 {
                return Err(Error::empty(
                    format!("voids of energy bin {bin}"),
                    "leave-one-out needs at least two",
                )
                .into());
            }
            for &v in &idx {
                if let Some(c) = voids.counts(v) {
                    ln_y[v][bi] = (c[bin] as f64).ln();
                }
            }
            n_per_bin.push(idx.len());
        }
        // Voids used in no bin are dropped.
        let used: Vec<usize> = (0..n)
            .filter(|&v| ln_y[v].iter().any(|x| !x.is_nan()))
            .collect();
        let l: Vec<f64> = used.iter().map(|&v| voids.l_deg()[v]).collect();
        let b: Vec<f64> = used.iter().map(|&v| voids.b_deg()[v]).collect();
        let ln_y: Vec<Vec<f64>> = used.iter().map(|&v| ln_y[v].clone()).collect();
        let unit = l.iter().zip(&b).map(|(l, b)| lb_to_unit(*l, *b)).collect();
        let mut order: Vec<usize> = (0..l.len()).collect();
        order.sort_by(|x, y| b[*x].total_cmp(&b[*y]));
        let lat_sorted = order.iter().map(|&i| b[i]).collect();
        Ok(Self {
            l,
            b,
            unit,
            ln_y,
            n_per_bin,
            bins: bins.to_vec(),
            metric,
            order,
            lat_sorted,
        })
    }

    /// Squared distance in deg^2 between voids `j` and `k`, or `None` beyond `cut`.
    #[inline]
    fn dist2(&self, j: usize, k: usize, cut: f64, chord2_cut: f64) -> Option<f64> {
        match self.metric {
            SpatialMetric::FlatLb => {
                let dl = self.l[j] - self.l[k];
                let db = self.b[j] - self.b[k];
                let d2 = dl * dl + db * db;
                (d2 <= cut * cut).then_some(d2)
            }
            SpatialMetric::Angular => {
                let (u, v) = (self.unit[j], self.unit[k]);
                let c2 = (u[0] - v[0]).powi(2) + (u[1] - v[1]).powi(2) + (u[2] - v[2]).powi(2);
                if c2 > chord2_cut {
                    return None;
                }
                // Angle from the chord: 2 asin(c/2), accurate at small separations.
                let a = (2.0 * (0.5 * c2.sqrt()).min(1.0).asin()).to_degrees();
                Some(a * a)
            }
        }
    }

    /// $\sum_b \mathcal L_b(\sigma, \zeta)$ and its gradient with respect to
    /// $(\ln\sigma, \ln\zeta)$.
    ///
    /// # Errors
    /// $\sigma$ or $\zeta$ not finite and positive.
    pub fn value_and_gradient(&self, sigma_deg: f64, zeta: f64) -> Result<(f64, [f64; 2])> {
        darkprobe_core::error::check_positive("sigma_deg", sigma_deg)?;
        darkprobe_core::error::check_positive("zeta", zeta)?;
        let (s2, z2) = (sigma_deg * sigma_deg, zeta * zeta);
        let cut = LOO_CUTOFF_SIGMAS * sigma_deg;
        let chord_cut = if cut >= 180.0 {
            2.0
        } else {
            2.0 * (0.5 * cut.to_radians()).sin()
        };
        let chord2_cut = chord_cut * chord_cut * (1.0 + 1e-12);
        let base = -1.5 * (2.0 * PI).ln() - 2.0 * sigma_deg.ln() - zeta.ln();
        let ln_const: Vec<f64> = self
            .n_per_bin
            .iter()
            .map(|&n| base - ((n - 1) as f64).ln())
            .collect();
        let n = self.l.len();
        let per_void = par::map_indices_with(
            n,
            || (Vec::<(usize, f64)>::new(), Vec::<(f64, f64, f64)>::new()),
            |(nbrs, terms), jj| {
                let j = self.order[jj];
                nbrs.clear();
                let bj = self.b[j];
                let lo = self.lat_sorted.partition_point(|x| *x < bj - cut);
                let hi = self.lat_sorted.partition_point(|x| *x <= bj + cut);
                for &k in &self.order[lo..hi] {
                    if k != j {
                        if let Some(d2) = self.dist2(j, k, cut, chord2_cut) {
                            nbrs.push((k, d2));
                        }
                    }
                }
                let mut out = (0.0, 0.0, 0.0);
                for (bi, &lc) in ln_const.iter().enumerate() {
                    let uj = self.ln_y[j][bi];
                    if uj.is_nan() {
                        continue;
                    }
                    let mut acc =
                        |list: &mut dyn Iterator<Item = (usize, f64)>| -> Option<(f64, f64, f64)> {
                            terms.clear();
                            for (k, d2) in list {
                                let uk = self.ln_y[k][bi];
                                if uk.is_nan() {
                                    continue;
                                }
                                let du2 = (uj - uk) * (uj - uk);
                                terms.push((-0.5 * d2 / s2 - 0.5 * du2 / z2, d2, du2));
                            }
                            if terms.is_empty() {
                                return None;
                            }
                            let m = terms.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
                            let (mut s, mut sd, mut su) = (0.0, 0.0, 0.0);
                            for (t, d2, du2) in terms.iter() {
                                let r = (t - m).exp();
                                s += r;
                                sd += r * d2;
                                su += r * du2;
                            }
                            Some((m + s.ln() + lc, sd / s / s2 - 2.0, su / s / z2 - 1.0))
                        };
                    let r = acc(&mut nbrs.iter().copied()).or_else(|| {
                        // No neighbour within the cut-off: the full sum.
                        let mut all = (0..n).filter(|&k| k != j).map(|k| {
                            (
                                k,
                                self.dist2(j, k, f64::INFINITY, f64::INFINITY)
                                    .unwrap_or(f64::INFINITY),
                            )
                        });
                        acc(&mut all)
                    });
                    if let Some((lp, gs, gz)) = r {
                        out.0 += lp;
                        out.1 += gs;
                        out.2 += gz;
                    }
                }
                out
            },
        );
        let mut total = 0.0;
        let mut g = [0.0; 2];
        for (lp, gs, gz) in per_void {
            total += lp;
            g[0] += gs;
            g[1] += gz;
        }
        Ok((total, g))
    }

    /// Maximises the summed leave-one-out log-likelihood within `params`' ranges.
    ///
    /// # Errors
    /// Invalid ranges or start, or an optimiser failure.
    pub fn optimise(&self, params: &LooParams) -> Result<Vec<LooFit>> {
        params.check()?;
        struct Obj<'a>(&'a MultiBinLoo);
        impl Objective for Obj<'_> {
            fn value(&self, p: &[f64]) -> darkprobe_core::Result<f64> {
                Ok(-self.0.value_and_gradient(p[0].exp(), p[1].exp())?.0)
            }
            fn value_and_gradient(
                &self,
                p: &[f64],
                grad: &mut [f64],
            ) -> darkprobe_core::Result<f64> {
                let (v, g) = self.0.value_and_gradient(p[0].exp(), p[1].exp())?;
                grad[0] = -g[0];
                grad[1] = -g[1];
                Ok(-v)
            }
            fn has_gradient(&self) -> bool {
                true
            }
        }
        let bounds = [
            Bound::between(params.sigma_range_deg.0.ln(), params.sigma_range_deg.1.ln()),
            Bound::between(params.zeta_range.0.ln(), params.zeta_range.1.ln()),
        ];
        let res = minimize(
            &Obj(self),
            &[params.start.0.ln(), params.start.1.ln()],
            &bounds,
            &MinimizeOptions::default(),
        )?;
        let (s, z) = (res.x[0].exp(), res.x[1].exp());
        Ok(vec![LooFit {
            bins: self.bins.clone(),
            n_voids: self.n_per_bin.clone(),
            sigma_deg: s,
            zeta: z,
            loo_ln_likelihood: -res.f_x,
            n_iter: res.n_iter,
            at_bound: near_bound(s, params.sigma_range_deg) || near_bound(z, params.zeta_range),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    /// Voids whose ln counts follow a smooth function of position plus noise.
    fn smooth_voids(n: usize, n_bins: usize, noise: f64, seed: u64) -> VoidSample {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let nd = Normal::new(0.0, noise).unwrap();
        let l: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..40.0)).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.random_range(25.0..60.0)).collect();
        let c = (0..n)
            .map(|i| {
                (0..n_bins)
                    .map(|k| {
                        let mu = 3.5 - 0.3 * k as f64 + 0.5 * (l[i] / 8.0).sin() + 0.02 * b[i];
                        (mu + nd.sample(&mut rng)).exp().round().max(0.0) as u64
                    })
                    .collect()
            })
            .collect();
        VoidSample::new(l, b, c).unwrap()
    }

    #[test]
    fn joint_objective_equals_the_kde_crate_per_bin_sum() {
        let v = smooth_voids(250, 3, 0.2, 5);
        for metric in [SpatialMetric::FlatLb, SpatialMetric::Angular] {
            for filter in [VoidFilter::PositiveInAllBins, VoidFilter::PositiveInBin] {
                let p = LooParams::new(LooBins::Joint)
                    .with_filter(filter)
                    .with_metric(metric)
                    .with_start(1.7, 0.2);
                let obj = MultiBinLoo::new(&v, &[0, 1, 2], filter, metric).unwrap();
                let (val, _) = obj.value_and_gradient(1.7, 0.2).unwrap();
                let mut sum = 0.0;
                for bin in 0..3 {
                    let idx = voids_of_bin(&v, filter, bin).unwrap();
                    sum += kde_of_bin(&v, &idx, bin, &p)
                        .unwrap()
                        .loo_ln_likelihood()
                        .unwrap();
                    let one = MultiBinLoo::new(&v, &[bin], filter, metric).unwrap();
                    let k = kde_of_bin(&v, &idx, bin, &p)
                        .unwrap()
                        .loo_ln_likelihood()
                        .unwrap();
                    assert_relative_eq!(
                        one.value_and_gradient(1.7, 0.2).unwrap().0,
                        k,
                        max_relative = 1e-11
                    );
                }
                assert_relative_eq!(val, sum, max_relative = 1e-11);
            }
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let v = smooth_voids(200, 2, 0.3, 6);
        let obj = MultiBinLoo::new(
            &v,
            &[0, 1],
            VoidFilter::PositiveInBin,
            SpatialMetric::FlatLb,
        )
        .unwrap();
        let (s, z) = (2.0f64, 0.25f64);
        let (_, g) = obj.value_and_gradient(s, z).unwrap();
        let h = 1e-5;
        let f = |a: f64, c: f64| obj.value_and_gradient(a.exp(), c.exp()).unwrap().0;
        let gs = (f(s.ln() + h, z.ln()) - f(s.ln() - h, z.ln())) / (2.0 * h);
        let gz = (f(s.ln(), z.ln() + h) - f(s.ln(), z.ln() - h)) / (2.0 * h);
        assert_relative_eq!(g[0], gs, max_relative = 1e-5);
        assert_relative_eq!(g[1], gz, max_relative = 1e-5);
    }

    #[test]
    fn optimum_is_a_maximum_and_modes_agree_in_structure() {
        let v = smooth_voids(300, 2, 0.15, 7);
        let joint = optimise_loo(&v, &LooParams::new(LooBins::Joint)).unwrap();
        assert_eq!(joint.len(), 1);
        let j = &joint[0];
        assert_eq!(j.bins, vec![0, 1]);
        let obj = MultiBinLoo::new(
            &v,
            &[0, 1],
            VoidFilter::PositiveInAllBins,
            SpatialMetric::FlatLb,
        )
        .unwrap();
        let best = obj.value_and_gradient(j.sigma_deg, j.zeta).unwrap().0;
        assert_relative_eq!(best, j.loo_ln_likelihood, max_relative = 1e-10);
        // Brute-force grid around the optimum finds nothing better.
        for fs in [0.8, 0.9, 1.1, 1.25] {
            for fz in [0.8, 0.9, 1.1, 1.25] {
                let x = obj
                    .value_and_gradient(j.sigma_deg * fs, j.zeta * fz)
                    .unwrap()
                    .0;
                assert!(x <= best + 1e-6, "({fs}, {fz}): {x} > {best}");
            }
        }
        // The noise in ln counts is 0.15, and zeta cannot be far below it.
        assert!(j.zeta > 0.05 && j.zeta < 0.6, "{}", j.zeta);
        let per = optimise_loo(&v, &LooParams::new(LooBins::PerBin)).unwrap();
        let pkg = optimise_loo(&v, &LooParams::new(LooBins::Package)).unwrap();
        assert_eq!(per.len(), 2);
        assert_relative_eq!(per[0].sigma_deg, pkg[0].sigma_deg, max_relative = 1e-9);
        // The joint optimum cannot beat the sum of the separate optima.
        assert!(j.loo_ln_likelihood <= per[0].loo_ln_likelihood + per[1].loo_ln_likelihood + 1e-6);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let v = smooth_voids(20, 2, 0.2, 8);
        let bad = LooParams::new(LooBins::Joint).with_ranges((1.0, 0.5), (0.01, 1.0));
        assert!(optimise_loo(&v, &bad).is_err());
        let bad = LooParams::new(LooBins::Joint).with_start(10.0, 0.15);
        assert!(optimise_loo(&v, &bad)
            .unwrap_err()
            .to_string()
            .contains("start"));
        assert!(
            MultiBinLoo::new(&v, &[], VoidFilter::PositiveInBin, SpatialMetric::FlatLb).is_err()
        );
        assert!(
            MultiBinLoo::new(&v, &[5], VoidFilter::PositiveInBin, SpatialMetric::FlatLb).is_err()
        );
        let one = VoidSample::new(vec![1.0], vec![30.0], vec![vec![3]]).unwrap();
        assert!(optimise_loo(&one, &LooParams::new(LooBins::Package)).is_err());
    }
}
