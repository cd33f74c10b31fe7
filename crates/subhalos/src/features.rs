//! The feature space of the analysis: log-parabola spectra, the three
//! features $x = (\log_{10} F, \alpha(E_0), \beta)$, the region of interest
//! and the Galactic / extragalactic class groups.
//!
//! # Log-parabola spectra
//! The 4FGL log-parabola (LP) spectrum with pivot $E_p$ is
//! $$\frac{dN}{dE} = K \left(\frac{E}{E_p}\right)^{-\alpha - \beta \ln(E/E_p)},$$
//! whose local index at an energy $E_0$ is
//! $\alpha(E_0) = \alpha + 2\beta \ln(E_0/E_p)$ (exact re-pivoting: the same
//! curve, written around $E_0$). With $u = \ln(E/E_p)$ the photon and energy
//! fluxes between $E_a$ and $E_b$ are one-dimensional integrals of a Gaussian
//! in $u$,
//! $$F = K E_p \int_{u_a}^{u_b} e^{(1-\alpha)u - \beta u^2}\,du, \qquad
//!   S = K E_p^2 \int_{u_a}^{u_b} e^{(2-\alpha)u - \beta u^2}\,du,$$
//! evaluated here by composite Gauss-Legendre quadrature (exact to about
//! $10^{-13}$ relative for any sign of $\beta$; the closed forms in $\mathrm{erf}$
//! hold only for $\beta > 0$ and serve as the tests' reference).
//!
//! # The photon flux feature
//! The paper uses $\log_{10}$ of the photon flux from 100 MeV to 1 TeV, the sum
//! of the catalog's band fluxes above 100 MeV. Catalogs without band fluxes
//! (the 4FGL-DR2 table of Bhat & Malyshev gives only the 100 MeV-100 GeV
//! energy flux $S$) get it from the LP shape normalised to $S$:
//! $F = S \cdot F_1 / S_1$ with $F_1, S_1$ the fluxes of the shape with $K = 1$
//! ([`LogParabola::photon_flux_from_energy_flux`]). This is an approximation:
//! it assumes the LP fit describes the spectrum over the whole 100 MeV-1 TeV
//! range, whereas the band fluxes are fitted band by band. The two agree for
//! well-measured LP spectra; for faint sources, whose band fluxes are dominated
//! by a few low-energy bands, they differ by the band-to-model scatter.

use darkprobe_core::quad::GaussLegendre;
use darkprobe_core::units::GEV_IN_ERG;
use darkprobe_core::{Error, Location};
use darkprobe_kde::AxisBox;

use crate::error::{Result, SubhaloError};

/// Number of features, $d = 3$.
pub const N_FEATURES: usize = 3;

/// One MeV in erg.
pub const MEV_IN_ERG: f64 = GEV_IN_ERG * 1e-3;

/// Lower end of the photon-flux band of the feature, 100 MeV.
pub const FLUX_E_MIN_MEV: f64 = 100.0;
/// Upper end of the photon-flux band of the feature, 1 TeV.
pub const FLUX_E_MAX_MEV: f64 = 1.0e6;

/// The energy at which the spectral index feature $\alpha(E_0)$ is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferenceEnergy {
    /// $E_0 = 1$ GeV: the paper's baseline.
    #[default]
    OneGeV,
    /// $E_0 = 100$ MeV: the paper's choice for light dark matter.
    HundredMeV,
}

impl ReferenceEnergy {
    /// $E_0$ in MeV.
    pub fn energy_mev(self) -> f64 {
        match self {
            ReferenceEnergy::OneGeV => 1000.0,
            ReferenceEnergy::HundredMeV => 100.0,
        }
    }
}

/// The three features of a source, with the index stored at $E_0 = 1$ GeV.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// $\log_{10}$ of the 100 MeV-1 TeV photon flux in photons cm$^{-2}$ s$^{-1}$.
    pub log10_flux_ph_cm2_s: f64,
    /// LP index at 1 GeV.
    pub alpha_1gev: f64,
    /// LP curvature $\beta$ (natural-log convention).
    pub beta: f64,
}

impl Features {
    /// The features from an index quoted at `energy`.
    pub fn from_alpha_at(
        log10_flux_ph_cm2_s: f64,
        alpha: f64,
        beta: f64,
        energy: ReferenceEnergy,
    ) -> Self {
        Self {
            log10_flux_ph_cm2_s,
            alpha_1gev: alpha + 2.0 * beta * (1000.0 / energy.energy_mev()).ln(),
            beta,
        }
    }

    /// $\alpha(E_0)$, re-pivoted exactly from 1 GeV.
    pub fn alpha_at(&self, energy: ReferenceEnergy) -> f64 {
        self.alpha_1gev + 2.0 * self.beta * (energy.energy_mev() / 1000.0).ln()
    }

    /// The feature vector $x = (\log_{10} F, \alpha(E_0), \beta)$.
    pub fn vector(&self, energy: ReferenceEnergy) -> [f64; N_FEATURES] {
        [self.log10_flux_ph_cm2_s, self.alpha_at(energy), self.beta]
    }

    /// Whether all three values are finite.
    pub fn is_finite(&self) -> bool {
        self.log10_flux_ph_cm2_s.is_finite() && self.alpha_1gev.is_finite() && self.beta.is_finite()
    }
}

/// A log-parabola spectrum
/// $dN/dE = K (E/E_p)^{-\alpha - \beta\ln(E/E_p)}$ in photons cm$^{-2}$ s$^{-1}$ MeV$^{-1}$.
///
/// ```
/// use darkprobe_subhalos::LogParabola;
/// // A power law of index 2 (beta = 0): F(100 MeV - 1 TeV) = K E_p^2 (1/100 - 1/1e6).
/// let lp = LogParabola::new(1e-12, 1000.0, 2.0, 0.0).unwrap();
/// let f = lp.photon_flux(100.0, 1e6).unwrap();
/// assert!((f / (1e-12 * 1e6 * (1e-2 - 1e-6)) - 1.0).abs() < 1e-12);
/// // Re-pivoting changes alpha by 2 beta ln(E0/Ep).
/// let curved = LogParabola::new(1e-12, 2000.0, 2.0, 0.1).unwrap();
/// assert!((curved.alpha_at(1000.0) - (2.0 + 0.2 * 0.5f64.ln())).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogParabola {
    norm_ph_cm2_s_mev: f64,
    pivot_mev: f64,
    alpha: f64,
    beta: f64,
}

/// Panels and order of the composite Gauss-Legendre rule in $u = \ln(E/E_p)$.
const LP_PANELS: usize = 24;
const LP_ORDER: usize = 20;

impl LogParabola {
    /// A spectrum with normalisation `norm_ph_cm2_s_mev` at the pivot `pivot_mev`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a non-finite or non-positive normalisation
    /// or pivot, a non-finite index, or $|\beta| > 10$ (no physical LP spectrum
    /// is that curved, and the flux integrals would overflow).
    pub fn new(norm_ph_cm2_s_mev: f64, pivot_mev: f64, alpha: f64, beta: f64) -> Result<Self> {
        darkprobe_core::error::check_positive("LP normalisation", norm_ph_cm2_s_mev)?;
        darkprobe_core::error::check_positive("LP pivot energy (MeV)", pivot_mev)?;
        darkprobe_core::error::check_finite("LP index", alpha)?;
        darkprobe_core::error::check_in_range("LP beta", beta, -10.0, 10.0)?;
        Ok(Self {
            norm_ph_cm2_s_mev,
            pivot_mev,
            alpha,
            beta,
        })
    }

    /// The normalisation $K$ at the pivot.
    pub fn norm_ph_cm2_s_mev(&self) -> f64 {
        self.norm_ph_cm2_s_mev
    }
    /// The pivot energy $E_p$ in MeV.
    pub fn pivot_mev(&self) -> f64 {
        self.pivot_mev
    }
    /// The index at the pivot.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// The curvature.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The local index $\alpha(E) = \alpha + 2\beta\ln(E/E_p)$ at `energy_mev`.
    pub fn alpha_at(&self, energy_mev: f64) -> f64 {
        self.alpha + 2.0 * self.beta * (energy_mev / self.pivot_mev).ln()
    }

    /// $\int_{u_a}^{u_b} e^{a u - \beta u^2} du$ by composite Gauss-Legendre.
    fn shape_integral(&self, a: f64, e_min_mev: f64, e_max_mev: f64) -> Result<f64> {
        darkprobe_core::error::check_positive("energy band lower edge (MeV)", e_min_mev)?;
        if !(e_max_mev.is_finite() && e_max_mev > e_min_mev) {
            return Err(Error::invalid_param(
                "energy band upper edge (MeV)",
                e_max_mev,
                format!("finite and > the lower edge {e_min_mev}"),
            )
            .into());
        }
        let ua = (e_min_mev / self.pivot_mev).ln();
        let ub = (e_max_mev / self.pivot_mev).ln();
        let gl = GaussLegendre::new(LP_ORDER)?;
        let beta = self.beta;
        let v = gl.composite(|u| (a * u - beta * u * u).exp(), ua, ub, LP_PANELS)?;
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::numerical(
                "log-parabola flux integral",
                0,
                v,
                format!(
                    "the integral over [{e_min_mev}, {e_max_mev}] MeV is not a finite positive \
                     number (alpha {}, beta {beta})",
                    self.alpha
                ),
            )
            .into());
        }
        Ok(v)
    }

    /// Photon flux between `e_min_mev` and `e_max_mev`, photons cm$^{-2}$ s$^{-1}$.
    ///
    /// # Errors
    /// An invalid band ($0 < E_a < E_b < \infty$ required) or an integral that
    /// overflows.
    pub fn photon_flux(&self, e_min_mev: f64, e_max_mev: f64) -> Result<f64> {
        Ok(self.norm_ph_cm2_s_mev
            * self.pivot_mev
            * self.shape_integral(1.0 - self.alpha, e_min_mev, e_max_mev)?)
    }

    /// Energy flux between `e_min_mev` and `e_max_mev`, erg cm$^{-2}$ s$^{-1}$.
    ///
    /// # Errors
    /// As [`photon_flux`](Self::photon_flux).
    pub fn energy_flux_erg_cm2_s(&self, e_min_mev: f64, e_max_mev: f64) -> Result<f64> {
        Ok(self.norm_ph_cm2_s_mev
            * self.pivot_mev
            * self.pivot_mev
            * MEV_IN_ERG
            * self.shape_integral(2.0 - self.alpha, e_min_mev, e_max_mev)?)
    }

    /// The same shape with the normalisation that gives energy flux
    /// `energy_flux_erg_cm2_s` between `e_min_mev` and `e_max_mev`.
    ///
    /// # Errors
    /// A non-positive energy flux, or as [`photon_flux`](Self::photon_flux).
    pub fn with_energy_flux(
        &self,
        energy_flux_erg_cm2_s: f64,
        e_min_mev: f64,
        e_max_mev: f64,
    ) -> Result<Self> {
        darkprobe_core::error::check_positive(
            "energy flux (erg cm^-2 s^-1)",
            energy_flux_erg_cm2_s,
        )?;
        let unit = Self {
            norm_ph_cm2_s_mev: 1.0,
            ..*self
        };
        let s1 = unit.energy_flux_erg_cm2_s(e_min_mev, e_max_mev)?;
        Self::new(
            energy_flux_erg_cm2_s / s1,
            self.pivot_mev,
            self.alpha,
            self.beta,
        )
    }

    /// The 100 MeV-1 TeV photon flux of the LP shape (`pivot_mev`, `alpha`,
    /// `beta`) normalised to the 100 MeV-100 GeV energy flux
    /// `energy_flux100_erg_cm2_s` (the 4FGL column `Energy_Flux100`).
    ///
    /// # Errors
    /// As [`LogParabola::new`] and [`with_energy_flux`](Self::with_energy_flux).
    ///
    /// ```
    /// use darkprobe_subhalos::LogParabola;
    /// // Power law of index 2: S = K Ep^2 ln(1000) and F = K Ep^2 (1/100 - 1/1e6) (MeV units).
    /// let s_erg = 1e-11;
    /// let f = LogParabola::photon_flux_from_energy_flux(s_erg, 1000.0, 2.0, 0.0).unwrap();
    /// let s_mev = s_erg / darkprobe_subhalos::features::MEV_IN_ERG;
    /// let expected = s_mev / 1000f64.ln() * (1e-2 - 1e-6);
    /// assert!((f / expected - 1.0).abs() < 1e-12);
    /// ```
    pub fn photon_flux_from_energy_flux(
        energy_flux100_erg_cm2_s: f64,
        pivot_mev: f64,
        alpha: f64,
        beta: f64,
    ) -> Result<f64> {
        Self::new(1.0, pivot_mev, alpha, beta)?
            .with_energy_flux(energy_flux100_erg_cm2_s, 100.0, 1.0e5)?
            .photon_flux(FLUX_E_MIN_MEV, FLUX_E_MAX_MEV)
    }
}

/// The region of interest: a box in $(\log_{10} F, \alpha(E_0), \beta)$ for one
/// reference energy $E_0$. Bounds are closed.
///
/// ```
/// use darkprobe_subhalos::{Features, ReferenceEnergy, Roi};
/// let roi = Roi::paper(ReferenceEnergy::OneGeV);
/// let inside = Features { log10_flux_ph_cm2_s: -9.0, alpha_1gev: 1.2, beta: 0.3 };
/// let soft = Features { alpha_1gev: 2.2, ..inside };
/// assert!(roi.contains(&inside) && !roi.contains(&soft));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    energy: ReferenceEnergy,
    lo: [f64; N_FEATURES],
    hi: [f64; N_FEATURES],
}

impl Roi {
    /// The paper's ROI (Amerio et al. 2025, table 1; `paper_reference_values.csv`):
    /// $\log_{10} F \in [-10.3, -8.2]$, $\beta \in [0.1, 0.55]$, and
    /// $\alpha \in [0.8, 1.7]$ at 1 GeV or $[0.2, 0.8]$ at 100 MeV.
    pub fn paper(energy: ReferenceEnergy) -> Self {
        let (a_lo, a_hi) = match energy {
            ReferenceEnergy::OneGeV => (0.8, 1.7),
            ReferenceEnergy::HundredMeV => (0.2, 0.8),
        };
        Self {
            energy,
            lo: [-10.3, a_lo, 0.1],
            hi: [-8.2, a_hi, 0.55],
        }
    }

    /// A custom box with corners `lo`, `hi` in $(\log_{10} F, \alpha(E_0), \beta)$.
    ///
    /// # Errors
    /// Non-finite corners or `lo >= hi` in some feature.
    pub fn new(energy: ReferenceEnergy, lo: [f64; 3], hi: [f64; 3]) -> Result<Self> {
        AxisBox::new(lo.to_vec(), hi.to_vec())?;
        Ok(Self { energy, lo, hi })
    }

    /// The reference energy of the index feature.
    pub fn energy(&self) -> ReferenceEnergy {
        self.energy
    }
    /// Lower corner.
    pub fn lo(&self) -> [f64; 3] {
        self.lo
    }
    /// Upper corner.
    pub fn hi(&self) -> [f64; 3] {
        self.hi
    }
    /// Widths of the box.
    pub fn widths(&self) -> [f64; 3] {
        [
            self.hi[0] - self.lo[0],
            self.hi[1] - self.lo[1],
            self.hi[2] - self.lo[2],
        ]
    }

    /// Whether the feature vector `x` (already at this ROI's $E_0$) is inside.
    pub fn contains_vector(&self, x: &[f64; 3]) -> bool {
        (0..N_FEATURES).all(|d| x[d] >= self.lo[d] && x[d] <= self.hi[d])
    }

    /// Whether a source's features are inside.
    pub fn contains(&self, f: &Features) -> bool {
        self.contains_vector(&f.vector(self.energy))
    }

    /// The box as a [`darkprobe_kde::AxisBox`].
    pub fn axis_box(&self) -> AxisBox {
        // The corners were validated on construction (or are the paper's).
        AxisBox::new(self.lo.to_vec(), self.hi.to_vec()).unwrap_or_else(|_| unreachable!())
    }
}

/// The class groups of the paper (section 2): which 4FGL CLASS1 labels count
/// as Galactic and which as extragalactic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClassGroup {
    /// psr, hmb, sfr, snr, pwn, gc, gal, bin, msp, lmb, spp, glc, nov.
    Galactic,
    /// bll, sbg, rdg, css, bcu, ssrq, fsrq, sey, nlsy1, agn.
    Extragalactic,
    /// An association of unknown nature (`unk`): in neither group.
    Unknown,
    /// No association (empty CLASS1).
    Unassociated,
}

/// CLASS1 labels of the Galactic group (lower case).
pub const GALACTIC_CLASSES: [&str; 13] = [
    "psr", "hmb", "sfr", "snr", "pwn", "gc", "gal", "bin", "msp", "lmb", "spp", "glc", "nov",
];
/// CLASS1 labels of the extragalactic group (lower case).
pub const EXTRAGALACTIC_CLASSES: [&str; 10] = [
    "bll", "sbg", "rdg", "css", "bcu", "ssrq", "fsrq", "sey", "nlsy1", "agn",
];

impl ClassGroup {
    /// The group of a 4FGL CLASS1 label, case-insensitively (upper case marks
    /// firm identifications in 4FGL, lower case associations; both count).
    /// An empty (or blank) label is [`ClassGroup::Unassociated`], `unk` is
    /// [`ClassGroup::Unknown`]; anything else is `None`.
    pub fn from_class1(label: &str) -> Option<Self> {
        let l = label.trim().to_ascii_lowercase();
        if l.is_empty() {
            Some(ClassGroup::Unassociated)
        } else if GALACTIC_CLASSES.contains(&l.as_str()) {
            Some(ClassGroup::Galactic)
        } else if EXTRAGALACTIC_CLASSES.contains(&l.as_str()) {
            Some(ClassGroup::Extragalactic)
        } else if l == "unk" {
            Some(ClassGroup::Unknown)
        } else {
            None
        }
    }

    /// As [`from_class1`](Self::from_class1), with an error naming `location`
    /// for an unknown label.
    ///
    /// # Errors
    /// [`SubhaloError::UnknownClass`] listing the known labels.
    pub fn parse_class1(label: &str, location: Location) -> Result<Self> {
        Self::from_class1(label).ok_or_else(|| SubhaloError::UnknownClass {
            location,
            class: label.to_string(),
            allowed: format!(
                "{}, {} or unk",
                GALACTIC_CLASSES.join(" "),
                EXTRAGALACTIC_CLASSES.join(" ")
            ),
        })
    }

    /// A short lower-case name: `galactic`, `extragalactic`, `unknown`, `unassociated`.
    pub fn name(self) -> &'static str {
        match self {
            ClassGroup::Galactic => "galactic",
            ClassGroup::Extragalactic => "extragalactic",
            ClassGroup::Unknown => "unknown",
            ClassGroup::Unassociated => "unassociated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// $\int_{u_a}^{u_b} e^{a u - b u^2} du$ for $b > 0$ in closed form.
    fn gauss_integral(a: f64, b: f64, ua: f64, ub: f64) -> f64 {
        use statrs::function::erf::erf;
        let m = a / (2.0 * b);
        let s = b.sqrt();
        (std::f64::consts::PI / (4.0 * b)).sqrt()
            * (a * a / (4.0 * b)).exp()
            * (erf(s * (ub - m)) - erf(s * (ua - m)))
    }

    #[test]
    fn lp_fluxes_match_closed_forms() {
        for &(alpha, beta, ep) in &[(2.1, 0.05, 1500.0), (1.2, 0.4, 800.0), (2.6, 0.9, 3000.0)] {
            let lp = LogParabola::new(3e-13, ep, alpha, beta).unwrap();
            let (ua, ub) = ((100.0f64 / ep).ln(), (1e6f64 / ep).ln());
            let f = 3e-13 * ep * gauss_integral(1.0 - alpha, beta, ua, ub);
            assert_relative_eq!(lp.photon_flux(100.0, 1e6).unwrap(), f, max_relative = 1e-12);
            let ub5 = (1e5f64 / ep).ln();
            let s = 3e-13 * ep * ep * MEV_IN_ERG * gauss_integral(2.0 - alpha, beta, ua, ub5);
            assert_relative_eq!(
                lp.energy_flux_erg_cm2_s(100.0, 1e5).unwrap(),
                s,
                max_relative = 1e-12
            );
        }
    }

    #[test]
    fn negative_beta_matches_brute_force() {
        // Trapezoid in ln E with a million steps as the independent reference.
        let lp = LogParabola::new(1.0, 2000.0, 2.2, -0.05).unwrap();
        let (a, b) = (100f64.ln(), 1e6f64.ln());
        let n = 1_000_000;
        let h = (b - a) / n as f64;
        let f = |le: f64| {
            let e: f64 = le.exp();
            let x = (e / 2000.0).ln();
            e * (-(2.2 - 0.05 * x) * x).exp()
        };
        let mut s = 0.5 * (f(a) + f(b));
        for i in 1..n {
            s += f(a + i as f64 * h);
        }
        assert_relative_eq!(
            lp.photon_flux(100.0, 1e6).unwrap(),
            s * h,
            max_relative = 1e-9
        );
    }

    #[test]
    fn energy_flux_normalisation_round_trips() {
        let lp = LogParabola::new(1.0, 1200.0, 1.9, 0.2).unwrap();
        let n = lp.with_energy_flux(4.2e-12, 100.0, 1e5).unwrap();
        assert_relative_eq!(
            n.energy_flux_erg_cm2_s(100.0, 1e5).unwrap(),
            4.2e-12,
            max_relative = 1e-13
        );
        // The photon flux scales linearly with the energy flux.
        let f1 = LogParabola::photon_flux_from_energy_flux(1e-12, 1200.0, 1.9, 0.2).unwrap();
        let f2 = LogParabola::photon_flux_from_energy_flux(2e-12, 1200.0, 1.9, 0.2).unwrap();
        assert_relative_eq!(f2 / f1, 2.0, max_relative = 1e-13);
    }

    #[test]
    fn dr2_row_matches_scipy_reference() {
        // 4FGL J0001.2-0747 of the DR2 table: ln S = -25.4149277, ln Ep = 7.38561183,
        // LP_Index 2.0718932, beta 0.04876986. log10 F from scipy.integrate.quad
        // (epsrel 1e-12) with the same normalisation: -8.017967185548386.
        let f = LogParabola::photon_flux_from_energy_flux(
            (-25.4149277f64).exp(),
            7.38561183f64.exp(),
            2.0718932,
            0.04876986,
        )
        .unwrap();
        assert!(
            (f.log10() - (-8.017967185548386)).abs() < 1e-6,
            "{}",
            f.log10()
        );
    }

    #[test]
    fn repivoting_is_exact_and_invertible() {
        let f = Features::from_alpha_at(-9.0, 0.5, 0.3, ReferenceEnergy::HundredMeV);
        assert_relative_eq!(f.alpha_1gev, 0.5 + 0.6 * 10f64.ln(), max_relative = 1e-15);
        assert_relative_eq!(
            f.alpha_at(ReferenceEnergy::HundredMeV),
            0.5,
            max_relative = 1e-14
        );
        // The same through the LP spectrum's local index.
        let lp = LogParabola::new(1.0, 100.0, 0.5, 0.3).unwrap();
        assert_relative_eq!(lp.alpha_at(1000.0), f.alpha_1gev, max_relative = 1e-15);
    }

    #[test]
    fn invalid_spectra_are_errors() {
        assert!(LogParabola::new(-1.0, 1000.0, 2.0, 0.1).is_err());
        assert!(LogParabola::new(1.0, f64::NAN, 2.0, 0.1).is_err());
        assert!(LogParabola::new(1.0, 1000.0, 2.0, 50.0).is_err());
        let lp = LogParabola::new(1.0, 1000.0, 2.0, 0.1).unwrap();
        assert!(lp.photon_flux(100.0, 50.0).is_err());
        assert!(lp.with_energy_flux(0.0, 100.0, 1e5).is_err());
    }

    #[test]
    fn class_groups_follow_the_paper() {
        for c in GALACTIC_CLASSES {
            assert_eq!(ClassGroup::from_class1(c), Some(ClassGroup::Galactic));
            assert_eq!(
                ClassGroup::from_class1(&c.to_uppercase()),
                Some(ClassGroup::Galactic)
            );
        }
        for c in EXTRAGALACTIC_CLASSES {
            assert_eq!(ClassGroup::from_class1(c), Some(ClassGroup::Extragalactic));
        }
        assert_eq!(
            ClassGroup::from_class1("  "),
            Some(ClassGroup::Unassociated)
        );
        assert_eq!(ClassGroup::from_class1("UNK"), Some(ClassGroup::Unknown));
        assert_eq!(ClassGroup::from_class1("quasar"), None);
        let e =
            ClassGroup::parse_class1("quasar", Location::new("cat.csv", 7).with_column("CLASS1"))
                .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("cat.csv, line 7") && msg.contains("quasar") && msg.contains("fsrq"));
    }

    #[test]
    fn roi_bounds_are_closed_and_follow_the_reference_energy() {
        let roi = Roi::paper(ReferenceEnergy::OneGeV);
        let edge = Features {
            log10_flux_ph_cm2_s: -8.2,
            alpha_1gev: 0.8,
            beta: 0.55,
        };
        assert!(roi.contains(&edge));
        let roi100 = Roi::paper(ReferenceEnergy::HundredMeV);
        // alpha(100 MeV) = 1.2 - 2 * 0.3 * ln 10 = -0.18: outside the 100 MeV box.
        let f = Features {
            log10_flux_ph_cm2_s: -9.0,
            alpha_1gev: 1.2,
            beta: 0.3,
        };
        assert!(roi.contains(&f) && !roi100.contains(&f));
        assert!(Roi::new(ReferenceEnergy::OneGeV, [0.0; 3], [1.0, 1.0, 0.0]).is_err());
        assert_eq!(roi.widths(), [-8.2 - -10.3, 1.7 - 0.8, 0.55 - 0.1]);
    }
}
