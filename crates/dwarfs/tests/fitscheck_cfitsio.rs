//! The FITS header pre-check (`darkprobe_core::fitscheck`) against binary
//! tables written by cfitsio itself, variable-length arrays included: every
//! file cfitsio writes must pass, and a corrupted descriptor must not.
//! Needs the `fits` feature (cfitsio); `cargo test --workspace` enables it.
#![cfg(feature = "fits")]

use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::path::{Path, PathBuf};

use darkprobe_core::fitscheck::check_fits_headers;
use fitsio::sys;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dp-fitscheck-cfitsio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn ok(status: c_int, what: &str) {
    assert_eq!(status, 0, "cfitsio {what}: status {status}");
}

/// Writes a primary HDU and a binary table of `rows` rows with the columns
/// 1D, 3E, 12X, 8A, 1PE and 1QD; row r holds r + 1 floats and 2 r doubles
/// in its variable-length columns.
fn write_table(path: &Path, rows: i64) {
    let name = CString::new(format!("!{}", path.display())).unwrap();
    let ttype: Vec<CString> = ["X", "V3", "FLAGS", "NAME", "VF", "VD"]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let tform: Vec<CString> = ["1D", "3E", "12X", "8A", "1PE", "1QD"]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let mut ttype_p: Vec<*mut c_char> = ttype.iter().map(|s| s.as_ptr() as *mut c_char).collect();
    let mut tform_p: Vec<*mut c_char> = tform.iter().map(|s| s.as_ptr() as *mut c_char).collect();
    let extname = CString::new("VLA").unwrap();
    // SAFETY: plain cfitsio calls on a file this function creates; every
    // pointer outlives the call it is passed to.
    unsafe {
        let mut f: *mut sys::fitsfile = std::ptr::null_mut();
        let mut status: c_int = 0;
        sys::ffinit(&mut f, name.as_ptr(), &mut status);
        ok(status, "create");
        sys::ffphps(f, 8, 0, std::ptr::null_mut(), &mut status);
        ok(status, "primary header");
        sys::ffcrtb(
            f,
            2, // BINARY_TBL
            rows,
            6,
            ttype_p.as_mut_ptr(),
            tform_p.as_mut_ptr(),
            std::ptr::null_mut(),
            extname.as_ptr(),
            &mut status,
        );
        ok(status, "table");
        for r in 1..=rows {
            let mut x = [r as f64];
            sys::ffpcld(f, 1, r, 1, 1, x.as_mut_ptr(), &mut status);
            let mut v3 = [1.0f32, 2.0, 3.0];
            sys::ffpcle(f, 2, r, 1, 3, v3.as_mut_ptr(), &mut status);
            let mut vf: Vec<f32> = (0..=r).map(|i| i as f32).collect();
            sys::ffpcle(f, 5, r, 1, vf.len() as i64, vf.as_mut_ptr(), &mut status);
            let mut vd: Vec<f64> = (0..2 * r).map(|i| i as f64 * 0.5).collect();
            if !vd.is_empty() {
                sys::ffpcld(f, 6, r, 1, vd.len() as i64, vd.as_mut_ptr(), &mut status);
            }
            ok(status, "write row");
        }
        sys::ffclos(f, &mut status);
        ok(status, "close");
    }
}

/// cfitsio's own reading of the file: the length of the float array of
/// each row. (Through the raw calls: the `fitsio` crate panics on a table
/// with a variable-length column, "Have not implemented str ->
/// ColumnDataType for P".)
// `c_long` is 32 bits on some platforms, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn read_back(path: &Path) -> Vec<i64> {
    let name = CString::new(path.display().to_string()).unwrap();
    // SAFETY: as in `write_table`, on a file cfitsio just wrote.
    unsafe {
        let mut f: *mut sys::fitsfile = std::ptr::null_mut();
        let mut status: c_int = 0;
        sys::ffopen(&mut f, name.as_ptr(), 0, &mut status);
        let mut kind: c_int = 0;
        sys::ffmahd(f, 2, &mut kind, &mut status);
        let mut rows = 0;
        sys::ffgnrw(f, &mut rows, &mut status);
        ok(status, "open and size");
        let lengths = (1..=rows as i64)
            .map(|r| {
                let (mut len, mut addr) = (0, 0);
                sys::ffgdes(f, 5, r, &mut len, &mut addr, &mut status);
                ok(status, "descriptor");
                len as i64
            })
            .collect();
        sys::ffclos(f, &mut status);
        lengths
    }
}

/// The byte offset of the data unit of the second HDU (headers of one or
/// more 2880-byte blocks, each ended by an END card).
fn second_data_start(bytes: &[u8]) -> usize {
    let mut at = 2880; // the primary header (no data)
    loop {
        let card = &bytes[at..at + 80];
        at += 80;
        if card.starts_with(b"END     ") {
            return at.div_ceil(2880) * 2880;
        }
    }
}

#[test]
fn tables_written_by_cfitsio_pass_and_corrupted_descriptors_do_not() {
    for rows in [0, 1, 7, 300] {
        let p = scratch(&format!("vla-{rows}.fits"));
        write_table(&p, rows);
        check_fits_headers(&p).unwrap_or_else(|e| panic!("{rows} rows: {e}"));
        assert_eq!(read_back(&p), (1..=rows).map(|r| r + 1).collect::<Vec<_>>());
        std::fs::remove_file(&p).ok();
    }
    // Row 1's float array: count 1 -> 1e6 floats, far past the heap.
    let p = scratch("vla-bad.fits");
    write_table(&p, 7);
    let mut bytes = std::fs::read(&p).unwrap();
    let data = second_data_start(&bytes);
    let desc = data + 8 + 12 + 2 + 8;
    assert_eq!(&bytes[desc..desc + 4], &2i32.to_be_bytes());
    bytes[desc..desc + 4].copy_from_slice(&1_000_000i32.to_be_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let e = check_fits_headers(&p).unwrap_err().to_string();
    assert!(
        e.contains("vla-bad.fits") && e.contains("FITS HDU 2, row 1, column 5 (TFORM5 = '1PE("),
        "{e}"
    );
    assert!(e.contains("1000000 elements at heap offset 0"), "{e}");
    std::fs::remove_file(&p).ok();
}
