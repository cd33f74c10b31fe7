//! `darkprobe gasmap synth|train|predict|evaluate`: ¹³CO maps from ¹²CO
//! (Shmakov, Karwin, Tavakoli, Murgia & Baldi 2020) from the command line.
//!
//! Model files are JSON: `{"format": "darkprobe-gasmap-model", "version": 1,
//! "preprocess": {...}, "train_lon": {...}, "model": {"kind": "linear", ...}}`.
//! The model is a tagged [`GasModel`]; `predict` applies the preprocessing the
//! model was trained with.

use super::{CliError, EXIT_OK};
use crate::plot::HeatMap;
use clap::{Args, Subcommand, ValueEnum};
use darkprobe_core::error::Location;
use darkprobe_core::progress::NoProgress;
use darkprobe_core::Error;
use darkprobe_gasmap::fits::{read_cube, write_cube};
use darkprobe_gasmap::gp::{InducingParams, StripGp, StripGpParams, StripMethod};
use darkprobe_gasmap::metrics::{error_vs_distance, lon_profile, write_plane_csv, ComparisonTable};
use darkprobe_gasmap::pipeline::{evaluate, predict_cube, training_pairs, TrainingOptions};
use darkprobe_gasmap::preprocess::Preprocess;
use darkprobe_gasmap::synth::{generate, SynthParams};
use darkprobe_gasmap::{
    LinearBaseline, LonRange, NetLayout, NetLoss, NetOptions, PatchNet, PlaneRegressor,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Identifies a model file.
pub const MODEL_FORMAT: &str = "darkprobe-gasmap-model";
/// Version of the model-file layout.
pub const MODEL_VERSION: u32 = 1;

/// Arguments of `darkprobe gasmap`.
#[derive(Debug, Args)]
pub struct GasmapArgs {
    /// The gas-map command.
    #[command(subcommand)]
    pub command: GasmapCommand,
}

/// Subcommands of `darkprobe gasmap`.
#[derive(Debug, Subcommand)]
pub enum GasmapCommand {
    /// Generate a synthetic 12CO / 13CO cube pair (radiative transfer, noise, stripes) as FITS.
    Synth(SynthArgs),
    /// Train a 12CO -> 13CO model on a longitude range and write it as JSON.
    Train(TrainArgs),
    /// Predict a 13CO cube from a 12CO cube with a trained model.
    Predict(PredictArgs),
    /// Compare a predicted cube with the 13CO cube on the test longitudes.
    Evaluate(EvaluateArgs),
}

/// Arguments of `darkprobe gasmap synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output 12CO cube (FITS).
    #[arg(long)]
    pub out_co: PathBuf,
    /// Output 13CO cube (FITS).
    #[arg(long = "out-13co")]
    pub out_13co: PathBuf,
    /// Seed of every random step.
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
    /// Pixel size, degrees.
    #[arg(long, default_value_t = 1.0 / 60.0)]
    pub pixel_deg: f64,
    /// Lowest Galactic longitude, degrees.
    #[arg(long, default_value_t = 300.0, allow_negative_numbers = true)]
    pub lon_min: f64,
    /// Highest Galactic longitude, degrees.
    #[arg(long, default_value_t = 350.0, allow_negative_numbers = true)]
    pub lon_max: f64,
    /// Half-height of the latitude strip, degrees.
    #[arg(long, default_value_t = 0.5)]
    pub lat_max: f64,
    /// Number of velocity bins.
    #[arg(long, default_value_t = 17)]
    pub n_vel: usize,
    /// Lower edge of the velocity range, km/s.
    #[arg(long, default_value_t = -150.0, allow_negative_numbers = true)]
    pub v_min: f64,
    /// Upper edge of the velocity range, km/s.
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    pub v_max: f64,
    /// Fraction of longitude columns zeroed by stripe artefacts.
    #[arg(long, default_value_t = 0.01)]
    pub stripe_fraction: f64,
}

/// The regressors `train` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// Per-velocity-bin least-squares line (the baseline).
    Linear,
    /// Gaussian process on 9-pixel strips (Matern-3/2 + white noise).
    Gp,
    /// Patch network trained with the weighted mean absolute error.
    NetWmae,
    /// Patch network trained with the Poisson likelihood.
    NetPoisson,
}

/// A trained model, tagged by kind in the JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum GasModel {
    /// The per-bin linear baseline.
    Linear(LinearBaseline),
    /// The strip Gaussian process.
    Gp(StripGp),
    /// The patch network trained with the weighted mean absolute error.
    NetWmae(PatchNet),
    /// The patch network trained with the Poisson likelihood.
    NetPoisson(PatchNet),
}

impl GasModel {
    /// The model as a plane regressor.
    pub fn regressor(&self) -> &dyn PlaneRegressor {
        match self {
            GasModel::Linear(m) => m,
            GasModel::Gp(m) => m,
            GasModel::NetWmae(m) | GasModel::NetPoisson(m) => m,
        }
    }
}

/// A model file: the model with the preprocessing and training region it was
/// trained with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_VERSION`].
    pub version: u32,
    /// Preprocessing applied to the 12CO cube before prediction.
    pub preprocess: Preprocess,
    /// Longitudes the model was trained on.
    pub train_lon: LonRange,
    /// The model.
    pub model: GasModel,
}

/// Preprocessing flags shared by `train` and `evaluate`.
#[derive(Debug, Clone, Args)]
pub struct PreprocessArgs {
    /// Gaussian smoothing width in pixels (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub smooth_sigma: f64,
    /// Zero pixels below this many noise sigmas after smoothing (0: none).
    #[arg(long, default_value_t = 3.0)]
    pub threshold: f64,
}

impl PreprocessArgs {
    fn get(&self) -> Result<Preprocess, CliError> {
        let p = Preprocess {
            smooth_sigma_px: self.smooth_sigma,
            threshold_nsigma: self.threshold,
        };
        p.check()?;
        Ok(p)
    }
}

/// Arguments of `darkprobe gasmap train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The regressor.
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// 12CO cube (FITS).
    #[arg(long)]
    pub co: PathBuf,
    /// 13CO cube (FITS) on the same grid.
    #[arg(long)]
    pub target: PathBuf,
    /// Training longitudes START:END in degrees.
    #[arg(long, default_value = "300:340")]
    pub train_lon: String,
    /// Output model file (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep at most this many training pixels per velocity bin (random, seeded).
    #[arg(long)]
    pub max_pixels: Option<usize>,
    /// Seed of the pixel subsampling and of model training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Preprocessing.
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    /// Gaussian-process settings (`--model gp`).
    #[command(flatten)]
    pub gp: GpArgs,
    /// Patch-network settings (`--model net-wmae|net-poisson`).
    #[command(flatten)]
    pub net: NetArgs,
}

/// Settings of `--model gp`.
#[derive(Debug, Clone, Args)]
pub struct GpArgs {
    /// GP: training pixels per velocity bin (seeded subsample; the paper uses 7840).
    #[arg(long, default_value_t = 800)]
    pub gp_pixels: usize,
    /// GP: strip length in pixels (odd).
    #[arg(long, default_value_t = 9)]
    pub gp_strip: usize,
    /// GP: extra random starts of the hyperparameter optimiser.
    #[arg(long, default_value_t = 1)]
    pub gp_restarts: usize,
    /// GP: use this many inducing points (VFE) on all --gp-pixels pixels, with
    /// hyperparameters from an exact fit on --gp-hyper-pixels of them.
    #[arg(long)]
    pub gp_inducing: Option<usize>,
    /// GP: pixels of the exact hyperparameter fit when --gp-inducing is set.
    #[arg(long, default_value_t = 500)]
    pub gp_hyper_pixels: usize,
}

impl GpArgs {
    fn params(&self, seed: u64) -> StripGpParams {
        let mut p = StripGpParams {
            strip_len: self.gp_strip,
            max_train_pixels: self.gp_pixels,
            seed,
            ..StripGpParams::default()
        };
        p.gp.n_restarts = self.gp_restarts;
        if let Some(m) = self.gp_inducing {
            p.method = StripMethod::Inducing {
                n_hyper: self.gp_hyper_pixels,
                inducing: InducingParams {
                    n_inducing: m,
                    ..InducingParams::default()
                },
            };
        }
        p
    }
}

/// One network per velocity bin or one shared network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// One network per velocity bin.
    PerBin,
    /// One network for all bins (bin as one-hot input).
    Shared,
}

/// Settings of `--model net-wmae|net-poisson`.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Net: maximum number of epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Net: samples per optimiser step.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Net: strength of the WMAE weight schedule in [0, 30] (0: plain MAE).
    #[arg(long, default_value_t = 30.0)]
    pub sigma: f64,
    /// Net: one network per velocity bin or one shared network.
    #[arg(long, value_enum, default_value_t = LayoutArg::PerBin)]
    pub layout: LayoutArg,
    /// Net: number of patch filters (the paper: 128).
    #[arg(long, default_value_t = 32)]
    pub filters: usize,
    /// Net: patch side in pixels (odd).
    #[arg(long, default_value_t = 7)]
    pub patch: usize,
    /// Net: LAMB learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub learning_rate: f64,
    /// Net: stop after this many epochs without validation improvement
    /// [default: run all epochs].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Net: worker threads (0: all cores); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl NetArgs {
    fn options(&self, loss: NetLoss) -> NetOptions {
        let mut o = NetOptions {
            loss,
            patch: self.patch,
            layout: match self.layout {
                LayoutArg::PerBin => NetLayout::PerBin,
                LayoutArg::Shared => NetLayout::Shared,
            },
            learning_rate: self.learning_rate,
            batch_size: self.batch,
            epochs: self.epochs,
            threads: self.threads,
            patience: self.patience,
            ..NetOptions::default()
        };
        o.architecture.filters = self.filters;
        o
    }
}

/// Arguments of `darkprobe gasmap predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model file written by `train`.
    #[arg(long)]
    pub model: PathBuf,
    /// 12CO cube (FITS).
    #[arg(long)]
    pub co: PathBuf,
    /// Output predicted 13CO cube (FITS).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `darkprobe gasmap evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Predicted cube (FITS).
    #[arg(long)]
    pub pred: PathBuf,
    /// 13CO cube (FITS); preprocessed like the training target unless --raw-target.
    #[arg(long)]
    pub target: PathBuf,
    /// Test longitudes START:END in degrees.
    #[arg(long, default_value = "340:350")]
    pub test_lon: String,
    /// Training longitudes, for the error-versus-distance table.
    #[arg(long)]
    pub train_lon: Option<String>,
    /// Name of the model in the table [default: the prediction's file stem].
    #[arg(long)]
    pub name: Option<String>,
    /// Write the comparison table (medians over velocity bins) as CSV.
    #[arg(long)]
    pub out_csv: Option<PathBuf>,
    /// Write the per-velocity-bin metrics as CSV.
    #[arg(long)]
    pub planes_csv: Option<PathBuf>,
    /// Write a heat map (PNG or SVG) of the scaled absolute error over velocity bin x longitude.
    #[arg(long)]
    pub heatmap: Option<PathBuf>,
    /// Longitude columns per heat-map cell.
    #[arg(long, default_value_t = 10)]
    pub heatmap_cols: usize,
    /// Compare with the 13CO cube as read (no smoothing or threshold).
    #[arg(long)]
    pub raw_target: bool,
    /// Preprocessing of the target.
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

/// Runs `darkprobe gasmap ...`.
///
/// # Errors
/// A [`CliError`]: exit status 2 for bad input (missing or malformed files,
/// ranges, shapes), 3 for numerical or output failures.
pub fn run(args: GasmapArgs) -> Result<u8, CliError> {
    match args.command {
        GasmapCommand::Synth(a) => synth(a),
        GasmapCommand::Train(a) => train(a),
        GasmapCommand::Predict(a) => predict(a),
        GasmapCommand::Evaluate(a) => evaluate_cmd(a),
    }
}

fn synth(a: SynthArgs) -> Result<u8, CliError> {
    let params = SynthParams {
        lon_min_deg: a.lon_min,
        lon_max_deg: a.lon_max,
        lat_max_deg: a.lat_max,
        pixel_deg: a.pixel_deg,
        n_vel: a.n_vel,
        v_min_km_s: a.v_min,
        v_max_km_s: a.v_max,
        stripe_fraction: a.stripe_fraction,
        ..SynthParams::default()
    };
    params.check()?;
    let s = generate(&params, a.seed)?;
    write_cube(&a.out_co, &s.co12)?;
    write_cube(&a.out_13co, &s.co13)?;
    let (nv, nr, nc) = s.co12.dim();
    println!(
        "wrote {} and {}: {nv} velocity bins x {nr} x {nc} pixels of {:.4} deg; noise rms 12CO {:.3} K, 13CO {:.3} K; {} stripe columns",
        a.out_co.display(),
        a.out_13co.display(),
        params.pixel_deg,
        s.noise_12co_k,
        s.noise_13co_k,
        s.stripe_columns.len()
    );
    Ok(EXIT_OK)
}

fn train(a: TrainArgs) -> Result<u8, CliError> {
    // Validate everything before any work.
    let train_lon = LonRange::parse(&a.train_lon)?;
    let preprocess = a.preprocess.get()?;
    let gp_params = a.gp.params(a.seed);
    let net_loss = match a.model {
        ModelKind::NetPoisson => NetLoss::Poisson,
        _ => NetLoss::Wmae { sigma: a.net.sigma },
    };
    let net_options = a.net.options(net_loss);
    match a.model {
        ModelKind::Gp => {
            if a.gp.gp_strip == 0 || a.gp.gp_strip.is_multiple_of(2) {
                return Err(Error::invalid_param(
                    "--gp-strip",
                    a.gp.gp_strip,
                    "an odd number >= 1",
                )
                .into());
            }
            if a.gp.gp_pixels == 0 {
                return Err(Error::invalid_param("--gp-pixels", 0, ">= 1").into());
            }
            if a.gp.gp_inducing == Some(0) || a.gp.gp_hyper_pixels == 0 {
                return Err(
                    Error::invalid_param("--gp-inducing / --gp-hyper-pixels", 0, ">= 1").into(),
                );
            }
        }
        ModelKind::NetWmae | ModelKind::NetPoisson => net_options.check()?,
        ModelKind::Linear => {}
    }
    let co = read_cube(&a.co)?;
    let target = read_cube(&a.target)?;
    let opts = TrainingOptions {
        train_lon,
        max_pixels_per_plane: a.max_pixels,
        seed: a.seed,
    };
    let set = training_pairs(&co, &target, &preprocess, &opts)?;
    let pairs = set.pairs();
    let model = match a.model {
        ModelKind::Linear => GasModel::Linear(LinearBaseline::fit(&pairs)?),
        ModelKind::Gp => GasModel::Gp(StripGp::fit(&pairs, &gp_params)?),
        ModelKind::NetWmae => {
            GasModel::NetWmae(PatchNet::fit(&pairs, &net_options, a.seed, &NoProgress)?)
        }
        ModelKind::NetPoisson => {
            GasModel::NetPoisson(PatchNet::fit(&pairs, &net_options, a.seed, &NoProgress)?)
        }
    };
    let file = ModelFile {
        format: MODEL_FORMAT.into(),
        version: MODEL_VERSION,
        preprocess,
        train_lon,
        model,
    };
    write_json(&a.out, &file)?;
    println!(
        "trained {} on {} pixels of {} velocity bins (l in {}); wrote {}",
        file.model.regressor().name(),
        set.n_training_pixels(),
        pairs.len(),
        train_lon,
        a.out.display()
    );
    Ok(EXIT_OK)
}

fn write_json(path: &Path, file: &ModelFile) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(file)
        .map_err(|e| CliError::from(anyhow::anyhow!("serialising the model: {e}")))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.json".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::from(Error::io(path, e))
        })
}

/// Reads and checks a model file.
///
/// # Errors
/// A missing file, a file larger than
/// [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES),
/// malformed JSON (with its line), another format or version.
pub fn read_model(path: &Path) -> Result<ModelFile, CliError> {
    let text = darkprobe_core::table::read_to_string_limited(
        path,
        darkprobe_core::table::DEFAULT_MAX_FILE_BYTES,
    )?;
    let file: ModelFile = serde_json::from_str(&text).map_err(|e| {
        Error::parse(
            Location::new(path.display().to_string(), e.line()),
            text.lines().nth(e.line().saturating_sub(1)).unwrap_or(""),
            format!("not a darkprobe gas-map model file: {e}"),
        )
    })?;
    if file.format != MODEL_FORMAT || file.version != MODEL_VERSION {
        return Err(Error::parse(
            Location::new(path.display().to_string(), 0),
            &format!("{} v{}", file.format, file.version),
            format!("expected format '{MODEL_FORMAT}' version {MODEL_VERSION}"),
        )
        .into());
    }
    Ok(file)
}

fn predict(a: PredictArgs) -> Result<u8, CliError> {
    let file = read_model(&a.model)?;
    let co = read_cube(&a.co)?;
    let source = file.preprocess.apply(&co)?.cube;
    let pred = predict_cube(file.model.regressor(), &source)?;
    write_cube(&a.out, &pred)?;
    println!(
        "predicted {} velocity bins with the {} model; wrote {}",
        pred.n_vel(),
        file.model.regressor().name(),
        a.out.display()
    );
    Ok(EXIT_OK)
}

fn evaluate_cmd(a: EvaluateArgs) -> Result<u8, CliError> {
    let test_lon = LonRange::parse(&a.test_lon)?;
    let train_lon = a.train_lon.as_deref().map(LonRange::parse).transpose()?;
    let preprocess = a.preprocess.get()?;
    if a.heatmap_cols == 0 {
        return Err(Error::invalid_param("--heatmap-cols", 0, ">= 1").into());
    }
    if let Some(h) = &a.heatmap {
        let ext = h
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("png") | Some("svg")) {
            return Err(Error::invalid_param(
                "--heatmap",
                h.display(),
                "a file name ending in .png or .svg",
            )
            .into());
        }
    }
    let pred = read_cube(&a.pred)?;
    let target = read_cube(&a.target)?;
    target.check_same_grid(&pred, "prediction and target cubes")?;
    let target = if a.raw_target {
        target
    } else {
        preprocess.apply(&target)?.cube
    };
    let name = a.name.clone().unwrap_or_else(|| {
        a.pred
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    let eval = evaluate(&name, &pred, &target, &test_lon)?;
    let mut table = ComparisonTable::default();
    table.push(eval.summary.clone());
    println!("test longitudes {test_lon}, medians over velocity bins:");
    print!("{}", table.to_text());
    if let Some(train) = &train_lon {
        let bins = error_vs_distance(&pred, &target, train, 2.0)?;
        println!("scaled absolute error versus distance from the training region {train}:");
        println!("{:>14}  {:>8}  {:>12}", "distance [deg]", "pixels", "error");
        for b in bins.iter().filter(|b| b.n_pixels > 0) {
            println!(
                "{:>6.1} .. {:<5.1}  {:>8}  {:>12.5}",
                b.distance_lo_deg, b.distance_hi_deg, b.n_pixels, b.scaled_abs_error
            );
        }
    }
    if let Some(p) = &a.out_csv {
        table.write_csv(p)?;
    }
    if let Some(p) = &a.planes_csv {
        write_plane_csv(p, &eval.planes)?;
    }
    if let Some(p) = &a.heatmap {
        let prof = lon_profile(&pred, &target, a.heatmap_cols)?;
        let bins: Vec<f64> = (0..pred.n_vel()).map(|v| v as f64).collect();
        // Longitudes come in [0, 360): a map across l = 0 plots as one
        // continuous axis (e.g. 2, 1, 0, -1 instead of 2, 1, 0, 359).
        let lon = unwrap_degrees(&prof.lon_centres_deg);
        HeatMap::new(
            &format!("{name}: scaled absolute error"),
            "Galactic longitude [deg]",
            "velocity bin",
            "mean |f - T| / max T",
        )
        .cells(lon, bins, prof.values)
        .save(p)?;
    }
    Ok(EXIT_OK)
}

/// Angles in degrees made continuous: each differs from the one before by
/// less than 180 degrees, shifted by whole turns; the first one is kept if
/// it lies in [0, 360) and the run is moved by a turn if most of it lies
/// above 180 (so l = 350..10 becomes -10..10, l = 300..350 stays).
fn unwrap_degrees(deg: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::with_capacity(deg.len());
    for &d in deg {
        let v = match out.last() {
            Some(&prev) => prev + (d - prev + 180.0).rem_euclid(360.0) - 180.0,
            None => d,
        };
        out.push(v);
    }
    let crosses = out.iter().any(|&v| !(0.0..360.0).contains(&v));
    let above = out.iter().filter(|&&v| v > 180.0).count();
    if crosses && 2 * above > out.len() {
        out.iter_mut().for_each(|v| *v -= 360.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longitudes_across_zero_unwrap_to_a_monotonic_axis() {
        assert_eq!(
            unwrap_degrees(&[2.0, 1.0, 0.0, 359.0, 358.0]),
            vec![2.0, 1.0, 0.0, -1.0, -2.0]
        );
        assert_eq!(
            unwrap_degrees(&[358.0, 359.0, 0.0, 1.0]),
            vec![-2.0, -1.0, 0.0, 1.0]
        );
        assert_eq!(
            unwrap_degrees(&[350.0, 340.0, 330.0]),
            vec![350.0, 340.0, 330.0]
        );
        assert_eq!(unwrap_degrees(&[5.0, 355.0]), vec![5.0, -5.0]);
        assert!(unwrap_degrees(&[]).is_empty());
    }
}
