//! The bad-input matrix of the `darkprobe` command line (issue #12, item 1):
//! for each command that reads a file, a defective file (or argument) must
//! give exit status 2, a message on stderr naming the file, line and value,
//! and no output file (partial or complete) at the `--out` path.
//!
//! The dwarf commands run on a small synthetic MLFermiLATDwarfs package
//! folder written here; a sanity test checks that the intact folder works, so
//! that every failure below is caused by the one defect injected.

use std::path::{Path, PathBuf};
use std::process::Command;

fn darkprobe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_darkprobe"));
    c.env_remove("DARKPROBE_DATA");
    c
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "darkprobe-badinput-cli-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const N_FINE: usize = 24;

fn dwarf_row(name: &str, l: f64, b: f64) -> String {
    let exposures: Vec<String> = (0..N_FINE).map(|_| "3e11".to_string()).collect();
    format!("{name} {l} {b} 18.8 0.2 {}\n", exposures.join(" "))
}

/// Writes a small, valid package folder: 2 dwarfs, 30 voids, 6 macro bins.
fn write_package(dir: &Path) {
    std::fs::create_dir_all(dir.join("misc")).unwrap();
    std::fs::create_dir_all(dir.join("bkg_data")).unwrap();
    let table = format!(
        "#### name l b log10J sigma exposures\n{}{}",
        dwarf_row("Draco", 86.37, 34.72),
        dwarf_row("UrsaMinor", 104.97, 44.80)
    );
    std::fs::write(dir.join("default_dwarf_summary_table.dat"), table).unwrap();
    let mut pos = String::new();
    let mut counts = String::new();
    for i in 0..30 {
        let l = 12.0 * i as f64;
        let b = if i % 2 == 0 {
            30.0 + i as f64
        } else {
            -30.0 - i as f64
        };
        pos.push_str(&format!("{l} {b}\n"));
        let c: Vec<String> = (0..6)
            .map(|k| format!("{}.0", 3 + (i * 7 + k * 3) % 11))
            .collect();
        counts.push_str(&format!("{}\n", c.join(" ")));
    }
    std::fs::write(dir.join("misc/voids_all_25dSphs.dat"), pos).unwrap();
    std::fs::write(dir.join("misc/Newbins_counts_voids.dat"), counts).unwrap();
    for k in 0..6 {
        let text = format!(
            "{} {}\n{} {}\n",
            (5.0f64 + k as f64).ln(),
            1.5,
            (4.0f64 + k as f64).ln(),
            1.4
        );
        std::fs::write(dir.join(format!("bkg_data/lnbckg_dSphs_bin_{k}.dat")), text).unwrap();
    }
    std::fs::write(dir.join("scan_DM_mass.dat"), "# GeV\n100\n").unwrap();
    std::fs::write(
        dir.join("AtProduction_gammas.dat"),
        "#  mDM  Log[10,x]  \\[Tau]   b\n10 -2 0.5 2.0\n10 -1 0.4 1.0\n200 -2 0.5 2.0\n200 -1 0.4 1.0\n",
    )
    .unwrap();
}

/// The valid content of a package file with its line `line` (1-based) replaced.
fn with_line(pkg_file: &str, line: usize, text: &str) -> String {
    let dir = scratch(&format!("template-{}", pkg_file.replace('/', "_")));
    write_package(&dir);
    let valid = std::fs::read_to_string(dir.join(pkg_file)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    valid
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                format!("{text}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Runs the binary; returns (exit code, stderr).
fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = darkprobe().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// True when `out` was left behind: a file, or a folder with any entry.
fn output_left(out: &Path) -> bool {
    if out.is_dir() {
        std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some())
    } else {
        out.exists()
    }
}

/// Runs one bad-input case: the binary with `args` must exit with status 2,
/// its stderr must contain every part of `expect`, and nothing may be left at
/// `out`. A failed check is pushed to `failures`, prefixed by `label`.
/// Returns stderr for further checks.
fn check_case(
    failures: &mut Vec<String>,
    label: &str,
    args: &[&std::ffi::OsStr],
    expect: &[&str],
    out: &Path,
) -> String {
    let (code, err) = run(args);
    let missing: Vec<_> = expect.iter().filter(|w| !err.contains(*w)).collect();
    let left = output_left(out);
    if code != Some(2) || !missing.is_empty() || left {
        failures.push(format!(
            "{label}: exit {code:?}, output left {left}, message lacks {missing:?}: {err}"
        ));
    }
    err
}

#[test]
fn the_synthetic_package_is_valid() {
    let dir = scratch("valid");
    let pkg = dir.join("pkg");
    write_package(&pkg);
    let out = dir.join("bkg.csv");
    let (code, err) = run(&[
        os("--quiet"),
        os("dwarfs"),
        os("background"),
        os("--data-dir"),
        pkg.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// One CLI case: which package file (relative path) or argument file to
/// break, its content, the expected message parts.
struct PkgCase {
    file: &'static str,
    content: Vec<u8>,
    expect: Vec<&'static str>,
}

fn pkg_case(file: &'static str, content: impl Into<Vec<u8>>, expect: &[&'static str]) -> PkgCase {
    PkgCase {
        file,
        content: content.into(),
        expect: expect.to_vec(),
    }
}

#[test]
fn dwarfs_background_rejects_each_defective_package_file() {
    let head = "#### name l b log10J sigma exposures\n";
    let draco = dwarf_row("Draco", 86.37, 34.72);
    let cases = vec![
        pkg_case("default_dwarf_summary_table.dat", "", &["empty"]),
        pkg_case("default_dwarf_summary_table.dat", head, &["empty"]),
        pkg_case(
            "default_dwarf_summary_table.dat",
            format!(
                "{head}{draco}{}",
                dwarf_row("Draco", 1.0, 2.0).replace("Draco", "DRACO")
            ),
            &["line 3", "DRACO"],
        ),
        pkg_case(
            "default_dwarf_summary_table.dat",
            format!("{head}{}", draco.replace("18.8", "NaN")),
            &["line 2", "NaN"],
        ),
        pkg_case(
            "default_dwarf_summary_table.dat",
            format!("{head}{}", draco.replacen("3e11", "-3e11", 1)),
            &["line 2", "exposure bin 0", "(found '-3e11')"],
        ),
        pkg_case(
            "default_dwarf_summary_table.dat",
            format!("{head}{draco}UrsaMinor 104.97 44.80 18.8\n"),
            &["line 3"],
        ),
        pkg_case(
            "default_dwarf_summary_table.dat",
            {
                let mut v = head.as_bytes().to_vec();
                v.extend_from_slice(b"Dr\xffco 1 2 3 4 5\n");
                v
            },
            &["line 2", "UTF-8"],
        ),
        pkg_case(
            "misc/voids_all_25dSphs.dat",
            with_line("misc/voids_all_25dSphs.dat", 2, "20 x"),
            &["line 2", "'x'"],
        ),
        pkg_case(
            "misc/voids_all_25dSphs.dat",
            with_line("misc/voids_all_25dSphs.dat", 5, "20 -91"),
            &["line 5", "-91"],
        ),
        pkg_case(
            "misc/voids_all_25dSphs.dat",
            "10 40 1\n",
            &["line 1", "10 40 1"],
        ),
        pkg_case(
            "misc/Newbins_counts_voids.dat",
            with_line("misc/Newbins_counts_voids.dat", 7, "1 2 3 4.5 5 6"),
            &["line 7", "4.5"],
        ),
        pkg_case(
            "misc/Newbins_counts_voids.dat",
            with_line("misc/Newbins_counts_voids.dat", 2, "1 2 -3 4 5 6"),
            &["line 2", "-3"],
        ),
        pkg_case(
            "bkg_data/lnbckg_dSphs_bin_3.dat",
            "1.0 2.0\n",
            &["line 1", "1.0", "not an integer"],
        ),
        pkg_case(
            "bkg_data/lnbckg_dSphs_bin_0.dat",
            "1.6094379124341003 inf\n0 1\n",
            &["line 1", "inf"],
        ),
    ];
    let dir = scratch("pkg-matrix");
    let mut failures = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        let pkg = dir.join(format!("pkg{k}"));
        write_package(&pkg);
        std::fs::write(pkg.join(c.file), &c.content).unwrap();
        let out = dir.join(format!("out{k}.csv"));
        let file_name = Path::new(c.file).file_name().unwrap().to_str().unwrap();
        let mut expect = vec![file_name];
        expect.extend(c.expect.iter().copied());
        check_case(
            &mut failures,
            &format!("{} case {k}", c.file),
            &[
                os("--quiet"),
                os("dwarfs"),
                os("background"),
                os("--data-dir"),
                pkg.as_os_str(),
                os("--out"),
                out.as_os_str(),
            ],
            &expect,
            &out,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dwarfs_limits_and_check_reject_bad_masses_and_spectra() {
    let dir = scratch("limits");
    let pkg = dir.join("pkg");
    write_package(&pkg);
    // (flag, file name, content, expected parts); the file goes to --masses or --spectrum.
    let cases: Vec<(&str, &str, &[u8], Vec<&str>)> = vec![
        ("--masses", "m-empty.dat", b"", vec!["empty"]),
        ("--masses", "m-neg.dat", b"10\n-5\n", vec!["line 2", "-5"]),
        (
            "--masses",
            "m-dup.dat",
            b"10\n100\n100.0\n",
            vec!["line 3", "100.0", "duplicate"],
        ),
        ("--masses", "m-nan.dat", b"10\nnan\n", vec!["line 2", "nan"]),
        ("--spectrum", "s-empty.dat", b"", vec!["empty"]),
        (
            "--spectrum",
            "s-cols.dat",
            b"100 1 0.5\n100 2\n",
            vec!["line 2"],
        ),
        (
            "--spectrum",
            "s-text.dat",
            b"100 1 0.5\n100 2 abc\n",
            vec!["line 2", "abc"],
        ),
        (
            "--spectrum",
            "s-sort.dat",
            b"100 2 0.5\n100 1 0.25\n",
            vec!["line 2", "increase"],
        ),
        (
            "--spectrum",
            "s-dup.dat",
            b"100 1 0.5\n100 2 0.2\n50 1 0.5\n50 2 0.2\n100 3 0.1\n",
            vec!["line 5", "duplicate"],
        ),
        (
            "--spectrum",
            "s-utf8.dat",
            b"100 1 0.5\n100 2 0.\xff\n",
            vec!["line 2", "UTF-8"],
        ),
    ];
    let mut failures = Vec::new();
    for (flag, name, content, expect) in &cases {
        let f = dir.join(name);
        std::fs::write(&f, content).unwrap();
        let out = dir.join(format!("{name}.out.csv"));
        let mut args = vec![
            os("--quiet"),
            os("dwarfs"),
            os("limits"),
            os("--data-dir"),
            pkg.as_os_str(),
        ];
        args.extend([os(flag), f.as_os_str(), os("--out"), out.as_os_str()]);
        if *flag == "--spectrum" {
            args.extend([os("--masses"), os("100")]);
        }
        let mut want = vec![*name];
        want.extend(expect.iter().copied());
        check_case(
            &mut failures,
            &format!("limits {flag} {name}"),
            &args,
            &want,
            &out,
        );
        if *flag == "--spectrum" {
            // `check` writes no file: `out` is the path never created above.
            check_case(
                &mut failures,
                &format!("check {name}"),
                &[
                    os("--quiet"),
                    os("dwarfs"),
                    os("check"),
                    f.as_os_str(),
                    os("--sigma-v"),
                    os("3e-26"),
                    os("--data-dir"),
                    pkg.as_os_str(),
                ],
                &[name],
                &out,
            );
        }
    }
    // Arguments parsed as numbers or names.
    let arg_cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--masses", "10,abc"], vec!["abc", "item 2"]),
        (vec!["--masses", "10,10"], vec!["duplicate", "item 2"]),
        (vec!["--masses", "10,-1e400"], vec!["-1e400"]),
        (
            vec!["--dwarfs", "Draco+Atlantis", "--masses", "100"],
            vec!["Atlantis", "Draco"],
        ),
        (
            vec!["--channel", "zz", "--masses", "100"],
            vec!["zz", "AtProduction_gammas.dat"],
        ),
        (
            vec!["--dwarfs", "Draco", "--masses", "5000"],
            vec!["5000", "200"],
        ),
    ];
    for (extra, expect) in &arg_cases {
        let out = dir.join("args.out.csv");
        let mut args = vec![
            os("--quiet"),
            os("dwarfs"),
            os("limits"),
            os("--data-dir"),
            pkg.as_os_str(),
        ];
        args.extend(extra.iter().map(|s| os(s)));
        args.extend([os("--out"), out.as_os_str()]);
        check_case(
            &mut failures,
            &format!("limits {extra:?}"),
            &args,
            expect,
            &out,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn flows_commands_reject_bad_star_and_point_tables() {
    let dir = scratch("flows");
    let model = dir.join("model.json");
    let stars_ok = dir.join("stars.csv");
    let (code, err) = run(&[
        os("--quiet"),
        os("flows"),
        os("mock"),
        os("--profile"),
        os("plummer"),
        os("--mass-msun"),
        os("1e10"),
        os("--scale-kpc"),
        os("2"),
        os("--n"),
        os("50"),
        os("--out"),
        stars_ok.as_os_str(),
        os("--model-out"),
        model.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let sh = "x_kpc,y_kpc,z_kpc,vx_km_s,vy_km_s,vz_km_s\n";
    let ph = "x_kpc,y_kpc,z_kpc\n";
    let star_cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("st-empty.csv", String::new(), vec!["empty"]),
        ("st-header.csv", sh.to_string(), vec!["empty"]),
        (
            "st-cols.csv",
            format!("{sh}1,2,3,4,5,6\n1,2,3\n"),
            vec!["line 3"],
        ),
        (
            "st-text.csv",
            format!("{sh}1,2,3,4,five,6\n"),
            vec!["line 2", "five"],
        ),
        (
            "st-nan.csv",
            format!("{sh}1,2,3,4,5,6\n1,2,NaN,4,5,6\n"),
            vec!["line 3", "NaN"],
        ),
        (
            "st-inf.csv",
            format!("{sh}1,2,3,4,5,inf\n"),
            vec!["line 2", "inf"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, content, expect) in &star_cases {
        let f = dir.join(name);
        std::fs::write(&f, content).unwrap();
        let out = dir.join(format!("{name}.json"));
        let mut want = vec![*name];
        want.extend(expect.iter().copied());
        check_case(
            &mut failures,
            &format!("fit {name}"),
            &[
                os("--quiet"),
                os("flows"),
                os("fit"),
                os("--stars"),
                f.as_os_str(),
                os("--out"),
                out.as_os_str(),
            ],
            &want,
            &out,
        );
    }
    let point_cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("pt-empty.csv", Vec::new(), vec!["empty"]),
        (
            "pt-text.csv",
            format!("{ph}1,2,far\n").into_bytes(),
            vec!["line 2", "far"],
        ),
        (
            "pt-nan.csv",
            format!("{ph}1,2,3\nnan,2,3\n").into_bytes(),
            vec!["line 3", "nan"],
        ),
        (
            "pt-missing.csv",
            b"x_kpc,y_kpc\n1,2\n".to_vec(),
            vec!["z_kpc"],
        ),
        (
            "pt-utf8.csv",
            [ph.as_bytes(), b"1,2,\xff3\n"].concat(),
            vec!["line 2", "UTF-8"],
        ),
    ];
    for (name, content, expect) in &point_cases {
        let f = dir.join(name);
        std::fs::write(&f, content).unwrap();
        let out = dir.join(format!("{name}.out.csv"));
        let mut want = vec![*name];
        want.extend(expect.iter().copied());
        check_case(
            &mut failures,
            &format!("accel {name}"),
            &[
                os("--quiet"),
                os("flows"),
                os("accel"),
                os("--model"),
                model.as_os_str(),
                os("--points"),
                f.as_os_str(),
                os("--out"),
                out.as_os_str(),
            ],
            &want,
            &out,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn subhalos_and_gasmap_reject_bad_catalogs_cubes_and_ranges() {
    let dir = scratch("subgas");
    // The defective table is given as both --features and --labelled (with a
    // class column, so that either reader reaches the defect).
    let fh = "alpha_1GeV,beta,log10_flux_100MeV_1TeV,class\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("f-empty.csv", String::new(), vec!["empty"]),
        ("f-header.csv", fh.to_string(), vec!["empty"]),
        (
            "f-cols.csv",
            format!("{fh}2.0,0.1,-9.0,bll\n2.0,0.1,bll\n"),
            vec!["line 3"],
        ),
        (
            "f-text.csv",
            format!("{fh}2.0,curvy,-9.0,bll\n"),
            vec!["line 2", "curvy"],
        ),
        (
            "f-nan.csv",
            format!("{fh}2.0,0.1,NaN,bll\n"),
            vec!["line 2", "NaN"],
        ),
        (
            "f-class.csv",
            format!("{fh}2.0,0.1,-9.0,bll\n2.0,0.1,-9.0,quasarish\n"),
            vec!["line 3", "quasarish"],
        ),
        // Content replaced by bytes with an invalid UTF-8 sequence below.
        ("f-utf8.csv", String::new(), vec!["line 2", "UTF-8"]),
    ];
    let mut failures = Vec::new();
    for (name, content, expect) in &cases {
        let f = dir.join(name);
        let mut bytes = content.clone().into_bytes();
        if *name == "f-utf8.csv" {
            bytes = [fh.as_bytes(), b"2.0,0.1,-9.0,b\xffll\n"].concat();
        }
        std::fs::write(&f, &bytes).unwrap();
        let out = dir.join(format!("{name}.out"));
        let mut want: Vec<&str> = vec![name];
        want.extend(expect.iter().copied());
        check_case(
            &mut failures,
            &format!("subhalos {name}"),
            &[
                os("--quiet"),
                os("subhalos"),
                os("fit"),
                os("--features"),
                f.as_os_str(),
                os("--labelled"),
                f.as_os_str(),
                os("--out-dir"),
                out.as_os_str(),
            ],
            &want,
            &out,
        );
    }
    // Gas-map cubes: not FITS, empty; a longitude range that is not numbers.
    let garbage = dir.join("garbage.fits");
    std::fs::write(&garbage, b"this is not FITS\n").unwrap();
    let empty = dir.join("empty.fits");
    std::fs::write(&empty, b"").unwrap();
    for bad in [&garbage, &empty] {
        let out = dir.join("eval.csv");
        let name = bad.file_name().unwrap().to_str().unwrap();
        check_case(
            &mut failures,
            &format!("gasmap evaluate {name}"),
            &[
                os("--quiet"),
                os("gasmap"),
                os("evaluate"),
                os("--pred"),
                bad.as_os_str(),
                os("--target"),
                bad.as_os_str(),
                os("--out-csv"),
                out.as_os_str(),
            ],
            &[name],
            &out,
        );
    }
    for range in ["300:abc", "300", "nan:340", "300:300"] {
        let out = dir.join("model.json");
        let label = format!("gasmap train --train-lon {range}");
        let err = check_case(
            &mut failures,
            &label,
            &[
                os("--quiet"),
                os("gasmap"),
                os("train"),
                os("--model"),
                os("linear"),
                os("--co"),
                garbage.as_os_str(),
                os("--target"),
                garbage.as_os_str(),
                os("--train-lon"),
                os(range),
                os("--out"),
                out.as_os_str(),
            ],
            &[],
            &out,
        );
        // The range may be echoed in another case (NaN for nan).
        if !err.to_lowercase().contains(range) {
            failures.push(format!("{label}: message lacks {range:?}: {err}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A JSON model file larger than `DEFAULT_MAX_FILE_BYTES` is refused before
/// it is read (exit 2, the file and its size named), and a FITS cube whose
/// header declares absurd sizes is refused before cfitsio sees it (exit 2,
/// the file, keyword and value named). The oversized model is a sparse file.
#[test]
fn oversized_models_and_absurd_fits_headers_are_refused() {
    use darkprobe::core::table::DEFAULT_MAX_FILE_BYTES;
    let dir = scratch("limits-models");
    let big = dir.join("big-model.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(DEFAULT_MAX_FILE_BYTES + 1).unwrap();
    drop(f);
    let size = format!("{} bytes", DEFAULT_MAX_FILE_BYTES + 1);
    let points = dir.join("points.csv");
    std::fs::write(&points, "x_kpc,y_kpc,z_kpc\n8,0,0\n").unwrap();
    // A FITS image declaring 10^6 x 10^6 x 10^3 doubles and holding none.
    let mut header: String = [
        "SIMPLE  =                    T",
        "BITPIX  =                  -64",
        "NAXIS   =                    3",
        "NAXIS1  =              1000000",
        "NAXIS2  =              1000000",
        "NAXIS3  =                 1000",
        "END",
    ]
    .iter()
    .map(|c| format!("{c:<80}"))
    .collect();
    header.push_str(&" ".repeat(2880 - header.len()));
    let cube = dir.join("absurd.fits");
    std::fs::write(&cube, &header).unwrap();
    // NAXIS outside the standard's [0, 999].
    let naxis = dir.join("naxis.fits");
    std::fs::write(
        &naxis,
        header.replace(
            "NAXIS   =                    3",
            "NAXIS   =            123456789",
        ),
    )
    .unwrap();

    let mut failures = Vec::new();
    let out = dir.join("out.csv");
    check_case(
        &mut failures,
        "flows accel --model big",
        &[
            os("--quiet"),
            os("flows"),
            os("accel"),
            os("--model"),
            big.as_os_str(),
            os("--points"),
            points.as_os_str(),
            os("--out"),
            out.as_os_str(),
        ],
        &["big-model.json", &size],
        &out,
    );
    let out_fits = dir.join("pred.fits");
    check_case(
        &mut failures,
        "gasmap predict --model big",
        &[
            os("--quiet"),
            os("gasmap"),
            os("predict"),
            os("--model"),
            big.as_os_str(),
            os("--co"),
            cube.as_os_str(),
            os("--out"),
            out_fits.as_os_str(),
        ],
        &["big-model.json", &size],
        &out_fits,
    );
    for (bad, expect) in [
        (
            &cube,
            vec!["absurd.fits", "NAXIS3 = 1000", "8000000000000000 bytes"],
        ),
        (&naxis, vec!["naxis.fits", "NAXIS of HDU 1", "'123456789'"]),
    ] {
        check_case(
            &mut failures,
            &format!("gasmap evaluate {}", bad.display()),
            &[
                os("--quiet"),
                os("gasmap"),
                os("evaluate"),
                os("--pred"),
                bad.as_os_str(),
                os("--target"),
                bad.as_os_str(),
                os("--out-csv"),
                out.as_os_str(),
            ],
            &expect,
            &out,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
