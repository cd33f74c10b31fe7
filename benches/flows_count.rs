//! A fixed amount of flow work on one thread, for load-independent
//! instruction counts (callgrind) of the two hot paths of `benches/flows.rs`:
//! `train_step` of the phase-space model (batch 1024, Adam) and `ln_f_grad`.
//!
//! ```sh
//! cargo bench --bench flows_count --no-run
//! valgrind --tool=callgrind --collect-atstart=no \
//!   --toggle-collect='*PhaseSpaceFlow*train_step*' \
//!   --toggle-collect='*PhaseSpaceFlow*ln_f_grad*' \
//!   target/release/deps/flows_count-<hash> --bench 4 2000
//! ```
//!
//! Arguments (after `--bench`): number of training steps (default 4) and
//! number of stars for `ln_f_grad` (default 2000). Without valgrind it prints
//! the wall time of each part (one thread).

use darkprobe::core::progress::NoProgress;
use darkprobe::flows::{FitOptions, PhaseSpaceFlow, PhaseSpaceModel, Vec3};
use darkprobe::nn::Adam;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The population of `benches/flows.rs`.
fn population(n: usize) -> (Vec<Vec3>, Vec<Vec3>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut g = move || rng.sample::<f64, _>(StandardNormal);
    (0..n)
        .map(|_| {
            let x = [2.0 * g(), 2.0 * g(), 0.5 * g()];
            let s = 30.0 + 10.0 * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
            (x, [s * g(), s * g(), s * g()])
        })
        .unzip()
}

fn run(steps: usize, points: usize) -> Result<(), BoxError> {
    let (x, v) = population(points.max(2048));
    let mut opts = FitOptions::default();
    opts.train.max_epochs = 1;
    let mut m = PhaseSpaceFlow::fit(&x[..2048], &v[..2048], &opts, 1, &NoProgress)?.0;
    let mut opt_p = Adam::new(1e-3)?;
    let mut opt_v = Adam::new(1e-3)?;
    let t = Instant::now();
    let mut last = (0.0, 0.0);
    for step in 0..steps as u64 {
        last = m.train_step(&x[..1024], &v[..1024], &mut opt_p, &mut opt_v, step)?;
    }
    let t_step = t.elapsed().as_secs_f64() / steps.max(1) as f64;
    let t = Instant::now();
    let g = m.ln_f_grad(&x[..points], &v[..points])?;
    let t_eval = t.elapsed().as_secs_f64();
    let mean: f64 = g.ln_f.iter().sum::<f64>() / points.max(1) as f64;
    println!(
        "{steps} train steps: {:.2} ms/step (last losses {:.6} {:.6}); ln_f_grad at {points}: {:.1} ms (mean ln f {mean:.6})",
        1e3 * t_step,
        last.0,
        last.1,
        1e3 * t_eval
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; the numbers are the other arguments.
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse::<usize>())
        .collect::<Result<_, _>>()?;
    let steps = args.first().copied().unwrap_or(4);
    let points = args.get(1).copied().unwrap_or(2000);
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()?
        .install(|| run(steps, points))
}
