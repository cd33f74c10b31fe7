//! Void selection from a user's own counts and exposure cubes (the package's
//! announced "future version").
//!
//! Candidate centres are drawn at random (uniformly on the sphere, or on the
//! package's sampling grid $l \in \mathrm{linspace}(1, 359, 1000)$,
//! $b \in \mathrm{linspace}(-89, 89, 1000)$) and accepted in turn when
//! - $|b| >$ `min_abs_b_deg`;
//! - the region lies inside the map (for partial maps);
//! - it is at least `min_sep_dwarf_deg` from every dwarf, at least the source's
//!   exclusion radius from every extended source and `point_source_radius_deg` from
//!   every catalogued point source;
//! - it is at least `min_sep_void_deg` from every void accepted before
//!   (`2 * radius_deg` or more makes the regions disjoint).
//!
//! Distances use the chosen [`SpatialMetric`]: flat $(l, b)$ as in the package, or
//! great-circle. The sequence of candidates comes from the caller's generator,
//! so a seed fixes the sample. [`build_void_sample`] then measures the counts and
//! mean exposure of every void (see [`crate::skymap::measure_regions`]) and merges
//! the fine bins into macro bins.
//!
//! ```
//! use darkprobe_dwarfs::voidgen::{select_void_centres, Exclusions, VoidSelectionParams};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! let params = VoidSelectionParams::package().with_max_voids(200);
//! let excl = Exclusions {
//!     dwarfs: vec![(86.37, 34.72)],
//!     point_sources: vec![(90.0, 40.0), (100.0, -50.0)],
//!     extended: vec![],
//! };
//! let v = select_void_centres(&params, &excl, None, &mut rng).unwrap();
//! assert_eq!(v.len(), 200);
//! assert!(v.iter().all(|(l, b)| b.abs() > 20.0 && ((l - 90.0).powi(2) + (b - 40.0).powi(2)).sqrt() >= 2.5));
//! ```

use crate::binning::EnergyBinning;
use crate::error::Result;
use crate::skymap::{
    measure_regions_with_index, ExposurePlanes, PixelIndex, Pixelization, RegionMeasurement,
    SkyCube,
};
use crate::voids::VoidSample;
use darkprobe_core::sky::angular_separation_deg;
use darkprobe_core::Error;
use darkprobe_kde::SpatialMetric;
use rand::Rng;

/// How candidate centres are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateSampling {
    /// Uniform on the sphere (restricted to the allowed latitudes).
    UniformSphere,
    /// Uniform on the package's grid of 1000 longitudes x 1000 latitudes
    /// (uniform in $b$, so denser per solid angle near the poles).
    PackageGrid,
}

/// An excluded circle: a source and its exclusion radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exclusion {
    /// Galactic longitude, degrees.
    pub l_deg: f64,
    /// Galactic latitude, degrees.
    pub b_deg: f64,
    /// Voids closer than this are rejected, degrees.
    pub radius_deg: f64,
}

/// What voids must avoid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exclusions {
    /// Dwarf positions $(l, b)$, degrees.
    pub dwarfs: Vec<(f64, f64)>,
    /// Catalogued point sources $(l, b)$, degrees.
    pub point_sources: Vec<(f64, f64)>,
    /// Extended sources with their own radii.
    pub extended: Vec<Exclusion>,
}

/// Settings of the void selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoidSelectionParams {
    /// Region radius, degrees (package: 0.5).
    pub radius_deg: f64,
    /// Minimum $|b|$ of a void centre, degrees (package: 20).
    pub min_abs_b_deg: f64,
    /// Minimum distance to a dwarf, degrees (package: 1).
    pub min_sep_dwarf_deg: f64,
    /// Minimum distance between voids, degrees (package: 1, i.e. disjoint regions).
    pub min_sep_void_deg: f64,
    /// Minimum distance to a catalogued point source, degrees (package: 2.5).
    pub point_source_radius_deg: f64,
    /// Stop after this many voids.
    pub max_voids: usize,
    /// Stop after this many candidates.
    pub max_candidates: usize,
    /// Distance used for the separations.
    pub metric: SpatialMetric,
    /// How candidates are drawn.
    pub sampling: CandidateSampling,
}

impl VoidSelectionParams {
    /// The package's values: radius 0.5 deg, $|b| > 20$ deg, 1 deg from dwarfs and
    /// from other voids, 2.5 deg from point sources, flat $(l, b)$ distances, the
    /// package's sampling grid, at most 20000 voids from at most $2\times10^6$ candidates.
    pub fn package() -> Self {
        Self {
            radius_deg: 0.5,
            min_abs_b_deg: 20.0,
            min_sep_dwarf_deg: 1.0,
            min_sep_void_deg: 1.0,
            point_source_radius_deg: 2.5,
            max_voids: 20_000,
            max_candidates: 2_000_000,
            metric: SpatialMetric::FlatLb,
            sampling: CandidateSampling::PackageGrid,
        }
    }
    /// Sets the maximum number of voids.
    #[must_use]
    pub fn with_max_voids(mut self, n: usize) -> Self {
        self.max_voids = n;
        self
    }
    /// Sets the maximum number of candidates.
    #[must_use]
    pub fn with_max_candidates(mut self, n: usize) -> Self {
        self.max_candidates = n;
        self
    }
    /// Sets the metric.
    #[must_use]
    pub fn with_metric(mut self, metric: SpatialMetric) -> Self {
        self.metric = metric;
        self
    }
    /// Sets the candidate sampling.
    #[must_use]
    pub fn with_sampling(mut self, sampling: CandidateSampling) -> Self {
        self.sampling = sampling;
        self
    }
    /// Sets the latitude cut.
    #[must_use]
    pub fn with_min_abs_b_deg(mut self, b: f64) -> Self {
        self.min_abs_b_deg = b;
        self
    }
    /// Sets the point-source exclusion radius.
    #[must_use]
    pub fn with_point_source_radius_deg(mut self, r: f64) -> Self {
        self.point_source_radius_deg = r;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// A radius or separation that is negative, NaN or (radius) zero or above
    /// 10 deg; a latitude cut outside $[0, 90)$; zero voids or candidates.
    pub fn check(&self) -> Result<()> {
        if !(self.radius_deg > 0.0 && self.radius_deg <= 10.0) {
            return Err(
                Error::invalid_param("radius_deg", self.radius_deg, "in (0, 10] degrees").into(),
            );
        }
        if !(self.min_abs_b_deg >= 0.0 && self.min_abs_b_deg < 90.0) {
            return Err(Error::invalid_param(
                "min_abs_b_deg",
                self.min_abs_b_deg,
                "in [0, 90) degrees",
            )
            .into());
        }
        for (n, v) in [
            ("min_sep_dwarf_deg", self.min_sep_dwarf_deg),
            ("min_sep_void_deg", self.min_sep_void_deg),
            ("point_source_radius_deg", self.point_source_radius_deg),
        ] {
            if !(0.0..=90.0).contains(&v) {
                return Err(Error::invalid_param(n, v, "in [0, 90] degrees").into());
            }
        }
        if self.max_voids == 0 || self.max_candidates == 0 {
            return Err(Error::invalid_param(
                "max_voids / max_candidates",
                format!("{} / {}", self.max_voids, self.max_candidates),
                ">= 1",
            )
            .into());
        }
        Ok(())
    }
}

impl Default for VoidSelectionParams {
    fn default() -> Self {
        Self::package()
    }
}

/// Circles bucketed by latitude band, for "is this point inside any circle" queries.
struct CircleIndex {
    band: f64,
    reach: i64,
    metric: SpatialMetric,
    bands: std::collections::HashMap<i64, Vec<(f64, f64, f64)>>,
}

impl CircleIndex {
    fn new(max_radius: f64, metric: SpatialMetric) -> Self {
        let band = max_radius.max(0.5);
        Self {
            band,
            reach: 1,
            metric,
            bands: Default::default(),
        }
    }
    fn key(&self, b: f64) -> i64 {
        (b / self.band).floor() as i64
    }
    fn insert(&mut self, l: f64, b: f64, r: f64) {
        if r > 0.0 {
            let k = self.key(b);
            self.bands.entry(k).or_default().push((l, b, r));
        }
    }
    fn dist(&self, l1: f64, b1: f64, l2: f64, b2: f64) -> f64 {
        match self.metric {
            SpatialMetric::FlatLb => (l1 - l2).hypot(b1 - b2),
            SpatialMetric::Angular => angular_separation_deg(l1, b1, l2, b2),
        }
    }
    fn hits(&self, l: f64, b: f64) -> bool {
        let k = self.key(b);
        (k - self.reach..=k + self.reach).any(|kk| {
            self.bands
                .get(&kk)
                .is_some_and(|v| v.iter().any(|&(cl, cb, r)| self.dist(l, b, cl, cb) < r))
        })
    }
}

fn check_position(what: &str, l: f64, b: f64) -> Result<()> {
    if l.is_finite() && b.abs() <= 90.0 {
        Ok(())
    } else {
        Err(Error::invalid_param(
            format!("{what} (l, b)"),
            format!("({l}, {b})"),
            "finite, with |b| <= 90 deg",
        )
        .into())
    }
}

/// Whether the disc of `radius_deg` around $(l, b)$ lies inside the map: its
/// centre and 8 points on its rim fall into pixels.
fn inside_map(pix: &Pixelization, l: f64, b: f64, radius_deg: f64) -> bool {
    let mut pts = vec![(l, b)];
    for k in 0..8 {
        let a = k as f64 * std::f64::consts::FRAC_PI_4;
        let bb = b + radius_deg * a.sin();
        let cosb = bb.to_radians().cos().max(1e-6);
        pts.push((l + radius_deg * a.cos() / cosb, bb.clamp(-90.0, 90.0)));
    }
    pts.iter()
        .all(|&(pl, pb)| matches!(pix.lb_to_pix(pl, pb), Ok(Some(_))))
}

/// Draws void centres as described in the module docs.
///
/// `footprint`, when given, restricts voids to regions fully inside that map.
///
/// # Errors
/// Invalid settings or source positions.
pub fn select_void_centres<R: Rng + ?Sized>(
    params: &VoidSelectionParams,
    exclusions: &Exclusions,
    footprint: Option<&Pixelization>,
    rng: &mut R,
) -> Result<Vec<(f64, f64)>> {
    params.check()?;
    let max_ext = exclusions
        .extended
        .iter()
        .map(|e| e.radius_deg)
        .fold(0.0, f64::max);
    let reach = params
        .min_sep_dwarf_deg
        .max(params.point_source_radius_deg)
        .max(max_ext);
    let mut fixed = CircleIndex::new(reach, params.metric);
    for &(l, b) in &exclusions.dwarfs {
        check_position("dwarf", l, b)?;
        fixed.insert(l, b, params.min_sep_dwarf_deg);
    }
    for &(l, b) in &exclusions.point_sources {
        check_position("point source", l, b)?;
        fixed.insert(l, b, params.point_source_radius_deg);
    }
    for e in &exclusions.extended {
        check_position("extended source", e.l_deg, e.b_deg)?;
        if !(e.radius_deg >= 0.0 && e.radius_deg <= 90.0) {
            return Err(Error::invalid_param(
                "extended source radius_deg",
                e.radius_deg,
                "in [0, 90]",
            )
            .into());
        }
        fixed.insert(e.l_deg, e.b_deg, e.radius_deg);
    }
    let mut voids_idx = CircleIndex::new(params.min_sep_void_deg, params.metric);
    let mut out = Vec::new();
    let smin = params.min_abs_b_deg.to_radians().sin();
    for _ in 0..params.max_candidates {
        if out.len() >= params.max_voids {
            break;
        }
        let (l, b) = match params.sampling {
            CandidateSampling::PackageGrid => {
                let i = rng.random_range(0..1000u32) as f64;
                let j = rng.random_range(0..1000u32) as f64;
                (1.0 + 358.0 * i / 999.0, -89.0 + 178.0 * j / 999.0)
            }
            CandidateSampling::UniformSphere => {
                // sin b uniform on [-1, -smin] U [smin, 1].
                let u: f64 = rng.random::<f64>() * (1.0 - smin);
                let s = if rng.random::<bool>() {
                    smin + u
                } else {
                    -(smin + u)
                };
                (
                    360.0 * rng.random::<f64>(),
                    s.clamp(-1.0, 1.0).asin().to_degrees(),
                )
            }
        };
        if b.abs() <= params.min_abs_b_deg {
            continue;
        }
        if let Some(p) = footprint {
            if !inside_map(p, l, b, params.radius_deg) {
                continue;
            }
        }
        if fixed.hits(l, b) || voids_idx.hits(l, b) {
            continue;
        }
        voids_idx.insert(l, b, params.min_sep_void_deg);
        out.push((l, b));
    }
    Ok(out)
}

/// Selects voids on the counts cube's sky and measures them: the result holds
/// the counts (summed) and exposures (averaged) of `binning`'s macro bins,
/// together with the fine-bin measurement.
///
/// # Errors
/// As [`select_void_centres`] and [`crate::skymap::measure_regions`]; no void found.
pub fn build_void_sample<R: Rng + ?Sized>(
    counts: &SkyCube,
    exposure: &SkyCube,
    planes: &ExposurePlanes,
    binning: &EnergyBinning,
    params: &VoidSelectionParams,
    exclusions: &Exclusions,
    rng: &mut R,
) -> Result<(VoidSample, RegionMeasurement)> {
    let pix = counts.pixelization();
    let partial = match pix {
        Pixelization::Car(g) => {
            (g.n_lon as f64 * g.cdelt1.abs()) < 359.999
                || (g.n_lat as f64 * g.cdelt2.abs()) < 179.999
        }
        Pixelization::Healpix(_) => false,
    };
    let centres = select_void_centres(params, exclusions, partial.then_some(pix), rng)?;
    if centres.is_empty() {
        return Err(Error::empty(
            "void selection",
            "no candidate passed the cuts: relax the separations or allow more candidates",
        )
        .into());
    }
    let index = PixelIndex::new(pix, params.radius_deg)?;
    let m = measure_regions_with_index(
        counts,
        exposure,
        planes,
        binning,
        &centres,
        params.radius_deg,
        &index,
    )?;
    Ok((m.to_void_sample(binning)?, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn flat(a: (f64, f64), b: (f64, f64)) -> f64 {
        (a.0 - b.0).hypot(a.1 - b.1)
    }

    #[test]
    fn selection_respects_every_separation() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let ps: Vec<(f64, f64)> = (0..300)
            .map(|i| ((i as f64 * 37.3) % 360.0, -80.0 + (i as f64 * 13.7) % 160.0))
            .collect();
        let ex = Exclusions {
            dwarfs: vec![(86.37, 34.72), (104.97, 44.80)],
            point_sources: ps.clone(),
            extended: vec![Exclusion {
                l_deg: 302.8,
                b_deg: -44.3,
                radius_deg: 5.0,
            }],
        };
        for metric in [SpatialMetric::FlatLb, SpatialMetric::Angular] {
            for sampling in [
                CandidateSampling::PackageGrid,
                CandidateSampling::UniformSphere,
            ] {
                let p = VoidSelectionParams::package()
                    .with_metric(metric)
                    .with_sampling(sampling)
                    .with_max_voids(1500);
                let v = select_void_centres(&p, &ex, None, &mut rng).unwrap();
                assert_eq!(v.len(), 1500);
                let d = |a: (f64, f64), b: (f64, f64)| match metric {
                    SpatialMetric::FlatLb => flat(a, b),
                    SpatialMetric::Angular => angular_separation_deg(a.0, a.1, b.0, b.1),
                };
                for (i, &x) in v.iter().enumerate() {
                    assert!(x.1.abs() > 20.0);
                    assert!(ex.dwarfs.iter().all(|&y| d(x, y) >= 1.0));
                    assert!(ps.iter().all(|&y| d(x, y) >= 2.5));
                    assert!(d(x, (302.8, -44.3)) >= 5.0);
                    assert!(v[..i].iter().all(|&y| d(x, y) >= 1.0), "{x:?}");
                }
            }
        }
    }

    #[test]
    fn selection_is_reproducible_and_validated() {
        let p = VoidSelectionParams::package().with_max_voids(50);
        let a = select_void_centres(
            &p,
            &Exclusions::default(),
            None,
            &mut rand::rngs::StdRng::seed_from_u64(9),
        )
        .unwrap();
        let b = select_void_centres(
            &p,
            &Exclusions::default(),
            None,
            &mut rand::rngs::StdRng::seed_from_u64(9),
        )
        .unwrap();
        assert_eq!(a, b);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(select_void_centres(
            &VoidSelectionParams {
                radius_deg: 0.0,
                ..p
            },
            &Exclusions::default(),
            None,
            &mut rng
        )
        .is_err());
        assert!(select_void_centres(
            &p.with_min_abs_b_deg(95.0),
            &Exclusions::default(),
            None,
            &mut rng
        )
        .is_err());
        let bad = Exclusions {
            dwarfs: vec![(f64::NAN, 3.0)],
            ..Default::default()
        };
        assert!(select_void_centres(&p, &bad, None, &mut rng)
            .unwrap_err()
            .to_string()
            .contains("dwarf"));
    }
}
