//! The dark-matter component and the search, on a synthetic world: two toy
//! astrophysical classes and subhalos from the detection simulation of the
//! analytic b-bbar spectrum at 100 GeV.

mod common;

use common::{astro_model, det_opts, dm_component, roi, sigma_v_for};
use darkprobe_core::progress::{CountingProgress, NoProgress};
use darkprobe_core::rng::rng_for_index;
use darkprobe_subhalos::detection::Instrument;
use darkprobe_subhalos::*;
use rand::{Rng, SeedableRng};

fn astro_params() -> MixtureParams {
    MixtureParams {
        class_weights: vec![0.7, 0.3],
        extra_weights: vec![],
        shift: None,
    }
}

fn prior_opts() -> DmSearchOptions {
    DmSearchOptions {
        kind: ShiftKind::Prior,
        n_scan: 10,
        ..DmSearchOptions::default()
    }
}

#[test]
fn efficiency_goes_from_zero_to_one_and_is_thread_independent() {
    let dm = dm_component(5);
    let eff = dm.table().efficiency();
    assert_eq!(eff[0], 0.0);
    assert_eq!(*eff.last().unwrap(), 1.0);
    assert_eq!(dm.table().efficiency_at(-13.0), 0.0);
    // Non-decreasing up to binomial noise.
    for w in eff.windows(2) {
        assert!(w[1] >= w[0] - 0.25, "{eff:?}");
    }
    let lat = Instrument::fermi_lat_high_latitude();
    let bins =
        DmSpectrumBins::new(&bergstrom_bb_spectrum().unwrap(), 100.0, lat.edges_gev()).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let p = CountingProgress::default();
        let t = pool.install(|| simulate_detection(&bins, &lat, &roi(), &det_opts(5), &p).unwrap());
        assert_eq!(p.count(), 17 * 30);
        t
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.efficiency(), b.efficiency());
    assert_eq!(a.detected(), b.detected());
    assert_eq!(a.efficiency(), eff);
}

#[test]
fn dm_density_is_normalised_on_the_roi_and_sampling_follows_it() {
    let dm = dm_component(6);
    let sv = sigma_v_for(&dm, 20.0);
    let roi = roi();
    let (lo, hi) = (roi.lo(), roi.hi());
    let vol: f64 = (0..3).map(|d| hi[d] - lo[d]).product();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let n = 40_000;
    let mut sum = 0.0;
    let mut sum2 = 0.0;
    for _ in 0..n {
        let x: [f64; 3] = std::array::from_fn(|d| lo[d] + (hi[d] - lo[d]) * rng.random::<f64>());
        let p = dm.ln_pdf(sv, &x).unwrap().exp();
        sum += p;
        sum2 += p * p;
    }
    let mean = sum / n as f64;
    let se = ((sum2 / n as f64 - mean * mean) / n as f64).sqrt();
    let integral = mean * vol;
    assert!(
        (integral - 1.0).abs() < 4.0 * se * vol + 0.01,
        "{integral} +- {}",
        se * vol
    );
    // Outside the ROI the density vanishes.
    assert_eq!(dm.ln_pdf(sv, &[-7.0, 1.0, 0.3]).unwrap(), f64::NEG_INFINITY);
    // Samples: inside the ROI, with the mean log-flux of the density.
    let s = dm.sample(sv, 3000, &mut rng).unwrap();
    for row in s.outer_iter() {
        assert!(roi.contains_vector(&[row[0], row[1], row[2]]));
    }
    let mean_lf_samples = s.column(0).mean().unwrap();
    let (mut num, mut den) = (0.0, 0.0);
    let steps = 2100;
    for i in 0..=steps {
        let lf = lo[0] + (hi[0] - lo[0]) * i as f64 / steps as f64;
        let w = dm.flux_density(sv, lf) * dm.table().efficiency_at(lf) * dm.table().box_mass_at(lf);
        num += w * lf;
        den += w;
    }
    let sd = s.column(0).std(1.0);
    assert!((mean_lf_samples - num / den).abs() < 4.0 * sd / (3000f64).sqrt() + 0.005);
    // The number in the ROI never exceeds the total.
    for k in [0.5, 1.0, 2.0] {
        assert!(dm.n_roi(sv * k) <= dm.n_total(sv * k) + 1e-12);
    }
    // N scales as <sigma v>^2.2 while the efficiency is saturated... at
    // least it grows with <sigma v>.
    assert!(dm.n_roi(2.0 * sv) > dm.n_roi(sv));
}

#[test]
fn injected_dm_is_recovered() {
    let dm = dm_component(7);
    let model = astro_model();
    let n = 200;
    let sv_true = sigma_v_for(&dm, 40.0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mock = sample_with_dm(&model, &astro_params(), &dm, sv_true, n, &mut rng).unwrap();
    let n_dm = mock.labels.iter().filter(|&&l| l == 2).count();
    assert!(n_dm > 20 && n_dm < 60, "{n_dm}");
    let data = model.prepare(mock.points.view()).unwrap();
    let lim = dm_limit(&model, &data, &dm, &prior_opts()).unwrap();
    assert!(lim.delta_ts0 > 25.0, "{}", lim.delta_ts0);
    assert!(
        (lim.n_roi_best - n_dm as f64).abs() < 12.0,
        "{} vs {n_dm}",
        lim.n_roi_best
    );
    assert!(lim.sigma_v_ul > lim.sigma_v_best && !lim.ul_at_scan_edge);
    assert!(lim.sigma_v_ul > sv_true);
    // The profile at the limit is 3.84 below the best.
    let best_l = lim
        .scan
        .iter()
        .map(|p| p.ln_l)
        .fold(f64::NEG_INFINITY, f64::max);
    let at_ul = lim
        .scan
        .iter()
        .min_by(|a, b| {
            (a.sigma_v_cm3_s / lim.sigma_v_ul - 1.0)
                .abs()
                .total_cmp(&(b.sigma_v_cm3_s / lim.sigma_v_ul - 1.0).abs())
        })
        .unwrap();
    assert!(
        (2.0 * (best_l - at_ul.ln_l) - 3.84).abs() < 0.05,
        "{}",
        2.0 * (best_l - at_ul.ln_l)
    );
    // Posteriors: rows sum to one, the DM sources get high DM probability.
    let post = posteriors_with_dm(
        &model,
        &lim.best_fit,
        &dm,
        lim.sigma_v_best,
        mock.points.view(),
    )
    .unwrap();
    assert_eq!(post.ncols(), 3);
    for r in post.outer_iter() {
        assert!((r.sum() - 1.0).abs() < 1e-9);
    }
    let mean_dm: f64 = (0..n)
        .filter(|&i| mock.labels[i] == 2)
        .map(|i| post[[i, 2]])
        .sum::<f64>()
        / n_dm as f64;
    let mean_astro: f64 = (0..n)
        .filter(|&i| mock.labels[i] != 2)
        .map(|i| post[[i, 2]])
        .sum::<f64>()
        / (n - n_dm) as f64;
    assert!(mean_dm > 0.7 && mean_astro < 0.1, "{mean_dm} {mean_astro}");
}

#[test]
fn limits_cover_the_injected_cross_section() {
    // Small signal (5 expected subhalos among 150 sources); the limit at
    // Delta TS = 3.84 should exceed the truth in >= 95% of the mocks.
    let dm = dm_component(9);
    let model = astro_model();
    let sv_true = sigma_v_for(&dm, 5.0);
    let trials = 16;
    let covered = darkprobe_core::par::map_indices(trials, |i| {
        let mut rng = rng_for_index(77, i as u64);
        let mock = sample_with_dm(&model, &astro_params(), &dm, sv_true, 150, &mut rng).unwrap();
        let data = model.prepare(mock.points.view()).unwrap();
        let lim = dm_limit(&model, &data, &dm, &prior_opts()).unwrap();
        lim.sigma_v_ul >= sv_true
    });
    let n_cov = covered.iter().filter(|c| **c).count();
    // P(>= 14 of 16 | p = 0.975) = 0.94.
    assert!(n_cov >= 14, "{n_cov}/{trials}");
}

#[test]
fn limits_cover_the_injected_cross_section_many_trials() {
    let dm = dm_component(10);
    let model = astro_model();
    let sv_true = sigma_v_for(&dm, 8.0);
    let trials = 100;
    let covered = darkprobe_core::par::map_indices(trials, |i| {
        let mut rng = rng_for_index(78, i as u64);
        let mock = sample_with_dm(&model, &astro_params(), &dm, sv_true, 200, &mut rng).unwrap();
        let data = model.prepare(mock.points.view()).unwrap();
        dm_limit(&model, &data, &dm, &prior_opts())
            .unwrap()
            .sigma_v_ul
            >= sv_true
    });
    let n_cov = covered.iter().filter(|c| **c).count();
    // Expected ~97.5 (one-sided at 3.84); P(< 92 | 0.975) < 0.3%.
    assert!(n_cov >= 92, "{n_cov}/{trials}");
}

#[test]
fn band_from_null_mocks_is_ordered_and_deterministic() {
    let dm = dm_component(11);
    let model = astro_model();
    let p = CountingProgress::default();
    let band = limit_band(&model, &astro_params(), 120, &dm, &prior_opts(), 6, 3, &p).unwrap();
    assert_eq!(p.count(), 6);
    assert_eq!(band.limits.len(), 6);
    assert!(band.band95.0 <= band.band68.0 && band.band68.0 <= band.median);
    assert!(band.median <= band.band68.1 && band.band68.1 <= band.band95.1);
    assert!(band.limits.iter().all(|l| l.is_finite() && *l > 0.0));
    let again = limit_band(
        &model,
        &astro_params(),
        120,
        &dm,
        &prior_opts(),
        6,
        3,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(band, again);
    assert!(limit_band(
        &model,
        &astro_params(),
        120,
        &dm,
        &prior_opts(),
        1,
        3,
        &NoProgress
    )
    .is_err());
}

#[test]
fn covariate_shift_search_runs_with_warm_starts() {
    let dm = dm_component(12);
    let model = astro_model();
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mock = model.sample(&astro_params(), 120, &mut rng).unwrap();
    let data = model.prepare(mock.points.view()).unwrap();
    let opts = DmSearchOptions {
        n_scan: 6,
        ..DmSearchOptions::default()
    };
    let lim = dm_limit(&model, &data, &dm, &opts).unwrap();
    assert_eq!(lim.null_fit.kind, ShiftKind::PriorAndCovariate);
    assert!(lim.sigma_v_ul > 0.0 && lim.sigma_v_ul.is_finite());
    // The profile never beats the null fit by much more than the DM can explain,
    // and the scan is sorted.
    for w in lim.scan.windows(2) {
        assert!(w[1].sigma_v_cm3_s >= w[0].sigma_v_cm3_s);
    }
    assert!(lim.n_roi_ul > lim.n_roi_best);
}

#[test]
fn bad_inputs_are_errors() {
    let dm = dm_component(14);
    let model = astro_model();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    // More subhalos than sources.
    let sv = sigma_v_for(&dm, 50.0);
    assert!(sample_with_dm(&model, &astro_params(), &dm, sv, 20, &mut rng).is_err());
    let mock = model.sample(&astro_params(), 20, &mut rng).unwrap();
    let data = model.prepare(mock.points.view()).unwrap();
    assert!(dm.extra_component(sv, &data).is_err());
    let bad = DmSearchOptions {
        ts_limit: -1.0,
        ..DmSearchOptions::default()
    };
    assert!(dm_limit(&model, &data, &dm, &bad).is_err());
    let bad = DmSearchOptions {
        max_weight: 1.5,
        ..DmSearchOptions::default()
    };
    assert!(dm_limit(&model, &data, &dm, &bad).is_err());
    let lat = Instrument::fermi_lat_high_latitude();
    let bins =
        DmSpectrumBins::new(&bergstrom_bb_spectrum().unwrap(), 100.0, lat.edges_gev()).unwrap();
    let o = DetectionOptions {
        n_flux: 1,
        ..det_opts(0)
    };
    assert!(simulate_detection(&bins, &lat, &roi(), &o, &NoProgress).is_err());
    // Nothing detectable at these fluxes.
    let o = DetectionOptions {
        log10_flux_min: -14.0,
        log10_flux_max: -13.0,
        ..det_opts(0)
    };
    let e = simulate_detection(&bins, &lat, &roi(), &o, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("detections"), "{e}");
    // Mass out of the spectrum's range.
    assert!(DmSpectrumBins::new(&bergstrom_bb_spectrum().unwrap(), 1.0, lat.edges_gev()).is_err());
}
