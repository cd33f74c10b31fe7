//! # darkprobe-flows
//!
//! Measures accelerations and mass densities from the phase-space
//! distribution of an equilibrium tracer population: it learns
//! $f(\mathbf{x}, \mathbf{v}) = n(\mathbf{x})\,p(\mathbf{v}\mid\mathbf{x})$
//! with normalizing flows ([`PhaseSpaceFlow`]), solves
//! the steady-state collisionless Boltzmann equation
//! $\mathbf{v}\cdot\nabla_x f + \mathbf{a}\cdot\nabla_v f = 0$ for
//! $\mathbf{a}(\mathbf{x})$ by least squares and obtains the density from
//! Gauss's law, using first derivatives only. Estimators see a model only
//! through the [`PhaseSpaceModel`] trait.
//!
//! # Model
//!
//! **Change of variables.** A flow is an invertible map $z = T(x; c)$ from the
//! data $x\in\mathbb R^D$ (given a context $c\in\mathbb R^C$) to a latent
//! standard normal $z$, so that
//! $$\ln p(x\mid c) = \ln\mathcal N(T(x;c);\,0, I) +
//!   \ln\left|\det\frac{\partial T}{\partial x}\right|.$$
//! $T$ is a composition of a whitening $u_j = (x_j-\mu_j)/\sigma_j$ (mean and
//! standard deviation of the training data, stored in the model, contributing
//! $-\sum_j\ln\sigma_j$) and $K$ autoregressive blocks; the log-determinants
//! of a composition add up.
//!
//! **Masked autoregressive flow** (MAF). Block $k$ maps $h\mapsto z$ with
//! $$z_i = (h_i - m_i)\,e^{-\alpha_i},\qquad
//!   (m_i, \alpha_i) = \mathrm{MADE}_k(h_{<i}, c),$$
//! where $h_{<i}$ are the components before $i$ in the block's ordering
//! (orderings alternate between natural and reversed, which plays the role of
//! the permutations between blocks). The MADE network is masked so that its
//! outputs for component $i$ see only $h_{<i}$ and the context, so
//! $\partial z/\partial h$ is triangular and
//! $\ln|\det\partial z/\partial h| = -\sum_i\alpha_i$. The log-scale is
//! soft-clamped, $\alpha = A\tanh(r/A)$, with $r$ the raw network output.
//! Evaluating the density takes one network pass per block; sampling inverts
//! $h_i = z_i e^{\alpha_i} + m_i$ one component at a time ($D$ passes per
//! block).
//!
//! **Rational-quadratic spline blocks** ([`Transform::RationalQuadratic`];
//! Durkan, Bekasov, Murray & Papamakarios 2019, arXiv:1906.04032). Instead of
//! the affine map, each component goes through a monotone rational-quadratic
//! spline $z_i = g(h_i;\theta_i)$ on $[-B,B]$ with $K$ bins (identity
//! outside), $\theta_i = \mathrm{MADE}_k(h_{<i}, c)$ holding $K$ width and
//! $K$ height logits and $K-1$ interior knot derivatives; in bin $j$ with
//! $\xi = (h-x_j)/w_j$ and $s_j = h_j/w_j$,
//! $$g = y_j + h_j\frac{s_j\xi^2+\delta_j\xi(1-\xi)}{s_j+(\delta_{j+1}+\delta_j-2s_j)\xi(1-\xi)},\qquad
//! g' = \frac{s_j^2[\delta_{j+1}\xi^2+2s_j\xi(1-\xi)+\delta_j(1-\xi)^2]}{[s_j+(\delta_{j+1}+\delta_j-2s_j)\xi(1-\xi)]^2},$$
//! and $\ln|\det| = \sum_i\ln g'(h_i)$. The inverse solves a quadratic in
//! $\xi$ per component. Splines can represent multi-modal and sharply
//! peaked conditionals that an affine block cannot.
//!
//! **Conditional flows.** The (whitened) context $c$ is appended to every
//! MADE's input with degree 0: it is connected to every hidden unit and
//! output, so $m$ and $\alpha$ may depend on it freely without breaking the
//! triangular structure in $h$.
//!
//! **Gradients.** $\nabla_x\ln p$ and $\nabla_c\ln p$ are exact: the chain
//! rule runs backwards through the blocks, with the MADE's vector–Jacobian
//! products given by back-propagation
//! ($\partial z_i/\partial h_i = e^{-\alpha_i}$,
//! $\partial z_i/\partial m_i = -e^{-\alpha_i}$,
//! $\partial z_i/\partial\alpha_i = -z_i$,
//! $\partial(-\sum\alpha)/\partial\alpha_i = -1$). The same backward pass
//! gives the parameter gradients of the negative log-likelihood used for
//! training (Adam, minibatches, validation split, early stopping keeping the
//! best epoch, learning-rate schedule).
//!
//! **Quasi-Monte Carlo velocities** ([`qmc`]). The acceleration solver may
//! draw its velocities as scrambled Halton points in the latent space mapped
//! through the conditional flow ([`accel::VelocitySampling::QuasiRandom`]),
//! which lowers the Monte Carlo noise of the least-squares sums.
//!
//! **Ensembles.** $K$ independently seeded flows are averaged in density,
//! $\bar p = \frac1K\sum_k p_k$, so $\ln\bar p$ is the log-mean-exp of the
//! members' log-densities and
//! $\nabla\ln\bar p = \sum_k w_k\nabla\ln p_k$ with $w_k = p_k/\sum_j p_j$.
//!
//! **Phase space.** [`PhaseSpaceFlow`] models
//! $\ln f = \ln n(\mathbf x) + \ln p(\mathbf v\mid\mathbf x)$ with an
//! unconditional 3-D flow for $n$ and a 3-D flow for $\mathbf v$ with
//! context $\mathbf x$, so
//! $\nabla_x\ln f = \nabla_x\ln n + \nabla_c\ln p(\mathbf v\mid c)|_{c=\mathbf x}$
//! and $\nabla_v\ln f = \nabla_v\ln p$. This factorisation is preferred to a
//! single 6-D flow for $f$ because (i) the acceleration solver needs many
//! velocities drawn from $p(\mathbf v\mid\mathbf x)$ at a fixed position,
//! which the conditional flow gives exactly and cheaply (one inverse pass),
//! whereas a joint flow would need MCMC or rejection sampling at fixed
//! $\mathbf x$; (ii) the likelihood separates into a term for $n$ and a term
//! for $p(\mathbf v\mid\mathbf x)$ with disjoint parameters, so the two flows
//! can be trained, tuned and checked separately (and in parallel), each on a
//! 3-D problem.
//!
//! **Radial pre-transform** ([`radial`], on by default). Before both flows,
//! positions are moved along their rays from a centre $\mathbf c$ (the
//! origin), $\mathbf y = \mathbf c + (g(r)/r)(\mathbf x-\mathbf c)$ with
//! $g(r) = s\operatorname{asinh}((r/s)^q)$: linear inside the scale $s$
//! (half the median distance of the stars), logarithmic outside, so that a
//! steep $r^{-4}$ tail becomes an exponential one that a Gaussian-based flow
//! resolves. The flows model $\mathbf y$; $\ln n$ gains the exact
//! $\ln|\det\partial\mathbf y/\partial\mathbf x|$, gradients go through
//! $J^{\mathsf T}$, and the velocity flow takes $\mathbf y$ as its context.
//!
//! Units: positions in kpc, velocities in km/s.
//!
//! # Dynamical estimators and mocks
//! These modules work with any [`PhaseSpaceModel`] (a trained flow or an exact
//! distribution function) and any acceleration field.
//!
//! * [`mock`]: isotropic Hernquist and Plummer spheres with closed-form
//!   $f(E)$, e.g. Plummer $f\propto\varepsilon^{7/2}$ with $\varepsilon = -\Phi - v^2/2$,
//!   sampled exactly (inverse-CDF radii, rejection-sampled speeds), with
//!   $\nabla_x\ln f = \frac{d\ln f}{dE}\nabla\Phi$ and $\nabla_v\ln f = \frac{d\ln f}{dE}\mathbf v$;
//!   survey selections and star/point CSV files.
//! * [`accel`]: the steady-state collisionless Boltzmann equation
//!   $\mathbf v\cdot\nabla_x\ln f + \mathbf a\cdot\nabla_v\ln f = 0$ holds for every
//!   velocity at a position, so $\hat{\mathbf a} = \arg\min_{\mathbf a}\sum_i(\mathbf v_i\cdot\nabla_x\ln f_i +
//!   \mathbf a\cdot\nabla_v\ln f_i)^2$ over velocities drawn from $p(\mathbf v\mid\mathbf x)$,
//!   with a normalised residual measuring the departure from equilibrium.
//!   Optionally ([`accel::Symmetry`]) the velocities are drawn at rotated
//!   copies $R_k\mathbf x$ of a symmetric system and rotated back, using
//!   $\mathbf a(R\mathbf x) = R\,\mathbf a(\mathbf x)$: the learned density's
//!   non-symmetric sampling noise then averages out.
//! * [`gauss`]: the kernel-smoothed Gauss law with the divergence moved onto
//!   the kernel, $-4\pi G\langle\rho\rangle_K(\mathbf x_0) = \oint K_h\,\mathbf a\cdot\hat{\mathbf n}\,dS -
//!   \int\mathbf a\cdot\nabla K_h\,d^3x$, so that only accelerations (no derivatives)
//!   enter; Gaussian, Epanechnikov and top-hat kernels, optional subtraction
//!   of a smoothed baryonic density.
//! * [`gaia`]: Gaia-like astrometry (ICRS positions, parallaxes, proper
//!   motions, radial velocities) to Galactocentric Cartesian phase space in
//!   astropy's v4.0 `Galactocentric` frame, quality cuts, and synthetic
//!   catalogues made from mocks.
//!
//! # Speed
//!
//! Everything runs in `f64`. Measured in release on the development machine
//! (2 cores shared with other jobs, load average 9–11, so these are
//! pessimistic) with the default architecture (6 MADE blocks of 64×64 ELU
//! units per flow): one Adam step of both flows at batch 1024 takes 45–70 ms
//! (`cargo bench --bench flows`: median 59 ms, 17 k samples/s; 37 ms in the
//! `flows_timing` bench binary), `ln_f_grad` at 10,000 points 1.25 s
//! (8 k points/s), and fitting 100,000 synthetic stars with the default
//! [`FitOptions`] 136 s of CPU time (13 min of wall time under that load).
//! With tanh activations a step took about 2 s (the libm `tanh` dominated),
//! hence ELU by default.
//!
//! # References
//! - L. Hernquist, *An analytical model for spherical galaxies and bulges*,
//!   ApJ 356, 359 (1990).
//! - H. C. Plummer, *On the problem of distribution in globular star
//!   clusters*, MNRAS 71, 460 (1911).
//! - H. White, *A heteroskedasticity-consistent covariance matrix estimator*,
//!   Econometrica 48, 817 (1980) (the robust acceleration errors).
//! - G. Papamakarios, T. Pavlakou, I. Murray, *Masked Autoregressive Flow for
//!   Density Estimation*, NeurIPS 2017, arXiv:1705.07057.
//! - M. Germain, K. Gregor, I. Murray, H. Larochelle, *MADE: Masked
//!   Autoencoder for Distribution Estimation*, ICML 2015, arXiv:1502.03509.
//! - M. R. Buckley, S. H. Lim, E. Putney, D. Shih, *Measuring the Local Dark
//!   Matter Density in the Laboratory of the Milky Way*, MNRAS (2023),
//!   arXiv:2205.01129.
//! - S. H. Lim, E. Putney, M. R. Buckley, D. Shih, *Mapping Dark Matter in the
//!   Milky Way using Normalizing Flows and Gaia DR3*, 2023, arXiv:2305.13358.
//! - Z. An, A. P. Naik, N. W. Evans, C. Burrage, *Charting galactic
//!   accelerations: when and how to extract a unique potential from the
//!   distribution function* (flows on Hernquist mocks, code HernquistFlows),
//!   MNRAS (2021), arXiv:2106.05981.
//! - D. P. Kingma, J. Ba, *Adam*, 2015, arXiv:1412.6980.
//!
//! # Features
//! No optional features.
#![warn(missing_docs)]

pub mod accel;
pub mod flow;
pub mod gaia;
pub mod gauss;
pub mod mock;
pub mod model;
pub mod phase_space;
pub mod qmc;
pub mod radial;

pub use flow::{
    LnProbGrad, Maf, MafConfig, MafEnsemble, TrainOptions, TrainReport, Transform, Whitening,
};
pub use model::{LnFGrad, PhaseSpaceModel, Result, Vec3, G_KPC_KM2_S2_MSUN};
pub use phase_space::{FitOptions, PhaseSpaceEnsemble, PhaseSpaceFlow, PhaseSpaceReport};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
