//! A pure-Rust check of FITS headers, run before a file is handed to cfitsio.
//!
//! cfitsio trusts the sizes a header declares: a binary table with
//! `TFIELDS = 10^12` makes it allocate per-column structures for $10^{12}$
//! columns, and an image declaring `NAXIS1 = NAXIS2 = 10^6` makes a reader
//! allocate the whole array before it notices that the file is short. A
//! corrupted or hostile file can thus exhaust memory instead of giving an
//! error. [`check_fits_headers`] walks the headers of every HDU
//! (2880-byte blocks of 80-character cards, FITS standard 4.0, Pence et al.
//! 2010, A&A 524, A42) and rejects, with the file, the keyword and the value as
//! written:
//!
//! - `BITPIX` other than 8, 16, 32, 64, -32 or -64;
//! - `NAXIS` outside $[0, 999]$, a negative `NAXISn`, `TFIELDS` outside
//!   $[0, 999]$ (the standard's limits), a negative `PCOUNT` or `GCOUNT`;
//! - a value of these keywords that is not an integer;
//! - a data unit larger than the rest of the file: the declared size
//!   $|\mathrm{BITPIX}|/8 \cdot \mathrm{GCOUNT} \cdot (\mathrm{PCOUNT} +
//!   \prod_n \mathrm{NAXIS}n)$ bytes must fit in the bytes that follow the
//!   header, so a reader never allocates more than about the file's size;
//! - a header cut short by the end of the file before its `END` card;
//! - in a binary table (section 7.3): `BITPIX` other than 8, `NAXIS` other
//!   than 2 or `GCOUNT` other than 1; a `TFORMn` that is not `rT` or
//!   `rPt(emax)`/`rQt(emax)` with a known type code (a descriptor repeat
//!   count above 1 included); column widths $\sum_n r_n\,w(T_n)$ that do not
//!   add up to `NAXIS1` (bit columns take $\lceil r/8\rceil$ bytes, `P` and `Q`
//!   descriptors 8 and 16); a `THEAP` outside
//!   $[\mathrm{NAXIS1}\cdot\mathrm{NAXIS2},\ \mathrm{NAXIS1}\cdot\mathrm{NAXIS2} + \mathrm{PCOUNT}]$;
//!   and, when variable-length columns exist, any row whose descriptor
//!   (count, offset) reaches past the heap of
//!   $\mathrm{NAXIS1}\cdot\mathrm{NAXIS2} + \mathrm{PCOUNT} - \mathrm{THEAP}$
//!   bytes, or is negative (the rows are read for this, in one pass).
//!
//! Anything else (a file that does not start with `SIMPLE`, bytes after the
//! last HDU that do not start with `XTENSION`, missing keywords, ASCII
//! tables' `TFORMn`) is left to cfitsio, which reports it without large
//! allocations. Files written by cfitsio pass, variable-length arrays
//! included (`crates/dwarfs/tests/fitscheck_cfitsio.rs`).
//!
//! ```
//! use darkprobe_core::fitscheck::check_fits_headers;
//! let card = |s: &str| format!("{s:<80}");
//! let mut header: String = ["SIMPLE  =                    T", "BITPIX  =                  -64",
//!     "NAXIS   =                    2", "NAXIS1  =              1000000", "NAXIS2  =              1000000",
//!     "END"].iter().map(|c| card(c)).collect();
//! header.push_str(&" ".repeat(2880 - header.len()));
//! let p = std::env::temp_dir().join(format!("dp-fitscheck-doc-{}.fits", std::process::id()));
//! std::fs::write(&p, &header).map_err(|e| darkprobe_core::Error::io(&p, e))?;
//! // 8 TB of data declared, none present.
//! let e = check_fits_headers(&p).unwrap_err().to_string();
//! assert!(e.contains("8000000000000 bytes"), "{e}");
//! # std::fs::remove_file(&p).ok();
//! # Ok::<(), darkprobe_core::Error>(())
//! ```

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Location, Result};

/// FITS block size in bytes.
const BLOCK: u64 = 2880;
/// Card size in bytes.
const CARD: usize = 80;
/// The largest `NAXIS` and `TFIELDS` the FITS standard allows.
const MAX_AXES_OR_FIELDS: i64 = 999;
/// A header longer than this many blocks (about 29 MB, 360 000 cards) is
/// refused rather than scanned.
const MAX_HEADER_BLOCKS: u64 = 10_000;

/// The integer keywords of one header that size its data unit, and the
/// binary-table keywords that lay out its rows and heap.
#[derive(Default)]
struct Sizes {
    bitpix: Option<i64>,
    naxis: Option<i64>,
    axes: Vec<(usize, i64)>,
    pcount: Option<i64>,
    gcount: Option<i64>,
    groups: bool,
    /// `XTENSION = 'BINTABLE'`.
    bintable: bool,
    tfields: Option<i64>,
    /// `TFORMn` values as written (quotes and padding removed), by `n`.
    tforms: Vec<(usize, String)>,
    /// `THEAP` as parsed and as written.
    theap: Option<(i64, String)>,
}

/// Checks every HDU header of the FITS file at `path` (see the module docs).
/// Returns `Ok` for a file whose headers declare sane sizes, and also for
/// files this check does not understand (left to cfitsio).
///
/// # Errors
/// [`Error::Io`] naming the path when it cannot be read; [`Error::Parse`]
/// naming the file, the HDU, the keyword and its value as written for an
/// invalid or absurd size keyword, or a data unit larger than the file.
pub fn check_fits_headers(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let source = path.display().to_string();
    let mut offset = 0u64;
    let mut hdu = 1usize;
    let mut block = vec![0u8; BLOCK as usize];
    while offset < file_len {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(path, e))?;
        let mut sizes = Sizes::default();
        let mut header_blocks = 0u64;
        let mut ended = false;
        let mut first = true;
        // Position of the next card in this header, and whether the HDU is
        // a table extension (whose mandatory cards end with TFIELDS).
        let mut index = 0usize;
        let mut table = false;
        while !ended {
            if header_blocks >= MAX_HEADER_BLOCKS {
                return Err(Error::parse(
                    Location::new(&source, 0).with_column(format!("FITS HDU {hdu} header")),
                    "",
                    format!("no END card in the first {MAX_HEADER_BLOCKS} header blocks"),
                ));
            }
            let n = read_block(&mut file, &mut block).map_err(|e| Error::io(path, e))?;
            if first {
                first = false;
                let start: &[u8] = if hdu == 1 { b"SIMPLE  =" } else { b"XTENSION=" };
                if !block[..n].starts_with(start) {
                    // Not FITS, or bytes after the last HDU: cfitsio decides.
                    return Ok(());
                }
            }
            if n < block.len() {
                // cfitsio may parse a header cut short (found by the `fits` fuzz
                // target: it then allocated for garbage TFIELDS).
                return Err(Error::parse(
                    Location::new(&source, 0).with_column(format!("FITS HDU {hdu} header")),
                    "",
                    format!(
                        "the file ends at byte {} inside this header, before its END card \
                         (truncated file)",
                        offset + header_blocks * BLOCK + n as u64
                    ),
                ));
            }
            header_blocks += 1;
            for card in block.chunks_exact(CARD) {
                let key = String::from_utf8_lossy(&card[..8]);
                let key = key.trim_end();
                let position = index;
                index += 1;
                if let Some(want) = mandatory_key(position, hdu > 1, table, &sizes) {
                    // cfitsio reads the mandatory cards by position and is
                    // lax about their names (found by the `fits` fuzz target:
                    // a mangled NAXIS2 card led to a 22 PB allocation).
                    if key != want || &card[8..10] != b"= " {
                        return Err(Error::parse(
                            Location::new(&source, 0)
                                .with_column(format!("FITS HDU {hdu} header, card {}", index)),
                            String::from_utf8_lossy(card).trim_end(),
                            format!(
                                "expected the mandatory keyword {want} with a value here \
                                 (FITS standard, section 4.4.1)"
                            ),
                        ));
                    }
                }
                if key == "END" {
                    ended = true;
                    break;
                }
                if &card[8..10] != b"= " {
                    continue;
                }
                let value = value_text(&card[10..]);
                let at = || {
                    Location::new(&source, 0)
                        .with_column(format!("FITS keyword {key} of HDU {hdu}"))
                };
                let int = |lo: i64, hi: i64, why: &str| -> Result<i64> {
                    match value.parse::<i64>() {
                        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
                        Ok(_) => Err(Error::parse(at(), &value, why.to_string())),
                        Err(_) => Err(Error::parse(at(), &value, "not an integer")),
                    }
                };
                match key {
                    "BITPIX" => {
                        let v = int(-64, 64, "BITPIX must be 8, 16, 32, 64, -32 or -64")?;
                        if ![8, 16, 32, 64, -32, -64].contains(&v) {
                            return Err(Error::parse(
                                at(),
                                &value,
                                "BITPIX must be 8, 16, 32, 64, -32 or -64",
                            ));
                        }
                        sizes.bitpix = Some(v);
                    }
                    "NAXIS" => {
                        sizes.naxis =
                            Some(int(0, MAX_AXES_OR_FIELDS, "NAXIS must be in [0, 999]")?);
                    }
                    "TFIELDS" => {
                        sizes.tfields =
                            Some(int(0, MAX_AXES_OR_FIELDS, "TFIELDS must be in [0, 999]")?);
                    }
                    "THEAP" => {
                        sizes.theap =
                            Some((int(0, i64::MAX, "THEAP must be >= 0")?, value.clone()));
                    }
                    "PCOUNT" => sizes.pcount = Some(int(0, i64::MAX, "PCOUNT must be >= 0")?),
                    "GCOUNT" => sizes.gcount = Some(int(0, i64::MAX, "GCOUNT must be >= 0")?),
                    "GROUPS" => sizes.groups = value == "T",
                    "XTENSION" if position == 0 => {
                        let kind = value.trim_matches(|c: char| c == '\'' || c == ' ');
                        table = matches!(kind, "BINTABLE" | "TABLE" | "A3DTABLE");
                        sizes.bintable = matches!(kind, "BINTABLE" | "A3DTABLE");
                    }
                    k if k.len() > 5 && k.starts_with("TFORM") => {
                        if let Ok(n) = k[5..].parse::<usize>() {
                            let text = value.trim_matches('\'').trim().to_string();
                            sizes.tforms.push((n, text));
                        }
                    }
                    k if k.len() > 5 && k.starts_with("NAXIS") => {
                        if let Ok(n) = k[5..].parse::<usize>() {
                            sizes
                                .axes
                                .push((n, int(0, i64::MAX, "an axis length must be >= 0")?));
                        }
                    }
                    _ => {}
                }
            }
        }
        let data_start = offset + header_blocks * BLOCK;
        let Some(data_bytes) = data_size(&sizes) else {
            // Sizes missing or overflowing u64: overflow is checked here,
            // missing keywords are left to cfitsio.
            if let Some(desc) = overflow_description(&sizes) {
                return Err(Error::parse(
                    Location::new(&source, 0).with_column(format!("FITS HDU {hdu} header")),
                    &desc,
                    "the declared data size overflows 64 bits",
                ));
            }
            return Ok(());
        };
        let available = file_len - data_start;
        if data_bytes > available {
            return Err(Error::parse(
                Location::new(&source, 0).with_column(format!("FITS HDU {hdu} header")),
                &describe(&sizes),
                format!(
                    "the header declares {data_bytes} bytes of data but only {available} bytes \
                     follow it (truncated file or corrupted header)"
                ),
            ));
        }
        if sizes.bintable {
            check_bintable(&mut file, &sizes, data_start, &source, hdu)
                .map_err(|e| e.into_error(path))?;
        }
        offset = data_start + data_bytes.div_ceil(BLOCK) * BLOCK;
        hdu += 1;
    }
    Ok(())
}

/// Runs `read`, a reader built on the `fitsio` crate, and turns a panic
/// inside it into an error naming the file.
///
/// `fitsio` (0.21) panics instead of returning an error in several places:
/// opening a binary table with a column type it has no Rust type for
/// (complex `C`/`M`, variable-length `P`/`Q`) panics in its
/// column-description parser. Readers wrap their
/// `fitsio` calls in this so that such a file gives an error. The panic
/// message is still printed by the process's panic hook.
///
/// # Errors
/// Those of `read`; and [`Error::Parse`] naming the file, with the panic
/// message as the value, when `read` panics.
pub fn without_panics<T, E: From<Error>>(
    path: &Path,
    read: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(r) => r,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            Err(Error::parse(
                Location::new(path.display().to_string(), 0).with_column("FITS file"),
                &message,
                "the FITS library (fitsio) cannot read this file; a table column of a type \
                 it does not support (complex or variable-length array) is the usual cause",
            )
            .into())
        }
    }
}

/// An error of [`check_bintable`]: a located parse error, or an I/O error
/// still to be tied to the path.
enum TableError {
    Parse(Error),
    Io(std::io::Error),
}

impl TableError {
    fn into_error(self, path: &Path) -> Error {
        match self {
            TableError::Parse(e) => e,
            TableError::Io(e) => Error::io(path, e),
        }
    }
}

impl From<Error> for TableError {
    fn from(e: Error) -> Self {
        TableError::Parse(e)
    }
}

/// One binary-table column as its `TFORMn` declares it.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    /// Bytes per row in the main table.
    width: u64,
    /// For a variable-length array (`P` or `Q`) with a descriptor: the
    /// descriptor size (8 or 16 bytes) and the element type code.
    array: Option<(u64, u8)>,
}

/// Bytes of `count` elements of type `code` (`X`: bits, rounded up to bytes).
fn element_bytes(code: u8, count: u64) -> Option<u64> {
    let size = match code {
        b'L' | b'B' | b'A' => 1,
        b'I' => 2,
        b'J' | b'E' => 4,
        b'K' | b'D' | b'C' => 8,
        b'M' => 16,
        b'X' => return Some(count.div_ceil(8)),
        _ => return None,
    };
    count.checked_mul(size)
}

/// Parses a binary-table `TFORMn` value, `rT` or `rPt(emax)` / `rQt(emax)`
/// (FITS standard 4.0, sections 7.3.1 and 7.3.5). `Err` holds the reason.
fn parse_tform(text: &str) -> std::result::Result<Column, String> {
    // cfitsio accepts lower-case codes (messages quote the text as written;
    // upper-casing keeps the byte offsets).
    let written = text;
    let upper = text.to_ascii_uppercase();
    let text = upper.as_str();
    let bytes = text.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let repeat: u64 = if digits == 0 {
        1
    } else {
        text[..digits]
            .parse()
            .map_err(|_| "the repeat count does not fit in 64 bits".to_string())?
    };
    let Some(&code) = bytes.get(digits) else {
        return Err("no data type after the repeat count".into());
    };
    match code {
        b'P' | b'Q' => {
            let desc = if code == b'P' { 8 } else { 16 };
            let Some(&elem) = bytes.get(digits + 1) else {
                return Err("no element type after P/Q".into());
            };
            if element_bytes(elem, 0).is_none() {
                return Err(format!(
                    "unknown element type '{}' of a variable-length array",
                    elem as char
                ));
            }
            let rest = written.get(digits + 2..).unwrap_or("");
            if !rest.is_empty() {
                let emax = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("'{rest}' after the element type is not '(emax)'"))?;
                emax.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("the maximum length '{emax}' is not an integer >= 0"))?;
            }
            if repeat > 1 {
                return Err(format!(
                    "the repeat count of a variable-length array descriptor must be 0 or 1, \
                     not {repeat}"
                ));
            }
            Ok(Column {
                width: desc * repeat,
                array: (repeat == 1).then_some((desc, elem)),
            })
        }
        _ => {
            let width = element_bytes(code, repeat).ok_or_else(|| {
                if element_bytes(code, 0).is_none() {
                    format!("unknown data type '{}'", code as char)
                } else {
                    "the column width overflows 64 bits".to_string()
                }
            })?;
            // Anything after the type code is a free-form addition
            // (e.g. '8A:SSTR'); only the first character sets the width.
            Ok(Column { width, array: None })
        }
    }
}

/// The binary-table checks of one HDU: `BITPIX = 8`, `NAXIS = 2`,
/// `GCOUNT = 1`; the `TFORMn` widths add up to `NAXIS1`; `THEAP` lies within
/// the data unit; and every variable-length-array descriptor points inside
/// the heap. Tables with a `TFORMn` missing are left to cfitsio.
fn check_bintable(
    file: &mut File,
    s: &Sizes,
    data_start: u64,
    source: &str,
    hdu: usize,
) -> std::result::Result<(), TableError> {
    let keyword = |key: &str| {
        Location::new(source, 0).with_column(format!("FITS keyword {key} of HDU {hdu}"))
    };
    for (key, got, want) in [
        ("BITPIX", s.bitpix, 8),
        ("NAXIS", s.naxis, 2),
        ("GCOUNT", s.gcount, 1),
    ] {
        if let Some(v) = got.filter(|&v| v != want) {
            return Err(Error::parse(
                keyword(key),
                &v.to_string(),
                format!("a binary table must have {key} = {want} (FITS standard, section 7.3.1)"),
            )
            .into());
        }
    }
    let axis = |n: usize| s.axes.iter().find(|(k, _)| *k == n).map(|a| a.1);
    let (Some(row_bytes), Some(rows), Some(tfields)) = (axis(1), axis(2), s.tfields) else {
        return Ok(());
    };
    let (row_bytes, rows) = (row_bytes.unsigned_abs(), rows.unsigned_abs());
    let mut columns = Vec::new();
    for n in 1..=usize::try_from(tfields).unwrap_or(0) {
        let Some((_, text)) = s.tforms.iter().find(|(k, _)| *k == n) else {
            return Ok(());
        };
        let column = parse_tform(text)
            .map_err(|why| Error::parse(keyword(&format!("TFORM{n}")), text, why))?;
        columns.push((n, text.clone(), column));
    }
    let total = columns
        .iter()
        .try_fold(0u64, |acc, (_, _, c)| acc.checked_add(c.width));
    if total != Some(row_bytes) {
        let declared: Vec<String> = columns
            .iter()
            .map(|(n, t, _)| format!("TFORM{n} = '{t}'"))
            .collect();
        let sum = total.map_or("more than 2^64".to_string(), |t| t.to_string());
        return Err(Error::parse(
            keyword("NAXIS1"),
            &row_bytes.to_string(),
            format!(
                "the columns take {sum} bytes per row ({}), not NAXIS1",
                declared.join(", ")
            ),
        )
        .into());
    }
    // The data unit holds the main table (NAXIS1 x NAXIS2 bytes), a gap and
    // the heap: PCOUNT bytes after the table, the heap starting at THEAP.
    // Both sizes were checked against the file and against overflow.
    let main = row_bytes * rows;
    let pcount = s.pcount.unwrap_or(0).unsigned_abs();
    let theap = match &s.theap {
        None => main,
        Some((v, text)) => {
            let v = v.unsigned_abs();
            if v < main || v > main + pcount {
                return Err(Error::parse(
                    keyword("THEAP"),
                    text,
                    format!(
                        "the heap must start between the end of the table ({main} bytes = \
                         NAXIS1 x NAXIS2) and the end of the data unit ({} bytes = \
                         NAXIS1 x NAXIS2 + PCOUNT)",
                        main + pcount
                    ),
                )
                .into());
            }
            v
        }
    };
    let heap = main + pcount - theap;
    let arrays: Vec<(u64, usize, &str, u64, u8)> = {
        let mut at = 0u64;
        let mut v = Vec::new();
        for (n, text, c) in &columns {
            if let Some((desc, elem)) = c.array {
                v.push((at, *n, text.as_str(), desc, elem));
            }
            at += c.width;
        }
        v
    };
    if arrays.is_empty() || rows == 0 {
        return Ok(());
    }
    // Read the rows and check every descriptor (count, offset): the array
    // must lie inside the heap.
    file.seek(SeekFrom::Start(data_start))
        .map_err(TableError::Io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, &mut *file);
    let mut row = vec![0u8; usize::try_from(row_bytes).unwrap_or(usize::MAX)];
    for r in 1..=rows {
        reader.read_exact(&mut row).map_err(TableError::Io)?;
        for &(at, n, text, desc, elem) in &arrays {
            let at = at as usize;
            let (count, start) = if desc == 8 {
                let c = i32::from_be_bytes(row[at..at + 4].try_into().unwrap_or([0; 4]));
                let o = i32::from_be_bytes(row[at + 4..at + 8].try_into().unwrap_or([0; 4]));
                (i64::from(c), i64::from(o))
            } else {
                let c = i64::from_be_bytes(row[at..at + 8].try_into().unwrap_or([0; 8]));
                let o = i64::from_be_bytes(row[at + 8..at + 16].try_into().unwrap_or([0; 8]));
                (c, o)
            };
            let end = u64::try_from(count)
                .ok()
                .zip(u64::try_from(start).ok())
                .and_then(|(c, o)| element_bytes(elem, c)?.checked_add(o));
            if end.is_none_or(|e| e > heap) {
                return Err(Error::parse(
                    Location::new(source, 0).with_column(format!(
                        "FITS HDU {hdu}, row {r}, column {n} (TFORM{n} = '{text}')"
                    )),
                    &format!("{count} elements at heap offset {start}"),
                    format!(
                        "the variable-length array descriptor points outside the heap, \
                         which holds {heap} bytes"
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// The keyword the FITS standard requires at card `position` (0-based) of a
/// header: `BITPIX`, `NAXIS`, `NAXIS1`..`NAXISn`, then for an extension
/// `PCOUNT`, `GCOUNT` and for a table `TFIELDS`. `None` past them (or at card
/// 0, checked separately).
fn mandatory_key(position: usize, extension: bool, table: bool, s: &Sizes) -> Option<String> {
    match position {
        0 => None,
        1 => Some("BITPIX".into()),
        2 => Some("NAXIS".into()),
        p => {
            let naxis = usize::try_from(s.naxis?).ok()?;
            let after = p - 3;
            if after < naxis {
                return Some(format!("NAXIS{}", after + 1));
            }
            match (after - naxis, extension, table) {
                (0, true, _) => Some("PCOUNT".into()),
                (1, true, _) => Some("GCOUNT".into()),
                (2, true, true) => Some("TFIELDS".into()),
                _ => None,
            }
        }
    }
}

/// Reads up to one block; returns how many bytes were read (fewer than a
/// block only at the end of the file).
fn read_block(file: &mut File, block: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < block.len() {
        match file.read(&mut block[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The value field of a card (bytes 10..80): the text before a `/` comment,
/// trimmed; a quoted string is returned with its quotes, up to its closing
/// quote (`''` inside is a quote), without the comment that may follow.
fn value_text(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(field);
    let s = s.trim_start();
    if s.starts_with('\'') {
        let b = s.as_bytes();
        let mut i = 1;
        while i < b.len() {
            if b[i] == b'\'' {
                if b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return s[..=i].to_string();
            }
            i += 1;
        }
        // No closing quote: the whole field, as written.
        return s.trim_end().to_string();
    }
    s.split('/').next().unwrap_or("").trim().to_string()
}

/// The product of the axis lengths that size the data ($\prod_n$ NAXIS$n$,
/// NAXIS1 left out for random groups), with `None` on overflow or missing
/// axes.
fn axis_product(s: &Sizes) -> Option<u64> {
    let naxis = usize::try_from(s.naxis?).ok()?;
    if naxis == 0 {
        return Some(0);
    }
    let mut product = 1u64;
    for n in 1..=naxis {
        let len = s.axes.iter().find(|(k, _)| *k == n)?.1;
        if n == 1 && s.groups && len == 0 {
            continue;
        }
        product = product.checked_mul(u64::try_from(len).ok()?)?;
    }
    Some(product)
}

/// Data-unit size in bytes, `None` when a keyword is missing or it overflows.
fn data_size(s: &Sizes) -> Option<u64> {
    let bytes_per = s.bitpix?.unsigned_abs() / 8;
    let product = axis_product(s)?;
    let pcount = u64::try_from(s.pcount.unwrap_or(0)).ok()?;
    let gcount = u64::try_from(s.gcount.unwrap_or(1)).ok()?;
    if product == 0 && pcount == 0 {
        return Some(0);
    }
    bytes_per
        .checked_mul(gcount)?
        .checked_mul(pcount.checked_add(product)?)
}

/// Describes the size keywords when every one is present (so `None` from
/// [`data_size`] means an overflow), else `None`.
fn overflow_description(s: &Sizes) -> Option<String> {
    let naxis = usize::try_from(s.naxis?).ok()?;
    s.bitpix?;
    if (1..=naxis).all(|n| s.axes.iter().any(|(k, _)| *k == n)) {
        Some(describe(s))
    } else {
        None
    }
}

/// `BITPIX = .., NAXIS1 = .., ...` for error messages.
fn describe(s: &Sizes) -> String {
    let mut parts = Vec::new();
    if let Some(b) = s.bitpix {
        parts.push(format!("BITPIX = {b}"));
    }
    let naxis = s.naxis.unwrap_or(0);
    let mut axes: Vec<_> = s
        .axes
        .iter()
        .filter(|(n, _)| i64::try_from(*n).is_ok_and(|n| n <= naxis))
        .collect();
    axes.sort();
    parts.extend(axes.iter().map(|(n, v)| format!("NAXIS{n} = {v}")));
    if let Some(p) = s.pcount.filter(|&p| p != 0) {
        parts.push(format!("PCOUNT = {p}"));
    }
    if let Some(g) = s.gcount.filter(|&g| g != 1) {
        parts.push(format!("GCOUNT = {g}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> String {
        format!("{s:<80}")
    }

    /// A header from cards, padded to whole blocks, followed by `data` bytes.
    fn hdu(cards: &[&str], data: usize) -> Vec<u8> {
        let mut h: String = cards.iter().map(|c| card(c)).collect();
        h.push_str(&card("END"));
        let pad = (2880 - h.len() % 2880) % 2880;
        h.push_str(&" ".repeat(pad));
        let mut bytes = h.into_bytes();
        let padded = data.div_ceil(2880) * 2880;
        bytes.extend(std::iter::repeat_n(0u8, padded));
        bytes
    }

    fn check(name: &str, bytes: &[u8]) -> Result<()> {
        let dir = std::env::temp_dir().join(format!("dp-fitscheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let r = check_fits_headers(&p);
        std::fs::remove_file(&p).ok();
        r
    }

    const PRIMARY_EMPTY: [&str; 3] = [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    0",
    ];

    /// A primary HDU without data, then a 2-axis binary table with the cards
    /// `rest` and `data` bytes.
    fn with_table(rest: &[&str], data: usize) -> Vec<u8> {
        let mut cards = vec![
            "XTENSION= 'BINTABLE'",
            "BITPIX  =                    8",
            "NAXIS   =                    2",
        ];
        cards.extend_from_slice(rest);
        let mut f = hdu(&PRIMARY_EMPTY, 0);
        f.extend(hdu(&cards, data));
        f
    }

    #[test]
    fn valid_image_and_table_pass() {
        // A 3 x 4 x 5 f64 image: 480 bytes of data.
        let img = hdu(
            &[
                "SIMPLE  =                    T / conforms",
                "BITPIX  =                  -64",
                "NAXIS   =                    3",
                "NAXIS1  =                    3",
                "NAXIS2  =                    4",
                "NAXIS3  =                    5",
            ],
            480,
        );
        assert!(check("img.fits", &img).is_ok());
        // Primary without data, then a binary table of 10 rows of 24 bytes.
        let f = with_table(
            &[
                "NAXIS1  =                   24",
                "NAXIS2  =                   10",
                "PCOUNT  =                    0",
                "GCOUNT  =                    1",
                "TFIELDS =                    3",
            ],
            240,
        );
        assert!(check("tab.fits", &f).is_ok());
    }

    #[test]
    fn absurd_keywords_are_named_with_their_value() {
        let f = with_table(
            &[
                "NAXIS1  =                   24",
                "NAXIS2  =                    0",
                "PCOUNT  =                    0",
                "GCOUNT  =                    1",
                "TFIELDS =         999999999999",
            ],
            0,
        );
        let e = check("tf.fits", &f).unwrap_err().to_string();
        assert!(
            e.contains("tf.fits") && e.contains("TFIELDS of HDU 2"),
            "{e}"
        );
        assert!(
            e.contains("'999999999999'") && e.contains("[0, 999]"),
            "{e}"
        );

        for (cards, key, value) in [
            (
                [
                    "BITPIX  =                   12",
                    "NAXIS   =                    0",
                ],
                "BITPIX",
                "12",
            ),
            (
                [
                    "BITPIX  =                    8",
                    "NAXIS   =                 1000",
                ],
                "NAXIS",
                "1000",
            ),
            (
                [
                    "BITPIX  =                    8",
                    "NAXIS   =                  2.5",
                ],
                "NAXIS",
                "2.5",
            ),
        ] {
            let mut c = vec!["SIMPLE  =                    T"];
            c.extend(cards);
            let e = check("k.fits", &hdu(&c, 0)).unwrap_err().to_string();
            assert!(e.contains(&format!("FITS keyword {key} of HDU 1")), "{e}");
            assert!(e.contains(&format!("(found '{value}')")), "{e}");
        }
        let e = check(
            "neg.fits",
            &hdu(
                &[
                    "SIMPLE  =                    T",
                    "BITPIX  =                    8",
                    "NAXIS   =                    1",
                    "NAXIS1  =                   -5",
                ],
                0,
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("NAXIS1") && e.contains("'-5'"), "{e}");
    }

    #[test]
    fn data_larger_than_the_file_is_refused_before_any_allocation() {
        // 2 x 2 x 8 bytes = 32 declared, 0 present.
        let cards = [
            "SIMPLE  =                    T",
            "BITPIX  =                  -64",
            "NAXIS   =                    2",
            "NAXIS1  =                    2",
            "NAXIS2  =                    2",
        ];
        let e = check("short.fits", &hdu(&cards, 0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("declares 32 bytes") && e.contains("only 0 bytes"),
            "{e}"
        );
        assert!(e.contains("NAXIS1 = 2, NAXIS2 = 2"), "{e}");
        assert!(check("ok.fits", &hdu(&cards, 32)).is_ok());
        // A product that overflows u64.
        let big = [
            "SIMPLE  =                    T",
            "BITPIX  =                  -64",
            "NAXIS   =                    2",
            "NAXIS1  =  9000000000000000000",
            "NAXIS2  =  9000000000000000000",
        ];
        let e = check("ovf.fits", &hdu(&big, 0)).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        // The heap counts: PCOUNT bytes after the table.
        let f = with_table(
            &[
                "NAXIS1  =                    8",
                "NAXIS2  =                    1",
                "PCOUNT  =              5000000",
                "GCOUNT  =                    1",
                "TFIELDS =                    1",
            ],
            8,
        );
        let e = check("heap.fits", &f).unwrap_err().to_string();
        assert!(e.contains("HDU 2") && e.contains("5000008 bytes"), "{e}");
    }

    #[test]
    fn mandatory_keywords_must_stand_in_their_places() {
        // The second `fits` fuzz finding: the NAXIS2 card's name mangled.
        let e = check(
            "mangled.fits",
            &with_table(
                &[
                    "NAXIS1  =                   67",
                    "NAXIS\u{1}\u{2}\u{3}                    2",
                    "PCOUNT  =                    0",
                    "GCOUNT  =                    1",
                    "TFIELDS =                    7",
                ],
                0,
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("HDU 2 header, card 5") && e.contains("keyword NAXIS2"),
            "{e}"
        );
        // A table without GCOUNT, and an image whose BITPIX is not second.
        let e = check(
            "nogcount.fits",
            &with_table(
                &[
                    "NAXIS1  =                    8",
                    "NAXIS2  =                    0",
                    "PCOUNT  =                    0",
                    "TFIELDS =                    1",
                ],
                0,
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("card 7") && e.contains("keyword GCOUNT"), "{e}");
        assert!(
            e.contains("(found 'TFIELDS =                    1')"),
            "{e}"
        );
        let e = check(
            "order.fits",
            &hdu(
                &[
                    "SIMPLE  =                    T",
                    "NAXIS   =                    0",
                    "BITPIX  =                    8",
                ],
                0,
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("HDU 1 header, card 2") && e.contains("keyword BITPIX"),
            "{e}"
        );
        // An image extension needs PCOUNT and GCOUNT but no TFIELDS.
        let mut f = hdu(&PRIMARY_EMPTY, 0);
        f.extend(hdu(
            &[
                "XTENSION= 'IMAGE   '",
                "BITPIX  =                  -32",
                "NAXIS   =                    1",
                "NAXIS1  =                    4",
                "PCOUNT  =                    0",
                "GCOUNT  =                    1",
            ],
            16,
        ));
        assert!(check("imgext.fits", &f).is_ok());
    }

    #[test]
    fn a_header_cut_before_its_end_card_is_refused() {
        let h = hdu(&PRIMARY_EMPTY, 0);
        let e = check("cut.fits", &h[..1000]).unwrap_err().to_string();
        assert!(
            e.contains("cut.fits") && e.contains("HDU 1") && e.contains("byte 1000"),
            "{e}"
        );
        // An extension whose header runs past the end of the file, without
        // END: the shape of the `fits` fuzz finding.
        let mut f = hdu(&PRIMARY_EMPTY, 0);
        let ext = hdu(
            &["XTENSION= 'BINTABLE'", "BITPIX  =                    8"],
            0,
        );
        f.extend_from_slice(&ext[..400]);
        let e = check("ext.fits", &f).unwrap_err().to_string();
        assert!(e.contains("HDU 2") && e.contains("byte 3280"), "{e}");
        // A header longer than one block with END in the second: accepted.
        let many: Vec<String> = (0..40).map(|i| format!("COMMENT {i}")).collect();
        let mut cards: Vec<&str> = PRIMARY_EMPTY.to_vec();
        cards.extend(many.iter().map(String::as_str));
        let two = hdu(&cards, 0);
        assert_eq!(two.len(), 5760);
        assert!(check("two.fits", &two).is_ok());
        // ... and refused when cut inside the second block.
        let e = check("two-cut.fits", &two[..3000]).unwrap_err().to_string();
        assert!(e.contains("byte 3000"), "{e}");
    }

    /// A header from cards, padded to whole blocks, followed by `data`
    /// padded with zeros to whole blocks.
    fn hdu_with(cards: &[String], data: &[u8]) -> Vec<u8> {
        let mut h: String = cards.iter().map(|c| card(c)).collect();
        h.push_str(&card("END"));
        let pad = (2880 - h.len() % 2880) % 2880;
        h.push_str(&" ".repeat(pad));
        let mut bytes = h.into_bytes();
        bytes.extend_from_slice(data);
        bytes.extend(std::iter::repeat_n(
            0u8,
            data.len().div_ceil(2880) * 2880 - data.len(),
        ));
        bytes
    }

    /// A primary HDU without data, then a binary table with the columns
    /// `tforms`, rows of `row_bytes` and `rows` rows, the extra cards `extra`
    /// and the data bytes `data` (table and heap).
    fn table_file(
        tforms: &[&str],
        row_bytes: usize,
        rows: usize,
        pcount: usize,
        extra: &[&str],
        data: &[u8],
    ) -> Vec<u8> {
        let mut cards = vec![
            "XTENSION= 'BINTABLE'           / binary table extension".to_string(),
            "BITPIX  =                    8".to_string(),
            "NAXIS   =                    2".to_string(),
            format!("NAXIS1  = {row_bytes:>20}"),
            format!("NAXIS2  = {rows:>20}"),
            format!("PCOUNT  = {pcount:>20}"),
            "GCOUNT  =                    1".to_string(),
            format!("TFIELDS = {:>20}", tforms.len()),
        ];
        for (i, t) in tforms.iter().enumerate() {
            cards.push(format!("TFORM{:<3}= '{t:<8}'           / format", i + 1));
            cards.push(format!("TTYPE{:<3}= 'COL{}'", i + 1, i + 1));
        }
        cards.extend(extra.iter().map(|c| c.to_string()));
        let mut f = hdu(&PRIMARY_EMPTY, 0);
        f.extend(hdu_with(&cards, data));
        f
    }

    /// One row of a table with the columns 1D, 3E, 12X, 8A, 1PE(5), 1QD(3):
    /// 8 + 12 + 2 + 8 + 8 + 16 = 54 bytes; the arrays are (p_count, p_offset)
    /// and (q_count, q_offset).
    fn row(p: (i32, i32), q: (i64, i64)) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(1.5f64.to_be_bytes());
        for x in [1.0f32, 2.0, 3.0] {
            r.extend(x.to_be_bytes());
        }
        r.extend([0xffu8, 0xf0]);
        r.extend(b"ABCDEFGH");
        r.extend(p.0.to_be_bytes());
        r.extend(p.1.to_be_bytes());
        r.extend(q.0.to_be_bytes());
        r.extend(q.1.to_be_bytes());
        r
    }

    const MIXED: [&str; 6] = ["1D", "3E", "12X", "8A", "1PE(5)", "1QD(3)"];

    /// Two rows and a heap of `heap` bytes (after a gap of `gap` bytes
    /// announced by THEAP when `gap > 0`) with the given descriptors.
    fn mixed_table(descriptors: [((i32, i32), (i64, i64)); 2], gap: usize, heap: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for (p, q) in descriptors {
            data.extend(row(p, q));
        }
        data.extend(std::iter::repeat_n(0u8, gap + heap));
        let theap = format!("THEAP   = {:>20}", 2 * 54 + gap);
        let extra: Vec<&str> = if gap > 0 {
            vec![theap.as_str()]
        } else {
            vec![]
        };
        table_file(&MIXED, 54, 2, gap + heap, &extra, &data)
    }

    #[test]
    fn valid_binary_tables_with_variable_length_arrays_pass() {
        // Row 1: 5 floats at 0 (20 bytes), 3 doubles at 20 (24 bytes);
        // row 2: 2 floats at 44, no doubles. The heap holds 52 bytes.
        let d = [((5, 0), (3, 20)), ((2, 44), (0, 0))];
        assert!(check("vla.fits", &mixed_table(d, 0, 52)).is_ok());
        // The same with a gap of 10 bytes between table and heap (THEAP).
        assert!(check("gap.fits", &mixed_table(d, 10, 52)).is_ok());
        // Lower-case codes, a repeat count 0, a free-form suffix, and a
        // descriptor-less P column (repeat 0): widths 4 + 0 + 5 + 0.
        let f = table_file(&["1e", "0D", "5A:SSTR", "0PE"], 9, 1, 0, &[], &[0u8; 9]);
        assert!(check("odd.fits", &f).is_ok());
    }

    #[test]
    fn tform_widths_must_add_up_to_naxis1() {
        // 54 bytes of columns declared in 50-byte rows.
        let mut data = row((0, 0), (0, 0));
        data.truncate(50);
        let e = check("w.fits", &table_file(&MIXED, 50, 1, 0, &[], &data))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("w.fits") && e.contains("FITS keyword NAXIS1 of HDU 2"),
            "{e}"
        );
        assert!(
            e.contains("(found '50')")
                && e.contains("54 bytes per row")
                && e.contains("TFORM5 = '1PE(5)'"),
            "{e}"
        );
        // A repeat count that overflows when multiplied by the element size.
        let e = check(
            "big.fits",
            &table_file(&["4611686018427387904D"], 8, 0, 0, &[], &[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("TFORM1 of HDU 2") && e.contains("overflows"),
            "{e}"
        );
    }

    #[test]
    fn malformed_tforms_are_named_with_their_value() {
        for (tform, why) in [
            ("1Z", "unknown data type 'Z'"),
            ("-1E", "unknown data type '-'"),
            ("", "no data type"),
            ("99999999999999999999E", "64 bits"),
            ("2PE(4)", "must be 0 or 1"),
            ("1PZ", "unknown element type 'Z'"),
            ("1PE(x)", "'x' is not an integer"),
            ("1PE[4]", "is not '(emax)'"),
        ] {
            let f = table_file(&[tform], 8, 0, 0, &[], &[]);
            let e = check("tf.fits", &f).unwrap_err().to_string();
            assert!(e.contains("FITS keyword TFORM1 of HDU 2"), "{tform}: {e}");
            assert!(e.contains(&format!("(found '{tform}')")), "{tform}: {e}");
            assert!(e.contains(why), "{tform}: {e}");
        }
    }

    #[test]
    fn theap_and_descriptors_must_stay_inside_the_data_unit() {
        // THEAP before the end of the table, and past the end of the data.
        for theap in [100, 200] {
            let mut data = row((0, 0), (0, 0));
            data.extend(row((0, 0), (0, 0)));
            data.extend([0u8; 40]);
            let card = format!("THEAP   = {theap:>20}");
            let f = table_file(&MIXED, 54, 2, 40, &[card.as_str()], &data);
            let e = check("th.fits", &f).unwrap_err().to_string();
            assert!(e.contains("FITS keyword THEAP of HDU 2"), "{e}");
            assert!(
                e.contains(&format!("(found '{theap}')")) && e.contains("108 bytes"),
                "{e}"
            );
        }
        // A descriptor past the end of the heap (5 floats at 40 need 60 of 52
        // bytes), a negative count, a negative offset, and a Q descriptor
        // whose count overflows when multiplied by 8.
        for (d, row_no, col, found) in [
            (
                [((5, 0), (3, 20)), ((5, 40), (0, 0))],
                2,
                5,
                "5 elements at heap offset 40",
            ),
            ([((-1, 0), (0, 0)), ((0, 0), (0, 0))], 1, 5, "-1 elements"),
            (
                [((0, 0), (1, -8)), ((0, 0), (0, 0))],
                1,
                6,
                "heap offset -8",
            ),
            (
                [((0, 0), (i64::MAX, 0)), ((0, 0), (0, 0))],
                1,
                6,
                "9223372036854775807 elements",
            ),
        ] {
            let e = check("desc.fits", &mixed_table(d, 0, 52))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "FITS HDU 2, row {row_no}, column {col} (TFORM{col} = "
                )),
                "{e}"
            );
            assert!(e.contains(found) && e.contains("holds 52 bytes"), "{e}");
        }
        // The same descriptor is fine once THEAP leaves no gap and the heap
        // is large enough: 5 floats at 40 in a heap of 60 bytes.
        let d = [((5, 0), (3, 20)), ((5, 40), (0, 0))];
        assert!(check("desc-ok.fits", &mixed_table(d, 0, 60)).is_ok());
    }

    #[test]
    fn binary_tables_need_bitpix_8_naxis_2_gcount_1() {
        let e = check(
            "bp.fits",
            &with_table(
                &[
                    "NAXIS1  =                    8",
                    "NAXIS2  =                    0",
                    "PCOUNT  =                    0",
                    "GCOUNT  =                    2",
                    "TFIELDS =                    1",
                    "TFORM1  = '1D      '",
                ],
                0,
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("GCOUNT of HDU 2") && e.contains("GCOUNT = 1"),
            "{e}"
        );
    }

    #[test]
    fn files_it_does_not_understand_are_left_to_cfitsio() {
        assert!(check("empty.fits", b"").is_ok());
        assert!(check("text.fits", "not fits ".repeat(400).as_bytes()).is_ok());
        // Junk after the last HDU.
        let mut f = hdu(&PRIMARY_EMPTY, 0);
        f.extend(std::iter::repeat_n(b'x', 3000));
        assert!(check("junk.fits", &f).is_ok());
        // A partial block after the last HDU.
        let mut f = hdu(&PRIMARY_EMPTY, 0);
        f.extend_from_slice(b"trailing");
        assert!(check("tail.fits", &f).is_ok());
        // A missing path is an I/O error naming it.
        let e = check_fits_headers("/nonexistent/x.fits")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x.fits"), "{e}");
    }

    #[test]
    fn without_panics_turns_a_panic_into_an_error_naming_the_file() {
        let p = Path::new("/data/catalog.fits");
        let ok: Result<u8> = without_panics(p, || Ok(7));
        assert_eq!(ok.unwrap(), 7);
        let passed: Result<u8> = without_panics(p, || Err(Error::empty("rows", "give one")));
        assert!(!passed.unwrap_err().to_string().contains("fitsio"));
        let caught: Result<u8> = without_panics(p, || panic!("no type for column 3 of 'L'"));
        let e = caught.unwrap_err().to_string();
        assert!(
            e.contains("/data/catalog.fits")
                && e.contains("no type for column 3")
                && e.contains("fitsio"),
            "{e}"
        );
    }
}
