//! Determinism across thread counts: the dwarf pseudo-experiments (coverage
//! toys on mock dwarfs, expected-limit bands) and the parallel mass scan give
//! bit-identical results on a rayon pool of 1 thread and on a pool of 2.

use darkprobe_core::par::map_indices;
use darkprobe_core::progress::NoProgress;
use darkprobe_core::rng::{rng_for_index, rng_from_seed};
use darkprobe_dwarfs::analysis::{mock_dwarfs, AnalysisOptions, Case, DwarfAnalysis};
use darkprobe_limits::likelihood::{ExpectedLimitOptions, LimitOptions};
use darkprobe_limits::spectrum::FnSpectrum;

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

/// dN/dE = E^-1.5 / m^0.5 up to the mass.
fn spectrum() -> FnSpectrum<impl Fn(f64, f64) -> f64> {
    FnSpectrum::new("E^-1.5", (1.0, 1e5), |m: f64, e: f64| {
        e.powf(-1.5) / m.sqrt()
    })
    .unwrap()
}

fn opts(case: Case) -> AnalysisOptions {
    AnalysisOptions {
        case,
        ..AnalysisOptions::default()
    }
}

#[test]
fn coverage_toys_are_bit_identical_on_one_and_two_threads() {
    let s = spectrum();
    let truth = 5e-26;
    // Toy i: three mock dwarfs with an injected signal, drawn from
    // rng_for_index(seed, i), analysed in case JB (background profiled).
    let run = || {
        let rows = map_indices(8, |i| {
            let inputs = mock_dwarfs(
                3,
                &s,
                100.0,
                truth,
                &opts(Case::JB),
                &mut rng_for_index(21, i as u64),
            )
            .unwrap();
            let a = DwarfAnalysis::new(inputs, opts(Case::JB)).unwrap();
            let l = a.limit_at(&s, 100.0).unwrap();
            let mut row = vec![l.sigma_v_ul_cm3_s, l.best_fit_sigma_v_cm3_s, l.ts];
            row.extend(l.per_dwarf_ul_cm3_s);
            row
        });
        bits(&rows.concat())
    };
    let one = on_threads(1, run);
    assert_eq!(one, on_threads(2, run));
    assert!(one.iter().all(|b| f64::from_bits(*b).is_finite()));
}

#[test]
fn expected_limits_and_mass_scan_are_bit_identical_on_one_and_two_threads() {
    let s = spectrum();
    let inputs = mock_dwarfs(3, &s, 100.0, 0.0, &opts(Case::JB), &mut rng_from_seed(4)).unwrap();
    let a = DwarfAnalysis::new(inputs, opts(Case::JB)).unwrap();
    let masses = [20.0, 100.0, 500.0, 2000.0];
    let run = || {
        let scan = a.scan(&s, &masses).unwrap();
        let mut out: Vec<f64> = scan
            .rows
            .iter()
            .flat_map(|r| [r.sigma_v_ul_cm3_s, r.best_fit_sigma_v_cm3_s, r.ts])
            .collect();
        let e = a
            .likelihood_at(&s, 100.0)
            .unwrap()
            .expected_limits(
                &LimitOptions::default(),
                &ExpectedLimitOptions {
                    n_trials: 12,
                    seed: 3,
                    ..Default::default()
                },
                &NoProgress,
            )
            .unwrap();
        out.extend(e.limits_cm3_s);
        out.push(e.median_cm3_s);
        bits(&out)
    };
    assert_eq!(on_threads(1, run), on_threads(2, run));
}
