//! Determinism across thread counts: training steps (f64, batch norm,
//! dropout, PReLU, LAMB, Poisson loss) and input gradients are bit-identical
//! on a rayon pool of 1 thread and on a pool of 2 threads. The batches hold
//! more than one row block (`exec::ROW_BLOCK` rows), so the parallel path
//! really splits the work.

use darkprobe_core::progress::NoProgress;
use darkprobe_core::rng::rng_from_seed;
use darkprobe_nn::exec::ROW_BLOCK;
use darkprobe_nn::train::{Dataset, TrainConfig, Trainer};
use darkprobe_nn::{
    Activation, BatchNorm, Dense, Dropout, Init, Lamb, Matrix, PRelu, Par, Parameters, PoissonNll,
    Sequential,
};
use rand::Rng;

/// Runs `f` on a fresh rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

const N: usize = 2 * ROW_BLOCK + 300;

/// Counts drawn around a smooth rate of 3 inputs.
fn data(seed: u64) -> Dataset<f64> {
    let mut rng = rng_from_seed(seed);
    let x: Matrix<f64> = Matrix::from_fn(N, 3, |_, _| rng.random_range(-1.0..1.0));
    let y = Matrix::from_fn(N, 1, |i, _| {
        let r = x.row(i);
        let rate: f64 = (1.0 + r[0] - 0.5 * r[1] * r[2]).exp();
        (rate + rng.random_range(-0.5..0.5)).max(0.0).round()
    });
    Dataset::new(x, y, None).unwrap()
}

fn network(seed: u64) -> Sequential<f64> {
    let mut rng = rng_from_seed(seed);
    let mut net = Sequential::<f64>::new(3);
    net.push(Dense::new(3, 24, Init::HeNormal, &mut rng).unwrap())
        .unwrap();
    net.push(BatchNorm::new(24).unwrap()).unwrap();
    net.push(PRelu::new(24, 0.25).unwrap()).unwrap();
    net.push(Dropout::new(0.2, 1).unwrap()).unwrap();
    net.push(Dense::new(24, 1, Init::Default, &mut rng).unwrap())
        .unwrap();
    net
}

#[test]
fn training_steps_are_bit_identical_on_one_and_two_threads() {
    let train = data(1);
    let run = || {
        let mut net = network(2);
        let mut opt = Lamb::new(1e-2).unwrap();
        // threads = 0: train on the pool the call runs in.
        let config = TrainConfig {
            epochs: 2,
            batch_size: N - 100,
            seed: 9,
            threads: 0,
            ..TrainConfig::default()
        };
        let report = Trainer::new(config)
            .unwrap()
            .fit(
                &mut net,
                &PoissonNll::default(),
                &mut opt,
                &train,
                None,
                &NoProgress,
            )
            .unwrap();
        let mut out = bits(&net.flat_params());
        out.extend(report.history.iter().map(|e| e.train_loss.to_bits()));
        out.extend(bits(net.predict(train.x(), Par::Rayon).unwrap().as_slice()));
        out
    };
    let one = on_threads(1, run);
    assert_eq!(one, on_threads(2, run));
    // Training moved the parameters away from their initial values.
    assert_ne!(
        bits(&network(2).flat_params()),
        one[..network(2).num_params()]
    );
}

#[test]
fn input_gradients_are_bit_identical_on_one_and_two_threads_and_sequentially() {
    let x = data(3).x().clone();
    let run = |par: Par| {
        let mut rng = rng_from_seed(4);
        let mut net =
            Sequential::<f64>::mlp(&[3, 32, 32, 2], Activation::Tanh, Init::Default, &mut rng)
                .unwrap();
        let dy = Matrix::from_fn(N, 2, |i, k| if (i + k) % 2 == 0 { 1.0 } else { -0.5 });
        bits(net.input_gradient(&x, &dy, par).unwrap().as_slice())
    };
    let seq = run(Par::Seq);
    assert_eq!(on_threads(1, || run(Par::Rayon)), seq);
    assert_eq!(on_threads(2, || run(Par::Rayon)), seq);
}
