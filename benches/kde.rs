//! Criterion benches of darkprobe-kde's hot paths on seeded generated data:
//! exact and tree evaluation (3-D, 10,000 training points x 10,000 queries),
//! leave-one-out scores and repeated k-fold bandwidth search.
//!
//! `cargo bench --bench kde`. The same data can be written to CSV for the
//! scikit-learn comparison with `cargo run --release --example kde_bench_data`
//! (see `benches/peers/README.md`).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use darkprobe::kde::{
    select_bandwidth_kfold, Bandwidth, GaussianKde, KFold, ScaleSearch, Tolerance,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn normal(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
}

fn bench_eval(c: &mut Criterion) {
    let train = normal(10_000, 3, 1);
    let queries = normal(10_000, 3, 2);
    let kde = GaussianKde::new(train.view(), Bandwidth::Isotropic(0.2)).unwrap();
    let mut g = c.benchmark_group("kde_3d_1e4x1e4");
    g.sample_size(10);
    g.bench_function("exact", |b| {
        b.iter(|| kde.ln_pdf_batch(queries.view()).unwrap())
    });
    g.bench_function("tree_rtol_1e-6", |b| {
        b.iter(|| {
            kde.ln_pdf_batch_tol(queries.view(), Tolerance::rtol(1e-6))
                .unwrap()
        })
    });
    g.bench_function("tree_rtol_1e-6_including_build", |b| {
        b.iter_batched(
            || GaussianKde::new(train.view(), Bandwidth::Isotropic(0.2)).unwrap(),
            |k| {
                k.ln_pdf_batch_tol(queries.view(), Tolerance::rtol(1e-6))
                    .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench_cv(c: &mut Criterion) {
    // Subhalo-sized problem: 500 points in 3-D, 5 folds x 20 repetitions, 20 bandwidths.
    let x = normal(500, 3, 3);
    let grid = ScaleSearch::log_grid(0.05, 1.0, 20).unwrap();
    let mut g = c.benchmark_group("kde_cv");
    g.sample_size(10);
    g.bench_function("kfold_5x20_grid20_n500_d3", |b| {
        b.iter(|| {
            select_bandwidth_kfold(
                x.view(),
                &Bandwidth::Isotropic(1.0),
                &grid,
                &KFold::paper(7),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_eval, bench_cv);
criterion_main!(benches);
