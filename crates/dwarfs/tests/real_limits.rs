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
