//! The two training losses of the patch network and the weight schedule of
//! the weighted MAE.
//!
//! # Weighted MAE
//!
//! The paper weights the absolute error of a pixel by
//! $$\gamma_t(T) = \Bigl(\sigma - \frac{\sigma}{1 + e^{-10t + 5}}\Bigr)
//!   \bigl(\mathrm{Rescale}(T) + 1\bigr),$$
//! where $t\in[0, 1]$ is the fraction of training done, $\sigma\ge 0$ the
//! strength and $\mathrm{Rescale}(T)\in[0, 1]$ the pixel's target mapped
//! linearly from the range of the training targets
//! ($\mathrm{Rescale}(T) = (T - T_\text{min})/(T_\text{max} - T_\text{min})$,
//! clamped to $[0, 1]$). The sigmoid factor falls from
//! $\sigma/(1+e^{-5})\approx 0.993\sigma$ at $t=0$ through $\sigma/2$ at
//! $t=\tfrac12$ to $\approx 0.0067\sigma$ at $t=1$.
//!
//! Here the weight of pixel $i$ is
//! $$w_i = 1 + \gamma_t(T_i),$$
//! and the loss is the weighted *average* $\sum_i w_i|\hat T_i - T_i| /
//! \sum_i w_i$ ([`MaeNorm::WeightSum`](darkprobe_nn::loss::MaeNorm)).
//!
//! Why $1+\gamma_t$ rather than $\gamma_t$ alone: the factor
//! $\mathrm{Rescale}(T)+1$ only ranges over $[1, 2]$, so with $w=\gamma_t$
//! the *relative* weight of a bright and a faint pixel would be the same
//! (at most 2) at every $t$; only the overall size of the loss would change,
//! which a normalised optimiser such as LAMB (or the weight-sum normaliser)
//! cancels. With $w = 1+\gamma_t$ the bright/faint ratio
//! $(1+2c_t)/(1+c_t)$, $c_t = \sigma - \sigma/(1+e^{-10t+5})$, goes from
//! about 1.97 at the start ($\sigma=30$) to about 1.17 at the end: training
//! first concentrates on the bright emission that dominates the hot-spot
//! error, then relaxes towards the plain MAE. $\sigma=0$ gives exactly the
//! plain MAE. The weight-sum normaliser keeps the loss an average absolute
//! error in target units at every epoch, so losses of different epochs stay
//! comparable; validation uses the unweighted MAE.
//!
//! The schedule is evaluated once per epoch, with $t = e/(E-1)$ for epoch
//! $e$ of $E$ (so the first epoch uses $t=0$ and the last $t=1$; an early
//! stop ends before $t = 1$).
//!
//! # Poisson
//!
//! The network's output is a log-rate $\eta$, the prediction $\hat T = s
//! e^\eta$ (positive by construction, $s$ the target scale), and the loss
//! the Poisson negative log-likelihood without its constant,
//! $e^\eta - y\eta$ for the scaled target $y = \max(T/s, 0)$. For
//! non-integer $y$ this is still minimised in expectation by $e^\eta =
//! \mathbb E[y\mid x]$ (it is a proper scoring rule for the mean), so it
//! trains a mean regressor whose errors scale like $\sqrt{T}$, as for
//! counts. Negative targets (noise around zero in the ¹³CO maps) are set to
//! zero for this loss only.

use serde::{Deserialize, Serialize};

/// The paper's upper value of the weighted-MAE strength $\sigma$, and the
/// default.
pub const SIGMA_MAX: f64 = 30.0;

/// The training loss of a [`PatchNet`](super::PatchNet).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetLoss {
    /// Weighted mean absolute error with the schedule of the module docs.
    Wmae {
        /// Strength $\sigma \in [0, 30]$ of the weight schedule (0: plain MAE).
        sigma: f64,
    },
    /// Poisson negative log-likelihood of a log-rate output.
    Poisson,
}

impl Default for NetLoss {
    fn default() -> Self {
        NetLoss::Wmae { sigma: SIGMA_MAX }
    }
}

impl NetLoss {
    /// The model name used by [`PlaneRegressor::name`](crate::PlaneRegressor::name):
    /// `"net-wmae"` or `"net-poisson"`.
    pub fn model_name(&self) -> &'static str {
        match self {
            NetLoss::Wmae { .. } => "net-wmae",
            NetLoss::Poisson => "net-poisson",
        }
    }
}

/// The sigmoid factor $c_t = \sigma - \sigma/(1 + e^{-10t+5})$ of the
/// schedule.
pub fn schedule_factor(sigma: f64, t: f64) -> f64 {
    sigma - sigma / (1.0 + (-10.0 * t + 5.0).exp())
}

/// $\gamma_t = c_t\,(\mathrm{rescaled} + 1)$ for a target already rescaled
/// to $[0, 1]$.
///
/// ```
/// use darkprobe_gasmap::net::gamma;
/// // At t = 1/2 the sigmoid is exactly 1/2.
/// assert_eq!(gamma(30.0, 0.5, 1.0), 30.0);
/// ```
pub fn gamma(sigma: f64, t: f64, rescaled: f64) -> f64 {
    schedule_factor(sigma, t) * (rescaled + 1.0)
}

/// The linear map $\mathrm{Rescale}(T)$ from the training targets' range to
/// $[0, 1]$.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetRange {
    /// Smallest training target.
    pub min: f64,
    /// Largest training target.
    pub max: f64,
}

impl TargetRange {
    /// The range of `values` (`[0, 0]` when empty).
    pub fn of(values: &[f64]) -> Self {
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        for &v in values {
            min = min.min(v);
            max = max.max(v);
        }
        if min > max {
            (min, max) = (0.0, 0.0);
        }
        Self { min, max }
    }

    /// $\mathrm{Rescale}(T)$, clamped to $[0, 1]$; 0 for a degenerate range.
    pub fn rescale(&self, value: f64) -> f64 {
        let span = self.max - self.min;
        if span > 0.0 {
            ((value - self.min) / span).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// The weights $w_i = 1 + \gamma_t(T_i)$ of the targets at training
/// fraction `t`.
///
/// ```
/// use darkprobe_gasmap::net::{wmae_weights, TargetRange};
/// let range = TargetRange { min: 0.0, max: 2.0 };
/// let w = wmae_weights(&[0.0, 2.0], range, 30.0, 0.5);
/// assert_eq!(w, vec![16.0, 31.0]); // 1 + 15·1, 1 + 15·2
/// ```
pub fn wmae_weights(targets: &[f64], range: TargetRange, sigma: f64, t: f64) -> Vec<f64> {
    let c = schedule_factor(sigma, t);
    targets
        .iter()
        .map(|&y| 1.0 + c * (range.rescale(y) + 1.0))
        .collect()
}

/// The training fraction $t = e/(E-1)$ of epoch `epoch` (0-based) of
/// `epochs` (0 when there is a single epoch).
pub fn training_fraction(epoch: usize, epochs: usize) -> f64 {
    if epochs <= 1 {
        0.0
    } else {
        (epoch as f64 / (epochs - 1) as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn schedule_matches_hand_values() {
        let s = 30.0;
        // t = 0: 30 - 30/(1 + e^5).
        let e5 = 5f64.exp();
        assert_relative_eq!(
            schedule_factor(s, 0.0),
            30.0 - 30.0 / (1.0 + e5),
            max_relative = 1e-15
        );
        assert_relative_eq!(schedule_factor(s, 0.0), 29.799_214, epsilon = 1e-5);
        // t = 0.5: exactly sigma / 2.
        assert_eq!(schedule_factor(s, 0.5), 15.0);
        // t = 1: 30 - 30/(1 + e^-5) = 30 e^-5 / (1 + e^-5).
        assert_relative_eq!(
            schedule_factor(s, 1.0),
            30.0 / (1.0 + e5),
            max_relative = 1e-12
        );
        assert_relative_eq!(schedule_factor(s, 1.0), 0.200_786, epsilon = 1e-6);
        // gamma multiplies by Rescale(T) + 1 in [1, 2].
        for (t, c) in [(0.0, 29.799_214), (0.5, 15.0), (1.0, 0.200_786)] {
            assert_relative_eq!(gamma(s, t, 0.0), c, epsilon = 1e-5);
            assert_relative_eq!(gamma(s, t, 0.5), 1.5 * c, epsilon = 1e-5);
            assert_relative_eq!(gamma(s, t, 1.0), 2.0 * c, epsilon = 1e-5);
        }
        // sigma = 0: plain MAE weights.
        assert_eq!(
            wmae_weights(&[1.0, 5.0], TargetRange::of(&[0.0, 9.0]), 0.0, 0.3),
            vec![1.0, 1.0]
        );
    }

    #[test]
    fn weights_use_the_rescaled_target() {
        let range = TargetRange::of(&[2.0, -2.0, 0.0]);
        assert_eq!(
            range,
            TargetRange {
                min: -2.0,
                max: 2.0
            }
        );
        let w = wmae_weights(&[-2.0, 0.0, 2.0, 10.0], range, 30.0, 0.5);
        // Rescale: 0, 0.5, 1, clamped 1.
        assert_eq!(w, vec![16.0, 23.5, 31.0, 31.0]);
        // Bright/faint ratio falls from ~1.97 to ~1.17 over training.
        let ratio = |t: f64| {
            let w = wmae_weights(&[-2.0, 2.0], range, 30.0, t);
            w[1] / w[0]
        };
        assert_relative_eq!(
            ratio(0.0),
            (1.0 + 2.0 * 29.799_214) / (1.0 + 29.799_214),
            epsilon = 1e-6
        );
        assert!(ratio(0.0) > 1.96 && ratio(1.0) < 1.17);
        assert_eq!(TargetRange::of(&[]).rescale(3.0), 0.0);
        assert_eq!(TargetRange::of(&[1.0, 1.0]).rescale(3.0), 0.0);
    }

    #[test]
    fn training_fraction_spans_zero_to_one() {
        assert_eq!(training_fraction(0, 11), 0.0);
        assert_eq!(training_fraction(5, 11), 0.5);
        assert_eq!(training_fraction(10, 11), 1.0);
        assert_eq!(training_fraction(0, 1), 0.0);
    }

    #[test]
    fn names() {
        assert_eq!(NetLoss::default().model_name(), "net-wmae");
        assert_eq!(NetLoss::Poisson.model_name(), "net-poisson");
    }
}
