//! Determinism across thread counts: the class densities (bandwidths by
//! repeated k-fold cross-validation), the EM fit of the shifted mixture, the
//! dark-matter detection simulation and the expected-limit band give
//! bit-identical results on a rayon pool of 1 thread and on a pool of 2.

mod common;

use common::roi;
use darkprobe_core::progress::NoProgress;
use darkprobe_kde::{KFold, ScaleSearch};
use darkprobe_subhalos::detection::Instrument;
use darkprobe_subhalos::*;
use rand::SeedableRng;

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

/// Two toy classes whose bandwidths are chosen by seeded repeated k-fold CV.
fn astro_model() -> ShiftMixture {
    common::astro_model_with(&BandwidthChoice::KFold {
        search: ScaleSearch::Continuous {
            lo: 0.05,
            hi: 3.0,
            rel_tol: 1e-3,
        },
        kfold: KFold {
            folds: 5,
            repeats: 3,
            seed: 8,
        },
    })
}

fn null_params() -> MixtureParams {
    MixtureParams {
        class_weights: vec![0.6, 0.4],
        extra_weights: vec![],
        shift: None,
    }
}

fn fit_bits(f: &MixtureFit) -> Vec<u64> {
    let mut out = f.params.class_weights.clone();
    if let Some(s) = &f.params.shift {
        out.extend(s.slope);
        out.extend(s.centre);
    }
    out.push(f.report.ln_l);
    out.extend(&f.ln_l_history);
    out.extend(f.responsibilities.iter());
    bits(&out)
}

#[test]
fn class_densities_and_em_fits_are_bit_identical_on_one_and_two_threads() {
    let run = || {
        let model = astro_model();
        let mut out: Vec<u64> = Vec::new();
        for c in model.classes() {
            out.extend(bits(&c.bandwidth_diagonal()));
            out.push(c.ln_roi_mass().to_bits());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mock = model.sample(&null_params(), 150, &mut rng).unwrap();
        let data = model.prepare(mock.points.view()).unwrap();
        for kind in [ShiftKind::Prior, ShiftKind::PriorAndCovariate] {
            let fit = model.fit(&data, kind, &[], &EmOptions::default()).unwrap();
            out.extend(fit_bits(&fit));
        }
        out
    };
    assert_eq!(on_threads(1, run), on_threads(2, run));
}

#[test]
fn detection_simulation_and_limit_band_are_bit_identical_on_one_and_two_threads() {
    let lat = Instrument::fermi_lat_high_latitude();
    let bins =
        DmSpectrumBins::new(&bergstrom_bb_spectrum().unwrap(), 100.0, lat.edges_gev()).unwrap();
    let det = DetectionOptions {
        log10_flux_min: -11.5,
        log10_flux_max: -7.5,
        n_flux: 9,
        n_per_flux: 24,
        seed: 13,
    };
    let model = astro_model();
    let run = || {
        let table = simulate_detection(&bins, &lat, &roi(), &det, &NoProgress).unwrap();
        let mut out = bits(table.efficiency());
        out.extend(bits(&table.detected().concat().concat()));
        let dm = DmComponent::new(JPopulation::paper_default(), &bins, table).unwrap();
        let opts = DmSearchOptions {
            kind: ShiftKind::Prior,
            n_scan: 8,
            ..DmSearchOptions::default()
        };
        let band = limit_band(&model, &null_params(), 120, &dm, &opts, 4, 31, &NoProgress).unwrap();
        out.extend(bits(&band.limits));
        out
    };
    let one = on_threads(1, run);
    assert_eq!(one, on_threads(2, run));
    assert!(one.len() > 9 + 4);
}
