//! Criterion benches of darkprobe-subhalos on a seeded synthetic problem of
//! the paper's size: class densities from 466 "extragalactic" and 31
//! "galactic" training sources (3-D, diagonal bandwidths), 227 unassociated
//! sources drawn from a shifted model.
//!
//! - `em_prior_cov_multistart`: one EM fit of the prior + covariate shift model
//!   with the default multi-start search (what `compare_shift_models` runs for
//!   its most expensive row);
//! - `em_prior_cov_single_start`: the same from the flat start only;
//! - `ln_z_with_gradient`: one evaluation of $Z_k$ and its six derivatives for
//!   the 466-kernel class;
//! - `dm_limit_prior_cov_100gev`: one dark-matter upper limit (profile scan,
//!   best fit and root) at 100 GeV with the prior + covariate shift model,
//!   the detection table (analytic b-bbar spectrum, 41 x 100 spectra) built once;
//! - `detection_simulation_100gev`: that detection simulation (4100 spectra).
//!
//! `cargo bench --bench subhalos`.

use criterion::{criterion_group, criterion_main, Criterion};
use darkprobe::core::progress::NoProgress;
use darkprobe::kde::Bandwidth;
use darkprobe::subhalos::detection::Instrument;
use darkprobe::subhalos::{
    bergstrom_bb_spectrum, dm_limit, simulate_detection, BandwidthChoice, ClassDensity,
    DetectionOptions, DmComponent, DmSearchOptions, DmSpectrumBins, EmOptions, JPopulation,
    MixtureParams, ModulationQuadrature, ReferenceEnergy, Roi, ShiftKind, ShiftMixture,
    SigmoidShift,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

fn problem() -> (ShiftMixture, Array2<f64>, SigmoidShift) {
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2025);
    let mut cloud = |n: usize, mean: [f64; 3], sd: [f64; 3]| {
        Array2::from_shape_fn((n, 3), |(_, d)| {
            Normal::new(mean[d], sd[d]).unwrap().sample(&mut rng)
        })
    };
    let ext = cloud(466, [-9.0, 1.35, 0.17], [0.4, 0.2, 0.08]);
    let gal = cloud(31, [-9.2, 1.1, 0.42], [0.4, 0.2, 0.1]);
    let fit = |name: &str, x: &Array2<f64>, h: Vec<f64>| {
        ClassDensity::fit(
            name,
            x.view(),
            &roi,
            &BandwidthChoice::Fixed(Bandwidth::Diagonal(h)),
        )
        .unwrap()
    };
    let classes = vec![
        fit("extragalactic", &ext, vec![0.1, 0.07, 0.027]),
        fit("galactic", &gal, vec![0.25, 0.2, 0.055]),
    ];
    let model = ShiftMixture::new(roi, classes, vec![466.0, 31.0]).unwrap();
    let shift = SigmoidShift {
        slope: [-4.0, 3.0, 8.0],
        centre: [-8.9, 1.0, 0.2],
    };
    let truth = MixtureParams {
        class_weights: vec![0.7, 0.3],
        extra_weights: vec![],
        shift: Some(shift),
    };
    let mock = model
        .sample(&truth, 227, &mut rand::rngs::StdRng::seed_from_u64(7))
        .unwrap();
    (model, mock.points, shift)
}

fn bench_em(c: &mut Criterion) {
    let (model, points, shift) = problem();
    let data = model.prepare(points.view()).unwrap();
    let mut g = c.benchmark_group("subhalos_em_paper_size");
    g.sample_size(10);
    g.bench_function("em_prior_cov_multistart", |b| {
        b.iter(|| {
            model
                .fit(
                    &data,
                    ShiftKind::PriorAndCovariate,
                    &[],
                    &EmOptions::default(),
                )
                .unwrap()
        })
    });
    let single = EmOptions {
        multi_start: false,
        ..EmOptions::default()
    };
    g.bench_function("em_prior_cov_single_start", |b| {
        b.iter(|| {
            model
                .fit(&data, ShiftKind::PriorAndCovariate, &[], &single)
                .unwrap()
        })
    });
    let q = ModulationQuadrature::new(&model.classes()[0], model.roi(), 30.0).unwrap();
    let theta = shift.to_scaled(model.roi());
    g.bench_function("ln_z_with_gradient_466_kernels", |b| {
        b.iter(|| {
            let mut grad = [0.0; 6];
            q.ln_z(&theta, Some(&mut grad))
        })
    });
    g.finish();
}

fn bench_dm(c: &mut Criterion) {
    let (model, points, _) = problem();
    let data = model.prepare(points.view()).unwrap();
    let lat = Instrument::fermi_lat_high_latitude();
    let bins =
        DmSpectrumBins::new(&bergstrom_bb_spectrum().unwrap(), 100.0, lat.edges_gev()).unwrap();
    let opts = DetectionOptions {
        n_per_flux: 100,
        seed: 3,
        ..DetectionOptions::default()
    };
    let mut g = c.benchmark_group("subhalos_dm");
    g.sample_size(10);
    g.bench_function("detection_simulation_100gev", |b| {
        b.iter(|| simulate_detection(&bins, &lat, model.roi(), &opts, &NoProgress).unwrap())
    });
    let table = simulate_detection(&bins, &lat, model.roi(), &opts, &NoProgress).unwrap();
    let dm = DmComponent::new(JPopulation::paper_default(), &bins, table).unwrap();
    let search = DmSearchOptions::default();
    g.bench_function("dm_limit_prior_cov_100gev", |b| {
        b.iter(|| dm_limit(&model, &data, &dm, &search).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_em, bench_dm);
criterion_main!(benches);
