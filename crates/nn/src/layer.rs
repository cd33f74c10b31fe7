//! The [`Layer`] interface, parameter access ([`Parameters`]) and the
//! serialisable description of a layer ([`LayerSpec`]).
//!
//! A layer maps a batch $X \in \mathbb{R}^{N\times d_\text{in}}$ (one row per
//! sample) to $Y \in \mathbb{R}^{N\times d_\text{out}}$. Given
//! $\bar Y = \partial L/\partial Y$ for some scalar $L$, `backward` adds
//! $\partial L/\partial\theta$ to the parameter gradients and, when asked,
//! writes $\bar X = \partial L/\partial X$ (a vector–Jacobian product). The
//! interface works on whole batches in host memory; see the crate docs for how
//! a GPU backend would sit behind it.

use crate::error::{invalid, Result};
use crate::exec::Ctx;
use crate::float::Float;
use crate::matrix::Matrix;

/// A named parameter tensor with its gradient, read-only.
#[derive(Debug)]
pub struct ParamRef<'a, T> {
    /// Name within the layer (`"weight"`, `"bias"`, `"slope"`, ...).
    pub name: &'static str,
    /// Current values.
    pub value: &'a [T],
    /// Accumulated gradient, same length as `value`.
    pub grad: &'a [T],
}

/// A named parameter tensor with its gradient, mutable (for optimisers and
/// gradient clipping).
#[derive(Debug)]
pub struct ParamMut<'a, T> {
    /// Name within the layer.
    pub name: &'static str,
    /// Current values.
    pub value: &'a mut [T],
    /// Accumulated gradient, same length as `value`.
    pub grad: &'a mut [T],
}

/// Anything holding trainable parameters: a layer, a network, a list of
/// networks. Optimisers, gradient clipping and checkpoints work through it.
///
/// Tensors are visited in a fixed order; optimiser state is matched to
/// tensors by that order.
pub trait Parameters<T: Float> {
    /// Visits every parameter tensor in order.
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>));
    /// Visits every parameter tensor in order, mutably.
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>));
    /// Visits the non-trainable state (batch-norm running statistics).
    fn visit_buffers(&self, _f: &mut dyn FnMut(&'static str, &[T])) {}
    /// Visits the non-trainable state, mutably.
    fn visit_buffers_mut(&mut self, _f: &mut dyn FnMut(&'static str, &mut [T])) {}

    /// Sets every gradient to zero.
    fn zero_grad(&mut self) {
        self.visit_params_mut(&mut |p| p.grad.fill(T::ZERO));
    }

    /// Total number of trainable scalars.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |p| n += p.value.len());
        n
    }

    /// All parameter values, concatenated in visiting order.
    fn flat_params(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.num_params());
        self.visit_params(&mut |p| v.extend_from_slice(p.value));
        v
    }

    /// All gradients, concatenated in visiting order.
    fn flat_grads(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.num_params());
        self.visit_params(&mut |p| v.extend_from_slice(p.grad));
        v
    }

    /// Overwrites all parameter values from a concatenated vector.
    ///
    /// # Errors
    /// A shape error when `values` has the wrong length.
    fn set_flat_params(&mut self, values: &[T]) -> Result<()> {
        let n = self.num_params();
        if values.len() != n {
            return Err(crate::error::shape(
                "flat parameter vector",
                n,
                values.len(),
            ));
        }
        let mut off = 0;
        self.visit_params_mut(&mut |p| {
            let len = p.value.len();
            p.value.copy_from_slice(&values[off..off + len]);
            off += len;
        });
        Ok(())
    }
}

impl<T: Float, P: Parameters<T>> Parameters<T> for [P] {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        self.iter().for_each(|p| p.visit_params(f));
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        self.iter_mut().for_each(|p| p.visit_params_mut(f));
    }
    fn visit_buffers(&self, f: &mut dyn FnMut(&'static str, &[T])) {
        self.iter().for_each(|p| p.visit_buffers(f));
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&'static str, &mut [T])) {
        self.iter_mut().for_each(|p| p.visit_buffers_mut(f));
    }
}

impl<T: Float, P: Parameters<T>> Parameters<T> for Vec<P> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        self.as_slice().visit_params(f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        self.as_mut_slice().visit_params_mut(f);
    }
    fn visit_buffers(&self, f: &mut dyn FnMut(&'static str, &[T])) {
        self.as_slice().visit_buffers(f);
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&'static str, &mut [T])) {
        self.as_mut_slice().visit_buffers_mut(f);
    }
}

impl<T: Float, P: Parameters<T> + ?Sized> Parameters<T> for Box<P> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        (**self).visit_params(f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        (**self).visit_params_mut(f);
    }
    fn visit_buffers(&self, f: &mut dyn FnMut(&'static str, &[T])) {
        (**self).visit_buffers(f);
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&'static str, &mut [T])) {
        (**self).visit_buffers_mut(f);
    }
}

/// A differentiable map from a batch to a batch.
///
/// Contract:
/// - `forward` resizes `y` to `x.rows() × output_dim` and fills it. In
///   [`Mode::Train`](crate::Mode::Train) it may keep what `backward` needs
///   (batch statistics) and use the context's seed (dropout).
/// - `backward` receives the same `x`, the `y` that `forward` wrote and
///   $\bar Y$; it **adds** parameter gradients (when `ctx.param_grads`) and,
///   if `dx` is given, resizes and **overwrites** it with $\bar X$. It uses the
///   mode of the preceding `forward`.
/// - Neither allocates per sample: buffers are kept between calls.
pub trait Layer<T: Float>: Parameters<T> + Send + Sync + std::fmt::Debug {
    /// Short name of the layer kind (`"dense"`, `"relu"`, ...).
    fn kind(&self) -> &'static str;

    /// Output width for an input of width `input_dim`.
    ///
    /// # Errors
    /// A shape error when the layer cannot take that width.
    fn output_dim(&self, input_dim: usize) -> Result<usize>;

    /// Computes `y` from `x`.
    ///
    /// # Errors
    /// A shape error on a wrong input width; an invalid-parameter error for a
    /// batch the layer cannot handle (batch norm needs two rows in training).
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()>;

    /// Back-propagates `dy` (see the trait docs).
    ///
    /// # Errors
    /// Shape errors when `x`, `y`, `dy` disagree;
    /// [`NnError::BackwardBeforeForward`](crate::NnError::BackwardBeforeForward)
    /// for layers that keep forward state.
    fn backward(
        &mut self,
        x: &Matrix<T>,
        y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()>;

    /// A serialisable description from which [`LayerSpec::build`] makes an
    /// equivalent layer (parameters are restored separately).
    fn spec(&self) -> LayerSpec;

    /// Row-block interface, optional: true when the layer maps each row on
    /// its own (no batch statistics, no per-pass state), so that
    /// [`Sequential`](crate::Sequential) may run a chain of such layers one
    /// row block at a time, keeping each block in cache from layer to layer.
    /// Layers answering true implement the four methods below; the results
    /// are bit-identical to whole-batch `forward`/`backward`.
    fn row_local(&self) -> bool {
        false
    }

    /// Row-block interface: brings derived state up to date before a series
    /// of `forward_rows`/`backward_rows` calls (masked weights).
    fn prepare_rows(&mut self) {}

    /// Row-block interface: elements of per-block scratch that
    /// `backward_rows` fills with partial parameter gradients.
    fn block_scratch_len(&self, _ctx: &Ctx) -> usize {
        0
    }

    /// Row-block interface: elements of temporary storage `backward_rows`
    /// needs for one block (reused from block to block).
    fn block_temp_len(&self) -> usize {
        0
    }

    /// Row-block interface: `forward` on `rows` rows (`x` and `y` are those
    /// rows, row-major, of the input and output widths).
    fn forward_rows(&self, _x: &[T], _y: &mut [T], _rows: usize, _ctx: &Ctx) {}

    /// Row-block interface: `backward` on `rows` rows; partial parameter
    /// gradients go to `scratch` (of [`Layer::block_scratch_len`] elements),
    /// `temp` (of [`Layer::block_temp_len`] elements) holds temporaries, and
    /// `dx`, when given, is overwritten.
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        &self,
        _x: &[T],
        _y: &[T],
        _dy: &[T],
        _dx: Option<&mut [T]>,
        _rows: usize,
        _scratch: &mut [T],
        _temp: &mut [T],
        _ctx: &Ctx,
    ) {
    }

    /// Row-block interface: adds the partial parameter gradients of
    /// `n_blocks` blocks (block `b`'s scratch starts at `partials[b * stride]`)
    /// to the gradients, in block order.
    fn reduce_block_scratch(
        &mut self,
        _partials: &[T],
        _n_blocks: usize,
        _stride: usize,
        _ctx: &Ctx,
    ) {
    }
}

/// Whole-batch `forward` of a row-local layer through its row kernels.
pub(crate) fn forward_by_rows<T: Float, L: Layer<T> + ?Sized>(
    layer: &mut L,
    x: &Matrix<T>,
    y: &mut Matrix<T>,
    out_dim: usize,
    ctx: &Ctx,
) {
    layer.prepare_rows();
    let (n, din) = x.shape();
    y.resize(n, out_dim);
    let xs = x.as_slice();
    let l = &*layer;
    crate::exec::for_blocks(ctx.par, n, y.as_mut_slice(), out_dim, |_, r0, r1, yb| {
        l.forward_rows(&xs[r0 * din..r1 * din], yb, r1 - r0, ctx)
    });
}

/// Whole-batch `backward` of a row-local layer through its row kernels,
/// with `scratch` as the per-block scratch (kept by the layer between calls).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_by_rows<T: Float, L: Layer<T> + ?Sized>(
    layer: &mut L,
    x: &Matrix<T>,
    y: &Matrix<T>,
    dy: &Matrix<T>,
    dx: Option<&mut Matrix<T>>,
    ctx: &Ctx,
    scratch: &mut Vec<T>,
) {
    layer.prepare_rows();
    let (n, din) = x.shape();
    let dout = dy.cols();
    let nb = crate::exec::n_blocks(n);
    let part = layer.block_scratch_len(ctx);
    let stride = part + layer.block_temp_len();
    crate::exec::ensure_len(scratch, nb * stride);
    let (xs, ys, dys) = (x.as_slice(), y.as_slice(), dy.as_slice());
    let out = dx.map(|dx| {
        dx.resize(n, din);
        (dx.as_mut_slice(), din)
    });
    let l = &*layer;
    crate::exec::for_blocks_opt(ctx.par, n, out, scratch, stride, |_, r0, r1, dxb, s| {
        let (partials, temp) = s.split_at_mut(part);
        l.backward_rows(
            &xs[r0 * din..r1 * din],
            &ys[r0 * dout..r1 * dout],
            &dys[r0 * dout..r1 * dout],
            dxb,
            r1 - r0,
            partials,
            temp,
            ctx,
        )
    });
    if n > 0 {
        layer.reduce_block_scratch(scratch, nb, stride, ctx);
    }
}

/// The architecture of a layer, without its parameter values.
///
/// Stored in checkpoints so a network can be rebuilt from a file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LayerSpec {
    /// [`Dense`](crate::Dense).
    Dense {
        /// Input width.
        inputs: usize,
        /// Output width.
        outputs: usize,
        /// Fused activation ([`Dense::with_activation`](crate::Dense::with_activation)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activation: Option<crate::Activation>,
    },
    /// [`MaskedDense`](crate::MaskedDense); `mask` holds one string of `0`/`1`
    /// per output row.
    MaskedDense {
        /// Input width.
        inputs: usize,
        /// Output width.
        outputs: usize,
        /// Connectivity, one `outputs`-long list of `inputs`-character rows.
        mask: Vec<String>,
        /// Fused activation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activation: Option<crate::Activation>,
    },
    /// [`Relu`](crate::Relu).
    Relu,
    /// [`PRelu`](crate::PRelu).
    PRelu {
        /// 1 for a shared slope, else the input width.
        channels: usize,
    },
    /// [`Tanh`](crate::Tanh).
    Tanh,
    /// [`Elu`](crate::Elu).
    Elu {
        /// Negative saturation value.
        alpha: f64,
    },
    /// [`Softplus`](crate::Softplus).
    Softplus {
        /// Sharpness.
        beta: f64,
    },
    /// [`BatchNorm`](crate::BatchNorm).
    BatchNorm {
        /// Number of features.
        features: usize,
        /// Variance offset.
        eps: f64,
        /// Running-average weight of the newest batch.
        momentum: f64,
    },
    /// [`Dropout`](crate::Dropout).
    Dropout {
        /// Probability of zeroing an element.
        p: f64,
        /// Per-layer salt mixed into the pass seed.
        salt: u64,
    },
    /// A nested [`Sequential`](crate::Sequential).
    Sequential {
        /// Input width.
        input_dim: usize,
        /// Its layers.
        layers: Vec<LayerSpec>,
    },
    /// A layer defined outside this crate; it cannot be rebuilt from a file.
    Custom {
        /// Its kind.
        name: String,
    },
}

impl LayerSpec {
    /// Builds a layer of this architecture for scalar type `T`, with zero
    /// weights (load parameters afterwards).
    ///
    /// # Errors
    /// An invalid-parameter error for an invalid description (zero widths,
    /// a malformed mask, `p` outside $[0,1)$, ...) or a `Custom` layer.
    pub fn build<T: Float>(&self) -> Result<Box<dyn Layer<T>>> {
        use crate::layers::*;
        Ok(match self {
            LayerSpec::Dense {
                inputs,
                outputs,
                activation,
            } => {
                let d = Dense::<T>::zeros(*inputs, *outputs)?;
                Box::new(match activation {
                    Some(a) => d.with_activation(*a)?,
                    None => d,
                })
            }
            LayerSpec::MaskedDense {
                inputs,
                outputs,
                mask,
                activation,
            } => {
                let m = parse_mask(mask, *inputs, *outputs)?;
                let d = MaskedDense::<T>::zeros(*inputs, *outputs, m)?;
                Box::new(match activation {
                    Some(a) => d.with_activation(*a)?,
                    None => d,
                })
            }
            LayerSpec::Relu => Box::new(Relu),
            LayerSpec::PRelu { channels } => Box::new(PRelu::<T>::new(*channels, 0.25)?),
            LayerSpec::Tanh => Box::new(Tanh),
            LayerSpec::Elu { alpha } => Box::new(Elu::new(*alpha)?),
            LayerSpec::Softplus { beta } => Box::new(Softplus::new(*beta)?),
            LayerSpec::BatchNorm {
                features,
                eps,
                momentum,
            } => Box::new(BatchNorm::<T>::with_options(*features, *eps, *momentum)?),
            LayerSpec::Dropout { p, salt } => Box::new(Dropout::new(*p, *salt)?),
            LayerSpec::Sequential { input_dim, layers } => {
                Box::new(crate::Sequential::<T>::from_specs(*input_dim, layers)?)
            }
            LayerSpec::Custom { name } => {
                return Err(invalid(
                    "layer kind",
                    name,
                    "a layer kind defined by darkprobe-nn (custom layers must be rebuilt by their crate)",
                ))
            }
        })
    }
}

/// Renders a 0/1 mask (`outputs × inputs`, row-major) as one string per row.
pub(crate) fn mask_to_strings(mask: &[bool], inputs: usize) -> Vec<String> {
    if inputs == 0 {
        return Vec::new();
    }
    mask.chunks(inputs)
        .map(|row| row.iter().map(|&b| if b { '1' } else { '0' }).collect())
        .collect()
}

/// Parses the string form of a mask.
pub(crate) fn parse_mask(rows: &[String], inputs: usize, outputs: usize) -> Result<Vec<bool>> {
    if rows.len() != outputs {
        return Err(crate::error::shape(
            "masked dense mask rows",
            outputs,
            rows.len(),
        ));
    }
    let mut out = Vec::with_capacity(inputs * outputs);
    for (i, r) in rows.iter().enumerate() {
        if r.len() != inputs {
            return Err(crate::error::shape(
                format!("masked dense mask row {i}"),
                inputs,
                r.len(),
            ));
        }
        for c in r.chars() {
            match c {
                '0' => out.push(false),
                '1' => out.push(true),
                other => {
                    return Err(invalid(
                        &format!("masked dense mask row {i}"),
                        other,
                        "only the characters 0 and 1",
                    ))
                }
            }
        }
    }
    Ok(out)
}
