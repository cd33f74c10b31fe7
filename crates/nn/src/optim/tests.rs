//! Optimiser steps against hand-computed values, clipping and schedules.

use super::*;
use crate::layers::Dense;

/// A one-tensor-per-layer toy: a 2→1 dense layer with given weights and
/// gradients (bias gradient zero).
fn layer(w: [f64; 2], b: f64, gw: [f64; 2], gb: f64) -> Dense<f64> {
    let mut d = Dense::from_params(2, 1, w.to_vec(), vec![b]).unwrap();
    d.visit_params_mut(&mut |p| {
        if p.name == "weight" {
            p.grad.copy_from_slice(&gw);
        } else {
            p.grad[0] = gb;
        }
    });
    d
}

#[test]
fn adam_two_steps_by_hand() {
    let mut d = layer([0.5, -1.0], 0.2, [0.1, -0.4], 0.0);
    let mut adam = Adam::new(0.01)
        .unwrap()
        .with_betas(0.8, 0.9)
        .unwrap()
        .with_eps(1e-6)
        .unwrap();
    adam.step(&mut d).unwrap();
    // Step 1: m = 0.2 g, v = 0.1 g², m̂ = g, v̂ = g² ⇒ Δ = -lr g/(|g| + eps).
    let w1 = [
        0.5 - 0.01 * 0.1 / (0.1 + 1e-6),
        -1.0 + 0.01 * 0.4 / (0.4 + 1e-6),
    ];
    assert!((d.weight()[0] - w1[0]).abs() < 1e-15 && (d.weight()[1] - w1[1]).abs() < 1e-15);
    assert_eq!(d.bias()[0], 0.2); // zero gradient: no move
                                  // Step 2 with new gradients g2.
    let g2 = [0.3, 0.2];
    d.visit_params_mut(&mut |p| {
        if p.name == "weight" {
            p.grad.copy_from_slice(&g2);
        }
    });
    adam.step(&mut d).unwrap();
    let g1 = [0.1, -0.4];
    for i in 0..2 {
        let m = 0.8 * (0.2 * g1[i]) + 0.2 * g2[i];
        let v = 0.9 * (0.1 * g1[i] * g1[i]) + 0.1 * g2[i] * g2[i];
        let mh = m / (1.0 - 0.8f64.powi(2));
        let vh = v / (1.0 - 0.9f64.powi(2));
        let want = w1[i] - 0.01 * mh / (vh.sqrt() + 1e-6);
        assert!(
            (d.weight()[i] - want).abs() < 1e-14,
            "{} vs {want}",
            d.weight()[i]
        );
    }
    assert_eq!(adam.steps(), 2);
}

#[test]
fn adam_l2_and_adamw_decoupled_decay() {
    let lr = 0.1;
    let wd = 0.5;
    let mut a = layer([2.0, 1.0], 0.0, [0.0, 0.0], 0.0);
    let mut adam = Adam::new(lr).unwrap().with_weight_decay(wd).unwrap();
    adam.step(&mut a).unwrap();
    // L2: g = wd·w > 0, so the first step is -lr·sign(g).
    assert!((a.weight()[0] - (2.0 - lr * 1.0 / (1.0 + 1e-8))).abs() < 1e-12);
    let mut b = layer([2.0, 1.0], 0.0, [0.0, 0.0], 0.0);
    let mut adamw = Adam::adamw(lr, wd).unwrap();
    adamw.step(&mut b).unwrap();
    // AdamW with zero gradient: only the decay θ(1 - lr·wd).
    assert!((b.weight()[0] - 2.0 * (1.0 - lr * wd)).abs() < 1e-15);
    assert!((b.weight()[1] - 1.0 * (1.0 - lr * wd)).abs() < 1e-15);
}

#[test]
fn lamb_step_by_hand_per_tensor_trust_ratio() {
    let (lr, wd, eps) = (0.05, 0.1, 1e-6);
    let (b1, b2) = (0.9, 0.99);
    let w = [0.6, -0.8];
    let g = [0.2, 0.5];
    let mut d = layer(w, 0.3, g, -0.1);
    let mut lamb = Lamb::new(lr)
        .unwrap()
        .with_betas(b1, b2)
        .unwrap()
        .with_eps(eps)
        .unwrap()
        .with_weight_decay(wd)
        .unwrap();
    lamb.step(&mut d).unwrap();
    // Weight tensor: m̂ = g, v̂ = g² after bias correction.
    let r: Vec<f64> = (0..2)
        .map(|i| g[i] / (g[i].abs() + eps) + wd * w[i])
        .collect();
    let r_norm = (r[0] * r[0] + r[1] * r[1]).sqrt();
    let w_norm = 1.0; // ‖(0.6, -0.8)‖
    for i in 0..2 {
        let want = w[i] - lr * (w_norm / r_norm) * r[i];
        assert!(
            (d.weight()[i] - want).abs() < 1e-14,
            "{} vs {want}",
            d.weight()[i]
        );
    }
    // Bias tensor has its own ratio: |0.3| / |r_b|.
    let rb: f64 = -0.1 / (0.1 + eps) + wd * 0.3;
    let want_b = 0.3 - lr * (0.3 / rb.abs()) * rb;
    assert!((d.bias()[0] - want_b).abs() < 1e-14);
    // Second step, no bias correction variant differs from the corrected one.
    let mut e = layer(w, 0.3, g, -0.1);
    let mut nobc = Lamb::new(lr).unwrap().with_bias_correction(false);
    nobc.step(&mut e).unwrap();
    assert!(e.weight()[0] != d.weight()[0]);
}

#[test]
fn lamb_zero_weights_use_unit_ratio_and_clamp_works() {
    let mut d = layer([0.0, 0.0], 0.0, [1.0, 1.0], 0.0);
    let mut lamb = Lamb::new(0.1).unwrap().with_weight_decay(0.0).unwrap();
    lamb.step(&mut d).unwrap();
    // ‖θ‖ = 0 ⇒ ratio 1 ⇒ plain normalised step of lr·r with r ≈ 1.
    assert!((d.weight()[0] + 0.1 / (1.0 + 1e-6)).abs() < 1e-12);
    let mut c = layer([30.0, 40.0], 0.0, [1.0, 1.0], 0.0);
    let mut clamped = Lamb::new(0.1)
        .unwrap()
        .with_weight_decay(0.0)
        .unwrap()
        .with_max_trust_norm(10.0)
        .unwrap();
    clamped.step(&mut c).unwrap();
    let r = 1.0 / (1.0 + 1e-6);
    let want = 30.0 - 0.1 * (10.0 / (r * 2f64.sqrt())) * r;
    assert!((c.weight()[0] - want).abs() < 1e-12);
}

#[test]
fn sgd_nesterov_and_decay_by_hand() {
    let mut d = layer([1.0, 2.0], 0.0, [0.5, 0.5], 0.0);
    let mut sgd = Sgd::new(0.1)
        .unwrap()
        .with_momentum(0.5)
        .unwrap()
        .with_nesterov(true)
        .with_weight_decay(0.2)
        .unwrap();
    sgd.step(&mut d).unwrap();
    // g = 0.5 + 0.2·1 = 0.7, b = 0.7, step = g + μb = 1.05.
    assert!((d.weight()[0] - (1.0 - 0.1 * 1.05)).abs() < 1e-15);
}

#[test]
fn state_round_trip_and_mismatch() {
    let mut d = layer([1.0, 2.0], 0.0, [0.5, -0.5], 0.1);
    let mut adam = Adam::new(0.01).unwrap();
    adam.step(&mut d).unwrap();
    let saved = adam.state();
    let json = serde_json::to_string(&saved).unwrap();
    let back: OptimizerState<f64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, saved);
    let mut other = Adam::new(0.5).unwrap();
    other.load_state(&back).unwrap();
    assert_eq!(other.steps(), 1);
    assert_eq!(other.learning_rate(), 0.01);
    let mut sgd = Sgd::<f64>::new(0.1).unwrap();
    assert!(sgd.load_state(&back).is_err());
    // A state for other tensors is refused at the next step.
    let mut bigger = Dense::<f64>::zeros(3, 1).unwrap();
    assert!(matches!(
        other.step(&mut bigger),
        Err(crate::NnError::Checkpoint(_))
    ));
    assert!(Adam::<f64>::new(0.0).is_err());
    assert!(Adam::<f64>::new(0.1).unwrap().with_betas(1.0, 0.9).is_err());
    assert!(Sgd::<f64>::new(f64::NAN).is_err());
}

#[test]
fn clipping() {
    let mut d = layer([0.0, 0.0], 0.0, [3.0, 0.0], 4.0);
    let n = clip_grad_norm(&mut d, 1.0).unwrap();
    assert_eq!(n, 5.0);
    let after = grad_norm(&d);
    assert!((after - 5.0 / (5.0 + 1e-6)).abs() < 1e-12);
    let mut d = layer([0.0, 0.0], 0.0, [3.0, -0.5], -4.0);
    clip_grad_value(&mut d, 1.0).unwrap();
    assert_eq!(d.flat_grads(), vec![1.0, -0.5, -1.0]);
    assert!(clip_grad_norm(&mut d, 0.0).is_err());
    // Below the bound nothing changes.
    let mut d = layer([0.0, 0.0], 0.0, [0.3, 0.4], 0.0);
    GradClip::Norm(1.0).apply(&mut d).unwrap();
    assert_eq!(d.flat_grads(), vec![0.3, 0.4, 0.0]);
}

#[test]
fn schedules() {
    let mut c = LrSchedule::cosine(4, 0.1).unwrap();
    let lrs: Vec<f64> = (0..=5)
        .map(|e| c.next(e, 1.0, 1.0, None).unwrap())
        .collect();
    let want = [
        1.0,
        0.1 + 0.45 * (1.0 + (std::f64::consts::PI / 4.0).cos()),
        0.55,
        0.1 + 0.45 * (1.0 + (3.0 * std::f64::consts::PI / 4.0).cos()),
        0.1,
        0.1,
    ];
    for (a, b) in lrs.iter().zip(want) {
        assert!((a - b).abs() < 1e-15);
    }
    // Plateau: patience 1, factor 0.5, cooldown 1.
    let mut p = LrSchedule::reduce_on_plateau(0.5, 1, 0.0, 1, 0.1).unwrap();
    let metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95];
    let mut lr = 1.0;
    let mut seen = Vec::new();
    for (e, m) in metrics.iter().enumerate() {
        lr = p.next(e + 1, 1.0, lr, Some(*m)).unwrap();
        seen.push(lr);
    }
    // Bad epochs after 0.9: 1 (ok), 2 (>1: reduce to 0.5, cooldown 1),
    // then cooldown swallows one, then 1, 2 (reduce to 0.25), cooldown, 1, 2 → 0.125.
    assert_eq!(seen, vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
    assert!(p.next(1, 1.0, 1.0, None).is_err());
    let mut floor = LrSchedule::reduce_on_plateau(0.1, 0, 0.0, 0, 0.05).unwrap();
    floor.next(1, 1.0, 1.0, Some(1.0)).unwrap();
    assert_eq!(floor.next(2, 1.0, 0.2, Some(2.0)).unwrap(), 0.05);
    assert!(LrSchedule::step(0, 0.5).is_err());
    assert!(LrSchedule::cosine(0, 0.0).is_err());
    assert!(LrSchedule::reduce_on_plateau(1.0, 1, 0.0, 0, 0.0).is_err());
}

#[test]
fn vanished_gradients_do_not_leave_subnormal_moments() {
    let mut d = Dense::<f32>::from_params(1, 1, vec![1.0], vec![0.0]).unwrap();
    d.visit_params_mut(&mut |p| p.grad.fill(0.1));
    let mut adam = Adam::new(1e-3).unwrap();
    let mut sgd = Sgd::new(1e-3).unwrap().with_momentum(0.9).unwrap();
    let mut lamb = Lamb::new(1e-3).unwrap();
    adam.step(&mut d).unwrap();
    sgd.step(&mut d).unwrap();
    lamb.step(&mut d).unwrap();
    d.zero_grad();
    for _ in 0..3000 {
        adam.step(&mut d).unwrap();
        sgd.step(&mut d).unwrap();
        lamb.step(&mut d).unwrap();
    }
    // 0.9^3000 · 0.01 is far below f32's smallest normal value: the first
    // moments must be exactly zero, never subnormal.
    let no_subnormal = |v: &[Vec<f32>]| v.iter().flatten().all(|x| *x == 0.0 || x.is_normal());
    assert!(adam.m.iter().flatten().all(|x| *x == 0.0));
    assert!(no_subnormal(&adam.v));
    assert!(sgd.velocity.iter().flatten().all(|x| *x == 0.0));
    assert!(lamb.m.iter().flatten().all(|x| *x == 0.0) && no_subnormal(&lamb.v));
}
