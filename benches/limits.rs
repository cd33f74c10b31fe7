//! Criterion benches of the stacked profile likelihood on seeded generated
//! data shaped like the MLFermiLATDwarfs JB analysis: 8 dwarfs, 6 energy
//! bins, empirical J-factors (5000 samples each), background profiled with a
//! void-KDE prior (13,000 generated voids, sigma = 1.4 deg, zeta = 0.15,
//! every void kept), log-ratio background scaling, 25 masses.
//!
//! `cargo bench --bench limits`. Benches:
//! - `stacked_profile_warm`: one warm-started stacked profile (8 dwarfs x 2
//!   nuisances), alternating between two cross-sections 20% apart;
//! - `full_scan_25_masses`: best fit and exact 3.84 upper limit at each of 25
//!   masses (the dwarf issue's speed target: under 1 s on one core);
//! - `full_scan_25_masses_package_grid`: the same with the package's
//!   100-point grid reading, for comparison;
//! - `setup_tables_*`: building the stacked likelihood (prior tabulation, one
//!   target per rayon task), with all voids in each dwarf's prior or only
//!   those whose kernel weight is within e^-40 of the largest.
//!
//! The profile and scan benches run on the calling thread only.

use criterion::{criterion_group, criterion_main, Criterion};
use darkprobe::kde::{SkyProductKde, SpatialMetric};
use darkprobe::limits::likelihood::{
    BackgroundModel, BackgroundScaling, EmpiricalLogJ, JFactorModel, LimitOptions, ProfileOptions,
    StackedLikelihood, Target, MLFERMI_J_BANDWIDTH_DEX,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use std::f64::consts::PI;
use std::sync::Arc;

const N_DWARFS: usize = 8;

/// 25 masses of the package's scan, GeV.
const MASSES: [f64; 25] = [
    8.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 150.0, 180.0,
    200.0, 260.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0,
];

/// Macro-bin edges, GeV.
const EDGES: [f64; 7] = [0.5, 0.67, 0.89, 1.19, 1.58, 2.81, 500.0];

/// A toy photon yield per bin: dN/dx ~ x^-1.5 exp(-8 x) with x = E/m,
/// integrated over the bin by the midpoint rule on 200 log steps.
fn yields(mass_gev: f64) -> Vec<f64> {
    EDGES
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0].ln(), w[1].min(mass_gev).ln());
            if b <= a {
                return 1e-12;
            }
            let n = 200;
            let h = (b - a) / n as f64;
            (0..n)
                .map(|i| {
                    let e = (a + (i as f64 + 0.5) * h).exp();
                    let x = e / mass_gev;
                    20.0 * x.powf(-1.5) * (-8.0 * x).exp() / mass_gev * e * h
                })
                .sum::<f64>()
                .max(1e-12)
        })
        .collect()
}

struct Setup {
    targets: Vec<Target>,
    exposures: Vec<f64>,
}

/// The generated analysis; the void prior at each dwarf keeps the voids whose
/// spatial weight is within `e^-drop_below` of the largest (0 keeps all 13,000).
fn setup(drop_below: f64) -> Setup {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    // Voids over |b| > 20 deg with ln counts trending with latitude.
    let n_voids = 13_000;
    let (mut l, mut b, mut y) = (Vec::new(), Vec::new(), Vec::new());
    while l.len() < n_voids {
        let lon: f64 = rng.random_range(0.0..360.0);
        let lat: f64 = rng.random_range(-90.0..90.0);
        if lat.abs() < 20.0 || rng.random::<f64>() > lat.to_radians().cos() {
            continue;
        }
        let z: f64 = StandardNormal.sample(&mut rng);
        l.push(lon);
        b.push(lat);
        y.push(4.6 - 0.01 * (lat.abs() - 20.0) + 0.35 * z);
    }
    let voids = SkyProductKde::new(l, b, y, 1.4, 0.15, SpatialMetric::FlatLb).unwrap();
    let mut targets = Vec::new();
    for d in 0..N_DWARFS {
        let lon = 30.0 + 40.0 * d as f64;
        let lat = if d % 2 == 0 { 45.0 } else { -55.0 };
        let prior = voids.conditional_at(lon, lat, drop_below);
        let ln_b0 = prior.mean();
        let ratios: Vec<f64> = [1.0, 0.93, 0.88, 0.8, 0.83, 0.76].to_vec();
        let counts: Vec<f64> = ratios
            .iter()
            .map(|r| Poisson::new((ln_b0 * r).exp()).unwrap().sample(&mut rng))
            .collect();
        let centre = 17.5 + 0.15 * d as f64;
        let jn = Normal::new(centre, 0.06).unwrap();
        let samples: Vec<f64> = (0..5000).map(|_| jn.sample(&mut rng)).collect();
        let j = EmpiricalLogJ::from_log10_samples(&samples, MLFERMI_J_BANDWIDTH_DEX).unwrap();
        targets.push(
            Target::new(
                format!("dwarf{d}"),
                counts,
                vec![1.0; 6],
                JFactorModel::Empirical(Arc::new(j)),
                BackgroundModel::Profiled {
                    scaling: BackgroundScaling::LogRatios(ratios),
                    prior: Some(Arc::new(prior)),
                },
            )
            .unwrap(),
        );
    }
    Setup {
        targets,
        exposures: vec![3.5e11, 3.8e11, 4.0e11, 4.2e11, 4.3e11, 4.1e11],
    }
}

fn coefficients(s: &Setup, mass_gev: f64) -> Vec<Vec<f64>> {
    let n = yields(mass_gev);
    (0..N_DWARFS)
        .map(|d| {
            n.iter()
                .zip(&s.exposures)
                .map(|(n, e)| n * e * (1.0 + 0.02 * d as f64) / (8.0 * PI * mass_gev * mass_gev))
                .collect()
        })
        .collect()
}

fn full_scan(base: &StackedLikelihood, s: &Setup, opts: &LimitOptions) -> Vec<f64> {
    MASSES
        .iter()
        .map(|&m| {
            let l = base.with_signal_coefficients(&coefficients(s, m)).unwrap();
            l.upper_limit(opts).unwrap().sigma_v_ul_cm3_s
        })
        .collect()
}

fn bench_profile(c: &mut Criterion) {
    let s = setup(0.0);
    let base = StackedLikelihood::new(s.targets.clone(), ProfileOptions::default()).unwrap();
    let like = base
        .with_signal_coefficients(&coefficients(&s, 100.0))
        .unwrap();
    let ul = like.upper_limit(&LimitOptions::default()).unwrap();
    let sv = ul.sigma_v_ul_cm3_s;
    let mut state = like.new_state();
    like.profile_with(sv, &mut state).unwrap();
    let mut g = c.benchmark_group("limits_jb_8_dwarfs");
    let mut flip = false;
    g.bench_function("stacked_profile_warm", |b| {
        b.iter(|| {
            flip = !flip;
            let x = if flip { 1.2 * sv } else { sv };
            like.profile_with(x, &mut state).unwrap()
        })
    });
    let before = (state.total_iterations, state.n_profiles);
    for i in 0..1000 {
        let x = if i % 2 == 0 { 1.2 * sv } else { sv };
        like.profile_with(x, &mut state).unwrap();
    }
    eprintln!(
        "Newton iterations per target per warm profile: {:.2}",
        (state.total_iterations - before.0) as f64
            / ((state.n_profiles - before.1) * N_DWARFS) as f64
    );
    g.sample_size(10);
    let exact = LimitOptions::default();
    let limits = full_scan(&base, &s, &exact);
    eprintln!(
        "limits at 8, 100, 1000 GeV: {:e} {:e} {:e}",
        limits[0], limits[10], limits[24]
    );
    g.bench_function("full_scan_25_masses", |b| {
        b.iter(|| full_scan(&base, &s, &exact))
    });
    let grid = LimitOptions::ml_fermi_lat_dwarfs();
    g.bench_function("full_scan_25_masses_package_grid", |b| {
        b.iter(|| full_scan(&base, &s, &grid))
    });
    g.bench_function("setup_tables_all_voids", |b| {
        b.iter(|| StackedLikelihood::new(s.targets.clone(), ProfileOptions::default()).unwrap())
    });
    let trimmed = setup(40.0);
    g.bench_function("setup_tables_voids_within_e-40", |b| {
        b.iter(|| {
            StackedLikelihood::new(trimmed.targets.clone(), ProfileOptions::default()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_profile);
criterion_main!(benches);
