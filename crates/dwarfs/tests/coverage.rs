//! Statistical validity of the dwarf limits (issue #12, item 5): the
//! frequentist coverage of the upper limits on $\langle\sigma v\rangle$ in
//! cases J and JB, measured on pseudo-experiments drawn from the model itself.
//!
//! **Configuration.** Four mock dwarfs in a synthetic high-latitude sky, the
//! package's six energy bins, one mass (100 GeV) and a flat photon spectrum
//! ($1/m$ photons per GeV below the mass), exposures of $3\times10^{11}$
//! cm² s, J priors Gaussian in $\log_{10}J$ with widths 0.15 to 0.3 dex. For
//! case JB the background pdf is the void KDE (the package's
//! $\sigma = 1.4$ deg, $\zeta = 0.15$) of 1200 synthetic voids whose counts
//! follow a smooth spatial pattern with log-normal scatter.
//!
//! **Pseudo-experiments.** The priors are held as "observed"; every
//! pseudo-experiment draws the true nuisances from them: $\log_{10}J_i$ from
//! its Gaussian and, in case JB, $B_i$ from the void-KDE conditional pdf
//! $p(B\mid x_i)$ (pick a void with probability $\propto w_k(x_i)$, add
//! $\zeta\,\mathcal N(0, 1)$ to its $\ln y_k$). The background of bin $b$ is
//! $\hat B_{ib}$ in case J (the case assumes it known) and $e^{B_i r_{ib}}$ in
//! case JB. Counts are Poisson. Coverage is thus averaged over the priors
//! (the prior-predictive ensemble). Trial $i$ draws from
//! `rng_for_index(seed, i)` and trials run in parallel, so the fractions do
//! not depend on the thread count.
//!
//! **What is checked.** With the one-sided threshold $c = 2.71$ (a 95% upper
//! limit, $\widehat{\langle\sigma v\rangle}$ constrained to be $\ge 0$):
//! - at an injected $\langle\sigma v\rangle$ equal to the median expected
//!   limit, the fraction of trials with $\langle\sigma v\rangle_\mathrm{true}
//!   \le \mathrm{UL}$ is 0.95 within $3\sqrt{0.95\cdot0.05/N}$ (two-sided
//!   check: the true value is far enough from the boundary that Wilks' theorem
//!   applies, Cowan et al. 2011, $\tilde q_\mu$);
//! - at $\langle\sigma v\rangle_\mathrm{true} = 0$ coverage is 1 by
//!   construction (the limit is $> 0$); the meaningful check there is the size
//!   of the detection test, $P(\mathrm{TS} > 2.71) \le 0.05 + 3\sigma$ (the
//!   asymptotic value is $\frac12 P(\chi^2_1 > 2.71) = 0.05$; Poisson
//!   discreteness and the $J$ priors can only make it smaller or leave it);
//! - sensitivity: from the profile at the true value,
//!   $q = -2\ln[L_p(\langle\sigma v\rangle_\mathrm{true})/L_p(\widehat{\langle\sigma v\rangle})]$,
//!   the coverage at any threshold is $P(\langle\sigma v\rangle_\mathrm{true}
//!   \le \widehat{\langle\sigma v\rangle}\ \text{or}\ q \le c)$. That event is
//!   checked against the limit itself trial by trial, and a wrong threshold
//!   $c = 1$ (nominal 84%) is shown to fail the 95% check; the package's
//!   $c = 3.84$ is reported (nominal 97.5% one-sided).
//!
//! Measured values are in `docs/hardening.md` ("Statistical validity").

use std::sync::Arc;

use darkprobe_core::par::map_indices;
use darkprobe_core::rng::rng_for_index;
use darkprobe_core::stats::{ts_threshold, Sidedness};
use darkprobe_dwarfs::analysis::{AnalysisOptions, Case, DwarfAnalysis, DwarfInput};
use darkprobe_dwarfs::{BackgroundModel, BackgroundParams, DwarfBackground, VoidSample};
use darkprobe_limits::likelihood::LnDensity1d;
use darkprobe_limits::spectrum::FnSpectrum;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};

const MASS_GEV: f64 = 100.0;
const EXPOSURE_CM2_S: f64 = 3e11;
/// Background shape per bin (counts at unit spatial amplitude).
const SHAPE: [f64; 6] = [60.0, 45.0, 38.0, 30.0, 40.0, 20.0];
/// Dwarf positions (l, b) in degrees, J means and widths (dex).
const DWARFS: [(f64, f64, f64, f64); 4] = [
    (20.0, 40.0, 18.2, 0.15),
    (30.0, 46.0, 18.6, 0.2),
    (40.0, 38.0, 18.9, 0.3),
    (25.0, 52.0, 18.4, 0.2),
];

fn flat(mass_gev: f64, _energy_gev: f64) -> f64 {
    1.0 / mass_gev
}

fn spectrum() -> FnSpectrum<fn(f64, f64) -> f64> {
    FnSpectrum::new("flat", (1.0, 1e4), flat as fn(f64, f64) -> f64).unwrap()
}

/// Smooth spatial amplitude of the background.
fn amplitude(l: f64, b: f64) -> f64 {
    (0.25 * (l / 9.0).sin() + 0.2 * (b / 7.0).cos()).exp()
}

/// 1200 voids over l in [0, 60], b in [28, 62] with Poisson counts around the
/// smooth pattern times a log-normal scatter of 0.15.
fn synthetic_voids() -> VoidSample {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let n = 1200;
    let (mut ls, mut bs, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let l = rng.random_range(0.0..60.0);
        let b = rng.random_range(28.0..62.0);
        let z: f64 = rng.sample(StandardNormal);
        let a = amplitude(l, b) * (0.15 * z).exp();
        let c: Vec<u64> = SHAPE
            .iter()
            .map(|s| Poisson::new(a * s).unwrap().sample(&mut rng) as u64)
            .collect();
        ls.push(l);
        bs.push(b);
        counts.push(c);
    }
    VoidSample::new(ls, bs, counts).unwrap()
}

/// The void-KDE conditional pdf at one position as an explicit mixture, for
/// drawing true backgrounds: components $\mathcal N(\ln y_k, \zeta)$ with
/// weights $w_k(x)$.
struct VoidMixture {
    ln_y: Vec<f64>,
    cumulative: Vec<f64>,
    zeta: f64,
}

impl VoidMixture {
    fn new(model: &BackgroundModel, voids: &VoidSample, l: f64, b: f64) -> Self {
        let idx = voids.positive_in_all_bins();
        let bin = model.params().pdf_bin;
        let ln_y: Vec<f64> = idx
            .iter()
            .map(|&v| (voids.counts(v).unwrap()[bin] as f64).ln())
            .collect();
        let ln_w = model.pdf_kde().ln_spatial_weights(l, b);
        assert_eq!(ln_w.len(), ln_y.len());
        let m = ln_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut acc = 0.0;
        let cumulative = ln_w
            .iter()
            .map(|w| {
                acc += (w - m).exp();
                acc
            })
            .collect();
        Self {
            ln_y,
            cumulative,
            zeta: model.params().zeta,
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let total = *self.cumulative.last().unwrap();
        let u = rng.random::<f64>() * total;
        let k = self
            .cumulative
            .partition_point(|&c| c < u)
            .min(self.ln_y.len() - 1);
        let z: f64 = rng.sample(StandardNormal);
        self.ln_y[k] + self.zeta * z
    }
}

/// Everything fixed across the pseudo-experiments of one case.
struct World {
    case: Case,
    /// Nominal inputs (counts are replaced per trial).
    inputs: Vec<DwarfInput>,
    /// Per dwarf, per bin: $k_{ib}$ (counts per cm³ s⁻¹ per GeV² cm⁻⁵).
    k: Vec<Vec<f64>>,
    /// Case JB: the background backgrounds at the dwarfs and their samplers.
    backgrounds: Vec<(DwarfBackground, VoidMixture)>,
}

fn options(case: Case, threshold: f64) -> AnalysisOptions {
    AnalysisOptions {
        case,
        ts_threshold: threshold,
        ..AnalysisOptions::default()
    }
}

fn world(case: Case) -> World {
    let (mut inputs, mut backgrounds) = (Vec::new(), Vec::new());
    let jb = if case == Case::JB {
        let voids = synthetic_voids();
        let model = BackgroundModel::new(&voids, &BackgroundParams::package()).unwrap();
        Some((voids, model))
    } else {
        None
    };
    for (i, &(l, b, lj, sj)) in DWARFS.iter().enumerate() {
        let (ln_b_hat, prior) = match &jb {
            Some((voids, model)) => {
                let at = model.at(l, b).unwrap();
                let prior: Arc<dyn LnDensity1d> = Arc::new(at.conditional().clone());
                let hat = at.ln_b_hat.clone();
                backgrounds.push((at, VoidMixture::new(model, voids, l, b)));
                (hat, Some(prior))
            }
            None => (
                SHAPE.iter().map(|s| (s * amplitude(l, b)).ln()).collect(),
                None,
            ),
        };
        inputs.push(DwarfInput {
            name: format!("Mock{i}"),
            counts: ln_b_hat.iter().map(|x| x.exp().round() as u64).collect(),
            exposure_cm2_s: vec![EXPOSURE_CM2_S; 6],
            ln_b_hat,
            log10_j: lj,
            log10_j_sigma: sj,
            log10_j_samples: None,
            background_prior: prior,
        });
    }
    let analysis = DwarfAnalysis::new(inputs.clone(), options(case, 2.71)).unwrap();
    let k = analysis.signal_coefficients(&spectrum(), MASS_GEV).unwrap();
    World {
        case,
        inputs,
        k,
        backgrounds,
    }
}

/// One trial's outcome.
#[derive(Debug, Clone, Copy)]
struct Trial {
    ul: f64,
    best: f64,
    ts: f64,
    /// $q$ at the true cross-section.
    q_true: f64,
}

fn run_trials(w: &World, sigma_v_true: f64, threshold: f64, n: usize, seed: u64) -> Vec<Trial> {
    let spec = spectrum();
    map_indices(n, |t| {
        let mut rng = rng_for_index(seed, t as u64);
        let inputs: Vec<DwarfInput> = w
            .inputs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let lj = Normal::new(d.log10_j, d.log10_j_sigma)
                    .unwrap()
                    .sample(&mut rng);
                let bkg: Vec<f64> = match w.case {
                    Case::J => d.ln_b_hat.iter().map(|x| x.exp()).collect(),
                    Case::JB => {
                        let (at, mix) = &w.backgrounds[i];
                        at.ln_background_jb(mix.sample(&mut rng))
                            .iter()
                            .map(|x| x.exp())
                            .collect()
                    }
                };
                let counts = (0..6)
                    .map(|b| {
                        let mu = sigma_v_true * 10f64.powf(lj) * w.k[i][b] + bkg[b];
                        Poisson::new(mu).unwrap().sample(&mut rng) as u64
                    })
                    .collect();
                DwarfInput {
                    counts,
                    ..d.clone()
                }
            })
            .collect();
        let analysis = DwarfAnalysis::new(inputs, options(w.case, threshold)).unwrap();
        let lik = analysis.likelihood_at(&spec, MASS_GEV).unwrap();
        let ul = lik
            .upper_limit(&analysis.options().limit_options().unwrap())
            .unwrap();
        let q_true = if sigma_v_true > 0.0 {
            lik.profile(sigma_v_true).unwrap().neg2_ln_l - ul.best_fit.neg2_ln_l
        } else {
            0.0
        };
        Trial {
            ul: ul.sigma_v_ul_cm3_s,
            best: ul.best_fit.sigma_v_cm3_s,
            ts: ul.best_fit.ts_detection,
            q_true,
        }
    })
}

fn binomial_sigma(p: f64, n: usize) -> f64 {
    (p * (1.0 - p) / n as f64).sqrt()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    0.5 * (v[(n - 1) / 2] + v[n / 2])
}

/// Coverage at threshold `c` from the profile at the true value.
fn coverage_from_q(trials: &[Trial], sigma_v_true: f64, c: f64) -> f64 {
    let hit = trials
        .iter()
        .filter(|t| sigma_v_true <= t.best || t.q_true <= c)
        .count();
    hit as f64 / trials.len() as f64
}

fn check_case(case: Case, n: usize, seed: u64) {
    let c95 = ts_threshold(0.95, Sidedness::OneSided).unwrap();
    let w = world(case);
    let label = case.label();

    // Background only: coverage is trivially 1; the size of the detection test.
    let null = run_trials(&w, 0.0, c95, n, seed);
    assert!(null.iter().all(|t| t.ul > 0.0 && t.ul.is_finite()));
    let size = null.iter().filter(|t| t.ts > c95).count() as f64 / n as f64;
    let s_size = binomial_sigma(0.05, n);
    let expected = median(null.iter().map(|t| t.ul).collect());
    eprintln!(
        "case {label}: N = {n}, P(TS > 2.71 | no signal) = {size:.4}, median UL = {expected:.4e}"
    );
    assert!(size <= 0.05 + 3.0 * s_size, "case {label}: size {size}");

    // Signal at the median expected limit.
    let sv = expected;
    let trials = run_trials(&w, sv, c95, n, seed + 1);
    let covered = trials.iter().filter(|t| sv <= t.ul).count() as f64 / n as f64;
    // The limit and the profile at the truth tell the same story, trial by trial
    // (up to the root tolerance of the limit).
    let disagree = trials
        .iter()
        .filter(|t| (sv <= t.ul) != (sv <= t.best || t.q_true <= c95))
        .filter(|t| (t.q_true - c95).abs() > 1e-3 && (t.ul / sv - 1.0).abs() > 1e-6)
        .count();
    assert_eq!(disagree, 0, "case {label}: limit and profile disagree");
    let cov_1 = coverage_from_q(&trials, sv, 1.0);
    let cov_384 = coverage_from_q(&trials, sv, 3.84);
    let s95 = binomial_sigma(0.95, n);
    eprintln!(
        "case {label}: injected {sv:.4e}: coverage {covered:.4} (c = 2.71, target 0.95 +- {:.4}), \
         {cov_384:.4} (c = 3.84), {cov_1:.4} (c = 1.0)",
        3.0 * s95
    );
    assert!(
        (covered - 0.95).abs() < 3.0 * s95,
        "case {label}: coverage {covered} at c = 2.71"
    );
    // A wrong threshold (nominal 84%) is caught by the same check.
    assert!(
        (cov_1 - 0.95).abs() >= 3.0 * s95,
        "case {label}: c = 1 not detected ({cov_1})"
    );
    // The package's 3.84 is conservative for an upper limit.
    assert!(cov_384 >= covered);
    assert!(
        cov_384 >= 0.975 - 3.0 * binomial_sigma(0.975, n),
        "case {label}: {cov_384}"
    );
}

#[test]
fn void_mixture_sampler_matches_the_library_pdf() {
    let voids = synthetic_voids();
    let model = BackgroundModel::new(&voids, &BackgroundParams::package()).unwrap();
    let (l, b) = (DWARFS[1].0, DWARFS[1].1);
    let at = model.at(l, b).unwrap();
    let mix = VoidMixture::new(&model, &voids, l, b);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let n = 20_000;
    let x: Vec<f64> = (0..n).map(|_| mix.sample(&mut rng)).collect();
    let mean = x.iter().sum::<f64>() / n as f64;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // Mean against the library's mixture mean.
    assert!(
        (mean - at.conditional().mean()).abs() < 4.0 * sd / (n as f64).sqrt(),
        "{mean} vs {}",
        at.conditional().mean()
    );
    // Histogram against the library's density on a few cells.
    for (lo, hi) in [
        (mean - sd, mean),
        (mean, mean + sd),
        (mean + sd, mean + 2.0 * sd),
    ] {
        let frac = x.iter().filter(|v| **v >= lo && **v < hi).count() as f64 / n as f64;
        let steps = 400;
        let h = (hi - lo) / steps as f64;
        let p: f64 = (0..steps)
            .map(|i| at.ln_conditional_pdf(lo + (i as f64 + 0.5) * h).exp() * h)
            .sum();
        assert!(
            (frac - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(),
            "[{lo}, {hi}]: {frac} vs {p}"
        );
    }
}

/// Case J: coverage of the 95% upper limit (see the module docs).
#[test]
#[ignore = "slow: run in CI"]
fn case_j_limits_cover_at_95_percent() {
    check_case(Case::J, 500, 11);
}

/// Case JB: coverage of the 95% upper limit (see the module docs).
#[test]
#[ignore = "slow: run in CI"]
fn case_jb_limits_cover_at_95_percent() {
    check_case(Case::JB, 500, 21);
}
