//! Statistical validity of the subhalo search (issue #12, item 5), on mock
//! catalogs drawn from the generative model: two toy astrophysical classes
//! (the world of `tests/dm.rs`) and subhalos from the detection simulation of
//! the analytic $b\bar b$ spectrum at 100 GeV.
//!
//! - **EM recovery.** Mocks of 800 sources with known class fractions $\pi_k$, a known
//!   covariate shift (three sigmoids of ROI-scaled steepness 5-8 whose
//!   transitions lie where the classes have sources) and a known DM fraction (free weight of the DM
//!   component, i.e. its normalisation). Each mock is fitted by EM (started at the
//!   truth) and every parameter gets its profile-likelihood intervals at 68.27 %
//!   and 95 % ([`ShiftMixture::profile_intervals`]; one-sided when the profile
//!   stays below the threshold up to the parameter's bound, which also covers
//!   fits on a bound). Checks, per parameter: the 95 % interval contains the
//!   truth in at least 90 % of the mocks (the criterion) and within 3
//!   binomial sigma of 95 % (calibrated both ways); the 68 % interval in at
//!   least $0.683 - 3$ binomial sigma (not too small); and the check has power:
//!   the 95 % interval shrunk by half around the fit fails it. The
//!   observed-information pulls ([`ShiftMixture::parameter_errors`]) are
//!   reported for comparison: their $\pm1.96\hat\sigma$ interval covers the
//!   $\beta$ centre in only 0.86 of the mocks (heavy tails).
//! - **Limit coverage.** Mocks at $\langle\sigma v\rangle_\mathrm{true} = 0$
//!   and at the median expected limit, with the DM fraction
//!   $N_\mathrm{DM}(\langle\sigma v\rangle_\mathrm{true})/N$ known, analysed by
//!   [`dm_limit`] with the prior-shift model and the one-sided 95% threshold
//!   2.71. Coverage at the expected limit must be $0.95 \pm 3$ binomial sigma;
//!   at zero it is 1 by construction and the size of the detection test,
//!   $P(\Delta TS_0 > 2.71) \le 0.05 + 3\sigma$, is checked instead. The
//!   profile at the true value gives the coverage at any threshold: that the
//!   wrong threshold 1.0 (nominal 84%) fails the check is asserted, and the
//!   paper's 3.84 is reported.
//!
//! Mock $i$ draws from `rng_for_index(seed, i)` and mocks run in parallel,
//! so the fractions do not depend on the thread count. Measured values are in
//! `docs/hardening.md` ("Statistical validity").

mod common;

use common::{astro_model, binomial_sigma, dm_component, sigma_v_for};
use darkprobe_core::par::map_indices;
use darkprobe_core::rng::rng_for_index;
use darkprobe_subhalos::*;

/// One parameter of one mock in the EM recovery test.
#[derive(Debug, Clone, Copy)]
struct Recovery {
    /// The profile-likelihood 68.27 % and 95 % intervals contain the truth.
    in68: bool,
    in95: bool,
    /// The 95 % interval shrunk by half around the fitted value contains it.
    in95_half: bool,
    /// Either end of the 95 % interval is the parameter's bound.
    at_bound: bool,
    /// (fit - truth) / observed-information error (NaN without that error).
    pull: f64,
}

/// EM recovers the injected parameters within their profile-likelihood
/// intervals (see the module docs).
#[test]
#[ignore = "slow: run in CI"]
fn em_recovers_injected_parameters_within_their_errors() {
    let model = astro_model();
    let dm = dm_component(7);
    let n_sources = 800;
    let n_dm_expected = 80.0;
    let sv = sigma_v_for(&dm, n_dm_expected);
    let pi_dm = n_dm_expected / n_sources as f64;
    let shift = SigmoidShift::from_scaled(&[-8.0, 7.0, 5.0, 0.5, 0.7, 0.35], model.roi());
    let astro = MixtureParams {
        class_weights: vec![0.65, 0.35],
        extra_weights: vec![],
        shift: Some(shift),
    };
    let truth: Vec<(String, f64)> = vec![
        ("pi[extragalactic]".into(), 0.65 * (1.0 - pi_dm)),
        ("pi[galactic]".into(), 0.35 * (1.0 - pi_dm)),
        ("pi[DM]".into(), pi_dm),
        ("slope[log10 F]".into(), shift.slope[0]),
        ("slope[alpha]".into(), shift.slope[1]),
        ("slope[beta]".into(), shift.slope[2]),
        ("centre[log10 F]".into(), shift.centre[0]),
        ("centre[alpha]".into(), shift.centre[1]),
        ("centre[beta]".into(), shift.centre[2]),
    ];
    // EM starts at the truth (a single start): the test is about the errors
    // at the maximum near the truth; the default multi-start gives the same
    // fractions (measured once, docs/hardening.md) at 10 times the cost.
    let em = EmOptions {
        initial_shift: Some(shift),
        initial_class_weights: Some(vec![0.65, 0.35]),
        ..EmOptions::default()
    };
    let n_mocks = 200;
    let levels = [0.6827, 0.95];
    let out: Vec<Vec<Recovery>> = map_indices(n_mocks, |i| {
        let mut rng = rng_for_index(501, i as u64);
        let mock = sample_with_dm(&model, &astro, &dm, sv, n_sources, &mut rng).unwrap();
        let data = model.prepare(mock.points.view()).unwrap();
        let mut extra = dm.extra_component(sv, &data).unwrap();
        extra.name = "DM".into();
        extra.weight = ExtraWeight::Free { initial: 0.05 };
        let extras = [extra];
        let fit = model
            .fit(&data, ShiftKind::PriorAndCovariate, &extras, &em)
            .unwrap();
        // The observed-information errors fail for a fit on a bound; the
        // profile intervals are defined there (one-sided).
        let err = model.parameter_errors(&data, &extras, &fit).ok();
        truth
            .iter()
            .map(|(name, t)| {
                let ci = model
                    .profile_intervals(&data, &extras, &fit, name, &levels)
                    .unwrap();
                let (v, c95) = (ci[1].value, &ci[1]);
                let half = (v - 0.5 * (v - c95.lower), v + 0.5 * (c95.upper - v));
                Recovery {
                    in68: ci[0].contains(*t),
                    in95: c95.contains(*t),
                    in95_half: half.0 <= *t && *t <= half.1,
                    at_bound: c95.lower_at_bound || c95.upper_at_bound,
                    pull: err
                        .as_ref()
                        .and_then(|e| e.get(name))
                        .map_or(f64::NAN, |(v, s)| (v - t) / s),
                }
            })
            .collect()
    });
    let n_failed = out.iter().filter(|r| r[0].pull.is_nan()).count();
    eprintln!(
        "EM recovery: {n_mocks} mocks of {n_sources} sources; {n_failed} fits without \
         observed-information errors (a parameter on its bound)"
    );
    let s68 = binomial_sigma(0.6827, n_mocks);
    let s95 = binomial_sigma(0.95, n_mocks);
    for (j, (name, _)) in truth.iter().enumerate() {
        let r: Vec<Recovery> = out.iter().map(|v| v[j]).collect();
        let frac = |f: &dyn Fn(&Recovery) -> bool| {
            r.iter().filter(|x| f(x)).count() as f64 / n_mocks as f64
        };
        let in68 = frac(&|x| x.in68);
        let in95 = frac(&|x| x.in95);
        let half = frac(&|x| x.in95_half);
        let n_bound = r.iter().filter(|x| x.at_bound).count();
        let p: Vec<f64> = r.iter().map(|x| x.pull).filter(|x| x.is_finite()).collect();
        let nf = p.len() as f64;
        let mean = p.iter().sum::<f64>() / nf;
        let sd = (p.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0)).sqrt();
        let in2 = p.iter().filter(|x| x.abs() <= 1.96).count() as f64 / n_mocks as f64;
        eprintln!(
            "{name:>18}: profile 68% {in68:.3}, 95% {in95:.3} (halved {half:.3}, \
             {n_bound} at a bound); Hessian +-1.96 sigma {in2:.3}, pull mean {mean:+.3} sd {sd:.3}"
        );
        // The criterion, and calibration at 95 % both ways.
        assert!(in95 >= 0.90, "{name}: 95% interval covers {in95}");
        assert!(
            (in95 - 0.95).abs() <= 3.0 * s95,
            "{name}: 95% coverage {in95}"
        );
        // Not too small at 68 %.
        assert!(
            in68 >= 0.6827 - 3.0 * s68,
            "{name}: 68% interval covers {in68}"
        );
        // The check has power: intervals half as wide fail it.
        assert!(
            half < 0.95 - 3.0 * s95,
            "{name}: halved 95% interval covers {half}"
        );
    }
}

/// One mock's search outcome.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    ul: f64,
    best: f64,
    ts0: f64,
    /// $2[\ln L_p(\hat\sigma) - \ln L_p(\sigma_\mathrm{true})]$.
    q_true: f64,
    at_edge: bool,
}

/// The world of the limit-coverage tests.
struct Setup {
    model: ShiftMixture,
    dm: DmComponent,
    astro: MixtureParams,
    opts: DmSearchOptions,
}

fn search_mocks(
    setup: &Setup,
    sv_true: f64,
    n_sources: usize,
    n_mocks: usize,
    seed: u64,
) -> Vec<Outcome> {
    let Setup {
        model,
        dm,
        astro,
        opts,
    } = setup;
    map_indices(n_mocks, |i| {
        let mut rng = rng_for_index(seed, i as u64);
        let mock = sample_with_dm(model, astro, dm, sv_true, n_sources, &mut rng).unwrap();
        let data = model.prepare(mock.points.view()).unwrap();
        let lim = dm_limit(model, &data, dm, opts).unwrap();
        let l_hat = if lim.sigma_v_best > 0.0 {
            lim.best_fit.report.ln_l
        } else {
            lim.null_fit.report.ln_l
        };
        let q_true = if sv_true > 0.0 {
            let em = EmOptions {
                initial_class_weights: Some(lim.null_fit.params.class_weights.clone()),
                ..opts.em.clone()
            };
            let extra = dm.extra_component(sv_true, &data).unwrap();
            let fit = model.fit(&data, opts.kind, &[extra], &em).unwrap();
            (2.0 * (l_hat - fit.report.ln_l)).max(0.0)
        } else {
            0.0
        };
        Outcome {
            ul: lim.sigma_v_ul,
            best: lim.sigma_v_best,
            ts0: lim.delta_ts0,
            q_true,
            at_edge: lim.ul_at_scan_edge,
        }
    })
}

fn coverage_setup() -> Setup {
    let astro = MixtureParams {
        class_weights: vec![0.7, 0.3],
        extra_weights: vec![],
        shift: None,
    };
    let opts = DmSearchOptions {
        kind: ShiftKind::Prior,
        n_scan: 6,
        ts_limit: 2.71,
        ..DmSearchOptions::default()
    };
    Setup {
        model: astro_model(),
        dm: dm_component(7),
        astro,
        opts,
    }
}

/// Coverage at threshold `c` from the profile at the true value.
fn cover_at(out: &[Outcome], sv: f64, c: f64) -> f64 {
    out.iter().filter(|o| sv <= o.best || o.q_true <= c).count() as f64 / out.len() as f64
}

/// The limit and the profile at the truth agree, mock by mock, except where
/// q is within the tolerance of the limit's root (1e-3 in Delta TS and 1e-4
/// in log10 <sigma v>).
fn disagreements(out: &[Outcome], sv: f64, c: f64) -> usize {
    out.iter()
        .filter(|o| (sv <= o.ul) != (sv <= o.best || o.q_true <= c))
        .filter(|o| (o.q_true - c).abs() > 0.02)
        .count()
}

/// Coverage of the 95% upper limit on mock catalogs where the true DM
/// signal is 12 expected subhalos among 200 sources (see the module docs).
#[test]
#[ignore = "slow: run in CI"]
fn dm_limits_cover_at_95_percent() {
    let setup = coverage_setup();
    let dm = &setup.dm;
    let (n_sources, n) = (200, 200);
    let sv = sigma_v_for(dm, 12.0);
    let out = search_mocks(&setup, sv, n_sources, n, 602);
    assert!(out.iter().all(|o| !o.at_edge));
    let covered = out.iter().filter(|o| sv <= o.ul).count() as f64 / n as f64;
    let disagree = disagreements(&out, sv, 2.71);
    let (c1, c384) = (cover_at(&out, sv, 1.0), cover_at(&out, sv, 3.84));
    let s95 = binomial_sigma(0.95, n);
    eprintln!(
        "subhalos: N = {n}, N_DM = 12: coverage {covered:.4} (c = 2.71, target 0.95 +- {:.4}), \
         {c384:.4} (c = 3.84), {c1:.4} (c = 1.0); {disagree} limit/profile disagreements",
        3.0 * s95
    );
    assert_eq!(disagree, 0);
    assert!((covered - 0.95).abs() < 3.0 * s95, "coverage {covered}");
    assert!((c1 - 0.95).abs() >= 3.0 * s95, "c = 1 not detected: {c1}");
    assert!(c384 >= covered);
}

/// Without DM the size of the detection test; at the median expected limit
/// (about 1.6 subhalos in the ROI: the low-count regime) the coverage of
/// the paper's threshold 3.84 is at least 95%, while Wilks' 2.71 undercovers
/// (measured and reported; see docs/hardening.md).
#[test]
#[ignore = "slow: run in CI"]
fn dm_limits_at_the_expected_limit_and_without_signal() {
    let setup = coverage_setup();
    let dm = &setup.dm;
    let (n_sources, n) = (200, 150);
    let null = search_mocks(&setup, 0.0, n_sources, n, 601);
    assert!(null.iter().all(|o| o.ul > 0.0 && !o.at_edge));
    let size = null.iter().filter(|o| o.ts0 > 2.71).count() as f64 / n as f64;
    let mut uls: Vec<f64> = null.iter().map(|o| o.ul).collect();
    uls.sort_by(f64::total_cmp);
    let median = 0.5 * (uls[(n - 1) / 2] + uls[n / 2]);
    eprintln!(
        "subhalos: N = {n}, P(TS0 > 2.71 | no DM) = {size:.4}, median UL = {median:.4e} \
         (N_DM = {:.2})",
        dm.n_roi(median)
    );
    assert!(size <= 0.05 + 3.0 * binomial_sigma(0.05, n), "size {size}");
    let sv = median;
    let out = search_mocks(&setup, sv, n_sources, n, 603);
    let covered = out.iter().filter(|o| sv <= o.ul).count() as f64 / n as f64;
    let c384 = cover_at(&out, sv, 3.84);
    eprintln!(
        "subhalos: at the median expected limit: coverage {covered:.4} (c = 2.71), \
         {c384:.4} (c = 3.84); {} limit/profile disagreements",
        disagreements(&out, sv, 2.71)
    );
    assert_eq!(disagreements(&out, sv, 2.71), 0);
    assert!(c384 >= 0.95 - 3.0 * binomial_sigma(0.95, n), "{c384}");
}
