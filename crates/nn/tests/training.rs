//! Training utilities and checkpoints: problems with known answers,
//! simulation recovery, determinism across threads and resumption.

use darkprobe_core::progress::{CountingProgress, NoProgress};
use darkprobe_core::rng::rng_from_seed;
use darkprobe_nn::checkpoint::Checkpoint;
use darkprobe_nn::loss::{MaeNorm, PoissonNll, WeightedMae};
use darkprobe_nn::optim::{GradClip, LrSchedule};
use darkprobe_nn::train::{self, Dataset, EarlyStopping, TrainConfig, Trainer};
use darkprobe_nn::*;
use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson};

/// Ordinary least squares of y on (x, 1) by the normal equations.
#[allow(clippy::needless_range_loop)]
fn ols_mse(x: &Matrix<f64>, y: &[f64]) -> f64 {
    let n = x.rows();
    let d = x.cols() + 1;
    let row = |i: usize| {
        let mut r = x.row(i).to_vec();
        r.push(1.0);
        r
    };
    let mut a = vec![vec![0.0; d]; d];
    let mut b = vec![0.0; d];
    for i in 0..n {
        let r = row(i);
        for p in 0..d {
            b[p] += r[p] * y[i];
            for q in 0..d {
                a[p][q] += r[p] * r[q];
            }
        }
    }
    // Gaussian elimination (the system is small and well conditioned).
    for c in 0..d {
        let piv = a[c][c];
        for r in c + 1..d {
            let f = a[r][c] / piv;
            for k in c..d {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut beta = vec![0.0; d];
    for c in (0..d).rev() {
        let s: f64 = (c + 1..d).map(|k| a[c][k] * beta[k]).sum();
        beta[c] = (b[c] - s) / a[c][c];
    }
    (0..n)
        .map(|i| {
            let r = row(i);
            let f: f64 = r.iter().zip(&beta).map(|(u, v)| u * v).sum();
            (y[i] - f).powi(2)
        })
        .sum::<f64>()
        / n as f64
}

#[test]
fn linear_regression_reaches_the_least_squares_loss() {
    let mut rng = rng_from_seed(10);
    let noise = Normal::new(0.0, 0.3).unwrap();
    let x = Matrix::from_fn(400, 3, |_, _| rng.random_range(-1.0..1.0));
    let y: Vec<f64> = (0..400)
        .map(|i| {
            1.5 * x.get(i, 0) - 0.7 * x.get(i, 1) + 0.2 * x.get(i, 2) + 0.4 + noise.sample(&mut rng)
        })
        .collect();
    let want = ols_mse(&x, &y);
    let data = Dataset::new(x, Matrix::from_vec(400, 1, y).unwrap(), None).unwrap();
    let mut net = Sequential::<f64>::new(3)
        .with(Dense::new(3, 1, Init::Default, &mut rng).unwrap())
        .unwrap();
    let mut opt = Adam::new(0.05).unwrap();
    let config = TrainConfig {
        epochs: 1000,
        batch_size: 400,
        schedule: LrSchedule::cosine(1000, 1e-4).unwrap(),
        ..TrainConfig::default()
    };
    let report = Trainer::new(config)
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &data, None, &NoProgress)
        .unwrap();
    let got = train::evaluate(&mut net, &Mse, &data, 128, Par::Seq).unwrap();
    // The noise variance is 0.09; the minimum is the OLS residual.
    assert!((want - 0.09).abs() < 0.02, "OLS mse {want}");
    assert!(
        (got - want).abs() < 1e-6 * want.max(1.0),
        "trained {got} vs OLS {want}"
    );
    assert_eq!(report.epochs_total, 1000);
}

#[test]
fn mlp_learns_a_sine_in_f32_with_lamb() {
    let mut rng = rng_from_seed(2);
    let x = Matrix::from_fn(512, 1, |i, _| -3.0 + 6.0 * i as f32 / 511.0);
    let y = Matrix::from_fn(512, 1, |i, _| x.get(i, 0).sin());
    let data = Dataset::new(x, y, None).unwrap();
    let mut net = Sequential::<f32>::mlp(
        &[1, 32, 32, 1],
        Activation::Tanh,
        Init::XavierUniform,
        &mut rng,
    )
    .unwrap();
    let mut opt = Lamb::new(0.005).unwrap().with_weight_decay(0.0).unwrap();
    let config = TrainConfig {
        epochs: 300,
        batch_size: 64,
        seed: 5,
        schedule: LrSchedule::cosine(300, 1e-5).unwrap(),
        ..TrainConfig::default()
    };
    let report = Trainer::new(config)
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &data, None, &NoProgress)
        .unwrap();
    assert!(
        report.final_train_loss < 2e-4,
        "final loss {}",
        report.final_train_loss
    );
}

#[test]
fn poisson_regression_recovers_the_injected_rates() {
    // Counts from ln λ = a x + b; the trained log-linear model must reach the
    // maximum-likelihood estimate found by Newton's method, and that estimate
    // must be within a few standard errors of the truth.
    let (a, b) = (0.8, 0.5);
    let mut rng = rng_from_seed(77);
    let n = 3000;
    let xs: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| Poisson::new((a * x + b).exp()).unwrap().sample(&mut rng))
        .collect();
    // Newton's method on the concave Poisson log-likelihood.
    let (mut ah, mut bh) = (0.0, 0.0);
    let mut info = [[0.0; 2]; 2];
    for _ in 0..50 {
        let (mut g0, mut g1) = (0.0, 0.0);
        info = [[0.0; 2]; 2];
        for (&x, &y) in xs.iter().zip(&ys) {
            let l = (ah * x + bh).exp();
            g0 += (y - l) * x;
            g1 += y - l;
            info[0][0] += l * x * x;
            info[0][1] += l * x;
            info[1][1] += l;
        }
        info[1][0] = info[0][1];
        let det = info[0][0] * info[1][1] - info[0][1] * info[1][0];
        ah += (info[1][1] * g0 - info[0][1] * g1) / det;
        bh += (-info[1][0] * g0 + info[0][0] * g1) / det;
    }
    let det = info[0][0] * info[1][1] - info[0][1] * info[1][0];
    let (se_a, se_b) = ((info[1][1] / det).sqrt(), (info[0][0] / det).sqrt());
    assert!(
        (ah - a).abs() < 4.0 * se_a && (bh - b).abs() < 4.0 * se_b,
        "MLE ({ah}, {bh}) vs truth"
    );
    let data = Dataset::new(
        Matrix::from_vec(n, 1, xs).unwrap(),
        Matrix::from_vec(n, 1, ys).unwrap(),
        None,
    )
    .unwrap();
    let mut net = Sequential::<f64>::new(1)
        .with(Dense::zeros(1, 1).unwrap())
        .unwrap();
    let mut opt = Adam::new(0.05).unwrap();
    let config = TrainConfig {
        epochs: 200,
        batch_size: n,
        schedule: LrSchedule::cosine(200, 1e-4).unwrap(),
        ..TrainConfig::default()
    };
    Trainer::new(config)
        .unwrap()
        .fit(
            &mut net,
            &PoissonNll::default(),
            &mut opt,
            &data,
            None,
            &NoProgress,
        )
        .unwrap();
    let p = net.flat_params();
    assert!(
        (p[0] - ah).abs() < 2e-3 && (p[1] - bh).abs() < 2e-3,
        "trained {p:?} vs MLE ({ah}, {bh})"
    );
}

#[test]
fn zero_weights_hide_corrupted_samples() {
    let mut rng = rng_from_seed(4);
    let n = 300;
    let x = Matrix::from_fn(n, 1, |_, _| rng.random_range(-1.0..1.0));
    let mut y = Matrix::from_fn(n, 1, |i, _| 2.0 * x.get(i, 0));
    let mut w = vec![1.0; n];
    for i in (0..n).step_by(3) {
        y.set(i, 0, 50.0); // corrupted target, given zero weight
        w[i] = 0.0;
    }
    let data = Dataset::new(x.clone(), y, Some(w)).unwrap();
    let mut net = Sequential::<f64>::new(1)
        .with(Dense::zeros(1, 1).unwrap())
        .unwrap();
    let mut opt = Adam::new(0.05).unwrap();
    let config = TrainConfig {
        epochs: 300,
        batch_size: 50,
        ..TrainConfig::default()
    };
    let loss = WeightedMae {
        norm: MaeNorm::WeightSum,
    };
    Trainer::new(config)
        .unwrap()
        .fit(&mut net, &loss, &mut opt, &data, None, &NoProgress)
        .unwrap();
    let p = net.flat_params();
    assert!((p[0] - 2.0).abs() < 0.05 && p[1].abs() < 0.05, "{p:?}");
}

/// A small network with every stochastic ingredient (shuffles, dropout,
/// batch statistics) on a dataset spanning several row blocks per batch.
fn stochastic_setup(seed: u64) -> (Sequential<f32>, Dataset<f32>, Dataset<f32>) {
    let mut rng = rng_from_seed(seed);
    let n = 1600;
    let x = Matrix::from_fn(n, 4, |_, _| rng.random_range(-1.0f32..1.0));
    let y = Matrix::from_fn(n, 2, |i, k| {
        let r = x.row(i);
        if k == 0 {
            r[0] * r[1] + r[2]
        } else {
            (r[3] * 2.0).sin()
        }
    });
    let data = Dataset::new(x, y, None).unwrap();
    let (tr, va) = data.split(0.25, 1).unwrap();
    let mut net = Sequential::<f32>::new(4);
    net.push(Dense::new(4, 32, Init::HeNormal, &mut rng).unwrap())
        .unwrap();
    net.push(BatchNorm::new(32).unwrap()).unwrap();
    net.push(PRelu::new(32, 0.25).unwrap()).unwrap();
    net.push(Dropout::new(0.1, 0).unwrap()).unwrap();
    net.push(Dense::new(32, 2, Init::Default, &mut rng).unwrap())
        .unwrap();
    (net, tr, va)
}

fn stochastic_config(threads: usize, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 600,
        seed: 21,
        threads,
        clip: Some(GradClip::Norm(5.0)),
        schedule: LrSchedule::reduce_on_plateau(0.5, 1, 1e-3, 0, 1e-5).unwrap(),
        early_stopping: Some(EarlyStopping::new(50, 0.0).unwrap()),
        ..TrainConfig::default()
    }
}

#[test]
fn training_is_bit_identical_for_any_thread_count() {
    let run = |threads: usize| {
        let (mut net, tr, va) = stochastic_setup(3);
        let mut opt = Adam::adamw(0.01, 0.01).unwrap();
        let report = Trainer::new(stochastic_config(threads, 4))
            .unwrap()
            .fit(&mut net, &Mse, &mut opt, &tr, Some(&va), &NoProgress)
            .unwrap();
        (net.flat_params(), report.history)
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
    let pool = darkprobe_nn::exec::thread_pool(2).unwrap();
    assert_eq!(pool.install(|| run(0)), one);
}

#[test]
fn resuming_from_a_checkpoint_continues_the_same_run() {
    let dir = std::env::temp_dir().join(format!("darkprobe-nn-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Uninterrupted: 6 epochs.
    let (mut net, tr, va) = stochastic_setup(8);
    let mut opt = Adam::new(0.01).unwrap();
    let mut config = stochastic_config(1, 6);
    config.restore_best = false;
    let full = Trainer::new(config.clone())
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &tr, Some(&va), &NoProgress)
        .unwrap();
    let want = net.flat_params();
    for ext in ["json", "bin"] {
        // 3 epochs, save everything, reload into fresh objects, 3 more.
        let (mut net, tr, va) = stochastic_setup(8);
        let mut opt = Adam::new(0.01).unwrap();
        let mut trainer = Trainer::new(config.clone()).unwrap();
        trainer.set_epochs(3).unwrap();
        trainer
            .fit(&mut net, &Mse, &mut opt, &tr, Some(&va), &NoProgress)
            .unwrap();
        let path = dir.join(format!("ck.{ext}"));
        Checkpoint::of_network(&net)
            .with_optimizer(&opt)
            .with_trainer(&trainer)
            .with_metadata("test", "resume")
            .save(&path)
            .unwrap();
        drop((net, opt, trainer));
        let ck = Checkpoint::<f32>::load(&path).unwrap();
        assert_eq!(ck.metadata["test"], "resume");
        let mut net = ck.build_network().unwrap();
        let mut opt = ck.optimizer().unwrap();
        let mut trainer = ck.trainer().unwrap().unwrap();
        trainer.set_epochs(6).unwrap();
        let rest = trainer
            .fit(&mut net, &Mse, opt.as_mut(), &tr, Some(&va), &NoProgress)
            .unwrap();
        assert_eq!(net.flat_params(), want, "{ext}: resumed run differs");
        assert_eq!(rest.history, full.history);
        assert_eq!(rest.epochs_run, 3);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    // Few noisy samples and a wide network: validation loss turns up.
    let mut rng = rng_from_seed(6);
    let noise = Normal::new(0.0, 0.5).unwrap();
    let x = Matrix::from_fn(60, 2, |_, _| rng.random_range(-1.0..1.0));
    let y = Matrix::from_fn(60, 1, |i, _| x.get(i, 0) + noise.sample(&mut rng));
    let data = Dataset::new(x, y, None).unwrap();
    let (tr, va) = data.split(0.5, 3).unwrap();
    let mut net =
        Sequential::<f64>::mlp(&[2, 64, 64, 1], Activation::Relu, Init::Default, &mut rng).unwrap();
    let mut opt = Adam::new(0.01).unwrap();
    let config = TrainConfig {
        epochs: 2000,
        batch_size: 30,
        early_stopping: Some(EarlyStopping::new(20, 0.0).unwrap()),
        ..TrainConfig::default()
    };
    let progress = CountingProgress::default();
    let report = Trainer::new(config)
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &tr, Some(&va), &progress)
        .unwrap();
    assert!(report.stopped_early && report.epochs_total < 2000);
    assert_eq!(progress.count() as usize, report.epochs_run);
    let best = report.best_epoch.unwrap();
    assert_eq!(report.epochs_total, best + 21);
    let min = report
        .history
        .iter()
        .filter_map(|h| h.val_loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(report.best_val_loss, Some(min));
    // The network holds the best epoch's parameters.
    let now = train::evaluate(&mut net, &Mse, &va, 1000, Par::Seq).unwrap();
    assert_eq!(now, min);
}

#[test]
fn step_schedule_sets_the_epoch_learning_rates() {
    let x = Matrix::from_fn(10, 1, |i, _| i as f64);
    let data = Dataset::new(x.clone(), x, None).unwrap();
    let mut net = Sequential::<f64>::new(1)
        .with(Dense::zeros(1, 1).unwrap())
        .unwrap();
    let mut opt = Sgd::new(1e-3).unwrap();
    let config = TrainConfig {
        epochs: 5,
        batch_size: 5,
        schedule: LrSchedule::step(2, 0.1).unwrap(),
        ..TrainConfig::default()
    };
    let r = Trainer::new(config)
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &data, None, &NoProgress)
        .unwrap();
    let lrs: Vec<f64> = r.history.iter().map(|h| h.lr).collect();
    let want = [1e-3, 1e-3, 1e-4, 1e-4, 1e-5];
    for (a, b) in lrs.iter().zip(want) {
        assert!((a - b).abs() < 1e-15 * b.max(1.0) + 1e-18, "{lrs:?}");
    }
    assert_eq!(r.steps, 10);
}

#[test]
fn divergence_is_an_error() {
    let x = Matrix::from_fn(20, 1, |i, _| i as f64 * 100.0);
    let data = Dataset::new(x.clone(), x, None).unwrap();
    let mut net = Sequential::<f64>::new(1)
        .with(Dense::zeros(1, 1).unwrap())
        .unwrap();
    let mut opt = Sgd::new(10.0).unwrap();
    let config = TrainConfig {
        epochs: 200,
        batch_size: 20,
        ..TrainConfig::default()
    };
    let e = Trainer::new(config)
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &data, None, &NoProgress)
        .unwrap_err();
    assert!(matches!(e, NnError::Diverged { .. }), "{e}");
}

#[test]
fn bad_data_and_settings_are_reported() {
    let mut x = Matrix::from_fn(4, 2, |i, j| (i + j) as f64);
    let y = Matrix::zeros(4, 1);
    assert!(Dataset::new(x.clone(), Matrix::zeros(3, 1), None).is_err());
    assert!(Dataset::new(x.clone(), y.clone(), Some(vec![1.0, 1.0, -1.0, 1.0])).is_err());
    assert!(Dataset::<f64>::new(Matrix::zeros(0, 2), Matrix::zeros(0, 1), None).is_err());
    x.set(2, 1, f64::INFINITY);
    let e = Dataset::new(x, y.clone(), None).unwrap_err();
    assert!(e.to_string().contains("row 2, column 1"), "{e}");
    assert!(Trainer::<f64>::new(TrainConfig {
        batch_size: 0,
        ..TrainConfig::default()
    })
    .is_err());
    assert!(Trainer::<f64>::new(TrainConfig {
        epochs: 0,
        ..TrainConfig::default()
    })
    .is_err());
    assert!(EarlyStopping::new(0, 0.0).is_err());
    // Data of the wrong width for the network.
    let data = Dataset::new(Matrix::zeros(4, 3), y, None).unwrap();
    let mut net = Sequential::<f64>::new(2)
        .with(Dense::zeros(2, 1).unwrap())
        .unwrap();
    let mut opt = Sgd::new(0.1).unwrap();
    let e = Trainer::new(TrainConfig::default())
        .unwrap()
        .fit(&mut net, &Mse, &mut opt, &data, None, &NoProgress)
        .unwrap_err();
    assert!(e.to_string().contains("training inputs"), "{e}");
    let (tr, va) = train::train_validation_split(100, 0.2, 9).unwrap();
    assert_eq!((tr.len(), va.len()), (80, 20));
    let mut all: Vec<usize> = tr.iter().chain(&va).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert_ne!(train::epoch_order(50, 1, 0), train::epoch_order(50, 1, 1));
    assert_eq!(train::epoch_order(50, 1, 3), train::epoch_order(50, 1, 3));
    let order: Vec<usize> = (0..10).collect();
    let sizes: Vec<usize> = train::minibatches(&order, 4, false)
        .map(|b| b.len())
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    assert_eq!(train::minibatches(&order, 4, true).count(), 2);
}

#[test]
fn checkpoint_errors_name_the_problem() {
    let mut rng = rng_from_seed(1);
    let net =
        Sequential::<f64>::mlp(&[2, 3, 1], Activation::Relu, Init::Default, &mut rng).unwrap();
    let ck = Checkpoint::of_network(&net).with_optimizer(&Adam::<f64>::new(0.1).unwrap());
    let bytes = ck.to_bytes().unwrap();
    // Round trips.
    assert_eq!(Checkpoint::<f64>::from_bytes(&bytes, "x").unwrap(), ck);
    assert_eq!(
        Checkpoint::<f64>::from_json(&ck.to_json().unwrap(), "x").unwrap(),
        ck
    );
    // Truncated, wrong magic, trailing bytes, wrong scalar type.
    let e = Checkpoint::<f64>::from_bytes(&bytes[..bytes.len() - 3], "model.bin").unwrap_err();
    assert!(
        e.to_string().contains("model.bin") && e.to_string().contains("truncated"),
        "{e}"
    );
    assert!(Checkpoint::<f64>::from_bytes(b"NOTACKPT0000000000000000", "m").is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Checkpoint::<f64>::from_bytes(&longer, "m").is_err());
    let e = Checkpoint::<f32>::from_bytes(&bytes, "m").unwrap_err();
    assert!(e.to_string().contains("f64"), "{e}");
    let e = Checkpoint::<f32>::from_json(&ck.to_json().unwrap(), "m.json").unwrap_err();
    assert!(e.to_string().contains("f64"), "{e}");
    // Malformed JSON is located by line.
    let mut json = ck.to_json().unwrap();
    json = json.replacen("\"layers\"", "\"layers\" oops", 1);
    let e = Checkpoint::<f64>::from_json(&json, "broken.json").unwrap_err();
    assert!(e.to_string().contains("broken.json, line"), "{e}");
    // Loading into another architecture.
    let mut other =
        Sequential::<f64>::mlp(&[2, 4, 1], Activation::Relu, Init::Default, &mut rng).unwrap();
    assert!(matches!(
        ck.load_into(&mut other),
        Err(NnError::Checkpoint(_))
    ));
    let e = Checkpoint::<f64>::load("/nonexistent/dir/model.json").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/model.json"), "{e}");
    // The optimiser state goes with the checkpoint.
    assert!(ck.optimizer().is_some());
    assert!(ck.trainer().unwrap().is_none());
}

#[test]
fn evaluation_does_not_depend_on_the_chunk_size() {
    let mut rng = rng_from_seed(31);
    let x = Matrix::from_fn(1000, 3, |_, _| rng.random_range(-1.0..1.0));
    let y = Matrix::from_fn(1000, 2, |_, _| rng.random_range(-1.0..1.0));
    let w: Vec<f64> = (0..1000).map(|i| (i % 7) as f64 * 0.5).collect();
    let data = Dataset::new(x, y, Some(w)).unwrap();
    let mut net =
        Sequential::<f64>::mlp(&[3, 8, 2], Activation::Elu(1.0), Init::Default, &mut rng).unwrap();
    let loss = WeightedMae::default();
    let whole = train::evaluate(&mut net, &loss, &data, 1000, Par::Seq).unwrap();
    for chunk in [1, 7, 64, 999] {
        let c = train::evaluate(&mut net, &loss, &data, chunk, Par::Rayon).unwrap();
        assert!(
            (c - whole).abs() < 1e-13 * whole,
            "chunk {chunk}: {c} vs {whole}"
        );
    }
    // The same number computed by hand from the predictions.
    let pred = net.predict(data.x(), Par::Seq).unwrap();
    let (mut s, mut z) = (0.0, 0.0);
    for i in 0..1000 {
        let wi = data.weights().unwrap()[i];
        for j in 0..2 {
            s += wi * (pred.get(i, j) - data.y().get(i, j)).abs();
        }
        z += 2.0 * wi;
    }
    assert!((s / z - whole).abs() < 1e-13 * whole);
}
