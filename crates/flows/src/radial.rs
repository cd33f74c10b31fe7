//! A fixed radial pre-transform of positions, applied before the flows.
//!
//! A spherical tracer population such as a Hernquist sphere has a density
//! that changes by orders of magnitude between its centre and its edge: a
//! cusp $n\propto r^{-1}$ inside the scale radius and a tail
//! $n\propto r^{-4}$ outside. An affine autoregressive flow built on a
//! Gaussian base resolves such a profile poorly in the plain Cartesian
//! coordinates. [`RadialMap`] moves every position along its ray from a
//! centre $\mathbf c$,
//! $$\mathbf y = \mathbf c + \frac{g(r)}{r}\,(\mathbf x - \mathbf c),\qquad
//!   g(r) = s\,\operatorname{asinh}\big((r/s)^q\big),\qquad r = |\mathbf x - \mathbf c|,$$
//! linear ($q = 1$) or expanding ($q < 1$) inside the scale $s$ and
//! logarithmic outside it, so that the $r^{-4}$ tail becomes an exponential
//! one. The flows then model the density of $\mathbf y$ and
//! $n(\mathbf x) = n_y(\mathbf y(\mathbf x))\,|\det J|$ with the exact
//! Jacobian
//! $$J = \frac{\partial\mathbf y}{\partial\mathbf x} = h\,I + (g' - h)\,\hat{\mathbf r}\hat{\mathbf r}^{\mathsf T},
//!   \qquad h = g/r,\qquad \ln|\det J| = \ln g'(r) + 2\ln h(r),$$
//! so that $\nabla_x\ln n = J^{\mathsf T}\nabla_y\ln n_y + \frac{d\ln|\det J|}{dr}\,\hat{\mathbf r}$.
//! With $t = (r/s)^q$ and $\varphi(t) = t/(\sqrt{1+t^2}\,\operatorname{asinh}t) - 1$,
//! $$\frac{d\ln|\det J|}{dr} = \frac1r\Big[(q - 1) - \frac{q t^2}{1+t^2} +
//!   2\big(q\,\varphi(t) + q - 1\big)\Big].$$
//! With $q = 2/3$ a cusp $n\propto r^{-1}$ becomes a density of $\mathbf y$ that
//! is finite at the centre (the map is then singular at $\mathbf c$ itself,
//! where positions are rejected).

use crate::model::{Result, Vec3};
use darkprobe_core::Error;
use serde::{Deserialize, Serialize};

/// The map $\mathbf y = \mathbf c + (g(r)/r)(\mathbf x - \mathbf c)$ with
/// $g(r) = s\,\operatorname{asinh}((r/s)^q)$ (see the [module
/// documentation](self)). Lengths in kpc.
///
/// ```
/// use darkprobe_flows::radial::RadialMap;
/// let m = RadialMap::new([0.0; 3], 5.0, 1.0).unwrap();
/// let x = [30.0, -40.0, 0.0]; // r = 50 kpc = 10 s
/// let y = m.forward(x).unwrap();
/// let ry = (y[0] * y[0] + y[1] * y[1] + y[2] * y[2]).sqrt();
/// assert!((ry - 5.0 * 10f64.asinh()).abs() < 1e-12);
/// let back = m.inverse(y);
/// assert!((back[0] - 30.0).abs() < 1e-10 && (back[1] + 40.0).abs() < 1e-10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadialMap {
    /// The centre $\mathbf c$ (kpc).
    pub centre_kpc: Vec3,
    /// The scale $s$ (kpc), where the map turns from linear to logarithmic.
    pub scale_kpc: f64,
    /// The inner power $q\in(0, 1]$: $g\propto r^q$ inside $s$.
    pub inner_power: f64,
}

/// How [`PhaseSpaceFlow::fit`](crate::PhaseSpaceFlow::fit) builds a
/// [`RadialMap`] from the stars: the centre, the scale as a fraction of the
/// median distance of the stars from the centre, and the inner power.
///
/// ```
/// use darkprobe_flows::radial::RadialMapOptions;
/// let o = RadialMapOptions::default();
/// let stars = [[1.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 2.0]];
/// let m = o.build(&stars).unwrap();
/// assert_eq!(m.scale_kpc, o.scale_fraction * 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadialMapOptions {
    /// The centre $\mathbf c$ (kpc; the origin of a Galactocentric frame).
    pub centre_kpc: Vec3,
    /// $s$ = `scale_fraction` × the median distance of the stars from the
    /// centre.
    pub scale_fraction: f64,
    /// The inner power $q\in(0, 1]$.
    pub inner_power: f64,
}

impl Default for RadialMapOptions {
    /// Centred on the origin, $s$ = half the median distance, $q = 1$.
    fn default() -> Self {
        Self {
            centre_kpc: [0.0; 3],
            scale_fraction: 0.5,
            inner_power: 1.0,
        }
    }
}

impl RadialMapOptions {
    /// The map for stars at `positions` (kpc).
    ///
    /// # Errors
    /// No or non-finite positions, a zero median distance, or invalid
    /// settings.
    pub fn build(&self, positions: &[Vec3]) -> Result<RadialMap> {
        if !(self.scale_fraction.is_finite() && self.scale_fraction > 0.0) {
            return Err(Error::invalid_param(
                "radial map scale_fraction",
                self.scale_fraction,
                "finite and > 0",
            ));
        }
        let s = RadialMap::scale_from_data(positions, self.centre_kpc, self.scale_fraction)?;
        RadialMap::new(self.centre_kpc, s, self.inner_power)
    }
}

/// A position mapped by [`RadialMap::jacobian`]: the image, the Jacobian
/// matrix, $\ln|\det J|$ and its gradient with respect to $\mathbf x$.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MappedPoint {
    /// $\mathbf y(\mathbf x)$.
    pub y: Vec3,
    /// $J_{ij} = \partial y_i/\partial x_j$ (symmetric).
    pub jacobian: [Vec3; 3],
    /// $\ln|\det J|$.
    pub ln_det: f64,
    /// $\nabla_x\ln|\det J|$.
    pub grad_ln_det: Vec3,
}

fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(a: Vec3) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

/// $\varphi(t) = t/(\sqrt{1+t^2}\,\operatorname{asinh}t) - 1$, by its series
/// for small $t$ (where the direct form cancels).
fn phi(t: f64) -> f64 {
    if t < 1e-3 {
        let t2 = t * t;
        // t/(sqrt(1+t^2) asinh t) = 1 - t^2/3 + 8 t^4/45 + O(t^6)
        -t2 / 3.0 + 8.0 * t2 * t2 / 45.0
    } else {
        t / ((1.0 + t * t).sqrt() * t.asinh()) - 1.0
    }
}

impl RadialMap {
    /// A map about `centre_kpc` with scale `scale_kpc` and inner power
    /// `inner_power`.
    ///
    /// # Errors
    /// A non-finite centre, a scale that is not finite and positive, or an
    /// inner power outside $(0, 1]$.
    pub fn new(centre_kpc: Vec3, scale_kpc: f64, inner_power: f64) -> Result<Self> {
        let m = Self {
            centre_kpc,
            scale_kpc,
            inner_power,
        };
        m.check()?;
        Ok(m)
    }

    /// Validates the fields (used after reading a model file too).
    ///
    /// # Errors
    /// As [`RadialMap::new`].
    pub fn check(&self) -> Result<()> {
        if self.centre_kpc.iter().any(|c| !c.is_finite()) {
            return Err(Error::invalid_param(
                "radial map centre_kpc",
                format!("{:?}", self.centre_kpc),
                "finite coordinates",
            ));
        }
        if !(self.scale_kpc.is_finite() && self.scale_kpc > 0.0) {
            return Err(Error::invalid_param(
                "radial map scale_kpc",
                self.scale_kpc,
                "finite and > 0",
            ));
        }
        if !(self.inner_power > 0.0 && self.inner_power <= 1.0) {
            return Err(Error::invalid_param(
                "radial map inner_power",
                self.inner_power,
                "in (0, 1]",
            ));
        }
        Ok(())
    }

    /// $g(r)$.
    fn g(&self, r: f64) -> f64 {
        let s = self.scale_kpc;
        s * (r / s).powf(self.inner_power).asinh()
    }

    fn reject_centre<T>(&self, x: Vec3) -> Result<T> {
        Err(Error::invalid_param(
            "position",
            format!("{x:?}"),
            "finite and, for an inner power below 1, away from the radial map's centre",
        ))
    }

    /// $\mathbf y(\mathbf x)$.
    ///
    /// # Errors
    /// A non-finite position, or the centre itself when $q < 1$.
    pub fn forward(&self, x: Vec3) -> Result<Vec3> {
        Ok(self.jacobian(x)?.y)
    }

    /// The inverse map $\mathbf x(\mathbf y)$:
    /// $r = s\,\sinh(|\mathbf y - \mathbf c|/s)^{1/q}$ along the same ray.
    pub fn inverse(&self, y: Vec3) -> Vec3 {
        let c = self.centre_kpc;
        let d = sub(y, c);
        let rho = norm(d);
        if rho == 0.0 {
            return c;
        }
        let s = self.scale_kpc;
        let r = s * (rho / s).sinh().powf(1.0 / self.inner_power);
        let f = r / rho;
        [c[0] + f * d[0], c[1] + f * d[1], c[2] + f * d[2]]
    }

    /// The image, the Jacobian, $\ln|\det J|$ and its gradient at `x`.
    ///
    /// # Errors
    /// A non-finite position, or the centre itself when $q < 1$ (where the
    /// map is singular).
    pub fn jacobian(&self, x: Vec3) -> Result<MappedPoint> {
        if x.iter().any(|c| !c.is_finite()) {
            return self.reject_centre(x);
        }
        let q = self.inner_power;
        let s = self.scale_kpc;
        let c = self.centre_kpc;
        let d = sub(x, c);
        let r = norm(d);
        if r == 0.0 {
            if q == 1.0 {
                return Ok(MappedPoint {
                    y: x,
                    jacobian: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                    ln_det: 0.0,
                    grad_ln_det: [0.0; 3],
                });
            }
            return self.reject_centre(x);
        }
        let t = (r / s).powf(q);
        let g = self.g(r);
        // s t / r = (r/s)^(q-1), computed without cancellation.
        let st_r = (r / s).powf(q - 1.0);
        let h = g / r;
        let gp = q * st_r / (1.0 + t * t).sqrt();
        // ln h = ln(asinh t / t) + ln(s t / r)
        let ln_asinh_ratio = -(phi(t) + 1.0).ln() - 0.5 * (1.0 + t * t).ln();
        let ln_h = ln_asinh_ratio + st_r.ln();
        let ln_det = gp.ln() + 2.0 * ln_h;
        let dldr = ((q - 1.0) - q * t * t / (1.0 + t * t) + 2.0 * (q * phi(t) + q - 1.0)) / r;
        let u = [d[0] / r, d[1] / r, d[2] / r];
        let mut jac = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                jac[i][j] = (gp - h) * u[i] * u[j] + if i == j { h } else { 0.0 };
            }
        }
        let out = MappedPoint {
            y: [c[0] + h * d[0], c[1] + h * d[1], c[2] + h * d[2]],
            jacobian: jac,
            ln_det,
            grad_ln_det: [dldr * u[0], dldr * u[1], dldr * u[2]],
        };
        if out
            .y
            .iter()
            .chain(out.grad_ln_det.iter())
            .any(|v| !v.is_finite())
            || !out.ln_det.is_finite()
        {
            return self.reject_centre(x);
        }
        Ok(out)
    }

    /// The scale chosen from data: `fraction` times the median distance of
    /// `positions` from `centre_kpc`.
    ///
    /// # Errors
    /// No positions, non-finite positions, or a zero median distance.
    pub fn scale_from_data(positions: &[Vec3], centre_kpc: Vec3, fraction: f64) -> Result<f64> {
        if positions.is_empty() {
            return Err(Error::empty(
                "positions for the radial map scale",
                "give at least one star",
            ));
        }
        let mut r: Vec<f64> = positions
            .iter()
            .map(|&x| norm(sub(x, centre_kpc)))
            .collect();
        if let Some(k) = r.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid_param(
                format!("position of star {k}"),
                format!("{:?}", positions[k]),
                "finite coordinates",
            ));
        }
        r.sort_by(f64::total_cmp);
        let med = r[r.len() / 2];
        let s = fraction * med;
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::invalid_param(
                "radial map scale (fraction x median distance, kpc)",
                s,
                "finite and > 0",
            ));
        }
        Ok(s)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    const POINTS: [Vec3; 6] = [
        [0.3, -0.2, 0.1],
        [2.0, 1.0, -3.0],
        [-7.0, 4.0, 2.5],
        [40.0, -20.0, 10.0],
        [1e-4, 2e-4, -1e-4],
        [0.0, 0.0, 120.0],
    ];

    fn maps() -> Vec<RadialMap> {
        vec![
            RadialMap::new([0.0; 3], 5.0, 1.0).unwrap(),
            RadialMap::new([0.5, -1.0, 0.2], 3.0, 2.0 / 3.0).unwrap(),
            RadialMap::new([0.0; 3], 0.7, 0.5).unwrap(),
        ]
    }

    #[test]
    fn inverse_undoes_forward() {
        for m in maps() {
            for x in POINTS {
                let y = m.forward(x).unwrap();
                let back = m.inverse(y);
                for j in 0..3 {
                    assert!(
                        (back[j] - x[j]).abs() < 1e-9 * (1.0 + x[j].abs()),
                        "{m:?} {x:?}: {back:?}"
                    );
                }
                // The radius maps to g(r) along the same ray.
                let r = norm(sub(x, m.centre_kpc));
                let ry = norm(sub(y, m.centre_kpc));
                assert!((ry - m.g(r)).abs() < 1e-12 * (1.0 + ry));
            }
        }
    }

    #[test]
    fn jacobian_and_log_determinant_match_finite_differences() {
        for m in maps() {
            for x in POINTS {
                let p = m.jacobian(x).unwrap();
                let r = norm(sub(x, m.centre_kpc));
                let eps = 1e-6 * r.max(1e-3);
                let mut fd_jac = [[0.0; 3]; 3];
                let mut fd_grad = [0.0; 3];
                for j in 0..3 {
                    let (mut xp, mut xm) = (x, x);
                    xp[j] += eps;
                    xm[j] -= eps;
                    let (a, b) = (m.jacobian(xp).unwrap(), m.jacobian(xm).unwrap());
                    for i in 0..3 {
                        fd_jac[i][j] = (a.y[i] - b.y[i]) / (2.0 * eps);
                    }
                    fd_grad[j] = (a.ln_det - b.ln_det) / (2.0 * eps);
                }
                for i in 0..3 {
                    assert!(
                        (fd_grad[i] - p.grad_ln_det[i]).abs()
                            < 1e-5 * (1.0 + p.grad_ln_det[i].abs()),
                        "{m:?} {x:?} grad {i}: {} vs {}",
                        fd_grad[i],
                        p.grad_ln_det[i]
                    );
                    for j in 0..3 {
                        assert!(
                            (fd_jac[i][j] - p.jacobian[i][j]).abs() < 1e-6,
                            "{m:?} {x:?} J{i}{j}: {} vs {}",
                            fd_jac[i][j],
                            p.jacobian[i][j]
                        );
                    }
                }
                // ln|det J| against the determinant of the matrix itself.
                let j = p.jacobian;
                let det = j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1])
                    - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
                    + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0]);
                assert!((det.ln() - p.ln_det).abs() < 1e-9, "{m:?} {x:?}");
            }
        }
    }

    #[test]
    fn mapped_density_is_normalised() {
        // A standard normal density of y pulled back to x must integrate to
        // one: integrate over r (the map is radial about the origin) with
        // n_x(x) = N(y(x)) |det J| and the solid angle 4 pi.
        let m = RadialMap::new([0.0; 3], 1.5, 2.0 / 3.0).unwrap();
        let n = 200_000;
        let r_max: f64 = 400.0;
        // Midpoint rule in u = ln r, from r = 1e-8 to r_max.
        let (u0, u1) = (1e-8f64.ln(), r_max.ln());
        let du = (u1 - u0) / n as f64;
        let mut total = 0.0;
        for k in 0..n {
            let r = (u0 + (k as f64 + 0.5) * du).exp();
            let p = m.jacobian([r, 0.0, 0.0]).unwrap();
            let y2 = p.y[0] * p.y[0];
            let dens = (-0.5 * y2).exp() / (2.0 * std::f64::consts::PI).powf(1.5) * p.ln_det.exp();
            total += 4.0 * std::f64::consts::PI * r * r * dens * r * du;
        }
        assert!((total - 1.0).abs() < 1e-4, "integral {total}");
    }

    #[test]
    fn bad_settings_and_points_are_rejected() {
        assert!(RadialMap::new([0.0; 3], 0.0, 1.0).is_err());
        assert!(RadialMap::new([0.0; 3], 1.0, 0.0).is_err());
        assert!(RadialMap::new([0.0; 3], 1.0, 1.5).is_err());
        assert!(RadialMap::new([f64::NAN, 0.0, 0.0], 1.0, 1.0).is_err());
        let m = RadialMap::new([1.0, 2.0, 3.0], 1.0, 0.5).unwrap();
        assert!(m.jacobian([1.0, 2.0, 3.0]).is_err());
        assert!(m.jacobian([f64::NAN, 2.0, 3.0]).is_err());
        // q = 1 is smooth at the centre: the identity there.
        let m1 = RadialMap::new([0.0; 3], 1.0, 1.0).unwrap();
        let p = m1.jacobian([0.0; 3]).unwrap();
        assert_eq!(p.ln_det, 0.0);
        assert!(RadialMap::scale_from_data(&[], [0.0; 3], 0.5).is_err());
        assert!(RadialMap::scale_from_data(&[[0.0; 3]; 3], [0.0; 3], 0.5).is_err());
        let s = RadialMap::scale_from_data(
            &[[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 2.0]],
            [0.0; 3],
            0.5,
        )
        .unwrap();
        assert_eq!(s, 1.0);
    }
}
