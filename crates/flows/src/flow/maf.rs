//! The masked autoregressive flow: architecture, exact log-density, its
//! gradients with respect to the inputs and the context, and sampling.

use super::spline::{n_params as rq_params, Knots};
use crate::model::Result;
use darkprobe_core::rng::rng_from_seed;
use darkprobe_core::Error;
use darkprobe_nn::checkpoint::Checkpoint;
use darkprobe_nn::made::{
    hidden_degrees, hidden_mask, natural_order, output_mask, reversed_order, HiddenDegrees,
};
use darkprobe_nn::{Activation, Ctx, Init, MaskedDense, Matrix, Parameters, Sequential};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// $\ln\sqrt{2\pi}$.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Rows per chunk when a batch is evaluated in parallel (each worker thread
/// gets its own copy of the networks and reuses it from chunk to chunk; rows
/// are independent, so the chunking never changes a result). Two row blocks
/// of darkprobe-nn: small enough that the activations of all blocks of a
/// flow stay close to the core, large enough that the per-chunk bookkeeping
/// is negligible.
const EVAL_CHUNK: usize = 1024;

/// The element-wise transform of each MADE block.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transform {
    /// $z_i = (x_i - m_i)\,e^{-\alpha_i}$ with shift $m_i$ and soft-clamped
    /// log-scale $\alpha_i$ (Papamakarios et al. 2017); the format of models
    /// saved before splines existed.
    #[default]
    Affine,
    /// A monotone rational-quadratic spline with `bins` bins on
    /// $[-B, B]$ (`bound` $=B$, in the units of the whitened data) and the
    /// identity outside (Durkan et al. 2019, arXiv:1906.04032); $3K-1$
    /// network outputs per dimension.
    RationalQuadratic {
        /// Number of bins $K$ (2 to 64).
        bins: usize,
        /// Half-width $B$ of the spline interval (> 0).
        bound: f64,
    },
}

impl Transform {
    /// Network outputs per modelled dimension.
    pub fn params_per_dim(&self) -> usize {
        match self {
            Transform::Affine => 2,
            Transform::RationalQuadratic { bins, .. } => rq_params(*bins),
        }
    }
}

/// Architecture of a [`Maf`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MafConfig {
    /// Dimension $D$ of the modelled variable.
    pub dim: usize,
    /// Dimension $C$ of the conditioning context (0: unconditional flow).
    pub context_dim: usize,
    /// Number of MADE blocks $K$ (orderings alternate natural / reversed).
    pub n_blocks: usize,
    /// Hidden widths of each MADE.
    pub hidden: Vec<usize>,
    /// Activation between the MADE layers. ELU ($\alpha=1$, continuously
    /// differentiable) gives continuous gradients of $\ln p$, as tanh does;
    /// tanh was measured about 50 times slower per training step (the libm
    /// `tanh` dominates), ReLU about 3 times faster but with gradients of
    /// $\ln p$ that jump across the kinks.
    pub activation: Activation,
    /// Bound $A$ of the soft clamp $\alpha = A\tanh(r/A)$ on each log-scale
    /// (keeps early training stable; $e^{A}$ is the largest scale change of one
    /// block).
    pub max_log_scale: f64,
    /// The transform of every block (affine when absent from a saved file).
    #[serde(default)]
    pub transform: Transform,
}

impl MafConfig {
    /// A configuration with `n_blocks` MADEs of hidden widths `hidden`, ELU
    /// activations, affine transforms and a log-scale bound of 6.
    pub fn new(dim: usize, context_dim: usize, n_blocks: usize, hidden: Vec<usize>) -> Self {
        Self {
            dim,
            context_dim,
            n_blocks,
            hidden,
            activation: Activation::Elu(1.0),
            max_log_scale: 6.0,
            transform: Transform::Affine,
        }
    }

    /// The same configuration with another transform.
    pub fn with_transform(mut self, transform: Transform) -> Self {
        self.transform = transform;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// An invalid-parameter error naming the first bad field.
    pub fn check(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(Error::invalid_param("flow dim", self.dim, "at least 1"));
        }
        if self.n_blocks == 0 {
            return Err(Error::invalid_param(
                "flow n_blocks",
                self.n_blocks,
                "at least 1",
            ));
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::invalid_param(
                "flow hidden widths",
                format!("{:?}", self.hidden),
                "at least one hidden layer, every width >= 1",
            ));
        }
        if !(self.max_log_scale.is_finite() && self.max_log_scale > 0.0) {
            return Err(Error::invalid_param(
                "flow max_log_scale",
                self.max_log_scale,
                "finite and > 0",
            ));
        }
        if let Transform::RationalQuadratic { bins, bound } = self.transform {
            if !(2..=64).contains(&bins) {
                return Err(Error::invalid_param("flow spline bins", bins, "2 to 64"));
            }
            if !(bound.is_finite() && bound > 0.0) {
                return Err(Error::invalid_param(
                    "flow spline bound",
                    bound,
                    "finite and > 0",
                ));
            }
        }
        Ok(())
    }
}

/// Per-dimension affine whitening $u = (x-\mu)/\sigma$.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Whitening {
    /// $\mu$ per dimension.
    pub mean: Vec<f64>,
    /// $\sigma$ per dimension (> 0).
    pub std: Vec<f64>,
}

impl Whitening {
    /// The identity map in `dim` dimensions.
    pub fn identity(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            std: vec![1.0; dim],
        }
    }

    /// Sample mean and standard deviation of row-major `data` with `dim`
    /// columns.
    ///
    /// # Errors
    /// Empty data, a length that is not a multiple of `dim`, a non-finite
    /// value (named by row and column) or a constant column.
    pub fn from_data(data: &[f64], dim: usize, what: &str) -> Result<Self> {
        check_rows(data, dim, what)?;
        let n = data.len() / dim;
        if n < 2 {
            return Err(Error::empty(
                format!("{what}: {n} row(s)"),
                "whitening needs at least two rows",
            ));
        }
        let mut mean = vec![0.0; dim];
        for row in data.chunks_exact(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0; dim];
        for row in data.chunks_exact(dim) {
            for ((v, &x), &m) in var.iter_mut().zip(row).zip(&mean) {
                *v += (x - m) * (x - m);
            }
        }
        let mut std = Vec::with_capacity(dim);
        for (j, v) in var.iter().enumerate() {
            let s = (v / (n - 1) as f64).sqrt();
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::invalid_param(
                    format!("{what} column {j} standard deviation"),
                    s,
                    "> 0 (a constant column cannot be modelled by a density)",
                ));
            }
            std.push(s);
        }
        Ok(Self { mean, std })
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    /// $\sum_j \ln\sigma_j$, the log-Jacobian of $x\mapsto u$ with a minus sign.
    pub fn ln_det(&self) -> f64 {
        self.std.iter().map(|s| s.ln()).sum()
    }

    pub(crate) fn apply(&self, data: &[f64]) -> Matrix<f64> {
        let d = self.dim();
        let n = data.len().checked_div(d).unwrap_or(0);
        Matrix::from_fn(n, d, |i, j| (data[i * d + j] - self.mean[j]) / self.std[j])
    }
}

/// Checks that `data` holds whole finite rows of width `dim`.
pub(crate) fn check_rows(data: &[f64], dim: usize, what: &str) -> Result<()> {
    if dim == 0 {
        return if data.is_empty() {
            Ok(())
        } else {
            Err(Error::shape(format!("{what} (0 columns)"), 0, data.len()))
        };
    }
    if !data.len().is_multiple_of(dim) {
        return Err(Error::shape(
            format!("{what} length (row-major, {dim} columns)"),
            format!("a multiple of {dim}"),
            data.len(),
        ));
    }
    if let Some(k) = data.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid_param(
            format!("{what} row {} column {}", k / dim, k % dim),
            data[k],
            "finite",
        ));
    }
    Ok(())
}

/// $\ln p$ with its gradients at a batch of points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LnProbGrad {
    /// $\ln p(x_i\mid c_i)$.
    pub ln_p: Vec<f64>,
    /// $\nabla_x\ln p$, row-major ($N\times D$).
    pub grad_x: Vec<f64>,
    /// $\nabla_c\ln p$, row-major ($N\times C$; empty when $C=0$).
    pub grad_context: Vec<f64>,
}

/// A masked autoregressive flow (Papamakarios, Pavlakou & Murray 2017):
/// $K$ MADE blocks with affine transforms and alternating orderings,
/// optionally conditioned on a context vector, with whitening of the data and
/// of the context. See the crate documentation for the maths.
///
/// ```
/// use darkprobe_flows::flow::{Maf, MafConfig, Whitening};
/// use rand::SeedableRng;
/// let cfg = MafConfig::new(2, 0, 3, vec![16, 16]);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let flow = Maf::new(cfg, Whitening::identity(2), Whitening::identity(0), &mut rng).unwrap();
/// // Sampling inverts the density direction exactly.
/// let x = flow.sample(5, &[], 7).unwrap();
/// let (z, _) = flow.to_latent(&x, &[]).unwrap();
/// let back = flow.from_latent(&z, &[]).unwrap();
/// assert!(x.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-9));
/// ```
#[derive(Debug)]
pub struct Maf {
    pub(crate) config: MafConfig,
    pub(crate) orders: Vec<Vec<usize>>,
    /// The MADE networks; private so that every mutable access goes through
    /// [`Maf::nets_mut`], which empties the pool of working copies.
    nets: Vec<Sequential<f64>>,
    pub(crate) x_white: Whitening,
    pub(crate) c_white: Whitening,
    /// Working copies of `nets` for evaluation, kept between calls.
    pub(crate) pool: NetPool,
}

/// Working copies of a flow's networks kept between evaluations.
///
/// Evaluating needs mutable networks (they keep their activations), and
/// copying them goes through a checkpoint, which costs about a millisecond
/// for a default flow: more than evaluating a few hundred rows. The only
/// mutable access to a flow's networks, [`Maf::nets_mut`], empties the pool,
/// so training or any other change of the parameters can never leave a
/// stale copy in use.
#[derive(Default)]
pub(crate) struct NetPool(std::sync::Mutex<Vec<Vec<Sequential<f64>>>>);

impl std::fmt::Debug for NetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetPool")
    }
}

/// Most copies a pool keeps: one per rayon thread (at least two).
fn pool_max() -> usize {
    rayon::current_num_threads().max(2)
}

/// A working copy taken from a pool, given back when dropped (also by the
/// per-worker state of a parallel evaluation).
struct PooledNets<'a> {
    pool: &'a NetPool,
    nets: Option<Vec<Sequential<f64>>>,
}

impl PooledNets<'_> {
    fn get(&mut self) -> &mut [Sequential<f64>] {
        self.nets.as_deref_mut().unwrap_or_default()
    }
}

impl Drop for PooledNets<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.nets.take() {
            self.pool.give(n);
        }
    }
}

impl NetPool {
    /// A working copy of `nets`: a pooled one if there is one, else a fresh
    /// one; it goes back to the pool when dropped.
    fn take<'a>(&'a self, nets: &[Sequential<f64>]) -> PooledNets<'a> {
        let copy = self
            .0
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| clone_nets(nets));
        PooledNets {
            pool: self,
            nets: Some(copy),
        }
    }

    /// Drops every pooled copy (the networks are about to change).
    fn clear(&mut self) {
        if let Ok(p) = self.0.get_mut() {
            p.clear();
        }
    }

    /// Returns a working copy to the pool.
    fn give(&self, copy: Vec<Sequential<f64>>) {
        if let Ok(mut p) = self.0.lock() {
            if p.len() < pool_max() {
                p.push(copy);
            }
        }
    }
}

/// What a forward (density-direction) pass keeps for back-propagation.
#[derive(Debug, Default)]
pub(crate) struct Tape {
    /// Network input $[h, c]$ of each block.
    inputs: Vec<Matrix<f64>>,
    /// Shift $m$ and clamped log-scale $\alpha$ of each block ($N\times 2D$).
    shift_scale: Vec<Matrix<f64>>,
    /// $1-\tanh^2(r/A)$ of each block ($N\times D$).
    dclamp: Vec<Matrix<f64>>,
    /// $e^{-\alpha}$ of each block ($N\times D$), kept so that the
    /// backward pass does not recompute the exponentials.
    inv_scale: Vec<Matrix<f64>>,
    /// Latent point $z$ ($N\times D$).
    pub(crate) z: Matrix<f64>,
    /// $\sum_k\sum_i \alpha^k_i$ per row.
    pub(crate) sum_alpha: Vec<f64>,
}

impl Clone for Maf {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            orders: self.orders.clone(),
            nets: clone_nets(&self.nets),
            x_white: self.x_white.clone(),
            c_white: self.c_white.clone(),
            pool: NetPool::default(),
        }
    }
}

pub(crate) fn clone_nets(nets: &[Sequential<f64>]) -> Vec<Sequential<f64>> {
    nets.iter()
        .map(|n| {
            // A network rebuilt from its own checkpoint always matches it.
            Checkpoint::of_network(n)
                .build_network()
                .unwrap_or_else(|_| Sequential::new(n.input_dim()))
        })
        .collect()
}

/// Builds the MADE of one block: inputs `[h, c]` with degrees
/// `order ++ [0; C]` (the context reaches every hidden unit and output).
fn build_made<R: Rng + ?Sized>(
    order: &[usize],
    cfg: &MafConfig,
    rng: &mut R,
) -> Result<Sequential<f64>> {
    let d = cfg.dim;
    let mut prev: Vec<usize> = order.to_vec();
    prev.extend(std::iter::repeat_n(0, cfg.context_dim));
    let mut net = Sequential::new(d + cfg.context_dim);
    for &w in &cfg.hidden {
        let prev_min = prev.iter().copied().filter(|&m| m > 0).min().unwrap_or(1);
        let deg = hidden_degrees(d, w, prev_min, HiddenDegrees::Sequential, rng);
        let mask = hidden_mask(&prev, &deg);
        let layer = MaskedDense::new(prev.len(), w, mask, Init::Default, rng)?;
        match cfg.activation {
            Activation::PRelu => {
                net.push(layer)?;
                net.push_boxed(cfg.activation.layer(w)?)?;
            }
            a => {
                net.push(layer.with_activation(a)?)?;
            }
        }
        prev = deg;
    }
    // Outputs: P groups of D (affine: shifts m_i then raw log-scales r_i;
    // spline: width logits, height logits, derivatives), each output with
    // the degree of its x_i.
    let p = cfg.transform.params_per_dim();
    let out_deg: Vec<usize> = (0..p).flat_map(|_| order.iter().copied()).collect();
    let mask = output_mask(&prev, &out_deg);
    let mut last = MaskedDense::new(prev.len(), p * d, mask, Init::Default, rng)?;
    // Start close to the identity map: small output weights and biases.
    last.visit_params_mut(&mut |p| p.value.iter_mut().for_each(|v| *v *= 0.01));
    net.push(last)?;
    Ok(net)
}

impl Maf {
    /// The MADE networks.
    pub(crate) fn nets(&self) -> &[Sequential<f64>] {
        &self.nets
    }

    /// The MADE networks, mutably; empties the pool of working copies.
    pub(crate) fn nets_mut(&mut self) -> &mut Vec<Sequential<f64>> {
        self.pool.clear();
        &mut self.nets
    }

    /// The MADE networks, mutably (emptying the pool), with the
    /// configuration.
    pub(crate) fn nets_mut_and_config(&mut self) -> (&mut Vec<Sequential<f64>>, &MafConfig) {
        self.pool.clear();
        (&mut self.nets, &self.config)
    }

    /// A freshly initialised flow (close to the identity map from whitened
    /// data to the latent Gaussian).
    ///
    /// # Errors
    /// An invalid configuration or whitening dimensions that disagree with it.
    pub fn new<R: Rng + ?Sized>(
        config: MafConfig,
        x_white: Whitening,
        c_white: Whitening,
        rng: &mut R,
    ) -> Result<Self> {
        config.check()?;
        check_whitening(&config, &x_white, &c_white)?;
        let mut orders = Vec::with_capacity(config.n_blocks);
        let mut nets = Vec::with_capacity(config.n_blocks);
        for k in 0..config.n_blocks {
            let order = if k % 2 == 0 {
                natural_order(config.dim)
            } else {
                reversed_order(config.dim)
            };
            nets.push(build_made(&order, &config, rng)?);
            orders.push(order);
        }
        Ok(Self {
            config,
            orders,
            nets,
            x_white,
            c_white,
            pool: NetPool::default(),
        })
    }

    /// Writes the flow as JSON atomically (temporary file + rename); the
    /// round trip through [`Maf::load_json`] is bit-exact.
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn save_json(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::phase_space::save_json(self, path.as_ref())
    }

    /// Reads a flow written by [`Maf::save_json`].
    ///
    /// # Errors
    /// I/O errors, parse errors naming the file and line, a file larger than
    /// [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES), and records whose
    /// networks do not match their configuration.
    pub fn load_json(path: impl AsRef<std::path::Path>) -> Result<Self> {
        crate::phase_space::load_json(path.as_ref())
    }

    /// The architecture.
    pub fn config(&self) -> &MafConfig {
        &self.config
    }

    /// Dimension $D$.
    pub fn dim(&self) -> usize {
        self.config.dim
    }

    /// Context dimension $C$.
    pub fn context_dim(&self) -> usize {
        self.config.context_dim
    }

    /// Whitening of the modelled variable.
    pub fn whitening(&self) -> &Whitening {
        &self.x_white
    }

    /// Whitening of the context.
    pub fn context_whitening(&self) -> &Whitening {
        &self.c_white
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.nets.num_params()
    }

    /// Checks `x` (row-major, $D$ columns) and `context` ($C$ columns, same
    /// rows; empty when $C=0$); returns the number of rows.
    pub(crate) fn check_batch(&self, x: &[f64], context: &[f64]) -> Result<usize> {
        check_rows(x, self.dim(), "flow input")?;
        let n = x.len() / self.dim();
        if self.context_dim() > 0 {
            check_rows(context, self.context_dim(), "flow context")?;
            if context.len() != n * self.context_dim() {
                return Err(Error::shape(
                    "flow context rows",
                    n,
                    context.len() / self.context_dim(),
                ));
            }
        } else if !context.is_empty() {
            return Err(Error::shape(
                "flow context (unconditional flow)",
                0,
                context.len(),
            ));
        }
        Ok(n)
    }

    /// Density-direction pass on whitened data `u` and whitened context `c`.
    pub(crate) fn pass(
        nets: &mut [Sequential<f64>],
        cfg: &MafConfig,
        u: &Matrix<f64>,
        c: &Matrix<f64>,
        ctx: &Ctx,
        tape: &mut Tape,
    ) -> Result<()> {
        let (n, d) = (u.rows(), cfg.dim);
        let cd = cfg.context_dim;
        let a_max = cfg.max_log_scale;
        tape.inputs.resize_with(nets.len(), || Matrix::zeros(0, 0));
        tape.shift_scale
            .resize_with(nets.len(), || Matrix::zeros(0, 0));
        tape.dclamp.resize_with(nets.len(), || Matrix::zeros(0, 0));
        tape.inv_scale
            .resize_with(nets.len(), || Matrix::zeros(0, 0));
        tape.sum_alpha.clear();
        tape.sum_alpha.resize(n, 0.0);
        let mut h = u.clone();
        for (k, net) in nets.iter_mut().enumerate() {
            let inp = &mut tape.inputs[k];
            inp.resize(n, d + cd);
            for i in 0..n {
                let row = inp.row_mut(i);
                row[..d].copy_from_slice(h.row(i));
                if cd > 0 {
                    row[d..].copy_from_slice(c.row(i));
                }
            }
            let y = net.forward(inp, ctx).map_err(Error::from)?;
            if let Transform::RationalQuadratic { bins, bound } = cfg.transform {
                let p = rq_params(bins);
                let mut knots = Knots::new(bins);
                let mut raw = vec![0.0; p];
                for i in 0..n {
                    let yr = y.row(i);
                    let hr = h.row_mut(i);
                    let mut s = 0.0;
                    for j in 0..d {
                        for (q, r) in raw.iter_mut().enumerate() {
                            *r = yr[q * d + j];
                        }
                        knots.set(&raw, bound);
                        let (z, ln_dz) = knots.forward(hr[j]);
                        hr[j] = z;
                        s -= ln_dz;
                    }
                    tape.sum_alpha[i] += s;
                }
                tape.shift_scale[k] = y.clone();
                continue;
            }
            let ss = &mut tape.shift_scale[k];
            ss.resize(n, 2 * d);
            let dc = &mut tape.dclamp[k];
            dc.resize(n, d);
            let is = &mut tape.inv_scale[k];
            is.resize(n, d);
            for i in 0..n {
                let yr = y.row(i);
                let hr = h.row_mut(i);
                let ssr = ss.row_mut(i);
                let dcr = dc.row_mut(i);
                let isr = is.row_mut(i);
                let mut s = 0.0;
                for j in 0..d {
                    let t = (yr[d + j] / a_max).tanh();
                    let alpha = a_max * t;
                    let m = yr[j];
                    ssr[j] = m;
                    ssr[d + j] = alpha;
                    dcr[j] = 1.0 - t * t;
                    let e = (-alpha).exp();
                    isr[j] = e;
                    hr[j] = (hr[j] - m) * e;
                    s += alpha;
                }
                tape.sum_alpha[i] += s;
            }
        }
        tape.z = h;
        Ok(())
    }

    /// Back-propagates $L=\sum_i w_i\,[\tfrac12|z_i|^2+\sum_k\sum_j\alpha^k_{ij}]$
    /// (the negative log-likelihood up to constants, row weights `w`) through
    /// the pass recorded in `tape`; returns $\partial L/\partial u$ and
    /// $\partial L/\partial c$ (whitened). Parameter gradients are added when
    /// `ctx.param_grads`.
    pub(crate) fn backprop(
        nets: &mut [Sequential<f64>],
        cfg: &MafConfig,
        tape: &Tape,
        w: &[f64],
        ctx: &Ctx,
        want_inputs: bool,
    ) -> Result<(Matrix<f64>, Matrix<f64>)> {
        let (n, d) = (tape.z.rows(), cfg.dim);
        let cd = cfg.context_dim;
        let mut gz = Matrix::from_fn(n, d, |i, j| w[i] * tape.z.get(i, j));
        let mut gc = Matrix::zeros(n, cd);
        let mut dy = Matrix::zeros(n, cfg.transform.params_per_dim() * d);
        if let Transform::RationalQuadratic { bins, bound } = cfg.transform {
            let p = rq_params(bins);
            let mut knots = Knots::new(bins);
            let mut raw = vec![0.0; p];
            let mut g = vec![0.0; p];
            let mut gdiag = Matrix::zeros(n, d);
            for k in (0..nets.len()).rev() {
                let y = &tape.shift_scale[k];
                for (i, &wi) in w.iter().enumerate().take(n) {
                    let yr = y.row(i);
                    let hr = &tape.inputs[k].row(i)[..d];
                    let gzr = gz.row(i);
                    let dyr = dy.row_mut(i);
                    let gdr = gdiag.row_mut(i);
                    for j in 0..d {
                        for (q, r) in raw.iter_mut().enumerate() {
                            *r = yr[q * d + j];
                        }
                        knots.set(&raw, bound);
                        g.iter_mut().for_each(|v| *v = 0.0);
                        gdr[j] = knots.backward(hr[j], gzr[j], -wi, &mut g);
                        for (q, &gq) in g.iter().enumerate() {
                            dyr[q * d + j] = gq;
                        }
                    }
                }
                let need_dx = k > 0 || want_inputs;
                let dx = nets[k]
                    .backward(&tape.inputs[k], &dy, need_dx, ctx)
                    .map_err(Error::from)?;
                if let Some(dx) = dx {
                    fold_input_grad(dx, d, cd, &mut gz, &mut gc, |i, j, _, dxv| {
                        gdiag.row(i)[j] + dxv
                    });
                }
            }
            return Ok((gz, gc));
        }
        // Block outputs: z^K = tape.z; the output of block k-1 is the input of block k.
        for k in (0..nets.len()).rev() {
            let dc = &tape.dclamp[k];
            let is = &tape.inv_scale[k];
            let out_prev: &Matrix<f64> = if k + 1 == nets.len() {
                &tape.z
            } else {
                &tape.inputs[k + 1]
            };
            for (i, &wi) in w.iter().enumerate().take(n) {
                let isr = is.row(i);
                let dcr = dc.row(i);
                let zr = &out_prev.row(i)[..d];
                let gzr = gz.row(i);
                let dyr = dy.row_mut(i);
                for j in 0..d {
                    dyr[j] = -gzr[j] * isr[j];
                    dyr[d + j] = (wi - gzr[j] * zr[j]) * dcr[j];
                }
            }
            let need_dx = k > 0 || want_inputs;
            let dx = nets[k]
                .backward(&tape.inputs[k], &dy, need_dx, ctx)
                .map_err(Error::from)?;
            if let Some(dx) = dx {
                fold_input_grad(dx, d, cd, &mut gz, &mut gc, |i, j, g, dxv| {
                    g * is.row(i)[j] + dxv
                });
            }
        }
        Ok((gz, gc))
    }

    fn whiten_context(&self, context: &[f64], n: usize) -> Matrix<f64> {
        if self.context_dim() == 0 {
            Matrix::zeros(n, 0)
        } else {
            self.c_white.apply(context)
        }
    }

    /// Runs `f` on row chunks of the batch in parallel, each worker with its
    /// own copy of the networks (made once per worker, not once per chunk:
    /// the copies own large activation buffers), and concatenates the results
    /// in order.
    fn chunked<T: Send>(
        &self,
        n: usize,
        f: impl Fn(&mut [Sequential<f64>], std::ops::Range<usize>) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let n_chunks = n.div_ceil(EVAL_CHUNK).max(1);
        let rows = |b: usize| b * EVAL_CHUNK..((b + 1) * EVAL_CHUNK).min(n);
        if n_chunks == 1 || rayon::current_num_threads() == 1 {
            let mut nets = self.pool.take(&self.nets);
            return (0..n_chunks).map(|b| f(nets.get(), rows(b))).collect();
        }
        darkprobe_core::par::map_indices_with(
            n_chunks,
            || self.pool.take(&self.nets),
            |nets, b| f(nets.get(), rows(b)),
        )
        .into_iter()
        .collect()
    }

    /// Maps data $x$ (row-major $N\times D$) with context (row-major
    /// $N\times C$, empty when $C=0$) to the latent $z$, returning $z$ and
    /// $\ln|\det\partial z/\partial x|$ per row (whitening included).
    ///
    /// # Errors
    /// Shape errors and non-finite input (named by row and column).
    pub fn to_latent(&self, x: &[f64], context: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = self.check_batch(x, context)?;
        let (d, cd) = (self.dim(), self.context_dim());
        let lnw = self.x_white.ln_det();
        let parts = self.chunked(n, |nets, r| {
            let u = self.x_white.apply(&x[r.start * d..r.end * d]);
            let c = self.whiten_context(&context[r.start * cd..r.end * cd], r.len());
            let mut tape = Tape::default();
            Self::pass(nets, &self.config, &u, &c, &Ctx::eval(), &mut tape)?;
            let ld: Vec<f64> = tape.sum_alpha.iter().map(|s| -s - lnw).collect();
            Ok((tape.z.into_vec(), ld))
        })?;
        let mut z = Vec::with_capacity(n * d);
        let mut ld = Vec::with_capacity(n);
        for (a, b) in parts {
            z.extend(a);
            ld.extend(b);
        }
        Ok((z, ld))
    }

    /// $\ln p(x\mid c)$ for each row.
    ///
    /// # Errors
    /// As [`Maf::to_latent`].
    pub fn ln_prob(&self, x: &[f64], context: &[f64]) -> Result<Vec<f64>> {
        let d = self.dim();
        let (z, ld) = self.to_latent(x, context)?;
        Ok(z.chunks_exact(d)
            .zip(&ld)
            .map(|(zr, l)| {
                -0.5 * zr.iter().map(|v| v * v).sum::<f64>() - d as f64 * LN_SQRT_2PI + l
            })
            .collect())
    }

    /// $\ln p(x\mid c)$ with its exact gradients with respect to $x$ and to
    /// the (raw, unwhitened) context, by back-propagation through the flow.
    ///
    /// # Errors
    /// As [`Maf::to_latent`].
    pub fn ln_prob_grad(&self, x: &[f64], context: &[f64]) -> Result<LnProbGrad> {
        let n = self.check_batch(x, context)?;
        let (d, cd) = (self.dim(), self.context_dim());
        let lnw = self.x_white.ln_det();
        let ctx = Ctx::eval().without_param_grads();
        let parts = self.chunked(n, |nets, r| {
            let u = self.x_white.apply(&x[r.start * d..r.end * d]);
            let c = self.whiten_context(&context[r.start * cd..r.end * cd], r.len());
            let mut tape = Tape::default();
            Self::pass(nets, &self.config, &u, &c, &ctx, &mut tape)?;
            let ones = vec![1.0; r.len()];
            let (gu, gc) = Self::backprop(nets, &self.config, &tape, &ones, &ctx, true)?;
            let ln_p: Vec<f64> = (0..r.len())
                .map(|i| {
                    let zr = tape.z.row(i);
                    -0.5 * zr.iter().map(|v| v * v).sum::<f64>()
                        - d as f64 * LN_SQRT_2PI
                        - tape.sum_alpha[i]
                        - lnw
                })
                .collect();
            // gu, gc are gradients of -ln p in whitened coordinates.
            let gx: Vec<f64> = (0..r.len() * d)
                .map(|k| -gu.as_slice()[k] / self.x_white.std[k % d])
                .collect();
            let gcx: Vec<f64> = (0..r.len() * cd)
                .map(|k| -gc.as_slice()[k] / self.c_white.std[k % cd])
                .collect();
            Ok((ln_p, gx, gcx))
        })?;
        let mut out = LnProbGrad::default();
        for (a, b, c) in parts {
            out.ln_p.extend(a);
            out.grad_x.extend(b);
            out.grad_context.extend(c);
        }
        Ok(out)
    }

    /// Inverts the flow: data points from latent points `z` (row-major
    /// $N\times D$) at the given context, solving the autoregressive
    /// recursion one dimension at a time in each block.
    ///
    /// # Errors
    /// Shape errors and non-finite input.
    pub fn from_latent(&self, z: &[f64], context: &[f64]) -> Result<Vec<f64>> {
        let n = self.check_batch(z, context)?;
        let (d, cd) = (self.dim(), self.context_dim());
        let parts = self.chunked(n, |nets, r| {
            let c = self.whiten_context(&context[r.start * cd..r.end * cd], r.len());
            let rows = r.len();
            let mut h = Matrix::from_fn(rows, d, |i, j| z[(r.start + i) * d + j]);
            let mut inp = Matrix::zeros(rows, d + cd);
            for k in (0..nets.len()).rev() {
                let order = &self.orders[k];
                let mut x = Matrix::zeros(rows, d);
                for step in 1..=d {
                    for i in 0..rows {
                        let row = inp.row_mut(i);
                        row[..d].copy_from_slice(x.row(i));
                        if cd > 0 {
                            row[d..].copy_from_slice(c.row(i));
                        }
                    }
                    let y = nets[k].forward(&inp, &Ctx::eval()).map_err(Error::from)?;
                    let Some(j) = order.iter().position(|&m| m == step) else {
                        continue;
                    };
                    if let Transform::RationalQuadratic { bins, bound } = self.config.transform {
                        let mut knots = Knots::new(bins);
                        let mut raw = vec![0.0; rq_params(bins)];
                        for i in 0..rows {
                            let yr = y.row(i);
                            for (q, r) in raw.iter_mut().enumerate() {
                                *r = yr[q * d + j];
                            }
                            knots.set(&raw, bound);
                            x.set(i, j, knots.inverse(h.get(i, j)));
                        }
                        continue;
                    }
                    for i in 0..rows {
                        let yr = y.row(i);
                        let alpha = self.config.max_log_scale
                            * (yr[d + j] / self.config.max_log_scale).tanh();
                        let v = h.get(i, j) * alpha.exp() + yr[j];
                        x.set(i, j, v);
                    }
                }
                h = x;
            }
            Ok((0..rows * d)
                .map(|k| h.as_slice()[k] * self.x_white.std[k % d] + self.x_white.mean[k % d])
                .collect::<Vec<f64>>())
        })?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Draws samples: `n` points when the flow is unconditional (`context`
    /// empty), or one point per context row. Reproducible from `seed`.
    ///
    /// # Errors
    /// `n == 0` for an unconditional flow, bad context shape or values.
    pub fn sample(&self, n: usize, context: &[f64], seed: u64) -> Result<Vec<f64>> {
        let rows = if self.context_dim() == 0 {
            if n == 0 {
                return Err(Error::invalid_param("number of samples", n, "at least 1"));
            }
            n
        } else {
            check_rows(context, self.context_dim(), "flow context")?;
            if context.is_empty() {
                return Err(Error::empty(
                    "context of a conditional flow",
                    "give one context row per sample",
                ));
            }
            context.len() / self.context_dim()
        };
        let mut rng = rng_from_seed(seed);
        let z: Vec<f64> = (0..rows * self.dim())
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        self.from_latent(&z, context)
    }
}

fn check_whitening(cfg: &MafConfig, x: &Whitening, c: &Whitening) -> Result<()> {
    for (w, d, what) in [
        (x, cfg.dim, "data whitening"),
        (c, cfg.context_dim, "context whitening"),
    ] {
        if w.mean.len() != d || w.std.len() != d {
            return Err(Error::shape(what, d, w.mean.len().max(w.std.len())));
        }
        if let Some(s) = w.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid_param(
                format!("{what} std"),
                s,
                "finite and > 0",
            ));
        }
        if let Some(m) = w.mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::invalid_param(format!("{what} mean"), m, "finite"));
        }
    }
    Ok(())
}

/// The serialised form of a [`Maf`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MafRecord {
    format: String,
    version: u32,
    config: MafConfig,
    orders: Vec<Vec<usize>>,
    x_white: Whitening,
    c_white: Whitening,
    nets: Vec<Checkpoint<f64>>,
}

const MAF_FORMAT: &str = "darkprobe-maf";

impl From<&Maf> for MafRecord {
    fn from(m: &Maf) -> Self {
        Self {
            format: MAF_FORMAT.into(),
            version: 1,
            config: m.config.clone(),
            orders: m.orders.clone(),
            x_white: m.x_white.clone(),
            c_white: m.c_white.clone(),
            nets: m.nets.iter().map(Checkpoint::of_network).collect(),
        }
    }
}

impl TryFrom<MafRecord> for Maf {
    type Error = Error;
    fn try_from(r: MafRecord) -> Result<Self> {
        if r.format != MAF_FORMAT || r.version != 1 {
            return Err(Error::invalid_param(
                "flow record format",
                format!("{} v{}", r.format, r.version),
                "darkprobe-maf v1",
            ));
        }
        r.config.check()?;
        check_whitening(&r.config, &r.x_white, &r.c_white)?;
        if r.orders.len() != r.config.n_blocks || r.nets.len() != r.config.n_blocks {
            return Err(Error::shape(
                "flow record blocks",
                r.config.n_blocks,
                r.nets.len(),
            ));
        }
        for o in &r.orders {
            darkprobe_nn::made::check_order(o).map_err(Error::from)?;
            if o.len() != r.config.dim {
                return Err(Error::shape("flow record ordering", r.config.dim, o.len()));
            }
        }
        let mut nets = Vec::with_capacity(r.nets.len());
        for c in &r.nets {
            let net = c.build_network().map_err(Error::from)?;
            if net.input_dim() != r.config.dim + r.config.context_dim
                || net.output_dim() != r.config.transform.params_per_dim() * r.config.dim
            {
                return Err(Error::shape(
                    "flow record network (inputs, outputs)",
                    format!(
                        "({}, {})",
                        r.config.dim + r.config.context_dim,
                        r.config.transform.params_per_dim() * r.config.dim
                    ),
                    format!("({}, {})", net.input_dim(), net.output_dim()),
                ));
            }
            nets.push(net);
        }
        Ok(Self {
            config: r.config,
            orders: r.orders,
            nets,
            x_white: r.x_white,
            c_white: r.c_white,
            pool: NetPool::default(),
        })
    }
}

impl Serialize for Maf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        MafRecord::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Maf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let r = MafRecord::deserialize(d)?;
        Maf::try_from(r).map_err(serde::de::Error::custom)
    }
}

/// Folds one block's input gradient `dx` (per row: the $D$ block inputs,
/// then the $C$ context columns) into the running gradients: `gz[i][j]`
/// becomes `combine(i, j, gz[i][j], dx[i][j])` and the context part is
/// added to `gc`.
fn fold_input_grad(
    dx: &Matrix<f64>,
    d: usize,
    cd: usize,
    gz: &mut Matrix<f64>,
    gc: &mut Matrix<f64>,
    combine: impl Fn(usize, usize, f64, f64) -> f64,
) {
    for i in 0..dx.rows() {
        let dxr = dx.row(i);
        for (j, g) in gz.row_mut(i).iter_mut().enumerate().take(d) {
            *g = combine(i, j, *g, dxr[j]);
        }
        if cd > 0 {
            for (g, &v) in gc.row_mut(i).iter_mut().zip(&dxr[d..]) {
                *g += v;
            }
        }
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::super::tests::{normals, random_flow};
    use super::EVAL_CHUNK;

    fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool")
            .install(f)
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn pooled_network_copies_never_outlive_a_parameter_change() {
        use darkprobe_nn::Parameters;
        let mut flow = random_flow(3, 2, 2, 11);
        let x = normals(3 * 40, 1);
        let c = normals(2 * 40, 2);
        // Two evaluations: the second reuses the pooled copy, bit for bit.
        let first = flow.ln_prob(&x, &c).unwrap();
        assert_eq!(bits(&first), bits(&flow.ln_prob(&x, &c).unwrap()));
        // Change every parameter, then evaluate again: the result must be
        // that of the new parameters (a clone starts with an empty pool), not
        // that of a stale pooled copy.
        flow.nets_mut().visit_params_mut(&mut |p| {
            for v in p.value.iter_mut() {
                *v *= 1.1;
            }
        });
        let after = flow.ln_prob(&x, &c).unwrap();
        let fresh = flow.clone().ln_prob(&x, &c).unwrap();
        assert_eq!(bits(&after), bits(&fresh));
        assert!(first.iter().zip(&after).all(|(a, b)| a != b));
        // Likewise after a training step.
        let mut opt = darkprobe_nn::optim::Adam::new(1e-2).unwrap();
        let _ = flow.ln_prob(&x, &c).unwrap();
        flow.train_step(&x, &c, &mut opt, 3).unwrap();
        let trained = flow.ln_prob(&x, &c).unwrap();
        assert_eq!(bits(&trained), bits(&flow.clone().ln_prob(&x, &c).unwrap()));
        assert_ne!(bits(&trained), bits(&after));
    }

    #[test]
    fn chunked_evaluation_reuses_networks_without_changing_any_bit() {
        // Three chunks, the last one partial: the sequential path (one
        // thread, one copy of the networks for all chunks) and the parallel
        // path (one copy per worker) must give the bits of evaluating each
        // chunk on its own with fresh networks.
        let flow = random_flow(3, 2, 2, 11);
        let n = 2 * EVAL_CHUNK + 37;
        let x = normals(3 * n, 1);
        let c = normals(2 * n, 2);
        let whole = |threads| {
            on_threads(threads, || {
                let g = flow.ln_prob_grad(&x, &c).unwrap();
                let (z, ld) = flow.to_latent(&x, &c).unwrap();
                [g.ln_p, g.grad_x, g.grad_context, z, ld].map(|v| bits(&v))
            })
        };
        let one = whole(1);
        assert_eq!(one, whole(2));
        let mut parts: [Vec<u64>; 5] = Default::default();
        for s in (0..n).step_by(EVAL_CHUNK) {
            let e = (s + EVAL_CHUNK).min(n);
            let g = flow
                .ln_prob_grad(&x[3 * s..3 * e], &c[2 * s..2 * e])
                .unwrap();
            let (z, ld) = flow.to_latent(&x[3 * s..3 * e], &c[2 * s..2 * e]).unwrap();
            for (p, v) in parts
                .iter_mut()
                .zip([g.ln_p, g.grad_x, g.grad_context, z, ld])
            {
                p.extend(bits(&v));
            }
        }
        assert_eq!(one, parts);
        assert_eq!(one[0].len(), n);
    }
}
