//! Frequentist coverage of the stacked upper limit with the library's own
//! pseudo-experiments (issue #12, item 5): fixed true nuisances and
//! fluctuated auxiliary measurements ([`AuxiliaryFluctuation::Fluctuate`]:
//! each trial redraws the mean of every Gaussian $\log_{10}J$ prior around the
//! true value). This is the textbook ensemble; the dwarf tests
//! (`crates/dwarfs/tests/coverage.rs`) use the prior-averaged one.
//!
//! Four targets with six bins, fixed backgrounds of 12-78 counts per bin,
//! signal coefficients of order $10^6$ counts per (cm³ s⁻¹ GeV² cm⁻⁵), and
//! Gaussian $\log_{10}J$ priors. The injected cross-section is the Asimov
//! median expected limit (Cowan et al. 2011). The limit uses the one-sided
//! threshold 2.71; the profile at the truth gives the coverage at 3.84 and at
//! the wrong threshold 1.0 as well (see each test). Trial $i$ uses
//! `rng_for_index(seed, i)`; $N = 2000$ trials take under a second.

use darkprobe_core::par::map_indices;
use darkprobe_core::rng::rng_for_index;
use darkprobe_limits::likelihood::{
    AuxiliaryFluctuation, BackgroundModel, GaussianLogJ, JFactorModel, JNormalisation,
    LimitOptions, ProfileOptions, StackedLikelihood, Target, TargetNuisances, TruthNuisances,
};

fn stack(j_widths_dex: [f64; 4]) -> (StackedLikelihood, Vec<TargetNuisances>) {
    let shape = [60.0, 45.0, 38.0, 30.0, 40.0, 20.0];
    let k = [0.6e6, 1.0e6, 1.3e6, 1.4e6, 1.2e6, 0.8e6];
    let setup = [
        (1.0, 18.3, j_widths_dex[0]),
        (0.7, 18.6, j_widths_dex[1]),
        (1.3, 18.9, j_widths_dex[2]),
        (0.8, 18.4, j_widths_dex[3]),
    ];
    let mut targets = Vec::new();
    let mut truth = Vec::new();
    for (i, &(a, lj, sj)) in setup.iter().enumerate() {
        let b: Vec<f64> = shape.iter().map(|s| a * s).collect();
        let j = GaussianLogJ::new(lj, sj, JNormalisation::MlFermiLatDwarfs).unwrap();
        targets.push(
            Target::new(
                format!("t{i}"),
                b.clone(),
                k.to_vec(),
                JFactorModel::Gaussian(j),
                BackgroundModel::Fixed(b),
            )
            .unwrap(),
        );
        truth.push(TargetNuisances {
            log10_j: Some(lj),
            ln_b: None,
        });
    }
    (
        StackedLikelihood::new(targets, ProfileOptions::default()).unwrap(),
        truth,
    )
}

/// Coverage of one configuration at thresholds 2.71 (the limit itself),
/// 3.84 and 1.0 (from the profile at the truth).
#[derive(Debug)]
struct Coverage {
    at_271: f64,
    at_384: f64,
    at_1: f64,
}

fn coverage(j_widths_dex: [f64; 4], n: usize, seed: u64) -> Coverage {
    let (s, truth) = stack(j_widths_dex);
    let limit = LimitOptions::fermi_lat_2015();
    let c95 = limit.threshold().unwrap();
    assert!((c95 - 2.7055).abs() < 1e-3);
    let sv = s
        .asimov_expected_limit(&limit, &TruthNuisances::Given(truth.clone()))
        .unwrap()
        .sigma_v_ul_cm3_s;
    // (covered by the limit, best fit, q at the truth)
    let trials: Vec<(bool, f64, f64)> = map_indices(n, |i| {
        let mut rng = rng_for_index(seed, i as u64);
        let pe = s
            .pseudo_experiment(sv, &truth, AuxiliaryFluctuation::Fluctuate, &mut rng)
            .unwrap();
        let ul = pe.upper_limit(&limit).unwrap();
        let q = pe.profile(sv).unwrap().neg2_ln_l - ul.best_fit.neg2_ln_l;
        (sv <= ul.sigma_v_ul_cm3_s, ul.best_fit.sigma_v_cm3_s, q)
    });
    let at = |c: f64| trials.iter().filter(|t| sv <= t.1 || t.2 <= c).count() as f64 / n as f64;
    // The limit and the profile at the truth agree trial by trial.
    let disagree = trials
        .iter()
        .filter(|t| t.0 != (sv <= t.1 || t.2 <= c95) && (t.2 - c95).abs() > 1e-3)
        .count();
    assert_eq!(disagree, 0);
    let cov = Coverage {
        at_271: trials.iter().filter(|t| t.0).count() as f64 / n as f64,
        at_384: at(3.84),
        at_1: at(1.0),
    };
    eprintln!("limits: J widths {j_widths_dex:?}, N = {n}, injected {sv:.4e}: {cov:?}");
    cov
}

fn sigma(p: f64, n: usize) -> f64 {
    (p * (1.0 - p) / n as f64).sqrt()
}

/// With J-factors known to 0.01 dex the coverage is nominal at every
/// threshold, and the wrong threshold 1.0 is caught.
#[test]
fn coverage_is_nominal_without_j_uncertainty() {
    let n = 2000;
    let c = coverage([0.01; 4], n, 78);
    assert!((c.at_271 - 0.95).abs() < 3.0 * sigma(0.95, n), "{c:?}");
    assert!((c.at_384 - 0.975).abs() < 3.0 * sigma(0.975, n), "{c:?}");
    assert!((c.at_1 - 0.95).abs() >= 3.0 * sigma(0.95, n), "{c:?}");
    assert!((c.at_1 - 0.8413).abs() < 3.0 * sigma(0.8413, n), "{c:?}");
}

/// With J priors of 0.15-0.3 dex, fixed true J-factors and fluctuated J
/// measurements, the profile-likelihood limit at 2.71 undercovers (measured
/// 0.925 with N = 4000; 0.910 with 0.3 dex for all four): the J nuisances
/// are log-normal and constrained only by their single auxiliary
/// measurement, so their contribution never becomes asymptotic. The test
/// pins the measured behaviour (between 0.90 and the nominal 0.95) and
/// checks that the default threshold 3.84 still gives at least 95%.
#[test]
fn coverage_with_realistic_j_priors() {
    let n = 2000;
    let c = coverage([0.15, 0.2, 0.3, 0.2], n, 77);
    assert!(
        c.at_271 >= 0.90 && c.at_271 <= 0.95 + 3.0 * sigma(0.95, n),
        "{c:?}"
    );
    assert!(c.at_384 >= 0.95 - 3.0 * sigma(0.95, n), "{c:?}");
    assert!(c.at_1 < c.at_271 && c.at_271 <= c.at_384);
}
