//! Leave-one-out optimisation of the background smoothing (sigma, zeta) on the
//! real MLFermiLATDwarfs voids: the package's choice (bin 0), each bin on its
//! own, and all bins jointly, with the flat (l, b) and the angular metric.
//!
//! Data: `$DARKPROBE_DATA/mlfermidwarfs`. Runtime: about a minute with
//! `cargo run --release -p darkprobe-dwarfs --example void_loo` on 2 cores.

use darkprobe_dwarfs::loo::{optimise_loo, LooBins, LooParams};
use darkprobe_dwarfs::{PackageData, SpatialMetric};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root =
        std::env::var("DARKPROBE_DATA").map_err(|_| "set DARKPROBE_DATA to the datasets folder")?;
    let data = PackageData::load(std::path::Path::new(&root).join("mlfermidwarfs"))?;
    println!(
        "{} voids, {} with counts > 0 in all 6 bins",
        data.voids.n_voids(),
        data.voids.positive_in_all_bins().len()
    );
    println!(
        "| metric | bins | sigma [deg] | zeta | LOO ln L | iterations | at bound | time [s] |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for metric in [SpatialMetric::FlatLb, SpatialMetric::Angular] {
        for mode in [LooBins::Package, LooBins::PerBin, LooBins::Joint] {
            let t0 = Instant::now();
            let fits = optimise_loo(&data.voids, &LooParams::new(mode).with_metric(metric))?;
            let dt = t0.elapsed().as_secs_f64();
            for f in &fits {
                println!(
                    "| {metric:?} | {:?} | {:.4} | {:.4} | {:.2} | {} | {} | {:.1} |",
                    f.bins,
                    f.sigma_deg,
                    f.zeta,
                    f.loo_ln_likelihood,
                    f.n_iter,
                    f.at_bound,
                    dt / fits.len() as f64
                );
            }
        }
    }
    Ok(())
}
