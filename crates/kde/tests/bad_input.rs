//! Numerical robustness of the sky KDE (issue #12, item 4): a background pdf
//! built from a single void, queried near it, at its antipode and far out in
//! ln counts, stays finite and normalised; fewer than two voids cannot be
//! cross-validated and says so.

use darkprobe_core::numerics::normal_ln_pdf;
use darkprobe_kde::{SkyProductKde, SpatialMetric};

fn one_void() -> SkyProductKde {
    SkyProductKde::new(
        vec![120.0],
        vec![45.0],
        vec![2.5],
        1.4,
        0.15,
        SpatialMetric::Angular,
    )
    .unwrap()
}

#[test]
fn a_single_void_gives_a_finite_gaussian_conditional_everywhere() {
    let kde = one_void();
    // Near the void, 90 deg away and at the antipode: the spatial weight of the
    // only void underflows in linear space far away, but the conditional is the
    // void's Gaussian in ln y whatever the weight.
    for (l, b) in [(120.0, 45.0), (121.0, 44.0), (210.0, 45.0), (300.0, -45.0)] {
        for ln_y in [-50.0, 0.0, 2.5, 3.0, 50.0] {
            let got = kde.ln_conditional_pdf(l, b, ln_y);
            let want = normal_ln_pdf(ln_y, 2.5, 0.15);
            assert!(got.is_finite(), "({l}, {b}, {ln_y}): {got}");
            assert!(
                (got - want).abs() < 1e-9 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
        let pdf = kde.conditional_at(l, b, 45.0);
        assert_eq!(pdf.n_components(), 1);
        assert!((pdf.mean() - 2.5).abs() < 1e-12);
        let (v, d) = pdf.ln_pdf_and_derivative(2.8);
        assert!(v.is_finite() && d.is_finite());
        // d/dy ln N(y; 2.5, 0.15) at 2.8.
        assert!((d - (2.5 - 2.8) / 0.0225).abs() < 1e-9, "{d}");
    }
    // The joint density is finite near the void; at the antipode it may
    // underflow to -inf in log space but never becomes NaN.
    let near = kde.ln_joint_pdf(120.0, 45.0, 2.5);
    assert!(near.is_finite());
    let far = kde.ln_joint_pdf(300.0, -45.0, 2.5);
    assert!(!far.is_nan(), "{far}");
}

#[test]
fn a_single_void_cannot_be_cross_validated_and_says_so() {
    let e = one_void().loo_ln_likelihood().unwrap_err().to_string();
    assert!(!e.is_empty());
    assert!(
        e.contains('2') || e.contains("two") || e.contains("one"),
        "{e}"
    );
}

#[test]
fn non_finite_or_empty_voids_are_rejected() {
    let m = SpatialMetric::Angular;
    assert!(SkyProductKde::new(vec![], vec![], vec![], 1.4, 0.15, m).is_err());
    assert!(SkyProductKde::new(vec![1.0], vec![2.0], vec![f64::NAN], 1.4, 0.15, m).is_err());
    assert!(SkyProductKde::new(vec![f64::INFINITY], vec![2.0], vec![1.0], 1.4, 0.15, m).is_err());
    assert!(SkyProductKde::new(vec![1.0], vec![2.0], vec![1.0], 0.0, 0.15, m).is_err());
    assert!(SkyProductKde::new(vec![1.0], vec![2.0], vec![1.0], 1.4, f64::NAN, m).is_err());
}
