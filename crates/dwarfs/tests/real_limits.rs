//! Stacked limits on the real MLFermiLATDwarfs inputs (8 classical dwarfs,
//! bb from the package's PPPC table). Needs `DARKPROBE_DATA`; run with
//! `-- --include-ignored`.

use darkprobe_dwarfs::analysis::{AnalysisOptions, Case, DwarfAnalysis, JBandwidth, JFactorPrior};
use darkprobe_dwarfs::PackageData;
use darkprobe_limits::spectrum::{ChannelTable, TabulatedSpectrum};
use std::path::PathBuf;

const CLASSICAL: &str = "Carina+Draco+Fornax+LeoI+LeoII+Sculptor+Sextans+UrsaMinor";

fn dir() -> PathBuf {
    PathBuf::from(std::env::var_os("DARKPROBE_DATA").expect("DARKPROBE_DATA")).join("mlfermidwarfs")
}

fn bb() -> TabulatedSpectrum {
    ChannelTable::read_pppc(dir().join("AtProduction_gammas.dat"))
        .unwrap()
        .spectrum("bb")
        .unwrap()
        .with_mlfermilatdwarfs_convention()
}

fn scan(pkg: &PackageData, case: Case, j: JFactorPrior) -> Vec<(f64, f64, Vec<f64>)> {
    let a = DwarfAnalysis::from_package(
        pkg,
        CLASSICAL,
        AnalysisOptions {
            case,
            j_prior: j,
            per_dwarf: true,
            ..AnalysisOptions::default()
        },
    )
    .unwrap();
    a.scan(&bb(), &[10.0, 100.0, 1000.0])
        .unwrap()
        .rows
        .into_iter()
        .map(|r| (r.mass_gev, r.sigma_v_ul_cm3_s, r.per_dwarf_ul_cm3_s))
        .collect()
}

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn stacked_bb_limits_cases_j_and_jb() {
    let pkg = PackageData::load(dir()).unwrap();
    let j = scan(&pkg, Case::J, JFactorPrior::Gaussian);
    let jb = scan(&pkg, Case::JB, JFactorPrior::Gaussian);
    let je = scan(&pkg, Case::J, JFactorPrior::Empirical(JBandwidth::Package));
    let jbe = scan(&pkg, Case::JB, JFactorPrior::Empirical(JBandwidth::Package));
    for (name, s) in [("J", &j), ("JB", &jb), ("J emp", &je), ("JB emp", &jbe)] {
        for (m, ul, singles) in s.iter() {
            let best_single = singles.iter().cloned().fold(f64::INFINITY, f64::min);
            eprintln!("{name:>6} {m:>6} GeV: stacked {ul:.4e}, best single {best_single:.4e}");
        }
    }
    // Case J, Gaussian J, 100 GeV: the limits engineer found 6.398e-26 with
    // yields from the data README and its own profile code; ours come from the
    // PPPC table through the package convention.
    let ul100 = j[1].1;
    assert!((ul100 / 6.398e-26 - 1.0).abs() < 0.02, "{ul100:e}");
    for k in 0..3 {
        // Profiling the background as well adds freedom to absorb or mimic a
        // signal; with best fits at zero it widens the profile: JB >= J here
        // (observed, not a theorem: the B prior is not centred exactly on ln B_hat).
        assert!(
            jb[k].1 >= j[k].1 * 0.999,
            "mass {}: JB {} J {}",
            j[k].0,
            jb[k].1,
            j[k].1
        );
        // Limits rise with mass (fewer photons per annihilation energy).
        if k > 0 {
            assert!(j[k].1 > j[k - 1].1 && jb[k].1 > jb[k - 1].1);
        }
        // The empirical J pdfs have the widths of the Gaussians: a few % change at most.
        assert!(
            (je[k].1 / j[k].1 - 1.0).abs() < 0.1,
            "{} vs {}",
            je[k].1,
            j[k].1
        );
    }
}

/// The package's own printed output for Draco+LeoII, case J, empirical J,
/// bb, default 25-mass scan: the cell output of `README_analysis_rundown_v1.ipynb`
/// in github.com/pooja1984/MLFermiLATDwarfs at commit c9cb4037 (the mirror the
/// data README cites), `sv excl` per mass in the order of `scan_DM_mass.dat`.
const NOTEBOOK_DRACO_LEOII_J_EMP: [f64; 25] = [
    9.217145848418982e-27,
    1.0294405236253758e-26,
    1.6166680745349672e-26,
    2.138616992939206e-26,
    2.6341594756343903e-26,
    3.130758475439502e-26,
    3.644652826188607e-26,
    4.179863661428191e-26,
    4.7442505516082805e-26,
    5.329330663090818e-26,
    5.931674589932798e-26,
    6.556644971410913e-26,
    7.19756703787578e-26,
    9.219268631345338e-26,
    1.1394772809123277e-25,
    1.2933354186644174e-25,
    1.789473504716289e-25,
    2.148984204390128e-25,
    3.153188071704221e-25,
    4.29302360393905e-25,
    5.5561565954082835e-25,
    6.930811357608807e-25,
    8.409931903197307e-25,
    9.995395429679835e-25,
    1.167633994828105e-24,
];

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn package_notebook_output_is_reproduced_exactly() {
    use darkprobe_limits::likelihood::{LimitMethod, MlFermiGrid};
    let pkg = PackageData::load(dir()).unwrap();
    let masses = darkprobe_dwarfs::masses::read_mass_list(dir().join("scan_DM_mass.dat")).unwrap();
    assert_eq!(masses.len(), NOTEBOOK_DRACO_LEOII_J_EMP.len());
    let run = |method: LimitMethod| {
        let a = DwarfAnalysis::from_package(
            &pkg,
            "Draco+LeoII",
            AnalysisOptions {
                case: Case::J,
                j_prior: JFactorPrior::Empirical(JBandwidth::Package),
                limit_method: method,
                ..AnalysisOptions::default()
            },
        )
        .unwrap();
        a.scan(&bb(), &masses).unwrap().rows
    };
    // Package mode: the limit is read from a cubic spline through the
    // profile on the package's 100-point <sigma v> grid, quantised to its
    // 10,000-point evaluation grid, so agreement is to the last digit.
    let grid = run(LimitMethod::MlFermiLatDwarfsGrid(MlFermiGrid::default()));
    for (row, want) in grid.iter().zip(NOTEBOOK_DRACO_LEOII_J_EMP) {
        assert!(
            (row.sigma_v_ul_cm3_s / want - 1.0).abs() < 1e-12,
            "{} GeV: {:e} vs notebook {want:e}",
            row.mass_gev,
            row.sigma_v_ul_cm3_s
        );
    }
    // The exact root sits below: the package takes the minimum over
    // sv >= 1e-27 rather than at sv = 0, and its grid step is 0.115 %.
    let exact = run(LimitMethod::ExactRoot);
    for (row, want) in exact.iter().zip(NOTEBOOK_DRACO_LEOII_J_EMP) {
        let r = row.sigma_v_ul_cm3_s / want;
        assert!(
            r < 1.0 && r > 0.97,
            "{} GeV: exact/package {r}",
            row.mass_gev
        );
    }
}

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn limits_agree_with_cold_started_profiles() {
    // The root search warm-starts every profile from the previous one, and
    // goes far above the limit while bracketing it. On the way back a warm
    // start can settle in another local minimum of a dwarf's nuisances: in
    // case JB at 10 GeV, Sculptor's ln b (void-KDE prior with several modes)
    // fell from 2.0 to 0.14, the profile rose by 45 and the limit came out
    // at 4.92e-27 instead of 1.042e-26 (a Newton change made it visible).
    // Each limit must satisfy -2 Delta ln L = c with profiles that start
    // from the cold-start grid at both ends.
    let pkg = PackageData::load(dir()).unwrap();
    for case in [Case::J, Case::JB] {
        let a = DwarfAnalysis::from_package(
            &pkg,
            CLASSICAL,
            AnalysisOptions {
                case,
                ..AnalysisOptions::default()
            },
        )
        .unwrap();
        let c = a.options().ts_threshold;
        for mass in [10.0, 100.0, 1000.0] {
            let lik = a.likelihood_at(&bb(), mass).unwrap();
            let r = a.limit_at(&bb(), mass).unwrap();
            let cold = |sv: f64| lik.profile(sv).unwrap().neg2_ln_l;
            let q = cold(r.sigma_v_ul_cm3_s) - cold(r.best_fit_sigma_v_cm3_s);
            assert!(
                (q - c).abs() < 1e-4,
                "{case:?} {mass} GeV: -2 Delta ln L = {q} at the limit {:e}",
                r.sigma_v_ul_cm3_s
            );
        }
    }
}
