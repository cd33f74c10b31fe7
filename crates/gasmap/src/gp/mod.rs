//! Gaussian-process regression of ¹³CO on ¹²CO strips.
//!
//! # Model
//! A zero-mean GP (after the optional standardisation of [`Standardizer`])
//! with covariance
//! $$k(x, x') = A\,\Big(1 + \frac{\sqrt3\,r}{l}\Big)e^{-\sqrt3\,r/l} + \nu_1 + \nu_2\,\delta_{xx'},$$
//! $r = \lVert x - x'\rVert$ (or one length scale per feature, ARD). The
//! hyperparameters $\theta = \ln(A, l, \nu_1, \nu_2)$ maximise the log
//! marginal likelihood
//! $$\ln p(y\mid X,\theta) = -\tfrac12 y^T K^{-1} y - \sum_i \ln L_{ii} - \tfrac n2\ln 2\pi,
//! \qquad K = LL^T,$$
//! whose gradient is
//! $\partial_{\theta_p} \ln p = \tfrac12\mathrm{tr}\big((\alpha\alpha^T - K^{-1})\,\partial_{\theta_p}K\big)$,
//! $\alpha = K^{-1}y$ (Rasmussen & Williams 2006, eqs. 2.30 and 5.9), with
//! L-BFGS in box bounds from the starting kernel plus seeded log-uniform
//! restarts. The posterior at $x_*$ is
//! $\mu_* = k_*^T\alpha$, $\sigma_*^2 = k_{**} - \lVert L^{-1}k_*\rVert^2$.
//!
//! Dense linear algebra (Cholesky $LL^T$, triangular solves and inverse) is
//! faer's; Gram matrices and gradient traces are built in parallel with rayon.
//! The gradient needs only the lower triangle of $K^{-1}$ and closed-form
//! $\partial K_{ij}/\partial\theta_p$ of each pair's distance, so all traces
//! come from one pass over the lower triangle (no derivative matrices; the
//! column sums are added in a fixed order, so results do not depend on the
//! thread count).
//!
//! # Speed
//! `cargo bench --bench gasmap_gp` (release, 9-pixel strips, n = 2000, 2-core
//! machine shared with other builds): Cholesky 132 ms, Cholesky + inverse
//! 546 ms, one log marginal likelihood with its gradient 728 ms (1.33 s
//! before the fused pass).
//!
//! # Jitter
//! When $K$ is numerically not positive definite, $\epsilon\,\overline{K_{ii}}$
//! is added to its diagonal for $\epsilon = 10^{-10}, 10^{-9}, \dots, 10^{-4}$
//! in turn ([`JITTER_LEVELS`]); the jitter used is reported
//! ([`ExactGp::jitter`], [`LmlEvaluation::jitter`]) and kept for prediction.
//!
//! # Large training sets
//! [`SparseGp`] is the variational inducing-point approximation (Titsias
//! 2009) with $m$ inducing inputs chosen by k-means++ seeding or a random
//! subset; it reproduces the exact GP for $m = n$ and its evidence bound never
//! exceeds the exact log marginal likelihood.
//!
//! # The paper's regressor
//! [`StripGp`] fits, per velocity bin, one GP on horizontal and one on
//! vertical 9-pixel ¹²CO strips (at most 7840 training pixels, as the paper),
//! and predicts the mean of the two.
//!
//! # References
//! - C. E. Rasmussen, C. K. I. Williams, *Gaussian Processes for Machine
//!   Learning*, MIT Press (2006).
//! - M. Titsias, *Variational Learning of Inducing Variables in Sparse
//!   Gaussian Processes*, AISTATS (2009).
//! - D. Arthur, S. Vassilvitskii, *k-means++: the advantages of careful
//!   seeding*, SODA (2007).
//! - A. Shmakov, C. Karwin, M. Tavakoli, S. Murgia, P. Baldi, *Deep Learning
//!   to Reconstruct Gas Skymaps for Dark Matter Detection*, NeurIPS 2020 ML4PS
//!   workshop.

mod exact;
mod inducing;
mod kernel;
mod strip;

pub use exact::{
    ln_marginal_likelihood, ExactGp, FitReport, GpParams, HyperBounds, LmlEvaluation, Standardizer,
    JITTER_LEVELS,
};
pub use inducing::{select_inducing, InducingParams, InducingSelection, SparseGp};
pub use kernel::Matern32Kernel;
pub use strip::{BinGp, PlanePrediction, StripGp, StripGpParams, StripMethod, StripModel};

#[cfg(test)]
mod tests;
