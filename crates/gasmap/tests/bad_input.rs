//! Numerical robustness of the gas-map GP (issue #12, item 4): duplicated
//! inputs with a vanishing noise term make the Gram matrix singular to
//! rounding; the jitter policy (`JITTER_LEVELS`, documented in the `gp`
//! module and in docs/hardening.md) must factorise it, report the jitter, and
//! predict finite values that interpolate the data. Non-finite data is an
//! error, never a NaN prediction.

use darkprobe_gasmap::gp::{ExactGp, GpParams, Matern32Kernel, JITTER_LEVELS};
use ndarray::{Array1, Array2};

/// 20 distinct inputs, each repeated `copies` times, with the same target.
fn duplicated(copies: usize) -> (Array2<f64>, Array1<f64>) {
    let n = 20 * copies;
    let x = Array2::from_shape_fn((n, 2), |(i, j)| {
        let k = (i % 20) as f64;
        if j == 0 {
            k * 0.3
        } else {
            (k * 0.7).sin()
        }
    });
    let y = Array1::from_shape_fn(n, |i| {
        let k = (i % 20) as f64;
        (k * 0.3).cos() + 0.1 * k
    });
    (x, y)
}

fn fixed_kernel(noise: f64) -> GpParams {
    GpParams {
        initial: Some(Matern32Kernel::isotropic(1.0, 1.0, None, noise).unwrap()),
        optimize: false,
        ..GpParams::default()
    }
}

#[test]
fn duplicated_inputs_with_vanishing_noise_are_factorised_with_bounded_jitter() {
    for copies in [2, 5] {
        let (x, y) = duplicated(copies);
        let gp = ExactGp::fit(x.view(), y.view(), &fixed_kernel(1e-14)).unwrap();
        // The jitter is one of the documented levels times the mean diagonal
        // (about 1 + noise in standardised units): at most 1e-4 of it.
        let jitter = gp.jitter();
        assert!(
            jitter.is_finite() && (0.0..=1.1e-4).contains(&jitter),
            "{jitter}"
        );
        assert!(gp.ln_marginal_likelihood().is_finite());
        let pred = gp.predict(x.view()).unwrap();
        for (p, t) in pred.iter().zip(&y) {
            assert!(p.is_finite());
            // Near-interpolation of the (consistent) duplicated data.
            assert!((p - t).abs() < 1e-2, "{p} vs {t}");
        }
        let (_, var) = gp.predict_with_variance(x.view(), false).unwrap();
        assert!(var.iter().all(|v| v.is_finite() && *v >= -1e-9), "{var:?}");
    }
    assert_eq!(JITTER_LEVELS[0], 0.0);
    assert_eq!(*JITTER_LEVELS.last().unwrap(), 1e-4);
}

#[test]
fn optimised_fit_on_duplicated_inputs_stays_finite() {
    let (x, y) = duplicated(3);
    let params = GpParams {
        n_restarts: 1,
        max_iter: 50,
        ..GpParams::default()
    };
    let gp = ExactGp::fit(x.view(), y.view(), &params).unwrap();
    assert!(gp.ln_marginal_likelihood().is_finite());
    let pred = gp.predict(x.view()).unwrap();
    assert!(pred.iter().all(|p| p.is_finite()));
}

#[test]
fn non_finite_training_data_or_queries_are_errors() {
    let (mut x, mut y) = duplicated(1);
    y[3] = f64::NAN;
    assert!(ExactGp::fit(x.view(), y.view(), &fixed_kernel(1e-3)).is_err());
    y[3] = 0.5;
    x[[4, 1]] = f64::INFINITY;
    assert!(ExactGp::fit(x.view(), y.view(), &fixed_kernel(1e-3)).is_err());
    x[[4, 1]] = 0.2;
    let gp = ExactGp::fit(x.view(), y.view(), &fixed_kernel(1e-3)).unwrap();
    let q = Array2::from_shape_vec((2, 2), vec![0.1, f64::NAN, 0.2, 0.3]).unwrap();
    assert!(gp.predict(q.view()).is_err());
    // Far-away queries revert to the prior mean: finite.
    let far = Array2::from_shape_vec((1, 2), vec![1e6, -1e6]).unwrap();
    assert!(gp
        .predict(far.view())
        .unwrap()
        .iter()
        .all(|p| p.is_finite()));
    // Identical targets (zero variance) standardise without dividing by zero.
    let flat = Array1::from_elem(y.len(), 3.0);
    match ExactGp::fit(x.view(), flat.view(), &fixed_kernel(1e-3)) {
        Ok(gp) => assert!(gp
            .predict(x.view())
            .unwrap()
            .iter()
            .all(|p| (p - 3.0).abs() < 1e-9)),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
