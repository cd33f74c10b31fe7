//! Determinism across thread counts: the synthetic ¹²CO/¹³CO generator and
//! the patch-network training give bit-identical results on a rayon pool of
//! 1 thread and on a pool of 2 threads.

use darkprobe_core::progress::NoProgress;
use darkprobe_gasmap::synth::{generate, SynthCubes, SynthParams};
use darkprobe_gasmap::{NetOptions, PatchNet, PlanePair, PlaneRegressor};
use ndarray::Array2;

/// Runs `f` on a fresh rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}

fn bits<'a>(v: impl IntoIterator<Item = &'a f64>) -> Vec<u64> {
    v.into_iter().map(|x| x.to_bits()).collect()
}

/// A 40 x 40 pixel footprint (1 deg x 1 deg at 1.5 arcmin) with 4 velocity bins.
fn params() -> SynthParams {
    SynthParams {
        lon_min_deg: 340.0,
        lon_max_deg: 341.0,
        pixel_deg: 0.025,
        n_vel: 4,
        ..SynthParams::default()
    }
}

fn cube_bits(s: &SynthCubes) -> Vec<u64> {
    let mut out = bits(s.co12.data().iter());
    out.extend(bits(s.co13.data().iter()));
    out.extend(bits(s.truth.column_h2_cm2.iter()));
    out.extend(bits(s.truth.tex_k.iter()));
    out.extend(s.stripe_columns.iter().map(|&c| c as u64));
    out
}

#[test]
fn synthetic_generator_is_bit_identical_on_one_and_two_threads() {
    let p = params();
    let one = on_threads(1, || cube_bits(&generate(&p, 5).unwrap()));
    let two = on_threads(2, || cube_bits(&generate(&p, 5).unwrap()));
    assert_eq!(one, two);
    assert_ne!(one, cube_bits(&generate(&p, 6).unwrap()));
}

#[test]
fn patch_network_training_is_bit_identical_on_one_and_two_threads() {
    let cubes = generate(&params(), 11).unwrap();
    let v = 1;
    let source = cubes.co12.plane(v).unwrap();
    let target = cubes.co13.plane(v).unwrap();
    let mask = Array2::from_elem(source.dim(), true);
    let pairs = [PlanePair {
        velocity_bin: v,
        source,
        target,
        train_mask: mask.view(),
    }];
    // Batches of more than one row block, so the parallel path splits them;
    // threads = 0 trains on the pool the call runs in.
    let options = NetOptions {
        epochs: 2,
        batch_size: 1100,
        patience: None,
        threads: 0,
        ..NetOptions::default()
    };
    let run = || {
        let net = PatchNet::fit(&pairs, &options, 3, &NoProgress).unwrap();
        let pred = net.predict_plane(v, source).unwrap();
        (net.to_json().unwrap(), bits(pred.iter()))
    };
    let one = on_threads(1, run);
    let two = on_threads(2, run);
    assert_eq!(one.0, two.0, "trained networks differ");
    assert_eq!(one.1, two.1, "predictions differ");
}
