//! The synthetic world shared by the integration tests: a ROI wide enough in
//! alpha for the hard analytic DM spectra, two toy astrophysical classes
//! (extragalactic and Galactic, 80 training sources each) and subhalos from
//! the detection simulation of the analytic $b\bar b$ spectrum at 100 GeV.
//!
//! Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use darkprobe_core::progress::NoProgress;
use darkprobe_kde::Bandwidth;
use darkprobe_subhalos::detection::Instrument;
use darkprobe_subhalos::*;
use ndarray::Array2;
use rand::{Rng, SeedableRng};

/// A ROI wide enough in alpha to hold the hard analytic DM spectra.
pub fn roi() -> Roi {
    Roi::new(
        ReferenceEnergy::OneGeV,
        [-10.3, 0.3, 0.1],
        [-8.2, 1.7, 0.55],
    )
    .unwrap()
}

/// The detection simulation's settings: 17 flux values from 10^-11.5 to
/// 10^-7.5, 30 subhalos per flux.
pub fn det_opts(seed: u64) -> DetectionOptions {
    DetectionOptions {
        log10_flux_min: -11.5,
        log10_flux_max: -7.5,
        n_flux: 17,
        n_per_flux: 30,
        seed,
    }
}

/// The binned analytic $b\bar b$ spectrum at 100 GeV in the LAT's bins.
pub fn bb_bins_100gev() -> DmSpectrumBins {
    let lat = Instrument::fermi_lat_high_latitude();
    DmSpectrumBins::new(&bergstrom_bb_spectrum().unwrap(), 100.0, lat.edges_gev()).unwrap()
}

/// The DM component of the paper's $J$ population with the detection table
/// simulated from `seed` ([`det_opts`]).
pub fn dm_component(seed: u64) -> DmComponent {
    let lat = Instrument::fermi_lat_high_latitude();
    let bins = bb_bins_100gev();
    let table = simulate_detection(&bins, &lat, &roi(), &det_opts(seed), &NoProgress).unwrap();
    DmComponent::new(JPopulation::paper_default(), &bins, table).unwrap()
}

/// The two toy classes with bandwidths chosen by `bw`, associated fractions
/// 0.8 / 0.2.
pub fn astro_model_with(bw: &BandwidthChoice) -> ShiftMixture {
    let roi = roi();
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let cloud = |rng: &mut rand::rngs::StdRng, c: [f64; 3]| {
        Array2::from_shape_fn((80, 3), |(_, d)| {
            c[d] + [0.6, 0.25, 0.1][d] * (rng.random::<f64>() - 0.5)
        })
    };
    let ext = ClassDensity::fit(
        "extragalactic",
        cloud(&mut rng, [-9.3, 1.45, 0.15]).view(),
        &roi,
        bw,
    )
    .unwrap();
    let gal = ClassDensity::fit(
        "galactic",
        cloud(&mut rng, [-9.0, 1.15, 0.4]).view(),
        &roi,
        bw,
    )
    .unwrap();
    ShiftMixture::new(roi, vec![ext, gal], vec![0.8, 0.2]).unwrap()
}

/// The two toy classes with fixed diagonal bandwidths (0.2, 0.08, 0.03).
pub fn astro_model() -> ShiftMixture {
    astro_model_with(&BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![
        0.2, 0.08, 0.03,
    ])))
}

/// $\langle\sigma v\rangle$ giving `n` expected subhalos in the ROI
/// (bisection in $\log_{10}$ between $10^{-30}$ and $10^{-18}$).
pub fn sigma_v_for(dm: &DmComponent, n: f64) -> f64 {
    let (mut a, mut b) = (-30.0f64, -18.0f64);
    for _ in 0..60 {
        let m = 0.5 * (a + b);
        if dm.n_roi(10f64.powf(m)) < n {
            a = m;
        } else {
            b = m;
        }
    }
    10f64.powf(0.5 * (a + b))
}

/// The binomial standard error $\sqrt{p(1-p)/n}$ of a fraction.
pub fn binomial_sigma(p: f64, n: usize) -> f64 {
    (p * (1.0 - p) / n as f64).sqrt()
}
