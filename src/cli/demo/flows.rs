//! Demo step: accelerations of a Plummer sphere learned from its stars
//! (darkprobe-flows).
//!
//! The step draws an isotropic Plummer mock ($M = 10^{10}\,M_\odot$,
//! $a = 1$ kpc), fits a small phase-space flow
//! $f(\mathbf x,\mathbf v) = n(\mathbf x)\,p(\mathbf v\mid\mathbf x)$ for a
//! few epochs, solves the collisionless Boltzmann equation for the
//! acceleration at a few radii, and compares with the exact
//! $|\mathbf a| = GMr/(r^2+a^2)^{3/2}$. The same solver applied to the exact
//! distribution function must reproduce it to rounding (a check of the
//! solver alone); the short fit is only expected to get the right magnitude
//! (the full-size accuracy check is the `phase_space_dark_matter` example).

use super::StepOutcome;
use crate::plot::{LinePlot, Series};
use darkprobe_core::progress::Progress;
use darkprobe_core::Result;
use darkprobe_flows::accel::{accelerations, AccelOptions, Symmetry};
use darkprobe_flows::mock::{sample_df, PlummerDf, SphericalDf};
use darkprobe_flows::{FitOptions, PhaseSpaceFlow, Vec3};
use std::path::Path;
use std::time::Instant;

const MASS_MSUN: f64 = 1e10;
const SCALE_KPC: f64 = 1.0;

fn norm(x: Vec3) -> f64 {
    (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt()
}

/// Runs the step, writing its plot into `out`.
///
/// # Errors
/// Failures of the sampler, the fit, the solver or the plot.
pub fn run(out: &Path, seed: u64, quick: bool, progress: &dyn Progress) -> Result<StepOutcome> {
    let started = Instant::now();
    let df = PlummerDf::new(MASS_MSUN, SCALE_KPC)?;
    let n_stars = if quick { 4_000 } else { 20_000 };
    let stars = sample_df(&df, n_stars, seed ^ 0xf10)?;
    let x: Vec<Vec3> = stars.iter().map(|s| s.x).collect();
    let v: Vec<Vec3> = stars.iter().map(|s| s.v).collect();
    let mut opts = FitOptions {
        n_blocks: if quick { 3 } else { 4 },
        hidden: vec![32; 2],
        // The demo's tolerance was set for flows on the raw positions; the
        // radial pre-transform (now the default) is validated on the
        // Hernquist example, not yet on this short Plummer fit.
        radial_map: None,
        // One position flow: the demo is a short smoke run; the averaged
        // position flows of the default are validated on the Hernquist
        // example (docs/flows.md).
        position_members: 1,
        ..FitOptions::default()
    };
    opts.train.max_epochs = if quick { 40 } else { 60 };
    opts.train.batch_size = 256;
    let (flow, _) = PhaseSpaceFlow::fit(&x, &v, &opts, seed ^ 0xf11, progress)?;

    let radii = [0.5, 0.8, 1.2, 2.0];
    let dir = [0.6, 0.0, 0.8];
    let points: Vec<Vec3> = radii
        .iter()
        .map(|&f: &f64| {
            let r = f * SCALE_KPC;
            [r * dir[0], r * dir[1], r * dir[2]]
        })
        .collect();
    let aopts = AccelOptions::default().with_n_velocities(if quick { 500 } else { 3000 });
    let from_flow = accelerations(&flow, &points, &aopts, seed ^ 0xf12)?;
    let from_exact = accelerations(&df, &points, &aopts, seed ^ 0xf12)?;
    // The sphere's symmetry, averaged over (`flows accel --symmetry spherical`).
    let sym_opts = aopts
        .clone()
        .with_symmetry(Symmetry::Spherical { copies: 32 });
    let from_sym = accelerations(&flow, &points, &sym_opts, seed ^ 0xf12)?;
    let mut flow_errs = Vec::new();
    let mut sym_errs = Vec::new();
    let mut exact_worst: f64 = 0.0;
    let mut flow_pts = Vec::new();
    for (((p, f), e), s) in points
        .iter()
        .zip(&from_flow)
        .zip(&from_exact)
        .zip(&from_sym)
    {
        let truth = df.acceleration(*p);
        let t = norm(truth);
        let rel = |a: Vec3| norm([a[0] - truth[0], a[1] - truth[1], a[2] - truth[2]]) / t;
        flow_errs.push(rel(f.accel));
        sym_errs.push(rel(s.accel));
        exact_worst = exact_worst.max(rel(e.accel));
        flow_pts.push((norm(*p) / SCALE_KPC, norm(f.accel)));
    }
    let mut sorted = flow_errs.clone();
    sorted.sort_by(f64::total_cmp);
    let flow_median = 0.5 * (sorted[1] + sorted[2]);
    sym_errs.sort_by(f64::total_cmp);
    let sym_median = 0.5 * (sym_errs[1] + sym_errs[2]);
    let curve: Vec<(f64, f64)> = (0..60)
        .map(|i| {
            let r = SCALE_KPC * 0.3 * 10f64.powf(i as f64 / 59.0);
            (r / SCALE_KPC, df.dphi_dr(r))
        })
        .collect();
    let plot_file = "flows_accel.png";
    LinePlot::new(
        "Plummer mock: acceleration from a flow",
        "r / a",
        "|a| [km² s⁻² kpc⁻¹]",
    )
    .log_x(true)
    .series(Series::line("exact", curve))
    .series(Series::points("flow + Boltzmann equation", flow_pts))
    .save(out.join(plot_file))?;
    // The exact DF must give the exact answer. A short fit of a small flow
    // on a few thousand stars learns the velocity gradients only roughly: it
    // must get the magnitude (the quick run, 4000 stars, gives ~45 %).
    let tolerance = if quick { 0.8 } else { 0.5 };
    let passed = exact_worst < 1e-6 && flow_median < tolerance;
    let per_radius: Vec<String> = radii
        .iter()
        .zip(&flow_errs)
        .map(|(r, e)| format!("{r} a: {:.1} %", 100.0 * e))
        .collect();
    let body = format!(
        "A Plummer sphere (M = {MASS_MSUN:e} Msun, a = {SCALE_KPC} kpc) sampled with {n_stars} \
         stars; a phase-space flow n(x) p(v|x) ({} blocks, hidden {:?}, {} epochs) fitted to \
         them; accelerations from the collisionless Boltzmann equation with {} velocities per \
         position. Relative error of the flow's acceleration: {} (median **{:.1} %**; a short \
         fit of a small flow, see `examples/phase_space_dark_matter.rs` for the full-size \
         check); averaged over 32 rotations of the sphere (`--symmetry spherical`): median \
         **{:.1} %**. The same solver on the exact distribution function: worst relative \
         error **{exact_worst:.1e}**.",
        opts.n_blocks,
        opts.hidden,
        opts.train.max_epochs,
        aopts.n_velocities,
        per_radius.join(", "),
        100.0 * flow_median,
        100.0 * sym_median,
    );
    Ok(StepOutcome {
        title: "Accelerations from stellar phase space (darkprobe-flows)".into(),
        body,
        files: vec![plot_file.into()],
        passed,
        seconds: started.elapsed().as_secs_f64(),
    })
}
