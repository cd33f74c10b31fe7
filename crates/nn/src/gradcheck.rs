//! Finite-difference checks of a layer's gradients, in `f64`.
//!
//! For a fixed random weighting $R$ of the outputs, the scalar
//! $L(\theta, X) = \sum_{ij} R_{ij}\, Y_{ij}(\theta, X)$ has
//! $\partial L/\partial Y = R$, so one `backward` with $\bar Y = R$ gives
//! $\partial L/\partial\theta$ and $\partial L/\partial X$. Each entry is
//! compared with the central difference
//! $(L(\cdot + h) - L(\cdot - h))/2h$, whose error is $O(h^2)$.
//! Downstream crates use this to test their own layers.
//!
//! ```
//! use darkprobe_nn::gradcheck::check_layer;
//! use darkprobe_nn::{Ctx, Matrix, Tanh};
//! let x = Matrix::from_fn(3, 2, |i, j| 0.3 * i as f64 - 0.2 * j as f64);
//! let report = check_layer(&mut Tanh, &x, &Ctx::eval(), 1e-5, 1).unwrap();
//! assert!(report.max_input_error < 1e-8, "{report:?}");
//! ```

use crate::error::Result;
use crate::exec::Ctx;
use crate::layer::Layer;
use crate::matrix::Matrix;
use darkprobe_core::rng::rng_from_seed;
use rand::Rng;

/// The outcome of [`check_layer`].
///
/// Errors are $|a - n| / \max(1, |n|)$ for analytic value $a$ and finite
/// difference $n$: absolute for small gradients, relative for large ones.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheck {
    /// Largest error over all parameters (0 without parameters).
    pub max_param_error: f64,
    /// Largest error over all inputs.
    pub max_input_error: f64,
    /// Number of parameter entries checked.
    pub n_params: usize,
    /// Description of the worst entry.
    pub worst: String,
}

fn loss(
    layer: &mut dyn Layer<f64>,
    x: &Matrix<f64>,
    r: &Matrix<f64>,
    ctx: &Ctx,
    y: &mut Matrix<f64>,
) -> Result<f64> {
    layer.forward(x, y, ctx)?;
    Ok(y.as_slice()
        .iter()
        .zip(r.as_slice())
        .map(|(a, b)| a * b)
        .sum())
}

fn set_param(layer: &mut dyn Layer<f64>, index: usize, value: f64) -> f64 {
    let mut off = 0;
    let mut old = 0.0;
    layer.visit_params_mut(&mut |p| {
        let len = p.value.len();
        if index >= off && index < off + len {
            old = p.value[index - off];
            p.value[index - off] = value;
        }
        off += len;
    });
    old
}

/// Compares `layer`'s analytic parameter and input gradients at `x` with
/// central differences of step `h`; the output weighting is drawn from `seed`.
///
/// The layer's existing gradients are cleared. Non-smooth layers (ReLU,
/// PReLU) must be checked at inputs farther than `h` from their kinks.
///
/// # Errors
/// Any error of the layer's `forward` or `backward`.
pub fn check_layer(
    layer: &mut dyn Layer<f64>,
    x: &Matrix<f64>,
    ctx: &Ctx,
    h: f64,
    seed: u64,
) -> Result<GradCheck> {
    let mut y = Matrix::zeros(0, 0);
    layer.forward(x, &mut y, ctx)?;
    let mut rng = rng_from_seed(seed);
    let r = Matrix::from_fn(y.rows(), y.cols(), |_, _| rng.random_range(-1.0..1.0));
    layer.zero_grad();
    let mut dx = Matrix::zeros(0, 0);
    let ctx_grad = Ctx {
        param_grads: true,
        ..*ctx
    };
    layer.backward(x, &y, &r, Some(&mut dx), &ctx_grad)?;
    let grads = layer.flat_grads();
    let params = layer.flat_params();

    let err = |a: f64, n: f64| (a - n).abs() / n.abs().max(1.0);
    let mut worst = String::new();
    let mut max_param_error: f64 = 0.0;
    let mut buf = Matrix::zeros(0, 0);
    for (p, &p0) in params.iter().enumerate() {
        set_param(layer, p, p0 + h);
        let lp = loss(layer, x, &r, ctx, &mut buf)?;
        set_param(layer, p, p0 - h);
        let lm = loss(layer, x, &r, ctx, &mut buf)?;
        set_param(layer, p, p0);
        let num = (lp - lm) / (2.0 * h);
        let e = err(grads[p], num);
        if e > max_param_error {
            max_param_error = e;
            worst = format!("parameter {p}: analytic {} vs numeric {num}", grads[p]);
        }
    }
    let mut max_input_error: f64 = 0.0;
    let mut xp = x.clone();
    for k in 0..x.as_slice().len() {
        let x0 = x.as_slice()[k];
        xp.as_mut_slice()[k] = x0 + h;
        let lp = loss(layer, &xp, &r, ctx, &mut buf)?;
        xp.as_mut_slice()[k] = x0 - h;
        let lm = loss(layer, &xp, &r, ctx, &mut buf)?;
        xp.as_mut_slice()[k] = x0;
        let num = (lp - lm) / (2.0 * h);
        let e = err(dx.as_slice()[k], num);
        if e > max_input_error.max(max_param_error) {
            worst = format!("input {k}: analytic {} vs numeric {num}", dx.as_slice()[k]);
        }
        max_input_error = max_input_error.max(e);
    }
    Ok(GradCheck {
        max_param_error,
        max_input_error,
        n_params: params.len(),
        worst,
    })
}
