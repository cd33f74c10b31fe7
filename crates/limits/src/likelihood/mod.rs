//! Likelihoods for dark-matter annihilation searches in stacked targets, their
//! profiles over nuisance parameters, and upper limits on
//! $\langle\sigma v\rangle$.
//!
//! # Likelihood
//!
//! A target $i$ (a dwarf galaxy) has counts $n_{ib}$ in energy bins $b$. The
//! signal enters through per-bin coefficients $k_{ib} = N_{\gamma,b}\,\mathcal E_{ib}/(8\pi m_\chi^2)$
//! (photon yield, exposure in cm² s, Majorana convention; computed by the
//! spectrum module), so that
//! $$\lambda_{ib} = \langle\sigma v\rangle\,J_i\,k_{ib} + B_{ib}, \qquad J_i = 10^{t_i}\ \text{GeV}^2\,\text{cm}^{-5}.$$
//! The stacked log-likelihood shares $\langle\sigma v\rangle$ and nothing else:
//! $$\ln L(\langle\sigma v\rangle, \{t_i, \beta_i\}) = \sum_i\Big[\sum_b \ln P(n_{ib}\mid\lambda_{ib}) + \ln\mathcal L_J(t_i) + \ln p_i(\beta_i)\Big].$$
//!
//! - **Poisson** ([`poisson`]): $\ln P(n\mid\lambda) = \ln P(n\mid n) - [\lambda - n - n\ln(\lambda/n)]$,
//!   exact for $n = 0$, tiny $\lambda$, large $n$, and real $n$ (Asimov data).
//! - **J-factor** ([`jfactor`]): fixed; a Gaussian in $\log_{10} J$ with the
//!   normalisation of Ackermann et al. 2015 (eq. 3, with the
//!   $1/(\ln(10) J_\mathrm{obs})$ factor) or of MLFermiLATDwarfs
//!   ($-2\ln\mathcal L_J = (t-\bar t)^2/\sigma^2 + 2\ln(\ln(10)\sqrt{2\pi}\sigma)$),
//!   which differ by a constant ([`JNormalisation`]); or an empirical
//!   Gaussian KDE of $\log_{10}$ of posterior samples (Alvarez et al. 2020),
//!   evaluated exactly with derivatives ([`EmpiricalLogJ`]).
//! - **Background** ([`background`]): fixed counts per bin, or one parameter
//!   $\beta = \ln b$ per target, either scaling the counts ($B_b = s_b e^\beta$)
//!   or the logarithms as in the MLFermiLATDwarfs "JB" case
//!   ($\ln B_b = r_b\beta$, $r_b = \ln\hat B_b/\ln\hat B_0$), optionally with a
//!   prior $p(\beta)$ such as the void KDE of Calore, Serpico & Zaldivar 2018
//!   ([`darkprobe_kde::BackgroundPdf`]).
//!
//! [`Target`] holds one target; [`StackedLikelihood`] the stack.
//!
//! # Profile
//!
//! At fixed $\langle\sigma v\rangle$ each target's nuisances are profiled on
//! their own, so the stacked profile is a sum of one- or two-parameter fits,
//! solved by a bounded, safeguarded Newton method with analytic gradients and
//! Hessians and warm starts along a scan ([`profile`]). The default bounds are
//! those of MLFermiLATDwarfs, $\log_{10} J\in[10, 22]$, $\ln b\in[0, 7]$.
//!
//! # Limits
//!
//! With $\widehat{\langle\sigma v\rangle} \ge 0$ the constrained maximum of the
//! profile likelihood $L_p$ ([`limit`]):
//! - the detection test statistic is
//!   $\mathrm{TS} = -2\ln[L_p(0)/L_p(\widehat{\langle\sigma v\rangle})]$;
//! - the upper limit is the $\langle\sigma v\rangle_\mathrm{UL} > \widehat{\langle\sigma v\rangle}$
//!   where $-2\ln[L_p(\langle\sigma v\rangle)/L_p(\widehat{\langle\sigma v\rangle})]$
//!   reaches a threshold $c$, found by bracketing and Brent's method in
//!   $\ln\langle\sigma v\rangle$ (never read off a grid).
//!
//! The threshold comes from [`LimitOptions`]: $c = 3.84$ by default
//! (`ts_threshold(0.95, TwoSided)`, the value MLFermiLATDwarfs uses, which is
//! also the one-sided 97.5% value), or $c = 2.71$
//! (`ts_threshold(0.95, OneSided)`, the one-sided 95% upper limit of the
//! Fermi-LAT dwarf papers, [`LimitOptions::fermi_lat_2015`]). For an upper
//! limit with $\widehat{\langle\sigma v\rangle}$ constrained to be $\ge 0$ the
//! asymptotic coverage is $\Phi(\sqrt c)$ (95% for 2.71, 97.5% for 3.84) when
//! the true signal is well above its uncertainty, and higher near zero signal
//! (Cowan, Cranmer, Gross & Vitells 2011, the $\tilde q_\mu$ statistic).
//! The package's own reading of the limit (cubic spline on its grid, first
//! grid point above threshold) is available as the explicitly named
//! [`LimitMethod::MlFermiLatDwarfsGrid`].
//!
//! **Expected limits** ([`expected`]): the median and the 68% and 95%
//! containment bands of the limits of pseudo-experiments drawn from the
//! background-only model (seeded, parallel, independent of the thread count),
//! and the Asimov approximation of the median (Cowan et al. 2011).
//!
//! # References
//! - M. Ackermann et al. (Fermi-LAT), *Searching for Dark Matter Annihilation
//!   from Milky Way Dwarf Spheroidal Galaxies with Six Years of Fermi Large
//!   Area Telescope Data*, PRL 115 (2015) 231301, arXiv:1503.02641.
//! - F. Calore, P. D. Serpico, B. Zaldivar, *Dark matter constraints from dwarf
//!   galaxies: a data-driven analysis*, JCAP 10 (2018) 029, arXiv:1803.05508.
//! - A. Alvarez, F. Calore, A. Genina, J. Read, P. D. Serpico, B. Zaldivar,
//!   *Dark matter constraints from dwarf galaxies with data-driven J-factors*,
//!   JCAP 09 (2020) 004, arXiv:2002.01229.
//! - G. Cowan, K. Cranmer, E. Gross, O. Vitells, *Asymptotic formulae for
//!   likelihood-based tests of new physics*, Eur. Phys. J. C 71 (2011) 1554,
//!   arXiv:1007.1727.
//!
//! # Example
//! ```
//! use darkprobe_limits::likelihood::{BackgroundModel, JFactorModel, LimitOptions,
//!     ProfileOptions, StackedLikelihood, Target};
//! // One bin, no background, no counts, J known: the limit is where the
//! // expected signal mu reaches threshold / 2 (here 3.84 / 2 = 1.92 counts).
//! let k = 1e26; // counts per (cm^3/s) per (GeV^2 cm^-5)
//! let t = Target::new("empty", vec![0.0], vec![k], JFactorModel::Fixed { log10_j: 18.0 },
//!                     BackgroundModel::Fixed(vec![0.0]))?;
//! let stacked = StackedLikelihood::new(vec![t], ProfileOptions::default())?;
//! let ul = stacked.upper_limit(&LimitOptions::default())?;
//! let mu_ul = ul.sigma_v_ul_cm3_s * 1e18 * k;
//! assert!((mu_ul - ul.threshold / 2.0).abs() < 1e-8);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

pub mod background;
pub mod expected;
pub mod jfactor;
pub mod limit;
pub mod poisson;
pub mod profile;
pub mod target;

pub use background::{
    BackgroundModel, BackgroundScaling, LnDensity1d, NormalLnDensity, TabulatedLnDensity,
};
pub use expected::{AuxiliaryFluctuation, ExpectedLimitOptions, ExpectedLimits, TruthNuisances};
pub use jfactor::{
    EmpiricalLogJ, GaussianLogJ, JFactorModel, JNormalisation, MLFERMI_J_BANDWIDTH_DEX,
    MLFERMI_J_BANDWIDTH_SEXTANS_DEX,
};
pub use limit::{BestFit, LimitMethod, LimitOptions, MlFermiGrid, ProfileCurve, UpperLimit};
pub use poisson::{binned_poisson_ln_likelihood, poisson_deviance, MAX_COUNTS_PER_BIN};
pub use profile::{
    PriorEvaluation, ProfileOptions, ProfileState, StackedLikelihood, StackedProfile, TargetFit,
};
pub use target::{Target, TargetNuisances};
