//! darkprobe side of the peer comparisons (bench binary, no criterion).
//!
//! `cargo bench --bench peers -- <row>...` with rows `kde_cv`, `limits`
//! (one stacked profile evaluation and one 95% limit, plus the 25-mass dwarf
//! scan in cases J and JB), `em`, `gp`, `net` and `flows`; no row runs all
//! of them.
//! Each row writes its seeded inputs to `target/peers/<row>/` and darkprobe's
//! answers and median wall times to `target/peers/<row>/darkprobe.csv`
//! (`key,value` lines). The Python scripts in `benches/peers/` read the very
//! same files, run the peer, and print peer time, darkprobe time, the ratio
//! and the agreement of the outputs. See `benches/peers/README.md`.
//!
//! Environment: `PEERS_GP_SIZES` (default `2000,7840`), `PEERS_GP_RESTARTS`
//! (default 2), `PEERS_GP_FIT_MAX_N` (largest n for which the full
//! hyperparameter fit is timed, default 2000; above it only one log marginal
//! likelihood evaluation with gradient is timed), `PEERS_GP_FIT_REPS`
//! (repetitions of the GP fit, default 1), `PEERS_REPS` (repetitions of
//! short measurements, default 5).

use darkprobe::core::progress::NoProgress;
use darkprobe::core::table::write_csv_columns;
use darkprobe::dwarfs::analysis::{AnalysisOptions, Case, DwarfAnalysis, DwarfInput};
use darkprobe::dwarfs::{BackgroundModel, VoidSample};
use darkprobe::gasmap::gp::{ln_marginal_likelihood, ExactGp, GpParams, Standardizer};
use darkprobe::gasmap::net::{wmae_weights, NetArchitecture, TargetRange};
use darkprobe::kde::{select_bandwidth_kfold, Bandwidth, KFold, ScaleSearch};
use darkprobe::limits::likelihood::{LimitOptions, LnDensity1d};
use darkprobe::limits::spectrum::FnSpectrum;
use darkprobe::nn::loss::WeightedMae;
use darkprobe::nn::train::{Dataset, TrainConfig, Trainer};
use darkprobe::nn::{exec::thread_pool, Lamb, Matrix};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Median wall time (s) of `reps` calls, and the last result.
fn median_secs<T, F: FnMut() -> T>(reps: usize, mut f: F) -> (f64, T) {
    let mut times = Vec::with_capacity(reps);
    let mut out = None;
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        out = Some(f());
        times.push(s.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let out = out.expect("at least one repetition");
    (times[times.len() / 2], out)
}

/// `key,value` lines, written to `darkprobe.csv`.
#[derive(Default)]
struct Report(String);

impl Report {
    fn put(&mut self, key: &str, value: impl std::fmt::Display) {
        println!("  {key} = {value}");
        let _ = writeln!(self.0, "{key},{value}");
    }
    fn put_f(&mut self, key: &str, value: f64) {
        self.put(key, format!("{value:.10e}"));
    }
    fn save(&self, dir: &Path) -> Result<(), BoxError> {
        std::fs::write(dir.join("darkprobe.csv"), format!("key,value\n{}", self.0))?;
        Ok(())
    }
}

fn reps() -> usize {
    std::env::var("PEERS_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

fn row_dir(name: &str) -> Result<PathBuf, BoxError> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/peers")
        .join(name);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn write_matrix(path: &Path, names: &[String], a: &Array2<f64>) -> Result<(), BoxError> {
    let cols: Vec<Vec<f64>> = (0..a.ncols()).map(|k| a.column(k).to_vec()).collect();
    let pairs: Vec<(&str, &[f64])> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    write_csv_columns(path, &pairs)?;
    Ok(())
}

fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, BoxError> {
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()?
        .install(f))
}

fn normal(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng))
}

// ---------------------------------------------------------------- KDE CV

fn row_kde_cv() -> Result<(), BoxError> {
    let dir = row_dir("kde_cv")?;
    // The subhalo-sized problem of `benches/kde.rs`: 500 points in 3-D,
    // 20 log-spaced isotropic bandwidths, 5 folds x 20 repetitions.
    let x = normal(500, 3, 3);
    let names: Vec<String> = (0..3).map(|k| format!("x{k}")).collect();
    write_matrix(&dir.join("x.csv"), &names, &x)?;
    let search = ScaleSearch::log_grid(0.05, 1.0, 20)?;
    let ScaleSearch::Grid(grid) = &search else {
        return Err("expected a grid".into());
    };
    write_csv_columns(dir.join("grid.csv"), &[("bandwidth", grid.as_slice())])?;
    let mut r = Report::default();
    println!("kde_cv: n 500, d 3, grid 20, 5 folds x 20 repeats");
    r.put("threads", rayon::current_num_threads());
    let (t, sel) = median_secs(reps(), || {
        select_bandwidth_kfold(
            x.view(),
            &Bandwidth::Isotropic(1.0),
            &search,
            &KFold::paper(7),
        )
    });
    let sel = sel?;
    r.put("time_s", t);
    r.put("best_bandwidth", sel.best_scale);
    r.put("best_score_per_point", sel.best_score);
    let (bw, score): (Vec<f64>, Vec<f64>) = sel.curve.iter().copied().unzip();
    write_csv_columns(
        dir.join("darkprobe_curve.csv"),
        &[("bandwidth", &bw), ("mean_score_per_point", &score)],
    )?;
    r.save(&dir)
}

// ------------------------------------------------------- limits / dwarfs

fn voids(n: usize, seed: u64) -> Result<VoidSample, BoxError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut l = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    while l.len() < n {
        let (x, y) = darkprobe::core::sky::sample_sphere(&mut rng);
        if y.abs() > 20.0 {
            l.push(x);
            b.push(y);
        }
    }
    let c = (0..n)
        .map(|_| {
            (0..6)
                .map(|k| (rng.random_range(5..80u64) / (k + 1)).max(1))
                .collect()
        })
        .collect();
    Ok(VoidSample::new(l, b, c)?)
}

/// Positions of the 8 classical dwarfs (l, b in degrees).
const DWARFS: [(f64, f64); 8] = [
    (260.11, -22.22),
    (86.37, 34.72),
    (237.10, -65.65),
    (225.99, 49.11),
    (220.17, 67.23),
    (287.53, -83.16),
    (243.50, 42.27),
    (104.97, 44.80),
];

fn row_limits() -> Result<(), BoxError> {
    let dir = row_dir("limits")?;
    let mut r = Report::default();
    let n_voids = 12_739;
    let v = voids(n_voids, 1)?;
    // The analysis default: the package's sigma and zeta, voids whose kernel
    // weight is below e^-45 of the largest left out of each dwarf's prior (a
    // change below 1e-13; the Python side sums over all voids as the package).
    let params = AnalysisOptions::default().background;
    let model = BackgroundModel::new(&v, &params)?;
    // Every generated void has counts > 0 in all bins, so all enter the JB pdf.
    let ln_y0: Vec<f64> = v
        .counts_in_bin(0)?
        .iter()
        .map(|&c| (c as f64).ln())
        .collect();
    write_csv_columns(
        dir.join("voids.csv"),
        &[
            ("l_deg", v.l_deg()),
            ("b_deg", v.b_deg()),
            ("ln_y0", &ln_y0),
        ],
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut inputs = Vec::new();
    let mut dwarf_cols: Vec<Vec<f64>> = vec![Vec::new(); 4 + 6 * 3];
    for (i, &(l, b)) in DWARFS.iter().enumerate() {
        let bk = model.at(l, b)?;
        let prior: Arc<dyn LnDensity1d> = Arc::new(bk.conditional().clone());
        let counts: Vec<u64> = bk
            .ln_b_hat
            .iter()
            .map(|x| Poisson::new(x.exp()).map(|p| p.sample(&mut rng) as u64))
            .collect::<Result<_, _>>()?;
        let exposure: Vec<f64> = (0..6).map(|k| 3e11 * (1.0 + 0.05 * k as f64)).collect();
        let log10_j = 18.0 + 0.1 * i as f64;
        let sigma = 0.15 + 0.02 * i as f64;
        for (c, x) in [l, b, log10_j, sigma].into_iter().enumerate() {
            dwarf_cols[c].push(x);
        }
        for k in 0..6 {
            dwarf_cols[4 + k].push(counts[k] as f64);
            dwarf_cols[10 + k].push(exposure[k]);
            dwarf_cols[16 + k].push(bk.ln_b_hat[k]);
        }
        inputs.push(DwarfInput {
            name: format!("D{i}"),
            counts,
            exposure_cm2_s: exposure,
            ln_b_hat: bk.ln_b_hat.clone(),
            log10_j,
            log10_j_sigma: sigma,
            log10_j_samples: None,
            background_prior: Some(prior),
        });
    }
    let mut names: Vec<String> = ["l_deg", "b_deg", "log10_j", "log10_j_sigma"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in ["counts", "exposure_cm2_s", "ln_b_hat"] {
        names.extend((0..6).map(|k| format!("{p}{k}")));
    }
    let pairs: Vec<(&str, &[f64])> = names
        .iter()
        .zip(&dwarf_cols)
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    write_csv_columns(dir.join("dwarfs.csv"), &pairs)?;

    // The package's 25 masses and a smooth toy spectrum, normalised so that
    // the limits span the package's grid (1e-27 to 1e-22) as on real data.
    let masses: Vec<f64> = vec![
        8.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 150.0,
        180.0, 200.0, 260.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0,
    ];
    let spec = FnSpectrum::new("0.6 x^-1.5 exp(-8x)/m", (0.1, 1e5), |m: f64, e: f64| {
        let x = e / m;
        if x >= 1.0 {
            0.0
        } else {
            0.6 * x.powf(-1.5) * (-8.0 * x).exp() / m
        }
    })?;
    let opts = |case: Case| AnalysisOptions {
        case,
        ..AnalysisOptions::default()
    };
    let probe = DwarfAnalysis::new(inputs.clone(), opts(Case::J))?;
    // Signal coefficients k_ib for every mass, as the Python side uses them.
    let (mut km, mut kd) = (Vec::new(), Vec::new());
    let mut kb: Vec<Vec<f64>> = vec![Vec::new(); 6];
    for &m in &masses {
        for (i, row) in probe.signal_coefficients(&spec, m)?.iter().enumerate() {
            km.push(m);
            kd.push(i as f64);
            for (k, x) in row.iter().enumerate() {
                kb[k].push(*x);
            }
        }
    }
    let knames: Vec<String> = (0..6).map(|k| format!("k{k}")).collect();
    let mut kpairs: Vec<(&str, &[f64])> = vec![("mass_gev", &km), ("dwarf", &kd)];
    kpairs.extend(
        knames
            .iter()
            .zip(&kb)
            .map(|(n, c)| (n.as_str(), c.as_slice())),
    );
    write_csv_columns(dir.join("k.csv"), &kpairs)?;

    println!("limits: 8 dwarfs, 6 bins, Gaussian log10 J, 1 thread");
    // (a) One stacked profile evaluation and one 95% limit, case J, 100 GeV.
    let like = probe.likelihood_at(&spec, 100.0)?;
    let ul0 = like.upper_limit(&LimitOptions::default())?;
    let sv = ul0.sigma_v_ul_cm3_s;
    r.put("limit_mass_gev", 100.0);
    r.put_f("profile_sigma_v_cm3_s", sv);
    let (t, p) = one_thread(|| median_secs(reps() * 20, || like.profile(sv)))?;
    let p = p?;
    r.put_f("profile_cold_time_s", t);
    r.put("profile_neg2_ln_l", p.neg2_ln_l);
    let mut state = like.new_state();
    like.profile_with(sv, &mut state)?;
    let mut flip = false;
    let (t, _) = one_thread(|| {
        median_secs(reps() * 20, || {
            flip = !flip;
            like.profile_with(if flip { 1.2 * sv } else { sv }, &mut state)
        })
    })?;
    r.put_f("profile_warm_time_s", t);
    let (t, ul) =
        one_thread(|| median_secs(reps() * 4, || like.upper_limit(&LimitOptions::default())))?;
    let ul = ul?;
    r.put_f("limit_time_s", t);
    r.put_f("limit_sigma_v_ul_cm3_s", ul.sigma_v_ul_cm3_s);
    r.put_f("limit_best_fit_cm3_s", ul.best_fit.sigma_v_cm3_s);
    r.put("limit_neg2_ln_l_best", ul.best_fit.neg2_ln_l);
    r.put("limit_threshold", ul.threshold);

    // (b) The scan: 25 masses x 8 dwarfs, cases J and JB, setup included.
    for case in [Case::J, Case::JB] {
        for (label, method) in [
            ("exact", LimitOptions::default().method),
            ("grid", LimitOptions::ml_fermi_lat_dwarfs().method),
        ] {
            let o = AnalysisOptions {
                limit_method: method,
                ..opts(case)
            };
            let (t, scan) = one_thread(|| {
                median_secs(reps(), || {
                    DwarfAnalysis::new(inputs.clone(), o.clone())
                        .and_then(|a| a.scan(&spec, &masses))
                })
            })?;
            let scan = scan?;
            let tag = format!("scan_{}_{label}", case.label());
            r.put_f(&format!("{tag}_time_s"), t);
            let ul: Vec<f64> = scan.rows.iter().map(|x| x.sigma_v_ul_cm3_s).collect();
            write_csv_columns(
                dir.join(format!("darkprobe_{tag}.csv")),
                &[("mass_gev", &masses), ("sigma_v_ul_cm3_s", &ul)],
            )?;
        }
    }
    r.save(&dir)
}

// -------------------------------------------------------------------- EM

fn row_em() -> Result<(), BoxError> {
    use darkprobe::subhalos::{
        BandwidthChoice, ClassDensity, EmOptions, MixtureParams, ReferenceEnergy, Roi, ShiftKind,
        ShiftMixture, SigmoidShift,
    };
    let dir = row_dir("em")?;
    // The problem of `benches/subhalos.rs` (the paper's size).
    let roi = Roi::paper(ReferenceEnergy::OneGeV);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2025);
    let mut cloud = |n: usize, mean: [f64; 3], sd: [f64; 3]| -> Result<Array2<f64>, BoxError> {
        let dists: Vec<Normal<f64>> = (0..3)
            .map(|d| Normal::new(mean[d], sd[d]))
            .collect::<Result<_, _>>()?;
        Ok(Array2::from_shape_fn((n, 3), |(_, d)| {
            dists[d].sample(&mut rng)
        }))
    };
    let ext = cloud(466, [-9.0, 1.35, 0.17], [0.4, 0.2, 0.08])?;
    let gal = cloud(31, [-9.2, 1.1, 0.42], [0.4, 0.2, 0.1])?;
    let fit = |name: &str, x: &Array2<f64>, h: Vec<f64>| {
        ClassDensity::fit(
            name,
            x.view(),
            &roi,
            &BandwidthChoice::Fixed(Bandwidth::Diagonal(h)),
        )
    };
    let classes = vec![
        fit("extragalactic", &ext, vec![0.1, 0.07, 0.027])?,
        fit("galactic", &gal, vec![0.25, 0.2, 0.055])?,
    ];
    let model = ShiftMixture::new(roi, classes, vec![466.0, 31.0])?;
    let truth = MixtureParams {
        class_weights: vec![0.7, 0.3],
        extra_weights: vec![],
        shift: Some(SigmoidShift {
            slope: [-4.0, 3.0, 8.0],
            centre: [-8.9, 1.0, 0.2],
        }),
    };
    let mock = model.sample(&truth, 227, &mut rand::rngs::StdRng::seed_from_u64(7))?;
    let names: Vec<String> = (0..3).map(|k| format!("x{k}")).collect();
    write_matrix(&dir.join("points.csv"), &names, &mock.points)?;
    write_matrix(&dir.join("train_extragalactic.csv"), &names, &ext)?;
    write_matrix(&dir.join("train_galactic.csv"), &names, &gal)?;
    let data = model.prepare(mock.points.view())?;
    let mut r = Report::default();
    println!("em: 227 points, 2 KDE classes (466 + 31 kernels), prior + covariate shift");
    r.put("threads", rayon::current_num_threads());
    for (label, multi_start) in [("multistart", true), ("single_start", false)] {
        let o = EmOptions {
            multi_start,
            ..EmOptions::default()
        };
        let (t, f) = median_secs(reps(), || {
            model.fit(&data, ShiftKind::PriorAndCovariate, &[], &o)
        });
        let f = f?;
        r.put(&format!("{label}_time_s"), t);
        r.put(&format!("{label}_ln_l"), f.report.ln_l);
        r.put(&format!("{label}_iterations"), f.report.n_iter);
        r.put(
            &format!("{label}_class_weight_0"),
            f.params.class_weights[0],
        );
    }
    r.save(&dir)
}

// -------------------------------------------------------------------- GP

/// The 9-pixel strip inputs of `benches/gasmap_gp.rs` (same generator).
fn gp_synthetic(n: usize, seed: u64) -> (Array2<f64>, Array1<f64>) {
    const D: usize = 9;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut x = Array2::zeros((n, D));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        let level: f64 = rng.random_range(0.0..4.0);
        let slope: f64 = rng.random_range(-0.3..0.3);
        let width: f64 = rng.random_range(2.0..8.0);
        for j in 0..D {
            let t = j as f64 - 4.0;
            let noise: f64 = rng.sample(StandardNormal);
            x[[i, j]] =
                (level * (-(t * t) / (2.0 * width * width)).exp() + slope * t + 0.05 * noise)
                    .max(0.0);
        }
        let centre = x[[i, 4]];
        let mean: f64 = x.row(i).sum() / D as f64;
        let noise: f64 = rng.sample(StandardNormal);
        y[i] = 1.5 * (1.0 - (-centre / 1.2).exp()) + 0.1 * (centre - mean) + 0.02 * noise;
    }
    (x, y)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row_gp() -> Result<(), BoxError> {
    let dir = row_dir("gp")?;
    let sizes: Vec<usize> = std::env::var("PEERS_GP_SIZES")
        .unwrap_or_else(|_| "2000,7840".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let restarts = env_usize("PEERS_GP_RESTARTS", 2);
    let fit_max_n = env_usize("PEERS_GP_FIT_MAX_N", 2000);
    let mut r = Report::default();
    println!("gp: Matern 3/2 isotropic + white noise, 9-D, standardised, {restarts} restarts");
    r.put("threads", rayon::current_num_threads());
    r.put("restarts", restarts);
    for n in sizes {
        let (x, y) = gp_synthetic(n, 7);
        let names: Vec<String> = (0..9).map(|k| format!("x{k}")).collect();
        write_matrix(&dir.join(format!("X_{n}.csv")), &names, &x)?;
        write_csv_columns(
            dir.join(format!("y_{n}.csv")),
            &[("y", y.as_slice().unwrap_or(&[]))],
        )?;
        // Both sides fit the standardised data: darkprobe's map is written
        // so the peer applies the identical one.
        let st = Standardizer::from_data(x.view(), y.view());
        r.put(&format!("n{n}_x_scale"), st.x_scale);
        r.put(&format!("n{n}_y_mean"), st.y_mean);
        r.put(&format!("n{n}_y_scale"), st.y_scale);
        let x_mean = st.x_mean.clone();
        write_csv_columns(dir.join(format!("x_mean_{n}.csv")), &[("x_mean", &x_mean)])?;
        let xt = st.transform_x(x.view());
        let yt = st.transform_y(y.view());
        // The default start: A = var(y~) = 1, l = sqrt(d) s = 3, noise 0.1 var(y~).
        let probe = GpParams {
            constant_term: false,
            optimize: false,
            ..GpParams::default()
        };
        let start = ExactGp::fit(x.view(), y.view(), &probe)?;
        let k0 = start.kernel().clone();
        r.put(&format!("n{n}_start_amplitude"), k0.amplitude);
        r.put(&format!("n{n}_start_length_scale"), k0.length_scales[0]);
        r.put(&format!("n{n}_start_noise"), k0.noise);
        r.put(&format!("n{n}_start_ln_ml"), start.ln_marginal_likelihood());
        let (t, ev) = median_secs(if n > 4000 { 1 } else { 3 }, || {
            ln_marginal_likelihood(&k0, &xt, 9, &yt, true)
        });
        let ev = ev?;
        r.put(&format!("n{n}_lml_grad_time_s"), t);
        r.put(&format!("n{n}_lml_grad_check"), ev.ln_ml);
        if n <= fit_max_n {
            let params = GpParams {
                constant_term: false,
                n_restarts: restarts,
                seed: 1,
                ..GpParams::default()
            };
            let (t, gp) = median_secs(env_usize("PEERS_GP_FIT_REPS", 1), || {
                ExactGp::fit(x.view(), y.view(), &params)
            });
            let gp = gp?;
            let k = gp.kernel();
            r.put(&format!("n{n}_fit_time_s"), t);
            r.put(&format!("n{n}_fit_ln_ml"), gp.ln_marginal_likelihood());
            r.put(&format!("n{n}_fit_n_eval"), gp.report().n_eval);
            r.put(&format!("n{n}_fit_amplitude"), k.amplitude);
            r.put(&format!("n{n}_fit_length_scale"), k.length_scales[0]);
            r.put(&format!("n{n}_fit_noise"), k.noise);
        }
    }
    r.save(&dir)
}

// ------------------------------------------------------------------- net

fn row_net() -> Result<(), BoxError> {
    const BATCH: usize = 8192;
    const N: usize = 65_536;
    let dir = row_dir("net")?;
    // The data of `benches/gasmap_net.rs` (train_epoch).
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let x = Matrix::from_fn(N, 49, |_, _| rng.random_range(-1.0f32..1.0));
    let targets: Vec<f64> = (0..N)
        .map(|i| f64::from(x.row(i)[24]).tanh() + 0.1 * f64::from(x.row(i)[0]))
        .collect();
    let y = Matrix::from_vec(N, 1, targets.iter().map(|&v| v as f32).collect())?;
    let w: Vec<f32> = wmae_weights(&targets, TargetRange::of(&targets), 30.0, 0.0)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let xs = Array2::from_shape_fn((N, 49), |(i, j)| f64::from(x.row(i)[j]));
    let names: Vec<String> = (0..49).map(|k| format!("p{k}")).collect();
    write_matrix(&dir.join("x.csv"), &names, &xs)?;
    let wf: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
    write_csv_columns(dir.join("yw.csv"), &[("y", &targets), ("w", &wf)])?;
    let data = Dataset::new(x, y, Some(w))?;
    let mut r = Report::default();
    println!("net: patch network 49-128-64-64-1, f32, batch {BATCH}, one epoch of {N}, LAMB");
    for threads in [1usize, 2] {
        let pool = thread_pool(threads)?;
        let mut times = Vec::new();
        let mut last_loss = f64::NAN;
        for _ in 0..reps() {
            let mut net = NetArchitecture::default()
                .build::<f32, _>(49, &mut rand::rngs::StdRng::seed_from_u64(1))?;
            let mut opt = Lamb::<f32>::new(1e-3)?;
            let mut trainer = Trainer::<f32>::new(TrainConfig {
                epochs: 1,
                batch_size: BATCH,
                threads: if threads == 1 { 1 } else { 0 },
                restore_best: false,
                ..TrainConfig::default()
            })?;
            let s = Instant::now();
            let hist = pool.install(|| {
                trainer.fit(
                    &mut net,
                    &WeightedMae::default(),
                    &mut opt,
                    &data,
                    None,
                    &NoProgress,
                )
            })?;
            times.push(s.elapsed().as_secs_f64());
            last_loss = hist.final_train_loss;
        }
        times.sort_by(f64::total_cmp);
        let t = times[times.len() / 2];
        r.put(&format!("threads{threads}_epoch_time_s"), t);
        r.put(&format!("threads{threads}_samples_per_s"), N as f64 / t);
        r.put(&format!("threads{threads}_epoch_loss"), last_loss);
    }
    r.save(&dir)
}

// ----------------------------------------------------------------- flows

fn row_flows() -> Result<(), BoxError> {
    use darkprobe::flows::{FitOptions, PhaseSpaceFlow, PhaseSpaceModel, Vec3};
    use darkprobe::nn::Adam;
    let dir = row_dir("flows")?;
    // The population of `benches/flows.rs`.
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut g = move || rng.sample::<f64, _>(StandardNormal);
    let (x, v): (Vec<Vec3>, Vec<Vec3>) = (0..10_000)
        .map(|_| {
            let x = [2.0 * g(), 2.0 * g(), 0.5 * g()];
            let s = 30.0 + 10.0 * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
            (x, [s * g(), s * g(), s * g()])
        })
        .unzip();
    let xv = Array2::from_shape_fn(
        (x.len(), 6),
        |(i, j)| if j < 3 { x[i][j] } else { v[i][j - 3] },
    );
    let names: Vec<String> = ["x", "y", "z", "vx", "vy", "vz"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    write_matrix(&dir.join("stars.csv"), &names, &xv)?;
    let mut opts = FitOptions::default();
    opts.train.max_epochs = 1;
    let mut r = Report::default();
    println!(
        "flows: 2 MAFs (3-D, and 3-D | 3-D), {} MADE blocks of {:?} ELU, f64, Adam, batch 1024",
        opts.n_blocks, opts.hidden
    );
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let (t_step, t_eval) = pool.install(|| -> Result<(f64, f64), BoxError> {
            let mut m = PhaseSpaceFlow::fit(&x[..2048], &v[..2048], &opts, 1, &NoProgress)?.0;
            let mut opt_p = Adam::new(1e-3)?;
            let mut opt_v = Adam::new(1e-3)?;
            let mut step = 0u64;
            for _ in 0..5 {
                step += 1;
                m.train_step(&x[..1024], &v[..1024], &mut opt_p, &mut opt_v, step)?;
            }
            let mut blocks = Vec::new();
            for _ in 0..reps().max(5) {
                let s = Instant::now();
                for _ in 0..20 {
                    step += 1;
                    m.train_step(&x[..1024], &v[..1024], &mut opt_p, &mut opt_v, step)?;
                }
                blocks.push(s.elapsed().as_secs_f64() / 20.0);
            }
            blocks.sort_by(f64::total_cmp);
            let (t_eval, out) = median_secs(reps(), || m.ln_f_grad(&x, &v));
            out?;
            Ok((blocks[blocks.len() / 2], t_eval))
        })?;
        r.put(&format!("threads{threads}_step_time_s"), t_step);
        r.put(
            &format!("threads{threads}_step_samples_per_s"),
            1024.0 / t_step,
        );
        r.put(&format!("threads{threads}_ln_f_grad_10000_time_s"), t_eval);
    }
    r.save(&dir)
}

fn main() -> Result<(), BoxError> {
    // `cargo bench` passes `--bench`; rows are the other arguments.
    let mut rows: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if rows.is_empty() {
        rows = ["kde_cv", "limits", "em", "gp", "net", "flows"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    println!("rayon threads: {}", rayon::current_num_threads());
    for row in rows {
        let s = Instant::now();
        match row.as_str() {
            "kde_cv" => row_kde_cv()?,
            "limits" => row_limits()?,
            "em" => row_em()?,
            "gp" => row_gp()?,
            "net" => row_net()?,
            "flows" => row_flows()?,
            other => return Err(format!("unknown row '{other}'").into()),
        }
        println!("row {row} done in {:.1} s", s.elapsed().as_secs_f64());
    }
    Ok(())
}
