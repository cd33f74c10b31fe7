//! A simulated gamma-ray sky, for testing the void pipeline and for demos.
//!
//! In energy bin $k$ the intensity (photons cm$^{-2}$ s$^{-1}$ sr$^{-1}$) is an isotropic
//! part plus a Galactic part falling off with latitude,
//! $$I_k(l, b) = I^{\rm iso}_k + I^{\rm gal}_k\, e^{-|b|/b_0},$$
//! the exposure is $\varepsilon_k(b) = \varepsilon_k\,[1 + a \sin^2 b]$ (cm$^2$ s), and point
//! sources of flux $F_{sk}$ (photons cm$^{-2}$ s$^{-1}$) are smeared by a Gaussian PSF of
//! width $\sigma_{\rm psf}$. The expected counts in pixel $p$ are
//! $$\mu_{pk} = \varepsilon_k(b_p)\Big[\Omega_p I_k(x_p) + \sum_s F_{sk}\,\Omega_p\,
//! \frac{e^{-\theta_{ps}^2/2\sigma_{\rm psf}^2}}{2\pi\sigma_{\rm psf}^2}\Big],$$
//! and the counts are Poisson draws from $\mu_{pk}$.
//!
//! ```
//! use darkprobe_dwarfs::sim::SkySimulation;
//! use darkprobe_dwarfs::skymap::{CarGrid, Pixelization};
//! use rand::SeedableRng;
//! let sky = SkySimulation::isotropic(vec![1e-6], vec![3e11]);
//! let pix = Pixelization::Car(CarGrid::patch((0.0, 10.0), (30.0, 40.0), 0.25).unwrap());
//! let mu = sky.expected_counts(&pix).unwrap();
//! let n = sky.simulate_counts(&pix, &mut rand::rngs::StdRng::seed_from_u64(1)).unwrap();
//! let (sm, sn): (f64, f64) = (mu.data().iter().sum(), n.data().iter().sum());
//! // Poisson: the total is within a few sqrt(mu) of the expectation.
//! assert!((sn - sm).abs() < 5.0 * sm.sqrt());
//! ```

use crate::error::Result;
use crate::skymap::{PixelIndex, Pixelization, SkyCube};
use darkprobe_core::sky::angular_separation_deg;
use darkprobe_core::Error;
use rand::Rng;
use rand_distr::{Distribution, Poisson};
use std::f64::consts::PI;

/// A simulated point source.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSource {
    /// Galactic longitude, degrees.
    pub l_deg: f64,
    /// Galactic latitude, degrees.
    pub b_deg: f64,
    /// Flux in each energy bin, photons cm$^{-2}$ s$^{-1}$.
    pub flux_cm2_s: Vec<f64>,
}

/// The sky model of the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct SkySimulation {
    /// Isotropic intensity per bin, photons cm$^{-2}$ s$^{-1}$ sr$^{-1}$.
    pub iso_intensity: Vec<f64>,
    /// Galactic intensity at $b = 0$ per bin, photons cm$^{-2}$ s$^{-1}$ sr$^{-1}$.
    pub gal_intensity: Vec<f64>,
    /// Latitude scale $b_0$ of the Galactic part, degrees.
    pub gal_scale_deg: f64,
    /// Exposure at $b = 0$ per bin, cm$^2$ s.
    pub exposure_cm2_s: Vec<f64>,
    /// Latitude modulation $a$ of the exposure.
    pub exposure_modulation: f64,
    /// PSF width, degrees.
    pub psf_sigma_deg: f64,
    /// Point sources.
    pub sources: Vec<PointSource>,
}

impl SkySimulation {
    /// An isotropic sky with uniform exposure and no sources.
    pub fn isotropic(iso_intensity: Vec<f64>, exposure_cm2_s: Vec<f64>) -> Self {
        let n = iso_intensity.len();
        Self {
            iso_intensity,
            gal_intensity: vec![0.0; n],
            gal_scale_deg: 10.0,
            exposure_cm2_s,
            exposure_modulation: 0.0,
            psf_sigma_deg: 0.3,
            sources: Vec::new(),
        }
    }

    /// Number of energy bins.
    pub fn n_bins(&self) -> usize {
        self.iso_intensity.len()
    }

    /// Validates the model.
    ///
    /// # Errors
    /// Per-bin vectors of different lengths or empty; negative or non-finite
    /// intensities, exposures or fluxes; non-positive scales; invalid positions.
    pub fn check(&self) -> Result<()> {
        let n = self.n_bins();
        if n == 0 || self.gal_intensity.len() != n || self.exposure_cm2_s.len() != n {
            return Err(Error::shape(
                "simulation per-bin vectors (iso, gal, exposure)",
                n,
                format!(
                    "{} and {}",
                    self.gal_intensity.len(),
                    self.exposure_cm2_s.len()
                ),
            )
            .into());
        }
        let all = self
            .iso_intensity
            .iter()
            .chain(&self.gal_intensity)
            .chain(&self.exposure_cm2_s);
        if let Some(v) = all.clone().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::invalid_param(
                "simulation intensity or exposure",
                v,
                "finite and >= 0",
            )
            .into());
        }
        darkprobe_core::error::check_positive("gal_scale_deg", self.gal_scale_deg)?;
        darkprobe_core::error::check_positive("psf_sigma_deg", self.psf_sigma_deg)?;
        if !(self.exposure_modulation > -1.0 && self.exposure_modulation.is_finite()) {
            return Err(Error::invalid_param(
                "exposure_modulation",
                self.exposure_modulation,
                "finite and > -1",
            )
            .into());
        }
        for (i, s) in self.sources.iter().enumerate() {
            if !(s.l_deg.is_finite() && s.b_deg.abs() <= 90.0)
                || s.flux_cm2_s.len() != n
                || s.flux_cm2_s.iter().any(|f| !(f.is_finite() && *f >= 0.0))
            {
                return Err(Error::invalid_param(
                    format!("simulated source {i}"),
                    format!("({}, {})", s.l_deg, s.b_deg),
                    format!("a valid position and {n} finite fluxes >= 0"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// The diffuse intensity $I_k(l, b)$.
    pub fn diffuse_intensity(&self, b_deg: f64, k: usize) -> f64 {
        self.iso_intensity[k] + self.gal_intensity[k] * (-b_deg.abs() / self.gal_scale_deg).exp()
    }

    /// The exposure $\varepsilon_k(b)$.
    pub fn exposure_at(&self, b_deg: f64, k: usize) -> f64 {
        let s = b_deg.to_radians().sin();
        self.exposure_cm2_s[k] * (1.0 + self.exposure_modulation * s * s)
    }

    /// The exposure cube (one plane per bin: [`crate::skymap::ExposurePlanes::PerBin`]).
    ///
    /// # Errors
    /// An invalid model.
    pub fn exposure_cube(&self, pix: &Pixelization) -> Result<SkyCube> {
        self.check()?;
        let np = pix.n_pix();
        let mut data = Vec::with_capacity(np * self.n_bins());
        for k in 0..self.n_bins() {
            for p in 0..np {
                data.push(self.exposure_at(pix.pix_to_lb(p)?.1, k));
            }
        }
        SkyCube::new(*pix, data)
    }

    fn expected(&self, pix: &Pixelization, with_sources: bool) -> Result<SkyCube> {
        self.check()?;
        let np = pix.n_pix();
        let nb = self.n_bins();
        let mut data = vec![0.0; np * nb];
        for p in 0..np {
            let (_, b) = pix.pix_to_lb(p)?;
            let om = pix.pixel_solid_angle_sr(p)?;
            for k in 0..nb {
                data[k * np + p] = self.exposure_at(b, k) * om * self.diffuse_intensity(b, k);
            }
        }
        if with_sources && !self.sources.is_empty() {
            let reach = 5.0 * self.psf_sigma_deg;
            let index = PixelIndex::new(pix, reach.min(90.0))?;
            let s2 = self.psf_sigma_deg.to_radians().powi(2);
            for s in &self.sources {
                for p in index.disc(s.l_deg, s.b_deg, reach) {
                    let (l, b) = pix.pix_to_lb(p)?;
                    let th = angular_separation_deg(l, b, s.l_deg, s.b_deg).to_radians();
                    let frac = pix.pixel_solid_angle_sr(p)? * (-0.5 * th * th / s2).exp()
                        / (2.0 * PI * s2);
                    for k in 0..nb {
                        data[k * np + p] += self.exposure_at(b, k) * s.flux_cm2_s[k] * frac;
                    }
                }
            }
        }
        SkyCube::new(*pix, data)
    }

    /// Expected counts per pixel and bin, sources included.
    ///
    /// # Errors
    /// An invalid model.
    pub fn expected_counts(&self, pix: &Pixelization) -> Result<SkyCube> {
        self.expected(pix, true)
    }

    /// Expected counts of the diffuse emission alone.
    ///
    /// # Errors
    /// An invalid model.
    pub fn expected_diffuse_counts(&self, pix: &Pixelization) -> Result<SkyCube> {
        self.expected(pix, false)
    }

    /// Poisson counts drawn from [`SkySimulation::expected_counts`], pixel by
    /// pixel from `rng`.
    ///
    /// # Errors
    /// An invalid model.
    pub fn simulate_counts<R: Rng + ?Sized>(
        &self,
        pix: &Pixelization,
        rng: &mut R,
    ) -> Result<SkyCube> {
        let mu = self.expected_counts(pix)?;
        let data = mu
            .data()
            .iter()
            .map(|&m| {
                if m > 0.0 {
                    Poisson::new(m)
                        .map(|d| d.sample(rng))
                        .map_err(|e| Error::invalid_param("Poisson mean", m, e.to_string()))
                } else {
                    Ok(0.0)
                }
            })
            .collect::<darkprobe_core::Result<Vec<f64>>>()?;
        SkyCube::new(*pix, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skymap::CarGrid;
    use approx::assert_relative_eq;

    #[test]
    fn expected_counts_integrate_the_model() {
        let pix = Pixelization::Car(CarGrid::all_sky(1.0).unwrap());
        let mut sky = SkySimulation::isotropic(vec![1e-7, 2e-7], vec![1e11, 2e11]);
        // Isotropic: total = 4 pi I eps.
        let mu = sky.expected_counts(&pix).unwrap();
        let tot0: f64 = mu.plane(0).unwrap().iter().sum();
        assert_relative_eq!(tot0, 4.0 * PI * 1e-7 * 1e11, max_relative = 1e-9);
        // A point source adds its flux times exposure (the PSF integrates to ~1).
        sky.sources.push(PointSource {
            l_deg: 40.0,
            b_deg: 30.0,
            flux_cm2_s: vec![1e-9, 0.0],
        });
        sky.psf_sigma_deg = 2.0;
        let mu = sky.expected_counts(&pix).unwrap();
        let tot: f64 = mu.plane(0).unwrap().iter().sum();
        assert_relative_eq!(tot - tot0, 1e-9 * 1e11, max_relative = 2e-3);
        // The Galactic part: closed form 2 pi I_gal eps * 2 * int_0^90 e^{-b/b0} cos b db.
        let mut g = SkySimulation::isotropic(vec![0.0], vec![1e11]);
        g.gal_intensity = vec![1e-6];
        g.gal_scale_deg = 10.0;
        let mu = g.expected_counts(&pix).unwrap();
        let tot: f64 = mu.data().iter().sum();
        let c = (10.0f64).to_radians();
        // int_0^{pi/2} e^{-x/c} cos x dx = c (1 + c e^{-pi/2c} ... ) / (1 + c^2): exact form below.
        let half = PI / 2.0;
        let integral = (c * c * (-half / c).exp() + c) / (1.0 + c * c);
        let expect = 2.0 * PI * 1e-6 * 1e11 * 2.0 * integral;
        assert_relative_eq!(tot, expect, max_relative = 1e-3);
        let mut bad = sky.clone();
        bad.exposure_cm2_s.pop();
        assert!(bad.expected_counts(&pix).is_err());
    }
}
