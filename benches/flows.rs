//! Criterion benches of darkprobe-flows: one maximum-likelihood training
//! step (batch 1024, Adam) of the phase-space model with the default
//! architecture (position and velocity flows, 6 MADE blocks of 64×64 ELU
//! units each), and `ln_f_grad` (log phase-space density with its exact
//! position and velocity gradients) at 10,000 points.
//!
//! `cargo bench --bench flows`; throughput is reported in samples per second.
//! The wall time of a full fit is measured by the bench binary
//! `cargo run --release -p darkprobe-flows --example flows_timing`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use darkprobe::core::progress::NoProgress;
use darkprobe::flows::{FitOptions, PhaseSpaceFlow, PhaseSpaceModel, Vec3};
use darkprobe::nn::Adam;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn population(n: usize) -> (Vec<Vec3>, Vec<Vec3>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut g = move || rng.sample::<f64, _>(StandardNormal);
    (0..n)
        .map(|_| {
            let x = [2.0 * g(), 2.0 * g(), 0.5 * g()];
            let s = 30.0 + 10.0 * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
            (x, [s * g(), s * g(), s * g()])
        })
        .unzip()
}

fn model(x: &[Vec3], v: &[Vec3]) -> PhaseSpaceFlow {
    let mut opts = FitOptions::default();
    opts.train.max_epochs = 1;
    PhaseSpaceFlow::fit(x, v, &opts, 1, &NoProgress).unwrap().0
}

fn bench_flows(c: &mut Criterion) {
    let (x, v) = population(10_000);
    let mut m = model(&x[..2048], &v[..2048]);

    let mut g = c.benchmark_group("phase_space_flow_train_step_batch1024");
    g.throughput(Throughput::Elements(1024));
    g.sample_size(20);
    let mut opt_p = Adam::new(1e-3).unwrap();
    let mut opt_v = Adam::new(1e-3).unwrap();
    let mut step = 0u64;
    g.bench_function("adam_step", |b| {
        b.iter(|| {
            step += 1;
            m.train_step(&x[..1024], &v[..1024], &mut opt_p, &mut opt_v, step)
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("phase_space_flow_ln_f_grad");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.bench_function("10000_points", |b| b.iter(|| m.ln_f_grad(&x, &v).unwrap()));
    g.finish();
}

criterion_group!(benches, bench_flows);
criterion_main!(benches);
