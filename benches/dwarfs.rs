//! Criterion benches of the dwarf background on seeded generated voids of the
//! package's size (12,739 voids over |b| > 20 deg, 6 bins): building the model
//! at 8 dwarfs (Nadaraya-Watson in 6 bins and the JB pdf), and one evaluation of
//! the JB background pdf at a dwarf, keeping all voids or dropping those with
//! relative spatial weight below e^-50.
//!
//! `cargo bench --bench dwarfs`.

use criterion::{criterion_group, criterion_main, Criterion};
use darkprobe::dwarfs::{BackgroundModel, BackgroundParams, VoidSample};
use rand::{Rng, SeedableRng};

fn voids(n: usize, seed: u64) -> VoidSample {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut l = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    while l.len() < n {
        let (x, y) = darkprobe::core::sky::sample_sphere(&mut rng);
        if y.abs() > 20.0 {
            l.push(x);
            b.push(y);
        }
    }
    let c = (0..n)
        .map(|_| {
            (0..6)
                .map(|k| rng.random_range(5..80u64) / (k + 1))
                .map(|x| x.max(1))
                .collect()
        })
        .collect();
    VoidSample::new(l, b, c).unwrap()
}

const DWARFS: [(f64, f64); 8] = [
    (260.11, -22.22),
    (86.37, 34.72),
    (237.10, -65.65),
    (225.99, 49.11),
    (220.17, 67.23),
    (287.53, -83.16),
    (243.50, 42.27),
    (104.97, 44.80),
];

fn bench_background(c: &mut Criterion) {
    let v = voids(12_739, 1);
    let mut g = c.benchmark_group("dwarf_background_12739_voids");
    g.sample_size(10);
    g.bench_function("model_and_8_dwarfs", |bch| {
        bch.iter(|| {
            let m = BackgroundModel::new(&v, &BackgroundParams::package()).unwrap();
            DWARFS
                .iter()
                .map(|&(l, b)| m.at(l, b).unwrap().ln_b_hat[0])
                .sum::<f64>()
        })
    });
    let full = BackgroundModel::new(&v, &BackgroundParams::package())
        .unwrap()
        .at(86.37, 34.72)
        .unwrap();
    let cut = BackgroundModel::new(&v, &BackgroundParams::package().with_drop_below(50.0))
        .unwrap()
        .at(86.37, 34.72)
        .unwrap();
    g.sample_size(50);
    g.bench_function("jb_pdf_eval_all_voids", |bch| {
        bch.iter(|| full.ln_joint_pdf_and_derivative(std::hint::black_box(3.9)))
    });
    g.bench_function("jb_pdf_eval_drop_below_50", |bch| {
        bch.iter(|| cut.ln_joint_pdf_and_derivative(std::hint::black_box(3.9)))
    });
    g.finish();
}

criterion_group!(benches, bench_background);
criterion_main!(benches);
