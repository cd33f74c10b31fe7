//! # darkprobe-nn
//!
//! Small dense networks (up to some tens of thousands of parameters) with
//! exact parameter and input gradients, fast on CPU. They serve the gas-map
//! patch network (`darkprobe-gasmap`) and the phase-space normalizing flows
//! (`darkprobe-flows`), which also need gradients of the log-density with
//! respect to the inputs.
//!
//! # Model
//!
//! A network is a composition $f = f_L\circ\dots\circ f_1$ of layers acting on
//! a batch $X\in\mathbb R^{N\times d}$ stored batch-major (one contiguous row
//! per sample, see [`Matrix`]). Reverse-mode differentiation applies the chain
//! rule layer by layer: given $\bar Y_l = \partial L/\partial Y_l$, layer $l$
//! adds $\partial L/\partial\theta_l$ to its gradients and returns
//! $\bar Y_{l-1} = J_l^\top \bar Y_l$. Every layer's forward map and gradient
//! are written in its documentation:
//!
//! | layer | forward | gradient |
//! | --- | --- | --- |
//! | [`Dense`] | $Y = XW^\top + b$ | $\bar W = \bar Y^\top X$, $\bar b = \bar Y^\top\mathbf 1$, $\bar X = \bar Y W$ |
//! | [`MaskedDense`] | $Y = X(W\odot M)^\top + b$ | as dense, $\bar W \odot M$ |
//! | [`Relu`], [`PRelu`], [`Tanh`], [`Elu`], [`Softplus`] | $y = \phi(x)$ | $\bar x = \bar y\,\phi'(x)$ |
//! | [`BatchNorm`] | $y = \gamma\hat x + \beta$ | through the batch statistics in training |
//! | [`Dropout`] | $y = x\odot m/(1-p)$ | $\bar x = \bar y\odot m/(1-p)$ |
//!
//! Losses ([`loss`]: MSE, weighted MAE, Poisson, flow negative
//! log-likelihood) return their value and $\partial L/\partial\hat y$;
//! optimisers ([`optim`]: SGD with momentum, Adam/AdamW, LAMB, gradient
//! clipping, learning-rate schedules) update parameters from the accumulated
//! gradients; [`train`] drives epochs of seeded minibatches with validation,
//! early stopping and schedules, and [`checkpoint`] saves and restores
//! networks with their optimiser and trainer state (JSON or binary).
//!
//! # Speed and determinism
//!
//! Matrix products go through faer's GEMM (AVX2/AVX-512 kernels chosen at run
//! time, always called sequentially). Every layer cuts the batch into blocks
//! of [`exec::ROW_BLOCK`] rows; blocks run on the current rayon pool when
//! [`Par::Rayon`] is asked for, and batch sums (weight gradients, batch
//! statistics) are formed per block and added in block order. Results are
//! therefore **bit-identical for any number of threads**, including the
//! sequential [`Par::Seq`] (they do depend on `ROW_BLOCK`).
//!
//! Three things make the passes fast:
//! - point-wise activations can be fused into the affine layers
//!   ([`Dense::with_activation`]; [`Sequential::mlp`] does it), which apply
//!   them to each block right after its product and differentiate them
//!   through the stored output;
//! - [`Sequential`] runs each run of *row-local* layers (affine, activations,
//!   PReLU: the optional row-block methods of [`Layer`]) one block at a time
//!   through all of them, so a block's activations and gradients stay in
//!   cache from layer to layer;
//! - all buffers live in the layers and in [`Sequential`]: training at a fixed
//!   batch size allocates nothing per sample.
//!
//! Measured on the development machine (2 shared cores, AVX-512) with
//! `cargo bench --bench nn`, full Adam training steps of the MLP
//! 49 → 128 → 64 → 64 → 1 (ReLU) at batch 8192 in `f32`, median of three
//! runs while the machine was quiet:
//!
//! | threads | darkprobe-nn | PyTorch 2.15 CPU (`benches/peers/nn_peer.py`) |
//! | --- | --- | --- |
//! | 1 | 0.84 M samples/s (9.8 ms/step) | 0.50 M samples/s |
//! | 2 | 1.53 M samples/s (5.4 ms/step) | 0.69 M samples/s |
//!
//! On one thread a step splits into 2.9 ms forward, 7.1 ms backward (three
//! quarters of both in faer's GEMM kernels), 0.08 ms Adam and 0.03 ms loss.
//! Under load from other processes all numbers drop and scatter (one thread
//! 0.7–0.8 M samples/s at load average 3.5).
//!
//! # Example
//!
//! ```
//! use darkprobe_nn::{Activation, Adam, Ctx, Init, Loss, Matrix, Mse, Optimizer, Parameters, Sequential};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut net = Sequential::<f64>::mlp(&[1, 16, 1], Activation::Tanh, Init::Default, &mut rng).unwrap();
//! // Learn y = x^2 on [-1, 1] with full-batch Adam.
//! let x = Matrix::from_fn(64, 1, |i, _| -1.0 + 2.0 * i as f64 / 63.0);
//! let y = Matrix::from_fn(64, 1, |i, _| x.get(i, 0).powi(2));
//! let mut opt = Adam::new(0.02).unwrap();
//! let mut grad = Matrix::zeros(0, 0);
//! let mut last = f64::INFINITY;
//! for step in 0..500 {
//!     let ctx = Ctx::train(step);
//!     net.zero_grad();
//!     let pred = net.forward(&x, &ctx).unwrap();
//!     last = Mse.value_and_grad(pred, &y, None, &mut grad).unwrap();
//!     net.backward(&x, &grad, false, &ctx).unwrap();
//!     opt.step(&mut net).unwrap();
//! }
//! assert!(last < 1e-3, "loss {last}");
//! ```
//!
//! # A GPU backend later
//!
//! Callers only see [`Layer`], [`Parameters`], [`Sequential`], the losses and
//! optimisers, and host-side [`Matrix`] inputs and outputs. All arithmetic sits
//! behind three kinds of kernel: GEMM ([`Float`]'s product routine), element-wise
//! maps and per-column batch reductions. A GPU backend would implement those
//! kernels on device buffers, let `Matrix` hold a device allocation (copied to
//! host only when read), and keep parameters and optimiser state on the device;
//! `Sequential`, the trainer and every caller would stay unchanged, with the
//! backend chosen by a new [`Par`]-like field of [`Ctx`].
//!
//! # References
//! - M. Germain, K. Gregor, I. Murray, H. Larochelle, *MADE: Masked
//!   Autoencoder for Distribution Estimation*, ICML 2015, arXiv:1502.03509.
//! - S. Ioffe, C. Szegedy, *Batch Normalization*, 2015, arXiv:1502.03167.
//! - K. He, X. Zhang, S. Ren, J. Sun, *Delving Deep into Rectifiers*
//!   (PReLU, He initialisation), 2015, arXiv:1502.01852.
//! - D.-A. Clevert, T. Unterthiner, S. Hochreiter, *Fast and Accurate Deep
//!   Network Learning by Exponential Linear Units*, 2016, arXiv:1511.07289.
//! - D. P. Kingma, J. Ba, *Adam*, 2015, arXiv:1412.6980; I. Loshchilov,
//!   F. Hutter, *Decoupled Weight Decay Regularization* (AdamW), 2019,
//!   arXiv:1711.05101.
//! - Y. You et al., *Large Batch Optimization for Deep Learning: Training BERT
//!   in 76 minutes* (LAMB), ICLR 2020, arXiv:1904.00962.
//! - I. Loshchilov, F. Hutter, *SGDR: Stochastic Gradient Descent with Warm
//!   Restarts* (cosine schedule), 2017, arXiv:1608.03983.
//! - N. Srivastava et al., *Dropout*, JMLR 15 (2014) 1929.
//!
//! # Features
//! No optional features: faer (GEMM), rayon, serde and serde_json are always on.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod error;
pub mod exec;
mod float;
pub mod gradcheck;
mod layer;
mod layers;
pub mod loss;
pub mod made;
mod matrix;
pub mod optim;
mod sequential;
pub mod train;

pub use error::{NnError, Result};
pub use exec::{Ctx, Mode, Par};
pub use float::Float;
pub use layer::{Layer, LayerSpec, ParamMut, ParamRef, Parameters};
pub use layers::{
    Activation, BatchNorm, Dense, Dropout, Elu, Init, MaskedDense, PRelu, Relu, Softplus, Tanh,
};
pub use loss::{FlowNll, Loss, Mse, PoissonNll, WeightedMae};
pub use matrix::Matrix;
pub use optim::{Adam, Lamb, Optimizer, Sgd};
pub use sequential::Sequential;

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
