//! Tabulated spectra: interpolation in energy and in mass.

use std::f64::consts::LN_10;

use super::{AtMass, Spectrum};
use crate::error::{LimitsError, Result};

/// Relative tolerance within which a requested mass counts as tabulated.
const MASS_MATCH_RTOL: f64 = 1e-9;

/// Relative distance in x within which an energy counts as a table point, so
/// that table values come back unchanged despite the rounding of $E = x m$.
const NODE_RTOL: f64 = 1e-14;

/// How a tabulated spectrum is interpolated in energy between the table
/// points of one mass. The abscissa is the energy (equivalently $x = E/m$);
/// the ordinate $v$ is the tabulated quantity, $dN/d\log_{10}x$ for channel
/// tables and $dN/dE$ for user tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interp {
    /// $\ln v$ linear in $\ln E$: exact for power laws. An interval with a
    /// zero end point is interpolated as [`Interp::SemiLog`].
    #[default]
    LogLog,
    /// $v$ linear in $\ln E$.
    SemiLog,
    /// $v$ linear in $E$ (scipy's `interp1d`, as MLFermiLATDwarfs uses it).
    Linear,
}

/// How a tabulated spectrum is evaluated at a mass between tabulated masses.
///
/// The yields per unit $\log_{10}x$ of the two neighbouring masses are taken
/// at the same $x = E/m$ and combined; `t` below is the position of the mass
/// between its neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MassInterp {
    /// Only tabulated masses are accepted (within a relative $10^{-9}$);
    /// others are [`LimitsError::MassOutOfRange`].
    TabulatedOnly,
    /// $\ln(dN/d\log_{10}x)$ linear in $\ln m$ (linear in $\ln m$ when one
    /// neighbour is zero): exact when the yield is a power law in $m$.
    LogLog,
    /// $dN/d\log_{10}x$ linear in $\ln m$.
    SemiLog,
    /// $dN/d\log_{10}x$ linear in $m$.
    Linear,
}

/// What the values of a table are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantity {
    /// $dN/d\log_{10}x$ (channel tables).
    DnDlog10x,
    /// $dN/dE$ in GeV$^{-1}$ (user tables).
    DnDe,
}

/// What the abscissae of a table stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Values at the points themselves; zero outside the first and last one.
    Nodes,
    /// Values are bin averages at bin centres (CosmiXs): the end values hold
    /// over the half bins beyond the first and last centre; zero beyond.
    BinCentres,
}

/// The table of one mass: values $v_k$ at $x_k = E_k / m$.
#[derive(Debug, Clone)]
pub(crate) struct Curve {
    mass_gev: f64,
    x: Vec<f64>,
    ln_x: Vec<f64>,
    v: Vec<f64>,
    ln_v: Vec<f64>,
    /// The spectrum is zero for x outside [x_lo, x_hi].
    x_lo: f64,
    x_hi: f64,
}

impl Curve {
    /// A curve from validated data: `x` finite, > 0, strictly increasing,
    /// at least two points; `v` finite and >= 0, as long as `x`.
    pub(crate) fn new(mass_gev: f64, x: Vec<f64>, v: Vec<f64>, support: Support) -> Self {
        debug_assert!(x.len() >= 2 && x.len() == v.len());
        let ln_x: Vec<f64> = x.iter().map(|x| x.ln()).collect();
        let ln_v: Vec<f64> = v.iter().map(|v| v.ln()).collect();
        let n = x.len();
        let (x_lo, x_hi) = match support {
            Support::Nodes => (x[0], x[n - 1]),
            Support::BinCentres => {
                let lo = (ln_x[0] - 0.5 * (ln_x[1] - ln_x[0])).exp();
                let hi = (ln_x[n - 1] + 0.5 * (ln_x[n - 1] - ln_x[n - 2])).exp();
                // A last bin that ends at x = 1 up to rounding ends at 1.
                let hi = if (hi - 1.0).abs() < 1e-9 { 1.0 } else { hi };
                (lo, hi)
            }
        };
        Self {
            mass_gev,
            x,
            ln_x,
            v,
            ln_v,
            x_lo,
            x_hi,
        }
    }

    /// The tabulated quantity at energy `e_gev` (> 0).
    fn value(&self, e_gev: f64, interp: Interp, extrapolate_below: bool) -> f64 {
        let x = e_gev / self.mass_gev;
        let n = self.x.len();
        if x.is_nan() || x <= 0.0 || x > 1.0 || x > self.x_hi {
            return 0.0;
        }
        if x < self.x[0] {
            if x >= self.x_lo {
                return self.v[0];
            }
            if extrapolate_below && interp == Interp::Linear {
                return self.linear_in_energy(0, e_gev).max(0.0);
            }
            return 0.0;
        }
        if x > self.x[n - 1] {
            return self.v[n - 1];
        }
        let k = self
            .x
            .partition_point(|&xi| xi <= x)
            .saturating_sub(1)
            .min(n - 2);
        // A table point, up to the rounding of E = x m and back.
        if (x - self.x[k]).abs() <= NODE_RTOL * self.x[k] {
            return self.v[k];
        }
        if (self.x[k + 1] - x).abs() <= NODE_RTOL * self.x[k + 1] {
            return self.v[k + 1];
        }
        let (v0, v1) = (self.v[k], self.v[k + 1]);
        match interp {
            Interp::LogLog if v0 > 0.0 && v1 > 0.0 => {
                let t = (x.ln() - self.ln_x[k]) / (self.ln_x[k + 1] - self.ln_x[k]);
                (self.ln_v[k] + t * (self.ln_v[k + 1] - self.ln_v[k])).exp()
            }
            Interp::LogLog | Interp::SemiLog => {
                let t = (x.ln() - self.ln_x[k]) / (self.ln_x[k + 1] - self.ln_x[k]);
                v0 + t * (v1 - v0)
            }
            Interp::Linear => self.linear_in_energy(k, e_gev),
        }
    }

    /// The straight line in energy through points `k` and `k + 1`, in the
    /// form scipy's `interp1d` evaluates it.
    fn linear_in_energy(&self, k: usize, e_gev: f64) -> f64 {
        let e0 = self.x[k] * self.mass_gev;
        let e1 = self.x[k + 1] * self.mass_gev;
        let slope = (self.v[k + 1] - self.v[k]) / (e1 - e0);
        slope * (e_gev - e0) + self.v[k]
    }

    /// The energies (GeV) where the interpolant of this curve has kinks, for
    /// the mass `mass_gev` at which it is read at fixed x.
    fn kinks_gev(&self, mass_gev: f64, out: &mut Vec<f64>) {
        out.extend(self.x.iter().map(|x| x * mass_gev));
        out.push(self.x_lo * mass_gev);
        out.push(self.x_hi * mass_gev);
    }
}

/// Where a requested mass sits in the table.
#[derive(Debug, Clone, Copy)]
enum Resolved {
    /// A tabulated mass: this curve.
    Row(usize),
    /// Between curves `j` and `j + 1`, at fraction `t` of the interpolation
    /// variable.
    Between(usize, f64),
}

/// A spectrum tabulated at a list of masses: a channel of a PPPC4DMID or
/// CosmiXs table ([`ChannelTable::spectrum`](super::ChannelTable::spectrum)),
/// or a user table ([`TabulatedSpectrum::read_user_table`]).
///
/// Interpolation in energy ([`Interp`]) and in mass ([`MassInterp`]) are
/// options; see the [module documentation](super) for the formulas.
///
/// ```
/// use darkprobe_limits::spectrum::{Interp, MassInterp, Spectrum, TabulatedSpectrum};
/// // dN/dE = m^-1 (E/m)^-1.5 tabulated at m = 10 and 100 GeV.
/// let mut text = String::new();
/// for m in [10.0f64, 100.0] {
///     for k in 0..=4 {
///         let e = m * 10f64.powi(k - 4);
///         text += &format!("{m} {e} {}\n", (e / m).powf(-1.5) / m);
///     }
/// }
/// let spec = TabulatedSpectrum::parse_user_table(&text, "powerlaw.dat")?;
/// // A mass between the tabulated ones needs an explicit option.
/// assert!(spec.dn_de(30.0, 1.0).is_err());
/// let spec = spec.with_mass_interp(MassInterp::LogLog);
/// let exact = (1.0f64 / 30.0).powf(-1.5) / 30.0;
/// assert!((spec.dn_de(30.0, 1.0)? / exact - 1.0).abs() < 1e-12);
/// assert_eq!(spec.interp(), Interp::LogLog);
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TabulatedSpectrum {
    name: String,
    source: String,
    quantity: Quantity,
    masses_gev: Vec<f64>,
    curves: Vec<Curve>,
    interp: Interp,
    mass_interp: MassInterp,
    /// Under [`Interp::Linear`], extrapolate linearly below the lowest x (the
    /// MLFermiLATDwarfs treatment of PPPC tables).
    extrapolate_below: bool,
}

impl TabulatedSpectrum {
    /// A spectrum from validated curves sorted by strictly increasing mass.
    pub(crate) fn from_curves(
        name: String,
        source: String,
        quantity: Quantity,
        curves: Vec<Curve>,
        mass_interp: MassInterp,
        extrapolate_below: bool,
    ) -> Self {
        debug_assert!(!curves.is_empty());
        let masses_gev = curves.iter().map(|c| c.mass_gev).collect();
        Self {
            name,
            source,
            quantity,
            masses_gev,
            curves,
            interp: Interp::default(),
            mass_interp,
            extrapolate_below,
        }
    }

    /// The same spectrum with interpolation `interp` in energy.
    pub fn with_interp(mut self, interp: Interp) -> Self {
        self.interp = interp;
        self
    }

    /// The same spectrum with interpolation `mass_interp` between masses.
    pub fn with_mass_interp(mut self, mass_interp: MassInterp) -> Self {
        self.mass_interp = mass_interp;
        self
    }

    /// The same spectrum evaluated as the MLFermiLATDwarfs package does:
    /// [`Interp::Linear`] in energy (with the package's linear extrapolation
    /// below the lowest $x$ of PPPC tables, clamped at zero) and
    /// [`MassInterp::TabulatedOnly`]. Combine with
    /// [`BinIntegration::MLFERMILATDWARFS`](super::BinIntegration::MLFERMILATDWARFS).
    pub fn with_mlfermilatdwarfs_convention(self) -> Self {
        self.with_interp(Interp::Linear)
            .with_mass_interp(MassInterp::TabulatedOnly)
    }

    /// The interpolation in energy.
    pub fn interp(&self) -> Interp {
        self.interp
    }

    /// The interpolation between masses.
    pub fn mass_interp(&self) -> MassInterp {
        self.mass_interp
    }

    /// The file (or description) the table was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The tabulated quantity of one curve at energy `e_gev`, as dN/dlog10x.
    fn f_at(&self, curve: &Curve, e_gev: f64) -> f64 {
        let v = curve.value(e_gev, self.interp, self.extrapolate_below);
        match self.quantity {
            Quantity::DnDlog10x => v,
            Quantity::DnDe => v * e_gev * LN_10,
        }
    }

    /// $dN/dE$ of one curve at energy `e_gev`.
    fn dn_de_row(&self, curve: &Curve, e_gev: f64) -> f64 {
        let v = curve.value(e_gev, self.interp, self.extrapolate_below);
        match self.quantity {
            Quantity::DnDlog10x => v / LN_10 / e_gev,
            Quantity::DnDe => v,
        }
    }

    /// $dN/dE$ at `e_gev` between curves `j` and `j + 1` at fraction `t`.
    fn dn_de_between(&self, mass_gev: f64, j: usize, t: f64, e_gev: f64) -> f64 {
        let x = e_gev / mass_gev;
        let (a, b) = (&self.curves[j], &self.curves[j + 1]);
        let fa = self.f_at(a, x * a.mass_gev);
        let fb = self.f_at(b, x * b.mass_gev);
        let f = if self.mass_interp == MassInterp::LogLog && fa > 0.0 && fb > 0.0 {
            ((1.0 - t) * fa.ln() + t * fb.ln()).exp()
        } else {
            (1.0 - t) * fa + t * fb
        };
        f / LN_10 / e_gev
    }

    fn resolve(&self, mass_gev: f64) -> Result<Resolved> {
        darkprobe_core::error::check_positive("mass_gev", mass_gev)?;
        let ms = &self.masses_gev;
        let n = ms.len();
        let near = |m: f64| (mass_gev - m).abs() <= MASS_MATCH_RTOL * m;
        // The first tabulated mass above the requested one.
        let i = ms.partition_point(|&m| m <= mass_gev);
        if i > 0 && near(ms[i - 1]) {
            return Ok(Resolved::Row(i - 1));
        }
        if i < n && near(ms[i]) {
            return Ok(Resolved::Row(i));
        }
        if i == 0 || i == n {
            return Err(LimitsError::MassOutOfRange {
                mass_gev,
                table: self.name.clone(),
                reason: format!(
                    "the table covers {} to {} GeV; outside this range there is no \
                     interpolation",
                    ms[0],
                    ms[n - 1]
                ),
            });
        }
        let (lo, hi) = (ms[i - 1], ms[i]);
        let t = match self.mass_interp {
            MassInterp::TabulatedOnly => {
                return Err(LimitsError::MassOutOfRange {
                    mass_gev,
                    table: self.name.clone(),
                    reason: format!(
                        "it is not a tabulated mass (neighbours {lo} and {hi} GeV; tabulated: \
                         {}); interpolate between masses with \
                         .with_mass_interp(MassInterp::LogLog)",
                        list_masses(ms)
                    ),
                })
            }
            MassInterp::LogLog | MassInterp::SemiLog => (mass_gev / lo).ln() / (hi / lo).ln(),
            MassInterp::Linear => (mass_gev - lo) / (hi - lo),
        };
        Ok(Resolved::Between(i - 1, t))
    }
}

/// The masses as `5, 6, 8, ...`, at most 80 of them.
fn list_masses(ms: &[f64]) -> String {
    const MAX: usize = 80;
    let mut s: Vec<String> = ms.iter().take(MAX).map(|m| m.to_string()).collect();
    if ms.len() > MAX {
        s.push(format!("... ({} masses)", ms.len()));
    }
    s.join(", ")
}

impl Spectrum for TabulatedSpectrum {
    fn name(&self) -> &str {
        &self.name
    }

    fn mass_range_gev(&self) -> (f64, f64) {
        let ms = &self.masses_gev;
        (ms[0], ms[ms.len() - 1])
    }

    fn tabulated_masses_gev(&self) -> &[f64] {
        &self.masses_gev
    }

    fn at_mass(&self, mass_gev: f64) -> Result<AtMass<'_>> {
        let mut kinks = Vec::new();
        let at = match self.resolve(mass_gev)? {
            Resolved::Row(j) => {
                let curve = &self.curves[j];
                curve.kinks_gev(curve.mass_gev, &mut kinks);
                AtMass::new(mass_gev, move |e| self.dn_de_row(curve, e))?
            }
            Resolved::Between(j, t) => {
                self.curves[j].kinks_gev(mass_gev, &mut kinks);
                self.curves[j + 1].kinks_gev(mass_gev, &mut kinks);
                AtMass::new(mass_gev, move |e| self.dn_de_between(mass_gev, j, t, e))?
            }
        };
        Ok(at.with_breakpoints_gev(kinks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// A channel-style table of F = A m^q x^p at log10 x = -3..0 (step 0.25).
    fn power_law_table(q: f64, p: f64, masses: &[f64], support: Support) -> TabulatedSpectrum {
        let curves = masses
            .iter()
            .map(|&m| {
                let x: Vec<f64> = (0..=12)
                    .map(|k| 10f64.powf(-3.0 + 0.25 * k as f64))
                    .collect();
                let v = x.iter().map(|x| 2.0 * m.powf(q) * x.powf(p)).collect();
                Curve::new(m, x, v, support)
            })
            .collect();
        TabulatedSpectrum::from_curves(
            "power law".into(),
            "<test>".into(),
            Quantity::DnDlog10x,
            curves,
            MassInterp::LogLog,
            false,
        )
    }

    fn exact(q: f64, p: f64, m: f64, e: f64) -> f64 {
        let x = e / m;
        2.0 * m.powf(q) * x.powf(p) / (e * LN_10)
    }

    #[test]
    fn loglog_is_exact_on_power_laws_in_energy_and_mass() {
        let spec = power_law_table(0.7, -0.4, &[10.0, 40.0, 300.0], Support::Nodes);
        for &m in &[10.0, 17.0, 40.0, 123.4, 300.0] {
            for &x in &[1.1e-3, 0.0123, 0.3, 0.77, 1.0] {
                let e = x * m;
                let got = spec.dn_de(m, e).unwrap();
                assert_relative_eq!(got, exact(0.7, -0.4, m, e), max_relative = 1e-12);
            }
        }
    }

    #[test]
    fn tabulated_points_are_reproduced_bit_for_bit() {
        let spec = power_law_table(1.0, 0.5, &[10.0, 20.0], Support::Nodes);
        for interp in [Interp::LogLog, Interp::SemiLog, Interp::Linear] {
            let s = spec.clone().with_interp(interp);
            for curve in &s.curves {
                for (x, v) in curve.x.iter().zip(&curve.v) {
                    let e = x * curve.mass_gev;
                    let f = s.dn_dlog10x(curve.mass_gev, e / curve.mass_gev).unwrap();
                    // dn_dlog10x multiplies back by E ln 10: equal to rounding.
                    assert_relative_eq!(f, *v, max_relative = 1e-15);
                    assert_eq!(s.dn_de_row(curve, e), v / LN_10 / e);
                }
            }
        }
    }

    #[test]
    fn semilog_and_linear_interpolate_as_documented() {
        let x = vec![0.1, 1.0];
        let v = vec![1.0, 3.0];
        let curve = Curve::new(10.0, x, v, Support::Nodes);
        // Half-way in ln x is x = sqrt(0.1); E = x m.
        let e = 0.1f64.sqrt() * 10.0;
        assert_relative_eq!(curve.value(e, Interp::SemiLog, false), 2.0, epsilon = 1e-14);
        // Half-way in x is x = 0.55.
        assert_relative_eq!(
            curve.value(5.5, Interp::Linear, false),
            2.0,
            epsilon = 1e-14
        );
        // Log-log: geometric mean of the values at the geometric mean of x.
        assert_relative_eq!(
            curve.value(e, Interp::LogLog, false),
            3f64.sqrt(),
            epsilon = 1e-14
        );
        // Zero outside the nodes; linear extrapolation below only when asked.
        assert_eq!(curve.value(0.5, Interp::Linear, false), 0.0);
        let slope = 2.0 / 9.0;
        assert_relative_eq!(
            curve.value(0.5, Interp::Linear, true),
            1.0 - slope * 0.5,
            epsilon = 1e-14
        );
        // ... clamped at zero.
        let falling = Curve::new(10.0, vec![0.1, 1.0], vec![3.0, 1.0], Support::Nodes);
        assert_eq!(
            falling.value(1e-9, Interp::Linear, true),
            3.0 + 2.0 / 9.0 * 1.0 - 1e-9 * 2.0 / 9.0
        );
        let steep = Curve::new(10.0, vec![0.1, 0.2], vec![3.0, 0.0], Support::Nodes);
        assert_eq!(
            steep.value(1e-6, Interp::Linear, true),
            3.0 + 3.0 / 1.0 * (1.0 - 1e-6)
        );
        let rising = Curve::new(10.0, vec![0.1, 0.2], vec![0.0, 3.0], Support::Nodes);
        assert_eq!(rising.value(0.5, Interp::Linear, true), 0.0);
    }

    #[test]
    fn loglog_falls_back_to_semilog_at_zeros() {
        let curve = Curve::new(1.0, vec![0.1, 1.0], vec![0.0, 4.0], Support::Nodes);
        let e = 0.1f64.sqrt();
        assert_relative_eq!(curve.value(e, Interp::LogLog, false), 2.0, epsilon = 1e-14);
    }

    #[test]
    fn bin_centres_hold_the_end_values_over_half_bins() {
        // Centres at log10 x = -1.5, -0.5: bins [-2, -1] and [-1, 0].
        let x = vec![10f64.powf(-1.5), 10f64.powf(-0.5)];
        let curve = Curve::new(1.0, x, vec![2.0, 5.0], Support::BinCentres);
        assert_relative_eq!(curve.x_lo, 0.01, max_relative = 1e-14);
        assert_eq!(curve.x_hi, 1.0);
        assert_eq!(curve.value(0.011, Interp::LogLog, false), 2.0);
        assert_eq!(curve.value(0.009, Interp::LogLog, false), 0.0);
        assert_eq!(curve.value(0.99, Interp::LogLog, false), 5.0);
        assert_eq!(curve.value(1.0, Interp::LogLog, false), 5.0);
        assert_eq!(curve.value(1.01, Interp::LogLog, false), 0.0);
    }

    #[test]
    fn mass_interpolation_variants() {
        // F = m at every x (q = 1, p = 0) at masses 10 and 100.
        let spec = power_law_table(1.0, 0.0, &[10.0, 100.0], Support::Nodes);
        let m = 31.0;
        let e = 0.5 * m;
        let f = |s: &TabulatedSpectrum| s.dn_de(m, e).unwrap() * e * LN_10 / 2.0;
        assert_relative_eq!(f(&spec), m, max_relative = 1e-12);
        let t = (m / 10.0f64).ln() / 10f64.ln();
        let semi = spec.clone().with_mass_interp(MassInterp::SemiLog);
        assert_relative_eq!(f(&semi), 10.0 + t * 90.0, max_relative = 1e-12);
        let lin = spec.clone().with_mass_interp(MassInterp::Linear);
        assert_relative_eq!(f(&lin), m, max_relative = 1e-12);
        let only = spec.with_mass_interp(MassInterp::TabulatedOnly);
        let err = only.dn_de(m, e).unwrap_err().to_string();
        assert!(
            err.contains("31 GeV") && err.contains("10 and 100"),
            "{err}"
        );
        // Within the relative tolerance a mass counts as tabulated.
        assert!(only.dn_de(100.0 * (1.0 + 1e-11), 5.0).is_ok());
    }

    #[test]
    fn masses_outside_the_table_are_out_of_range() {
        let spec = power_law_table(1.0, 0.0, &[10.0, 100.0], Support::Nodes);
        for m in [9.99, 100.01, 1e6] {
            match spec.at_mass(m) {
                Err(LimitsError::MassOutOfRange {
                    mass_gev, reason, ..
                }) => {
                    assert_eq!(mass_gev, m);
                    assert!(reason.contains("10 to 100 GeV"), "{reason}");
                }
                other => panic!("expected MassOutOfRange, got {other:?}"),
            }
        }
        assert_eq!(spec.mass_range_gev(), (10.0, 100.0));
        assert_eq!(spec.tabulated_masses_gev(), &[10.0, 100.0]);
    }

    #[test]
    fn breakpoints_cover_the_table_nodes() {
        let spec = power_law_table(1.0, 0.0, &[10.0, 100.0], Support::Nodes);
        let at = spec.at_mass(10.0).unwrap();
        // 13 nodes from 10^-3 m to m; the last (m itself) is dropped.
        assert_eq!(at.breakpoints_gev().len(), 12);
        assert_relative_eq!(at.breakpoints_gev()[0], 0.01, max_relative = 1e-14);
        let between = spec.at_mass(20.0).unwrap();
        assert_relative_eq!(between.breakpoints_gev()[0], 0.02, max_relative = 1e-14);
    }
}
