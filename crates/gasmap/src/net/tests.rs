use super::*;
use darkprobe_core::progress::CountingProgress;
use darkprobe_core::rng::rng_from_seed;
use darkprobe_nn::{Dense, Optimizer, Parameters};
use rand::Rng;

/// A smooth positive ¹²CO-like plane: Gaussian clouds plus a little noise.
fn cloud_plane(n_lat: usize, n_lon: usize, seed: u64) -> Array2<f64> {
    let mut rng = rng_from_seed(seed);
    let clouds: Vec<(f64, f64, f64, f64)> = (0..12)
        .map(|_| {
            (
                rng.random_range(0.0..n_lat as f64),
                rng.random_range(0.0..n_lon as f64),
                rng.random_range(1.5..4.0),
                rng.random_range(1.0..10.0),
            )
        })
        .collect();
    Array2::from_shape_fn((n_lat, n_lon), |(r, c)| {
        let mut v = 0.0;
        for &(r0, c0, w, a) in &clouds {
            let d2 = (r as f64 - r0).powi(2) + (c as f64 - c0).powi(2);
            v += a * (-0.5 * d2 / (w * w)).exp();
        }
        v + 0.05 * rng.random_range(-1.0..1.0)
    })
}

/// ¹³CO = a saturating function of the 3 × 3 mean of the ¹²CO around the
/// pixel: nonlinear and non-local, so a per-pixel line cannot fit it.
fn saturating_target(source: &Array2<f64>) -> Array2<f64> {
    let hood = Neighbourhood::Patch { rows: 3, cols: 3 };
    let (nr, nc) = source.dim();
    let f = hood.features(source.view(), &all_pixels(nr, nc)).unwrap();
    let mut t = Array2::zeros((nr, nc));
    for (k, (r, c)) in all_pixels(nr, nc).into_iter().enumerate() {
        let m = f.row(k).mean().unwrap();
        t[[r, c]] = 4.0 * (1.0 - (-m / 3.0).exp());
    }
    t
}

fn random_mask(n_lat: usize, n_lon: usize, p: f64, seed: u64) -> Array2<bool> {
    let mut rng = rng_from_seed(seed);
    Array2::from_shape_fn((n_lat, n_lon), |_| rng.random_bool(p))
}

struct Planes {
    src: Vec<Array2<f64>>,
    tgt: Vec<Array2<f64>>,
    mask: Vec<Array2<bool>>,
}

impl Planes {
    fn new(n: usize, size: usize, seed: u64) -> Self {
        let src: Vec<_> = (0..n)
            .map(|k| cloud_plane(size, size, seed + k as u64))
            .collect();
        let tgt = src.iter().map(saturating_target).collect();
        let mask = (0..n)
            .map(|k| random_mask(size, size, 0.7, seed + 100 + k as u64))
            .collect();
        Self { src, tgt, mask }
    }

    fn pairs(&self, bin_of: impl Fn(usize) -> usize) -> Vec<PlanePair<'_>> {
        (0..self.src.len())
            .map(|k| PlanePair {
                velocity_bin: bin_of(k),
                source: self.src[k].view(),
                target: self.tgt[k].view(),
                train_mask: self.mask[k].view(),
            })
            .collect()
    }
}

fn quick_options() -> NetOptions {
    NetOptions {
        batch_size: 256,
        epochs: 40,
        learning_rate: 1e-2,
        patience: None,
        ..NetOptions::default()
    }
}

/// Mean absolute error over the pixels *not* used for training.
fn held_out_mae(pred: &Array2<f64>, tgt: &Array2<f64>, mask: &Array2<bool>) -> f64 {
    let mut s = 0.0;
    let mut n = 0;
    for ((r, c), &m) in mask.indexed_iter() {
        if !m {
            s += (pred[[r, c]] - tgt[[r, c]]).abs();
            n += 1;
        }
    }
    s / n as f64
}

/// Least-squares line target = a + b · source on the training pixels.
fn linear_baseline(planes: &Planes) -> (f64, f64) {
    let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for k in 0..planes.src.len() {
        for ((r, c), &m) in planes.mask[k].indexed_iter() {
            if m {
                let (x, y) = (planes.src[k][[r, c]], planes.tgt[k][[r, c]]);
                n += 1.0;
                sx += x;
                sy += y;
                sxx += x * x;
                sxy += x * y;
            }
        }
    }
    let b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    ((sy - b * sx) / n, b)
}

#[test]
fn wmae_network_learns_a_nonlinear_plane_and_beats_a_per_pixel_line() {
    let planes = Planes::new(2, 36, 11);
    let pairs = planes.pairs(|_| 3);
    let progress = CountingProgress::default();
    let net = PatchNet::fit(&pairs, &quick_options(), 5, &progress).unwrap();
    assert_eq!(progress.total(), 40);
    assert_eq!(progress.count(), 40);
    let s = &net.networks()[0].summary;
    assert_eq!(s.epochs_run, 40);
    assert_eq!(s.history.len(), 40);
    // Training reduced the (unweighted MAE) validation loss a lot.
    let first = s.history[0].val_loss.unwrap();
    let best = s.best_validation_loss.unwrap();
    assert!(best < 0.3 * first, "validation MAE {first} -> {best}");

    let (a, b) = linear_baseline(&planes);
    let (mut net_mae, mut lin_mae) = (0.0, 0.0);
    for k in 0..2 {
        let pred = net.predict_plane(3, planes.src[k].view()).unwrap();
        assert_eq!(pred.dim(), planes.src[k].dim());
        net_mae += held_out_mae(&pred, &planes.tgt[k], &planes.mask[k]);
        let lin = planes.src[k].mapv(|x| a + b * x);
        lin_mae += held_out_mae(&lin, &planes.tgt[k], &planes.mask[k]);
    }
    assert!(
        net_mae < 0.3 * lin_mae,
        "held-out MAE: network {net_mae}, linear {lin_mae}"
    );
}

#[test]
fn poisson_network_predicts_positive_values_and_learns() {
    let planes = Planes::new(1, 30, 21);
    let pairs = planes.pairs(|_| 0);
    let opts = NetOptions {
        loss: NetLoss::Poisson,
        batch_size: 64,
        ..quick_options()
    };
    let net = PatchNet::fit(&pairs, &opts, 2, &NoProgress).unwrap();
    assert_eq!(net.name(), "net-poisson");
    // Even a strongly negative input gives a positive prediction.
    let weird = planes.src[0].mapv(|v| -3.0 * v);
    for plane in [planes.src[0].clone(), weird] {
        let pred = net.predict_plane(0, plane.view()).unwrap();
        assert!(pred.iter().all(|&v| v > 0.0 && v.is_finite()));
    }
    let pred = net.predict_plane(0, planes.src[0].view()).unwrap();
    let mae = held_out_mae(&pred, &planes.tgt[0], &planes.mask[0]);
    let mean_t = planes.tgt[0].mean().unwrap();
    assert!(
        mae < 0.25 * mean_t,
        "held-out MAE {mae}, mean target {mean_t}"
    );
}

#[test]
fn save_and_load_give_identical_predictions() {
    let planes = Planes::new(1, 16, 31);
    let pairs = planes.pairs(|_| 2);
    let opts = NetOptions {
        epochs: 3,
        batch_size: 64,
        ..NetOptions::default()
    };
    let net = PatchNet::fit(&pairs, &opts, 9, &NoProgress).unwrap();
    let dir = std::env::temp_dir().join(format!("darkprobe-patchnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.json");
    net.save(&path).unwrap();
    assert!(!dir.join("model.json.tmp").exists());
    let back = PatchNet::load(&path).unwrap();
    assert_eq!(back, net);
    let a = net.predict_plane(2, planes.src[0].view()).unwrap();
    let b = back.predict_plane(2, planes.src[0].view()).unwrap();
    assert_eq!(a, b);
    // A damaged file names itself and the line.
    std::fs::write(&path, "{\n  \"name\": 3\n}").unwrap();
    let e = PatchNet::load(&path).unwrap_err().to_string();
    assert!(e.contains("model.json") && e.contains('2'), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_and_two_threads_give_identical_models() {
    let planes = Planes::new(1, 24, 41);
    let pairs = planes.pairs(|_| 1);
    let base = NetOptions {
        epochs: 4,
        batch_size: 128,
        ..NetOptions::default()
    };
    let one = PatchNet::fit(&pairs, &base, 3, &NoProgress).unwrap();
    let two = PatchNet::fit(
        &pairs,
        &NetOptions {
            threads: 2,
            ..base.clone()
        },
        3,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(one.networks(), two.networks());
    let other_seed = PatchNet::fit(&pairs, &base, 4, &NoProgress).unwrap();
    assert_ne!(one.networks()[0].network, other_seed.networks()[0].network);
}

#[test]
fn per_bin_and_shared_layouts_cover_every_trained_bin() {
    let planes = Planes::new(3, 14, 51);
    let pairs = planes.pairs(|k| [5, 2, 5][k]);
    let base = NetOptions {
        epochs: 2,
        batch_size: 64,
        ..NetOptions::default()
    };
    let per_bin = PatchNet::fit(&pairs, &base, 1, &NoProgress).unwrap();
    assert_eq!(per_bin.networks().len(), 2);
    assert_eq!(per_bin.velocity_bins(), vec![2, 5]);
    assert_eq!(per_bin.networks()[0].network.input_dim, 49);
    let shared_opts = NetOptions {
        layout: NetLayout::Shared,
        ..base
    };
    let shared = PatchNet::fit(&pairs, &shared_opts, 1, &NoProgress).unwrap();
    assert_eq!(shared.networks().len(), 1);
    assert_eq!(shared.networks()[0].network.input_dim, 49 + 2);
    for net in [&per_bin, &shared] {
        for b in [2, 5] {
            let p = net.predict_plane(b, planes.src[0].view()).unwrap();
            assert!(p.iter().all(|v| v.is_finite()));
        }
        let e = net.predict_plane(3, planes.src[0].view()).unwrap_err();
        assert!(e.to_string().contains("[2, 5]"), "{e}");
    }
    // The shared network tells the bins apart through the one-hot input.
    let a = shared.predict_plane(2, planes.src[0].view()).unwrap();
    let b = shared.predict_plane(5, planes.src[0].view()).unwrap();
    assert_ne!(a, b);
    // A bin's per-bin network does not depend on the other bins trained.
    let only5: Vec<PlanePair<'_>> = pairs
        .iter()
        .copied()
        .filter(|p| p.velocity_bin == 5)
        .collect();
    let alone = PatchNet::fit(&only5, &base_small(), 1, &NoProgress).unwrap();
    assert_eq!(alone.networks()[0].network, per_bin.networks()[1].network);
}

fn base_small() -> NetOptions {
    NetOptions {
        epochs: 2,
        batch_size: 64,
        ..NetOptions::default()
    }
}

#[test]
fn early_stopping_and_checkpoints() {
    let planes = Planes::new(1, 16, 61);
    let pairs = planes.pairs(|_| 0);
    let dir = std::env::temp_dir().join(format!("darkprobe-patchnet-ck-{}", std::process::id()));
    let opts = NetOptions {
        epochs: 200,
        batch_size: 64,
        learning_rate: 0.05,
        patience: Some(2),
        checkpoint_dir: Some(dir.clone()),
        ..NetOptions::default()
    };
    let progress = CountingProgress::default();
    let net = PatchNet::fit(&pairs, &opts, 7, &progress).unwrap();
    let s = &net.networks()[0].summary;
    assert!(s.stopped_early && s.epochs_run < 200, "{s:?}");
    // Progress still reaches its announced total.
    assert_eq!(progress.count(), 200);
    // The kept network is the best validation epoch's.
    let best = s
        .history
        .iter()
        .filter_map(|h| h.val_loss.map(|v| (h.epoch, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert_eq!(s.kept_epoch, best.0);
    assert_eq!(s.best_validation_loss, Some(best.1));
    // The last checkpoint holds the last epoch's trainer and LAMB state.
    let ck = Checkpoint::<f32>::load(dir.join("patchnet-bin0.ckpt")).unwrap();
    assert_eq!(ck.trainer.as_ref().unwrap().state.epoch, s.epochs_run);
    assert!(ck.optimizer.is_some());
    assert_eq!(ck.metadata["model"], "net-wmae");
    ck.build_network().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lamb_step_of_the_default_configuration_matches_hand_computation() {
    // darkprobe-nn tests LAMB in general (optim/tests.rs,
    // `lamb_step_by_hand_per_tensor_trust_ratio`); this checks the settings
    // the patch network uses: lr 1e-3, decay 0.01, betas (0.9, 0.999),
    // eps 1e-6, bias correction.
    let opts = NetOptions::default();
    let mut opt = lamb::<f64>(&opts).unwrap();
    assert_eq!(opt.learning_rate(), 1e-3);
    let w = [0.6, -0.8, 0.5];
    let g = [0.2, -0.05, 0.4];
    let mut d = Dense::<f64>::from_params(3, 1, w.to_vec(), vec![0.25]).unwrap();
    let mut k = 0;
    d.visit_params_mut(&mut |p| {
        if k == 0 {
            p.grad.copy_from_slice(&g);
        } else {
            p.grad[0] = -0.1;
        }
        k += 1;
    });
    opt.step(&mut d).unwrap();
    // After one bias-corrected step m̂ = g, v̂ = g², so r = g/(|g| + eps) + λθ.
    let (lr, wd, eps) = (1e-3, 0.01, 1e-6);
    let r: Vec<f64> = (0..3)
        .map(|i| g[i] / (g[i].abs() + eps) + wd * w[i])
        .collect();
    let r_norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
    let w_norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    for i in 0..3 {
        let want = w[i] - lr * (w_norm / r_norm) * r[i];
        assert!(
            (d.weight()[i] - want).abs() < 1e-14,
            "{} vs {want}",
            d.weight()[i]
        );
    }
    let rb = -0.1 / (0.1 + eps) + wd * 0.25;
    let want_b = 0.25 - lr * (0.25 / rb.abs()) * rb;
    assert!((d.bias()[0] - want_b).abs() < 1e-14);
}

#[test]
fn bad_input_gives_clear_errors() {
    let planes = Planes::new(1, 10, 71);
    let pairs = planes.pairs(|_| 0);
    let opts = base_small();
    assert!(PatchNet::fit(&[], &opts, 0, &NoProgress)
        .unwrap_err()
        .to_string()
        .contains("at least one"));
    // NaN in the source names bin and pixel.
    let mut src = planes.src[0].clone();
    src[[3, 4]] = f64::NAN;
    let bad = PlanePair {
        source: src.view(),
        ..pairs[0]
    };
    let e = PatchNet::fit(&[bad], &opts, 0, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("velocity bin 0") && e.contains("(3, 4)") && e.contains("NaN"),
        "{e}"
    );
    // NaN targets are fine outside the mask, not inside it.
    let mut tgt = planes.tgt[0].clone();
    let mut mask = planes.mask[0].clone();
    tgt[[1, 1]] = f64::NAN;
    mask[[1, 1]] = false;
    let ok = PlanePair {
        target: tgt.view(),
        train_mask: mask.view(),
        ..pairs[0]
    };
    PatchNet::fit(&[ok], &opts, 0, &NoProgress).unwrap();
    let mut mask2 = mask.clone();
    mask2[[1, 1]] = true;
    let bad = PlanePair {
        target: tgt.view(),
        train_mask: mask2.view(),
        ..pairs[0]
    };
    let e = PatchNet::fit(&[bad], &opts, 0, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("(1, 1)"), "{e}");
    // Shape mismatch.
    let small = Array2::<f64>::zeros((3, 3));
    let bad = PlanePair {
        target: small.view(),
        ..pairs[0]
    };
    assert!(PatchNet::fit(&[bad], &opts, 0, &NoProgress).is_err());
    // Empty mask.
    let none = Array2::from_elem((10, 10), false);
    let bad = PlanePair {
        train_mask: none.view(),
        ..pairs[0]
    };
    let e = PatchNet::fit(&[bad], &opts, 0, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("training pixels"), "{e}");
    // Bad options name the field.
    for (o, field) in [
        (
            NetOptions {
                loss: NetLoss::Wmae { sigma: 31.0 },
                ..opts.clone()
            },
            "sigma",
        ),
        (
            NetOptions {
                patch: 6,
                ..opts.clone()
            },
            "patch",
        ),
        (
            NetOptions {
                learning_rate: 0.0,
                ..opts.clone()
            },
            "learning_rate",
        ),
        (
            NetOptions {
                batch_size: 1,
                ..opts.clone()
            },
            "batch_size",
        ),
        (
            NetOptions {
                validation_fraction: 1.0,
                ..opts.clone()
            },
            "validation_fraction",
        ),
        (
            NetOptions {
                patience: Some(0),
                ..opts.clone()
            },
            "patience",
        ),
    ] {
        let e = PatchNet::fit(&pairs, &o, 0, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
    // Prediction rejects NaN and empty planes.
    let net = PatchNet::fit(&pairs, &opts, 0, &NoProgress).unwrap();
    let e = net.predict_plane(0, src.view()).unwrap_err().to_string();
    assert!(e.contains("(3, 4)"), "{e}");
    assert!(net
        .predict_plane(0, Array2::<f64>::zeros((0, 4)).view())
        .is_err());
    // A model whose name does not match its loss is rejected on load.
    let text = net
        .to_json()
        .unwrap()
        .replace("\"net-wmae\"", "\"net-poisson\"");
    assert!(PatchNet::from_json(&text, "edited.json").is_err());
    // ... also when read by serde as part of a larger document (the CLI's
    // tagged model enum).
    let e = serde_json::from_str::<PatchNet>(&text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("net-poisson"), "{e}");
    let text = net
        .to_json()
        .unwrap()
        .replace("\"input_scale\":", "\"input_scale\":-");
    let e = PatchNet::from_json(&text, "edited.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("edited.json") && e.contains("scales"), "{e}");
}

#[test]
fn quantile_scale_is_robust_and_never_zero() {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(quantile_abs(&v, 0.99), 99.0);
    assert_eq!(quantile_abs(&v, 1.0), 100.0);
    let neg: Vec<f64> = v.iter().map(|x| -x).collect();
    assert_eq!(quantile_abs(&neg, 0.5), 50.0);
    assert_eq!(quantile_abs(&[0.0, 0.0], 0.99), 1.0);
    assert_eq!(quantile_abs(&[], 0.99), 1.0);
}

#[test]
fn the_weight_schedule_enters_training() {
    // sigma = 0 is the plain MAE; sigma = 30 weights bright pixels up to
    // twice as much early on, which must change the fitted network.
    let planes = Planes::new(1, 14, 81);
    let pairs = planes.pairs(|_| 0);
    let fit = |sigma: f64| {
        let o = NetOptions {
            loss: NetLoss::Wmae { sigma },
            ..base_small()
        };
        PatchNet::fit(&pairs, &o, 5, &NoProgress).unwrap()
    };
    let plain = fit(0.0);
    let weighted = fit(30.0);
    assert_ne!(plain.networks()[0].network, weighted.networks()[0].network);
    // The scheduled training losses differ, the validation MAE is
    // unweighted in both; the first-epoch validation losses are measured
    // after one epoch of different updates.
    let (hp, hw) = (
        &plain.networks()[0].summary.history,
        &weighted.networks()[0].summary.history,
    );
    assert_ne!(hp[0].train_loss, hw[0].train_loss);
    assert!(hp[0].val_loss.is_some() && hw[0].val_loss.is_some());
}

#[test]
fn initial_output_is_the_best_constant_of_each_loss() {
    let y = [0.1, 0.4, 0.2, 3.0, -0.3];
    // Median of the five values.
    assert_eq!(initial_output(NetLoss::Wmae { sigma: 30.0 }, &y), 0.2);
    // Log of the mean after clipping negatives to zero: (0.1+0.4+0.2+3)/5.
    let want = (3.7f64 / 5.0).ln();
    assert!((initial_output(NetLoss::Poisson, &y) - want).abs() < 1e-12);
    // A constant rate c minimises sum(c - y ln c) at c = mean(y): check
    // against a grid.
    let loss = |c: f64| y.iter().map(|v| c - v.max(0.0) * c.ln()).sum::<f64>();
    let best = (1..2000)
        .map(|k| k as f64 * 1e-3)
        .min_by(|a, b| loss(*a).total_cmp(&loss(*b)))
        .unwrap();
    assert!((best.ln() - want).abs() < 2e-3);
    assert!(initial_output(NetLoss::Poisson, &[0.0, -1.0]).is_finite());
    assert_eq!(initial_output(NetLoss::Poisson, &[]), 0.0);
}
