//! Units and physical constants, each with its source.
//!
//! darkprobe works in natural units with **GeV** for energy (and mass, via
//! $c = 1$), **cm** for length and **s** for time; astrophysical inputs come
//! in kpc, $M_\odot$, km/s and degrees. Every constant here is an `f64` named
//! `X_IN_Y`, meaning "one X expressed in Y", so a quantity in X is converted
//! to Y by *multiplying*: `d_cm = d_kpc * KPC_IN_CM`.
//!
//! # Sources
//! - SI defining constants, exact since the 2019 SI revision (CODATA 2018):
//!   $c = 299\,792\,458$ m/s, $e = 1.602\,176\,634\times10^{-19}$ C,
//!   $h = 6.626\,070\,15\times10^{-34}$ J s. Hence $1\ \mathrm{GeV} = 1.602\,176\,634\times10^{-10}$ J
//!   and $1\ \mathrm{GeV}/c^2 = 10^9 e / c^2 \approx 1.782\,661\,92\times10^{-27}$ kg, both
//!   exact as derived; $\hbar$ and $\hbar c$ follow exactly as well.
//! - Newtonian constant of gravitation, CODATA 2018 (unchanged in CODATA 2022):
//!   $G = 6.674\,30\times10^{-11}\ \mathrm{m^3\,kg^{-1}\,s^{-2}}$.
//! - IAU 2012 Resolution B2: $1\ \mathrm{au} = 149\,597\,870\,700$ m exactly;
//!   IAU 2015 Resolution B2: $1\ \mathrm{pc} = (648\,000/\pi)$ au exactly.
//! - IAU 2015 Resolution B3: nominal solar mass parameter
//!   $(\mathcal{GM})^{\mathrm N}_\odot = 1.327\,124\,4\times10^{20}\ \mathrm{m^3\,s^{-2}}$.
//!   The solar *mass* is $M_\odot = (\mathcal{GM})^{\mathrm N}_\odot / G$ with the CODATA 2018
//!   $G$, i.e. $1.988\,41\times10^{30}$ kg (the value the IAU resolution quotes).
//!   Quantities that only need $GM_\odot$ (such as [`G_KPC_KM2_PER_S2_PER_MSUN`])
//!   use the far more precise $(\mathcal{GM})^{\mathrm N}_\odot$ directly.
//! - Julian year: $365.25$ days of $86\,400$ s (IAU).
//!
//! Derived constants are computed from these in `const` expressions, never
//! typed in; the tests compare them with independently published values.
//!
//! ```
//! use darkprobe_core::units::*;
//! // The local dark-matter density 0.4 GeV/cm^3 in Msun/pc^3.
//! let rho = gev_per_cm3_to_msun_per_pc3(0.4);
//! assert!((rho - 0.010536).abs() < 1e-6);
//! // Newton's constant in galactic units.
//! assert!((G_KPC_KM2_PER_S2_PER_MSUN - 4.30091727e-6).abs() < 1e-14);
//! ```

use std::f64::consts::PI;

// ---------------------------------------------------------------------------
// Exact SI defining constants
// ---------------------------------------------------------------------------

/// Speed of light in m/s (exact, SI definition of the metre).
pub const C_M_PER_S: f64 = 299_792_458.0;
/// Speed of light in cm/s (exact).
pub const C_CM_PER_S: f64 = C_M_PER_S * 1e2;
/// Speed of light in km/s (exact).
pub const C_KM_PER_S: f64 = C_M_PER_S * 1e-3;
/// Elementary charge in C (exact since the 2019 SI revision).
pub const ELEMENTARY_CHARGE_C: f64 = 1.602_176_634e-19;
/// Planck constant $h$ in J s (exact since the 2019 SI revision).
pub const PLANCK_J_S: f64 = 6.626_070_15e-34;

// ---------------------------------------------------------------------------
// Energy, mass and natural units
// ---------------------------------------------------------------------------

/// One GeV in J: $10^9 e$ (exact).
pub const GEV_IN_J: f64 = ELEMENTARY_CHARGE_C * 1e9;
/// One GeV in erg (exact).
pub const GEV_IN_ERG: f64 = GEV_IN_J * 1e7;
/// One GeV/$c^2$ in g: $10^9 e / c^2$ (exact; CODATA 2018 quotes $1.782\,661\,92\times10^{-24}$ g).
pub const GEV_IN_G: f64 = GEV_IN_ERG / (C_CM_PER_S * C_CM_PER_S);
/// Reduced Planck constant $\hbar = h / 2\pi$ in GeV s (exact; CODATA 2018:
/// $6.582\,119\,569\times10^{-25}$ GeV s).
pub const HBAR_IN_GEV_S: f64 = PLANCK_J_S / (2.0 * PI) / GEV_IN_J;
/// $\hbar c$ in GeV cm, i.e. one GeV$^{-1}$ of length in cm (exact; CODATA 2018:
/// $197.326\,980\,4$ MeV fm).
pub const HBARC_IN_GEV_CM: f64 = HBAR_IN_GEV_S * C_CM_PER_S;
/// One GeV$^{-2}$ of area in cm$^2$: $(\hbar c)^2$ (PDG: $0.389\,379\,372\,1$ GeV$^2$ mb).
pub const INV_GEV2_IN_CM2: f64 = HBARC_IN_GEV_CM * HBARC_IN_GEV_CM;
/// A velocity-weighted cross-section $\sigma v$ of one GeV$^{-2}$ (with $v$ in units of $c$)
/// in cm$^3$/s: $(\hbar c)^2 c$.
pub const INV_GEV2_IN_CM3_PER_S: f64 = INV_GEV2_IN_CM2 * C_CM_PER_S;

// ---------------------------------------------------------------------------
// Gravitation and the Sun
// ---------------------------------------------------------------------------

/// Newtonian constant of gravitation in m$^3$ kg$^{-1}$ s$^{-2}$ (CODATA 2018).
pub const NEWTON_G_SI: f64 = 6.674_30e-11;
/// Newtonian constant of gravitation in cm$^3$ g$^{-1}$ s$^{-2}$ (CODATA 2018).
pub const NEWTON_G_CGS: f64 = NEWTON_G_SI * 1e3;
/// Nominal solar mass parameter $(\mathcal{GM})^{\mathrm N}_\odot$ in m$^3$ s$^{-2}$
/// (IAU 2015 Resolution B3, exact by definition).
pub const GM_SUN_SI: f64 = 1.327_124_4e20;
/// Solar mass in kg: IAU 2015 B3 nominal $GM_\odot$ divided by CODATA 2018 $G$
/// ($1.988\,41\times10^{30}$ kg).
pub const SOLAR_MASS_IN_KG: f64 = GM_SUN_SI / NEWTON_G_SI;
/// Solar mass in g ($1.988\,41\times10^{33}$ g), see [`SOLAR_MASS_IN_KG`].
pub const SOLAR_MASS_IN_G: f64 = SOLAR_MASS_IN_KG * 1e3;
/// Solar mass in GeV/$c^2$ ($1.115\,42\times10^{57}$).
pub const SOLAR_MASS_IN_GEV: f64 = SOLAR_MASS_IN_G / GEV_IN_G;

// ---------------------------------------------------------------------------
// Lengths
// ---------------------------------------------------------------------------

/// Astronomical unit in m (IAU 2012 Resolution B2, exact).
pub const AU_IN_M: f64 = 149_597_870_700.0;
/// Astronomical unit in cm (exact).
pub const AU_IN_CM: f64 = AU_IN_M * 1e2;
/// Astronomical unit in km (exact).
pub const AU_IN_KM: f64 = AU_IN_M * 1e-3;
/// Parsec in m: $648\,000/\pi$ au (IAU 2015 Resolution B2), $3.085\,677\,581\,491\,367\times10^{16}$ m.
pub const PC_IN_M: f64 = 648_000.0 / PI * AU_IN_M;
/// Parsec in cm.
pub const PC_IN_CM: f64 = PC_IN_M * 1e2;
/// Kiloparsec in m.
pub const KPC_IN_M: f64 = PC_IN_M * 1e3;
/// Kiloparsec in km (numerically equal to the parsec in m).
pub const KPC_IN_KM: f64 = PC_IN_M;
/// Kiloparsec in cm.
pub const KPC_IN_CM: f64 = PC_IN_CM * 1e3;
/// Megaparsec in cm.
pub const MPC_IN_CM: f64 = PC_IN_CM * 1e6;

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

/// Day in s (86 400 s).
pub const DAY_IN_S: f64 = 86_400.0;
/// Julian year in s: 365.25 days (IAU).
pub const JULIAN_YEAR_IN_S: f64 = 365.25 * DAY_IN_S;
/// Megayear (Julian) in s.
pub const MYR_IN_S: f64 = JULIAN_YEAR_IN_S * 1e6;
/// Gigayear (Julian) in s.
pub const GYR_IN_S: f64 = JULIAN_YEAR_IN_S * 1e9;

// ---------------------------------------------------------------------------
// Angles
// ---------------------------------------------------------------------------

/// One degree in radians ($\pi/180$).
pub const DEG_IN_RAD: f64 = PI / 180.0;
/// One radian in degrees ($180/\pi$).
pub const RAD_IN_DEG: f64 = 180.0 / PI;
/// One arcminute in radians.
pub const ARCMIN_IN_RAD: f64 = DEG_IN_RAD / 60.0;
/// One arcsecond in radians.
pub const ARCSEC_IN_RAD: f64 = DEG_IN_RAD / 3600.0;
/// One milliarcsecond in radians.
pub const MAS_IN_RAD: f64 = ARCSEC_IN_RAD * 1e-3;
/// One square degree in steradians ($(\pi/180)^2$; the full sky is $\approx 41\,253$ deg$^2$).
pub const DEG2_IN_SR: f64 = DEG_IN_RAD * DEG_IN_RAD;

// ---------------------------------------------------------------------------
// Galactic dynamics
// ---------------------------------------------------------------------------

/// $G$ in kpc (km/s)$^2$ / $M_\odot$: $(\mathcal{GM})^{\mathrm N}_\odot / (1\ \mathrm{kpc} \cdot (10^3\ \mathrm{m/km})^2)$
/// $= 4.300\,917\,27\times10^{-6}$. Uses only the nominal $GM_\odot$, not $G$ itself.
pub const G_KPC_KM2_PER_S2_PER_MSUN: f64 = GM_SUN_SI / (KPC_IN_M * 1e6);
/// One km/s/kpc (a frequency, e.g. Oort constants, pattern speeds) in s$^{-1}$.
pub const KM_PER_S_PER_KPC_IN_PER_S: f64 = 1.0 / KPC_IN_KM;
/// One km/s/kpc in Gyr$^{-1}$ ($\approx 1.0227$).
pub const KM_PER_S_PER_KPC_IN_PER_GYR: f64 = GYR_IN_S / KPC_IN_KM;
/// One (km/s)$^2$/kpc (an acceleration, e.g. from Gaia) in m/s$^2$ ($3.2408\times10^{-14}$).
pub const KM2_PER_S2_PER_KPC_IN_M_PER_S2: f64 = 1e6 / KPC_IN_M;
/// The transverse speed in km/s of a proper motion of 1 mas/yr at 1 kpc
/// (1 au per Julian year, $\approx 4.740\,47$).
pub const MAS_PER_YR_AT_KPC_IN_KM_PER_S: f64 = AU_IN_KM / JULIAN_YEAR_IN_S;

// ---------------------------------------------------------------------------
// Densities and dark-matter factors
// ---------------------------------------------------------------------------

/// One $M_\odot$/kpc$^3$ in GeV/cm$^3$ ($3.7965\times10^{-8}$).
pub const MSUN_PER_KPC3_IN_GEV_PER_CM3: f64 =
    SOLAR_MASS_IN_GEV / (KPC_IN_CM * KPC_IN_CM * KPC_IN_CM);
/// One $M_\odot$/pc$^3$ in GeV/cm$^3$ ($37.965$).
pub const MSUN_PER_PC3_IN_GEV_PER_CM3: f64 = SOLAR_MASS_IN_GEV / (PC_IN_CM * PC_IN_CM * PC_IN_CM);
/// One GeV/cm$^3$ in $M_\odot$/kpc$^3$ ($2.6340\times10^{7}$).
pub const GEV_PER_CM3_IN_MSUN_PER_KPC3: f64 = 1.0 / MSUN_PER_KPC3_IN_GEV_PER_CM3;
/// One GeV/cm$^3$ in $M_\odot$/pc$^3$ ($0.026\,340$).
pub const GEV_PER_CM3_IN_MSUN_PER_PC3: f64 = 1.0 / MSUN_PER_PC3_IN_GEV_PER_CM3;
/// One $M_\odot^2$/kpc$^5$ (annihilation J-factor) in GeV$^2$/cm$^5$ ($4.4476\times10^{6}$).
pub const MSUN2_PER_KPC5_IN_GEV2_PER_CM5: f64 = SOLAR_MASS_IN_GEV * SOLAR_MASS_IN_GEV
    / (KPC_IN_CM * KPC_IN_CM * KPC_IN_CM * KPC_IN_CM * KPC_IN_CM);
/// One $M_\odot$/kpc$^2$ (decay D-factor) in GeV/cm$^2$ ($1.1715\times10^{14}$).
pub const MSUN_PER_KPC2_IN_GEV_PER_CM2: f64 = SOLAR_MASS_IN_GEV / (KPC_IN_CM * KPC_IN_CM);

/// Converts a mass density from GeV/cm$^3$ to $M_\odot$/kpc$^3$.
pub fn gev_per_cm3_to_msun_per_kpc3(rho: f64) -> f64 {
    rho * GEV_PER_CM3_IN_MSUN_PER_KPC3
}

/// Converts a mass density from $M_\odot$/kpc$^3$ to GeV/cm$^3$.
pub fn msun_per_kpc3_to_gev_per_cm3(rho: f64) -> f64 {
    rho * MSUN_PER_KPC3_IN_GEV_PER_CM3
}

/// Converts a mass density from GeV/cm$^3$ to $M_\odot$/pc$^3$.
pub fn gev_per_cm3_to_msun_per_pc3(rho: f64) -> f64 {
    rho * GEV_PER_CM3_IN_MSUN_PER_PC3
}

/// Converts a mass density from $M_\odot$/pc$^3$ to GeV/cm$^3$.
pub fn msun_per_pc3_to_gev_per_cm3(rho: f64) -> f64 {
    rho * MSUN_PER_PC3_IN_GEV_PER_CM3
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Reference values below were computed independently with mpmath at 40
    // significant digits from the defining constants, or are the published
    // CODATA 2018 / IAU values (as stated per test).

    #[test]
    fn exact_si_and_natural_units_match_codata_2018() {
        assert_eq!(C_CM_PER_S, 2.997_924_58e10);
        assert_eq!(C_KM_PER_S, 299_792.458);
        // CODATA 2018 "electron volt-kilogram relationship" x 1e9, in g.
        assert_relative_eq!(GEV_IN_G, 1.782_661_92e-24, max_relative = 1e-9);
        // mpmath: 1e9 e / c^2 = 1.7826619216278977e-27 kg.
        assert_relative_eq!(GEV_IN_G, 1.782_661_921_627_897_7e-24, max_relative = 1e-15);
        // CODATA 2018: hbar = 6.582119569e-16 eV s; hbar c = 197.3269804 MeV fm.
        assert_relative_eq!(HBAR_IN_GEV_S, 6.582_119_569e-25, max_relative = 1e-10);
        assert_relative_eq!(
            HBARC_IN_GEV_CM,
            197.326_980_4e-3 * 1e-13,
            max_relative = 1e-10
        );
        // PDG: (hbar c)^2 = 0.3893793721 GeV^2 mbarn, 1 mb = 1e-27 cm^2.
        assert_relative_eq!(INV_GEV2_IN_CM2, 0.389_379_372_1e-27, max_relative = 1e-10);
        // mpmath: (hbar c)^2 c = 1.16732999077898520e-17 cm^3/s.
        assert_relative_eq!(
            INV_GEV2_IN_CM3_PER_S,
            1.167_329_990_778_985e-17,
            max_relative = 1e-14
        );
        assert_relative_eq!(GEV_IN_ERG, 1.602_176_634e-3, max_relative = 1e-15);
    }

    #[test]
    fn solar_mass_matches_iau_2015_b3() {
        // IAU 2015 B3 quotes M_sun = (GM)^N / G = 1.98841e30 kg with CODATA G;
        // mpmath: 1.3271244e20 / 6.67430e-11 = 1.98840987069805073e30.
        assert_relative_eq!(SOLAR_MASS_IN_G, 1.988_41e33, max_relative = 1e-6);
        assert_relative_eq!(
            SOLAR_MASS_IN_KG,
            1.988_409_870_698_050_7e30,
            max_relative = 1e-15
        );
        // E = m c^2 route: M_sun c^2 / (1e9 e), independent of GEV_IN_G.
        let via_energy = SOLAR_MASS_IN_KG * C_M_PER_S * C_M_PER_S / (ELEMENTARY_CHARGE_C * 1e9);
        assert_relative_eq!(SOLAR_MASS_IN_GEV, via_energy, max_relative = 1e-14);
        // mpmath: 1.11541613503600692e57 GeV.
        assert_relative_eq!(
            SOLAR_MASS_IN_GEV,
            1.115_416_135_036_007e57,
            max_relative = 1e-14
        );
    }

    #[test]
    fn parsec_matches_iau_2015_b2() {
        // IAU 2015 B2 quotes 1 pc = 3.08567758149137e16 m (mpmath:
        // 3.0856775814913672789e16).
        assert_relative_eq!(PC_IN_M, 3.085_677_581_491_367e16, max_relative = 1e-15);
        assert_relative_eq!(KPC_IN_CM, 3.085_677_581_491_367e21, max_relative = 1e-15);
        assert_relative_eq!(MPC_IN_CM, 3.085_677_581_491_367e24, max_relative = 1e-15);
        assert_relative_eq!(KPC_IN_KM * 1e3, KPC_IN_M, max_relative = 1e-15);
        // 1 pc subtends 1 au at 1 arcsec: pc * tan(1") = au.
        assert_relative_eq!(
            PC_IN_CM * ARCSEC_IN_RAD.tan(),
            AU_IN_CM,
            max_relative = 1e-11
        );
    }

    #[test]
    fn time_and_angles() {
        assert_eq!(JULIAN_YEAR_IN_S, 31_557_600.0);
        assert_eq!(GYR_IN_S, 3.15576e16);
        assert_relative_eq!(180.0 * DEG_IN_RAD, PI, max_relative = 1e-15);
        assert_relative_eq!(DEG_IN_RAD * RAD_IN_DEG, 1.0, max_relative = 1e-15);
        // 1 mas = 4.84813681109536e-9 rad (mpmath: pi / 648e6).
        assert_relative_eq!(MAS_IN_RAD, 4.848_136_811_095_36e-9, max_relative = 1e-14);
        assert_relative_eq!(
            ARCSEC_IN_RAD * 206_264.806_247_096_36,
            1.0,
            max_relative = 1e-15
        );
        assert_relative_eq!(ARCMIN_IN_RAD, 60.0 * ARCSEC_IN_RAD, max_relative = 1e-15);
        // Full sky in square degrees: 41252.96124941927 (mpmath).
        assert_relative_eq!(
            4.0 * PI / DEG2_IN_SR,
            41_252.961_249_419_27,
            max_relative = 1e-14
        );
    }

    #[test]
    fn gravitational_constant_in_galactic_units() {
        assert_relative_eq!(
            G_KPC_KM2_PER_S2_PER_MSUN,
            4.300_917_27e-6,
            max_relative = 1e-9
        );
        // Independent route through G and the solar mass in SI, then unit changes.
        let g = NEWTON_G_SI * SOLAR_MASS_IN_KG / KPC_IN_M / (1e3 * 1e3);
        assert_relative_eq!(G_KPC_KM2_PER_S2_PER_MSUN, g, max_relative = 1e-14);
        // Circular speed of 1e12 Msun at 200 kpc: 146.6444214765 km/s (Python, from GM_sun).
        let v = (G_KPC_KM2_PER_S2_PER_MSUN * 1e12 / 200.0).sqrt();
        assert_relative_eq!(v, 146.644_421_476_513_7, max_relative = 1e-12);
    }

    #[test]
    fn galactic_dynamics_conversions() {
        // mpmath: 1/kpc_km = 3.24077928944436502e-17 s^-1; in Gyr^-1: 1.02271216504569494.
        assert_relative_eq!(
            KM_PER_S_PER_KPC_IN_PER_S,
            3.240_779_289_444_365e-17,
            max_relative = 1e-14
        );
        assert_relative_eq!(
            KM_PER_S_PER_KPC_IN_PER_GYR,
            1.022_712_165_045_695,
            max_relative = 1e-14
        );
        // Gaia accelerations: 1 (km/s)^2/kpc = 3.2408e-14 m/s^2.
        assert_relative_eq!(
            KM2_PER_S2_PER_KPC_IN_M_PER_S2,
            3.2408e-14,
            max_relative = 1e-4
        );
        assert_relative_eq!(
            KM2_PER_S2_PER_KPC_IN_M_PER_S2,
            3.240_779_289_444_365e-14,
            max_relative = 1e-14
        );
        // The classic 4.74047 km/s per (arcsec/yr * pc) = per (mas/yr * kpc).
        assert_relative_eq!(
            MAS_PER_YR_AT_KPC_IN_KM_PER_S,
            4.740_470_463_533_349,
            max_relative = 1e-14
        );
        let v = MAS_IN_RAD * KPC_IN_KM / JULIAN_YEAR_IN_S;
        assert_relative_eq!(MAS_PER_YR_AT_KPC_IN_KM_PER_S, v, max_relative = 1e-12);
    }

    #[test]
    fn density_conversions() {
        // 1 GeV/cm^3 ~ 0.0263 Msun/pc^3 (mpmath: 0.0263399358661913677).
        assert_relative_eq!(GEV_PER_CM3_IN_MSUN_PER_PC3, 0.0263, max_relative = 2e-3);
        assert_relative_eq!(
            GEV_PER_CM3_IN_MSUN_PER_PC3,
            0.026_339_935_866_191_368,
            max_relative = 1e-13
        );
        assert_relative_eq!(
            GEV_PER_CM3_IN_MSUN_PER_KPC3,
            2.633_993_586_619_137e7,
            max_relative = 1e-13
        );
        // Derivation from the base constants in grams (not via SOLAR_MASS_IN_GEV).
        let msun_pc3_in_g_cm3 = SOLAR_MASS_IN_G / PC_IN_CM.powi(3);
        assert_relative_eq!(
            MSUN_PER_PC3_IN_GEV_PER_CM3,
            msun_pc3_in_g_cm3 / GEV_IN_G,
            max_relative = 1e-13
        );
        assert_relative_eq!(
            MSUN_PER_KPC3_IN_GEV_PER_CM3 * 1e9,
            MSUN_PER_PC3_IN_GEV_PER_CM3,
            max_relative = 1e-13
        );
        let rho = 0.3;
        assert_relative_eq!(
            msun_per_kpc3_to_gev_per_cm3(gev_per_cm3_to_msun_per_kpc3(rho)),
            rho,
            max_relative = 1e-15
        );
        assert_relative_eq!(
            msun_per_pc3_to_gev_per_cm3(gev_per_cm3_to_msun_per_pc3(rho)),
            rho,
            max_relative = 1e-15
        );
        assert_relative_eq!(
            gev_per_cm3_to_msun_per_pc3(1.0),
            0.026_339_935_866_191_368,
            max_relative = 1e-13
        );
        assert_relative_eq!(
            msun_per_pc3_to_gev_per_cm3(0.01),
            0.379_651_645_729_157,
            max_relative = 1e-13
        );
        // J- and D-factor units (mpmath: 4447552.86403874; 1.17148257200276e14).
        assert_relative_eq!(
            MSUN2_PER_KPC5_IN_GEV2_PER_CM5,
            4_447_552.864_038_744,
            max_relative = 1e-13
        );
        assert_relative_eq!(
            MSUN_PER_KPC2_IN_GEV_PER_CM2,
            1.171_482_572_002_762e14,
            max_relative = 1e-13
        );
    }
}
