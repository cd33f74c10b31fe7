//! Tests of the GP against hand calculations, brute-force linear algebra,
//! finite differences and simulation.

use approx::assert_relative_eq;
use darkprobe_core::optimize::{minimize, Bound, Method, MinimizeOptions};
use darkprobe_core::rng::rng_from_seed;
use ndarray::{Array1, Array2};
use rand::Rng;
use rand_distr::StandardNormal;

use super::*;
use crate::model::{PlanePair, PlaneRegressor};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Inverse and log determinant by Gauss–Jordan elimination with partial
/// pivoting (independent of faer).
fn brute_inverse(a: &Array2<f64>) -> (Array2<f64>, f64) {
    let n = a.nrows();
    let mut m = a.clone();
    let mut inv = Array2::<f64>::eye(n);
    let mut ln_det = 0.0;
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| m[[i, c]].abs().total_cmp(&m[[j, c]].abs()))
            .unwrap();
        if p != c {
            for k in 0..n {
                m.swap([p, k], [c, k]);
                inv.swap([p, k], [c, k]);
            }
        }
        let piv = m[[c, c]];
        ln_det += piv.abs().ln();
        for k in 0..n {
            m[[c, k]] /= piv;
            inv[[c, k]] /= piv;
        }
        for r in 0..n {
            if r != c {
                let f = m[[r, c]];
                for k in 0..n {
                    m[[r, k]] -= f * m[[c, k]];
                    inv[[r, k]] -= f * inv[[c, k]];
                }
            }
        }
    }
    (inv, ln_det)
}

fn dense_k(k: &Matern32Kernel, x: &Array2<f64>) -> Array2<f64> {
    let n = x.nrows();
    Array2::from_shape_fn((n, n), |(i, j)| {
        let xi = x.row(i).to_vec();
        let xj = x.row(j).to_vec();
        k.signal(&xi, &xj) + if i == j { k.noise } else { 0.0 }
    })
}

fn flat(x: &Array2<f64>) -> Vec<f64> {
    x.iter().copied().collect()
}

fn random_inputs(n: usize, d: usize, scale: f64, seed: u64) -> Array2<f64> {
    let mut rng = rng_from_seed(seed);
    Array2::from_shape_fn((n, d), |_| scale * rng.random::<f64>())
}

fn fixed(kernel: &Matern32Kernel) -> GpParams {
    GpParams {
        initial: Some(kernel.clone()),
        standardize: false,
        optimize: false,
        ..GpParams::default()
    }
}

#[test]
fn lml_single_point_closed_form() {
    let k = Matern32Kernel::isotropic(1.7, 0.4, Some(0.3), 0.2).unwrap();
    let y = 0.9;
    let ev = ln_marginal_likelihood(&k, &[0.5, -1.0], 2, &[y], true).unwrap();
    let v = 1.7 + 0.3 + 0.2;
    let expect = -0.5 * y * y / v - 0.5 * v.ln() - 0.5 * LN_2PI;
    assert_relative_eq!(ev.ln_ml, expect, max_relative = 1e-13);
    assert_eq!(ev.jitter, 0.0);
    assert_relative_eq!(ev.alpha[0], y / v, max_relative = 1e-13);
}

#[test]
fn lml_two_points_by_hand() {
    let k = Matern32Kernel::isotropic(1.2, 0.7, None, 0.15).unwrap();
    let x = [0.0, 0.5];
    let y = [0.4, -0.3];
    let r = 0.5 / 0.7;
    let s = 3f64.sqrt() * r;
    let a = 1.2 + 0.15;
    let b = 1.2 * (1.0 + s) * (-s).exp();
    let det = a * a - b * b;
    let quad = (a * y[0] * y[0] - 2.0 * b * y[0] * y[1] + a * y[1] * y[1]) / det;
    let expect = -0.5 * quad - 0.5 * det.ln() - LN_2PI;
    let ev = ln_marginal_likelihood(&k, &x, 1, &y, false).unwrap();
    assert_relative_eq!(ev.ln_ml, expect, max_relative = 1e-13);
}

#[test]
fn lml_matches_brute_force_inverse() {
    let x = random_inputs(12, 3, 2.0, 1);
    let mut rng = rng_from_seed(2);
    let y: Vec<f64> = (0..12).map(|_| rng.sample(StandardNormal)).collect();
    let k = Matern32Kernel::ard(0.8, vec![0.5, 1.0, 2.0], Some(0.1), 0.05).unwrap();
    let (inv, ln_det) = brute_inverse(&dense_k(&k, &x));
    let ya = Array1::from(y.clone());
    let expect = -0.5 * ya.dot(&inv.dot(&ya)) - 0.5 * ln_det - 6.0 * LN_2PI;
    let ev = ln_marginal_likelihood(&k, &flat(&x), 3, &y, false).unwrap();
    assert_relative_eq!(ev.ln_ml, expect, max_relative = 1e-11);
    let alpha = inv.dot(&ya);
    for (a, b) in ev.alpha.iter().zip(alpha.iter()) {
        assert_relative_eq!(*a, *b, max_relative = 1e-9, epsilon = 1e-12);
    }
}

#[test]
fn lml_gradient_matches_finite_differences() {
    let x = random_inputs(25, 3, 2.0, 3);
    let mut rng = rng_from_seed(4);
    let y: Vec<f64> = (0..25).map(|_| rng.sample(StandardNormal)).collect();
    let xf = flat(&x);
    for k in [
        Matern32Kernel::isotropic(1.3, 0.9, Some(0.2), 0.1).unwrap(),
        Matern32Kernel::ard(0.7, vec![0.5, 1.5, 2.5], None, 0.08).unwrap(),
    ] {
        let theta = k.log_params();
        let ev = ln_marginal_likelihood(&k, &xf, 3, &y, true).unwrap();
        let h = 1e-5;
        for p in 0..theta.len() {
            let mut tp = theta.clone();
            let mut tm = theta.clone();
            tp[p] += h;
            tm[p] -= h;
            let fp = ln_marginal_likelihood(&k.with_log_params(&tp).unwrap(), &xf, 3, &y, false)
                .unwrap()
                .ln_ml;
            let fm = ln_marginal_likelihood(&k.with_log_params(&tm).unwrap(), &xf, 3, &y, false)
                .unwrap()
                .ln_ml;
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (ev.gradient[p] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
                "{}: analytic {} vs fd {fd}",
                k.param_names()[p],
                ev.gradient[p]
            );
        }
    }
}

#[test]
fn posterior_matches_brute_force() {
    let x = random_inputs(15, 2, 3.0, 5);
    let mut rng = rng_from_seed(6);
    let y = Array1::from_shape_fn(15, |_| rng.sample::<f64, _>(StandardNormal));
    let xq = random_inputs(7, 2, 3.0, 7);
    let k = Matern32Kernel::isotropic(1.1, 0.8, Some(0.05), 0.02).unwrap();
    let gp = ExactGp::fit(x.view(), y.view(), &fixed(&k)).unwrap();
    let (mean, var) = gp.predict_with_variance(xq.view(), false).unwrap();
    let (_, var_noisy) = gp.predict_with_variance(xq.view(), true).unwrap();
    let (inv, _) = brute_inverse(&dense_k(&k, &x));
    for q in 0..7 {
        let xs = xq.row(q).to_vec();
        let ks = Array1::from_shape_fn(15, |i| k.signal(&x.row(i).to_vec(), &xs));
        let m = ks.dot(&inv.dot(&y));
        let v = k.signal(&xs, &xs) - ks.dot(&inv.dot(&ks));
        assert_relative_eq!(mean[q], m, max_relative = 1e-9, epsilon = 1e-12);
        assert_relative_eq!(var[q], v, max_relative = 1e-7, epsilon = 1e-12);
        assert_relative_eq!(var_noisy[q], v + 0.02, max_relative = 1e-7);
    }
}

/// Draws `y ~ N(0, K)` for the kernel at inputs `x`, via a brute Cholesky.
fn sample_prior(k: &Matern32Kernel, x: &Array2<f64>, seed: u64) -> Array1<f64> {
    let kk = dense_k(k, x);
    let n = x.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let s: f64 = (0..j).map(|p| l[[j, p]] * l[[j, p]]).sum();
        l[[j, j]] = (kk[[j, j]] - s).sqrt();
        for i in j + 1..n {
            let s: f64 = (0..j).map(|p| l[[i, p]] * l[[j, p]]).sum();
            l[[i, j]] = (kk[[i, j]] - s) / l[[j, j]];
        }
    }
    let mut rng = rng_from_seed(seed);
    let z = Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal));
    l.dot(&z)
}

#[test]
fn optimisation_recovers_prior_hyperparameters() {
    let truth = Matern32Kernel::isotropic(2.0, 1.0, None, 0.05).unwrap();
    let x = random_inputs(400, 2, 8.0, 11);
    let y = sample_prior(&truth, &x, 12);
    let params = GpParams {
        constant_term: false,
        standardize: false,
        n_restarts: 2,
        seed: 13,
        ..GpParams::default()
    };
    let gp = ExactGp::fit(x.view(), y.view(), &params).unwrap();
    let k = gp.kernel();
    let l = k.length_scales[0];
    assert!((l - 1.0).abs() < 0.3, "length scale {l}");
    assert!((k.noise / 0.05 - 1.0).abs() < 0.35, "noise {}", k.noise);
    assert!(
        k.amplitude > 0.8 && k.amplitude < 5.0,
        "amplitude {}",
        k.amplitude
    );
    // The optimum is at least as likely as the truth.
    let at_truth = ln_marginal_likelihood(&truth, &flat(&x), 2, y.as_slice().unwrap(), false)
        .unwrap()
        .ln_ml;
    assert!(gp.ln_marginal_likelihood() >= at_truth - 1e-6);
    assert_eq!(gp.report().start_ln_ml.len(), 3);
}

#[test]
fn inducing_approximation_converges_to_exact() {
    let truth = Matern32Kernel::isotropic(1.0, 0.8, None, 0.05).unwrap();
    let x = random_inputs(150, 2, 4.0, 21);
    let y = sample_prior(&truth, &x, 22);
    let xq = random_inputs(50, 2, 4.0, 23);
    let exact = ExactGp::fit(x.view(), y.view(), &fixed(&truth)).unwrap();
    let pe = exact.predict(xq.view()).unwrap();
    let std = Standardizer::identity(2);
    let mut last = f64::INFINITY;
    for selection in [
        InducingSelection::KMeansPlusPlus,
        InducingSelection::RandomSubset,
    ] {
        let mut diffs = Vec::new();
        for m in [8, 40, 150] {
            let ip = InducingParams {
                n_inducing: m,
                selection,
                seed: 5,
            };
            let sp = SparseGp::fit(x.view(), y.view(), &truth, &std, &ip).unwrap();
            assert_eq!(sp.n_inducing(), m);
            let ps = sp.predict(xq.view()).unwrap();
            let mad = (&ps - &pe).mapv(f64::abs).mean().unwrap();
            assert!(
                sp.ln_evidence_bound() <= exact.ln_marginal_likelihood() + 1e-6,
                "bound above the exact evidence"
            );
            diffs.push((mad, exact.ln_marginal_likelihood() - sp.ln_evidence_bound()));
        }
        // (mean |mu_sparse - mu_exact|, ln p - F) for m = 8, 40, 150 (n = 150).
        eprintln!("inducing {selection:?}: {diffs:?}");
        assert!(diffs[0].0 > diffs[1].0, "{diffs:?}");
        assert!(
            diffs[0].1 > diffs[1].1 && diffs[1].1 > diffs[2].1,
            "{diffs:?}"
        );
        assert!(diffs[2].0 < 1e-6 && diffs[2].1.abs() < 1e-6, "{diffs:?}");
        last = last.min(diffs[1].0);
    }
    assert!(last < 0.2);
    // With m = n the variances agree too.
    let sp = SparseGp::fit(
        x.view(),
        y.view(),
        &truth,
        &std,
        &InducingParams {
            n_inducing: 150,
            ..Default::default()
        },
    )
    .unwrap();
    let (_, ve) = exact.predict_with_variance(xq.view(), true).unwrap();
    let (_, vs) = sp.predict_with_variance(xq.view(), true).unwrap();
    for (a, b) in ve.iter().zip(vs.iter()) {
        assert_relative_eq!(*a, *b, max_relative = 1e-5, epsilon = 1e-8);
    }
}

#[test]
fn duplicated_inputs_need_and_report_jitter() {
    let x = Array2::from_shape_fn((6, 2), |(i, j)| if i < 4 { 1.0 } else { (i + j) as f64 });
    let y = Array1::from(vec![0.5, 0.5, 0.5, 0.5, 1.0, -1.0]);
    let k = Matern32Kernel::isotropic(1.0, 1.0, None, 1e-18).unwrap();
    let gp = ExactGp::fit(x.view(), y.view(), &fixed(&k)).unwrap();
    assert!(gp.jitter() > 0.0 && gp.jitter() <= 1e-4 * 1.1);
    let (m, v) = gp.predict_with_variance(x.view(), false).unwrap();
    assert!(m.iter().chain(v.iter()).all(|v| v.is_finite()));
    assert!((m[0] - 0.5).abs() < 1e-3);
}

#[test]
fn bad_input_is_an_error() {
    let x = random_inputs(5, 2, 1.0, 1);
    let y = Array1::from(vec![0.0; 5]);
    let p = GpParams::default();
    let mut xn = x.clone();
    xn[[2, 1]] = f64::NAN;
    let e = ExactGp::fit(xn.view(), y.view(), &p).unwrap_err();
    assert!(e.to_string().contains("[2, 1]"), "{e}");
    assert!(ExactGp::fit(x.view(), Array1::from(vec![0.0; 4]).view(), &p).is_err());
    assert!(ExactGp::fit(Array2::zeros((0, 2)).view(), Array1::zeros(0).view(), &p).is_err());
    let mut yn = y.clone();
    yn[3] = f64::INFINITY;
    assert!(ExactGp::fit(x.view(), yn.view(), &p).is_err());
    let bad_bounds = GpParams {
        bounds: HyperBounds {
            noise: (1.0, 0.1),
            ..HyperBounds::default()
        },
        ..GpParams::default()
    };
    let y2 = Array1::from(vec![0.0, 1.0, 0.5, 0.2, 0.1]);
    assert!(ExactGp::fit(x.view(), y2.view(), &bad_bounds).is_err());
    let gp = ExactGp::fit(x.view(), y2.view(), &p).unwrap();
    assert!(gp.predict(Array2::zeros((3, 3)).view()).is_err());
    assert!(SparseGp::fit(
        x.view(),
        y2.view(),
        gp.kernel(),
        gp.standardizer(),
        &InducingParams {
            n_inducing: 0,
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn serde_round_trip_preserves_predictions() {
    let x = random_inputs(30, 2, 3.0, 31);
    let y = x.column(0).mapv(f64::sin) + x.column(1).mapv(|v| 0.3 * v);
    let gp = ExactGp::fit(
        x.view(),
        y.view(),
        &GpParams {
            n_restarts: 1,
            ..GpParams::default()
        },
    )
    .unwrap();
    let json = serde_json::to_string(&gp).unwrap();
    let back: ExactGp = serde_json::from_str(&json).unwrap();
    let xq = random_inputs(9, 2, 3.0, 32);
    let (m1, v1) = gp.predict_with_variance(xq.view(), false).unwrap();
    let (m2, v2) = back.predict_with_variance(xq.view(), false).unwrap();
    assert_eq!(m1, m2);
    for (a, b) in v1.iter().zip(v2.iter()) {
        assert_relative_eq!(*a, *b, max_relative = 1e-9, epsilon = 1e-14);
    }
}

/// A smooth positive 12CO-like plane and a nonlinear, non-local 13CO target.
fn synthetic_planes(n_lat: usize, n_lon: usize, seed: u64) -> (Array2<f64>, Array2<f64>) {
    let mut rng = rng_from_seed(seed);
    let waves: Vec<(f64, f64, f64, f64)> = (0..8)
        .map(|_| {
            (
                rng.random_range(0.05..0.35),
                rng.random_range(0.05..0.35),
                rng.random_range(0.0..6.3),
                rng.random_range(0.3..1.0),
            )
        })
        .collect();
    let source = Array2::from_shape_fn((n_lat, n_lon), |(r, c)| {
        let s: f64 = waves
            .iter()
            .map(|&(kr, kc, ph, a)| a * (kr * r as f64 + kc * c as f64 + ph).sin())
            .sum();
        (1.0 + 0.5 * s).max(0.0).powf(1.5)
    });
    let target = Array2::from_shape_fn((n_lat, n_lon), |(r, c)| {
        let mut acc = 0.0;
        for d in -2isize..=2 {
            let cc = (c as isize + d).clamp(0, n_lon as isize - 1) as usize;
            acc += source[[r, cc]] / 5.0;
        }
        // Saturating (optically thick) response of the local average.
        2.0 * (1.0 - (-acc / 1.5).exp()) * (1.0 + 0.2 * (source[[r, c]] - acc).tanh())
    });
    (source, target)
}

/// Least squares on strip features + intercept, by normal equations.
fn linear_fit_predict(xtr: &Array2<f64>, ytr: &Array1<f64>, xte: &Array2<f64>) -> Array1<f64> {
    let aug = |x: &Array2<f64>| {
        Array2::from_shape_fn((x.nrows(), x.ncols() + 1), |(i, j)| {
            if j == 0 {
                1.0
            } else {
                x[[i, j - 1]]
            }
        })
    };
    let a = aug(xtr);
    let ata = a.t().dot(&a) + Array2::<f64>::eye(a.ncols()) * 1e-9;
    let (inv, _) = brute_inverse(&ata);
    let w = inv.dot(&a.t().dot(ytr));
    aug(xte).dot(&w)
}

#[test]
fn strip_gp_beats_linear_regression_on_a_nonlinear_plane() {
    let (source, target) = synthetic_planes(30, 40, 41);
    // Train on the left 24 columns, test on the rest.
    let mask = Array2::from_shape_fn((30, 40), |(_, c)| c < 24);
    let pair = [PlanePair {
        velocity_bin: 7,
        source: source.view(),
        target: target.view(),
        train_mask: mask.view(),
    }];
    let params = StripGpParams {
        max_train_pixels: 350,
        gp: GpParams {
            n_restarts: 1,
            ..GpParams::default()
        },
        seed: 3,
        ..StripGpParams::default()
    };
    let gp = StripGp::fit(&pair, &params).unwrap();
    assert_eq!(gp.name(), "gp");
    assert_eq!(gp.bins().len(), 1);
    assert_eq!(gp.bins()[0].n_train, 350);
    let pred = gp.predict_plane(7, source.view()).unwrap();
    assert_eq!(pred.dim(), source.dim());
    let test_px: Vec<(usize, usize)> = crate::model::all_pixels(30, 40)
        .into_iter()
        .filter(|&(_, c)| c >= 24)
        .collect();
    let train_px: Vec<(usize, usize)> = crate::model::all_pixels(30, 40)
        .into_iter()
        .filter(|&(_, c)| c < 24)
        .collect();
    let h = crate::model::Neighbourhood::Strip {
        orientation: crate::model::Orientation::Horizontal,
        len: 9,
    };
    let xtr = h.features(source.view(), &train_px).unwrap();
    let ytr = Array1::from_iter(train_px.iter().map(|&p| target[p]));
    let xte = h.features(source.view(), &test_px).unwrap();
    let lin = linear_fit_predict(&xtr, &ytr, &xte);
    let mae_lin = test_px
        .iter()
        .zip(lin.iter())
        .map(|(&p, v)| (v - target[p]).abs())
        .sum::<f64>()
        / test_px.len() as f64;
    let mae_gp = test_px
        .iter()
        .map(|&p| (pred[p] - target[p]).abs())
        .sum::<f64>()
        / test_px.len() as f64;
    assert!(mae_gp < 0.7 * mae_lin, "GP {mae_gp} vs linear {mae_lin}");

    // Variances are finite and non-negative; the mean agrees with predict_plane.
    let pv = gp.predict_plane_with_variance(7, source.view()).unwrap();
    assert_eq!(pv.mean, pred);
    assert!(pv.variance.iter().all(|v| v.is_finite() && *v >= 0.0));

    // Deterministic refit, and serde keeps the predictions.
    let gp2 = StripGp::fit(&pair, &params).unwrap();
    assert_eq!(gp2.predict_plane(7, source.view()).unwrap(), pred);
    let back: StripGp = serde_json::from_str(&serde_json::to_string(&gp).unwrap()).unwrap();
    assert_eq!(back.predict_plane(7, source.view()).unwrap(), pred);
}

#[test]
fn strip_gp_inducing_method_is_close_to_exact() {
    let (source, target) = synthetic_planes(20, 20, 51);
    let mask = Array2::from_elem((20, 20), true);
    let pair = [PlanePair {
        velocity_bin: 0,
        source: source.view(),
        target: target.view(),
        train_mask: mask.view(),
    }];
    let base = StripGpParams {
        strip_len: 5,
        max_train_pixels: 300,
        gp: GpParams {
            n_restarts: 0,
            ..GpParams::default()
        },
        ..StripGpParams::default()
    };
    let exact = StripGp::fit(&pair, &base).unwrap();
    let sparse = StripGp::fit(
        &pair,
        &StripGpParams {
            method: StripMethod::Inducing {
                n_hyper: 300,
                inducing: InducingParams {
                    n_inducing: 120,
                    ..Default::default()
                },
            },
            ..base.clone()
        },
    )
    .unwrap();
    let pe = exact.predict_plane(0, source.view()).unwrap();
    let ps = sparse.predict_plane(0, source.view()).unwrap();
    let mad = (&pe - &ps).mapv(f64::abs).mean().unwrap();
    let scale = target.mapv(f64::abs).mean().unwrap();
    assert!(
        mad < 0.02 * scale,
        "mean abs difference {mad} (scale {scale})"
    );
}

#[test]
fn strip_gp_rejects_bad_input() {
    let (source, target) = synthetic_planes(10, 10, 61);
    let mask = Array2::from_elem((10, 10), true);
    let params = StripGpParams {
        strip_len: 3,
        max_train_pixels: 50,
        gp: GpParams {
            n_restarts: 0,
            max_iter: 20,
            ..GpParams::default()
        },
        ..StripGpParams::default()
    };
    let pair = |s: &Array2<f64>, t: &Array2<f64>, m: &Array2<bool>| {
        StripGp::fit(
            &[PlanePair {
                velocity_bin: 1,
                source: s.view(),
                target: t.view(),
                train_mask: m.view(),
            }],
            &params,
        )
    };
    assert!(StripGp::fit(&[], &params).is_err());
    let mut s_nan = source.clone();
    s_nan[[4, 5]] = f64::NAN;
    let e = pair(&s_nan, &target, &mask).unwrap_err();
    assert!(e.to_string().contains("(4, 5)"), "{e}");
    assert!(pair(&source, &target, &Array2::from_elem((10, 9), true)).is_err());
    assert!(pair(&source, &target, &Array2::from_elem((10, 10), false)).is_err());
    let mut t_nan = target.clone();
    t_nan[[0, 0]] = f64::NAN;
    assert!(pair(&source, &t_nan, &mask).is_err());
    let even = StripGpParams {
        strip_len: 4,
        ..params.clone()
    };
    assert!(StripGp::fit(
        &[PlanePair {
            velocity_bin: 1,
            source: source.view(),
            target: target.view(),
            train_mask: mask.view(),
        }],
        &even
    )
    .is_err());
    let gp = pair(&source, &target, &mask).unwrap();
    let e = gp.predict_plane(2, source.view()).unwrap_err();
    assert!(e.to_string().contains("velocity bin"), "{e}");
    assert!(gp.predict_plane(1, s_nan.view()).is_err());
    assert!(gp.predict_plane(1, Array2::zeros((0, 3)).view()).is_err());
}

#[test]
fn lml_gradient_is_bit_identical_on_one_and_two_threads() {
    use super::exact::{inverse_from_factor, lml_gradient};
    let n = 300;
    let x = random_inputs(n, 3, 2.0, 11);
    let xf = flat(&x);
    let mut rng = rng_from_seed(12);
    let y: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    for k in [
        Matern32Kernel::isotropic(1.3, 0.9, Some(0.2), 0.1).unwrap(),
        Matern32Kernel::ard(0.7, vec![0.5, 1.5, 2.5], Some(0.1), 0.08).unwrap(),
    ] {
        let ev = ln_marginal_likelihood(&k, &xf, 3, &y, false).unwrap();
        let kinv = inverse_from_factor(ev.factor.as_ref());
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| lml_gradient(&k, &xf, 3, &ev.alpha, &kinv))
        };
        let (g1, g2) = (on(1), on(2));
        assert_eq!(g1.len(), k.n_params());
        for (a, b) in g1.iter().zip(&g2) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}

/// Rows like 9-pixel strips of a smooth emission profile, with a target that
/// is a smooth, saturating function of the centre pixel plus a little noise
/// (the generator of the peer bench, `benches/peers.rs`). Its likelihood
/// optimum has the amplitude on its upper bound.
fn strip_rows(n: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
    let mut rng = rng_from_seed(seed);
    let mut x = Array2::zeros((n, 9));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        let level: f64 = rng.random_range(0.0..4.0);
        let slope: f64 = rng.random_range(-0.3..0.3);
        let width: f64 = rng.random_range(2.0..8.0);
        for j in 0..9 {
            let t = j as f64 - 4.0;
            let e: f64 = rng.sample(StandardNormal);
            x[[i, j]] =
                (level * (-(t * t) / (2.0 * width * width)).exp() + slope * t + 0.05 * e).max(0.0);
        }
        let centre = x[[i, 4]];
        let mean = x.row(i).sum() / 9.0;
        let e: f64 = rng.sample(StandardNormal);
        y[i] = 1.5 * (1.0 - (-centre / 1.2).exp()) + 0.1 * (centre - mean) + 0.02 * e;
    }
    (x, y)
}

#[test]
fn hyperparameter_fit_is_cheap_and_as_good_as_a_derivative_free_search() {
    // An amplitude bound of 30 (the unconstrained optimum is near 350), so
    // the optimum lies on it, as in the fits of the 9-pixel strips.
    let (x, y) = strip_rows(120, 5);
    let b = HyperBounds {
        amplitude: (1e-3, 30.0),
        ..HyperBounds::default()
    };
    let params = GpParams {
        constant_term: false,
        n_restarts: 0,
        bounds: b,
        ..GpParams::default()
    };
    let gp = ExactGp::fit(x.view(), y.view(), &params).unwrap();
    let report = gp.report();
    // Independent optimum: Nelder-Mead (no gradient) on the log-hyperparameters
    // in the same box, from the same start, with a tight tolerance.
    let st = Standardizer::from_data(x.view(), y.view());
    let (xs, ys) = (st.transform_x(x.view()), st.transform_y(y.view()));
    let start = ExactGp::fit(
        x.view(),
        y.view(),
        &GpParams {
            optimize: false,
            ..params.clone()
        },
    )
    .unwrap();
    let k0 = start.kernel().clone();
    let neg_lml = |th: &[f64]| -> darkprobe_core::Result<f64> {
        let k = k0.with_log_params(th)?;
        Ok(-ln_marginal_likelihood(&k, &xs, 9, &ys, false)?.ln_ml)
    };
    let bounds: Vec<Bound> = [b.amplitude, b.length_scale, b.noise]
        .iter()
        .map(|(lo, hi)| Bound::between(lo.ln(), hi.ln()))
        .collect();
    let nm = minimize(
        &neg_lml,
        &k0.log_params(),
        &bounds,
        &MinimizeOptions {
            method: Method::NelderMead,
            f_tol: 1e-12,
            max_iter: 5000,
            ..MinimizeOptions::default()
        },
    )
    .unwrap();
    assert!(report.converged, "{report:?}");
    assert!(
        gp.ln_marginal_likelihood() >= -nm.f_x - 1e-7 * nm.f_x.abs(),
        "{} vs Nelder-Mead {}",
        gp.ln_marginal_likelihood(),
        -nm.f_x
    );
    // The projected optimiser stops exactly on the amplitude's bound.
    assert_relative_eq!(gp.kernel().amplitude, 30.0, max_relative = 1e-12);
    // 16 evaluations when written (the unconstrained L-BFGS on a sine map of
    // the box that it replaced took 2-3 times as many on such fits): a
    // regression in the optimiser's efficiency fails here.
    assert!(report.n_eval <= 24, "{} evaluations", report.n_eval);
}
