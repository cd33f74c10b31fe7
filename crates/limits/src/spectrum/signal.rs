//! Expected signal counts from photon yields, J-factors and exposures.

use std::f64::consts::PI;

use darkprobe_core::error::check_positive;
use darkprobe_core::Error;

use crate::error::Result;

/// Whether the dark-matter particle is its own antiparticle; this sets the
/// factor between $\langle\sigma v\rangle\,J/m^2$ and the annihilation rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Particle {
    /// Self-conjugate (Majorana) dark matter: the rate carries
    /// $\tfrac12\,\rho^2/m^2$, so $\mu_b = \langle\sigma v\rangle J N_b
    /// \mathcal{E}_b / (8\pi m^2)$. The convention of MLFermiLATDwarfs and of
    /// the Fermi-LAT dwarf papers.
    #[default]
    Majorana,
    /// Dirac dark matter with equal particle and antiparticle densities
    /// $\rho/2$ and $\langle\sigma v\rangle$ the particle-antiparticle
    /// cross-section: the rate carries $(\rho/2m)^2$, half the Majorana one,
    /// so the prefactor is $1/(16\pi)$.
    Dirac,
}

impl Particle {
    /// The prefactor $\kappa / (4\pi)$ of $\langle\sigma v\rangle J N_b
    /// \mathcal{E}_b / m^2$: $1/(8\pi)$ for Majorana, $1/(16\pi)$ for Dirac.
    ///
    /// ```
    /// use darkprobe_limits::spectrum::Particle;
    /// use std::f64::consts::PI;
    /// assert_eq!(Particle::Majorana.prefactor(), 1.0 / (8.0 * PI));
    /// assert_eq!(Particle::Dirac.prefactor(), 0.5 * Particle::Majorana.prefactor());
    /// ```
    pub fn prefactor(self) -> f64 {
        match self {
            Particle::Majorana => 1.0 / (8.0 * PI),
            Particle::Dirac => 1.0 / (16.0 * PI),
        }
    }
}

fn check_inputs(mass_gev: f64, n_gamma: &[f64], exposure_cm2_s: &[f64]) -> Result<()> {
    check_positive("mass_gev", mass_gev)?;
    if n_gamma.is_empty() {
        return Err(Error::empty(
            "n_gamma",
            "give the photon yield of at least one energy bin",
        )
        .into());
    }
    if n_gamma.len() != exposure_cm2_s.len() {
        return Err(Error::shape(
            "photon yields and exposures per bin",
            format!("{} exposures (one per bin of n_gamma)", n_gamma.len()),
            format!("{} exposures", exposure_cm2_s.len()),
        )
        .into());
    }
    for (name, values) in [("n_gamma", n_gamma), ("exposure_cm2_s", exposure_cm2_s)] {
        for (i, &v) in values.iter().enumerate() {
            if !(v.is_finite() && v >= 0.0) {
                return Err(
                    Error::invalid_param(format!("{name}[{i}]"), v, "finite and >= 0").into(),
                );
            }
        }
    }
    Ok(())
}

/// The expected signal counts per unit $\langle\sigma v\rangle J$ in each
/// bin, $k_b = \frac{\kappa}{4\pi}\,N_b\,\mathcal{E}_b / m^2$ in cm$^2$ s
/// GeV$^{-2}$, so that $\mu_b = \langle\sigma v\rangle\,J\,k_b$ with
/// $\langle\sigma v\rangle$ in cm$^3$ s$^{-1}$ and $J$ in GeV$^2$ cm$^{-5}$.
///
/// `n_gamma` are the photons per annihilation in each bin ([`photon_yields`](super::photon_yields)),
/// `exposure_cm2_s` the exposure in each bin, `particle` the
/// Majorana/Dirac convention ([`Particle::prefactor`]). The likelihood code
/// multiplies these by the cross-section and each target's J-factor.
///
/// # Errors
/// An invalid-parameter error for a mass that is not finite and > 0, or a
/// yield or exposure that is not finite and $\ge 0$ (naming its index); a
/// shape error when the two slices differ in length; an empty-input error for
/// no bins.
///
/// ```
/// use darkprobe_limits::spectrum::{signal_coefficients, Particle};
/// let k = signal_coefficients(100.0, &[2.0, 0.5], &[1e11, 2e11], Particle::Majorana)?;
/// let pi = std::f64::consts::PI;
/// assert!((k[0] - 2.0 * 1e11 / (8.0 * pi * 1e4)).abs() < 1e-9 * k[0]);
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
pub fn signal_coefficients(
    mass_gev: f64,
    n_gamma: &[f64],
    exposure_cm2_s: &[f64],
    particle: Particle,
) -> Result<Vec<f64>> {
    check_inputs(mass_gev, n_gamma, exposure_cm2_s)?;
    let c = particle.prefactor() / (mass_gev * mass_gev);
    Ok(n_gamma
        .iter()
        .zip(exposure_cm2_s)
        .map(|(n, e)| c * n * e)
        .collect())
}

/// The expected signal counts in each bin,
/// $\mu_b = \frac{\kappa}{4\pi}\,\frac{\langle\sigma v\rangle}{m^2}\,J\,N_b\,\mathcal{E}_b$
/// (see [`signal_coefficients`]).
///
/// # Errors
/// As [`signal_coefficients`], and an invalid-parameter error for a
/// cross-section or J-factor that is not finite and $\ge 0$.
///
/// ```
/// use darkprobe_limits::spectrum::{expected_counts, Particle};
/// let mu = expected_counts(3e-26, 1e19, 100.0, &[10.0], &[1e11], Particle::Majorana)?;
/// let want = 3e-26 / (8.0 * std::f64::consts::PI * 1e4) * 1e19 * 10.0 * 1e11;
/// assert!((mu[0] - want).abs() < 1e-12 * want);
/// let mu_dirac = expected_counts(3e-26, 1e19, 100.0, &[10.0], &[1e11], Particle::Dirac)?;
/// assert!((mu_dirac[0] - 0.5 * mu[0]).abs() < 1e-15 * mu[0]);
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
pub fn expected_counts(
    sigma_v_cm3_s: f64,
    j_factor_gev2_cm5: f64,
    mass_gev: f64,
    n_gamma: &[f64],
    exposure_cm2_s: &[f64],
    particle: Particle,
) -> Result<Vec<f64>> {
    for (name, v) in [
        ("sigma_v_cm3_s", sigma_v_cm3_s),
        ("j_factor_gev2_cm5", j_factor_gev2_cm5),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::invalid_param(name, v, "finite and >= 0").into());
        }
    }
    let k = signal_coefficients(mass_gev, n_gamma, exposure_cm2_s, particle)?;
    Ok(k.into_iter()
        .map(|k| sigma_v_cm3_s * j_factor_gev2_cm5 * k)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn counts_follow_the_flux_formula() {
        // The package's form: 1/(8 pi) sv / m^2 J N_b, then times the exposure.
        let (sv, j, m) = (1e-25, 10f64.powf(18.83), 100.0);
        let n = [2.9130071913, 5.2079728932];
        let expo = [3.1e11, 5.7e11];
        let mu = expected_counts(sv, j, m, &n, &expo, Particle::Majorana).unwrap();
        for b in 0..2 {
            let flux = 1.0 / (8.0 * PI) * sv / (m * m) * j * n[b];
            assert_relative_eq!(mu[b], flux * expo[b], max_relative = 1e-14);
        }
        let k = signal_coefficients(m, &n, &expo, Particle::Dirac).unwrap();
        for b in 0..2 {
            assert_relative_eq!(sv * j * k[b], 0.5 * mu[b], max_relative = 1e-14);
        }
        // Scaling: mu ~ sv J / m^2.
        let mu2 =
            expected_counts(2.0 * sv, 3.0 * j, 2.0 * m, &n, &expo, Particle::Majorana).unwrap();
        assert_relative_eq!(mu2[0], mu[0] * 6.0 / 4.0, max_relative = 1e-14);
        // Zero cross-section, zero counts.
        let zero = expected_counts(0.0, j, m, &n, &expo, Particle::Majorana).unwrap();
        assert_eq!(zero, vec![0.0, 0.0]);
    }

    #[test]
    fn bad_inputs_are_named() {
        let e = |r: Result<Vec<f64>>| r.unwrap_err().to_string();
        assert!(
            e(signal_coefficients(0.0, &[1.0], &[1.0], Particle::Majorana)).contains("mass_gev")
        );
        assert!(e(signal_coefficients(1.0, &[], &[], Particle::Majorana)).contains("n_gamma"));
        assert!(e(signal_coefficients(
            1.0,
            &[1.0, 2.0],
            &[1.0],
            Particle::Majorana
        ))
        .contains("shape"));
        assert!(e(signal_coefficients(
            1.0,
            &[1.0, -2.0],
            &[1.0, 1.0],
            Particle::Majorana
        ))
        .contains("n_gamma[1]"));
        assert!(e(signal_coefficients(
            1.0,
            &[1.0],
            &[f64::NAN],
            Particle::Majorana
        ))
        .contains("exposure_cm2_s[0]"));
        assert!(e(expected_counts(
            -1.0,
            1.0,
            1.0,
            &[1.0],
            &[1.0],
            Particle::Majorana
        ))
        .contains("sigma_v_cm3_s"));
        assert!(e(expected_counts(
            1.0,
            f64::INFINITY,
            1.0,
            &[1.0],
            &[1.0],
            Particle::Majorana
        ))
        .contains("j_factor_gev2_cm5"));
    }
}
