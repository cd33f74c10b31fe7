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
//!   header, so a reader never allocates more than about the file's size.
//!
//! - a header cut short by the end of the file before its `END` card.
//!
//! Anything else (a file that does not start with `SIMPLE`, bytes after the
//! last HDU that do not start with `XTENSION`, missing keywords) is left to
//! cfitsio, which reports it without large allocations.
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

/// The integer keywords of one header that size its data unit.
#[derive(Default)]
struct Sizes {
    bitpix: Option<i64>,
    naxis: Option<i64>,
    axes: Vec<(usize, i64)>,
    pcount: Option<i64>,
    gcount: Option<i64>,
    groups: bool,
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
                        int(0, MAX_AXES_OR_FIELDS, "TFIELDS must be in [0, 999]")?;
                    }
                    "PCOUNT" => sizes.pcount = Some(int(0, i64::MAX, "PCOUNT must be >= 0")?),
                    "GCOUNT" => sizes.gcount = Some(int(0, i64::MAX, "GCOUNT must be >= 0")?),
                    "GROUPS" => sizes.groups = value == "T",
                    "XTENSION" if position == 0 => {
                        let kind = value.trim_matches(|c: char| c == '\'' || c == ' ');
                        table = matches!(kind, "BINTABLE" | "TABLE" | "A3DTABLE");
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
        offset = data_start + data_bytes.div_ceil(BLOCK) * BLOCK;
        hdu += 1;
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
/// trimmed; quoted strings keep their quotes.
fn value_text(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(field);
    let s = s.trim_start();
    if s.starts_with('\'') {
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
}
