//! Optimisers, gradient clipping and learning-rate schedules.
//!
//! An optimiser reads the gradients accumulated in a [`Parameters`] value and
//! updates the parameters in place. Its per-tensor state (moments, momentum)
//! is matched to the tensors by visiting order and checked by length, so one
//! optimiser serves a single network or a whole list of networks (as a flow's
//! layers). States serialise ([`OptimizerState`]) for checkpoints.

mod clip;
mod schedule;

pub use clip::{clip_grad_norm, clip_grad_value, grad_norm, GradClip};
pub use schedule::LrSchedule;

use crate::error::{invalid, NnError, Result};
use crate::float::Float;
use crate::layer::Parameters;

/// Updates parameters from their gradients.
pub trait Optimizer<T: Float>: Send {
    /// One update of every parameter tensor from its current gradient.
    ///
    /// # Errors
    /// A checkpoint-mismatch error when the tensors differ (in number or
    /// length) from those of the previous steps.
    fn step(&mut self, params: &mut dyn Parameters<T>) -> Result<()>;
    /// Current learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (schedules call this).
    ///
    /// # Errors
    /// An invalid-parameter error unless `lr` is finite and > 0.
    fn set_learning_rate(&mut self, lr: f64) -> Result<()>;
    /// Number of steps taken.
    fn steps(&self) -> u64;
    /// A serialisable copy of the configuration and state.
    fn state(&self) -> OptimizerState<T>;
    /// Restores a state saved by [`Optimizer::state`].
    ///
    /// # Errors
    /// A checkpoint-mismatch error for a state of another optimiser kind.
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()>;
}

/// The saved configuration and state of an optimiser.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[serde(bound = "T: Float")]
pub enum OptimizerState<T> {
    /// [`Sgd`].
    Sgd(Sgd<T>),
    /// [`Adam`] (also AdamW).
    Adam(Adam<T>),
    /// [`Lamb`].
    Lamb(Lamb<T>),
}

impl<T: Float> OptimizerState<T> {
    /// Visits every state tensor in a fixed order (binary checkpoints).
    pub(crate) fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(&mut Vec<T>)) {
        let lists: Vec<&mut Vec<Vec<T>>> = match self {
            OptimizerState::Sgd(s) => vec![&mut s.velocity],
            OptimizerState::Adam(a) => vec![&mut a.m, &mut a.v],
            OptimizerState::Lamb(l) => vec![&mut l.m, &mut l.v],
        };
        for list in lists {
            for t in list.iter_mut() {
                f(t);
            }
        }
    }
}

/// Zero for subnormal values: moments of parameters whose gradient has
/// vanished decay geometrically and would otherwise end up subnormal, where
/// x86 arithmetic is some hundred times slower. The change is below
/// `T::MIN_POSITIVE` in the moment and has no effect on the update.
#[inline(always)]
fn flush<T: Float>(x: T) -> T {
    if x.abs() < T::MIN_POSITIVE {
        T::ZERO
    } else {
        x
    }
}

fn check_lr(lr: f64) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(invalid("learning rate", lr, "finite and > 0"));
    }
    Ok(())
}

fn check_unit(name: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        return Err(invalid(name, v, "in [0, 1)"));
    }
    Ok(())
}

fn check_nonneg(name: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(invalid(name, v, "finite and >= 0"));
    }
    Ok(())
}

/// Makes `state` hold one zero tensor per parameter tensor on the first step,
/// and checks the lengths afterwards.
fn prepare_state<T: Float>(state: &mut Vec<Vec<T>>, params: &dyn Parameters<T>) -> Result<()> {
    let mut lens = Vec::new();
    params.visit_params(&mut |p| lens.push(p.value.len()));
    if state.is_empty() {
        *state = lens.iter().map(|&n| vec![T::ZERO; n]).collect();
        return Ok(());
    }
    if state.len() != lens.len() || state.iter().zip(&lens).any(|(s, &n)| s.len() != n) {
        return Err(NnError::Checkpoint(format!(
            "optimiser state has {} tensors of lengths {:?}, the parameters have {} of lengths {:?}",
            state.len(),
            state.iter().map(Vec::len).collect::<Vec<_>>(),
            lens.len(),
            lens
        )));
    }
    Ok(())
}

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight
/// decay (PyTorch's `SGD` without dampening):
/// $$g \leftarrow g + \lambda\theta,\quad b \leftarrow \mu b + g,\quad
///   \theta \leftarrow \theta - \eta\,(g + \mu b \text{ if Nesterov, else } b).$$
///
/// ```
/// use darkprobe_nn::{optim::{Optimizer, Sgd}, Dense, Parameters};
/// let mut d = Dense::<f64>::from_params(1, 1, vec![1.0], vec![0.0]).unwrap();
/// d.visit_params_mut(&mut |p| p.grad.fill(0.5));
/// let mut sgd = Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap();
/// sgd.step(&mut d).unwrap();
/// sgd.step(&mut d).unwrap(); // b = 0.5, then 0.9·0.5 + 0.5 = 0.95
/// assert!((d.weight()[0] - (1.0 - 0.1 * (0.5 + 0.95))).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct Sgd<T> {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    steps: u64,
    velocity: Vec<Vec<T>>,
}

impl<T: Float> Sgd<T> {
    /// Plain SGD with learning rate `lr`.
    ///
    /// # Errors
    /// An invalid-parameter error unless `lr` is finite and > 0.
    pub fn new(lr: f64) -> Result<Self> {
        check_lr(lr)?;
        Ok(Self {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            steps: 0,
            velocity: Vec::new(),
        })
    }
    /// Momentum $\mu \in [0, 1)$.
    ///
    /// # Errors
    /// An invalid-parameter error outside $[0,1)$.
    pub fn with_momentum(mut self, momentum: f64) -> Result<Self> {
        check_unit("momentum", momentum)?;
        self.momentum = momentum;
        Ok(self)
    }
    /// Nesterov momentum on or off.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// L2 weight decay $\lambda \ge 0$.
    ///
    /// # Errors
    /// An invalid-parameter error for a negative or non-finite value.
    pub fn with_weight_decay(mut self, wd: f64) -> Result<Self> {
        check_nonneg("weight decay", wd)?;
        self.weight_decay = wd;
        Ok(self)
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut dyn Parameters<T>) -> Result<()> {
        prepare_state(&mut self.velocity, params)?;
        let (lr, mu, wd, nesterov) = (
            T::from_f64(self.lr),
            T::from_f64(self.momentum),
            T::from_f64(self.weight_decay),
            self.nesterov,
        );
        let use_momentum = self.momentum > 0.0;
        let mut k = 0;
        let vel = &mut self.velocity;
        params.visit_params_mut(&mut |p| {
            let b = &mut vel[k];
            for ((w, &g0), bi) in p.value.iter_mut().zip(p.grad.iter()).zip(b.iter_mut()) {
                let g = g0 + wd * *w;
                let d = if use_momentum {
                    *bi = flush(mu * *bi + g);
                    if nesterov {
                        g + mu * *bi
                    } else {
                        *bi
                    }
                } else {
                    g
                };
                *w -= lr * d;
            }
            k += 1;
        });
        self.steps += 1;
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.lr = lr;
        Ok(())
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn state(&self) -> OptimizerState<T> {
        OptimizerState::Sgd(self.clone())
    }
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()> {
        match state {
            OptimizerState::Sgd(s) => {
                *self = s.clone();
                Ok(())
            }
            other => Err(NnError::Checkpoint(format!(
                "cannot load a {} state into SGD",
                kind_name(other)
            ))),
        }
    }
}

fn kind_name<T>(s: &OptimizerState<T>) -> &'static str {
    match s {
        OptimizerState::Sgd(_) => "SGD",
        OptimizerState::Adam(_) => "Adam",
        OptimizerState::Lamb(_) => "LAMB",
    }
}

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019).
///
/// At step $t$, with gradient $g$ (plus $\lambda\theta$ for Adam's L2 decay):
/// $$m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
///   \hat m = \frac{m}{1-\beta_1^t},\quad \hat v = \frac{v}{1-\beta_2^t},\quad
///   \theta \leftarrow \theta - \eta\frac{\hat m}{\sqrt{\hat v} + \epsilon}.$$
/// AdamW instead decays the weights directly, $\theta \leftarrow
/// \theta(1-\eta\lambda)$, before the Adam update. Defaults: $\beta_1 = 0.9$,
/// $\beta_2 = 0.999$, $\epsilon = 10^{-8}$, as PyTorch.
///
/// ```
/// use darkprobe_nn::{optim::{Adam, Optimizer}, Dense};
/// use darkprobe_nn::Parameters;
/// let mut d = Dense::<f64>::from_params(1, 1, vec![1.0], vec![0.0]).unwrap();
/// d.visit_params_mut(&mut |p| p.grad.fill(0.3));
/// let mut adam = Adam::new(0.01).unwrap();
/// adam.step(&mut d).unwrap();
/// // The first Adam step moves every parameter by about lr·sign(g).
/// assert!((d.weight()[0] - (1.0 - 0.01 * 0.3 / (0.3 + 1e-8))).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct Adam<T> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    steps: u64,
    m: Vec<Vec<T>>,
    v: Vec<Vec<T>>,
}

impl<T: Float> Adam<T> {
    /// Adam with learning rate `lr` and PyTorch's defaults.
    ///
    /// # Errors
    /// An invalid-parameter error unless `lr` is finite and > 0.
    pub fn new(lr: f64) -> Result<Self> {
        check_lr(lr)?;
        Ok(Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            steps: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }
    /// AdamW: decoupled weight decay $\lambda$ (PyTorch's default is 0.01).
    ///
    /// # Errors
    /// As [`Adam::new`], plus a negative or non-finite `weight_decay`.
    pub fn adamw(lr: f64, weight_decay: f64) -> Result<Self> {
        check_nonneg("weight decay", weight_decay)?;
        let mut a = Self::new(lr)?;
        a.weight_decay = weight_decay;
        a.decoupled = true;
        Ok(a)
    }
    /// Moment decay rates.
    ///
    /// # Errors
    /// An invalid-parameter error outside $[0,1)$.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Result<Self> {
        check_unit("beta1", beta1)?;
        check_unit("beta2", beta2)?;
        self.beta1 = beta1;
        self.beta2 = beta2;
        Ok(self)
    }
    /// Denominator offset $\epsilon > 0$.
    ///
    /// # Errors
    /// An invalid-parameter error unless finite and > 0.
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(invalid("eps", eps, "finite and > 0"));
        }
        self.eps = eps;
        Ok(self)
    }
    /// L2 weight decay added to the gradient (Adam) — for AdamW use
    /// [`Adam::adamw`].
    ///
    /// # Errors
    /// An invalid-parameter error for a negative or non-finite value.
    pub fn with_weight_decay(mut self, wd: f64) -> Result<Self> {
        check_nonneg("weight decay", wd)?;
        self.weight_decay = wd;
        Ok(self)
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    fn step(&mut self, params: &mut dyn Parameters<T>) -> Result<()> {
        prepare_state(&mut self.m, params)?;
        prepare_state(&mut self.v, params)?;
        self.steps += 1;
        let t = self.steps as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let (b1, b2) = (T::from_f64(self.beta1), T::from_f64(self.beta2));
        let (ob1, ob2) = (T::from_f64(1.0 - self.beta1), T::from_f64(1.0 - self.beta2));
        let step_size = T::from_f64(self.lr / bc1);
        let inv_sqrt_bc2 = T::from_f64(1.0 / bc2.sqrt());
        let eps = T::from_f64(self.eps);
        let wd = T::from_f64(self.weight_decay);
        let decay = T::from_f64(1.0 - self.lr * self.weight_decay);
        let decoupled = self.decoupled;
        let (ms, vs) = (&mut self.m, &mut self.v);
        let mut k = 0;
        params.visit_params_mut(&mut |p| {
            for (((w, &g0), m), v) in p
                .value
                .iter_mut()
                .zip(p.grad.iter())
                .zip(ms[k].iter_mut())
                .zip(vs[k].iter_mut())
            {
                let g = if decoupled {
                    *w *= decay;
                    g0
                } else {
                    g0 + wd * *w
                };
                *m = flush(b1 * *m + ob1 * g);
                *v = flush(b2 * *v + ob2 * g * g);
                *w -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
            }
            k += 1;
        });
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.lr = lr;
        Ok(())
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn state(&self) -> OptimizerState<T> {
        OptimizerState::Adam(self.clone())
    }
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()> {
        match state {
            OptimizerState::Adam(s) => {
                *self = s.clone();
                Ok(())
            }
            other => Err(NnError::Checkpoint(format!(
                "cannot load a {} state into Adam",
                kind_name(other)
            ))),
        }
    }
}

/// LAMB (You et al. 2020, arXiv:1904.00962, Algorithm 2): Adam's direction
/// with a layer-wise trust ratio. For each parameter tensor $\theta$ at step
/// $t$:
/// $$r = \frac{\hat m}{\sqrt{\hat v}+\epsilon} + \lambda\theta,\qquad
///   \theta \leftarrow \theta - \eta\,\frac{\phi(\lVert\theta\rVert)}{\lVert r\rVert}\, r,$$
/// with $\hat m, \hat v$ as in [`Adam`] (bias correction can be turned off),
/// $\phi(z) = \min(z, \phi_\text{max})$ (no clamp by default), and a ratio of 1
/// when $\lVert\theta\rVert$ or $\lVert r\rVert$ is zero. Norms are Euclidean over
/// the tensor, computed in `f64`. Defaults: $\beta_1 = 0.9$,
/// $\beta_2 = 0.999$, $\epsilon = 10^{-6}$, $\lambda = 0.01$.
///
/// ```
/// use darkprobe_nn::{optim::{Lamb, Optimizer}, Dense, Parameters};
/// let mut d = Dense::<f64>::from_params(2, 1, vec![3.0, 4.0], vec![0.0]).unwrap();
/// d.visit_params_mut(&mut |p| p.grad.fill(1.0));
/// let mut lamb = Lamb::new(0.1).unwrap().with_weight_decay(0.0).unwrap();
/// lamb.step(&mut d).unwrap();
/// // r ≈ (1, 1), trust ratio ‖θ‖/‖r‖ = 5/√2: each weight moves by 0.1·5/√2.
/// let step = 0.1 * 5.0 / 2f64.sqrt();
/// assert!((d.weight()[0] - (3.0 - step)).abs() < 1e-5);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct Lamb<T> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    bias_correction: bool,
    max_trust_norm: Option<f64>,
    steps: u64,
    m: Vec<Vec<T>>,
    v: Vec<Vec<T>>,
}

impl<T: Float> Lamb<T> {
    /// LAMB with learning rate `lr` and the defaults above.
    ///
    /// # Errors
    /// An invalid-parameter error unless `lr` is finite and > 0.
    pub fn new(lr: f64) -> Result<Self> {
        check_lr(lr)?;
        Ok(Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: true,
            max_trust_norm: None,
            steps: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }
    /// Moment decay rates.
    ///
    /// # Errors
    /// An invalid-parameter error outside $[0,1)$.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Result<Self> {
        check_unit("beta1", beta1)?;
        check_unit("beta2", beta2)?;
        self.beta1 = beta1;
        self.beta2 = beta2;
        Ok(self)
    }
    /// Denominator offset $\epsilon > 0$.
    ///
    /// # Errors
    /// An invalid-parameter error unless finite and > 0.
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(invalid("eps", eps, "finite and > 0"));
        }
        self.eps = eps;
        Ok(self)
    }
    /// Weight decay $\lambda \ge 0$ inside the trust-ratio update.
    ///
    /// # Errors
    /// An invalid-parameter error for a negative or non-finite value.
    pub fn with_weight_decay(mut self, wd: f64) -> Result<Self> {
        check_nonneg("weight decay", wd)?;
        self.weight_decay = wd;
        Ok(self)
    }
    /// Bias correction of the moments on or off.
    pub fn with_bias_correction(mut self, on: bool) -> Self {
        self.bias_correction = on;
        self
    }
    /// Clamp $\phi(\lVert\theta\rVert) = \min(\lVert\theta\rVert, \phi_\text{max})$.
    ///
    /// # Errors
    /// An invalid-parameter error unless finite and > 0.
    pub fn with_max_trust_norm(mut self, max: f64) -> Result<Self> {
        if !(max.is_finite() && max > 0.0) {
            return Err(invalid("max trust norm", max, "finite and > 0"));
        }
        self.max_trust_norm = Some(max);
        Ok(self)
    }
}

impl<T: Float> Optimizer<T> for Lamb<T> {
    fn step(&mut self, params: &mut dyn Parameters<T>) -> Result<()> {
        prepare_state(&mut self.m, params)?;
        prepare_state(&mut self.v, params)?;
        self.steps += 1;
        let t = self.steps as i32;
        let (bc1, bc2) = if self.bias_correction {
            (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t))
        } else {
            (1.0, 1.0)
        };
        let (b1, b2) = (self.beta1, self.beta2);
        let (eps, wd, lr, max_trust) = (self.eps, self.weight_decay, self.lr, self.max_trust_norm);
        let (ms, vs) = (&mut self.m, &mut self.v);
        let mut k = 0;
        let mut r: Vec<f64> = Vec::new();
        params.visit_params_mut(&mut |p| {
            let (m, v) = (&mut ms[k], &mut vs[k]);
            r.clear();
            let mut w_sq = 0.0;
            let mut r_sq = 0.0;
            for (((w, &g), mi), vi) in p
                .value
                .iter()
                .zip(p.grad.iter())
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                let (g, w) = (g.to_f64(), w.to_f64());
                let mn = b1 * mi.to_f64() + (1.0 - b1) * g;
                let vn = b2 * vi.to_f64() + (1.0 - b2) * g * g;
                *mi = flush(T::from_f64(mn));
                *vi = flush(T::from_f64(vn));
                let ri = (mn / bc1) / ((vn / bc2).sqrt() + eps) + wd * w;
                w_sq += w * w;
                r_sq += ri * ri;
                r.push(ri);
            }
            let w_norm = w_sq.sqrt();
            let phi = max_trust.map_or(w_norm, |c| w_norm.min(c));
            let r_norm = r_sq.sqrt();
            let ratio = if phi > 0.0 && r_norm > 0.0 {
                phi / r_norm
            } else {
                1.0
            };
            for (w, ri) in p.value.iter_mut().zip(&r) {
                *w = T::from_f64(w.to_f64() - lr * ratio * ri);
            }
            k += 1;
        });
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.lr = lr;
        Ok(())
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn state(&self) -> OptimizerState<T> {
        OptimizerState::Lamb(self.clone())
    }
    fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()> {
        match state {
            OptimizerState::Lamb(s) => {
                *self = s.clone();
                Ok(())
            }
            other => Err(NnError::Checkpoint(format!(
                "cannot load a {} state into LAMB",
                kind_name(other)
            ))),
        }
    }
}

/// Builds an optimiser from a saved state.
pub fn optimizer_from_state<T: Float>(state: &OptimizerState<T>) -> Box<dyn Optimizer<T>> {
    match state {
        OptimizerState::Sgd(s) => Box::new(s.clone()),
        OptimizerState::Adam(a) => Box::new(a.clone()),
        OptimizerState::Lamb(l) => Box::new(l.clone()),
    }
}

#[cfg(test)]
mod tests;
