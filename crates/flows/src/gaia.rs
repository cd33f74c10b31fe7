//! Gaia-like astrometry to Galactocentric phase space.
//!
//! # Input
//! A CSV table with the Gaia archive column names `ra`, `dec` (deg, ICRS),
//! `parallax` (mas), `pmra` ($\mu_{\alpha*} = \mu_\alpha\cos\delta$, mas/yr), `pmdec`
//! (mas/yr), `radial_velocity` (km/s), their errors `parallax_error`,
//! `pmra_error`, `pmdec_error`, `radial_velocity_error`, and optionally
//! `phot_g_mean_mag`. Every listed cell must hold a finite number (select
//! stars with radial velocities before export).
//!
//! # Transformation
//! Distance $d = 1/\varpi$ (kpc for $\varpi$ in mas). The heliocentric ICRS
//! position is $d\,\hat r(\alpha,\delta)$ and the velocity
//! $v_r\hat r + k d(\mu_{\alpha*}\hat e_\alpha + \mu_\delta\hat e_\delta)$ with
//! $k = 4.740470463533348$ km s⁻¹ per (mas yr⁻¹ kpc) (one au per year),
//! $\hat e_\alpha = (-\sin\alpha, \cos\alpha, 0)$ and
//! $\hat e_\delta = (-\sin\delta\cos\alpha, -\sin\delta\sin\alpha, \cos\delta)$.
//! The Galactocentric frame is the one of astropy's `Galactocentric` (v4.0
//! parameters), rebuilt here: rotate ICRS so that $x$ points to Sgr A* at
//! $(\alpha, \delta) = (266.4051^\circ, -28.936175^\circ)$ (Reid & Brunthaler 2004),
//! roll about $x$ by $58.5986320306^\circ$ so that the North Galactic Pole lies in
//! the $x$–$z$ plane, shift by the Sun–centre distance $R_0 = 8.122$ kpc (GRAVITY
//! Collaboration 2018, A&A 615, L15) and tilt about $y$ by $\arcsin(z_\odot/R_0)$
//! with $z_\odot = 20.8$ pc (Bennett & Bovy 2019, MNRAS 482, 1417). The Sun then
//! sits at $(-\sqrt{R_0^2 - z_\odot^2}, 0, z_\odot)$, the Galactic centre at the
//! origin, and the solar velocity $(12.9, 245.6, 7.78)$ km/s (Drimmel & Poggio
//! 2018, RNAAS 2, 210) is added. $x$ points from the Sun towards the centre,
//! $y$ in the direction of rotation, $z$ to the North Galactic Pole.
//!
//! # Quality cuts ([`QualityCuts`])
//! $\varpi/\sigma_\varpi > 5$ (so $1/\varpi$ is a fair distance), $d < 4$ kpc, and
//! optionally an absolute-magnitude cut $M_G = G + 5\log_{10}\varpi_{\rm mas} - 10 <
//! M_{\max}$ (default $1.5$): the DR3 radial-velocity sample is roughly complete
//! to $G \approx 14.5$, and at 4 kpc the distance modulus is $13.0$, so stars
//! brighter than $M_G = 1.5$ are seen throughout the 4 kpc volume (extinction
//! ignored). The magnitude cut is applied only when the table has
//! `phot_g_mean_mag`.
//!
//! ```
//! use darkprobe_flows::gaia::{GalactocentricFrame, GaiaRow};
//! let frame = GalactocentricFrame::default();
//! // A star at rest relative to the Sun, 1 kpc away, has the solar velocity.
//! let row = GaiaRow::exact(10.0, 20.0, 1.0, 0.0, 0.0, 0.0);
//! let star = frame.to_galactocentric(&row);
//! assert!((star.v[1] - 245.6).abs() < 1e-9);
//! ```

// Index loops are the clearest form of the small fixed-size linear algebra here, and
// `!(x > 0.0)` comparisons deliberately reject NaN as well.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use crate::mock::Star;
use crate::model::{Result, Vec3};
use darkprobe_core::error::{Error, Location};
use darkprobe_core::rng::rng_for_index;
use darkprobe_core::sky::{radec_to_unit, unit_to_radec};
use darkprobe_core::table::{CsvWriter, Table, TableOptions};
use rand::Rng;
use rand_distr::StandardNormal;
use std::path::Path;

/// km/s per (mas/yr × kpc): one astronomical unit per Julian year.
pub const K_KM_S_PER_MAS_YR_KPC: f64 = 4.740_470_463_533_348;

/// One star of a Gaia-like catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaiaRow {
    /// Right ascension (deg, ICRS).
    pub ra_deg: f64,
    /// Declination (deg, ICRS).
    pub dec_deg: f64,
    /// Parallax (mas).
    pub parallax_mas: f64,
    /// Parallax error (mas).
    pub parallax_error_mas: f64,
    /// Proper motion in right ascension times cos(dec) (mas/yr).
    pub pmra_mas_yr: f64,
    /// Its error (mas/yr).
    pub pmra_error_mas_yr: f64,
    /// Proper motion in declination (mas/yr).
    pub pmdec_mas_yr: f64,
    /// Its error (mas/yr).
    pub pmdec_error_mas_yr: f64,
    /// Line-of-sight velocity (km/s).
    pub radial_velocity_km_s: f64,
    /// Its error (km/s).
    pub radial_velocity_error_km_s: f64,
    /// Apparent G magnitude, if available.
    pub phot_g_mean_mag: Option<f64>,
}

impl GaiaRow {
    /// A row with the given values and nominal small errors
    /// (0.01 mas, 0.01 mas/yr, 0.1 km/s) and no magnitude.
    pub fn exact(
        ra_deg: f64,
        dec_deg: f64,
        parallax_mas: f64,
        pmra_mas_yr: f64,
        pmdec_mas_yr: f64,
        radial_velocity_km_s: f64,
    ) -> Self {
        Self {
            ra_deg,
            dec_deg,
            parallax_mas,
            parallax_error_mas: 0.01,
            pmra_mas_yr,
            pmra_error_mas_yr: 0.01,
            pmdec_mas_yr,
            pmdec_error_mas_yr: 0.01,
            radial_velocity_km_s,
            radial_velocity_error_km_s: 0.1,
            phot_g_mean_mag: None,
        }
    }

    /// Distance $1/\varpi$ in kpc.
    pub fn distance_kpc(&self) -> f64 {
        1.0 / self.parallax_mas
    }

    /// Absolute magnitude $G + 5\log_{10}\varpi_{\rm mas} - 10$, if $G$ is known.
    pub fn abs_mag_g(&self) -> Option<f64> {
        self.phot_g_mean_mag
            .map(|g| g + 5.0 * self.parallax_mas.log10() - 10.0)
    }
}

type Mat3 = [[f64; 3]; 3];

fn matmul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

fn matvec(a: &Mat3, v: Vec3) -> Vec3 {
    [0, 1, 2].map(|i| a[i][0] * v[0] + a[i][1] * v[1] + a[i][2] * v[2])
}

fn mat_t_vec(a: &Mat3, v: Vec3) -> Vec3 {
    [0, 1, 2].map(|i| a[0][i] * v[0] + a[1][i] * v[1] + a[2][i] * v[2])
}

/// Passive (coordinate) rotation by `angle_rad` about axis 0, 1 or 2.
fn rotation(angle_rad: f64, axis: usize) -> Mat3 {
    let (s, c) = angle_rad.sin_cos();
    match axis {
        0 => [[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]],
        1 => [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]],
        _ => [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

/// Parameters of the Galactocentric frame (defaults: astropy v4.0).
///
/// ```
/// use darkprobe_flows::gaia::{GalactocentricFrame, GaiaRow};
/// let frame = GalactocentricFrame::default();
/// // Sgr A* at R0 is the origin of the frame.
/// let gc = frame.to_galactocentric(&GaiaRow::exact(266.4051, -28.936175, 1.0 / 8.122, 0.0, 0.0, 0.0));
/// assert!(gc.x.iter().all(|c| c.abs() < 1e-12));
/// // The inverse map recovers the astrometry.
/// let row = frame.to_astrometry(&gc).unwrap();
/// assert!((row.parallax_mas - 1.0 / 8.122).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GalactocentricFrame {
    /// ICRS right ascension of the Galactic centre (deg).
    pub galcen_ra_deg: f64,
    /// ICRS declination of the Galactic centre (deg).
    pub galcen_dec_deg: f64,
    /// Sun–centre distance $R_0$ (kpc).
    pub r0_kpc: f64,
    /// Height of the Sun above the plane (kpc).
    pub z_sun_kpc: f64,
    /// Solar velocity in the Galactocentric frame (km/s).
    pub v_sun_km_s: Vec3,
    /// Roll angle about the Sun–centre line that puts the North Galactic Pole
    /// in the $x$–$z$ plane (deg).
    pub roll0_deg: f64,
}

impl Default for GalactocentricFrame {
    fn default() -> Self {
        Self {
            galcen_ra_deg: 266.4051,
            galcen_dec_deg: -28.936175,
            r0_kpc: 8.122,
            z_sun_kpc: 0.0208,
            v_sun_km_s: [12.9, 245.6, 7.78],
            roll0_deg: 58.598_632_030_6,
        }
    }
}

impl GalactocentricFrame {
    /// Rotation matrix $A$ (ICRS to Galactocentric axes) and offset $\mathbf b$,
    /// so that $\mathbf x_{\rm gc} = A\mathbf x_{\rm icrs} + \mathbf b$.
    pub fn matrix_offset(&self) -> (Mat3, Vec3) {
        let d2r = std::f64::consts::PI / 180.0;
        let m2 = rotation(self.galcen_ra_deg * d2r, 2);
        let m1 = rotation(-self.galcen_dec_deg * d2r, 1);
        let m0 = rotation(self.roll0_deg * d2r, 0);
        let r = matmul(&m0, &matmul(&m1, &m2));
        let h = rotation(-(self.z_sun_kpc / self.r0_kpc).asin(), 1);
        let a = matmul(&h, &r);
        let t = matvec(&h, [self.r0_kpc, 0.0, 0.0]);
        (a, [-t[0], -t[1], -t[2]])
    }

    /// Validates the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a non-finite value or $|z_\odot| \ge R_0$.
    pub fn check(&self) -> Result<()> {
        let vals = [
            ("galcen_ra_deg", self.galcen_ra_deg),
            ("galcen_dec_deg", self.galcen_dec_deg),
            ("r0_kpc", self.r0_kpc),
            ("z_sun_kpc", self.z_sun_kpc),
            ("roll0_deg", self.roll0_deg),
        ];
        for (n, v) in vals {
            if !v.is_finite() {
                return Err(Error::invalid_param(n, v, "finite"));
            }
        }
        if !(self.r0_kpc > 0.0 && self.z_sun_kpc.abs() < self.r0_kpc) {
            return Err(Error::invalid_param(
                "z_sun_kpc",
                self.z_sun_kpc,
                "|z_sun| < r0_kpc, r0_kpc > 0",
            ));
        }
        if self.v_sun_km_s.iter().any(|c| !c.is_finite()) {
            return Err(Error::invalid_param(
                "v_sun_km_s",
                format!("{:?}", self.v_sun_km_s),
                "finite",
            ));
        }
        Ok(())
    }

    /// Heliocentric ICRS position (kpc) and velocity (km/s) of a row.
    pub fn to_icrs_cartesian(row: &GaiaRow) -> (Vec3, Vec3) {
        let d = row.distance_kpc();
        let r_hat = radec_to_unit(row.ra_deg, row.dec_deg);
        let (sa, ca) = row.ra_deg.to_radians().sin_cos();
        let (sd, cd) = row.dec_deg.to_radians().sin_cos();
        let e_a = [-sa, ca, 0.0];
        let e_d = [-sd * ca, -sd * sa, cd];
        let kd = K_KM_S_PER_MAS_YR_KPC * d;
        let x = r_hat.map(|c| d * c);
        let v = [0, 1, 2].map(|i| {
            row.radial_velocity_km_s * r_hat[i]
                + kd * (row.pmra_mas_yr * e_a[i] + row.pmdec_mas_yr * e_d[i])
        });
        (x, v)
    }

    /// Galactocentric position and velocity of a row (no validation; see
    /// [`GalactocentricFrame::transform`]).
    pub fn to_galactocentric(&self, row: &GaiaRow) -> Star {
        let (a, b) = self.matrix_offset();
        let (x, v) = Self::to_icrs_cartesian(row);
        let xg = matvec(&a, x);
        let vg = matvec(&a, v);
        Star {
            x: [xg[0] + b[0], xg[1] + b[1], xg[2] + b[2]],
            v: [0, 1, 2].map(|i| vg[i] + self.v_sun_km_s[i]),
        }
    }

    /// The inverse map: the noiseless astrometry of a Galactocentric star
    /// (errors set as in [`GaiaRow::exact`], no magnitude).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a star at the Sun's position or with
    /// non-finite coordinates.
    pub fn to_astrometry(&self, star: &Star) -> Result<GaiaRow> {
        if star.x.iter().chain(star.v.iter()).any(|c| !c.is_finite()) {
            return Err(Error::invalid_param(
                "star",
                format!("{star:?}"),
                "finite coordinates",
            ));
        }
        let (a, b) = self.matrix_offset();
        let x = mat_t_vec(&a, [0, 1, 2].map(|i| star.x[i] - b[i]));
        let v = mat_t_vec(&a, [0, 1, 2].map(|i| star.v[i] - self.v_sun_km_s[i]));
        let d = (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
        if !(d > 0.0) {
            return Err(Error::invalid_param(
                "star position",
                format!("{:?}", star.x),
                "not at the Sun",
            ));
        }
        let r_hat = x.map(|c| c / d);
        let (ra, dec) = unit_to_radec(r_hat);
        let (sa, ca) = ra.to_radians().sin_cos();
        let (sd, cd) = dec.to_radians().sin_cos();
        let e_a = [-sa, ca, 0.0];
        let e_d = [-sd * ca, -sd * sa, cd];
        let dot = |p: Vec3, q: Vec3| p[0] * q[0] + p[1] * q[1] + p[2] * q[2];
        let kd = K_KM_S_PER_MAS_YR_KPC * d;
        Ok(GaiaRow::exact(
            ra,
            dec,
            1.0 / d,
            dot(v, e_a) / kd,
            dot(v, e_d) / kd,
            dot(v, r_hat),
        ))
    }

    /// Galactocentric stars from rows, after validating the frame.
    ///
    /// # Errors
    /// An invalid frame; [`Error::InvalidParameter`] naming the row index for
    /// a non-positive parallax.
    pub fn transform(&self, rows: &[GaiaRow]) -> Result<Vec<Star>> {
        self.check()?;
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                if !(r.parallax_mas > 0.0) {
                    return Err(Error::invalid_param(
                        format!("parallax of row {i}"),
                        r.parallax_mas,
                        "> 0 mas",
                    ));
                }
                Ok(self.to_galactocentric(r))
            })
            .collect()
    }
}

/// Quality cuts of the pipeline.
///
/// ```
/// use darkprobe_flows::gaia::{GaiaRow, QualityCuts};
/// let cuts = QualityCuts::default();
/// let mut row = GaiaRow::exact(10.0, 20.0, 0.5, 1.0, 2.0, 3.0); // 2 kpc, S/N 50
/// assert!(cuts.passes(&row));
/// row.phot_g_mean_mag = Some(15.0); // M_G = 15 - 5 log10(2000) + 5 = 3.5: too faint
/// assert!(!cuts.passes(&row));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityCuts {
    /// Minimum parallax over its error (default 5).
    pub min_parallax_over_error: f64,
    /// Maximum heliocentric distance $1/\varpi$ in kpc (default 4).
    pub max_distance_kpc: f64,
    /// Maximum absolute magnitude $M_G$ (default `Some(1.5)`); applied only to
    /// rows with a G magnitude.
    pub max_abs_mag_g: Option<f64>,
}

impl Default for QualityCuts {
    fn default() -> Self {
        Self {
            min_parallax_over_error: 5.0,
            max_distance_kpc: 4.0,
            max_abs_mag_g: Some(1.5),
        }
    }
}

impl QualityCuts {
    /// Whether a row passes the cuts.
    pub fn passes(&self, row: &GaiaRow) -> bool {
        if !(row.parallax_mas > 0.0 && row.parallax_error_mas > 0.0) {
            return false;
        }
        if row.parallax_mas / row.parallax_error_mas <= self.min_parallax_over_error {
            return false;
        }
        if row.distance_kpc() >= self.max_distance_kpc {
            return false;
        }
        match (self.max_abs_mag_g, row.abs_mag_g()) {
            (Some(m), Some(mg)) => mg < m,
            _ => true,
        }
    }
}

/// Required column names of a Gaia-like CSV file.
pub const GAIA_COLUMNS: [&str; 10] = [
    "ra",
    "dec",
    "parallax",
    "parallax_error",
    "pmra",
    "pmra_error",
    "pmdec",
    "pmdec_error",
    "radial_velocity",
    "radial_velocity_error",
];

/// Reads a Gaia-like CSV file (see the module docs for the columns).
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming file, line, column and text for a
/// value that is not a finite number, a declination outside $[-90, 90]$ or a
/// negative error; [`Error::InvalidParameter`] for a missing column;
/// [`Error::Empty`] for a file without rows.
pub fn read_gaia_csv(path: impl AsRef<Path>) -> Result<Vec<GaiaRow>> {
    let path = path.as_ref();
    let table = Table::read(path, &TableOptions::default())?;
    if table.n_rows() == 0 {
        return Err(Error::empty(
            format!("Gaia file '{}'", path.display()),
            format!("provide rows with the columns {}", GAIA_COLUMNS.join(",")),
        ));
    }
    let cols: Vec<Vec<f64>> = GAIA_COLUMNS
        .iter()
        .map(|c| table.column_f64(*c))
        .collect::<Result<_>>()?;
    let has_g = table
        .column_names()
        .is_some_and(|n| n.iter().any(|c| c == "phot_g_mean_mag"));
    let g = if has_g {
        Some(table.column_f64("phot_g_mean_mag")?)
    } else {
        None
    };
    // Quotes the cell as written in the file, not the re-formatted number.
    let bad = |row: usize, col: &str, v: f64, reason: &str| {
        let line = table.line_of(row).unwrap_or(0);
        let text = table
            .column_index(col)
            .ok()
            .and_then(|c| table.cell(row, c))
            .map_or_else(|| v.to_string(), |t| t.trim().to_string());
        Error::parse(
            Location::new(path.display().to_string(), line).with_column(col),
            &text,
            reason,
        )
    };
    let mut rows = Vec::with_capacity(table.n_rows());
    for i in 0..table.n_rows() {
        if !(-90.0..=90.0).contains(&cols[1][i]) {
            return Err(bad(
                i,
                "dec",
                cols[1][i],
                "declination must lie in [-90, 90] deg",
            ));
        }
        for j in [3, 5, 7, 9] {
            if cols[j][i] < 0.0 {
                return Err(bad(i, GAIA_COLUMNS[j], cols[j][i], "an error must be >= 0"));
            }
        }
        rows.push(GaiaRow {
            ra_deg: cols[0][i],
            dec_deg: cols[1][i],
            parallax_mas: cols[2][i],
            parallax_error_mas: cols[3][i],
            pmra_mas_yr: cols[4][i],
            pmra_error_mas_yr: cols[5][i],
            pmdec_mas_yr: cols[6][i],
            pmdec_error_mas_yr: cols[7][i],
            radial_velocity_km_s: cols[8][i],
            radial_velocity_error_km_s: cols[9][i],
            phot_g_mean_mag: g.as_ref().map(|g| g[i]),
        });
    }
    Ok(rows)
}

/// Writes rows as a Gaia-like CSV file (with `phot_g_mean_mag` when every row has one).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_gaia_csv(path: impl AsRef<Path>, rows: &[GaiaRow]) -> Result<()> {
    let with_g = !rows.is_empty() && rows.iter().all(|r| r.phot_g_mean_mag.is_some());
    let mut header: Vec<&str> = GAIA_COLUMNS.to_vec();
    if with_g {
        header.push("phot_g_mean_mag");
    }
    let mut w = CsvWriter::create(path, &header)?;
    for r in rows {
        let mut vals = vec![
            r.ra_deg,
            r.dec_deg,
            r.parallax_mas,
            r.parallax_error_mas,
            r.pmra_mas_yr,
            r.pmra_error_mas_yr,
            r.pmdec_mas_yr,
            r.pmdec_error_mas_yr,
            r.radial_velocity_km_s,
            r.radial_velocity_error_km_s,
        ];
        if let (true, Some(g)) = (with_g, r.phot_g_mean_mag) {
            vals.push(g);
        }
        w.write_row_f64(&vals)?;
    }
    w.finish()
}

/// Error model of [`synthetic_rows`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticErrors {
    /// Parallax error (mas).
    pub parallax_error_mas: f64,
    /// Proper-motion error, both components (mas/yr).
    pub pm_error_mas_yr: f64,
    /// Radial-velocity error (km/s).
    pub rv_error_km_s: f64,
    /// Whether to scatter the observables by their errors (otherwise the
    /// rows hold the exact values and only quote the errors).
    pub add_noise: bool,
    /// Absolute magnitudes are drawn uniformly in this range.
    pub abs_mag_range: (f64, f64),
}

impl Default for SyntheticErrors {
    fn default() -> Self {
        Self {
            parallax_error_mas: 0.02,
            pm_error_mas_yr: 0.02,
            rv_error_km_s: 1.0,
            add_noise: false,
            abs_mag_range: (-2.0, 4.0),
        }
    }
}

/// A Gaia-like catalogue of Galactocentric `stars` (e.g. a mock around the
/// Sun): the inverse transform of the frame, errors from `errors`, and a G
/// magnitude from a uniformly drawn absolute magnitude. Star `i` draws from
/// `seed_for_index(seed, i)`.
///
/// # Errors
/// As [`GalactocentricFrame::to_astrometry`]; an invalid frame.
pub fn synthetic_rows(
    stars: &[Star],
    frame: &GalactocentricFrame,
    errors: &SyntheticErrors,
    seed: u64,
) -> Result<Vec<GaiaRow>> {
    frame.check()?;
    stars
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut row = frame.to_astrometry(s)?;
            let mut rng = rng_for_index(seed, i as u64);
            let (lo, hi) = errors.abs_mag_range;
            let m_abs = lo + (hi - lo) * rng.random::<f64>();
            row.phot_g_mean_mag = Some(m_abs - 5.0 * row.parallax_mas.log10() + 10.0);
            row.parallax_error_mas = errors.parallax_error_mas;
            row.pmra_error_mas_yr = errors.pm_error_mas_yr;
            row.pmdec_error_mas_yr = errors.pm_error_mas_yr;
            row.radial_velocity_error_km_s = errors.rv_error_km_s;
            if errors.add_noise {
                let mut n = || -> f64 { rng.sample(StandardNormal) };
                row.parallax_mas += errors.parallax_error_mas * n();
                row.pmra_mas_yr += errors.pm_error_mas_yr * n();
                row.pmdec_mas_yr += errors.pm_error_mas_yr * n();
                row.radial_velocity_km_s += errors.rv_error_km_s * n();
            }
            Ok(row)
        })
        .collect()
}

/// The result of [`pipeline`].
#[derive(Debug, Clone, PartialEq)]
pub struct GaiaSample {
    /// Galactocentric stars passing the cuts.
    pub stars: Vec<Star>,
    /// The rows that passed, in the same order.
    pub rows: Vec<GaiaRow>,
    /// Rows read.
    pub n_read: usize,
}

/// Reads a Gaia-like CSV file, applies the quality cuts and transforms the
/// survivors to the Galactocentric frame.
///
/// # Errors
/// As [`read_gaia_csv`] and [`GalactocentricFrame::transform`];
/// [`Error::Empty`] when no star passes the cuts.
pub fn pipeline(
    path: impl AsRef<Path>,
    frame: &GalactocentricFrame,
    cuts: &QualityCuts,
) -> Result<GaiaSample> {
    let path = path.as_ref();
    let all = read_gaia_csv(path)?;
    let n_read = all.len();
    let rows: Vec<GaiaRow> = all.into_iter().filter(|r| cuts.passes(r)).collect();
    if rows.is_empty() {
        return Err(Error::empty(
            format!("stars of '{}' passing the quality cuts", path.display()),
            format!("{n_read} rows read; loosen the cuts {cuts:?}"),
        ));
    }
    let stars = frame.transform(&rows)?;
    Ok(GaiaSample {
        stars,
        rows,
        n_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{sample, select_sphere, Profile};
    use darkprobe_core::sky::{galactic_to_icrs, GALACTIC_TO_ICRS};

    fn close(a: Vec3, b: Vec3, tol: f64) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < tol)
    }

    #[test]
    fn sun_and_galactic_centre_conventions() {
        let f = GalactocentricFrame::default();
        let (_, b) = f.matrix_offset();
        let x_sun = -(8.122f64 * 8.122 - 0.0208 * 0.0208).sqrt();
        assert!(close(b, [x_sun, 0.0, 0.0208], 1e-12), "{b:?}");
        // A star 1 m from the Sun (parallax 3.1e16 mas) sits at the Sun.
        let near = f.to_galactocentric(&GaiaRow::exact(123.0, -45.0, 3.0857e16, 0.0, 0.0, 0.0));
        assert!(close(near.x, b, 1e-12));
        // Sgr A* at R0 maps to the origin.
        let gc = f.to_galactocentric(&GaiaRow::exact(
            266.4051,
            -28.936175,
            1.0 / 8.122,
            0.0,
            0.0,
            0.0,
        ));
        assert!(close(gc.x, [0.0; 3], 1e-12), "{:?}", gc.x);
        // Receding from the Sun towards the centre at 100 km/s: by hand,
        // v = v_sun + 100 (cos t, 0, -sin t) with sin t = z_sun / R0.
        let st = 0.0208 / 8.122;
        let ct = (1.0f64 - st * st).sqrt();
        let mover = f.to_galactocentric(&GaiaRow::exact(
            266.4051,
            -28.936175,
            1.0 / 8.122,
            0.0,
            0.0,
            100.0,
        ));
        let expect = [12.9 + 100.0 * ct, 245.6, 7.78 - 100.0 * st];
        assert!(close(mover.v, expect, 1e-9), "{:?} vs {expect:?}", mover.v);
    }

    #[test]
    fn roll_puts_the_galactic_pole_in_the_xz_plane() {
        // Before the tilt the NGP (the Galactic z axis, third column of the
        // Galactic-to-ICRS rotation) must have y = 0 and z > 0.
        let f = GalactocentricFrame {
            z_sun_kpc: 0.0,
            ..Default::default()
        };
        let (a, _) = f.matrix_offset();
        let ngp = [
            GALACTIC_TO_ICRS[0][2],
            GALACTIC_TO_ICRS[1][2],
            GALACTIC_TO_ICRS[2][2],
        ];
        let p = matvec(&a, ngp);
        // astropy's roll0 was derived with its own (FK5-based) Galactic frame:
        // agreement to ~1e-6 rad is expected.
        assert!(p[1].abs() < 2e-6 && p[2] > 0.999, "{p:?}");
        // The Galactocentric axes are the Galactic ones up to the ~0.05 deg
        // offset of Sgr A* from (l, b) = (0, 0) and the z_sun tilt.
        let f = GalactocentricFrame::default();
        let (a, _) = f.matrix_offset();
        for (l, b) in [(0.0, 0.0), (90.0, 0.0), (30.0, 40.0), (200.0, -60.0)] {
            let (ra, dec) = galactic_to_icrs(l, b);
            let d = matvec(&a, radec_to_unit(ra, dec));
            let (lr, br) = (f64::to_radians(l), f64::to_radians(b));
            let expect = [br.cos() * lr.cos(), br.cos() * lr.sin(), br.sin()];
            assert!(close(d, expect, 4e-3), "l={l} b={b}: {d:?} vs {expect:?}");
        }
    }

    #[test]
    fn round_trip_through_astrometry() {
        let f = GalactocentricFrame::default();
        let stars = sample(Profile::Hernquist, 1e11, 3.0, 400, 4).unwrap();
        for s in &stars {
            let row = f.to_astrometry(s).unwrap();
            assert!((0.0..360.0).contains(&row.ra_deg) && row.dec_deg.abs() <= 90.0);
            let back = f.to_galactocentric(&row);
            assert!(
                close(back.x, s.x, 1e-9 * (1.0 + crate::mock::norm(s.x))),
                "{back:?} vs {s:?}"
            );
            assert!(close(back.v, s.v, 1e-8), "{back:?} vs {s:?}");
        }
        let (_, sun) = f.matrix_offset();
        assert!(f
            .to_astrometry(&Star {
                x: sun,
                v: [0.0; 3]
            })
            .is_err());
        assert!(f
            .transform(&[GaiaRow::exact(1.0, 2.0, -0.1, 0.0, 0.0, 0.0)])
            .is_err());
        let bad = GalactocentricFrame {
            z_sun_kpc: 9.0,
            ..Default::default()
        };
        assert!(bad.transform(&[]).is_err());
    }

    #[test]
    fn synthetic_catalogue_through_the_pipeline() {
        let dir = std::env::temp_dir().join(format!("darkprobe-gaia-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = GalactocentricFrame::default();
        let (_, sun) = f.matrix_offset();
        let stars = sample(Profile::Hernquist, 1e11, 3.0, 60_000, 5).unwrap();
        let local = select_sphere(&stars, sun, 5.0).unwrap();
        assert!(local.len() > 300, "{}", local.len());
        let rows = synthetic_rows(&local, &f, &SyntheticErrors::default(), 6).unwrap();
        assert_eq!(
            rows,
            synthetic_rows(&local, &f, &SyntheticErrors::default(), 6).unwrap()
        );
        let path = dir.join("gaia.csv");
        write_gaia_csv(&path, &rows).unwrap();
        assert_eq!(read_gaia_csv(&path).unwrap(), rows);
        let cuts = QualityCuts::default();
        let out = pipeline(&path, &f, &cuts).unwrap();
        assert_eq!(out.n_read, rows.len());
        let expected: Vec<usize> = (0..rows.len()).filter(|&i| cuts.passes(&rows[i])).collect();
        assert_eq!(out.stars.len(), expected.len());
        assert!(!expected.is_empty() && expected.len() < rows.len());
        for (s, &i) in out.stars.iter().zip(&expected) {
            let d = [0, 1, 2].map(|j| s.x[j] - sun[j]);
            assert!(crate::mock::norm(d) < 4.0);
            assert!(rows[i].abs_mag_g().unwrap() < 1.5);
            assert!(close(s.x, local[i].x, 1e-9) && close(s.v, local[i].v, 1e-8));
        }
        // Noisy version: parallaxes scatter, so some stars fail the S/N cut.
        let noisy = SyntheticErrors {
            add_noise: true,
            parallax_error_mas: 0.06,
            ..Default::default()
        };
        let rows_n = synthetic_rows(&local, &f, &noisy, 6).unwrap();
        let diff = rows_n
            .iter()
            .zip(&rows)
            .filter(|(a, b)| a.parallax_mas != b.parallax_mas)
            .count();
        assert_eq!(diff, rows.len());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn malformed_files_name_file_line_and_value() {
        let dir = std::env::temp_dir().join(format!("darkprobe-gaia-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = GAIA_COLUMNS.join(",");
        let good = "10,20,1,0.01,1,0.01,2,0.01,30,1";
        let cases = [
            (
                "nan.csv",
                format!("{header}\n{good}\n10,20,abc,0.01,1,0.01,2,0.01,30,1\n"),
                vec!["nan.csv", "line 3", "parallax", "abc"],
            ),
            (
                "dec.csv",
                format!("{header}\n10,95,1,0.01,1,0.01,2,0.01,30,1\n"),
                vec!["dec.csv", "line 2", "dec", "95"],
            ),
            (
                "err.csv",
                format!("{header}\n10,20,1,-0.01,1,0.01,2,0.01,30,1\n"),
                vec!["err.csv", "line 2", "parallax_error", "-0.01"],
            ),
            ("missing.csv", "ra,dec\n1,2\n".to_string(), vec!["parallax"]),
            ("empty.csv", format!("{header}\n"), vec!["empty.csv"]),
        ];
        for (name, text, needles) in cases {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            let e = read_gaia_csv(&p).unwrap_err().to_string();
            for n in needles {
                assert!(e.contains(n), "{name}: '{e}' lacks '{n}'");
            }
        }
        // All stars cut away: a clear error.
        let p = dir.join("far.csv");
        std::fs::write(&p, format!("{header}\n10,20,0.1,0.01,1,0.01,2,0.01,30,1\n")).unwrap();
        let e = pipeline(&p, &GalactocentricFrame::default(), &QualityCuts::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("quality cuts"), "{e}");
        assert!(read_gaia_csv(dir.join("does-not-exist.csv")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
