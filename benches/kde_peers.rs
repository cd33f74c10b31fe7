//! Side-by-side KDE timing against scikit-learn (bench binary, no criterion).
//!
//! `cargo bench --bench kde_peers` writes the seeded 3-D training and query
//! sets plus darkprobe's log densities to `target/peers/`, and prints the
//! median wall time of 5 repetitions for the exact and the tree (rtol 1e-6)
//! paths. `python3 benches/peers/kde_peer.py` then runs scikit-learn's
//! `KernelDensity` (and SciPy's `gaussian_kde`) on the very same files and
//! prints times, agreement and ratios (darkprobe times are written to
//! `target/peers/kde_darkprobe_times.csv`).

use darkprobe::core::table::write_csv_columns;
use darkprobe::kde::{Bandwidth, GaussianKde, Tolerance};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::path::PathBuf;
use std::time::Instant;

const BANDWIDTH: f64 = 0.2;

fn normal(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
}

fn median_secs<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn write(dir: &std::path::Path, name: &str, a: &Array2<f64>) {
    let cols: Vec<Vec<f64>> = (0..a.ncols()).map(|k| a.column(k).to_vec()).collect();
    let names = ["x0", "x1", "x2"];
    let pairs: Vec<(&str, &[f64])> = cols
        .iter()
        .enumerate()
        .map(|(k, c)| (names[k], c.as_slice()))
        .collect();
    write_csv_columns(dir.join(name), &pairs).expect("write peer data");
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers");
    std::fs::create_dir_all(&dir).expect("create target/peers");
    let threads = rayon::current_num_threads();
    println!("darkprobe KDE, 3-D, bandwidth {BANDWIDTH}, {threads} rayon threads");
    let mut times = String::from("key,value\n");
    for (n_train, tag) in [(10_000usize, "1e4"), (100_000, "1e5")] {
        let train = normal(n_train, 3, 1);
        let queries = normal(10_000, 3, 2);
        write(&dir, &format!("kde_train_{tag}.csv"), &train);
        write(&dir, "kde_query.csv", &queries);
        let kde = GaussianKde::new(train.view(), Bandwidth::Isotropic(BANDWIDTH)).unwrap();
        let exact = kde.ln_pdf_batch(queries.view()).unwrap();
        write_csv_columns(
            dir.join(format!("kde_darkprobe_lnpdf_{tag}.csv")),
            &[("ln_pdf", exact.as_slice().unwrap())],
        )
        .unwrap();
        let t_exact = median_secs(5, || {
            kde.ln_pdf_batch(queries.view()).unwrap();
        });
        let t_tree = median_secs(5, || {
            let k = GaussianKde::new(train.view(), Bandwidth::Isotropic(BANDWIDTH)).unwrap();
            k.ln_pdf_batch_tol(queries.view(), Tolerance::rtol(1e-6))
                .unwrap();
        });
        let tree = kde
            .ln_pdf_batch_tol(queries.view(), Tolerance::rtol(1e-6))
            .unwrap();
        let max_dev = exact
            .iter()
            .zip(tree.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        times.push_str(&format!(
            "exact_{tag}_time_s,{t_exact}\ntree_{tag}_time_s,{t_tree}\nthreads,{threads}\n"
        ));
        println!(
            "train {n_train:>6} x query 10000: exact {t_exact:.3} s, tree(rtol 1e-6, incl. build) {t_tree:.3} s, max |d ln p| tree vs exact {max_dev:.2e}"
        );
    }
    std::fs::write(dir.join("kde_darkprobe_times.csv"), times).expect("write darkprobe times");
}
