//! Error budget of a fitted phase-space flow on the Hernquist mock of
//! `phase_space_dark_matter`: loads `flow.json` written by that example and
//! recomputes the accelerations at the same 48 positions with one of the two
//! flows replaced by the exact Hernquist model, with more velocities, and
//! with quasi-Monte Carlo velocity draws, so that the position flow
//! $n(\mathbf x)$, the velocity flow $p(\mathbf v\mid\mathbf x)$ and the Monte
//! Carlo noise can be told apart.
//!
//! ```text
//! cargo run --release --example phase_space_diagnose [dir=phase_space_output]
//! ```

use darkprobe::flows::accel::{accelerations, AccelOptions, VelocitySampling};
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

fn flat(v: &[Vec3]) -> Vec<f64> {
    v.iter().flat_map(|p| p.iter().copied()).collect()
}

impl PhaseSpaceModel for ExactN<'_> {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> darkprobe::flows::Result<LnFGrad> {
        let p = self.0.velocity_flow().ln_prob_grad(&flat(v), &flat(x))?;
        let mut out = LnFGrad::default();
        for (i, xi) in x.iter().enumerate() {
            let g = grad_ln_rho(*xi);
            out.ln_f.push(p.ln_p[i]);
            out.grad_x.push([
                g[0] + p.grad_context[3 * i],
                g[1] + p.grad_context[3 * i + 1],
                g[2] + p.grad_context[3 * i + 2],
            ]);
            out.grad_v
                .push([p.grad_x[3 * i], p.grad_x[3 * i + 1], p.grad_x[3 * i + 2]]);
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
        let mut e = self.1.ln_f_grad(x, v)?;
        let n = self.0.position_flow().ln_prob_grad(&flat(x), &[])?;
        for (i, xi) in x.iter().enumerate() {
            let g = grad_ln_rho(*xi);
            for (j, gj) in g.iter().enumerate() {
                e.grad_x[i][j] += n.grad_x[3 * i + j] - gj;
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
        "flow, 40k velocities",
        &flow,
        &o.clone().with_n_velocities(40_000),
        SEED + 2,
    )?;
    report(
        "flow, 10k velocities, quasi-Monte Carlo",
        &flow,
        &o.clone().with_sampling(VelocitySampling::QuasiRandom),
        SEED + 2,
    )?;
    report("exact n(x), flow p(v|x)", &ExactN(&flow), &o, SEED + 2)?;
    report("flow n(x), exact p(v|x)", &ExactP(&flow, df), &o, SEED + 2)?;
    Ok(())
}
