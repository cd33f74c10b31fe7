//! Determinism across thread counts: pseudo-experiments (expected-limit
//! bands and coverage toys) give bit-identical results on a rayon pool of 1
//! thread and on a pool of 2 threads.

use darkprobe_core::par::map_indices;
use darkprobe_core::progress::NoProgress;
use darkprobe_core::rng::rng_for_index;
use darkprobe_limits::likelihood::{
    AuxiliaryFluctuation, BackgroundModel, BackgroundScaling, EmpiricalLogJ, ExpectedLimitOptions,
    GaussianLogJ, JFactorModel, JNormalisation, LimitOptions, NormalLnDensity, ProfileOptions,
    StackedLikelihood, Target,
};
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;

/// Runs `f` on a fresh rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Two targets: a Gaussian J with a profiled, prior-constrained background,
/// and an empirical (sampled) J with a free background normalisation, so
/// that every random draw of a pseudo-experiment is exercised.
fn stack() -> StackedLikelihood {
    let mut rng = rng_for_index(12, 0);
    let j_samples: Vec<f64> = (0..300)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            18.0 + 0.1 * z
        })
        .collect();
    let targets = vec![
        Target::new(
            "gaussian_j",
            vec![40.0, 31.0, 22.0, 12.0],
            vec![2e26, 1.5e26, 1e26, 0.6e26],
            JFactorModel::Gaussian(
                GaussianLogJ::new(18.3, 0.2, JNormalisation::FermiLat2015).unwrap(),
            ),
            BackgroundModel::Profiled {
                scaling: BackgroundScaling::LogRatios(vec![1.0, 0.93, 0.82, 0.64]),
                prior: Some(Arc::new(NormalLnDensity::new(3.7, 0.15).unwrap())),
            },
        )
        .unwrap(),
        Target::new(
            "empirical_j",
            vec![15.0, 9.0, 7.0, 2.0],
            vec![1e26, 1e26, 0.8e26, 0.5e26],
            JFactorModel::Empirical(Arc::new(
                EmpiricalLogJ::from_log10_samples(&j_samples, 0.03).unwrap(),
            )),
            BackgroundModel::Profiled {
                scaling: BackgroundScaling::Counts(vec![1.0, 0.7, 0.45, 0.2]),
                prior: None,
            },
        )
        .unwrap(),
    ];
    StackedLikelihood::new(targets, ProfileOptions::default()).unwrap()
}

#[test]
fn expected_limit_bands_are_bit_identical_on_one_and_two_threads() {
    let s = stack();
    let opts = ExpectedLimitOptions {
        n_trials: 24,
        seed: 99,
        ..Default::default()
    };
    let run = || {
        let e = s
            .expected_limits(&LimitOptions::default(), &opts, &NoProgress)
            .unwrap();
        let mut out = e.limits_cm3_s.clone();
        out.extend([
            e.median_cm3_s,
            e.band_68_cm3_s.0,
            e.band_68_cm3_s.1,
            e.band_95_cm3_s.0,
            e.band_95_cm3_s.1,
        ]);
        bits(&out)
    };
    let one = on_threads(1, run);
    assert_eq!(one, on_threads(2, run));
    // Not a constant: the pseudo-experiments' limits differ from each other.
    assert!(one[..24].iter().any(|b| *b != one[0]));
}

#[test]
fn coverage_toys_are_bit_identical_on_one_and_two_threads() {
    let s = stack();
    let truth = s.truth_nuisances(&Default::default()).unwrap();
    let sv_true = 3e-44; // about 10 signal counts in the first target
                         // Toy i draws from rng_for_index(seed, i), the project's convention.
    let run = || {
        let rows = map_indices(16, |i| {
            let mut rng = rng_for_index(7, i as u64);
            let pe = s
                .pseudo_experiment(sv_true, &truth, AuxiliaryFluctuation::Fluctuate, &mut rng)
                .unwrap();
            let ul = pe.upper_limit(&LimitOptions::default()).unwrap();
            [
                ul.sigma_v_ul_cm3_s,
                ul.best_fit.sigma_v_cm3_s,
                ul.best_fit.ts_detection,
                ul.best_fit.neg2_ln_l,
            ]
        });
        bits(&rows.concat())
    };
    let one = on_threads(1, run);
    let two = on_threads(2, run);
    assert_eq!(one, two);
    let covered = one
        .chunks(4)
        .filter(|r| f64::from_bits(r[0]) >= sv_true)
        .count();
    assert!(covered >= 10, "{covered}/16 toys cover the truth");
}
