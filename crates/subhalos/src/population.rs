//! The subhalo J-factor population and the dark-matter photon flux.
//!
//! # Model
//! The population is the expected number of subhalos at $|b| > 10^\circ$ per
//! unit $\log_{10} J$, $n_J(\log_{10} J) = dN/d\log_{10} J$ with $J$ in
//! GeV$^2$ cm$^{-5}$, stored on a grid and interpolated linearly (zero
//! outside). A subhalo of J-factor $J$ gives the photon flux between 100 MeV
//! and 1 TeV
//! $$\Phi = \frac{\langle\sigma v\rangle\, J}{8\pi m_\chi^2}
//!   \int_{0.1\,\mathrm{GeV}}^{1\,\mathrm{TeV}} \frac{dN_\gamma}{dE}\,dE
//!   = \langle\sigma v\rangle\, J\, c_m$$
//! (self-conjugate dark matter; [`DmSpectrumBins`]), so the flux distribution
//! is $dN/d\log_{10}\Phi = n_J(\log_{10}\Phi - \log_{10}(\langle\sigma v\rangle c_m))$.
//!
//! **Default population** ([`JPopulation::paper_default`]): a power law
//! $n_J = A\,(J / 10^{19})^{-\gamma}$ for $\log_{10} J \in [15, 22]$ with
//! $\gamma = 2.2$ and $A$ = [`DEFAULT_J_NORM`]. The slope is read off the
//! paper's table of expected detected subhalos: for a power law the number of
//! detected subhalos scales as $\langle\sigma v\rangle^\gamma$ whatever the
//! detection efficiency, and the ratios of the totals at the limit and at the
//! best fit give $\gamma$ = 1.99 (30 GeV), 2.29 (100 GeV), 2.36 (300 GeV). The
//! normalisation $A = 10$ is set so that, with this crate's default detection
//! simulation (200 spectra per flux node) and the CosmiXs $b\bar b$ spectrum,
//! $m_\chi = 100$ GeV and $\langle\sigma v\rangle = 5.9\times10^{-25}$
//! cm$^3$ s$^{-1}$ (the paper's limit) give about 21.7 detected subhalos at
//! $|b| > 10^\circ$, the paper's 21.86. At the paper's other limits the same
//! population gives 6.9, 78, 19 and 9.3 detected subhalos at 10, 30, 300 and
//! 1000 GeV against the paper's 4.4, 64, 21 and 8.6.
//! This calibrated power law stands in for the repopulated Via Lactea II
//! J-factor distribution used by the paper (Coronado-Blázquez et al. 2019),
//! whose tabulated values are not public here; give your own with
//! [`JPopulation::from_table`] or [`JPopulation::from_samples`].
//!
//! **Fallback spectrum** ([`bergstrom_bb_spectrum`]): without the CosmiXs table
//! (tests, the demo) the quark-channel fit of Bergström, Ullio & Buckley (1998),
//! $dN/dx = 0.73\,e^{-7.76 x} / (x^{1.5} + 0.00139)$, $x = E/m_\chi$.
//!
//! # References
//! - J. Coronado-Blázquez et al., JCAP 07 (2019) 020, arXiv:1906.11896.
//! - L. Bergström, P. Ullio, J. H. Buckley, Astropart. Phys. 9 (1998) 137,
//!   arXiv:astro-ph/9712318.

// `!(x > 0.0)` is meant: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use std::path::Path;

use darkprobe_core::table::{Table, TableOptions};
use darkprobe_core::Error;
use darkprobe_core::Location;
use darkprobe_limits::spectrum::{photon_yields, BinIntegration, FnSpectrum, Particle, Spectrum};

use crate::error::Result;

/// Normalisation $A$ of the default power law, subhalos per unit
/// $\log_{10} J$ at $J = 10^{19}$ GeV$^2$ cm$^{-5}$ (see the [module docs](self)).
pub const DEFAULT_J_NORM: f64 = 10.0;
/// Slope $\gamma$ of the default power law.
pub const DEFAULT_J_SLOPE: f64 = 2.2;
/// Grid step of tabulated populations, dex.
const GRID_STEP: f64 = 0.02;

/// Expected number of subhalos per unit $\log_{10} J$ (see the [module docs](self)).
///
/// ```
/// use darkprobe_subhalos::population::JPopulation;
/// let p = JPopulation::power_law(2.0, 19.0, 1.0, 17.0, 21.0)?;
/// // dN/dlog10 J = 2 (J/1e19)^-1: integral over [17, 21] is 2 (100 - 0.01) / ln 10.
/// let exact = 2.0 * (100.0 - 0.01) / std::f64::consts::LN_10;
/// assert!((p.n_total() / exact - 1.0).abs() < 1e-3);
/// # Ok::<(), darkprobe_subhalos::SubhaloError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JPopulation {
    log10_j: Vec<f64>,
    dn_dlog10j: Vec<f64>,
}

impl JPopulation {
    /// $n_J = A (J/J_0)^{-\gamma}$ on $[\log_{10} J_\mathrm{min}, \log_{10} J_\mathrm{max}]$.
    ///
    /// # Errors
    /// Non-finite values, $A \le 0$, or an empty range.
    pub fn power_law(
        norm: f64,
        log10_j0: f64,
        slope: f64,
        log10_j_min: f64,
        log10_j_max: f64,
    ) -> Result<Self> {
        darkprobe_core::error::check_positive("J population norm", norm)?;
        for (n, v) in [
            ("log10_j0", log10_j0),
            ("slope", slope),
            ("log10_j_min", log10_j_min),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid_param(n, v, "finite").into());
            }
        }
        if !(log10_j_max.is_finite() && log10_j_max > log10_j_min) {
            return Err(Error::invalid_param(
                "log10_j_max",
                log10_j_max,
                format!("finite and > log10_j_min = {log10_j_min}"),
            )
            .into());
        }
        let n = ((log10_j_max - log10_j_min) / GRID_STEP).ceil() as usize + 1;
        let step = (log10_j_max - log10_j_min) / (n - 1) as f64;
        let log10_j: Vec<f64> = (0..n).map(|i| log10_j_min + step * i as f64).collect();
        let dn = log10_j
            .iter()
            .map(|l| norm * 10f64.powf(-slope * (l - log10_j0)))
            .collect();
        Self::from_grid(log10_j, dn)
    }

    /// The default population (see the [module docs](self)).
    pub fn paper_default() -> Self {
        // Constant, valid arguments.
        Self::power_law(DEFAULT_J_NORM, 19.0, DEFAULT_J_SLOPE, 15.0, 22.0).unwrap_or_else(|_| {
            Self {
                log10_j: vec![15.0, 22.0],
                dn_dlog10j: vec![0.0, 0.0],
            }
        })
    }

    /// A tabulated $n_J$ on increasing $\log_{10} J$ nodes.
    ///
    /// # Errors
    /// Fewer than two nodes, lengths differ, nodes not increasing, or values
    /// negative / non-finite.
    pub fn from_grid(log10_j: Vec<f64>, dn_dlog10j: Vec<f64>) -> Result<Self> {
        if log10_j.len() < 2 {
            return Err(Error::empty("J population table", "give at least two rows").into());
        }
        if log10_j.len() != dn_dlog10j.len() {
            return Err(Error::shape("dn_dlog10j", log10_j.len(), dn_dlog10j.len()).into());
        }
        for w in log10_j.windows(2) {
            if !(w[0].is_finite() && w[1].is_finite() && w[1] > w[0]) {
                return Err(Error::invalid_param(
                    "log10_j",
                    format!("{} then {}", w[0], w[1]),
                    "finite and strictly increasing",
                )
                .into());
            }
        }
        if let Some(v) = dn_dlog10j.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::invalid_param("dn_dlog10j", v, "finite and >= 0").into());
        }
        Ok(Self {
            log10_j,
            dn_dlog10j,
        })
    }

    /// A population from J-factor samples (GeV$^2$ cm$^{-5}$) pooled over
    /// `n_realisations` simulated skies: a histogram with bins of `bin_dex`,
    /// divided by the number of realisations.
    ///
    /// # Errors
    /// Fewer than two samples, a sample not finite and > 0, `n_realisations`
    /// zero or `bin_dex` not > 0.
    pub fn from_samples(j_gev2_cm5: &[f64], n_realisations: usize, bin_dex: f64) -> Result<Self> {
        darkprobe_core::error::check_positive("bin_dex", bin_dex)?;
        if n_realisations == 0 {
            return Err(Error::invalid_param("n_realisations", 0, ">= 1").into());
        }
        if j_gev2_cm5.len() < 2 {
            return Err(Error::empty("J-factor samples", "give at least two").into());
        }
        if let Some(j) = j_gev2_cm5.iter().find(|j| !(j.is_finite() && **j > 0.0)) {
            return Err(Error::invalid_param("J-factor sample", j, "finite and > 0").into());
        }
        let l: Vec<f64> = j_gev2_cm5.iter().map(|j| j.log10()).collect();
        let lo = l.iter().copied().fold(f64::INFINITY, f64::min) - bin_dex;
        let hi = l.iter().copied().fold(f64::NEG_INFINITY, f64::max) + bin_dex;
        let nb = ((hi - lo) / bin_dex).ceil() as usize;
        let mut counts = vec![0.0; nb];
        for x in &l {
            let b = (((x - lo) / bin_dex) as usize).min(nb - 1);
            counts[b] += 1.0;
        }
        let centres = (0..nb).map(|b| lo + bin_dex * (b as f64 + 0.5)).collect();
        let dn = counts
            .iter()
            .map(|c| c / (n_realisations as f64 * bin_dex))
            .collect();
        Self::from_grid(centres, dn)
    }

    /// Reads a CSV table with columns `log10_j` and `dn_dlog10j` (subhalos at
    /// $|b| > 10^\circ$ per unit $\log_{10} J$).
    ///
    /// # Errors
    /// I/O and parse errors naming the file and line, and the checks of
    /// [`from_grid`](Self::from_grid).
    pub fn from_table(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let t = Table::read(path, &TableOptions::default())?;
        let l = t.column_f64("log10_j")?;
        let n = t.column_f64("dn_dlog10j")?;
        for (row, v) in n.iter().enumerate() {
            if *v < 0.0 {
                let line = t.line_of(row).unwrap_or(0);
                let loc = Location::new(path.display().to_string(), line).with_column("dn_dlog10j");
                let text = t
                    .cell(row, t.column_index("dn_dlog10j")?)
                    .unwrap_or_default();
                return Err(Error::parse(loc, text.trim(), "expected a number >= 0").into());
            }
        }
        for row in 1..l.len() {
            if !(l[row] > l[row - 1]) {
                let line = t.line_of(row).unwrap_or(0);
                let loc = Location::new(path.display().to_string(), line).with_column("log10_j");
                return Err(Error::parse(
                    loc,
                    t.cell(row, t.column_index("log10_j")?)
                        .unwrap_or_default()
                        .trim(),
                    "log10_j must increase from row to row",
                )
                .into());
            }
        }
        Self::from_grid(l, n)
    }

    /// The grid nodes, $\log_{10} J$.
    pub fn log10_j(&self) -> &[f64] {
        &self.log10_j
    }

    /// $n_J$ at `log10_j` (linear interpolation, zero outside the grid).
    pub fn dn_dlog10j(&self, log10_j: f64) -> f64 {
        let g = &self.log10_j;
        if !(log10_j >= g[0] && log10_j <= g[g.len() - 1]) {
            return 0.0;
        }
        let i = g.partition_point(|&x| x <= log10_j).clamp(1, g.len() - 1);
        let t = (log10_j - g[i - 1]) / (g[i] - g[i - 1]);
        (1.0 - t) * self.dn_dlog10j[i - 1] + t * self.dn_dlog10j[i]
    }

    /// Total expected number of subhalos (trapezoid rule, exact for the
    /// piecewise-linear interpolant).
    pub fn n_total(&self) -> f64 {
        self.log10_j
            .windows(2)
            .zip(self.dn_dlog10j.windows(2))
            .map(|(x, y)| 0.5 * (x[1] - x[0]) * (y[0] + y[1]))
            .sum()
    }
}

/// The dark-matter spectrum of one mass binned on an instrument's energy bins.
///
/// ```
/// use darkprobe_subhalos::population::{bergstrom_bb_spectrum, DmSpectrumBins};
/// let s = bergstrom_bb_spectrum()?;
/// let edges: Vec<f64> = (0..=16).map(|i| 0.1 * 10f64.powf(i as f64 / 4.0)).collect();
/// let b = DmSpectrumBins::new(&s, 100.0, &edges)?;
/// // No photons above the mass.
/// assert_eq!(b.yields()[12], 0.0);
/// assert!(b.n_gamma() > 1.0 && b.yields()[8] > 0.0);
/// # Ok::<(), darkprobe_subhalos::SubhaloError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DmSpectrumBins {
    mass_gev: f64,
    yields: Vec<f64>,
    n_gamma: f64,
}

impl DmSpectrumBins {
    /// Integrates `spectrum` at `mass_gev` over the bins `edges_gev`.
    ///
    /// # Errors
    /// The spectrum's errors (mass out of range...), or a spectrum with no
    /// photon in the bins.
    pub fn new<S: Spectrum + ?Sized>(
        spectrum: &S,
        mass_gev: f64,
        edges_gev: &[f64],
    ) -> Result<Self> {
        let yields = photon_yields(spectrum, mass_gev, edges_gev, BinIntegration::default())
            .map_err(darkprobe_core::Error::from)?;
        let n_gamma: f64 = yields.iter().sum();
        if !(n_gamma > 0.0 && n_gamma.is_finite()) {
            return Err(Error::invalid_param(
                format!("photon yield of '{}' at {mass_gev} GeV", spectrum.name()),
                n_gamma,
                "> 0 in the energy range",
            )
            .into());
        }
        Ok(Self {
            mass_gev,
            yields,
            n_gamma,
        })
    }

    /// The mass, GeV.
    pub fn mass_gev(&self) -> f64 {
        self.mass_gev
    }
    /// Photons per annihilation in each bin.
    pub fn yields(&self) -> &[f64] {
        &self.yields
    }
    /// Photons per annihilation over all bins, $N_\gamma$.
    pub fn n_gamma(&self) -> f64 {
        self.n_gamma
    }
    /// $c_m = N_\gamma / (8\pi m^2)$: the flux per unit $\langle\sigma v\rangle J$,
    /// so $\Phi = \langle\sigma v\rangle\, J\, c_m$ (cm$^{-2}$ s$^{-1}$ per cm$^3$ s$^{-1}$ GeV$^2$ cm$^{-5}$).
    pub fn flux_per_sigma_v_j(&self) -> f64 {
        Particle::Majorana.prefactor() * self.n_gamma / (self.mass_gev * self.mass_gev)
    }
    /// Photon flux per bin of a source with total flux `flux_ph_cm2_s`.
    pub fn bin_fluxes(&self, flux_ph_cm2_s: f64) -> Vec<f64> {
        self.yields
            .iter()
            .map(|y| flux_ph_cm2_s * y / self.n_gamma)
            .collect()
    }
}

/// An analytic spectrum $dN/dE(m, E)$ given by a function pointer.
pub type AnalyticSpectrum = FnSpectrum<fn(f64, f64) -> f64>;

/// The quark-channel spectrum fit of Bergström, Ullio & Buckley (1998), a
/// stand-in for $b\bar b$ when no table is at hand:
/// $dN/dE = \frac{1}{m}\,0.73\,e^{-7.76x}/(x^{1.5} + 0.00139)$, $x = E/m$,
/// for masses from 5 GeV to 100 TeV.
///
/// # Errors
/// None in practice (the mass range is a valid constant); the `Result` comes
/// from the spectrum constructor.
pub fn bergstrom_bb_spectrum() -> Result<AnalyticSpectrum> {
    fn f(m: f64, e: f64) -> f64 {
        let x = e / m;
        0.73 * (-7.76 * x).exp() / (x.powf(1.5) + 0.00139) / m
    }
    FnSpectrum::new(
        "bb (Bergstrom et al. 1998 fit)",
        (5.0, 1.0e5),
        f as fn(f64, f64) -> f64,
    )
    .map_err(|e| darkprobe_core::Error::from(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_law_integral_matches_closed_form() {
        let p = JPopulation::power_law(3.0, 19.0, 2.2, 15.0, 22.0).unwrap();
        let g = 2.2 * std::f64::consts::LN_10;
        let exact = 3.0 / g * ((g * 4.0).exp() - (-g * 3.0).exp());
        // Linear interpolation of an exponential on a 0.02-dex grid: O(h^2).
        assert!(
            (p.n_total() / exact - 1.0).abs() < 2e-3,
            "{} {exact}",
            p.n_total()
        );
        assert!((p.dn_dlog10j(19.0) - 3.0).abs() < 1e-9);
        assert_eq!(p.dn_dlog10j(14.0), 0.0);
    }

    #[test]
    fn samples_histogram_recovers_the_count() {
        let j: Vec<f64> = (0..1000)
            .map(|i| 10f64.powf(17.0 + 3.0 * i as f64 / 1000.0))
            .collect();
        let p = JPopulation::from_samples(&j, 10, 0.1).unwrap();
        approx::assert_relative_eq!(p.n_total(), 100.0, max_relative = 0.02);
        assert!(JPopulation::from_samples(&[1.0, -1.0], 1, 0.1).is_err());
        assert!(JPopulation::from_samples(&j, 0, 0.1).is_err());
    }

    #[test]
    fn table_reader_names_bad_values() {
        let dir = std::env::temp_dir().join(format!("dp_jpop_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "log10_j,dn_dlog10j\n17,1\n18,0.5\n19,0.1\n").unwrap();
        let p = JPopulation::from_table(&good).unwrap();
        approx::assert_relative_eq!(p.n_total(), 0.5 * (1.5 + 0.6), max_relative = 1e-12);
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "log10_j,dn_dlog10j\n17,1\n18,-0.5\n").unwrap();
        let e = JPopulation::from_table(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("-0.5"), "{e}");
        let nan = dir.join("nan.csv");
        std::fs::write(&nan, "log10_j,dn_dlog10j\n17,1\n18,abc\n").unwrap();
        let e = JPopulation::from_table(&nan).unwrap_err().to_string();
        assert!(e.contains("nan.csv"), "{e}");
    }

    #[test]
    fn flux_coefficient_is_one_over_eight_pi_m2() {
        let s = bergstrom_bb_spectrum().unwrap();
        let edges: Vec<f64> = (0..=16).map(|i| 0.1 * 10f64.powf(i as f64 / 4.0)).collect();
        let b = DmSpectrumBins::new(&s, 100.0, &edges).unwrap();
        let expect = b.n_gamma() / (8.0 * std::f64::consts::PI * 1e4);
        approx::assert_relative_eq!(b.flux_per_sigma_v_j(), expect, max_relative = 1e-14);
        // Brute-force trapezoid of the closed form over 0.1 GeV - 100 GeV.
        let n = 200_000;
        let (a, z) = (0.1f64.ln(), 100f64.ln());
        let h = (z - a) / n as f64;
        let mut tot = 0.0;
        for i in 0..=n {
            let t = a + h * i as f64;
            let e = t.exp();
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            tot += w * h * e * s.dn_de(100.0, e).unwrap();
        }
        approx::assert_relative_eq!(b.n_gamma(), tot, max_relative = 1e-6);
        let f = b.bin_fluxes(2.0);
        approx::assert_relative_eq!(f.iter().sum::<f64>(), 2.0, max_relative = 1e-12);
    }
}
