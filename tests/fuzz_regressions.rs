//! Runs the fuzz targets' bodies (`fuzz/harness.rs`) on the committed inputs
//! in `cargo test`: the seed corpora (`fuzz/corpus/<target>/`) and every
//! input a fuzzing run found to crash, hang or misbehave
//! (`fuzz/regressions/<target>/`). CI does not fuzz; it replays these. Each
//! input must be handled without a panic (an `Ok` or a clean `Err`).
//!
//! To add a regression: copy the crash file from `fuzz/artifacts/<target>/`
//! into `fuzz/regressions/<target>/` with a descriptive name (see
//! docs/hardening.md).

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// Feeds every file of `fuzz/{corpus,regressions}/<target>/` to `f`; returns
/// how many were fed.
fn replay(target: &str, f: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for p in files.iter().filter(|p| p.is_file()) {
            let data = std::fs::read(p).unwrap();
            let r = std::panic::catch_unwind(|| f(&data));
            assert!(r.is_ok(), "{target}: input {} panicked", p.display());
            n += 1;
        }
    }
    n
}

#[test]
fn table_inputs() {
    assert!(replay("table", harness::table) > 0);
}

#[test]
fn dwarf_inputs() {
    assert!(replay("dwarf_inputs", harness::dwarf_inputs) > 0);
}

#[test]
fn spectra_inputs() {
    assert!(replay("spectra", harness::spectra) > 0);
}

#[test]
fn catalog_csv_inputs() {
    assert!(replay("catalog_csv", harness::catalog_csv) > 0);
}

#[test]
fn fits_inputs() {
    assert!(replay("fits", harness::fits) > 0);
}

#[test]
fn phase_space_csv_inputs() {
    assert!(replay("phase_space_csv", harness::phase_space_csv) > 0);
}

#[test]
fn cli_number_inputs() {
    assert!(replay("cli_numbers", harness::cli_numbers) > 0);
}
