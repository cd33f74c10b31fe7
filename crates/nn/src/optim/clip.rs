//! Gradient clipping.

use crate::error::{invalid, Result};
use crate::float::Float;
use crate::layer::Parameters;

/// The Euclidean norm of all gradients together, $\lVert g\rVert_2$, in `f64`.
///
/// ```
/// use darkprobe_nn::{optim::grad_norm, Dense, Parameters};
/// let mut d = Dense::<f64>::zeros(1, 1).unwrap();
/// d.visit_params_mut(&mut |p| p.grad.fill(if p.name == "weight" { 3.0 } else { 4.0 }));
/// assert_eq!(grad_norm(&d), 5.0);
/// ```
pub fn grad_norm<T: Float>(params: &dyn Parameters<T>) -> f64 {
    let mut s = 0.0;
    params.visit_params(&mut |p| {
        s += p.grad.iter().map(|g| g.to_f64() * g.to_f64()).sum::<f64>();
    });
    s.sqrt()
}

/// Scales all gradients by $c/(\lVert g\rVert + 10^{-6})$ when
/// $\lVert g\rVert > c$ (PyTorch's `clip_grad_norm_`); returns the norm before
/// clipping.
///
/// # Errors
/// An invalid-parameter error unless `max_norm` is finite and > 0.
pub fn clip_grad_norm<T: Float>(params: &mut dyn Parameters<T>, max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(invalid("max gradient norm", max_norm, "finite and > 0"));
    }
    let norm = grad_norm(params);
    if norm > max_norm {
        let s = T::from_f64(max_norm / (norm + 1e-6));
        params.visit_params_mut(&mut |p| p.grad.iter_mut().for_each(|g| *g *= s));
    }
    Ok(norm)
}

/// Clamps every gradient entry to $[-c, c]$.
///
/// # Errors
/// An invalid-parameter error unless `clip` is finite and > 0.
pub fn clip_grad_value<T: Float>(params: &mut dyn Parameters<T>, clip: f64) -> Result<()> {
    if !(clip.is_finite() && clip > 0.0) {
        return Err(invalid("gradient clip value", clip, "finite and > 0"));
    }
    let c = T::from_f64(clip);
    params.visit_params_mut(&mut |p| p.grad.iter_mut().for_each(|g| *g = g.max(-c).min(c)));
    Ok(())
}

/// A clipping rule applied before each optimiser step.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GradClip {
    /// [`clip_grad_norm`] with this maximum norm.
    Norm(f64),
    /// [`clip_grad_value`] with this bound.
    Value(f64),
}

impl GradClip {
    /// Applies the rule; returns the gradient norm before clipping.
    ///
    /// # Errors
    /// An invalid-parameter error for a bound that is not finite and > 0.
    pub fn apply<T: Float>(&self, params: &mut dyn Parameters<T>) -> Result<f64> {
        match *self {
            GradClip::Norm(c) => clip_grad_norm(params, c),
            GradClip::Value(c) => {
                let n = grad_norm(params);
                clip_grad_value(params, c)?;
                Ok(n)
            }
        }
    }
}
