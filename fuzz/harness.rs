//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (run by
//! libFuzzer) and the root test `tests/fuzz_regressions.rs` (which feeds the
//! committed corpus seeds and every crash input to the same functions in
//! `cargo test`). Each function must return normally for any input: a panic
//! is a finding.
#![allow(dead_code)]

use darkprobe_core::table::{Delimiter, Header, Table, TableOptions};
use darkprobe_dwarfs::masses::{parse_mass_list, read_mass_list};
use darkprobe_dwarfs::package::{JFactorSamples, PackageBackground};
use darkprobe_dwarfs::{DwarfTable, VoidSample};
use darkprobe_gasmap::LonRange;
use darkprobe_limits::spectrum::{ChannelTable, Spectrum, TableFormat, TabulatedSpectrum};
use darkprobe_subhalos::catalog::{read_feature_table, read_probcat_dr2};

/// Core `Table` reader: arbitrary bytes under every delimiter and header mode,
/// then typed access to every column. Must return `Ok` or `Err`, never panic.
pub fn table(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let delimiter = match mode % 4 {
        0 => Delimiter::Auto,
        1 => Delimiter::Whitespace,
        2 => Delimiter::Comma,
        _ => Delimiter::Char(';'),
    };
    let header = match (mode / 4) % 3 {
        0 => Header::Auto,
        1 => Header::Present,
        _ => Header::Absent,
    };
    let opts = TableOptions::default()
        .with_delimiter(delimiter)
        .with_header(header)
        .with_skip_lines(usize::from(mode / 12 % 2))
        .with_max_line_bytes(4096);
    if let Ok(t) = Table::from_reader(bytes, "fuzz.dat", &opts) {
        for c in 0..t.n_cols() {
            let _ = t.column_f64(c);
            let _ = t.column_u64(c);
            let _ = t.column_str(c);
        }
        for r in t.rows() {
            let _ = r.line();
        }
    }
}

/// The MLFermiLATDwarfs text inputs: dwarf table, void positions + counts
/// (two files separated by a NUL byte), J-factor samples, per-bin background
/// files, mass lists. Must return `Ok` or `Err`, never panic.
pub fn dwarf_inputs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = DwarfTable::parse_str(text, "dwarfs.dat") {
        let names = t.names().join("+");
        let _ = t.select(&names);
        let _ = t.macro_exposures_cm2_s(&darkprobe_dwarfs::EnergyBinning::package());
    }
    let (pos, counts) = text.split_once('\0').unwrap_or((text, text));
    if let Ok(v) = VoidSample::parse_str(pos, "pos.dat", counts, "counts.dat") {
        let _ = v.mean_counts();
        let _ = v.positive_in_all_bins();
    }
    if let Ok(j) = JFactorSamples::parse_str(text, "j.txt") {
        let _ = j.mean_std();
    }
    let _ = PackageBackground::parse_file_str(text, "bkg.dat");
    let _ = parse_mass_list(text);
}

fn probe(s: &TabulatedSpectrum, masses: &[f64]) {
    for &m in masses {
        for m in [m, m * 1.5, m * 0.5] {
            for e in [m * 1e-3, m * 0.3, m, m * 2.0] {
                if let Ok(v) = s.dn_de(m, e) {
                    assert!(!v.is_nan(), "NaN yield at m = {m}, E = {e}");
                }
            }
        }
    }
}
/// Spectrum tables: PPPC4DMID, CosmiXs and user `mass E dN/dE` tables; a
/// table that parses is then evaluated at its masses and beyond. Must return
/// `Ok` or `Err`, never panic (nor divide its way to a silent NaN yield).
pub fn spectra(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [TableFormat::Pppc, TableFormat::Cosmixs] {
        if let Ok(t) = ChannelTable::parse_str(text, "table.dat", format) {
            let masses = t.masses_gev();
            for ch in t.channels().to_vec() {
                if let Ok(s) = t.spectrum(&ch) {
                    probe(&s, &masses);
                }
            }
            let _ = t.spectrum("bb");
        }
    }
    if let Ok(s) = TabulatedSpectrum::parse_user_table(text, "user.dat") {
        let masses = s.tabulated_masses_gev().to_vec();
        probe(&s, &masses);
    }
}

/// Subhalo catalogs in CSV: the DR4 feature tables and the DR2 probabilistic
/// catalog (the readers take a path: the bytes go to a scratch file). Must
/// return `Ok` or `Err`, never panic.
pub fn catalog_csv(data: &[u8]) {
    let path =
        std::env::temp_dir().join(format!("darkprobe-fuzz-catalog-{}.csv", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = read_feature_table(&path, false);
    let _ = read_probcat_dr2(&path, true);
}

/// FITS readers (cfitsio reads from a path: the bytes go to a scratch file):
/// the gas-map cube reader, the 4FGL catalog reader and the dwarfs' count
/// cube reader. Must return `Ok` or `Err`, never panic or crash.
pub fn fits(data: &[u8]) {
    let path = std::env::temp_dir().join(format!("darkprobe-fuzz-{}.fits", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(c) = darkprobe_gasmap::fits::read_cube(&path) {
        let _ = c.n_blank();
    }
    let _ = darkprobe_subhalos::fits::read_4fgl_fits(&path);
    let _ = darkprobe_dwarfs::fits::read_cube(&path);
}

/// Phase-space tables: star and point CSV files and Gaia-like CSV files (the
/// readers take a path: the bytes go to a scratch file). Must return `Ok` or
/// `Err`, never panic.
pub fn phase_space_csv(data: &[u8]) {
    let path =
        std::env::temp_dir().join(format!("darkprobe-fuzz-stars-{}.csv", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = darkprobe_flows::mock::read_stars(&path);
    let _ = darkprobe_flows::mock::read_points(&path);
    if let Ok(rows) = darkprobe_flows::gaia::read_gaia_csv(&path) {
        let _ = rows.len();
    }
}

/// The number-parsing command-line arguments: longitude ranges
/// (`--train-lon 300:340`, `--test-lon`), mass lists (`--masses 10,100`),
/// and the mass-list file reader. Must return `Ok` or `Err`, never panic; a
/// parsed range or mass list must hold finite values.
pub fn cli_numbers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = LonRange::parse(text) {
        let _ = format!("{r:?}");
    }
    if let Ok(m) = parse_mass_list(text) {
        assert!(m.iter().all(|x| x.is_finite() && *x > 0.0));
    }
    let path =
        std::env::temp_dir().join(format!("darkprobe-fuzz-masses-{}.dat", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        if let Ok(m) = read_mass_list(&path) {
            assert!(m.iter().all(|x| x.is_finite() && *x > 0.0));
        }
    }
}
