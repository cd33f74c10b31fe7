//! Criterion benches of the gas-map patch network (darkprobe-gasmap's
//! `PatchNet`): training throughput in samples (pixels) per second at the
//! paper's batch size 8192, on 1 and 2 threads.
//!
//! Two measurements over one epoch of 65 536 seeded synthetic samples
//! (8 LAMB steps):
//! - `train_epoch`: the network alone — one `Trainer` epoch of the weighted
//!   MAE with per-sample weights on pre-built 7 x 7 patches;
//! - `fit_one_epoch`: `PatchNet::fit` end to end with `epochs = 1` on a
//!   256 x 256 plane (patch extraction, scaling, weights, the epoch, the
//!   final snapshot), no validation split.
//!
//! `cargo bench --bench gasmap_net`.
//!
//! Architecture, for a peer implementation (PyTorch defaults throughout):
//! `Linear(49, 128) PReLU() BatchNorm1d(128) Dropout(0.1)
//!  Linear(128, 64) PReLU() BatchNorm1d(64) Dropout(0.1)
//!  Linear(64, 64) PReLU() BatchNorm1d(64) Dropout(0.1) Linear(64, 1)`
//! in float32, LAMB (lr 1e-3, betas (0.9, 0.999), eps 1e-6, weight decay
//! 0.01, bias correction), weighted L1 loss normalised by the weight sum.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use darkprobe::core::progress::NoProgress;
use darkprobe::gasmap::net::{wmae_weights, NetArchitecture, TargetRange};
use darkprobe::gasmap::{NetOptions, PatchNet, PlanePair};
use darkprobe::nn::loss::WeightedMae;
use darkprobe::nn::train::{Dataset, TrainConfig, Trainer};
use darkprobe::nn::{exec::thread_pool, Lamb, Matrix};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

const BATCH: usize = 8192;
const SIDE: usize = 256;
const N: usize = SIDE * SIDE;

fn planes() -> (Array2<f64>, Array2<f64>, Array2<bool>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let src = Array2::from_shape_fn((SIDE, SIDE), |(i, j)| {
        let (x, y) = (i as f64 / 17.0, j as f64 / 23.0);
        5.0 * (x.sin() * y.cos()).max(0.0) + 0.1 * rng.random_range(-1.0..1.0)
    });
    let tgt = src.mapv(|v| 3.0 * (1.0 - (-v / 4.0f64).exp()));
    (src, tgt, Array2::from_elem((SIDE, SIDE), true))
}

fn bench_train_epoch(c: &mut Criterion) {
    let mut g = c.benchmark_group("gasmap_patchnet_train_epoch_batch8192_f32");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let x = Matrix::from_fn(N, 49, |_, _| rng.random_range(-1.0f32..1.0));
    let targets: Vec<f64> = (0..N)
        .map(|i| f64::from(x.row(i)[24]).tanh() + 0.1 * f64::from(x.row(i)[0]))
        .collect();
    let y = Matrix::from_vec(N, 1, targets.iter().map(|&v| v as f32).collect()).unwrap();
    let w: Vec<f32> = wmae_weights(&targets, TargetRange::of(&targets), 30.0, 0.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let data = Dataset::new(x, y, Some(w)).unwrap();
    for threads in [1usize, 2] {
        let pool = thread_pool(threads).unwrap();
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter_batched(
                || {
                    let net = NetArchitecture::default()
                        .build::<f32, _>(49, &mut rand::rngs::StdRng::seed_from_u64(1))
                        .unwrap();
                    let opt = Lamb::<f32>::new(1e-3).unwrap();
                    let trainer = Trainer::<f32>::new(TrainConfig {
                        epochs: 1,
                        batch_size: BATCH,
                        threads: if threads == 1 { 1 } else { 0 },
                        restore_best: false,
                        ..TrainConfig::default()
                    })
                    .unwrap();
                    (net, opt, trainer)
                },
                |(mut net, mut opt, mut trainer)| {
                    pool.install(|| {
                        trainer
                            .fit(
                                &mut net,
                                &WeightedMae::default(),
                                &mut opt,
                                &data,
                                None,
                                &NoProgress,
                            )
                            .unwrap()
                    })
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn bench_fit_one_epoch(c: &mut Criterion) {
    let mut g = c.benchmark_group("gasmap_patchnet_fit_one_epoch_256x256");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let (src, tgt, mask) = planes();
    let pair = PlanePair {
        velocity_bin: 0,
        source: src.view(),
        target: tgt.view(),
        train_mask: mask.view(),
    };
    for threads in [1usize, 2] {
        let opts = NetOptions {
            epochs: 1,
            validation_fraction: 0.0,
            patience: None,
            threads,
            ..NetOptions::default()
        };
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter(|| PatchNet::fit(&[pair], &opts, 3, &NoProgress).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_train_epoch, bench_fit_one_epoch);
criterion_main!(benches);
