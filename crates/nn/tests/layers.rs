//! Behaviour of the layers beyond their gradients: batch norm in training and
//! inference, dropout statistics, MADE autoregressive structure, thread-count
//! determinism, f32 against f64, error reporting.

use darkprobe_core::rng::rng_from_seed;
use darkprobe_nn::made::{self, HiddenDegrees, MadeMasks};
use darkprobe_nn::*;
use proptest::prelude::*;
use rand::Rng;

fn normal_matrix(n: usize, d: usize, seed: u64) -> Matrix<f64> {
    let mut rng = rng_from_seed(seed);
    Matrix::from_fn(n, d, |_, j| {
        rng.random_range(-1.0..1.0) * (1.0 + j as f64) + j as f64
    })
}

#[test]
fn batch_norm_training_statistics_and_running_averages() {
    let d = 3;
    let mut bn = BatchNorm::<f64>::with_options(d, 1e-5, 0.2).unwrap();
    let mut y = Matrix::zeros(0, 0);
    let mut want_mean = vec![0.0; d];
    let mut want_var = vec![1.0; d];
    for step in 0..4 {
        let x = normal_matrix(50, d, step);
        bn.forward(&x, &mut y, &Ctx::train(step)).unwrap();
        for j in 0..d {
            let col: Vec<f64> = (0..50).map(|i| x.get(i, j)).collect();
            let m = col.iter().sum::<f64>() / 50.0;
            let v = col.iter().map(|c| (c - m).powi(2)).sum::<f64>() / 50.0;
            // Output column has mean 0 and (biased) variance v/(v+eps).
            let ycol: Vec<f64> = (0..50).map(|i| y.get(i, j)).collect();
            let ym = ycol.iter().sum::<f64>() / 50.0;
            let yv = ycol.iter().map(|c| (c - ym).powi(2)).sum::<f64>() / 50.0;
            assert!(ym.abs() < 1e-12);
            assert!((yv - v / (v + 1e-5)).abs() < 1e-10);
            want_mean[j] = 0.8 * want_mean[j] + 0.2 * m;
            want_var[j] = 0.8 * want_var[j] + 0.2 * v * 50.0 / 49.0;
        }
    }
    for j in 0..d {
        assert!((bn.running_mean()[j] - want_mean[j]).abs() < 1e-12);
        assert!((bn.running_var()[j] - want_var[j]).abs() < 1e-12);
    }
    // Inference uses the running statistics, row by row.
    let x = normal_matrix(5, d, 99);
    bn.forward(&x, &mut y, &Ctx::eval()).unwrap();
    for i in 0..5 {
        for j in 0..d {
            let want = (x.get(i, j) - want_mean[j]) / (want_var[j] + 1e-5).sqrt();
            assert!((y.get(i, j) - want).abs() < 1e-12);
        }
    }
    // A single sample works in inference, not in training.
    let one = x.select_rows(&[0]).unwrap();
    assert!(bn.forward(&one, &mut y, &Ctx::eval()).is_ok());
    assert!(bn.forward(&one, &mut y, &Ctx::train(0)).is_err());
}

#[test]
fn batch_norm_backward_needs_a_matching_forward() {
    let mut bn = BatchNorm::<f64>::new(2).unwrap();
    let x = normal_matrix(4, 2, 1);
    let dy = normal_matrix(4, 2, 2);
    let mut dx = Matrix::zeros(0, 0);
    let e = bn
        .backward(&x, &x, &dy, Some(&mut dx), &Ctx::train(0))
        .unwrap_err();
    assert!(matches!(e, NnError::BackwardBeforeForward { .. }), "{e}");
    let mut y = Matrix::zeros(0, 0);
    bn.forward(&x, &mut y, &Ctx::train(0)).unwrap();
    let x3 = x.select_rows(&[0, 1, 2]).unwrap();
    let dy3 = dy.select_rows(&[0, 1, 2]).unwrap();
    let y3 = y.select_rows(&[0, 1, 2]).unwrap();
    assert!(bn
        .backward(&x3, &y3, &dy3, Some(&mut dx), &Ctx::train(0))
        .is_err());
}

#[test]
fn dropout_keeps_the_expectation() {
    let p = 0.3;
    let mut drop = Dropout::new(p, 11).unwrap();
    let (n, d) = (400, 50);
    let x = Matrix::from_fn(n, d, |i, j| 1.0 + ((i + j) % 3) as f64);
    let mut y = Matrix::zeros(0, 0);
    let mut kept = 0usize;
    let mut sum_y = 0.0;
    let reps = 5;
    for s in 0..reps {
        drop.forward(&x, &mut y, &Ctx::train(s)).unwrap();
        for (a, b) in y.as_slice().iter().zip(x.as_slice()) {
            if *a != 0.0 {
                kept += 1;
                assert!((a - b / (1.0 - p)).abs() < 1e-12);
            }
            sum_y += a;
        }
    }
    let total = (n * d) as f64 * reps as f64;
    let frac = kept as f64 / total;
    let sd = (p * (1.0 - p) / total).sqrt();
    assert!((frac - (1.0 - p)).abs() < 5.0 * sd, "kept fraction {frac}");
    let sum_x: f64 = x.as_slice().iter().sum::<f64>() * reps as f64;
    // E[y] = x: relative error of the sum within a few standard deviations.
    assert!(((sum_y - sum_x) / sum_x).abs() < 0.01, "{sum_y} vs {sum_x}");
}

#[test]
fn dropout_masks_depend_on_seed_and_salt_only() {
    let x = Matrix::from_vec(3, 700, vec![1.0f32; 2100]).unwrap();
    let run = |seed: u64, salt: u64, par: Par| {
        let mut d = Dropout::new(0.5, salt).unwrap();
        let mut y = Matrix::zeros(0, 0);
        d.forward(&x, &mut y, &Ctx::train(seed).with_par(par))
            .unwrap();
        y
    };
    assert_eq!(run(1, 0, Par::Seq), run(1, 0, Par::Rayon));
    assert_ne!(run(1, 0, Par::Seq), run(2, 0, Par::Seq));
    assert_ne!(run(1, 0, Par::Seq), run(1, 1, Par::Seq));
    let d = Dropout::new(0.5, 0).unwrap();
    let y = run(1, 0, Par::Seq);
    for k in 0..2100 {
        assert_eq!(d.keeps(1, k as u64), y.as_slice()[k] != 0.0);
    }
    // Backward zeroes exactly the dropped elements.
    let mut layer = Dropout::new(0.5, 0).unwrap();
    let mut y = Matrix::zeros(0, 0);
    let ctx = Ctx::train(1);
    layer.forward(&x, &mut y, &ctx).unwrap();
    let mut dx = Matrix::zeros(0, 0);
    layer.backward(&x, &y, &x, Some(&mut dx), &ctx).unwrap();
    assert_eq!(dx, y);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn made_masks_are_autoregressive(d in 1usize..7, h1 in 1usize..12, h2 in 1usize..12, k in 1usize..4, seed in any::<u64>(), random in any::<bool>()) {
        let mut rng = rng_from_seed(seed);
        let order = made::random_order(d, &mut rng);
        let rule = if random { HiddenDegrees::Random } else { HiddenDegrees::Sequential };
        let masks = MadeMasks::new(&order, &[h1, h2], k, rule, &mut rng).unwrap();
        prop_assert!(masks.is_autoregressive(&order));
        // The network's input Jacobian has exactly the masks' zero pattern
        // wherever the masks forbid a path.
        let mut net = made::made_network::<f64, _>(&order, &[h1, h2], k, rule, Activation::Tanh, Init::Default, &mut rng).unwrap();
        let x = Matrix::from_fn(1, d, |_, j| 0.1 + 0.2 * j as f64);
        for o in 0..k * d {
            let mut dy = Matrix::zeros(1, k * d);
            dy.set(0, o, 1.0);
            let g = net.input_gradient(&x, &dy, Par::Seq).unwrap();
            for j in 0..d {
                if order[j] >= order[o % d] {
                    prop_assert_eq!(g.get(0, j), 0.0);
                }
            }
        }
    }
}

#[test]
fn made_sequential_degrees_connect_every_allowed_pair() {
    let mut rng = rng_from_seed(0);
    let order = made::reversed_order(5);
    let masks = MadeMasks::new(&order, &[20, 20], 2, HiddenDegrees::Sequential, &mut rng).unwrap();
    let c = masks.connectivity();
    for (k, &mk) in masks.output_degrees.iter().enumerate() {
        for j in 0..5 {
            assert_eq!(c[k * 5 + j], order[j] < mk, "output {k} input {j}");
        }
    }
    assert!(made::check_order(&[1, 2, 2]).is_err());
    assert!(made::check_order(&[]).is_err());
    assert!(made::check_order(&[0, 1]).is_err());
}

fn build_net(seed: u64) -> Sequential<f32> {
    let mut rng = rng_from_seed(seed);
    let mut net = Sequential::<f32>::new(7);
    net.push(Dense::new(7, 24, Init::Default, &mut rng).unwrap())
        .unwrap();
    net.push(BatchNorm::new(24).unwrap()).unwrap();
    net.push(PRelu::new(24, 0.2).unwrap()).unwrap();
    net.push(Dropout::new(0.2, 0).unwrap()).unwrap();
    net.push(Dense::new(24, 9, Init::Default, &mut rng).unwrap())
        .unwrap();
    net.push(Softplus::new(1.0).unwrap()).unwrap();
    net.push(Dense::new(9, 2, Init::Default, &mut rng).unwrap())
        .unwrap();
    net
}

#[test]
fn results_are_bit_identical_for_any_thread_count() {
    let n = 1300; // three row blocks
    let mut rng = rng_from_seed(3);
    let x = Matrix::from_fn(n, 7, |_, _| rng.random_range(-1.0f32..1.0));
    let dy = Matrix::from_fn(n, 2, |_, _| rng.random_range(-1.0f32..1.0));
    let run = |par: Par| {
        let mut net = build_net(1);
        let ctx = Ctx::train(9).with_par(par);
        let y = net.forward(&x, &ctx).unwrap().clone();
        let dx = net.backward(&x, &dy, true, &ctx).unwrap().unwrap().clone();
        (y, dx, net.flat_grads())
    };
    let reference = run(Par::Seq);
    for threads in [1, 2, 3] {
        let pool = exec::thread_pool(threads).unwrap();
        let got = pool.install(|| run(Par::Rayon));
        assert!(got == reference, "{threads} threads differ from sequential");
    }
}

#[test]
fn f32_and_f64_networks_agree() {
    let mut rng = rng_from_seed(4);
    let mut n64 = Sequential::<f64>::mlp(
        &[4, 16, 16, 3],
        Activation::Elu(1.0),
        Init::Default,
        &mut rng,
    )
    .unwrap();
    let params = n64.flat_params();
    let mut rng = rng_from_seed(4);
    let mut n32 = Sequential::<f32>::mlp(
        &[4, 16, 16, 3],
        Activation::Elu(1.0),
        Init::Default,
        &mut rng,
    )
    .unwrap();
    n32.set_flat_params(&params.iter().map(|&v| v as f32).collect::<Vec<_>>())
        .unwrap();
    let x = normal_matrix(600, 4, 8);
    let x32 = Matrix::from_fn(600, 4, |i, j| x.get(i, j) as f32);
    let y64 = n64.predict(&x, Par::Seq).unwrap();
    let y32 = n32.predict(&x32, Par::Seq).unwrap();
    for (a, b) in y64.as_slice().iter().zip(y32.as_slice()) {
        assert!((a - *b as f64).abs() < 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let mut rng = rng_from_seed(0);
    let mut net =
        Sequential::<f64>::mlp(&[3, 4, 2], Activation::Relu, Init::Default, &mut rng).unwrap();
    let wrong = Matrix::zeros(5, 4);
    let e = net.forward(&wrong, &Ctx::eval()).unwrap_err();
    assert!(e.to_string().contains("network input"), "{e}");
    let x = Matrix::zeros(5, 3);
    let e = net
        .backward(&x, &Matrix::zeros(5, 2), false, &Ctx::eval())
        .unwrap_err();
    assert!(matches!(e, NnError::BackwardBeforeForward { .. }));
    net.forward(&x, &Ctx::eval()).unwrap();
    assert!(net
        .backward(&x, &Matrix::zeros(5, 3), false, &Ctx::eval())
        .is_err());
    assert!(net.push(Dense::<f64>::zeros(3, 1).unwrap()).is_err());
    assert!(Dense::<f64>::zeros(0, 1).is_err());
    assert!(Dense::<f64>::from_params(2, 1, vec![1.0], vec![0.0]).is_err());
    assert!(Dense::<f64>::from_params(1, 1, vec![f64::NAN], vec![0.0]).is_err());
    assert!(MaskedDense::<f64>::zeros(2, 2, vec![true]).is_err());
    assert!(Dropout::new(1.0, 0).is_err());
    assert!(Dropout::new(-0.1, 0).is_err());
    assert!(Elu::new(0.0).is_err());
    assert!(Softplus::new(f64::NAN).is_err());
    assert!(PRelu::<f64>::new(3, 0.25).unwrap().output_dim(4).is_err());
    assert!(BatchNorm::<f64>::with_options(2, 1e-5, 0.0).is_err());
    assert!(Sequential::<f64>::mlp(&[3], Activation::Relu, Init::Default, &mut rng).is_err());
    assert!(Sequential::<f64>::new(3).forward(&x, &Ctx::eval()).is_err());
}

#[test]
fn specs_rebuild_the_same_architecture() {
    let net = build_net(2);
    let specs = net.specs();
    let rebuilt = Sequential::<f32>::from_specs(7, &specs).unwrap();
    assert_eq!(rebuilt.specs(), specs);
    assert_eq!(rebuilt.num_params(), net.num_params());
    let mut rng = rng_from_seed(1);
    let m = made::made_network::<f64, _>(
        &[2, 1, 3],
        &[5],
        2,
        HiddenDegrees::Random,
        Activation::Relu,
        Init::Default,
        &mut rng,
    )
    .unwrap();
    let again = Sequential::<f64>::from_specs(3, &m.specs()).unwrap();
    assert_eq!(again.specs(), m.specs());
    assert!(LayerSpec::Custom { name: "x".into() }
        .build::<f64>()
        .is_err());
}

#[test]
fn fused_row_block_pipeline_equals_layer_by_layer_passes() {
    // Sequential runs consecutive row-local layers block by block through
    // all of them; driving the same layers one whole-batch call at a time
    // must give bit-identical outputs and gradients.
    let make = || {
        let mut rng = rng_from_seed(12);
        let mut net =
            Sequential::<f32>::mlp(&[6, 20, 20, 3], Activation::PRelu, Init::Default, &mut rng)
                .unwrap();
        net.push(
            Dense::new(3, 4, Init::Default, &mut rng)
                .unwrap()
                .with_activation(Activation::Softplus(2.0))
                .unwrap(),
        )
        .unwrap();
        net
    };
    let n = 1234;
    let mut rng = rng_from_seed(13);
    let x = Matrix::from_fn(n, 6, |_, _| rng.random_range(-1.0f32..1.0));
    let dy = Matrix::from_fn(n, 4, |_, _| rng.random_range(-1.0f32..1.0));
    for par in [Par::Seq, Par::Rayon] {
        let ctx = Ctx::train(1).with_par(par);
        let mut fused = make();
        let y1 = fused.forward(&x, &ctx).unwrap().clone();
        let dx1 = fused
            .backward(&x, &dy, true, &ctx)
            .unwrap()
            .unwrap()
            .clone();
        let mut manual = make();
        let layers = manual.layers_mut();
        let mut acts = vec![x.clone()];
        for l in layers.iter_mut() {
            let mut y = Matrix::zeros(0, 0);
            l.forward(acts.last().unwrap(), &mut y, &ctx).unwrap();
            acts.push(y);
        }
        let mut g = dy.clone();
        for (i, l) in layers.iter_mut().enumerate().rev() {
            let mut dx = Matrix::zeros(0, 0);
            l.backward(&acts[i], &acts[i + 1], &g, Some(&mut dx), &ctx)
                .unwrap();
            g = dx;
        }
        assert!(y1 == acts[acts.len() - 1]);
        assert!(dx1 == g);
        assert!(fused.flat_grads() == manual.flat_grads());
    }
}

#[test]
fn masked_layers_apply_weights_changed_after_a_forward_pass() {
    // A masked layer caches W ⊙ M between passes; every way of changing W
    // (parameter visitor as optimisers use it, flat parameter setter) must
    // be seen by the next forward pass, in whole-batch and row-block form.
    let mask: Vec<bool> = (0..12).map(|k| k % 3 != 1).collect();
    let make = |seed| {
        let mut rng = rng_from_seed(seed);
        let mut net = Sequential::<f64>::new(4);
        net.push(MaskedDense::new(4, 3, mask.clone(), Init::Default, &mut rng).unwrap())
            .unwrap();
        net.push(
            MaskedDense::new(
                3,
                3,
                (0..9).map(|k| k != 4).collect(),
                Init::Default,
                &mut rng,
            )
            .unwrap()
            .with_activation(Activation::Elu(1.0))
            .unwrap(),
        )
        .unwrap();
        net
    };
    let x = normal_matrix(7, 4, 5);
    let ctx = Ctx::eval();
    let mut net = make(1);
    let y0 = net.forward(&x, &ctx).unwrap().clone();
    net.visit_params_mut(&mut |p| {
        for v in p.value.iter_mut() {
            *v = 0.5 * *v + 0.25;
        }
    });
    let y1 = net.forward(&x, &ctx).unwrap().clone();
    assert!(y1 != y0);
    let mut reference = make(1);
    reference.visit_params_mut(&mut |p| {
        for v in p.value.iter_mut() {
            *v = 0.5 * *v + 0.25;
        }
    });
    assert!(y1 == *reference.forward(&x, &ctx).unwrap());
    // The flat setter, with the parameters of another network.
    let other = make(2);
    net.set_flat_params(&other.flat_params()).unwrap();
    let mut other = other;
    assert!(*net.forward(&x, &ctx).unwrap() == *other.forward(&x, &ctx).unwrap());
}
