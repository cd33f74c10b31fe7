//! Criterion benches of the darkprobe-flows dynamical estimators with the
//! exact Hernquist distribution function (M = 1e10 Msun, a = 5 kpc):
//!
//! * `accel_100x10000`: CBE least-squares accelerations at 100 positions with
//!   10 000 velocities each (sampling, gradients and the 3x3 solves), on the
//!   rayon pool;
//! * `gauss_density_1000_draws`: one kernel-smoothed Gauss-law density with
//!   the default Gaussian kernel (1000 draws, 6000 field evaluations) on the
//!   analytic acceleration field.
//!
//! `cargo bench --bench flows_dyn`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use darkprobe::flows::accel::{accelerations, AccelOptions};
use darkprobe::flows::gauss::{density, GaussOptions};
use darkprobe::flows::mock::{HernquistDf, SphericalDf};
use darkprobe::flows::{Result, Vec3};

fn bench_accel(c: &mut Criterion) {
    let df = HernquistDf::new(1e10, 5.0).unwrap();
    let points: Vec<Vec3> = (0..100)
        .map(|k| {
            let t = k as f64 * 0.37;
            let r = 0.5 + 0.2 * k as f64;
            [r * t.cos(), r * t.sin(), 0.1 * r]
        })
        .collect();
    let opts = AccelOptions::default();
    let mut g = c.benchmark_group("flows_dyn");
    g.sample_size(10);
    g.throughput(Throughput::Elements(
        (points.len() * opts.n_velocities) as u64,
    ));
    g.bench_function("accel_100x10000", |b| {
        b.iter(|| accelerations(&df, &points, &opts, 1).unwrap())
    });
    g.finish();
}

fn bench_gauss(c: &mut Criterion) {
    let df = HernquistDf::new(1e10, 5.0).unwrap();
    let field =
        |x: &[Vec3]| -> Result<Vec<Vec3>> { Ok(x.iter().map(|p| df.acceleration(*p)).collect()) };
    let opts = GaussOptions::default();
    let mut g = c.benchmark_group("flows_dyn");
    g.throughput(Throughput::Elements(6 * opts.n_draws as u64));
    g.bench_function("gauss_density_1000_draws", |b| {
        b.iter(|| density(&field, &[[8.122, 0.0, 0.0208]], &opts, 1).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_accel, bench_gauss);
criterion_main!(benches);
