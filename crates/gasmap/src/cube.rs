//! Map cubes: brightness-temperature maps in velocity bins on a Galactic
//! plate-carrée grid, with their sky coordinates.
//!
//! A [`MapCube`] holds an `Array3<f64>` indexed `[v, i_lat, i_lon]` (velocity
//! bin, latitude row, longitude column) and one [`LinearAxis`] per axis, the
//! FITS linear world-coordinate convention: the world coordinate of the
//! 0-based pixel index `i` is
//! $$ w(i) = \mathrm{CRVAL} + (i + 1 - \mathrm{CRPIX})\,\mathrm{CDELT}, $$
//! since FITS counts pixels from 1.
//!
//! # Longitudes
//! Longitudes are reported in $[0°, 360°)$: a cube written with
//! `CRVAL1 = -30` and one written with `CRVAL1 = 330` describe the same sky and
//! give the same [`MapCube::lon_deg`]. Longitude ranges ([`LonRange`]) are
//! arcs measured counter-clockwise from their start, so `300:350` and
//! `350:10` (which crosses $l = 0$) both work without wrap problems, and
//! `-60:-10` is the same arc as `300:350`.

use crate::model::Result;
use darkprobe_core::Error;
use ndarray::{Array3, ArrayView2};
use serde::{Deserialize, Serialize};

/// A linear world-coordinate axis (FITS `CTYPE`, `CRPIX`, `CRVAL`, `CDELT`,
/// `CUNIT`).
///
/// ```
/// use darkprobe_gasmap::cube::LinearAxis;
/// let ax = LinearAxis::new("GLON-CAR", 1.0, 350.0, -0.5, "deg").unwrap();
/// assert_eq!(ax.world(0.0), 350.0);
/// assert_eq!(ax.world(2.0), 349.0);
/// assert_eq!(ax.pixel(349.0), 2.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearAxis {
    /// Axis type, e.g. `GLON-CAR`, `GLAT-CAR`, `VRAD` or `BIN`.
    pub ctype: String,
    /// Reference pixel (1-based, FITS convention).
    pub crpix: f64,
    /// World coordinate at the reference pixel.
    pub crval: f64,
    /// World-coordinate step per pixel (non-zero; negative for longitude
    /// increasing to the left, as usual for Galactic maps).
    pub cdelt: f64,
    /// Unit of the world coordinate (`deg`, `km/s`, or empty).
    pub cunit: String,
}

impl LinearAxis {
    /// A checked axis.
    ///
    /// # Errors
    /// Non-finite `crpix`/`crval`, or a zero or non-finite `cdelt`.
    pub fn new(
        ctype: impl Into<String>,
        crpix: f64,
        crval: f64,
        cdelt: f64,
        cunit: impl Into<String>,
    ) -> Result<Self> {
        let ax = Self {
            ctype: ctype.into(),
            crpix,
            crval,
            cdelt,
            cunit: cunit.into(),
        };
        ax.check()?;
        Ok(ax)
    }

    /// An axis whose world coordinate is the 0-based bin index (`CTYPE = BIN`).
    pub fn bin_index() -> Self {
        Self {
            ctype: "BIN".into(),
            crpix: 1.0,
            crval: 0.0,
            cdelt: 1.0,
            cunit: String::new(),
        }
    }

    /// Checks the numbers of the axis.
    ///
    /// # Errors
    /// As [`LinearAxis::new`].
    pub fn check(&self) -> Result<()> {
        darkprobe_core::error::check_finite(&format!("{} CRPIX", self.ctype), self.crpix)?;
        darkprobe_core::error::check_finite(&format!("{} CRVAL", self.ctype), self.crval)?;
        if !(self.cdelt.is_finite() && self.cdelt != 0.0) {
            return Err(Error::invalid_param(
                format!("{} CDELT", self.ctype),
                self.cdelt,
                "a finite non-zero step",
            ));
        }
        Ok(())
    }

    /// World coordinate of the (fractional) 0-based pixel index `i`.
    pub fn world(&self, i: f64) -> f64 {
        self.crval + (i + 1.0 - self.crpix) * self.cdelt
    }

    /// Fractional 0-based pixel index of world coordinate `w` (no wrapping).
    pub fn pixel(&self, w: f64) -> f64 {
        (w - self.crval) / self.cdelt + self.crpix - 1.0
    }
}

/// Wraps a longitude into $[0, 360)$ degrees.
pub fn wrap_lon_deg(l: f64) -> f64 {
    let w = l.rem_euclid(360.0);
    if w >= 360.0 {
        0.0
    } else {
        w
    }
}

/// A Galactic-longitude arc `[start, end)` in degrees, running
/// counter-clockwise (increasing `l`) from `start` to `end`.
///
/// ```
/// use darkprobe_gasmap::cube::LonRange;
/// let train = LonRange::parse("300:340").unwrap();
/// assert!(train.contains(339.9) && !train.contains(340.0));
/// assert!(train.contains(-30.0)); // the same as 330 deg
/// assert_eq!(train.distance_deg(345.0), 5.0);
/// let across_zero = LonRange::parse("350:10").unwrap();
/// assert!(across_zero.contains(5.0) && across_zero.contains(355.0));
/// assert_eq!(across_zero.width_deg(), 20.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LonRange {
    /// Start of the arc, degrees in $[0, 360)$.
    pub start_deg: f64,
    /// End of the arc (exclusive), degrees in $[0, 360)$.
    pub end_deg: f64,
}

impl LonRange {
    /// The arc from `start_deg` to `end_deg` (any real numbers; wrapped).
    ///
    /// # Errors
    /// Non-finite ends, or an empty arc (`start == end` modulo 360).
    pub fn new(start_deg: f64, end_deg: f64) -> Result<Self> {
        if !(start_deg.is_finite() && end_deg.is_finite()) {
            return Err(Error::invalid_param(
                "longitude range",
                format!("{start_deg}:{end_deg}"),
                "finite degrees, e.g. 300:340",
            ));
        }
        let r = Self {
            start_deg: wrap_lon_deg(start_deg),
            end_deg: wrap_lon_deg(end_deg),
        };
        if r.start_deg == r.end_deg {
            return Err(Error::invalid_param(
                "longitude range",
                format!("{start_deg}:{end_deg}"),
                "a non-empty arc START:END in degrees, e.g. 300:340",
            ));
        }
        Ok(r)
    }

    /// Parses `START:END` in degrees (e.g. `300:340`, `-60:-20`, `350:10`).
    ///
    /// # Errors
    /// Text that is not two numbers separated by `:`, or an empty arc.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_param(
                "longitude range",
                format!("'{text}'"),
                "START:END in degrees, e.g. 300:340",
            )
        };
        let (a, b) = text.split_once(':').ok_or_else(bad)?;
        let a: f64 = a.trim().parse().map_err(|_| bad())?;
        let b: f64 = b.trim().parse().map_err(|_| bad())?;
        Self::new(a, b)
    }

    /// Angular width of the arc, degrees in $(0, 360)$.
    pub fn width_deg(&self) -> f64 {
        (self.end_deg - self.start_deg).rem_euclid(360.0)
    }

    /// Whether longitude `l` (any real, wrapped) lies in `[start, end)`.
    pub fn contains(&self, l: f64) -> bool {
        (l - self.start_deg).rem_euclid(360.0) < self.width_deg()
    }

    /// Angular distance in degrees from `l` to the nearest point of the arc
    /// (0 inside it).
    pub fn distance_deg(&self, l: f64) -> f64 {
        if self.contains(l) {
            return 0.0;
        }
        let to_start = (self.start_deg - l).rem_euclid(360.0);
        let from_end = (l - self.end_deg).rem_euclid(360.0);
        to_start.min(from_end)
    }
}

impl std::fmt::Display for LonRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.start_deg, self.end_deg)
    }
}

/// How [`MapCube::bin_velocity`] combines the channels of a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelCombine {
    /// Velocity-integrated intensity $W = \sum_c T_c\,|\Delta v_c|$ (K km/s
    /// when the velocity axis is in km/s).
    Integrate,
    /// Mean brightness temperature $\bar T = \frac{1}{n}\sum_c T_c$ (K).
    Mean,
}

/// Brightness-temperature maps in velocity bins (see the module docs).
///
/// ```
/// use darkprobe_gasmap::cube::{LinearAxis, MapCube};
/// let lon = LinearAxis::new("GLON-CAR", 1.0, 340.0, -0.25, "deg").unwrap();
/// let lat = LinearAxis::new("GLAT-CAR", 1.0, -0.5, 0.25, "deg").unwrap();
/// let cube = MapCube::new(ndarray::Array3::zeros((2, 5, 8)), lon, lat,
///     LinearAxis::bin_index(), "K").unwrap();
/// assert_eq!(cube.dim(), (2, 5, 8));
/// assert_eq!(cube.lon_deg(4), 339.0);
/// assert_eq!(cube.pixel_of(339.0, 0.0), Some((2, 4)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MapCube {
    data: Array3<f64>,
    lon: LinearAxis,
    lat: LinearAxis,
    vel: LinearAxis,
    bunit: String,
}

impl MapCube {
    /// A cube from its data (`[v, i_lat, i_lon]`) and axes.
    ///
    /// # Errors
    /// An empty data array or an invalid axis.
    pub fn new(
        data: Array3<f64>,
        lon: LinearAxis,
        lat: LinearAxis,
        vel: LinearAxis,
        bunit: impl Into<String>,
    ) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::empty(
                "map cube",
                "at least one velocity bin, latitude row and longitude column",
            ));
        }
        lon.check()?;
        lat.check()?;
        vel.check()?;
        Ok(Self {
            data,
            lon,
            lat,
            vel,
            bunit: bunit.into(),
        })
    }

    /// A cube with the same axes and unit as `self` and new data.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `data` has another shape.
    pub fn with_data(&self, data: Array3<f64>) -> Result<Self> {
        if data.dim() != self.dim() {
            return Err(Error::shape(
                "map cube data",
                format!("{:?}", self.dim()),
                format!("{:?}", data.dim()),
            ));
        }
        Ok(Self {
            data,
            ..self.clone()
        })
    }

    /// `(n_vel, n_lat, n_lon)`.
    pub fn dim(&self) -> (usize, usize, usize) {
        self.data.dim()
    }
    /// Number of velocity bins.
    pub fn n_vel(&self) -> usize {
        self.data.dim().0
    }
    /// Number of latitude rows.
    pub fn n_lat(&self) -> usize {
        self.data.dim().1
    }
    /// Number of longitude columns.
    pub fn n_lon(&self) -> usize {
        self.data.dim().2
    }
    /// The data, `[v, i_lat, i_lon]`.
    pub fn data(&self) -> &Array3<f64> {
        &self.data
    }
    /// Mutable data.
    pub fn data_mut(&mut self) -> &mut Array3<f64> {
        &mut self.data
    }
    /// Consumes the cube, returning its data.
    pub fn into_data(self) -> Array3<f64> {
        self.data
    }
    /// Plane `v` (`[i_lat, i_lon]`).
    ///
    /// # Errors
    /// `v >= n_vel`.
    pub fn plane(&self, v: usize) -> Result<ArrayView2<'_, f64>> {
        if v >= self.n_vel() {
            return Err(Error::invalid_param(
                "velocity bin",
                v,
                format!("< {}", self.n_vel()),
            ));
        }
        Ok(self.data.index_axis(ndarray::Axis(0), v))
    }
    /// The longitude axis (FITS axis 1).
    pub fn lon_axis(&self) -> &LinearAxis {
        &self.lon
    }
    /// The latitude axis (FITS axis 2).
    pub fn lat_axis(&self) -> &LinearAxis {
        &self.lat
    }
    /// The velocity-bin axis (FITS axis 3).
    pub fn vel_axis(&self) -> &LinearAxis {
        &self.vel
    }
    /// Data unit (FITS `BUNIT`), e.g. `K`.
    pub fn bunit(&self) -> &str {
        &self.bunit
    }

    /// Galactic longitude of column `i_lon`, degrees in $[0, 360)$.
    pub fn lon_deg(&self, i_lon: usize) -> f64 {
        wrap_lon_deg(self.lon.world(i_lon as f64))
    }
    /// Galactic latitude of row `i_lat`, degrees.
    pub fn lat_deg(&self, i_lat: usize) -> f64 {
        self.lat.world(i_lat as f64)
    }
    /// Velocity-axis coordinate (e.g. km/s) at the centre of bin `v`.
    pub fn velocity(&self, v: usize) -> f64 {
        self.vel.world(v as f64)
    }

    /// The `(i_lat, i_lon)` pixel containing `(l, b)` in degrees, if any.
    /// The longitude is matched modulo 360°.
    pub fn pixel_of(&self, l_deg: f64, b_deg: f64) -> Option<(usize, usize)> {
        if !(l_deg.is_finite() && b_deg.is_finite()) {
            return None;
        }
        let row = self.lat.pixel(b_deg).round();
        // Choose the 360-degree image of l closest to the grid's centre.
        let centre = self.lon.world((self.n_lon() as f64 - 1.0) / 2.0);
        let l = centre + (l_deg - centre + 180.0).rem_euclid(360.0) - 180.0;
        let col = self.lon.pixel(l).round();
        if row < 0.0 || col < 0.0 || row >= self.n_lat() as f64 || col >= self.n_lon() as f64 {
            return None;
        }
        Some((row as usize, col as usize))
    }

    /// Whether `other` has the same shape and sky grid (longitude and latitude
    /// axes, to 1e-9 of a pixel) as `self`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming `what` and the difference.
    pub fn check_same_grid(&self, other: &MapCube, what: &str) -> Result<()> {
        if self.dim() != other.dim() {
            return Err(Error::shape(
                format!("{what} (velocity bins, latitude rows, longitude columns)"),
                format!("{:?}", self.dim()),
                format!("{:?}", other.dim()),
            ));
        }
        for (name, a, b, n) in [
            ("longitude axis", &self.lon, &other.lon, self.n_lon()),
            ("latitude axis", &self.lat, &other.lat, self.n_lat()),
        ] {
            let tol = 1e-9 * a.cdelt.abs();
            let same = (a.world(0.0) - b.world(0.0)).abs() <= tol
                && (a.world(n as f64 - 1.0) - b.world(n as f64 - 1.0)).abs() <= tol;
            let same = same
                || (name == "longitude axis"
                    && (wrap_lon_deg(a.world(0.0)) - wrap_lon_deg(b.world(0.0))).abs() <= tol
                    && (a.cdelt - b.cdelt).abs() <= tol);
            if !same {
                return Err(Error::shape(
                    format!("{what} {name}"),
                    format!("{} .. {}", a.world(0.0), a.world(n as f64 - 1.0)),
                    format!("{} .. {}", b.world(0.0), b.world(n as f64 - 1.0)),
                ));
            }
        }
        Ok(())
    }

    /// Number of non-finite (blank) pixels.
    pub fn n_blank(&self) -> usize {
        self.data.iter().filter(|x| !x.is_finite()).count()
    }

    /// Bins a spectral cube (many velocity channels on the velocity axis) into
    /// the bins `[edges[k], edges[k+1])` of the velocity coordinate.
    ///
    /// Each channel goes to the bin holding its centre; channels outside every
    /// bin are dropped. [`ChannelCombine::Integrate`] sums $T_c |\mathrm{CDELT3}|$
    /// (velocity-integrated intensity, unit `BUNIT km/s` when the axis is in
    /// km/s), [`ChannelCombine::Mean`] averages $T_c$. Blank (non-finite)
    /// channels are skipped in either sum; a pixel with no finite channel in a
    /// bin is NaN. The result's velocity axis is linear (centres of the bins,
    /// `CTYPE3` kept) when the edges are equally spaced, and the bin index
    /// (`CTYPE3 = BIN`) otherwise.
    ///
    /// # Errors
    /// Fewer than two edges, edges not strictly increasing or not finite, or a
    /// bin receiving no channel.
    pub fn bin_velocity(&self, edges: &[f64], how: ChannelCombine) -> Result<MapCube> {
        if edges.len() < 2 {
            return Err(Error::invalid_param(
                "velocity bin edges",
                edges.len(),
                "at least 2 edges",
            ));
        }
        if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Error::invalid_param(
                "velocity bin edges",
                format!("{edges:?}"),
                "finite and strictly increasing",
            ));
        }
        let n_bins = edges.len() - 1;
        let (n_chan, n_lat, n_lon) = self.dim();
        let mut assign: Vec<Vec<usize>> = vec![Vec::new(); n_bins];
        for c in 0..n_chan {
            let v = self.vel.world(c as f64);
            if let Some(k) = edges.windows(2).position(|w| v >= w[0] && v < w[1]) {
                assign[k].push(c);
            }
        }
        if let Some(k) = assign.iter().position(|a| a.is_empty()) {
            return Err(Error::invalid_param(
                "velocity bin",
                format!("[{}, {})", edges[k], edges[k + 1]),
                format!(
                    "a bin holding at least one channel centre (channels span {} .. {})",
                    self.vel.world(0.0),
                    self.vel.world(n_chan as f64 - 1.0)
                ),
            ));
        }
        let dv = self.vel.cdelt.abs();
        let mut out = Array3::from_elem((n_bins, n_lat, n_lon), f64::NAN);
        for (k, chans) in assign.iter().enumerate() {
            for r in 0..n_lat {
                for col in 0..n_lon {
                    let (mut s, mut n) = (0.0, 0usize);
                    for &c in chans {
                        let t = self.data[[c, r, col]];
                        if t.is_finite() {
                            s += t;
                            n += 1;
                        }
                    }
                    if n > 0 {
                        out[[k, r, col]] = match how {
                            ChannelCombine::Integrate => s * dv,
                            ChannelCombine::Mean => s / n as f64,
                        };
                    }
                }
            }
        }
        let widths: Vec<f64> = edges.windows(2).map(|w| w[1] - w[0]).collect();
        let uniform = widths
            .iter()
            .all(|w| (w - widths[0]).abs() <= 1e-9 * widths[0].abs());
        let vel = if uniform {
            LinearAxis::new(
                self.vel.ctype.clone(),
                1.0,
                0.5 * (edges[0] + edges[1]),
                widths[0],
                self.vel.cunit.clone(),
            )?
        } else {
            LinearAxis::bin_index()
        };
        let bunit = match how {
            ChannelCombine::Integrate if !self.vel.cunit.is_empty() => {
                format!("{} {}", self.bunit, self.vel.cunit)
            }
            _ => self.bunit.clone(),
        };
        MapCube::new(out, self.lon.clone(), self.lat.clone(), vel, bunit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn small_cube(n_chan: usize) -> MapCube {
        let lon = LinearAxis::new("GLON-CAR", 1.0, 350.0, -0.5, "deg").unwrap();
        let lat = LinearAxis::new("GLAT-CAR", 2.0, 0.0, 0.5, "deg").unwrap();
        let vel = LinearAxis::new("VRAD", 1.0, -10.0, 2.0, "km/s").unwrap();
        let data = Array3::from_shape_fn((n_chan, 3, 4), |(c, r, l)| {
            (c + 1) as f64 + 10.0 * r as f64 + 100.0 * l as f64
        });
        MapCube::new(data, lon, lat, vel, "K").unwrap()
    }

    #[test]
    fn pixel_world_round_trip_and_wrap() {
        let c = small_cube(2);
        for r in 0..3 {
            for l in 0..4 {
                assert_eq!(c.pixel_of(c.lon_deg(l), c.lat_deg(r)), Some((r, l)));
                // The same longitude given as a negative angle.
                assert_eq!(c.pixel_of(c.lon_deg(l) - 360.0, c.lat_deg(r)), Some((r, l)));
            }
        }
        assert_eq!(c.lat_deg(1), 0.0);
        assert_eq!(c.lon_deg(3), 348.5);
        assert_eq!(c.pixel_of(10.0, 0.0), None);
        assert_eq!(c.pixel_of(349.0, 5.0), None);
        // A grid written with negative longitudes gives the same coordinates.
        let neg = LinearAxis::new("GLON-CAR", 1.0, -10.0, -0.5, "deg").unwrap();
        let c2 = MapCube::new(
            c.data().clone(),
            neg,
            c.lat_axis().clone(),
            c.vel_axis().clone(),
            "K",
        )
        .unwrap();
        assert_eq!(c2.lon_deg(3), 348.5);
        c.check_same_grid(&c2, "test").unwrap();
    }

    #[test]
    fn lon_ranges() {
        let r = LonRange::parse("340:350").unwrap();
        assert!(r.contains(345.0) && !r.contains(350.0) && !r.contains(339.99));
        assert_relative_eq!(r.distance_deg(330.0), 10.0);
        assert_relative_eq!(r.distance_deg(355.0), 5.0);
        assert_relative_eq!(r.distance_deg(10.0), 20.0);
        let neg = LonRange::parse("-20:-10").unwrap();
        assert_eq!(neg, r);
        assert!(LonRange::parse("300").is_err());
        assert!(LonRange::parse("a:b").is_err());
        assert!(LonRange::parse("300:300").is_err());
        assert!(LonRange::parse("300:nan").is_err());
    }

    #[test]
    fn binning_integrates_and_averages() {
        // Channels at -10, -8, ..., 4 km/s (8 channels); bins [-10,-4), [-4, 2).
        let c = small_cube(8);
        let b = c
            .bin_velocity(&[-10.0, -4.0, 2.0], ChannelCombine::Integrate)
            .unwrap();
        assert_eq!(b.dim(), (2, 3, 4));
        // Bin 0 = channels 0,1,2 -> values 1,2,3 (+ offsets), dv = 2.
        assert_relative_eq!(b.data()[[0, 0, 0]], (1.0 + 2.0 + 3.0) * 2.0);
        assert_relative_eq!(b.data()[[1, 1, 2]], (4.0 + 5.0 + 6.0 + 3.0 * 210.0) * 2.0);
        assert_eq!(b.velocity(1), -1.0);
        assert_eq!(b.bunit(), "K km/s");
        let m = c
            .bin_velocity(&[-10.0, -4.0, 2.0], ChannelCombine::Mean)
            .unwrap();
        assert_relative_eq!(m.data()[[0, 0, 0]], 2.0);
        assert_eq!(m.bunit(), "K");
        let uneven = c
            .bin_velocity(&[-10.0, -6.0, 2.0], ChannelCombine::Mean)
            .unwrap();
        assert_eq!(uneven.vel_axis().ctype, "BIN");
        assert!(c.bin_velocity(&[20.0, 30.0], ChannelCombine::Mean).is_err());
        assert!(c.bin_velocity(&[0.0, -1.0], ChannelCombine::Mean).is_err());
    }

    #[test]
    fn shape_checks() {
        let c = small_cube(2);
        assert!(c.with_data(Array3::zeros((2, 3, 5))).is_err());
        assert!(c.plane(2).is_err());
        assert!(MapCube::new(
            Array3::zeros((0, 3, 3)),
            c.lon_axis().clone(),
            c.lat_axis().clone(),
            LinearAxis::bin_index(),
            "K"
        )
        .is_err());
        assert!(LinearAxis::new("GLON-CAR", 1.0, 0.0, 0.0, "deg").is_err());
    }
}
