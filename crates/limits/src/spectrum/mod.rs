//! # Spectra
//!
//! Photon spectra of dark-matter annihilation, their integrals over energy
//! bins, and the expected signal counts built from them.
//!
//! # Model
//!
//! A spectrum gives the number of prompt photons per annihilation per unit
//! energy, $dN/dE$ in GeV$^{-1}$, for a dark-matter mass $m$ (GeV) at a photon
//! energy $E$ (GeV). It vanishes above the mass: $dN/dE = 0$ for
//! $x = E/m > 1$. The [`Spectrum`] trait is the interface; [`AtMass`] is a
//! spectrum resolved at one mass, the form that integration works with;
//! [`FnSpectrum`] wraps a function $dN/dE(m, E)$ (analytic spectra).
//!
//! **Channel tables** (PPPC4DMID, CosmiXs; [`ChannelTable`]) tabulate, for a
//! list of masses and a grid in $\log_{10} x$, the yield per unit
//! $\log_{10} x$ of each primary annihilation channel. Then
//! $$\frac{dN}{dE}(E) = \frac{1}{E \ln 10}\,\frac{dN}{d\log_{10} x}\bigg|_{x = E/m}.$$
//! A channel is chosen by name ([`ChannelTable::spectrum`]): the table's own
//! column names (`b`, `tau`, `W`, `\[Tau]`, `dNdLog10x [b]`...) or the usual
//! final-state names (`bb`, `tautau`, `WW`, `mumu`, `ee`, `tt`, `ZZ`, `hh`,
//! `gg`, `cc`, `qq`, `gammagamma`, `b bbar`, `tau+tau-`...), case-insensitive.
//!
//! **User tables** ([`TabulatedSpectrum::read_user_table`]) have three columns,
//! mass (GeV), $E$ (GeV), $dN/dE$ [GeV$^{-1}$], one block of rows per mass, as
//! the MLFermiLATDwarfs package reads them. Outside a block's energy range the
//! spectrum is zero.
//!
//! **Interpolation in energy** at a tabulated mass ([`Interp`]): between two
//! table points $(a_k, v_k)$ and $(a_{k+1}, v_{k+1})$, where $a$ is the energy
//! (equivalently $x$) and $v$ the tabulated quantity ($dN/d\log_{10}x$ or
//! $dN/dE$),
//! - [`Interp::LogLog`] (default): $\ln v$ linear in $\ln a$, exact for power
//!   laws $v \propto a^p$. An interval with a zero end is interpolated as
//!   [`Interp::SemiLog`].
//! - [`Interp::SemiLog`]: $v$ linear in $\ln a$. For $dN/d\log_{10}x$ its
//!   integral over $\log_{10}x$ is the trapezoid sum of the table.
//! - [`Interp::Linear`]: $v$ linear in $a$, as MLFermiLATDwarfs does (scipy
//!   `interp1d`).
//!
//! **Interpolation in mass** ([`MassInterp`]): at a mass $m$ between tabulated
//! masses $m_j < m < m_{j+1}$, the yields per unit $\log_{10} x$ of the two
//! neighbours are taken at the *same* $x = E/m$, $F_j = (dN/d\log_{10}x)_j(x)$,
//! and combined with $t = \ln(m/m_j)/\ln(m_{j+1}/m_j)$; by default
//! ([`MassInterp::LogLog`]) $\ln F = (1-t)\ln F_j + t \ln F_{j+1}$ (linear in
//! $t$ when one of them is zero). A table whose $dN/d\log_{10}x$ is
//! $A\, m^q x^p$ is then reproduced exactly at every mass. A tabulated mass
//! (relative tolerance $10^{-9}$) uses its own rows, untouched. Masses outside
//! the tabulated range are [`LimitsError::MassOutOfRange`]; so are masses
//! between tabulated ones under [`MassInterp::TabulatedOnly`], the default of
//! user tables (mass interpolation there is an explicit option).
//!
//! **Bin yields** ([`photon_yields`]): the photons per annihilation in the
//! energy bin $[E_b, E_{b+1}]$,
//! $$N_b = \int_{E_b}^{\min(E_{b+1},\, m)} \frac{dN}{dE}\,dE
//!       = \int \frac{dN}{dE}(e^t)\, e^t\, dt, \quad t = \ln E,$$
//! by composite Gauss-Legendre rules in $\ln E$
//! (`darkprobe_core::quad::integrate_log_bins`). Each bin is first split at
//! the energies where the interpolant has a kink (the table nodes, $E = m$,
//! the ends of the tabulated range), so each piece is smooth and the rule
//! converges to machine precision: for log-log interpolation the integrand
//! $e^t\,dN/dE$ is an exponential in $t$ on each piece.
//!
//! **Expected counts** ([`expected_counts`], [`signal_coefficients`]). For a
//! target with J-factor $J$ [GeV$^2$ cm$^{-5}$] and an exposure
//! $\mathcal{E}_b$ [cm$^2$ s] in bin $b$, the expected signal counts are
//! $$\mu_b = \frac{\kappa}{4\pi}\,\frac{\langle\sigma v\rangle}{m^2}\,J\,N_b\,\mathcal{E}_b
//!        = \langle\sigma v\rangle\, J\, k_b, \qquad
//!   k_b = \frac{\kappa}{4\pi}\,\frac{N_b\,\mathcal{E}_b}{m^2},$$
//! with $\kappa = 1/2$ for self-conjugate (Majorana) dark matter, i.e. the
//! familiar $1/(8\pi)$, and $\kappa = 1/4$ for Dirac dark matter whose
//! $\langle\sigma v\rangle$ is the particle-antiparticle cross-section and whose
//! density is shared equally by particles and antiparticles ([`Particle`]).
//! The units cancel: cm$^3$ s$^{-1}$ $\times$ GeV$^2$ cm$^{-5}$ $\times$ cm$^2$ s
//! GeV$^{-2}$. The coefficients $k_b$ [cm$^2$ s GeV$^{-2}$], the expected
//! counts per unit $\langle\sigma v\rangle J$, are what the likelihood code
//! consumes.
//!
//! # The MLFermiLATDwarfs convention
//!
//! The dwarf analysis of Calore, Serpico & Zaldivar (package MLFermiLATDwarfs
//! v1.0) computes its macro-bin yields in its own way; to reproduce its numbers,
//! use [`TabulatedSpectrum::with_mlfermilatdwarfs_convention`] (linear
//! interpolation in $E$, tabulated masses only) and [`photon_yields`] with
//! [`BinIntegration::MLFERMILATDWARFS`] (trapezoid rule on 500 log-spaced
//! points per bin, end points included) over the rounded edges
//! [`MLFERMILATDWARFS_EDGES_GEV`] $= [0.5, 0.67, 0.89, 1.19, 1.58, 2.81, 500]$
//! GeV. For PPPC tables the package extrapolates $dN/d\log_{10}x$ linearly below
//! the lowest tabulated $x = 10^{-8.9}$; so does this convention, with negative
//! values clamped to zero (it never matters at LAT energies). Above $E = m$
//! the package returns $10^{-180}$ and we return zero: the difference is below
//! $10^{-177}$ photons.
//!
//! Measured on $b\bar b$ from the PPPC table at 10, 100 and 1000 GeV: the
//! package's trapezoid rule departs from the exact integral of its own
//! interpolant by at most $3\times10^{-5}$ (relative), except in the highest bin
//! at 10 GeV ($3\times10^{-4}$, from the trapezoid panel straddling $E = m$).
//! Log-log interpolation, the default here, changes the yields by 0.2-1% in
//! the five low bins at 10 GeV, by less than 0.1% there at 100 and 1000 GeV,
//! and by 0.1-2.2% in the highest bin, where the spectrum falls steeply
//! towards $E = m$. Gauss-Legendre integration split at the table nodes
//! ([`BinIntegration::default`]) integrates the chosen interpolant to
//! rounding error.
//!
//! # References
//! - M. Cirelli, G. Corcella, A. Hektor, G. Hütsi, M. Kadastik, P. Panci,
//!   M. Raidal, F. Sala, A. Strumia, *PPPC 4 DM ID: a poor particle physicist
//!   cookbook for dark matter indirect detection*, JCAP 03 (2011) 051,
//!   arXiv:1012.4515 (tables `AtProduction_gammas.dat`, with electroweak
//!   corrections, and `AtProductionNoEW_gammas.dat`).
//! - C. Arina, M. Di Mauro, N. Fornengo, J. Heisig, A. Jueid, R. Ruiz de Austri,
//!   *CosmiXs: cosmic messenger spectra for indirect dark matter searches*,
//!   JCAP 03 (2024) 035, arXiv:2312.01153 (table `AtProduction-Gamma.dat`).
//! - F. Calore, P. D. Serpico, B. Zaldivar, *Dark matter constraints from dwarf
//!   galaxies: a data-driven analysis*, JCAP 10 (2018) 029, arXiv:1803.05508,
//!   and A. Alvarez et al., JCAP 09 (2020) 004, arXiv:2002.01229 (the
//!   MLFermiLATDwarfs conventions above).
//!
//! # Example
//! ```
//! use darkprobe_limits::spectrum::{
//!     photon_yields, signal_coefficients, BinIntegration, Particle, Spectrum,
//!     TabulatedSpectrum,
//! };
//! // A user table: dN/dE = 2/E on [0.1, 100] GeV at m = 100 GeV.
//! let text = "# mass E dN/dE\n100 0.1 20\n100 1 2\n100 10 0.2\n100 100 0.02\n";
//! let spec = TabulatedSpectrum::parse_user_table(text, "my_spectrum.dat")?;
//! assert_eq!(spec.tabulated_masses_gev(), &[100.0]);
//! // Log-log interpolation is exact on the power law.
//! assert!((spec.dn_de(100.0, 3.0)? - 2.0 / 3.0).abs() < 1e-14);
//! // Photons in [1, 10] GeV: 2 ln 10.
//! let n = photon_yields(&spec, 100.0, &[1.0, 10.0], BinIntegration::default())?;
//! assert!((n[0] - 2.0 * 10f64.ln()).abs() < 1e-12);
//! // Counts per unit <sigma v> J for an exposure of 1e11 cm^2 s.
//! let k = signal_coefficients(100.0, &n, &[1e11], Particle::Majorana)?;
//! let mu = 3e-26 * 1e19 * k[0];
//! let expected = 3e-26 / (8.0 * std::f64::consts::PI * 100.0 * 100.0) * 1e19 * n[0] * 1e11;
//! assert!((mu - expected).abs() < 1e-12 * expected);
//! # Ok::<(), darkprobe_limits::LimitsError>(())
//! ```
//!
//! [`LimitsError::MassOutOfRange`]: crate::LimitsError::MassOutOfRange

mod bins;
mod channels;
mod signal;
mod table;
mod user;

#[cfg(test)]
mod real_data_tests;

pub use bins::{photon_yields, BinIntegration, MLFERMILATDWARFS_EDGES_GEV};
pub use channels::{ChannelTable, TableFormat};
pub use signal::{expected_counts, signal_coefficients, Particle};
pub use table::{Interp, MassInterp, TabulatedSpectrum};

use crate::error::Result;
use darkprobe_core::Error;

/// A photon spectrum of dark-matter annihilation: $dN/dE$ [GeV$^{-1}$] per
/// annihilation, as a function of the mass and the photon energy, both in GeV.
///
/// Implementors provide [`at_mass`](Spectrum::at_mass), which validates the
/// mass once and returns the spectrum at that mass as an [`AtMass`]; the other
/// methods have defaults built on it.
///
/// ```
/// use darkprobe_limits::spectrum::{AtMass, Spectrum};
/// use darkprobe_limits::Result;
///
/// /// A box spectrum for illustration: 2/m per GeV on [m/2, m].
/// struct Flat;
/// impl Spectrum for Flat {
///     fn name(&self) -> &str { "flat" }
///     fn mass_range_gev(&self) -> (f64, f64) { (1.0, 1e4) }
///     fn at_mass(&self, mass_gev: f64) -> Result<AtMass<'_>> {
///         self.check_mass_in_range(mass_gev)?;
///         AtMass::new(mass_gev, move |e: f64| if e >= 0.5 * mass_gev { 2.0 / mass_gev } else { 0.0 })
///             .map(|a| a.with_breakpoints_gev(vec![0.5 * mass_gev]))
///     }
/// }
/// assert_eq!(Flat.dn_de(10.0, 7.0)?, 0.2);
/// assert_eq!(Flat.dn_de(10.0, 11.0)?, 0.0); // above the mass
/// assert!(Flat.dn_de(1e5, 7.0).is_err()); // outside the mass range
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
pub trait Spectrum {
    /// A short description (channel and source table, or the user's name).
    fn name(&self) -> &str;

    /// The smallest and largest mass (GeV) this spectrum accepts.
    fn mass_range_gev(&self) -> (f64, f64);

    /// The masses (GeV) at which the spectrum is tabulated, increasing; empty
    /// for analytic spectra.
    fn tabulated_masses_gev(&self) -> &[f64] {
        &[]
    }

    /// The spectrum at one mass.
    ///
    /// # Errors
    /// [`LimitsError::MassOutOfRange`](crate::LimitsError::MassOutOfRange)
    /// for a mass the spectrum does not cover, and an invalid-parameter error
    /// for a mass that is not finite and > 0.
    fn at_mass(&self, mass_gev: f64) -> Result<AtMass<'_>>;

    /// $dN/dE$ [GeV$^{-1}$] at `energy_gev` for `mass_gev`; zero above the mass.
    ///
    /// # Errors
    /// As [`at_mass`](Spectrum::at_mass), and an invalid-parameter error for
    /// an energy that is not finite and > 0.
    fn dn_de(&self, mass_gev: f64, energy_gev: f64) -> Result<f64> {
        darkprobe_core::error::check_positive("energy_gev", energy_gev)?;
        Ok(self.at_mass(mass_gev)?.dn_de(energy_gev))
    }

    /// $dN/d\log_{10}x = E \ln 10\; dN/dE$ at $x = E/m$ (`x` in $(0, 1]$ gives
    /// the spectrum, `x > 1` gives zero).
    ///
    /// # Errors
    /// As [`dn_de`](Spectrum::dn_de), for `x` not finite and > 0.
    fn dn_dlog10x(&self, mass_gev: f64, x: f64) -> Result<f64> {
        darkprobe_core::error::check_positive("x", x)?;
        let at = self.at_mass(mass_gev)?;
        let e = x * mass_gev;
        Ok(at.dn_de(e) * e * std::f64::consts::LN_10)
    }

    /// Checks that `mass_gev` is finite, > 0 and inside
    /// [`mass_range_gev`](Spectrum::mass_range_gev); a helper for implementors.
    ///
    /// # Errors
    /// An invalid-parameter error for a mass that is not finite and > 0,
    /// [`LimitsError::MassOutOfRange`](crate::LimitsError::MassOutOfRange)
    /// outside the range.
    fn check_mass_in_range(&self, mass_gev: f64) -> Result<()> {
        darkprobe_core::error::check_positive("mass_gev", mass_gev)?;
        let (lo, hi) = self.mass_range_gev();
        if mass_gev < lo || mass_gev > hi {
            return Err(crate::LimitsError::MassOutOfRange {
                mass_gev,
                table: self.name().to_string(),
                reason: format!("the spectrum covers {lo} to {hi} GeV"),
            });
        }
        Ok(())
    }
}

/// A spectrum resolved at one mass: $dN/dE(E)$ [GeV$^{-1}$] at fixed $m$,
/// with the energies where it has kinks or jumps.
///
/// [`dn_de`](AtMass::dn_de) returns zero above the mass and at energies
/// $\le 0$ without calling the underlying function, so an implementation only
/// has to handle $0 < E \le m$. The breakpoints tell the integrator where to
/// split bins so that each piece is smooth.
///
/// ```
/// use darkprobe_limits::spectrum::AtMass;
/// let at = AtMass::new(10.0, |e: f64| 1.0 / e)?.with_breakpoints_gev(vec![20.0, 5.0, 1.0]);
/// assert_eq!(at.dn_de(2.0), 0.5);
/// assert_eq!(at.dn_de(12.0), 0.0); // above the mass
/// assert_eq!(at.breakpoints_gev(), &[1.0, 5.0]); // sorted, only inside (0, m)
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
pub struct AtMass<'a> {
    mass_gev: f64,
    eval: Box<dyn Fn(f64) -> f64 + 'a>,
    breakpoints_gev: Vec<f64>,
}

impl std::fmt::Debug for AtMass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtMass")
            .field("mass_gev", &self.mass_gev)
            .field("breakpoints_gev", &self.breakpoints_gev)
            .finish_non_exhaustive()
    }
}

impl<'a> AtMass<'a> {
    /// The spectrum `dn_de_gev` (a function of the energy in GeV, called only
    /// for $0 < E \le m$) at mass `mass_gev`, without breakpoints.
    ///
    /// # Errors
    /// An invalid-parameter error for a mass that is not finite and > 0.
    pub fn new(mass_gev: f64, dn_de_gev: impl Fn(f64) -> f64 + 'a) -> Result<Self> {
        darkprobe_core::error::check_positive("mass_gev", mass_gev)?;
        Ok(Self {
            mass_gev,
            eval: Box::new(dn_de_gev),
            breakpoints_gev: Vec::new(),
        })
    }

    /// The same spectrum with these breakpoints (GeV): energies where it has a
    /// kink or a jump. They are sorted; values that are not finite or outside
    /// $(0, m)$ are dropped (the mass itself is always a breakpoint).
    pub fn with_breakpoints_gev(mut self, mut breakpoints_gev: Vec<f64>) -> Self {
        let m = self.mass_gev;
        breakpoints_gev.retain(|&e| e.is_finite() && e > 0.0 && e < m);
        breakpoints_gev.sort_by(f64::total_cmp);
        breakpoints_gev.dedup();
        self.breakpoints_gev = breakpoints_gev;
        self
    }

    /// The mass (GeV).
    pub fn mass_gev(&self) -> f64 {
        self.mass_gev
    }

    /// The breakpoints (GeV) inside $(0, m)$, increasing.
    pub fn breakpoints_gev(&self) -> &[f64] {
        &self.breakpoints_gev
    }

    /// $dN/dE$ [GeV$^{-1}$] at `energy_gev`: zero for $E > m$ and for $E \le 0$,
    /// NaN for a NaN energy.
    pub fn dn_de(&self, energy_gev: f64) -> f64 {
        if energy_gev.is_nan() {
            f64::NAN
        } else if energy_gev > 0.0 && energy_gev <= self.mass_gev {
            (self.eval)(energy_gev)
        } else {
            0.0
        }
    }
}

/// A spectrum given by a function $dN/dE(m, E)$ [GeV$^{-1}$] of the mass and
/// the energy (GeV), valid on a mass range: analytic spectra, test spectra.
///
/// ```
/// use darkprobe_limits::spectrum::{photon_yields, BinIntegration, FnSpectrum, Spectrum};
/// // dN/dE = 1/m on [0, m]: one photon per annihilation, spread evenly.
/// let flat = FnSpectrum::new("flat", (1.0, 1e3), |m: f64, _e: f64| 1.0 / m)?;
/// let n = photon_yields(&flat, 10.0, &[1.0, 5.0, 100.0], BinIntegration::default())?;
/// assert!((n[0] - 0.4).abs() < 1e-14 && (n[1] - 0.5).abs() < 1e-14);
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
pub struct FnSpectrum<F> {
    name: String,
    mass_range_gev: (f64, f64),
    f: F,
}

impl<F> std::fmt::Debug for FnSpectrum<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnSpectrum")
            .field("name", &self.name)
            .field("mass_range_gev", &self.mass_range_gev)
            .finish_non_exhaustive()
    }
}

impl<F: Fn(f64, f64) -> f64> FnSpectrum<F> {
    /// The spectrum `dn_de(mass_gev, energy_gev)`, accepted for masses in
    /// `mass_range_gev` (inclusive). The function is only called with
    /// $0 < E \le m$.
    ///
    /// # Errors
    /// An invalid-parameter error unless both ends of the range are finite,
    /// > 0 and ordered.
    pub fn new(name: impl Into<String>, mass_range_gev: (f64, f64), dn_de: F) -> Result<Self> {
        let (lo, hi) = mass_range_gev;
        darkprobe_core::error::check_positive("mass_range_gev.0", lo)?;
        darkprobe_core::error::check_positive("mass_range_gev.1", hi)?;
        if hi < lo {
            return Err(Error::invalid_param(
                "mass_range_gev.1",
                hi,
                format!(">= mass_range_gev.0 = {lo}"),
            )
            .into());
        }
        Ok(Self {
            name: name.into(),
            mass_range_gev,
            f: dn_de,
        })
    }
}

impl<F: Fn(f64, f64) -> f64> Spectrum for FnSpectrum<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn mass_range_gev(&self) -> (f64, f64) {
        self.mass_range_gev
    }

    fn at_mass(&self, mass_gev: f64) -> Result<AtMass<'_>> {
        self.check_mass_in_range(mass_gev)?;
        AtMass::new(mass_gev, move |e| (self.f)(mass_gev, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LimitsError;

    #[test]
    fn at_mass_is_zero_above_the_mass_and_for_non_positive_energy() {
        let at = AtMass::new(10.0, |_e: f64| 3.0).unwrap();
        assert_eq!(at.dn_de(10.0), 3.0);
        assert_eq!(at.dn_de(10.000001), 0.0);
        assert_eq!(at.dn_de(0.0), 0.0);
        assert_eq!(at.dn_de(-1.0), 0.0);
        assert!(at.dn_de(f64::NAN).is_nan());
        assert_eq!(at.mass_gev(), 10.0);
        assert!(AtMass::new(0.0, |_e: f64| 1.0).is_err());
        assert!(AtMass::new(f64::NAN, |_e: f64| 1.0).is_err());
    }

    #[test]
    fn spectra_work_as_trait_objects() {
        let table = TabulatedSpectrum::parse_user_table("10 1 1\n10 10 0.1\n", "t.dat").unwrap();
        let analytic = FnSpectrum::new("1/E", (1.0, 100.0), |_m: f64, e: f64| 1.0 / e).unwrap();
        let specs: Vec<Box<dyn Spectrum>> = vec![Box::new(table), Box::new(analytic)];
        for s in &specs {
            // Both are 1/E on [1, 10] GeV at m = 10: ln 10 photons.
            let n =
                photon_yields(s.as_ref(), 10.0, &[1.0, 10.0], BinIntegration::default()).unwrap();
            assert!((n[0] - 10f64.ln()).abs() < 1e-13, "{}: {}", s.name(), n[0]);
        }
    }

    #[test]
    fn breakpoints_are_sorted_deduplicated_and_inside() {
        let at = AtMass::new(10.0, |_e: f64| 1.0)
            .unwrap()
            .with_breakpoints_gev(vec![3.0, f64::NAN, 1.0, 3.0, 10.0, -2.0, 0.0, 11.0]);
        assert_eq!(at.breakpoints_gev(), &[1.0, 3.0]);
    }

    #[test]
    fn fn_spectrum_checks_masses_and_energies() {
        let s =
            FnSpectrum::new("power law", (1.0, 100.0), |m: f64, e: f64| e.powf(-1.5) / m).unwrap();
        assert_eq!(s.name(), "power law");
        assert!(s.tabulated_masses_gev().is_empty());
        let v = s.dn_de(10.0, 4.0).unwrap();
        assert!((v - 0.125 / 10.0).abs() < 1e-16);
        // dN/dlog10x = E ln10 dN/dE.
        let w = s.dn_dlog10x(10.0, 0.4).unwrap();
        assert!((w - 4.0 * std::f64::consts::LN_10 * v).abs() < 1e-15);
        assert_eq!(s.dn_dlog10x(10.0, 1.5).unwrap(), 0.0);
        assert!(matches!(
            s.dn_de(200.0, 1.0),
            Err(LimitsError::MassOutOfRange { mass_gev, .. }) if mass_gev == 200.0
        ));
        assert!(s.dn_de(0.5, 0.1).is_err());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = s.dn_de(10.0, bad).unwrap_err().to_string();
            assert!(err.contains("energy_gev"), "{err}");
            assert!(s
                .dn_de(bad, 1.0)
                .unwrap_err()
                .to_string()
                .contains("mass_gev"));
        }
        assert!(FnSpectrum::new("bad", (10.0, 1.0), |_m: f64, _e: f64| 0.0).is_err());
        assert!(FnSpectrum::new("bad", (0.0, 1.0), |_m: f64, _e: f64| 0.0).is_err());
    }
}
