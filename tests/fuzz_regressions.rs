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

/// The `fits` findings, both allocations of petabytes inside cfitsio's
/// `ffbinit` (reported by AddressSanitizer), because cfitsio reads the
/// mandatory cards of a table header by position and is lax about them:
///
/// - `bintable-huge-tfields-calloc`: the `NAXIS1` card has no value (and the
///   header runs into the end of the file without an END card);
/// - `bintable-mangled-naxis2-calloc`: the name of the `NAXIS2` card is
///   mangled (`NAXIS` followed by non-ASCII bytes).
///
/// The header pre-check (`darkprobe_core::fitscheck::check_fits_headers`)
/// now refuses both files before cfitsio opens them, in all three FITS
/// readers, naming the file, the HDU, the card or keyword and the text found.
#[test]
fn fits_findings_are_refused_before_cfitsio() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/fits");
    for (file, expect) in [
        (
            "bintable-huge-tfields-calloc",
            [
                "FITS keyword NAXIS1 of HDU 2",
                "not an integer (found 'TFOR')",
            ],
        ),
        (
            "bintable-mangled-naxis2-calloc",
            ["FITS HDU 2 header, card 5", "mandatory keyword NAXIS2"],
        ),
    ] {
        let p = dir.join(file);
        let messages = [
            darkprobe_gasmap::fits::read_cube(&p)
                .map(drop)
                .unwrap_err()
                .to_string(),
            darkprobe_subhalos::fits::read_4fgl_fits(&p)
                .map(drop)
                .unwrap_err()
                .to_string(),
            darkprobe_dwarfs::fits::read_cube(&p)
                .map(drop)
                .unwrap_err()
                .to_string(),
        ];
        for e in messages {
            assert!(
                e.contains(file) && expect.iter().all(|x| e.contains(x)),
                "{file}: {e}"
            );
        }
    }
}

/// The `spectra` finding (`regressions/spectra/cosmixs-log10x-underflow-nan-yield`):
/// a CosmiXs row with `log10 x = -1.D5` used to give a NaN yield. It is now
/// an error naming the file, the line and the value as written.
#[test]
fn cosmixs_log10x_underflow_is_an_error_naming_the_value() {
    use darkprobe_limits::spectrum::{ChannelTable, TableFormat};
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/spectra/cosmixs-log10x-underflow-nan-yield");
    let text = std::fs::read_to_string(&p).unwrap();
    let e = [TableFormat::Pppc, TableFormat::Cosmixs]
        .map(|f| {
            ChannelTable::parse_str(&text, "regression.dat", f)
                .map(drop)
                .unwrap_err()
                .to_string()
        })
        .join("\n");
    assert!(
        e.contains("regression.dat, line 2")
            && e.contains("log10 x must be >= -300")
            && e.contains("(found '-1.D5')"),
        "{e}"
    );
}
