//! Losses: value and gradient with respect to the network output.
//!
//! Every loss is a weighted mean $L = S / Z$ of per-element terms, with
//! $S = \sum_i w_i \sum_j \ell(\hat y_{ij}, y_{ij})$ and a normaliser $Z$
//! (by default $D\sum_i w_i$, with $w_i = 1$ when no weights are given). The
//! trait exposes $S$ and $Z$ ([`LossSum`]) so that losses over several
//! minibatches combine exactly: $\sum S / \sum Z$.

use crate::error::{invalid, shape, Result};
use crate::float::Float;
use crate::matrix::Matrix;
use darkprobe_core::numerics::ln_gamma;

/// The unnormalised sum $S$ and normaliser $Z$ of a loss; the loss is $S/Z$.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossSum {
    /// $S$.
    pub sum: f64,
    /// $Z$.
    pub norm: f64,
}

impl LossSum {
    /// $S/Z$.
    pub fn mean(&self) -> f64 {
        self.sum / self.norm
    }
    /// Adds another batch's sums.
    pub fn add(&mut self, other: LossSum) {
        self.sum += other.sum;
        self.norm += other.norm;
    }
}

/// A loss comparing predictions with targets of the same shape.
pub trait Loss<T: Float>: Send + Sync {
    /// Short name (`"mse"`, ...).
    fn name(&self) -> &'static str;

    /// Computes $S$ and $Z$ and, if `grad` is given, resizes it and writes
    /// $\partial (S/Z)/\partial\hat y$.
    ///
    /// # Errors
    /// Shape errors when `pred`, `target` and `weights` disagree;
    /// invalid-parameter errors for negative or non-finite weights, weights
    /// summing to zero, non-finite targets, or targets outside the loss's
    /// domain.
    fn eval(
        &self,
        pred: &Matrix<T>,
        target: &Matrix<T>,
        weights: Option<&[T]>,
        grad: Option<&mut Matrix<T>>,
    ) -> Result<LossSum>;

    /// The loss $S/Z$ and its gradient.
    ///
    /// # Errors
    /// As [`Loss::eval`].
    fn value_and_grad(
        &self,
        pred: &Matrix<T>,
        target: &Matrix<T>,
        weights: Option<&[T]>,
        grad: &mut Matrix<T>,
    ) -> Result<f64> {
        Ok(self.eval(pred, target, weights, Some(grad))?.mean())
    }

    /// The loss $S/Z$.
    ///
    /// # Errors
    /// As [`Loss::eval`].
    fn value(&self, pred: &Matrix<T>, target: &Matrix<T>, weights: Option<&[T]>) -> Result<f64> {
        Ok(self.eval(pred, target, weights, None)?.mean())
    }
}

/// Checks shapes, targets and weights; returns $\sum_i w_i$.
fn check_inputs<T: Float>(
    what: &str,
    pred: &Matrix<T>,
    target: &Matrix<T>,
    weights: Option<&[T]>,
) -> Result<f64> {
    if pred.shape() != target.shape() {
        return Err(shape(
            format!("{what} targets"),
            format!("{} x {} (the predictions)", pred.rows(), pred.cols()),
            format!("{} x {}", target.rows(), target.cols()),
        ));
    }
    if pred.rows() == 0 || pred.cols() == 0 {
        return Err(darkprobe_core::Error::empty(
            format!("{what} batch"),
            "pass at least one sample",
        )
        .into());
    }
    if let Some((i, j)) = target.first_non_finite() {
        return Err(invalid(
            &format!("{what} target[row {i}, column {j}]"),
            target.get(i, j),
            "a finite number",
        ));
    }
    match weights {
        None => Ok(pred.rows() as f64),
        Some(w) => {
            if w.len() != pred.rows() {
                return Err(shape(format!("{what} weights"), pred.rows(), w.len()));
            }
            let mut s = 0.0;
            for (i, &v) in w.iter().enumerate() {
                if !(v.is_finite() && v >= T::ZERO) {
                    return Err(invalid(
                        &format!("{what} weight[{i}]"),
                        v,
                        "finite and >= 0",
                    ));
                }
                s += v.to_f64();
            }
            if s <= 0.0 {
                return Err(invalid(
                    &format!("{what} weights"),
                    "all zero",
                    "a positive sum",
                ));
            }
            Ok(s)
        }
    }
}

/// Runs `term(pred, target) -> (loss term, d term/d pred)` over all elements,
/// weighting rows, and fills the gradient scaled by `1/norm`.
fn elementwise<T: Float>(
    pred: &Matrix<T>,
    target: &Matrix<T>,
    weights: Option<&[T]>,
    norm: f64,
    grad: Option<&mut Matrix<T>>,
    term: impl Fn(f64, f64) -> (f64, f64),
) -> LossSum {
    let (n, d) = pred.shape();
    let mut sum = 0.0;
    let inv = 1.0 / norm;
    let mut grad = grad;
    if let Some(g) = grad.as_deref_mut() {
        g.resize(n, d);
    }
    for i in 0..n {
        let w = weights.map_or(1.0, |w| w[i].to_f64());
        let (pr, tr) = (pred.row(i), target.row(i));
        let mut row_sum = 0.0;
        for j in 0..d {
            let (l, dl) = term(pr[j].to_f64(), tr[j].to_f64());
            row_sum += l;
            if let Some(g) = grad.as_deref_mut() {
                g.as_mut_slice()[i * d + j] = T::from_f64(w * dl * inv);
            }
        }
        sum += w * row_sum;
    }
    LossSum { sum, norm }
}

/// Mean squared error: $\ell = (\hat y - y)^2$, $Z = D\sum_i w_i$
/// (PyTorch's `MSELoss` when unweighted). Gradient
/// $\partial L/\partial\hat y_{ij} = 2 w_i(\hat y_{ij} - y_{ij})/Z$.
///
/// ```
/// use darkprobe_nn::{loss::{Loss, Mse}, Matrix};
/// let p = Matrix::from_vec(2, 1, vec![1.0f64, 3.0]).unwrap();
/// let t = Matrix::from_vec(2, 1, vec![0.0, 1.0]).unwrap();
/// assert_eq!(Mse.value(&p, &t, None).unwrap(), 2.5); // (1 + 4) / 2
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mse;

impl<T: Float> Loss<T> for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn eval(
        &self,
        pred: &Matrix<T>,
        target: &Matrix<T>,
        weights: Option<&[T]>,
        grad: Option<&mut Matrix<T>>,
    ) -> Result<LossSum> {
        let w = check_inputs("mse", pred, target, weights)?;
        let norm = w * pred.cols() as f64;
        Ok(elementwise(pred, target, weights, norm, grad, |p, t| {
            let r = p - t;
            (r * r, 2.0 * r)
        }))
    }
}

/// How [`WeightedMae`] normalises the weighted sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MaeNorm {
    /// $Z = D\sum_i w_i$: a weighted average of absolute errors.
    #[default]
    WeightSum,
    /// $Z = D N$: weights act as multipliers of a plain mean.
    Count,
}

/// Weighted mean absolute error: $\ell = |\hat y - y|$ with per-sample
/// weights $w_i$ and $Z$ chosen by [`MaeNorm`]. Gradient
/// $w_i\,\mathrm{sign}(\hat y_{ij} - y_{ij})/Z$, with $\mathrm{sign}(0) = 0$.
///
/// The per-pixel weights of the gas-map patch network's training schedule
/// go in `weights`; without weights this is the plain MAE.
///
/// ```
/// use darkprobe_nn::{loss::{Loss, WeightedMae}, Matrix};
/// let p = Matrix::from_vec(2, 1, vec![1.0f64, 3.0]).unwrap();
/// let t = Matrix::from_vec(2, 1, vec![0.0, 1.0]).unwrap();
/// // (3·1 + 1·2) / (3 + 1)
/// assert_eq!(WeightedMae::default().value(&p, &t, Some(&[3.0, 1.0])).unwrap(), 1.25);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeightedMae {
    /// The normaliser.
    pub norm: MaeNorm,
}

impl<T: Float> Loss<T> for WeightedMae {
    fn name(&self) -> &'static str {
        "weighted_mae"
    }
    fn eval(
        &self,
        pred: &Matrix<T>,
        target: &Matrix<T>,
        weights: Option<&[T]>,
        grad: Option<&mut Matrix<T>>,
    ) -> Result<LossSum> {
        let w = check_inputs("weighted mae", pred, target, weights)?;
        let rows = match self.norm {
            MaeNorm::WeightSum => w,
            MaeNorm::Count => pred.rows() as f64,
        };
        let norm = rows * pred.cols() as f64;
        Ok(elementwise(pred, target, weights, norm, grad, |p, t| {
            let r = p - t;
            let s = if r > 0.0 {
                1.0
            } else if r < 0.0 {
                -1.0
            } else {
                0.0
            };
            (r.abs(), s)
        }))
    }
}

/// Poisson negative log-likelihood of counts $y \ge 0$ given predicted
/// rates.
///
/// With `log_input` the prediction is $\eta = \ln\lambda$ and
/// $\ell = e^\eta - y\eta$, $\partial\ell/\partial\eta = e^\eta - y$;
/// otherwise the prediction is $\lambda$ and $\ell = \lambda - y\ln(\lambda +
/// \epsilon)$, $\partial\ell/\partial\lambda = 1 - y/(\lambda+\epsilon)$.
/// With `full` the constant $\ln\Gamma(y+1)$ is added (exactly, not by
/// Stirling's formula), making $\ell = -\ln\mathrm{Pois}(y\mid\lambda)$.
/// $Z = D\sum_i w_i$.
///
/// ```
/// use darkprobe_nn::{loss::{Loss, PoissonNll}, Matrix};
/// let eta = Matrix::from_vec(1, 1, vec![2.0f64.ln()]).unwrap();
/// let y = Matrix::from_vec(1, 1, vec![3.0]).unwrap();
/// let nll = PoissonNll { full: true, ..PoissonNll::default() }.value(&eta, &y, None).unwrap();
/// // -ln(2^3 e^-2 / 3!)
/// assert!((nll - (2.0 - 3.0 * 2f64.ln() + 6f64.ln())).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoissonNll {
    /// Predictions are log-rates (the default, numerically safest).
    pub log_input: bool,
    /// Add $\ln\Gamma(y+1)$.
    pub full: bool,
    /// Offset inside the logarithm when predictions are rates.
    pub eps: f64,
}

impl Default for PoissonNll {
    fn default() -> Self {
        Self {
            log_input: true,
            full: false,
            eps: 1e-8,
        }
    }
}

impl<T: Float> Loss<T> for PoissonNll {
    fn name(&self) -> &'static str {
        "poisson_nll"
    }
    fn eval(
        &self,
        pred: &Matrix<T>,
        target: &Matrix<T>,
        weights: Option<&[T]>,
        grad: Option<&mut Matrix<T>>,
    ) -> Result<LossSum> {
        let w = check_inputs("poisson nll", pred, target, weights)?;
        if let Some(k) = target.as_slice().iter().position(|&v| v < T::ZERO) {
            let d = target.cols();
            return Err(invalid(
                &format!("poisson nll target[row {}, column {}]", k / d, k % d),
                target.as_slice()[k],
                "a count >= 0",
            ));
        }
        if !self.log_input {
            if let Some(k) = pred
                .as_slice()
                .iter()
                .position(|&v| v.to_f64() + self.eps <= 0.0)
            {
                let d = pred.cols();
                return Err(invalid(
                    &format!(
                        "poisson nll predicted rate[row {}, column {}]",
                        k / d,
                        k % d
                    ),
                    pred.as_slice()[k],
                    "> 0 (use log_input for unconstrained outputs)",
                ));
            }
        }
        let norm = w * pred.cols() as f64;
        let (log_input, full, eps) = (self.log_input, self.full, self.eps);
        Ok(elementwise(pred, target, weights, norm, grad, |p, y| {
            let c = if full { ln_gamma(y + 1.0) } else { 0.0 };
            if log_input {
                let e = p.exp();
                (e - y * p + c, e - y)
            } else {
                (p - y * (p + eps).ln() + c, 1.0 - y / (p + eps))
            }
        }))
    }
}

/// Negative log-likelihood of a normalizing flow with a standard normal base.
///
/// A flow maps a sample $x$ to $z = f(x)\in\mathbb R^D$ with
/// $\ln|\det \partial f/\partial x|$ = `log_det`, so
/// $$\ln p(x) = -\tfrac12\lVert z\rVert^2 - \tfrac D2\ln 2\pi + \ln|\det J_f(x)|,$$
/// and the loss is the weighted mean $L = -\sum_i w_i \ln p(x_i)/\sum_i w_i$
/// with gradients $\partial L/\partial z_i = w_i z_i/\sum w$ and
/// $\partial L/\partial(\text{log\_det}_i) = -w_i/\sum w$, which the flow
/// back-propagates through its layers.
///
/// ```
/// use darkprobe_nn::{loss::FlowNll, Matrix};
/// let z = Matrix::from_vec(1, 2, vec![0.0f64, 0.0]).unwrap();
/// let (mut gz, mut gl) = (Matrix::zeros(0, 0), Vec::new());
/// let nll = FlowNll.value_and_grad(&z, &[0.5], None, &mut gz, &mut gl).unwrap();
/// assert!((nll - ((2.0 * std::f64::consts::PI).ln() - 0.5)).abs() < 1e-12);
/// assert_eq!(gl, vec![-1.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlowNll;

impl FlowNll {
    /// $\ln p(x_i)$ for each sample.
    ///
    /// # Errors
    /// A shape error when `log_det` does not have one entry per row of `z`.
    pub fn ln_prob<T: Float>(&self, z: &Matrix<T>, log_det: &[T]) -> Result<Vec<f64>> {
        if log_det.len() != z.rows() {
            return Err(shape("flow log-determinants", z.rows(), log_det.len()));
        }
        let c = 0.5 * z.cols() as f64 * (2.0 * std::f64::consts::PI).ln();
        Ok((0..z.rows())
            .map(|i| {
                let sq: f64 = z.row(i).iter().map(|v| v.to_f64() * v.to_f64()).sum();
                -0.5 * sq - c + log_det[i].to_f64()
            })
            .collect())
    }

    /// The loss and its gradients with respect to `z` and `log_det`.
    ///
    /// # Errors
    /// Shape errors on mismatched lengths; an empty-input error for an empty
    /// batch; invalid-parameter errors for bad weights.
    pub fn value_and_grad<T: Float>(
        &self,
        z: &Matrix<T>,
        log_det: &[T],
        weights: Option<&[T]>,
        grad_z: &mut Matrix<T>,
        grad_log_det: &mut Vec<T>,
    ) -> Result<f64> {
        let s = self.eval(z, log_det, weights, Some((grad_z, grad_log_det)))?;
        Ok(s.mean())
    }

    /// $S = -\sum_i w_i\ln p(x_i)$ and $Z = \sum_i w_i$, with gradients when
    /// asked.
    ///
    /// # Errors
    /// As [`FlowNll::value_and_grad`].
    pub fn eval<T: Float>(
        &self,
        z: &Matrix<T>,
        log_det: &[T],
        weights: Option<&[T]>,
        grads: Option<(&mut Matrix<T>, &mut Vec<T>)>,
    ) -> Result<LossSum> {
        let n = z.rows();
        if n == 0 {
            return Err(
                darkprobe_core::Error::empty("flow batch", "pass at least one sample").into(),
            );
        }
        let lp = self.ln_prob(z, log_det)?;
        let wsum = check_inputs("flow nll", z, z, weights)?;
        let w = |i: usize| weights.map_or(1.0, |w| w[i].to_f64());
        let sum: f64 = lp.iter().enumerate().map(|(i, l)| -w(i) * l).sum();
        if let Some((gz, gl)) = grads {
            gz.resize(n, z.cols());
            gl.clear();
            for i in 0..n {
                let s = w(i) / wsum;
                for (g, &v) in gz.row_mut(i).iter_mut().zip(z.row(i)) {
                    *g = T::from_f64(s * v.to_f64());
                }
                gl.push(T::from_f64(-s));
            }
        }
        Ok(LossSum { sum, norm: wsum })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use darkprobe_core::numerics::poisson_ln_pmf_real;

    fn fd_check<L: Loss<f64>>(
        loss: &L,
        pred: &Matrix<f64>,
        target: &Matrix<f64>,
        w: Option<&[f64]>,
    ) {
        let mut g = Matrix::zeros(0, 0);
        loss.value_and_grad(pred, target, w, &mut g).unwrap();
        let h = 1e-6;
        for k in 0..pred.as_slice().len() {
            let mut p = pred.clone();
            p.as_mut_slice()[k] += h;
            let lp = loss.value(&p, target, w).unwrap();
            p.as_mut_slice()[k] -= 2.0 * h;
            let lm = loss.value(&p, target, w).unwrap();
            let num = (lp - lm) / (2.0 * h);
            assert!(
                (num - g.as_slice()[k]).abs() < 1e-7,
                "{} element {k}: {num} vs {}",
                loss.name(),
                g.as_slice()[k]
            );
        }
    }

    fn data() -> (Matrix<f64>, Matrix<f64>, Vec<f64>) {
        let p = Matrix::from_fn(4, 3, |i, j| 0.3 * i as f64 - 0.45 * j as f64 + 0.13);
        let t = Matrix::from_fn(4, 3, |i, j| ((i * 3 + j) % 4) as f64);
        (p, t, vec![0.5, 2.0, 1.0, 0.25])
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (p, t, w) = data();
        for weights in [None, Some(w.as_slice())] {
            fd_check(&Mse, &p, &t, weights);
            fd_check(&WeightedMae::default(), &p, &t, weights);
            fd_check(
                &WeightedMae {
                    norm: MaeNorm::Count,
                },
                &p,
                &t,
                weights,
            );
            fd_check(&PoissonNll::default(), &p, &t, weights);
            fd_check(
                &PoissonNll {
                    full: true,
                    ..Default::default()
                },
                &p,
                &t,
                weights,
            );
            let rates = Matrix::from_fn(4, 3, |i, j| 0.5 + 0.3 * (i + j) as f64);
            fd_check(
                &PoissonNll {
                    log_input: false,
                    ..Default::default()
                },
                &rates,
                &t,
                weights,
            );
        }
    }

    #[test]
    fn values_match_hand_computation() {
        let (p, t, w) = data();
        let mut s_mse = 0.0;
        let mut s_mae = 0.0;
        for (i, wi) in w.iter().enumerate() {
            for j in 0..3 {
                let r = p.get(i, j) - t.get(i, j);
                s_mse += wi * r * r;
                s_mae += wi * r.abs();
            }
        }
        let wsum: f64 = w.iter().sum();
        assert!((Mse.value(&p, &t, Some(&w)).unwrap() - s_mse / (3.0 * wsum)).abs() < 1e-14);
        assert!(
            (WeightedMae::default().value(&p, &t, Some(&w)).unwrap() - s_mae / (3.0 * wsum)).abs()
                < 1e-14
        );
        assert!(
            (WeightedMae {
                norm: MaeNorm::Count
            }
            .value(&p, &t, Some(&w))
            .unwrap()
                - s_mae / 12.0)
                .abs()
                < 1e-14
        );
        // The full Poisson NLL is minus the log pmf from darkprobe-core.
        let full = PoissonNll {
            full: true,
            ..Default::default()
        };
        let mut want = 0.0;
        for i in 0..4 {
            for j in 0..3 {
                want -= poisson_ln_pmf_real(t.get(i, j), p.get(i, j).exp());
            }
        }
        assert!((full.value(&p, &t, None).unwrap() - want / 12.0).abs() < 1e-12);
    }

    #[test]
    fn flow_nll_matches_normal_density_and_finite_differences() {
        let z = Matrix::from_fn(3, 2, |i, j| 0.4 * i as f64 - 0.7 * j as f64);
        let ld = [0.1, -0.3, 0.8];
        let w = [1.0, 2.0, 0.5];
        let lp = FlowNll.ln_prob(&z, &ld).unwrap();
        for i in 0..3 {
            let want: f64 = (0..2)
                .map(|j| darkprobe_core::numerics::normal_ln_pdf(z.get(i, j), 0.0, 1.0))
                .sum::<f64>()
                + ld[i];
            assert!((lp[i] - want).abs() < 1e-12);
        }
        let (mut gz, mut gl) = (Matrix::zeros(0, 0), Vec::new());
        let v = FlowNll
            .value_and_grad(&z, &ld, Some(&w), &mut gz, &mut gl)
            .unwrap();
        let h = 1e-6;
        let f = |z: &Matrix<f64>, ld: &[f64]| {
            let (mut a, mut b) = (Matrix::zeros(0, 0), Vec::new());
            FlowNll
                .value_and_grad(z, ld, Some(&w), &mut a, &mut b)
                .unwrap()
        };
        for k in 0..6 {
            let mut zp = z.clone();
            zp.as_mut_slice()[k] += h;
            let mut zm = z.clone();
            zm.as_mut_slice()[k] -= h;
            let num = (f(&zp, &ld) - f(&zm, &ld)) / (2.0 * h);
            assert!((num - gz.as_slice()[k]).abs() < 1e-8);
        }
        for i in 0..3 {
            let mut lpd = ld;
            lpd[i] += h;
            let num = (f(&z, &lpd) - v) / h;
            assert!((num - gl[i]).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_inputs_are_reported() {
        let (p, t, _) = data();
        let short = Matrix::zeros(3, 3);
        assert!(Mse.value(&p, &short, None).is_err());
        assert!(Mse.value(&p, &t, Some(&[1.0, 1.0])).is_err());
        let e = Mse.value(&p, &t, Some(&[1.0, -1.0, 1.0, 1.0])).unwrap_err();
        assert!(e.to_string().contains("weight[1]"), "{e}");
        assert!(Mse.value(&p, &t, Some(&[0.0; 4])).is_err());
        let mut bad = t.clone();
        bad.set(2, 1, f64::NAN);
        let e = Mse.value(&p, &bad, None).unwrap_err();
        assert!(e.to_string().contains("row 2, column 1"), "{e}");
        let mut neg = t.clone();
        neg.set(0, 0, -1.0);
        assert!(PoissonNll::default().value(&p, &neg, None).is_err());
        let rate_loss = PoissonNll {
            log_input: false,
            ..Default::default()
        };
        assert!(rate_loss.value(&p, &t, None).is_err()); // p has negative rates
        let empty = Matrix::<f64>::zeros(0, 3);
        assert!(Mse.value(&empty, &empty, None).is_err());
        assert!(FlowNll.ln_prob(&p, &[0.0]).is_err());
    }
}
