//! Criterion benches of the dwarf background on seeded generated voids of the
//! package's size (12,739 voids over |b| > 20 deg, 6 bins): building the model
//! at 8 dwarfs (Nadaraya-Watson in 6 bins and the JB pdf), and one evaluation of
//! the JB background pdf at a dwarf, keeping all voids or dropping those with
//! relative spatial weight below e^-50.
//!
//!
//! The limit scan (issue item 6): 25 masses, 8 dwarfs stacked, case JB, on one
//! thread, including the setup (void KDE, priors at the dwarfs, tabulation),
//! on mock dwarfs with the generated voids and, when `DARKPROBE_DATA` is set,
//! on the real package files (PPPC bb, `scan_DM_mass.dat`).
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

fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(f)
}

fn bench_limit_scan(c: &mut Criterion) {
    use darkprobe::dwarfs::analysis::{AnalysisOptions, Case, DwarfAnalysis, DwarfInput};
    use darkprobe::limits::likelihood::LnDensity1d;
    use darkprobe::limits::spectrum::{ChannelTable, FnSpectrum};
    use std::sync::Arc;
    let mut g = c.benchmark_group("dwarf_limit_scan_25_masses_8_dwarfs_jb_1_thread");
    g.sample_size(10);
    let masses: Vec<f64> = (0..25)
        .map(|i| 10f64.powf(0.9 + 2.1 * i as f64 / 24.0))
        .collect();
    let v = voids(12_739, 1);
    let spec = FnSpectrum::new("E^-1.5", (1.0, 1e5), |m: f64, e: f64| {
        e.powf(-1.5) / m.sqrt()
    })
    .unwrap();
    g.bench_function("mock_dwarfs_generated_voids", |bch| {
        bch.iter(|| {
            one_thread(|| {
                let opts = AnalysisOptions {
                    case: Case::JB,
                    ..AnalysisOptions::default()
                };
                let model = BackgroundModel::new(&v, &opts.background).unwrap();
                let inputs: Vec<DwarfInput> = DWARFS
                    .iter()
                    .enumerate()
                    .map(|(i, &(l, b))| {
                        let bk = model.at(l, b).unwrap();
                        let prior: Arc<dyn LnDensity1d> = Arc::new(bk.conditional().clone());
                        DwarfInput {
                            name: format!("D{i}"),
                            counts: bk.ln_b_hat.iter().map(|x| x.exp().round() as u64).collect(),
                            exposure_cm2_s: vec![3e11; 6],
                            ln_b_hat: bk.ln_b_hat.clone(),
                            log10_j: 18.0 + 0.1 * i as f64,
                            log10_j_sigma: 0.2,
                            log10_j_samples: None,
                            background_prior: Some(prior),
                        }
                    })
                    .collect();
                let a = DwarfAnalysis::new(inputs, opts).unwrap();
                a.scan(&spec, &masses).unwrap().rows[0].sigma_v_ul_cm3_s
            })
        })
    });
    if let Some(root) = std::env::var_os("DARKPROBE_DATA") {
        let dir = std::path::PathBuf::from(root).join("mlfermidwarfs");
        let pkg = darkprobe::dwarfs::PackageData::load(&dir).unwrap();
        let masses =
            darkprobe::dwarfs::masses::read_mass_list(dir.join("scan_DM_mass.dat")).unwrap();
        assert_eq!(masses.len(), 25);
        let bb = ChannelTable::read_pppc(dir.join("AtProduction_gammas.dat"))
            .unwrap()
            .spectrum("bb")
            .unwrap()
            .with_mlfermilatdwarfs_convention();
        g.bench_function("real_package_bb", |bch| {
            bch.iter(|| {
                one_thread(|| {
                    let opts = AnalysisOptions {
                        case: Case::JB,
                        ..AnalysisOptions::default()
                    };
                    let a = DwarfAnalysis::from_package(
                        &pkg,
                        "Carina+Draco+Fornax+LeoI+LeoII+Sculptor+Sextans+UrsaMinor",
                        opts,
                    )
                    .unwrap();
                    a.scan(&bb, &masses).unwrap().rows[0].sigma_v_ul_cm3_s
                })
            })
        });
    } else {
        eprintln!("DARKPROBE_DATA not set: skipping the real-data limit scan bench");
    }
    g.finish();
}

criterion_group!(benches, bench_background, bench_limit_scan);
criterion_main!(benches);
