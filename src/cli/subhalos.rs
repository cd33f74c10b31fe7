//! `darkprobe subhalos fit|limits|classify|sample`: the search for dark-matter
//! subhalos among unassociated Fermi-LAT sources under dataset shift
//! (Amerio et al. 2025) from the command line.

use super::{CliError, EXIT_OK};
use crate::plot::{LinePlot, Series};
use clap::{Args, Subcommand, ValueEnum};
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::rng_from_seed;
use darkprobe_core::table::{CsvWriter, Table, TableOptions};
use darkprobe_core::{Error, Location};
use darkprobe_limits::spectrum::ChannelTable;
use darkprobe_subhalos::detection::Instrument;
use darkprobe_subhalos::{
    bergstrom_bb_spectrum, compare_shift_models, dm_limit, limit_band, posteriors_with_dm,
    read_feature_table, read_probcat_dr2, sample_with_dm, simulate_detection, BandwidthChoice,
    Catalog, ClassDensity, ClassGroup, DetectionOptions, DmComponent, DmLimit, DmSearchOptions,
    DmSpectrumBins, EmOptions, Features, JPopulation, LimitBand, MixtureFit, ReferenceEnergy, Roi,
    ShiftKind, ShiftMixture, Source, SubhaloError, PAPER_MIN_ABS_GLAT_DEG,
};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Arguments of `darkprobe subhalos`.
#[derive(Debug, Args)]
pub struct SubhalosArgs {
    /// The subhalo command.
    #[command(subcommand)]
    pub command: SubhalosCommand,
}

/// Subcommands of `darkprobe subhalos`.
#[derive(Debug, Subcommand)]
pub enum SubhalosCommand {
    /// Fit the four dataset-shift models to the unassociated sources and compare them.
    Fit(FitArgs),
    /// Upper limits on the cross-section sigma v versus mass, with optional expected-limit bands.
    Limits(LimitsArgs),
    /// Class (and DM) probabilities of each unassociated source.
    Classify(ClassifyArgs),
    /// Draw a mock catalog from the fitted model (optionally with subhalos).
    Sample(SampleArgs),
}

/// The shift model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// No shift.
    Assoc,
    /// Prior shift.
    Prior,
    /// Covariate shift.
    Cov,
    /// Prior and covariate shift (the paper's baseline).
    PriorCov,
}

impl KindArg {
    fn kind(self) -> ShiftKind {
        match self {
            KindArg::Assoc => ShiftKind::None,
            KindArg::Prior => ShiftKind::Prior,
            KindArg::Cov => ShiftKind::Covariate,
            KindArg::PriorCov => ShiftKind::PriorAndCovariate,
        }
    }
}

/// Inputs shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Feature table of the unassociated sources (CSV with columns alpha_1GeV,
    /// beta, log10_flux_100MeV_1TeV, as fermi-4fgl-dr4-lp-features/unas_E0_1GeV.csv);
    /// sources outside the ROI are dropped.
    #[arg(long, value_name = "CSV")]
    pub features: PathBuf,
    /// Labelled sources for the class densities: the 4FGL-DR2 probabilistic
    /// catalog (4FGL-DR2_prob_catalog_2classes.csv), or a CSV with columns
    /// alpha_1GeV, beta, log10_flux_100MeV_1TeV and class (a 4FGL CLASS1 label,
    /// or `galactic` / `extragalactic`).
    #[arg(long, value_name = "CSV")]
    pub labelled: PathBuf,
    /// The shift model.
    #[arg(long, value_enum, default_value = "prior-cov")]
    pub kind: KindArg,
    /// Seed of every random step (bandwidth cross-validation, simulations, mocks).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder (created if missing).
    #[arg(long, default_value = "subhalos-out")]
    pub out_dir: PathBuf,
}

/// Dark-matter model options.
#[derive(Debug, Clone, Args)]
pub struct DmArgs {
    /// CosmiXs gamma table (AtProduction-Gamma.dat) for the b-bbar spectra
    /// [default: $DARKPROBE_DATA/cosmixs-gamma-2024/AtProduction-Gamma.dat if
    /// present, else the analytic fit of Bergstrom et al. 1998].
    #[arg(long, value_name = "FILE")]
    pub cosmixs: Option<PathBuf>,
    /// Annihilation channel of the CosmiXs table.
    #[arg(long, default_value = "bb")]
    pub channel: String,
    /// J population table (CSV columns log10_j, dn_dlog10j) [default: the
    /// calibrated power law of darkprobe-subhalos].
    #[arg(long, value_name = "CSV")]
    pub j_table: Option<PathBuf>,
    /// Simulated spectra per flux node of the detection simulation.
    #[arg(long, default_value_t = 200)]
    pub n_sim: usize,
}

/// Arguments of `darkprobe subhalos fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
}

/// Arguments of `darkprobe subhalos limits`.
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// DM model.
    #[command(flatten)]
    pub dm: DmArgs,
    /// Masses in GeV, comma separated.
    #[arg(long, default_value = "10,30,100,300,1000")]
    pub masses: String,
    /// Mock catalogs for the expected-limit band at each mass (0: no band; the paper uses 100).
    #[arg(long, default_value_t = 0)]
    pub bands: usize,
    /// Threshold on Delta TS for the limit.
    #[arg(long, default_value_t = 3.84)]
    pub ts: f64,
}

/// Arguments of `darkprobe subhalos classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// DM model (used with --mass and --sigma-v).
    #[command(flatten)]
    pub dm: DmArgs,
    /// Include a DM component of this mass (GeV)...
    #[arg(long, requires = "sigma_v")]
    pub mass: Option<f64>,
    /// ...with this sigma v (cm^3/s), its weight fixed by the expected number in the ROI.
    #[arg(long, requires = "mass")]
    pub sigma_v: Option<f64>,
}

/// Arguments of `darkprobe subhalos sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// DM model (used with --mass and --sigma-v).
    #[command(flatten)]
    pub dm: DmArgs,
    /// Number of sources [default: as many as the fitted unassociated sources].
    #[arg(long)]
    pub n: Option<usize>,
    /// Add subhalos of this mass (GeV)...
    #[arg(long, requires = "sigma_v")]
    pub mass: Option<f64>,
    /// ...at this sigma v (cm^3/s).
    #[arg(long, requires = "mass")]
    pub sigma_v: Option<f64>,
}

/// Runs `darkprobe subhalos ...`.
///
/// # Errors
/// A [`CliError`]: exit status 2 for bad input (files, values, masses), 3 for
/// numerical or output failures.
pub fn run(args: SubhalosArgs, progress: &dyn Progress) -> Result<u8, CliError> {
    match args.command {
        SubhalosCommand::Fit(a) => fit(a),
        SubhalosCommand::Limits(a) => limits(a, progress),
        SubhalosCommand::Classify(a) => classify(a, progress),
        SubhalosCommand::Sample(a) => sample(a, progress),
    }
}

fn err(e: SubhaloError) -> CliError {
    let code = if e.is_bad_input() {
        super::EXIT_BAD_INPUT
    } else {
        super::EXIT_FAILURE
    };
    CliError {
        code,
        error: Error::from(e).into(),
    }
}

/// The analysis inputs: the model, the prepared unassociated sources and their features.
struct Setup {
    model: ShiftMixture,
    points: Array2<f64>,
    roi: Roi,
}

/// Reads the labelled table: the DR2 probabilistic catalog, or a simple CSV.
fn read_labelled(path: &Path) -> Result<Catalog, CliError> {
    let t = Table::read(path, &TableOptions::default()).map_err(CliError::from)?;
    let names = t.column_names().unwrap_or(&[]);
    if names.iter().any(|n| n == "CLASS_4FGL") {
        return Ok(read_probcat_dr2(path, false)
            .map_err(err)?
            .high_latitude(PAPER_MIN_ABS_GLAT_DEG));
    }
    let file = path.display().to_string();
    let mut sources = Vec::with_capacity(t.n_rows());
    for row in t.rows() {
        let class = row.get("class").map_err(CliError::from)?.trim().to_string();
        let loc = Location::new(&file, row.line()).with_column("class");
        let group = match class.to_ascii_lowercase().as_str() {
            "galactic" => ClassGroup::Galactic,
            "extragalactic" => ClassGroup::Extragalactic,
            _ => ClassGroup::parse_class1(&class, loc).map_err(err)?,
        };
        sources.push(Source {
            name: String::new(),
            glat_deg: None,
            group: Some(group),
            class1: class,
            features: Features {
                log10_flux_ph_cm2_s: row
                    .get_f64("log10_flux_100MeV_1TeV")
                    .map_err(CliError::from)?,
                alpha_1gev: row.get_f64("alpha_1GeV").map_err(CliError::from)?,
                beta: row.get_f64("beta").map_err(CliError::from)?,
            },
        });
    }
    Ok(Catalog::new(file, sources))
}

fn setup(a: &InputArgs) -> Result<Setup, CliError> {
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let labelled = read_labelled(&a.labelled)?.in_roi(&roi);
    let mut classes = Vec::new();
    let mut counts = Vec::new();
    for (i, group) in [ClassGroup::Extragalactic, ClassGroup::Galactic]
        .into_iter()
        .enumerate()
    {
        let c = labelled.in_group(group);
        if c.len() < 3 {
            return Err(CliError::bad_input(anyhow::anyhow!(
                "{}: only {} {} sources inside the ROI; at least 3 are needed for a class density",
                a.labelled.display(),
                c.len(),
                group.name()
            )));
        }
        let d = ClassDensity::fit(
            group.name(),
            c.feature_matrix(roi.energy()).view(),
            &roi,
            &BandwidthChoice::paper(a.seed.wrapping_add(i as u64)),
        )
        .map_err(err)?;
        classes.push(d);
        counts.push(c.len() as f64);
    }
    let model = ShiftMixture::new(roi.clone(), classes, counts).map_err(err)?;
    let unas = read_feature_table(&a.features, false).map_err(err)?;
    let n_all = unas.len();
    let unas = unas.in_roi(&roi);
    if unas.is_empty() {
        return Err(CliError::bad_input(anyhow::anyhow!(
            "{}: none of its {n_all} sources lies inside the ROI (log10 F in [-10.3, -8.2], alpha(1 GeV) in [0.8, 1.7], beta in [0.1, 0.55])",
            a.features.display()
        )));
    }
    let points = unas.feature_matrix(roi.energy());
    std::fs::create_dir_all(&a.out_dir).map_err(|e| CliError::from(Error::io(&a.out_dir, e)))?;
    Ok(Setup { model, points, roi })
}

fn fit_astro(s: &Setup, kind: ShiftKind) -> Result<MixtureFit, CliError> {
    let data = s.model.prepare(s.points.view()).map_err(err)?;
    s.model
        .fit(&data, kind, &[], &EmOptions::default())
        .map_err(err)
}

/// The b-bbar (or other channel) spectrum of one mass, binned on the instrument.
fn dm_component(
    d: &DmArgs,
    mass: f64,
    roi: &Roi,
    seed: u64,
    progress: &dyn Progress,
) -> Result<(DmComponent, String), CliError> {
    let lat = Instrument::fermi_lat_high_latitude();
    let default_table = std::env::var_os("DARKPROBE_DATA")
        .map(|d| PathBuf::from(d).join("cosmixs-gamma-2024/AtProduction-Gamma.dat"))
        .filter(|p| p.exists());
    let table_path = d.cosmixs.clone().or(default_table);
    let (bins, label) = match &table_path {
        Some(p) => {
            let t = ChannelTable::read_cosmixs(p).map_err(|e| CliError::from(Error::from(e)))?;
            let s = t
                .spectrum(&d.channel)
                .map_err(|e| CliError::from(Error::from(e)))?;
            (
                DmSpectrumBins::new(&s, mass, lat.edges_gev()).map_err(err)?,
                format!("CosmiXs {}", d.channel),
            )
        }
        None => {
            let s = bergstrom_bb_spectrum().map_err(err)?;
            (
                DmSpectrumBins::new(&s, mass, lat.edges_gev()).map_err(err)?,
                "bb (analytic fit, Bergstrom et al. 1998)".to_string(),
            )
        }
    };
    let population = match &d.j_table {
        Some(p) => JPopulation::from_table(p).map_err(err)?,
        None => JPopulation::paper_default(),
    };
    let opts = DetectionOptions {
        n_per_flux: d.n_sim,
        seed,
        ..DetectionOptions::default()
    };
    let table = simulate_detection(&bins, &lat, roi, &opts, progress).map_err(err)?;
    Ok((
        DmComponent::new(population, &bins, table).map_err(err)?,
        label,
    ))
}

fn parse_masses(text: &str) -> Result<Vec<f64>, CliError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<f64>() {
            Ok(m) if m.is_finite() && m > 0.0 => out.push(m),
            _ => {
                return Err(CliError::from(Error::invalid_param(
                    "--masses",
                    format!("'{part}'"),
                    "masses in GeV > 0, comma separated",
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(CliError::from(Error::empty(
            "--masses",
            "give at least one mass",
        )));
    }
    Ok(out)
}

fn fit(a: FitArgs) -> Result<u8, CliError> {
    let s = setup(&a.input)?;
    let data = s.model.prepare(s.points.view()).map_err(err)?;
    let cmp = compare_shift_models(&s.model, &data, &EmOptions::default()).map_err(err)?;
    println!("{} unassociated sources in the ROI", data.len());
    println!("{}", cmp.table());
    let path = a.input.out_dir.join("fit.csv");
    let names: Vec<String> = s
        .model
        .classes()
        .iter()
        .map(|c| format!("n_{}", c.name()))
        .collect();
    let mut header = vec!["model", "ln_l", "n_free_params", "aic", "converged"];
    header.extend(names.iter().map(String::as_str));
    let mut w = CsvWriter::create(&path, &header)?;
    for kind in ShiftKind::ALL {
        if let Some(f) = cmp.get(kind) {
            let mut row = vec![
                kind.name().to_string(),
                format!("{}", f.report.ln_l),
                f.n_free_params.to_string(),
                format!("{}", f.aic()),
                f.report.converged.to_string(),
            ];
            row.extend(f.counts().iter().map(|c| format!("{c}")));
            let refs: Vec<&str> = row.iter().map(String::as_str).collect();
            w.write_row_str(&refs)?;
        }
    }
    w.finish()?;
    let best = cmp
        .get(a.input.kind.kind())
        .ok_or_else(|| CliError::from(Error::empty("fit", "the requested model was not fitted")))?;
    plot_fit(&s, best, None, &a.input.out_dir)?;
    println!(
        "wrote {} and the plots in {}",
        path.display(),
        a.input.out_dir.display()
    );
    Ok(EXIT_OK)
}

/// Scatter of the sources in (log10 F, alpha) and (log10 F, beta), coloured by
/// their most probable component, and the expected log10 F distribution of
/// each component (sources per 0.1 dex, from the fitted weights).
fn plot_fit(
    s: &Setup,
    fit: &MixtureFit,
    post: Option<&Array2<f64>>,
    out: &Path,
) -> Result<(), CliError> {
    let resp = match post {
        Some(p) => p.clone(),
        None => fit.responsibilities.clone(),
    };
    let names = &fit.component_names;
    for (d, name, file) in [
        (1usize, "alpha(1 GeV)", "features_alpha.png"),
        (2, "beta", "features_beta.png"),
    ] {
        let mut plot = LinePlot::new(
            &format!(
                "unassociated sources by most probable component ({})",
                fit.kind.name()
            ),
            "log10 photon flux [cm^-2 s^-1]",
            name,
        );
        for (c, cname) in names.iter().enumerate().take(resp.ncols()) {
            let pts: Vec<(f64, f64)> = (0..resp.nrows())
                .filter(|&i| {
                    let row = resp.row(i);
                    (0..row.len()).all(|k| row[k] <= row[c])
                })
                .map(|i| (s.points[[i, 0]], s.points[[i, d]]))
                .collect();
            if !pts.is_empty() {
                plot = plot.series(Series::points(cname.clone(), pts).colour(c));
            }
        }
        plot.save(out.join(file)).map_err(CliError::from)?;
    }
    // Flux marginals: sum of responsibilities in 0.1-dex bins.
    let (lo, hi) = (s.roi.lo()[0], s.roi.hi()[0]);
    let nb = ((hi - lo) / 0.1).round() as usize;
    let mut plot = LinePlot::new(
        "fitted components: sources per 0.1 dex of flux",
        "log10 photon flux [cm^-2 s^-1]",
        "sources",
    );
    for (c, cname) in names.iter().enumerate().take(resp.ncols()) {
        let mut h = vec![0.0; nb];
        for i in 0..resp.nrows() {
            let b = (((s.points[[i, 0]] - lo) / 0.1) as usize).min(nb - 1);
            h[b] += resp[[i, c]];
        }
        let pts = (0..nb)
            .map(|b| (lo + 0.1 * (b as f64 + 0.5), h[b]))
            .collect();
        plot = plot.series(Series::line(cname.clone(), pts).colour(c));
    }
    plot.save(out.join("flux_marginals.png"))
        .map_err(CliError::from)
}

fn limits(a: LimitsArgs, progress: &dyn Progress) -> Result<u8, CliError> {
    let masses = parse_masses(&a.masses)?;
    if !(a.ts.is_finite() && a.ts > 0.0) {
        return Err(CliError::from(Error::invalid_param("--ts", a.ts, "> 0")));
    }
    let s = setup(&a.input)?;
    let data = s.model.prepare(s.points.view()).map_err(err)?;
    let opts = DmSearchOptions {
        kind: a.input.kind.kind(),
        ts_limit: a.ts,
        ..DmSearchOptions::default()
    };
    let mut rows: Vec<(DmLimit, Option<LimitBand>)> = Vec::new();
    let mut label = String::new();
    for (i, &m) in masses.iter().enumerate() {
        let (dm, l) = dm_component(
            &a.dm,
            m,
            &s.roi,
            a.input.seed.wrapping_add(1000 + i as u64),
            progress,
        )?;
        label = l;
        let lim = dm_limit(&s.model, &data, &dm, &opts).map_err(err)?;
        let band = if a.bands >= 2 {
            Some(
                limit_band(
                    &s.model,
                    &lim.null_fit.params,
                    data.len(),
                    &dm,
                    &opts,
                    a.bands,
                    a.input.seed.wrapping_add(2000 + i as u64),
                    progress,
                )
                .map_err(err)?,
            )
        } else {
            None
        };
        let eff_path = a.input.out_dir.join(format!("efficiency_{m}GeV.csv"));
        let t = dm.table();
        let box_fraction: Vec<f64> = t.log10_flux().iter().map(|&f| t.box_mass_at(f)).collect();
        let cols: [(&str, &[f64]); 3] = [
            ("log10_flux", t.log10_flux()),
            ("efficiency", t.efficiency()),
            ("roi_box_fraction", &box_fraction),
        ];
        darkprobe_core::table::write_csv_columns(&eff_path, &cols)?;
        rows.push((lim, band));
    }
    let path = a.input.out_dir.join("limits.csv");
    let mut w = CsvWriter::create(
        &path,
        &[
            "mass_gev",
            "sigma_v_best_cm3_s",
            "delta_ts0",
            "n_roi_best",
            "n_total_best",
            "dm_percent_best",
            "sigma_v_ul_cm3_s",
            "n_roi_ul",
            "n_total_ul",
            "ul_at_scan_edge",
            "band_median",
            "band68_lo",
            "band68_hi",
            "band95_lo",
            "band95_hi",
        ],
    )?;
    println!("spectrum: {label}; model: {}", a.input.kind.kind().name());
    println!(
        "mass GeV | best <sv> | dTS0 | N_roi best | N_tot best | UL <sv> | N_roi UL | N_tot UL"
    );
    for (l, b) in &rows {
        println!(
            "{} | {:.3e} | {:.2} | {:.2} | {:.2} | {:.3e} | {:.2} | {:.2}{}",
            l.mass_gev,
            l.sigma_v_best,
            l.delta_ts0,
            l.n_roi_best,
            l.n_total_best,
            l.sigma_v_ul,
            l.n_roi_ul,
            l.n_total_ul,
            if l.ul_at_scan_edge {
                " (at scan edge)"
            } else {
                ""
            }
        );
        let f = |x: f64| format!("{x}");
        let band = match b {
            Some(b) => vec![
                f(b.median),
                f(b.band68.0),
                f(b.band68.1),
                f(b.band95.0),
                f(b.band95.1),
            ],
            None => vec![String::new(); 5],
        };
        let mut row = vec![
            f(l.mass_gev),
            f(l.sigma_v_best),
            f(l.delta_ts0),
            f(l.n_roi_best),
            f(l.n_total_best),
            f(l.best_dm_percent()),
            f(l.sigma_v_ul),
            f(l.n_roi_ul),
            f(l.n_total_ul),
            l.ul_at_scan_edge.to_string(),
        ];
        row.extend(band);
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        w.write_row_str(&refs)?;
    }
    w.finish()?;
    plot_limits(&rows, &label, &a.input.out_dir.join("limits.png"))?;
    println!(
        "wrote {} and limits.png in {}",
        path.display(),
        a.input.out_dir.display()
    );
    Ok(EXIT_OK)
}

/// Limits versus mass, with the band when computed.
pub fn plot_limits(
    rows: &[(DmLimit, Option<LimitBand>)],
    label: &str,
    path: &Path,
) -> Result<(), CliError> {
    let ul: Vec<(f64, f64)> = rows
        .iter()
        .map(|(l, _)| (l.mass_gev, l.sigma_v_ul / 1e-26))
        .collect();
    let mut plot = LinePlot::new(
        &format!("subhalo 95% upper limits ({label})"),
        "dark-matter mass [GeV]",
        "<sigma v> upper limit [1e-26 cm^3/s]",
    )
    .log_x(true)
    .log_y(true)
    .series(Series::line("limit", ul.clone()).colour(0))
    .series(Series::points("", ul).colour(0));
    if rows.iter().all(|(_, b)| b.is_some()) && !rows.is_empty() {
        let get = |f: &dyn Fn(&LimitBand) -> f64| -> Vec<(f64, f64)> {
            rows.iter()
                .filter_map(|(l, b)| b.as_ref().map(|b| (l.mass_gev, f(b) / 1e-26)))
                .collect()
        };
        plot = plot
            .series(Series::dashed("expected (median)", get(&|b| b.median)).colour(1))
            .series(Series::dashed("68%", get(&|b| b.band68.0)).colour(2))
            .series(Series::dashed("", get(&|b| b.band68.1)).colour(2))
            .series(Series::dashed("95%", get(&|b| b.band95.0)).colour(3))
            .series(Series::dashed("", get(&|b| b.band95.1)).colour(3));
    }
    plot.save(path).map_err(CliError::from)
}

fn check_sigma_v(sv: f64) -> Result<(), CliError> {
    if sv.is_finite() && sv > 0.0 {
        Ok(())
    } else {
        Err(CliError::from(Error::invalid_param(
            "--sigma-v",
            sv,
            "> 0 (cm^3/s)",
        )))
    }
}

fn classify(a: ClassifyArgs, progress: &dyn Progress) -> Result<u8, CliError> {
    let s = setup(&a.input)?;
    let data = s.model.prepare(s.points.view()).map_err(err)?;
    let kind = a.input.kind.kind();
    let (fit, post, with_dm) = match (a.mass, a.sigma_v) {
        (Some(m), Some(sv)) => {
            check_sigma_v(sv)?;
            let (dm, _) =
                dm_component(&a.dm, m, &s.roi, a.input.seed.wrapping_add(1000), progress)?;
            let extra = dm.extra_component(sv, &data).map_err(err)?;
            let fit = s
                .model
                .fit(&data, kind, &[extra], &EmOptions::default())
                .map_err(err)?;
            let post = posteriors_with_dm(&s.model, &fit, &dm, sv, s.points.view()).map_err(err)?;
            (fit, post, true)
        }
        _ => {
            let fit = fit_astro(&s, kind)?;
            let post = fit.responsibilities.clone();
            (fit, post, false)
        }
    };
    let path = a.input.out_dir.join("posteriors.csv");
    let mut header: Vec<String> = vec![
        "log10_flux_100MeV_1TeV".into(),
        "alpha_1GeV".into(),
        "beta".into(),
    ];
    header.extend(s.model.classes().iter().map(|c| format!("p_{}", c.name())));
    if with_dm {
        header.push("p_dm".into());
    }
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut w = CsvWriter::create(&path, &h)?;
    for i in 0..post.nrows() {
        let mut row: Vec<f64> = (0..3).map(|d| s.points[[i, d]]).collect();
        row.extend(post.row(i).iter());
        w.write_row_f64(&row)?;
    }
    w.finish()?;
    plot_fit(&s, &fit, Some(&post), &a.input.out_dir)?;
    let counts: Vec<String> = fit
        .component_names
        .iter()
        .zip(post.columns())
        .map(|(n, c)| format!("{n} {:.1}", c.sum()))
        .collect();
    println!(
        "{} sources; expected per component: {}",
        post.nrows(),
        counts.join(", ")
    );
    println!("wrote {}", path.display());
    Ok(EXIT_OK)
}

fn sample(a: SampleArgs, progress: &dyn Progress) -> Result<u8, CliError> {
    let s = setup(&a.input)?;
    let fit = fit_astro(&s, a.input.kind.kind())?;
    let n = a.n.unwrap_or(s.points.nrows());
    if n == 0 {
        return Err(CliError::from(Error::invalid_param("--n", 0, ">= 1")));
    }
    let mut rng = rng_from_seed(a.input.seed);
    let mock = match (a.mass, a.sigma_v) {
        (Some(m), Some(sv)) => {
            check_sigma_v(sv)?;
            let (dm, _) =
                dm_component(&a.dm, m, &s.roi, a.input.seed.wrapping_add(1000), progress)?;
            sample_with_dm(&s.model, &fit.params, &dm, sv, n, &mut rng).map_err(err)?
        }
        _ => s.model.sample(&fit.params, n, &mut rng).map_err(err)?,
    };
    let mut names: Vec<String> = s
        .model
        .classes()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    names.push("dm".into());
    let path = a.input.out_dir.join("mock.csv");
    let mut w = CsvWriter::create(
        &path,
        &["alpha_1GeV", "beta", "log10_flux_100MeV_1TeV", "component"],
    )?;
    for (i, &l) in mock.labels.iter().enumerate() {
        let row = [
            format!("{}", mock.points[[i, 1]]),
            format!("{}", mock.points[[i, 2]]),
            format!("{}", mock.points[[i, 0]]),
            names.get(l).cloned().unwrap_or_default(),
        ];
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        w.write_row_str(&refs)?;
    }
    w.finish()?;
    println!("wrote {n} sources to {}", path.display());
    Ok(EXIT_OK)
}
