//! Background models of a target, and one-dimensional log-densities used as
//! nuisance priors.
//!
//! A target's background in bin $b$ is either **fixed**, $B_b$ counts, or
//! **profiled** through one parameter $\beta = \ln b$ per target:
//! - scaling the counts, $B_b = s_b\, e^{\beta}$ (with, e.g., $s_b = \hat B_b / \hat B_0$
//!   so that $\beta$ is the log of the bin-0 background);
//! - scaling the logarithm as MLFermiLATDwarfs does in its "JB" case,
//!   $\ln B_b = \beta\, r_b$ with $r_b = \ln\hat B_b / \ln\hat B_0$.
//!
//! Both are $B_b = \exp(\alpha_b + r_b\beta)$, with $(\alpha_b, r_b) = (\ln s_b, 1)$
//! or $(0, r_b)$, which is how the profile evaluates them. The parameter may
//! carry a prior $p(\beta)$, any [`LnDensity1d`]: for the dwarfs, the void
//! kernel density at the dwarf's position ([`darkprobe_kde::BackgroundPdf`]),
//! which implements the trait. MLFermiLATDwarfs uses the joint density in
//! (position, $\ln y$) at the dwarf's fixed position; it differs from the
//! conditional one by a constant, which changes the absolute $-2\ln L$ but
//! no test statistic or limit.
//!
//! For a prior that is a sum over many voids, build it from the voids that
//! matter (e.g. `SkyProductKde::conditional_at(l, b, 40.0)` keeps the voids
//! whose spatial weight is within $e^{-40}$ of the largest, a relative change
//! below $N e^{-40}$): tabulating it then takes milliseconds instead of
//! seconds.
//!
//! **Tabulation.** A prior such as the void KDE costs thousands of exponentials
//! per evaluation, far too slow for the inner loop of a profile.
//! [`TabulatedLnDensity`] samples $\ln p$, $(\ln p)'$ and $(\ln p)''$ on a
//! uniform grid and interpolates with quintic Hermite polynomials, which match
//! value, slope and curvature at every node (so the interpolant is $C^2$) and
//! are exact for quintic polynomials; the error is $O(\Delta^6)$ for node
//! spacing $\Delta$.
//!
//! ```
//! use darkprobe_limits::likelihood::background::{LnDensity1d, NormalLnDensity, TabulatedLnDensity};
//! let prior = NormalLnDensity::new(4.0, 0.3)?;
//! let table = TabulatedLnDensity::new(&prior, 0.0, 7.0, 0.02)?;
//! let (f, d1, d2) = table.eval(4.37).unwrap();
//! let (g, e1, e2) = prior.ln_pdf_derivatives(4.37);
//! assert!((f - g).abs() < 1e-12 && (d1 - e1).abs() < 1e-10 && (d2 - e2).abs() < 1e-8);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```

use crate::error::Result;
use crate::likelihood::jfactor::EmpiricalLogJ;
use darkprobe_core::error::{check_finite, check_positive};
use darkprobe_core::Error;
use darkprobe_kde::BackgroundPdf;
use rand::Rng;
use std::fmt::Debug;
use std::sync::Arc;

/// A one-dimensional log-density $\ln p(x)$ with its derivative, such as a
/// prior on $\ln b$ or on $\log_{10} J$.
///
/// Implementations need not be normalised; the constant only shifts the
/// absolute $-2\ln L$, never a test statistic.
pub trait LnDensity1d: Send + Sync + Debug {
    /// $\ln p(x)$ and $\frac{d}{dx}\ln p(x)$.
    fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64);

    /// $\ln p$, its first and second derivatives. The default takes the
    /// second derivative from a central difference of the first with step
    /// $10^{-5}(1 + |x|)$; override it when an exact form is available.
    fn ln_pdf_derivatives(&self, x: f64) -> (f64, f64, f64) {
        let (f, d1) = self.ln_pdf_and_derivative(x);
        let e = 1e-5 * (1.0 + x.abs());
        let (_, dp) = self.ln_pdf_and_derivative(x + e);
        let (_, dm) = self.ln_pdf_and_derivative(x - e);
        (f, d1, (dp - dm) / (2.0 * e))
    }

    /// Whether [`ln_pdf_derivatives`](Self::ln_pdf_derivatives) is exact
    /// (overridden). When false, [`TabulatedLnDensity`] takes the second
    /// derivative at its nodes from a five-point stencil of the first
    /// derivatives at neighbouring nodes, one density call per node.
    fn has_second_derivative(&self) -> bool {
        false
    }
}

impl LnDensity1d for BackgroundPdf {
    fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
        BackgroundPdf::ln_pdf_and_derivative(self, x)
    }
}

impl LnDensity1d for EmpiricalLogJ {
    fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
        let (f, d1, _) = EmpiricalLogJ::ln_pdf_derivatives(self, x);
        (f, d1)
    }
    fn ln_pdf_derivatives(&self, x: f64) -> (f64, f64, f64) {
        EmpiricalLogJ::ln_pdf_derivatives(self, x)
    }
    fn has_second_derivative(&self) -> bool {
        true
    }
}

/// A normal log-density $\ln \mathcal N(x; \mu, s^2)$ (e.g. a simple prior on $\ln b$).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalLnDensity {
    mean: f64,
    sd: f64,
}

impl NormalLnDensity {
    /// $\mathcal N(\mu, s^2)$.
    ///
    /// # Errors
    /// Non-finite mean, or `sd` not finite and $> 0$.
    pub fn new(mean: f64, sd: f64) -> Result<Self> {
        check_finite("mean", mean)?;
        check_positive("sd", sd)?;
        Ok(Self { mean, sd })
    }
}

impl LnDensity1d for NormalLnDensity {
    fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
        let (f, d1, _) = self.ln_pdf_derivatives(x);
        (f, d1)
    }
    fn ln_pdf_derivatives(&self, x: f64) -> (f64, f64, f64) {
        let inv_var = 1.0 / (self.sd * self.sd);
        let d = x - self.mean;
        (
            darkprobe_core::numerics::normal_ln_pdf(x, self.mean, self.sd),
            -d * inv_var,
            -inv_var,
        )
    }
    fn has_second_derivative(&self) -> bool {
        true
    }
}

/// A log-density tabulated on a uniform grid and interpolated by quintic
/// Hermite polynomials (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct TabulatedLnDensity {
    lo: f64,
    hi: f64,
    step: f64,
    /// Six polynomial coefficients per interval, in $s = (x - x_i)/\Delta \in [0, 1]$.
    coef: Vec<[f64; 6]>,
    /// Node values of $\ln p$ (for the mode and sampling).
    nodes: Vec<f64>,
}

/// Largest number of nodes a table may have.
const MAX_NODES: usize = 2_000_000;

impl TabulatedLnDensity {
    /// Tabulates `density` on $[\mathrm{lo}, \mathrm{hi}]$ with node spacing
    /// at most `step` (the spacing is adjusted to divide the interval).
    ///
    /// # Errors
    /// Non-finite bounds or `lo >= hi`, `step` not finite and $> 0$, more than
    /// two million nodes, or a density that is `NaN`/$+\infty$, or has a
    /// non-finite derivative, at a node (the message gives the node). A node
    /// value of $-\infty$ is rejected too: restrict the table to where $p > 0$.
    pub fn new(density: &dyn LnDensity1d, lo: f64, hi: f64, step: f64) -> Result<Self> {
        check_finite("table lower end", lo)?;
        check_finite("table upper end", hi)?;
        if lo >= hi {
            return Err(
                Error::invalid_param("table range", format!("[{lo}, {hi}]"), "lo < hi").into(),
            );
        }
        check_positive("table step", step)?;
        let n_int = ((hi - lo) / step).ceil().max(1.0);
        if n_int >= MAX_NODES as f64 {
            return Err(Error::invalid_param(
                "table step",
                step,
                format!(
                    "at least (hi - lo) / {MAX_NODES} = {:e}",
                    (hi - lo) / MAX_NODES as f64
                ),
            )
            .into());
        }
        let n_int = n_int as usize;
        let step = (hi - lo) / n_int as f64;
        let node = |i: isize| {
            if i == n_int as isize {
                hi
            } else {
                lo + step * i as f64
            }
        };
        let bad = |i: isize, x: f64, v: f64, d1: f64, d2: f64| -> crate::LimitsError {
            Error::numerical(
                "tabulating a prior log-density",
                i.max(0) as usize,
                x,
                format!(
                    "ln p = {v}, d/dx = {d1}, d2/dx2 = {d2} at x = {x} are not all finite; \
                     restrict the parameter bounds to where the density is positive"
                ),
            )
            .into()
        };
        let mut f = Vec::with_capacity(n_int + 1);
        let mut d = Vec::with_capacity(n_int + 1);
        if density.has_second_derivative() {
            for i in 0..=n_int as isize {
                let x = node(i);
                let (v, d1, d2) = density.ln_pdf_derivatives(x);
                if !(v.is_finite() && d1.is_finite() && d2.is_finite()) {
                    return Err(bad(i, x, v, d1, d2));
                }
                f.push(v);
                d.push((d1, d2));
            }
        } else {
            // First derivatives on the nodes plus two on each side; second
            // derivatives from the fourth-order central stencil
            // (-d[i+2] + 8 d[i+1] - 8 d[i-1] + d[i-2]) / (12 step).
            let mut d1s = Vec::with_capacity(n_int + 5);
            for i in -2..=n_int as isize + 2 {
                let x = node(i);
                let (v, d1) = density.ln_pdf_and_derivative(x);
                if !(v.is_finite() && d1.is_finite()) {
                    return Err(bad(i, x, v, d1, 0.0));
                }
                if (0..=n_int as isize).contains(&i) {
                    f.push(v);
                }
                d1s.push(d1);
            }
            for i in 0..=n_int {
                let j = i + 2;
                let d2 = (-d1s[j + 2] + 8.0 * d1s[j + 1] - 8.0 * d1s[j - 1] + d1s[j - 2])
                    / (12.0 * step);
                d.push((d1s[j], d2));
            }
        }
        let coef = (0..n_int)
            .map(|i| {
                let (p0, p1) = (f[i], f[i + 1]);
                let (m0, m1) = (d[i].0 * step, d[i + 1].0 * step);
                let (a0, a1) = (d[i].1 * step * step, d[i + 1].1 * step * step);
                let dp = p1 - p0;
                [
                    p0,
                    m0,
                    0.5 * a0,
                    10.0 * dp - 6.0 * m0 - 4.0 * m1 - 1.5 * a0 + 0.5 * a1,
                    -15.0 * dp + 8.0 * m0 + 7.0 * m1 + 1.5 * a0 - a1,
                    6.0 * dp - 3.0 * m0 - 3.0 * m1 - 0.5 * a0 + 0.5 * a1,
                ]
            })
            .collect();
        Ok(Self {
            lo,
            hi,
            step,
            coef,
            nodes: f,
        })
    }

    /// The tabulated interval $[\mathrm{lo}, \mathrm{hi}]$.
    pub fn domain(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// The node spacing.
    pub fn step(&self) -> f64 {
        self.step
    }

    /// $\ln p$, $(\ln p)'$, $(\ln p)''$ of the interpolant at `x`; `None`
    /// outside the domain (or for `NaN`).
    #[inline]
    pub fn eval(&self, x: f64) -> Option<(f64, f64, f64)> {
        if !(x >= self.lo && x <= self.hi) {
            return None;
        }
        let pos = (x - self.lo) / self.step;
        let i = (pos as usize).min(self.coef.len() - 1);
        let s = pos - i as f64;
        let c = &self.coef[i];
        let v = c[0] + s * (c[1] + s * (c[2] + s * (c[3] + s * (c[4] + s * c[5]))));
        let d1 = c[1] + s * (2.0 * c[2] + s * (3.0 * c[3] + s * (4.0 * c[4] + s * 5.0 * c[5])));
        let d2 = 2.0 * c[2] + s * (6.0 * c[3] + s * (12.0 * c[4] + s * 20.0 * c[5]));
        Some((v, d1 / self.step, d2 / (self.step * self.step)))
    }

    /// The location of the largest value of the interpolant (the node with
    /// the largest value, refined by Newton steps on the derivative).
    pub fn mode(&self) -> f64 {
        let (imax, _) =
            self.nodes
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                );
        let x_node = self.lo + self.step * imax as f64;
        let a = (x_node - self.step).max(self.lo);
        let b = (x_node + self.step).min(self.hi);
        let mut x = x_node.clamp(self.lo, self.hi);
        let mut best = (x, self.nodes[imax]);
        for _ in 0..50 {
            let Some((v, d1, d2)) = self.eval(x) else {
                break;
            };
            if v > best.1 {
                best = (x, v);
            }
            if d2 >= 0.0 || d1 == 0.0 {
                break;
            }
            let next = (x - d1 / d2).clamp(a, b);
            if (next - x).abs() <= 1e-14 * (1.0 + x.abs()) {
                x = next;
                break;
            }
            x = next;
        }
        if let Some((v, _, _)) = self.eval(x) {
            if v > best.1 {
                best = (x, v);
            }
        }
        best.0
    }

    /// One draw from the density restricted to the domain, by inverse
    /// transform of the node values, linear in $p$ between nodes (an
    /// approximation good to $O(\Delta^2)$, used for pseudo-experiments).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let m = self.nodes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Trapezoid masses of exp(ln p - max) per interval; rebuilt per draw is
        // fine for the few draws a pseudo-experiment needs.
        let p: Vec<f64> = self.nodes.iter().map(|v| (v - m).exp()).collect();
        let mass: Vec<f64> = p.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        let total: f64 = mass.iter().sum();
        let mut target = rng.random::<f64>() * total;
        for (i, &w) in mass.iter().enumerate() {
            if target <= w || i + 1 == mass.len() {
                // Inside interval i the density is linear, p(s) = p0 + 2 a s with
                // a = (p1 - p0) / 2; solve p0 s + a s^2 = q in the stable form.
                let (p0, p1) = (p[i], p[i + 1]);
                let q = target.clamp(0.0, w);
                let a = 0.5 * (p1 - p0);
                let den = p0 + (p0 * p0 + 4.0 * a * q).max(0.0).sqrt();
                let s = if den > 0.0 { 2.0 * q / den } else { 0.5 };
                return self.lo + self.step * (i as f64 + s.clamp(0.0, 1.0));
            }
            target -= w;
        }
        self.hi
    }
}

/// How a profiled background is spread over the energy bins.
#[derive(Debug, Clone, PartialEq)]
pub enum BackgroundScaling {
    /// $B_b = s_b\,e^{\beta}$: the counts scale together; one $s_b > 0$ per bin.
    Counts(Vec<f64>),
    /// $\ln B_b = r_b\,\beta$ (MLFermiLATDwarfs "JB"): the logarithms scale;
    /// one finite $r_b$ per bin, e.g. $r_b = \ln\hat B_b/\ln\hat B_0$.
    LogRatios(Vec<f64>),
}

impl BackgroundScaling {
    /// Number of bins.
    pub fn len(&self) -> usize {
        match self {
            BackgroundScaling::Counts(v) | BackgroundScaling::LogRatios(v) => v.len(),
        }
    }

    /// Whether there are no bins.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// $(\alpha_b, r_b)$ such that $B_b = \exp(\alpha_b + r_b\beta)$.
    pub(crate) fn exponents(&self) -> (Vec<f64>, Vec<f64>) {
        match self {
            BackgroundScaling::Counts(s) => {
                (s.iter().map(|x| x.ln()).collect(), vec![1.0; s.len()])
            }
            BackgroundScaling::LogRatios(r) => (vec![0.0; r.len()], r.clone()),
        }
    }

    /// The background counts per bin at $\beta = \ln b$.
    pub fn counts_at(&self, ln_b: f64) -> Vec<f64> {
        let (alpha, r) = self.exponents();
        alpha
            .iter()
            .zip(&r)
            .map(|(a, r)| (a + r * ln_b).exp())
            .collect()
    }

    pub(crate) fn validate(&self, target: &str) -> Result<()> {
        match self {
            BackgroundScaling::Counts(s) => {
                for (b, &x) in s.iter().enumerate() {
                    if !(x.is_finite() && x > 0.0) {
                        return Err(Error::invalid_param(
                            format!("target '{target}' background scale s[{b}]"),
                            x,
                            "finite and > 0",
                        )
                        .into());
                    }
                }
            }
            BackgroundScaling::LogRatios(r) => {
                for (b, &x) in r.iter().enumerate() {
                    if !x.is_finite() {
                        return Err(Error::invalid_param(
                            format!("target '{target}' background log-ratio r[{b}]"),
                            x,
                            "a finite number",
                        )
                        .into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The background of one target.
#[derive(Debug, Clone)]
pub enum BackgroundModel {
    /// Known background counts per bin, each finite and $\ge 0$.
    Fixed(Vec<f64>),
    /// One profiled parameter $\beta = \ln b$ with a per-bin scaling and an
    /// optional prior (without one, $\beta$ is free within its bounds).
    Profiled {
        /// How $\beta$ sets each bin's background.
        scaling: BackgroundScaling,
        /// The prior $p(\beta)$, if any.
        prior: Option<Arc<dyn LnDensity1d>>,
    },
}

impl BackgroundModel {
    /// Whether $\ln b$ is a nuisance parameter.
    pub fn is_profiled(&self) -> bool {
        matches!(self, BackgroundModel::Profiled { .. })
    }

    /// Number of bins described.
    pub fn len(&self) -> usize {
        match self {
            BackgroundModel::Fixed(v) => v.len(),
            BackgroundModel::Profiled { scaling, .. } => scaling.len(),
        }
    }

    /// Whether no bins are described.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use darkprobe_core::rng::rng_from_seed;

    /// A bumpy, non-polynomial log-density: a two-component normal mixture.
    #[derive(Debug)]
    struct Mixture;
    impl LnDensity1d for Mixture {
        fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
            let a = (-(x - 3.0).powi(2) / (2.0 * 0.15f64.powi(2))).exp();
            let b = 0.5 * (-(x - 3.4).powi(2) / (2.0 * 0.2f64.powi(2))).exp();
            let da = -(x - 3.0) / 0.15f64.powi(2) * a;
            let db = -(x - 3.4) / 0.2f64.powi(2) * b;
            ((a + b).ln(), (da + db) / (a + b))
        }
    }

    #[derive(Debug)]
    struct Quintic;
    impl LnDensity1d for Quintic {
        fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
            let (f, d1, _) = self.ln_pdf_derivatives(x);
            (f, d1)
        }
        fn ln_pdf_derivatives(&self, x: f64) -> (f64, f64, f64) {
            let f = 0.3 - 1.2 * x + 0.7 * x * x - 0.25 * x.powi(3) + 0.04 * x.powi(4)
                - 0.01 * x.powi(5);
            let d1 = -1.2 + 1.4 * x - 0.75 * x * x + 0.16 * x.powi(3) - 0.05 * x.powi(4);
            let d2 = 1.4 - 1.5 * x + 0.48 * x * x - 0.2 * x.powi(3);
            (f, d1, d2)
        }
    }

    #[test]
    fn quintic_hermite_is_exact_on_quintics() {
        let t = TabulatedLnDensity::new(&Quintic, -1.0, 4.0, 0.7).unwrap();
        for i in 0..=100 {
            let x = -1.0 + 5.0 * i as f64 / 100.0;
            let (f, d1, d2) = t.eval(x).unwrap();
            let (g, e1, e2) = Quintic.ln_pdf_derivatives(x);
            assert!((f - g).abs() < 1e-12, "x {x}");
            assert!((d1 - e1).abs() < 1e-11, "x {x}");
            assert!((d2 - e2).abs() < 1e-10, "x {x}");
        }
        assert!(t.eval(4.0001).is_none() && t.eval(f64::NAN).is_none());
    }

    #[test]
    fn table_error_shrinks_as_the_sixth_power() {
        let err = |step: f64| {
            let t = TabulatedLnDensity::new(&Mixture, 2.0, 4.5, step).unwrap();
            (0..=997)
                .map(|i| {
                    let x = 2.0 + 2.5 * i as f64 / 997.0;
                    (t.eval(x).unwrap().0 - Mixture.ln_pdf_and_derivative(x).0).abs()
                })
                .fold(0.0, f64::max)
        };
        let (e1, e2) = (err(0.02), err(0.01));
        eprintln!("max table error: step 0.02 {e1:e}, step 0.01 {e2:e}");
        assert!(e2 < 2e-8, "{e2}");
        // O(step^6) for the interpolation, O(step^4) for the stencil curvature.
        assert!(e1 / e2 > 12.0, "{e1} / {e2}");
    }

    #[test]
    fn stencil_curvature_keeps_the_table_accurate() {
        // Mixture has no exact second derivative: the table uses the stencil.
        assert!(!Mixture.has_second_derivative());
        let t = TabulatedLnDensity::new(&Mixture, 2.0, 4.5, 0.01).unwrap();
        for i in 0..=500 {
            let x = 2.0 + 2.5 * i as f64 / 500.0;
            let (_, d1, d2) = t.eval(x).unwrap();
            let (_, e1) = Mixture.ln_pdf_and_derivative(x);
            let h = 1e-5;
            let e2 = (Mixture.ln_pdf_and_derivative(x + h).1
                - Mixture.ln_pdf_and_derivative(x - h).1)
                / (2.0 * h);
            assert!((d1 - e1).abs() < 1e-6 * e1.abs().max(1.0), "x {x}");
            assert!(
                (d2 - e2).abs() < 1e-3 * e2.abs().max(1.0),
                "x {x}: {d2} vs {e2}"
            );
        }
    }

    #[test]
    fn default_second_derivative_is_accurate() {
        let n = NormalLnDensity::new(1.0, 0.5).unwrap();
        #[derive(Debug)]
        struct NoD2(NormalLnDensity);
        impl LnDensity1d for NoD2 {
            fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
                self.0.ln_pdf_and_derivative(x)
            }
        }
        let (_, _, d2) = NoD2(n).ln_pdf_derivatives(0.3);
        assert!((d2 + 4.0).abs() < 1e-6, "{d2}");
    }

    #[test]
    fn mode_and_sampling() {
        let n = NormalLnDensity::new(2.3, 0.4).unwrap();
        let t = TabulatedLnDensity::new(&n, 0.0, 7.0, 0.05).unwrap();
        assert!((t.mode() - 2.3).abs() < 1e-9, "{}", t.mode());
        let mut rng = rng_from_seed(1);
        let draws: Vec<f64> = (0..20000).map(|_| t.sample(&mut rng)).collect();
        let m = draws.iter().sum::<f64>() / 20000.0;
        let v = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 20000.0;
        assert!((m - 2.3).abs() < 0.015, "{m}");
        assert!((v.sqrt() - 0.4).abs() < 0.01, "{}", v.sqrt());
    }

    #[test]
    fn invalid_tables_are_errors() {
        let n = NormalLnDensity::new(2.3, 0.4).unwrap();
        assert!(TabulatedLnDensity::new(&n, 1.0, 1.0, 0.1).is_err());
        assert!(TabulatedLnDensity::new(&n, 0.0, 1.0, 0.0).is_err());
        assert!(TabulatedLnDensity::new(&n, 0.0, 1.0, 1e-9).is_err());
        #[derive(Debug)]
        struct Bad;
        impl LnDensity1d for Bad {
            fn ln_pdf_and_derivative(&self, x: f64) -> (f64, f64) {
                if x > 0.5 {
                    (f64::NEG_INFINITY, 0.0)
                } else {
                    (0.0, 0.0)
                }
            }
        }
        let e = TabulatedLnDensity::new(&Bad, 0.0, 1.0, 0.1).unwrap_err();
        assert!(e.to_string().contains("not all finite"), "{e}");
    }

    #[test]
    fn scalings_give_the_documented_backgrounds() {
        let c = BackgroundScaling::Counts(vec![1.0, 0.5]);
        let b = c.counts_at(3.0f64.ln());
        assert!((b[0] - 3.0).abs() < 1e-12 && (b[1] - 1.5).abs() < 1e-12);
        let l = BackgroundScaling::LogRatios(vec![1.0, 0.8]);
        let b = l.counts_at(4.0);
        assert!((b[1] - (3.2f64).exp()).abs() < 1e-12);
        assert!(BackgroundScaling::Counts(vec![0.0]).validate("x").is_err());
        assert!(BackgroundScaling::LogRatios(vec![f64::NAN])
            .validate("x")
            .is_err());
    }
}
