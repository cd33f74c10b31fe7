//! Training utilities: datasets, seeded shuffling and minibatches, validation
//! splits, early stopping, and a [`Trainer`] that runs epochs of a supervised
//! loss with any optimiser and schedule.
//!
//! Determinism: the order of epoch $e$ is a Fisher–Yates shuffle drawn from
//! `rng_for_index(seed_for_index(seed, SHUFFLE), e)`, and optimiser step $s$
//! runs with pass seed `seed_for_index(seed_for_index(seed, PASS), s)`
//! (dropout masks). Together with the fixed row blocking of the layers
//! ([`crate::exec`]), a run is bit-identical for a given seed whatever the
//! number of threads, and a run resumed from a checkpoint continues exactly
//! as the uninterrupted run would have.
//!
//! ```
//! use darkprobe_nn::train::{Dataset, TrainConfig, Trainer};
//! use darkprobe_nn::{Activation, Adam, Init, Matrix, Mse, Sequential};
//! use darkprobe_core::progress::NoProgress;
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! // y = 2x - 1 with a little structure to learn.
//! let x = Matrix::from_fn(200, 1, |i, _| i as f64 / 100.0 - 1.0);
//! let y = Matrix::from_fn(200, 1, |i, _| 2.0 * x.get(i, 0) - 1.0);
//! let data = Dataset::new(x, y, None).unwrap();
//! let (train, val) = data.split(0.2, 7).unwrap();
//! let mut net = Sequential::<f64>::mlp(&[1, 8, 1], Activation::Tanh, Init::Default, &mut rng).unwrap();
//! let mut opt = Adam::new(0.02).unwrap();
//! let config = TrainConfig { epochs: 200, batch_size: 32, seed: 3, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(config).unwrap();
//! let report = trainer.fit(&mut net, &Mse, &mut opt, &train, Some(&val), &NoProgress).unwrap();
//! assert!(report.best_val_loss.unwrap() < 1e-3);
//! ```

use crate::error::{invalid, shape, NnError, Result};
use crate::exec::{thread_pool, Ctx, Par};
use crate::float::Float;
use crate::layer::Parameters;
use crate::loss::{Loss, LossSum};
use crate::matrix::Matrix;
use crate::optim::{GradClip, LrSchedule, Optimizer};
use crate::sequential::Sequential;
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::{rng_for_index, rng_from_seed, seed_for_index};
use rand::seq::SliceRandom;

/// Stream tag of the epoch shuffles.
const SHUFFLE: u64 = 0x5348_5546_464c_4521;
/// Stream tag of the per-step pass seeds.
const PASS: u64 = 0x5041_5353_5345_4544;

/// Inputs, targets and optional per-sample weights, validated once.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<T: Float> {
    x: Matrix<T>,
    y: Matrix<T>,
    weights: Option<Vec<T>>,
}

impl<T: Float> Dataset<T> {
    /// A dataset of `x.rows()` samples.
    ///
    /// # Errors
    /// An empty-input error for no samples; shape errors when the row counts
    /// or the weight count differ; invalid-parameter errors naming the row
    /// and column of a NaN or infinite input or target, or a negative weight.
    pub fn new(x: Matrix<T>, y: Matrix<T>, weights: Option<Vec<T>>) -> Result<Self> {
        if x.rows() == 0 {
            return Err(darkprobe_core::Error::empty(
                "training dataset",
                "pass at least one sample",
            )
            .into());
        }
        if y.rows() != x.rows() {
            return Err(shape(
                "dataset targets",
                format!("{} rows (as the inputs)", x.rows()),
                format!("{} rows", y.rows()),
            ));
        }
        if let Some((i, j)) = x.first_non_finite() {
            return Err(invalid(
                &format!("dataset input[row {i}, column {j}]"),
                x.get(i, j),
                "a finite number",
            ));
        }
        if let Some((i, j)) = y.first_non_finite() {
            return Err(invalid(
                &format!("dataset target[row {i}, column {j}]"),
                y.get(i, j),
                "a finite number",
            ));
        }
        if let Some(w) = &weights {
            if w.len() != x.rows() {
                return Err(shape("dataset weights", x.rows(), w.len()));
            }
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= T::ZERO)) {
                return Err(invalid(
                    &format!("dataset weight[{i}]"),
                    w[i],
                    "finite and >= 0",
                ));
            }
        }
        Ok(Self { x, y, weights })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.rows()
    }
    /// Always false (an empty dataset cannot be built).
    pub fn is_empty(&self) -> bool {
        self.x.rows() == 0
    }
    /// Inputs.
    pub fn x(&self) -> &Matrix<T> {
        &self.x
    }
    /// Targets.
    pub fn y(&self) -> &Matrix<T> {
        &self.y
    }
    /// Weights, if any.
    pub fn weights(&self) -> Option<&[T]> {
        self.weights.as_deref()
    }

    /// The samples `indices`, in that order.
    ///
    /// # Errors
    /// An invalid-parameter error for an out-of-range index; an empty-input
    /// error for no indices.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let x = self.x.select_rows(indices)?;
        let y = self.y.select_rows(indices)?;
        let weights = self
            .weights
            .as_ref()
            .map(|w| indices.iter().map(|&i| w[i]).collect());
        Dataset::new(x, y, weights)
    }

    /// A seeded random split into (training, validation) parts, the
    /// validation part holding `round(fraction · n)` samples.
    ///
    /// # Errors
    /// As [`train_validation_split`].
    pub fn split(&self, validation_fraction: f64, seed: u64) -> Result<(Self, Self)> {
        let (tr, va) = train_validation_split(self.len(), validation_fraction, seed)?;
        Ok((self.subset(&tr)?, self.subset(&va)?))
    }
}

/// A uniformly random permutation of `0..n` (Fisher–Yates) from `seed`.
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rng_from_seed(seed));
    idx
}

/// The sample order of epoch `epoch` for a run seeded with `seed`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rng_for_index(
        seed_for_index(seed, SHUFFLE),
        epoch as u64,
    ));
    idx
}

/// Consecutive minibatches of `order`, the last one shorter unless
/// `drop_last`.
pub fn minibatches(
    order: &[usize],
    batch_size: usize,
    drop_last: bool,
) -> impl Iterator<Item = &[usize]> {
    order
        .chunks(batch_size.max(1))
        .filter(move |c| !drop_last || c.len() == batch_size)
}

/// Seeded split of `0..n` into (training, validation) index lists; the
/// validation part has `round(fraction · n)` entries, both parts sorted.
///
/// # Errors
/// An invalid-parameter error unless $0 < $ `fraction` $< 1$ and both parts
/// are non-empty.
///
/// ```
/// use darkprobe_nn::train::train_validation_split;
/// let (tr, va) = train_validation_split(10, 0.3, 1).unwrap();
/// assert_eq!((tr.len(), va.len()), (7, 3));
/// assert!(train_validation_split(10, 1.0, 1).is_err());
/// ```
pub fn train_validation_split(
    n: usize,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(invalid("validation fraction", fraction, "in (0, 1)"));
    }
    let n_val = (fraction * n as f64).round() as usize;
    if n_val == 0 || n_val >= n {
        return Err(invalid(
            "validation fraction",
            fraction,
            &format!("a value leaving both parts non-empty for {n} samples"),
        ));
    }
    let perm = shuffled_indices(n, seed);
    let mut va = perm[..n_val].to_vec();
    let mut tr = perm[n_val..].to_vec();
    va.sort_unstable();
    tr.sort_unstable();
    Ok((tr, va))
}

/// Early stopping on a metric to minimise: stop after `patience` epochs
/// without an improvement larger than `min_delta`.
///
/// ```
/// use darkprobe_nn::train::EarlyStopping;
/// let mut es = EarlyStopping::new(2, 0.0).unwrap();
/// let stops: Vec<bool> = [1.0, 0.5, 0.6, 0.7].iter().enumerate()
///     .map(|(e, &m)| es.update(e, m)).collect();
/// assert_eq!(stops, vec![false, false, false, true]);
/// assert_eq!(es.best_epoch(), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f64,
    best: Option<f64>,
    best_epoch: Option<usize>,
    bad_epochs: usize,
}

impl EarlyStopping {
    /// Stop after `patience` (≥ 1) epochs without improvement by more than
    /// `min_delta` (≥ 0).
    ///
    /// # Errors
    /// An invalid-parameter error for `patience == 0` or a negative or
    /// non-finite `min_delta`.
    pub fn new(patience: usize, min_delta: f64) -> Result<Self> {
        if patience == 0 {
            return Err(invalid("early-stopping patience", 0, "at least 1 epoch"));
        }
        if !(min_delta.is_finite() && min_delta >= 0.0) {
            return Err(invalid(
                "early-stopping min_delta",
                min_delta,
                "finite and >= 0",
            ));
        }
        Ok(Self {
            patience,
            min_delta,
            best: None,
            best_epoch: None,
            bad_epochs: 0,
        })
    }

    /// Records the metric of `epoch`; returns true when training should stop.
    pub fn update(&mut self, epoch: usize, metric: f64) -> bool {
        if self.is_improvement(metric) {
            self.best = Some(metric);
            self.best_epoch = Some(epoch);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        self.bad_epochs >= self.patience
    }

    /// Whether `metric` would count as an improvement.
    pub fn is_improvement(&self, metric: f64) -> bool {
        metric.is_finite() && self.best.is_none_or(|b| metric < b - self.min_delta)
    }

    /// Best metric so far.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
    /// Epoch of the best metric.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
}

/// Settings of a [`Trainer`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Total number of epochs (a resumed run continues up to this number).
    pub epochs: usize,
    /// Samples per optimiser step.
    pub batch_size: usize,
    /// Seed of the shuffles and of the dropout masks.
    pub seed: u64,
    /// 1: sequential; n ≥ 2: a dedicated pool of n threads; 0: the current
    /// rayon pool. Results are identical in all cases.
    pub threads: usize,
    /// Shuffle the samples every epoch (otherwise keep their order).
    pub shuffle: bool,
    /// Skip the last, shorter minibatch of each epoch (useful with batch
    /// normalisation, which needs at least two rows per training batch).
    pub drop_last: bool,
    /// Gradient clipping before each step.
    pub clip: Option<GradClip>,
    /// Early stopping on the validation loss (training loss without
    /// validation data).
    pub early_stopping: Option<EarlyStopping>,
    /// At the end, put back the parameters of the best epoch.
    pub restore_best: bool,
    /// Learning-rate schedule, applied after each epoch.
    pub schedule: LrSchedule,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 256,
            seed: 0,
            threads: 1,
            shuffle: true,
            drop_last: false,
            clip: None,
            early_stopping: None,
            restore_best: true,
            schedule: LrSchedule::Constant,
        }
    }
}

impl TrainConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// An invalid-parameter error for zero epochs or batch size.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(invalid("epochs", 0, "at least 1"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch size", 0, "at least 1"));
        }
        Ok(())
    }
}

/// Losses and learning rate of one epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (before each step).
    pub train_loss: f64,
    /// Validation loss after the epoch, in inference mode.
    pub val_loss: Option<f64>,
    /// Learning rate used during the epoch.
    pub lr: f64,
}

/// Everything a [`Trainer`] needs to continue a run (stored in checkpoints).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct TrainState<T> {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: u64,
    /// Learning rate at the start of the run.
    pub base_lr: Option<f64>,
    /// The live schedule (with its plateau counters).
    pub schedule: LrSchedule,
    /// Early-stopping state.
    pub early_stopping: Option<EarlyStopping>,
    /// Best metric so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// Parameters at the best epoch.
    pub best_params: Option<Vec<T>>,
    /// Buffers (batch-norm statistics) at the best epoch.
    pub best_buffers: Option<Vec<T>>,
    /// Per-epoch statistics.
    pub history: Vec<EpochStats>,
    /// Early stopping fired.
    pub stopped_early: bool,
}

/// What a call to [`Trainer::fit`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Epochs run by this call.
    pub epochs_run: usize,
    /// Total epochs completed (across resumptions).
    pub epochs_total: usize,
    /// Optimiser steps taken in total.
    pub steps: u64,
    /// Epoch with the best metric.
    pub best_epoch: Option<usize>,
    /// Best validation loss (None without validation data).
    pub best_val_loss: Option<f64>,
    /// Training loss of the last epoch.
    pub final_train_loss: f64,
    /// Early stopping fired.
    pub stopped_early: bool,
    /// Per-epoch statistics since the start of the run.
    pub history: Vec<EpochStats>,
}

/// Runs epochs of minibatch training of a [`Sequential`] network.
///
/// Each step: gather the minibatch, zero the gradients, forward in training
/// mode, loss and its gradient, backward, optional clipping, optimiser step.
/// After each epoch: validation loss in inference mode, schedule, early
/// stopping, best-parameter snapshot, progress report.
#[derive(Debug, Clone)]
pub struct Trainer<T: Float> {
    config: TrainConfig,
    state: TrainState<T>,
}

fn sum_params<T: Float>(net: &Sequential<T>) -> (Vec<T>, Vec<T>) {
    let mut b = Vec::new();
    net.visit_buffers(&mut |_, v| b.extend_from_slice(v));
    (net.flat_params(), b)
}

fn set_buffers<T: Float>(net: &mut Sequential<T>, values: &[T]) {
    let mut off = 0;
    net.visit_buffers_mut(&mut |_, v| {
        let n = v.len();
        if off + n <= values.len() {
            v.copy_from_slice(&values[off..off + n]);
        }
        off += n;
    });
}

impl<T: Float> Trainer<T> {
    /// A trainer at epoch 0.
    ///
    /// # Errors
    /// As [`TrainConfig::check`].
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.check()?;
        let state = TrainState {
            schedule: config.schedule.clone(),
            early_stopping: config.early_stopping.clone(),
            ..TrainState::default()
        };
        Ok(Self { config, state })
    }

    /// A trainer continuing from a saved state.
    ///
    /// # Errors
    /// As [`TrainConfig::check`].
    pub fn from_state(config: TrainConfig, state: TrainState<T>) -> Result<Self> {
        config.check()?;
        Ok(Self { config, state })
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The run's state.
    pub fn state(&self) -> &TrainState<T> {
        &self.state
    }

    /// Changes the number of epochs (to extend or shorten a run).
    ///
    /// # Errors
    /// An invalid-parameter error for zero.
    pub fn set_epochs(&mut self, epochs: usize) -> Result<()> {
        if epochs == 0 {
            return Err(invalid("epochs", 0, "at least 1"));
        }
        self.config.epochs = epochs;
        Ok(())
    }

    /// Trains `net` on `train` up to `config.epochs` epochs in total (fewer on
    /// early stopping), validating on `val` after each epoch.
    ///
    /// # Errors
    /// Shape errors when the data do not fit the network;
    /// [`NnError::Diverged`] when a loss or gradient becomes non-finite; any
    /// error of the layers, loss, optimiser or schedule.
    pub fn fit(
        &mut self,
        net: &mut Sequential<T>,
        loss: &dyn Loss<T>,
        opt: &mut dyn Optimizer<T>,
        train: &Dataset<T>,
        val: Option<&Dataset<T>>,
        progress: &dyn Progress,
    ) -> Result<TrainReport> {
        for (what, d) in [("training", Some(train)), ("validation", val)] {
            if let Some(d) = d {
                d.x()
                    .expect_cols(&format!("{what} inputs"), net.input_dim())?;
                d.y()
                    .expect_cols(&format!("{what} targets"), net.output_dim())?;
            }
        }
        match self.config.threads {
            1 => self.run(net, loss, opt, train, val, progress, Par::Seq),
            0 => self.run(net, loss, opt, train, val, progress, Par::Rayon),
            n => {
                let pool = thread_pool(n)?;
                pool.install(|| self.run(net, loss, opt, train, val, progress, Par::Rayon))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        net: &mut Sequential<T>,
        loss: &dyn Loss<T>,
        opt: &mut dyn Optimizer<T>,
        train: &Dataset<T>,
        val: Option<&Dataset<T>>,
        progress: &dyn Progress,
        par: Par,
    ) -> Result<TrainReport> {
        let cfg = self.config.clone();
        let st = &mut self.state;
        let base_lr = *st.base_lr.get_or_insert(opt.learning_rate());
        let start_epoch = st.epoch;
        let todo = if st.stopped_early {
            0
        } else {
            cfg.epochs.saturating_sub(st.epoch)
        };
        progress.start("training epochs", todo as u64);
        let n = train.len();
        let (mut xb, mut yb) = (Matrix::zeros(0, 0), Matrix::zeros(0, 0));
        let mut wb: Vec<T> = Vec::new();
        let mut grad = Matrix::zeros(0, 0);
        let identity: Vec<usize> = (0..n).collect();
        let pass_seed = seed_for_index(cfg.seed, PASS);
        while st.epoch < cfg.epochs && !st.stopped_early {
            let epoch = st.epoch;
            let order = if cfg.shuffle {
                epoch_order(n, cfg.seed, epoch)
            } else {
                identity.clone()
            };
            let lr = opt.learning_rate();
            let mut total = LossSum::default();
            for batch in minibatches(&order, cfg.batch_size, cfg.drop_last) {
                train.x().gather_rows_into(batch, &mut xb)?;
                train.y().gather_rows_into(batch, &mut yb)?;
                let w = match train.weights() {
                    Some(all) => {
                        wb.clear();
                        wb.extend(batch.iter().map(|&i| all[i]));
                        if wb.iter().all(|&v| v == T::ZERO) {
                            continue; // nothing to learn from this batch
                        }
                        Some(wb.as_slice())
                    }
                    None => None,
                };
                let ctx = Ctx::train(seed_for_index(pass_seed, st.step)).with_par(par);
                net.zero_grad();
                let pred = net.forward(&xb, &ctx)?;
                let s = loss.eval(pred, &yb, w, Some(&mut grad))?;
                if !s.mean().is_finite() {
                    return Err(NnError::Diverged {
                        epoch,
                        step: st.step,
                        what: "training loss".into(),
                        value: s.mean(),
                    });
                }
                total.add(s);
                net.backward(&xb, &grad, false, &ctx)?;
                if let Some(clip) = cfg.clip {
                    let g = clip.apply(net)?;
                    if !g.is_finite() {
                        return Err(NnError::Diverged {
                            epoch,
                            step: st.step,
                            what: "gradient norm".into(),
                            value: g,
                        });
                    }
                }
                opt.step(net)?;
                st.step += 1;
            }
            let train_loss = total.mean();
            let val_loss = match val {
                Some(v) => Some(evaluate_with(net, loss, v, cfg.batch_size, par)?),
                None => None,
            };
            let metric = val_loss.unwrap_or(train_loss);
            if !metric.is_finite() {
                return Err(NnError::Diverged {
                    epoch,
                    step: st.step,
                    what: "epoch loss".into(),
                    value: metric,
                });
            }
            if st.best.is_none_or(|(b, _)| metric < b) {
                st.best = Some((metric, epoch));
                if cfg.restore_best {
                    let (p, b) = sum_params(net);
                    st.best_params = Some(p);
                    st.best_buffers = Some(b);
                }
            }
            st.history.push(EpochStats {
                epoch,
                train_loss,
                val_loss,
                lr,
            });
            st.epoch += 1;
            let next_lr = st.schedule.next(st.epoch, base_lr, lr, Some(metric))?;
            if next_lr != lr {
                opt.set_learning_rate(next_lr)?;
            }
            if let Some(es) = st.early_stopping.as_mut() {
                if es.update(epoch, metric) {
                    st.stopped_early = true;
                }
            }
            progress.inc(1);
        }
        progress.finish();
        if cfg.restore_best {
            if let (Some(p), Some(b)) = (&st.best_params, &st.best_buffers) {
                net.set_flat_params(p)?;
                set_buffers(net, b);
            }
        }
        Ok(TrainReport {
            epochs_run: st.epoch - start_epoch,
            epochs_total: st.epoch,
            steps: st.step,
            best_epoch: st.best.map(|b| b.1),
            best_val_loss: if val.is_some() {
                st.best.map(|b| b.0)
            } else {
                None
            },
            final_train_loss: st.history.last().map_or(f64::NAN, |h| h.train_loss),
            stopped_early: st.stopped_early,
            history: st.history.clone(),
        })
    }
}

/// The loss of `net` on `data` in inference mode, evaluated in chunks of
/// `chunk` rows and combined exactly.
///
/// # Errors
/// Shape errors when the data do not fit the network; loss errors.
pub fn evaluate<T: Float>(
    net: &mut Sequential<T>,
    loss: &dyn Loss<T>,
    data: &Dataset<T>,
    chunk: usize,
    par: Par,
) -> Result<f64> {
    data.x().expect_cols("evaluation inputs", net.input_dim())?;
    data.y()
        .expect_cols("evaluation targets", net.output_dim())?;
    evaluate_with(net, loss, data, chunk, par)
}

fn evaluate_with<T: Float>(
    net: &mut Sequential<T>,
    loss: &dyn Loss<T>,
    data: &Dataset<T>,
    chunk: usize,
    par: Par,
) -> Result<f64> {
    let ctx = Ctx::eval().with_par(par);
    let n = data.len();
    let chunk = chunk.max(1);
    let mut total = LossSum::default();
    let (mut xb, mut yb) = (Matrix::zeros(0, 0), Matrix::zeros(0, 0));
    let mut idx: Vec<usize> = Vec::with_capacity(chunk);
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        idx.clear();
        idx.extend(start..end);
        data.x().gather_rows_into(&idx, &mut xb)?;
        data.y().gather_rows_into(&idx, &mut yb)?;
        let w: Option<Vec<T>> = data.weights().map(|w| w[start..end].to_vec());
        if w.as_ref().is_some_and(|w| w.iter().all(|&v| v == T::ZERO)) {
            start = end;
            continue;
        }
        let pred = net.forward(&xb, &ctx)?;
        total.add(loss.eval(pred, &yb, w.as_deref(), None)?);
        start = end;
    }
    Ok(total.mean())
}
