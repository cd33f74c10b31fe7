//! Criterion benches of the gas-map Gaussian process (darkprobe-gasmap `gp`):
//! the faer Cholesky of the Gram matrix, one log-marginal-likelihood
//! evaluation with its analytic gradient (the unit cost of the hyperparameter
//! search), the full exact fit with L-BFGS hyperparameter optimisation, and
//! the prediction of 10,000 points, on seeded synthetic 9-D inputs (the
//! paper's 9-pixel strips) with n = 2000 and n = 7840 (the paper's n).
//!
//! `cargo bench --bench gasmap_gp`. The full n = 7840 fit takes minutes per
//! run, so it is measured only when `GASMAP_GP_BENCH_FULL=1`.
//! Set `GASMAP_GP_BENCH_DUMP=<dir>` to write the inputs as CSV
//! (`gp_train_<n>.csv`, `gp_query.csv`: columns `x0..x8,y`) for a peer
//! comparison (e.g. scikit-learn's `GaussianProcessRegressor`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use darkprobe::gasmap::gp::{ln_marginal_likelihood, ExactGp, GpParams, Matern32Kernel};
use faer::linalg::solvers::Llt;
use faer::{MatRef, Side};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const D: usize = 9;
const N_QUERY: usize = 10_000;

/// Strip-like inputs: a smooth positive profile sampled at 9 neighbouring
/// pixels, and a saturating nonlinear target with 2 % noise.
fn synthetic(n: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, D));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        let level: f64 = rng.random_range(0.0..4.0);
        let slope: f64 = rng.random_range(-0.3..0.3);
        let width: f64 = rng.random_range(2.0..8.0);
        for j in 0..D {
            let t = j as f64 - 4.0;
            let noise: f64 = rng.sample(StandardNormal);
            x[[i, j]] =
                (level * (-(t * t) / (2.0 * width * width)).exp() + slope * t + 0.05 * noise)
                    .max(0.0);
        }
        let centre = x[[i, 4]];
        let mean: f64 = x.row(i).sum() / D as f64;
        let noise: f64 = rng.sample(StandardNormal);
        y[i] = 1.5 * (1.0 - (-centre / 1.2).exp()) + 0.1 * (centre - mean) + 0.02 * noise;
    }
    (x, y)
}

fn dump(name: &str, x: &Array2<f64>, y: &Array1<f64>) {
    let Ok(dir) = std::env::var("GASMAP_GP_BENCH_DUMP") else {
        return;
    };
    let mut s = (0..D).map(|j| format!("x{j},")).collect::<String>() + "y\n";
    for (row, v) in x.rows().into_iter().zip(y) {
        for a in row {
            s.push_str(&format!("{a:e},"));
        }
        s.push_str(&format!("{v:e}\n"));
    }
    let path = std::path::Path::new(&dir).join(name);
    if let Err(e) = std::fs::write(&path, s) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn fit_params() -> GpParams {
    GpParams {
        n_restarts: 0,
        seed: 1,
        ..GpParams::default()
    }
}

fn bench_linear_algebra(c: &mut Criterion) {
    let mut g = c.benchmark_group("gasmap_gp_kernel");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    let kernel = Matern32Kernel::isotropic(1.0, 3.0, Some(0.1), 0.01).unwrap();
    for n in [2000usize, 7840] {
        let (x, y) = synthetic(n, 7);
        dump(&format!("gp_train_{n}.csv"), &x, &y);
        let xf: Vec<f64> = x.iter().copied().collect();
        let yv = y.to_vec();
        // The Gram matrix, column-major, noise on the diagonal.
        let gram: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k % n, k / n);
                kernel.signal(&xf[i * D..(i + 1) * D], &xf[j * D..(j + 1) * D])
                    + if i == j { kernel.noise } else { 0.0 }
            })
            .collect();
        g.throughput(Throughput::Elements((n * n * n / 3) as u64));
        g.bench_with_input(BenchmarkId::new("cholesky_flop", n), &n, |b, &n| {
            b.iter(|| Llt::new(MatRef::from_column_major_slice(&gram, n, n), Side::Lower).unwrap())
        });
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("lml_and_gradient", n), &n, |b, _| {
            b.iter(|| ln_marginal_likelihood(&kernel, &xf, D, &yv, true).unwrap())
        });
    }
    g.finish();
}

fn bench_fit_predict(c: &mut Criterion) {
    let mut g = c.benchmark_group("gasmap_gp_fit");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(120));
    let mut sizes = vec![2000usize];
    if std::env::var("GASMAP_GP_BENCH_FULL").is_ok_and(|v| v == "1") {
        sizes.push(7840);
    }
    for n in sizes {
        let (x, y) = synthetic(n, 7);
        g.bench_with_input(BenchmarkId::new("fit_optimised", n), &n, |b, _| {
            let once = std::sync::Once::new();
            b.iter(|| {
                let gp = ExactGp::fit(x.view(), y.view(), &fit_params()).unwrap();
                once.call_once(|| {
                    eprintln!(
                        "n = {n}: ln ML {:.3}, {} evaluations, converged {}, kernel {:?}",
                        gp.ln_marginal_likelihood(),
                        gp.report().n_eval,
                        gp.report().converged,
                        gp.kernel()
                    )
                });
                gp
            })
        });
    }
    let (xq, yq) = synthetic(N_QUERY, 8);
    dump("gp_query.csv", &xq, &yq);
    for n in [2000usize, 7840] {
        let (x, y) = synthetic(n, 7);
        let params = GpParams {
            optimize: false,
            initial: Some(Matern32Kernel::isotropic(1.0, 3.0, Some(0.1), 0.01).unwrap()),
            ..GpParams::default()
        };
        let gp = ExactGp::fit(x.view(), y.view(), &params).unwrap();
        g.throughput(Throughput::Elements(N_QUERY as u64));
        g.bench_with_input(BenchmarkId::new("predict_10k_mean", n), &n, |b, _| {
            b.iter(|| gp.predict(xq.view()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_linear_algebra, bench_fit_predict);
criterion_main!(benches);
