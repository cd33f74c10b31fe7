//! Analytic equilibrium mocks: isotropic Hernquist and Plummer spheres with
//! their exact distribution functions.
//!
//! # Models
//! Both spheres have total mass $M$ and scale radius $a$; $G$ is
//! [`G_KPC_KM2_S2_MSUN`].
//!
//! **Hernquist** (Hernquist 1990, ApJ 356, 359):
//! $\rho = \frac{M a}{2\pi r (r+a)^3}$, $\Phi = -\frac{GM}{r+a}$,
//! $M(<r) = M\frac{r^2}{(r+a)^2}$. With the binding energy
//! $\varepsilon = -E = -\Phi - v^2/2$, $q = \sqrt{\varepsilon a/GM}$ and
//! $v_g = \sqrt{GM/a}$, the isotropic distribution function (eq. 17 of the
//! paper) is
//! $$f(\varepsilon) = \frac{M}{8\sqrt2\,\pi^3 a^3 v_g^3}\,
//!   \frac{g(q)}{(1-q^2)^{5/2}},\qquad
//!   g(q) = 3\arcsin q + q\sqrt{1-q^2}\,(1-2q^2)(8q^4-8q^2-3).$$
//! Differentiating gives the compact form $g'(q) = 128\,q^4(1-q^2)^{3/2}$, which
//! this module uses for $d\ln f/dE$ and, through its Taylor series, for $g$
//! at small $q$ where the closed form cancels catastrophically. The radial
//! velocity dispersion is Hernquist's eq. 10,
//! $\sigma_r^2 = \frac{GM}{12a}\Big[\frac{12 r (r+a)^3}{a^4}\ln\frac{r+a}{r}
//!   - \frac{r}{r+a}\Big(25 + 52\frac ra + 42\frac{r^2}{a^2} + 12\frac{r^3}{a^3}\Big)\Big]$.
//!
//! **Plummer** (Plummer 1911; Binney & Tremaine 2008, eq. 4.83):
//! $\rho = \frac{3M}{4\pi a^3}(1+r^2/a^2)^{-5/2}$, $\Phi = -\frac{GM}{\sqrt{r^2+a^2}}$,
//! $M(<r) = M\frac{r^3}{(r^2+a^2)^{3/2}}$ and
//! $f(\varepsilon) = \frac{24\sqrt2\, a^2}{7\pi^3 G^5 M^4}\,\varepsilon^{7/2}$. The Jeans
//! equation gives the isotropic dispersion $\sigma^2 = -\Phi/6$.
//!
//! The models implement [`PhaseSpaceModel`] with $f$ divided by $M$ (so that
//! $\int f\,d^3x\,d^3v = 1$) and with
//! $\nabla_x\ln f = \frac{d\ln f}{dE}\nabla\Phi$,
//! $\nabla_v\ln f = \frac{d\ln f}{dE}\mathbf v$. Unbound points ($E \ge 0$) have
//! $\ln f = -\infty$ and zero gradients.
//!
//! # Sampling
//! Radii come from the inverse of $M(<r)/M$, directions are isotropic, and the
//! speed at radius $r$ has density $\propto f(\Phi + v^2/2)\,v^2$ on
//! $[0, v_{\rm esc}]$. Since $f$ decreases with $v$, the proposal
//! $v = v_{\rm esc}U^{1/3}$ (density $\propto v^2$) accepted with probability
//! $f(E(v))/f(\Phi)$ is exact rejection sampling. Stars are generated in chunks
//! of [`CHUNK`]; chunk $c$ uses its own generator seeded with
//! `seed_for_index(seed, c)`, so the sample does not depend on the number of
//! threads.
//!
//! ```
//! use darkprobe_flows::mock::{sample, Profile};
//! let stars = sample(Profile::Hernquist, 1e10, 5.0, 1000, 7).unwrap();
//! assert_eq!(stars.len(), 1000);
//! // The same seed gives the same stars.
//! assert_eq!(stars, sample(Profile::Hernquist, 1e10, 5.0, 1000, 7).unwrap());
//! ```

// Index loops are the clearest form of the small fixed-size linear algebra here, and
// `!(x > 0.0)` comparisons deliberately reject NaN as well.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use crate::model::{LnFGrad, PhaseSpaceModel, Result, Vec3, G_KPC_KM2_S2_MSUN};
use darkprobe_core::error::Error;
use darkprobe_core::rng::{rng_for_index, seed_for_index};
use darkprobe_core::table::{CsvWriter, Table, TableOptions};
use rand::Rng;
use std::f64::consts::PI;
use std::path::Path;

/// Number of stars generated from one seeded generator (the unit of parallel work).
pub const CHUNK: usize = 4096;

/// Maximum number of rejection-sampling proposals per accepted speed before
/// the sampler reports a failure.
const MAX_PROPOSALS: usize = 1_000_000;

/// A star: Cartesian position (kpc) and velocity (km/s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Star {
    /// Position in kpc.
    pub x: Vec3,
    /// Velocity in km/s.
    pub v: Vec3,
}

/// The analytic profiles available for mocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Isotropic Hernquist sphere.
    Hernquist,
    /// Isotropic Plummer sphere.
    Plummer,
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hernquist" => Ok(Profile::Hernquist),
            "plummer" => Ok(Profile::Plummer),
            _ => Err(Error::invalid_param("profile", s, "hernquist or plummer")),
        }
    }
}

/// An isotropic spherical equilibrium model $f(E)$ with closed-form potential.
///
/// Energies are per unit mass, in (km/s)²; radii in kpc.
pub trait SphericalDf: Sync {
    /// Total mass in M☉.
    fn mass_msun(&self) -> f64;
    /// Scale radius in kpc.
    fn scale_kpc(&self) -> f64;
    /// Potential $\Phi(r)$ in (km/s)².
    fn potential(&self, r_kpc: f64) -> f64;
    /// $d\Phi/dr$ in km² s⁻² kpc⁻¹ (the magnitude of the inward acceleration).
    fn dphi_dr(&self, r_kpc: f64) -> f64;
    /// Enclosed mass $M(<r)$ in M☉.
    fn enclosed_mass_msun(&self, r_kpc: f64) -> f64;
    /// Mass density in M☉ kpc⁻³.
    fn density_msun_kpc3(&self, r_kpc: f64) -> f64;
    /// Radial (= one-dimensional) velocity dispersion squared, (km/s)².
    fn sigma_r2(&self, r_kpc: f64) -> f64;
    /// Radius enclosing the mass fraction `u` in $[0, 1)$.
    fn radius_at_mass_fraction(&self, u: f64) -> f64;
    /// $\ln f(E)$ with $\int f\,d^3x\,d^3v = 1$; $-\infty$ for $E \ge 0$.
    fn ln_f_energy(&self, e: f64) -> f64;
    /// $d\ln f/dE$; zero for $E \ge 0$.
    fn dln_f_de(&self, e: f64) -> f64;

    /// Acceleration $-\nabla\Phi$ at `x` in km² s⁻² kpc⁻¹ (zero at the centre).
    fn acceleration(&self, x: Vec3) -> Vec3 {
        let r = norm(x);
        if r == 0.0 {
            return [0.0; 3];
        }
        let s = -self.dphi_dr(r) / r;
        [s * x[0], s * x[1], s * x[2]]
    }

    /// Whether the distribution of speeds is undefined at $r = 0$ (a cusp
    /// where $f$ diverges at the central potential).
    fn singular_centre(&self) -> bool {
        false
    }

    /// Escape speed $\sqrt{-2\Phi(r)}$ in km/s.
    fn escape_speed(&self, r_kpc: f64) -> f64 {
        (-2.0 * self.potential(r_kpc)).sqrt()
    }
}

/// The isotropic Hernquist sphere with its exact distribution function.
///
/// ```
/// use darkprobe_flows::mock::{HernquistDf, SphericalDf};
/// let h = HernquistDf::new(1e10, 5.0).unwrap();
/// // Half of the mass lies inside (1 + sqrt 2) a.
/// let r_half = 5.0 * (1.0 + 2f64.sqrt());
/// assert!((h.enclosed_mass_msun(r_half) - 5e9).abs() < 1e-3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HernquistDf {
    mass_msun: f64,
    scale_kpc: f64,
}

/// The isotropic Plummer sphere with its exact distribution function.
///
/// ```
/// use darkprobe_flows::mock::{PlummerDf, SphericalDf};
/// let p = PlummerDf::new(1e10, 1.0).unwrap();
/// // sigma^2 = -Phi / 6 at the centre.
/// assert!((p.sigma_r2(0.0) + p.potential(0.0) / 6.0).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlummerDf {
    mass_msun: f64,
    scale_kpc: f64,
}

fn check_mass_scale(mass_msun: f64, scale_kpc: f64) -> Result<()> {
    if !(mass_msun.is_finite() && mass_msun > 0.0) {
        return Err(Error::invalid_param(
            "mass_msun",
            mass_msun,
            "finite and > 0",
        ));
    }
    if !(scale_kpc.is_finite() && scale_kpc > 0.0) {
        return Err(Error::invalid_param(
            "scale_kpc",
            scale_kpc,
            "finite and > 0",
        ));
    }
    Ok(())
}

impl HernquistDf {
    /// A Hernquist sphere of total mass `mass_msun` and scale radius `scale_kpc`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless both are finite and positive.
    pub fn new(mass_msun: f64, scale_kpc: f64) -> Result<Self> {
        check_mass_scale(mass_msun, scale_kpc)?;
        Ok(Self {
            mass_msun,
            scale_kpc,
        })
    }

    fn gm(&self) -> f64 {
        G_KPC_KM2_S2_MSUN * self.mass_msun
    }
}

/// $g(q) = 3\arcsin q + q\sqrt{1-q^2}(1-2q^2)(8q^4-8q^2-3)$, by its Taylor
/// series $\int_0^q 128 t^4 (1-t^2)^{3/2} dt$ for small $q$.
fn hernquist_g(q: f64) -> f64 {
    if q < 0.05 {
        // (1 - x)^{3/2} = sum_k c_k x^k, integrate 128 t^4 c_k t^{2k}.
        let q2 = q * q;
        let mut c = 1.0;
        let mut pow = q2 * q2 * q; // q^{5 + 2k}
        let mut sum = 0.0;
        for k in 0..8 {
            let kf = k as f64;
            sum += c * pow / (5.0 + 2.0 * kf);
            c *= -(1.5 - kf) / (kf + 1.0);
            pow *= q2;
        }
        128.0 * sum
    } else {
        let q2 = q * q;
        3.0 * q.asin() + q * (1.0 - q2).sqrt() * (1.0 - 2.0 * q2) * (8.0 * q2 * q2 - 8.0 * q2 - 3.0)
    }
}

impl SphericalDf for HernquistDf {
    fn singular_centre(&self) -> bool {
        true
    }
    fn mass_msun(&self) -> f64 {
        self.mass_msun
    }
    fn scale_kpc(&self) -> f64 {
        self.scale_kpc
    }
    fn potential(&self, r: f64) -> f64 {
        -self.gm() / (r + self.scale_kpc)
    }
    fn dphi_dr(&self, r: f64) -> f64 {
        let s = r + self.scale_kpc;
        self.gm() / (s * s)
    }
    fn enclosed_mass_msun(&self, r: f64) -> f64 {
        let s = r / (r + self.scale_kpc);
        self.mass_msun * s * s
    }
    fn density_msun_kpc3(&self, r: f64) -> f64 {
        let a = self.scale_kpc;
        self.mass_msun * a / (2.0 * PI * r * (r + a).powi(3))
    }
    fn sigma_r2(&self, r: f64) -> f64 {
        let a = self.scale_kpc;
        let x = r / a;
        if x > 50.0 {
            // Asymptotic series of the closed form (which cancels badly):
            // sigma^2 -> GM/(5 r) (1 - a/(...)); integrate the Jeans equation instead.
            return jeans_sigma2(self, r);
        }
        let bracket = 12.0 * x * (1.0 + x).powi(3) * ((1.0 + x) / x).ln()
            - x / (1.0 + x) * (25.0 + 52.0 * x + 42.0 * x * x + 12.0 * x * x * x);
        self.gm() / (12.0 * a) * bracket
    }
    fn radius_at_mass_fraction(&self, u: f64) -> f64 {
        let s = u.sqrt();
        self.scale_kpc * s / (1.0 - s)
    }
    fn ln_f_energy(&self, e: f64) -> f64 {
        if !(e < 0.0) {
            return f64::NEG_INFINITY;
        }
        let a = self.scale_kpc;
        let vg = (self.gm() / a).sqrt();
        let q = (-e * a / self.gm()).sqrt().min(1.0);
        let norm = 1.0 / (8.0 * 2f64.sqrt() * PI.powi(3) * a.powi(3) * vg.powi(3));
        norm.ln() + hernquist_g(q).ln() - 2.5 * (1.0 - q * q).ln()
    }
    fn dln_f_de(&self, e: f64) -> f64 {
        if !(e < 0.0) {
            return 0.0;
        }
        let a = self.scale_kpc;
        let q = (-e * a / self.gm()).sqrt().min(1.0);
        let q2 = q * q;
        let one_m = 1.0 - q2;
        let dlnf_dq = 5.0 * q / one_m + 128.0 * q2 * q2 * one_m.powf(1.5) / hernquist_g(q);
        // q^2 = -E a / GM  =>  dq/dE = -a / (2 GM q).
        dlnf_dq * (-a / (2.0 * self.gm() * q))
    }
}

impl PlummerDf {
    /// A Plummer sphere of total mass `mass_msun` and scale radius `scale_kpc`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless both are finite and positive.
    pub fn new(mass_msun: f64, scale_kpc: f64) -> Result<Self> {
        check_mass_scale(mass_msun, scale_kpc)?;
        Ok(Self {
            mass_msun,
            scale_kpc,
        })
    }

    fn gm(&self) -> f64 {
        G_KPC_KM2_S2_MSUN * self.mass_msun
    }
}

impl SphericalDf for PlummerDf {
    fn mass_msun(&self) -> f64 {
        self.mass_msun
    }
    fn scale_kpc(&self) -> f64 {
        self.scale_kpc
    }
    fn potential(&self, r: f64) -> f64 {
        -self.gm() / (r * r + self.scale_kpc * self.scale_kpc).sqrt()
    }
    fn dphi_dr(&self, r: f64) -> f64 {
        self.gm() * r / (r * r + self.scale_kpc * self.scale_kpc).powf(1.5)
    }
    fn enclosed_mass_msun(&self, r: f64) -> f64 {
        self.mass_msun * r.powi(3) / (r * r + self.scale_kpc * self.scale_kpc).powf(1.5)
    }
    fn density_msun_kpc3(&self, r: f64) -> f64 {
        let a = self.scale_kpc;
        3.0 * self.mass_msun / (4.0 * PI * a.powi(3)) * (1.0 + r * r / (a * a)).powf(-2.5)
    }
    fn sigma_r2(&self, r: f64) -> f64 {
        -self.potential(r) / 6.0
    }
    fn radius_at_mass_fraction(&self, u: f64) -> f64 {
        let w = u.powf(2.0 / 3.0);
        self.scale_kpc * (w / (1.0 - w)).sqrt()
    }
    fn ln_f_energy(&self, e: f64) -> f64 {
        if !(e < 0.0) {
            return f64::NEG_INFINITY;
        }
        let g = G_KPC_KM2_S2_MSUN;
        let a = self.scale_kpc;
        let m = self.mass_msun;
        // 24 sqrt2 a^2 / (7 pi^3 G^5 M^4) eps^{7/2}, divided by M; in logs to avoid overflow.
        (24.0 * 2f64.sqrt() / (7.0 * PI.powi(3))).ln() + 2.0 * a.ln() - 5.0 * (g * m).ln()
            + 3.5 * (-e).ln()
    }
    fn dln_f_de(&self, e: f64) -> f64 {
        if !(e < 0.0) {
            return 0.0;
        }
        3.5 / e
    }
}

/// Radial dispersion from the isotropic Jeans equation,
/// $\sigma^2(r) = \frac{1}{\rho(r)}\int_r^\infty \rho\,\frac{d\Phi}{dr'}\,dr'$,
/// by Gauss–Legendre quadrature in $\ln r'$ (used where closed forms cancel,
/// and by the tests as an independent check).
pub fn jeans_sigma2<D: SphericalDf + ?Sized>(df: &D, r_kpc: f64) -> f64 {
    // integrate over t = ln r' from ln r to ln r + 40 (the integrand falls as r'^-4 or faster).
    let n = 4000;
    let t0 = r_kpc.ln();
    let t1 = t0 + 40.0;
    let h = (t1 - t0) / n as f64;
    // composite Simpson in t
    let f = |t: f64| {
        let rr = t.exp();
        df.density_msun_kpc3(rr) * df.dphi_dr(rr) * rr
    };
    let mut s = f(t0) + f(t1);
    for i in 1..n {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * f(t0 + i as f64 * h);
    }
    s * h / 3.0 / df.density_msun_kpc3(r_kpc)
}

pub(crate) fn norm(x: Vec3) -> f64 {
    (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt()
}

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn isotropic_direction<R: Rng + ?Sized>(rng: &mut R) -> Vec3 {
    let cos_t: f64 = 2.0 * rng.random::<f64>() - 1.0;
    let phi = 2.0 * PI * rng.random::<f64>();
    let sin_t = (1.0 - cos_t * cos_t).max(0.0).sqrt();
    [sin_t * phi.cos(), sin_t * phi.sin(), cos_t]
}

/// Draws one speed from $f(\Phi + v^2/2)\,v^2$ at radius `r` by rejection.
fn sample_speed<D: SphericalDf + ?Sized, R: Rng + ?Sized>(
    df: &D,
    r: f64,
    rng: &mut R,
) -> Result<f64> {
    let phi = df.potential(r);
    let v_esc = (-2.0 * phi).sqrt();
    let ln_f0 = df.ln_f_energy(phi);
    if !ln_f0.is_finite() {
        return Err(Error::invalid_param(
            "position radius_kpc",
            r,
            "a radius where the distribution function is finite (not the Hernquist centre)",
        ));
    }
    for _ in 0..MAX_PROPOSALS {
        let u: f64 = rng.random();
        let v = v_esc * u.cbrt();
        let ln_f = df.ln_f_energy(phi + 0.5 * v * v);
        let w: f64 = rng.random();
        if w.ln() < ln_f - ln_f0 {
            return Ok(v);
        }
    }
    Err(Error::numerical(
        "rejection sampling of the speed",
        MAX_PROPOSALS,
        r,
        "acceptance rate too low at this radius",
    ))
}

/// A piecewise-constant envelope of $f(\Phi + v^2/2)\,v^2$ on speed bins
/// $[v_k, v_{k+1}]$: since $f$ falls and $v^2$ grows with $v$, the bin's bound is
/// $f(\Phi + v_k^2/2)\,v_{k+1}^2$. The bins are 64 equal bins on
/// $[0, v_{\rm esc}]$, the first of them split geometrically (ratio 2, down to
/// $2^{-40}$ of its width) so that the envelope stays tight when the speed
/// distribution is concentrated at tiny speeds (deep in the Hernquist cusp).
/// Acceptance is typically above 80 %, against a few per cent or much less
/// for the $v^2$ proposal near the cusp.
struct SpeedEnvelope {
    phi: f64,
    /// Bin edges, increasing from 0 to the escape speed.
    edges: Vec<f64>,
    /// ln of the bound in each bin.
    ln_bound: Vec<f64>,
    /// Cumulative bin probabilities (last = 1).
    cdf: Vec<f64>,
}

const ENVELOPE_BINS: usize = 64;
const ENVELOPE_GEOMETRIC: i32 = 40;

impl SpeedEnvelope {
    fn new<D: SphericalDf + ?Sized>(df: &D, r: f64) -> Result<Self> {
        let phi = df.potential(r);
        let v_esc = (-2.0 * phi).sqrt();
        if !df.ln_f_energy(phi).is_finite()
            || !(v_esc > 0.0)
            || (df.singular_centre() && !(r > 0.0))
        {
            return Err(Error::invalid_param(
                "position radius_kpc",
                r,
                "a radius where the distribution function is finite (not the Hernquist centre)",
            ));
        }
        let dv = v_esc / ENVELOPE_BINS as f64;
        let mut edges = vec![0.0];
        edges.extend(
            (0..ENVELOPE_GEOMETRIC)
                .rev()
                .map(|k| dv * 0.5f64.powi(k + 1)),
        );
        edges.extend((1..=ENVELOPE_BINS).map(|k| k as f64 * dv));
        let ln_bound: Vec<f64> = edges
            .windows(2)
            .map(|w| df.ln_f_energy(phi + 0.5 * w[0] * w[0]) + 2.0 * w[1].ln())
            .collect();
        let max = ln_bound.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut cdf = Vec::with_capacity(ln_bound.len());
        let mut acc = 0.0;
        for (lb, w) in ln_bound.iter().zip(edges.windows(2)) {
            acc += (lb - max).exp() * (w[1] - w[0]);
            cdf.push(acc);
        }
        for c in cdf.iter_mut() {
            *c /= acc;
        }
        Ok(Self {
            phi,
            edges,
            ln_bound,
            cdf,
        })
    }

    fn sample<D: SphericalDf + ?Sized, R: Rng + ?Sized>(&self, df: &D, rng: &mut R) -> Result<f64> {
        let last = self.cdf.len() - 1;
        for _ in 0..MAX_PROPOSALS {
            let u: f64 = rng.random();
            let k = self.cdf.partition_point(|c| *c < u).min(last);
            let (lo, hi) = (self.edges[k], self.edges[k + 1]);
            let v = lo + (hi - lo) * rng.random::<f64>();
            let ln_target = df.ln_f_energy(self.phi + 0.5 * v * v) + 2.0 * v.ln();
            let w: f64 = rng.random();
            if w.ln() < ln_target - self.ln_bound[k] {
                return Ok(v);
            }
        }
        Err(Error::numerical(
            "rejection sampling of the speed",
            MAX_PROPOSALS,
            self.phi,
            "acceptance rate too low",
        ))
    }
}

/// Draws `n` stars from the isotropic model `df`, reproducibly from `seed`
/// (independent of the thread count, see the module docs).
///
/// # Errors
/// [`Error::InvalidParameter`] for `n == 0`; a sampler failure (not expected
/// for the built-in models).
pub fn sample_df<D: SphericalDf + ?Sized>(df: &D, n: usize, seed: u64) -> Result<Vec<Star>> {
    if n == 0 {
        return Err(Error::invalid_param("n", 0, ">= 1"));
    }
    let n_chunks = n.div_ceil(CHUNK);
    let chunks = darkprobe_core::par::map_indices(n_chunks, |c| -> Result<Vec<Star>> {
        let mut rng = rng_for_index(seed, c as u64);
        let len = CHUNK.min(n - c * CHUNK);
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            // Keep u away from 1 so the radius stays finite.
            let u: f64 = rng.random::<f64>() * (1.0 - 1e-12);
            let r = df.radius_at_mass_fraction(u).max(1e-12 * df.scale_kpc());
            let dx = isotropic_direction(&mut rng);
            // Deep in the centre the v^2 proposal becomes inefficient.
            let speed = if r < 0.05 * df.scale_kpc() {
                SpeedEnvelope::new(df, r)?.sample(df, &mut rng)?
            } else {
                sample_speed(df, r, &mut rng)?
            };
            let dv = isotropic_direction(&mut rng);
            out.push(Star {
                x: [r * dx[0], r * dx[1], r * dx[2]],
                v: [speed * dv[0], speed * dv[1], speed * dv[2]],
            });
        }
        Ok(out)
    });
    let mut stars = Vec::with_capacity(n);
    for c in chunks {
        stars.extend(c?);
    }
    Ok(stars)
}

/// Draws `n` stars from `profile` with total mass `mass_msun` and scale radius
/// `scale_kpc` (the thin wrapper behind `darkprobe flows mock`).
///
/// # Errors
/// Invalid mass or scale, or `n == 0`.
pub fn sample(
    profile: Profile,
    mass_msun: f64,
    scale_kpc: f64,
    n: usize,
    seed: u64,
) -> Result<Vec<Star>> {
    match profile {
        Profile::Hernquist => sample_df(&HernquistDf::new(mass_msun, scale_kpc)?, n, seed),
        Profile::Plummer => sample_df(&PlummerDf::new(mass_msun, scale_kpc)?, n, seed),
    }
}

fn check_points(x: &[Vec3], v: &[Vec3]) -> Result<()> {
    if x.len() != v.len() {
        return Err(Error::shape(
            "ln_f_grad inputs",
            format!("{} velocities", x.len()),
            v.len(),
        ));
    }
    for (i, (xi, vi)) in x.iter().zip(v).enumerate() {
        if xi.iter().chain(vi.iter()).any(|c| !c.is_finite()) {
            return Err(Error::invalid_param(
                format!("phase-space point {i}"),
                format!("{xi:?}, {vi:?}"),
                "finite coordinates",
            ));
        }
    }
    Ok(())
}

fn spherical_ln_f_grad<D: SphericalDf + ?Sized>(df: &D, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
    check_points(x, v)?;
    let mut out = LnFGrad {
        ln_f: Vec::with_capacity(x.len()),
        grad_x: Vec::with_capacity(x.len()),
        grad_v: Vec::with_capacity(x.len()),
    };
    for (&xi, &vi) in x.iter().zip(v) {
        let r = norm(xi);
        let e = df.potential(r) + 0.5 * dot(vi, vi);
        let ln_f = df.ln_f_energy(e);
        let d = df.dln_f_de(e);
        // grad Phi = -acceleration.
        let acc = df.acceleration(xi);
        out.ln_f.push(ln_f);
        out.grad_x.push([-d * acc[0], -d * acc[1], -d * acc[2]]);
        out.grad_v.push([d * vi[0], d * vi[1], d * vi[2]]);
    }
    Ok(out)
}

fn spherical_sample_velocities<D: SphericalDf + ?Sized>(
    df: &D,
    x: Vec3,
    n: usize,
    seed: u64,
) -> Result<Vec<Vec3>> {
    if n == 0 {
        return Err(Error::invalid_param("n", 0, ">= 1"));
    }
    if x.iter().any(|c| !c.is_finite()) {
        return Err(Error::invalid_param(
            "position",
            format!("{x:?}"),
            "finite coordinates",
        ));
    }
    let r = norm(x);
    let mut rng = darkprobe_core::rng::rng_from_seed(seed_for_index(seed, 0));
    let envelope = SpeedEnvelope::new(df, r)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = envelope.sample(df, &mut rng)?;
        let d = isotropic_direction(&mut rng);
        out.push([s * d[0], s * d[1], s * d[2]]);
    }
    Ok(out)
}

impl PhaseSpaceModel for HernquistDf {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
        spherical_ln_f_grad(self, x, v)
    }
    fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        spherical_sample_velocities(self, x, n, seed)
    }
}

impl PhaseSpaceModel for PlummerDf {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
        spherical_ln_f_grad(self, x, v)
    }
    fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        spherical_sample_velocities(self, x, n, seed)
    }
}

/// Stars within `radius_kpc` of `observer` (a survey volume around the Sun).
///
/// # Errors
/// [`Error::InvalidParameter`] for a non-finite observer or a radius that is
/// not finite and positive.
pub fn select_sphere(stars: &[Star], observer: Vec3, radius_kpc: f64) -> Result<Vec<Star>> {
    if observer.iter().any(|c| !c.is_finite()) {
        return Err(Error::invalid_param(
            "observer",
            format!("{observer:?}"),
            "finite coordinates",
        ));
    }
    if !(radius_kpc.is_finite() && radius_kpc > 0.0) {
        return Err(Error::invalid_param(
            "radius_kpc",
            radius_kpc,
            "finite and > 0",
        ));
    }
    Ok(stars
        .iter()
        .filter(|s| {
            let d = [
                s.x[0] - observer[0],
                s.x[1] - observer[1],
                s.x[2] - observer[2],
            ];
            norm(d) < radius_kpc
        })
        .copied()
        .collect())
}

/// A distance-dependent completeness: each star is kept with probability
/// $p(d) = 1/(1 + e^{(d - d_{50})/w})$, with $d$ its distance from the observer.
/// This mimics the loss of faint stars beyond a survey's magnitude limit
/// (half of the stars are lost at $d_{50}$, the fall-off has width $w$).
/// Star `i` uses its own generator seeded with `seed_for_index(seed, i)`.
///
/// # Errors
/// [`Error::InvalidParameter`] for a non-finite observer, a non-finite
/// `d50_kpc` or a `width_kpc` that is not finite and positive.
pub fn select_completeness(
    stars: &[Star],
    observer: Vec3,
    d50_kpc: f64,
    width_kpc: f64,
    seed: u64,
) -> Result<Vec<Star>> {
    if observer.iter().any(|c| !c.is_finite()) {
        return Err(Error::invalid_param(
            "observer",
            format!("{observer:?}"),
            "finite coordinates",
        ));
    }
    if !d50_kpc.is_finite() {
        return Err(Error::invalid_param("d50_kpc", d50_kpc, "finite"));
    }
    if !(width_kpc.is_finite() && width_kpc > 0.0) {
        return Err(Error::invalid_param(
            "width_kpc",
            width_kpc,
            "finite and > 0",
        ));
    }
    Ok(stars
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            let d = norm([
                s.x[0] - observer[0],
                s.x[1] - observer[1],
                s.x[2] - observer[2],
            ]);
            let p = 1.0 / (1.0 + ((d - d50_kpc) / width_kpc).exp());
            let u: f64 = rng_for_index(seed, *i as u64).random();
            u < p
        })
        .map(|(_, s)| *s)
        .collect())
}

/// Column names of the star CSV files.
pub const STAR_COLUMNS: [&str; 6] = ["x_kpc", "y_kpc", "z_kpc", "vx_km_s", "vy_km_s", "vz_km_s"];
/// Column names of the point CSV files.
pub const POINT_COLUMNS: [&str; 3] = ["x_kpc", "y_kpc", "z_kpc"];

/// Writes stars to a CSV file with the columns [`STAR_COLUMNS`] (atomically).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_stars(path: impl AsRef<Path>, stars: &[Star]) -> Result<()> {
    let mut w = CsvWriter::create(path, &STAR_COLUMNS)?;
    for s in stars {
        w.write_row_f64(&[s.x[0], s.x[1], s.x[2], s.v[0], s.v[1], s.v[2]])?;
    }
    w.finish()
}

fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>> {
    let table = Table::read(path, &TableOptions::default())?;
    if table.n_rows() == 0 {
        return Err(Error::empty(
            format!("file '{}'", path.display()),
            format!("provide rows with the columns {}", names.join(",")),
        ));
    }
    names.iter().map(|n| table.column_f64(*n)).collect()
}

/// Reads stars from a CSV file with the columns [`STAR_COLUMNS`] (any order,
/// other columns ignored).
///
/// # Errors
/// [`Error::Io`], [`Error::Parse`] naming file, line, column and text for a
/// bad or non-finite value, [`Error::InvalidParameter`] for a missing column,
/// [`Error::Empty`] for a file without rows.
pub fn read_stars(path: impl AsRef<Path>) -> Result<Vec<Star>> {
    let cols = read_columns(path.as_ref(), &STAR_COLUMNS)?;
    Ok((0..cols[0].len())
        .map(|i| Star {
            x: [cols[0][i], cols[1][i], cols[2][i]],
            v: [cols[3][i], cols[4][i], cols[5][i]],
        })
        .collect())
}

/// Reads query positions from a CSV file with the columns [`POINT_COLUMNS`].
///
/// # Errors
/// As [`read_stars`].
pub fn read_points(path: impl AsRef<Path>) -> Result<Vec<Vec3>> {
    let cols = read_columns(path.as_ref(), &POINT_COLUMNS)?;
    Ok((0..cols[0].len())
        .map(|i| [cols[0][i], cols[1][i], cols[2][i]])
        .collect())
}

/// Writes query positions with the columns [`POINT_COLUMNS`].
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_points(path: impl AsRef<Path>, points: &[Vec3]) -> Result<()> {
    let mut w = CsvWriter::create(path, &POINT_COLUMNS)?;
    for p in points {
        w.write_row_f64(p)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use darkprobe_core::quad::GaussLegendre;
    use darkprobe_core::stats::chi2_quantile;

    fn models() -> (HernquistDf, PlummerDf) {
        (
            HernquistDf::new(1e10, 5.0).unwrap(),
            PlummerDf::new(1e10, 2.0).unwrap(),
        )
    }

    /// 4 pi int_0^vesc v^k f(Phi + v^2/2) dv by Gauss-Legendre in v.
    fn velocity_moment<D: SphericalDf>(df: &D, r: f64, k: i32) -> f64 {
        let gl = GaussLegendre::new(200).unwrap();
        let phi = df.potential(r);
        let vesc = (-2.0 * phi).sqrt();
        4.0 * PI
            * gl.integrate(
                |v| v.powi(k) * df.ln_f_energy(phi + 0.5 * v * v).exp(),
                0.0,
                vesc,
            )
            .unwrap()
    }

    #[test]
    fn hernquist_g_series_matches_closed_form() {
        for q in [0.03f64, 0.049, 0.051, 0.08] {
            let q2 = q * q;
            let closed = 3.0 * q.asin()
                + q * (1.0 - q2).sqrt() * (1.0 - 2.0 * q2) * (8.0 * q2 * q2 - 8.0 * q2 - 3.0);
            let series = {
                // direct numerical integral of 128 t^4 (1-t^2)^{3/2}
                let gl = GaussLegendre::new(40).unwrap();
                gl.integrate(|t| 128.0 * t.powi(4) * (1.0 - t * t).powf(1.5), 0.0, q)
                    .unwrap()
            };
            assert!((hernquist_g(q) / series - 1.0).abs() < 1e-9, "q={q}");
            assert!((closed / series - 1.0).abs() < 1e-6, "q={q}");
        }
    }

    #[test]
    fn df_reproduces_density_and_dispersion() {
        let (h, p) = models();
        for (name, df) in [("hernquist", &h as &dyn SphericalDfDyn), ("plummer", &p)] {
            for r in [0.3, 1.0, 2.0, 5.0, 12.0, 40.0, 300.0] {
                let (m0, m2, m4) = df.moments(r);
                let rho = df.rho(r) / df.mass();
                assert!((m2 / rho - 1.0).abs() < 1e-6, "{name} r={r}: {m2} vs {rho}");
                let sigma2 = m4 / (3.0 * m2);
                assert!(
                    (sigma2 / df.s2(r) - 1.0).abs() < 1e-6,
                    "{name} r={r}: {sigma2} vs {}",
                    df.s2(r)
                );
                assert!(
                    (df.jeans(r) / df.s2(r) - 1.0).abs() < 1e-6,
                    "{name} jeans r={r}: {} vs {}",
                    df.jeans(r),
                    df.s2(r)
                );
                assert!(m0 > 0.0);
            }
        }
    }

    /// Object-safe view for looping over both models in tests.
    trait SphericalDfDyn {
        fn moments(&self, r: f64) -> (f64, f64, f64);
        fn rho(&self, r: f64) -> f64;
        fn mass(&self) -> f64;
        fn s2(&self, r: f64) -> f64;
        fn jeans(&self, r: f64) -> f64;
        fn ln_f(&self, e: f64) -> f64;
    }
    impl<D: SphericalDf> SphericalDfDyn for D {
        fn moments(&self, r: f64) -> (f64, f64, f64) {
            (
                velocity_moment(self, r, 0),
                velocity_moment(self, r, 2),
                velocity_moment(self, r, 4),
            )
        }
        fn rho(&self, r: f64) -> f64 {
            self.density_msun_kpc3(r)
        }
        fn mass(&self) -> f64 {
            self.mass_msun()
        }
        fn s2(&self, r: f64) -> f64 {
            self.sigma_r2(r)
        }
        fn jeans(&self, r: f64) -> f64 {
            jeans_sigma2(self, r)
        }
        fn ln_f(&self, e: f64) -> f64 {
            self.ln_f_energy(e)
        }
    }

    #[test]
    fn profiles_are_consistent() {
        let (h, p) = models();
        let check = |df: &dyn Fn(f64) -> (f64, f64, f64, f64), r: f64| {
            let eps = 1e-5 * r;
            let (m_p, phi_p, _, _) = df(r + eps);
            let (m_m, phi_m, _, _) = df(r - eps);
            let (_, _, rho, dphi) = df(r);
            let dm = (m_p - m_m) / (2.0 * eps);
            assert!((dm / (4.0 * PI * r * r * rho) - 1.0).abs() < 1e-7);
            let dp = (phi_p - phi_m) / (2.0 * eps);
            assert!((dp / dphi - 1.0).abs() < 1e-7);
        };
        for r in [0.1, 1.0, 7.0, 30.0] {
            check(
                &|r| {
                    (
                        h.enclosed_mass_msun(r),
                        h.potential(r),
                        h.density_msun_kpc3(r),
                        h.dphi_dr(r),
                    )
                },
                r,
            );
            check(
                &|r| {
                    (
                        p.enclosed_mass_msun(r),
                        p.potential(r),
                        p.density_msun_kpc3(r),
                        p.dphi_dr(r),
                    )
                },
                r,
            );
            // dPhi/dr = G M(<r) / r^2
            for (m, d) in [
                (h.enclosed_mass_msun(r), h.dphi_dr(r)),
                (p.enclosed_mass_msun(r), p.dphi_dr(r)),
            ] {
                assert!((G_KPC_KM2_S2_MSUN * m / (r * r) / d - 1.0).abs() < 1e-12);
            }
        }
        for u in [0.01, 0.3, 0.5, 0.9, 0.999] {
            assert!((h.enclosed_mass_msun(h.radius_at_mass_fraction(u)) / 1e10 - u).abs() < 1e-12);
            assert!((p.enclosed_mass_msun(p.radius_at_mass_fraction(u)) / 1e10 - u).abs() < 1e-12);
        }
    }

    #[test]
    fn energy_derivative_matches_finite_differences() {
        let (h, p) = models();
        for frac in [0.01, 0.2, 0.5, 0.9, 0.999] {
            let e_h = -frac * G_KPC_KM2_S2_MSUN * 1e10 / 5.0;
            let e_p = -frac * G_KPC_KM2_S2_MSUN * 1e10 / 2.0;
            let fd = |f: &dyn Fn(f64) -> f64, e: f64| {
                let d = 1e-6 * e.abs();
                (f(e + d) - f(e - d)) / (2.0 * d)
            };
            let nh = fd(&|e| h.ln_f_energy(e), e_h);
            assert!(
                (nh / h.dln_f_de(e_h) - 1.0).abs() < 1e-6,
                "hernquist frac={frac}"
            );
            let np = fd(&|e| p.ln_f_energy(e), e_p);
            assert!(
                (np / p.dln_f_de(e_p) - 1.0).abs() < 1e-6,
                "plummer frac={frac}"
            );
        }
        assert_eq!(h.ln_f_energy(0.0), f64::NEG_INFINITY);
        assert_eq!(p.dln_f_de(1.0), 0.0);
    }

    /// Binned radial counts against enclosed-mass differences (chi^2), and the
    /// radial velocity dispersion in each bin against the closed form.
    fn check_sample<D: SphericalDf>(df: &D, seed: u64) {
        let n = 20_000;
        let stars = sample_df(df, n, seed).unwrap();
        assert_eq!(stars.len(), n);
        let edges: Vec<f64> = (0..=10)
            .map(|k| df.radius_at_mass_fraction(k as f64 / 10.0 * 0.98))
            .collect();
        let mut counts = [0usize; 10];
        let mut vr2 = [0.0f64; 10];
        let mut vr4 = [0.0f64; 10];
        let mut s2 = [0.0f64; 10];
        for s in &stars {
            let r = norm(s.x);
            if let Some(k) = (0..10).find(|&k| r >= edges[k] && r < edges[k + 1]) {
                let vr = dot(s.x, s.v) / r;
                counts[k] += 1;
                vr2[k] += vr * vr;
                vr4[k] += vr.powi(4);
                s2[k] += df.sigma_r2(r);
            }
        }
        let mut chi2 = 0.0;
        for k in 0..10 {
            let p = (df.enclosed_mass_msun(edges[k + 1]) - df.enclosed_mass_msun(edges[k]))
                / df.mass_msun();
            let e = p * n as f64;
            chi2 += (counts[k] as f64 - e).powi(2) / e;
            let c = counts[k] as f64;
            let mean = vr2[k] / c;
            let err = ((vr4[k] / c - mean * mean) / c).sqrt();
            let expect = s2[k] / c;
            assert!(
                (mean - expect).abs() < 4.5 * err,
                "bin {k}: <vr^2> {mean} vs {expect} +- {err}"
            );
        }
        // The counts outside [0, 0.98] of the mass were not binned: 11 cells, 10 dof.
        let chi2_lim = chi2_quantile(0.999, 10.0).unwrap();
        assert!(chi2 < chi2_lim, "chi2 {chi2} >= {chi2_lim}");
    }

    #[test]
    fn hernquist_sample_matches_profile() {
        check_sample(&HernquistDf::new(1e10, 5.0).unwrap(), 11);
    }

    #[test]
    fn plummer_sample_matches_profile() {
        check_sample(&PlummerDf::new(3e9, 1.5).unwrap(), 12);
    }

    #[test]
    fn sampling_does_not_depend_on_thread_count() {
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| sample(Profile::Plummer, 1e10, 1.0, 3 * CHUNK + 17, 5).unwrap())
        };
        let a = run(1);
        let b = run(2);
        assert_eq!(a, b);
        assert_ne!(
            a,
            sample(Profile::Plummer, 1e10, 1.0, 3 * CHUNK + 17, 6).unwrap()
        );
    }

    #[test]
    fn velocities_at_fixed_position_have_the_right_dispersion() {
        let (h, p) = models();
        let (xh, xp) = ([2.0, -1.0, 3.0], [0.5, 0.5, 0.0]);
        // Deep in the Hernquist cusp (r = 1e-3 a) as well.
        let xc = [0.0, 0.003, -0.004];
        let cases = [
            (
                &h as &dyn PhaseSpaceModel,
                xc,
                h.sigma_r2(norm(xc)),
                h.escape_speed(norm(xc)),
            ),
            (
                &h as &dyn PhaseSpaceModel,
                xh,
                h.sigma_r2(norm(xh)),
                h.escape_speed(norm(xh)),
            ),
            (&p, xp, p.sigma_r2(norm(xp)), p.escape_speed(norm(xp))),
        ];
        for (df, x, s2, v_esc) in cases {
            let n = 20_000;
            let v = df.sample_velocities(x, n, 3).unwrap();
            assert_eq!(v, df.sample_velocities(x, n, 3).unwrap());
            for j in 0..3 {
                let m2: f64 = v.iter().map(|u| u[j] * u[j]).sum::<f64>() / n as f64;
                let m4: f64 = v.iter().map(|u| u[j].powi(4)).sum::<f64>() / n as f64;
                let err = ((m4 - m2 * m2) / n as f64).sqrt();
                assert!(
                    (m2 - s2).abs() < 4.5 * err,
                    "component {j}: {m2} vs {s2} +- {err}"
                );
                let m1: f64 = v.iter().map(|u| u[j]).sum::<f64>() / n as f64;
                assert!(m1.abs() < 4.5 * (s2 / n as f64).sqrt());
            }
            assert!(v.iter().all(|u| norm(*u) < v_esc));
        }
        assert!(h.sample_velocities([0.0; 3], 10, 1).is_err());
        assert!(p.sample_velocities([f64::NAN, 0.0, 0.0], 10, 1).is_err());
        assert!(p.sample_velocities([1.0, 0.0, 0.0], 0, 1).is_err());
    }

    #[test]
    fn speed_distribution_at_fixed_radius_matches_the_df() {
        // chi^2 of binned speeds against 4 pi v^2 f / (rho / M), near the
        // Hernquist cusp and in the Plummer core.
        let (h, p) = models();
        let gl = GaussLegendre::new(60).unwrap();
        let cases: [(&dyn PhaseSpaceModel, &dyn SphericalDfDyn, Vec3, f64, f64); 2] = [
            (
                &h,
                &h,
                [0.2, 0.0, 0.1],
                h.potential(0.2f64.hypot(0.1)),
                h.mass_msun(),
            ),
            (&p, &p, [1.0, 1.0, 0.5], p.potential(1.5), p.mass_msun()),
        ];
        for (model, dfd, x, phi, _) in cases {
            let n = 20_000;
            let v = model.sample_velocities(x, n, 21).unwrap();
            let v_esc = (-2.0 * phi).sqrt();
            let nb = 20;
            let mut counts = vec![0usize; nb];
            for u in &v {
                let k = ((norm(*u) / v_esc) * nb as f64).floor() as usize;
                counts[k.min(nb - 1)] += 1;
            }
            let norm_c = dfd.rho(norm(x)) / dfd.mass();
            let mut chi2 = 0.0;
            let mut total = 0.0;
            for k in 0..nb {
                let (lo, hi) = (
                    k as f64 * v_esc / nb as f64,
                    (k + 1) as f64 * v_esc / nb as f64,
                );
                let prob = 4.0
                    * PI
                    * gl.integrate(|s| s * s * dfd.ln_f(phi + 0.5 * s * s).exp(), lo, hi)
                        .unwrap()
                    / norm_c;
                total += prob;
                let e = prob * n as f64;
                if e > 5.0 {
                    chi2 += (counts[k] as f64 - e).powi(2) / e;
                }
            }
            assert!((total - 1.0).abs() < 1e-6, "{total}");
            assert!(
                chi2 < chi2_quantile(0.999, (nb - 1) as f64).unwrap(),
                "chi2 {chi2}"
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (h, p) = models();
        let x = [1.3, -0.7, 2.1];
        let v = [40.0, -25.0, 10.0];
        for df in [&h as &dyn PhaseSpaceModel, &p] {
            let g = df.ln_f_grad(&[x], &[v]).unwrap();
            assert!(g.ln_f[0].is_finite());
            for j in 0..3 {
                let (dx, dv) = (1e-5, 1e-4);
                let mut xp = x;
                let mut xm = x;
                xp[j] += dx;
                xm[j] -= dx;
                let fx = (df.ln_f_grad(&[xp], &[v]).unwrap().ln_f[0]
                    - df.ln_f_grad(&[xm], &[v]).unwrap().ln_f[0])
                    / (2.0 * dx);
                assert!(
                    (fx - g.grad_x[0][j]).abs() < 1e-6 * g.grad_x[0][j].abs().max(1e-3),
                    "x{j}: {fx} vs {}",
                    g.grad_x[0][j]
                );
                let mut vp = v;
                let mut vm = v;
                vp[j] += dv;
                vm[j] -= dv;
                let fv = (df.ln_f_grad(&[x], &[vp]).unwrap().ln_f[0]
                    - df.ln_f_grad(&[x], &[vm]).unwrap().ln_f[0])
                    / (2.0 * dv);
                assert!(
                    (fv - g.grad_v[0][j]).abs() < 1e-6 * g.grad_v[0][j].abs().max(1e-6),
                    "v{j}: {fv} vs {}",
                    g.grad_v[0][j]
                );
            }
            // Unbound: ln f = -inf, zero gradients.
            let g = df.ln_f_grad(&[x], &[[1e4, 0.0, 0.0]]).unwrap();
            assert_eq!(g.ln_f[0], f64::NEG_INFINITY);
            assert_eq!(g.grad_v[0], [0.0; 3]);
            assert!(df.ln_f_grad(&[x, x], &[v]).is_err());
            assert!(df.ln_f_grad(&[[f64::NAN, 0.0, 0.0]], &[v]).is_err());
        }
    }

    #[test]
    fn selections() {
        let stars = sample(Profile::Hernquist, 1e10, 5.0, 5000, 2).unwrap();
        let obs = [8.0, 0.0, 0.0];
        let sel = select_sphere(&stars, obs, 4.0).unwrap();
        let expected = stars
            .iter()
            .filter(|s| norm([s.x[0] - 8.0, s.x[1], s.x[2]]) < 4.0)
            .count();
        assert_eq!(sel.len(), expected);
        assert!(sel.len() > 20 && sel.len() < stars.len());
        assert!(select_sphere(&stars, obs, -1.0).is_err());
        assert!(select_sphere(&stars, [f64::NAN; 3], 1.0).is_err());
        // Completeness: kept fraction in distance shells follows p(d).
        let stars = sample(Profile::Hernquist, 1e10, 5.0, 40_000, 3).unwrap();
        let kept = select_completeness(&stars, obs, 6.0, 1.0, 9).unwrap();
        assert_eq!(kept, select_completeness(&stars, obs, 6.0, 1.0, 9).unwrap());
        let dist = |s: &Star| norm([s.x[0] - 8.0, s.x[1], s.x[2]]);
        for (lo, hi) in [(3.0, 4.0), (5.5, 6.5), (8.0, 9.0)] {
            let all: Vec<f64> = stars
                .iter()
                .map(dist)
                .filter(|d| *d >= lo && *d < hi)
                .collect();
            let n_kept = kept
                .iter()
                .map(dist)
                .filter(|d| *d >= lo && *d < hi)
                .count() as f64;
            let expect: f64 = all
                .iter()
                .map(|d| 1.0 / (1.0 + ((d - 6.0) / 1.0).exp()))
                .sum();
            let var: f64 = all
                .iter()
                .map(|d| {
                    let p = 1.0 / (1.0 + ((d - 6.0) / 1.0).exp());
                    p * (1.0 - p)
                })
                .sum();
            assert!(
                (n_kept - expect).abs() < 4.5 * var.sqrt().max(1.0),
                "[{lo},{hi}): {n_kept} vs {expect}"
            );
        }
        assert!(select_completeness(&stars, obs, 6.0, 0.0, 9).is_err());
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert!(HernquistDf::new(-1.0, 1.0).is_err());
        assert!(PlummerDf::new(1.0, f64::NAN).is_err());
        assert!(sample(Profile::Hernquist, 1e10, 1.0, 0, 1).is_err());
        assert_eq!("Plummer".parse::<Profile>().unwrap(), Profile::Plummer);
        let e = "king".parse::<Profile>().unwrap_err().to_string();
        assert!(e.contains("king"), "{e}");
    }
}
