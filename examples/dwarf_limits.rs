//! Stacked-dwarf limits of Alvarez et al. 2020 (JCAP 09 (2020) 004,
//! arXiv:2002.01229): the 8 classical dwarfs, annihilation into b bbar (PPPC4DMID
//! with the package's conventions), cases J and JB, Gaussian log10 J, the
//! package's 25 masses. Writes `dwarf_limits.csv` and `dwarf_limits.png` into
//! the current folder (or the folder given as first argument) and prints the
//! runtime.
//!
//! ```text
//! DARKPROBE_DATA=/path/to/data cargo run --release --example dwarf_limits [out_dir]
//! ```
//!
//! The data folder must hold `mlfermidwarfs/` (`darkprobe data fetch mlfermidwarfs`).

use darkprobe::dwarfs::analysis::{AnalysisOptions, Case, DwarfAnalysis};
use darkprobe::dwarfs::masses::read_mass_list;
use darkprobe::dwarfs::PackageData;
use darkprobe::limits::spectrum::ChannelTable;
use darkprobe::plot::{LinePlot, Series};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const CLASSICAL: &str = "Carina+Draco+Fornax+LeoI+LeoII+Sculptor+Sextans+UrsaMinor";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::var_os("DARKPROBE_DATA")
        .filter(|v| !v.is_empty())
        .ok_or(
            "DARKPROBE_DATA is not set: point it at the folder holding mlfermidwarfs/ \
         (see `darkprobe data fetch mlfermidwarfs`)",
        )?;
    let dir = PathBuf::from(root).join("mlfermidwarfs");
    if !dir.is_dir() {
        return Err(format!(
            "{} does not exist: run `darkprobe data fetch mlfermidwarfs`",
            dir.display()
        )
        .into());
    }
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let pkg = PackageData::load(&dir)?;
    let masses = read_mass_list(dir.join("scan_DM_mass.dat"))?;
    let bb = ChannelTable::read_pppc(dir.join("AtProduction_gammas.dat"))?
        .spectrum("bb")?
        .with_mlfermilatdwarfs_convention();
    let mut curves = Vec::new();
    for case in [Case::J, Case::JB] {
        let options = AnalysisOptions {
            case,
            ..AnalysisOptions::default()
        };
        let scan = DwarfAnalysis::from_package(&pkg, CLASSICAL, options)?.scan(&bb, &masses)?;
        curves.push(scan);
    }
    let seconds = started.elapsed().as_secs_f64();

    let csv = out.join("dwarf_limits.csv");
    let ms: Vec<f64> = curves[0].rows.iter().map(|r| r.mass_gev).collect();
    let j: Vec<f64> = curves[0].rows.iter().map(|r| r.sigma_v_ul_cm3_s).collect();
    let jb: Vec<f64> = curves[1].rows.iter().map(|r| r.sigma_v_ul_cm3_s).collect();
    darkprobe::core::table::write_csv_columns(
        &csv,
        &[
            ("mass_gev", &ms),
            ("sigma_v_ul_cm3_s_case_j", &j),
            ("sigma_v_ul_cm3_s_case_jb", &jb),
        ],
    )?;
    let png = out.join("dwarf_limits.png");
    let pts = |v: &[f64]| {
        ms.iter()
            .zip(v)
            .map(|(m, u)| (*m, u / 1e-26))
            .collect::<Vec<_>>()
    };
    LinePlot::new(
        "8 classical dwarfs, b bbar: 95% CL limits (cf. Alvarez et al. 2020)",
        "dark-matter mass [GeV]",
        "<sigma v> upper limit [1e-26 cm^3/s]",
    )
    .log_x(true)
    .log_y(true)
    .series(Series::line("case J", pts(&j)).colour(0))
    .series(Series::line("case JB", pts(&jb)).colour(2))
    .series(
        Series::dashed(
            "thermal relic 2.2e-26",
            vec![(ms[0], 2.2), (ms[ms.len() - 1], 2.2)],
        )
        .colour(1),
    )
    .save(&png)?;
    println!("{:>10} {:>14} {:>14}", "mass_gev", "case J", "case JB");
    for i in 0..ms.len() {
        println!("{:>10.2} {:>14.4e} {:>14.4e}", ms[i], j[i], jb[i]);
    }
    println!(
        "{} masses x 2 cases x 8 dwarfs in {seconds:.2} s (loading included); wrote {} and {}",
        ms.len(),
        csv.display(),
        png.display()
    );
    Ok(())
}
