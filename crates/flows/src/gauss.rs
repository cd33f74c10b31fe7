//! Mass densities from an acceleration field by the kernel-smoothed Gauss law.
//!
//! # Method
//! Poisson's equation reads $\nabla\cdot\mathbf a = -4\pi G\rho$. Smoothing it
//! with a kernel $K_h$ centred on $\mathbf x_0$ and integrating by parts moves
//! the divergence onto the kernel:
//! $$-4\pi G\,\langle\rho\rangle_K(\mathbf x_0) = \int K_h\,\nabla\cdot\mathbf a\,d^3x
//!   = \oint_{\partial S} K_h\,\mathbf a\cdot\hat{\mathbf n}\,dS -
//!   \int_S \mathbf a\cdot\nabla K_h\,d^3x ,$$
//! so only the acceleration is needed, never its derivatives (Lim et al. 2023).
//! With $\mathbf u = \mathbf x - \mathbf x_0$ and bandwidths $h = (h_x, h_y, h_z)$:
//!
//! * [`Kernel::Gaussian`]: $K = \mathcal N(\mathbf u; 0, \mathrm{diag}\,h^2)$, no
//!   boundary, $\nabla K = -K\,u_j/h_j^2$, so
//!   $\langle\rho\rangle = -\frac{1}{4\pi G}\,\mathrm E_{\mathbf u\sim K}\big[\sum_j a_j u_j/h_j^2\big]$.
//! * [`Kernel::Epanechnikov`]: $K = \frac{15}{8\pi h_xh_yh_z}(1 - s^2)$ for
//!   $s^2 = \sum_j u_j^2/h_j^2 < 1$; it vanishes on the ellipsoid, so again only
//!   the volume term, estimated with $\mathbf u$ uniform in the ellipsoid of
//!   volume $V = \frac{4\pi}{3}h_xh_yh_z$:
//!   $\langle\rho\rangle = \frac{V}{4\pi G}\,\mathrm E\big[\sum_j a_j\,\partial_jK\big]$.
//! * [`Kernel::TopHat`]: $K = 1/V$ inside the ellipsoid, so only the surface
//!   term: mapping the unit sphere $\hat{\mathbf s}$ onto the ellipsoid,
//!   $\oint\mathbf a\cdot\hat{\mathbf n}\,dS = 4\pi h_xh_yh_z\,\mathrm E_{\hat{\mathbf s}}
//!   \big[\sum_j a_j\hat s_j/h_j\big]$ and
//!   $\langle\rho\rangle = -\frac{3}{4\pi G}\mathrm E\big[\sum_j a_j\hat s_j/h_j\big]$.
//!
//! # Monte Carlo design
//! All three cases have the form $\langle\rho\rangle = -\frac{1}{4\pi G}\,\mathrm E\big[\sum_j
//! a_j(\mathbf x_0 + H\mathbf y)\,y_j/h_j\big]\cdot c_K$ with $\mathbf y$ from a
//! spherically symmetric law in the scaled space $\mathbf y = H^{-1}\mathbf u$.
//! Writing $\mathbf y = r\hat\omega$ and averaging over directions first, the
//! shell average $S(r) = \mathrm E_{\hat\omega}\big[\sum_j a_j\,\omega_j/h_j\big]$ grows like
//! $r$ for a linear field, so the radial average is taken with the size-biased
//! law $\propto r^2\,p(r)$ and the integrand $S(r)/r$:
//! $$\langle\rho\rangle = -\frac{3}{4\pi G}\,\mathrm E_{r}\Big[\frac{S(r)}{r}\Big],$$
//! with $r\sim\chi_5$ (Gaussian), density $5r^4$ on $0 \le r \le 1$ (Epanechnikov) or
//! $r = 1$ (top hat). Each draw estimates $S(r)$ from a uniformly random
//! orthonormal triad $\{\hat q_1,\hat q_2,\hat q_3\}$ with antithetic pairs,
//! $\hat S = \frac13\sum_{k}\sum_j\frac{a_j(\mathbf x_0 + rH\hat q_k) - a_j(\mathbf x_0 - rH\hat q_k)}{2}\,\frac{q_{kj}}{h_j}$,
//! six field evaluations. For a field linear in $\mathbf x$ (uniform density
//! plus any tidal tensor), $\hat S/r = \mathrm{tr}(\nabla\mathbf a)/3$ exactly, so
//! the estimate is exact at every draw: the large traceless tidal part of a
//! galactic field adds no noise, and the quadratic part cancels in the pairs.
//! The quoted error is the standard error of the draws.
//! A baryonic model $\rho_b$ smoothed by the same kernel,
//! $\langle\rho_b\rangle_K = \mathrm E_{\mathbf u\sim K}[\rho_b(\mathbf x_0 + \mathbf u)]$ (plain
//! antithetic Monte Carlo, `n_draws` pairs),
//! can be subtracted to give the dark-matter density.
//!
//! Query point $k$ draws with seed `seed_for_index(seed, k)`, in parallel over
//! points.
//!
//! ```
//! use darkprobe_flows::gauss::{density, GaussOptions};
//! use darkprobe_flows::G_KPC_KM2_S2_MSUN as G;
//! // A uniform sphere of density rho0 has a = -(4 pi G rho0 / 3) x.
//! let rho0 = 1e7;
//! let k = 4.0 * std::f64::consts::PI * G * rho0 / 3.0;
//! let field = |x: &[[f64; 3]]| -> darkprobe_flows::Result<Vec<[f64; 3]>> {
//!     Ok(x.iter().map(|p| [-k * p[0], -k * p[1], -k * p[2]]).collect())
//! };
//! let est = density(&field, &[[8.0, 0.0, 0.0]], &GaussOptions::default(), 3).unwrap();
//! assert!((est[0].rho_msun_kpc3 / rho0 - 1.0).abs() < 1e-10);
//! ```

// Index loops are the clearest form of the small fixed-size linear algebra here, and
// `!(x > 0.0)` comparisons deliberately reject NaN as well.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use crate::model::{Result, Vec3, G_KPC_KM2_S2_MSUN};
use darkprobe_core::error::Error;
use darkprobe_core::rng::{rng_for_index, seed_for_index};
use rand::Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;

/// Smoothing kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Anisotropic Gaussian with standard deviations $h$ (infinite support).
    Gaussian,
    /// Ellipsoidal Epanechnikov $\propto 1 - s^2$ (vanishes on the boundary).
    Epanechnikov,
    /// Uniform inside the ellipsoid (pure surface term).
    TopHat,
}

/// Options of the Gauss-law estimator.
///
/// ```
/// use darkprobe_flows::gauss::{GaussOptions, Kernel};
/// let o = GaussOptions::default();
/// assert_eq!((o.kernel, o.h_kpc), (Kernel::Gaussian, [0.5, 0.5, 0.2]));
/// assert!(o.with_h_kpc([0.5, 0.0, 0.2]).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GaussOptions {
    /// Kernel shape (default Gaussian).
    pub kernel: Kernel,
    /// Bandwidths $(h_x, h_y, h_z)$ in kpc (default (0.5, 0.5, 0.2)).
    pub h_kpc: Vec3,
    /// Draws per query point (default 1000); each draw evaluates the field at
    /// six points (a rotated triad of antithetic pairs).
    pub n_draws: usize,
}

impl Default for GaussOptions {
    fn default() -> Self {
        Self {
            kernel: Kernel::Gaussian,
            h_kpc: [0.5, 0.5, 0.2],
            n_draws: 1000,
        }
    }
}

impl GaussOptions {
    /// Sets the kernel.
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = kernel;
        self
    }
    /// Sets the bandwidths in kpc.
    pub fn with_h_kpc(mut self, h_kpc: Vec3) -> Self {
        self.h_kpc = h_kpc;
        self
    }
    /// Sets the number of draws per query point.
    pub fn with_n_draws(mut self, n: usize) -> Self {
        self.n_draws = n;
        self
    }
    /// Validates the options.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bandwidth that is not finite and
    /// positive or fewer than 2 draws.
    pub fn check(&self) -> Result<()> {
        for (j, h) in self.h_kpc.iter().enumerate() {
            if !(h.is_finite() && *h > 0.0) {
                return Err(Error::invalid_param(
                    format!("h_kpc[{j}]"),
                    h,
                    "finite and > 0",
                ));
            }
        }
        if self.n_draws < 2 {
            return Err(Error::invalid_param("n_draws", self.n_draws, ">= 2"));
        }
        Ok(())
    }
}

/// The smoothed density at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensityEstimate {
    /// The point (kpc).
    pub x: Vec3,
    /// Total kernel-smoothed density from Gauss's law, M☉ kpc⁻³.
    pub rho_msun_kpc3: f64,
    /// Monte Carlo standard error of `rho_msun_kpc3`.
    pub rho_err_msun_kpc3: f64,
    /// Kernel-smoothed baryonic density subtracted (0 without a model).
    pub rho_baryon_msun_kpc3: f64,
    /// Monte Carlo standard error of the smoothed baryonic density.
    pub rho_baryon_err_msun_kpc3: f64,
    /// Dark-matter density: total minus baryons, M☉ kpc⁻³.
    pub rho_dm_msun_kpc3: f64,
}

/// Converts M☉ kpc⁻³ to M☉ pc⁻³.
pub fn msun_kpc3_to_msun_pc3(rho_msun_kpc3: f64) -> f64 {
    rho_msun_kpc3 * 1e-9
}

/// Converts M☉ pc⁻³ to GeV cm⁻³ ($1\,M_\odot\,{\rm pc}^{-3} = 37.97$ GeV cm⁻³,
/// from the IAU nominal solar mass parameter, $G$ of CODATA 2018 and the IAU parsec).
pub fn msun_pc3_to_gev_cm3(rho_msun_pc3: f64) -> f64 {
    // M_sun c^2 in GeV: (GM_sun / G) c^2 / (1 GeV in J).
    const GM_SUN_M3_S2: f64 = 1.327_124_4e20;
    const G_SI: f64 = 6.674_30e-11;
    const C_M_S: f64 = 299_792_458.0;
    const GEV_J: f64 = 1.602_176_634e-10;
    const PC_CM: f64 = 3.085_677_581_491_367e18;
    let msun_gev = GM_SUN_M3_S2 / G_SI * C_M_S * C_M_S / GEV_J;
    rho_msun_pc3 * msun_gev / (PC_CM * PC_CM * PC_CM)
}

/// A uniformly random rotation matrix (from a uniformly random unit quaternion).
pub(crate) fn random_rotation<R: Rng + ?Sized>(rng: &mut R) -> [[f64; 3]; 3] {
    let mut q = [0.0f64; 4];
    let mut n2 = 0.0;
    while !(n2 > 1e-12) {
        for c in q.iter_mut() {
            *c = rng.sample(StandardNormal);
        }
        n2 = q.iter().map(|c| c * c).sum::<f64>();
    }
    let n = n2.sqrt();
    let [w, x, y, z] = q.map(|c| c / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// The radius of one draw, from the size-biased radial law of the kernel.
fn draw_radius<R: Rng + ?Sized>(kernel: Kernel, rng: &mut R) -> f64 {
    match kernel {
        // chi distribution with 5 degrees of freedom.
        Kernel::Gaussian => (0..5)
            .map(|_| {
                let z: f64 = rng.sample(StandardNormal);
                z * z
            })
            .sum::<f64>()
            .sqrt(),
        // density 5 r^4 on [0, 1].
        Kernel::Epanechnikov => rng.random::<f64>().powf(0.2),
        Kernel::TopHat => 1.0,
    }
}
/// A draw from the kernel itself (for smoothing a density): offset and weight.
fn draw_kernel<R: Rng + ?Sized>(kernel: Kernel, h: Vec3, rng: &mut R) -> (Vec3, f64) {
    match kernel {
        Kernel::Gaussian => {
            let z: [f64; 3] = [
                rng.sample(StandardNormal),
                rng.sample(StandardNormal),
                rng.sample(StandardNormal),
            ];
            ([h[0] * z[0], h[1] * z[1], h[2] * z[2]], 1.0)
        }
        Kernel::Epanechnikov => {
            let y = uniform_ball(rng);
            let s2 = y[0] * y[0] + y[1] * y[1] + y[2] * y[2];
            // V K = (4 pi/3)(15/(8 pi)) (1 - s^2) = 2.5 (1 - s^2)
            ([h[0] * y[0], h[1] * y[1], h[2] * y[2]], 2.5 * (1.0 - s2))
        }
        Kernel::TopHat => {
            let y = uniform_ball(rng);
            ([h[0] * y[0], h[1] * y[1], h[2] * y[2]], 1.0)
        }
    }
}

fn unit_sphere<R: Rng + ?Sized>(rng: &mut R) -> Vec3 {
    let cos_t: f64 = 2.0 * rng.random::<f64>() - 1.0;
    let phi = 2.0 * PI * rng.random::<f64>();
    let sin_t = (1.0 - cos_t * cos_t).max(0.0).sqrt();
    [sin_t * phi.cos(), sin_t * phi.sin(), cos_t]
}

fn uniform_ball<R: Rng + ?Sized>(rng: &mut R) -> Vec3 {
    let s = unit_sphere(rng);
    let r = rng.random::<f64>().cbrt();
    [r * s[0], r * s[1], r * s[2]]
}

fn mean_and_err(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn check_field_output(got: &[Vec3], expected: usize) -> Result<()> {
    if got.len() != expected {
        return Err(Error::shape(
            "acceleration field output",
            expected,
            got.len(),
        ));
    }
    if let Some((i, a)) = got
        .iter()
        .enumerate()
        .find(|(_, a)| a.iter().any(|c| !c.is_finite()))
    {
        return Err(Error::numerical(
            "acceleration field evaluation",
            i,
            a.iter()
                .copied()
                .find(|c| !c.is_finite())
                .unwrap_or(f64::NAN),
            "non-finite acceleration inside the kernel",
        ));
    }
    Ok(())
}

/// The kernel-smoothed density at one point `x0` from the batched
/// acceleration `field`, optionally minus the smoothed baryonic density
/// `rho_baryon` (M☉ kpc⁻³).
///
/// # Errors
/// Invalid options or point, a field failure, a field returning the wrong
/// number of vectors or non-finite values, or a non-finite baryonic density.
pub fn density_at<F>(
    field: &F,
    x0: Vec3,
    rho_baryon: Option<&(dyn Fn(Vec3) -> f64 + Sync)>,
    opts: &GaussOptions,
    seed: u64,
) -> Result<DensityEstimate>
where
    F: Fn(&[Vec3]) -> Result<Vec<Vec3>> + Sync + ?Sized,
{
    opts.check()?;
    if x0.iter().any(|c| !c.is_finite()) {
        return Err(Error::invalid_param(
            "position",
            format!("{x0:?}"),
            "finite coordinates",
        ));
    }
    let h = opts.h_kpc;
    let mut rng = darkprobe_core::rng::rng_from_seed(seed);
    let n = opts.n_draws;
    // Each draw: radius r, rotation Q, the six points x0 +- r H q_j.
    let mut pts = Vec::with_capacity(6 * n);
    let mut axes = Vec::with_capacity(n);
    for _ in 0..n {
        let r = draw_radius(opts.kernel, &mut rng);
        let q = random_rotation(&mut rng);
        for j in 0..3 {
            let u = [0, 1, 2].map(|i| r * h[i] * q[i][j]);
            pts.push([x0[0] + u[0], x0[1] + u[1], x0[2] + u[2]]);
            pts.push([x0[0] - u[0], x0[1] - u[1], x0[2] - u[2]]);
        }
        axes.push((r, q));
    }
    let acc = field(&pts)?;
    check_field_output(&acc, pts.len())?;
    let c = -3.0 / (4.0 * PI * G_KPC_KM2_S2_MSUN);
    let vals: Vec<f64> = axes
        .iter()
        .enumerate()
        .map(|(k, (r, q))| {
            let mut s = 0.0;
            for j in 0..3 {
                let (ap, am) = (acc[6 * k + 2 * j], acc[6 * k + 2 * j + 1]);
                for i in 0..3 {
                    s += 0.5 * (ap[i] - am[i]) * q[i][j] / h[i];
                }
            }
            c * s / (3.0 * r)
        })
        .collect();
    let (rho, rho_err) = mean_and_err(&vals);
    let (rho_b, rho_b_err) = match rho_baryon {
        None => (0.0, 0.0),
        Some(rb) => {
            let mut vals = Vec::with_capacity(n);
            for _ in 0..n {
                let (u, w) = draw_kernel(opts.kernel, h, &mut rng);
                let p = rb([x0[0] + u[0], x0[1] + u[1], x0[2] + u[2]]);
                let m = rb([x0[0] - u[0], x0[1] - u[1], x0[2] - u[2]]);
                if !(p.is_finite() && m.is_finite()) {
                    return Err(Error::numerical(
                        "baryonic density model",
                        0,
                        if p.is_finite() { m } else { p },
                        "non-finite density inside the kernel",
                    ));
                }
                vals.push(0.5 * w * (p + m));
            }
            mean_and_err(&vals)
        }
    };
    Ok(DensityEstimate {
        x: x0,
        rho_msun_kpc3: rho,
        rho_err_msun_kpc3: rho_err,
        rho_baryon_msun_kpc3: rho_b,
        rho_baryon_err_msun_kpc3: rho_b_err,
        rho_dm_msun_kpc3: rho - rho_b,
    })
}

/// Kernel-smoothed densities at all `points` (the thin wrapper behind
/// `darkprobe flows density`); point `k` uses the seed
/// `seed_for_index(seed, k)`.
///
/// # Errors
/// As [`density_at`]; [`Error::Empty`] for no points.
pub fn density<F>(
    field: &F,
    points: &[Vec3],
    opts: &GaussOptions,
    seed: u64,
) -> Result<Vec<DensityEstimate>>
where
    F: Fn(&[Vec3]) -> Result<Vec<Vec3>> + Sync + ?Sized,
{
    density_with_baryons(field, None, points, opts, seed)
}

/// As [`density`], subtracting the kernel-smoothed baryonic density
/// `rho_baryon` (M☉ kpc⁻³) when given.
///
/// # Errors
/// As [`density`].
pub fn density_with_baryons<F>(
    field: &F,
    rho_baryon: Option<&(dyn Fn(Vec3) -> f64 + Sync)>,
    points: &[Vec3],
    opts: &GaussOptions,
    seed: u64,
) -> Result<Vec<DensityEstimate>>
where
    F: Fn(&[Vec3]) -> Result<Vec<Vec3>> + Sync + ?Sized,
{
    opts.check()?;
    if points.is_empty() {
        return Err(Error::empty(
            "query positions",
            "give at least one position",
        ));
    }
    darkprobe_core::par::map_indices(points.len(), |k| {
        density_at(
            field,
            points[k],
            rho_baryon,
            opts,
            seed_for_index(seed, k as u64),
        )
    })
    .into_iter()
    .collect()
}

/// The kernel-smoothed value $\mathrm E_{\mathbf u\sim K}[\rho(\mathbf x_0+\mathbf u)]$
/// of a density model and its Monte Carlo error, with `n` antithetic pairs
/// (used for the baryons, and by the tests as the reference for the Gauss-law
/// estimator).
///
/// # Errors
/// Invalid options, or a non-finite density.
pub fn smooth_density(
    rho: &(dyn Fn(Vec3) -> f64 + Sync),
    x0: Vec3,
    opts: &GaussOptions,
    seed: u64,
) -> Result<(f64, f64)> {
    opts.check()?;
    let mut rng = rng_for_index(seed, 0);
    let mut vals = Vec::with_capacity(opts.n_draws);
    for _ in 0..opts.n_draws {
        let (u, w) = draw_kernel(opts.kernel, opts.h_kpc, &mut rng);
        let p = rho([x0[0] + u[0], x0[1] + u[1], x0[2] + u[2]]);
        let m = rho([x0[0] - u[0], x0[1] - u[1], x0[2] - u[2]]);
        if !(p.is_finite() && m.is_finite()) {
            return Err(Error::numerical(
                "density model",
                0,
                p + m,
                "non-finite density inside the kernel",
            ));
        }
        vals.push(0.5 * w * (p + m));
    }
    Ok(mean_and_err(&vals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{HernquistDf, PlummerDf, SphericalDf};

    const KERNELS: [Kernel; 3] = [Kernel::Gaussian, Kernel::Epanechnikov, Kernel::TopHat];

    fn field_of<D: SphericalDf>(df: &D) -> impl Fn(&[Vec3]) -> Result<Vec<Vec3>> + Sync + '_ {
        move |x: &[Vec3]| Ok(x.iter().map(|p| df.acceleration(*p)).collect())
    }

    #[test]
    fn linear_field_is_exact_for_every_kernel() {
        // Uniform density plus an arbitrary constant (tidal-free) offset.
        let rho0 = 3e7;
        let k = 4.0 * PI * G_KPC_KM2_S2_MSUN * rho0 / 3.0;
        let field = |x: &[Vec3]| -> Result<Vec<Vec3>> {
            Ok(x.iter()
                .map(|p| [-k * p[0] + 50.0, -k * p[1] - 20.0, -k * p[2] + 7.0])
                .collect())
        };
        for kernel in KERNELS {
            let opts = GaussOptions::default().with_kernel(kernel).with_n_draws(50);
            let est = density(&field, &[[8.0, 1.0, 0.3], [0.0, 0.0, 0.0]], &opts, 1).unwrap();
            for e in est {
                assert!(
                    (e.rho_msun_kpc3 / rho0 - 1.0).abs() < 1e-10,
                    "{kernel:?}: {}",
                    e.rho_msun_kpc3
                );
                assert!(e.rho_err_msun_kpc3 < 1e-8 * rho0);
            }
        }
    }

    #[test]
    fn hernquist_field_reproduces_the_smoothed_density() {
        let h = HernquistDf::new(1e11, 3.0).unwrap();
        let field = field_of(&h);
        let rho = |x: Vec3| h.density_msun_kpc3(crate::mock::norm(x));
        let x0 = [8.0, 0.0, 0.5];
        for kernel in KERNELS {
            for hk in [[0.5, 0.5, 0.2], [2.0, 1.5, 1.0]] {
                let opts = GaussOptions::default()
                    .with_kernel(kernel)
                    .with_h_kpc(hk)
                    .with_n_draws(1000);
                let e = density_at(&field, x0, None, &opts, 5).unwrap();
                let reference =
                    smooth_density(&rho, x0, &opts.clone().with_n_draws(100_000), 77).unwrap();
                let err = (e.rho_err_msun_kpc3.powi(2) + reference.1.powi(2)).sqrt();
                assert!(
                    (e.rho_msun_kpc3 - reference.0).abs() < 4.0 * err,
                    "{kernel:?} h={hk:?}: {} +- {} vs {} +- {}",
                    e.rho_msun_kpc3,
                    e.rho_err_msun_kpc3,
                    reference.0,
                    reference.1
                );
                assert!(
                    e.rho_err_msun_kpc3 < 0.05 * reference.0,
                    "{kernel:?}: error {}",
                    e.rho_err_msun_kpc3 / reference.0
                );
            }
        }
    }

    #[test]
    fn quoted_errors_cover_the_truth() {
        // Repeat the estimate with 60 seeds: the standardised deviations from
        // the (much more precise) smoothed density have unit variance.
        let h = HernquistDf::new(1e11, 3.0).unwrap();
        let field = field_of(&h);
        let rho = |x: Vec3| h.density_msun_kpc3(crate::mock::norm(x));
        let x0 = [6.0, 2.0, 0.4];
        let opts = GaussOptions::default()
            .with_h_kpc([1.5, 1.5, 0.8])
            .with_n_draws(100);
        let (reference, ref_err) =
            smooth_density(&rho, x0, &opts.clone().with_n_draws(400_000), 1).unwrap();
        let n = 60;
        let est = density(&field, &vec![x0; n], &opts, 42).unwrap();
        let z: Vec<f64> = est
            .iter()
            .map(|e| (e.rho_msun_kpc3 - reference) / e.rho_err_msun_kpc3)
            .collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|v| v * v).sum::<f64>() / n as f64;
        assert!(ref_err < 0.1 * est[0].rho_err_msun_kpc3);
        assert!(mean.abs() < 4.0 / (n as f64).sqrt(), "mean z {mean}");
        assert!(var > 0.5 && var < 1.7, "var z {var}");
        // 95% intervals cover in most repetitions.
        let covered = z.iter().filter(|v| v.abs() < 1.96).count();
        assert!(covered >= 50, "{covered} of {n}");
    }

    #[test]
    fn small_kernels_tend_to_the_local_density() {
        let h = HernquistDf::new(1e11, 3.0).unwrap();
        let field = field_of(&h);
        let x0 = [4.0, -3.0, 1.0];
        let exact = h.density_msun_kpc3(crate::mock::norm(x0));
        for kernel in KERNELS {
            let opts = GaussOptions::default()
                .with_kernel(kernel)
                .with_h_kpc([0.02, 0.02, 0.01])
                .with_n_draws(500);
            let e = density(&field, &[x0], &opts, 2).unwrap()[0];
            assert!(
                (e.rho_msun_kpc3 / exact - 1.0).abs() < 1e-3,
                "{kernel:?}: {} vs {exact}",
                e.rho_msun_kpc3
            );
        }
    }

    #[test]
    fn baryons_are_subtracted() {
        let dm = HernquistDf::new(1e11, 10.0).unwrap();
        let disc = PlummerDf::new(5e10, 3.0).unwrap();
        let field = |x: &[Vec3]| -> Result<Vec<Vec3>> {
            Ok(x.iter()
                .map(|p| {
                    let (a, b) = (dm.acceleration(*p), disc.acceleration(*p));
                    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
                })
                .collect())
        };
        let rho_b = |x: Vec3| disc.density_msun_kpc3(crate::mock::norm(x));
        let rho_dm = |x: Vec3| dm.density_msun_kpc3(crate::mock::norm(x));
        let x0 = [8.0, 0.0, 0.0];
        let opts = GaussOptions::default().with_n_draws(1000);
        let e = density_with_baryons(&field, Some(&rho_b), &[x0], &opts, 3).unwrap()[0];
        let reference =
            smooth_density(&rho_dm, x0, &opts.clone().with_n_draws(100_000), 4).unwrap();
        let err = (e.rho_err_msun_kpc3.powi(2)
            + e.rho_baryon_err_msun_kpc3.powi(2)
            + reference.1.powi(2))
        .sqrt();
        assert!(
            (e.rho_dm_msun_kpc3 - reference.0).abs() < 4.0 * err,
            "{} vs {}",
            e.rho_dm_msun_kpc3,
            reference.0
        );
        assert!(e.rho_baryon_msun_kpc3 > 0.2 * e.rho_msun_kpc3);
        assert!(
            (e.rho_dm_msun_kpc3 - (e.rho_msun_kpc3 - e.rho_baryon_msun_kpc3)).abs()
                < 1e-9 * e.rho_msun_kpc3
        );
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let h = HernquistDf::new(1e11, 3.0).unwrap();
        let field = field_of(&h);
        let pts: Vec<Vec3> = (0..8).map(|k| [1.0 + k as f64, 0.0, 0.1]).collect();
        let run = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| {
                    density(&field, &pts, &GaussOptions::default().with_n_draws(100), 9).unwrap()
                })
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn bad_input_is_an_error() {
        let ok = |x: &[Vec3]| -> Result<Vec<Vec3>> { Ok(vec![[0.0; 3]; x.len()]) };
        let short = |_: &[Vec3]| -> Result<Vec<Vec3>> { Ok(vec![[0.0; 3]; 1]) };
        let nan = |x: &[Vec3]| -> Result<Vec<Vec3>> { Ok(vec![[f64::NAN, 0.0, 0.0]; x.len()]) };
        let o = GaussOptions::default().with_n_draws(10);
        assert!(density(&ok, &[], &o, 1).is_err());
        assert!(density(&ok, &[[1.0; 3]], &o.clone().with_h_kpc([0.5, -1.0, 0.2]), 1).is_err());
        assert!(density(&ok, &[[1.0; 3]], &o.clone().with_n_draws(1), 1).is_err());
        assert!(density(&ok, &[[f64::NAN; 3]], &o, 1).is_err());
        assert!(density(&short, &[[1.0; 3]], &o, 1).is_err());
        let e = density(&nan, &[[1.0; 3]], &o, 1).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
        let bad_b = |_: Vec3| f64::NAN;
        assert!(density_with_baryons(&ok, Some(&bad_b), &[[1.0; 3]], &o, 1).is_err());
        assert_eq!(
            density(&ok, &[[1.0; 3]], &o, 1).unwrap()[0].rho_msun_kpc3,
            0.0
        );
    }

    #[test]
    fn unit_conversions() {
        assert_eq!(msun_kpc3_to_msun_pc3(1e7), 0.01);
        // 0.008 Msun/pc^3 = 0.304 GeV/cm^3 (the usual conversion, 1 Msun/pc^3 = 37.97 GeV/cm^3).
        let x = msun_pc3_to_gev_cm3(1.0);
        assert!((x - 37.97).abs() < 0.01, "{x}");
    }
}
