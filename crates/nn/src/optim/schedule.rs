//! Learning-rate schedules, updated once per epoch.

use crate::error::{invalid, Result};

/// A learning-rate schedule. [`LrSchedule::next`] is called at the end of
/// each epoch with the number of epochs completed and the validation metric,
/// and returns the learning rate for the next epoch. Schedules are
/// serialisable with their state (for checkpoints).
///
/// - `Constant`: $\eta_e = \eta_0$.
/// - `Step`: $\eta_e = \eta_0\,\gamma^{\lfloor e/s\rfloor}$.
/// - `Cosine` (Loshchilov & Hutter 2017, without restarts):
///   $\eta_e = \eta_\text{min} + \tfrac12(\eta_0-\eta_\text{min})(1+\cos(\pi\min(e,T)/T))$.
/// - `ReduceOnPlateau`: multiply by `factor` when the metric has not improved
///   by a relative `threshold` for more than `patience` epochs, then wait
///   `cooldown` epochs, never going below `min_lr` (PyTorch's semantics, mode
///   "min", relative threshold: an improvement is $m < b - |b|\,\text{threshold}$
///   for the best value $b$, which also holds for negative losses).
///
/// ```
/// use darkprobe_nn::optim::LrSchedule;
/// let mut s = LrSchedule::step(2, 0.5).unwrap();
/// let lrs: Vec<f64> = (1..=5).map(|e| s.next(e, 1.0, 1.0, None).unwrap()).collect();
/// assert_eq!(lrs, vec![1.0, 0.5, 0.5, 0.25, 0.25]);
/// ```
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// Keep the initial rate.
    #[default]
    Constant,
    /// Step decay.
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Multiplier per decay.
        gamma: f64,
    },
    /// Cosine annealing.
    Cosine {
        /// Epochs to reach `min_lr`.
        t_max: usize,
        /// Final rate.
        min_lr: f64,
    },
    /// Reduce on plateau.
    ReduceOnPlateau {
        /// Multiplier on a plateau, in $(0,1)$.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
        /// Relative improvement that counts.
        threshold: f64,
        /// Epochs to wait after a reduction.
        cooldown: usize,
        /// Lower bound on the rate.
        min_lr: f64,
        /// Best metric so far.
        best: Option<f64>,
        /// Epochs since the last improvement.
        bad_epochs: usize,
        /// Cooldown epochs left.
        cooldown_left: usize,
    },
}

impl LrSchedule {
    /// A constant rate.
    pub fn constant() -> Self {
        LrSchedule::Constant
    }

    /// Step decay by `gamma` every `step_size` epochs.
    ///
    /// # Errors
    /// An invalid-parameter error for `step_size == 0` or `gamma` outside $(0, 1]$.
    pub fn step(step_size: usize, gamma: f64) -> Result<Self> {
        if step_size == 0 {
            return Err(invalid("step size", 0, "at least 1 epoch"));
        }
        if !(gamma > 0.0 && gamma <= 1.0) {
            return Err(invalid("step decay gamma", gamma, "in (0, 1]"));
        }
        Ok(LrSchedule::Step { step_size, gamma })
    }

    /// Cosine annealing to `min_lr` over `t_max` epochs.
    ///
    /// # Errors
    /// An invalid-parameter error for `t_max == 0` or a negative `min_lr`.
    pub fn cosine(t_max: usize, min_lr: f64) -> Result<Self> {
        if t_max == 0 {
            return Err(invalid("cosine t_max", 0, "at least 1 epoch"));
        }
        if !(min_lr.is_finite() && min_lr >= 0.0) {
            return Err(invalid("cosine min_lr", min_lr, "finite and >= 0"));
        }
        Ok(LrSchedule::Cosine { t_max, min_lr })
    }

    /// Reduce on plateau.
    ///
    /// # Errors
    /// An invalid-parameter error for `factor` outside $(0,1)$, a negative
    /// threshold or `min_lr`.
    pub fn reduce_on_plateau(
        factor: f64,
        patience: usize,
        threshold: f64,
        cooldown: usize,
        min_lr: f64,
    ) -> Result<Self> {
        if !(factor > 0.0 && factor < 1.0) {
            return Err(invalid("plateau factor", factor, "in (0, 1)"));
        }
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(invalid("plateau threshold", threshold, "finite and >= 0"));
        }
        if !(min_lr.is_finite() && min_lr >= 0.0) {
            return Err(invalid("plateau min_lr", min_lr, "finite and >= 0"));
        }
        Ok(LrSchedule::ReduceOnPlateau {
            factor,
            patience,
            threshold,
            cooldown,
            min_lr,
            best: None,
            bad_epochs: 0,
            cooldown_left: 0,
        })
    }

    /// The rate for the epoch after `epochs_done` epochs, from the initial
    /// rate `base_lr`, the current rate `current_lr` and the epoch's metric
    /// (needed by `ReduceOnPlateau`).
    ///
    /// # Errors
    /// An invalid-parameter error when `ReduceOnPlateau` gets no metric or a
    /// non-finite one.
    pub fn next(
        &mut self,
        epochs_done: usize,
        base_lr: f64,
        current_lr: f64,
        metric: Option<f64>,
    ) -> Result<f64> {
        Ok(match self {
            LrSchedule::Constant => base_lr,
            LrSchedule::Step { step_size, gamma } => {
                base_lr * gamma.powi((epochs_done / *step_size) as i32)
            }
            LrSchedule::Cosine { t_max, min_lr } => {
                let e = epochs_done.min(*t_max) as f64 / *t_max as f64;
                *min_lr + 0.5 * (base_lr - *min_lr) * (1.0 + (std::f64::consts::PI * e).cos())
            }
            LrSchedule::ReduceOnPlateau {
                factor,
                patience,
                threshold,
                cooldown,
                min_lr,
                best,
                bad_epochs,
                cooldown_left,
            } => {
                let m = match metric {
                    Some(m) if m.is_finite() => m,
                    other => {
                        return Err(invalid(
                            "reduce-on-plateau metric",
                            format!("{other:?}"),
                            "a finite validation (or training) loss each epoch",
                        ))
                    }
                };
                let improved = match *best {
                    None => true,
                    Some(b) => m < b - b.abs() * *threshold,
                };
                if improved {
                    *best = Some(m);
                    *bad_epochs = 0;
                } else {
                    *bad_epochs += 1;
                }
                if *cooldown_left > 0 {
                    *cooldown_left -= 1;
                    *bad_epochs = 0;
                }
                if *bad_epochs > *patience {
                    *cooldown_left = *cooldown;
                    *bad_epochs = 0;
                    (current_lr * *factor).max(*min_lr)
                } else {
                    current_lr
                }
            }
        })
    }
}
