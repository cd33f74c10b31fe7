//! Affine layers: [`Dense`] and the MADE-masked [`MaskedDense`].

use crate::error::{invalid, shape, Result};
use crate::exec::{add_block_sums, Ctx, ROW_BLOCK};
use crate::float::Float;
use crate::layer::{
    backward_by_rows, forward_by_rows, mask_to_strings, Layer, LayerSpec, ParamMut, ParamRef,
    Parameters,
};
use crate::layers::activation::{Activation, Pointwise};
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

/// The shared implementation: $Y = \phi(X (W \odot M)^\top + \mathbf 1 b^\top)$.
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
    /// `weight ⊙ mask`, refreshed before a forward pass of a masked layer
    /// when the weights may have changed since the last refresh.
    masked_weight: Vec<T>,
    /// Whether `masked_weight` may be out of date: set by every path that
    /// hands out or writes the weights mutably.
    masked_stale: bool,
    /// Activation applied in place after the affine map.
    act: Option<Pointwise>,
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
            masked_stale: true,
            act: None,
            scratch: Vec::new(),
        })
    }

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.masked_stale = true;
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
            if self.masked_stale || self.masked_weight.len() != self.weight.len() {
                self.masked_weight.clear();
                self.masked_weight
                    .extend(self.weight.iter().zip(m).map(|(&w, &k)| w * k));
                self.masked_stale = false;
            }
        }
    }

    fn check_forward(&self, what: &str, x: &Matrix<T>) -> Result<()> {
        x.expect_cols(what, self.inputs)
    }

    fn check_backward(
        &self,
        what: &str,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
    ) -> Result<()> {
        x.expect_cols(what, self.inputs)?;
        let n = x.rows();
        dy.expect_shape(&format!("{what} output gradient"), n, self.outputs)?;
        if self.act.is_some() {
            y.expect_shape(&format!("{what} output"), n, self.outputs)?;
        }
        Ok(())
    }

    /// Length of the $\bar Z$ temporary of a block.
    fn block_temp_len(&self) -> usize {
        if self.act.is_some() {
            ROW_BLOCK * self.outputs
        } else {
            0
        }
    }

    fn block_scratch_len(&self, ctx: &Ctx) -> usize {
        if ctx.param_grads {
            self.outputs * self.inputs + self.outputs
        } else {
            0
        }
    }

    fn forward_rows(&self, x: &[T], y: &mut [T], rows: usize) {
        let (din, dout) = (self.inputs, self.outputs);
        T::gemm(
            rows,
            dout,
            din,
            x,
            false,
            self.effective_weight(),
            true,
            y,
            false,
        );
        // Bias and activation while the block is still in cache.
        Pointwise::add_bias_apply(self.act, y, &self.bias);
    }

    /// One row block: $\bar Z = \bar Y\odot\phi'$ (in `temp`), then
    /// $\bar W_b = \bar Z_b^\top X_b$, $\bar b_b = \bar Z_b^\top\mathbf 1$
    /// (partials, in the scratch) and $\bar X_b = \bar Z_b W$.
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        &self,
        x: &[T],
        y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        rows: usize,
        grads: &mut [T],
        temp: &mut [T],
        ctx: &Ctx,
    ) {
        let (din, dout) = (self.inputs, self.outputs);
        let dz: &[T] = match self.act {
            Some(a) => {
                let dz = &mut temp[..rows * dout];
                a.backprop(y, dy, dz);
                dz
            }
            None => dy,
        };
        if ctx.param_grads {
            let (gw, gb) = grads.split_at_mut(dout * din);
            T::gemm(dout, din, rows, dz, true, x, false, gw, false);
            if let Some(m) = &self.mask {
                for (g, &k) in gw.iter_mut().zip(m) {
                    *g *= k;
                }
            }
            gb.fill(T::ZERO);
            for row in dz.chunks_exact(dout) {
                for (g, &v) in gb.iter_mut().zip(row) {
                    *g += v;
                }
            }
        }
        if let Some(dx) = dx {
            T::gemm(
                rows,
                din,
                dout,
                dz,
                false,
                self.effective_weight(),
                false,
                dx,
                false,
            );
        }
    }

    fn reduce_block_scratch(&mut self, partials: &[T], nb: usize, stride: usize, ctx: &Ctx) {
        if ctx.param_grads {
            let g = partials;
            add_block_sums(g, nb, stride, &mut self.grad_weight);
            add_block_sums(
                &g[self.outputs * self.inputs..],
                nb,
                stride,
                &mut self.grad_bias,
            );
        }
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
        self.masked_stale = true;
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
        self.masked_stale = true;
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

    /// The same layer followed, in place, by a point-wise activation
    /// (ReLU, tanh, ELU or softplus): $Y = \phi(XW^\top + b)$. Equivalent to
    /// pushing the activation as its own layer, but faster: the activation
    /// runs on each row block while it is in cache, and its derivative is
    /// taken from the stored output ($\bar Z = \bar Y\odot\phi'$ with
    /// $\phi'$ written through $Y$).
    ///
    /// # Errors
    /// An invalid-parameter error for PReLU (add it as a layer) or an invalid
    /// $\alpha$/$\beta$.
    pub fn with_activation(mut self, activation: Activation) -> Result<Self> {
        self.core.act = Some(Pointwise::from_activation(activation)?);
        Ok(self)
    }

    /// The fused activation, if any.
    pub fn activation(&self) -> Option<Activation> {
        self.core.act.map(Pointwise::to_activation)
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
        self.core.check_forward("dense layer input", x)?;
        let dout = self.core.outputs;
        forward_by_rows(self, x, y, dout, ctx);
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
        self.core.check_backward("dense layer input", x, y, dy)?;
        if dx.is_none() && !ctx.param_grads {
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.core.scratch);
        backward_by_rows(self, x, y, dy, dx, ctx, &mut scratch);
        self.core.scratch = scratch;
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dense {
            inputs: self.core.inputs,
            outputs: self.core.outputs,
            activation: self.core.act.map(Pointwise::to_activation),
        }
    }
    fn row_local(&self) -> bool {
        true
    }
    fn prepare_rows(&mut self) {
        self.core.refresh_masked_weight();
    }
    fn block_scratch_len(&self, ctx: &Ctx) -> usize {
        self.core.block_scratch_len(ctx)
    }
    fn block_temp_len(&self) -> usize {
        self.core.block_temp_len()
    }
    fn forward_rows(&self, x: &[T], y: &mut [T], rows: usize, _ctx: &Ctx) {
        self.core.forward_rows(x, y, rows)
    }
    fn backward_rows(
        &self,
        x: &[T],
        y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        rows: usize,
        scratch: &mut [T],
        temp: &mut [T],
        ctx: &Ctx,
    ) {
        self.core
            .backward_rows(x, y, dy, dx, rows, scratch, temp, ctx)
    }
    fn reduce_block_scratch(&mut self, partials: &[T], n_blocks: usize, stride: usize, ctx: &Ctx) {
        self.core
            .reduce_block_scratch(partials, n_blocks, stride, ctx)
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

    /// The same layer followed, in place, by a point-wise activation; see
    /// [`Dense::with_activation`].
    ///
    /// # Errors
    /// As [`Dense::with_activation`].
    pub fn with_activation(mut self, activation: Activation) -> Result<Self> {
        self.core.act = Some(Pointwise::from_activation(activation)?);
        Ok(self)
    }

    /// The fused activation, if any.
    pub fn activation(&self) -> Option<Activation> {
        self.core.act.map(Pointwise::to_activation)
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
        self.core.check_forward("masked dense layer input", x)?;
        let dout = self.core.outputs;
        forward_by_rows(self, x, y, dout, ctx);
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
        self.core
            .check_backward("masked dense layer input", x, y, dy)?;
        if dx.is_none() && !ctx.param_grads {
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.core.scratch);
        backward_by_rows(self, x, y, dy, dx, ctx, &mut scratch);
        self.core.scratch = scratch;
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::MaskedDense {
            inputs: self.core.inputs,
            outputs: self.core.outputs,
            mask: mask_to_strings(&self.mask(), self.core.inputs),
            activation: self.core.act.map(Pointwise::to_activation),
        }
    }
    fn row_local(&self) -> bool {
        true
    }
    fn prepare_rows(&mut self) {
        self.core.refresh_masked_weight();
    }
    fn block_scratch_len(&self, ctx: &Ctx) -> usize {
        self.core.block_scratch_len(ctx)
    }
    fn block_temp_len(&self) -> usize {
        self.core.block_temp_len()
    }
    fn forward_rows(&self, x: &[T], y: &mut [T], rows: usize, _ctx: &Ctx) {
        self.core.forward_rows(x, y, rows)
    }
    fn backward_rows(
        &self,
        x: &[T],
        y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        rows: usize,
        scratch: &mut [T],
        temp: &mut [T],
        ctx: &Ctx,
    ) {
        self.core
            .backward_rows(x, y, dy, dx, rows, scratch, temp, ctx)
    }
    fn reduce_block_scratch(&mut self, partials: &[T], n_blocks: usize, stride: usize, ctx: &Ctx) {
        self.core
            .reduce_block_scratch(partials, n_blocks, stride, ctx)
    }
}
