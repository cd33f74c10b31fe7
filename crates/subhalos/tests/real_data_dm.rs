//! The dark-matter search on the real data (run with
//! `DARKPROBE_DATA=/path/to/data cargo test -p darkprobe-subhalos --test real_data_dm -- --include-ignored --nocapture`):
//! the 227 DR4 unassociated sources of the ROI, class densities from the
//! DR2-labelled sources, the DR4 soft labels or the srcpop DR4 CLASS1 labels,
//! CosmiXs b-bbar spectra, the default J population and detection simulation.
//! Set `DARKPROBE_ALL_MASSES=1` for all five of the paper's masses.

use std::path::PathBuf;

use darkprobe_core::progress::NoProgress;
use darkprobe_core::table::{Table, TableOptions};
use darkprobe_limits::spectrum::ChannelTable;
use darkprobe_subhalos::detection::Instrument;
use darkprobe_subhalos::*;

fn data_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("DARKPROBE_DATA").expect("set DARKPROBE_DATA to the dataset folder"),
    )
}

fn paper(quantity: &str, mass: f64) -> Option<f64> {
    let t = Table::read(
        data_dir().join("fermi-4fgl-dr4-lp-features/paper_reference_values.csv"),
        &TableOptions::default(),
    )
    .ok()?;
    let q = t.column_str("quantity").ok()?;
    let m = t.column_str("m_dm_GeV").ok()?;
    let v = t.column_f64("value").ok()?;
    (0..q.len())
        .find(|&i| q[i] == quantity && m[i].parse::<f64>().ok() == Some(mass))
        .map(|i| v[i])
}

fn dr2_model(roi: &Roi) -> ShiftMixture {
    let dr2 = read_probcat_dr2(
        data_dir().join("fermi-4fgl-dr2-probcat-bhat-malyshev/4FGL-DR2_prob_catalog_2classes.csv"),
        false,
    )
    .unwrap()
    .high_latitude(PAPER_MIN_ABS_GLAT_DEG)
    .in_roi(roi);
    let ext = dr2.in_group(ClassGroup::Extragalactic);
    let gal = dr2.in_group(ClassGroup::Galactic);
    let fit = |name: &str, c: &Catalog, seed: u64| {
        ClassDensity::fit(
            name,
            c.feature_matrix(roi.energy()).view(),
            roi,
            &BandwidthChoice::paper(seed),
        )
        .unwrap()
    };
    ShiftMixture::new(
        roi.clone(),
        vec![fit("extragalactic", &ext, 1), fit("galactic", &gal, 2)],
        vec![ext.len() as f64, gal.len() as f64],
    )
    .unwrap()
}

/// The paper's five masses with `DARKPROBE_ALL_MASSES=1` (about 1-2 min per
/// mass in a debug build), otherwise the given subset, so the CI run of the
/// ignored tests stays short.
fn masses(subset: &[f64]) -> Vec<f64> {
    if std::env::var_os("DARKPROBE_ALL_MASSES").is_some() {
        vec![10.0, 30.0, 100.0, 300.0, 1000.0]
    } else {
        subset.to_vec()
    }
}

/// The 227 DR4 unassociated sources of the paper's ROI.
fn dr4_unassociated(roi: &Roi) -> Catalog {
    let unas = read_feature_table(
        data_dir().join("fermi-4fgl-dr4-lp-features/unas_E0_1GeV.csv"),
        false,
    )
    .unwrap()
    .in_roi(roi);
    assert_eq!(unas.len(), 227);
    unas
}

fn cosmixs_bb() -> darkprobe_limits::spectrum::TabulatedSpectrum {
    ChannelTable::read_cosmixs(data_dir().join("cosmixs-gamma-2024/AtProduction-Gamma.dat"))
        .unwrap()
        .spectrum("bb")
        .unwrap()
}

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn limits_on_the_dr4_unassociated_sources() {
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let model = dr2_model(&roi);
    let unas = dr4_unassociated(&roi);
    let data = model
        .prepare(unas.feature_matrix(roi.energy()).view())
        .unwrap();
    let lat = Instrument::fermi_lat_high_latitude();
    let spectrum = cosmixs_bb();
    println!("mass | best <sv> | dTS0 | N_roi best | N_tot best | UL <sv> (paper) | N_roi UL (paper) | N_tot UL (paper)");
    for mass in masses(&[30.0, 100.0]) {
        let bins = DmSpectrumBins::new(&spectrum, mass, lat.edges_gev()).unwrap();
        let table =
            simulate_detection(&bins, &lat, &roi, &DetectionOptions::default(), &NoProgress)
                .unwrap();
        let dm = DmComponent::new(JPopulation::paper_default(), &bins, table).unwrap();
        let lim = dm_limit(&model, &data, &dm, &DmSearchOptions::default()).unwrap();
        let p = |q: &str| paper(q, mass).map_or("-".to_string(), |v| format!("{v}"));
        let psv = paper("ul95_sigmav", mass).map_or("-".to_string(), |v| format!("{v:.1e}"));
        println!(
            "{mass} | {:.2e} | {:.2} | {:.2} | {:.2} | {:.2e} ({}) | {:.2} ({}) | {:.2} ({})",
            lim.sigma_v_best,
            lim.delta_ts0,
            lim.n_roi_best,
            lim.n_total_best,
            lim.sigma_v_ul,
            psv,
            lim.n_roi_ul,
            p("ul95_nsub_roi"),
            lim.n_total_ul,
            p("ul95_nsub_total"),
        );
        assert!(lim.sigma_v_ul.is_finite() && lim.sigma_v_ul > lim.sigma_v_best);
        assert!(lim.delta_ts0 >= 0.0);
        assert!(lim.n_roi_ul < 0.9 * 227.0);
    }
}

/// The predecessor paper's simulated DM spectra (Gammaldi et al. 2023): LP fits
/// of DM spectra over masses and channels, as (E_peak, beta). Our detected
/// b-bbar spectra (10 GeV - 1 TeV, default simulation) should have a curvature
/// distribution of the same kind.
#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn simulated_curvature_resembles_gammaldi_2023() {
    let t = Table::read(
        data_dir()
            .join("fermi-4fgl-unids-dm-gammaldi2023/DM_logparabola_random_points_with_signif.txt"),
        &TableOptions::default(),
    )
    .unwrap();
    assert_eq!(t.n_rows(), 10_000);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let theirs_beta = median(t.column_f64(1).unwrap());
    assert!(
        (theirs_beta - 0.22).abs() < 0.01,
        "README median {theirs_beta}"
    );
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let lat = Instrument::fermi_lat_high_latitude();
    let spectrum = cosmixs_bb();
    let mut betas = Vec::new();
    for mass in [10.0, 30.0, 100.0, 300.0, 1000.0] {
        let bins = DmSpectrumBins::new(&spectrum, mass, lat.edges_gev()).unwrap();
        let opts = DetectionOptions {
            n_per_flux: 50,
            ..DetectionOptions::default()
        };
        let table = simulate_detection(&bins, &lat, &roi, &opts, &NoProgress).unwrap();
        let b: Vec<f64> = table.detected().iter().flatten().map(|p| p[1]).collect();
        println!(
            "{mass} GeV: {} detected, median beta {:.3}",
            b.len(),
            median(b.clone())
        );
        betas.extend(b);
    }
    let ours = median(betas);
    println!("median beta: ours {ours:.3}, Gammaldi et al. 2023 {theirs_beta:.3}");
    assert!((ours - theirs_beta).abs() < 0.15, "{ours} vs {theirs_beta}");
}

/// Class densities at DR4 depth (the 497 DR4 associated ROI sources with DR2
/// soft labels calibrated to the paper's 31 Galactic sources, as in
/// `real_data.rs`), which describe the faint unassociated sources better than
/// the DR2 densities.
fn dr4_soft_label_model(roi: &Roi) -> ShiftMixture {
    use darkprobe_kde::GaussianKde;
    let dr2 = dr2_model(roi);
    let assoc = read_feature_table(
        data_dir().join("fermi-4fgl-dr4-lp-features/assoc_E0_1GeV.csv"),
        true,
    )
    .unwrap()
    .in_roi(roi);
    let x = assoc.feature_matrix(roi.energy());
    let soft = |pi_gal: f64| {
        dr2.posteriors(
            &MixtureParams {
                class_weights: vec![1.0 - pi_gal, pi_gal],
                extra_weights: vec![],
                shift: None,
            },
            x.view(),
        )
        .unwrap()
    };
    let (mut lo, mut hi) = (1e-4, 0.5);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if soft(mid).column(1).sum() > 31.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let post = soft(0.5 * (lo + hi));
    let (we, wg) = (post.column(0).to_vec(), post.column(1).to_vec());
    let class = |name: &str, w: &[f64], t: &ClassDensity| {
        let kde = GaussianKde::new_weighted(x.view(), w, t.bandwidth().clone()).unwrap();
        ClassDensity::from_kde(name, kde, roi, None).unwrap()
    };
    let classes = vec![
        class("extragalactic", &we, &dr2.classes()[0]),
        class("galactic", &wg, &dr2.classes()[1]),
    ];
    ShiftMixture::new(roi.clone(), classes, vec![we.iter().sum(), wg.iter().sum()]).unwrap()
}

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn limits_with_dr4_soft_label_densities() {
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let model = dr4_soft_label_model(&roi);
    let unas = dr4_unassociated(&roi);
    let data = model
        .prepare(unas.feature_matrix(roi.energy()).view())
        .unwrap();
    let lat = Instrument::fermi_lat_high_latitude();
    let spectrum = cosmixs_bb();
    println!("DR4 soft labels: mass | best <sv> | dTS0 | N_roi best | UL <sv> (paper) | N_roi UL (paper) | N_tot UL (paper)");
    for mass in masses(&[100.0]) {
        let bins = DmSpectrumBins::new(&spectrum, mass, lat.edges_gev()).unwrap();
        let table =
            simulate_detection(&bins, &lat, &roi, &DetectionOptions::default(), &NoProgress)
                .unwrap();
        let dm = DmComponent::new(JPopulation::paper_default(), &bins, table).unwrap();
        let lim = dm_limit(&model, &data, &dm, &DmSearchOptions::default()).unwrap();
        let p = |q: &str| paper(q, mass).map_or("-".to_string(), |v| format!("{v}"));
        let psv = paper("ul95_sigmav", mass).map_or("-".to_string(), |v| format!("{v:.1e}"));
        println!(
            "{mass} | {:.2e} | {:.2} | {:.2} | {:.2e} ({psv}) | {:.2} ({}) | {:.2} ({})",
            lim.sigma_v_best,
            lim.delta_ts0,
            lim.n_roi_best,
            lim.sigma_v_ul,
            lim.n_roi_ul,
            p("ul95_nsub_roi"),
            lim.n_total_ul,
            p("ul95_nsub_total"),
        );
        assert!(lim.sigma_v_ul.is_finite() && lim.sigma_v_ul > lim.sigma_v_best);
    }
}

/// Class densities from the srcpop (uw1410) sources at $|b| > 10°$ in the
/// ROI with their 4FGL-DR4 CLASS1 labels (the third stand-in for the paper's
/// training set; bandwidths by 5 x 20-fold CV).
fn srcpop_model(roi: &Roi) -> ShiftMixture {
    let t = read_srcpop_uw1410(
        data_dir().join("fermi-4fgl-dr4-srcpop-uw1410/fermi_sources_v2.csv"),
        CurvatureConvention::SRCPOP_UW1410,
    )
    .unwrap();
    let sel = t.catalog.high_latitude(PAPER_MIN_ABS_GLAT_DEG).in_roi(roi);
    let ext = sel.in_group(ClassGroup::Extragalactic);
    let gal = sel.in_group(ClassGroup::Galactic);
    let fit = |name: &str, c: &Catalog, seed: u64| {
        ClassDensity::fit(
            name,
            c.feature_matrix(roi.energy()).view(),
            roi,
            &BandwidthChoice::paper(seed),
        )
        .unwrap()
    };
    ShiftMixture::new(
        roi.clone(),
        vec![fit("extragalactic", &ext, 1), fit("galactic", &gal, 2)],
        vec![ext.len() as f64, gal.len() as f64],
    )
    .unwrap()
}

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn limits_with_srcpop_dr4_label_densities() {
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let model = srcpop_model(&roi);
    let unas = dr4_unassociated(&roi);
    let data = model
        .prepare(unas.feature_matrix(roi.energy()).view())
        .unwrap();
    let lat = Instrument::fermi_lat_high_latitude();
    let spectrum = cosmixs_bb();
    println!("srcpop DR4 labels: mass | best <sv> (paper) | dTS0 (paper) | N_roi best (paper) | UL <sv> (paper) | N_roi UL (paper) | N_tot UL (paper)");
    for mass in masses(&[100.0]) {
        let bins = DmSpectrumBins::new(&spectrum, mass, lat.edges_gev()).unwrap();
        let table =
            simulate_detection(&bins, &lat, &roi, &DetectionOptions::default(), &NoProgress)
                .unwrap();
        let dm = DmComponent::new(JPopulation::paper_default(), &bins, table).unwrap();
        let lim = dm_limit(&model, &data, &dm, &DmSearchOptions::default()).unwrap();
        let p = |q: &str| paper(q, mass).map_or("-".to_string(), |v| format!("{v}"));
        let pe = |q: &str| paper(q, mass).map_or("-".to_string(), |v| format!("{v:.1e}"));
        println!(
            "{mass} | {:.2e} ({}) | {:.2} ({}) | {:.2} ({}) | {:.2e} ({}) | {:.2} ({}) | {:.2} ({})",
            lim.sigma_v_best,
            pe("bestfit_sigmav"),
            lim.delta_ts0,
            p("delta_ts0"),
            lim.n_roi_best,
            p("bestfit_nsub_roi"),
            lim.sigma_v_ul,
            pe("ul95_sigmav"),
            lim.n_roi_ul,
            p("ul95_nsub_roi"),
            lim.n_total_ul,
            p("ul95_nsub_total"),
        );
        assert!(lim.sigma_v_ul.is_finite() && lim.sigma_v_ul > lim.sigma_v_best);
        assert!(lim.delta_ts0 >= 0.0);
        assert!(lim.n_roi_ul < 0.9 * 227.0);
    }
}
