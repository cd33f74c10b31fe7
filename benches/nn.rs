//! Criterion benches of darkprobe-nn: full training steps (forward, MSE
//! gradient, backward, Adam update) of the MLP 49 -> 128 -> 64 -> 64 -> 1
//! (ReLU) at batch 8192 in f32, on 1 and 2 threads, with the phases timed
//! separately to show where the time goes.
//!
//! `cargo bench --bench nn`; throughput is reported in samples per second.
//! The PyTorch peer of the same step is `benches/peers/nn_peer.py`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use darkprobe::nn::{
    exec::thread_pool, Activation, Adam, Ctx, Init, Loss, Matrix, Mse, Optimizer, Par, Parameters,
    Sequential,
};
use rand::{Rng, SeedableRng};

const SIZES: [usize; 5] = [49, 128, 64, 64, 1];
const BATCH: usize = 8192;

struct Setup {
    net: Sequential<f32>,
    opt: Adam<f32>,
    x: Matrix<f32>,
    y: Matrix<f32>,
    grad: Matrix<f32>,
}

fn setup() -> Setup {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let net = Sequential::<f32>::mlp(&SIZES, Activation::Relu, Init::Default, &mut rng).unwrap();
    let x = Matrix::from_fn(BATCH, SIZES[0], |_, _| rng.random_range(-1.0f32..1.0));
    let y = Matrix::from_fn(BATCH, 1, |i, _| x.row(i).iter().take(5).sum::<f32>().sin());
    Setup {
        net,
        opt: Adam::new(1e-3).unwrap(),
        x,
        y,
        grad: Matrix::zeros(0, 0),
    }
}

fn train_step(s: &mut Setup, ctx: &Ctx) -> f64 {
    s.net.zero_grad();
    let pred = s.net.forward(&s.x, ctx).unwrap();
    let l = Mse.value_and_grad(pred, &s.y, None, &mut s.grad).unwrap();
    s.net.backward(&s.x, &s.grad, false, ctx).unwrap();
    s.opt.step(&mut s.net).unwrap();
    l
}

fn bench_train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_49_128_64_64_1_batch8192_f32_adam");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(30);
    for threads in [1usize, 2] {
        let pool = thread_pool(threads).unwrap();
        let mut s = setup();
        let par = if threads == 1 { Par::Seq } else { Par::Rayon };
        let ctx = Ctx::train(0).with_par(par);
        // Warm the buffers so the measured steps allocate nothing.
        pool.install(|| train_step(&mut s, &ctx));
        g.bench_function(format!("train_step_{threads}_thread"), |b| {
            pool.install(|| b.iter(|| train_step(&mut s, &ctx)))
        });
    }
    g.finish();
}

fn bench_phases(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_phases_1_thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(30);
    let mut s = setup();
    let ctx = Ctx::train(0);
    train_step(&mut s, &ctx);
    g.bench_function("forward_train", |b| {
        b.iter(|| {
            s.net.forward(&s.x, &ctx).unwrap();
        })
    });
    g.bench_function("loss_gradient", |b| {
        let pred = s.net.forward(&s.x, &ctx).unwrap().clone();
        b.iter(|| Mse.value_and_grad(&pred, &s.y, None, &mut s.grad).unwrap())
    });
    g.bench_function("backward", |b| {
        s.net.forward(&s.x, &ctx).unwrap();
        b.iter(|| {
            s.net.backward(&s.x, &s.grad, false, &ctx).unwrap();
        })
    });
    g.bench_function("zero_grad", |b| b.iter(|| s.net.zero_grad()));
    g.bench_function("adam_step", |b| {
        // Real gradients, held fixed while the optimiser steps.
        s.net.zero_grad();
        s.net.forward(&s.x, &ctx).unwrap();
        s.net.backward(&s.x, &s.grad, false, &ctx).unwrap();
        b.iter(|| s.opt.step(&mut s.net).unwrap())
    });
    g.bench_function("predict_eval", |b| {
        let ectx = Ctx::eval();
        b.iter(|| {
            s.net.forward(&s.x, &ectx).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench_train_step, bench_phases);
criterion_main!(benches);
