//! Benches of the gas-map Gaussian process (darkprobe-gasmap `gp`), on 9-D
//! inputs: horizontal 9-pixel strips of the preprocessed 12CO planes of the
//! synthetic generator (`synth::generate`, seed 2020, l = 300-350 deg,
//! |b| < 0.5 deg, 0.025 deg pixels, 4 velocity bins, trained on 300-340 deg),
//! the 13CO pixel as target, as in the paper. The first `n` of a seeded
//! shuffle of the usable training pixels of the bin with the most of them.
//!
//! `cargo bench --bench gasmap_gp`:
//! - criterion, n = 2000: the faer Cholesky of the Gram matrix, Cholesky +
//!   inverse $K^{-1}$ (the dense linear algebra of one gradient), one log
//!   marginal likelihood with its analytic gradient (the unit cost of the
//!   hyperparameter search), and predicting the held-out query points (at most 10 000);
//! - with `GASMAP_GP_BENCH_FULL=1`, a timed report (not criterion: one run
//!   takes minutes) at n = 7840, the paper's n: Cholesky + inverse and
//!   LML + gradient (best of 2), then the FULL exact fit (standardised data,
//!   L-BFGS through `darkprobe_core::optimize::minimize`, 1 extra restart as
//!   the CLI's `--gp-restarts` default), with the number of LML evaluations,
//!   wall time and final LML. `GASMAP_GP_BENCH_FIT_ONLY=1` skips everything
//!   but that fit (no criterion cases, no best-of-2 timings), and
//!   `GASMAP_GP_BENCH_RESTARTS=k` sets the number of extra restarts (default 1).
//!
//! Files for a peer (scikit-learn `GaussianProcessRegressor`) are written to
//! `target/peers/gp/` (or `$GASMAP_GP_PEER_DIR`) by the full run:
//! - `train_<n>.csv`: header `x0,...,x8,y`, one training point per line
//!   (raw, not standardised; `{:e}` floats);
//! - `query.csv`: same columns, up to 10 000 points of the held-out longitudes;
//! - `fit_<n>.csv`: header `key,value`; rows `n`, `d`, `restarts`, `seed`,
//!   `n_eval`, `wall_s`, `ln_ml` (of the standardised targets),
//!   `ln_ml_raw` (= `ln_ml` - n ln s_y, of the raw targets), `amplitude`,
//!   `length_scale`, `constant`, `noise` (kernel
//!   $A\,M_{3/2}(r) + \nu_1 + \nu_2\delta$ on standardised data),
//!   `x_scale`, `y_mean`, `y_scale` and `x_mean_<j>` (standardisation:
//!   $\tilde x_j = (x_j - \bar x_j)/s_x$ with one $s_x$ = RMS of the
//!   per-feature population standard deviations; $\tilde y = (y-\bar y)/s_y$).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use darkprobe::gasmap::gp::{ln_marginal_likelihood, ExactGp, GpParams, Matern32Kernel};
use darkprobe::gasmap::model::{Neighbourhood, Orientation};
use darkprobe::gasmap::pipeline::{training_pairs, TrainingOptions};
use darkprobe::gasmap::preprocess::Preprocess;
use darkprobe::gasmap::synth::{generate, SynthParams};
use darkprobe::gasmap::LonRange;
use faer::linalg::solvers::Llt;
use faer::{Mat, MatRef, Side};
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;

const D: usize = 9;
const N_QUERY: usize = 10_000;
const SEED: u64 = 2020;

/// Training strips and targets (`n_train` rows) and held-out query strips
/// (`n_query` rows) from the synthetic generator.
fn strips(n_train: usize, n_query: usize) -> (Array2<f64>, Array1<f64>, Array2<f64>, Array1<f64>) {
    let params = SynthParams {
        lon_min_deg: 300.0,
        lon_max_deg: 350.0,
        pixel_deg: 0.025,
        n_vel: 4,
        ..SynthParams::default()
    };
    let cubes = generate(&params, SEED).expect("synthetic cubes");
    let strip = Neighbourhood::Strip {
        orientation: Orientation::Horizontal,
        len: D,
    };
    // At most `n` pixels; with `need`, exactly `n` or a panic.
    let pick = |lon: &str, n: usize, need: bool, salt: u64| {
        let set = training_pairs(
            &cubes.co12,
            &cubes.co13,
            &Preprocess::default(),
            &TrainingOptions {
                seed: SEED,
                ..TrainingOptions::new(LonRange::parse(lon).expect("range"))
            },
        )
        .expect("training pairs");
        let pairs = set.pairs();
        let best = pairs
            .iter()
            .max_by_key(|p| p.train_mask.iter().filter(|&&m| m).count())
            .expect("a bin");
        let mut px: Vec<(usize, usize)> = best
            .train_mask
            .indexed_iter()
            .filter(|(_, &m)| m)
            .map(|(rc, _)| rc)
            .collect();
        assert!(
            !need || px.len() >= n,
            "only {} usable pixels for {lon}",
            px.len()
        );
        px.shuffle(&mut rand::rngs::StdRng::seed_from_u64(SEED + salt));
        px.truncate(n);
        let x = strip.features(best.source, &px).expect("strips");
        let y = Array1::from_iter(px.iter().map(|&rc| best.target[rc]));
        (x, y)
    };
    let (x, y) = pick("300:340", n_train, true, 0);
    let (xq, yq) = pick("340:350", n_query, false, 1);
    (x, y, xq, yq)
}

fn flat(x: &Array2<f64>) -> Vec<f64> {
    x.iter().copied().collect()
}

/// A kernel of the size the fits reach on these strips (standardised units).
fn kernel() -> Matern32Kernel {
    Matern32Kernel::isotropic(1.0, 3.0, Some(0.1), 0.01).expect("kernel")
}

fn gram(k: &Matern32Kernel, xf: &[f64], n: usize) -> Vec<f64> {
    (0..n * n)
        .map(|idx| {
            let (i, j) = (idx % n, idx / n);
            k.signal(&xf[i * D..(i + 1) * D], &xf[j * D..(j + 1) * D])
                + if i == j { k.noise } else { 0.0 }
        })
        .collect()
}

/// Cholesky and the inverse from the factor, as one LML gradient needs.
fn cholesky_inverse(g: &[f64], n: usize) -> Mat<f64> {
    let llt = Llt::new(MatRef::from_column_major_slice(g, n, n), Side::Lower).expect("spd");
    let par = faer::get_global_parallelism();
    let mut out = Mat::<f64>::zeros(n, n);
    let mut mem = faer::dyn_stack::MemBuffer::new(
        faer::linalg::cholesky::llt::inverse::inverse_scratch::<f64>(n, par),
    );
    let stack = faer::dyn_stack::MemStack::new(&mut mem);
    faer::linalg::cholesky::llt::inverse::inverse(out.as_mut(), llt.L(), par, stack);
    out
}

fn bench_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("gasmap_gp_kernel");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let n = 2000;
    let (x, y, xq, _) = strips(n, N_QUERY);
    let (xf, yv) = (flat(&x), y.to_vec());
    let k = kernel();
    let gm = gram(&k, &xf, n);
    g.bench_with_input(BenchmarkId::new("cholesky", n), &n, |b, &n| {
        b.iter(|| Llt::new(MatRef::from_column_major_slice(&gm, n, n), Side::Lower).unwrap())
    });
    g.bench_with_input(BenchmarkId::new("cholesky_inverse", n), &n, |b, &n| {
        b.iter(|| cholesky_inverse(&gm, n))
    });
    g.bench_with_input(BenchmarkId::new("lml_and_gradient", n), &n, |b, _| {
        b.iter(|| ln_marginal_likelihood(&k, &xf, D, &yv, true).unwrap())
    });
    let params = GpParams {
        optimize: false,
        initial: Some(k.clone()),
        ..GpParams::default()
    };
    let gp = ExactGp::fit(x.view(), y.view(), &params).unwrap();
    g.throughput(Throughput::Elements(xq.nrows() as u64));
    g.bench_with_input(BenchmarkId::new("predict_query_mean", n), &n, |b, _| {
        b.iter(|| gp.predict(xq.view()).unwrap())
    });
    g.finish();
}

fn write_csv(path: &std::path::Path, x: &Array2<f64>, y: &Array1<f64>) {
    let mut s = (0..D).map(|j| format!("x{j},")).collect::<String>() + "y\n";
    for (row, v) in x.rows().into_iter().zip(y) {
        for a in row {
            s.push_str(&format!("{a:e},"));
        }
        s.push_str(&format!("{v:e}\n"));
    }
    if let Err(e) = std::fs::write(path, s) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// Cholesky, Cholesky + inverse and LML + gradient at `n`, best of 2.
fn timings(x: &Array2<f64>, y: &Array1<f64>, n: usize) {
    let (xf, yv) = (flat(x), y.to_vec());
    let k = kernel();
    let gm = gram(&k, &xf, n);
    let t_chol = best_of(2, || {
        Llt::new(MatRef::from_column_major_slice(&gm, n, n), Side::Lower).unwrap()
    });
    let t_inv = best_of(2, || cholesky_inverse(&gm, n));
    let t_lml = best_of(2, || ln_marginal_likelihood(&k, &xf, D, &yv, true).unwrap());
    println!(
        "n = {n}: cholesky {t_chol:.3} s, cholesky + inverse {t_inv:.3} s, \
         LML + gradient {t_lml:.3} s (best of 2)"
    );
}

/// The timed n = 7840 report and the peer files.
fn full_report() {
    let n = 7840;
    let dir = std::env::var("GASMAP_GP_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target/peers/gp"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
    }
    let (x, y, xq, yq) = strips(n, N_QUERY);
    write_csv(&dir.join(format!("train_{n}.csv")), &x, &y);
    write_csv(&dir.join("query.csv"), &xq, &yq);
    let fit_only = env_flag("GASMAP_GP_BENCH_FIT_ONLY");
    if !fit_only {
        timings(&x, &y, n);
    }
    let restarts = std::env::var("GASMAP_GP_BENCH_RESTARTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    println!("n = {n}: full fit with {restarts} extra restart(s) started");
    let params = GpParams {
        n_restarts: restarts,
        seed: SEED,
        ..GpParams::default()
    };
    let t = Instant::now();
    let gp = ExactGp::fit(x.view(), y.view(), &params).unwrap();
    let wall = t.elapsed().as_secs_f64();
    let kf = gp.kernel();
    let s = gp.standardizer();
    println!(
        "n = {n}: full fit ({} starts) {wall:.1} s, {} LML evaluations, ln ML {:.4} \
         (per start {:?}), converged {}, kernel {kf:?}",
        restarts + 1,
        gp.report().n_eval,
        gp.ln_marginal_likelihood(),
        gp.report().start_ln_ml,
        gp.report().converged,
    );
    let mut out = String::from("key,value\n");
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k},{v}\n"));
    kv("n", n.to_string());
    kv("d", D.to_string());
    kv("restarts", restarts.to_string());
    kv("seed", SEED.to_string());
    kv("n_eval", gp.report().n_eval.to_string());
    kv("wall_s", format!("{wall:.3}"));
    kv("ln_ml", format!("{:e}", gp.ln_marginal_likelihood()));
    kv(
        "ln_ml_raw",
        format!(
            "{:e}",
            gp.ln_marginal_likelihood() - n as f64 * s.y_scale.ln()
        ),
    );
    kv("amplitude", format!("{:e}", kf.amplitude));
    kv("length_scale", format!("{:e}", kf.length_scales[0]));
    kv("constant", format!("{:e}", kf.constant.unwrap_or(0.0)));
    kv("noise", format!("{:e}", kf.noise));
    kv("x_scale", format!("{:e}", s.x_scale));
    kv("y_mean", format!("{:e}", s.y_mean));
    kv("y_scale", format!("{:e}", s.y_scale));
    for (j, m) in s.x_mean.iter().enumerate() {
        kv(&format!("x_mean_{j}"), format!("{m:e}"));
    }
    let path = dir.join(format!("fit_{n}.csv"));
    if let Err(e) = std::fs::write(&path, out) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    if !env_flag("GASMAP_GP_BENCH_FIT_ONLY") {
        bench_kernel(&mut c);
    }
    if env_flag("GASMAP_GP_BENCH_FULL") {
        full_report();
    }
    c.final_summary();
}
