//! [`Sequential`]: a chain of layers that owns its activation buffers.

use crate::error::{invalid, shape, NnError, Result};
use crate::exec::{block_rows, ensure_len, n_blocks, Ctx, Par, ROW_BLOCK};
use crate::float::Float;
use crate::layer::{Layer, LayerSpec, ParamMut, ParamRef, Parameters};
use crate::layers::{Activation, Dense, Init};
use crate::matrix::Matrix;
use rand::Rng;
use rayon::prelude::*;

/// One block of a fused backward pass: its index, its rows of the input
/// gradient (if wanted) and its partial-gradient scratch.
type BlockJob<'a, T> = (usize, Option<&'a mut [T]>, &'a mut [T]);

/// Layers applied one after the other: $f = f_L \circ \dots \circ f_1$.
///
/// The network keeps every layer's output from the last forward pass and two
/// gradient buffers, so repeated training steps at a fixed batch size allocate
/// nothing. `backward` applies the chain rule from the last layer to the first;
/// the input gradient of the first layer is computed only when asked for.
///
/// ```
/// use darkprobe_nn::{Activation, Ctx, Init, Matrix, Parameters, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut net = Sequential::<f64>::mlp(&[3, 8, 1], Activation::Tanh, Init::Default, &mut rng).unwrap();
/// assert_eq!(net.num_params(), 3 * 8 + 8 + 8 + 1);
/// let x = Matrix::from_vec(2, 3, vec![0.1, 0.2, 0.3, -1.0, 0.0, 1.0]).unwrap();
/// let y = net.forward(&x, &Ctx::train(0)).unwrap().clone();
/// assert_eq!(y.shape(), (2, 1));
/// // d(sum of outputs)/d(input), checked against a finite difference.
/// let dy = Matrix::from_vec(2, 1, vec![1.0, 1.0]).unwrap();
/// let dx = net.backward(&x, &dy, true, &Ctx::train(0)).unwrap().unwrap().clone();
/// let mut xp = x.clone();
/// xp.set(0, 1, 0.2 + 1e-6);
/// let yp = net.predict(&xp, darkprobe_nn::Par::Seq).unwrap();
/// let fd = (yp.get(0, 0) - y.get(0, 0)) / 1e-6;
/// assert!((fd - dx.get(0, 1)).abs() < 1e-5);
/// ```
#[derive(Debug)]
pub struct Sequential<T: Float> {
    input_dim: usize,
    dims: Vec<usize>,
    layers: Vec<Box<dyn Layer<T>>>,
    outs: Vec<Matrix<T>>,
    grads: [Matrix<T>; 2],
    last_rows: Option<usize>,
    /// Per-block partial gradients of a fused segment (block-major).
    block_scratch: Vec<T>,
    /// Per-block gradient ping-pong buffers of a fused segment.
    block_tmp: Vec<T>,
}

impl<T: Float> Sequential<T> {
    /// An empty network taking inputs of width `input_dim`.
    pub fn new(input_dim: usize) -> Self {
        Self {
            input_dim,
            dims: Vec::new(),
            layers: Vec::new(),
            outs: Vec::new(),
            grads: [Matrix::zeros(0, 0), Matrix::zeros(0, 0)],
            last_rows: None,
            block_scratch: Vec::new(),
            block_tmp: Vec::new(),
        }
    }

    /// Appends a layer.
    ///
    /// # Errors
    /// A shape error when the layer cannot take the current output width.
    pub fn push(&mut self, layer: impl Layer<T> + 'static) -> Result<&mut Self> {
        self.push_boxed(Box::new(layer))
    }

    /// Appends a boxed layer.
    ///
    /// # Errors
    /// A shape error when the layer cannot take the current output width.
    pub fn push_boxed(&mut self, layer: Box<dyn Layer<T>>) -> Result<&mut Self> {
        let d = layer.output_dim(self.output_dim())?;
        self.dims.push(d);
        self.layers.push(layer);
        self.outs.push(Matrix::zeros(0, 0));
        self.last_rows = None;
        Ok(self)
    }

    /// Builder form of [`Sequential::push`].
    ///
    /// # Errors
    /// As [`Sequential::push`].
    pub fn with(mut self, layer: impl Layer<T> + 'static) -> Result<Self> {
        self.push(layer)?;
        Ok(self)
    }

    /// A multilayer perceptron with affine layers of widths `sizes`
    /// (`sizes[0]` inputs, `sizes[last]` outputs) and `activation` between
    /// them (none after the last). Point-wise activations are fused into the
    /// affine layers ([`Dense::with_activation`]); PReLU gets its own layers.
    ///
    /// # Errors
    /// An invalid-parameter error for fewer than two sizes or a zero width.
    pub fn mlp<R: Rng + ?Sized>(
        sizes: &[usize],
        activation: Activation,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(invalid(
                "mlp sizes",
                format!("{sizes:?}"),
                "at least an input and an output width",
            ));
        }
        let mut net = Sequential::new(sizes[0]);
        for (l, w) in sizes.windows(2).enumerate() {
            let dense = Dense::new(w[0], w[1], init, rng)?;
            let hidden = l + 2 < sizes.len();
            match activation {
                _ if !hidden => net.push(dense)?,
                Activation::PRelu => {
                    net.push(dense)?;
                    net.push_boxed(activation.layer(w[1])?)?
                }
                a => net.push(dense.with_activation(a)?)?,
            };
        }
        Ok(net)
    }

    /// Rebuilds a network from layer descriptions (weights zero).
    ///
    /// # Errors
    /// As [`LayerSpec::build`] and [`Sequential::push`].
    pub fn from_specs(input_dim: usize, specs: &[LayerSpec]) -> Result<Self> {
        let mut net = Sequential::new(input_dim);
        for s in specs {
            net.push_boxed(s.build()?)?;
        }
        Ok(net)
    }

    /// The layer descriptions.
    pub fn specs(&self) -> Vec<LayerSpec> {
        self.layers.iter().map(|l| l.spec()).collect()
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Output width (the input width when there are no layers).
    pub fn output_dim(&self) -> usize {
        self.dims.last().copied().unwrap_or(self.input_dim)
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Layer<T>>] {
        &self.layers
    }

    /// The layers, mutable (to set weights; do not change their widths).
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer<T>>] {
        &mut self.layers
    }

    /// Output of layer `i` from the last forward pass.
    pub fn activation(&self, i: usize) -> Option<&Matrix<T>> {
        self.outs.get(i)
    }

    /// Runs every layer on `x` and returns the network's output.
    ///
    /// # Errors
    /// A shape error on a wrong input width; an invalid-parameter error for a
    /// network without layers; any layer's error.
    pub fn forward(&mut self, x: &Matrix<T>, ctx: &Ctx) -> Result<&Matrix<T>> {
        x.expect_cols("network input", self.input_dim)?;
        if self.layers.is_empty() {
            return Err(invalid("network", "no layers", "at least one layer"));
        }
        self.last_rows = None;
        let nl = self.layers.len();
        let mut l = 0;
        while l < nl {
            let e = self.segment_end(l);
            if e - l > 1 {
                self.forward_segment(l, e, x, ctx);
            } else {
                let (before, after) = self.outs.split_at_mut(l);
                let input = if l == 0 { x } else { &before[l - 1] };
                self.layers[l].forward(input, &mut after[0], ctx)?;
            }
            l = e;
        }
        self.last_rows = Some(x.rows());
        Ok(&self.outs[nl - 1])
    }

    /// End (exclusive) of the run of row-local layers starting at `l`, or
    /// `l + 1` when layer `l` is not row-local.
    fn segment_end(&self, l: usize) -> usize {
        let mut e = l + 1;
        if self.layers[l].row_local() {
            while e < self.layers.len() && self.layers[e].row_local() {
                e += 1;
            }
        }
        e
    }

    /// Width of the input of layer `l`.
    fn width_in(&self, l: usize) -> usize {
        if l == 0 {
            self.input_dim
        } else {
            self.dims[l - 1]
        }
    }

    /// Forward pass of the row-local layers `l..e`, one row block at a time
    /// through all of them (the block stays in cache between layers).
    fn forward_segment(&mut self, l: usize, e: usize, x: &Matrix<T>, ctx: &Ctx) {
        let n = x.rows();
        for k in l..e {
            self.layers[k].prepare_rows();
            self.outs[k].resize(n, self.dims[k]);
        }
        let din = self.width_in(l);
        let dims = &self.dims[l..e];
        let layers = &self.layers[l..e];
        let (before, rest) = self.outs.split_at_mut(l);
        let input: &[T] = if l == 0 {
            x.as_slice()
        } else {
            before[l - 1].as_slice()
        };
        let nb = n_blocks(n);
        let mut per_block: Vec<Vec<&mut [T]>> =
            (0..nb).map(|_| Vec::with_capacity(e - l)).collect();
        for (k, m) in rest[..e - l].iter_mut().enumerate() {
            let mut s = m.as_mut_slice();
            for (b, pieces) in per_block.iter_mut().enumerate() {
                let (r0, r1) = block_rows(b, n);
                let (head, tail) = s.split_at_mut((r1 - r0) * dims[k]);
                pieces.push(head);
                s = tail;
            }
        }
        let run = |(b, mut pieces): (usize, Vec<&mut [T]>)| {
            let (r0, r1) = block_rows(b, n);
            for k in 0..pieces.len() {
                let (prev, cur) = pieces.split_at_mut(k);
                let inp: &[T] = if k == 0 {
                    &input[r0 * din..r1 * din]
                } else {
                    &*prev[k - 1]
                };
                layers[k].forward_rows(inp, &mut *cur[0], r1 - r0, ctx);
            }
        };
        match ctx.par {
            Par::Seq => per_block.into_iter().enumerate().for_each(run),
            Par::Rayon => per_block.into_par_iter().enumerate().for_each(run),
        }
    }

    /// Backward pass of the row-local layers `l..e`, one row block at a time
    /// from layer `e - 1` down to `l`. Partial parameter gradients go to a
    /// block-major arena and are reduced in block order afterwards; the
    /// gradient flowing between layers and the layers' temporaries live in
    /// one buffer per worker, reused from block to block so they stay in
    /// cache (worker `w` of `P` takes blocks `w, w + P, ...`; the assignment
    /// does not affect any result). Writes the input gradient of layer `l`
    /// into `dx` when given.
    fn backward_segment(
        &mut self,
        l: usize,
        e: usize,
        x: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) {
        let n = x.rows();
        for k in l..e {
            self.layers[k].prepare_rows();
        }
        let nb = n_blocks(n);
        if nb == 0 {
            if let Some(m) = dx {
                m.resize(0, self.width_in(l));
            }
            return;
        }
        let strides: Vec<usize> = self.layers[l..e]
            .iter()
            .map(|k| k.block_scratch_len(ctx))
            .collect();
        let offsets: Vec<usize> = strides
            .iter()
            .scan(0, |acc, &s| {
                let o = *acc;
                *acc += s;
                Some(o)
            })
            .collect();
        let total: usize = strides.iter().sum();
        ensure_len(&mut self.block_scratch, nb * total);
        let maxw = (l..e)
            .map(|k| self.width_in(k).max(self.dims[k]))
            .max()
            .unwrap_or(1);
        let half = ROW_BLOCK * maxw;
        let temp_len = self.layers[l..e]
            .iter()
            .map(|k| k.block_temp_len())
            .max()
            .unwrap_or(0);
        let per_worker = 2 * half + temp_len;
        let workers = match ctx.par {
            Par::Seq => 1,
            Par::Rayon => rayon::current_num_threads().clamp(1, nb),
        };
        ensure_len(&mut self.block_tmp, workers * per_worker);
        let din = self.width_in(l);
        let dout = self.dims[e - 1];
        let (dims, layers, outs) = (&self.dims, &self.layers, &self.outs);
        let input_dim = self.input_dim;
        let xs = x.as_slice();
        let dys = dy.as_slice();
        // Each block's rows of dx (if wanted) and partial-gradient scratch,
        // dealt to the workers round-robin.
        let mut jobs: Vec<Vec<BlockJob<'_, T>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut dx_rest: Option<&mut [T]> = dx.map(|m| {
            m.resize(n, din);
            m.as_mut_slice()
        });
        let mut scr_rest: &mut [T] = &mut self.block_scratch[..nb * total];
        for b in 0..nb {
            let (r0, r1) = block_rows(b, n);
            let dxb = dx_rest.take().map(|s| {
                let (head, tail) = s.split_at_mut((r1 - r0) * din);
                dx_rest = Some(tail);
                head
            });
            let (head, tail) = std::mem::take(&mut scr_rest).split_at_mut(total);
            scr_rest = tail;
            jobs[b % workers].push((b, dxb, head));
        }
        let (strides, offsets) = (&strides, &offsets);
        let work = |(list, tmp): (Vec<BlockJob<'_, T>>, &mut [T])| {
            let (t0, rest) = tmp.split_at_mut(half);
            let (t1, temp) = rest.split_at_mut(half);
            for (b, mut dxb, scratch) in list {
                let (r0, r1) = block_rows(b, n);
                let rows = r1 - r0;
                let mut which = 0;
                for (i, k) in (l..e).rev().enumerate() {
                    let (dst, src) = if which == 0 {
                        (&mut *t0, &*t1)
                    } else {
                        (&mut *t1, &*t0)
                    };
                    let dk_out = dims[k];
                    let width_in = if k == 0 { input_dim } else { dims[k - 1] };
                    let g: &[T] = if i == 0 {
                        &dys[r0 * dout..r1 * dout]
                    } else {
                        &src[..rows * dk_out]
                    };
                    let input: &[T] = if k == 0 {
                        &xs[r0 * width_in..r1 * width_in]
                    } else {
                        &outs[k - 1].as_slice()[r0 * width_in..r1 * width_in]
                    };
                    let y = &outs[k].as_slice()[r0 * dk_out..r1 * dk_out];
                    let j = k - l;
                    let s = &mut scratch[offsets[j]..offsets[j] + strides[j]];
                    let target: Option<&mut [T]> = if k > l {
                        Some(&mut dst[..rows * width_in])
                    } else {
                        dxb.take()
                    };
                    layers[k].backward_rows(input, y, g, target, rows, s, &mut *temp, ctx);
                    which ^= 1;
                }
            }
        };
        let tmps = self.block_tmp[..workers * per_worker].chunks_mut(per_worker);
        match ctx.par {
            Par::Seq => jobs.into_iter().zip(tmps).for_each(work),
            Par::Rayon => jobs
                .into_par_iter()
                .zip(tmps.collect::<Vec<_>>())
                .for_each(work),
        }
        for (j, k) in (l..e).enumerate() {
            let partials = &self.block_scratch[offsets[j]..];
            self.layers[k].reduce_block_scratch(partials, nb, total, ctx);
        }
    }

    /// Back-propagates `dy` ($\partial L/\partial$ output) through the network
    /// after a [`forward`](Sequential::forward) on the same `x`. Parameter
    /// gradients are **added** (call [`Parameters::zero_grad`] between steps);
    /// returns $\partial L/\partial x$ when `want_dx`.
    ///
    /// # Errors
    /// [`NnError::BackwardBeforeForward`] when `forward` did not run on a batch
    /// of `x.rows()` rows; shape errors on `x` or `dy`.
    pub fn backward(
        &mut self,
        x: &Matrix<T>,
        dy: &Matrix<T>,
        want_dx: bool,
        ctx: &Ctx,
    ) -> Result<Option<&Matrix<T>>> {
        let n = x.rows();
        if self.last_rows != Some(n) || self.layers.is_empty() {
            return Err(NnError::BackwardBeforeForward {
                layer: "sequential".into(),
                forward_rows: self.last_rows.unwrap_or(0),
                backward_rows: n,
            });
        }
        x.expect_cols("network input", self.input_dim)?;
        dy.expect_shape("network output gradient", n, self.output_dim())?;
        let [mut a, mut b] = std::mem::take(&mut self.grads);
        let mut result = Ok(());
        // `a` holds the gradient flowing into the layers below, except at the
        // start, where it is the caller's `dy`.
        let mut from_caller = true;
        let mut e = self.layers.len();
        while e > 0 {
            let mut l = e - 1;
            if self.layers[l].row_local() {
                while l > 0 && self.layers[l - 1].row_local() {
                    l -= 1;
                }
            }
            let need = l > 0 || want_dx;
            let g = if from_caller { dy } else { &a };
            let r = if e - l > 1 {
                self.backward_segment(l, e, x, g, need.then_some(&mut b), ctx);
                Ok(())
            } else {
                let input = if l == 0 { x } else { &self.outs[l - 1] };
                self.layers[l].backward(input, &self.outs[l], g, need.then_some(&mut b), ctx)
            };
            if let Err(err) = r {
                result = Err(err);
                break;
            }
            std::mem::swap(&mut a, &mut b);
            from_caller = false;
            e = l;
        }
        self.grads = [a, b];
        result?;
        Ok(if want_dx { Some(&self.grads[0]) } else { None })
    }

    /// Inference: an eval-mode forward pass, returning a copy of the output.
    ///
    /// # Errors
    /// As [`Sequential::forward`].
    pub fn predict(&mut self, x: &Matrix<T>, par: Par) -> Result<Matrix<T>> {
        Ok(self.forward(x, &Ctx::eval().with_par(par))?.clone())
    }

    /// The vector–Jacobian product $\bar x = J_f(x)^\top \bar y$ in inference
    /// mode, without touching parameter gradients. With `dy` a one-hot column
    /// this is the gradient of one output with respect to the inputs.
    ///
    /// # Errors
    /// As [`Sequential::forward`] and [`Sequential::backward`].
    pub fn input_gradient(&mut self, x: &Matrix<T>, dy: &Matrix<T>, par: Par) -> Result<Matrix<T>> {
        let ctx = Ctx::eval().with_par(par).without_param_grads();
        self.forward(x, &ctx)?;
        match self.backward(x, dy, true, &ctx)? {
            Some(g) => Ok(g.clone()),
            None => Err(shape("input gradient", "a gradient", "none")),
        }
    }
}

impl<T: Float> Parameters<T> for Sequential<T> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        for l in &self.layers {
            l.visit_params(f);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        for l in &mut self.layers {
            l.visit_params_mut(f);
        }
    }
    fn visit_buffers(&self, f: &mut dyn FnMut(&'static str, &[T])) {
        for l in &self.layers {
            l.visit_buffers(f);
        }
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&'static str, &mut [T])) {
        for l in &mut self.layers {
            l.visit_buffers_mut(f);
        }
    }
}

impl<T: Float> Layer<T> for Sequential<T> {
    fn kind(&self) -> &'static str {
        "sequential"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        if input_dim != self.input_dim {
            return Err(shape("sequential input", self.input_dim, input_dim));
        }
        Ok(Sequential::output_dim(self))
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        let out = Sequential::forward(self, x, ctx)?;
        y.resize(out.rows(), out.cols());
        y.as_mut_slice().copy_from_slice(out.as_slice());
        Ok(())
    }
    fn backward(
        &mut self,
        x: &Matrix<T>,
        _y: &Matrix<T>,
        dy: &Matrix<T>,
        dx: Option<&mut Matrix<T>>,
        ctx: &Ctx,
    ) -> Result<()> {
        let want = dx.is_some();
        let g = Sequential::backward(self, x, dy, want, ctx)?;
        if let (Some(dx), Some(g)) = (dx, g) {
            dx.resize(g.rows(), g.cols());
            dx.as_mut_slice().copy_from_slice(g.as_slice());
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Sequential {
            input_dim: self.input_dim,
            layers: self.specs(),
        }
    }
}
