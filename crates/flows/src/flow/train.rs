//! Maximum-likelihood training of a [`Maf`]: Adam on seeded minibatches,
//! a validation split, early stopping on the validation loss (the best
//! parameters are kept) and a learning-rate schedule.

use super::maf::{check_rows, Maf, MafConfig, Tape, Whitening};
use crate::model::Result;
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::{rng_from_seed, seed_for_index};
use darkprobe_core::Error;
use darkprobe_nn::optim::{clip_grad_norm, LrSchedule};
use darkprobe_nn::{Adam, Ctx, Matrix, Optimizer, Par, Parameters};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Settings of [`Maf::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Maximum number of epochs.
    pub max_epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Initial Adam learning rate.
    pub learning_rate: f64,
    /// Fraction of the rows held out for validation (early stopping), in
    /// $[0, 0.5]$; 0 disables validation (the training loss is monitored).
    pub validation_fraction: f64,
    /// Epochs without a validation improvement before stopping.
    pub patience: usize,
    /// Learning-rate schedule, applied after each epoch.
    pub schedule: LrSchedule,
    /// Gradient-norm clip (`None`: no clipping).
    pub clip_norm: Option<f64>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            max_epochs: 60,
            batch_size: 1024,
            learning_rate: 2e-3,
            validation_fraction: 0.1,
            patience: 6,
            schedule: LrSchedule::ReduceOnPlateau {
                factor: 0.3,
                patience: 2,
                threshold: 1e-4,
                cooldown: 0,
                min_lr: 1e-5,
                best: None,
                bad_epochs: 0,
                cooldown_left: 0,
            },
            clip_norm: Some(10.0),
        }
    }
}

impl TrainOptions {
    /// Checks the settings.
    ///
    /// # Errors
    /// An invalid-parameter error naming the first bad field.
    pub fn check(&self) -> Result<()> {
        if self.max_epochs == 0 {
            return Err(Error::invalid_param("max_epochs", 0, "at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid_param("batch_size", 0, "at least 1"));
        }
        darkprobe_core::error::check_positive("learning_rate", self.learning_rate)?;
        if !(0.0..=0.5).contains(&self.validation_fraction) {
            return Err(Error::invalid_param(
                "validation_fraction",
                self.validation_fraction,
                "in [0, 0.5]",
            ));
        }
        if let Some(c) = self.clip_norm {
            darkprobe_core::error::check_positive("clip_norm", c)?;
        }
        Ok(())
    }
}

/// What happened during training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Mean training negative log-likelihood per epoch (whitened units,
    /// without the Gaussian constant: compare epochs, not models).
    pub train_loss: Vec<f64>,
    /// Mean validation negative log-likelihood per epoch (same units; empty
    /// without validation).
    pub val_loss: Vec<f64>,
    /// Epoch (0-based) whose parameters were kept.
    pub best_epoch: usize,
    /// True when early stopping ended the run before `max_epochs`.
    pub stopped_early: bool,
}

/// Mean loss of `rows` rows in evaluation mode.
fn eval_loss(flow: &mut Maf, u: &Matrix<f64>, c: &Matrix<f64>, rows: &[usize]) -> Result<f64> {
    let mut total = 0.0;
    let mut ub = Matrix::zeros(0, 0);
    let mut cb = Matrix::zeros(0, 0);
    let mut tape = Tape::default();
    let ctx = Ctx::eval().with_par(Par::Rayon);
    for chunk in rows.chunks(4096) {
        u.gather_rows_into(chunk, &mut ub).map_err(Error::from)?;
        c.gather_rows_into(chunk, &mut cb).map_err(Error::from)?;
        let (nets, cfg) = flow.nets_mut_and_config();
        Maf::pass(nets, cfg, &ub, &cb, &ctx, &mut tape)?;
        for i in 0..chunk.len() {
            let zr = tape.z.row(i);
            total += 0.5 * zr.iter().map(|v| v * v).sum::<f64>() + tape.sum_alpha[i];
        }
    }
    Ok(total / rows.len() as f64)
}

impl Maf {
    /// One optimiser step on whitened rows; returns the batch's mean loss.
    fn step_on(
        &mut self,
        ub: &Matrix<f64>,
        cb: &Matrix<f64>,
        opt: &mut dyn Optimizer<f64>,
        clip_norm: Option<f64>,
        ctx: &Ctx,
        tape: &mut Tape,
    ) -> Result<f64> {
        let (nets, cfg) = self.nets_mut_and_config();
        Maf::pass(nets, cfg, ub, cb, ctx, tape)?;
        let b = ub.rows();
        let mut loss = 0.0;
        for i in 0..b {
            let zr = tape.z.row(i);
            loss += 0.5 * zr.iter().map(|v| v * v).sum::<f64>() + tape.sum_alpha[i];
        }
        loss /= b as f64;
        if !loss.is_finite() {
            return Err(Error::numerical(
                "flow training",
                0,
                loss,
                "non-finite loss",
            ));
        }
        self.nets_mut().zero_grad();
        let w = vec![1.0 / b as f64; b];
        let (nets, cfg) = self.nets_mut_and_config();
        Maf::backprop(nets, cfg, tape, &w, ctx, false)?;
        if let Some(cn) = clip_norm {
            let norm = clip_grad_norm(self.nets_mut(), cn).map_err(Error::from)?;
            if !norm.is_finite() {
                return Err(Error::numerical(
                    "flow training",
                    0,
                    norm,
                    "non-finite gradient",
                ));
            }
        }
        opt.step(self.nets_mut()).map_err(Error::from)?;
        Ok(loss)
    }

    /// One maximum-likelihood step of `opt` on a minibatch of raw
    /// (unwhitened) rows `data` with `context`, rows processed in parallel
    /// blocks (results independent of the thread count). Returns the mean
    /// loss of the batch before the step (negative log-likelihood in whitened
    /// units without the Gaussian constant). [`Maf::fit`] runs such steps.
    ///
    /// # Errors
    /// Shape errors, non-finite input, or a non-finite loss or gradient.
    pub fn train_step(
        &mut self,
        data: &[f64],
        context: &[f64],
        opt: &mut dyn Optimizer<f64>,
        seed: u64,
    ) -> Result<f64> {
        let n = self.check_batch(data, context)?;
        if n == 0 {
            return Err(Error::empty("training batch", "give at least one row"));
        }
        let ub = self.x_white.apply(data);
        let cb = if self.context_dim() > 0 {
            self.c_white.apply(context)
        } else {
            Matrix::zeros(n, 0)
        };
        let ctx = Ctx::train(seed).with_par(Par::Rayon);
        self.step_on(&ub, &cb, opt, None, &ctx, &mut Tape::default())
    }

    /// Fits a flow of architecture `config` to `data` (row-major, $N\times D$)
    /// with optional `context` ($N\times C$, empty when $C=0$) by maximum
    /// likelihood. Whitening is estimated from all rows. Reproducible from
    /// `seed` whatever the number of rayon threads. `progress` receives one
    /// tick per epoch (its `start`/`finish` are left to the caller).
    ///
    /// # Errors
    /// Invalid configuration or options, bad data (non-finite values named by
    /// row and column, a constant column, fewer than 10 rows), or a training
    /// run that diverges.
    pub fn fit(
        config: MafConfig,
        data: &[f64],
        context: &[f64],
        opts: &TrainOptions,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(Maf, TrainReport)> {
        config.check()?;
        opts.check()?;
        check_rows(data, config.dim, "training data")?;
        let n = data.len() / config.dim;
        if n < 10 {
            return Err(Error::empty(
                format!("training data: {n} row(s)"),
                "a flow needs at least 10 rows",
            ));
        }
        let x_white = Whitening::from_data(data, config.dim, "training data")?;
        let c_white = if config.context_dim > 0 {
            check_rows(context, config.context_dim, "training context")?;
            if context.len() != n * config.context_dim {
                return Err(Error::shape(
                    "training context rows",
                    n,
                    context.len() / config.context_dim,
                ));
            }
            Whitening::from_data(context, config.context_dim, "training context")?
        } else {
            if !context.is_empty() {
                return Err(Error::shape(
                    "context of an unconditional flow",
                    0,
                    context.len(),
                ));
            }
            Whitening::identity(0)
        };
        let mut init_rng = rng_from_seed(seed_for_index(seed, 0));
        let mut flow = Maf::new(config, x_white, c_white, &mut init_rng)?;
        let report = flow.train(data, context, opts, seed, progress)?;
        Ok((flow, report))
    }

    /// Continues training this flow (keeping its whitening) on `data` with
    /// `context`; see [`Maf::fit`]. The parameters of the best epoch are kept.
    ///
    /// # Errors
    /// As [`Maf::fit`].
    pub fn train(
        &mut self,
        data: &[f64],
        context: &[f64],
        opts: &TrainOptions,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<TrainReport> {
        opts.check()?;
        let n = self.check_batch(data, context)?;
        if n < 10 {
            return Err(Error::empty(
                format!("training data: {n} row(s)"),
                "a flow needs at least 10 rows",
            ));
        }
        let u = self.x_white.apply(data);
        let c = if self.context_dim() > 0 {
            self.c_white.apply(context)
        } else {
            Matrix::zeros(n, 0)
        };
        let mut rng = rng_from_seed(seed_for_index(seed, 1));
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut rng);
        let n_val = ((n as f64) * opts.validation_fraction).round() as usize;
        let (val, train) = idx.split_at(n_val.min(n - 1));
        let mut train = train.to_vec();
        let val = val.to_vec();

        let mut opt = Adam::<f64>::new(opts.learning_rate).map_err(Error::from)?;
        let mut schedule = opts.schedule.clone();
        let mut lr = opts.learning_rate;
        let mut report = TrainReport::default();
        let mut best = (f64::INFINITY, self.nets().flat_params());
        let mut since_best = 0usize;
        let (mut ub, mut cb) = (Matrix::zeros(0, 0), Matrix::zeros(0, 0));
        let mut tape = Tape::default();
        let mut step: u64 = 0;
        for epoch in 0..opts.max_epochs {
            train.shuffle(&mut rng);
            let mut sum = 0.0;
            for batch in train.chunks(opts.batch_size) {
                u.gather_rows_into(batch, &mut ub).map_err(Error::from)?;
                c.gather_rows_into(batch, &mut cb).map_err(Error::from)?;
                let ctx = Ctx::train(seed_for_index(seed, step + 2)).with_par(Par::Rayon);
                let loss = self
                    .step_on(&ub, &cb, &mut opt, opts.clip_norm, &ctx, &mut tape)
                    .map_err(|e| match e {
                        Error::Numerical {
                            reason, last_value, ..
                        } => Error::numerical(
                            "flow training",
                            epoch,
                            last_value,
                            format!("{reason} at step {step}; lower the learning rate"),
                        ),
                        other => other,
                    })?;
                sum += loss * batch.len() as f64;
                step += 1;
            }
            report.train_loss.push(sum / train.len() as f64);
            let metric = if val.is_empty() {
                sum / train.len() as f64
            } else {
                let v = eval_loss(self, &u, &c, &val)?;
                report.val_loss.push(v);
                v
            };
            progress.inc(1);
            if metric < best.0 {
                best = (metric, self.nets().flat_params());
                report.best_epoch = epoch;
                since_best = 0;
            } else {
                since_best += 1;
                if since_best > opts.patience {
                    report.stopped_early = true;
                    break;
                }
            }
            lr = schedule
                .next(epoch + 1, opts.learning_rate, lr, Some(metric))
                .map_err(Error::from)?;
            opt.set_learning_rate(lr).map_err(Error::from)?;
        }
        self.nets_mut()
            .set_flat_params(&best.1)
            .map_err(Error::from)?;
        Ok(report)
    }
}
