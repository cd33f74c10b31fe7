//! The bad-input matrix of the library readers (issue #12, item 1): every file
//! format darkprobe reads, crossed with the defects users actually produce
//! (empty file, header only, wrong column count, non-numeric cell, NaN/inf,
//! negative counts or exposure, unsorted energies, duplicate masses, a line
//! longer than the reader's limit, non-UTF-8 bytes). Each case must give an
//! `Err` whose message names the file, the line and the offending value; no
//! case may panic.
//!
//! The matrix is a table: `(format, defect, file content, expected
//! substrings)`. The readers are called through the umbrella crate so that one
//! test binary covers every crate.

use darkprobe::core::table::DEFAULT_MAX_LINE_BYTES;
use darkprobe::dwarfs::masses::read_mass_list;
use darkprobe::dwarfs::package::{JFactorSamples, PackageBackground};
use darkprobe::dwarfs::{DwarfTable, VoidSample};
use darkprobe::flows::gaia::read_gaia_csv;
use darkprobe::flows::mock::{read_points, read_stars};
use darkprobe::limits::spectrum::{ChannelTable, Spectrum, TabulatedSpectrum};
use darkprobe::subhalos::catalog::{read_feature_table, read_probcat_dr2};
use std::path::{Path, PathBuf};

/// A scratch folder private to this test binary.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("darkprobe-badinput-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The file formats of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DwarfTable,
    VoidPositions,
    VoidCounts,
    JSamples,
    Background,
    MassList,
    Pppc,
    Cosmixs,
    UserSpectrum,
    FeatureCsv,
    ProbcatCsv,
    StarsCsv,
    PointsCsv,
    GaiaCsv,
}

const VALID_VOID_POSITIONS: &str = "10.0 40.0\n20.0 -45.0\n30.0 50.0\n";
const VALID_VOID_COUNTS: &str = "5 3 1 1 0 0\n0 2 2 1 1 0\n7 1 0 0 0 1\n";

/// Reads `path` as `format`, returning the error message.
fn read(format: Format, path: &Path, dir: &Path) -> Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    match format {
        Format::DwarfTable => DwarfTable::read(path).map(drop).map_err(|e| s(&e)),
        Format::VoidPositions => {
            let counts = dir.join("companion-counts.dat");
            std::fs::write(&counts, VALID_VOID_COUNTS).unwrap();
            VoidSample::read(path, &counts).map(drop).map_err(|e| s(&e))
        }
        Format::VoidCounts => {
            let pos = dir.join("companion-positions.dat");
            std::fs::write(&pos, VALID_VOID_POSITIONS).unwrap();
            VoidSample::read(&pos, path).map(drop).map_err(|e| s(&e))
        }
        Format::JSamples => JFactorSamples::read(path).map(drop).map_err(|e| s(&e)),
        Format::Background => PackageBackground::read_file(path)
            .map(drop)
            .map_err(|e| s(&e)),
        Format::MassList => read_mass_list(path).map(drop).map_err(|e| s(&e)),
        Format::Pppc => ChannelTable::read_pppc(path)
            .and_then(|t| t.spectrum("bb"))
            .map(drop)
            .map_err(|e| s(&e)),
        Format::Cosmixs => ChannelTable::read_cosmixs(path)
            .and_then(|t| t.spectrum("bb"))
            .map(drop)
            .map_err(|e| s(&e)),
        Format::UserSpectrum => TabulatedSpectrum::read_user_table(path)
            .map(drop)
            .map_err(|e| s(&e)),
        Format::FeatureCsv => read_feature_table(path, false).map(drop).map_err(|e| s(&e)),
        Format::ProbcatCsv => read_probcat_dr2(path, false).map(drop).map_err(|e| s(&e)),
        Format::StarsCsv => read_stars(path).map(drop).map_err(|e| s(&e)),
        Format::PointsCsv => read_points(path).map(drop).map_err(|e| s(&e)),
        Format::GaiaCsv => read_gaia_csv(path).map(drop).map_err(|e| s(&e)),
    }
}

const DWARF_HEADER: &str = "#### name l b log10J sigma exposures\n";
const DWARF_ROW1: &str = "Draco 86.37 34.72 18.8 0.16 1e11 2e11\n";
const PPPC_HEADER: &str = "#  mDM  Log[10,x]  \\[Tau]   b\n";
const COSMIXS_HEADER: &str = "# DM Log10[x] dNdLog10x [tau] dNdLog10x [b]\n";
const FEATURE_HEADER: &str = "alpha_1GeV,beta,log10_flux_100MeV_1TeV\n";
const DR2_HEADER: &str = "Source_Name_4FGL,GLAT,ln(Energy_Flux100),ln(Pivot_Energy),LP_Index,LP_beta,CLASS_4FGL,Missing_Values_Flag\n";
const DR2_ROW: &str = "4FGL JXXXX,20.0,-26.0,7.0,2.5,0.3,PSR,0\n";
const STAR_HEADER: &str = "x_kpc,y_kpc,z_kpc,vx_km_s,vy_km_s,vz_km_s\n";
const GAIA_HEADER: &str = "ra,dec,parallax,parallax_error,pmra,pmra_error,pmdec,pmdec_error,radial_velocity,radial_velocity_error\n";
const GAIA_ROW: &str = "10.0,20.0,1.0,0.1,2.0,0.1,-3.0,0.1,15.0,1.0\n";

/// One cell of the matrix.
struct Case {
    format: Format,
    defect: &'static str,
    content: Vec<u8>,
    /// Substrings the error must contain besides the file name.
    expect: Vec<&'static str>,
}

fn case(
    format: Format,
    defect: &'static str,
    content: impl Into<Vec<u8>>,
    expect: &[&'static str],
) -> Case {
    Case {
        format,
        defect,
        content: content.into(),
        expect: expect.to_vec(),
    }
}

fn cat(parts: &[&str]) -> String {
    parts.concat()
}

/// The table-driven matrix (format x defect -> expected message parts).
fn matrix() -> Vec<Case> {
    use Format::*;
    let bad_utf8 = |prefix: &str| {
        let mut v = prefix.as_bytes().to_vec();
        v.extend_from_slice(b"Dr\xffaco 1 2 3 4 5\n");
        v
    };
    vec![
        // Dwarf table.
        case(DwarfTable, "empty file", "", &["empty"]),
        case(DwarfTable, "header only", DWARF_HEADER, &["empty"]),
        case(DwarfTable, "wrong column count", cat(&[DWARF_HEADER, DWARF_ROW1, "UMi 104.97 44.80 18.8 0.19 1.5e11\n"]), &["line 3", "6", "7"]),
        case(DwarfTable, "too few columns", cat(&[DWARF_HEADER, "Draco 86.37 34.72 18.8\n"]), &["line 2", "Draco"]),
        case(DwarfTable, "non-numeric cell", cat(&[DWARF_HEADER, "Draco 86.37 north 18.8 0.16 1e11 2e11\n"]), &["line 2", "north"]),
        case(DwarfTable, "NaN", cat(&[DWARF_HEADER, "Draco 86.37 34.72 NaN 0.16 1e11 2e11\n"]), &["line 2", "NaN"]),
        case(DwarfTable, "inf", cat(&[DWARF_HEADER, "Draco 86.37 34.72 18.8 0.16 inf 2e11\n"]), &["line 2", "inf"]),
        case(DwarfTable, "negative exposure", cat(&[DWARF_HEADER, "Draco 86.37 34.72 18.8 0.16 1e11 -2e11\n"]), &["line 2", "-2"]),
        case(DwarfTable, "latitude out of range", cat(&[DWARF_HEADER, "Draco 86.37 134.72 18.8 0.16 1e11 2e11\n"]), &["line 2", "134.72"]),
        case(DwarfTable, "duplicate name", cat(&[DWARF_HEADER, DWARF_ROW1, "DRACO 86.37 34.72 18.8 0.16 1e11 2e11\n"]), &["line 3", "DRACO", "line 2"]),
        case(DwarfTable, "non-UTF-8 bytes", bad_utf8(DWARF_HEADER), &["line 2", "UTF-8"]),
        // Void positions and counts.
        case(VoidPositions, "empty file", "", &["empty"]),
        case(VoidPositions, "wrong column count", "10.0 40.0 1\n20.0 -45.0 1\n30.0 50.0 1\n", &["line 1", "10.0 40.0 1", "2 columns"]),
        case(VoidPositions, "ragged row", "10.0 40.0\n20.0\n30.0 50.0\n", &["line 2"]),
        case(VoidPositions, "non-numeric cell", "10.0 40.0\n20.0 south\n30.0 50.0\n", &["line 2", "south"]),
        case(VoidPositions, "NaN", "10.0 40.0\nnan -45.0\n30.0 50.0\n", &["line 2", "nan"]),
        case(VoidPositions, "latitude out of range", "10.0 40.0\n20.0 -95.0\n30.0 50.0\n", &["line 2", "-95"]),
        case(VoidPositions, "row count differs", "10.0 40.0\n20.0 -45.0\n", &["companion-counts.dat", "2", "3"]),
        case(VoidCounts, "negative count", "5 3 1 1 0 0\n0 -2 2 1 1 0\n7 1 0 0 0 1\n", &["line 2", "-2", "negative"]),
        case(VoidCounts, "non-integer count", "5 3 1 1 0 0\n0 2 2.5 1 1 0\n7 1 0 0 0 1\n", &["line 2", "2.5"]),
        case(VoidCounts, "inf count", "5 3 1 1 0 0\n0 2 2 1 1 0\n7 1 0 inf 0 1\n", &["line 3", "inf"]),
        // J-factor samples.
        case(JSamples, "empty file", "", &["empty"]),
        case(JSamples, "wrong column count", "1e18 2\n3e18 4\n", &["line 1", "1e18 2", "one column"]),
        case(JSamples, "non-numeric cell", "1e18\nlots\n", &["line 2", "lots"]),
        case(JSamples, "NaN", "1e18\nNaN\n", &["line 2", "NaN"]),
        case(JSamples, "negative J", "1e18\n-3e18\n", &["line 2", "-3e18"]),
        case(JSamples, "non-UTF-8 bytes", b"1e18\n1e\xfe18\n".to_vec(), &["line 2", "UTF-8"]),
        // Per-bin background files.
        case(Background, "empty file", "", &["empty"]),
        case(Background, "wrong column count", "3.0 2.0 1.0\n", &["line 1", "3.0 2.0 1.0", "2 columns"]),
        case(Background, "non-integer count", "3.0 2.0\n", &["line 1", "3.0", "not an integer"]),
        case(Background, "NaN", "0.0 nan\n", &["line 1", "nan"]),
        // Mass lists.
        case(MassList, "empty file", "", &["empty"]),
        case(MassList, "header only", "# masses in GeV\n", &["empty"]),
        case(MassList, "non-numeric cell", "10\nheavy\n", &["line 2", "heavy"]),
        case(MassList, "negative mass", "10\n-100\n", &["line 2", "-100"]),
        case(MassList, "NaN", "10\nNaN\n", &["line 2", "NaN"]),
        case(MassList, "duplicate mass", "10\n100\n1e2\n", &["line 3", "1e2", "line 2", "duplicate"]),
        // PPPC4DMID tables.
        case(Pppc, "empty file", "", &[]),
        case(Pppc, "header only", PPPC_HEADER, &["empty"]),
        case(Pppc, "wrong column count", cat(&[PPPC_HEADER, "10 -2 0.5 2.0\n10 -1 0.4\n"]), &["line 3", "3", "4"]),
        case(Pppc, "non-numeric cell", cat(&[PPPC_HEADER, "10 -2 0.5 2.0\n10 -1 0.4 many\n"]), &["line 3", "many"]),
        case(Pppc, "NaN", cat(&[PPPC_HEADER, "10 -2 0.5 2.0\n10 -1 NaN 1.0\n"]), &["line 3", "NaN"]),
        case(Pppc, "negative yield", cat(&[PPPC_HEADER, "10 -2 0.5 2.0\n10 -1 0.4 -1.0\n"]), &["line 3", "-1.0"]),
        case(Pppc, "unsorted energies", cat(&[PPPC_HEADER, "10 -1 0.5 2.0\n10 -2 0.4 1.0\n"]), &["line 3", "-2"]),
        case(Pppc, "duplicate mass", cat(&[PPPC_HEADER, "10 -2 0.5 2.0\n10 -1 0.4 1.0\n20 -2 0.5 2.0\n20 -1 0.4 1.0\n10 -2 0.5 2.0\n10 -1 0.4 1.0\n"]), &["line 6", "10"]),
        case(Pppc, "non-UTF-8 bytes", cat(&[PPPC_HEADER, "10 -2 0.5 2.0\n"]).into_bytes().into_iter().chain(b"10 -1 0.4 \xc3\x28\n".iter().copied()).collect::<Vec<u8>>(), &["line 3", "UTF-8"]),
        // CosmiXs tables.
        case(Cosmixs, "header only", COSMIXS_HEADER, &["empty"]),
        case(Cosmixs, "wrong column count", cat(&[COSMIXS_HEADER, "5 -1.5 1 2 3\n5 -0.5 1 2\n"]), &["line 2"]),
        case(Cosmixs, "inf", cat(&[COSMIXS_HEADER, "5 -1.5 1 2\n5 -0.5 inf 2\n"]), &["line 3", "inf"]),
        case(Cosmixs, "log10 x underflow", cat(&[COSMIXS_HEADER, "50 -1.D5 1 2\n50 -0.5 1 0\n"]), &["line 2", "-1.D5", "-300"]),
        case(UserSpectrum, "energy underflow", "1e10 1e-310 0.5\n1e10 2 0.25\n", &["line 1", "1e-310"]),
        case(Cosmixs, "negative mass", cat(&[COSMIXS_HEADER, "-5 -1.5 1 2\n-5 -0.5 1 2\n"]), &["line 2", "-5"]),
        // User spectrum tables (mass, E, dN/dE).
        case(UserSpectrum, "empty file", "", &["empty"]),
        case(UserSpectrum, "header only", "# mass E dNdE\n", &["empty"]),
        case(UserSpectrum, "wrong column count", "100 1 0.5\n100 2\n", &["line 2", "3", "2"]),
        case(UserSpectrum, "non-numeric cell", "100 1 0.5\n100 2 lots\n", &["line 2", "lots"]),
        case(UserSpectrum, "NaN", "100 1 0.5\n100 2 NaN\n", &["line 2", "NaN"]),
        case(UserSpectrum, "negative dN/dE", "100 1 0.5\n100 2 -0.25\n", &["line 2", "-0.25"]),
        case(UserSpectrum, "unsorted energies", "100 2 0.5\n100 1 0.25\n", &["line 2", "1"]),
        case(UserSpectrum, "duplicate mass", "100 1 0.5\n100 2 0.25\n200 1 0.5\n200 2 0.25\n100 3 0.1\n", &["line 5", "100", "duplicate"]),
        case(UserSpectrum, "single row", "100 1 0.5\n", &["100"]),
        // Subhalo feature tables and the DR2 probabilistic catalog (CSV).
        case(FeatureCsv, "empty file", "", &["empty"]),
        case(FeatureCsv, "header only", FEATURE_HEADER, &["empty"]),
        case(FeatureCsv, "wrong column count", cat(&[FEATURE_HEADER, "1.2,0.3,-9.0\n2.0,0.05\n"]), &["line 3", "3", "2"]),
        case(FeatureCsv, "non-numeric cell", cat(&[FEATURE_HEADER, "1.2,0.3,-9.0\n2.0,steep,-8.0\n"]), &["line 3", "steep"]),
        case(FeatureCsv, "NaN", cat(&[FEATURE_HEADER, "1.2,0.3,NaN\n"]), &["line 2", "NaN"]),
        case(FeatureCsv, "missing column", "alpha_1GeV,beta\n1.2,0.3\n", &["log10_flux_100MeV_1TeV"]),
        case(ProbcatCsv, "unknown class", cat(&[DR2_HEADER, DR2_ROW, "4FGL JYYYY,20.0,-26.0,7.0,2.5,0.3,quasarish,0\n"]), &["line 3", "quasarish"]),
        case(ProbcatCsv, "inf", cat(&[DR2_HEADER, "4FGL JYYYY,20.0,-inf,7.0,2.5,0.3,PSR,0\n"]), &["line 2", "-inf"]),
        case(ProbcatCsv, "non-UTF-8 bytes", cat(&[DR2_HEADER, DR2_ROW]).into_bytes().into_iter().chain(b"4FGL J\xff,20.0,-26.0,7.0,2.5,0.3,PSR,0\n".iter().copied()).collect::<Vec<u8>>(), &["line 3", "UTF-8"]),
        // Phase-space CSV (stars, query points) and Gaia-like CSV.
        case(StarsCsv, "empty file", "", &["empty"]),
        case(StarsCsv, "header only", STAR_HEADER, &["empty"]),
        case(StarsCsv, "wrong column count", cat(&[STAR_HEADER, "1,2,3,4,5,6\n1,2,3,4,5\n"]), &["line 3", "6", "5"]),
        case(StarsCsv, "non-numeric cell", cat(&[STAR_HEADER, "1,2,3,4,fast,6\n"]), &["line 2", "fast"]),
        case(StarsCsv, "NaN", cat(&[STAR_HEADER, "1,2,3,4,5,6\n1,2,NaN,4,5,6\n"]), &["line 3", "NaN"]),
        case(StarsCsv, "inf", cat(&[STAR_HEADER, "1,2,3,4,5,-inf\n"]), &["line 2", "-inf"]),
        case(PointsCsv, "missing column", "x_kpc,y_kpc\n1,2\n", &["z_kpc"]),
        case(PointsCsv, "non-UTF-8 bytes", b"x_kpc,y_kpc,z_kpc\n1,2,\xe2\x82\n".to_vec(), &["line 2", "UTF-8"]),
        case(GaiaCsv, "negative error", cat(&[GAIA_HEADER, GAIA_ROW, "10.0,20.0,1.0,-0.1,2.0,0.1,-3.0,0.1,15.0,1.0\n"]), &["line 3", "-0.1", "parallax_error"]),
        case(GaiaCsv, "declination out of range", cat(&[GAIA_HEADER, "10.0,95.0,1.0,0.1,2.0,0.1,-3.0,0.1,15.0,1.0\n"]), &["line 2", "95", "dec"]),
        case(GaiaCsv, "NaN", cat(&[GAIA_HEADER, "10.0,20.0,nan,0.1,2.0,0.1,-3.0,0.1,15.0,1.0\n"]), &["line 2", "nan"]),
        // Values are quoted as written in the file, not re-formatted (an
        // exposure written -3e11 used to be quoted as -300000000000).
        case(DwarfTable, "negative exposure as written", cat(&[DWARF_HEADER, "Draco 86.37 34.72 18.8 0.16 1e11 -3e11\n"]), &["line 2", "exposure bin 1", "(found '-3e11')"]),
        case(DwarfTable, "latitude as written", cat(&[DWARF_HEADER, "Draco 86.37 1.3472E2 18.8 0.16 1e11 2e11\n"]), &["line 2", "(found '1.3472E2')"]),
        case(DwarfTable, "sigma as written", cat(&[DWARF_HEADER, "Draco 86.37 34.72 18.8 -1.6d-1 1e11 2e11\n"]), &["line 2", "(found '-1.6d-1')"]),
        case(VoidPositions, "latitude as written", "10.0 40.0\n20.0 -9.5e1\n30.0 50.0\n", &["line 2", "(found '-9.5e1')"]),
        case(Pppc, "single-row mass as written", cat(&[PPPC_HEADER, "1.0e1 -2 0.5 2.0\n"]), &["(found '1.0e1')"]),
        case(Cosmixs, "single-row mass as written", cat(&[COSMIXS_HEADER, "1.0e1 -1.5 1 2\n"]), &["(found '1.0e1')"]),
        case(UserSpectrum, "single-row mass as written", "1e2 1 0.5\n", &["(found '1e2')"]),
        case(GaiaCsv, "negative error as written", cat(&[GAIA_HEADER, "10.0,20.0,1.0,-1e-1,2.0,0.1,-3.0,0.1,15.0,1.0\n"]), &["line 2", "(found '-1e-1')"]),
        case(GaiaCsv, "declination as written", cat(&[GAIA_HEADER, "10.0,9.5E+01,1.0,0.1,2.0,0.1,-3.0,0.1,15.0,1.0\n"]), &["line 2", "(found '9.5E+01')"]),
    ]
}

#[test]
fn every_reader_rejects_every_defect_naming_file_line_and_value() {
    let dir = scratch("matrix");
    let mut failures = Vec::new();
    let cases = matrix();
    for (k, c) in cases.iter().enumerate() {
        let name = format!(
            "case{k}-{:?}-{}.dat",
            c.format,
            c.defect.replace([' ', '/'], "_")
        );
        let path = dir.join(&name);
        std::fs::write(&path, &c.content).unwrap();
        match read(c.format, &path, &dir) {
            Ok(()) => failures.push(format!("{:?} / {}: accepted", c.format, c.defect)),
            Err(msg) => {
                if std::env::var_os("DARKPROBE_SHOW_ERRORS").is_some() {
                    println!("{:?} / {}: {msg}", c.format, c.defect);
                }
                let mut want = vec![name.as_str()];
                want.extend(c.expect.iter().copied());
                let missing: Vec<_> = want.iter().filter(|w| !msg.contains(*w)).collect();
                if !missing.is_empty() {
                    failures.push(format!(
                        "{:?} / {}: message lacks {missing:?}: {msg}",
                        c.format, c.defect
                    ));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A line just longer than the readers' limit (16 MiB) is rejected at once,
/// naming the file and line, for each family of reader: core `Table`
/// (dwarf table, mass list, CSV catalogs, stars) and the raw-text readers of
/// the spectrum tables. The file is a few MB beyond the limit, which proves
/// the bound without writing 2 GB.
#[test]
fn a_line_longer_than_the_limit_is_an_error_naming_the_line() {
    let dir = scratch("longline");
    let mut content = DWARF_HEADER.as_bytes().to_vec();
    content.extend(std::iter::repeat_n(b'7', DEFAULT_MAX_LINE_BYTES + 1024));
    content.push(b'\n');
    let formats = [
        Format::DwarfTable,
        Format::MassList,
        Format::Pppc,
        Format::UserSpectrum,
        Format::FeatureCsv,
        Format::StarsCsv,
    ];
    for f in formats {
        let path = dir.join(format!("long-{f:?}.dat"));
        std::fs::write(&path, &content).unwrap();
        let msg = read(f, &path, &dir).unwrap_err();
        assert!(
            msg.contains(&format!("long-{f:?}.dat"))
                && msg.contains("line 2")
                && msg.contains("long"),
            "{f:?}: {msg}"
        );
        // The message quotes a bounded preview of the line, not the line.
        assert!(msg.len() < 1000, "{f:?}: message of {} bytes", msg.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names that do not exist and masses outside a table are errors listing
/// what is available.
#[test]
fn unknown_names_and_out_of_range_masses_are_clear_errors() {
    let t = DwarfTable::parse_str(&cat(&[DWARF_HEADER, DWARF_ROW1]), "dwarfs.dat").unwrap();
    let e = t.select("Draco+Atlantis").unwrap_err().to_string();
    assert!(e.contains("Atlantis") && e.contains("Draco"), "{e}");

    let pppc = cat(&[
        PPPC_HEADER,
        "10 -2 0.5 2.0\n10 -1 0.4 1.0\n20 -2 0.5 2.0\n20 -1 0.4 1.0\n",
    ]);
    let table = ChannelTable::parse_str(
        &pppc,
        "toy.dat",
        darkprobe::limits::spectrum::TableFormat::Pppc,
    )
    .unwrap();
    let e = table.spectrum("zz").unwrap_err().to_string();
    assert!(
        e.contains("zz") && e.contains("toy.dat") && e.contains("tau, b"),
        "{e}"
    );
    let bb = table.spectrum("bb").unwrap();
    let e = bb.dn_de(5000.0, 1.0).unwrap_err().to_string();
    assert!(
        e.contains("5000") && e.contains("10") && e.contains("20"),
        "{e}"
    );
    let e = bb.dn_de(1.0, 0.5).unwrap_err().to_string();
    assert!(e.contains('1'), "{e}");

    let user = TabulatedSpectrum::parse_user_table("100 1 0.5\n100 2 0.25\n", "user.dat").unwrap();
    let e = user.dn_de(150.0, 1.0).unwrap_err().to_string();
    assert!(e.contains("150") && e.contains("100"), "{e}");
}

/// FITS readers (cfitsio reads from a path): an empty file, bytes that are
/// not FITS, and a truncated valid file are errors naming the file.
#[test]
fn fits_readers_reject_empty_garbage_and_truncated_files() {
    use darkprobe::gasmap::fits::{read_cube, write_cube};
    use darkprobe::subhalos::fits::read_4fgl_fits;
    let dir = scratch("fits");
    let empty = dir.join("empty.fits");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.join("garbage.fits");
    std::fs::write(&garbage, b"SIMPLE = this is not a FITS header\n\xff\xfe").unwrap();
    // A valid cube, then the same bytes cut in the middle of the data.
    use darkprobe::gasmap::{LinearAxis, MapCube};
    let cube = MapCube::new(
        ndarray::Array3::from_shape_fn((30, 20, 20), |(v, i, j)| (v + i + j) as f64),
        LinearAxis::new("GLON-CAR", 1.0, 350.0, -0.25, "deg").unwrap(),
        LinearAxis::new("GLAT-CAR", 3.0, 0.0, 0.25, "deg").unwrap(),
        LinearAxis::new("VRAD", 1.0, -145.0, 10.0, "km/s").unwrap(),
        "K",
    )
    .unwrap();
    let good = dir.join("good.fits");
    write_cube(&good, &cube).unwrap();
    assert!(read_cube(&good).is_ok());
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.fits");
    std::fs::write(&truncated, &bytes[..bytes.len() - 2880 + 100]).unwrap();
    let header_cut = dir.join("headercut.fits");
    std::fs::write(&header_cut, &bytes[..1000]).unwrap();
    for p in [&empty, &garbage, &truncated, &header_cut] {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let e = read_cube(p).unwrap_err().to_string();
        assert!(e.contains(&name), "gasmap {name}: {e}");
        let e = read_4fgl_fits(p).unwrap_err().to_string();
        assert!(e.contains(&name), "subhalos {name}: {e}");
    }
    // An image is not a catalog table.
    let e = read_4fgl_fits(&good).unwrap_err().to_string();
    assert!(e.contains("good.fits"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files read whole (JSON models, checkpoints) are refused when larger than
/// `DEFAULT_MAX_FILE_BYTES`, before any byte is read, with an error naming
/// the file and its size. The oversized file is sparse (`set_len`): it costs
/// no disk and no reading time.
#[test]
fn oversized_model_files_are_refused_naming_file_and_size() {
    use darkprobe::core::table::DEFAULT_MAX_FILE_BYTES;
    let dir = scratch("bigmodel");
    let big = dir.join("huge-model.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(DEFAULT_MAX_FILE_BYTES + 1).unwrap();
    drop(f);
    let size = (DEFAULT_MAX_FILE_BYTES + 1).to_string();
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let messages = [
        (
            "gasmap PatchNet",
            darkprobe::gasmap::PatchNet::load(&big)
                .map(drop)
                .map_err(|e| s(&e)),
        ),
        (
            "flows Maf",
            darkprobe::flows::Maf::load_json(&big)
                .map(drop)
                .map_err(|e| s(&e)),
        ),
        (
            "flows PhaseSpaceFlow",
            darkprobe::flows::PhaseSpaceFlow::load_json(&big)
                .map(drop)
                .map_err(|e| s(&e)),
        ),
        (
            "nn Checkpoint",
            darkprobe::nn::checkpoint::Checkpoint::<f64>::load(&big)
                .map(drop)
                .map_err(|e| s(&e)),
        ),
    ];
    for (what, r) in messages {
        let msg = r.unwrap_err();
        assert!(
            msg.contains("huge-model.json")
                && msg.contains(&format!("{size} bytes"))
                && msg.contains(&format!("limit of {DEFAULT_MAX_FILE_BYTES} bytes")),
            "{what}: {msg}"
        );
    }
    // A small file is not refused for its size (it then fails as JSON: the
    // file is all zero bytes).
    let f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    let msg = darkprobe::gasmap::PatchNet::load(&big)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("limit of"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
