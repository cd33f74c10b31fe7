//! The shifted mixture model on synthetic classes: EM ascent, agreement with
//! direct maximisation, recovery of injected parameters, the exact sampler,
//! posteriors, extra components and bad input.

use darkprobe_kde::Bandwidth;
use darkprobe_subhalos::*;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Two classes inside the paper's ROI: "extragalactic" (hard, low curvature)
/// and "galactic" (harder index, high curvature), `n` training points each.
pub fn toy_model(seed: u64, n: usize) -> ShiftMixture {
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let mut rng = StdRng::seed_from_u64(seed);
    let cloud = |rng: &mut StdRng, mean: [f64; 3], sd: [f64; 3]| {
        Array2::from_shape_fn((n, 3), |(_, d)| {
            Normal::new(mean[d], sd[d]).unwrap().sample(rng)
        })
    };
    let bw = BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![0.15, 0.06, 0.03]));
    let ext = ClassDensity::fit(
        "extragalactic",
        cloud(&mut rng, [-8.9, 1.5, 0.15], [0.5, 0.2, 0.08]).view(),
        &roi,
        &bw,
    )
    .unwrap();
    let gal = ClassDensity::fit(
        "galactic",
        cloud(&mut rng, [-9.3, 1.1, 0.38], [0.5, 0.2, 0.1]).view(),
        &roi,
        &bw,
    )
    .unwrap();
    ShiftMixture::new(roi, vec![ext, gal], vec![0.9, 0.1]).unwrap()
}

pub fn truth_shift() -> SigmoidShift {
    // Fainter sources are less often associated: C rises towards low flux.
    SigmoidShift {
        slope: [-4.0, 3.0, 8.0],
        centre: [-8.9, 1.0, 0.2],
    }
}

pub fn mock(
    model: &ShiftMixture,
    pi_gal: f64,
    shift: Option<SigmoidShift>,
    n: usize,
    seed: u64,
) -> PreparedData {
    let params = MixtureParams {
        class_weights: vec![1.0 - pi_gal, pi_gal],
        extra_weights: vec![],
        shift,
    };
    let m = model
        .sample(&params, n, &mut StdRng::seed_from_u64(seed))
        .unwrap();
    model.prepare(m.points.view()).unwrap()
}

#[test]
fn em_log_likelihood_never_decreases_and_converges() {
    let model = toy_model(1, 150);
    let data = mock(&model, 0.35, Some(truth_shift()), 400, 2);
    for kind in ShiftKind::ALL {
        let fit = model.fit(&data, kind, &[], &EmOptions::default()).unwrap();
        assert!(fit.report.converged, "{kind:?} did not converge");
        for w in fit.ln_l_history.windows(2) {
            assert!(
                w[1] >= w[0] - 1e-9,
                "{kind:?}: ln L fell from {} to {}",
                w[0],
                w[1]
            );
        }
        let sum: f64 = fit.params.class_weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
        // The reported ln L is the likelihood of the reported parameters.
        let l = model.ln_likelihood(&data, &[], &fit.params).unwrap();
        assert!(
            (l - fit.report.ln_l).abs() < 1e-8 * (1.0 + l.abs()),
            "{l} vs {}",
            fit.report.ln_l
        );
    }
}

#[test]
fn nested_models_are_ordered_in_likelihood() {
    let model = toy_model(3, 150);
    let data = mock(&model, 0.35, Some(truth_shift()), 400, 4);
    let cmp = compare_shift_models(&model, &data, &EmOptions::default()).unwrap();
    let l = |k| cmp.get(k).unwrap().report.ln_l;
    let tol = 1e-6;
    assert!(l(ShiftKind::Prior) >= l(ShiftKind::None) - tol);
    assert!(l(ShiftKind::Covariate) >= l(ShiftKind::None) - tol);
    assert!(l(ShiftKind::PriorAndCovariate) >= l(ShiftKind::Prior) - tol);
    assert!(l(ShiftKind::PriorAndCovariate) >= l(ShiftKind::Covariate) - tol);
    let ks: Vec<usize> = cmp.fits.iter().map(|f| f.n_free_params).collect();
    assert_eq!(ks, vec![0, 1, 6, 7]);
    // The injected shifts are detected.
    let t = cmp
        .lr_test(ShiftKind::Prior, ShiftKind::PriorAndCovariate)
        .unwrap();
    assert_eq!(t.dof, 6);
    assert!(t.significance_sigma > 3.0, "{t:?}");
    assert!(cmp.table().contains("prior+cov"));
}

#[test]
fn em_agrees_with_direct_maximisation() {
    let model = toy_model(5, 120);
    let data = mock(&model, 0.3, Some(truth_shift()), 300, 6);
    let opts = EmOptions {
        tol: 1e-11,
        ..EmOptions::default()
    };
    for kind in [
        ShiftKind::Prior,
        ShiftKind::Covariate,
        ShiftKind::PriorAndCovariate,
    ] {
        let em = model.fit(&data, kind, &[], &opts).unwrap();
        let direct = model.fit_direct(&data, kind, &[], &opts).unwrap();
        assert!(
            (em.report.ln_l - direct.report.ln_l).abs() < 1e-5,
            "{kind:?}: EM {} vs direct {}",
            em.report.ln_l,
            direct.report.ln_l
        );
        for (a, b) in em
            .params
            .class_weights
            .iter()
            .zip(&direct.params.class_weights)
        {
            assert!((a - b).abs() < 2e-3, "{kind:?}: weights {a} vs {b}");
        }
    }
}

/// A steep, well-identified modulation for parameter recovery.
fn steep_shift() -> SigmoidShift {
    SigmoidShift {
        slope: [-8.0, 12.0, 30.0],
        centre: [-9.3, 1.25, 0.25],
    }
}

fn std_dev(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn recovers_injected_prevalence_and_shift_over_seeds() {
    let model = toy_model(7, 200);
    let pi_gal = 0.3;
    let n = 1500;
    let mut pulls = Vec::new();
    for (truth, steep) in [(steep_shift(), true), (truth_shift(), false)] {
        let t_scaled = truth.to_scaled(model.roi());
        for seed in 0..4u64 {
            let data = mock(&model, pi_gal, Some(truth), n, 100 + seed);
            // One (flat) start: the multi-start search is exercised elsewhere.
            let single = EmOptions {
                multi_start: false,
                ..EmOptions::default()
            };
            let fit = model
                .fit(&data, ShiftKind::PriorAndCovariate, &[], &single)
                .unwrap();
            assert!(fit.report.converged);
            let got = fit.params.class_weights[1];
            // Binomial-scale error as a yardstick (the true error is larger: the
            // classes overlap and the shift is fitted too).
            let sd = (pi_gal * (1.0 - pi_gal) / n as f64).sqrt();
            pulls.push((got - pi_gal) / sd);
            assert!((got - pi_gal).abs() < 0.06, "seed {seed}: pi_gal {got}");
            let shift = fit.params.shift.unwrap();
            // The modulation as a function: ln C_fit - ln C_true is nearly
            // constant (C matters only up to a factor) over the sources.
            let diff: Vec<f64> = data
                .points()
                .iter()
                .map(|x| shift.ln_c(x) - truth.ln_c(x))
                .collect();
            let signal: Vec<f64> = data.points().iter().map(|x| truth.ln_c(x)).collect();
            assert!(
                std_dev(&diff) < 0.3 * std_dev(&signal),
                "seed {seed}: ln C residual {} vs signal {}",
                std_dev(&diff),
                std_dev(&signal)
            );
            if steep {
                // Steep sigmoids are identified parameter by parameter.
                let s = shift.to_scaled(model.roi());
                for d in 0..3 {
                    assert!(
                        (s[d] - t_scaled[d]).abs() < 0.2 * t_scaled[d].abs() + 1.0,
                        "seed {seed}: steepness {d} = {} vs {}",
                        s[d],
                        t_scaled[d]
                    );
                    assert!(
                        (s[3 + d] - t_scaled[3 + d]).abs() < 0.05,
                        "seed {seed}: centre {d} = {} vs {}",
                        s[3 + d],
                        t_scaled[3 + d]
                    );
                }
            }
        }
    }
    let mean_pull = pulls.iter().sum::<f64>() / pulls.len() as f64;
    assert!(
        mean_pull.abs() < 2.0,
        "mean pull {mean_pull}, pulls {pulls:?}"
    );
}

#[test]
fn recovers_a_pure_prior_shift() {
    let model = toy_model(9, 200);
    for seed in 0..3u64 {
        let data = mock(&model, 0.45, None, 800, 200 + seed);
        let fit = model
            .fit(&data, ShiftKind::Prior, &[], &EmOptions::default())
            .unwrap();
        let got = fit.params.class_weights[1];
        assert!((got - 0.45).abs() < 0.07, "seed {seed}: {got}");
        // At the EM fixed point, the weights equal the mean responsibilities.
        let mean_r = fit.responsibilities.column(1).mean().unwrap();
        assert!((mean_r - got).abs() < 1e-6);
    }
}

#[test]
fn sampler_acceptance_rate_is_z_and_moments_match() {
    let model = toy_model(11, 100);
    let shift = truth_shift();
    let params = MixtureParams {
        class_weights: vec![0.5, 0.5],
        extra_weights: vec![],
        shift: Some(shift),
    };
    let m = model
        .sample(&params, 20_000, &mut StdRng::seed_from_u64(12))
        .unwrap();
    for k in 0..2 {
        let z = model.z(k, Some(&shift)).unwrap();
        let rate = m.accepted[k] as f64 / m.proposals[k] as f64;
        let se = (z * (1.0 - z) / m.proposals[k] as f64).sqrt();
        assert!(
            (rate - z).abs() < 4.0 * se,
            "class {k}: rate {rate} vs Z {z} (se {se})"
        );
    }
    // Mean of each feature for class 0 against a brute-force integral of
    // x C(x) p(x|0) / Z_0 on a grid.
    let roi = model.roi().clone();
    let (lo, w) = (roi.lo(), roi.widths());
    let g = 40;
    let mut pts = Array2::zeros((g * g * g, 3));
    let mut r = 0;
    for a in 0..g {
        for b in 0..g {
            for c in 0..g {
                let x = [
                    lo[0] + w[0] * (a as f64 + 0.5) / g as f64,
                    lo[1] + w[1] * (b as f64 + 0.5) / g as f64,
                    lo[2] + w[2] * (c as f64 + 0.5) / g as f64,
                ];
                for d in 0..3 {
                    pts[[r, d]] = x[d];
                }
                r += 1;
            }
        }
    }
    let lp = model.classes()[0].ln_pdf_batch(pts.view()).unwrap();
    let mut wsum = 0.0;
    let mut mean = [0.0; 3];
    for (i, l) in lp.iter().enumerate() {
        let x = [pts[[i, 0]], pts[[i, 1]], pts[[i, 2]]];
        let wt = (l + shift.ln_c(&x)).exp();
        wsum += wt;
        for d in 0..3 {
            mean[d] += wt * x[d];
        }
    }
    let sel: Vec<usize> = (0..m.labels.len()).filter(|i| m.labels[*i] == 0).collect();
    for d in 0..3 {
        let mu = mean[d] / wsum;
        let vals: Vec<f64> = sel.iter().map(|i| m.points[[*i, d]]).collect();
        let sm = vals.iter().sum::<f64>() / vals.len() as f64;
        let sd = (vals.iter().map(|v| (v - sm) * (v - sm)).sum::<f64>() / vals.len() as f64).sqrt();
        let se = sd / (vals.len() as f64).sqrt();
        // Grid error is far below the sampling error at g = 40.
        assert!(
            (sm - mu).abs() < 4.0 * se + 2e-3 * w[d],
            "feature {d}: sample {sm} vs {mu}"
        );
    }
    // Same seed, same catalog.
    let again = model
        .sample(&params, 20_000, &mut StdRng::seed_from_u64(12))
        .unwrap();
    assert_eq!(again, m);
}

#[test]
fn posteriors_match_the_fit_responsibilities_without_extras() {
    let model = toy_model(13, 100);
    let params = MixtureParams {
        class_weights: vec![0.6, 0.4],
        extra_weights: vec![],
        shift: Some(truth_shift()),
    };
    let m = model
        .sample(&params, 200, &mut StdRng::seed_from_u64(14))
        .unwrap();
    let data = model.prepare(m.points.view()).unwrap();
    let fit = model
        .fit(
            &data,
            ShiftKind::PriorAndCovariate,
            &[],
            &EmOptions::default(),
        )
        .unwrap();
    let post = model.posteriors(&fit.params, m.points.view()).unwrap();
    for i in 0..200 {
        let s: f64 = post.row(i).sum();
        assert!((s - 1.0).abs() < 1e-12);
        for k in 0..2 {
            assert!((post[[i, k]] - fit.responsibilities[[i, k]]).abs() < 1e-9);
        }
    }
    // Sources labelled galactic are, on average, more galactic a posteriori.
    let mean_post = |label: usize| {
        let v: Vec<f64> = (0..200)
            .filter(|i| m.labels[*i] == label)
            .map(|i| post[[i, 1]])
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean_post(1) > mean_post(0) + 0.2);
}

#[test]
fn extra_component_weight_is_recovered_and_zero_weight_changes_nothing() {
    let model = toy_model(15, 150);
    let roi = model.roi().clone();
    let (lo, w) = (roi.lo(), roi.widths());
    let mut rng = StdRng::seed_from_u64(16);
    let astro = model
        .sample(
            &MixtureParams {
                class_weights: vec![0.7, 0.3],
                extra_weights: vec![],
                shift: None,
            },
            800,
            &mut rng,
        )
        .unwrap();
    // 200 sources uniform in the ROI: a stand-in for a DM population.
    let mut pts = Array2::zeros((1000, 3));
    pts.slice_mut(ndarray::s![..800, ..]).assign(&astro.points);
    for i in 800..1000 {
        for d in 0..3 {
            pts[[i, d]] = lo[d] + w[d] * rng.random::<f64>();
        }
    }
    let data = model.prepare(pts.view()).unwrap();
    let ln_q = -(w[0] * w[1] * w[2]).ln();
    let uniform = |weight| ExtraComponent {
        name: "uniform".into(),
        ln_pdf: vec![ln_q; 1000],
        weight,
    };
    let opts = EmOptions::default();
    let fit = model
        .fit(
            &data,
            ShiftKind::Prior,
            &[uniform(ExtraWeight::Free { initial: 0.05 })],
            &opts,
        )
        .unwrap();
    let got = fit.params.extra_weights[0];
    assert!((got - 0.2).abs() < 0.06, "uniform fraction {got}");
    assert_eq!(fit.n_free_params, 2);
    assert_eq!(
        fit.component_names,
        vec!["extragalactic", "galactic", "uniform"]
    );
    let total: f64 = fit.params.class_weights.iter().sum::<f64>() + got;
    assert!((total - 1.0).abs() < 1e-12);
    // Direct maximisation agrees.
    let direct = model
        .fit_direct(
            &data,
            ShiftKind::Prior,
            &[uniform(ExtraWeight::Free { initial: 0.05 })],
            &opts,
        )
        .unwrap();
    assert!((direct.report.ln_l - fit.report.ln_l).abs() < 1e-5);
    // A fixed zero weight gives the astrophysical fit.
    let zero = model
        .fit(
            &data,
            ShiftKind::Prior,
            &[uniform(ExtraWeight::Fixed(0.0))],
            &opts,
        )
        .unwrap();
    let plain = model.fit(&data, ShiftKind::Prior, &[], &opts).unwrap();
    assert!((zero.report.ln_l - plain.report.ln_l).abs() < 1e-8);
    assert_eq!(zero.n_free_params, plain.n_free_params);
    // A fixed weight is kept, and the profile likelihood peaks near the truth.
    let prof = |f: f64| {
        model
            .fit(
                &data,
                ShiftKind::Prior,
                &[uniform(ExtraWeight::Fixed(f))],
                &opts,
            )
            .unwrap()
    };
    let p2 = prof(0.2);
    assert_eq!(p2.params.extra_weights[0], 0.2);
    assert!(p2.report.ln_l > prof(0.02).report.ln_l && p2.report.ln_l > prof(0.45).report.ln_l);
    // Extras cannot be sampled here.
    assert!(model.sample(&fit.params, 10, &mut rng).is_err());
}

#[test]
fn bad_input_gives_clear_errors() {
    let model = toy_model(17, 50);
    let outside = ndarray::array![[-9.0, 1.2, 0.3], [-9.0, 2.5, 0.3]];
    let e = model.prepare(outside.view()).unwrap_err().to_string();
    assert!(
        e.contains("source 1") && e.contains("alpha") && e.contains("2.5"),
        "{e}"
    );
    let nan = ndarray::array![[-9.0, f64::NAN, 0.3]];
    assert!(model.prepare(nan.view()).is_err());
    let empty = Array2::<f64>::zeros((0, 3));
    assert!(model.prepare(empty.view()).is_err());
    let wrong = Array2::<f64>::zeros((2, 2));
    assert!(model.prepare(wrong.view()).is_err());
    let ok = ndarray::array![[-9.0, 1.2, 0.3], [-9.5, 1.0, 0.2]];
    let data = model.prepare(ok.view()).unwrap();
    let short = ExtraComponent {
        name: "dm".into(),
        ln_pdf: vec![0.0],
        weight: ExtraWeight::Fixed(0.1),
    };
    let e = model
        .fit(&data, ShiftKind::Prior, &[short], &EmOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("dm"), "{e}");
    let heavy = ExtraComponent {
        name: "dm".into(),
        ln_pdf: vec![0.0, 0.0],
        weight: ExtraWeight::Fixed(1.0),
    };
    assert!(model
        .fit(&data, ShiftKind::Prior, &[heavy], &EmOptions::default())
        .is_err());
    let bad_opts = EmOptions {
        tol: -1.0,
        ..EmOptions::default()
    };
    assert!(model.fit(&data, ShiftKind::Prior, &[], &bad_opts).is_err());
    assert!(ShiftMixture::new(model.roi().clone(), model.classes().to_vec(), vec![1.0]).is_err());
    assert!(ShiftMixture::new(
        model.roi().clone(),
        model.classes().to_vec(),
        vec![1.0, f64::NAN]
    )
    .is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
        #[test]
        fn em_ascent_for_random_catalogs(seed in 0u64..1000, pi in 0.05f64..0.8) {
            let model = toy_model(seed, 40);
            let data = mock(&model, pi, Some(truth_shift()), 120, seed + 1);
            let single = EmOptions { multi_start: false, ..EmOptions::default() };
            let fit = model.fit(&data, ShiftKind::PriorAndCovariate, &[], &single).unwrap();
            for w in fit.ln_l_history.windows(2) {
                prop_assert!(w[1] >= w[0] - 1e-9);
            }
        }
    }
}
