//! Error budget of a fitted phase-space flow on the Hernquist mock of
//! `phase_space_dark_matter`: loads `flow.json` written by that example and
//! recomputes the accelerations at the same 48 positions with one of the two
//! flows replaced by the exact Hernquist model, and with quasi-Monte
//! Carlo velocity draws, so that the position flow
//! $n(\mathbf x)$, the velocity flow $p(\mathbf v\mid\mathbf x)$ and the Monte
//! Carlo noise can be told apart. Then splits the density error of the
//! kernel-smoothed Gauss law at the example's 8 density positions: the
//! estimator on the exact field, and the flow's field with independent or
//! shared (common random number) velocity draws.
//!
//! ```text
//! cargo run --release --example phase_space_diagnose [dir=phase_space_output] [all|quick]
//! ```
//!
//! `quick` skips the density line with independent draws (the example's
//! own setting before it switched to shared draws).

use darkprobe::flows::accel::{accelerations, AccelOptions, DrawSeeds, VelocitySampling};
use darkprobe::flows::gauss::{density, smooth_density, GaussOptions};
use darkprobe::flows::mock::{HernquistDf, SphericalDf};
use darkprobe::flows::{LnFGrad, PhaseSpaceFlow, PhaseSpaceModel, Vec3};
use std::path::PathBuf;
use std::process::ExitCode;

const MASS_MSUN: f64 = 1e10;
const SCALE_KPC: f64 = 5.0;
const SEED: u64 = 20_261_122;

const DIRECTIONS: [Vec3; 4] = [
    [0.577_350_269, 0.577_350_269, 0.577_350_269],
    [-0.801_783_726, 0.267_261_242, 0.534_522_484],
    [0.267_261_242, -0.801_783_726, -0.534_522_484],
    [0.0, 0.447_213_595, -0.894_427_191],
];

fn norm(x: Vec3) -> f64 {
    (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt()
}

/// $\nabla\ln\rho$ of the Hernquist profile.
fn grad_ln_rho(x: Vec3) -> Vec3 {
    let r = norm(x);
    let d = -1.0 / r - 3.0 / (r + SCALE_KPC);
    [d * x[0] / r, d * x[1] / r, d * x[2] / r]
}

/// Exact $n(\mathbf x)$, learned $p(\mathbf v\mid\mathbf x)$.
struct ExactN<'a>(&'a PhaseSpaceFlow);
/// Learned $n(\mathbf x)$, exact $p(\mathbf v\mid\mathbf x)$.
struct ExactP<'a>(&'a PhaseSpaceFlow, HernquistDf);

impl PhaseSpaceModel for ExactN<'_> {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> darkprobe::flows::Result<LnFGrad> {
        // ln f = ln n_exact + (ln f_flow - ln n_flow).
        let mut out = self.0.ln_f_grad(x, v)?;
        let (ln_n, gn) = self.0.ln_n_grad(x)?;
        for (i, xi) in x.iter().enumerate() {
            let g = grad_ln_rho(*xi);
            out.ln_f[i] -= ln_n[i];
            for j in 0..3 {
                out.grad_x[i][j] += g[j] - gn[i][j];
            }
        }
        Ok(out)
    }
    fn sample_velocities(
        &self,
        x: Vec3,
        n: usize,
        seed: u64,
    ) -> darkprobe::flows::Result<Vec<Vec3>> {
        self.0.sample_velocities(x, n, seed)
    }
}

impl PhaseSpaceModel for ExactP<'_> {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> darkprobe::flows::Result<LnFGrad> {
        // ln f = ln f_exact - ln n_exact + ln n_flow.
        let mut e = self.1.ln_f_grad(x, v)?;
        let (_, gn) = self.0.ln_n_grad(x)?;
        for (i, xi) in x.iter().enumerate() {
            let g = grad_ln_rho(*xi);
            for j in 0..3 {
                e.grad_x[i][j] += gn[i][j] - g[j];
            }
        }
        Ok(e)
    }
    fn sample_velocities(
        &self,
        x: Vec3,
        n: usize,
        seed: u64,
    ) -> darkprobe::flows::Result<Vec<Vec3>> {
        self.1.sample_velocities(x, n, seed)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "phase_space_output".into()),
    );
    let only_shared = std::env::args().nth(2).as_deref() == Some("quick");
    let flow = PhaseSpaceFlow::load_json(dir.join("flow.json"))?;
    let df = HernquistDf::new(MASS_MSUN, SCALE_KPC)?;
    let radii: Vec<f64> = (0..12)
        .map(|i| SCALE_KPC * 0.3 * 10f64.powf(i as f64 / 11.0))
        .collect();
    let points: Vec<Vec3> = radii
        .iter()
        .flat_map(|&r| DIRECTIONS.map(|d| [r * d[0], r * d[1], r * d[2]]))
        .collect();
    let report = |name: &str, m: &dyn PhaseSpaceModel, opts: &AccelOptions, seed: u64| {
        let est = accelerations(m, &points, opts, seed)?;
        let errs: Vec<f64> = est
            .iter()
            .map(|e| {
                let t = df.acceleration(e.x);
                norm([e.accel[0] - t[0], e.accel[1] - t[1], e.accel[2] - t[2]]) / norm(t)
            })
            .collect();
        let inner = median(errs[..24].to_vec());
        let outer = median(errs[24..].to_vec());
        println!(
            "{name:<44} median {:6.2} %  (r < 1.0a: {:6.2} %, r > 1.0a: {:6.2} %)",
            100.0 * median(errs),
            100.0 * inner,
            100.0 * outer
        );
        Ok::<(), darkprobe::core::Error>(())
    };
    let o = AccelOptions::default().with_sampling(VelocitySampling::Random);
    report("flow, 10k velocities, seed A", &flow, &o, SEED + 2)?;
    report(
        "flow, 10k velocities, quasi-Monte Carlo",
        &flow,
        &o.clone().with_sampling(VelocitySampling::QuasiRandom),
        SEED + 2,
    )?;
    report("exact n(x), flow p(v|x)", &ExactN(&flow), &o, SEED + 2)?;
    report("flow n(x), exact p(v|x)", &ExactP(&flow, df), &o, SEED + 2)?;

    // Densities at the example's 8 positions, 50 kernel draws each.
    let d_points: Vec<Vec3> = [0.3, 0.6, 1.2, 2.4]
        .iter()
        .flat_map(|&f| {
            let r = f * SCALE_KPC;
            [DIRECTIONS[0], DIRECTIONS[3]].map(|d| [r * d[0], r * d[1], r * d[2]])
        })
        .collect();
    let gopts = GaussOptions::default().with_n_draws(50);
    let rho_true = |p: Vec3| df.density_msun_kpc3(norm(p).max(1e-9));
    let truth: Vec<f64> = d_points
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            smooth_density(
                &rho_true,
                x,
                &GaussOptions::default().with_n_draws(20_000),
                SEED + 5 + k as u64,
            )
            .map(|t| t.0)
        })
        .collect::<Result<_, _>>()?;
    let d_report =
        |name: &str, field: &(dyn Fn(&[Vec3]) -> darkprobe::flows::Result<Vec<Vec3>> + Sync)| {
            let est = density(field, &d_points, &gopts, SEED + 4)?;
            let errs: Vec<f64> = est
                .iter()
                .zip(&truth)
                .map(|(e, t)| (e.rho_msun_kpc3 - t).abs() / t)
                .collect();
            let by_r: Vec<String> = errs
                .chunks(2)
                .map(|c| format!("{:5.1}", 50.0 * (c[0] + c[1])))
                .collect();
            println!(
                "{name:<44} median {:6.1} %  (mean per radius 0.3a/0.6a/1.2a/2.4a: {} %)",
                100.0 * median(errs),
                by_r.join(" /")
            );
            Ok::<(), darkprobe::core::Error>(())
        };
    d_report("density: exact field", &|p: &[Vec3]| {
        Ok(p.iter().map(|&x| df.acceleration(x)).collect())
    })?;
    for (name, n_vel, seeds, sampling) in [
        (
            "density: flow, 300 vel, independent",
            300,
            DrawSeeds::PerPosition,
            VelocitySampling::Random,
        ),
        (
            "density: flow, 300 vel, shared",
            300,
            DrawSeeds::Shared,
            VelocitySampling::Random,
        ),
        (
            "density: flow, 300 vel, shared QMC",
            300,
            DrawSeeds::Shared,
            VelocitySampling::QuasiRandom,
        ),
    ] {
        if only_shared && seeds == DrawSeeds::PerPosition {
            continue;
        }
        let fo = AccelOptions::default()
            .with_n_velocities(n_vel)
            .with_seeds(seeds)
            .with_sampling(sampling);
        d_report(name, &|p: &[Vec3]| {
            Ok(accelerations(&flow, p, &fo, SEED + 3)?
                .into_iter()
                .map(|e| e.accel)
                .collect())
        })?;
    }
    Ok(())
}
