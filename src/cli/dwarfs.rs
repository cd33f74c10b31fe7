//! `darkprobe dwarfs limits|background|check`: the MLFermiLATDwarfs analysis
//! (Calore, Serpico & Zaldivar 2018; Alvarez et al. 2020) from the command line.

use super::{CliError, EXIT_NEGATIVE, EXIT_OK};
use crate::plot::{LinePlot, Series};
use clap::{Args, Subcommand, ValueEnum};
use darkprobe_core::table::CsvWriter;
use darkprobe_core::Error;
use darkprobe_dwarfs::analysis::{
    AnalysisOptions, Case, DwarfAnalysis, JBandwidth, JFactorPrior, LimitScan,
};
use darkprobe_dwarfs::loo::{optimise_loo, LooBins, LooParams};
use darkprobe_dwarfs::masses::{mass_list, read_mass_list};
use darkprobe_dwarfs::package::files;
use darkprobe_dwarfs::{BackgroundModel, BackgroundParams, DwarfsError, PackageData};
use darkprobe_limits::likelihood::{LimitMethod, MlFermiGrid};
use darkprobe_limits::spectrum::{
    BinIntegration, ChannelTable, Spectrum, TabulatedSpectrum, MLFERMILATDWARFS_EDGES_GEV,
};
use std::path::{Path, PathBuf};

/// The 8 classical dwarfs of Alvarez et al. 2020.
pub const CLASSICAL_DWARFS: &str = "Carina+Draco+Fornax+LeoI+LeoII+Sculptor+Sextans+UrsaMinor";

/// The thermal relic cross-section, cm³ s⁻¹ (Steigman, Dasgupta & Beacom 2012,
/// arXiv:1204.3622), drawn on the plots for reference.
pub const THERMAL_RELIC_CM3_S: f64 = 2.2e-26;

/// The PPPC4DMID table of the package folder used by `--channel`.
pub const PPPC_TABLE: &str = "AtProduction_gammas.dat";

/// Arguments of `darkprobe dwarfs`.
#[derive(Debug, Args)]
pub struct DwarfsArgs {
    /// The dwarf command.
    #[command(subcommand)]
    pub command: DwarfsCommand,
}

/// Subcommands of `darkprobe dwarfs`.
#[derive(Debug, Subcommand)]
pub enum DwarfsCommand {
    /// Upper limits on `<sigma v>` versus mass, stacked and per dwarf (CSV and plot).
    Limits(LimitsArgs),
    /// Optimise the background smoothing on the voids (optional) and write the
    /// predicted background of each dwarf.
    Background(BackgroundArgs),
    /// Is a model excluded? A spectrum table at one mass plus --sigma-v. Exit
    /// status 0 when excluded, 1 when not excluded, 2 for bad input.
    Check(CheckArgs),
}

/// The profiled nuisances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaseArg {
    /// J-factors profiled, background fixed at the package's ln B_hat.
    J,
    /// J-factors and the background normalisation profiled (void-KDE prior).
    Jb,
}

/// Options shared by `limits` and `check`.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// Dwarfs joined with '+', case-insensitive (e.g. Draco+UrsaMinor).
    #[arg(long, default_value = CLASSICAL_DWARFS)]
    pub dwarfs: String,
    /// Case J (profile J only) or JB (profile J and background).
    #[arg(long, value_enum, default_value = "jb")]
    pub case: CaseArg,
    /// Use the empirical J-factor pdfs (KDE of the samples in Jfactors/) instead of Gaussian log10 J.
    #[arg(long)]
    pub empirical_j: bool,
    /// Bandwidth of the empirical J pdfs: `package` (2 x 0.011045 dex, Sextans 2 x 0.021090), `loo`, or a value in dex.
    #[arg(long, default_value = "package", value_name = "BW")]
    pub j_bandwidth: String,
    /// Threshold on -2 delta ln L for the limit.
    #[arg(long, default_value_t = 3.84)]
    pub ts: f64,
    /// Read the limit from a spline on the package's grid of `<sigma v>` instead of the exact root.
    #[arg(long)]
    pub package_grid: bool,
    /// Exact yields (log-log interpolation, Gauss-Legendre in bins) instead of
    /// the package's linear interpolation and trapezoid rule.
    #[arg(long)]
    pub exact_yields: bool,
    /// The folder holding the MLFermiLATDwarfs files [default: $DARKPROBE_DATA/mlfermidwarfs].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `darkprobe dwarfs limits`.
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Analysis options.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Masses in GeV: a file with one per line, or a comma list [default: the package's scan_DM_mass.dat].
    #[arg(long)]
    pub masses: Option<String>,
    /// Annihilation channel of the PPPC4DMID table in the data folder (bb, tautau, WW, ...).
    #[arg(long, default_value = "bb", conflicts_with = "spectrum")]
    pub channel: String,
    /// A user spectrum table (columns: mass GeV, E GeV, dN/dE per GeV) instead of a channel.
    #[arg(long, value_name = "TABLE")]
    pub spectrum: Option<PathBuf>,
    /// Write the limits here (CSV).
    #[arg(long, default_value = "limits.csv")]
    pub out: PathBuf,
    /// Write a limits-vs-mass plot here (PNG or SVG by extension); implies per-dwarf limits.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also compute and write the limit of each dwarf alone.
    #[arg(long)]
    pub per_dwarf: bool,
    /// Also write the stacked profile curve -2 delta ln L(sigma_v) at every
    /// mass here (CSV: mass_gev, sigma_v_cm3_s, neg2_delta_ln_l), on
    /// `--profile-points` log-spaced cross-sections from limit/100 to 10 x limit.
    #[arg(long, value_name = "CSV")]
    pub profile_out: Option<PathBuf>,
    /// Number of cross-sections per mass in `--profile-out`.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub profile_points: u32,
}

/// Arguments of `darkprobe dwarfs background`.
#[derive(Debug, Args)]
pub struct BackgroundArgs {
    /// Dwarfs joined with '+' [default: every dwarf of the table].
    #[arg(long)]
    pub dwarfs: Option<String>,
    /// Choose (sigma, zeta) by leave-one-out over the voids (bin 0, as the
    /// package's pdf) instead of the package's (1.4 deg, 0.15).
    #[arg(long)]
    pub optimise: bool,
    /// The folder holding the MLFermiLATDwarfs files [default: $DARKPROBE_DATA/mlfermidwarfs].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Write the per-dwarf table here (CSV).
    #[arg(long, default_value = "background.csv")]
    pub out: PathBuf,
}

/// Arguments of `darkprobe dwarfs check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The spectrum table (columns: mass GeV, E GeV, dN/dE per GeV), e.g. from micrOMEGAs.
    pub spectrum: PathBuf,
    /// The model's annihilation cross-section, cm^3/s.
    #[arg(long)]
    pub sigma_v: f64,
    /// The mass (GeV) when the table holds several.
    #[arg(long)]
    pub mass: Option<f64>,
    /// Analysis options.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// Runs `darkprobe dwarfs ...`.
///
/// # Errors
/// A [`CliError`]: exit status 2 for bad input (files, names, masses), 3 for
/// numerical or output failures.
pub fn run(args: DwarfsArgs) -> Result<u8, CliError> {
    match args.command {
        DwarfsCommand::Limits(a) => limits(a),
        DwarfsCommand::Background(a) => background(a),
        DwarfsCommand::Check(a) => check(a),
    }
}

fn err(e: DwarfsError) -> CliError {
    CliError::from(darkprobe_core::Error::from(e))
}

fn lim(e: darkprobe_limits::LimitsError) -> CliError {
    err(DwarfsError::from(e))
}

/// The package folder: the flag, else `$DARKPROBE_DATA/mlfermidwarfs` (or the
/// cache folder) by the data-directory rule.
fn package_dir(flag: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    crate::data::dataset_dir("mlfermidwarfs", None).map_err(|e| CliError {
        code: if e.is_bad_input() {
            super::EXIT_BAD_INPUT
        } else {
            super::EXIT_FAILURE
        },
        error: e.into(),
    })
}

fn options(a: &AnalysisArgs, per_dwarf: bool) -> Result<AnalysisOptions, CliError> {
    let j_prior = if a.empirical_j {
        let bw = match a.j_bandwidth.trim().to_ascii_lowercase().as_str() {
            "package" => JBandwidth::Package,
            "loo" | "cv" => JBandwidth::LeaveOneOut,
            other => match other.parse::<f64>() {
                Ok(h) if h.is_finite() && h > 0.0 => JBandwidth::FixedDex(h),
                _ => {
                    return Err(Error::invalid_param(
                        "--j-bandwidth",
                        format!("'{}'", a.j_bandwidth),
                        "package, loo, or a bandwidth in dex > 0",
                    )
                    .into())
                }
            },
        };
        JFactorPrior::Empirical(bw)
    } else {
        JFactorPrior::Gaussian
    };
    Ok(AnalysisOptions {
        case: match a.case {
            CaseArg::J => Case::J,
            CaseArg::Jb => Case::JB,
        },
        j_prior,
        ts_threshold: a.ts,
        limit_method: if a.package_grid {
            LimitMethod::MlFermiLatDwarfsGrid(MlFermiGrid::default())
        } else {
            LimitMethod::ExactRoot
        },
        integration: if a.exact_yields {
            BinIntegration::default()
        } else {
            BinIntegration::MLFERMILATDWARFS
        },
        edges_gev: MLFERMILATDWARFS_EDGES_GEV.to_vec(),
        per_dwarf,
        ..AnalysisOptions::default()
    })
}

fn convention(s: TabulatedSpectrum, exact: bool) -> TabulatedSpectrum {
    if exact {
        s
    } else {
        s.with_mlfermilatdwarfs_convention()
    }
}

fn limits(a: LimitsArgs) -> Result<u8, CliError> {
    let dir = package_dir(a.analysis.data_dir.as_deref())?;
    let masses = match &a.masses {
        Some(m) => mass_list(m).map_err(err)?,
        None => read_mass_list(dir.join(files::MASS_SCAN)).map_err(err)?,
    };
    let spectrum = match &a.spectrum {
        Some(p) => TabulatedSpectrum::read_user_table(p).map_err(lim)?,
        None => ChannelTable::read_pppc(dir.join(PPPC_TABLE))
            .and_then(|t| t.spectrum(&a.channel))
            .map_err(lim)?,
    };
    let spectrum = convention(spectrum, a.analysis.exact_yields);
    let per_dwarf = a.per_dwarf || a.plot.is_some();
    let opts = options(&a.analysis, per_dwarf)?;
    let pkg = PackageData::load(&dir).map_err(err)?;
    let analysis = DwarfAnalysis::from_package(&pkg, &a.analysis.dwarfs, opts).map_err(err)?;
    let scan = analysis.scan(&spectrum, &masses).map_err(err)?;
    scan.write_csv(&a.out).map_err(err)?;
    println!(
        "case {}, {} dwarf(s) ({}), {}, threshold {:.4}",
        scan.case.label(),
        scan.dwarfs.len(),
        scan.dwarfs.join("+"),
        spectrum.name(),
        scan.threshold
    );
    println!(
        "{:>12} {:>14} {:>14} {:>8}",
        "mass_gev", "sigma_v_ul", "best_fit", "TS"
    );
    for r in &scan.rows {
        println!(
            "{:>12.4} {:>14.4e} {:>14.4e} {:>8.3}",
            r.mass_gev, r.sigma_v_ul_cm3_s, r.best_fit_sigma_v_cm3_s, r.ts
        );
    }
    println!("limits written to {}", a.out.display());
    if let Some(p) = &a.profile_out {
        write_profiles(&analysis, &spectrum, &scan, a.profile_points as usize, p)?;
        println!("profile curves written to {}", p.display());
    }
    if let Some(p) = &a.plot {
        plot_scan(
            &scan,
            &format!("{} (case {})", spectrum.name(), scan.case.label()),
            p,
        )?;
        println!("plot written to {}", p.display());
    }
    Ok(EXIT_OK)
}

/// Writes the stacked profile curve of every mass of `scan` on `n`
/// log-spaced cross-sections from limit / 100 to 10 x limit.
fn write_profiles(
    analysis: &DwarfAnalysis,
    spectrum: &TabulatedSpectrum,
    scan: &LimitScan,
    n: usize,
    path: &Path,
) -> Result<(), CliError> {
    let (mut mass, mut sv, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for r in &scan.rows {
        let (lo, hi) = (r.sigma_v_ul_cm3_s / 100.0, r.sigma_v_ul_cm3_s * 10.0);
        let grid: Vec<f64> = (0..n)
            .map(|k| lo * (hi / lo).powf(k as f64 / (n - 1) as f64))
            .collect();
        let curve = analysis
            .profile_curve(spectrum, r.mass_gev, &grid)
            .map_err(err)?;
        mass.extend(std::iter::repeat_n(r.mass_gev, grid.len()));
        sv.extend(curve.sigma_v_cm3_s);
        d.extend(curve.neg2_delta_ln_l);
    }
    darkprobe_core::table::write_csv_columns(
        path,
        &[
            ("mass_gev", &mass),
            ("sigma_v_cm3_s", &sv),
            ("neg2_delta_ln_l", &d),
        ],
    )
    .map_err(|e| CliError {
        code: if e.is_bad_input() {
            super::EXIT_BAD_INPUT
        } else {
            super::EXIT_FAILURE
        },
        error: e.into(),
    })
}

/// Plots a limit scan on log-log axes: the stacked limit, each dwarf's limit
/// (when computed, dashed) and the thermal relic cross-section, in cm³ s⁻¹.
///
/// # Errors
/// Plotting or file errors.
pub fn plot_scan(scan: &LimitScan, title: &str, path: &Path) -> Result<(), CliError> {
    let masses: Vec<f64> = scan.rows.iter().map(|r| r.mass_gev).collect();
    let (lo, hi) = (
        masses.iter().cloned().fold(f64::INFINITY, f64::min),
        masses.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    );
    let mut plot = LinePlot::new(
        &format!("95% CL upper limits: {title}"),
        "dark-matter mass [GeV]",
        "<sigma v> upper limit [cm^3/s]",
    )
    .log_x(true)
    .log_y(true);
    for (i, name) in scan.dwarfs.iter().enumerate() {
        let pts: Vec<(f64, f64)> = scan
            .rows
            .iter()
            .filter_map(|r| r.per_dwarf_ul_cm3_s.get(i).map(|&u| (r.mass_gev, u)))
            .collect();
        if !pts.is_empty() && scan.dwarfs.len() > 1 {
            plot = plot.series(Series::dashed(name.clone(), pts).colour(i + 2));
        }
    }
    let stacked: Vec<(f64, f64)> = scan
        .rows
        .iter()
        .map(|r| (r.mass_gev, r.sigma_v_ul_cm3_s))
        .collect();
    plot = plot
        .series(Series::line("stacked", stacked.clone()).colour(0))
        .series(Series::points("", stacked).colour(0))
        .series(
            Series::line(
                "thermal relic 2.2e-26",
                vec![(lo, THERMAL_RELIC_CM3_S), (hi, THERMAL_RELIC_CM3_S)],
            )
            .colour(1),
        );
    plot.save(path).map_err(CliError::from)
}

fn background(a: BackgroundArgs) -> Result<u8, CliError> {
    let dir = package_dir(a.data_dir.as_deref())?;
    let pkg = PackageData::load(&dir).map_err(err)?;
    let mut params = BackgroundParams::package();
    if a.optimise {
        let fit = optimise_loo(&pkg.voids, &LooParams::new(LooBins::Package)).map_err(err)?;
        let f = &fit[0];
        println!(
            "leave-one-out (bin 0, {} voids): sigma = {:.3} deg, zeta = {:.4}{}",
            f.n_voids[0],
            f.sigma_deg,
            f.zeta,
            if f.at_bound {
                " (at a bound of the range)"
            } else {
                ""
            }
        );
        params = params.with_sigma_deg(f.sigma_deg).with_zeta(f.zeta);
    }
    let model = BackgroundModel::new(&pkg.voids, &params).map_err(err)?;
    let spec = a
        .dwarfs
        .clone()
        .unwrap_or_else(|| pkg.dwarfs.names().join("+"));
    let sel = pkg.dwarfs.select(&spec).map_err(err)?;
    let bkgs = model.at_dwarfs(&pkg.dwarfs, &sel).map_err(err)?;
    let nb = model.n_bins();
    let mut header = vec!["dwarf".to_string(), "l_deg".into(), "b_deg".into()];
    header.extend((0..nb).map(|b| format!("ln_b_hat_{b}")));
    header.extend((0..nb).map(|b| format!("package_ln_b_hat_{b}")));
    header.extend((0..nb).map(|b| format!("counts_{b}")));
    header.push("b_pdf_mode".into());
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut w = CsvWriter::create(&a.out, &h)?;
    println!("sigma = {} deg, zeta = {}", params.sigma_deg, params.zeta);
    for (k, &i) in sel.indices().iter().enumerate() {
        let d = &pkg.dwarfs.dwarfs()[i];
        let b = &bkgs[k];
        let mode = mode_of(|x| b.ln_conditional_pdf(x));
        let mut row: Vec<String> = vec![
            d.name.clone(),
            format!("{}", d.l_deg),
            format!("{}", d.b_deg),
        ];
        row.extend(b.ln_b_hat.iter().map(|x| format!("{x}")));
        row.extend(pkg.background.ln_b_hat[i].iter().map(|x| format!("{x}")));
        row.extend(
            pkg.background.observed_counts[i]
                .iter()
                .map(|x| format!("{x}")),
        );
        row.push(format!("{mode}"));
        let r: Vec<&str> = row.iter().map(String::as_str).collect();
        w.write_row_str(&r)?;
        println!(
            "{:<12} ln B_hat_0 = {:.4} (package {:.4}), B pdf mode {:.3}",
            d.name, b.ln_b_hat[0], pkg.background.ln_b_hat[i][0], mode
        );
    }
    w.finish()?;
    println!("background table written to {}", a.out.display());
    Ok(EXIT_OK)
}

/// The maximiser of a 1-D log density on [0, 8] by a grid then golden refinement.
fn mode_of(f: impl Fn(f64) -> f64) -> f64 {
    let n = 801;
    let (mut best, mut at) = (f64::NEG_INFINITY, 0.0);
    for i in 0..n {
        let x = 8.0 * i as f64 / (n - 1) as f64;
        let v = f(x);
        if v > best {
            best = v;
            at = x;
        }
    }
    let (mut a, mut b) = (at - 0.01, at + 0.01);
    for _ in 0..60 {
        let m1 = a + 0.382 * (b - a);
        let m2 = a + 0.618 * (b - a);
        if f(m1) < f(m2) {
            a = m1;
        } else {
            b = m2;
        }
    }
    0.5 * (a + b)
}

fn check(a: CheckArgs) -> Result<u8, CliError> {
    if !(a.sigma_v.is_finite() && a.sigma_v >= 0.0) {
        return Err(
            Error::invalid_param("--sigma-v", a.sigma_v, "finite and >= 0 (cm^3/s)").into(),
        );
    }
    let spectrum = convention(
        TabulatedSpectrum::read_user_table(&a.spectrum).map_err(lim)?,
        a.analysis.exact_yields,
    );
    let tab = spectrum.tabulated_masses_gev().to_vec();
    let mass = match (a.mass, tab.as_slice()) {
        (Some(m), _) => m,
        (None, [m]) => *m,
        (None, _) => {
            return Err(Error::invalid_param(
                "--mass",
                "missing",
                format!(
                    "one of the masses of '{}' ({} tabulated); give --mass",
                    a.spectrum.display(),
                    tab.len()
                ),
            )
            .into())
        }
    };
    let dir = package_dir(a.analysis.data_dir.as_deref())?;
    let pkg = PackageData::load(&dir).map_err(err)?;
    let analysis =
        DwarfAnalysis::from_package(&pkg, &a.analysis.dwarfs, options(&a.analysis, false)?)
            .map_err(err)?;
    let r = analysis
        .limit_at(&spectrum, mass)
        .map_err(err)
        .map_err(|e| CliError {
            code: e.code,
            error: e.error.context(format!("limit at {mass} GeV")),
        })?;
    let excluded = a.sigma_v > r.sigma_v_ul_cm3_s;
    println!(
        "mass {mass} GeV: upper limit {:.4e} cm^3/s (case {}, {} dwarfs); <sigma v> = {:.4e} is {}",
        r.sigma_v_ul_cm3_s,
        analysis.options().case.label(),
        analysis.inputs().len(),
        a.sigma_v,
        if excluded { "EXCLUDED" } else { "not excluded" }
    );
    Ok(if excluded { EXIT_OK } else { EXIT_NEGATIVE })
}
