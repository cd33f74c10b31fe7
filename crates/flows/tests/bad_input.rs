//! Numerical robustness of the phase-space flows (issue #12, item 4): a
//! trained flow fed extreme inputs (|x| = 1e6 kpc, |v| = 1e6 km/s) returns
//! finite values or a clear error, and NaN or infinite inputs are errors;
//! nothing returns NaN silently.

use darkprobe_core::progress::NoProgress;
use darkprobe_flows::{FitOptions, PhaseSpaceFlow, PhaseSpaceModel};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn small_flow() -> PhaseSpaceFlow {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut g = || rng.sample::<f64, _>(StandardNormal);
    let x: Vec<[f64; 3]> = (0..300).map(|_| [g(), g(), g()]).collect();
    let v: Vec<[f64; 3]> = (0..300)
        .map(|_| [10.0 * g(), 10.0 * g(), 10.0 * g()])
        .collect();
    let mut opts = FitOptions {
        n_blocks: 2,
        hidden: vec![8],
        position_members: 1,
        ..FitOptions::default()
    };
    opts.train.max_epochs = 3;
    PhaseSpaceFlow::fit(&x, &v, &opts, 1, &NoProgress)
        .unwrap()
        .0
}

#[test]
fn extreme_inputs_give_finite_values_or_errors_never_nan() {
    let flow = small_flow();
    let big = 1e6;
    let cases: Vec<([f64; 3], [f64; 3])> = vec![
        ([big, 0.0, 0.0], [0.0, 0.0, 0.0]),
        ([-big, big, -big], [0.0, 0.0, 0.0]),
        ([0.0, 0.0, 0.0], [big, -big, big]),
        ([big, big, big], [big, big, big]),
        ([1e-300, 0.0, -1e-300], [1e-300, 0.0, 0.0]),
    ];
    for (x, v) in &cases {
        match flow.ln_f_grad(&[*x], &[*v]) {
            Ok(r) => {
                let l = r.ln_f[0];
                assert!(!l.is_nan(), "ln f NaN at x = {x:?}, v = {v:?}");
                assert!(
                    l < 1e3,
                    "ln f = {l} at x = {x:?}: far points must be improbable"
                );
                for g in r.grad_x[0].iter().chain(&r.grad_v[0]) {
                    assert!(!g.is_nan(), "gradient NaN at x = {x:?}, v = {v:?}");
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        match flow.ln_n(&[*x]) {
            Ok(l) => assert!(!l[0].is_nan(), "ln n NaN at {x:?}"),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    // Far points are less probable than the centre.
    let centre = flow.ln_f_grad(&[[0.0; 3]], &[[0.0; 3]]).unwrap().ln_f[0];
    if let Ok(r) = flow.ln_f_grad(&[[big, 0.0, 0.0]], &[[0.0; 3]]) {
        assert!(r.ln_f[0] < centre, "{} vs {centre}", r.ln_f[0]);
    }
}

#[test]
fn non_finite_inputs_are_errors() {
    let flow = small_flow();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(flow.ln_f_grad(&[[bad, 0.0, 0.0]], &[[0.0; 3]]).is_err());
        assert!(flow.ln_f_grad(&[[0.0; 3]], &[[0.0, bad, 0.0]]).is_err());
        assert!(flow.ln_n(&[[0.0, 0.0, bad]]).is_err());
        assert!(flow.sample_velocities([bad, 0.0, 0.0], 3, 1).is_err());
    }
    // Mismatched lengths.
    assert!(flow.ln_f_grad(&[[0.0; 3], [1.0; 3]], &[[0.0; 3]]).is_err());
    // Training data with a NaN is refused, naming the star.
    let x: Vec<[f64; 3]> = (0..20).map(|i| [i as f64, 0.5, -0.5]).collect();
    let mut v: Vec<[f64; 3]> = (0..20).map(|i| [0.0, i as f64, 1.0]).collect();
    v[7][2] = f64::NAN;
    let mut opts = FitOptions {
        n_blocks: 1,
        hidden: vec![4],
        ..FitOptions::default()
    };
    opts.train.max_epochs = 1;
    let e = PhaseSpaceFlow::fit(&x, &v, &opts, 1, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains('7') || e.contains("NaN"), "{e}");
}
