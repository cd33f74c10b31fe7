//! Bench binary: wall time of `PhaseSpaceFlow::fit` with the default
//! `FitOptions` on a synthetic population, plus the throughput of single
//! training steps (batch 1024) and of `ln_f_grad`.
//!
//! Run: `cargo run --release -p darkprobe-flows --example flows_timing -- [stars] [seed] [max_epochs] [activation]`
//! (default 100000 stars, seed 1, the default `FitOptions`; `activation` is
//! `tanh`, `elu` or `relu`; `max_epochs` 0 skips the fit). The stars follow
//! $x \sim \mathcal N(0, \mathrm{diag}(2, 2, 0.5)^2)$ kpc and
//! $v\mid x \sim \mathcal N(0, \sigma(x)^2 I)$ with
//! $\sigma = 30 + 10\,|x|$ km/s.

use darkprobe_core::progress::NoProgress;
use darkprobe_flows::{FitOptions, PhaseSpaceFlow, PhaseSpaceModel, Vec3};
use darkprobe_nn::{Activation, Adam};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::time::Instant;

fn population(n: usize, seed: u64) -> (Vec<Vec3>, Vec<Vec3>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut g = move || rng.sample::<f64, _>(StandardNormal);
    let mut x = Vec::with_capacity(n);
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let p = [2.0 * g(), 2.0 * g(), 0.5 * g()];
        let s = 30.0 + 10.0 * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        x.push(p);
        v.push([s * g(), s * g(), s * g()]);
    }
    (x, v)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let seed: u64 = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(1);
    println!("rayon threads: {}", rayon::current_num_threads());
    let (x, v) = population(n, seed);
    let mut opts = FitOptions::default();
    if let Some(e) = args.get(3) {
        opts.train.max_epochs = e.parse()?;
    }
    match args.get(4).map(String::as_str) {
        Some("tanh") => opts.activation = Activation::Tanh,
        Some("elu") => opts.activation = Activation::Elu(1.0),
        Some("relu") => opts.activation = Activation::Relu,
        Some(other) => return Err(format!("unknown activation {other}").into()),
        None => {}
    }
    println!("options: {opts:?}");

    // Throughput of single training steps and of ln_f_grad (untrained model).
    let (mut model, _) = {
        let mut quick = opts.clone();
        quick.train.max_epochs = 1;
        quick.train.validation_fraction = 0.0;
        PhaseSpaceFlow::fit(&x[..2048], &v[..2048], &quick, seed, &NoProgress)?
    };
    let mut opt_p = Adam::new(1e-3)?;
    let mut opt_v = Adam::new(1e-3)?;
    let steps = 50;
    let t = Instant::now();
    for s in 0..steps {
        let lo = (s * 1024) % (n - 1024);
        model.train_step(
            &x[lo..lo + 1024],
            &v[lo..lo + 1024],
            &mut opt_p,
            &mut opt_v,
            s as u64,
        )?;
    }
    let dt = t.elapsed().as_secs_f64() / steps as f64;
    println!(
        "train step (both flows, batch 1024): {:.2} ms, {:.0} samples/s",
        1e3 * dt,
        1024.0 / dt
    );
    let m = n.min(10_000);
    let t = Instant::now();
    let reps = 5;
    for _ in 0..reps {
        std::hint::black_box(model.ln_f_grad(&x[..m], &v[..m])?);
    }
    let dt = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "ln_f_grad ({m} points): {:.1} ms, {:.0} points/s",
        1e3 * dt,
        m as f64 / dt
    );

    if opts.train.max_epochs == 0 {
        return Ok(());
    }
    let t = Instant::now();
    let (model, report) = PhaseSpaceFlow::fit(&x, &v, &opts, seed, &NoProgress)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "fit {n} stars: {secs:.1} s; position flow {} epochs (best {}, val {:?}), velocity flow {} epochs (best {}, val {:?})",
        report.position.train_loss.len(),
        report.position.best_epoch,
        report.position.val_loss.last(),
        report.velocity.train_loss.len(),
        report.velocity.best_epoch,
        report.velocity.val_loss.last()
    );
    // Check against the truth: mean ln f over 5000 held-out stars.
    let (xt, vt) = population(5000, seed + 1);
    let lf = model.ln_f_grad(&xt, &vt)?;
    let true_ln_f: f64 = xt
        .iter()
        .zip(&vt)
        .map(|(p, w)| {
            let c = (2.0 * std::f64::consts::PI).ln();
            let ln_n = -0.5 * ((p[0] / 2.0).powi(2) + (p[1] / 2.0).powi(2) + (p[2] / 0.5).powi(2))
                - 1.5 * c
                - (2.0f64 * 2.0 * 0.5).ln();
            let s = 30.0 + 10.0 * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            let ln_p =
                -0.5 * (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]) / (s * s) - 1.5 * c - 3.0 * s.ln();
            ln_n + ln_p
        })
        .sum::<f64>()
        / 5000.0;
    let model_ln_f = lf.ln_f.iter().sum::<f64>() / 5000.0;
    println!("held-out mean ln f: model {model_ln_f:.4}, truth {true_ln_f:.4}");
    Ok(())
}
