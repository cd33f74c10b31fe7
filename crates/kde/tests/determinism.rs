//! Determinism across thread counts: the same seed gives bit-identical
//! results on a rayon pool of 1 thread and on a pool of 2 threads.

use darkprobe_kde::{
    kfold_score, select_bandwidth_kfold, select_bandwidth_loo, Bandwidth, BandwidthRule,
    BandwidthShape, GaussianKde, KFold, ScaleSearch, Tolerance,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

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

/// A skewed 2-D sample: a normal and a log-normal column, correlated.
fn sample(n: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut x = Array2::<f64>::zeros((n, 2));
    for i in 0..n {
        let a: f64 = StandardNormal.sample(&mut rng);
        let b: f64 = StandardNormal.sample(&mut rng);
        x[[i, 0]] = a;
        x[[i, 1]] = (0.5 * a + 0.6 * b).exp();
    }
    x
}

/// Everything a repeated k-fold bandwidth selection produces, as bits.
fn kfold_run(x: &Array2<f64>) -> Vec<u64> {
    let base = BandwidthRule::Scott
        .bandwidth(x.view(), None, BandwidthShape::Full)
        .unwrap();
    let kfold = KFold {
        folds: 5,
        repeats: 4,
        seed: 17,
    };
    let search = ScaleSearch::Continuous {
        lo: 0.1,
        hi: 3.0,
        rel_tol: 1e-4,
    };
    let sel = select_bandwidth_kfold(x.view(), &base, &search, &kfold).unwrap();
    let grid = ScaleSearch::log_grid(0.2, 2.0, 5).unwrap();
    let sel_grid = select_bandwidth_kfold(x.view(), &base, &grid, &kfold).unwrap();
    let mut out = vec![sel.best_scale, sel.best_score];
    out.extend(sel.curve.iter().flat_map(|&(s, v)| [s, v]));
    out.extend(sel_grid.curve.iter().flat_map(|&(s, v)| [s, v]));
    out.push(kfold_score(x.view(), &base, &kfold).unwrap());
    bits(&out)
}

#[test]
fn repeated_kfold_selection_is_bit_identical_on_one_and_two_threads() {
    let x = sample(300, 3);
    let one = on_threads(1, || kfold_run(&x));
    let two = on_threads(2, || kfold_run(&x));
    assert_eq!(one, two);
    // The comparison has teeth: another shuffle seed moves the score.
    let other = select_bandwidth_kfold(
        x.view(),
        &Bandwidth::Isotropic(0.5),
        &ScaleSearch::Grid(vec![1.0]),
        &KFold {
            folds: 5,
            repeats: 4,
            seed: 18,
        },
    )
    .unwrap();
    let same_seed = select_bandwidth_kfold(
        x.view(),
        &Bandwidth::Isotropic(0.5),
        &ScaleSearch::Grid(vec![1.0]),
        &KFold {
            folds: 5,
            repeats: 4,
            seed: 17,
        },
    )
    .unwrap();
    assert_ne!(other.best_score.to_bits(), same_seed.best_score.to_bits());
}

#[test]
fn loo_selection_and_batch_evaluation_are_bit_identical_on_one_and_two_threads() {
    let x = sample(400, 5);
    let queries = sample(2000, 6);
    let run = || {
        let sel = select_bandwidth_loo(
            x.view(),
            None,
            &Bandwidth::Diagonal(vec![1.0, 0.8]),
            &ScaleSearch::Continuous {
                lo: 0.05,
                hi: 2.0,
                rel_tol: 1e-4,
            },
        )
        .unwrap();
        let kde = GaussianKde::new(x.view(), sel.best_bandwidth.clone()).unwrap();
        let mut out = vec![sel.best_scale, sel.best_score];
        out.extend(kde.ln_pdf_batch(queries.view()).unwrap().iter());
        out.extend(kde.ln_pdf_loo().unwrap().iter());
        // The k-d tree path (built lazily inside the pool).
        out.extend(
            kde.ln_pdf_batch_tol(queries.view(), Tolerance::rtol(1e-6))
                .unwrap()
                .iter(),
        );
        bits(&out)
    };
    assert_eq!(on_threads(1, run), on_threads(2, run));
}
