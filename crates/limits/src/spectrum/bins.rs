//! Photon yields per energy bin.

use darkprobe_core::error::check_positive;
use darkprobe_core::grid::validate_grid;
use darkprobe_core::quad::{integrate_log_bins, trapezoid, GaussLegendre, Panels};
use darkprobe_core::Error;

use super::Spectrum;
use crate::error::Result;

/// The macro-bin edges (GeV) with which MLFermiLATDwarfs integrates the
/// spectrum: the 6 macro bins of its LAT data (original edges
/// $0.5 \cdot 1000^{k/24}$ GeV at $k = 0, 1, 2, 3, 4, 6, 24$) rounded to two
/// decimals.
pub const MLFERMILATDWARFS_EDGES_GEV: [f64; 7] = [0.5, 0.67, 0.89, 1.19, 1.58, 2.81, 500.0];

/// How [`photon_yields`] integrates $dN/dE$ over a bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinIntegration {
    /// Composite Gauss-Legendre of `order` in $\ln E$, after splitting the bin
    /// at the spectrum's breakpoints and at $E = m$; `panels` applies to each
    /// piece ([`Panels::Count`] panels, or [`Panels::PerDecade`] rounded up,
    /// at least one). The default, order 8 with 8 panels per decade, is
    /// accurate to near machine precision for tabulated spectra.
    GaussLegendre {
        /// Gauss-Legendre order (nodes per panel), 1 to 512.
        order: usize,
        /// Panels per piece.
        panels: Panels,
    },
    /// The trapezoid rule in $E$ on `points` log-spaced energies from the
    /// lower to the upper edge, both included (`numpy.logspace` then
    /// `numpy.trapz`): the MLFermiLATDwarfs rule with `points = 500`. It does
    /// not split at breakpoints.
    LogTrapezoid {
        /// Number of sample energies per bin, at least 2.
        points: usize,
    },
}

impl BinIntegration {
    /// The rule of MLFermiLATDwarfs: trapezoid on 500 log-spaced points per
    /// bin.
    pub const MLFERMILATDWARFS: Self = Self::LogTrapezoid { points: 500 };
}

impl Default for BinIntegration {
    fn default() -> Self {
        Self::GaussLegendre {
            order: 8,
            panels: Panels::PerDecade(8),
        }
    }
}

/// The photons per annihilation in each energy bin,
/// $N_b = \int_{E_b}^{E_{b+1}} (dN/dE)\, dE$, for dark-matter mass `mass_gev`
/// and bin edges `edges_gev` (GeV); zero for bins above the mass.
///
/// # Errors
/// The spectrum's errors for the mass
/// ([`LimitsError::MassOutOfRange`](crate::LimitsError::MassOutOfRange)...);
/// an invalid-parameter error for fewer than two edges, edges that are not
/// finite, > 0 and strictly increasing, an invalid rule (order, panels,
/// points), or a spectrum that gives a non-finite or negative yield.
///
/// ```
/// use darkprobe_limits::spectrum::{photon_yields, BinIntegration, FnSpectrum};
/// // dN/dE = E^-2 up to the mass.
/// let s = FnSpectrum::new("E^-2", (1.0, 1e4), |_m: f64, e: f64| e.powi(-2))?;
/// let n = photon_yields(&s, 100.0, &[1.0, 10.0, 1000.0], BinIntegration::default())?;
/// assert!((n[0] - 0.9).abs() < 1e-14);
/// assert!((n[1] - (0.1 - 0.01)).abs() < 1e-14); // cut at E = m = 100 GeV
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
pub fn photon_yields<S: Spectrum + ?Sized>(
    spectrum: &S,
    mass_gev: f64,
    edges_gev: &[f64],
    rule: BinIntegration,
) -> Result<Vec<f64>> {
    validate_grid("edges_gev", edges_gev)?;
    check_positive("edges_gev[0]", edges_gev[0])?;
    let at = spectrum.at_mass(mass_gev)?;
    let f = |e: f64| at.dn_de(e);
    let yields = match rule {
        BinIntegration::GaussLegendre { order, panels } => {
            let gl = GaussLegendre::new(order)?;
            let m = at.mass_gev();
            let bps = at.breakpoints_gev();
            let mut out = Vec::with_capacity(edges_gev.len() - 1);
            let mut pieces = Vec::new();
            for w in edges_gev.windows(2) {
                let (lo, hi) = (w[0], w[1].min(m));
                if lo >= hi {
                    out.push(0.0);
                    continue;
                }
                pieces.clear();
                pieces.push(lo);
                let start = bps.partition_point(|&e| e <= lo);
                for &e in &bps[start..] {
                    if e >= hi * (1.0 - 1e-12) {
                        break;
                    }
                    if let Some(&last) = pieces.last() {
                        if e > last * (1.0 + 1e-12) {
                            pieces.push(e);
                        }
                    }
                }
                pieces.push(hi);
                let parts = integrate_log_bins(f, &pieces, panels, &gl)?;
                out.push(parts.iter().sum());
            }
            out
        }
        BinIntegration::LogTrapezoid { points } => {
            if points < 2 {
                return Err(Error::invalid_param(
                    "BinIntegration::LogTrapezoid points",
                    points,
                    "at least 2",
                )
                .into());
            }
            let mut es = vec![0.0; points];
            let mut ys = vec![0.0; points];
            let mut out = Vec::with_capacity(edges_gev.len() - 1);
            for w in edges_gev.windows(2) {
                let (start, stop) = (w[0].log10(), w[1].log10());
                let step = (stop - start) / (points - 1) as f64;
                for (i, e) in es.iter_mut().enumerate() {
                    let u = if i + 1 == points {
                        stop
                    } else {
                        i as f64 * step + start
                    };
                    *e = 10f64.powf(u);
                }
                for (y, &e) in ys.iter_mut().zip(&es) {
                    *y = f(e);
                }
                out.push(trapezoid(&es, &ys)?);
            }
            out
        }
    };
    for (b, (&n, w)) in yields.iter().zip(edges_gev.windows(2)).enumerate() {
        if !(n.is_finite() && n >= 0.0) {
            return Err(Error::invalid_param(
                format!(
                    "photon yield of '{}' in bin {b} [{}, {}] GeV at m = {mass_gev} GeV",
                    spectrum.name(),
                    w[0],
                    w[1]
                ),
                n,
                "finite and >= 0 (check the spectrum)",
            )
            .into());
        }
    }
    Ok(yields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::{FnSpectrum, MassInterp, TabulatedSpectrum};
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    /// Closed form of the integral of A E^p from a to b.
    fn power_integral(a: f64, b: f64, p: f64) -> f64 {
        if (p + 1.0).abs() < 1e-15 {
            (b / a).ln()
        } else {
            (b.powf(p + 1.0) - a.powf(p + 1.0)) / (p + 1.0)
        }
    }

    #[test]
    fn analytic_power_law_bins_match_closed_form() {
        for p in [-2.5, -1.0, -0.3, 0.0, 1.7] {
            let s = FnSpectrum::new("pl", (1.0, 1e5), move |_m: f64, e: f64| e.powf(p)).unwrap();
            let edges = [0.5, 0.67, 3.0, 40.0, 200.0, 900.0, 1000.0];
            let n = photon_yields(&s, 300.0, &edges, BinIntegration::default()).unwrap();
            for (k, w) in edges.windows(2).enumerate() {
                let hi = w[1].min(300.0);
                let want = if w[0] < hi {
                    power_integral(w[0], hi, p)
                } else {
                    0.0
                };
                assert_relative_eq!(n[k], want, max_relative = 1e-13);
            }
            assert_eq!(n[5], 0.0);
        }
    }

    #[test]
    fn smooth_non_power_spectrum_matches_closed_form() {
        // dN/dE = exp(-E/m)/m: the integral over [a, b] is exp(-a/m) - exp(-b/m).
        let s = FnSpectrum::new("exp", (1.0, 1e4), |m: f64, e: f64| (-e / m).exp() / m).unwrap();
        let m = 50.0;
        let edges = [0.1, 1.0, 10.0, 30.0, 60.0];
        let n = photon_yields(&s, m, &edges, BinIntegration::default()).unwrap();
        let want = |a: f64, b: f64| (-a / m).exp() - (-b.min(m) / m).exp();
        for (k, w) in edges.windows(2).enumerate() {
            assert_relative_eq!(n[k], want(w[0], w[1]), max_relative = 1e-13);
        }
    }

    /// A user table of dN/dE = A E^p tabulated at a few energies.
    fn tabulated_power_law(m: f64, p: f64, energies: &[f64]) -> TabulatedSpectrum {
        let text: String = energies
            .iter()
            .map(|e| format!("{m} {e} {}\n", 3.0 * e.powf(p)))
            .collect();
        TabulatedSpectrum::parse_user_table(&text, "pl.dat").unwrap()
    }

    #[test]
    fn tabulated_power_law_integrates_exactly_across_nodes() {
        // Nodes that do not line up with the bin edges: log-log interpolation
        // is exact, and the breakpoints make each piece smooth.
        let s = tabulated_power_law(1000.0, -1.6, &[0.3, 0.77, 2.0, 13.0, 140.0, 1000.0]);
        let edges = [0.5, 0.67, 0.89, 1.19, 1.58, 2.81, 500.0];
        let n = photon_yields(&s, 1000.0, &edges, BinIntegration::default()).unwrap();
        for (k, w) in edges.windows(2).enumerate() {
            assert_relative_eq!(
                n[k],
                3.0 * power_integral(w[0], w[1], -1.6),
                max_relative = 1e-13
            );
        }
    }

    #[test]
    fn semilog_channel_yield_equals_the_trapezoid_sum() {
        // A tabulated F(log10 x) integrated over log10 x under SemiLog is the
        // trapezoid sum of the table.
        let us = [-3.0, -2.2, -1.5, -0.9, -0.4, 0.0];
        let fs = [0.0, 0.7, 2.5, 3.1, 1.2, 0.05];
        let mut text = String::from("# mDM Log[10,x] b\n");
        for (u, f) in us.iter().zip(&fs) {
            text += &format!("100 {u} {f}\n");
        }
        let t = crate::spectrum::ChannelTable::parse_str(
            &text,
            "t.dat",
            crate::spectrum::TableFormat::Pppc,
        )
        .unwrap();
        let s = t
            .spectrum("b")
            .unwrap()
            .with_interp(crate::spectrum::Interp::SemiLog);
        let trap: f64 = us
            .windows(2)
            .zip(fs.windows(2))
            .map(|(u, f)| 0.5 * (u[1] - u[0]) * (f[0] + f[1]))
            .sum();
        let n = photon_yields(&s, 100.0, &[0.1, 100.0], BinIntegration::default()).unwrap();
        assert_relative_eq!(n[0], trap, max_relative = 1e-13);
        // Extending the lower edge below the table adds nothing.
        let n2 = photon_yields(&s, 100.0, &[1e-4, 100.0], BinIntegration::default()).unwrap();
        assert_relative_eq!(n2[0], trap, max_relative = 1e-13);
    }

    #[test]
    fn log_trapezoid_follows_numpy_logspace_and_trapz() {
        // Independent computation: sample points from the closed form of
        // logspace, trapezoid sum by hand.
        let s = FnSpectrum::new("pl", (1.0, 1e4), |_m: f64, e: f64| e.powf(-2.0)).unwrap();
        let (a, b, n) = (0.5f64, 2.81f64, 7usize);
        let xs: Vec<f64> = (0..n)
            .map(|i| a * (b / a).powf(i as f64 / (n - 1) as f64))
            .collect();
        let want: f64 = xs
            .windows(2)
            .map(|w| 0.5 * (w[1] - w[0]) * (w[0].powi(-2) + w[1].powi(-2)))
            .sum();
        let got = photon_yields(
            &s,
            1000.0,
            &[a, b],
            BinIntegration::LogTrapezoid { points: n },
        )
        .unwrap();
        assert_relative_eq!(got[0], want, max_relative = 1e-13);
        // With many points the trapezoid converges to the integral.
        let fine = photon_yields(&s, 1000.0, &[a, b], BinIntegration::MLFERMILATDWARFS).unwrap();
        assert_relative_eq!(fine[0], 1.0 / a - 1.0 / b, max_relative = 1e-5);
    }

    #[test]
    fn bins_above_the_mass_and_bad_inputs() {
        let s = FnSpectrum::new("flat", (1.0, 1e4), |m: f64, _e: f64| 1.0 / m).unwrap();
        let n = photon_yields(&s, 10.0, &[20.0, 30.0], BinIntegration::default()).unwrap();
        assert_eq!(n, vec![0.0]);
        for edges in [
            &[1.0][..],
            &[2.0, 1.0],
            &[0.0, 1.0],
            &[-1.0, 1.0],
            &[1.0, f64::NAN],
        ] {
            assert!(photon_yields(&s, 10.0, edges, BinIntegration::default()).is_err());
        }
        let bad_rules = [
            BinIntegration::GaussLegendre {
                order: 0,
                panels: Panels::Count(1),
            },
            BinIntegration::GaussLegendre {
                order: 8,
                panels: Panels::Count(0),
            },
            BinIntegration::LogTrapezoid { points: 1 },
        ];
        for rule in bad_rules {
            assert!(photon_yields(&s, 10.0, &[1.0, 2.0], rule).is_err());
        }
        assert!(photon_yields(&s, 1e5, &[1.0, 2.0], BinIntegration::default()).is_err());
        // A spectrum that goes negative is reported, naming it.
        let neg = FnSpectrum::new("negative", (1.0, 1e4), |_m: f64, _e: f64| -1.0).unwrap();
        let msg = photon_yields(&neg, 10.0, &[1.0, 2.0], BinIntegration::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'negative'") && msg.contains("bin 0"), "{msg}");
        let nan = FnSpectrum::new("nan", (1.0, 1e4), |_m: f64, _e: f64| f64::NAN).unwrap();
        assert!(photon_yields(&nan, 10.0, &[1.0, 2.0], BinIntegration::default()).is_err());
    }

    #[test]
    fn mass_interpolated_spectrum_integrates_exactly_on_power_laws() {
        // dN/dE = m^-1 (E/m)^-1.5 at m = 10, 1000: the same table in x. At
        // m = 100 the interpolated yield is the exact integral.
        let mut text = String::new();
        for m in [10.0f64, 1000.0] {
            for k in 0..=5 {
                let x = 10f64.powi(k - 5);
                text += &format!("{m} {} {}\n", x * m, x.powf(-1.5) / m);
            }
        }
        let s = TabulatedSpectrum::parse_user_table(&text, "pl.dat")
            .unwrap()
            .with_mass_interp(MassInterp::LogLog);
        let m = 100.0;
        let edges = [0.5, 2.0, 50.0, 200.0];
        let n = photon_yields(&s, m, &edges, BinIntegration::default()).unwrap();
        for (k, w) in edges.windows(2).enumerate() {
            // Integral of m^-1 (E/m)^-1.5 dE = m^0.5 * integral of E^-1.5.
            let hi = w[1].min(m);
            let want = m.sqrt() * power_integral(w[0], hi, -1.5);
            assert_relative_eq!(n[k], want, max_relative = 1e-12);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Additivity: the yield of a bin equals the sum over a split of it,
        /// and the total is independent of the binning.
        #[test]
        fn yields_are_additive(
            p in -3.0f64..1.0,
            split in 0.05f64..0.95,
            m in 2.0f64..2000.0,
        ) {
            let s = FnSpectrum::new("pl", (1.0, 1e4), move |_m: f64, e: f64| e.powf(p)).unwrap();
            let (a, b) = (0.5f64, 1000.0f64);
            let c = a * (b / a).powf(split);
            let whole = photon_yields(&s, m, &[a, b], BinIntegration::default()).unwrap();
            let parts = photon_yields(&s, m, &[a, c, b], BinIntegration::default()).unwrap();
            prop_assert!((whole[0] - parts[0] - parts[1]).abs() <= 1e-12 * whole[0].abs().max(1e-300));
            let hi = b.min(m);
            let want = if a < hi { power_integral(a, hi, p) } else { 0.0 };
            prop_assert!((whole[0] - want).abs() <= 1e-12 * want.abs().max(1e-300));
        }
    }
}
