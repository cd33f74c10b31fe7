//! Property tests: the Gaia transform and its inverse are exact inverses, and
//! the CBE least squares recovers the exact acceleration anywhere in the
//! analytic spheres.

use darkprobe_flows::accel::{acceleration_at, AccelOptions};
use darkprobe_flows::gaia::{GaiaRow, GalactocentricFrame};
use darkprobe_flows::mock::{HernquistDf, PlummerDf, SphericalDf};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn astrometry_round_trip(
        ra in 0.0f64..360.0,
        dec in -89.9f64..89.9,
        parallax in 0.05f64..20.0,
        pmra in -200.0f64..200.0,
        pmdec in -200.0f64..200.0,
        rv in -400.0f64..400.0,
    ) {
        let frame = GalactocentricFrame::default();
        let row = GaiaRow::exact(ra, dec, parallax, pmra, pmdec, rv);
        let star = frame.to_galactocentric(&row);
        let back = frame.to_astrometry(&star).unwrap();
        let dra = (back.ra_deg - ra + 540.0).rem_euclid(360.0) - 180.0;
        prop_assert!(dra.abs() * dec.to_radians().cos() < 1e-9);
        prop_assert!((back.dec_deg - dec).abs() < 1e-9);
        prop_assert!((back.parallax_mas / parallax - 1.0).abs() < 1e-10);
        prop_assert!((back.pmra_mas_yr - pmra).abs() < 1e-7 * (1.0 + pmra.abs()));
        prop_assert!((back.pmdec_mas_yr - pmdec).abs() < 1e-7 * (1.0 + pmdec.abs()));
        prop_assert!((back.radial_velocity_km_s - rv).abs() < 1e-8 * (1.0 + rv.abs()));
    }

    #[test]
    fn cbe_is_exact_for_the_analytic_dfs(
        x in -30.0f64..30.0, y in -30.0f64..30.0, z in -30.0f64..30.0,
        seed in any::<u64>(),
    ) {
        prop_assume!((x * x + y * y + z * z).sqrt() > 0.05);
        let opts = AccelOptions::default().with_n_velocities(40);
        let h = HernquistDf::new(2e10, 4.0).unwrap();
        let p = PlummerDf::new(2e10, 4.0).unwrap();
        for (est, exact) in [
            (acceleration_at(&h, [x, y, z], &opts, seed).unwrap(), h.acceleration([x, y, z])),
            (acceleration_at(&p, [x, y, z], &opts, seed).unwrap(), p.acceleration([x, y, z])),
        ] {
            let scale = exact.iter().map(|c| c * c).sum::<f64>().sqrt();
            for (a, e) in est.accel.iter().zip(exact) {
                prop_assert!((a - e).abs() < 1e-9 * scale);
            }
        }
    }
}
