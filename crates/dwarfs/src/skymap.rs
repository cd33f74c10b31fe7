//! All-sky (or partial) maps and cubes: plate carrée (CAR) grids and HEALPix,
//! disc queries, and the counts and mean exposure of circular regions.
//!
//! A **CAR grid** follows the FITS WCS convention (Calabretta & Greisen 2002)
//! for the plate carrée projection with $\mathrm{CRVAL2} = 0$: the pixel with
//! 0-based indices $(i, j)$ is centred at longitude
//! $\mathrm{CRVAL1} + \mathrm{CDELT1}\,(i + 1 - \mathrm{CRPIX1})$ and latitude
//! $\mathrm{CDELT2}\,(j + 1 - \mathrm{CRPIX2})$, and its solid angle is
//! $|\Delta\lambda|\,(\sin\beta_+ - \sin\beta_-)$ with $\beta_\pm$ its latitude edges.
//! Pixel $(i, j)$ has the flat index $i + n_{\rm lon} j$ (FITS order). Grids in
//! equatorial coordinates are converted to Galactic for every direction.
//!
//! A **cube** holds one map per energy plane, plane-major.
//!
//! A **region** of radius $r$ around $x$ holds the pixels whose centres lie
//! within $r$ (great-circle distance) of $x$. Its counts are summed, and its exposure
//! is the mean over its pixels, as in the package's void generator.
//!
//! ```
//! use darkprobe_dwarfs::skymap::{CarGrid, Pixelization};
//! let g = CarGrid::all_sky(1.0).unwrap();
//! let pix = Pixelization::Car(g);
//! assert_eq!(pix.n_pix(), 360 * 180);
//! // Pixel 0 is centred at l = 179.5, b = -89.5 (longitude decreases with i).
//! let (l, b) = pix.pix_to_lb(0).unwrap();
//! assert!((l - 179.5).abs() < 1e-12 && (b + 89.5).abs() < 1e-12);
//! assert_eq!(pix.lb_to_pix(l, b).unwrap(), Some(0));
//! // The solid angles add up to the full sphere.
//! let total: f64 = (0..pix.n_pix()).map(|p| pix.pixel_solid_angle_sr(p).unwrap()).sum();
//! assert!((total - 4.0 * std::f64::consts::PI).abs() < 1e-9);
//! ```

use crate::binning::EnergyBinning;
use crate::error::Result;
use crate::healpix::Healpix;
use darkprobe_core::sky::{
    angular_separation_deg, galactic_to_icrs, icrs_to_galactic, wrap_lon_deg, wrap_pm180_deg,
};
use darkprobe_core::{par, Error};

/// The celestial frame of a map's axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Galactic $(l, b)$.
    Galactic,
    /// Equatorial (ICRS) $(\alpha, \delta)$.
    Equatorial,
}

/// A plate carrée grid (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CarGrid {
    /// Number of longitude pixels (NAXIS1).
    pub n_lon: usize,
    /// Number of latitude pixels (NAXIS2).
    pub n_lat: usize,
    /// Reference pixel along longitude (1-based, FITS CRPIX1).
    pub crpix1: f64,
    /// Longitude at the reference pixel, degrees (CRVAL1).
    pub crval1: f64,
    /// Longitude step, degrees (CDELT1; negative for the usual orientation).
    pub cdelt1: f64,
    /// Reference pixel along latitude (CRPIX2).
    pub crpix2: f64,
    /// Latitude step, degrees (CDELT2).
    pub cdelt2: f64,
    /// The frame of the axes.
    pub frame: Frame,
}

impl CarGrid {
    /// A grid from FITS-like keywords (CRVAL2 is 0).
    ///
    /// # Errors
    /// No pixel, a zero or non-finite step, a non-finite reference, a longitude
    /// extent beyond 360 deg, or pixel centres beyond $|b| = 90$.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_lon: usize,
        n_lat: usize,
        crpix1: f64,
        crval1: f64,
        cdelt1: f64,
        crpix2: f64,
        cdelt2: f64,
        frame: Frame,
    ) -> Result<Self> {
        if n_lon == 0 || n_lat == 0 {
            return Err(Error::invalid_param(
                "CAR grid size",
                format!("{n_lon} x {n_lat}"),
                "at least 1 x 1 pixels",
            )
            .into());
        }
        for (name, v) in [("CDELT1", cdelt1), ("CDELT2", cdelt2)] {
            if !(v.is_finite() && v != 0.0) {
                return Err(Error::invalid_param(name, v, "finite and non-zero (degrees)").into());
            }
        }
        for (name, v) in [("CRPIX1", crpix1), ("CRVAL1", crval1), ("CRPIX2", crpix2)] {
            if !v.is_finite() {
                return Err(Error::invalid_param(name, v, "finite").into());
            }
        }
        if n_lon as f64 * cdelt1.abs() > 360.0 + 1e-9 {
            return Err(Error::invalid_param(
                "CAR longitude extent",
                n_lon as f64 * cdelt1.abs(),
                "<= 360 deg",
            )
            .into());
        }
        let g = Self {
            n_lon,
            n_lat,
            crpix1,
            crval1,
            cdelt1,
            crpix2,
            cdelt2,
            frame,
        };
        for j in [0, n_lat - 1] {
            let b = g.lat_of(j);
            if b.abs() + 0.5 * cdelt2.abs() > 90.0 + 1e-9 {
                return Err(Error::invalid_param(
                    "CAR latitude of a pixel edge",
                    b.abs() + 0.5 * cdelt2.abs(),
                    "<= 90 deg",
                )
                .into());
            }
        }
        Ok(g)
    }

    /// The whole sky in Galactic coordinates with square pixels of `binsz_deg`
    /// (which must divide 180), centred on $l = 0$, longitude decreasing with the index.
    ///
    /// # Errors
    /// `binsz_deg` not positive or not dividing 180.
    pub fn all_sky(binsz_deg: f64) -> Result<Self> {
        let n = 180.0 / binsz_deg;
        if !(binsz_deg > 0.0 && (n - n.round()).abs() < 1e-9) {
            return Err(
                Error::invalid_param("binsz_deg", binsz_deg, "> 0 and dividing 180").into(),
            );
        }
        let n_lat = n.round() as usize;
        let n_lon = 2 * n_lat;
        Self::new(
            n_lon,
            n_lat,
            (n_lon as f64 + 1.0) / 2.0,
            0.0,
            -binsz_deg,
            (n_lat as f64 + 1.0) / 2.0,
            binsz_deg,
            Frame::Galactic,
        )
    }

    /// A Galactic patch with square pixels of `binsz_deg`, covering
    /// $l \in [l_0, l_1]$, $b \in [b_0, b_1]$ (degrees; $l_1 > l_0$, the extents
    /// multiples of `binsz_deg`), longitude decreasing with the index.
    ///
    /// # Errors
    /// Invalid extents or pixel size.
    pub fn patch(l_range: (f64, f64), b_range: (f64, f64), binsz_deg: f64) -> Result<Self> {
        let (nl, nb) = (
            (l_range.1 - l_range.0) / binsz_deg,
            (b_range.1 - b_range.0) / binsz_deg,
        );
        let ok = |n: f64| n >= 1.0 && (n - n.round()).abs() < 1e-6;
        if !(binsz_deg > 0.0 && ok(nl) && ok(nb)) {
            return Err(Error::invalid_param(
                "CAR patch",
                format!("l {l_range:?}, b {b_range:?}, binsz {binsz_deg}"),
                "extents that are positive multiples of binsz",
            )
            .into());
        }
        let (n_lon, n_lat) = (nl.round() as usize, nb.round() as usize);
        // Pixel i = 0 at the largest longitude; reference at the patch centre.
        let lc = 0.5 * (l_range.0 + l_range.1);
        let crpix1 = (n_lon as f64 + 1.0) / 2.0;
        // Latitude of pixel j: cdelt2 (j + 1 - crpix2) = b0 + binsz (j + 0.5).
        let crpix2 = 0.5 - b_range.0 / binsz_deg;
        Self::new(
            n_lon,
            n_lat,
            crpix1,
            lc,
            -binsz_deg,
            crpix2,
            binsz_deg,
            Frame::Galactic,
        )
    }

    fn lon_of(&self, i: usize) -> f64 {
        self.crval1 + self.cdelt1 * (i as f64 + 1.0 - self.crpix1)
    }
    fn lat_of(&self, j: usize) -> f64 {
        self.cdelt2 * (j as f64 + 1.0 - self.crpix2)
    }

    /// Native (axis) coordinates of the centre of flat pixel `p`.
    fn native_centre(&self, p: usize) -> (f64, f64) {
        (
            wrap_lon_deg(self.lon_of(p % self.n_lon)),
            self.lat_of(p / self.n_lon),
        )
    }

    fn native_to_pix(&self, lon: f64, lat: f64) -> Option<usize> {
        let x = self.crpix1 + wrap_pm180_deg(lon - self.crval1) / self.cdelt1;
        let y = self.crpix2 + lat / self.cdelt2;
        let (i, j) = ((x + 0.5).floor() - 1.0, (y + 0.5).floor() - 1.0);
        if i >= 0.0 && j >= 0.0 && (i as usize) < self.n_lon && (j as usize) < self.n_lat {
            Some(i as usize + self.n_lon * j as usize)
        } else {
            None
        }
    }

    fn solid_angle(&self, p: usize) -> f64 {
        let b = self.lat_of(p / self.n_lon);
        let h = 0.5 * self.cdelt2.abs();
        let hi = (b + h).min(90.0).to_radians().sin();
        let lo = (b - h).max(-90.0).to_radians().sin();
        self.cdelt1.abs().to_radians() * (hi - lo)
    }
}

/// How a map's pixels tile the sky.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pixelization {
    /// A plate carrée grid.
    Car(CarGrid),
    /// A HEALPix grid in Galactic coordinates.
    Healpix(Healpix),
}

impl Pixelization {
    /// Number of pixels.
    pub fn n_pix(&self) -> usize {
        match self {
            Pixelization::Car(g) => g.n_lon * g.n_lat,
            Pixelization::Healpix(h) => h.n_pix() as usize,
        }
    }

    /// Galactic $(l, b)$ of the centre of pixel `p`, degrees.
    ///
    /// # Errors
    /// `p >= n_pix()`.
    pub fn pix_to_lb(&self, p: usize) -> Result<(f64, f64)> {
        if p >= self.n_pix() {
            return Err(Error::invalid_param("pixel", p, format!("< {}", self.n_pix())).into());
        }
        match self {
            Pixelization::Car(g) => {
                let (lon, lat) = g.native_centre(p);
                Ok(match g.frame {
                    Frame::Galactic => (lon, lat),
                    Frame::Equatorial => icrs_to_galactic(lon, lat),
                })
            }
            Pixelization::Healpix(h) => h.pix_to_lb(p as u64),
        }
    }

    /// The pixel containing Galactic $(l, b)$, or `None` outside a partial map.
    ///
    /// # Errors
    /// A non-finite longitude or $|b| > 90$.
    pub fn lb_to_pix(&self, l_deg: f64, b_deg: f64) -> Result<Option<usize>> {
        if !(l_deg.is_finite() && b_deg.abs() <= 90.0) {
            return Err(Error::invalid_param(
                "direction (l, b)",
                format!("({l_deg}, {b_deg})"),
                "finite, with |b| <= 90 deg",
            )
            .into());
        }
        match self {
            Pixelization::Car(g) => {
                let (lon, lat) = match g.frame {
                    Frame::Galactic => (l_deg, b_deg),
                    Frame::Equatorial => galactic_to_icrs(l_deg, b_deg),
                };
                Ok(g.native_to_pix(lon, lat))
            }
            Pixelization::Healpix(h) => Ok(Some(h.lb_to_pix(l_deg, b_deg)? as usize)),
        }
    }

    /// Solid angle of pixel `p`, sr.
    ///
    /// # Errors
    /// `p >= n_pix()`.
    pub fn pixel_solid_angle_sr(&self, p: usize) -> Result<f64> {
        if p >= self.n_pix() {
            return Err(Error::invalid_param("pixel", p, format!("< {}", self.n_pix())).into());
        }
        Ok(match self {
            Pixelization::Car(g) => g.solid_angle(p),
            Pixelization::Healpix(h) => h.pixel_solid_angle_sr(),
        })
    }

    /// A typical pixel size, degrees.
    pub fn pixel_size_deg(&self) -> f64 {
        match self {
            Pixelization::Car(g) => g.cdelt1.abs().max(g.cdelt2.abs()),
            Pixelization::Healpix(h) => h.pixel_size_deg(),
        }
    }
}

/// Maps on one pixelisation, one per energy plane.
#[derive(Debug, Clone, PartialEq)]
pub struct SkyCube {
    pix: Pixelization,
    n_planes: usize,
    data: Vec<f64>,
}

impl SkyCube {
    /// A cube from plane-major data (`data[plane * n_pix + p]`).
    ///
    /// # Errors
    /// A length that is not a positive multiple of the number of pixels, or a
    /// non-finite or negative value (named by plane and pixel).
    pub fn new(pix: Pixelization, data: Vec<f64>) -> Result<Self> {
        let np = pix.n_pix();
        if data.is_empty() || !data.len().is_multiple_of(np) {
            return Err(Error::shape(
                "sky cube data",
                format!("a positive multiple of {np} pixels"),
                data.len(),
            )
            .into());
        }
        if let Some(i) = data.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::invalid_param(
                format!("sky cube value at plane {}, pixel {}", i / np, i % np),
                data[i],
                "finite and >= 0",
            )
            .into());
        }
        Ok(Self {
            pix,
            n_planes: data.len() / np,
            data,
        })
    }
    /// The pixelisation.
    pub fn pixelization(&self) -> &Pixelization {
        &self.pix
    }
    /// Number of energy planes.
    pub fn n_planes(&self) -> usize {
        self.n_planes
    }
    /// Plane `k` (`None` past the end).
    pub fn plane(&self, k: usize) -> Option<&[f64]> {
        let np = self.pix.n_pix();
        self.data.get(k * np..(k + 1) * np)
    }
    /// All values, plane-major.
    pub fn data(&self) -> &[f64] {
        &self.data
    }
}

/// Pixel centres bucketed by latitude band, for disc queries.
#[derive(Debug, Clone)]
pub struct PixelIndex {
    band_deg: f64,
    /// Per band: (l, b, pixel) sorted by l.
    bands: Vec<Vec<(f64, f64, usize)>>,
}

impl PixelIndex {
    /// Indexes the pixel centres of `pix` for discs of radius up to about `radius_deg`.
    ///
    /// # Errors
    /// `radius_deg` not in $(0, 90]$.
    pub fn new(pix: &Pixelization, radius_deg: f64) -> Result<Self> {
        if !(radius_deg > 0.0 && radius_deg <= 90.0) {
            return Err(Error::invalid_param("region radius_deg", radius_deg, "in (0, 90]").into());
        }
        let band_deg = radius_deg.max(pix.pixel_size_deg());
        let n_bands = (180.0 / band_deg).ceil() as usize;
        let mut bands = vec![Vec::new(); n_bands];
        for p in 0..pix.n_pix() {
            let (l, b) = pix.pix_to_lb(p)?;
            let k = (((b + 90.0) / band_deg) as usize).min(n_bands - 1);
            bands[k].push((l, b, p));
        }
        for band in &mut bands {
            band.sort_by(|x, y| x.0.total_cmp(&y.0));
        }
        Ok(Self { band_deg, bands })
    }

    /// The pixels whose centres lie within `radius_deg` (great circle) of $(l, b)$, sorted.
    pub fn disc(&self, l_deg: f64, b_deg: f64, radius_deg: f64) -> Vec<usize> {
        let mut out = Vec::new();
        let n_bands = self.bands.len();
        let lo = (((b_deg - radius_deg + 90.0) / self.band_deg)
            .floor()
            .max(0.0)) as usize;
        let hi = (((b_deg + radius_deg + 90.0) / self.band_deg).floor() as usize).min(n_bands - 1);
        // Longitude half-width of the disc at its widest latitude.
        let bmax = (b_deg.abs() + radius_deg).min(90.0);
        let dl = if bmax >= 89.999 {
            180.0
        } else {
            let s = radius_deg.to_radians().sin() / bmax.to_radians().cos();
            if s >= 1.0 {
                180.0
            } else {
                s.asin().to_degrees() + 1e-9
            }
        };
        let l0 = wrap_lon_deg(l_deg);
        for band in &self.bands[lo..=hi] {
            let mut scan = |a: f64, z: f64| {
                let i0 = band.partition_point(|x| x.0 < a);
                for &(l, b, p) in &band[i0..] {
                    if l > z {
                        break;
                    }
                    if angular_separation_deg(l0, b_deg, l, b) <= radius_deg {
                        out.push(p);
                    }
                }
            };
            if dl >= 180.0 {
                scan(f64::NEG_INFINITY, f64::INFINITY);
            } else {
                let (a, z) = (l0 - dl, l0 + dl);
                if a < 0.0 {
                    scan(a + 360.0, 360.0);
                    scan(0.0, z);
                } else if z >= 360.0 {
                    scan(a, 360.0);
                    scan(0.0, z - 360.0);
                } else {
                    scan(a, z);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The energies at which an exposure cube's planes are given.
#[derive(Debug, Clone, PartialEq)]
pub enum ExposurePlanes {
    /// Plane $k$ is the exposure at energy $E_k$ (GeV, increasing); the region mean is
    /// interpolated log-log to the logarithmic centre of each count bin (the package).
    AtEnergies(Vec<f64>),
    /// Plane $k$ is already the exposure of count bin $k$.
    PerBin,
}

/// Counts and mean exposures of circular regions, per fine energy bin.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionMeasurement {
    /// Region centres, Galactic $(l, b)$ degrees.
    pub centres: Vec<(f64, f64)>,
    /// Number of pixels in each region.
    pub n_pixels: Vec<usize>,
    /// Summed counts `[region][bin]`.
    pub counts: Vec<Vec<u64>>,
    /// Mean exposure `[region][bin]`, cm$^2$ s.
    pub exposure_cm2_s: Vec<Vec<f64>>,
}

impl RegionMeasurement {
    /// Merges the fine bins into the macro bins of `binning` (counts summed,
    /// exposures averaged) and returns the result as a [`crate::VoidSample`].
    ///
    /// # Errors
    /// A number of bins other than `binning.n_fine()`, or no region.
    pub fn to_void_sample(&self, binning: &EnergyBinning) -> Result<crate::VoidSample> {
        let counts = self
            .counts
            .iter()
            .map(|c| binning.merge_counts(c))
            .collect::<Result<Vec<_>>>()?;
        let exp = self
            .exposure_cm2_s
            .iter()
            .map(|e| binning.merge_exposure(e))
            .collect::<Result<Vec<_>>>()?;
        crate::VoidSample::new(
            self.centres.iter().map(|c| c.0).collect(),
            self.centres.iter().map(|c| c.1).collect(),
            counts,
        )?
        .with_exposure(exp)
    }
}

/// Measures counts and mean exposure in discs of `radius_deg` around `centres`.
///
/// `counts` must have one plane per count bin (`binning.n_fine()` of them); the
/// exposure cube is read as `planes` says, on the same pixelisation. Counts
/// must be integers (FITS count cubes often store them as floats).
///
/// # Errors
/// Pixelisations that differ; plane numbers that do not match; non-integral
/// counts in a region; a region with no pixel (a centre outside a partial
/// map); invalid energies.
pub fn measure_regions(
    counts: &SkyCube,
    exposure: &SkyCube,
    planes: &ExposurePlanes,
    binning: &EnergyBinning,
    centres: &[(f64, f64)],
    radius_deg: f64,
) -> Result<RegionMeasurement> {
    let index = PixelIndex::new(counts.pixelization(), radius_deg)?;
    measure_regions_with_index(
        counts, exposure, planes, binning, centres, radius_deg, &index,
    )
}

/// As [`measure_regions`], reusing a [`PixelIndex`] of the pixelisation.
///
/// # Errors
/// As [`measure_regions`].
pub fn measure_regions_with_index(
    counts: &SkyCube,
    exposure: &SkyCube,
    planes: &ExposurePlanes,
    binning: &EnergyBinning,
    centres: &[(f64, f64)],
    radius_deg: f64,
    index: &PixelIndex,
) -> Result<RegionMeasurement> {
    if counts.pixelization() != exposure.pixelization() {
        return Err(Error::invalid_param(
            "exposure cube pixelisation",
            "different",
            "the same grid as the counts cube",
        )
        .into());
    }
    if counts.n_planes() != binning.n_fine() {
        return Err(Error::shape(
            "counts cube planes",
            format!("{} (fine energy bins)", binning.n_fine()),
            counts.n_planes(),
        )
        .into());
    }
    let centres_gev = binning.fine_log_centres_gev();
    let interp_weights: Vec<(usize, usize, f64)> = match planes {
        ExposurePlanes::PerBin => {
            if exposure.n_planes() != binning.n_fine() {
                return Err(Error::shape(
                    "exposure cube planes (one per count bin)",
                    binning.n_fine(),
                    exposure.n_planes(),
                )
                .into());
            }
            (0..binning.n_fine()).map(|k| (k, k, 0.0)).collect()
        }
        ExposurePlanes::AtEnergies(e) => {
            if e.len() != exposure.n_planes() || e.is_empty() {
                return Err(Error::shape(
                    "exposure energies (one per plane)",
                    exposure.n_planes(),
                    e.len(),
                )
                .into());
            }
            if !e.iter().all(|x| x.is_finite() && *x > 0.0) || !e.windows(2).all(|w| w[0] < w[1]) {
                return Err(Error::invalid_param(
                    "exposure energies (GeV)",
                    format!("{e:?}"),
                    "finite, > 0 and increasing",
                )
                .into());
            }
            // Log-log interpolation (linear extrapolation in log-log at the ends).
            centres_gev
                .iter()
                .map(|&c| {
                    if e.len() == 1 {
                        return (0, 0, 0.0);
                    }
                    let k = e.partition_point(|x| *x <= c).clamp(1, e.len() - 1);
                    let t = (c / e[k - 1]).ln() / (e[k] / e[k - 1]).ln();
                    (k - 1, k, t)
                })
                .collect()
        }
    };
    let n_bins = binning.n_fine();
    let results = par::map_indices(centres.len(), |r| -> Result<(usize, Vec<u64>, Vec<f64>)> {
        let (l, b) = centres[r];
        let pixels = index.disc(l, b, radius_deg);
        if pixels.is_empty() {
            return Err(Error::invalid_param(
                format!("region {r} centre (l, b)"),
                format!("({l}, {b})"),
                "inside the map (the region holds no pixel)",
            )
            .into());
        }
        let mut c = Vec::with_capacity(n_bins);
        for k in 0..n_bins {
            let plane = counts.plane(k).unwrap_or(&[]);
            let s: f64 = pixels.iter().map(|&p| plane[p]).sum();
            if (s - s.round()).abs() > 1e-6 * s.max(1.0) {
                return Err(Error::invalid_param(
                    format!("counts in region {r} at ({l}, {b}), bin {k}"),
                    s,
                    "an integer (a counts cube)",
                )
                .into());
            }
            c.push(s.round() as u64);
        }
        let mean_plane = |k: usize| -> f64 {
            let plane = exposure.plane(k).unwrap_or(&[]);
            pixels.iter().map(|&p| plane[p]).sum::<f64>() / pixels.len() as f64
        };
        let means: Vec<f64> = (0..exposure.n_planes()).map(mean_plane).collect();
        let e = interp_weights
            .iter()
            .map(|&(a, z, t)| {
                if a == z || t == 0.0 {
                    means[a]
                } else if means[a] > 0.0 && means[z] > 0.0 {
                    (means[a].ln() * (1.0 - t) + means[z].ln() * t).exp()
                } else {
                    means[a] * (1.0 - t) + means[z] * t
                }
            })
            .collect();
        Ok((pixels.len(), c, e))
    });
    let mut out = RegionMeasurement {
        centres: centres.to_vec(),
        n_pixels: Vec::with_capacity(centres.len()),
        counts: Vec::with_capacity(centres.len()),
        exposure_cm2_s: Vec::with_capacity(centres.len()),
    };
    for r in results {
        let (n, c, e) = r?;
        out.n_pixels.push(n);
        out.counts.push(c);
        out.exposure_cm2_s.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::healpix::Ordering;
    use approx::assert_relative_eq;

    #[test]
    fn car_grid_geometry() {
        let g = CarGrid::all_sky(0.5).unwrap();
        let pix = Pixelization::Car(g);
        for p in [0usize, 719, 720, 1000, 720 * 360 - 1] {
            let (l, b) = pix.pix_to_lb(p).unwrap();
            assert_eq!(pix.lb_to_pix(l, b).unwrap(), Some(p));
        }
        // Longitude 0 lies between the two central columns; l = 0.1 is in the column left of it.
        let p = pix.lb_to_pix(0.1, 0.1).unwrap().unwrap();
        let (l, b) = pix.pix_to_lb(p).unwrap();
        assert_relative_eq!(l, 0.25, epsilon = 1e-12);
        assert_relative_eq!(b, 0.25, epsilon = 1e-12);
        assert_eq!(
            pix.lb_to_pix(359.9, 0.1).unwrap(),
            pix.lb_to_pix(-0.1, 0.1).unwrap()
        );
        let patch = Pixelization::Car(CarGrid::patch((10.0, 20.0), (30.0, 35.0), 0.5).unwrap());
        assert_eq!(patch.n_pix(), 200);
        let (l, b) = patch.pix_to_lb(0).unwrap();
        assert_relative_eq!(l, 19.75, epsilon = 1e-12);
        assert_relative_eq!(b, 30.25, epsilon = 1e-12);
        assert_eq!(patch.lb_to_pix(25.0, 32.0).unwrap(), None);
        assert!(patch.lb_to_pix(15.0, 32.0).unwrap().is_some());
        assert!(CarGrid::all_sky(0.7).is_err());
        assert!(CarGrid::new(10, 10, 1.0, 0.0, 0.0, 1.0, 1.0, Frame::Galactic).is_err());
        assert!(CarGrid::new(10, 200, 1.0, 0.0, 1.0, 1.0, 1.0, Frame::Galactic).is_err());
        // An equatorial grid maps its pixel centres through the frame rotation.
        let eq = Pixelization::Car(
            CarGrid::new(360, 180, 180.5, 180.0, -1.0, 90.5, 1.0, Frame::Equatorial).unwrap(),
        );
        for p in [123usize, 40_000, 64_000] {
            let (l, b) = eq.pix_to_lb(p).unwrap();
            assert_eq!(eq.lb_to_pix(l, b).unwrap(), Some(p));
        }
    }

    #[test]
    fn disc_queries_match_brute_force() {
        for pix in [
            Pixelization::Car(CarGrid::all_sky(0.5).unwrap()),
            Pixelization::Healpix(Healpix::new(64, Ordering::Ring).unwrap()),
            Pixelization::Healpix(Healpix::new(64, Ordering::Nested).unwrap()),
        ] {
            let idx = PixelIndex::new(&pix, 2.0).unwrap();
            for (l, b, r) in [
                (0.2, 30.0, 2.0),
                (359.5, -45.0, 1.5),
                (120.0, 89.0, 2.0),
                (200.0, -88.5, 2.0),
                (10.0, 0.0, 0.5),
            ] {
                let got = idx.disc(l, b, r);
                let brute: Vec<usize> = (0..pix.n_pix())
                    .filter(|&p| {
                        let (pl, pb) = pix.pix_to_lb(p).unwrap();
                        angular_separation_deg(l, b, pl, pb) <= r
                    })
                    .collect();
                assert_eq!(got, brute, "{pix:?} at ({l}, {b}) r {r}");
                assert!(r < 1.0 || !got.is_empty());
            }
        }
    }

    #[test]
    fn region_measurement_sums_counts_and_interpolates_exposure() {
        let pix = Pixelization::Car(CarGrid::patch((0.0, 10.0), (20.0, 30.0), 0.25).unwrap());
        let np = pix.n_pix();
        let binning = EnergyBinning::new(1.0, 16.0, 2, vec![0, 1, 2]).unwrap();
        // Counts: 1 per pixel in bin 0, 2 per pixel in bin 1.
        let mut c = vec![1.0; np];
        c.extend(vec![2.0; np]);
        let counts = SkyCube::new(pix, c).unwrap();
        // Exposure power law E^-0.5 at 1, 4, 16 GeV, uniform on the sky.
        let e: [f64; 3] = [1.0, 4.0, 16.0];
        let ex: Vec<f64> = e
            .iter()
            .flat_map(|x| vec![1e11 * x.powf(-0.5); np])
            .collect();
        let exposure = SkyCube::new(pix, ex).unwrap();
        let m = measure_regions(
            &counts,
            &exposure,
            &ExposurePlanes::AtEnergies(e.to_vec()),
            &binning,
            &[(5.0, 25.0)],
            0.5,
        )
        .unwrap();
        let n = m.n_pixels[0];
        // About pi r^2 / pixel area = 0.785 / 0.0625 = 12.6 pixels (times cos b).
        assert!((9..=16).contains(&n), "{n}");
        assert_eq!(m.counts[0], vec![n as u64, 2 * n as u64]);
        for (k, c) in binning.fine_log_centres_gev().iter().enumerate() {
            assert_relative_eq!(
                m.exposure_cm2_s[0][k],
                1e11 * c.powf(-0.5),
                max_relative = 1e-12
            );
        }
        let v = m
            .to_void_sample(&EnergyBinning::new(1.0, 16.0, 2, vec![0, 2]).unwrap())
            .unwrap();
        assert_eq!(v.counts(0).unwrap(), &[3 * n as u64]);
        // Outside the patch: an error naming the region.
        let e2 = measure_regions(
            &counts,
            &exposure,
            &ExposurePlanes::AtEnergies(e.to_vec()),
            &binning,
            &[(50.0, 25.0)],
            0.5,
        )
        .unwrap_err();
        assert!(e2.to_string().contains("region 0"), "{e2}");
        // Non-integral counts are rejected.
        let bad = SkyCube::new(pix, vec![0.3; 2 * np]).unwrap();
        assert!(measure_regions(
            &bad,
            &exposure,
            &ExposurePlanes::AtEnergies(e.to_vec()),
            &binning,
            &[(5.0, 25.0)],
            0.5
        )
        .is_err());
        assert!(SkyCube::new(pix, vec![-1.0; np]).is_err());
        assert!(SkyCube::new(pix, vec![1.0; np + 1]).is_err());
        assert!(measure_regions(
            &counts,
            &exposure,
            &ExposurePlanes::PerBin,
            &binning,
            &[(5.0, 25.0)],
            0.5
        )
        .is_err());
    }
}
