//! Lists of dark-matter masses: a file with one mass (GeV) per line, like the
//! package's `scan_DM_mass.dat`, or a comma-separated list such as `"10,100,1000"`.
//!
//! ```
//! use darkprobe_dwarfs::masses::{parse_mass_list, mass_list};
//! assert_eq!(parse_mass_list("10, 100,1e3").unwrap(), vec![10.0, 100.0, 1000.0]);
//! // Something that is not a file is read as a list.
//! assert_eq!(mass_list("8,10").unwrap(), vec![8.0, 10.0]);
//! assert!(parse_mass_list("10,-5").unwrap_err().to_string().contains("-5"));
//! ```

use crate::error::Result;
use darkprobe_core::table::{Header, Table, TableOptions};
use darkprobe_core::{Error, Location};
use std::path::Path;

fn check_mass(m: f64, at: Location, text: &str) -> Result<f64> {
    if m.is_finite() && m > 0.0 {
        Ok(m)
    } else {
        Err(Error::parse(at, text, "a dark-matter mass must be finite and > 0 (GeV)").into())
    }
}

/// Reads a mass file: one mass in GeV per line (the first column; `#` comments
/// and blank lines are skipped).
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming the file, line and value for a value
/// that is not a positive finite number or repeats an earlier mass; an empty
/// file.
pub fn read_mass_list(path: impl AsRef<Path>) -> Result<Vec<f64>> {
    let t = Table::read(path, &TableOptions::default().with_header(Header::Absent))?;
    let mut out: Vec<f64> = Vec::with_capacity(t.n_rows());
    for row in t.rows() {
        let text = row.get(0)?;
        let m = row.get_f64(0)?;
        let at = Location::new(t.source(), row.line()).with_column("0");
        let m = check_mass(m, at.clone(), text)?;
        if let Some(k) = out.iter().position(|&p| p == m) {
            return Err(Error::parse(
                at,
                text,
                format!(
                    "duplicate mass: {m} GeV is already on line {}",
                    t.line_of(k).unwrap_or(0)
                ),
            )
            .into());
        }
        out.push(m);
    }
    Ok(out)
}

/// Parses a comma-separated list of masses in GeV (`"10,100,1000"`).
///
/// # Errors
/// An empty list or item, an item that is not a positive finite number, or a
/// repeated mass (the error names the item's position and text).
pub fn parse_mass_list(text: &str) -> Result<Vec<f64>> {
    if text.trim().is_empty() {
        return Err(Error::empty(
            "mass list",
            "give masses in GeV, e.g. '10,100,1000', or a file with one per line",
        )
        .into());
    }
    let mut out: Vec<f64> = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        let at = Location::new("mass list", 0).with_column(format!("item {}", i + 1));
        let m = darkprobe_core::table::parse_f64_at(item, &at)?;
        let m = check_mass(m, at.clone(), item)?;
        if let Some(k) = out.iter().position(|&p| p == m) {
            return Err(Error::parse(
                at,
                item,
                format!("duplicate mass: {m} GeV is already item {}", k + 1),
            )
            .into());
        }
        out.push(m);
    }
    Ok(out)
}

/// A mass list from a command-line argument: the file `arg` if one exists,
/// otherwise `arg` parsed as a comma-separated list.
///
/// # Errors
/// As [`read_mass_list`] or [`parse_mass_list`].
pub fn mass_list(arg: &str) -> Result<Vec<f64>> {
    let p = Path::new(arg.trim());
    if p.is_file() {
        read_mass_list(p)
    } else {
        parse_mass_list(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_files() {
        assert!(parse_mass_list("").is_err());
        let e = parse_mass_list("10,,100").unwrap_err().to_string();
        assert!(e.contains("item 2"), "{e}");
        assert!(parse_mass_list("abc")
            .unwrap_err()
            .to_string()
            .contains("abc"));
        assert!(parse_mass_list("inf").is_err());
        let dir =
            std::env::temp_dir().join(format!("darkprobe-dwarfs-masses-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.dat");
        std::fs::write(&f, "# masses\n8.0\n\n100\n").unwrap();
        assert_eq!(mass_list(f.to_str().unwrap()).unwrap(), vec![8.0, 100.0]);
        std::fs::write(&f, "8.0\n0\n").unwrap();
        let e = read_mass_list(&f).unwrap_err().to_string();
        assert!(e.contains("m.dat, line 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
