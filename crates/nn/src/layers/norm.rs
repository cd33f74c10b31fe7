//! [`BatchNorm`] and [`Dropout`]: the two layers whose behaviour differs
//! between training and inference.

use crate::error::{invalid, shape, NnError, Result};
use crate::exec::{
    add_block_sums, ensure_len, for_blocks, for_blocks_scratch_only, n_blocks, Ctx, Mode,
};
use crate::float::Float;
use crate::layer::{Layer, LayerSpec, ParamMut, ParamRef, Parameters};
use crate::matrix::Matrix;
use darkprobe_core::rng::{seed_for_index, splitmix64};

/// Batch normalisation over the batch dimension (Ioffe & Szegedy 2015,
/// arXiv:1502.03167), as PyTorch's `BatchNorm1d`.
///
/// Training mode, per feature $j$ over the $N$ rows of the batch:
/// $$\mu_j = \tfrac1N\sum_i x_{ij},\quad \sigma_j^2 = \tfrac1N\sum_i (x_{ij}-\mu_j)^2,\quad
///   \hat x_{ij} = \frac{x_{ij}-\mu_j}{\sqrt{\sigma_j^2+\epsilon}},\quad
///   y_{ij} = \gamma_j \hat x_{ij} + \beta_j,$$
/// and the running averages move as $m \leftarrow (1-\rho)m + \rho\mu$,
/// $v \leftarrow (1-\rho)v + \rho\,\sigma^2 N/(N-1)$ (momentum $\rho$,
/// unbiased variance, as PyTorch). Inference mode uses $m$ and $v$ instead of
/// the batch statistics.
///
/// Gradients in training mode (the statistics depend on the whole batch):
/// $$\bar\beta_j = \sum_i \bar y_{ij},\quad \bar\gamma_j = \sum_i \bar y_{ij}\hat x_{ij},\quad
///   \bar x_{ij} = \frac{\gamma_j}{N\sqrt{\sigma_j^2+\epsilon}}
///   \Big(N\bar y_{ij} - \bar\beta_j - \hat x_{ij}\,\bar\gamma_j\Big);$$
/// in inference mode $\bar x_{ij} = \gamma_j \bar y_{ij}/\sqrt{v_j+\epsilon}$.
/// Batch sums are accumulated in `f64`.
///
/// ```
/// use darkprobe_nn::{BatchNorm, Ctx, Layer, Matrix};
/// let mut bn = BatchNorm::<f64>::new(1).unwrap();
/// let x = Matrix::from_vec(4, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// bn.forward(&x, &mut y, &Ctx::train(0)).unwrap();
/// let mean: f64 = y.as_slice().iter().sum::<f64>() / 4.0;
/// assert!(mean.abs() < 1e-12);
/// // Running mean moved 10% of the way from 0 to the batch mean 2.5.
/// assert!((bn.running_mean()[0] - 0.25).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct BatchNorm<T> {
    features: usize,
    eps: f64,
    momentum: f64,
    gamma: Vec<T>,
    beta: Vec<T>,
    grad_gamma: Vec<T>,
    grad_beta: Vec<T>,
    running_mean: Vec<T>,
    running_var: Vec<T>,
    /// Statistics used by the last forward pass (batch or running).
    mean: Vec<T>,
    inv_std: Vec<T>,
    last: Option<(Mode, usize)>,
    scratch: Vec<f64>,
    sums: Vec<f64>,
}

impl<T: Float> BatchNorm<T> {
    /// Batch normalisation of `features` features with PyTorch's defaults
    /// ($\epsilon = 10^{-5}$, momentum 0.1, $\gamma = 1$, $\beta = 0$).
    ///
    /// # Errors
    /// An invalid-parameter error for zero features.
    pub fn new(features: usize) -> Result<Self> {
        Self::with_options(features, 1e-5, 0.1)
    }

    /// Batch normalisation with explicit $\epsilon$ and momentum.
    ///
    /// # Errors
    /// An invalid-parameter error for zero features, $\epsilon \le 0$ or a
    /// momentum outside $(0, 1]$.
    pub fn with_options(features: usize, eps: f64, momentum: f64) -> Result<Self> {
        if features == 0 {
            return Err(invalid("batch norm features", features, "at least 1"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(invalid("batch norm eps", eps, "finite and > 0"));
        }
        if !(momentum > 0.0 && momentum <= 1.0) {
            return Err(invalid("batch norm momentum", momentum, "in (0, 1]"));
        }
        Ok(Self {
            features,
            eps,
            momentum,
            gamma: vec![T::ONE; features],
            beta: vec![T::ZERO; features],
            grad_gamma: vec![T::ZERO; features],
            grad_beta: vec![T::ZERO; features],
            running_mean: vec![T::ZERO; features],
            running_var: vec![T::ONE; features],
            mean: vec![T::ZERO; features],
            inv_std: vec![T::ONE; features],
            last: None,
            scratch: Vec::new(),
            sums: vec![0.0; 2 * features],
        })
    }

    /// Scale $\gamma$.
    pub fn gamma(&self) -> &[T] {
        &self.gamma
    }
    /// Shift $\beta$.
    pub fn beta(&self) -> &[T] {
        &self.beta
    }
    /// Running mean $m$.
    pub fn running_mean(&self) -> &[T] {
        &self.running_mean
    }
    /// Running (unbiased) variance $v$.
    pub fn running_var(&self) -> &[T] {
        &self.running_var
    }
    /// Sets $\gamma$ and $\beta$.
    ///
    /// # Errors
    /// A shape error on wrong lengths.
    pub fn set_affine(&mut self, gamma: Vec<T>, beta: Vec<T>) -> Result<()> {
        if gamma.len() != self.features || beta.len() != self.features {
            return Err(shape(
                "batch norm gamma/beta",
                self.features,
                format!("{}/{}", gamma.len(), beta.len()),
            ));
        }
        self.gamma = gamma;
        self.beta = beta;
        Ok(())
    }
}

/// Column sums over the batch: `f(first_row, end_row, partial)` fills one
/// block's `f64` partial sums; the partials are added in block order into
/// `sums[..stride]`.
fn column_sums(
    ctx: &Ctx,
    n: usize,
    stride: usize,
    scratch: &mut Vec<f64>,
    sums: &mut [f64],
    f: impl Fn(usize, usize, &mut [f64]) + Sync + Send,
) {
    let nb = n_blocks(n);
    ensure_len(scratch, nb * stride);
    for_blocks_scratch_only(ctx.par, n, scratch, stride, |_, r0, r1, s| {
        s.fill(0.0);
        f(r0, r1, s);
    });
    let out = &mut sums[..stride];
    out.fill(0.0);
    add_block_sums(scratch, nb, stride, out);
}

impl<T: Float> Parameters<T> for BatchNorm<T> {
    fn visit_params(&self, f: &mut dyn FnMut(ParamRef<'_, T>)) {
        f(ParamRef {
            name: "gamma",
            value: &self.gamma,
            grad: &self.grad_gamma,
        });
        f(ParamRef {
            name: "beta",
            value: &self.beta,
            grad: &self.grad_beta,
        });
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_, T>)) {
        f(ParamMut {
            name: "gamma",
            value: &mut self.gamma,
            grad: &mut self.grad_gamma,
        });
        f(ParamMut {
            name: "beta",
            value: &mut self.beta,
            grad: &mut self.grad_beta,
        });
    }
    fn visit_buffers(&self, f: &mut dyn FnMut(&'static str, &[T])) {
        f("running_mean", &self.running_mean);
        f("running_var", &self.running_var);
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&'static str, &mut [T])) {
        f("running_mean", &mut self.running_mean);
        f("running_var", &mut self.running_var);
    }
}

impl<T: Float> Layer<T> for BatchNorm<T> {
    fn kind(&self) -> &'static str {
        "batch_norm"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        if input_dim != self.features {
            return Err(shape("batch norm input", self.features, input_dim));
        }
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        x.expect_cols("batch norm input", self.features)?;
        let (n, d) = x.shape();
        let xs = x.as_slice();
        if ctx.is_train() {
            if n < 2 {
                return Err(invalid(
                    "batch size in training-mode batch normalisation",
                    n,
                    "at least 2 (use Mode::Eval for single samples)",
                ));
            }
            column_sums(ctx, n, d, &mut self.scratch, &mut self.sums, |r0, r1, s| {
                for row in xs[r0 * d..r1 * d].chunks_exact(d) {
                    for (a, &v) in s.iter_mut().zip(row) {
                        *a += v.to_f64();
                    }
                }
            });
            let mean: Vec<f64> = self.sums[..d].iter().map(|s| s / n as f64).collect();
            let mean_ref = &mean;
            column_sums(ctx, n, d, &mut self.scratch, &mut self.sums, |r0, r1, s| {
                for row in xs[r0 * d..r1 * d].chunks_exact(d) {
                    for ((a, &v), &m) in s.iter_mut().zip(row).zip(mean_ref) {
                        let c = v.to_f64() - m;
                        *a += c * c;
                    }
                }
            });
            let rho = self.momentum;
            for (j, &mu) in mean.iter().enumerate() {
                let var = self.sums[j] / n as f64;
                self.mean[j] = T::from_f64(mu);
                self.inv_std[j] = T::from_f64(1.0 / (var + self.eps).sqrt());
                let unbiased = var * n as f64 / (n as f64 - 1.0);
                self.running_mean[j] =
                    T::from_f64((1.0 - rho) * self.running_mean[j].to_f64() + rho * mu);
                self.running_var[j] =
                    T::from_f64((1.0 - rho) * self.running_var[j].to_f64() + rho * unbiased);
            }
        } else {
            for j in 0..d {
                self.mean[j] = self.running_mean[j];
                self.inv_std[j] =
                    T::from_f64(1.0 / (self.running_var[j].to_f64() + self.eps).sqrt());
            }
        }
        self.last = Some((ctx.mode, n));
        y.resize(n, d);
        // Per-column scale gamma / sigma, so each row is one fused pass.
        let scale: Vec<T> = self
            .gamma
            .iter()
            .zip(&self.inv_std)
            .map(|(&g, &s)| g * s)
            .collect();
        let (mean, scale, beta) = (&self.mean, &scale, &self.beta);
        for_blocks(ctx.par, n, y.as_mut_slice(), d, |_, r0, r1, yb| {
            for (yr, xr) in yb
                .chunks_exact_mut(d)
                .zip(xs[r0 * d..r1 * d].chunks_exact(d))
            {
                for ((((o, &v), &m), &c), &b) in
                    yr.iter_mut().zip(xr).zip(mean).zip(scale).zip(beta)
                {
                    *o = (v - m) * c + b;
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
        x.expect_cols("batch norm input", self.features)?;
        let (n, d) = x.shape();
        y.expect_shape("batch norm output", n, d)?;
        dy.expect_shape("batch norm output gradient", n, d)?;
        let mode = match self.last {
            Some((mode, rows)) if rows == n => mode,
            other => {
                return Err(NnError::BackwardBeforeForward {
                    layer: "batch_norm".into(),
                    forward_rows: other.map(|o| o.1).unwrap_or(0),
                    backward_rows: n,
                })
            }
        };
        let (xs, dys) = (x.as_slice(), dy.as_slice());
        {
            let (mean, inv_std) = (&self.mean, &self.inv_std);
            column_sums(
                ctx,
                n,
                2 * d,
                &mut self.scratch,
                &mut self.sums,
                |r0, r1, s| {
                    let (sdy, sdyx) = s.split_at_mut(d);
                    for (xr, gr) in xs[r0 * d..r1 * d]
                        .chunks_exact(d)
                        .zip(dys[r0 * d..r1 * d].chunks_exact(d))
                    {
                        for (((a, b), (&v, &g)), (&m, &is)) in sdy
                            .iter_mut()
                            .zip(sdyx.iter_mut())
                            .zip(xr.iter().zip(gr))
                            .zip(mean.iter().zip(inv_std))
                        {
                            let g = g.to_f64();
                            *a += g;
                            *b += g * ((v - m) * is).to_f64();
                        }
                    }
                },
            );
        }
        if ctx.param_grads {
            for j in 0..d {
                self.grad_beta[j] += T::from_f64(self.sums[j]);
                self.grad_gamma[j] += T::from_f64(self.sums[d + j]);
            }
        }
        if let Some(dx) = dx {
            dx.resize(n, d);
            // dx_ij = gamma_j / sigma_j * (dy_ij - b_j - (x_ij - mu_j) c_j) with the
            // per-column constants b_j = sum_i dy_ij / N and
            // c_j = sum_i dy_ij xhat_ij / (N sigma_j) (both 0 in inference
            // mode): one contiguous pass per row, no per-element conversions.
            let train = mode == Mode::Train;
            let nf = n as f64;
            let scale: Vec<T> = (0..d).map(|j| self.gamma[j] * self.inv_std[j]).collect();
            let (b, c): (Vec<T>, Vec<T>) = if train {
                (0..d)
                    .map(|j| {
                        (
                            T::from_f64(self.sums[j] / nf),
                            T::from_f64(self.sums[d + j] / nf * self.inv_std[j].to_f64()),
                        )
                    })
                    .unzip()
            } else {
                (vec![T::ZERO; d], vec![T::ZERO; d])
            };
            let (mean, scale, b, c) = (&self.mean, &scale, &b, &c);
            for_blocks(ctx.par, n, dx.as_mut_slice(), d, |_, r0, r1, db| {
                for ((dr, xr), gr) in db
                    .chunks_exact_mut(d)
                    .zip(xs[r0 * d..r1 * d].chunks_exact(d))
                    .zip(dys[r0 * d..r1 * d].chunks_exact(d))
                {
                    for (((((o, &v), &g), &m), &sc), (&bj, &cj)) in dr
                        .iter_mut()
                        .zip(xr)
                        .zip(gr)
                        .zip(mean)
                        .zip(scale)
                        .zip(b.iter().zip(c))
                    {
                        *o = sc * (g - bj - (v - m) * cj);
                    }
                }
            });
        }
        Ok(())
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::BatchNorm {
            features: self.features,
            eps: self.eps,
            momentum: self.momentum,
        }
    }
}

/// Inverted dropout (Srivastava et al. 2014): in training mode each element
/// is kept with probability $1-p$ and scaled by $1/(1-p)$, so
/// $\mathbb E\,y = x$; in inference mode $y = x$.
///
/// The mask is a pure function of the pass seed ([`Ctx::seed`]), the layer's
/// `salt` and the element's position $k = i\,d + j$: element $k$ is kept when
/// the $k$-th SplitMix64 output for the key
/// `seed_for_index(seed, salt)` is below $(1-p)\,2^{64}$ (to 53 bits). It is
/// therefore the same for any thread count and is recomputed, not stored, by
/// `backward`: $\bar x = \bar y \odot m/(1-p)$.
///
/// ```
/// use darkprobe_nn::{Ctx, Dropout, Layer, Matrix};
/// let mut d = Dropout::new(0.5, 0).unwrap();
/// let x = Matrix::from_vec(1, 1000, vec![1.0f64; 1000]).unwrap();
/// let mut y = Matrix::zeros(0, 0);
/// d.forward(&x, &mut y, &Ctx::train(42)).unwrap();
/// let kept = y.as_slice().iter().filter(|&&v| v == 2.0).count();
/// assert!(kept > 430 && kept < 570);
/// d.forward(&x, &mut y, &Ctx::eval()).unwrap();
/// assert_eq!(y, x);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    p: f64,
    salt: u64,
    last: Option<(Mode, usize, u64)>,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Dropout {
    /// Dropout with drop probability `p`; `salt` tells apart the dropout
    /// layers of one network (any distinct values).
    ///
    /// # Errors
    /// An invalid-parameter error unless $0 \le p < 1$.
    pub fn new(p: f64, salt: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid("dropout probability", p, "in [0, 1)"));
        }
        Ok(Self {
            p,
            salt,
            last: None,
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The salt.
    pub fn salt(&self) -> u64 {
        self.salt
    }

    /// Whether element `k` (row-major position) is kept for pass seed `seed`.
    pub fn keeps(&self, seed: u64, k: u64) -> bool {
        keep_bit(seed_for_index(seed, self.salt), k, keep_threshold(self.p))
    }
}

#[inline]
fn keep_threshold(p: f64) -> u64 {
    ((1.0 - p) * (1u64 << 53) as f64) as u64
}

#[inline]
fn keep_bit(key: u64, k: u64, threshold: u64) -> bool {
    (splitmix64(key.wrapping_add(k.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA))) >> 11) < threshold
}

impl<T: Float> Parameters<T> for Dropout {
    fn visit_params(&self, _f: &mut dyn FnMut(ParamRef<'_, T>)) {}
    fn visit_params_mut(&mut self, _f: &mut dyn FnMut(ParamMut<'_, T>)) {}
}

impl Dropout {
    fn apply<T: Float>(&self, ctx: &Ctx, seed: u64, input: &Matrix<T>, out: &mut Matrix<T>) {
        let (n, d) = input.shape();
        out.resize(n, d);
        let key = seed_for_index(seed, self.salt);
        let thr = keep_threshold(self.p);
        let scale = T::from_f64(1.0 / (1.0 - self.p));
        let xs = input.as_slice();
        for_blocks(ctx.par, n, out.as_mut_slice(), d, |_, r0, r1, ob| {
            let base = (r0 * d) as u64;
            for (k, (o, &v)) in ob.iter_mut().zip(&xs[r0 * d..r1 * d]).enumerate() {
                *o = if keep_bit(key, base + k as u64, thr) {
                    v * scale
                } else {
                    T::ZERO
                };
            }
        });
    }
}

impl<T: Float> Layer<T> for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn output_dim(&self, input_dim: usize) -> Result<usize> {
        Ok(input_dim)
    }
    fn forward(&mut self, x: &Matrix<T>, y: &mut Matrix<T>, ctx: &Ctx) -> Result<()> {
        self.last = Some((ctx.mode, x.rows(), ctx.seed));
        if ctx.is_train() && self.p > 0.0 {
            self.apply(ctx, ctx.seed, x, y);
        } else {
            y.resize(x.rows(), x.cols());
            y.as_mut_slice().copy_from_slice(x.as_slice());
        }
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
        let (n, d) = x.shape();
        y.expect_shape("dropout output", n, d)?;
        dy.expect_shape("dropout output gradient", n, d)?;
        let (mode, seed) = match self.last {
            Some((mode, rows, seed)) if rows == n => (mode, seed),
            other => {
                return Err(NnError::BackwardBeforeForward {
                    layer: "dropout".into(),
                    forward_rows: other.map(|o| o.1).unwrap_or(0),
                    backward_rows: n,
                })
            }
        };
        if let Some(dx) = dx {
            if mode == Mode::Train && self.p > 0.0 {
                self.apply(ctx, seed, dy, dx);
            } else {
                dx.resize(n, d);
                dx.as_mut_slice().copy_from_slice(dy.as_slice());
            }
        }
        Ok(())
    }
    fn spec(&self) -> LayerSpec {
        LayerSpec::Dropout {
            p: self.p,
            salt: self.salt,
        }
    }
}
