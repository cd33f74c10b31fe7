//! End-to-end tests of `darkprobe gasmap`: synth -> train (linear) -> predict
//! -> evaluate on a tiny cube, and bad input (exit status 2, no output).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn darkprobe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_darkprobe"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("darkprobe-gasmap-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    darkprobe().args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `gasmap train --model <kind> --co <co> --target <target> --out <out>`;
/// callers append further options.
fn train_args<'a>(kind: &'a str, co: &'a Path, target: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "gasmap",
        "train",
        "--model",
        kind,
        "--co",
        s(co),
        "--target",
        s(target),
        "--out",
        s(out),
    ]
}

/// `gasmap predict --model <model> --co <co> --out <out>`.
fn predict_args<'a>(model: &'a Path, co: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "gasmap",
        "predict",
        "--model",
        s(model),
        "--co",
        s(co),
        "--out",
        s(out),
    ]
}

/// Asserts a zero exit status, showing stderr (prefixed by `what`) otherwise.
fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tiny synthetic pair: 3 velocity bins, l = 330-350, 0.1 deg pixels.
fn tiny(dir: &Path, seed: &str) -> (PathBuf, PathBuf) {
    let co = dir.join("co.fits");
    let co13 = dir.join("co13.fits");
    let out = run(&[
        "gasmap",
        "synth",
        "--out-co",
        s(&co),
        "--out-13co",
        s(&co13),
        "--seed",
        seed,
        "--pixel-deg",
        "0.1",
        "--lon-min",
        "330",
        "--lon-max",
        "350",
        "--n-vel",
        "3",
        "--v-min",
        "-60",
        "--v-max",
        "-30",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (co, co13)
}

#[test]
fn synth_train_predict_evaluate() {
    let dir = scratch("e2e");
    let (co, co13) = tiny(&dir, "5");
    let model = dir.join("model.json");
    let mut args = train_args("linear", &co, &co13, &model);
    args.extend(["--train-lon", "330:345"]);
    assert_success(&run(&args), "train");
    let json = std::fs::read_to_string(&model).unwrap();
    assert!(json.contains("\"kind\": \"linear\""), "{json}");
    let pred = dir.join("pred.fits");
    assert_success(&run(&predict_args(&model, &co, &pred)), "predict");
    let csv = dir.join("metrics.csv");
    let heat = dir.join("heat.png");
    let out = run(&[
        "gasmap",
        "evaluate",
        "--pred",
        s(&pred),
        "--target",
        s(&co13),
        "--test-lon",
        "345:350",
        "--train-lon",
        "330:345",
        "--out-csv",
        s(&csv),
        "--heatmap",
        s(&heat),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out, "evaluate");
    assert!(
        stdout.contains("correlation") && stdout.contains("pred"),
        "{stdout}"
    );
    assert!(stdout.contains("distance"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("model,correlation,scaled_abs_error,hot_spot_error,n_planes")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let corr: f64 = row[1].parse().unwrap();
    assert!(corr > 0.5 && corr <= 1.0, "{corr}");
    assert_eq!(row[4], "3");
    assert!(std::fs::metadata(&heat).unwrap().len() > 1000);
    // The same seed gives the same cubes.
    let dir2 = scratch("e2e-again");
    let (co_again, _) = tiny(&dir2, "5");
    assert_eq!(
        std::fs::read(&co).unwrap(),
        std::fs::read(&co_again).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

/// Trains `kind` with `extra` options on l = 330-345 of a tiny cube, predicts,
/// evaluates on 345-350 and returns (correlation, scaled abs error) read from
/// the CSV; checks the model file's tag.
fn train_predict_evaluate(
    dir: &Path,
    co: &Path,
    co13: &Path,
    kind: &str,
    extra: &[&str],
) -> (f64, f64) {
    let model = dir.join(format!("{kind}.json"));
    let mut args = train_args(kind, co, co13, &model);
    args.extend(["--train-lon", "330:345", "--seed", "3"]);
    args.extend_from_slice(extra);
    assert_success(&run(&args), kind);
    let json = std::fs::read_to_string(&model).unwrap();
    assert!(json.contains(&format!("\"kind\": \"{kind}\"")), "{kind}");
    let pred = dir.join(format!("{kind}.fits"));
    assert_success(&run(&predict_args(&model, co, &pred)), kind);
    let csv = dir.join(format!("{kind}.csv"));
    let out = run(&[
        "gasmap",
        "evaluate",
        "--pred",
        s(&pred),
        "--target",
        s(co13),
        "--test-lon",
        "345:350",
        "--name",
        kind,
        "--out-csv",
        s(&csv),
    ]);
    assert_success(&out, kind);
    let text = std::fs::read_to_string(&csv).unwrap();
    let row: Vec<String> = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    assert_eq!(row[0], kind);
    (row[1].parse().unwrap(), row[2].parse().unwrap())
}

#[test]
fn gp_and_networks_train_predict_evaluate() {
    let dir = scratch("models");
    let (co, co13) = tiny(&dir, "8");
    let (r_lin, e_lin) = train_predict_evaluate(&dir, &co, &co13, "linear", &[]);
    let (r_gp, e_gp) = train_predict_evaluate(
        &dir,
        &co,
        &co13,
        "gp",
        &[
            "--gp-pixels",
            "150",
            "--gp-strip",
            "5",
            "--gp-restarts",
            "0",
        ],
    );
    let net = [
        "--epochs",
        "80",
        "--batch",
        "64",
        "--filters",
        "16",
        "--patch",
        "5",
    ];
    let (r_w, e_w) = train_predict_evaluate(&dir, &co, &co13, "net-wmae", &net);
    let (r_p, e_p) = train_predict_evaluate(&dir, &co, &co13, "net-poisson", &net);
    // Every model learns the map: correlated predictions with errors of the
    // order of the linear baseline's (a few per cent of the peak), held out.
    for (name, r, e) in [
        ("gp", r_gp, e_gp),
        ("net-wmae", r_w, e_w),
        ("net-poisson", r_p, e_p),
    ] {
        assert!(r > 0.5 && r <= 1.0, "{name}: r = {r} (linear {r_lin})");
        assert!(
            e > 0.0 && e < 3.0 * e_lin.max(0.01),
            "{name}: err = {e} (linear {e_lin})"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_bad_input(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

#[test]
fn bad_input_exits_2_without_output() {
    let dir = scratch("bad");
    let (co, co13) = tiny(&dir, "6");
    let model = dir.join("model.json");
    // Missing file.
    let missing = dir.join("missing.fits");
    let out = run(&train_args("linear", &missing, &co13, &model));
    assert_bad_input(&out, "missing.fits");
    assert!(!model.exists());
    // Malformed longitude range.
    let mut args = train_args("linear", &co, &co13, &model);
    args.extend(["--train-lon", "300-340"]);
    let out = run(&args);
    assert_bad_input(&out, "300-340");
    assert!(!model.exists());
    // Wrong cube shape: a target with another grid.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let out = run(&[
        "gasmap",
        "synth",
        "--out-co",
        s(&other.join("a.fits")),
        "--out-13co",
        s(&other.join("b.fits")),
        "--pixel-deg",
        "0.25",
        "--lon-min",
        "330",
        "--lon-max",
        "350",
        "--n-vel",
        "3",
    ]);
    assert!(out.status.success());
    let other_b = other.join("b.fits");
    let mut args = train_args("linear", &co, &other_b, &model);
    args.extend(["--train-lon", "330:345"]);
    let out = run(&args);
    assert_bad_input(&out, "shape");
    assert!(!model.exists());
    // Bad model settings are refused before any work.
    let mut args = train_args("gp", &co, &co13, &model);
    args.extend(["--gp-strip", "4"]);
    let out = run(&args);
    assert_bad_input(&out, "--gp-strip");
    assert!(!model.exists());
    let mut args = train_args("net-wmae", &co, &co13, &model);
    args.extend(["--sigma", "-1"]);
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!model.exists());
    // A malformed model file.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"format\": 3}").unwrap();
    let pred = dir.join("pred.fits");
    let out = run(&predict_args(&junk, &co, &pred));
    assert_bad_input(&out, "junk.json");
    assert!(!pred.exists());
    // Evaluating cubes of different shapes.
    let csv = dir.join("m.csv");
    let out = run(&[
        "gasmap",
        "evaluate",
        "--pred",
        s(&other.join("a.fits")),
        "--target",
        s(&co13),
        "--out-csv",
        s(&csv),
    ]);
    assert_bad_input(&out, "shape");
    assert!(!csv.exists());
    // Invalid synth options write nothing.
    let a = dir.join("x.fits");
    let out = run(&[
        "gasmap",
        "synth",
        "--out-co",
        s(&a),
        "--out-13co",
        s(&dir.join("y.fits")),
        "--pixel-deg",
        "0",
    ]);
    assert_bad_input(&out, "pixel_deg");
    assert!(!a.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
