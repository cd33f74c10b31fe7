//! Sky geometry: Galactic and equatorial coordinates, angular separations,
//! caps and uniform sampling on the sphere.
//!
//! Angles are in **degrees** in the public API unless a name ends in `_rad`.
//! A position is a pair `(lon_deg, lat_deg)`: Galactic $(l, b)$ or equatorial
//! $(\alpha, \delta)$; longitudes returned by this module lie in $[0, 360)$.
//!
//! # Unit vectors
//! A direction with longitude $\lambda$ and latitude $\beta$ is
//! $\hat r = (\cos\beta\cos\lambda,\ \cos\beta\sin\lambda,\ \sin\beta)$; the inverse uses
//! $\lambda = \operatorname{atan2}(y, x)$ and $\beta = \operatorname{atan2}(z, \sqrt{x^2+y^2})$,
//! which is accurate at every latitude (unlike $\arcsin z$ near the poles).
//!
//! # ICRS and Galactic coordinates
//! The IAU 1958 Galactic system, transferred to the ICRS (J2000) as in the
//! Hipparcos catalogue (ESA 1997, *The Hipparcos and Tycho Catalogues*, ESA SP-1200,
//! vol. 1, sec. 1.5.3, eq. 1.5.11), is defined by the North Galactic Pole at
//! $(\alpha_G, \delta_G) = (192.85948^\circ, 27.12825^\circ)$ and the Galactic longitude
//! $l_\Omega = 32.93192^\circ$ of the ascending node of the Galactic plane on the
//! equator. The catalogue publishes the rotation matrix $A_G$ (columns: the
//! Galactic $x$, $y$, $z$ axes in ICRS components) to 10 decimals, see [`A_G`],
//! and $\hat r_{\rm Gal} = A_G^{\mathsf T}\, \hat r_{\rm ICRS}$.
//!
//! Rounded to 10 decimals, $A_G$ is orthonormal only to about $10^{-10}$, so
//! $A_G^{\mathsf T}$ is not quite its inverse (a round trip would drift by
//! $\sim 6\times10^{-9}$ deg). This module therefore uses the nearest exact rotation,
//! the orthogonal polar factor of $A_G$, computed at compile time by the
//! Newton–Schulz iteration $X \leftarrow \tfrac12 X (3I - X^{\mathsf T}X)$. It differs from the
//! published elements by less than $10^{-10}$ (about 20 µas), below the precision of
//! the published digits, and the forward and inverse transforms are exact inverses.
//!
//! # Angular separation
//! The great-circle distance uses the Vincenty form of the spherical law of
//! cosines, well conditioned for all separations from $0$ to $180^\circ$:
//! $$\theta = \operatorname{atan2}\Big(\sqrt{(\cos\beta_2\sin\Delta\lambda)^2 +
//! (\cos\beta_1\sin\beta_2 - \sin\beta_1\cos\beta_2\cos\Delta\lambda)^2},\
//! \sin\beta_1\sin\beta_2 + \cos\beta_1\cos\beta_2\cos\Delta\lambda\Big).$$
//!
//! # Caps
//! A cap (disc) of angular radius $r$ has solid angle
//! $\Omega = 2\pi(1 - \cos r) = 4\pi\sin^2(r/2)$ (the second form is used: it keeps
//! full relative precision for tiny radii). Uniform points in a cap have
//! $\cos\theta$ uniform on $[\cos r, 1]$ and a uniform azimuth about the centre;
//! the sphere is the cap with $r = 180^\circ$.
//!
//! # Errors and NaN
//! Pure coordinate maps (conversions, rotations, separations, flat distances)
//! are total: they accept any finite input (a latitude beyond $\pm 90^\circ$ is read
//! geometrically, as going over the pole) and propagate NaN like the
//! trigonometric functions they are built from. Functions that take a cap
//! radius or a position to validate return [`Result`] and reject NaN,
//! infinities, latitudes outside $[-90, 90]$ and radii outside $[0, 180]$.
//!
//! ```
//! use darkprobe_core::sky::{angular_separation_deg, galactic_to_icrs, icrs_to_galactic};
//! // The North Galactic Pole has b = 90 deg.
//! let (_, b) = icrs_to_galactic(192.85948, 27.12825);
//! assert!((b - 90.0).abs() < 1e-7);
//! // The Galactic centre direction in ICRS.
//! let (ra, dec) = galactic_to_icrs(0.0, 0.0);
//! assert!((ra - 266.40499).abs() < 1e-5 && (dec + 28.93617).abs() < 1e-5);
//! // Rotations preserve angles.
//! let (l1, b1) = icrs_to_galactic(10.0, 20.0);
//! let (l2, b2) = icrs_to_galactic(30.0, -5.0);
//! let d = angular_separation_deg(10.0, 20.0, 30.0, -5.0);
//! assert!((angular_separation_deg(l1, b1, l2, b2) - d).abs() < 1e-10);
//! ```

use crate::error::{Error, Result};
use rand::Rng;
use std::f64::consts::PI;

/// A 3x3 matrix stored by rows (`m[row][column]`).
pub type Mat3 = [[f64; 3]; 3];

/// The Hipparcos rotation matrix $A_G$ with its published 10-decimal elements
/// (ESA 1997, vol. 1, eq. 1.5.11). Its columns are the Galactic $x$ (towards
/// $l = 0, b = 0$), $y$ ($l = 90^\circ$) and $z$ (North Galactic Pole) axes expressed
/// in ICRS components, so that $\hat r_{\rm ICRS} = A_G \hat r_{\rm Gal}$.
///
/// The transforms in this module use the nearest exact rotation, [`GALACTIC_TO_ICRS`].
pub const A_G: Mat3 = [
    [-0.054_875_560_4, 0.494_109_427_9, -0.867_666_149_0],
    [-0.873_437_090_2, -0.444_829_630_0, -0.198_076_373_4],
    [-0.483_835_015_5, 0.746_982_244_5, 0.455_983_776_2],
];

/// The rotation taking Galactic unit vectors to ICRS unit vectors: the
/// orthogonal polar factor of [`A_G`] (equal to it within $10^{-10}$ per element).
pub const GALACTIC_TO_ICRS: Mat3 = nearest_rotation(&A_G);

/// The rotation taking ICRS unit vectors to Galactic unit vectors: the
/// transpose (inverse) of [`GALACTIC_TO_ICRS`].
pub const ICRS_TO_GALACTIC: Mat3 = transpose(&GALACTIC_TO_ICRS);

const fn transpose(a: &Mat3) -> Mat3 {
    let mut t = [[0.0; 3]; 3];
    let mut i = 0;
    while i < 3 {
        let mut j = 0;
        while j < 3 {
            t[i][j] = a[j][i];
            j += 1;
        }
        i += 1;
    }
    t
}

const fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut c = [[0.0; 3]; 3];
    let mut i = 0;
    while i < 3 {
        let mut j = 0;
        while j < 3 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
            j += 1;
        }
        i += 1;
    }
    c
}

/// Orthogonal polar factor of a nearly orthogonal matrix by Newton–Schulz
/// iteration. The error is squared at each step, so from $10^{-10}$ one step
/// reaches rounding level; a few more steps cost nothing at compile time.
const fn nearest_rotation(a: &Mat3) -> Mat3 {
    let mut x = *a;
    let mut step = 0;
    while step < 4 {
        let xtx = mat_mul(&transpose(&x), &x);
        let mut m = [[0.0; 3]; 3];
        let mut i = 0;
        while i < 3 {
            let mut j = 0;
            while j < 3 {
                let id = if i == j { 3.0 } else { 0.0 };
                m[i][j] = 0.5 * (id - xtx[i][j]);
                j += 1;
            }
            i += 1;
        }
        x = mat_mul(&x, &m);
        step += 1;
    }
    x
}

fn apply(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    let row = |r: &[f64; 3]| r[0] * v[0] + r[1] * v[1] + r[2] * v[2];
    [row(&m[0]), row(&m[1]), row(&m[2])]
}

/// Maps a longitude in degrees into $[0, 360)$.
///
/// Unlike a bare `rem_euclid`, never returns `360.0` for tiny negative inputs.
/// NaN and infinities give NaN.
pub fn wrap_lon_deg(lon_deg: f64) -> f64 {
    let w = lon_deg.rem_euclid(360.0);
    if w >= 360.0 {
        0.0
    } else {
        w
    }
}

/// Maps an angle difference in degrees into $[-180, 180)$. NaN and infinities give NaN.
pub fn wrap_pm180_deg(angle_deg: f64) -> f64 {
    wrap_lon_deg(angle_deg + 180.0) - 180.0
}

/// Unit vector of the direction with longitude `lon_deg` and latitude `lat_deg`
/// (degrees), in the frame of those coordinates.
pub fn lonlat_to_unit(lon_deg: f64, lat_deg: f64) -> [f64; 3] {
    let (sl, cl) = lon_deg.to_radians().sin_cos();
    let (sb, cb) = lat_deg.to_radians().sin_cos();
    [cb * cl, cb * sl, sb]
}

/// Longitude in $[0, 360)$ and latitude in $[-90, 90]$ (degrees) of the direction
/// of `v`. `v` need not be normalised; the zero vector gives `(0, 0)`.
pub fn unit_to_lonlat(v: [f64; 3]) -> (f64, f64) {
    let lon = wrap_lon_deg(v[1].atan2(v[0]).to_degrees());
    let lat = v[2].atan2(v[0].hypot(v[1])).to_degrees();
    (lon, lat)
}

/// Galactic unit vector of Galactic longitude `l_deg` and latitude `b_deg`.
pub fn lb_to_unit(l_deg: f64, b_deg: f64) -> [f64; 3] {
    lonlat_to_unit(l_deg, b_deg)
}

/// Galactic `(l_deg, b_deg)` of a Galactic-frame vector, `l_deg` in $[0, 360)$.
pub fn unit_to_lb(v: [f64; 3]) -> (f64, f64) {
    unit_to_lonlat(v)
}

/// Equatorial unit vector of right ascension `ra_deg` and declination `dec_deg`.
pub fn radec_to_unit(ra_deg: f64, dec_deg: f64) -> [f64; 3] {
    lonlat_to_unit(ra_deg, dec_deg)
}

/// Equatorial `(ra_deg, dec_deg)` of an equatorial-frame vector, `ra_deg` in $[0, 360)$.
pub fn unit_to_radec(v: [f64; 3]) -> (f64, f64) {
    unit_to_lonlat(v)
}

/// Rotates an ICRS vector into the Galactic frame.
pub fn icrs_to_galactic_vec(v: [f64; 3]) -> [f64; 3] {
    apply(&ICRS_TO_GALACTIC, v)
}

/// Rotates a Galactic vector into the ICRS frame.
pub fn galactic_to_icrs_vec(v: [f64; 3]) -> [f64; 3] {
    apply(&GALACTIC_TO_ICRS, v)
}

/// Galactic `(l_deg, b_deg)` of the ICRS (J2000) position `(ra_deg, dec_deg)`.
pub fn icrs_to_galactic(ra_deg: f64, dec_deg: f64) -> (f64, f64) {
    unit_to_lb(icrs_to_galactic_vec(radec_to_unit(ra_deg, dec_deg)))
}

/// ICRS (J2000) `(ra_deg, dec_deg)` of the Galactic position `(l_deg, b_deg)`.
pub fn galactic_to_icrs(l_deg: f64, b_deg: f64) -> (f64, f64) {
    unit_to_radec(galactic_to_icrs_vec(lb_to_unit(l_deg, b_deg)))
}

/// Great-circle separation in radians between `(lon1_rad, lat1_rad)` and
/// `(lon2_rad, lat2_rad)` by the Vincenty formula; the result is in $[0, \pi]$.
pub fn angular_separation_rad(lon1_rad: f64, lat1_rad: f64, lon2_rad: f64, lat2_rad: f64) -> f64 {
    vincenty(lat1_rad, lat2_rad, lat2_rad - lat1_rad, lon2_rad - lon1_rad)
}

/// Great-circle separation in degrees between `(lon1, lat1)` and `(lon2, lat2)`
/// (degrees, any longitude/latitude pair of one frame), in $[0, 180]$.
///
/// Accurate to rounding at all separations, including $10^{-8}$ deg and antipodes.
pub fn angular_separation_deg(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    // Differencing in degrees first keeps small differences exact.
    vincenty(
        lat1.to_radians(),
        lat2.to_radians(),
        (lat2 - lat1).to_radians(),
        (lon2 - lon1).to_radians(),
    )
    .to_degrees()
}

/// Vincenty's formula. The along-meridian term
/// $\cos\beta_1\sin\beta_2 - \sin\beta_1\cos\beta_2\cos\Delta\lambda$ is evaluated as
/// $\sin\Delta\beta + 2\sin\beta_1\cos\beta_2\sin^2(\Delta\lambda/2)$ (an identity), which
/// avoids cancellation and keeps full relative precision for tiny separations.
fn vincenty(lat1: f64, lat2: f64, dlat: f64, dlon: f64) -> f64 {
    let (s1, c1) = lat1.sin_cos();
    let (s2, c2) = lat2.sin_cos();
    let (sd, cd) = dlon.sin_cos();
    let sh = (0.5 * dlon).sin();
    let across = c2 * sd;
    let along = dlat.sin() + 2.0 * s1 * c2 * sh * sh;
    let dot = s1 * s2 + c1 * c2 * cd;
    across.hypot(along).atan2(dot)
}

/// Flat-sky distance $\sqrt{\Delta l^2 + \Delta b^2}$ in degrees, as used by the
/// MLFermiDwarfs code (Calore, Serpico & Zaldivar 2018, JCAP 10, 029) to pick
/// background regions around a dwarf.
///
/// $\Delta l = l_2 - l_1$ is the plain difference of the longitudes as given:
/// with `wrap = false` no wrap-around is applied, so $l = 359^\circ$ and $l = 1^\circ$ are
/// $358^\circ$ apart (reproducing that code). With `wrap = true`, $\Delta l$ is first mapped
/// into $[-180, 180)$, giving $2^\circ$. No $\cos b$ factor is applied in either case:
/// this is not a great-circle distance (see [`angular_separation_deg`]).
pub fn flat_lb_distance_deg(l1: f64, b1: f64, l2: f64, b2: f64, wrap: bool) -> f64 {
    let dl = if wrap {
        wrap_pm180_deg(l2 - l1)
    } else {
        l2 - l1
    };
    dl.hypot(b2 - b1)
}

fn check_radius(radius_deg: f64) -> Result<f64> {
    if (0.0..=180.0).contains(&radius_deg) {
        Ok(radius_deg)
    } else {
        Err(Error::invalid_param(
            "radius_deg",
            radius_deg,
            "in [0, 180] degrees",
        ))
    }
}

fn check_position(what: &str, lon_deg: f64, lat_deg: f64) -> Result<()> {
    if !lon_deg.is_finite() {
        return Err(Error::invalid_param(
            format!("{what} longitude (deg)"),
            lon_deg,
            "a finite number",
        ));
    }
    if !(-90.0..=90.0).contains(&lat_deg) {
        return Err(Error::invalid_param(
            format!("{what} latitude (deg)"),
            lat_deg,
            "in [-90, 90]",
        ));
    }
    Ok(())
}

/// Solid angle in steradians of a cap of angular radius `radius_deg`:
/// $2\pi(1 - \cos r)$, evaluated as $4\pi\sin^2(r/2)$.
///
/// # Errors
/// [`Error::InvalidParameter`] if `radius_deg` is not in $[0, 180]$ (or is NaN).
pub fn cap_solid_angle_sr(radius_deg: f64) -> Result<f64> {
    let half = 0.5 * check_radius(radius_deg)?.to_radians();
    let s = half.sin();
    Ok(4.0 * PI * s * s)
}

/// Whether `point` lies in the closed great-circle disc of radius `radius_deg`
/// around `centre` (both `(lon_deg, lat_deg)` in one frame).
///
/// # Errors
/// [`Error::InvalidParameter`] if `radius_deg` is not in $[0, 180]$, or a
/// longitude is not finite, or a latitude is not in $[-90, 90]$.
pub fn in_disc(centre: (f64, f64), radius_deg: f64, point: (f64, f64)) -> Result<bool> {
    check_radius(radius_deg)?;
    check_position("centre", centre.0, centre.1)?;
    check_position("point", point.0, point.1)?;
    Ok(angular_separation_deg(centre.0, centre.1, point.0, point.1) <= radius_deg)
}

/// A point drawn uniformly on the sphere, as `(lon_deg, lat_deg)` with the
/// longitude in $[0, 360)$: $\sin\beta$ uniform on $[-1, 1]$, longitude uniform.
pub fn sample_sphere<R: Rng + ?Sized>(rng: &mut R) -> (f64, f64) {
    let lon = 360.0 * rng.random::<f64>();
    let z = 1.0 - 2.0 * rng.random::<f64>();
    (wrap_lon_deg(lon), z.asin().to_degrees())
}

/// A point drawn uniformly in the cap of radius `radius_deg` around
/// `(lon0_deg, lat0_deg)`, as `(lon_deg, lat_deg)` with the longitude in $[0, 360)$.
///
/// Exact: $1 - \cos\theta$ is drawn uniformly on $[0, 1 - \cos r]$ (written as
/// $2\sin^2(r/2)$ so tiny caps keep their precision), the azimuth uniformly, and
/// the offset is rotated to the centre using the local north and east vectors.
///
/// # Errors
/// [`Error::InvalidParameter`] if `radius_deg` is not in $[0, 180]$, `lon0_deg` is
/// not finite, or `lat0_deg` is not in $[-90, 90]$.
pub fn sample_in_cap<R: Rng + ?Sized>(
    rng: &mut R,
    lon0_deg: f64,
    lat0_deg: f64,
    radius_deg: f64,
) -> Result<(f64, f64)> {
    check_radius(radius_deg)?;
    check_position("cap centre", lon0_deg, lat0_deg)?;
    let sin_half = (0.5 * radius_deg.to_radians()).sin();
    // w = 1 - cos(theta), uniform on [0, 1 - cos r].
    let w = 2.0 * sin_half * sin_half * rng.random::<f64>();
    let cos_t = 1.0 - w;
    let sin_t = (w * (2.0 - w)).max(0.0).sqrt();
    let (sin_phi, cos_phi) = (2.0 * PI * rng.random::<f64>()).sin_cos();

    let (sl, cl) = lon0_deg.to_radians().sin_cos();
    let (sb, cb) = lat0_deg.to_radians().sin_cos();
    let centre = [cb * cl, cb * sl, sb];
    let north = [-sb * cl, -sb * sl, cb];
    let east = [-sl, cl, 0.0];
    let v: [f64; 3] = std::array::from_fn(|k| {
        cos_t * centre[k] + sin_t * (cos_phi * north[k] + sin_phi * east[k])
    });
    Ok(unit_to_lonlat(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use proptest::prelude::*;

    /// Haversine separation in degrees: an independent formula, accurate for
    /// small separations.
    fn haversine_deg(l1: f64, b1: f64, l2: f64, b2: f64) -> f64 {
        let db = (b2 - b1).to_radians();
        let dl = (l2 - l1).to_radians();
        let (b1, b2) = (b1.to_radians(), b2.to_radians());
        let h = (db / 2.0).sin().powi(2) + b1.cos() * b2.cos() * (dl / 2.0).sin().powi(2);
        (2.0 * h.sqrt().asin()).to_degrees()
    }

    fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
        a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    }

    /// Galactic axes in ICRS built from the three canonical angles
    /// (alpha_G, delta_G, l_Omega), independently of the published matrix.
    fn axes_from_angles() -> Mat3 {
        let (a, d, lo) = (
            192.85948f64.to_radians(),
            27.12825f64.to_radians(),
            32.93192f64.to_radians(),
        );
        let z = [d.cos() * a.cos(), d.cos() * a.sin(), d.sin()];
        // Ascending node of the Galactic plane on the equator, at RA = alpha_G + 90.
        let n = [-a.sin(), a.cos(), 0.0];
        let cross = |u: [f64; 3], v: [f64; 3]| {
            [
                u[1] * v[2] - u[2] * v[1],
                u[2] * v[0] - u[0] * v[2],
                u[0] * v[1] - u[1] * v[0],
            ]
        };
        let m = cross(z, n);
        // n lies at Galactic longitude l_Omega: n = cos(lo) x + sin(lo) y.
        let x: [f64; 3] = std::array::from_fn(|k| lo.cos() * n[k] - lo.sin() * m[k]);
        let y = cross(z, x);
        [x, y, z]
    }

    #[test]
    fn published_matrix_is_orthonormal_to_1e9_and_rotation_is_exact() {
        for (m, tol) in [(A_G, 1e-9), (GALACTIC_TO_ICRS, 1e-15)] {
            let mtm = mat_mul(&transpose(&m), &m);
            let mmt = mat_mul(&m, &transpose(&m));
            for i in 0..3 {
                for j in 0..3 {
                    let id = if i == j { 1.0 } else { 0.0 };
                    assert_abs_diff_eq!(mtm[i][j], id, epsilon = tol);
                    assert_abs_diff_eq!(mmt[i][j], id, epsilon = tol);
                }
            }
            // Proper rotation: determinant +1.
            let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
            assert_abs_diff_eq!(det, 1.0, epsilon = tol);
        }
        // The published digits are not exactly orthonormal (so the polar
        // factor is really needed), and the polar factor stays within them.
        let mtm = mat_mul(&transpose(&A_G), &A_G);
        assert!((mtm[0][0] - 1.0).abs() > 1e-12 || (mtm[0][1]).abs() > 1e-12);
        for i in 0..3 {
            for j in 0..3 {
                assert_abs_diff_eq!(GALACTIC_TO_ICRS[i][j], A_G[i][j], epsilon = 1e-10);
                assert_eq!(ICRS_TO_GALACTIC[i][j], GALACTIC_TO_ICRS[j][i]);
            }
        }
    }

    #[test]
    fn matrix_agrees_with_the_three_defining_angles() {
        // Published elements are rounded to 10 decimals: |error| <= 5e-11.
        let axes = axes_from_angles();
        for (c, axis) in axes.iter().enumerate() {
            for r in 0..3 {
                assert_abs_diff_eq!(A_G[r][c], axis[r], epsilon = 6e-11);
                assert_abs_diff_eq!(GALACTIC_TO_ICRS[r][c], axis[r], epsilon = 1e-10);
            }
        }
    }

    #[test]
    fn well_known_points() {
        // North Galactic Pole.
        let (_, b) = icrs_to_galactic(192.85948, 27.12825);
        assert_abs_diff_eq!(b, 90.0, epsilon = 1e-7);
        // Galactic centre direction; mpmath from the defining angles:
        // (266.404994801046, -28.9361739601387).
        let (ra, dec) = galactic_to_icrs(0.0, 0.0);
        assert_abs_diff_eq!(ra, 266.40499, epsilon = 1e-5);
        assert_abs_diff_eq!(dec, -28.93617, epsilon = 1e-5);
        assert_abs_diff_eq!(ra, 266.404_994_801_046, epsilon = 1e-8);
        assert_abs_diff_eq!(dec, -28.936_173_960_138_7, epsilon = 1e-8);
        // North celestial pole: l = 90 + l_Omega = 122.93192, b = delta_G.
        let (l, b) = icrs_to_galactic(0.0, 90.0);
        assert_abs_diff_eq!(l, 122.93192, epsilon = 1e-7);
        assert_abs_diff_eq!(b, 27.12825, epsilon = 1e-7);
        // South Galactic Pole.
        let (ra, dec) = galactic_to_icrs(0.0, -90.0);
        assert_abs_diff_eq!(ra, 192.85948 - 180.0, epsilon = 1e-7);
        assert_abs_diff_eq!(dec, -27.12825, epsilon = 1e-7);
    }

    #[test]
    fn reference_points_from_mpmath() {
        // (ra, dec) -> (l, b) computed with mpmath (40 digits) from the three
        // defining angles. Agreement is limited by the 10-decimal matrix
        // (~1e-10 rad ~ 6e-9 deg).
        let cases = [
            (0.0, 0.0, 96.337_272_343_417_6, -60.188_553_267_593_7),
            (
                83.63308,
                22.0145,
                184.557_450_125_579,
                -5.784_362_109_582_74,
            ),
            (
                10.684_708_33,
                41.26875,
                121.174_322_076_424,
                -21.573_311_154_802_9,
            ),
            (
                201.365_063,
                -43.019_113,
                309.515_895_780_129,
                19.417_273_073_035_2,
            ),
            (
                266.416_816_62,
                -29.007_824_97,
                359.944_229_467_483,
                -0.046_157_130_627_623_6,
            ),
        ];
        for (ra, dec, l_ref, b_ref) in cases {
            let (l, b) = icrs_to_galactic(ra, dec);
            assert_abs_diff_eq!(wrap_pm180_deg(l - l_ref), 0.0, epsilon = 2e-8);
            assert_abs_diff_eq!(b, b_ref, epsilon = 2e-8);
            let (ra2, dec2) = galactic_to_icrs(l_ref, b_ref);
            assert!(angular_separation_deg(ra, dec, ra2, dec2) < 2e-8);
        }
    }

    #[test]
    fn unit_vectors_and_wrapping() {
        let v = lb_to_unit(90.0, 0.0);
        assert_abs_diff_eq!(v[0], 0.0, epsilon = 1e-16);
        assert_abs_diff_eq!(v[1], 1.0, epsilon = 1e-16);
        let v = radec_to_unit(0.0, -90.0);
        assert_abs_diff_eq!(v[2], -1.0, epsilon = 1e-16);
        // Not normalised, and negative y: longitude lands in [0, 360).
        let (l, b) = unit_to_lb([2.0, -2.0, 0.0]);
        assert_abs_diff_eq!(l, 315.0, epsilon = 1e-12);
        assert_abs_diff_eq!(b, 0.0, epsilon = 1e-12);
        let (ra, dec) = unit_to_radec([0.0, 0.0, 5.0]);
        assert_eq!((ra, dec), (0.0, 90.0));
        assert_eq!(unit_to_lb([0.0, 0.0, 0.0]), (0.0, 0.0));
        // A tiny negative longitude must not come back as 360.
        assert_eq!(wrap_lon_deg(-1e-17), 0.0);
        assert_abs_diff_eq!(wrap_lon_deg(-30.0), 330.0, epsilon = 1e-12);
        assert_abs_diff_eq!(wrap_lon_deg(725.0), 5.0, epsilon = 1e-12);
        assert_eq!(wrap_pm180_deg(180.0), -180.0);
        assert_abs_diff_eq!(wrap_pm180_deg(-190.0), 170.0, epsilon = 1e-12);
        assert_abs_diff_eq!(wrap_pm180_deg(358.0), -2.0, epsilon = 1e-12);
        assert!(wrap_lon_deg(f64::NAN).is_nan());
    }

    #[test]
    fn separation_small_angles_match_haversine() {
        for &(l, b) in &[(0.0, 0.0), (123.4, 56.7), (300.0, -89.0), (45.0, 89.999)] {
            for &d in &[1e-8, 3e-7, 1e-4] {
                for &(dl, db) in &[(d, 0.0), (0.0, d), (0.6 * d, -0.8 * d)] {
                    let got = angular_separation_deg(l, b, l + dl, b + db);
                    let want = haversine_deg(l, b, l + dl, b + db);
                    assert_relative_eq!(got, want, max_relative = 1e-12);
                }
            }
        }
        // Along a meridian the separation is exactly the latitude difference.
        assert_relative_eq!(
            angular_separation_deg(10.0, 20.0, 10.0, 20.0 + 1e-8),
            1e-8,
            max_relative = 1e-6
        );
        assert_eq!(angular_separation_deg(17.0, -3.0, 17.0, -3.0), 0.0);
    }

    #[test]
    fn separation_near_antipodes() {
        // Exact antipodes.
        for &(l, b) in &[(0.0, 0.0), (37.0, 12.0), (250.0, -60.0), (0.0, 90.0)] {
            let s = angular_separation_deg(l, b, l + 180.0, -b);
            assert_abs_diff_eq!(s, 180.0, epsilon = 1e-12);
        }
        // 180 minus a small offset: the antipode of a point d away from p1.
        for &(l, b) in &[(10.0, 20.0), (200.0, -45.0)] {
            for &d in &[1e-8, 1e-5, 1e-2] {
                let (l2, b2) = (l + 0.6 * d, b + 0.8 * d);
                let small = haversine_deg(l, b, l2, b2);
                let s = angular_separation_deg(l, b, l2 + 180.0, -b2);
                assert_abs_diff_eq!(s, 180.0 - small, epsilon = 1e-12);
            }
        }
        // Medium angles: compare with acos of the dot product.
        let (p, q) = ((30.0, 40.0), (100.0, -20.0));
        let c = dot(lb_to_unit(p.0, p.1), lb_to_unit(q.0, q.1));
        assert_relative_eq!(
            angular_separation_deg(p.0, p.1, q.0, q.1),
            c.acos().to_degrees(),
            max_relative = 1e-13
        );
        assert_relative_eq!(
            angular_separation_rad(
                p.0.to_radians(),
                p.1.to_radians(),
                q.0.to_radians(),
                q.1.to_radians()
            ),
            c.acos(),
            max_relative = 1e-13
        );
    }

    #[test]
    fn flat_distance_with_and_without_wrap() {
        assert_abs_diff_eq!(
            flat_lb_distance_deg(10.0, 1.0, 13.0, 5.0, false),
            5.0,
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            flat_lb_distance_deg(359.0, 0.0, 1.0, 0.0, false),
            358.0,
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            flat_lb_distance_deg(359.0, 0.0, 1.0, 0.0, true),
            2.0,
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            flat_lb_distance_deg(1.0, 3.0, 358.0, -1.0, true),
            5.0,
            epsilon = 1e-12
        );
        // No cos(b) factor: at b = 60 a 2-degree step in l is still 2.
        assert_abs_diff_eq!(
            flat_lb_distance_deg(0.0, 60.0, 2.0, 60.0, true),
            2.0,
            epsilon = 1e-12
        );
    }

    #[test]
    fn cap_solid_angle_closed_forms() {
        assert_eq!(cap_solid_angle_sr(0.0).unwrap(), 0.0);
        assert_relative_eq!(
            cap_solid_angle_sr(90.0).unwrap(),
            2.0 * PI,
            max_relative = 1e-15
        );
        assert_relative_eq!(
            cap_solid_angle_sr(180.0).unwrap(),
            4.0 * PI,
            max_relative = 1e-15
        );
        assert_relative_eq!(
            cap_solid_angle_sr(60.0).unwrap(),
            2.0 * PI * (1.0 - 0.5),
            max_relative = 1e-14
        );
        // Small caps: pi r^2 (1 - r^2/12) to O(r^6).
        let r = 1e-3f64.to_radians();
        assert_relative_eq!(
            cap_solid_angle_sr(1e-3).unwrap(),
            PI * r * r * (1.0 - r * r / 12.0),
            max_relative = 1e-14
        );
        // 0.5-degree ROI (Fermi-LAT dwarfs): 2 pi (1 - cos 0.5 deg) = 2.392444437413786e-4 sr (mpmath).
        assert_relative_eq!(
            cap_solid_angle_sr(0.5).unwrap(),
            2.392_444_437_413_786e-4,
            max_relative = 1e-14
        );
        for bad in [-1e-9, 180.1, f64::NAN, f64::INFINITY] {
            let e = cap_solid_angle_sr(bad).unwrap_err();
            assert!(e.to_string().contains("radius_deg"), "{e}");
        }
    }

    #[test]
    fn disc_membership() {
        let c = (10.0, 20.0);
        assert!(in_disc(c, 1.0, (10.0, 20.999)).unwrap());
        assert!(!in_disc(c, 1.0, (10.0, 21.001)).unwrap());
        // Near the pole, a large longitude difference can still be inside.
        assert!(in_disc((0.0, 89.5), 1.0, (180.0, 89.8)).unwrap());
        // Across the 0/360 seam.
        assert!(in_disc((359.9, 0.0), 0.5, (0.2, 0.0)).unwrap());
        assert!(in_disc(c, 180.0, (190.0, -20.0)).unwrap());
        assert!(in_disc(c, 0.0, c).unwrap());
        assert!(in_disc(c, f64::NAN, c).is_err());
        assert!(in_disc(c, 181.0, c).is_err());
        assert!(in_disc((f64::INFINITY, 0.0), 1.0, c).is_err());
        let e = in_disc(c, 1.0, (0.0, 91.0)).unwrap_err();
        assert!(e.to_string().contains("point latitude"), "{e}");
        assert!(sample_in_cap(&mut rng_from_seed(1), 0.0, -90.5, 1.0).is_err());
        assert!(sample_in_cap(&mut rng_from_seed(1), 0.0, 0.0, -1.0).is_err());
    }

    #[test]
    fn sphere_samples_are_uniform() {
        let mut rng = rng_from_seed(2024);
        let n = 40_000;
        let (mut high, mut first_quadrant, mut sum_z, mut sum_z2) = (0usize, 0usize, 0.0, 0.0);
        for _ in 0..n {
            let (l, b) = sample_sphere(&mut rng);
            assert!((0.0..360.0).contains(&l) && (-90.0..=90.0).contains(&b));
            if b.abs() > 30.0 {
                high += 1;
            }
            if l < 90.0 {
                first_quadrant += 1;
            }
            let z = b.to_radians().sin();
            sum_z += z;
            sum_z2 += z * z;
        }
        let nf = n as f64;
        // P(|b| > 30) = 1 - sin 30 = 1/2; binomial sigma = sqrt(p(1-p)/n).
        let sigma = (0.25 / nf).sqrt();
        assert!((high as f64 / nf - 0.5).abs() < 4.0 * sigma, "{high}");
        let sigma_q = (0.25 * 0.75 / nf).sqrt();
        assert!((first_quadrant as f64 / nf - 0.25).abs() < 4.0 * sigma_q);
        // sin b uniform on [-1, 1]: mean 0 (sd 1/sqrt 3), E[z^2] = 1/3 (sd ~0.298).
        assert!((sum_z / nf).abs() < 4.0 / (3.0 * nf).sqrt());
        assert!((sum_z2 / nf - 1.0 / 3.0).abs() < 4.0 * 0.2982 / nf.sqrt());
    }

    #[test]
    fn cap_samples_have_uniform_cos_theta_and_azimuth() {
        let mut rng = rng_from_seed(7);
        let n = 20_000;
        for &(l0, b0, r) in &[
            (30.0, 45.0, 10.0f64),
            (200.0, -89.9, 60.0),
            (0.0, 0.0, 150.0),
            (90.0, 90.0, 0.5),
        ] {
            let cos_r = r.to_radians().cos();
            let centre = lb_to_unit(l0, b0);
            let (mut sum_c, mut sum_e, mut sum_n) = (0.0, 0.0, 0.0);
            for _ in 0..n {
                let (l, b) = sample_in_cap(&mut rng, l0, b0, r).unwrap();
                assert!(angular_separation_deg(l0, b0, l, b) <= r + 1e-9);
                let p = lb_to_unit(l, b);
                sum_c += dot(centre, p);
                // Components along the local east and north directions.
                let (sl, cl) = f64::to_radians(l0).sin_cos();
                let (sb, cb) = f64::to_radians(b0).sin_cos();
                sum_e += dot([-sl, cl, 0.0], p);
                sum_n += dot([-sb * cl, -sb * sl, cb], p);
            }
            let nf = n as f64;
            // cos(theta) ~ U[cos r, 1]: mean (1 + cos r)/2, sd (1 - cos r)/sqrt 12.
            let sd = (1.0 - cos_r) / 12f64.sqrt();
            assert!(((sum_c / nf) - 0.5 * (1.0 + cos_r)).abs() < 4.0 * sd / nf.sqrt());
            // Uniform azimuth: no net offset east or north (sd of each <= sin r / sqrt 2).
            let sd_t = r.to_radians().min(PI / 2.0).sin() / 2f64.sqrt();
            assert!((sum_e / nf).abs() < 4.0 * sd_t / nf.sqrt());
            assert!((sum_n / nf).abs() < 4.0 * sd_t / nf.sqrt());
        }
    }

    #[test]
    fn full_cap_is_the_sphere() {
        let mut rng = rng_from_seed(11);
        let n = 20_000;
        let high = (0..n)
            .filter(|_| {
                sample_in_cap(&mut rng, 123.0, -40.0, 180.0)
                    .unwrap()
                    .1
                    .abs()
                    > 30.0
            })
            .count();
        let sigma = (0.25 / n as f64).sqrt();
        assert!((high as f64 / n as f64 - 0.5).abs() < 4.0 * sigma);
        // Zero radius returns the centre.
        let (l, b) = sample_in_cap(&mut rng, -20.0, 33.0, 0.0).unwrap();
        assert_abs_diff_eq!(l, 340.0, epsilon = 1e-12);
        assert_abs_diff_eq!(b, 33.0, epsilon = 1e-12);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn round_trip_is_exact_to_1e10_deg(ra in 0.0f64..360.0, dec in -90.0f64..=90.0) {
            let (l, b) = icrs_to_galactic(ra, dec);
            prop_assert!((0.0..360.0).contains(&l) && (-90.0..=90.0).contains(&b));
            let (ra2, dec2) = galactic_to_icrs(l, b);
            prop_assert!(angular_separation_deg(ra, dec, ra2, dec2) < 1e-10);
            prop_assert!((dec2 - dec).abs() < 1e-10);
            // Longitude is well defined away from the poles.
            prop_assert!(wrap_pm180_deg(ra2 - ra).abs() * dec.to_radians().cos() < 1e-10);
            let (l3, b3) = icrs_to_galactic(ra2, dec2);
            prop_assert!(angular_separation_deg(l, b, l3, b3) < 1e-10);
        }

        #[test]
        fn rotations_preserve_separations(
            ra1 in 0.0f64..360.0, dec1 in -90.0f64..=90.0,
            ra2 in 0.0f64..360.0, dec2 in -90.0f64..=90.0,
        ) {
            let before = angular_separation_deg(ra1, dec1, ra2, dec2);
            let (l1, b1) = icrs_to_galactic(ra1, dec1);
            let (l2, b2) = icrs_to_galactic(ra2, dec2);
            prop_assert!((angular_separation_deg(l1, b1, l2, b2) - before).abs() < 1e-10);
            let (x1, y1) = galactic_to_icrs(ra1, dec1);
            let (x2, y2) = galactic_to_icrs(ra2, dec2);
            prop_assert!((angular_separation_deg(x1, y1, x2, y2) - before).abs() < 1e-10);
        }

        #[test]
        fn separation_is_symmetric_bounded_and_matches_dot(
            l1 in -720.0f64..720.0, b1 in -90.0f64..=90.0,
            l2 in -720.0f64..720.0, b2 in -90.0f64..=90.0,
        ) {
            let s = angular_separation_deg(l1, b1, l2, b2);
            prop_assert!((0.0..=180.0).contains(&s));
            prop_assert!((s - angular_separation_deg(l2, b2, l1, b1)).abs() < 1e-12);
            let c = dot(lb_to_unit(l1, b1), lb_to_unit(l2, b2)).clamp(-1.0, 1.0);
            // acos is ill-conditioned near 0 and 180: compare where it is not.
            if c.abs() < 0.99 {
                prop_assert!((s - c.acos().to_degrees()).abs() < 1e-10);
            }
            // Longitudes differing by full turns are the same point.
            prop_assert!(angular_separation_deg(l1, b1, l1 + 360.0, b1) < 1e-12);
        }

        #[test]
        fn cap_samples_stay_inside(
            l0 in 0.0f64..360.0, b0 in -90.0f64..=90.0, r in 0.0f64..=180.0, seed in 0u64..1000,
        ) {
            let mut rng = rng_from_seed(seed);
            for _ in 0..16 {
                let (l, b) = sample_in_cap(&mut rng, l0, b0, r).unwrap();
                prop_assert!((0.0..360.0).contains(&l) && (-90.0..=90.0).contains(&b));
                prop_assert!(angular_separation_deg(l0, b0, l, b) <= r + 1e-9);
                prop_assert!(in_disc((l0, b0), (r + 1e-9).min(180.0), (l, b)).unwrap());
            }
        }
    }
}
