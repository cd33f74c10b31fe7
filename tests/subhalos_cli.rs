//! End-to-end tests of `darkprobe subhalos fit|limits|classify|sample` on a
//! tiny synthetic catalog written by the tests (the real-data run is ignored
//! unless DARKPROBE_DATA is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn darkprobe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_darkprobe"));
    // The synthetic tests use the analytic spectrum, whatever the environment.
    c.env_remove("DARKPROBE_DATA");
    c
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("darkprobe-subcli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A deterministic uniform in [0, 1) from an index (splitmix64).
fn u(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// (log10 F, alpha, beta) around `centre`, inside the paper's ROI.
fn cloud(seed: u64, n: usize, centre: [f64; 3]) -> Vec<[f64; 3]> {
    let half = [0.5, 0.2, 0.08];
    (0..n)
        .map(|i| {
            std::array::from_fn(|d| {
                centre[d] + half[d] * (2.0 * u(seed * 1000 + 3 * i as u64 + d as u64) - 1.0)
            })
        })
        .collect()
}

const EXT: [f64; 3] = [-9.3, 1.45, 0.18];
const GAL: [f64; 3] = [-9.0, 1.1, 0.4];

/// Writes the labelled and unassociated tables, returns their paths.
fn write_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let lab = dir.join("labelled.csv");
    let mut s = String::from("alpha_1GeV,beta,log10_flux_100MeV_1TeV,class\n");
    for p in cloud(1, 60, EXT) {
        s += &format!("{},{},{},bll\n", p[1], p[2], p[0]);
    }
    for p in cloud(2, 30, GAL) {
        s += &format!("{},{},{},galactic\n", p[1], p[2], p[0]);
    }
    std::fs::write(&lab, s).unwrap();
    let unas = dir.join("unas.csv");
    let mut s = String::from("alpha_1GeV,beta,log10_flux_100MeV_1TeV\n");
    for p in cloud(3, 35, EXT).into_iter().chain(cloud(4, 25, GAL)) {
        s += &format!("{},{},{}\n", p[1], p[2], p[0]);
    }
    // One source outside the ROI: dropped.
    s += "2.5,0.1,-7.0\n";
    std::fs::write(&unas, s).unwrap();
    (lab, unas)
}

fn run(args: &[&str]) -> Output {
    darkprobe().arg("--quiet").args(args).output().unwrap()
}

/// `subhalos <cmd> --features <features> --labelled <labelled> --out-dir
/// <out_dir>`; callers append further options.
fn sub_args<'a>(
    cmd: &'a str,
    features: &'a Path,
    labelled: &'a Path,
    out_dir: &'a Path,
) -> Vec<&'a str> {
    let s = |p: &'a Path| p.to_str().unwrap();
    vec![
        "subhalos",
        cmd,
        "--features",
        s(features),
        "--labelled",
        s(labelled),
        "--out-dir",
        s(out_dir),
    ]
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn fit_writes_the_comparison_and_plots() {
    let dir = scratch("fit");
    let (lab, unas) = write_inputs(&dir);
    let out_dir = dir.join("out");
    let mut args = sub_args("fit", &unas, &lab, &out_dir);
    args.extend(["--seed", "3"]);
    let out = run(&args);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("60 unassociated sources"));
    let (h, rows) = read_csv(&out_dir.join("fit.csv"));
    assert_eq!(h[0], "model");
    assert_eq!(rows.len(), 4);
    // The prior fit finds ~25 of 60 Galactic sources.
    let prior = rows.iter().find(|r| r[0] == "prior").unwrap();
    let n_gal: f64 = prior[6].parse().unwrap();
    assert!((n_gal - 25.0).abs() < 10.0, "{n_gal}");
    for f in [
        "features_alpha.png",
        "features_beta.png",
        "flux_marginals.png",
    ] {
        assert!(
            std::fs::metadata(out_dir.join(f)).unwrap().len() > 1000,
            "{f}"
        );
    }
}

#[test]
fn limits_classify_and_sample_run_on_the_synthetic_catalog() {
    let dir = scratch("limits");
    let (lab, unas) = write_inputs(&dir);
    let out_dir = dir.join("out");
    let common = |cmd: &'static str| -> Vec<String> {
        let mut a: Vec<String> = sub_args(cmd, &unas, &lab, &out_dir)
            .into_iter()
            .map(String::from)
            .collect();
        a.extend(["--kind", "prior", "--n-sim", "20"].map(String::from));
        a
    };
    let mut a = common("limits");
    a.extend(["--masses", "100", "--bands", "3"].map(String::from));
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&out);
    let (h, rows) = read_csv(&out_dir.join("limits.csv"));
    assert_eq!(rows.len(), 1);
    let col = |name: &str| {
        rows[0][h.iter().position(|x| x == name).unwrap()]
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(col("mass_gev"), 100.0);
    let ul = col("sigma_v_ul_cm3_s");
    assert!(ul.is_finite() && ul > 0.0);
    assert!(col("band68_lo") <= col("band_median") && col("band_median") <= col("band68_hi"));
    assert!(out_dir.join("limits.png").exists() && out_dir.join("efficiency_100GeV.csv").exists());

    // Classify with a DM component at half the limit.
    let mut a = common("classify");
    let sv = format!("{}", 0.5 * ul);
    a.extend([
        "--mass".into(),
        "100".into(),
        "--sigma-v".into(),
        sv.clone(),
    ]);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&out);
    let (h, rows) = read_csv(&out_dir.join("posteriors.csv"));
    assert_eq!(h.last().unwrap(), "p_dm");
    assert_eq!(rows.len(), 60);
    for r in &rows {
        let p: f64 = r[3..].iter().map(|x| x.parse::<f64>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-9);
    }

    // Mock catalog with subhalos.
    let mut a = common("sample");
    a.extend([
        "--n".into(),
        "40".into(),
        "--mass".into(),
        "100".into(),
        "--sigma-v".into(),
        sv,
    ]);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&out);
    let (h, rows) = read_csv(&out_dir.join("mock.csv"));
    assert_eq!(
        h,
        ["alpha_1GeV", "beta", "log10_flux_100MeV_1TeV", "component"]
    );
    assert_eq!(rows.len(), 40);
}

#[test]
fn bad_inputs_exit_2_naming_file_line_and_value() {
    let dir = scratch("bad");
    let (lab, unas) = write_inputs(&dir);
    let out_dir = dir.join("out");
    let bad_lab = dir.join("bad_labelled.csv");
    let text = std::fs::read_to_string(&lab)
        .unwrap()
        .replacen("bll", "quasarish", 1);
    std::fs::write(&bad_lab, text).unwrap();
    let out = run(&sub_args("fit", &unas, &bad_lab, &out_dir));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad_labelled.csv") && err.contains("line 2") && err.contains("quasarish"),
        "{err}"
    );

    let bad_unas = dir.join("bad_unas.csv");
    std::fs::write(
        &bad_unas,
        "alpha_1GeV,beta,log10_flux_100MeV_1TeV\n1.2,0.3,-9\n1.3,abc,-9.1\n",
    )
    .unwrap();
    let out = run(&sub_args("fit", &bad_unas, &lab, &out_dir));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad_unas.csv") && err.contains("abc"), "{err}");

    let mut args = sub_args("limits", &unas, &lab, &out_dir);
    args.extend(["--masses", "100,abc"]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("abc"));

    let missing = dir.join("missing.csv");
    let out = run(&sub_args("fit", &missing, &lab, &out_dir));
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
}

#[test]
#[ignore = "needs DARKPROBE_DATA"]
fn limits_on_the_real_catalog() {
    let data = PathBuf::from(std::env::var("DARKPROBE_DATA").expect("set DARKPROBE_DATA"));
    let dir = scratch("real");
    let out = Command::new(env!("CARGO_BIN_EXE_darkprobe"))
        .args([
            "--quiet",
            "subhalos",
            "limits",
            "--features",
            data.join("fermi-4fgl-dr4-lp-features/unas_E0_1GeV.csv")
                .to_str()
                .unwrap(),
            "--labelled",
            data.join("fermi-4fgl-dr2-probcat-bhat-malyshev/4FGL-DR2_prob_catalog_2classes.csv")
                .to_str()
                .unwrap(),
            "--masses",
            "100",
            "--n-sim",
            "50",
            "--out-dir",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("CosmiXs"));
    let (_, rows) = read_csv(&dir.join("limits.csv"));
    assert_eq!(rows.len(), 1);
}
