//! The void pipeline on simulated skies: select voids on a Poisson sky made of
//! isotropic and latitude-dependent diffuse emission plus point sources, measure
//! them, and check that they recover the injected diffuse background and avoid
//! the sources.

use darkprobe_dwarfs::healpix::{Healpix, Ordering};
use darkprobe_dwarfs::sim::{PointSource, SkySimulation};
use darkprobe_dwarfs::skymap::{
    CarGrid, ExposurePlanes, PixelIndex, Pixelization, RegionMeasurement, SkyCube,
};
use darkprobe_dwarfs::voidgen::{
    build_void_sample, CandidateSampling, Exclusions, VoidSelectionParams,
};
use darkprobe_dwarfs::{BackgroundModel, BackgroundParams, EnergyBinning, SpatialMetric};
use rand::{Rng, SeedableRng};

fn sky_with_sources(sources: &[(f64, f64)]) -> SkySimulation {
    SkySimulation {
        iso_intensity: vec![2e-7, 1.2e-7, 6e-8, 3e-8],
        gal_intensity: vec![8e-7, 5e-7, 2e-7, 1e-7],
        gal_scale_deg: 15.0,
        exposure_cm2_s: vec![3e11, 3.5e11, 4e11, 4e11],
        exposure_modulation: 0.3,
        psf_sigma_deg: 0.4,
        sources: sources
            .iter()
            .map(|&(l, b)| PointSource {
                l_deg: l,
                b_deg: b,
                flux_cm2_s: vec![3e-9, 2e-9, 1e-9, 1e-9],
            })
            .collect(),
    }
}

/// Summed expected diffuse counts of each region, per fine bin.
fn expected_in_regions(mu: &SkyCube, m: &RegionMeasurement, radius: f64) -> Vec<Vec<f64>> {
    let pix = mu.pixelization();
    let idx = PixelIndex::new(pix, radius).unwrap();
    m.centres
        .iter()
        .map(|&(l, b)| {
            let px = idx.disc(l, b, radius);
            (0..mu.n_planes())
                .map(|k| px.iter().map(|&p| mu.plane(k).unwrap()[p]).sum())
                .collect()
        })
        .collect()
}

/// z-score of the total and Pearson chi^2 per degree of freedom.
fn goodness(m: &RegionMeasurement, expect: &[Vec<f64>]) -> (f64, f64, usize) {
    let (mut n_tot, mut mu_tot, mut chi2, mut dof) = (0.0, 0.0, 0.0, 0usize);
    for (c, e) in m.counts.iter().zip(expect) {
        for (n, mu) in c.iter().zip(e) {
            n_tot += *n as f64;
            mu_tot += mu;
            chi2 += (*n as f64 - mu).powi(2) / mu;
            dof += 1;
        }
    }
    ((n_tot - mu_tot) / mu_tot.sqrt(), chi2 / dof as f64, dof)
}

#[test]
fn car_patch_voids_recover_the_diffuse_background_and_avoid_sources() {
    let pix = Pixelization::Car(CarGrid::patch((0.0, 60.0), (20.0, 60.0), 0.1).unwrap());
    let binning = EnergyBinning::new(1.0, 100.0, 4, vec![0, 2, 4]).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let sources: Vec<(f64, f64)> = (0..40)
        .map(|_| (rng.random_range(1.0..59.0), rng.random_range(21.0..59.0)))
        .collect();
    let sky = sky_with_sources(&sources);
    let counts = sky.simulate_counts(&pix, &mut rng).unwrap();
    let exposure = sky.exposure_cube(&pix).unwrap();
    let diffuse = sky.expected_diffuse_counts(&pix).unwrap();
    let dwarfs = vec![(30.0, 40.0), (45.0, 50.0)];
    let excl = Exclusions {
        dwarfs: dwarfs.clone(),
        point_sources: sources.clone(),
        extended: vec![],
    };
    let params = VoidSelectionParams::package()
        .with_sampling(CandidateSampling::UniformSphere)
        .with_max_voids(400)
        .with_max_candidates(400_000);
    let (voids, m) = build_void_sample(
        &counts,
        &exposure,
        &ExposurePlanes::PerBin,
        &binning,
        &params,
        &excl,
        &mut rand::rngs::StdRng::seed_from_u64(7),
    )
    .unwrap();
    assert!(voids.n_voids() >= 300, "{}", voids.n_voids());
    assert_eq!(voids.n_bins(), 2);

    // The voids keep their distances (flat l-b, the package's metric).
    let d = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).hypot(a.1 - b.1);
    for (i, &c) in m.centres.iter().enumerate() {
        assert!(sources.iter().all(|&s| d(c, s) >= 2.5));
        assert!(dwarfs.iter().all(|&s| d(c, s) >= 1.0));
        assert!(m.centres[..i].iter().all(|&o| d(c, o) >= 1.0));
        assert!(c.0 > 0.5 && c.0 < 59.5 && c.1 > 20.5 && c.1 < 59.5, "{c:?}");
    }

    // Their counts follow the injected diffuse model: total within 4 sigma,
    // Pearson chi^2 per dof near 1.
    let expect = expected_in_regions(&diffuse, &m, 0.5);
    let (z, chi2_dof, dof) = goodness(&m, &expect);
    assert!(z.abs() < 4.0, "z = {z}");
    let tol = 5.0 * (2.0 / dof as f64).sqrt();
    assert!(
        (chi2_dof - 1.0).abs() < tol,
        "chi2/dof = {chi2_dof} ({dof} dof)"
    );

    // The mean counts per void match the model's mean, bin by bin.
    let means = voids.mean_counts();
    let merged: Vec<Vec<f64>> = expect
        .iter()
        .map(|e| binning.merge_sum(e).unwrap())
        .collect();
    for (b, m_obs) in means.iter().enumerate() {
        let m_exp: f64 = merged.iter().map(|e| e[b]).sum::<f64>() / merged.len() as f64;
        let se = (m_exp / merged.len() as f64).sqrt();
        assert!(
            (m_obs - m_exp).abs() < 4.0 * se,
            "bin {b}: {m_obs} vs {m_exp}"
        );
    }

    // The exposure is the region mean of the simulated exposure map.
    for (c, e) in m.centres.iter().zip(&m.exposure_cm2_s) {
        for (k, ek) in e.iter().enumerate() {
            assert!((ek / sky.exposure_at(c.1, k) - 1.0).abs() < 2e-3);
        }
    }

    // The Nadaraya-Watson background from these voids tracks the diffuse model.
    let model = BackgroundModel::new(
        &voids,
        &BackgroundParams::package()
            .with_metric(SpatialMetric::Angular)
            .with_sigma_deg(3.0),
    )
    .unwrap();
    for &(l, b) in &dwarfs {
        let idx = PixelIndex::new(&pix, 0.5).unwrap();
        let px = idx.disc(l, b, 0.5);
        let mu0: f64 = (0..2)
            .map(|k| {
                px.iter()
                    .map(|&p| diffuse.plane(k).unwrap()[p])
                    .sum::<f64>()
            })
            .sum();
        let pred = model.at(l, b).unwrap().ln_b_hat[0];
        assert!(
            (pred - mu0.ln()).abs() < 0.2,
            "({l}, {b}): {pred} vs ln {mu0}"
        );
    }

    // Without the point-source cut, voids near sources are contaminated.
    let loose = params.with_point_source_radius_deg(0.0);
    let (_, m2) = build_void_sample(
        &counts,
        &exposure,
        &ExposurePlanes::PerBin,
        &binning,
        &loose,
        &excl,
        &mut rand::rngs::StdRng::seed_from_u64(7),
    )
    .unwrap();
    let expect2 = expected_in_regions(&diffuse, &m2, 0.5);
    let near: Vec<usize> = (0..m2.centres.len())
        .filter(|&i| sources.iter().any(|&s| d(m2.centres[i], s) < 1.0))
        .collect();
    assert!(near.len() >= 5, "{}", near.len());
    let excess: f64 = near
        .iter()
        .map(|&i| m2.counts[i].iter().sum::<u64>() as f64 - expect2[i].iter().sum::<f64>())
        .sum();
    let noise: f64 = near
        .iter()
        .map(|&i| expect2[i].iter().sum::<f64>())
        .sum::<f64>()
        .sqrt();
    assert!(excess > 10.0 * noise, "excess {excess} vs noise {noise}");
}

#[test]
fn healpix_voids_recover_the_diffuse_background() {
    let pix = Pixelization::Healpix(Healpix::new(128, Ordering::Nested).unwrap());
    let binning = EnergyBinning::new(1.0, 100.0, 4, vec![0, 1, 4]).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let sources: Vec<(f64, f64)> = (0..150)
        .map(|_| {
            let (l, b) = darkprobe_core::sky::sample_sphere(&mut rng);
            (l, b)
        })
        .collect();
    let sky = sky_with_sources(&sources);
    let counts = sky.simulate_counts(&pix, &mut rng).unwrap();
    let exposure = sky.exposure_cube(&pix).unwrap();
    let diffuse = sky.expected_diffuse_counts(&pix).unwrap();
    let excl = Exclusions {
        point_sources: sources.clone(),
        ..Default::default()
    };
    let params = VoidSelectionParams::package()
        .with_metric(SpatialMetric::Angular)
        .with_sampling(CandidateSampling::UniformSphere)
        .with_max_voids(800);
    // Exposure planes given at the fine-bin log centres: the interpolation path.
    let planes = ExposurePlanes::AtEnergies(binning.fine_log_centres_gev());
    let (voids, m) = build_void_sample(
        &counts,
        &exposure,
        &planes,
        &binning,
        &params,
        &excl,
        &mut rand::rngs::StdRng::seed_from_u64(3),
    )
    .unwrap();
    assert_eq!(voids.n_voids(), 800);
    for &c in &m.centres {
        assert!(c.1.abs() > 20.0);
        assert!(sources
            .iter()
            .all(|&s| darkprobe_core::sky::angular_separation_deg(c.0, c.1, s.0, s.1) >= 2.5));
    }
    let expect = expected_in_regions(&diffuse, &m, 0.5);
    let (z, chi2_dof, dof) = goodness(&m, &expect);
    assert!(z.abs() < 4.0, "z = {z}");
    assert!(
        (chi2_dof - 1.0).abs() < 5.0 * (2.0 / dof as f64).sqrt(),
        "chi2/dof = {chi2_dof}"
    );
    for (c, e) in m.centres.iter().zip(&m.exposure_cm2_s) {
        assert!((e[0] / sky.exposure_at(c.1, 0) - 1.0).abs() < 1e-2);
    }
}
