//! The paper's patch network: ¹³CO of a pixel from the $D_1\times D_2 = 7\times
//! 7$ patch of ¹²CO around it.
//!
//! # Model
//!
//! For pixel $p$ with ¹²CO patch $x_p\in\mathbb R^{49}$ (reflection padding
//! at the plane's edges, [`Neighbourhood::features`]) the network
//! ([`NetArchitecture`]) is
//! $$\hat y_p = f_\theta\bigl(x_p / s_\text{in}\bigr),\qquad
//!   \hat T_p = s_\text{out}\,\hat y_p\ \text{(weighted MAE)}\quad\text{or}\quad
//!   \hat T_p = s_\text{out}\,e^{\hat y_p}\ \text{(Poisson)},$$
//! where $s_\text{in}$ and $s_\text{out}$ are robust scales of the training
//! ¹²CO and ¹³CO values (the `scale_quantile` quantile of their absolute
//! values, 0.99 by default, 1 if that is zero), stored in the model. Nothing
//! is subtracted, so zero emission stays zero and the Poisson rate stays a
//! multiple of the brightness. The losses and the weighted-MAE schedule are
//! documented in [`schedule`]. The output layer's bias starts at the best
//! constant prediction of the loss on the scaled training targets (their
//! median for the weighted MAE, $\ln$ of their mean for the Poisson loss;
//! [`NetArchitecture::build_with_output_bias`]): started at 0, the Poisson
//! network spent most of a 30-epoch run moving its log-rate from the 99 %
//! quantile down to typical pixels and over-predicted bright training
//! pixels by up to 20 % of the plane's maximum.
//!
//! Training uses LAMB (learning rate $10^{-3}$, batch 8192 by default) via
//! [`darkprobe_nn::train::Trainer`], run one epoch at a time so the
//! weighted-MAE weights can follow the schedule; a seeded validation split
//! (10 % by default) gives the validation loss (the unweighted MAE, or the
//! Poisson loss), early stopping and the choice of the returned network
//! (the best validation epoch). Without a validation split the last epoch's
//! network is kept and early stopping is off (the scheduled training loss is
//! not comparable across epochs).
//!
//! # One network per velocity bin (default) or one shared network
//!
//! [`NetLayout::PerBin`] trains an independent network for every velocity
//! bin, as the Gaussian process of the paper is fitted per bin. The
//! ¹³CO/¹²CO relation changes with velocity (different clouds, distances and
//! opacities) and each bin has its own brightness scale; a bin pools the
//! training pixels of all 50 one-degree images (thousands of pixels each),
//! far more samples than the network's 19 396 parameters. On 2 cores the
//! cost is the same as for a shared network: an epoch over all bins
//! processes the same number of samples either way (see the `gasmap_net`
//! bench for the rate), and bins with little emission simply stop earlier.
//! [`NetLayout::Shared`] trains one network on all
//! bins with the bin as a one-hot input (17 extra inputs for the survey's
//! 17 bins, one scale pair for all bins); it pools data across bins, which
//! helps when individual bins are small.
//!
//! # Determinism
//!
//! Every random choice (initial weights, validation split, shuffles, dropout
//! masks) derives from the seed passed to [`PatchNet::fit`] (for bin $b$ of
//! the per-bin layout from `seed_for_index(seed, b)`, so a bin's network does
//! not depend on which other bins are trained), and darkprobe-nn's kernels
//! are bit-identical for any number of threads: a fit gives the same model
//! on 1 or 2 threads.
//!
//! # Speed
//!
//! `cargo bench --bench gasmap_net` (release, `f32`, batch 8192, one epoch
//! of 65 536 samples), on the 2-core machine heavily shared with other
//! builds (load average 8–11, so the 2-thread rows gain little):
//!
//! | threads | network epoch only | `PatchNet::fit`, 1 epoch, 256 × 256 plane |
//! | --- | --- | --- |
//! | 1 | 75 k samples/s (0.88 s) | 77 k samples/s (0.85 s) |
//! | 2 | 80 k samples/s (0.82 s) | 71 k samples/s (0.92 s) |
//!
//! Before darkprobe-nn's batch-norm and PReLU passes were made row-major
//! (per-column constants hoisted out of the row loops, no per-element index
//! modulo, the PReLU input and slope gradients in one pass; a profile had
//! them at about 45 % and 23 % of the time) the same bench gave 39–44 k
//! samples/s for the epoch and 48–49 k for the fit, under a similar load.
//!
//! # Reference
//! A. Shmakov, C. Karwin, M. Tavakoli, S. Murgia, P. Baldi, *Deep Learning to
//! Reconstruct Gas Skymaps for Dark Matter Detection*, NeurIPS 2020 ML4PS
//! workshop. Y. You et al., *Large Batch Optimization for Deep Learning*
//! (LAMB), ICLR 2020, arXiv:1904.00962.

mod arch;
pub mod schedule;

pub use arch::NetArchitecture;
pub use schedule::{
    gamma, schedule_factor, training_fraction, wmae_weights, NetLoss, TargetRange, SIGMA_MAX,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use darkprobe_core::progress::{NoProgress, Progress};
use darkprobe_core::rng::{rng_for_index, seed_for_index};
use darkprobe_core::{Error, Location};
use darkprobe_nn::checkpoint::Checkpoint;
use darkprobe_nn::exec::thread_pool;
use darkprobe_nn::loss::{Loss, PoissonNll, WeightedMae};
use darkprobe_nn::optim::LrSchedule;
use darkprobe_nn::train::{
    train_validation_split, Dataset, EarlyStopping, EpochStats, TrainConfig, Trainer,
};
use darkprobe_nn::{Lamb, Matrix, Par, Sequential};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::model::{all_pixels, Neighbourhood, PlanePair, PlaneRegressor, Result};

/// A list of `(i_lat, i_lon)` pixels.
type Pixels = Vec<(usize, usize)>;

/// Pixels per batch when predicting a plane.
const PREDICT_CHUNK: usize = 8192;

/// Whether each velocity bin gets its own network (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetLayout {
    /// One network per velocity bin.
    #[default]
    PerBin,
    /// One network for all bins, the bin given as a one-hot input.
    Shared,
}

/// Settings of [`PatchNet::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetOptions {
    /// Training loss (default: weighted MAE with $\sigma = 30$).
    pub loss: NetLoss,
    /// Patch side $D_1 = D_2$ in pixels, odd (default 7).
    pub patch: usize,
    /// Layer sizes.
    pub architecture: NetArchitecture,
    /// One network per bin or a shared one.
    pub layout: NetLayout,
    /// LAMB learning rate (default $10^{-3}$).
    pub learning_rate: f64,
    /// LAMB decoupled weight decay (default 0.01).
    pub weight_decay: f64,
    /// Samples per step (default 8192).
    pub batch_size: usize,
    /// Maximum number of epochs (default 100).
    pub epochs: usize,
    /// Fraction of the training pixels held out for validation, in
    /// $[0, 1)$; 0 disables validation and early stopping (default 0.1).
    pub validation_fraction: f64,
    /// Early-stopping patience in epochs (`None`: run all epochs; default 10).
    pub patience: Option<usize>,
    /// Worker threads: 1 sequential, $n\ge2$ a pool of $n$ threads, 0 the
    /// current rayon pool. The result does not depend on it (default 1).
    pub threads: usize,
    /// Quantile of the absolute training values used as scale, in $(0, 1]$
    /// (default 0.99).
    pub scale_quantile: f64,
    /// If set, a checkpoint of each network (parameters, LAMB and trainer
    /// state, see [`darkprobe_nn::checkpoint`]) is written atomically to
    /// `<dir>/patchnet-<bin|shared>.ckpt` after every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<PathBuf>,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            loss: NetLoss::default(),
            patch: 7,
            architecture: NetArchitecture::default(),
            layout: NetLayout::PerBin,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            batch_size: 8192,
            epochs: 100,
            validation_fraction: 0.1,
            patience: Some(10),
            threads: 1,
            scale_quantile: 0.99,
            checkpoint_dir: None,
        }
    }
}

impl NetOptions {
    /// Checks the settings.
    ///
    /// # Errors
    /// An invalid-parameter error naming the first bad field and its allowed
    /// values.
    pub fn check(&self) -> Result<()> {
        let bad =
            |name: &str, v: String, allowed: &str| Err(Error::invalid_param(name, v, allowed));
        if let NetLoss::Wmae { sigma } = self.loss {
            if !(0.0..=SIGMA_MAX).contains(&sigma) {
                return bad("sigma", sigma.to_string(), "in [0, 30]");
            }
        }
        if self.patch == 0 || self.patch.is_multiple_of(2) {
            return bad("patch", self.patch.to_string(), "an odd number of pixels");
        }
        self.architecture.check()?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "finite and > 0",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "finite and >= 0",
            );
        }
        if self.batch_size < 2 {
            return bad(
                "batch_size",
                self.batch_size.to_string(),
                "at least 2 (batch normalisation)",
            );
        }
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "at least 1");
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return bad(
                "validation_fraction",
                self.validation_fraction.to_string(),
                "in [0, 1)",
            );
        }
        if self.patience == Some(0) {
            return bad("patience", "0".into(), "at least 1 epoch, or none");
        }
        if !(self.scale_quantile > 0.0 && self.scale_quantile <= 1.0) {
            return bad(
                "scale_quantile",
                self.scale_quantile.to_string(),
                "in (0, 1]",
            );
        }
        Ok(())
    }

    fn neighbourhood(&self) -> Neighbourhood {
        Neighbourhood::Patch {
            rows: self.patch,
            cols: self.patch,
        }
    }
}

/// How the training of one network went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Training samples (pixels).
    pub n_train: usize,
    /// Validation samples.
    pub n_validation: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// Epoch of the kept network.
    pub kept_epoch: usize,
    /// Validation loss of the kept network (unweighted MAE or Poisson loss,
    /// in scaled units), if there was validation data.
    pub best_validation_loss: Option<f64>,
    /// Early stopping fired.
    pub stopped_early: bool,
    /// Per-epoch training loss (scheduled), validation loss and learning
    /// rate.
    pub history: Vec<EpochStats>,
}

/// One trained network with the velocity bins it serves and its scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinNetwork {
    /// Velocity bins predicted by this network, increasing.
    pub bins: Vec<usize>,
    /// Whether the bin enters as a one-hot input (shared layout); the one-hot
    /// position of a bin is its index in `bins`.
    pub one_hot: bool,
    /// $s_\text{in}$: ¹²CO values are divided by it.
    pub input_scale: f64,
    /// $s_\text{out}$: scaled predictions are multiplied by it.
    pub target_scale: f64,
    /// Range of the scaled training targets ($\mathrm{Rescale}$ of the
    /// weighted MAE).
    pub target_range: TargetRange,
    /// Architecture and parameters (with batch-norm statistics), `f32`.
    pub network: Checkpoint<f32>,
    /// How training went.
    pub summary: TrainSummary,
}

/// The paper's patch network, fitted and ready to predict planes.
///
/// ```
/// use darkprobe_core::progress::NoProgress;
/// use darkprobe_gasmap::{NetOptions, PatchNet, PlanePair, PlaneRegressor};
/// use ndarray::Array2;
/// // 13CO = 0.3 · 12CO on a small smooth plane.
/// let src = Array2::from_shape_fn((20, 20), |(i, j)| 1.0 + ((i + 2 * j) as f64 * 0.3).sin());
/// let tgt = src.mapv(|v| 0.3 * v);
/// let mask = Array2::from_elem((20, 20), true);
/// let pair = PlanePair { velocity_bin: 4, source: src.view(), target: tgt.view(), train_mask: mask.view() };
/// let opts = NetOptions { batch_size: 64, epochs: 40, learning_rate: 0.01, patience: None, ..NetOptions::default() };
/// let net = PatchNet::fit(&[pair], &opts, 1, &NoProgress).unwrap();
/// assert_eq!(net.name(), "net-wmae");
/// let pred = net.predict_plane(4, src.view()).unwrap();
/// let mae = (&pred - &tgt).mapv(f64::abs).mean().unwrap();
/// assert!(mae < 0.05, "{mae}");
/// assert!(net.predict_plane(5, src.view()).is_err()); // bin not trained
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PatchNetFields")]
pub struct PatchNet {
    name: String,
    options: NetOptions,
    members: Vec<BinNetwork>,
}

/// The serialised fields of a [`PatchNet`], checked on deserialisation
/// (also when the model is read as part of a larger document).
#[derive(Deserialize)]
struct PatchNetFields {
    name: String,
    options: NetOptions,
    members: Vec<BinNetwork>,
}

impl TryFrom<PatchNetFields> for PatchNet {
    type Error = Error;
    fn try_from(f: PatchNetFields) -> Result<Self> {
        let net = PatchNet {
            name: f.name,
            options: f.options,
            members: f.members,
        };
        net.validate()?;
        Ok(net)
    }
}

/// The training samples of one network, scaled.
struct Samples {
    x: Matrix<f32>,
    y: Vec<f64>,
}

fn quantile_abs(values: &[f64], q: f64) -> f64 {
    let mut a: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    if a.is_empty() {
        return 1.0;
    }
    a.sort_by(f64::total_cmp);
    let k = ((q * a.len() as f64).ceil() as usize).clamp(1, a.len()) - 1;
    let s = a[k];
    if s > 0.0 && s.is_finite() {
        s
    } else {
        1.0
    }
}

fn check_pair(p: &PlanePair<'_>) -> Result<()> {
    let b = p.velocity_bin;
    let dim = p.source.dim();
    if dim.0 == 0 || dim.1 == 0 {
        return Err(Error::empty(
            format!("source plane of velocity bin {b}"),
            "pass planes with at least one pixel",
        ));
    }
    if p.target.dim() != dim {
        return Err(Error::shape(
            format!("target plane of velocity bin {b}"),
            format!("{} x {} (the source plane)", dim.0, dim.1),
            format!("{} x {}", p.target.dim().0, p.target.dim().1),
        ));
    }
    if p.train_mask.dim() != dim {
        return Err(Error::shape(
            format!("training mask of velocity bin {b}"),
            format!("{} x {} (the source plane)", dim.0, dim.1),
            format!("{} x {}", p.train_mask.dim().0, p.train_mask.dim().1),
        ));
    }
    check_finite_plane(&format!("source plane of velocity bin {b}"), p.source)?;
    for ((r, c), &v) in p.target.indexed_iter() {
        if p.train_mask[[r, c]] && !v.is_finite() {
            return Err(Error::invalid_param(
                format!("target plane of velocity bin {b} at pixel ({r}, {c})"),
                v,
                "a finite value at pixels marked for training",
            ));
        }
    }
    Ok(())
}

fn check_finite_plane(what: &str, plane: ArrayView2<'_, f64>) -> Result<()> {
    if let Some(((r, c), v)) = plane.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_param(
            format!("{what} at pixel ({r}, {c})"),
            v,
            "a finite value",
        ));
    }
    Ok(())
}

impl PatchNet {
    /// Fits the network(s) on the training pixels of `pairs` (several pairs
    /// may share a velocity bin, e.g. several images), reporting one step
    /// per epoch and network to `progress`.
    ///
    /// # Errors
    /// Invalid options; no pairs; planes of different shapes within a pair;
    /// a non-finite source value or a non-finite target at a training pixel
    /// (naming bin, pixel and value); a bin with too few training pixels for
    /// the validation split (at least 2 must remain for training); an I/O
    /// error writing a checkpoint; training divergence.
    pub fn fit(
        pairs: &[PlanePair<'_>],
        options: &NetOptions,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Self> {
        options.check()?;
        if pairs.is_empty() {
            return Err(Error::empty(
                "patch-network training planes",
                "pass at least one (12CO, 13CO) plane pair",
            ));
        }
        for p in pairs {
            check_pair(p)?;
        }
        let mut by_bin: BTreeMap<usize, Vec<&PlanePair<'_>>> = BTreeMap::new();
        for p in pairs {
            by_bin.entry(p.velocity_bin).or_default().push(p);
        }
        let groups: Vec<(Vec<usize>, u64)> = match options.layout {
            NetLayout::PerBin => by_bin
                .keys()
                .map(|&b| (vec![b], seed_for_index(seed, b as u64)))
                .collect(),
            NetLayout::Shared => vec![(by_bin.keys().copied().collect(), seed)],
        };
        if let Some(dir) = &options.checkpoint_dir {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        progress.start(
            "patch network epochs",
            (groups.len() * options.epochs) as u64,
        );
        let run = || -> Result<Vec<BinNetwork>> {
            groups
                .iter()
                .map(|(bins, member_seed)| {
                    fit_member(bins, &by_bin, options, *member_seed, progress)
                })
                .collect()
        };
        let members = if options.threads >= 2 {
            let pool = thread_pool(options.threads)?;
            pool.install(run)?
        } else {
            run()?
        };
        progress.finish();
        Ok(Self {
            name: options.loss.model_name().to_string(),
            options: options.clone(),
            members,
        })
    }

    /// The settings the model was trained with.
    pub fn options(&self) -> &NetOptions {
        &self.options
    }

    /// The trained networks (one per bin, or one shared).
    pub fn networks(&self) -> &[BinNetwork] {
        &self.members
    }

    /// The velocity bins the model can predict, increasing.
    pub fn velocity_bins(&self) -> Vec<usize> {
        let mut b: Vec<usize> = self.members.iter().flat_map(|m| m.bins.clone()).collect();
        b.sort_unstable();
        b
    }

    /// The model as JSON.
    ///
    /// # Errors
    /// A serialisation error (non-finite numbers cannot occur in a fitted
    /// model).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| Error::invalid_param("patch network", "model", e.to_string()))
    }

    /// Reads a model written by [`PatchNet::to_json`]; `source` names the
    /// text in errors.
    ///
    /// # Errors
    /// A parse error with the line of the problem; an invalid-parameter
    /// error when the networks do not fit the stored options.
    pub fn from_json(text: &str, source: &str) -> Result<Self> {
        let net: PatchNet = serde_json::from_str(text).map_err(|e| {
            let line = e.line();
            let snippet = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
            Error::parse(
                Location::new(source, line),
                snippet,
                format!("not a patch-network model: {e}"),
            )
        })?;
        Ok(net)
    }

    fn validate(&self) -> Result<()> {
        self.options.check()?;
        if self.name != self.options.loss.model_name() {
            return Err(Error::invalid_param(
                "patch-network model name",
                &self.name,
                format!("\"{}\" for its loss", self.options.loss.model_name()),
            ));
        }
        if self.members.is_empty() {
            return Err(Error::empty(
                "networks of the patch-network model",
                "a fitted model holds at least one network",
            ));
        }
        let n_features = self.options.patch * self.options.patch;
        for m in &self.members {
            let want = m.n_inputs(n_features);
            if m.bins.is_empty() {
                return Err(Error::empty(
                    "velocity bins of a patch network",
                    "each network serves at least one bin",
                ));
            }
            if m.network.input_dim != want {
                return Err(Error::shape(
                    format!("network inputs of bins {:?}", m.bins),
                    want,
                    m.network.input_dim,
                ));
            }
            if !(m.input_scale > 0.0 && m.target_scale > 0.0) {
                return Err(Error::invalid_param(
                    format!("scales of bins {:?}", m.bins),
                    format!("{} / {}", m.input_scale, m.target_scale),
                    "both > 0",
                ));
            }
            let net = m.network.build_network()?;
            if net.output_dim() != 1 {
                return Err(Error::shape(
                    format!("network outputs of bins {:?}", m.bins),
                    1,
                    net.output_dim(),
                ));
            }
        }
        Ok(())
    }

    /// Writes the model as JSON, atomically (a temporary file renamed over
    /// `path`).
    ///
    /// # Errors
    /// An I/O error naming the path.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = self.to_json()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Reads a model written by [`PatchNet::save`].
    ///
    /// # Errors
    /// An I/O error naming the path; a parse error naming the file and its
    /// size when it is larger than
    /// [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES);
    /// errors of [`PatchNet::from_json`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = darkprobe_core::table::read_to_string_limited(
            path,
            darkprobe_core::table::DEFAULT_MAX_FILE_BYTES,
        )?;
        Self::from_json(&text, &path.display().to_string())
    }

    fn member(&self, velocity_bin: usize) -> Result<&BinNetwork> {
        self.members
            .iter()
            .find(|m| m.bins.contains(&velocity_bin))
            .ok_or_else(|| {
                Error::invalid_param(
                    "velocity bin",
                    velocity_bin,
                    format!("one of the trained bins {:?}", self.velocity_bins()),
                )
            })
    }
}

impl BinNetwork {
    fn n_inputs(&self, n_features: usize) -> usize {
        n_features + if self.one_hot { self.bins.len() } else { 0 }
    }

    fn output(&self, loss: NetLoss, y: f64) -> f64 {
        match loss {
            NetLoss::Wmae { .. } => self.target_scale * y,
            NetLoss::Poisson => self.target_scale * y.exp(),
        }
    }
}

/// Scaled inputs of `pixels` of `source` for network `m` (or scales and
/// one-hot layout given explicitly while fitting).
fn inputs(
    hood: &Neighbourhood,
    source: ArrayView2<'_, f64>,
    pixels: &[(usize, usize)],
    input_scale: f64,
    one_hot: Option<(usize, usize)>,
) -> Result<Matrix<f32>> {
    let f = hood.features(source, pixels)?;
    let nf = f.ncols();
    let extra = one_hot.map_or(0, |(n, _)| n);
    let hot = one_hot.map(|(_, k)| nf + k);
    let inv = 1.0 / input_scale;
    Ok(Matrix::from_fn(pixels.len(), nf + extra, |i, j| {
        if j < nf {
            (f[[i, j]] * inv) as f32
        } else if Some(j) == hot {
            1.0
        } else {
            0.0
        }
    }))
}

fn collect_samples(
    bins: &[usize],
    by_bin: &BTreeMap<usize, Vec<&PlanePair<'_>>>,
    hood: &Neighbourhood,
    one_hot: bool,
    quantile: f64,
) -> Result<(Samples, f64, f64)> {
    // Scales from the training pixels' own values.
    let mut src_vals = Vec::new();
    let mut tgt_vals = Vec::new();
    // (one-hot position, pair, its training pixels)
    let mut per_pair: Vec<(usize, &PlanePair<'_>, Pixels)> = Vec::new();
    for (k, b) in bins.iter().enumerate() {
        for p in by_bin.get(b).map(|v| v.as_slice()).unwrap_or(&[]) {
            let pixels: Vec<(usize, usize)> = p
                .train_mask
                .indexed_iter()
                .filter(|(_, &m)| m)
                .map(|(rc, _)| rc)
                .collect();
            for &(r, c) in &pixels {
                src_vals.push(p.source[[r, c]]);
                tgt_vals.push(p.target[[r, c]]);
            }
            per_pair.push((k, p, pixels));
        }
    }
    if tgt_vals.is_empty() {
        return Err(Error::empty(
            format!("training pixels of velocity bins {bins:?}"),
            "mark pixels as usable in train_mask",
        ));
    }
    let input_scale = quantile_abs(&src_vals, quantile);
    let target_scale = quantile_abs(&tgt_vals, quantile);
    let n_features = hood.n_features();
    let d = n_features + if one_hot { bins.len() } else { 0 };
    let mut x = Vec::with_capacity(tgt_vals.len() * d);
    for (k, p, pixels) in &per_pair {
        if pixels.is_empty() {
            continue;
        }
        let hot = one_hot.then_some((bins.len(), *k));
        let m = inputs(hood, p.source, pixels, input_scale, hot)?;
        x.extend_from_slice(m.as_slice());
    }
    let y: Vec<f64> = tgt_vals.iter().map(|v| v / target_scale).collect();
    let x = Matrix::from_vec(y.len(), d, x)?;
    Ok((Samples { x, y }, input_scale, target_scale))
}

fn column(values: &[f64]) -> Result<Matrix<f32>> {
    Ok(Matrix::from_vec(
        values.len(),
        1,
        values.iter().map(|&v| v as f32).collect(),
    )?)
}

/// The LAMB optimiser of `options` (betas 0.9 / 0.999, $\epsilon = 10^{-6}$,
/// bias correction, no trust-ratio clamp: darkprobe-nn's defaults).
fn lamb<T: darkprobe_nn::Float>(options: &NetOptions) -> Result<Lamb<T>> {
    Ok(Lamb::<T>::new(options.learning_rate)?.with_weight_decay(options.weight_decay)?)
}

/// The best constant output for `loss` on the scaled targets `y`: the
/// median for the (weighted) MAE, the log of the mean for the Poisson loss
/// (of a log-rate output; a mean below $10^{-6}$ is raised to it).
fn initial_output(loss: NetLoss, y: &[f64]) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    match loss {
        NetLoss::Wmae { .. } => {
            let mut s = y.to_vec();
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        }
        NetLoss::Poisson => {
            let mean = y.iter().map(|v| v.max(0.0)).sum::<f64>() / y.len() as f64;
            mean.max(1e-6).ln()
        }
    }
}

fn fit_member(
    bins: &[usize],
    by_bin: &BTreeMap<usize, Vec<&PlanePair<'_>>>,
    options: &NetOptions,
    seed: u64,
    progress: &dyn Progress,
) -> Result<BinNetwork> {
    let hood = options.neighbourhood();
    let one_hot = options.layout == NetLayout::Shared;
    let (samples, input_scale, target_scale) =
        collect_samples(bins, by_bin, &hood, one_hot, options.scale_quantile)?;
    let n = samples.y.len();
    let poisson = options.loss == NetLoss::Poisson;
    let y_all: Vec<f64> = if poisson {
        samples.y.iter().map(|&v| v.max(0.0)).collect()
    } else {
        samples.y
    };
    let (train_idx, val_idx) = if options.validation_fraction > 0.0 {
        train_validation_split(n, options.validation_fraction, seed_for_index(seed, 1))?
    } else {
        ((0..n).collect(), Vec::new())
    };
    if train_idx.len() < 2 {
        return Err(Error::invalid_param(
            format!("training pixels of velocity bins {bins:?}"),
            train_idx.len(),
            "at least 2 after the validation split",
        ));
    }
    let x_train = samples.x.select_rows(&train_idx)?;
    let y_train: Vec<f64> = train_idx.iter().map(|&i| y_all[i]).collect();
    let val = if val_idx.is_empty() {
        None
    } else {
        let yv: Vec<f64> = val_idx.iter().map(|&i| y_all[i]).collect();
        Some(Dataset::new(
            samples.x.select_rows(&val_idx)?,
            column(&yv)?,
            None,
        )?)
    };
    let y_train_m = column(&y_train)?;
    let target_range = TargetRange::of(&y_train);

    let output_bias = initial_output(options.loss, &y_train);
    let mut net: Sequential<f32> = options.architecture.build_with_output_bias(
        samples.x.cols(),
        output_bias,
        &mut rng_for_index(seed, 0),
    )?;
    let mut opt = lamb::<f32>(options)?;
    let batch_size = options.batch_size.min(train_idx.len());
    let config = TrainConfig {
        epochs: 1,
        batch_size,
        seed: seed_for_index(seed, 2),
        threads: if options.threads == 1 { 1 } else { 0 },
        shuffle: true,
        // A last batch of one row cannot be batch-normalised.
        drop_last: train_idx.len() % batch_size == 1,
        clip: None,
        early_stopping: match (options.patience, &val) {
            (Some(p), Some(_)) => Some(EarlyStopping::new(p, 0.0)?),
            _ => None,
        },
        restore_best: false,
        schedule: LrSchedule::Constant,
    };
    let mut trainer = Trainer::<f32>::new(config)?;
    let wmae = WeightedMae::default();
    let pois = PoissonNll::default();
    let loss: &dyn Loss<f32> = if poisson { &pois } else { &wmae };
    let label = if one_hot {
        "shared".to_string()
    } else {
        format!("bin{}", bins[0])
    };
    let mut best: Option<(usize, f64, Checkpoint<f32>)> = None;
    let mut epochs_run = 0;
    let mut stopped_early = false;
    for epoch in 0..options.epochs {
        // The schedule's weights of this epoch (the Poisson loss is unweighted).
        let weights = match options.loss {
            NetLoss::Wmae { sigma } => {
                let t = training_fraction(epoch, options.epochs);
                let w = wmae_weights(&y_train, target_range, sigma, t);
                Some(w.iter().map(|&v| v as f32).collect())
            }
            NetLoss::Poisson => None,
        };
        let train = Dataset::new(x_train.clone(), y_train_m.clone(), weights)?;
        trainer.set_epochs(epoch + 1)?;
        let report = trainer.fit(&mut net, loss, &mut opt, &train, val.as_ref(), &NoProgress)?;
        epochs_run = report.epochs_total;
        progress.inc(1);
        if let Some(v) = report.history.last().and_then(|h| h.val_loss) {
            if best.as_ref().is_none_or(|(_, b, _)| v < *b) {
                best = Some((epoch, v, Checkpoint::of_network(&net)));
            }
        }
        if let Some(dir) = &options.checkpoint_dir {
            Checkpoint::of_network(&net)
                .with_optimizer(&opt)
                .with_trainer(&trainer)
                .with_metadata("model", options.loss.model_name())
                .with_metadata("velocity_bins", format!("{bins:?}"))
                .with_metadata("input_scale", input_scale.to_string())
                .with_metadata("target_scale", target_scale.to_string())
                .save(dir.join(format!("patchnet-{label}.ckpt")))?;
        }
        if report.stopped_early {
            stopped_early = true;
            progress.inc((options.epochs - epoch - 1) as u64);
            break;
        }
    }
    let history = trainer.state().history.clone();
    let (kept_epoch, best_validation_loss, network) = match best {
        Some((e, v, ck)) => (e, Some(v), ck),
        None => (
            epochs_run.saturating_sub(1),
            None,
            Checkpoint::of_network(&net),
        ),
    };
    Ok(BinNetwork {
        bins: bins.to_vec(),
        one_hot,
        input_scale,
        target_scale,
        target_range,
        network,
        summary: TrainSummary {
            n_train: train_idx.len(),
            n_validation: val_idx.len(),
            epochs_run,
            kept_epoch,
            best_validation_loss,
            stopped_early,
            history,
        },
    })
}

impl PlaneRegressor for PatchNet {
    fn name(&self) -> &str {
        &self.name
    }

    fn predict_plane(
        &self,
        velocity_bin: usize,
        source: ArrayView2<'_, f64>,
    ) -> Result<Array2<f64>> {
        let m = self.member(velocity_bin)?;
        let (nr, nc) = source.dim();
        if nr == 0 || nc == 0 {
            return Err(Error::empty(
                format!("source plane of velocity bin {velocity_bin}"),
                "pass a plane with at least one pixel",
            ));
        }
        check_finite_plane(
            &format!("source plane of velocity bin {velocity_bin}"),
            source,
        )?;
        let hood = self.options.neighbourhood();
        let one_hot = if m.one_hot {
            let k = m.bins.iter().position(|&b| b == velocity_bin).unwrap_or(0);
            Some((m.bins.len(), k))
        } else {
            None
        };
        let mut net = m.network.build_network()?;
        let mut out = Array2::zeros((nr, nc));
        let pixels = all_pixels(nr, nc);
        for chunk in pixels.chunks(PREDICT_CHUNK) {
            let x = inputs(&hood, source, chunk, m.input_scale, one_hot)?;
            let y = net.predict(&x, Par::Rayon)?;
            for (k, &(r, c)) in chunk.iter().enumerate() {
                out[[r, c]] = m.output(self.options.loss, f64::from(y.get(k, 0)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
