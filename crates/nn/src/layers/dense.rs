//! Affine layers: [`Dense`] and the MADE-masked [`MaskedDense`].

use crate::error::{invalid, shape, Result};
use crate::exec::{add_block_sums, ensure_len, for_blocks, for_blocks_scratch_only, n_blocks, Ctx};
use crate::float::Float;
use crate::layer::{mask_to_strings, Layer, LayerSpec, ParamMut, ParamRef, Parameters};
use crate::matrix::Matrix;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// How the weights of an affine layer start.
///
/// $d_\text{in}$ is the fan-in (for a masked layer: the input width).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Init {
    /// Weights and biases uniform on $\pm 1/\sqrt{d_\text{in}}$ (PyTorch's
    /// `nn.Linear` default).
    #[default]
    Default,
    /// Glorot & Bengio (2010): weights uniform on
    /// $\pm\sqrt{6/(d_\text{in}+d_\text{out})}$, zero biases.
    XavierUniform,
    /// He et al. (2015), for ReLU networks: weights normal with standard
    /// deviation $\sqrt{2/d_\text{in}}$, zero biases.
    HeNormal,
    /// All zeros (for weights loaded afterwards).
    Zeros,
}

/// The shared implementation: $Y = X (W \odot M)^\top + \mathbf 1 b^\top$.
#[derive(Debug, Clone)]
struct Affine<T> {
    inputs: usize,
    outputs: usize,
    /// `outputs × inputs`, row-major (the PyTorch layout).
    weight: Vec<T>,
    bias: Vec<T>,
    grad_weight: Vec<T>,
    grad_bias: Vec<T>,
    /// 0/1 connectivity (`outputs × inputs`) for masked layers.
    mask: Option<Vec<T>>,
    /// `weight ⊙ mask`, refreshed by each forward pass of a masked layer.
    masked_weight: Vec<T>,
    /// Per-block partial gradients.
    scratch: Vec<T>,
}

fn check_dims(inputs: usize, outputs: usize) -> Result<()> {
    if inputs == 0 {
        return Err(invalid("inputs", inputs, "at least 1"));
    }
    if outputs == 0 {
        return Err(invalid("outputs", outputs, "at least 1"));
    }
    Ok(())
}

impl<T: Float> Affine<T> {
    fn zeros(inputs: usize, outputs: usize, mask: Option<Vec<bool>>) -> Result<Self> {
        check_dims(inputs, outputs)?;
        let mask = match mask {
            None => None,
            Some(m) => {
                if m.len() != inputs * outputs {
                    return Err(shape(
                        "masked dense mask",
                        format!("{outputs} x {inputs} = {} entries", inputs * outputs),
                        format!("{} entries", m.len()),
                    ));
                }
                Some(
                    m.iter()
                        .map(|&b| if b { T::ONE } else { T::ZERO })
                        .collect(),
                )
            }
        };
        Ok(Self {
            inputs,
            outputs,
            weight: vec![T::ZERO; inputs * outputs],
            bias: vec![T::ZERO; outputs],
            grad_weight: vec![T::ZERO; inputs * outputs],
            grad_bias: vec![T::ZERO; outputs],
            mask,
            masked_weight: Vec::new(),
            scratch: Vec::new(),
        })
    }

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        let fan_in = self.inputs as f64;
        match init {
            Init::Default => {
                let bound = 1.0 / fan_in.sqrt();
                for w in self.weight.iter_mut().chain(self.bias.iter_mut()) {
                    *w = T::from_f64(rng.random_range(-bound..bound));
                }
            }
            Init::XavierUniform => {
                let bound = (6.0 / (fan_in + self.outputs as f64)).sqrt();
                for w in self.weight.iter_mut() {
                    *w = T::from_f64(rng.random_range(-bound..bound));
                }
                self.bias.fill(T::ZERO);
            }
            Init::HeNormal => {
                let sd = (2.0 / fan_in).sqrt();
                for w in self.weight.iter_mut() {
                    let z: f64 = StandardNormal.sample(rng);
                    *w = T::from_f64(sd * z);
                }
                self.bias.fill(T::ZERO);
            }
            Init::Zeros => {
                self.weight.fill(T::ZERO);
                self.bias.fill(T::ZERO);
            }
        }
        if let Some(m) = &self.mask {
            for (w, &k) in self.weight.iter_mut().zip(m) {
                *w *= k;
            }
        }
    }

    /// The weight matrix actually applied ($W \odot M$ or $W$).
    fn effective_weight(&self) -> &[T] {
        if self.mask.is_some() {
            &self.masked_weight
        } else {
            &self.weight
        }
    }

    fn refresh_masked_weight(&mut self) {
        if let Some(m) = &self.mask {
            self.masked_weight.clear();
            self.masked_weight
                .extend(self.weight.iter().zip(m).map(|(&w, &k)| w * k));
        }
    }

    fn forward(&mut self, what: &str, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        x.expect_cols(what, self.inputs)?;
        self.refresh_masked_weight();
        let (n, din, dout) = (x.rows(), self.inputs, self.outputs);
        y.resize(n, dout);
        let w = self.effective_weight();
        let b = &self.bias;
        let xs = x.as_slice();
        for_blocks(ctx.par, n, y.as_mut_slice(), dout, |_, r0, r1, yb| {
            for row in yb.chunks_exact_mut(dout) {
                row.copy_from_slice(b);
            }
            T::gemm(
                r1 - r0,
                dout,
                din,
                &xs[r0 * din..r1 * din],
                false,
                w,
                true,
                yb,
                true,
            );
        });
        Ok(())
    }

    fn backward(
        &mut self,
        what: &str,
        x: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        x.expect_cols(what, self.inputs)?;
        dy.expect_shape(&format!("{what} output gradient"), x.rows(), self.outputs)?;
        self.refresh_masked_weight();
        let (n, din, dout) = (x.rows(), self.inputs, self.outputs);
        let xs = x.as_slice();
        let dys = dy.as_slice();
        if let Some(dx) = dx {
            dx.resize(n, din);
            let w = self.effective_weight();
            for_blocks(ctx.par, n, dx.as_mut_slice(), din, |_, r0, r1, dxb| {
                T::gemm(
                    r1 - r0,
                    din,
                    dout,
                    &dys[r0 * dout..r1 * dout],
                    false,
                    w,
                    false,
                    dxb,
                    false,
                );
            });
        }
        if ctx.param_grads && n > 0 {
            let nb = n_blocks(n);
            let stride = dout * din + dout;
            ensure_len(&mut self.scratch, nb * stride);
            let mask = self.mask.as_deref();
            for_blocks_scratch_only(ctx.par, n, &mut self.scratch, stride, |_, r0, r1, s| {
                let (gw, gb) = s.split_at_mut(dout * din);
                let dyb = &dys[r0 * dout..r1 * dout];
                // dW_b = dY_bᵀ X_b
                T::gemm(
                    dout,
                    din,
                    r1 - r0,
                    dyb,
                    true,
                    &xs[r0 * din..r1 * din],
                    false,
                    gw,
                    false,
                );
                if let Some(m) = mask {
                    for (g, &k) in gw.iter_mut().zip(m) {
                        *g *= k;
                    }
                }
                gb.fill(T::ZERO);
                for row in dyb.chunks_exact(dout) {
                    for (g, &v) in gb.iter_mut().zip(row) {
                        *g += v;
                    }
                }
            });
            add_block_sums(&self.scratch, nb, stride, &mut self.grad_weight);
            // The bias partials sit after the weight partials in each block.
            let gb_parts = &self.scratch[dout * din..];
            add_block_sums(gb_parts, nb, stride, &mut self.grad_bias);
        }
        Ok(())
    }

    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        f(ParamRef {
            name: "weight",
            value: &self.weight,
            grad: &self.grad_weight,
        });
        f(ParamRef {
            name: "bias",
            value: &self.bias,
            grad: &self.grad_bias,
        });
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        f(ParamMut {
            name: "weight",
            value: &mut self.weight,
            grad: &mut self.grad_weight,
        });
        f(ParamMut {
            name: "bias",
            value: &mut self.bias,
            grad: &mut self.grad_bias,
        });
    }

    fn set(&mut self, weight: Vec<T>, bias: Vec<T>) -> Result<()> {
        if weight.len() != self.inputs * self.outputs {
            return Err(shape(
                "weight",
                format!("{} x {}", self.outputs, self.inputs),
                format!("{} values", weight.len()),
            ));
        }
        if bias.len() != self.outputs {
            return Err(shape("bias", self.outputs, bias.len()));
        }
        if let Some((i, _)) = weight
            .iter()
            .chain(bias.iter())
            .enumerate()
            .find(|(_, v)| !v.is_finite())
        {
            return Err(invalid("parameter", format!("index {i}"), "finite values"));
        }
        self.weight = weight;
        self.bias = bias;
        Ok(())
    }
}

/// A fully connected layer: $Y = X W^\top + \mathbf 1 b^\top$, with
/// $W \in \mathbb{R}^{d_\text{out}\times d_\text{in}}$ (PyTorch's layout).
///
/// Gradients, for $\bar Y = \partial L/\partial Y$:
/// $$\bar W = \bar Y^\top X,\qquad \bar b = \bar Y^\top \mathbf 1,\qquad
///   \bar X = \bar Y W.$$
/// All three are matrix products over row blocks (see [`crate::exec`]).
///
/// ```
/// use darkprobe_nn::{Ctx, Dense, Layer, Matrix};
/// let mut d = Dense::from_params(2, 1, vec![1.0f64, -2.0], vec![0.5]).unwrap();
/// let x = Matrix::from_vec(1, 2, vec![3.0, 1.0]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// d.forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert_eq!(y.as_slice(), &[1.5]); // 3 - 2 + 0.5
/// let dy = Matrix::from_vec(1, 1, vec![1.0]).unwrap();
/// let mut dx = Matrix::zeros(0, 0);
/// d.backward(&x, &y, &dy, Some(&mut dx), &Ctx::eval()).unwrap();
/// assert_eq!(dx.as_slice(), &[1.0, -2.0]);
/// assert_eq!(d.grad_weight(), &[3.0, 1.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Dense<T> {
    core: Affine<T>,
}

impl<T: Float> Dense<T> {
    /// A `inputs → outputs` layer initialised by `init`.
    ///
    /// # Errors
    /// An invalid-parameter error for a zero width.
    pub fn new<R: Rng + ?Sized>(
        inputs: usize,
        outputs: usize,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        let mut core = Affine::zeros(inputs, outputs, None)?;
        core.init(init, rng);
        Ok(Self { core })
    }

    /// A layer with all weights and biases zero.
    ///
    /// # Errors
    /// An invalid-parameter error for a zero width.
    pub fn zeros(inputs: usize, outputs: usize) -> Result<Self> {
        Ok(Self {
            core: Affine::zeros(inputs, outputs, None)?,
        })
    }

    /// A layer with the given weights (`outputs × inputs`, row-major) and biases.
    ///
    /// # Errors
    /// Shape errors on wrong lengths, an invalid-parameter error for a zero
    /// width or a non-finite value.
    pub fn from_params(
        inputs: usize,
        outputs: usize,
        weight: Vec<T>,
        bias: Vec<T>,
    ) -> Result<Self> {
        let mut d = Self::zeros(inputs, outputs)?;
        d.core.set(weight, bias)?;
        Ok(d)
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.core.inputs
    }
    /// Output width.
    pub fn outputs(&self) -> usize {
        self.core.outputs
    }
    /// Weights, `outputs × inputs` row-major.
    pub fn weight(&self) -> &[T] {
        &self.core.weight
    }
    /// Biases.
    pub fn bias(&self) -> &[T] {
        &self.core.bias
    }
    /// Accumulated weight gradient.
    pub fn grad_weight(&self) -> &[T] {
        &self.core.grad_weight
    }
    /// Accumulated bias gradient.
    pub fn grad_bias(&self) -> &[T] {
        &self.core.grad_bias
    }
}

impl<T: Float> Parameters<T> for Dense<T> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        self.core.visit_params(f)
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        self.core.visit_params_mut(f)
    }
}

impl<T: Float> Layer<T> for Dense<T> {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        if input_dim != self.core.inputs {
            return Err(shape("dense layer input", self.core.inputs, input_dim));
        }
        Ok(self.core.outputs)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        self.core.forward("dense layer input", x, y, ctx)
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        _y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        self.core.backward("dense layer input", x, dy, dx, ctx)
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dense {
            inputs: self.core.inputs,
            outputs: self.core.outputs,
        }
    }
}

/// An affine layer with fixed connectivity:
/// $Y = X (W\odot M)^\top + \mathbf 1 b^\top$ with a 0/1 mask
/// $M \in \{0,1\}^{d_\text{out}\times d_\text{in}}$.
///
/// With MADE masks ([`crate::made`]) a stack of these layers is
/// autoregressive: output $k$ depends only on the inputs that precede it in
/// the chosen ordering (Germain et al. 2015). Gradients are those of
/// [`Dense`] with $W$ replaced by $W\odot M$ and $\bar W = (\bar Y^\top X)\odot
/// M$, so masked weights never move from zero.
///
/// ```
/// use darkprobe_nn::{Ctx, Init, Layer, MaskedDense, Matrix};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// // Output 0 sees input 0 only; output 1 sees nothing.
/// let mask = vec![true, false, false, false];
/// let mut m = MaskedDense::<f64>::new(2, 2, mask, Init::Default, &mut rng).unwrap();
/// let x = Matrix::from_vec(1, 2, vec![0.3, -0.7]).unwrap();
/// let (mut y, mut dx) = (Matrix::zeros(0, 0), Matrix::zeros(0, 0));
/// m.forward(&x, &mut y, &Ctx::eval()).unwrap();
/// let dy = Matrix::from_vec(1, 2, vec![1.0, 1.0]).unwrap();
/// m.backward(&x, &y, &dy, Some(&mut dx), &Ctx::eval()).unwrap();
/// assert_eq!(dx.get(0, 1), 0.0); // nothing depends on input 1
/// ```
#[derive(Debug, Clone)]
pub struct MaskedDense<T> {
    core: Affine<T>,
}

impl<T: Float> MaskedDense<T> {
    /// A masked `inputs → outputs` layer; `mask` is `outputs × inputs`,
    /// row-major, `true` where a connection exists.
    ///
    /// # Errors
    /// A shape error when `mask` has the wrong length; an invalid-parameter
    /// error for a zero width.
    pub fn new<R: Rng + ?Sized>(
        inputs: usize,
        outputs: usize,
        mask: Vec<bool>,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        let mut core = Affine::zeros(inputs, outputs, Some(mask))?;
        core.init(init, rng);
        Ok(Self { core })
    }

    /// A masked layer with zero weights.
    ///
    /// # Errors
    /// As [`MaskedDense::new`].
    pub fn zeros(inputs: usize, outputs: usize, mask: Vec<bool>) -> Result<Self> {
        Ok(Self {
            core: Affine::zeros(inputs, outputs, Some(mask))?,
        })
    }

    /// A masked layer with given weights; entries outside the mask are
    /// ignored (the layer applies $W \odot M$).
    ///
    /// # Errors
    /// As [`Dense::from_params`], plus a mask of the wrong length.
    pub fn from_params(
        inputs: usize,
        outputs: usize,
        mask: Vec<bool>,
        weight: Vec<T>,
        bias: Vec<T>,
    ) -> Result<Self> {
        let mut d = Self::zeros(inputs, outputs, mask)?;
        d.core.set(weight, bias)?;
        Ok(d)
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.core.inputs
    }
    /// Output width.
    pub fn outputs(&self) -> usize {
        self.core.outputs
    }
    /// The connectivity, `outputs × inputs` row-major.
    pub fn mask(&self) -> Vec<bool> {
        self.core
            .mask
            .as_ref()
            .map(|m| m.iter().map(|&k| k != T::ZERO).collect())
            .unwrap_or_default()
    }
    /// Stored weights (`outputs × inputs`); the layer applies them times the mask.
    pub fn weight(&self) -> &[T] {
        &self.core.weight
    }
    /// Biases.
    pub fn bias(&self) -> &[T] {
        &self.core.bias
    }
    /// Accumulated weight gradient (zero outside the mask).
    pub fn grad_weight(&self) -> &[T] {
        &self.core.grad_weight
    }
    /// Accumulated bias gradient.
    pub fn grad_bias(&self) -> &[T] {
        &self.core.grad_bias
    }
}

impl<T: Float> Parameters<T> for MaskedDense<T> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        self.core.visit_params(f)
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        self.core.visit_params_mut(f)
    }
}

impl<T: Float> Layer<T> for MaskedDense<T> {
    fn kind(&self) -> &'static str {
        "masked_dense"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        if input_dim != self.core.inputs {
            return Err(shape(
                "masked dense layer input",
                self.core.inputs,
                input_dim,
            ));
        }
        Ok(self.core.outputs)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        self.core.forward("masked dense layer input", x, y, ctx)
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        _y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        self.core
            .backward("masked dense layer input", x, dy, dx, ctx)
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::MaskedDense {
            inputs: self.core.inputs,
            outputs: self.core.outputs,
            mask: mask_to_strings(&self.mask(), self.core.inputs),
        }
    }
}
