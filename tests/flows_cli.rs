//! End-to-end tests of `darkprobe flows`: mock, accel and density with the
//! exact analytic models (checked against closed forms), fit on a tiny mock,
//! and bad input (exit status 2, no partial output).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn darkprobe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_darkprobe"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("darkprobe-flows-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    darkprobe().arg("--quiet").args(args).output().unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Reads a CSV written by darkprobe into (header, rows).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// G in kpc (km/s)^2 / Msun.
const G: f64 = 4.300_917_27e-6;

fn hernquist_accel(m: f64, a: f64, r: f64) -> f64 {
    G * m / (r + a).powi(2)
}

#[test]
fn mock_writes_stars_and_model_and_is_reproducible() {
    let dir = scratch("mock");
    let (s1, s2, m1) = (dir.join("s1.csv"), dir.join("s2.csv"), dir.join("m.json"));
    for s in [&s1, &s2] {
        let out = run(&[
            "flows",
            "mock",
            "--profile",
            "hernquist",
            "--mass-msun",
            "1e10",
            "--scale-kpc",
            "2",
            "--n",
            "500",
            "--seed",
            "7",
            "--out",
            p(s),
            "--model-out",
            p(&m1),
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    assert_eq!(
        std::fs::read(&s1).unwrap(),
        std::fs::read(&s2).unwrap(),
        "same seed, different stars"
    );
    let (h, rows) = read_csv(&s1);
    assert_eq!(
        h,
        ["x_kpc", "y_kpc", "z_kpc", "vx_km_s", "vy_km_s", "vz_km_s"]
    );
    assert_eq!(rows.len(), 500);
    // Half of a Hernquist sphere's mass lies inside (1 + sqrt 2) a: the
    // fraction of 500 stars inside is binomial with sd 0.022.
    let r_half = 2.0 * (1.0 + 2f64.sqrt());
    let inside = rows
        .iter()
        .filter(|r| (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt() < r_half)
        .count() as f64
        / 500.0;
    assert!((inside - 0.5).abs() < 0.09, "{inside}");
    let json = std::fs::read_to_string(&m1).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "hernquist");
    assert_eq!(v["mass_msun"], 1e10);
    assert_eq!(v["scale_kpc"], 2.0);
}

#[test]
fn accel_with_the_exact_model_matches_the_closed_form() {
    let dir = scratch("accel");
    let (model, pts, out) = (dir.join("m.json"), dir.join("pts.csv"), dir.join("acc.csv"));
    std::fs::write(
        &model,
        r#"{"kind":"hernquist","mass_msun":1e10,"scale_kpc":2.0}"#,
    )
    .unwrap();
    std::fs::write(&pts, "x_kpc,y_kpc,z_kpc\n1,0,0\n0,-3,4\n0.2,0.3,-0.1\n").unwrap();
    // The exact DF of a sphere stays exact when averaged over symmetric
    // copies of each position.
    for extra in [
        &[][..],
        &["--symmetry", "spherical", "--symmetry-copies", "5"][..],
        &["--symmetry", "axisymmetric"][..],
    ] {
        let mut args = vec![
            "flows",
            "accel",
            "--model",
            p(&model),
            "--points",
            p(&pts),
            "--out",
            p(&out),
            "--n-velocities",
            "200",
        ];
        args.extend_from_slice(extra);
        let _ = std::fs::remove_file(&out);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {o:?}");
        let (h, rows) = read_csv(&out);
        for name in [
            "ax_km2_s2_kpc",
            "ay_km2_s2_kpc",
            "az_km2_s2_kpc",
            "ax_err_km2_s2_kpc",
            "residual",
        ] {
            col(&h, name);
        }
        assert_eq!(rows.len(), 3);
        for r in &rows {
            let x = [r[0], r[1], r[2]];
            let rad = (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
            let g = hernquist_accel(1e10, 2.0, rad);
            for j in 0..3 {
                let exact = -g * x[j] / rad;
                let got = r[col(&h, ["ax_km2_s2_kpc", "ay_km2_s2_kpc", "az_km2_s2_kpc"][j])];
                assert!(
                    (got - exact).abs() < 1e-8 * g,
                    "{extra:?}: {got} vs {exact}"
                );
            }
            // The exact DF satisfies the Boltzmann equation: zero residual.
            assert!(r[col(&h, "residual")].abs() < 1e-8, "{extra:?}: {r:?}");
        }
    }
    // More copies than velocities is refused as bad input.
    let o = run(&[
        "flows",
        "accel",
        "--model",
        p(&model),
        "--points",
        p(&pts),
        "--out",
        p(&out),
        "--n-velocities",
        "10",
        "--symmetry",
        "spherical",
        "--symmetry-copies",
        "11",
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("symmetry copies"),
        "{o:?}"
    );
}

#[test]
fn density_with_the_exact_model_matches_the_smoothed_profile() {
    let dir = scratch("density");
    let (model, pts, out) = (dir.join("m.json"), dir.join("pts.csv"), dir.join("rho.csv"));
    std::fs::write(
        &model,
        r#"{"kind":"plummer","mass_msun":1e10,"scale_kpc":5.0}"#,
    )
    .unwrap();
    std::fs::write(&pts, "x_kpc,y_kpc,z_kpc\n0,0,0\n3,4,0\n").unwrap();
    let o = run(&[
        "flows",
        "density",
        "--model",
        p(&model),
        "--points",
        p(&pts),
        "--out",
        p(&out),
        "--h-kpc",
        "0.2,0.2,0.1",
        "--n-draws",
        "400",
        "--kernel",
        "epanechnikov",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let (h, rows) = read_csv(&out);
    let (ir, ie) = (col(&h, "rho_msun_pc3"), col(&h, "rho_err_msun_pc3"));
    for r in &rows {
        let rad2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        // Plummer: rho = 3 M / (4 pi a^3) (1 + r^2/a^2)^(-5/2); the kernel is
        // small against a = 5 kpc, so smoothing changes it by well under 1%.
        let rho_kpc3 =
            3.0 * 1e10 / (4.0 * std::f64::consts::PI * 125.0) * (1.0 + rad2 / 25.0).powf(-2.5);
        let exact = rho_kpc3 * 1e-9;
        let (got, err) = (r[ir], r[ie]);
        assert!(err > 0.0 && err < 0.05 * exact, "{err}");
        assert!(
            (got - exact).abs() < 0.01 * exact + 4.0 * err,
            "{got} vs {exact} +- {err}"
        );
    }
}

fn assert_bad_input(out: &Output, what: &str, must_not_exist: &Path) {
    assert_eq!(out.status.code(), Some(2), "{what}: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error"), "{what}: {err}");
    assert!(
        !must_not_exist.exists(),
        "{what}: partial output {}",
        must_not_exist.display()
    );
    // No temporary files left next to the output either.
    let dir = must_not_exist.parent().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{what}: left {name}");
    }
}

#[test]
fn bad_input_exits_2_without_output() {
    let dir = scratch("bad");
    let good_model = dir.join("good.json");
    std::fs::write(
        &good_model,
        r#"{"kind":"hernquist","mass_msun":1e10,"scale_kpc":2}"#,
    )
    .unwrap();
    let good_pts = dir.join("good.csv");
    std::fs::write(&good_pts, "x_kpc,y_kpc,z_kpc\n1,2,3\n").unwrap();
    let out = dir.join("out").join("o.csv");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();

    // Mock: unknown profile, negative mass, zero scale.
    let cases: [(&str, Vec<&str>); 3] = [
        (
            "unknown profile",
            vec![
                "--profile",
                "nfw",
                "--mass-msun",
                "1e10",
                "--scale-kpc",
                "2",
            ],
        ),
        (
            "negative mass",
            vec![
                "--profile",
                "hernquist",
                "--mass-msun",
                "-1e10",
                "--scale-kpc",
                "2",
            ],
        ),
        (
            "zero scale",
            vec![
                "--profile",
                "plummer",
                "--mass-msun",
                "1e10",
                "--scale-kpc",
                "0",
            ],
        ),
    ];
    for (what, args) in cases {
        let mut a = vec!["flows", "mock"];
        a.extend(args);
        a.extend(["--n", "10", "--out", p(&out)]);
        let o = run(&a);
        assert_bad_input(&o, what, &out);
        if what == "negative mass" {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("mass_msun") && err.contains("-10000000000"),
                "{err}"
            );
        }
    }

    // Bad point tables.
    let bad_tables = [
        ("missing column", "x_kpc,y_kpc\n1,2\n"),
        ("NaN", "x_kpc,y_kpc,z_kpc\n1,2,3\n4,NaN,6\n"),
        ("not a number", "x_kpc,y_kpc,z_kpc\n1,2,3\n4,five,6\n"),
        ("no rows", "x_kpc,y_kpc,z_kpc\n"),
    ];
    for (what, text) in bad_tables {
        let pts = dir.join("bad_pts.csv");
        std::fs::write(&pts, text).unwrap();
        for cmd in ["accel", "density"] {
            let o = run(&[
                "flows",
                cmd,
                "--model",
                p(&good_model),
                "--points",
                p(&pts),
                "--out",
                p(&out),
            ]);
            assert_bad_input(&o, &format!("{cmd}: {what}"), &out);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("bad_pts.csv"), "{what}: {err}");
        }
    }

    // Bad model files.
    let bad_models = [
        (
            "malformed JSON",
            "{\"kind\":\"hernquist\",\n\"mass_msun\":1e10,",
        ),
        (
            "unknown kind",
            r#"{"kind":"nfw","mass_msun":1e10,"scale_kpc":2}"#,
        ),
        (
            "negative mass",
            r#"{"kind":"plummer","mass_msun":-5,"scale_kpc":2}"#,
        ),
        ("missing field", r#"{"kind":"plummer","mass_msun":5}"#),
    ];
    for (what, text) in bad_models {
        let m = dir.join("bad_model.json");
        std::fs::write(&m, text).unwrap();
        for cmd in ["accel", "density"] {
            let o = run(&[
                "flows",
                cmd,
                "--model",
                p(&m),
                "--points",
                p(&good_pts),
                "--out",
                p(&out),
            ]);
            assert_bad_input(&o, &format!("{cmd}: {what}"), &out);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("bad_model.json"), "{what}: {err}");
        }
    }
    let o = run(&[
        "flows",
        "accel",
        "--model",
        p(&dir.join("absent.json")),
        "--points",
        p(&good_pts),
        "--out",
        p(&out),
    ]);
    assert_bad_input(&o, "missing model file", &out);

    // Bad density options.
    for (what, extra) in [
        ("negative bandwidth", vec!["--h-kpc", "0.5,-0.5,0.2"]),
        ("unknown kernel", vec!["--kernel", "cosine"]),
    ] {
        let mut a = vec![
            "flows",
            "density",
            "--model",
            p(&good_model),
            "--points",
            p(&good_pts),
            "--out",
            p(&out),
        ];
        a.extend(extra);
        assert_bad_input(&run(&a), what, &out);
    }
}

#[test]
fn fit_then_accel_and_density_with_the_flow_model() {
    let dir = scratch("fit");
    let (stars, model, pts) = (
        dir.join("s.csv"),
        dir.join("flow.json"),
        dir.join("pts.csv"),
    );
    let o = run(&[
        "flows",
        "mock",
        "--profile",
        "plummer",
        "--mass-msun",
        "1e10",
        "--scale-kpc",
        "1",
        "--n",
        "600",
        "--seed",
        "3",
        "--out",
        p(&stars),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let fit_run = |out: &Path, extra: &[&str]| {
        let mut a = vec![
            "flows",
            "fit",
            "--stars",
            p(&stars),
            "--out",
            p(out),
            "--epochs",
            "2",
            "--blocks",
            "1",
            "--hidden",
            "8",
            "--seed",
            "5",
        ];
        a.extend(extra);
        run(&a)
    };
    let fit = |out: &Path, extra: &[&str]| {
        let o = fit_run(out, extra);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        o
    };
    fit(&model, &[]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(v["kind"], "flow");
    // The default averages 8 position flows: the first plus 7 more.
    assert_eq!(v["more_positions"].as_array().map(|m| m.len()), Some(7));
    let three = dir.join("flow3.json");
    fit(&three, &["--position-members", "3"]);
    let v3: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&three).unwrap()).unwrap();
    assert_eq!(v3["more_positions"].as_array().map(|m| m.len()), Some(2));
    let one = dir.join("flow1.json");
    fit(&one, &["--position-members", "1"]);
    let v1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&one).unwrap()).unwrap();
    assert!(v1.get("more_positions").is_none());
    // Same seed, same model.
    let again = dir.join("flow2.json");
    fit(&again, &[]);
    assert_eq!(
        std::fs::read(&model).unwrap(),
        std::fs::read(&again).unwrap()
    );
    // A radius cut keeps the stars inside the sphere (Plummer, a = 1 kpc:
    // 35 % of them inside 1 kpc) and says how many.
    let cut = dir.join("flow_cut.json");
    let o = fit(&cut, &["--max-radius-kpc", "1.0"]);
    let msg = String::from_utf8_lossy(&o.stderr);
    let kept: usize = msg
        .split("kept ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!((150..=270).contains(&kept), "{msg}");
    assert!(msg.contains("of 600 stars within 1 kpc"), "{msg}");
    for bad in ["-1", "NaN", "0"] {
        let o = fit_run(&dir.join("never.json"), &["--max-radius-kpc", bad]);
        assert_bad_input(&o, bad, &dir.join("never.json"));
    }
    let ens = dir.join("ens.json");
    fit(&ens, &["--ensemble", "2"]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ens).unwrap()).unwrap();
    assert_eq!(v["kind"], "flow_ensemble");
    assert_eq!(v["members"].as_array().map(|m| m.len()), Some(2));

    std::fs::write(&pts, "x_kpc,y_kpc,z_kpc\n0.5,0.2,-0.3\n-1,0.5,0.5\n").unwrap();
    for m in [&model, &ens] {
        let acc = dir.join("acc.csv");
        let o = run(&[
            "flows",
            "accel",
            "--model",
            p(m),
            "--points",
            p(&pts),
            "--out",
            p(&acc),
            "--n-velocities",
            "300",
        ]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let (h, rows) = read_csv(&acc);
        assert_eq!(rows.len(), 2);
        for r in &rows {
            for name in ["ax_km2_s2_kpc", "ax_err_km2_s2_kpc", "residual"] {
                assert!(r[col(&h, name)].is_finite(), "{name}: {r:?}");
            }
            assert!(r[col(&h, "ax_err_km2_s2_kpc")] > 0.0);
        }
        let rho = dir.join("rho.csv");
        let o = run(&[
            "flows",
            "density",
            "--model",
            p(m),
            "--points",
            p(&pts),
            "--out",
            p(&rho),
            "--n-draws",
            "4",
            "--n-velocities",
            "50",
        ]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let (h, rows) = read_csv(&rho);
        assert!(rows.iter().all(|r| r[col(&h, "rho_msun_pc3")].is_finite()));
        // The symmetry average is applied to a flow's field, and checked.
        let density_sym = |copies: &str| {
            let _ = std::fs::remove_file(&rho);
            run(&[
                "flows",
                "density",
                "--model",
                p(m),
                "--points",
                p(&pts),
                "--out",
                p(&rho),
                "--n-draws",
                "4",
                "--n-velocities",
                "50",
                "--symmetry",
                "spherical",
                "--symmetry-copies",
                copies,
            ])
        };
        let o = density_sym("5");
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let (h, sym_rows) = read_csv(&rho);
        assert_eq!(sym_rows.len(), 2);
        assert!(sym_rows
            .iter()
            .all(|r| r[col(&h, "rho_msun_pc3")].is_finite()));
        assert_ne!(sym_rows, rows);
        assert_bad_input(&density_sym("51"), "more copies than velocities", &rho);
    }

    // Bad star tables: no model written.
    let out = dir.join("bad").join("m.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    for (what, text) in [
        (
            "missing velocity column",
            "x_kpc,y_kpc,z_kpc,vx_km_s,vy_km_s\n1,2,3,4,5\n",
        ),
        (
            "NaN velocity",
            "x_kpc,y_kpc,z_kpc,vx_km_s,vy_km_s,vz_km_s\n1,2,3,4,NaN,6\n",
        ),
    ] {
        let bad = dir.join("bad_stars.csv");
        std::fs::write(&bad, text).unwrap();
        let o = run(&["flows", "fit", "--stars", p(&bad), "--out", p(&out)]);
        assert_bad_input(&o, what, &out);
        assert!(String::from_utf8_lossy(&o.stderr).contains("bad_stars.csv"));
    }
}
