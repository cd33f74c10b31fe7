//! The dwarf table: names, positions, J-factors and exposures, and selections
//! of dwarfs by name.
//!
//! The MLFermiLATDwarfs summary table (`default_dwarf_summary_table.dat`) has
//! comment lines starting with `#` and one row per dwarf: name, Galactic $l$ and
//! $b$ (deg), $\log_{10} J$ (J in GeV$^2$ cm$^{-5}$, within 0.5 deg), its Gaussian
//! uncertainty $\sigma_{\log_{10} J}$ (dex), then the LAT exposure (cm$^2$ s) at the
//! dwarf in each fine energy bin. Names are matched case-insensitively, and a
//! `+`-joined list (`"Draco+UrsaMinor"`) selects several dwarfs.
//!
//! ```
//! use darkprobe_dwarfs::DwarfTable;
//! let text = "#### name l b logJ sigma exposures\n\
//!             Draco     86.37 34.72 18.8 0.16 1e11 2e11\n\
//!             UrsaMinor 104.97 44.80 18.8 0.19 1.5e11 2.5e11\n";
//! let t = DwarfTable::parse_str(text, "table.dat").unwrap();
//! assert_eq!(t.len(), 2);
//! let sel = t.select("ursaminor+DRACO").unwrap();
//! assert_eq!(sel.indices(), &[1, 0]);
//! assert_eq!(t.get(sel.indices()[0]).unwrap().name, "UrsaMinor");
//! let err = t.find("Fornax").unwrap_err().to_string();
//! assert!(err.contains("Draco, UrsaMinor"), "{err}");
//! ```

use crate::binning::EnergyBinning;
use crate::error::{DwarfsError, Result};
use darkprobe_core::table::{Header, Table, TableOptions};
use darkprobe_core::{Error, Location};
use std::path::Path;

/// One dwarf spheroidal galaxy as the analysis sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dwarf {
    /// Name as written in the table (e.g. `UrsaMinor`).
    pub name: String,
    /// Galactic longitude, degrees.
    pub l_deg: f64,
    /// Galactic latitude, degrees.
    pub b_deg: f64,
    /// $\log_{10}$ of the mean J-factor within 0.5 deg, J in GeV$^2$ cm$^{-5}$.
    pub log10_j: f64,
    /// Uncertainty of $\log_{10} J$ (dex), used as a Gaussian standard deviation.
    pub log10_j_sigma: f64,
    /// LAT exposure at the dwarf in each fine energy bin, cm$^2$ s.
    pub exposure_cm2_s: Vec<f64>,
}

impl Dwarf {
    /// The exposure in each macro bin of `binning` (the mean of its fine bins).
    ///
    /// # Errors
    /// The dwarf has a number of exposures other than `binning.n_fine()`.
    pub fn macro_exposure_cm2_s(&self, binning: &EnergyBinning) -> Result<Vec<f64>> {
        binning.merge_exposure(&self.exposure_cm2_s).map_err(|_| {
            Error::shape(
                format!("exposures of dwarf '{}'", self.name),
                format!("{} fine energy bins", binning.n_fine()),
                self.exposure_cm2_s.len(),
            )
            .into()
        })
    }

    /// Checks the values. `cells` are the row's cells as written in the file
    /// (name, l, b, log10 J, sigma, exposures...), quoted in the error instead
    /// of the re-formatted number; `None` for dwarfs built in code.
    fn validate(&self, at: &Location, cells: Option<&[String]>) -> Result<()> {
        let bad = |what: &str, col: usize, v: f64, why: &str| -> DwarfsError {
            let text = cells
                .and_then(|c| c.get(col))
                .map_or_else(|| v.to_string(), |t| t.trim().to_string());
            Error::parse(at.clone().with_column(what), &text, why).into()
        };
        if self.name.is_empty() || self.name.contains('+') {
            return Err(Error::parse(
                at.clone(),
                &self.name,
                "a dwarf name must be non-empty and contain no '+'",
            )
            .into());
        }
        if !self.l_deg.is_finite() {
            return Err(bad("l", 1, self.l_deg, "longitude must be finite"));
        }
        if !(-90.0..=90.0).contains(&self.b_deg) {
            return Err(bad("b", 2, self.b_deg, "latitude must be in [-90, 90] deg"));
        }
        if !self.log10_j.is_finite() {
            return Err(bad("log10_j", 3, self.log10_j, "log10 J must be finite"));
        }
        if !(self.log10_j_sigma.is_finite() && self.log10_j_sigma > 0.0) {
            return Err(bad(
                "log10_j_sigma",
                4,
                self.log10_j_sigma,
                "the log10 J uncertainty must be finite and > 0",
            ));
        }
        if self.exposure_cm2_s.is_empty() {
            return Err(Error::parse(
                at.clone(),
                &self.name,
                "no exposure columns after the 5 leading columns",
            )
            .into());
        }
        for (k, e) in self.exposure_cm2_s.iter().enumerate() {
            if !(e.is_finite() && *e > 0.0) {
                return Err(bad(
                    &format!("exposure bin {k}"),
                    5 + k,
                    *e,
                    "exposures must be finite and > 0 (cm^2 s)",
                ));
            }
        }
        Ok(())
    }
}

/// The dwarfs of a summary table, in table order.
#[derive(Debug, Clone, PartialEq)]
pub struct DwarfTable {
    dwarfs: Vec<Dwarf>,
    source: String,
}

/// An ordered selection of dwarfs from a [`DwarfTable`] (indices into the table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    indices: Vec<usize>,
}

impl Selection {
    /// The selected table indices, in the order given.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
    /// Number of selected dwarfs.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// True when nothing is selected (never for a parsed selection).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

impl DwarfTable {
    /// Reads a summary table in the MLFermiLATDwarfs format (see the module docs).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Parse`] naming the
    /// file, line and value for a row with fewer than 6 columns, a non-numeric
    /// or invalid value ($|b| > 90$, $\sigma \le 0$, exposure $\le 0$); a
    /// duplicate name (case-insensitive) or an empty table.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let t = Table::read(path, &Self::options())?;
        Self::from_table(&t)
    }

    /// Parses a summary table held in memory; `source_name` appears in errors.
    ///
    /// # Errors
    /// As [`DwarfTable::read`].
    pub fn parse_str(text: &str, source_name: &str) -> Result<Self> {
        let t = Table::parse_str(text, source_name, &Self::options())?;
        Self::from_table(&t)
    }

    fn options() -> TableOptions {
        TableOptions::default().with_header(Header::Absent)
    }

    fn from_table(t: &Table) -> Result<Self> {
        if t.n_cols() < 6 {
            return Err(Error::parse(
                Location::new(t.source(), t.line_of(0).unwrap_or(0)),
                &t.row_cells(0).map(|c| c.join(" ")).unwrap_or_default(),
                format!("a dwarf row needs at least 6 columns (name, l, b, log10 J, sigma, exposures...), found {}", t.n_cols()),
            )
            .into());
        }
        let mut dwarfs = Vec::with_capacity(t.n_rows());
        for row in t.rows() {
            let d = Dwarf {
                name: row.get(0)?.to_string(),
                l_deg: row.get_f64(1)?,
                b_deg: row.get_f64(2)?,
                log10_j: row.get_f64(3)?,
                log10_j_sigma: row.get_f64(4)?,
                exposure_cm2_s: (5..t.n_cols())
                    .map(|j| row.get_f64(j))
                    .collect::<darkprobe_core::Result<_>>()?,
            };
            d.validate(&Location::new(t.source(), row.line()), Some(row.cells()))?;
            if let Some(k) = dwarfs
                .iter()
                .position(|p: &Dwarf| p.name.eq_ignore_ascii_case(&d.name))
            {
                return Err(Error::parse(
                    Location::new(t.source(), row.line()).with_column("0"),
                    &d.name,
                    format!(
                        "duplicate dwarf name (case-insensitive): '{}' of line {} appears twice",
                        dwarfs[k].name,
                        t.line_of(k).unwrap_or(0)
                    ),
                )
                .into());
            }
            dwarfs.push(d);
        }
        Self::from_dwarfs_named(dwarfs, t.source())
    }

    /// A table from dwarfs built in code.
    ///
    /// # Errors
    /// No dwarf, a duplicate name (case-insensitive), or an invalid dwarf
    /// (see [`DwarfTable::read`]).
    pub fn from_dwarfs(dwarfs: Vec<Dwarf>) -> Result<Self> {
        for (i, d) in dwarfs.iter().enumerate() {
            d.validate(&Location::new("<dwarf list>", i + 1), None)?;
        }
        Self::from_dwarfs_named(dwarfs, "<dwarf list>")
    }

    fn from_dwarfs_named(dwarfs: Vec<Dwarf>, source: &str) -> Result<Self> {
        if dwarfs.is_empty() {
            return Err(
                Error::empty(format!("dwarf table '{source}'"), "give at least one dwarf").into(),
            );
        }
        for (i, d) in dwarfs.iter().enumerate() {
            if let Some(prev) = dwarfs[..i]
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&d.name))
            {
                return Err(Error::invalid_param(
                    format!("dwarf name in '{source}'"),
                    &d.name,
                    format!("names unique ignoring case ('{}' appears twice)", prev.name),
                )
                .into());
            }
        }
        Ok(Self {
            dwarfs,
            source: source.to_string(),
        })
    }

    /// Where the table came from.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// Number of dwarfs.
    pub fn len(&self) -> usize {
        self.dwarfs.len()
    }
    /// Always false for a constructed table.
    pub fn is_empty(&self) -> bool {
        self.dwarfs.is_empty()
    }
    /// The dwarfs in table order.
    pub fn dwarfs(&self) -> &[Dwarf] {
        &self.dwarfs
    }
    /// The dwarf at table index `i`.
    pub fn get(&self, i: usize) -> Option<&Dwarf> {
        self.dwarfs.get(i)
    }
    /// The names in table order.
    pub fn names(&self) -> Vec<&str> {
        self.dwarfs.iter().map(|d| d.name.as_str()).collect()
    }

    /// The table index of the dwarf called `name` (case-insensitive, surrounding
    /// whitespace ignored).
    ///
    /// # Errors
    /// [`DwarfsError::UnknownDwarf`] listing the known names.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        let want = name.trim();
        self.dwarfs
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(want))
            .ok_or_else(|| DwarfsError::UnknownDwarf {
                name: want.to_string(),
                known: self.names().join(", "),
            })
    }

    /// The dwarf called `name` (case-insensitive).
    ///
    /// # Errors
    /// As [`DwarfTable::index_of`].
    pub fn find(&self, name: &str) -> Result<&Dwarf> {
        Ok(&self.dwarfs[self.index_of(name)?])
    }

    /// Parses a `+`-joined list of names (`"Draco+UrsaMinor"`, case-insensitive)
    /// into a selection, in the order given; `"all"` selects the whole table.
    ///
    /// # Errors
    /// An empty list or empty name, a name given twice, or an unknown name
    /// ([`DwarfsError::UnknownDwarf`] listing the known ones).
    pub fn select(&self, spec: &str) -> Result<Selection> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("all") {
            return Ok(Selection {
                indices: (0..self.len()).collect(),
            });
        }
        let mut indices = Vec::new();
        for part in spec.split('+') {
            if part.trim().is_empty() {
                return Err(Error::invalid_param(
                    "dwarf selection",
                    format!("'{spec}'"),
                    "names joined by '+', e.g. 'Draco+UrsaMinor', or 'all'",
                )
                .into());
            }
            let i = self.index_of(part)?;
            if indices.contains(&i) {
                return Err(Error::invalid_param(
                    "dwarf selection",
                    format!("'{spec}'"),
                    format!(
                        "each dwarf at most once ('{}' repeats)",
                        self.dwarfs[i].name
                    ),
                )
                .into());
            }
            indices.push(i);
        }
        Ok(Selection { indices })
    }

    /// A selection from table indices.
    ///
    /// # Errors
    /// An index out of range or repeated, or no index.
    pub fn select_indices(&self, indices: &[usize]) -> Result<Selection> {
        if indices.is_empty() {
            return Err(Error::empty("dwarf selection", "select at least one dwarf").into());
        }
        for (k, &i) in indices.iter().enumerate() {
            if i >= self.len() || indices[..k].contains(&i) {
                return Err(Error::invalid_param(
                    "dwarf index",
                    i,
                    format!("distinct indices below {}", self.len()),
                )
                .into());
            }
        }
        Ok(Selection {
            indices: indices.to_vec(),
        })
    }

    /// The macro-bin exposures of every dwarf, `[dwarf][bin]`.
    ///
    /// # Errors
    /// A dwarf whose number of exposures differs from `binning.n_fine()`.
    pub fn macro_exposures_cm2_s(&self, binning: &EnergyBinning) -> Result<Vec<Vec<f64>>> {
        self.dwarfs
            .iter()
            .map(|d| d.macro_exposure_cm2_s(binning))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "#### header\n\
        Draco 86.37 34.72 18.8 0.16 1 2 3\n\
        UrsaMinor 104.97 44.80 18.8 0.19 4 5 6\n\
        Sculptor 287.53 -83.16 18.6 0.18 7 8 9\n";

    #[test]
    fn reads_and_selects() {
        let t = DwarfTable::parse_str(TEXT, "t.dat").unwrap();
        assert_eq!(t.names(), vec!["Draco", "UrsaMinor", "Sculptor"]);
        assert_eq!(t.find("sculptor").unwrap().b_deg, -83.16);
        assert_eq!(t.select(" Sculptor + draco ").unwrap().indices(), &[2, 0]);
        assert_eq!(t.select("ALL").unwrap().indices(), &[0, 1, 2]);
        assert!(t.select("Draco+").is_err());
        assert!(t
            .select("Draco+draco")
            .unwrap_err()
            .to_string()
            .contains("repeats"));
        let e = t.select("Draco+Segue").unwrap_err();
        assert!(matches!(e, DwarfsError::UnknownDwarf { .. }));
        assert!(e.to_string().contains("Draco, UrsaMinor, Sculptor"));
        let eb = EnergyBinning::new(1.0, 8.0, 3, vec![0, 1, 3]).unwrap();
        assert_eq!(
            t.get(1).unwrap().macro_exposure_cm2_s(&eb).unwrap(),
            vec![4.0, 5.5]
        );
        let eb_pkg = EnergyBinning::package();
        assert!(t
            .macro_exposures_cm2_s(&eb_pkg)
            .unwrap_err()
            .to_string()
            .contains("Draco"));
        assert!(t.select_indices(&[0, 0]).is_err());
        assert_eq!(t.select_indices(&[2]).unwrap().len(), 1);
    }

    #[test]
    fn bad_rows_name_file_line_and_value() {
        let bad = TEXT.replace("0.19", "-0.19");
        let e = DwarfTable::parse_str(&bad, "t.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.dat, line 3") && e.contains("-0.19"), "{e}");
        let bad = TEXT.replace("34.72", "nan");
        let e = DwarfTable::parse_str(&bad, "t.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("nan"), "{e}");
        let bad = TEXT.replace("-83.16", "-93.16");
        let e = DwarfTable::parse_str(&bad, "t.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("-93.16"), "{e}");
        let bad = TEXT.replace(" 9\n", " 0\n");
        let e = DwarfTable::parse_str(&bad, "t.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("exposure"), "{e}");
        let bad = TEXT.replace("Sculptor", "draco");
        assert!(DwarfTable::parse_str(&bad, "t.dat")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let short = "A 1 2 3 4\n";
        assert!(DwarfTable::parse_str(short, "s.dat")
            .unwrap_err()
            .to_string()
            .contains("at least 6 columns"));
        let ragged = "A 1 2 3 4 5\nB 1 2 3 4\n";
        assert!(DwarfTable::parse_str(ragged, "r.dat")
            .unwrap_err()
            .to_string()
            .contains("line 2"));
        assert!(DwarfTable::parse_str("# only comments\n", "e.dat").is_err());
        assert!(DwarfTable::read("/nonexistent/table.dat")
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/table.dat"));
    }
}
