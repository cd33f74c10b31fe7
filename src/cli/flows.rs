//! `darkprobe flows mock|fit|accel|density`: accelerations and mass densities
//! from the phase-space distribution of an equilibrium stellar population
//! (Buckley et al. 2022, arXiv:2205.01129; Lim et al. 2023, arXiv:2305.13358).
//!
//! The `--model` files of `accel` and `density` are JSON objects tagged by a
//! `kind` field (see [`ModelFile`]): a fitted flow written by `flows fit`, or
//! an analytic distribution function written by `flows mock --model-out`, for
//! which the commands give the exact-DF answers (to validate and compare).

use super::CliError;
use clap::{Args, Subcommand, ValueEnum};
use darkprobe_core::progress::Progress;
use darkprobe_core::table::CsvWriter;
use darkprobe_core::{Error, Location};
use darkprobe_flows::accel::{accelerations, AccelEstimate, AccelOptions, DrawSeeds, Symmetry};
use darkprobe_flows::gauss::{density, msun_kpc3_to_msun_pc3, GaussOptions, Kernel};
use darkprobe_flows::mock::{
    read_points, read_stars, sample_df, select_sphere, write_stars, HernquistDf, PlummerDf,
    SphericalDf,
};
use darkprobe_flows::{
    FitOptions, PhaseSpaceEnsemble, PhaseSpaceFlow, PhaseSpaceModel, PhaseSpaceReport, Vec3,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Arguments of `darkprobe flows`.
#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// The flows command.
    #[command(subcommand)]
    pub command: FlowsCommand,
}

/// Subcommands of `darkprobe flows`.
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Draw an equilibrium mock (isotropic Hernquist or Plummer sphere) and
    /// write its stars (CSV) and, optionally, its exact model (JSON).
    Mock(MockArgs),
    /// Fit the phase-space density f(x, v) = n(x) p(v|x) of a star table with
    /// normalizing flows and write the model (JSON).
    Fit(FitArgs),
    /// Accelerations at query positions from the steady-state collisionless
    /// Boltzmann equation (CSV).
    Accel(AccelArgs),
    /// Kernel-smoothed mass densities at query positions from Gauss's law (CSV).
    Density(DensityArgs),
}

/// Analytic profiles of `flows mock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Isotropic Hernquist sphere, rho ∝ 1 / (r (r + a)^3).
    Hernquist,
    /// Isotropic Plummer sphere, rho ∝ (1 + r²/a²)^(-5/2).
    Plummer,
}

/// Arguments of `darkprobe flows mock`.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// The profile.
    #[arg(long, value_enum)]
    pub profile: ProfileArg,
    /// Total mass in solar masses.
    #[arg(long, allow_negative_numbers = true)]
    pub mass_msun: f64,
    /// Scale radius a in kpc.
    #[arg(long, allow_negative_numbers = true)]
    pub scale_kpc: f64,
    /// Number of stars.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub n: u64,
    /// Seed of the sampler (the stars do not depend on the thread count).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The star table (CSV: x_kpc,y_kpc,z_kpc,vx_km_s,vy_km_s,vz_km_s).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the exact model here (JSON, usable as `--model` of accel and density).
    #[arg(long, value_name = "JSON")]
    pub model_out: Option<PathBuf>,
}

/// Arguments of `darkprobe flows fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The star table (CSV with columns x_kpc,y_kpc,z_kpc,vx_km_s,vy_km_s,vz_km_s).
    #[arg(long)]
    pub stars: PathBuf,
    /// Write the fitted model here (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of independently seeded flows averaged in density (1: a single flow).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub ensemble: u64,
    /// Maximum training epochs of each flow [default: 60, with early stopping].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub epochs: Option<u64>,
    /// Autoregressive blocks per flow [default: 6].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub blocks: Option<u64>,
    /// Hidden layer widths of each block, comma separated [default: 64,64].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub hidden: Option<Vec<u64>>,
    /// Independently seeded position flows averaged in n(x) within each
    /// model [default: 8]; one velocity flow in every case.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub position_members: Option<u64>,
    /// Fit only the stars within this distance of the origin (kpc), the
    /// centre of the radial pre-transform: a far tail of a few stars (as in
    /// an untruncated Hernquist mock) spreads the velocity flow over radii
    /// nobody queries and biases it at the radii of interest.
    #[arg(long)]
    pub max_radius_kpc: Option<f64>,
    /// Seed of the initialisation, the validation split and the minibatches.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Arguments of `darkprobe flows accel`.
#[derive(Debug, Args)]
pub struct AccelArgs {
    /// The model (JSON from `flows fit` or `flows mock --model-out`).
    #[arg(long)]
    pub model: PathBuf,
    /// Query positions (CSV with columns x_kpc,y_kpc,z_kpc).
    #[arg(long)]
    pub points: PathBuf,
    /// Output table (CSV): the positions, the acceleration, its standard
    /// errors, the normalised Boltzmann residual and the velocities used.
    #[arg(long)]
    pub out: PathBuf,
    /// Velocities drawn from p(v|x) per position.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(3..=100_000_000))]
    pub n_velocities: u64,
    /// A symmetry the stars' system has, averaged over to cut the learned
    /// density's non-symmetric noise: `axisymmetric` (rotations about the
    /// z axis) or `spherical` (rotations about the origin). Only for samples
    /// that cover the rotated positions (a global mock or simulation), not a
    /// local survey.
    #[arg(long, value_enum, default_value = "none")]
    pub symmetry: SymmetryArg,
    /// Symmetric copies of each position (with --symmetry); the velocities
    /// are shared among them, so the cost hardly changes.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub symmetry_copies: u64,
    /// Seed of the velocity draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Symmetries of `flows accel` and `flows density`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SymmetryArg {
    /// No symmetry assumed.
    None,
    /// Invariant under rotations about the z axis.
    Axisymmetric,
    /// Invariant under rotations about the origin.
    Spherical,
}

impl SymmetryArg {
    /// The solver's symmetry with `copies` copies.
    pub fn with_copies(self, copies: usize) -> Symmetry {
        match self {
            SymmetryArg::None => Symmetry::None,
            SymmetryArg::Axisymmetric => Symmetry::Axisymmetric { copies },
            SymmetryArg::Spherical => Symmetry::Spherical { copies },
        }
    }
}

/// Smoothing kernels of `flows density`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KernelArg {
    /// Anisotropic Gaussian with standard deviations h.
    Gaussian,
    /// Ellipsoidal Epanechnikov kernel with semi-axes h.
    Epanechnikov,
    /// Uniform ellipsoid with semi-axes h.
    TopHat,
}

impl From<KernelArg> for Kernel {
    fn from(k: KernelArg) -> Self {
        match k {
            KernelArg::Gaussian => Kernel::Gaussian,
            KernelArg::Epanechnikov => Kernel::Epanechnikov,
            KernelArg::TopHat => Kernel::TopHat,
        }
    }
}

/// Arguments of `darkprobe flows density`.
#[derive(Debug, Args)]
pub struct DensityArgs {
    /// The model (JSON from `flows fit` or `flows mock --model-out`).
    #[arg(long)]
    pub model: PathBuf,
    /// Query positions (CSV with columns x_kpc,y_kpc,z_kpc).
    #[arg(long)]
    pub points: PathBuf,
    /// Output table (CSV): the positions, rho_msun_pc3 and its Monte Carlo error.
    #[arg(long)]
    pub out: PathBuf,
    /// The smoothing kernel.
    #[arg(long, value_enum, default_value = "gaussian")]
    pub kernel: KernelArg,
    /// Kernel bandwidths h_x,h_y,h_z in kpc.
    #[arg(long, value_delimiter = ',', default_values_t = [0.5, 0.5, 0.2], allow_negative_numbers = true)]
    pub h_kpc: Vec<f64>,
    /// Monte Carlo draws per query position (each evaluates the acceleration at six points).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=100_000_000))]
    pub n_draws: u64,
    /// Velocities per acceleration evaluation inside the kernel (flow models
    /// only; analytic models use their exact acceleration field).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(3..=100_000_000))]
    pub n_velocities: u64,
    /// A symmetry the stars' system has, averaged over to cut the learned
    /// density's non-symmetric noise: `axisymmetric` (rotations about the
    /// z axis) or `spherical` (rotations about the origin). Only for samples
    /// that cover the rotated positions (a global mock or simulation), not a
    /// local survey.
    #[arg(long, value_enum, default_value = "none")]
    pub symmetry: SymmetryArg,
    /// Symmetric copies of each position (with --symmetry); the velocities
    /// are shared among them, so the cost hardly changes.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub symmetry_copies: u64,
    /// Seed of the kernel draws (and of the velocity draws of flow models).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The contents of a `--model` file: a JSON object whose `kind` field names
/// the variant, e.g. `{"kind":"hernquist","mass_msun":1e10,"scale_kpc":5}`.
///
/// ```
/// use darkprobe::cli::flows::{LoadedModel, ModelFile};
/// let text = r#"{"kind":"plummer","mass_msun":1e10,"scale_kpc":2.0}"#;
/// let file: ModelFile = serde_json::from_str(text).unwrap();
/// assert_eq!(serde_json::to_string(&file).unwrap(), r#"{"kind":"plummer","mass_msun":10000000000.0,"scale_kpc":2.0}"#);
/// // Analytic models give the exact acceleration field.
/// let model = file.into_model().unwrap();
/// assert!(matches!(model, LoadedModel::Plummer(_)));
/// assert!(model.exact().is_some());
/// // A negative mass is refused.
/// let bad: ModelFile = serde_json::from_str(r#"{"kind":"hernquist","mass_msun":-1,"scale_kpc":2}"#).unwrap();
/// assert!(bad.into_model().is_err());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelFile {
    /// The exact isotropic Hernquist distribution function.
    Hernquist {
        /// Total mass, M☉.
        mass_msun: f64,
        /// Scale radius, kpc.
        scale_kpc: f64,
    },
    /// The exact isotropic Plummer distribution function.
    Plummer {
        /// Total mass, M☉.
        mass_msun: f64,
        /// Scale radius, kpc.
        scale_kpc: f64,
    },
    /// A fitted flow model $n(\mathbf x)\,p(\mathbf v\mid\mathbf x)$ (from `flows fit`).
    Flow(Box<PhaseSpaceFlow>),
    /// An ensemble of fitted flow models (from `flows fit --ensemble K`).
    FlowEnsemble(Box<PhaseSpaceEnsemble>),
}

/// A validated model, ready to evaluate.
#[derive(Debug, Clone)]
pub enum LoadedModel {
    /// The exact Hernquist distribution function.
    Hernquist(HernquistDf),
    /// The exact Plummer distribution function.
    Plummer(PlummerDf),
    /// A fitted flow.
    Flow(Box<PhaseSpaceFlow>),
    /// An ensemble of fitted flows.
    FlowEnsemble(Box<PhaseSpaceEnsemble>),
}

impl ModelFile {
    /// Reads and parses a model file.
    ///
    /// # Errors
    /// I/O errors, and [`Error::Parse`] naming the file, line and reason for
    /// malformed JSON or an unknown `kind`.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = darkprobe_core::table::read_to_string_limited(
            path,
            darkprobe_core::table::DEFAULT_MAX_FILE_BYTES,
        )?;
        serde_json::from_str(&text).map_err(|e| {
            let line = e.line();
            let snippet = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
            Error::parse(
                Location::new(path.display().to_string(), line),
                snippet,
                format!("not a darkprobe flows model: {e}"),
            )
        })
    }

    /// Writes the model as JSON, atomically.
    ///
    /// # Errors
    /// Serialisation or I/O errors naming the file.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = serde_json::to_string(self)
            .map_err(|e| Error::invalid_param("model", e, "a serialisable model"))?;
        super::demo::write_atomically(path, text.as_bytes())
    }

    /// Checks the parameters and builds the model.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a non-positive or non-finite mass or scale.
    pub fn into_model(self) -> Result<LoadedModel, Error> {
        Ok(match self {
            ModelFile::Hernquist {
                mass_msun,
                scale_kpc,
            } => LoadedModel::Hernquist(HernquistDf::new(mass_msun, scale_kpc)?),
            ModelFile::Plummer {
                mass_msun,
                scale_kpc,
            } => LoadedModel::Plummer(PlummerDf::new(mass_msun, scale_kpc)?),
            ModelFile::Flow(f) => LoadedModel::Flow(f),
            ModelFile::FlowEnsemble(e) => {
                LoadedModel::FlowEnsemble(Box::new(PhaseSpaceEnsemble::new(e.members().to_vec())?))
            }
        })
    }
}

impl LoadedModel {
    /// Reads, parses and validates a model file.
    ///
    /// # Errors
    /// As [`ModelFile::read`] and [`ModelFile::into_model`], with the file named.
    pub fn read(path: &Path) -> Result<Self, Error> {
        ModelFile::read(path)?.into_model().map_err(|e| match e {
            Error::InvalidParameter {
                name,
                value,
                allowed,
            } => Error::InvalidParameter {
                name: format!("{name} in '{}'", path.display()),
                value,
                allowed,
            },
            other => other,
        })
    }

    /// The model as a phase-space density.
    pub fn as_phase_space(&self) -> &dyn PhaseSpaceModel {
        match self {
            LoadedModel::Hernquist(d) => d,
            LoadedModel::Plummer(d) => d,
            LoadedModel::Flow(f) => f.as_ref(),
            LoadedModel::FlowEnsemble(e) => e.as_ref(),
        }
    }

    /// The exact acceleration field of an analytic model (`None` for a flow).
    pub fn exact(&self) -> Option<&dyn SphericalDf> {
        match self {
            LoadedModel::Hernquist(d) => Some(d),
            LoadedModel::Plummer(d) => Some(d),
            LoadedModel::Flow(_) | LoadedModel::FlowEnsemble(_) => None,
        }
    }
}

/// Runs `darkprobe flows ...`.
///
/// # Errors
/// A [`CliError`] with exit status 2 for bad input, 3 for other failures.
pub fn run(args: FlowsArgs, progress: &dyn Progress) -> Result<u8, CliError> {
    match args.command {
        FlowsCommand::Mock(a) => mock(a),
        FlowsCommand::Fit(a) => fit(a, progress),
        FlowsCommand::Accel(a) => accel(a),
        FlowsCommand::Density(a) => density_cmd(a),
    }
}

fn to_usize(name: &str, n: u64) -> Result<usize, Error> {
    usize::try_from(n).map_err(|_| Error::invalid_param(name, n, "a count that fits in memory"))
}

fn mock(a: MockArgs) -> Result<u8, CliError> {
    let file = match a.profile {
        ProfileArg::Hernquist => ModelFile::Hernquist {
            mass_msun: a.mass_msun,
            scale_kpc: a.scale_kpc,
        },
        ProfileArg::Plummer => ModelFile::Plummer {
            mass_msun: a.mass_msun,
            scale_kpc: a.scale_kpc,
        },
    };
    let model = file.clone().into_model()?;
    let n = to_usize("n", a.n)?;
    let df = model.exact().ok_or_else(|| {
        CliError::from(Error::invalid_param(
            "profile",
            "flow",
            "hernquist or plummer",
        ))
    })?;
    let stars = sample_df(df, n, a.seed)?;
    write_stars(&a.out, &stars)?;
    if let Some(path) = &a.model_out {
        file.write(path)?;
    }
    eprintln!(
        "wrote {} stars of a {:?} sphere (M = {:e} Msun, a = {} kpc) to {}",
        stars.len(),
        a.profile,
        a.mass_msun,
        a.scale_kpc,
        a.out.display()
    );
    Ok(super::EXIT_OK)
}

/// The fit settings of `flows fit`: the library defaults with the optional
/// overrides.
pub fn fit_options(
    epochs: Option<u64>,
    blocks: Option<u64>,
    hidden: Option<&[u64]>,
    position_members: Option<u64>,
) -> FitOptions {
    let mut opts = FitOptions::default();
    if let Some(k) = position_members {
        opts.position_members = k as usize;
    }
    if let Some(e) = epochs {
        opts.train.max_epochs = e as usize;
    }
    if let Some(b) = blocks {
        opts.n_blocks = b as usize;
    }
    if let Some(h) = hidden {
        opts.hidden = h.iter().map(|&w| w as usize).collect();
    }
    opts
}

/// Fits a single flow (`ensemble == 1`) or an ensemble to stars and returns
/// the model file contents with the training reports.
///
/// # Errors
/// As [`PhaseSpaceFlow::fit`] and [`PhaseSpaceEnsemble::fit`].
pub fn fit_model(
    stars: &[darkprobe_flows::mock::Star],
    ensemble: usize,
    opts: &FitOptions,
    seed: u64,
    progress: &dyn Progress,
) -> Result<(ModelFile, Vec<PhaseSpaceReport>), Error> {
    let x: Vec<Vec3> = stars.iter().map(|s| s.x).collect();
    let v: Vec<Vec3> = stars.iter().map(|s| s.v).collect();
    if ensemble <= 1 {
        let (m, r) = PhaseSpaceFlow::fit(&x, &v, opts, seed, progress)?;
        Ok((ModelFile::Flow(Box::new(m)), vec![r]))
    } else {
        let (m, r) = PhaseSpaceEnsemble::fit(ensemble, &x, &v, opts, seed, progress)?;
        Ok((ModelFile::FlowEnsemble(Box::new(m)), r))
    }
}

fn fit(a: FitArgs, progress: &dyn Progress) -> Result<u8, CliError> {
    let mut stars = read_stars(&a.stars)?;
    if let Some(r) = a.max_radius_kpc {
        let all = stars.len();
        stars = select_sphere(&stars, [0.0; 3], r)?;
        eprintln!(
            "kept {} of {all} stars within {r} kpc of the origin",
            stars.len()
        );
    }
    let opts = fit_options(a.epochs, a.blocks, a.hidden.as_deref(), a.position_members);
    let started = std::time::Instant::now();
    let (file, reports) = fit_model(
        &stars,
        to_usize("ensemble", a.ensemble)?,
        &opts,
        a.seed,
        progress,
    )?;
    file.write(&a.out)?;
    for (k, r) in reports.iter().enumerate() {
        let best = |r: &darkprobe_flows::TrainReport| {
            r.val_loss.get(r.best_epoch).copied().unwrap_or(f64::NAN)
        };
        eprintln!(
            "member {k}: position flow {} epochs (best {}, validation NLL {:.4}){}, velocity flow {} epochs (best {}, validation NLL {:.4})",
            r.position.train_loss.len(),
            r.position.best_epoch,
            best(&r.position),
            if r.position_members.is_empty() {
                String::new()
            } else {
                format!(
                    " and {} more position flows (validation NLL {})",
                    r.position_members.len(),
                    r.position_members
                        .iter()
                        .map(|m| format!("{:.4}", best(m)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            r.velocity.train_loss.len(),
            r.velocity.best_epoch,
            best(&r.velocity),
        );
    }
    eprintln!(
        "fitted {} stars in {:.1} s; model written to {}",
        stars.len(),
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(super::EXIT_OK)
}

/// Column names of the `flows accel` output.
pub const ACCEL_COLUMNS: [&str; 11] = [
    "x_kpc",
    "y_kpc",
    "z_kpc",
    "ax_km2_s2_kpc",
    "ay_km2_s2_kpc",
    "az_km2_s2_kpc",
    "ax_err_km2_s2_kpc",
    "ay_err_km2_s2_kpc",
    "az_err_km2_s2_kpc",
    "residual",
    "n_velocities_used",
];

/// Writes accelerations with the columns [`ACCEL_COLUMNS`], atomically.
///
/// # Errors
/// I/O errors naming the file.
pub fn write_accelerations(path: &Path, est: &[AccelEstimate]) -> Result<(), Error> {
    let mut w = CsvWriter::create(path, &ACCEL_COLUMNS)?;
    for e in est {
        w.write_row_f64(&[
            e.x[0],
            e.x[1],
            e.x[2],
            e.accel[0],
            e.accel[1],
            e.accel[2],
            e.accel_err[0],
            e.accel_err[1],
            e.accel_err[2],
            e.residual,
            e.n_used as f64,
        ])?;
    }
    w.finish()
}

fn accel(a: AccelArgs) -> Result<u8, CliError> {
    let model = LoadedModel::read(&a.model)?;
    let points = read_points(&a.points)?;
    let opts = AccelOptions::default()
        .with_n_velocities(to_usize("n_velocities", a.n_velocities)?)
        .with_symmetry(
            a.symmetry
                .with_copies(to_usize("symmetry_copies", a.symmetry_copies)?),
        );
    let est = accelerations(model.as_phase_space(), &points, &opts, a.seed)?;
    write_accelerations(&a.out, &est)?;
    eprintln!(
        "wrote accelerations at {} positions to {}",
        est.len(),
        a.out.display()
    );
    Ok(super::EXIT_OK)
}

/// Column names of the `flows density` output.
pub const DENSITY_COLUMNS: [&str; 5] = [
    "x_kpc",
    "y_kpc",
    "z_kpc",
    "rho_msun_pc3",
    "rho_err_msun_pc3",
];

/// The acceleration field of a model at a batch of positions: exact for an
/// analytic model, else from the Boltzmann-equation solver with `opts`
/// (position `k` of a batch seeded from `seed` and `k`).
///
/// # Errors
/// A failure of the solver at any position.
pub fn acceleration_field(
    model: &LoadedModel,
    pts: &[Vec3],
    opts: &AccelOptions,
    seed: u64,
) -> Result<Vec<Vec3>, Error> {
    if let Some(df) = model.exact() {
        return Ok(pts.iter().map(|&x| df.acceleration(x)).collect());
    }
    Ok(accelerations(model.as_phase_space(), pts, opts, seed)?
        .into_iter()
        .map(|e| e.accel)
        .collect())
}

fn density_cmd(a: DensityArgs) -> Result<u8, CliError> {
    let model = LoadedModel::read(&a.model)?;
    let points = read_points(&a.points)?;
    let h: Vec3 = match a.h_kpc.as_slice() {
        [hx, hy, hz] => [*hx, *hy, *hz],
        other => {
            return Err(Error::invalid_param(
                "h_kpc",
                format!("{other:?}"),
                "three bandwidths h_x,h_y,h_z",
            )
            .into())
        }
    };
    let gopts = GaussOptions::default()
        .with_kernel(a.kernel.into())
        .with_h_kpc(h)
        .with_n_draws(to_usize("n_draws", a.n_draws)?);
    gopts.check()?;
    // Every field position draws the same latent velocities (common random
    // numbers), so the field is smooth in position and its Monte Carlo
    // error largely cancels in the estimator's antithetic differences.
    let aopts = AccelOptions::default()
        .with_n_velocities(to_usize("n_velocities", a.n_velocities)?)
        .with_seeds(DrawSeeds::Shared);
    // An analytic model gives its exact field, whatever the symmetry.
    let aopts = if model.exact().is_none() {
        aopts.with_symmetry(
            a.symmetry
                .with_copies(to_usize("symmetry_copies", a.symmetry_copies)?),
        )
    } else {
        aopts
    };
    aopts.check()?;
    // The field's own seed is fixed per run; the query points differ per call.
    let field_seed = darkprobe_core::rng::seed_for_index(a.seed, u64::MAX);
    let field = |pts: &[Vec3]| acceleration_field(&model, pts, &aopts, field_seed);
    let est = density(&field, &points, &gopts, a.seed)?;
    let mut w = CsvWriter::create(&a.out, &DENSITY_COLUMNS)?;
    for e in &est {
        w.write_row_f64(&[
            e.x[0],
            e.x[1],
            e.x[2],
            msun_kpc3_to_msun_pc3(e.rho_msun_kpc3),
            msun_kpc3_to_msun_pc3(e.rho_err_msun_kpc3),
        ])?;
    }
    w.finish()?;
    eprintln!(
        "wrote densities at {} positions to {}",
        est.len(),
        a.out.display()
    );
    Ok(super::EXIT_OK)
}
