//! Element-wise activations: [`Relu`], [`PRelu`], [`Tanh`], [`Elu`], [`Softplus`].
//!
//! Each maps $y_{ij} = \phi(x_{ij})$ and back-propagates
//! $\bar x_{ij} = \bar y_{ij}\,\phi'(x_{ij})$, with $\phi'$ written in terms
//! of whichever of $x$ and $y$ is cheaper.

use crate::error::{invalid, shape, Result};
use crate::exec::{add_block_sums, Ctx};
use crate::float::Float;
use crate::layer::{
    backward_by_rows, forward_by_rows, Layer, LayerSpec, ParamMut, ParamRef, Parameters,
};
use crate::matrix::Matrix;

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

/// The [`Layer`] implementation of a parameter-free element-wise activation
/// with inherent `fwd(x)`, `bwd(x, y, dy)` and `layer_spec()`.
macro_rules! elementwise_layer {
    ($t:ty, $kind:literal) => {
        impl<T: Float> Layer<T> for $t {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn output_dim(&self, input_dim: usize) -> Result<usize> {
                Ok(input_dim)
            }
            fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
                forward_by_rows(self, x, y, x.cols(), ctx);
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
                check_backward($kind, x, y, dy)?;
                if dx.is_some() {
                    backward_by_rows(self, x, y, dy, dx, ctx, &mut Vec::new());
                }
                Ok(())
            }
            fn spec(&self) -> LayerSpec {
                self.layer_spec()
            }
            fn row_local(&self) -> bool {
                true
            }
            fn forward_rows(&self, x: &[T], y: &mut [T], _rows: usize, _ctx: &Ctx) {
                for (o, &v) in y.iter_mut().zip(x) {
                    *o = self.fwd(v);
                }
            }
            fn backward_rows(
                &self,
                x: &[T],
                y: &[T],
                dy: &[T],
                dx: Option<&mut [T]>,
                _rows: usize,
                _scratch: &mut [T],
                _temp: &mut [T],
                _ctx: &Ctx,
            ) {
                if let Some(dx) = dx {
                    for (o, ((&xi, &yi), &g)) in dx.iter_mut().zip(x.iter().zip(y).zip(dy)) {
                        *o = self.bwd(xi, yi, g);
                    }
                }
            }
        }
    };
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

impl Relu {
    #[inline(always)]
    fn fwd<T: Float>(&self, v: T) -> T {
        if v > T::ZERO {
            v
        } else {
            T::ZERO
        }
    }
    #[inline(always)]
    fn bwd<T: Float>(&self, x: T, _y: T, g: T) -> T {
        if x > T::ZERO {
            g
        } else {
            T::ZERO
        }
    }
    fn layer_spec(&self) -> LayerSpec {
        LayerSpec::Relu
    }
}
elementwise_layer!(Relu, "relu");

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

impl Tanh {
    #[inline(always)]
    fn fwd<T: Float>(&self, v: T) -> T {
        v.tanh()
    }
    #[inline(always)]
    fn bwd<T: Float>(&self, _x: T, y: T, g: T) -> T {
        g * (T::ONE - y * y)
    }
    fn layer_spec(&self) -> LayerSpec {
        LayerSpec::Tanh
    }
}
elementwise_layer!(Tanh, "tanh");

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

impl Elu {
    #[inline(always)]
    fn fwd<T: Float>(&self, v: T) -> T {
        // Select rather than branch, so that the loop over a row vectorises.
        let e = T::from_f64(self.alpha) * v.exp_m1_nonpos();
        if v > T::ZERO {
            v
        } else {
            e
        }
    }
    #[inline(always)]
    fn bwd<T: Float>(&self, x: T, y: T, g: T) -> T {
        if x > T::ZERO {
            g
        } else {
            g * (y + T::from_f64(self.alpha))
        }
    }
    fn layer_spec(&self) -> LayerSpec {
        LayerSpec::Elu { alpha: self.alpha }
    }
}
elementwise_layer!(Elu, "elu");

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

impl Softplus {
    #[inline(always)]
    fn fwd<T: Float>(&self, v: T) -> T {
        let z = T::from_f64(self.beta) * v;
        v.max(T::ZERO) + T::from_f64(1.0 / self.beta) * (-z.abs()).exp().ln_1p()
    }
    #[inline(always)]
    fn bwd<T: Float>(&self, x: T, _y: T, g: T) -> T {
        // σ(z) computed without overflow for either sign of z.
        let z = T::from_f64(self.beta) * x;
        let e = (-z.abs()).exp();
        let s = if z >= T::ZERO {
            T::ONE / (T::ONE + e)
        } else {
            e / (T::ONE + e)
        };
        g * s
    }
    fn layer_spec(&self) -> LayerSpec {
        LayerSpec::Softplus { beta: self.beta }
    }
}
elementwise_layer!(Softplus, "softplus");

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
        self.check_width(x.cols())?;
        forward_by_rows(self, x, y, x.cols(), ctx);
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
        self.check_width(x.cols())?;
        if dx.is_none() && !ctx.param_grads {
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        backward_by_rows(self, x, y, dy, dx, ctx, &mut scratch);
        self.scratch = scratch;
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::PRelu {
            channels: self.slope.len(),
        }
    }
    fn row_local(&self) -> bool {
        true
    }
    fn block_scratch_len(&self, ctx: &Ctx) -> usize {
        if ctx.param_grads {
            self.slope.len()
        } else {
            0
        }
    }
    fn forward_rows(&self, x: &[T], y: &mut [T], rows: usize, _ctx: &Ctx) {
        let a = &self.slope;
        if a.len() == 1 || rows == 0 {
            let s = a[0];
            for (o, &v) in y.iter_mut().zip(x) {
                *o = if v > T::ZERO { v } else { s * v };
            }
        } else {
            let d = x.len() / rows;
            for (yr, xr) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                for ((o, &v), &s) in yr.iter_mut().zip(xr).zip(a) {
                    *o = if v > T::ZERO { v } else { s * v };
                }
            }
        }
    }
    fn backward_rows(
        &self,
        x: &[T],
        _y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        rows: usize,
        scratch: &mut [T],
        _temp: &mut [T],
        ctx: &Ctx,
    ) {
        if rows == 0 {
            return;
        }
        let d = x.len() / rows;
        let a = &self.slope;
        let shared = a.len() == 1;
        // Row-major passes: one slope per column of a row (or one for all),
        // the slope sums accumulated row by row into this block's scratch.
        // No index arithmetic in the inner loops; the block partials are added
        // in block order by `reduce_block_scratch`.
        let z = T::ZERO;
        let slope_sum = if ctx.param_grads {
            scratch.fill(z);
            Some(scratch)
        } else {
            None
        };
        match (dx, slope_sum) {
            (Some(dx), Some(acc)) if shared => {
                let s = a[0];
                let mut t = z;
                for (o, (&v, &g)) in dx.iter_mut().zip(x.iter().zip(dy)) {
                    let neg = v <= z;
                    *o = if neg { s * g } else { g };
                    t += if neg { g * v } else { z };
                }
                acc[0] = t;
            }
            (Some(dx), Some(acc)) => {
                for ((dr, xr), gr) in dx
                    .chunks_exact_mut(d)
                    .zip(x.chunks_exact(d))
                    .zip(dy.chunks_exact(d))
                {
                    for ((((o, &v), &g), &s), t) in
                        dr.iter_mut().zip(xr).zip(gr).zip(a).zip(acc.iter_mut())
                    {
                        let neg = v <= z;
                        *o = if neg { s * g } else { g };
                        *t += if neg { g * v } else { z };
                    }
                }
            }
            (Some(dx), None) if shared => {
                let s = a[0];
                for (o, (&v, &g)) in dx.iter_mut().zip(x.iter().zip(dy)) {
                    *o = if v <= z { s * g } else { g };
                }
            }
            (Some(dx), None) => {
                for ((dr, xr), gr) in dx
                    .chunks_exact_mut(d)
                    .zip(x.chunks_exact(d))
                    .zip(dy.chunks_exact(d))
                {
                    for (((o, &v), &g), &s) in dr.iter_mut().zip(xr).zip(gr).zip(a) {
                        *o = if v <= z { s * g } else { g };
                    }
                }
            }
            (None, Some(acc)) if shared => {
                let mut t = z;
                for (&v, &g) in x.iter().zip(dy) {
                    t += if v <= z { g * v } else { z };
                }
                acc[0] = t;
            }
            (None, Some(acc)) => {
                for (xr, gr) in x.chunks_exact(d).zip(dy.chunks_exact(d)) {
                    for ((&v, &g), t) in xr.iter().zip(gr).zip(acc.iter_mut()) {
                        *t += if v <= z { g * v } else { z };
                    }
                }
            }
            (None, None) => {}
        }
    }
    fn reduce_block_scratch(&mut self, partials: &[T], n_blocks: usize, stride: usize, ctx: &Ctx) {
        if ctx.param_grads {
            add_block_sums(partials, n_blocks, stride, &mut self.grad_slope);
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

/// A point-wise activation whose derivative is a function of its output, so
/// an affine layer can apply it in place and back-propagate through it from
/// the stored output alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pointwise {
    Relu,
    Tanh,
    Elu(f64),
    Softplus(f64),
}

impl Pointwise {
    /// The fused form of `a`.
    ///
    /// # Errors
    /// An invalid-parameter error for PReLU (its slope gradient needs the
    /// input) and for invalid $\alpha$ or $\beta$.
    pub(crate) fn from_activation(a: Activation) -> Result<Self> {
        Ok(match a {
            Activation::Relu => Pointwise::Relu,
            Activation::Tanh => Pointwise::Tanh,
            Activation::Elu(alpha) => Pointwise::Elu(Elu::new(alpha)?.alpha),
            Activation::Softplus(beta) => Pointwise::Softplus(Softplus::new(beta)?.beta),
            Activation::PRelu => {
                return Err(invalid(
                    "fused activation",
                    "PRelu",
                    "ReLU, tanh, ELU or softplus (add PReLU as its own layer)",
                ))
            }
        })
    }

    pub(crate) fn to_activation(self) -> Activation {
        match self {
            Pointwise::Relu => Activation::Relu,
            Pointwise::Tanh => Activation::Tanh,
            Pointwise::Elu(a) => Activation::Elu(a),
            Pointwise::Softplus(b) => Activation::Softplus(b),
        }
    }

    /// `z ← φ(z + b)` row by row over a block (`b` has one entry per column).
    pub(crate) fn add_bias_apply<T: Float>(act: Option<Self>, block: &mut [T], b: &[T]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports the features the function is compiled for.
                unsafe { add_bias_apply_avx512(act, block, b) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                unsafe { add_bias_apply_avx2(act, block, b) };
                return;
            }
        }
        Self::add_bias_apply_generic(act, block, b)
    }

    #[inline(always)]
    fn add_bias_apply_generic<T: Float>(act: Option<Self>, block: &mut [T], b: &[T]) {
        let d = b.len();
        match act {
            None => {
                for row in block.chunks_exact_mut(d) {
                    for (z, &bj) in row.iter_mut().zip(b) {
                        *z += bj;
                    }
                }
            }
            Some(Pointwise::Relu) => {
                for row in block.chunks_exact_mut(d) {
                    for (z, &bj) in row.iter_mut().zip(b) {
                        let v = *z + bj;
                        *z = if v > T::ZERO { v } else { T::ZERO };
                    }
                }
            }
            Some(Pointwise::Tanh) => {
                for row in block.chunks_exact_mut(d) {
                    for (z, &bj) in row.iter_mut().zip(b) {
                        *z = (*z + bj).tanh();
                    }
                }
            }
            Some(Pointwise::Elu(alpha)) => {
                let a = T::from_f64(alpha);
                for row in block.chunks_exact_mut(d) {
                    for (z, &bj) in row.iter_mut().zip(b) {
                        let v = *z + bj;
                        // Both sides are computed and one is selected, so
                        // the loop vectorises (no libm call, no branch).
                        let e = a * v.exp_m1_nonpos();
                        *z = if v > T::ZERO { v } else { e };
                    }
                }
            }
            Some(Pointwise::Softplus(beta)) => {
                let (bt, inv) = (T::from_f64(beta), T::from_f64(1.0 / beta));
                for row in block.chunks_exact_mut(d) {
                    for (z, &bj) in row.iter_mut().zip(b) {
                        let v = *z + bj;
                        *z = v.max(T::ZERO) + inv * (-(bt * v).abs()).exp().ln_1p();
                    }
                }
            }
        }
    }

    /// `out = dy ⊙ φ'(x)` with $\phi'$ written through the output `y`:
    /// ReLU $[y>0]$, tanh $1-y^2$, ELU $1$ or $y+\alpha$, softplus
    /// $1 - e^{-\beta y}$.
    pub(crate) fn backprop<T: Float>(self, y: &[T], dy: &[T], out: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports the features the function is compiled for.
                unsafe { backprop_avx512(self, y, dy, out) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                unsafe { backprop_avx2(self, y, dy, out) };
                return;
            }
        }
        self.backprop_generic(y, dy, out)
    }

    #[inline(always)]
    fn backprop_generic<T: Float>(self, y: &[T], dy: &[T], out: &mut [T]) {
        let it = out.iter_mut().zip(y.iter().zip(dy));
        match self {
            Pointwise::Relu => {
                for (o, (&yi, &g)) in it {
                    *o = if yi > T::ZERO { g } else { T::ZERO };
                }
            }
            Pointwise::Tanh => {
                for (o, (&yi, &g)) in it {
                    *o = g * (T::ONE - yi * yi);
                }
            }
            Pointwise::Elu(alpha) => {
                let a = T::from_f64(alpha);
                for (o, (&yi, &g)) in it {
                    *o = if yi > T::ZERO { g } else { g * (yi + a) };
                }
            }
            Pointwise::Softplus(beta) => {
                let nb = T::from_f64(-beta);
                for (o, (&yi, &g)) in it {
                    *o = -g * (nb * yi).exp_m1();
                }
            }
        }
    }
}

/// [`Pointwise::add_bias_apply`] compiled for AVX2 (the loops vectorise
/// 8 lanes of `f32` instead of SSE2's 4; the arithmetic is the same).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_bias_apply_avx2<T: Float>(act: Option<Pointwise>, block: &mut [T], b: &[T]) {
    Pointwise::add_bias_apply_generic(act, block, b)
}

/// [`Pointwise::backprop`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backprop_avx2<T: Float>(act: Pointwise, y: &[T], dy: &[T], out: &mut [T]) {
    act.backprop_generic(y, dy, out)
}

/// [`Pointwise::add_bias_apply`] compiled for AVX-512 (8 lanes of `f64`;
/// the same arithmetic: no fused multiply-adds are introduced).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_bias_apply_avx512<T: Float>(act: Option<Pointwise>, block: &mut [T], b: &[T]) {
    Pointwise::add_bias_apply_generic(act, block, b)
}

/// [`Pointwise::backprop`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn backprop_avx512<T: Float>(act: Pointwise, y: &[T], dy: &[T], out: &mut [T]) {
    act.backprop_generic(y, dy, out)
}
