//! Every layer's parameter and input gradients against central finite
//! differences in f64, over random shapes (proptest).

use darkprobe_core::rng::rng_from_seed;
use darkprobe_nn::gradcheck::{check_layer, GradCheck};
use darkprobe_nn::*;
use proptest::prelude::*;
use rand::Rng;

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;

/// Inputs in ±[0.05, 1.5], away from the kinks of ReLU-type activations.
fn away_from_zero(n: usize, d: usize, seed: u64) -> Matrix<f64> {
    let mut rng = rng_from_seed(seed);
    Matrix::from_fn(n, d, |_, _| {
        let m: f64 = rng.random_range(0.05..1.5);
        if rng.random_bool(0.5) {
            m
        } else {
            -m
        }
    })
}

fn assert_ok(r: &GradCheck, what: &str) {
    assert!(
        r.max_param_error < TOL && r.max_input_error < TOL,
        "{what}: {r:?}"
    );
}

fn random_mask(din: usize, dout: usize, seed: u64) -> Vec<bool> {
    let mut rng = rng_from_seed(seed ^ 0xABCD);
    (0..din * dout).map(|_| rng.random_bool(0.6)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn dense(n in 1usize..7, din in 1usize..7, dout in 1usize..7, seed in any::<u64>()) {
        let mut rng = rng_from_seed(seed);
        let mut l = Dense::<f64>::new(din, dout, Init::Default, &mut rng).unwrap();
        let x = away_from_zero(n, din, seed + 1);
        let r = check_layer(&mut l, &x, &Ctx::train(seed), H, seed).unwrap();
        prop_assert_eq!(r.n_params, din * dout + dout);
        assert_ok(&r, "dense");
    }

    #[test]
    fn masked_dense(n in 1usize..7, din in 1usize..7, dout in 1usize..7, seed in any::<u64>()) {
        let mut rng = rng_from_seed(seed);
        let mask = random_mask(din, dout, seed);
        let mut l = MaskedDense::<f64>::new(din, dout, mask.clone(), Init::Default, &mut rng).unwrap();
        let x = away_from_zero(n, din, seed + 1);
        let r = check_layer(&mut l, &x, &Ctx::train(seed), H, seed).unwrap();
        assert_ok(&r, "masked dense");
        // Masked weights have exactly zero gradient.
        for (g, m) in l.grad_weight().iter().zip(&mask) {
            if !m { prop_assert_eq!(*g, 0.0); }
        }
    }

    #[test]
    fn elementwise_activations(n in 1usize..7, d in 1usize..7, seed in any::<u64>(), alpha in 0.2f64..2.0, beta in 0.3f64..3.0) {
        let x = away_from_zero(n, d, seed);
        let ctx = Ctx::train(seed);
        assert_ok(&check_layer(&mut Relu, &x, &ctx, H, seed).unwrap(), "relu");
        assert_ok(&check_layer(&mut Tanh, &x, &ctx, H, seed).unwrap(), "tanh");
        assert_ok(&check_layer(&mut Elu::new(alpha).unwrap(), &x, &ctx, H, seed).unwrap(), "elu");
        assert_ok(&check_layer(&mut Softplus::new(beta).unwrap(), &x, &ctx, H, seed).unwrap(), "softplus");
    }

    #[test]
    fn prelu_shared_and_per_channel(n in 1usize..7, d in 1usize..7, seed in any::<u64>(), a in -0.5f64..0.8) {
        let x = away_from_zero(n, d, seed);
        let ctx = Ctx::train(seed);
        let mut shared = PRelu::<f64>::new(1, a).unwrap();
        let r = check_layer(&mut shared, &x, &ctx, H, seed).unwrap();
        prop_assert_eq!(r.n_params, 1);
        assert_ok(&r, "prelu shared");
        let mut per = PRelu::<f64>::new(d, a).unwrap();
        let r = check_layer(&mut per, &x, &ctx, H, seed).unwrap();
        prop_assert_eq!(r.n_params, d);
        assert_ok(&r, "prelu per channel");
    }

    #[test]
    fn batch_norm_train_and_eval(n in 2usize..8, d in 1usize..6, seed in any::<u64>()) {
        let mut rng = rng_from_seed(seed);
        let mut bn = BatchNorm::<f64>::new(d).unwrap();
        let gamma: Vec<f64> = (0..d).map(|_| rng.random_range(0.5..2.0)).collect();
        let beta: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        bn.set_affine(gamma, beta).unwrap();
        let x = Matrix::from_fn(n, d, |_, _| rng.random_range(-2.0..2.0));
        // Training mode: the statistics depend on the batch, so every input
        // influences every output of its column.
        let r = check_layer(&mut bn, &x, &Ctx::train(seed), 1e-6, seed).unwrap();
        prop_assert!(r.max_param_error < 1e-6 && r.max_input_error < 1e-6, "train: {:?}", r);
        // Inference mode with non-trivial running statistics.
        let mean: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let var: Vec<f64> = (0..d).map(|_| rng.random_range(0.2..3.0)).collect();
        bn.visit_buffers_mut(&mut |name, b| match name {
            "running_mean" => b.copy_from_slice(&mean),
            _ => b.copy_from_slice(&var),
        });
        let r = check_layer(&mut bn, &x, &Ctx::eval(), H, seed).unwrap();
        assert_ok(&r, "batch norm eval");
    }

    #[test]
    fn dropout_with_a_fixed_mask(n in 1usize..7, d in 1usize..7, seed in any::<u64>(), p in 0.0f64..0.9) {
        let x = away_from_zero(n, d, seed);
        let mut drop = Dropout::new(p, 3).unwrap();
        assert_ok(&check_layer(&mut drop, &x, &Ctx::train(seed), H, seed).unwrap(), "dropout train");
        assert_ok(&check_layer(&mut drop, &x, &Ctx::eval(), H, seed).unwrap(), "dropout eval");
    }

    #[test]
    fn sequential_of_every_smooth_layer(n in 2usize..6, seed in any::<u64>()) {
        let mut rng = rng_from_seed(seed);
        let mut inner = Sequential::<f64>::new(5);
        inner.push(Dense::new(5, 4, Init::Default, &mut rng).unwrap()).unwrap();
        inner.push(Softplus::new(1.5).unwrap()).unwrap();
        let mut net = Sequential::<f64>::new(3);
        net.push(Dense::new(3, 5, Init::XavierUniform, &mut rng).unwrap()).unwrap();
        net.push(BatchNorm::new(5).unwrap()).unwrap();
        net.push(Tanh).unwrap();
        net.push(Dropout::new(0.3, 1).unwrap()).unwrap();
        net.push(inner).unwrap();
        net.push(Elu::new(1.0).unwrap()).unwrap();
        let mask = random_mask(4, 2, seed);
        net.push(MaskedDense::new(4, 2, mask, Init::HeNormal, &mut rng).unwrap()).unwrap();
        let x = Matrix::from_fn(n, 3, |_, _| rng.random_range(-1.0..1.0));
        // Batch norm over very few rows is strongly curved: a smaller step
        // keeps the O(h²) truncation error of the central difference small.
        let r = check_layer(&mut net, &x, &Ctx::train(seed), 1e-6, seed).unwrap();
        prop_assert!(r.max_param_error < 1e-6 && r.max_input_error < 1e-6, "{:?}", r);
        let r = check_layer(&mut net, &x, &Ctx::eval(), 1e-6, seed).unwrap();
        prop_assert!(r.max_param_error < 1e-6 && r.max_input_error < 1e-6, "eval: {:?}", r);
    }
}

#[test]
fn relu_network_with_several_row_blocks() {
    // 1100 rows span three row blocks: the per-block weight-gradient sums
    // must add up to the full-batch gradient.
    let mut rng = rng_from_seed(5);
    let mut net =
        Sequential::<f64>::mlp(&[3, 6, 2], Activation::Relu, Init::Default, &mut rng).unwrap();
    let x = Matrix::from_fn(1100, 3, |_, _| rng.random_range(-1.0..1.0));
    let ctx = Ctx::train(0);
    net.zero_grad();
    net.forward(&x, &ctx).unwrap();
    let dy = Matrix::from_fn(1100, 2, |i, j| ((i * 7 + j * 3) % 5) as f64 - 2.0);
    net.backward(&x, &dy, false, &ctx).unwrap();
    let blocked = net.flat_grads();
    // Same gradient accumulated row by row.
    net.zero_grad();
    for i in 0..1100 {
        let xi = x.select_rows(&[i]).unwrap();
        let di = dy.select_rows(&[i]).unwrap();
        net.forward(&xi, &ctx).unwrap();
        net.backward(&xi, &di, false, &ctx).unwrap();
    }
    for (a, b) in blocked.iter().zip(net.flat_grads()) {
        assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

fn act_of(which: usize, a: f64) -> Activation {
    match which {
        0 => Activation::Relu,
        1 => Activation::Tanh,
        2 => Activation::Elu(a),
        _ => Activation::Softplus(a),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn fused_activations(n in 1usize..7, din in 1usize..7, dout in 1usize..7, seed in any::<u64>(), which in 1usize..4, a in 0.3f64..2.0) {
        let act = act_of(which, a);
        let x = away_from_zero(n, din, seed + 1);
        let mut rng = rng_from_seed(seed);
        let mut l = Dense::<f64>::new(din, dout, Init::Default, &mut rng).unwrap().with_activation(act).unwrap();
        assert_ok(&check_layer(&mut l, &x, &Ctx::train(seed), H, seed).unwrap(), "fused dense");
        let mask = random_mask(din, dout, seed);
        let mut m = MaskedDense::<f64>::new(din, dout, mask, Init::Default, &mut rng).unwrap().with_activation(act).unwrap();
        assert_ok(&check_layer(&mut m, &x, &Ctx::train(seed), H, seed).unwrap(), "fused masked dense");
    }

    #[test]
    fn fused_equals_separate_layers(n in 1usize..1100, seed in any::<u64>(), which in 0usize..4, a in 0.3f64..2.0) {
        // Fusing an activation into the affine layer changes nothing but
        // rounding (bit-identical for ReLU and tanh).
        let act = act_of(which, a);
        let mut rng = rng_from_seed(seed);
        let dense = Dense::<f64>::new(5, 7, Init::Default, &mut rng).unwrap();
        let mut fused = Sequential::new(5).with(dense.clone().with_activation(act).unwrap()).unwrap();
        let mut separate = Sequential::new(5).with(dense).unwrap();
        separate.push_boxed(act.layer(7).unwrap()).unwrap();
        let x = Matrix::from_fn(n, 5, |_, _| rng.random_range(-2.0..2.0));
        let dy = Matrix::from_fn(n, 7, |_, _| rng.random_range(-1.0..1.0));
        let ctx = Ctx::train(0);
        let y1 = fused.forward(&x, &ctx).unwrap().clone();
        let g1 = fused.backward(&x, &dy, true, &ctx).unwrap().unwrap().clone();
        let y2 = separate.forward(&x, &ctx).unwrap().clone();
        let g2 = separate.backward(&x, &dy, true, &ctx).unwrap().unwrap().clone();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(u, v)| (u - v).abs() <= 1e-13 * (1.0 + u.abs().max(v.abs())));
        if which < 2 {
            prop_assert_eq!(&y1, &y2);
            prop_assert_eq!(&g1, &g2);
            prop_assert_eq!(fused.flat_grads(), separate.flat_grads());
        } else {
            prop_assert!(close(y1.as_slice(), y2.as_slice()));
            prop_assert!(close(g1.as_slice(), g2.as_slice()));
            prop_assert!(close(&fused.flat_grads(), &separate.flat_grads()));
        }
    }
}
