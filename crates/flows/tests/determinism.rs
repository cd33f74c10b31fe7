//! Determinism across thread counts: mock sampling, phase-space flow training
//! (a few epochs of both flows), the flow's gradients and the acceleration
//! estimates give bit-identical results on a rayon pool of 1 thread and on a
//! pool of 2 threads.

use darkprobe_core::progress::NoProgress;
use darkprobe_flows::accel::{accelerations, AccelOptions};
use darkprobe_flows::mock::{sample, Profile};
use darkprobe_flows::{FitOptions, PhaseSpaceEnsemble, PhaseSpaceModel, TrainOptions, Vec3};
use darkprobe_nn::Activation;

/// Runs `f` on a fresh rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

fn vec3_bits(v: &[Vec3]) -> Vec<u64> {
    v.iter().flatten().map(|x| x.to_bits()).collect()
}

/// Small flows and a few epochs; batches larger than one row block of
/// darkprobe-nn, so the parallel path splits them.
fn fit_options() -> FitOptions {
    FitOptions {
        n_blocks: 2,
        hidden: vec![16, 16],
        activation: Activation::Elu(1.0),
        max_log_scale: 6.0,
        train: TrainOptions {
            max_epochs: 3,
            batch_size: 700,
            patience: 10,
            ..TrainOptions::default()
        },
        // Two position flows: their average is thread-count independent too.
        position_members: 2,
        ..FitOptions::default()
    }
}

#[test]
fn training_and_accelerations_are_bit_identical_on_one_and_two_threads() {
    let run = || {
        let stars = sample(Profile::Plummer, 1e10, 1.0, 1600, 4).unwrap();
        let x: Vec<Vec3> = stars.iter().map(|s| s.x).collect();
        let v: Vec<Vec3> = stars.iter().map(|s| s.v).collect();
        let mut out = vec3_bits(&x);
        out.extend(vec3_bits(&v));
        // Two members fitted in parallel, each training its two flows in parallel.
        let (model, reports) =
            PhaseSpaceEnsemble::fit(2, &x, &v, &fit_options(), 8, &NoProgress).unwrap();
        for r in &reports {
            for loss in [&r.position.train_loss, &r.position.val_loss] {
                out.extend(loss.iter().map(|l| l.to_bits()));
            }
            out.extend(r.velocity.train_loss.iter().map(|l| l.to_bits()));
        }
        let g = model.ln_f_grad(&x[..600], &v[..600]).unwrap();
        out.extend(g.ln_f.iter().map(|l| l.to_bits()));
        out.extend(vec3_bits(&g.grad_x));
        out.extend(vec3_bits(&g.grad_v));
        let points = [[0.5, 0.0, 0.0], [0.0, 1.0, 0.3], [-0.8, 0.2, -0.4]];
        let opts = AccelOptions::default()
            .with_n_velocities(800)
            .with_batch_size(800);
        for a in accelerations(&model, &points, &opts, 17).unwrap() {
            out.extend(vec3_bits(&[a.accel, a.accel_err]));
            out.push(a.residual.to_bits());
        }
        out
    };
    let one = on_threads(1, run);
    let two = on_threads(2, run);
    assert_eq!(one.len(), two.len());
    assert!(one == two, "results differ between 1 and 2 threads");
}
