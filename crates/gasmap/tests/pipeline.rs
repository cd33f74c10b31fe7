//! Cross-module tests: generator -> preprocessing -> training pairs ->
//! linear baseline -> prediction -> metrics (and FITS round trips).

use darkprobe_gasmap::pipeline::{evaluate, predict_cube, training_pairs, TrainingOptions};
use darkprobe_gasmap::preprocess::Preprocess;
use darkprobe_gasmap::synth::{generate, SynthParams};
use darkprobe_gasmap::{LinearBaseline, LonRange, PlaneRegressor};

fn params() -> SynthParams {
    SynthParams {
        lon_min_deg: 330.0,
        lon_max_deg: 350.0,
        pixel_deg: 0.05,
        n_vel: 4,
        v_min_km_s: -60.0,
        v_max_km_s: -20.0,
        ..SynthParams::default()
    }
}

#[test]
fn an_injected_linear_relation_is_recovered_end_to_end() {
    let s = generate(&params(), 31).unwrap();
    // Replace 13CO by an exact line of 12CO per bin (no noise, stripes kept at 0).
    let mut target = s.co12.data().clone();
    for (v, mut plane) in target.outer_iter_mut().enumerate() {
        let (a, b) = (0.1 * v as f64, 0.2 + 0.05 * v as f64);
        plane.mapv_inplace(|x| if x == 0.0 { 0.0 } else { a + b * x });
    }
    let target = s.co12.with_data(target).unwrap();
    // No preprocessing: the relation is exact pixel by pixel.
    let pre = Preprocess {
        smooth_sigma_px: 0.0,
        threshold_nsigma: 0.0,
    };
    let opts = TrainingOptions::new(LonRange::parse("330:345").unwrap());
    let set = training_pairs(&s.co12, &target, &pre, &opts).unwrap();
    let model = LinearBaseline::fit(&set.pairs()).unwrap();
    for (v, f) in model.fits().iter().enumerate() {
        assert!((f.slope - (0.2 + 0.05 * v as f64)).abs() < 1e-9, "{f:?}");
        assert!((f.intercept - 0.1 * v as f64).abs() < 1e-9, "{f:?}");
    }
}

#[test]
fn the_linear_baseline_on_radiative_transfer_maps_is_good_but_imperfect() {
    let s = generate(&params(), 32).unwrap();
    let opts = TrainingOptions::new(LonRange::parse("330:345").unwrap());
    let set = training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).unwrap();
    let model = LinearBaseline::fit(&set.pairs()).unwrap();
    let pred = predict_cube(&model, set.source()).unwrap();
    let test = LonRange::parse("345:350").unwrap();
    let eval = evaluate(model.name(), &pred, set.target(), &test).unwrap();
    let c = eval.summary.correlation;
    // 12CO saturates where 13CO keeps rising: a straight line cannot be exact.
    assert!(c > 0.5 && c < 0.99, "correlation {c}");
    assert!(eval.summary.scaled_abs_error > 0.0 && eval.summary.scaled_abs_error < 0.2);
    // The truth itself (noise-free 13CO, smoothed) scores better than the baseline.
    let truth = s.co13.with_data(s.truth.t13_k.clone()).unwrap();
    let truth = Preprocess::default().apply(&truth).unwrap().cube;
    let oracle = evaluate("truth", &truth, set.target(), &test).unwrap();
    assert!(oracle.summary.correlation > c);
    assert!(oracle.summary.scaled_abs_error < eval.summary.scaled_abs_error);
}

#[cfg(feature = "fits")]
#[test]
fn synthetic_cubes_survive_a_fits_round_trip() {
    use darkprobe_gasmap::fits::{read_cube, write_cube};
    let s = generate(&params(), 33).unwrap();
    let dir = std::env::temp_dir().join(format!("gasmap-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("co.fits");
    write_cube(&p, &s.co12).unwrap();
    let back = read_cube(&p).unwrap();
    assert_eq!(back, s.co12);
    assert!((back.lon_deg(0) - 349.975).abs() < 1e-9);
    let _ = std::fs::remove_dir_all(&dir);
}
