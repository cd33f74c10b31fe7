//! Element-wise activations: [`Relu`], [`PRelu`], [`Tanh`], [`Elu`], [`Softplus`].
//!
//! Each maps $y_{ij} = \phi(x_{ij})$ and back-propagates
//! $\bar x_{ij} = \bar y_{ij}\,\phi'(x_{ij})$, with $\phi'$ written in terms
//! of whichever of $x$ and $y$ is cheaper.

use crate::error::{invalid, shape, Result};
use crate::exec::{
    add_block_sums, ensure_len, for_blocks, for_blocks_scratch_only, n_blocks, Ctx, Par,
};
use crate::float::Float;
use crate::layer::{Layer, LayerSpec, ParamMut, ParamRef, Parameters};
use crate::matrix::Matrix;

/// `y = f(x)` element-wise, over row blocks.
fn map_forward<T: Float>(
    par: Par,
    x: &Matrix<T>,
    y: &mut Matrix<T>,
    f: impl Fn(T) -> T + Sync + Send,
) {
    let (n, d) = x.shape();
    y.resize(n, d);
    let xs = x.as_slice();
    for_blocks(par, n, y.as_mut_slice(), d, |_, r0, r1, yb| {
        for (o, &i) in yb.iter_mut().zip(&xs[r0 * d..r1 * d]) {
            *o = f(i);
        }
    });
}

/// Checks that `y` and `dy` have the shape of `x`.
fn check_backward<T: Float>(
    kind: &str,
    x: &Matrix<T>,
    y: &Matrix<T>,
    dy: &Matrix<T>,
) -> Result<()> {
    let (n, d) = x.shape();
    y.expect_shape(&format!("{kind} output"), n, d)?;
    dy.expect_shape(&format!("{kind} output gradient"), n, d)?;
    Ok(())
}

/// `dx = g(x, y, dy)` element-wise, over row blocks.
fn map_backward<T: Float>(
    par: Par,
    x: &Matrix<T>,
    y: &Matrix<T>,
    dy: &Matrix<T>,
    dx: &mut Matrix<T>,
    g: impl Fn(T, T, T) -> T + Sync + Send,
) {
    let (n, d) = x.shape();
    dx.resize(n, d);
    let (xs, ys, dys) = (x.as_slice(), y.as_slice(), dy.as_slice());
    for_blocks(par, n, dx.as_mut_slice(), d, |_, r0, r1, db| {
        let range = r0 * d..r1 * d;
        for (((o, &xi), &yi), &gi) in db
            .iter_mut()
            .zip(&xs[range.clone()])
            .zip(&ys[range.clone()])
            .zip(&dys[range])
        {
            *o = g(xi, yi, gi);
        }
    });
}

macro_rules! no_params {
    ($t:ty) => {
        impl<T: Float> Parameters<T> for $t {
            fn visit_params(&self, _f: &mut dyn FnMut(ParamRef<'_, T>)) {}
            fn visit_params_mut(&mut self, _f: &mut dyn FnMut(ParamMut<'_, T>)) {}
        }
    };
}

/// Rectified linear unit: $y = \max(0, x)$, $\phi'(x) = \mathbb 1(x > 0)$.
///
/// ```
/// use darkprobe_nn::{Ctx, Layer, Matrix, Relu};
/// let x = Matrix::from_vec(1, 3, vec![-1.0f32, 0.0, 2.0]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// Relu.forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert_eq!(y.as_slice(), &[0.0, 0.0, 2.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Relu;
no_params!(Relu);

impl<T: Float> Layer<T> for Relu {
    fn kind(&self) -> &'static str {
        "relu"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        map_forward(ctx.par, x, y, |v| if v > T::ZERO { v } else { T::ZERO });
        Ok(())
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        check_backward("relu", x, y, dy)?;
        if let Some(dx) = dx {
            map_backward(ctx.par, x, y, dy, dx, |xi, _, g| {
                if xi > T::ZERO {
                    g
                } else {
                    T::ZERO
                }
            });
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Relu
    }
}

/// Hyperbolic tangent: $y = \tanh x$, $\phi'(x) = 1 - y^2$.
///
/// ```
/// use darkprobe_nn::{Ctx, Layer, Matrix, Tanh};
/// let x = Matrix::from_vec(1, 1, vec![0.5f64]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// Tanh.forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert!((y.get(0, 0) - 0.5f64.tanh()).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tanh;
no_params!(Tanh);

impl<T: Float> Layer<T> for Tanh {
    fn kind(&self) -> &'static str {
        "tanh"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        map_forward(ctx.par, x, y, |v| v.tanh());
        Ok(())
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        check_backward("tanh", x, y, dy)?;
        if let Some(dx) = dx {
            map_backward(ctx.par, x, y, dy, dx, |_, yi, g| g * (T::ONE - yi * yi));
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Tanh
    }
}

/// Exponential linear unit (Clevert, Unterthiner & Hochreiter 2016,
/// arXiv:1511.07289): $y = x$ for $x > 0$, else $\alpha(e^x - 1)$;
/// $\phi'(x) = 1$ for $x>0$, else $y + \alpha$.
///
/// ```
/// use darkprobe_nn::{Ctx, Elu, Layer, Matrix};
/// let x = Matrix::from_vec(1, 2, vec![-1.0f64, 2.0]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// Elu::new(1.0).unwrap().forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert!((y.get(0, 0) - ((-1.0f64).exp() - 1.0)).abs() < 1e-15);
/// assert_eq!(y.get(0, 1), 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elu {
    alpha: f64,
}
no_params!(Elu);

impl Elu {
    /// An ELU with saturation value $-\alpha$.
    ///
    /// # Errors
    /// An invalid-parameter error unless `alpha` is finite and > 0.
    pub fn new(alpha: f64) -> Result<Self> {
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(invalid("elu alpha", alpha, "finite and > 0"));
        }
        Ok(Self { alpha })
    }
    /// $\alpha$.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

impl<T: Float> Layer<T> for Elu {
    fn kind(&self) -> &'static str {
        "elu"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        let a = T::from_f64(self.alpha);
        map_forward(ctx.par, x, y, |v| {
            if v > T::ZERO {
                v
            } else {
                a * (v.exp() - T::ONE)
            }
        });
        Ok(())
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        check_backward("elu", x, y, dy)?;
        let a = T::from_f64(self.alpha);
        if let Some(dx) = dx {
            map_backward(ctx.par, x, y, dy, dx, |xi, yi, g| {
                if xi > T::ZERO {
                    g
                } else {
                    g * (yi + a)
                }
            });
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Elu { alpha: self.alpha }
    }
}

/// Softplus with sharpness $\beta$: $y = \beta^{-1}\ln(1 + e^{\beta x})$,
/// $\phi'(x) = \sigma(\beta x) = 1/(1+e^{-\beta x})$.
///
/// Evaluated as $\max(x,0) + \beta^{-1}\ln(1 + e^{-\beta|x|})$, exact for all
/// $x$ (no linear cut-off as in some libraries).
///
/// ```
/// use darkprobe_nn::{Ctx, Layer, Matrix, Softplus};
/// let x = Matrix::from_vec(1, 2, vec![0.0f64, 800.0]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// Softplus::new(1.0).unwrap().forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert!((y.get(0, 0) - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(y.get(0, 1), 800.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Softplus {
    beta: f64,
}
no_params!(Softplus);

impl Softplus {
    /// A softplus of sharpness `beta` (1 is the usual softplus).
    ///
    /// # Errors
    /// An invalid-parameter error unless `beta` is finite and > 0.
    pub fn new(beta: f64) -> Result<Self> {
        if !(beta.is_finite() && beta > 0.0) {
            return Err(invalid("softplus beta", beta, "finite and > 0"));
        }
        Ok(Self { beta })
    }
    /// $\beta$.
    pub fn beta(&self) -> f64 {
        self.beta
    }
}

impl<T: Float> Layer<T> for Softplus {
    fn kind(&self) -> &'static str {
        "softplus"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        let b = T::from_f64(self.beta);
        let inv_b = T::from_f64(1.0 / self.beta);
        map_forward(ctx.par, x, y, |v| {
            let z = b * v;
            v.max(T::ZERO) + inv_b * (-z.abs()).exp().ln_1p()
        });
        Ok(())
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        check_backward("softplus", x, y, dy)?;
        let b = T::from_f64(self.beta);
        if let Some(dx) = dx {
            map_backward(ctx.par, x, y, dy, dx, |xi, _, g| {
                // σ(z) computed without overflow for either sign of z.
                let z = b * xi;
                let e = (-z.abs()).exp();
                let s = if z >= T::ZERO {
                    T::ONE / (T::ONE + e)
                } else {
                    e / (T::ONE + e)
                };
                g * s
            });
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Softplus { beta: self.beta }
    }
}

/// Parametric ReLU (He et al. 2015, arXiv:1502.01852): $y = x$ for $x > 0$,
/// else $a_j x$, with a learnable slope shared by all features
/// (`channels == 1`) or one per feature.
///
/// Gradients: $\bar x_{ij} = \bar y_{ij}$ for $x_{ij}>0$, else $a_j \bar
/// y_{ij}$; $\bar a_j = \sum_i \bar y_{ij} x_{ij} [x_{ij} \le 0]$ (summed over
/// features too when the slope is shared).
///
/// ```
/// use darkprobe_nn::{Ctx, Layer, Matrix, PRelu};
/// let mut p = PRelu::<f64>::new(1, 0.25).unwrap();
/// let x = Matrix::from_vec(1, 2, vec![-2.0, 3.0]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// p.forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert_eq!(y.as_slice(), &[-0.5, 3.0]);
/// let dy = Matrix::from_vec(1, 2, vec![1.0, 1.0]).unwrap();
/// p.backward(&x, &y, &dy, None, &Ctx::eval()).unwrap();
/// assert_eq!(p.grad_slope(), &[-2.0]);
/// ```
#[derive(Debug, Clone)]
pub struct PRelu<T> {
    slope: Vec<T>,
    grad_slope: Vec<T>,
    scratch: Vec<T>,
}

impl<T: Float> PRelu<T> {
    /// A PReLU with `channels` slopes (1 = shared), all starting at `init`
    /// (PyTorch uses 0.25).
    ///
    /// # Errors
    /// An invalid-parameter error for zero channels or a non-finite `init`.
    pub fn new(channels: usize, init: f64) -> Result<Self> {
        if channels == 0 {
            return Err(invalid("prelu channels", channels, "at least 1"));
        }
        if !init.is_finite() {
            return Err(invalid("prelu initial slope", init, "finite"));
        }
        Ok(Self {
            slope: vec![T::from_f64(init); channels],
            grad_slope: vec![T::ZERO; channels],
            scratch: Vec::new(),
        })
    }
    /// The slopes.
    pub fn slope(&self) -> &[T] {
        &self.slope
    }
    /// The accumulated slope gradient.
    pub fn grad_slope(&self) -> &[T] {
        &self.grad_slope
    }
    fn check_width(&self, d: usize) -> Result<()> {
        let c = self.slope.len();
        if c != 1 && c != d {
            return Err(shape(
                "prelu input",
                format!("1 or {c} columns"),
                format!("{d} columns"),
            ));
        }
        Ok(())
    }
}

impl<T: Float> Parameters<T> for PRelu<T> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        f(ParamRef {
            name: "slope",
            value: &self.slope,
            grad: &self.grad_slope,
        });
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        f(ParamMut {
            name: "slope",
            value: &mut self.slope,
            grad: &mut self.grad_slope,
        });
    }
}

impl<T: Float> Layer<T> for PRelu<T> {
    fn kind(&self) -> &'static str {
        "prelu"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        self.check_width(input_dim)?;
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        let (n, d) = x.shape();
        self.check_width(d)?;
        y.resize(n, d);
        let xs = x.as_slice();
        let a = &self.slope;
        let shared = a.len() == 1;
        for_blocks(ctx.par, n, y.as_mut_slice(), d, |_, r0, r1, yb| {
            for (yr, xr) in yb
                .chunks_exact_mut(d)
                .zip(xs[r0 * d..r1 * d].chunks_exact(d))
            {
                for (j, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
                    let s = if shared { a[0] } else { a[j] };
                    *o = if v > T::ZERO { v } else { s * v };
                }
            }
        });
        Ok(())
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        check_backward("prelu", x, y, dy)?;
        let (n, d) = x.shape();
        self.check_width(d)?;
        let (xs, dys) = (x.as_slice(), dy.as_slice());
        let c = self.slope.len();
        let shared = c == 1;
        if let Some(dx) = dx {
            dx.resize(n, d);
            let a = &self.slope;
            for_blocks(ctx.par, n, dx.as_mut_slice(), d, |_, r0, r1, db| {
                let range = r0 * d..r1 * d;
                for (k, (o, (&v, &g))) in db
                    .iter_mut()
                    .zip(xs[range.clone()].iter().zip(&dys[range]))
                    .enumerate()
                {
                    let s = if shared { a[0] } else { a[k % d] };
                    *o = if v > T::ZERO { g } else { s * g };
                }
            });
        }
        if ctx.param_grads && n > 0 {
            let nb = n_blocks(n);
            ensure_len(&mut self.scratch, nb * c);
            for_blocks_scratch_only(ctx.par, n, &mut self.scratch, c, |_, r0, r1, s| {
                s.fill(T::ZERO);
                let range = r0 * d..r1 * d;
                for (k, (&v, &g)) in xs[range.clone()].iter().zip(&dys[range]).enumerate() {
                    if v <= T::ZERO {
                        let j = if shared { 0 } else { k % d };
                        s[j] += g * v;
                    }
                }
            });
            add_block_sums(&self.scratch, nb, c, &mut self.grad_slope);
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::PRelu {
            channels: self.slope.len(),
        }
    }
}

/// The activations [`crate::Sequential::mlp`] can put between affine layers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// [`Relu`].
    Relu,
    /// [`PRelu`] with one slope per feature, starting at 0.25.
    PRelu,
    /// [`Tanh`].
    Tanh,
    /// [`Elu`] with the given $\alpha$.
    Elu(f64),
    /// [`Softplus`] with the given $\beta$.
    Softplus(f64),
}

impl Activation {
    /// The activation as a boxed layer for features of width `width`.
    ///
    /// # Errors
    /// An invalid-parameter error for an invalid $\alpha$ or $\beta$.
    pub fn layer<T: Float>(&self, width: usize) -> Result<Box<dyn Layer<T>>> {
        Ok(match *self {
            Activation::Relu => Box::new(Relu),
            Activation::PRelu => Box::new(PRelu::<T>::new(width, 0.25)?),
            Activation::Tanh => Box::new(Tanh),
            Activation::Elu(a) => Box::new(Elu::new(a)?),
            Activation::Softplus(b) => Box::new(Softplus::new(b)?),
        })
    }
}
