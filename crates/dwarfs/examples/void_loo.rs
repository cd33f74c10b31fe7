//! Leave-one-out optimisation of the background smoothing (sigma, zeta) on the
//! real MLFermiLATDwarfs voids (the 12,739 with counts in all 6 bins): the
//! package's choice (bin 0), all bins jointly, each bin on its own, with the flat
//! (l, b) metric of the package, then bin 0 with the great-circle metric.
//! Prints a Markdown table row as each fit finishes, with its wall time. An
//! optional argument K starts at the per-bin fit of bin K and skips the bin-0
//! and joint fits.
//!
//! Data: `$DARKPROBE_DATA/mlfermidwarfs`. Run with
//! `cargo run --release -p darkprobe-dwarfs --example void_loo`; each fit takes
//! from about 20 s to several minutes on 2 cores (large sigma means many pairs).

use darkprobe_dwarfs::loo::{
    optimise_loo, optimise_loo_bin, LooBins, LooFit, LooParams, MultiBinLoo, VoidFilter,
};
use darkprobe_dwarfs::{PackageData, SpatialMetric};
use std::time::Instant;

fn row(metric: SpatialMetric, f: &LooFit, dt: f64) {
    println!(
        "| {metric:?} | {:?} | {:.4} | {:.4} | {:.2} | {} | {} | {:.1} |",
        f.bins, f.sigma_deg, f.zeta, f.loo_ln_likelihood, f.n_iter, f.at_bound, dt
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root =
        std::env::var("DARKPROBE_DATA").map_err(|_| "set DARKPROBE_DATA to the datasets folder")?;
    let data = PackageData::load(std::path::Path::new(&root).join("mlfermidwarfs"))?;
    let v = &data.voids;
    println!(
        "{} voids, {} with counts > 0 in all 6 bins",
        v.n_voids(),
        v.positive_in_all_bins().len()
    );
    let at_pkg = MultiBinLoo::new(
        v,
        &[0],
        VoidFilter::PositiveInAllBins,
        SpatialMetric::FlatLb,
    )?
    .value_and_gradient(1.4, 0.15)?
    .0;
    println!("LOO ln L of bin 0 at the package's (1.4 deg, 0.15), flat metric: {at_pkg:.2}");
    println!(
        "| metric | bins | sigma [deg] | zeta | LOO ln L | iterations | at bound | time [s] |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let flat = SpatialMetric::FlatLb;
    let skip_first = std::env::args().nth(1).is_some();
    if !skip_first {
        let t0 = Instant::now();
        let f = &optimise_loo(v, &LooParams::new(LooBins::Package))?[0];
        row(flat, f, t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let f = &optimise_loo(v, &LooParams::new(LooBins::Joint))?[0];
        row(flat, f, t0.elapsed().as_secs_f64());
    }
    let first = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    for bin in first..v.n_bins() {
        let t0 = Instant::now();
        match optimise_loo_bin(v, bin, &LooParams::new(LooBins::PerBin)) {
            Ok(f) => row(flat, &f, t0.elapsed().as_secs_f64()),
            Err(e) => println!(
                "| {flat:?} | [{bin}] | failed: {e} | | | | | {:.1} |",
                t0.elapsed().as_secs_f64()
            ),
        }
    }
    let t0 = Instant::now();
    let f = &optimise_loo(
        v,
        &LooParams::new(LooBins::Package).with_metric(SpatialMetric::Angular),
    )?[0];
    row(SpatialMetric::Angular, f, t0.elapsed().as_secs_f64());
    Ok(())
}
